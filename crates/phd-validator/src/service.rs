//! The long-running validator: registration, HTTP API, grant watcher, retrieve → score →
//! report → certify (exactly once per dataset) → confirm the grant.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::signers::local::PrivateKeySigner;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use phd_chain::{BlockRange, DatasetStatus, Deployment, NodeRole, PhdClient, PurchaseStatus};
use phd_quality::QualityModel;
use phd_sdk::ClientCtx;
use phd_sdk::retrieve::RetrieveOptions;
use phd_storage::{S3Config, Store};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::{Result, ValidatorError};
use crate::report::{DEFAULT_MIN_CERTIFY_BPS, Decision, REPORT_VERSION, ValidationReport, report_hash, score_plaintext};
use crate::state::{DataDir, JobRecord, JobState};

/// Everything [`run`] needs.
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
    /// Confirm the grant on-chain once the data was received (default true).
    pub confirm_grants: bool,
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
    pub fn new(data_dir: impl Into<PathBuf>, rpc_url: impl Into<String>, signer: PrivateKeySigner, deployment: Deployment) -> Self {
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
        }
    }
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The validator's account (checksummed 0x-hex).
    pub address: String,
    /// 64-byte x ‖ y public key of the account (0x-hex): grants encrypt shares to it;
    /// `keccak256(account_pubkey)[12..] == address`.
    pub account_pubkey: String,
    /// 33-byte compressed encryption key registered in the KeeperRegistry (0x-hex).
    pub encryption_key: String,
    pub chain_id: u64,
    /// bytes32 model id certificates carry.
    pub model_id: String,
    /// Endpoint registered on-chain.
    pub endpoint: String,
    /// Last block scanned for grants.
    pub cursor_block: Option<u64>,
    /// Minimum score (bps) this validator certifies.
    pub min_certify_bps: u16,
}

pub(crate) struct Shared {
    client: PhdClient,
    ctx: ClientCtx,
    model: Arc<QualityModel>,
    model_id: B256,
    data: DataDir,
    store: Option<Store>,
    health: Health,
    cursor: AtomicU64,
    cfg: ValidatorConfig,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("address", &self.client.address()).finish_non_exhaustive()
    }
}

/// Loads a model file with a clear error (what `run` does first).
pub fn load_model(path: &std::path::Path) -> Result<(QualityModel, B256)> {
    let model = QualityModel::load(path).map_err(|source| ValidatorError::Model { path: path.to_path_buf(), source: Box::new(source) })?;
    let id = model.model_id().map_err(|source| ValidatorError::Model { path: path.to_path_buf(), source: Box::new(source) })?;
    let id_b = id.parse::<B256>().map_err(|e| ValidatorError::Config(format!("model id {id} is not a bytes32: {e}")))?;
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
    let local = listener.local_addr().map_err(|source| ValidatorError::Serve { addr: "listener".into(), source })?;
    let endpoint = config.public_endpoint.clone().unwrap_or_else(|| format!("http://{local}"));
    if endpoint.is_empty() || endpoint.len() > 256 {
        return Err(ValidatorError::Config(format!("endpoint must be 1..=256 bytes, got {}", endpoint.len())));
    }
    let data = DataDir::open(&config.data_dir)?;
    clean_work_dir(&data);
    let enc = data.encryption_key()?;
    let enc_pub = enc.public_key_compressed();
    drop(enc);

    let client = PhdClient::connect(&config.rpc_url, config.signer.clone(), config.deployment.clone())
        .await
        .map_err(|e| ValidatorError::chain("connecting to the chain", e))?;
    client.check_code().await.map_err(|e| ValidatorError::chain("checking the deployment", e))?;
    let store = match &config.s3 {
        Some(c) => Some(Store::connect(c.clone()).await.map_err(|source| ValidatorError::Storage { context: "configuring S3".into(), source: Box::new(source) })?),
        None => None,
    };
    ensure_registered(&client, &enc_pub, &endpoint).await?;

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
    let cursor = data.cursor()?;
    let shared = Arc::new(Shared {
        ctx: ClientCtx::new(client.clone(), store.clone()),
        client,
        model: Arc::new(model),
        model_id,
        data,
        store,
        health,
        cursor: AtomicU64::new(cursor.map_or(u64::MAX, |c| c)),
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

    let cancel = CancellationToken::new();
    let on_shutdown = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            cancel.cancel();
        })
    };
    let mut watcher_task = tokio::spawn(watch(Arc::clone(&shared), cancel.clone()));
    let app = router(Arc::clone(&shared));
    let server_cancel = cancel.clone();
    let mut server_task =
        tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(server_cancel.cancelled_owned()).await });
    let join_err = |task: &'static str| move |e: tokio::task::JoinError| ValidatorError::Task { task, reason: e.to_string() };
    let (w, s) = tokio::select! {
        w = &mut watcher_task => { cancel.cancel(); (w.map_err(join_err("watcher")), server_task.await.map_err(join_err("http server"))) }
        s = &mut server_task => { cancel.cancel(); (watcher_task.await.map_err(join_err("watcher")), s.map_err(join_err("http server"))) }
    };
    on_shutdown.abort();
    tracing::info!(address = %shared.client.address(), "validator stopped");
    w??;
    s?.map_err(|source| ValidatorError::Serve { addr: local.to_string(), source })?;
    Ok(())
}

