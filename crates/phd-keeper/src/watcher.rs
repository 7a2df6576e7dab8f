//! The chain watcher: follows `Purchased`/`Granted`/`ConsentWithdrawn` from a persisted block
//! cursor, turns them into job rows (atomically with the cursor), and works the jobs off:
//! deliveries through `commit` then, once `threshold` keepers committed, `deliverShare` (the
//! provable format of FORMATS.md §2.4); erasures through `confirmErasure`. Every chain effect is
//! bracketed by database writes, and every job re-checks the chain first, so a restart at any
//! point neither loses nor repeats an effect.

use std::{sync::Arc, time::Duration};

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use futures::StreamExt;
use phd_node::{BlockRef, CursorScanner, ScanConfig};
use tokio_util::sync::CancellationToken;

use crate::{
    FailPoint, KeeperError, Misbehaviour, Shared,
    chain::{ChainFailure, DatasetStatus, PurchaseStatus, Revert},
    keys::{corrupt_share, deliver_to_buyer},
    metrics::Metrics,
    store::{DeliveryJob, DeliveryState, ErasureJob, ErasureState, now_ms},
};

pub(crate) mod series;

/// Largest block range per `eth_getLogs`.
const MAX_RANGE: u64 = 2_000;
/// Jobs fetched per tick.
const BATCH: usize = 256;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 64;
/// How long a round in progress may run on after shutdown was requested.
const DRAIN_GRACE: Duration = Duration::from_secs(10);
/// Non-transient failures before a job is given up.
const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone)]
pub(crate) struct WatcherConfig {
    pub(crate) poll_interval: Duration,
    pub(crate) confirmations: u64,
    pub(crate) start_block: u64,
    pub(crate) fail_after: Option<FailPoint>,
    pub(crate) misbehave: Option<Misbehaviour>,
}

/// Runs until `cancel` fires (finishing the tick in progress) or a fail point is hit.
pub(crate) async fn run(
    s: Arc<Shared>,
    cfg: WatcherConfig,
    cancel: CancellationToken,
) -> Result<(), KeeperError> {
    let mut backoff = cfg.poll_interval;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        // On shutdown the round in progress gets a grace period to finish; past it, it is
        // dropped mid-way, which the job states make safe (as if the process had been killed).
        let round = tokio::select! {
            r = tick(&s, &cfg) => r,
            () = async {
                cancel.cancelled().await;
                tokio::time::sleep(DRAIN_GRACE).await;
            } => {
                tracing::warn!(grace_ms = DRAIN_GRACE.as_millis() as u64, "watcher round cut short by shutdown");
                break;
            }
        };
        match round {
            Ok(()) => backoff = cfg.poll_interval,
            Err(e @ KeeperError::FailPointHit(_)) => {
                tracing::warn!(error = %e, "watcher stopped by fault injection");
                return Err(e);
            }
            Err(e) => {
                Metrics::inc(&s.metrics.rpc_errors);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "watcher tick failed");
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        let wait = if backoff > cfg.poll_interval {
            backoff
        } else {
            cfg.poll_interval
        };
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("chain watcher stopped");
    Ok(())
}

fn retry_at(cfg: &WatcherConfig, attempts: u32) -> i64 {
    let base = cfg.poll_interval.as_millis().max(50);
    let exp = base.saturating_mul(1u128 << attempts.min(10)).min(60_000);
    now_ms().saturating_add(i64::try_from(exp).unwrap_or(60_000))
}

async fn tick(s: &Arc<Shared>, cfg: &WatcherConfig) -> Result<(), KeeperError> {
    if let Some(series_chain) = &s.series {
        series::tick(s, series_chain, cfg).await?;
    }
    scan(s, cfg).await?;
    reconcile_acks(s).await?;
    let erasures = s.store.run(|st| st.due_erasures(BATCH)).await?;
    for job in erasures {
        process_erasure(s, cfg, job).await?;
    }
    let deliveries = s.store.run(|st| st.due_deliveries(BATCH)).await?;
    if !deliveries.is_empty() {
        let mut results = futures::stream::iter(deliveries)
            .map(|job| process_delivery(s, cfg, job))
            .buffer_unordered(CONCURRENCY);
        while let Some(r) = results.next().await {
            if let Err(e) = r {
                if matches!(e, KeeperError::FailPointHit(_)) {
                    return Err(e);
                }
                tracing::warn!(error = %e, "delivery job failed");
            }
        }
    }
    Ok(())
}

/// Moves the cursor (next block to scan) to the confirmed head, recording jobs for every
/// event on the way.
async fn scan(s: &Arc<Shared>, cfg: &WatcherConfig) -> Result<(), KeeperError> {
    let scan = ScanConfig {
        start_block: cfg.start_block,
        confirmations: cfg.confirmations,
        max_range: MAX_RANGE,
    };
    phd_node::scan_to_head(&Scanner(s), &scan).await.map(drop)
}

/// The keeper's side of phd-node's cursor scan: events become job rows, atomically with the
/// cursor.
struct Scanner<'a>(&'a Arc<Shared>);

