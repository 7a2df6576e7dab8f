//! # phd-keeper — the key keeper of PHD exchange
//!
//! A long-running service, structured like mini-redis: [`run`] takes a config, a bound
//! listener and a shutdown future, serves the HTTP API (docs/PROTOCOL.md) and runs the chain
//! watcher until shutdown, then drains.
//!
//! - `PUT /v1/shares/{dataset_id}`: the owner uploads this keeper's Feldman share, ECIES-
//!   encrypted to the keeper's registered key and signed by the owner's account. The keeper
//!   checks the signature against the on-chain owner, decrypts, Feldman-verifies against the
//!   on-chain commitments, stores the share durably (SQLite WAL, AES-256-GCM at rest under a
//!   key derived from its encryption key) and calls `acknowledgeShare`.
//! - Registration bonds a stake (default the registry's minimum) and proves possession of the
//!   encryption key (signature over the registry's `keyProofDigest`).
//! - The watcher follows `Purchased`/`Granted`, commits (`commit`), waits for `threshold`
//!   commitments and delivers the share masked to the buyer in the provable format (FORMATS.md
//!   §2.4) through `deliverShare`, each step exactly once across crashes; it follows `ConsentWithdrawn`, deletes
//!   the share, scrubs the database file (`VACUUM`, WAL truncated) and calls `confirmErasure`.
//! - `GET /health`, `GET /metrics` (Prometheus text).

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use alloy::signers::local::PrivateKeySigner;
use phd_chain::NodeRole;
use phd_node::{KeyFileError, RegisterError, RunError};

mod api;
mod chain;
mod crypto;
mod error;
mod keys;
mod metrics;
mod store;
mod watcher;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

pub use chain::{ChainFailure, Revert};
pub use error::KeeperError;
pub use metrics::Metrics;
pub use phd_chain::Deployment;
pub use phd_node::Registration;
pub use store::StatusReport;

use chain::{KeeperChain, KeeperRegistryAccess, alloy_impl::AlloyChain};
use crypto::AtRest;
use keys::KeeperKey;
use store::Store;

/// File name of the keeper's encryption key inside the data directory.
pub const KEY_FILE: &str = phd_node::KEY_FILE;
/// File name of the keeper's database inside the data directory.
pub const DB_FILE: &str = "keeper.db";

/// Test-only fault injection: the watcher stops (as if the process were killed) at this point.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// After the delivery intent is in the database, before `deliverShare` is broadcast.
    DeliveryIntentRecorded,
    /// After `deliverShare` was broadcast, before its hash or receipt is recorded.
    DeliverySent,
    /// After the share row is deleted and the file scrubbed, before `confirmErasure`.
    ErasureDeleted,
    /// After the commit intent is in the database, before `commit` is broadcast.
    CommitIntentRecorded,
    /// After `commit` was broadcast, before its hash or receipt is recorded.
    CommitSent,
}

/// Test-only misbehaviour, so buyers' cheater detection can be exercised.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Deliver a well-formed share with the right index but a wrong value (provably wrong:
    /// the buyer can dispute it and get the keeper slashed).
    WrongShare,
}

impl Misbehaviour {
    /// Environment variable the `phd-keeper run` binary reads its test fault from
    /// (`wrong_share`); never set in production.
    pub const ENV: &'static str = "PHD_KEEPER_FAULT";

    /// Parses a fault name (`wrong_share` / `wrong-share`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "wrong_share" | "wrong-share" => Some(Self::WrongShare),
            _ => None,
        }
    }
}

/// Everything [`run`] needs.
#[derive(Debug, Clone)]
pub struct KeeperConfig {
    /// Holds `encryption.key` (0600) and `keeper.db`.
    pub data_dir: PathBuf,
    /// JSON-RPC endpoint of the chain.
    pub rpc_url: url::Url,
    /// The keeper's account (pays for acknowledgements, deliveries, erasure confirmations).
    pub signer: PrivateKeySigner,
    /// Contract addresses; scanning starts at `deployed_at_block` on a fresh database.
    pub deployment: Deployment,
    /// How often the watcher polls the chain (default 1 s).
    pub poll_interval: Duration,
    /// Blocks behind the head the watcher stays (default 0: anvil/devnet).
    pub confirmations: u64,
    /// Endpoint registered on-chain; default `http://<listener address>`.
    pub public_endpoint: Option<String>,
    /// Testing only: stop at a fault-injection point.
    #[doc(hidden)]
    pub fail_after: Option<FailPoint>,
    /// Testing only: misbehave when delivering.
    #[doc(hidden)]
    pub misbehave: Option<Misbehaviour>,
    /// PHD wei to bond at registration (default: the registry's `MIN_STAKE()`).
    pub stake: Option<alloy::primitives::U256>,
}