fn clean_work_dir(data: &DataDir) {
    if let Ok(rd) = std::fs::read_dir(data.work_dir()) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

async fn ensure_registered(client: &PhdClient, enc_pub: &[u8; 33], endpoint: &str) -> Result<()> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match ensure_registered_once(client, enc_pub, endpoint).await {
            Err(ValidatorError::Chain { context, source }) if source.revert().is_none() && attempt < 6 => {
                tracing::warn!(%context, error = %source, attempt, "registration failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}

async fn ensure_registered_once(client: &PhdClient, enc_pub: &[u8; 33], endpoint: &str) -> Result<()> {
    let node = client.node(client.address()).await.map_err(|e| ValidatorError::chain("KeeperRegistry.node", e))?;
    match NodeRole::from_id(node.role) {
        Some(NodeRole::None) => {
            let tx = client
                .register_node(NodeRole::Validator, enc_pub, endpoint)
                .await
                .map_err(|e| ValidatorError::chain("registering as a validator", e))?;
            tracing::info!(tx = %tx.tx_hash, endpoint, "registered as a validator");
        }
        Some(NodeRole::Validator) if node.encryptionKey.as_ref() == enc_pub.as_slice() && node.endpoint == endpoint => {
            tracing::info!(endpoint, "validator registration unchanged");
        }
        Some(NodeRole::Validator) => {
            let tx = client
                .update_node(enc_pub, endpoint)
                .await
                .map_err(|e| ValidatorError::chain("updating the validator registration", e))?;
            tracing::info!(tx = %tx.tx_hash, endpoint, "validator registration updated");
        }
        _ => {
            return Err(ValidatorError::WrongRole {
                address: client.address().to_string(),
                role: phd_chain::purpose::role_name(node.role),
            });
        }
    }
    Ok(())
}

// -------------------------------------------------------------------------------------------
// HTTP
// -------------------------------------------------------------------------------------------

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/reports/{dataset_id}", get(report))
        .route("/jobs", get(jobs))
        .with_state(shared)
}

fn json_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

async fn health(State(s): State<Arc<Shared>>) -> Response {
    let mut h = s.health.clone();
    let c = s.cursor.load(Ordering::Relaxed);
    h.cursor_block = (c != u64::MAX).then_some(c);
    axum::Json(h).into_response()
}

async fn report(State(s): State<Arc<Shared>>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.trim_end_matches(".json").parse::<u64>() else {
        return json_error(StatusCode::BAD_REQUEST, "dataset id must be a decimal integer");
    };
    match s.data.report(id) {
        Ok(Some(bytes)) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, format!("no report for dataset {id}")),
        Err(e) => {
            tracing::error!(dataset_id = id, error = %e, "reading a report");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the report")
        }
    }
}

async fn jobs(State(s): State<Arc<Shared>>) -> Response {
    match s.data.jobs() {
        Ok(j) => axum::Json(j).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading job records");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "cannot read job records")
        }
    }
}

// -------------------------------------------------------------------------------------------
// Watcher
// -------------------------------------------------------------------------------------------

async fn watch(s: Arc<Shared>, cancel: CancellationToken) -> Result<()> {
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        if let Err(e) = round(&s, &cancel).await {
            tracing::warn!(error = %e, "watcher round failed; retrying");
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(s.cfg.poll_interval) => {}
        }
    }
}

