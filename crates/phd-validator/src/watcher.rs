//! The grant watcher: follows `Granted` events to this validator from the cursor (phd-node's
//! scan, next block to scan), then advances every unfinished job: retrieve → score → report →
//! confirm the grant (a certificate needs a settled grant: `Marketplace.accessGranted`) →
//! certify (exactly once per dataset).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::primitives::{B256, U256};
use phd_chain::{BlockRange, DatasetStatus, PurchaseStatus};
use phd_node::{BlockRef, CursorScanner, ScanConfig};
use phd_protocol::{DatasetId, PurchaseId};
use phd_sdk::retrieve::RetrieveOptions;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::error::{Result, ValidatorError};
use crate::report::{Decision, REPORT_VERSION, ValidationReport, report_hash, score_plaintext};
use crate::state::{JobRecord, JobState};

/// Largest block range per scan step (events are fetched in chunks by phd-chain as well).
const MAX_RANGE: u64 = 10_000;

pub(crate) async fn watch(s: Arc<Shared>, cancel: CancellationToken) -> Result<()> {
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

/// One round: scan new `Granted` events to us, then advance every unfinished job.
async fn round(s: &Shared, cancel: &CancellationToken) -> Result<()> {
    let scan = ScanConfig {
        start_block: s.cfg.deployment.deployed_at_block,
        confirmations: s.cfg.confirmations,
        max_range: MAX_RANGE,
    };
    phd_node::scan_to_head(&GrantScanner(s), &scan).await?;
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
    if let Err(e) = crate::series::round(s, cancel).await {
        tracing::warn!(error = %e, "series round failed; retrying");
    }
    Ok(())
}

/// `Granted` events to this validator become job records; the cursor follows them.
struct GrantScanner<'a>(&'a Shared);

#[async_trait::async_trait]
impl CursorScanner for GrantScanner<'_> {
    type Error = ValidatorError;

    async fn head(&self) -> Result<u64> {
        self.0
            .client
            .block_number()
            .await
            .map_err(|e| ValidatorError::chain("reading the block number", e))
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>> {
        self.0
            .client
            .block_hash(number)
            .await
            .map_err(|e| ValidatorError::chain("reading a block hash", e))
    }

    async fn next_block(&self) -> Result<Option<u64>> {
        self.0.data.next_block()
    }

    async fn remembered(&self) -> Result<Vec<BlockRef>> {
        self.0.data.scanned_blocks()
    }

    /// Job records stay: a rescanned grant is merged into its job (purchases deduplicated),
    /// and a grant that vanished with the old branch cannot be certified on (the certificate
    /// needs `accessGranted` on-chain).
    async fn rewind(&self, next_block: u64, window: &[BlockRef]) -> Result<()> {
        self.0.data.set_cursor(next_block, window)?;
        self.0.next_block.store(next_block, Ordering::Relaxed);
        Ok(())
    }

    async fn scan(&self, from: u64, to: u64, window: &[BlockRef]) -> Result<()> {
        let s = self.0;
        let me = s.client.address();
        let grants = s
            .client
            .grants(
                None,
                Some(me),
                BlockRange {
                    from: Some(from),
                    to: Some(to),
                },
            )
            .await
            .map_err(|e| ValidatorError::chain("reading Granted events", e))?;
        for g in grants {
            if g.event.grantee != me {
                continue;
            }
            // Job records and file names hold u64 ids: an id that does not fit is refused
            // (it was silently truncated to u64::MAX before).
            let ids = DatasetId::new(g.event.datasetId)
                .to_u64()
                .and_then(|d| Ok((d, PurchaseId::new(g.event.purchaseId).to_u64()?)));
            let (dataset_id, purchase_id) = match ids {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "grant ignored");
                    continue;
                }
            };
            tracing::info!(
                dataset_id,
                purchase_id,
                purpose = g.event.purpose,
                "grant received"
            );
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
        s.data.set_cursor(to.saturating_add(1), window)?;
        s.next_block.store(to.saturating_add(1), Ordering::Relaxed);
        Ok(())
    }
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
        let d = s
            .client
            .dataset(did)
            .await
            .map_err(|e| ValidatorError::chain("reading the dataset", e))?;
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
    let Ok(now) = s.client.block_timestamp().await else {
        return false;
    };
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
        let pp = s
            .client
            .get_purchase(U256::from(*p))
            .await
            .map_err(|e| ValidatorError::chain("reading the grant", e))?;
        if pp.buyer == s.client.address()
            && PurchaseStatus::from(pp.status) != PurchaseStatus::Refunded
        {
            return Ok(*p);
        }
    }
    Err(ValidatorError::Config(format!(
        "dataset {}: every grant to this validator was refunded",
        job.dataset_id
    )))
}

