//! # phd-devnet — the whole PHD exchange stack on one machine
//!
//! [`Devnet::start`] brings up, in order:
//!
//! 1. **anvil** (`PHD_ANVIL_BIN` or the npm-pinned binary; chain id, mnemonic and role accounts
//!    from `anvil/devnet.json`) on loopback;
//! 2. the **contracts**, deployed by `phd-deploy` with the deployer account; the deployment file
//!    goes to `<state>/deployment.json` (and optionally to a second path);
//! 3. the **embedded S3 server** (`phd_storage::server`, s3s + s3s-fs) on a loopback port, data
//!    under `<state>/s3`, the bucket created;
//! 4. **PHD for the user and the customer** (transfers from the deployer) and the **device
//!    manufacturer approved** in the `KeeperRegistry`;
//! 5. **n keepers in-process** (`phd_keeper::run` on loopback listeners), each with its own anvil
//!    account, its own data directory `<state>/keepers/<i>` (encryption key + SQLite store), each
//!    registering itself on-chain; the devnet waits until every one answers `/health` and is
//!    registered with its endpoint;
//! 6. optionally the **validator** (`phd_validator::run` in-process, [`Devnet::start_validator`]);
//! 7. the **env file** `<state>/env` (docs/PROTOCOL.md "Devnet environment file") that every CLI
//!    reads.
//!
//! [`Devnet::shutdown`] drains the keepers, stops the S3 server and kills anvil. Tests use the
//! same stack in-process; [`KeeperHandle`] stops and restarts single keepers (same data
//! directory, same port when it is still free) and carries the keepers' test knobs.

#![allow(clippy::result_large_err)] // ChainError carries decoded reverts; boxing everywhere is noise

use std::{
    fmt::Write as _,
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use phd_chain::{AnvilSettings, ChainError, Deployment, NodeRole, PhdClient, RoleSigners};
use phd_deploy::DeployConfig;
use phd_keeper::{FailPoint, KeeperConfig, KeeperError, Misbehaviour};
use phd_storage::{S3Config, Store, server::EmbeddedS3, server::ServerCredentials};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Errors of the devnet.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// Chain access failed (anvil, funding, approval, registration checks).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Deploying the contracts failed.
    #[error("deploying the contracts: {0}")]
    Deploy(#[from] phd_deploy::DeployError),
    /// The embedded S3 server or the bucket failed.
    #[error("embedded S3: {0}")]
    Storage(#[from] phd_storage::Error),
    /// A keeper failed.
    #[error("keeper {index} ({address}): {source}")]
    Keeper {
        /// Position in [`Devnet::keepers`].
        index: usize,
        /// Account.
        address: Address,
        /// Cause.
        #[source]
        source: KeeperError,
    },
    /// A keeper did not become ready.
    #[error("keeper {index} ({address}) not ready after {waited:?}: {reason}")]
    KeeperNotReady {
        /// Position in [`Devnet::keepers`].
        index: usize,
        /// Account.
        address: Address,
        /// How long we waited.
        waited: Duration,
        /// Last observation.
        reason: String,
    },
    /// File system.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Bad configuration.
    #[error("invalid devnet configuration: {0}")]
    Config(String),
}

impl DevnetError {
    fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Self + use<'a> {
        move |source| Self::Io { action, path: path.to_owned(), source }
    }
}

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

/// The embedded S3 server as clients see it.
#[derive(Debug, Clone)]
pub struct S3Info {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Bucket (created).
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Directory the server stores objects in (`<root>/<bucket>/<key>`).
    pub root_dir: PathBuf,
}

impl S3Info {
    /// A client configuration for this server.
    pub fn client_config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            region: self.region.clone(),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
            force_path_style: true,
            ..S3Config::new(self.bucket.clone())
        }
    }

    /// Path of object `key` on disk (s3s-fs layout).
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root_dir.join(&self.bucket).join(key)
    }
}

/// The accounts of every role.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// Deploys, owns the registries, funds the others.
    pub deployer: PrivateKeySigner,
    /// Data owner.
    pub user: PrivateKeySigner,
    /// Buyer.
    pub customer: PrivateKeySigner,
    /// Validator.
    pub validator: PrivateKeySigner,
    /// Device manufacturer (approved on-chain).
    pub manufacturer: PrivateKeySigner,
    /// Keepers, in [`Devnet::keepers`] order.
    pub keepers: Vec<PrivateKeySigner>,
}

struct Running<E = KeeperError> {
    cancel: CancellationToken,
    task: JoinHandle<Result<(), E>>,
}