fn id_u64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// One round: scan new `Granted` events to us, then advance every unfinished job.
async fn round(s: &Shared, cancel: &CancellationToken) -> Result<()> {
    let me = s.client.address();
    let head = s.client.block_number().await.map_err(|e| ValidatorError::chain("reading the block number", e))?;
    let head = head.saturating_sub(s.cfg.confirmations);
    let from = s.data.cursor()?.map_or(s.cfg.deployment.deployed_at_block, |c| c.saturating_add(1));
    if from <= head {
        let grants = s
            .client
            .grants(None, Some(me), BlockRange { from: Some(from), to: Some(head) })
            .await
            .map_err(|e| ValidatorError::chain("reading Granted events", e))?;
        for g in grants {
            if g.event.grantee != me {
                continue;
            }
            let (dataset_id, purchase_id) = (id_u64(g.event.datasetId), id_u64(g.event.purchaseId));
            tracing::info!(dataset_id, purchase_id, purpose = g.event.purpose, "grant received");
            let job = match s.data.job(dataset_id)? {
                Some(mut j) => {
                    if !j.purchases.contains(&purchase_id) {
                        j.purchases.push(purchase_id);
                    }
                    j
                }
                None => JobRecord::new(dataset_id, purchase_id),
            };
            s.data.put_job(&job)?;
        }
        s.data.set_cursor(head)?;
        s.cursor.store(head, Ordering::Relaxed);
    }
    for job in s.data.jobs()? {
        if cancel.is_cancelled() {
            break;
        }
        let needs_confirm = s.cfg.confirm_grants
            && matches!(job.state, JobState::Certified | JobState::Rejected)
            && job.purchases.iter().any(|p| !job.confirmed.contains(p));
        if job.state.is_final() && !needs_confirm {
            continue;
        }
        let id = job.dataset_id;
        if let Err(e) = advance(s, job).await {
            tracing::warn!(dataset_id = id, error = %e, "validation step failed; will retry");
        }
    }
    Ok(())
}

/// Moves one dataset's job forward as far as it goes; persists after every step.
async fn advance(s: &Shared, mut job: JobRecord) -> Result<()> {
    let id = job.dataset_id;
    let did = U256::from(id);
    if !job.state.is_final() {
        // Exactly once: a certificate of ours already on-chain (e.g. we crashed after sending)
        let mine = s
            .client
            .certifications(Some(did), Some(s.client.address()), BlockRange::all())
            .await
            .map_err(|e| ValidatorError::chain("reading Certified events", e))?;
        if let Some(c) = mine.first() {
            job.state = JobState::Certified;
            job.certify_tx = c.tx_hash.map(|h| format!("{h:#x}"));
            job.score_bps = Some(c.event.scoreBps);
            job.report_hash = Some(format!("{:#x}", c.event.reportHash));
            job.report_uri = Some(c.event.reportUri.clone());
            job.error = None;
            s.data.put_job(&job)?;
            tracing::info!(dataset_id = id, "already certified by this validator");
        }
    }
    if job.state == JobState::Pending {
        let d = s.client.dataset(did).await.map_err(|e| ValidatorError::chain("reading the dataset", e))?;
        match DatasetStatus::from(d.status) {
            DatasetStatus::Active => {}
            DatasetStatus::Withdrawn => return fail(s, job, "the owner withdrew consent".into()),
            other => {
                job.error = Some(format!("dataset is {other}"));
                s.data.put_job(&job)?;
                return Ok(());
            }
        }
        match retrieve_and_report(s, &job, d.contentRoot).await {
            Ok(rep) => {
                job.state = JobState::Reported;
                job.score_bps = Some(rep.result.score_bps);
                job.error = None;
                s.data.put_job(&job)?;
            }
            Err(e) => {
                job.attempts += 1;
                job.error = Some(e.to_string());
                let deadline_passed = grant_expired(s, &job).await;
                if e.is_transient() && !deadline_passed {
                    s.data.put_job(&job)?;
                    return Err(e);
                }
                return fail(s, job, e.to_string());
            }
        }
    }
    if job.state == JobState::Reported {
        certify(s, &mut job).await?;
    }
    if s.cfg.confirm_grants && matches!(job.state, JobState::Certified | JobState::Rejected) {
        confirm_grants(s, &mut job).await?;
    }
    Ok(())
}

