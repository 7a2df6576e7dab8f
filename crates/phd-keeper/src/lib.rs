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
//! - The watcher follows `Purchased`/`Granted` and delivers the share, encrypted to the buyer,
//!   through `deliverShare` exactly once across crashes; it follows `ConsentWithdrawn`, deletes
//!   the share, scrubs the database file (`VACUUM`, WAL truncated) and calls `confirmErasure`.
//! - `GET /health`, `GET /metrics` (Prometheus text).

use std::{
    future::Future,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use alloy::{
    primitives::{B256, Bytes},
    signers::local::PrivateKeySigner,
};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

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
pub use store::StatusReport;

use chain::{KeeperChain, alloy_impl::AlloyChain};
use crypto::AtRest;
use keys::KeeperKey;
use store::Store;

/// File name of the keeper's encryption key inside the data directory.
pub const KEY_FILE: &str = "encryption.key";
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
}

/// Test-only misbehaviour, so buyers' cheater detection can be exercised.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Deliver a well-formed share with the right index but a wrong value.
    WrongShare,
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
}

impl KeeperConfig {
    /// A config with the defaults (1 s polling, no confirmations, endpoint from the listener).
    pub fn new(data_dir: impl Into<PathBuf>, rpc_url: url::Url, signer: PrivateKeySigner, deployment: Deployment) -> Self {
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
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("address", &self.chain.address()).finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn dataset_lock(&self, id: alloy::primitives::U256) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.get(id)
    }
}

fn connect(config: &KeeperConfig) -> Arc<dyn KeeperChain> {
    let d = &config.deployment;
    Arc::new(AlloyChain::connect(
        &config.rpc_url,
        config.signer.clone(),
        chain::alloy_impl::Addresses {
            chain_id: d.chain_id,
            keeper_registry: d.keeper_registry,
            data_registry: d.data_registry,
            marketplace: d.marketplace,
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
    let local = listener
        .local_addr()
        .map_err(|source| KeeperError::Serve { addr: "listener".into(), source })?;
    let endpoint = config.public_endpoint.clone().unwrap_or_else(|| format!("http://{local}"));
    let chain = connect(&config);
    run_with_chain(config, chain, listener, endpoint, shutdown).await
}

pub(crate) async fn run_with_chain(
    config: KeeperConfig,
    chain: Arc<dyn KeeperChain>,
    listener: tokio::net::TcpListener,
    endpoint: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), KeeperError> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (key, store) = open_data_dir(&config.data_dir)?;
    ensure_registered_with_retry(chain.as_ref(), &key, &endpoint).await?;
    let at_rest = AtRest::derive(key.secret_bytes()).map_err(|reason| KeeperError::Crypto { op: "derive at-rest key", reason })?;
    let shared = Arc::new(Shared {
        chain,
        store: Arc::new(store),
        key,
        at_rest,
        metrics: Metrics::default(),
        locks: api::DatasetLocks::default(),
        misbehave: config.misbehave,
    });
    tracing::info!(
        address = %shared.chain.address(),
        %endpoint,
        listen = %addr,
        chain_id = shared.chain.chain_id(),
        "keeper started"
    );

    let cancel = CancellationToken::new();
    let on_shutdown = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            cancel.cancel();
        })
    };
    let wcfg = watcher::WatcherConfig {
        poll_interval: config.poll_interval,
        confirmations: config.confirmations,
        start_block: config.deployment.deployed_at_block,
        fail_after: config.fail_after,
        misbehave: config.misbehave,
    };
    let mut watcher_task = tokio::spawn(watcher::run(Arc::clone(&shared), wcfg, cancel.clone()));
    let app = api::router(Arc::clone(&shared));
    let server_cancel = cancel.clone();
    let mut server_task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(server_cancel.cancelled_owned())
            .await
    });

    let join_err = |task: &'static str| move |e: tokio::task::JoinError| KeeperError::Task { task, reason: e.to_string() };
    let (watcher_res, server_res) = tokio::select! {
        w = &mut watcher_task => {
            cancel.cancel();
            (w.map_err(join_err("watcher")), server_task.await.map_err(join_err("http server")))
        }
        s = &mut server_task => {
            cancel.cancel();
            (watcher_task.await.map_err(join_err("watcher")), s.map_err(join_err("http server")))
        }
    };
    on_shutdown.abort();
    tracing::info!(address = %shared.chain.address(), "keeper stopped");
    watcher_res??;
    server_res?.map_err(|source| KeeperError::Serve { addr, source })?;
    Ok(())
}