impl KeeperConfig {
    /// A config with the defaults (1 s polling, no confirmations, endpoint from the listener).
    pub fn new(
        data_dir: impl Into<PathBuf>,
        rpc_url: url::Url,
        signer: PrivateKeySigner,
        deployment: Deployment,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            rpc_url,
            signer,
            deployment,
            poll_interval: Duration::from_secs(1),
            confirmations: 0,
            public_endpoint: None,
            fail_after: None,
            misbehave: None,
            stake: None,
        }
    }
}

/// State shared by the HTTP handlers and the watcher.
pub(crate) struct Shared {
    pub(crate) chain: Arc<dyn KeeperChain>,
    pub(crate) store: Arc<Store>,
    pub(crate) key: KeeperKey,
    pub(crate) at_rest: AtRest,
    pub(crate) metrics: Metrics,
    pub(crate) locks: api::DatasetLocks,
    pub(crate) misbehave: Option<Misbehaviour>,
    /// The `SeriesMarket` side; `None` when the deployment has none (or in in-memory tests).
    pub(crate) series: Option<Arc<dyn chain::series::SeriesChain>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("address", &self.chain.address())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn dataset_lock(&self, id: alloy::primitives::U256) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.get(id)
    }
}

fn connect(config: &KeeperConfig) -> Arc<AlloyChain> {
    let d = &config.deployment;
    Arc::new(AlloyChain::connect(
        &config.rpc_url,
        config.signer.clone(),
        chain::alloy_impl::Addresses {
            chain_id: d.chain_id,
            coin: d.coin,
            keeper_registry: d.keeper_registry,
            data_registry: d.data_registry,
            marketplace: d.marketplace,
            series_market: d.series_market,
        },
        config.poll_interval,
    ))
}

/// Runs the keeper until `shutdown` completes: registers (or updates) itself on-chain, serves
/// the HTTP API on `listener` and runs the chain watcher; on shutdown it stops accepting,
/// finishes the watcher's current round and returns.
pub async fn run(
    config: KeeperConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), KeeperError> {
    let local = listener.local_addr().map_err(|source| KeeperError::Serve {
        addr: "listener".into(),
        source,
    })?;
    let endpoint = config
        .public_endpoint
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let chain = connect(&config);
    let series: Option<Arc<dyn chain::series::SeriesChain>> =
        if config.deployment.series_market.is_zero() {
            None
        } else {
            Some(Arc::clone(&chain) as Arc<dyn chain::series::SeriesChain>)
        };
    run_with_chains(config, chain, series, listener, endpoint, shutdown).await
}

#[cfg(test)]
pub(crate) async fn run_with_chain(
    config: KeeperConfig,
    chain: Arc<dyn KeeperChain>,
    listener: tokio::net::TcpListener,
    endpoint: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), KeeperError> {
    run_with_chains(config, chain, None, listener, endpoint, shutdown).await
}