async fn retrieve_and_report(
    s: &Shared,
    job: &JobRecord,
    content_root: B256,
) -> Result<ValidationReport> {
    let id = job.dataset_id;
    // a report written before a crash is reused as is: its bytes (and hash) never change
    if let Some(bytes) = s.data.report(id)? {
        match serde_json::from_slice::<ValidationReport>(&bytes) {
            Ok(r) => return Ok(r),
            Err(e) => {
                tracing::warn!(dataset_id = id, error = %e, "stored report unreadable; re-validating")
            }
        }
    }
    let purchase_id = usable_grant(s, job).await?;
    let out = s.data.work_dir().join(format!("{id}.plain"));
    let opts = RetrieveOptions {
        share_timeout: s.cfg.share_timeout,
        poll: Duration::from_millis(300),
    };
    tracing::info!(dataset_id = id, purchase_id, "retrieving granted data");
    let got = phd_sdk::retrieve::retrieve(&s.ctx, purchase_id, &out, &opts).await;
    let outcome = match got {
        Ok(o) => o,
        Err(source) => {
            let _ = std::fs::remove_file(&out);
            return Err(ValidatorError::Retrieve {
                dataset_id: id,
                purchase_id,
                source: Box::new(source),
            });
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
        .map_err(|e| ValidatorError::Task {
            task: "scoring",
            reason: e.to_string(),
        })?;
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
                .map_err(|source| ValidatorError::Storage {
                    context: format!("uploading {key}"),
                    source: Box::new(source),
                })?;
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
            reason = rep
                .result
                .error
                .as_deref()
                .unwrap_or("score below the minimum"),
            "dataset rejected: no certificate"
        );
        job.state = JobState::Rejected;
        job.error = rep.result.error.clone().or_else(|| {
            Some(format!(
                "score {} bps below the minimum {}",
                rep.result.score_bps, rep.min_certify_bps
            ))
        });
        return s.data.put_job(job);
    }
    // The registry only accepts certificates from a validator that received the data through
    // a settled grant: confirm it first (confirm settles at once with ≥ t shares delivered).
    let did = U256::from(id);
    let granted = s
        .client
        .access_granted(did, s.client.address())
        .await
        .map_err(|e| ValidatorError::chain("reading accessGranted", e))?;
    if !granted {
        confirm_grants(s, job).await?;
        let granted = s
            .client
            .access_granted(did, s.client.address())
            .await
            .map_err(|e| ValidatorError::chain("reading accessGranted", e))?;
        if !granted {
            job.error = Some("waiting for the grant to settle before certifying".into());
            s.data.put_job(job)?;
            return Ok(());
        }
    }
    match s
        .client
        .certify(did, rep.result.score_bps, s.model_id, hash, &uri)
        .await
    {
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
                // The grant has not settled (yet): stay Reported and try again next round.
                Some(R::DataRegistry(D::DataRegistryAccessNotGranted(_))) => {
                    job.error = Some(format!("certify reverted: {e}"));
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

/// Confirms every grant of the dataset that is open with ≥ t shares delivered (settles it: the
/// owner's escrowed delivery fees go to the delivering keepers, and the grant counts for
/// `accessGranted`, which certification requires).
async fn confirm_grants(s: &Shared, job: &mut JobRecord) -> Result<()> {
    let pending: Vec<u64> = job
        .purchases
        .iter()
        .copied()
        .filter(|p| !job.confirmed.contains(p))
        .collect();
    for p in pending {
        let pid = U256::from(p);
        let pp = s
            .client
            .get_purchase(pid)
            .await
            .map_err(|e| ValidatorError::chain("reading the grant", e))?;
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
