//! # phd-validator — the independent quality validator of PHD exchange
//!
//! A long-running service shaped like mini-redis ([`run`] takes a config, a bound listener and
//! a shutdown future). On start it loads the quality model (a corrupt file is a clear error),
//! registers as a Validator in the `KeeperRegistry` (encryption key generated once in the data
//! directory, plus its endpoint), then:
//!
//! - serves `GET /health` (`{address, account_pubkey, encryption_key, chain_id, model_id, …}`),
//!   `GET /reports/{dataset_id}` (the exact report bytes whose keccak256 is on-chain) and
//!   `GET /jobs`;
//! - follows `Granted` events to its own account (cursor persisted), retrieves the data through
//!   `phd_sdk::retrieve::retrieve` (shares from `deliverShare`, Feldman-verified, C0, every
//!   chunk verified against the on-chain root), scores the canonical CSV with the model, writes
//!   the report durably (data dir, and `reports/<id>.json` in S3 when configured), and calls
//!   `certify(datasetId, scoreBps, modelId, keccak256(report), reportUri)` exactly once per
//!   dataset (checked against its own `Certified` events, survives restarts), then confirms the
//!   zero-price grant.
//! - Datasets that cannot be scored, or score below [`ValidatorConfig::min_certify_bps`], are
//!   **rejected**: the report (decision `reject`, with the reason) is stored and served, but no
//!   certificate is posted and so no reward is minted.
//!
//! Owner side: [`request_validation`] and [`wait_for_certification`]. Offline:
//! [`score_plaintext`] (`phd-validator certify-file`). Training: [`train::train`].

mod api;
mod config;
mod error;
pub mod owner;
pub mod report;
pub mod series;
pub mod state;
pub mod train;
mod watcher;

pub use api::Health;
pub use config::ValidatorConfig;
pub use error::{BoxError, Result, ValidatorError};
pub use owner::{
    CertificationInfo, RequestedValidation, certification, fetch_health, fetch_report,
    request_validation, wait_for_certification,
};
pub use report::{
    DEFAULT_MIN_CERTIFY_BPS, Decision, Outcome, REPORT_VERSION, ScoreSummary, ValidationReport,
    decide, report_hash, score_plaintext, score_to_bps,
};
pub use state::{DataDir, JobRecord, JobState};

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use alloy::primitives::B256;
use phd_chain::{NodeRole, PhdClient};
use phd_node::{RegisterError, RegisterStep, RegistryAccess, RegistryNode, RunError};
use phd_quality::QualityModel;
use phd_sdk::ClientCtx;
use phd_storage::Store;

/// State shared by the HTTP handlers and the watcher.
pub(crate) struct Shared {
    pub(crate) client: PhdClient,
    pub(crate) ctx: ClientCtx,
    pub(crate) model: Arc<QualityModel>,
    pub(crate) model_id: B256,
    pub(crate) data: DataDir,
    pub(crate) store: Option<Store>,
    pub(crate) health: Health,
    /// Next block the watcher scans; `u64::MAX` before the first scan.
    pub(crate) next_block: AtomicU64,
    pub(crate) cfg: ValidatorConfig,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("address", &self.client.address())
            .finish_non_exhaustive()
    }
}

