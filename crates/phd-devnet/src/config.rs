//! What to start: [`DevnetConfig`] and the keepers' test knobs.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::U256;
use phd_chain::AnvilSettings;
use phd_deploy::DeployConfig;
use phd_keeper::{FailPoint, Misbehaviour};

/// Test knobs of one keeper (index into the keeper list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeeperKnobs {
    /// Stop at this fault-injection point (the task ends as if the process was killed).
    pub fail_after: Option<FailPoint>,
    /// Deliver a wrong share.
    pub misbehave: Option<Misbehaviour>,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Holds `env`, `deployment.json`, `s3/`, `keepers/<i>/`. Wiped at start when `clean`.
    pub state_dir: PathBuf,
    /// Number of keepers (default 5).
    pub keepers: usize,
    /// Threshold advertised in the env file for publishing (default 3).
    pub threshold: u8,
    /// anvil port on 127.0.0.1 (default 8545; 0 picks a free one).
    pub port: u16,
    /// Chain settings (accounts and roles).
    pub anvil: AnvilSettings,
    /// Contract parameters (fee, delivery and confirmation windows).
    pub deploy: DeployConfig,
    /// Keepers' chain poll interval.
    pub keeper_poll_interval: Duration,
    /// PHD (wei) transferred from the deployer to the user and to the customer.
    pub fund_amount: U256,
    /// PHD (wei) transferred from the deployer to each keeper and to the validator, which
    /// stake `deploy.min_stake` of it at registration (default: twice the minimum stake, so a
    /// node can top its bond up after a slash).
    pub node_fund_amount: Option<U256>,
    /// Bucket to create.
    pub bucket: String,
    /// Region written to the env file.
    pub region: String,
    /// Access key the embedded S3 server accepts.
    pub s3_access_key: String,
    /// Secret key the embedded S3 server accepts.
    pub s3_secret_key: String,
    /// Name the manufacturer is approved under.
    pub manufacturer_name: String,
    /// Per-keeper test knobs (by index; missing entries mean none).
    pub keeper_knobs: Vec<KeeperKnobs>,
    /// Remove `state_dir` before starting (default true: the chain is fresh every time).
    pub clean: bool,
    /// Also write the deployment here (e.g. `deploy/deployments/31337.json`).
    pub extra_deployment_path: Option<PathBuf>,
    /// How long to wait for each keeper to become ready.
    pub ready_timeout: Duration,
    /// Run a `phd-validator` in-process with the validator account (default false in the
    /// library, so tests that drive the validator account themselves are not disturbed;
    /// `phd-devnet up` turns it on).
    pub validator: bool,
    /// Run a `phd-gateway` in-process with the owner's S3 credentials, so buyers, grantees and
    /// the validator read objects listed with its URL without any storage credential.
    pub gateway: bool,
}

impl DevnetConfig {
    /// Defaults for `phd-devnet up`: 5 keepers, t = 3, port 8545, the repository's anvil settings,
    /// the default contract parameters (1 h delivery window, 1 day confirmation window).
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            keepers: 5,
            threshold: 3,
            port: 8545,
            anvil: AnvilSettings::load_default().unwrap_or_default(),
            deploy: DeployConfig::default(),
            keeper_poll_interval: Duration::from_millis(250),
            fund_amount: phd_chain::phd(10_000),
            node_fund_amount: None,
            bucket: "phd-devnet".into(),
            region: "us-east-1".into(),
            s3_access_key: "phd-devnet".into(),
            s3_secret_key: "phd-devnet-secret-key".into(),
            manufacturer_name: "Devnet Wearables Ltd".into(),
            keeper_knobs: Vec::new(),
            clean: true,
            extra_deployment_path: None,
            ready_timeout: Duration::from_secs(120),
            validator: false,
            gateway: true,
        }
    }

    /// Settings for tests: free port, 60 s delivery window and 60 s confirmation window (tests
    /// move time with `evm_increaseTime`), keepers polling every 100 ms.
    pub fn for_tests(state_dir: impl Into<PathBuf>) -> Self {
        let mut c = Self::new(state_dir);
        c.port = 0;
        c.deploy.delivery_window = 60;
        c.deploy.confirmation_window = 60;
        c.keeper_poll_interval = Duration::from_millis(100);
        c
    }
}