#[async_trait::async_trait]
impl CursorScanner for Scanner<'_> {
    type Error = KeeperError;

    async fn head(&self) -> Result<u64, KeeperError> {
        self.0
            .chain
            .block_number()
            .await
            .map_err(KeeperError::chain("eth_blockNumber"))
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, KeeperError> {
        self.0
            .chain
            .block_hash(number)
            .await
            .map_err(KeeperError::chain("eth_getBlockByNumber"))
    }

    async fn next_block(&self) -> Result<Option<u64>, KeeperError> {
        self.0.store.run(|st| st.cursor()).await
    }

    async fn remembered(&self) -> Result<Vec<BlockRef>, KeeperError> {
        self.0.store.run(|st| st.scanned_blocks()).await
    }

    async fn rewind(&self, next_block: u64, window: &[BlockRef]) -> Result<(), KeeperError> {
        let s = self.0;
        let window = window.to_vec();
        s.store
            .run(move |st| st.rewind(next_block, &window))
            .await?;
        s.chain.forget_nonce().await;
        s.metrics
            .cursor_block
            .store(next_block, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn scan(&self, from: u64, to: u64, window: &[BlockRef]) -> Result<(), KeeperError> {
        let s = self.0;
        let events = s
            .chain
            .events(from, to)
            .await
            .map_err(KeeperError::chain("eth_getLogs"))?;
        let n = events.len();
        let window = window.to_vec();
        let (d, e) = s
            .store
            .run(move |st| st.record_events(&events, to + 1, &window))
            .await?;
        s.metrics
            .cursor_block
            .store(to + 1, std::sync::atomic::Ordering::Relaxed);
        if n > 0 {
            tracing::info!(
                from,
                to,
                events = n,
                new_deliveries = d,
                new_erasures = e,
                "scanned blocks"
            );
        } else {
            tracing::debug!(from, to, "scanned blocks");
        }
        Ok(())
    }
}

/// Acknowledges shares stored but not yet acknowledged (e.g. a crash between store and ack).
async fn reconcile_acks(s: &Arc<Shared>) -> Result<(), KeeperError> {
    let ids = s.store.run(|st| st.unacked_shares()).await?;
    for id in ids {
        // Same lock as uploads: an upload in progress acknowledges its own share.
        let lock = s.dataset_lock(id);
        let _guard = lock.lock().await;
        match s.store.run(move |st| st.get_share(id)).await? {
            Some(row) if !row.acked => {}
            _ => continue,
        }
        let ds = s
            .chain
            .dataset(id)
            .await
            .map_err(KeeperError::chain("dataset"))?;
        if matches!(ds.status, DatasetStatus::Pending | DatasetStatus::Active) {
            crate::api::acknowledge(s, id)
                .await
                .map_err(KeeperError::chain("acknowledgeShare"))?;
        }
    }
    Ok(())
}

fn fail_if(cfg: &WatcherConfig, point: FailPoint) -> Result<(), KeeperError> {
    if cfg.fail_after == Some(point) {
        Err(KeeperError::FailPointHit(point))
    } else {
        Ok(())
    }
}

async fn set_delivery(
    s: &Arc<Shared>,
    pid: U256,
    state: DeliveryState,
    tx: Option<B256>,
    retry: Option<(u32, i64, String)>,
) -> Result<(), KeeperError> {
    s.store
        .run(move |st| {
            st.set_delivery(
                pid,
                state,
                tx,
                retry.as_ref().map(|(a, n, e)| (*a, *n, e.as_str())),
            )
        })
        .await
}

/// Schedules a retry, or gives up after `MAX_ATTEMPTS` non-transient failures.
async fn delivery_failed(
    s: &Arc<Shared>,
    cfg: &WatcherConfig,
    job: &DeliveryJob,
    state_if_retry: DeliveryState,
    err: &ChainFailure,
) -> Result<(), KeeperError> {
    Metrics::inc(&s.metrics.deliveries_failed);
    let attempts = job.attempts.saturating_add(1);
    let give_up = !err.is_transient() && attempts >= MAX_ATTEMPTS;
    tracing::warn!(purchase_id = %job.purchase_id, attempts, give_up, error = %err, "delivery attempt failed");
    let state = if give_up {
        DeliveryState::Failed
    } else {
        state_if_retry
    };
    set_delivery(
        s,
        job.purchase_id,
        state,
        None,
        Some((attempts, retry_at(cfg, attempts), err.to_string())),
    )
    .await
}

async fn process_delivery(
    s: &Arc<Shared>,
    cfg: &WatcherConfig,
    job: DeliveryJob,
) -> Result<(), KeeperError> {
    let pid = job.purchase_id;
    let chain = &s.chain;
    // A previous run recorded intent: find out whether that attempt landed.
    if job.state == DeliveryState::Sending {
        if let Some(h) = job.tx_hash {
            match chain.wait_receipt(h).await {
                Ok(Some(true)) => {
                    Metrics::inc(&s.metrics.deliveries_sent);
                    tracing::info!(purchase_id = %pid, tx = %h, "delivery from earlier run confirmed");
                    return set_delivery(s, pid, DeliveryState::Delivered, Some(h), None).await;
                }
                Ok(_) => {}
                Err(e) => return delivery_failed(s, cfg, &job, DeliveryState::Sending, &e).await,
            }
        }
        match chain.has_delivered(pid).await {
            Ok(true) => {
                tracing::info!(purchase_id = %pid, "delivery found on-chain after restart");
                return set_delivery(s, pid, DeliveryState::AlreadyDelivered, None, None).await;
            }
            Ok(false) => {}
            Err(e) => return delivery_failed(s, cfg, &job, DeliveryState::Sending, &e).await,
        }
    }

    let ds = job.dataset_id;
    let Some(row) = s.store.run(move |st| st.get_share(ds)).await? else {
        tracing::debug!(purchase_id = %pid, dataset_id = %ds, "no share held for purchased dataset");
        return set_delivery(s, pid, DeliveryState::NoShare, None, None).await;
    };

    // Re-check the purchase on-chain: the reads are independent, so one round trip.
    let (p, now, delivered, committed_on_chain) = match chain.delivery_check(pid).await {
        Ok(c) => (c.purchase, c.now, c.delivered, c.committed),
        Err(e) => return delivery_failed(s, cfg, &job, job_state(&job), &e).await,
    };
    if delivered {
        return set_delivery(s, pid, DeliveryState::AlreadyDelivered, None, None).await;
    }
    if p.status != PurchaseStatus::Open || p.dataset_id != ds || now > p.delivery_deadline {
        tracing::info!(purchase_id = %pid, status = ?p.status, deadline = p.delivery_deadline, now, "purchase not deliverable; skipped");
        return set_delivery(s, pid, DeliveryState::Skipped, None, None).await;
    }

    if job.buyer_pubkey.len() != 64
        || Address::from_slice(&keccak256(&job.buyer_pubkey)[12..]) != p.buyer
    {
        tracing::warn!(purchase_id = %pid, buyer = %p.buyer, "event public key does not belong to the buyer; skipped");
        return set_delivery(s, pid, DeliveryState::Skipped, None, None).await;
    }

    // The share opens before we commit: a keeper that cannot deliver must not commit (a
    // commitment without delivery gets it slashed).
    let Some(share) = s.at_rest.open(ds, row.share_index, &row.sealed) else {
        return Err(KeeperError::AtRestCorrupt { dataset_id: ds });
    };
    // Commit before delivering: deliveries are refused until `threshold` keepers committed.
    let committed_by_me = match commit_step(s, cfg, &job, committed_on_chain).await? {
        CommitOutcome::Committed => true,
        CommitOutcome::Closed => false,
        CommitOutcome::Retry => return Ok(()),
    };
    let count = match chain.commit_count(pid).await {
        Ok(c) => c,
        Err(e) => {
            return delivery_failed(s, cfg, &job, job_state_after_commit(committed_by_me), &e)
                .await;
        }
    };
    // A delivery by a keeper that did not commit counts as its commitment: with t − 1 others
    // committed, a late keeper may deliver directly.
    let needed = if committed_by_me {
        p.threshold
    } else {
        p.threshold.saturating_sub(1)
    };
    if count < needed {
        tracing::debug!(purchase_id = %pid, committed = count, threshold = p.threshold, "waiting for commitments");
        let state = job_state_after_commit(committed_by_me);
        let next =
            now_ms().saturating_add(i64::try_from(cfg.poll_interval.as_millis()).unwrap_or(1000));
        return set_delivery(
            s,
            pid,
            state,
            None,
            Some((job.attempts, next, "waiting for commitments".into())),
        )
        .await;
    }

    let share = match s.misbehave.or(cfg.misbehave) {
        Some(Misbehaviour::WrongShare) => corrupt_share(&share),
        None => share,
    };
    let ctx = phd_keys::DeliveryContext {
        chain_id: chain.chain_id(),
        marketplace: chain.marketplace().into_array(),
        purchase_id: pid.to_be_bytes::<32>(),
        index: row.share_index,
    };
    // No presigned URL to pass on: the keeper does not hold the sealed object, so no tail.
    let payload = match deliver_to_buyer(&share, &job.buyer_pubkey, &ctx, None) {
        Ok(p) => Bytes::from(p),
        Err(reason) => {
            tracing::warn!(purchase_id = %pid, %reason, "cannot mask the share for the buyer key; skipped");
            return set_delivery(
                s,
                pid,
                DeliveryState::Skipped,
                None,
                Some((job.attempts, 0, reason)),
            )
            .await;
        }
    };
    drop(share);

    // Intent first, then the transaction.
    set_delivery(s, pid, DeliveryState::Sending, None, None).await?;
    fail_if(cfg, FailPoint::DeliveryIntentRecorded)?;
    let sent = chain.send_delivery(pid, payload).await;
    let h = match sent {
        Ok(h) => h,
        Err(ChainFailure::Reverted(Revert::AlreadyDelivered)) => {
            return set_delivery(s, pid, DeliveryState::AlreadyDelivered, None, None).await;
        }
        Err(ChainFailure::Reverted(
            Revert::PurchaseNotOpen | Revert::DeliveryClosed | Revert::NotListed,
        )) => {
            return set_delivery(s, pid, DeliveryState::Skipped, None, None).await;
        }
        Err(ChainFailure::Reverted(Revert::NotEnoughCommitments)) => {
            // Raced with the view (e.g. a reorg): back to waiting, nothing was sent.
            let state = job_state_after_commit(committed_by_me);
            let next = now_ms()
                .saturating_add(i64::try_from(cfg.poll_interval.as_millis()).unwrap_or(1000));
            return set_delivery(
                s,
                pid,
                state,
                None,
                Some((job.attempts, next, "waiting for commitments".into())),
            )
            .await;
        }
        Err(e) => return delivery_failed(s, cfg, &job, DeliveryState::Sending, &e).await,
    };
    fail_if(cfg, FailPoint::DeliverySent)?;
    set_delivery(s, pid, DeliveryState::Sending, Some(h), None).await?;
    match chain.wait_receipt(h).await {
        Ok(Some(true)) => {
            Metrics::inc(&s.metrics.deliveries_sent);
            tracing::info!(purchase_id = %pid, dataset_id = %ds, tx = %h, "share delivered");
            set_delivery(s, pid, DeliveryState::Delivered, Some(h), None).await
        }
        Ok(Some(false)) => {
            delivery_failed(
                s,
                cfg,
                &job,
                DeliveryState::Sending,
                &ChainFailure::TxFailed(h),
            )
            .await
        }
        Ok(None) => {
            let e = ChainFailure::Rpc(format!("transaction {h} dropped"));
            delivery_failed(s, cfg, &job, DeliveryState::Sending, &e).await
        }
        Err(e) => delivery_failed(s, cfg, &job, DeliveryState::Sending, &e).await,
    }
}

fn job_state(job: &DeliveryJob) -> DeliveryState {
    match job.state {
        DeliveryState::Sending | DeliveryState::Committing | DeliveryState::Committed => job.state,
        _ => DeliveryState::Pending,
    }
}

/// The state a job waits in before delivering: `Committed` once our commitment is on-chain,
/// else `Pending` (the commit window closed; the job may still deliver as the t-th keeper).
fn job_state_after_commit(committed_by_me: bool) -> DeliveryState {
    if committed_by_me {
        DeliveryState::Committed
    } else {
        DeliveryState::Pending
    }
}

/// What the commit step found.
enum CommitOutcome {
    /// Our commitment is on-chain (now or from an earlier run).
    Committed,
    /// The commit window passed without our commitment.
    Closed,
    /// Not settled yet: the job was rescheduled.
    Retry,
}

/// `commit(purchaseId)` exactly once: intent (`Committing`) first, then the transaction, its
/// hash, its receipt, then `Committed`. A restart in between finds the hash (or asks the chain
/// with `hasCommitted`) instead of committing twice; `MarketplaceAlreadyCommitted` also means
/// done. `committed_on_chain` is `hasCommitted` as read just before.
async fn commit_step(
    s: &Arc<Shared>,
    cfg: &WatcherConfig,
    job: &DeliveryJob,
    committed_on_chain: bool,
) -> Result<CommitOutcome, KeeperError> {
    let pid = job.purchase_id;
    let chain = &s.chain;
    if job.state == DeliveryState::Committed {
        return Ok(CommitOutcome::Committed);
    }
    let committed = |s: &Arc<Shared>| {
        let s = Arc::clone(s);
        async move {
            set_delivery(&s, pid, DeliveryState::Committed, None, None).await?;
            Ok::<_, KeeperError>(CommitOutcome::Committed)
        }
    };
    if job.state == DeliveryState::Committing
        && let Some(h) = job.commit_tx
    {
        match chain.wait_receipt(h).await {
            Ok(Some(true)) => {
                tracing::info!(purchase_id = %pid, tx = %h, "commitment from earlier run confirmed");
                return committed(s).await;
            }
            Ok(_) => {}
            Err(e) => {
                delivery_failed(s, cfg, job, DeliveryState::Committing, &e).await?;
                return Ok(CommitOutcome::Retry);
            }
        }
    }
    if committed_on_chain {
        return committed(s).await;
    }

    set_delivery(s, pid, DeliveryState::Committing, None, None).await?;
    fail_if(cfg, FailPoint::CommitIntentRecorded)?;
    // The first attempt sends with a fixed gas limit: the purchase was just read open and not
    // committed by us, and we hold a listed share. A commit that fails anyway (the window
    // closed in between) is mined as failed; every retry estimates, so the revert is decoded
    // before a nonce is spent and the job moves on (`CommitClosed` → deliver as t-th only).
    let h = match chain.send_commit(pid, job.attempts > 0).await {
        Ok(h) => h,
        Err(ChainFailure::Reverted(Revert::AlreadyCommitted)) => return committed(s).await,
        Err(ChainFailure::Reverted(Revert::CommitClosed)) => {
            tracing::info!(purchase_id = %pid, "commit window closed; delivering only as the t-th keeper");
            set_delivery(s, pid, DeliveryState::Pending, None, None).await?;
            return Ok(CommitOutcome::Closed);
        }
        Err(ChainFailure::Reverted(Revert::PurchaseNotOpen | Revert::NotListed)) => {
            set_delivery(s, pid, DeliveryState::Skipped, None, None).await?;
            return Ok(CommitOutcome::Retry);
        }
        Err(e) => {
            delivery_failed(s, cfg, job, DeliveryState::Committing, &e).await?;
            return Ok(CommitOutcome::Retry);
        }
    };
    fail_if(cfg, FailPoint::CommitSent)?;
    s.store.run(move |st| st.set_commit_tx(pid, h)).await?;
    let failure = match chain.wait_receipt(h).await {
        Ok(Some(true)) => {
            Metrics::inc(&s.metrics.commits_sent);
            tracing::info!(purchase_id = %pid, tx = %h, "committed to deliver");
            return committed(s).await;
        }
        Ok(Some(false)) => ChainFailure::TxFailed(h),
        Ok(None) => ChainFailure::Rpc(format!("transaction {h} dropped")),
        Err(e) => e,
    };
    delivery_failed(s, cfg, job, DeliveryState::Committing, &failure).await?;
    Ok(CommitOutcome::Retry)
}

async fn process_erasure(
    s: &Arc<Shared>,
    cfg: &WatcherConfig,
    job: ErasureJob,
) -> Result<(), KeeperError> {
    let id = job.dataset_id;
    let force = job.state == ErasureState::Deleted;
    let erased = s.store.run(move |st| st.erase_share(id, force)).await?;
    if erased {
        Metrics::inc(&s.metrics.erasures);
        tracing::info!(dataset_id = %id, "share erased after consent withdrawal");
    }
    fail_if(cfg, FailPoint::ErasureDeleted)?;
    let set = |state: ErasureState, tx: Option<B256>, retry: Option<(u32, i64, String)>| {
        s.store.run(move |st| {
            st.set_erasure(
                id,
                state,
                tx,
                retry.as_ref().map(|(a, n, e)| (*a, *n, e.as_str())),
            )
        })
    };
    let result = async {
        if s.chain.share_index_of(id).await? == 0 {
            return Ok(Some((ErasureState::NotListed, None)));
        }
        if s.chain.has_confirmed_erasure(id).await? {
            return Ok(Some((ErasureState::Confirmed, None)));
        }
        match s.chain.confirm_erasure(id).await {
            Ok(h) => {
                Metrics::inc(&s.metrics.erasures_confirmed);
                tracing::info!(dataset_id = %id, tx = %h, "erasure confirmed on-chain");
                Ok(Some((ErasureState::Confirmed, Some(h))))
            }
            Err(ChainFailure::Reverted(Revert::AlreadyConfirmedErasure)) => {
                Ok(Some((ErasureState::Confirmed, None)))
            }
            Err(e) => Err(e),
        }
    }
    .await;
    match result {
        Ok(Some((state, tx))) => set(state, tx, None).await,
        Ok(None) => Ok(()),
        Err(e) => {
            let attempts = job.attempts.saturating_add(1);
            let give_up = !e.is_transient() && attempts >= MAX_ATTEMPTS;
            tracing::warn!(dataset_id = %id, attempts, give_up, error = %e, "erasure confirmation failed");
            let state = if give_up {
                ErasureState::Failed
            } else {
                ErasureState::Deleted
            };
            set(
                state,
                None,
                Some((attempts, retry_at(cfg, attempts), e.to_string())),
            )
            .await
        }
    }
}