async fn run_with_chains(
    config: KeeperConfig,
    chain: Arc<dyn KeeperChain>,
    series: Option<Arc<dyn chain::series::SeriesChain>>,
    listener: tokio::net::TcpListener,
    endpoint: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), KeeperError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (key, store) = open_data_dir(&config.data_dir)?;
    ensure_registered_with_retry(chain.as_ref(), &key, &endpoint, config.stake).await?;
    let at_rest = AtRest::derive(key.secret_bytes()).map_err(|reason| KeeperError::Crypto {
        op: "derive at-rest key",
        reason,
    })?;
    let shared = Arc::new(Shared {
        chain,
        store: Arc::new(store),
        key,
        at_rest,
        metrics: Metrics::default(),
        locks: api::DatasetLocks::default(),
        misbehave: config.misbehave,
        series,
    });
    tracing::info!(
        address = %shared.chain.address(),
        %endpoint,
        listen = %addr,
        chain_id = shared.chain.chain_id(),
        "keeper started"
    );

    let wcfg = watcher::WatcherConfig {
        poll_interval: config.poll_interval,
        confirmations: config.confirmations,
        start_block: config.deployment.deployed_at_block,
        fail_after: config.fail_after,
        misbehave: config.misbehave,
    };
    let app = api::router(Arc::clone(&shared));
    let watched = Arc::clone(&shared);
    let result = phd_node::run(
        listener,
        app,
        move |cancel| watcher::run(watched, wcfg, cancel),
        shutdown,
    )
    .await;
    tracing::info!(address = %shared.chain.address(), "keeper stopped");
    result.map_err(|e| match e {
        RunError::Watcher(e) => e,
        RunError::Serve { source, .. } => KeeperError::Serve { addr, source },
        RunError::Task { task, reason } => KeeperError::Task { task, reason },
        other => KeeperError::Task {
            task: "node",
            reason: other.to_string(),
        },
    })
}

fn open_data_dir(dir: &Path) -> Result<(KeeperKey, Store), KeeperError> {
    create_private_dir(dir)?;
    let key = load_or_create_key(&dir.join(KEY_FILE))?;
    let store = Store::open(&dir.join(DB_FILE))?;
    Ok((key, store))
}

fn create_private_dir(dir: &Path) -> Result<(), KeeperError> {
    phd_node::create_private_dir(dir).map_err(key_file_error)
}

/// Loads the encryption key or creates it with mode 0600.
fn load_or_create_key(path: &Path) -> Result<KeeperKey, KeeperError> {
    let sk = phd_node::load_or_create_key(path).map_err(key_file_error)?;
    KeeperKey::from_secret(sk).map_err(|reason| KeeperError::InvalidKeyFile {
        path: path.to_path_buf(),
        reason,
    })
}

fn key_file_error(e: KeyFileError) -> KeeperError {
    match e {
        KeyFileError::Io { path, source } => KeeperError::Io { path, source },
        KeyFileError::Invalid { path, reason } => KeeperError::InvalidKeyFile { path, reason },
        KeyFileError::Generate { reason } => KeeperError::Crypto {
            op: "generate encryption key",
            reason,
        },
        other => KeeperError::Crypto {
            op: "encryption key file",
            reason: other.to_string(),
        },
    }
}

async fn ensure_registered_with_retry(
    chain: &dyn KeeperChain,
    key: &KeeperKey,
    endpoint: &str,
    stake: Option<alloy::primitives::U256>,
) -> Result<Registration, KeeperError> {
    phd_node::ensure_registered(
        &KeeperRegistryAccess(chain),
        NodeRole::Keeper,
        key.secret(),
        endpoint,
        stake,
    )
    .await
    .map_err(|e| match e {
        RegisterError::InvalidEndpoint { len } => {
            KeeperError::Config(format!("endpoint must be 1..=256 bytes, got {len}"))
        }
        RegisterError::WrongRole { address, role } => KeeperError::WrongRole { address, role },
        RegisterError::Chain { step, source } => KeeperError::Chain {
            op: step.call(),
            source,
        },
        other => KeeperError::Config(other.to_string()),
    })
}

/// Registers the keeper (or updates its key/endpoint) without starting the service; creates
/// the data directory and encryption key if needed.
pub async fn register(config: &KeeperConfig, endpoint: &str) -> Result<Registration, KeeperError> {
    create_private_dir(&config.data_dir)?;
    let key = load_or_create_key(&config.data_dir.join(KEY_FILE))?;
    let chain: Arc<dyn KeeperChain> = connect(config);
    ensure_registered_with_retry(chain.as_ref(), &key, endpoint, config.stake).await
}

/// The keeper's encryption public key (33 bytes compressed), creating the key if needed.
pub fn encryption_public_key(data_dir: &Path) -> Result<[u8; 33], KeeperError> {
    create_private_dir(data_dir)?;
    Ok(load_or_create_key(&data_dir.join(KEY_FILE))?.public_compressed())
}

/// Shares, deliveries and erasures recorded in a data directory's database.
pub fn local_status(data_dir: &Path) -> Result<StatusReport, KeeperError> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(KeeperError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no keeper database (has the keeper run?)",
            ),
        });
    }
    Store::open(&path)?.status()
}