/// Loads a model file with a clear error (what `run` does first).
pub fn load_model(path: &Path) -> Result<(QualityModel, B256)> {
    let model = QualityModel::load(path).map_err(|source| ValidatorError::Model {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let id = model.model_id().map_err(|source| ValidatorError::Model {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let id_b = id
        .parse::<B256>()
        .map_err(|e| ValidatorError::Config(format!("model id {id} is not a bytes32: {e}")))?;
    Ok((model, id_b))
}

/// Runs the validator until `shutdown` completes: loads the model (a corrupt model file fails
/// here, before anything else), registers as a Validator in the KeeperRegistry if needed,
/// serves `GET /health`, `GET /reports/{dataset_id}`, `GET /jobs` on `listener` and follows
/// `Granted` events to itself; on shutdown it stops accepting and finishes the current round.
pub async fn run(
    config: ValidatorConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ValidatorError> {
    let (model, model_id) = load_model(&config.model_path)?;
    let local = listener
        .local_addr()
        .map_err(|source| ValidatorError::Serve {
            addr: "listener".into(),
            source,
        })?;
    let endpoint = config
        .public_endpoint
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    if endpoint.is_empty() || endpoint.len() > 256 {
        return Err(ValidatorError::Config(format!(
            "endpoint must be 1..=256 bytes, got {}",
            endpoint.len()
        )));
    }
    let data = DataDir::open(&config.data_dir)?;
    clean_work_dir(&data);
    let enc = data.encryption_key()?;
    let enc_pub = enc.public_key_compressed();

    let client = PhdClient::connect(
        &config.rpc_url,
        config.signer.clone(),
        config.deployment.clone(),
    )
    .await
    .map_err(|e| ValidatorError::chain("connecting to the chain", e))?;
    client
        .check_code()
        .await
        .map_err(|e| ValidatorError::chain("checking the deployment", e))?;
    let store = match &config.s3 {
        Some(c) => {
            Some(
                Store::connect(c.clone())
                    .await
                    .map_err(|source| ValidatorError::Storage {
                        context: "configuring S3".into(),
                        source: Box::new(source),
                    })?,
            )
        }
        None => None,
    };
    // The encryption key signs the registry's key proof, then leaves memory.
    ensure_registered(&client, &enc, &endpoint, config.stake).await?;
    drop(enc);

    let health = Health {
        address: client.address().to_string(),
        account_pubkey: format!("0x{}", hex::encode(client.pubkey64())),
        encryption_key: format!("0x{}", hex::encode(enc_pub)),
        chain_id: config.deployment.chain_id,
        model_id: format!("{model_id:#x}"),
        endpoint: endpoint.clone(),
        cursor_block: None,
        min_certify_bps: config.min_certify_bps,
    };
    let next_block = data.next_block()?;
    let shared = Arc::new(Shared {
        ctx: ClientCtx::new(client.clone(), store.clone()),
        client,
        model: Arc::new(model),
        model_id,
        data,
        store,
        health,
        next_block: AtomicU64::new(next_block.unwrap_or(u64::MAX)),
        cfg: config,
    });
    tracing::info!(
        address = %shared.client.address(),
        %endpoint,
        listen = %local,
        model_id = %shared.health.model_id,
        chain_id = shared.health.chain_id,
        "validator started"
    );

    let app = api::router(Arc::clone(&shared));
    let watched = Arc::clone(&shared);
    let result = phd_node::run(
        listener,
        app,
        move |cancel| watcher::watch(watched, cancel),
        shutdown,
    )
    .await;
    tracing::info!(address = %shared.client.address(), "validator stopped");
    result.map_err(|e| match e {
        RunError::Watcher(e) => e,
        RunError::Serve { source, .. } => ValidatorError::Serve {
            addr: local.to_string(),
            source,
        },
        RunError::Task { task, reason } => ValidatorError::Task { task, reason },
        other => ValidatorError::Task {
            task: "node",
            reason: other.to_string(),
        },
    })
}

fn clean_work_dir(data: &DataDir) {
    if let Ok(rd) = std::fs::read_dir(data.work_dir()) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Registration (phd-node) through the validator's chain client.
struct ValidatorRegistry<'a>(&'a PhdClient);

#[async_trait::async_trait]
impl RegistryAccess for ValidatorRegistry<'_> {
    type Error = phd_chain::ChainError;

    fn account(&self) -> alloy::primitives::Address {
        self.0.address()
    }

    async fn node(&self) -> Result<RegistryNode, phd_chain::ChainError> {
        let n = self.0.node(self.0.address()).await?;
        Ok(RegistryNode {
            role: n.role,
            encryption_key: n.encryptionKey.to_vec(),
            endpoint: n.endpoint,
        })
    }

    async fn key_proof_digest(&self) -> Result<B256, phd_chain::ChainError> {
        self.0.key_proof_digest(self.0.address()).await
    }

    async fn min_stake(&self) -> Result<alloy::primitives::U256, phd_chain::ChainError> {
        self.0.min_stake().await
    }

    async fn register(
        &self,
        role: NodeRole,
        encryption_key: &[u8; 33],
        endpoint: &str,
        stake: alloy::primitives::U256,
        key_proof: &[u8],
    ) -> Result<B256, phd_chain::ChainError> {
        Ok(self
            .0
            .register_node(role, encryption_key, endpoint, stake, key_proof)
            .await?
            .0
            .tx_hash)
    }

    async fn update(
        &self,
        encryption_key: &[u8; 33],
        endpoint: &str,
        key_proof: &[u8],
    ) -> Result<B256, phd_chain::ChainError> {
        Ok(self
            .0
            .update_node(encryption_key, endpoint, key_proof)
            .await?
            .tx_hash)
    }

    /// Anything but a revert (transport, timeouts) may go through on a later attempt.
    fn is_transient(&self, error: &phd_chain::ChainError) -> bool {
        error.revert().is_none()
    }
}

async fn ensure_registered(
    client: &PhdClient,
    enc: &phd_keys::EncryptionSecretKey,
    endpoint: &str,
    stake: Option<alloy::primitives::U256>,
) -> Result<()> {
    phd_node::ensure_registered(
        &ValidatorRegistry(client),
        NodeRole::Validator,
        enc,
        endpoint,
        stake,
    )
    .await
    .map(drop)
    .map_err(|e| match e {
        RegisterError::Chain { step, source } => {
            let context = match step {
                RegisterStep::ReadNode => "KeeperRegistry.node",
                RegisterStep::Register => "registering as a validator",
                RegisterStep::Update => "updating the validator registration",
                RegisterStep::KeyProofDigest => "reading the key proof digest",
                RegisterStep::MinStake => "reading the minimum stake",
            };
            ValidatorError::chain(context, source)
        }
        RegisterError::WrongRole { address, role } => ValidatorError::WrongRole {
            address: address.to_string(),
            role: phd_chain::purpose::role_name(role),
        },
        other => ValidatorError::Config(other.to_string()),
    })
}