fn fail(s: &Shared, mut job: JobRecord, reason: String) -> Result<()> {
    tracing::warn!(dataset_id = job.dataset_id, %reason, "validation failed (final)");
    job.state = JobState::Failed;
    job.error = Some(reason);
    s.data.put_job(&job)
}

/// Whether every grant's delivery deadline passed (no more shares can come).
async fn grant_expired(s: &Shared, job: &JobRecord) -> bool {
    let Ok(now) = s.client.block_timestamp().await else { return false };
    for p in &job.purchases {
        match s.client.get_purchase(U256::from(*p)).await {
            Ok(pp) if pp.deliveryDeadline == 0 || now <= pp.deliveryDeadline => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

/// The newest grant not refunded.
async fn usable_grant(s: &Shared, job: &JobRecord) -> Result<u64> {
    for p in job.purchases.iter().rev() {
        let pp = s.client.get_purchase(U256::from(*p)).await.map_err(|e| ValidatorError::chain("reading the grant", e))?;
        if pp.buyer == s.client.address() && PurchaseStatus::from(pp.status) != PurchaseStatus::Refunded {
            return Ok(*p);
        }
    }
    Err(ValidatorError::Config(format!("dataset {}: every grant to this validator was refunded", job.dataset_id)))
}

async fn retrieve_and_report(s: &Shared, job: &JobRecord, content_root: B256) -> Result<ValidationReport> {
    let id = job.dataset_id;
    // a report written before a crash is reused as is: its bytes (and hash) never change
    if let Some(bytes) = s.data.report(id)? {
        match serde_json::from_slice::<ValidationReport>(&bytes) {
            Ok(r) => return Ok(r),
            Err(e) => tracing::warn!(dataset_id = id, error = %e, "stored report unreadable; re-validating"),
        }
    }
    let purchase_id = usable_grant(s, job).await?;
    let out = s.data.work_dir().join(format!("{id}.plain"));
    let opts = RetrieveOptions { share_timeout: s.cfg.share_timeout, poll: Duration::from_millis(300) };
    tracing::info!(dataset_id = id, purchase_id, "retrieving granted data");
    let got = phd_sdk::retrieve::retrieve(&s.ctx, purchase_id, &out, &opts).await;
    let outcome = match got {
        Ok(o) => o,
        Err(source) => {
            let _ = std::fs::remove_file(&out);
            return Err(ValidatorError::Retrieve { dataset_id: id, purchase_id, source: Box::new(source) });
        }
    };
    let read = std::fs::read(&out);
    // data minimisation: the plaintext leaves the disk as soon as it is read
    let _ = std::fs::remove_file(&out);
    let plaintext = zeroize::Zeroizing::new(read.map_err(ValidatorError::io(&out))?);
    let model = Arc::clone(&s.model);
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || score_plaintext(&model, &plaintext))
        .await
        .map_err(|e| ValidatorError::Task { task: "scoring", reason: e.to_string() })?;
    tracing::info!(
        dataset_id = id,
        purchase_id,
        bytes = outcome.bytes_written,
        samples = result.samples,
        score_bps = result.score_bps,
        outcome = ?result.outcome,
        ms = started.elapsed().as_millis() as u64,
        "scored"
    );
    let d = &s.cfg.deployment;
    let rep = ValidationReport {
        version: REPORT_VERSION,
        dataset_id: Some(id),
        purchase_id: Some(purchase_id),
        chain_id: Some(d.chain_id),
        data_registry: Some(d.data_registry.to_string()),
        validator: Some(s.client.address().to_string()),
        content_root: Some(format!("{content_root:#x}")),
        decision: crate::report::decide(&result, s.cfg.min_certify_bps),
        min_certify_bps: s.cfg.min_certify_bps,
        result,
        created_at: crate::report::now_unix(),
    };
    s.data.put_report(id, &rep.to_bytes()?)?;
    Ok(rep)
}

/// Uploads the report (when S3 is configured) and certifies — or records the rejection.
async fn certify(s: &Shared, job: &mut JobRecord) -> Result<()> {
    let id = job.dataset_id;
    let Some(bytes) = s.data.report(id)? else {
        job.state = JobState::Pending;
        s.data.put_job(job)?;
        return Ok(());
    };
    let rep: ValidationReport = serde_json::from_slice(&bytes)?;
    let hash = report_hash(&bytes);
    let key = format!("reports/{id}.json");
    let uri = match &s.store {
        Some(store) => {
            store
                .put_bytes(&key, bytes.clone())
                .await
                .map_err(|source| ValidatorError::Storage { context: format!("uploading {key}"), source: Box::new(source) })?;
            format!("s3://{}/{key}", store.bucket())
        }
        None => format!("{}/reports/{id}", s.health.endpoint.trim_end_matches('/')),
    };
    job.report_hash = Some(format!("{hash:#x}"));
    job.report_uri = Some(uri.clone());
    job.score_bps = Some(rep.result.score_bps);
    if rep.decision == Decision::Reject {
        tracing::warn!(
            dataset_id = id,
            score_bps = rep.result.score_bps,
            min = rep.min_certify_bps,
            reason = rep.result.error.as_deref().unwrap_or("score below the minimum"),
            "dataset rejected: no certificate"
        );
        job.state = JobState::Rejected;
        job.error = rep.result.error.clone().or_else(|| Some(format!("score {} bps below the minimum {}", rep.result.score_bps, rep.min_certify_bps)));
        return s.data.put_job(job);
    }
    match s.client.certify(U256::from(id), rep.result.score_bps, s.model_id, hash, &uri).await {
        Ok(tx) => {
            tracing::info!(dataset_id = id, score_bps = rep.result.score_bps, tx = %tx.tx_hash, report_uri = %uri, "certified");
            job.state = JobState::Certified;
            job.certify_tx = Some(format!("{:#x}", tx.tx_hash));
            job.error = None;
            s.data.put_job(job)
        }
        Err(e) => {
            use phd_chain::ContractRevert as R;
            use phd_chain::bindings::data_registry::DataRegistry::DataRegistryErrors as D;
            match e.revert() {
                Some(R::DataRegistry(D::DataRegistryAlreadyCertifiedBy(_))) => {
                    job.state = JobState::Certified;
                    job.error = None;
                    s.data.put_job(job)
                }
                Some(_) => {
                    let reason = format!("certify reverted: {e}");
                    job.state = JobState::Failed;
                    job.error = Some(reason.clone());
                    s.data.put_job(job)?;
                    tracing::warn!(dataset_id = id, %reason, "validation failed (final)");
                    Ok(())
                }
                None => {
                    job.error = Some(e.to_string());
                    s.data.put_job(job)?;
                    Err(ValidatorError::chain("certify", e))
                }
            }
        }
    }
}

/// Confirms every grant of the dataset that is open with ≥ t shares delivered (settles it;
/// price zero, so nobody is paid — it just closes the escrow entry).
async fn confirm_grants(s: &Shared, job: &mut JobRecord) -> Result<()> {
    let pending: Vec<u64> = job.purchases.iter().copied().filter(|p| !job.confirmed.contains(p)).collect();
    for p in pending {
        let pid = U256::from(p);
        let pp = s.client.get_purchase(pid).await.map_err(|e| ValidatorError::chain("reading the grant", e))?;
        let status = PurchaseStatus::from(pp.status);
        let done = match status {
            PurchaseStatus::Open if pp.confirmed => true,
            PurchaseStatus::Open if pp.delivered >= pp.threshold => {
                match s.client.confirm(pid).await {
                    Ok((tx, _)) => {
                        tracing::info!(purchase_id = p, tx = %tx.tx_hash, "grant confirmed");
                        true
                    }
                    Err(e) if e.revert().is_some() => {
                        tracing::warn!(purchase_id = p, error = %e, "confirm reverted; not retrying");
                        true
                    }
                    Err(e) => return Err(ValidatorError::chain("confirming the grant", e)),
                }
            }
            // not enough shares yet: confirm later (or it gets refunded after the deadline)
            PurchaseStatus::Open => false,
            _ => true,
        };
        if done {
            job.confirmed.push(p);
            s.data.put_job(job)?;
        }
    }
    Ok(())
}