/// One in-process keeper.
pub struct KeeperHandle {
    /// Position in [`Devnet::keepers`].
    pub index: usize,
    /// The keeper's account.
    pub address: Address,
    /// The full configuration (tests may change `fail_after`/`misbehave` before [`Self::restart`]).
    pub config: KeeperConfig,
    addr: SocketAddr,
    endpoint: String,
    rpc_url: String,
    deployment: Deployment,
    ready_timeout: Duration,
    running: Option<Running>,
}

impl std::fmt::Debug for KeeperHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeeperHandle")
            .field("index", &self.index)
            .field("address", &self.address)
            .field("endpoint", &self.endpoint)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl KeeperHandle {
    /// Base URL registered on-chain.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Data directory (encryption key and `keeper.db`).
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Path of the keeper's SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.config.data_dir.join(phd_keeper::DB_FILE)
    }

    /// Whether the keeper task is alive.
    pub fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    /// Starts the keeper (on its previous port when free, else a new one) and waits until it
    /// answers `/health` and is registered on-chain with its endpoint.
    pub async fn start(&mut self) -> Result<(), DevnetError> {
        if self.is_running() {
            return Ok(());
        }
        let listener = match tokio::net::TcpListener::bind(self.addr).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .map_err(DevnetError::io("binding keeper listener", Path::new("127.0.0.1:0")))?,
        };
        self.addr = listener.local_addr().map_err(DevnetError::io("reading keeper address", Path::new("")))?;
        self.endpoint = format!("http://{}", self.addr);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let mut config = self.config.clone();
        config.public_endpoint = Some(self.endpoint.clone());
        let task = tokio::spawn(phd_keeper::run(config, listener, async move { stop.cancelled().await }));
        self.running = Some(Running { cancel, task });
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), DevnetError> {
        let started = Instant::now();
        let client = PhdClient::connect(&self.rpc_url, PrivateKeySigner::random(), self.deployment.clone()).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| DevnetError::Config(format!("building HTTP client: {e}")))?;
        let health = format!("{}/health", self.endpoint);
        let mut last;
        loop {
            if let Some(r) = &self.running
                && r.task.is_finished()
            {
                    // The task ended during start-up: surface its error.
                    return match self.running.take().map(|r| r.task) {
                        Some(task) => match task.await {
                            Ok(Err(source)) => Err(DevnetError::Keeper { index: self.index, address: self.address, source }),
                            Ok(Ok(())) => Err(self.not_ready(started, "keeper exited during start-up".into())),
                            Err(e) => Err(self.not_ready(started, format!("keeper task failed: {e}"))),
                        },
                        None => Err(self.not_ready(started, "keeper not running".into())),
                    };
            }
            match http.get(&health).send().await {
                Ok(resp) if resp.status().is_success() => {
                    let node = client.node(self.address).await?;
                    if node.role == NodeRole::Keeper as u8 && node.endpoint == self.endpoint {
                        return Ok(());
                    }
                    last = format!("registered endpoint is {:?}", node.endpoint);
                }
                Ok(resp) => last = format!("/health answered {}", resp.status()),
                Err(e) => last = format!("/health: {e}"),
            }
            if started.elapsed() > self.ready_timeout {
                return Err(self.not_ready(started, last));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn not_ready(&self, started: Instant, reason: String) -> DevnetError {
        DevnetError::KeeperNotReady { index: self.index, address: self.address, waited: started.elapsed(), reason }
    }

    /// Stops the keeper (drains: the watcher finishes its round) and returns its result.
    pub async fn stop(&mut self) -> Result<(), DevnetError> {
        let Some(r) = self.running.take() else { return Ok(()) };
        r.cancel.cancel();
        self.join(r.task).await
    }

    /// Waits (up to `timeout`) for the keeper task to end by itself, e.g. at a fail point.
    /// Returns `Ok(true)` when it ended.
    pub async fn wait_stopped(&mut self, timeout: Duration) -> Result<bool, DevnetError> {
        let deadline = Instant::now() + timeout;
        while self.is_running() {
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(r) = self.running.take() {
            // A fail point ends the task like a crash; how it ended is not the caller's concern.
            if let Err(e) = self.join(r.task).await {
                tracing::info!(keeper = self.index, error = %e, "keeper ended");
            }
        }
        Ok(true)
    }

    async fn join(&self, task: JoinHandle<Result<(), KeeperError>>) -> Result<(), DevnetError> {
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(DevnetError::Keeper { index: self.index, address: self.address, source }),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(DevnetError::Config(format!("keeper {} task panicked: {e}", self.index))),
        }
    }

    /// Stops (ignoring how the previous run ended) and starts again with the same data directory.
    pub async fn restart(&mut self) -> Result<(), DevnetError> {
        if let Err(e) = self.stop().await {
            tracing::debug!(keeper = self.index, error = %e, "previous run ended with an error");
        }
        self.start().await
    }
}

/// The running stack.
pub struct Devnet {
    /// JSON-RPC URL of anvil.
    pub rpc_url: String,
    /// Contract addresses.
    pub deployment: Deployment,
    /// Where the deployment file was written.
    pub deployment_path: PathBuf,
    /// The embedded S3 server.
    pub s3: S3Info,
    /// The keepers.
    pub keepers: Vec<KeeperHandle>,
    /// Accounts of every role.
    pub accounts: Accounts,
    /// Threshold advertised for publishing.
    pub threshold: u8,
    /// State directory.
    pub state_dir: PathBuf,
    /// The env file.
    pub env_path: PathBuf,
    /// Endpoint of the in-process validator, when one runs.
    pub validator_endpoint: Option<String>,
    validator_task: Option<Running<phd_validator::ValidatorError>>,
    validator_wanted: bool,
    anvil: Option<AnvilInstance>,
    s3_server: Option<EmbeddedS3>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("rpc_url", &self.rpc_url)
            .field("s3", &self.s3.endpoint)
            .field("keepers", &self.keepers)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

fn signer_hex(s: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(s.to_bytes()))
}

fn extra_signers(settings: &AnvilSettings, roles: &RoleSigners, n: usize) -> Result<Vec<PrivateKeySigner>, DevnetError> {
    let mut keepers: Vec<PrivateKeySigner> = roles.keepers.iter().take(n).cloned().collect();
    let r = &settings.roles;
    let used = r.keepers.iter().copied().chain([r.deployer, r.user, r.customer, r.validator, r.manufacturer]);
    let mut next = used.max().unwrap_or(0) + 1;
    while keepers.len() < n {
        if next >= settings.accounts {
            return Err(DevnetError::Config(format!(
                "{n} keepers need more than the {} anvil accounts of the settings",
                settings.accounts
            )));
        }
        keepers.push(settings.signer(next)?);
        next += 1;
    }
    Ok(keepers)
}

impl Devnet {
    /// Starts the whole stack (see the crate docs). On error, whatever was started is stopped.
    pub async fn start(config: DevnetConfig) -> Result<Self, DevnetError> {
        if config.keepers < 2 || config.keepers > 255 {
            return Err(DevnetError::Config(format!("keepers must be 2..=255, got {}", config.keepers)));
        }
        if config.threshold < 2 || usize::from(config.threshold) > config.keepers {
            return Err(DevnetError::Config(format!(
                "threshold must be 2..={}, got {}",
                config.keepers, config.threshold
            )));
        }
        let state = config.state_dir.clone();
        if config.clean && state.exists() {
            for sub in ["s3", "keepers", "env", "deployment.json"] {
                let p = state.join(sub);
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(DevnetError::io("removing", &p))?;
                } else if p.exists() {
                    std::fs::remove_file(&p).map_err(DevnetError::io("removing", &p))?;
                }
            }
        }
        std::fs::create_dir_all(&state).map_err(DevnetError::io("creating", &state))?;
        let state = state.canonicalize().map_err(DevnetError::io("resolving", &state))?;

        // 1. anvil
        let settings = config.anvil.clone();
        let anvil = phd_chain::spawn_anvil(&settings, config.port)?;
        let rpc_url = anvil.endpoint();
        tracing::info!(%rpc_url, "anvil started");
        let roles = settings.role_signers()?;
        let keeper_signers = extra_signers(&settings, &roles, config.keepers)?;
        let accounts = Accounts {
            deployer: roles.deployer.clone(),
            user: roles.user.clone(),
            customer: roles.customer.clone(),
            validator: roles.validator.clone(),
            manufacturer: roles.manufacturer.clone(),
            keepers: keeper_signers,
        };

        // 2. contracts
        let deployment_path = state.join("deployment.json");
        let outcome =
            phd_deploy::deploy(&rpc_url, accounts.deployer.clone(), &config.deploy, Some(&deployment_path), true).await?;
        let deployment = outcome.deployment;
        if let Some(extra) = &config.extra_deployment_path {
            deployment.save(extra)?;
        }
        tracing::info!(marketplace = %deployment.marketplace, "contracts deployed");

        // 3. S3
        let s3_root = state.join("s3");
        let server = EmbeddedS3::start(&s3_root, ServerCredentials::new(&config.s3_access_key, &config.s3_secret_key)).await?;
        let s3 = S3Info {
            endpoint: server.endpoint().to_owned(),
            region: config.region.clone(),
            bucket: config.bucket.clone(),
            access_key_id: config.s3_access_key.clone(),
            secret_access_key: config.s3_secret_key.clone(),
            root_dir: s3_root,
        };
        Store::connect(s3.client_config()).await?.ensure_bucket().await?;
        tracing::info!(endpoint = %s3.endpoint, bucket = %s3.bucket, "embedded S3 started");

        // 4. funds and the manufacturer
        let deployer = PhdClient::connect(&rpc_url, accounts.deployer.clone(), deployment.clone()).await?;
        deployer.transfer_coin(accounts.user.address(), config.fund_amount).await?;
        deployer.transfer_coin(accounts.customer.address(), config.fund_amount).await?;
        deployer.approve_manufacturer(accounts.manufacturer.address(), &config.manufacturer_name).await?;

        // 5. keepers
        let url: url::Url =
            rpc_url.parse().map_err(|e| DevnetError::Config(format!("anvil endpoint {rpc_url:?}: {e}")))?;
        let mut keepers = Vec::with_capacity(config.keepers);
        for (index, signer) in accounts.keepers.iter().enumerate() {
            let data_dir = state.join("keepers").join(index.to_string());
            let mut kc = KeeperConfig::new(data_dir, url.clone(), signer.clone(), deployment.clone());
            kc.poll_interval = config.keeper_poll_interval;
            if let Some(k) = config.keeper_knobs.get(index) {
                kc.fail_after = k.fail_after;
                kc.misbehave = k.misbehave;
            }
            keepers.push(KeeperHandle {
                index,
                address: signer.address(),
                config: kc,
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                endpoint: String::new(),
                rpc_url: rpc_url.clone(),
                deployment: deployment.clone(),
                ready_timeout: config.ready_timeout,
                running: None,
            });
        }
        let mut devnet = Devnet {
            rpc_url,
            deployment,
            deployment_path,
            s3,
            keepers,
            accounts,
            threshold: config.threshold,
            env_path: state.join("env"),
            state_dir: state,
            validator_endpoint: None,
            validator_task: None,
            validator_wanted: config.validator,
            anvil: Some(anvil),
            s3_server: Some(server),
        };
        // Start all keepers, then wait for each (registrations run concurrently).
        let started = futures_join_all(devnet.keepers.iter_mut().map(KeeperHandle::start)).await;
        if let Some(err) = started.into_iter().find_map(Result::err) {
            devnet.shutdown().await;
            return Err(err);
        }
        tracing::info!(keepers = devnet.keepers.len(), "keepers registered");

        // 6. validator
        if let Err(e) = devnet.start_validator().await {
            devnet.shutdown().await;
            return Err(e);
        }

        // 7. env file
        if let Err(e) = devnet.write_env() {
            devnet.shutdown().await;
            return Err(e);
        }
        Ok(devnet)
    }

    /// Starts `phd-validator` in-process (when [`DevnetConfig::validator`]) with the validator
    /// account, data directory `<state>/validator`, this devnet's S3 and a 250 ms poll; waits
    /// until it is registered on-chain. Stopped in [`Self::shutdown`].
    pub async fn start_validator(&mut self) -> Result<(), DevnetError> {
        if !self.validator_wanted || self.validator_task.is_some() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(DevnetError::io("binding validator listener", Path::new("127.0.0.1:0")))?;
        let addr = listener.local_addr().map_err(DevnetError::io("reading validator address", Path::new("")))?;
        let endpoint = format!("http://{addr}");
        let mut vc = phd_validator::ValidatorConfig::new(
            self.state_dir.join("validator"),
            self.rpc_url.clone(),
            self.accounts.validator.clone(),
            self.deployment.clone(),
        );
        vc.s3 = Some(self.s3.client_config());
        vc.public_endpoint = Some(endpoint.clone());
        vc.poll_interval = Duration::from_millis(250);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(phd_validator::run(vc, listener, async move { stop.cancelled().await }));
        self.validator_task = Some(Running { cancel, task });
        let client = self.deployer_client().await?;
        let started = Instant::now();
        loop {
            if self.validator_task.as_ref().is_some_and(|r| r.task.is_finished()) {
                let reason = match self.validator_task.take().map(|r| r.task) {
                    Some(t) => match t.await {
                        Ok(Err(e)) => e.to_string(),
                        Ok(Ok(())) => "exited during start-up".into(),
                        Err(e) => e.to_string(),
                    },
                    None => "not running".into(),
                };
                return Err(DevnetError::Config(format!("validator failed to start: {reason}")));
            }
            let node = client.node(self.accounts.validator.address()).await?;
            if node.role == NodeRole::Validator as u8 && node.endpoint == endpoint {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(DevnetError::Config("validator not registered after 120 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.validator_endpoint = Some(endpoint);
        Ok(())
    }

    /// `KEY=VALUE` pairs of the env file.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let endpoints: Vec<&str> = self.keepers.iter().map(KeeperHandle::endpoint).collect();
        let addresses: Vec<String> = self.keepers.iter().map(|k| k.address.to_string()).collect();
        vec![
            ("PHD_RPC_URL".into(), self.rpc_url.clone()),
            ("PHD_CHAIN_ID".into(), self.deployment.chain_id.to_string()),
            ("PHD_DEPLOYMENT".into(), self.deployment_path.display().to_string()),
            ("AWS_ENDPOINT_URL".into(), self.s3.endpoint.clone()),
            ("AWS_REGION".into(), self.s3.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.s3.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.s3.secret_access_key.clone()),
            ("AWS_S3_FORCE_PATH_STYLE".into(), "true".into()),
            ("PHD_S3_BUCKET".into(), self.s3.bucket.clone()),
            ("PHD_USER_PRIVATE_KEY".into(), signer_hex(&self.accounts.user)),
            ("PHD_CUSTOMER_PRIVATE_KEY".into(), signer_hex(&self.accounts.customer)),
            ("PHD_MANUFACTURER_PRIVATE_KEY".into(), signer_hex(&self.accounts.manufacturer)),
            ("PHD_VALIDATOR_PRIVATE_KEY".into(), signer_hex(&self.accounts.validator)),
            ("PHD_KEEPERS".into(), endpoints.join(",")),
            ("PHD_KEEPER_ADDRESSES".into(), addresses.join(",")),
            ("PHD_THRESHOLD".into(), self.threshold.to_string()),
            ("PHD_VALIDATOR_ADDRESS".into(), self.accounts.validator.address().to_string()),
            ("PHD_VALIDATOR_ENDPOINT".into(), self.validator_endpoint.clone().unwrap_or_default()),
            ("PHD_DEVNET_STATE_DIR".into(), self.state_dir.display().to_string()),
        ]
    }

    /// (Re)writes `<state>/env` (mode 0600: it holds dev private keys), atomically.
    pub fn write_env(&self) -> Result<(), DevnetError> {
        let mut text = String::from(
            "# Written by phd-devnet. Every PHD CLI reads this file when the variables are not set.\n\
             # Dev keys of a throw-away local chain only.\n",
        );
        for (k, v) in self.env_vars() {
            let _ = writeln!(text, "{k}={v}");
        }
        let tmp = self.env_path.with_extension("tmp");
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &self.env_path).map_err(DevnetError::io("writing", &self.env_path))
    }

    /// A human-readable table of what runs where.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{:<14} {:<44} account / detail", "component", "where");
        let _ = writeln!(t, "{:<14} {:<44} chain id {}", "anvil", self.rpc_url, self.deployment.chain_id);
        let d = &self.deployment;
        for (name, a) in [
            ("PHDCoin", d.coin),
            ("KeeperRegistry", d.keeper_registry),
            ("DataRegistry", d.data_registry),
            ("Marketplace", d.marketplace),
        ] {
            let _ = writeln!(t, "{:<14} {:<44} contract", name, a.to_string());
        }
        let _ = writeln!(
            t,
            "{:<14} {:<44} bucket {} in {}",
            "S3 (s3s-fs)",
            self.s3.endpoint,
            self.s3.bucket,
            self.s3.root_dir.display()
        );
        for k in &self.keepers {
            let _ = writeln!(t, "{:<14} {:<44} {}", format!("keeper {}", k.index + 1), k.endpoint, k.address);
        }
        let v = self.validator_endpoint.as_deref().unwrap_or("(not started: --no-validator)");
        let _ = writeln!(t, "{:<14} {:<44} {}", "validator", v, self.accounts.validator.address());
        let _ = writeln!(t, "{:<14} {:<44} {}", "user", "", self.accounts.user.address());
        let _ = writeln!(t, "{:<14} {:<44} {}", "customer", "", self.accounts.customer.address());
        let _ = writeln!(t, "{:<14} {:<44} {} (approved)", "manufacturer", "", self.accounts.manufacturer.address());
        let _ = writeln!(t, "{:<14} {:<44} t = {} of n = {}", "env file", self.env_path.display(), self.threshold, self.keepers.len());
        t
    }

    /// A client signing as `signer`.
    pub async fn client(&self, signer: &PrivateKeySigner) -> Result<PhdClient, ChainError> {
        PhdClient::connect(&self.rpc_url, signer.clone(), self.deployment.clone()).await
    }

    /// The data owner's client.
    pub async fn user_client(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.accounts.user).await
    }

    /// The customer's client.
    pub async fn customer_client(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.accounts.customer).await
    }

    /// The deployer's client.
    pub async fn deployer_client(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.accounts.deployer).await
    }

    /// A connected S3 client for the embedded server.
    pub async fn store(&self) -> Result<Store, phd_storage::Error> {
        Store::connect(self.s3.client_config()).await
    }

    /// Keeper endpoints in order.
    pub fn keeper_endpoints(&self) -> Vec<String> {
        self.keepers.iter().map(|k| k.endpoint.clone()).collect()
    }

    /// Keeper addresses in order.
    pub fn keeper_addresses(&self) -> Vec<Address> {
        self.keepers.iter().map(|k| k.address).collect()
    }

    /// Moves chain time forward and mines a block.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), ChainError> {
        self.deployer_client().await?.increase_time(seconds).await
    }

    /// Stops everything: keepers (drained), the S3 server, anvil. Errors are logged.
    pub async fn shutdown(&mut self) {
        if let Some(v) = self.validator_task.take() {
            v.cancel.cancel();
            match v.task.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "validator stopped with an error"),
                Err(e) => tracing::warn!(error = %e, "validator task failed"),
                Ok(Ok(())) => {}
            }
        }
        for k in &mut self.keepers {
            if let Err(e) = k.stop().await {
                tracing::warn!(keeper = k.index, error = %e, "keeper stopped with an error");
            }
        }
        if let Some(s3) = self.s3_server.take()
            && let Err(e) = s3.shutdown().await
        {
            tracing::warn!(error = %e, "embedded S3 stopped with an error");
        }
        if let Some(anvil) = self.anvil.take() {
            drop(anvil); // kills the process
        }
        tracing::info!("devnet stopped");
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(v) = self.validator_task.take() {
            v.cancel.cancel();
            v.task.abort();
        }
        for k in &mut self.keepers {
            if let Some(r) = k.running.take() {
                r.cancel.cancel();
                r.task.abort();
            }
        }
    }
}

