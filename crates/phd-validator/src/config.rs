//! The validator's configuration.

use std::path::PathBuf;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use phd_chain::Deployment;
use phd_storage::S3Config;

use crate::report::DEFAULT_MIN_CERTIFY_BPS;

/// Everything [`run`](crate::run) needs.
#[derive(Clone)]
pub struct ValidatorConfig {
    /// Holds the encryption key, the cursor, job records and reports.
    pub data_dir: PathBuf,
    /// JSON-RPC endpoint of the chain.
    pub rpc_url: String,
    /// The validator's account: signs `register`/`certify`/`confirm`; grants encrypt shares to
    /// its public key.
    pub signer: PrivateKeySigner,
    /// Contract addresses.
    pub deployment: Deployment,
    /// Quality model file (default: the shipped `phd-quality` model).
    pub model_path: PathBuf,
    /// Object store: sealed objects are downloaded from it and reports uploaded to
    /// `reports/<dataset_id>.json`. `None`: only keeper-presigned URLs; reports served over HTTP.
    pub s3: Option<S3Config>,
    /// Endpoint registered on-chain; default `http://<listener address>`.
    pub public_endpoint: Option<String>,
    /// Chain poll interval (default 1 s).
    pub poll_interval: Duration,
    /// Blocks behind the head the watcher stays (default 0).
    pub confirmations: u64,
    /// How long one retrieval waits for ≥ t shares before retrying next round (default 60 s).
    pub share_timeout: Duration,
    /// Minimum score (bps) to certify; below it the dataset is rejected (default 1000).
    pub min_certify_bps: u16,
    /// Confirm the grant on-chain once the data was received (default true). A certificate
    /// needs a settled grant, so the grant of a dataset to certify is confirmed regardless.
    pub confirm_grants: bool,
    /// PHD wei to bond at registration (default: the registry's `MIN_STAKE()`).
    pub stake: Option<alloy::primitives::U256>,
    /// Granted series: certify every this many newly scored segments (default 1).
    pub series_certify_every: u64,
    /// Granted series: segments in the rolling score window (default 4).
    pub series_window: usize,
}

impl std::fmt::Debug for ValidatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorConfig")
            .field("data_dir", &self.data_dir)
            .field("rpc_url", &self.rpc_url)
            .field("address", &self.signer.address())
            .field("chain_id", &self.deployment.chain_id)
            .field("model_path", &self.model_path)
            .field("s3_bucket", &self.s3.as_ref().map(|s| s.bucket.clone()))
            .field("public_endpoint", &self.public_endpoint)
            .field("poll_interval", &self.poll_interval)
            .field("min_certify_bps", &self.min_certify_bps)
            .finish_non_exhaustive()
    }
}

impl ValidatorConfig {
    /// Defaults: shipped model, no S3, 1 s polling, 60 s share timeout, minimum 1000 bps,
    /// grants confirmed.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        rpc_url: impl Into<String>,
        signer: PrivateKeySigner,
        deployment: Deployment,
    ) -> Self {
        ValidatorConfig {
            data_dir: data_dir.into(),
            rpc_url: rpc_url.into(),
            signer,
            deployment,
            model_path: phd_quality::shipped_model_path(),
            s3: None,
            public_endpoint: None,
            poll_interval: Duration::from_secs(1),
            confirmations: 0,
            share_timeout: Duration::from_secs(60),
            min_certify_bps: DEFAULT_MIN_CERTIFY_BPS,
            confirm_grants: true,
            stake: None,
            series_certify_every: 1,
            series_window: 4,
        }
    }
}