fn open_data_dir(dir: &Path) -> Result<(KeeperKey, Store), KeeperError> {
    create_private_dir(dir)?;
    let key = load_or_create_key(&dir.join(KEY_FILE))?;
    let store = Store::open(&dir.join(DB_FILE))?;
    Ok((key, store))
}

fn create_private_dir(dir: &Path) -> Result<(), KeeperError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(KeeperError::io(dir))
}

/// Loads the encryption key (hex, 32 bytes) or creates it with mode 0600.
fn load_or_create_key(path: &Path) -> Result<KeeperKey, KeeperError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let invalid = |reason: &str| KeeperError::InvalidKeyFile { path: path.to_path_buf(), reason: reason.into() };
            let hexstr = text.trim();
            let hexstr = hexstr.strip_prefix("0x").unwrap_or(hexstr);
            let mut raw = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(hexstr, raw.as_mut()).map_err(|_| invalid("expected 64 hex digits"))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(m) = std::fs::metadata(path)
                    && m.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(path = %path.display(), "encryption key file is readable by others; chmod 600 it");
                }
            }
            KeeperKey::from_bytes(&raw).map_err(|r| invalid(&r))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = KeeperKey::generate().map_err(|reason| KeeperError::Crypto { op: "generate encryption key", reason })?;
            let tmp = path.with_extension("key.tmp");
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(KeeperError::io(&tmp))?;
            let hexkey = Zeroizing::new(hex::encode(key.secret_bytes()));
            f.write_all(hexkey.as_bytes()).map_err(KeeperError::io(&tmp))?;
            f.sync_all().map_err(KeeperError::io(&tmp))?;
            drop(f);
            std::fs::rename(&tmp, path).map_err(KeeperError::io(path))?;
            tracing::info!(path = %path.display(), public_key = %hex::encode(key.public_compressed()), "created encryption key");
            Ok(key)
        }
        Err(e) => Err(KeeperError::Io { path: path.to_path_buf(), source: e }),
    }
}

/// What [`register`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Newly registered as a keeper.
    Registered(B256),
    /// Key and/or endpoint updated.
    Updated(B256),
    /// Already registered with this key and endpoint.
    Unchanged,
}

async fn ensure_registered(chain: &dyn KeeperChain, key: &KeeperKey, endpoint: &str) -> Result<Registration, KeeperError> {
    if endpoint.is_empty() || endpoint.len() > 256 {
        return Err(KeeperError::Config(format!("endpoint must be 1..=256 bytes, got {}", endpoint.len())));
    }
    let pk = key.public_compressed();
    let node = chain.node().await.map_err(KeeperError::chain("KeeperRegistry.node"))?;
    let out = match node.role {
        0 => {
            let h = chain
                .register_keeper(Bytes::copy_from_slice(&pk), endpoint.to_string())
                .await
                .map_err(KeeperError::chain("KeeperRegistry.register"))?;
            Registration::Registered(h)
        }
        1 if node.encryption_key.as_slice() == pk.as_slice() && node.endpoint == endpoint => Registration::Unchanged,
        1 => {
            let h = chain
                .update_node(Bytes::copy_from_slice(&pk), endpoint.to_string())
                .await
                .map_err(KeeperError::chain("KeeperRegistry.update"))?;
            Registration::Updated(h)
        }
        role => return Err(KeeperError::WrongRole { address: chain.address(), role }),
    };
    tracing::info!(address = %chain.address(), endpoint, outcome = ?out, "keeper registration checked");
    Ok(out)
}

async fn ensure_registered_with_retry(
    chain: &dyn KeeperChain,
    key: &KeeperKey,
    endpoint: &str,
) -> Result<Registration, KeeperError> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1u32.. {
        match ensure_registered(chain, key, endpoint).await {
            Err(KeeperError::Chain { op, source }) if source.is_transient() && attempt < 6 => {
                tracing::warn!(op, error = %source, attempt, "registration failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    Err(KeeperError::Config("unreachable".into()))
}

/// Registers the keeper (or updates its key/endpoint) without starting the service; creates
/// the data directory and encryption key if needed.
pub async fn register(config: &KeeperConfig, endpoint: &str) -> Result<Registration, KeeperError> {
    create_private_dir(&config.data_dir)?;
    let key = load_or_create_key(&config.data_dir.join(KEY_FILE))?;
    let chain = connect(config);
    ensure_registered_with_retry(chain.as_ref(), &key, endpoint).await
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
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no keeper database (has the keeper run?)"),
        });
    }
    Store::open(&path)?.status()
}