async fn futures_join_all<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T>,
{
    // Small n: poll them together without pulling in the futures crate.
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut slots: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let mut futs: Vec<Option<std::pin::Pin<Box<F>>>> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in slots.iter_mut().zip(futs.iter_mut()) {
            if let Some(f) = fut {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *slot = Some(v);
                        *fut = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    slots.into_iter().flatten().collect()
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DevnetError> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(DevnetError::io("creating", path))?;
    f.write_all(bytes).map_err(DevnetError::io("writing", path))?;
    f.sync_all().map_err(DevnetError::io("syncing", path))
}

/// Starts the devnet, prints the table, waits for `shutdown` (Ctrl-C / SIGTERM in the binary),
/// then stops everything. While it runs, a keeper task that dies is reported on stderr.
pub async fn run(config: DevnetConfig, shutdown: impl Future<Output = ()>) -> Result<(), DevnetError> {
    let mut devnet = Devnet::start(config).await?;
    println!("{}", devnet.table());
    println!("ready: source nothing — the CLIs read {}", devnet.env_path.display());
    println!("press Ctrl-C to stop");
    let mut shutdown = std::pin::pin!(shutdown);
    let mut reported = vec![false; devnet.keepers.len()];
    loop {
        tokio::select! {
            () = shutdown.as_mut() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                for (k, done) in devnet.keepers.iter().zip(reported.iter_mut()) {
                    if !*done && !k.is_running() {
                        *done = true;
                        tracing::error!(keeper = k.index + 1, address = %k.address, "keeper stopped unexpectedly");
                    }
                }
            }
        }
    }
    println!("stopping: draining keepers, stopping S3, killing anvil");
    devnet.shutdown().await;
    let _ = std::fs::remove_file(&devnet.env_path);
    println!("stopped");
    Ok(())
}
