//! The series watcher: follows the `SeriesMarket` from its own reorg-safe cursor, releases
//! each appended segment's share to every subscription it covers in ONE `releaseShares`
//! transaction per series and round, and erases a series' shares on consent withdrawal.
//!
//! What to release is read from the chain each round (the subscription's covered range and
//! this keeper's release cursor, the segment's commitments hash), never from local
//! bookkeeping, so a crash or a reorg at any point neither loses a release nor pays one twice:
//! the contract skips an item that is not this keeper's next segment for the subscription.

use std::{collections::BTreeMap, sync::Arc};

use alloy::primitives::{B256, Bytes, U256};
use phd_node::{BlockRef, CursorScanner, ScanConfig};

use super::{MAX_RANGE, WatcherConfig};
use crate::{
    KeeperError, Shared,
    api::segment_at_rest_id,
    chain::{
        ChainFailure, Revert,
        series::{ReleaseItem, SeriesChain, SeriesStatus},
    },
    keys::{corrupt_share, deliver_to_subscriber},
    metrics::Metrics,
    store::{ERASURE_CONFIRMED, ERASURE_DELETED, ERASURE_NOT_LISTED},
};

/// Items per `releaseShares` (a back-fill of many segments spreads over several rounds).
const MAX_ITEMS: usize = 128;

/// One series round: scan, erase withdrawn series, release.
pub(crate) async fn tick(
    s: &Arc<Shared>,
    chain: &Arc<dyn SeriesChain>,
    cfg: &WatcherConfig,
) -> Result<(), KeeperError> {
    let scan = ScanConfig {
        start_block: cfg.start_block,
        confirmations: cfg.confirmations,
        max_range: MAX_RANGE,
    };
    phd_node::scan_to_head(&Scanner { s, chain }, &scan).await?;
    for (series_id, state) in s.store.run(|st| st.due_series_erasures()).await? {
        erase(s, chain, series_id, &state).await?;
    }
    release(s, chain).await
}

struct Scanner<'a> {
    s: &'a Arc<Shared>,
    chain: &'a Arc<dyn SeriesChain>,
}

#[async_trait::async_trait]
impl CursorScanner for Scanner<'_> {
    type Error = KeeperError;

    async fn head(&self) -> Result<u64, KeeperError> {
        self.s
            .chain
            .block_number()
            .await
            .map_err(KeeperError::chain("eth_blockNumber"))
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, KeeperError> {
        self.s
            .chain
            .block_hash(number)
            .await
            .map_err(KeeperError::chain("eth_getBlockByNumber"))
    }

    async fn next_block(&self) -> Result<Option<u64>, KeeperError> {
        self.s.store.run(|st| st.series_cursor()).await
    }

    async fn remembered(&self) -> Result<Vec<BlockRef>, KeeperError> {
        self.s.store.run(|st| st.series_scanned_blocks()).await
    }

    async fn rewind(&self, next_block: u64, window: &[BlockRef]) -> Result<(), KeeperError> {
        let window = window.to_vec();
        self.s
            .store
            .run(move |st| st.rewind_series(next_block, &window))
            .await?;
        self.s.chain.forget_nonce().await;
        Ok(())
    }

    async fn scan(&self, from: u64, to: u64, window: &[BlockRef]) -> Result<(), KeeperError> {
        let events = self
            .chain
            .series_events(from, to)
            .await
            .map_err(KeeperError::chain("eth_getLogs(series)"))?;
        let n = events.len();
        let window = window.to_vec();
        self.s
            .store
            .run(move |st| st.record_series_events(&events, to + 1, &window))
            .await?;
        if n > 0 {
            tracing::info!(from, to, events = n, "scanned series events");
        }
        Ok(())
    }
}

/// Deletes every share of a withdrawn series (scrubbing the file), then `confirmErasure`.
async fn erase(
    s: &Arc<Shared>,
    chain: &Arc<dyn SeriesChain>,
    series_id: U256,
    state: &str,
) -> Result<(), KeeperError> {
    if state != ERASURE_DELETED {
        let n = s.store.run(move |st| st.erase_series(series_id)).await?;
        Metrics::inc(&s.metrics.erasures);
        tracing::info!(series_id = %series_id, shares = n, "series shares erased after consent withdrawal");
    }
    let outcome = async {
        if chain.series_share_index(series_id).await? == 0 {
            return Ok((ERASURE_NOT_LISTED, None));
        }
        if chain.has_confirmed_series_erasure(series_id).await? {
            return Ok((ERASURE_CONFIRMED, None));
        }
        match chain.confirm_series_erasure(series_id).await {
            Ok(h) => Ok((ERASURE_CONFIRMED, Some(h))),
            Err(ChainFailure::Reverted(Revert::AlreadyConfirmedErasure)) => {
                Ok((ERASURE_CONFIRMED, None))
            }
            Err(e) => Err(e),
        }
    }
    .await;
    match outcome {
        Ok((state, tx)) => {
            if let Some(h) = tx {
                Metrics::inc(&s.metrics.erasures_confirmed);
                tracing::info!(series_id = %series_id, tx = %h, "series erasure confirmed on-chain");
            }
            s.store
                .run(move |st| st.set_series_erasure(series_id, state, tx))
                .await
        }
        // Stays `deleted`: the next round confirms again.
        Err(e) => Err(KeeperError::chain("confirmErasure(series)")(e)),
    }
}

/// Per series: every covered, appended, held segment past this keeper's cursor of every open
/// subscription, in one batch.
async fn release(s: &Arc<Shared>, chain: &Arc<dyn SeriesChain>) -> Result<(), KeeperError> {
    let subs = s.store.run(|st| st.open_subscriptions()).await?;
    let mut by_series: BTreeMap<U256, Vec<_>> = BTreeMap::new();
    for sub in subs {
        by_series.entry(sub.series_id).or_default().push(sub);
    }
    for (series_id, subs) in by_series {
        if s.store
            .run(move |st| st.series_withdrawn(series_id))
            .await?
        {
            continue;
        }
        if let Err(e) = release_series(s, chain, series_id, subs).await {
            if matches!(e, KeeperError::FailPointHit(_)) {
                return Err(e);
            }
            tracing::warn!(series_id = %series_id, error = %e, "series release round failed");
        }
    }
    Ok(())
}

async fn release_series(
    s: &Arc<Shared>,
    chain: &Arc<dyn SeriesChain>,
    series_id: U256,
    subs: Vec<crate::store::OpenSubscription>,
) -> Result<(), KeeperError> {
    let err = |op: &'static str| KeeperError::chain(op);
    let view = chain.series(series_id).await.map_err(err("series"))?;
    if view.status != SeriesStatus::Active {
        return Ok(());
    }
    let my_index = chain
        .series_share_index(series_id)
        .await
        .map_err(err("shareIndexOf(series)"))?;
    let chain_id = s.chain.chain_id();
    let market = chain.series_market().into_array();
    // Commitments hash on-chain per seq, read once per round.
    let mut appended: BTreeMap<u64, B256> = BTreeMap::new();
    let mut items = Vec::new();
    for sub in subs {
        let sid = sub.subscription_id;
        if my_index == 0 {
            s.store.run(move |st| st.finish_subscription(sid)).await?;
            continue;
        }
        let v = chain.subscription(sid).await.map_err(err("subscription"))?;
        let end = v.from_seq.saturating_add(v.segments);
        if v.series_id != series_id {
            s.store.run(move |st| st.finish_subscription(sid)).await?;
            continue;
        }
        let cursor = chain
            .release_cursor(sid)
            .await
            .map_err(err("releaseCursor"))?;
        if cursor >= end {
            s.store.run(move |st| st.finish_subscription(sid)).await?;
            continue;
        }
        if sub.pubkey.len() != 64 {
            tracing::warn!(subscription_id = %sid, "subscription key is not 64 bytes; skipped");
            s.store.run(move |st| st.finish_subscription(sid)).await?;
            continue;
        }
        let Ok(sub_u64) = u64::try_from(sid) else {
            continue;
        };
        for seq in cursor..end.min(view.segment_count) {
            if items.len() >= MAX_ITEMS {
                break;
            }
            let onchain = match appended.get(&seq) {
                Some(h) => *h,
                None => {
                    let h = chain
                        .segment_commitments_hash(series_id, seq)
                        .await
                        .map_err(err("segmentCommitmentsHash"))?;
                    appended.insert(seq, h);
                    h
                }
            };
            let Some(row) = s
                .store
                .run(move |st| st.get_segment_share(series_id, seq))
                .await?
            else {
                // Releases are in order: without this segment's share nothing later goes out.
                tracing::debug!(series_id = %series_id, seq, "no share held for segment");
                break;
            };
            if row.commitments_hash != onchain || row.share_index != my_index {
                tracing::warn!(series_id = %series_id, seq, "held share is not the appended segment's; not released");
                break;
            }
            let Some(share) = s.at_rest.open(
                segment_at_rest_id(series_id, seq),
                row.share_index,
                &row.sealed,
            ) else {
                return Err(KeeperError::AtRestCorrupt {
                    dataset_id: segment_at_rest_id(series_id, seq),
                });
            };
            // Test knob (`PHD_KEEPER_FAULT=wrong_share`): a cheating keeper the subscriber's
            // follower must prove wrong on-chain.
            let share = match s.misbehave {
                Some(crate::Misbehaviour::WrongShare) => corrupt_share(&share),
                None => share,
            };
            let ctx =
                phd_keys::SeriesDeliveryContext::new(chain_id, market, sub_u64, seq, my_index);
            match deliver_to_subscriber(&share, &sub.pubkey, &ctx) {
                Ok(p) => items.push(ReleaseItem {
                    subscription_id: sub_u64,
                    seq,
                    payload: Bytes::from(p),
                }),
                Err(reason) => {
                    tracing::warn!(subscription_id = %sid, %reason, "cannot mask the share for the subscriber; skipped");
                    break;
                }
            }
        }
    }
    if items.is_empty() {
        return Ok(());
    }
    let n = items.len();
    let h = chain
        .send_release(series_id, items)
        .await
        .map_err(err("releaseShares"))?;
    match s.chain.wait_receipt(h).await {
        Ok(Some(true)) => {
            for _ in 0..n {
                Metrics::inc(&s.metrics.deliveries_sent);
            }
            tracing::info!(series_id = %series_id, items = n, tx = %h, "segment shares released");
            Ok(())
        }
        Ok(Some(false)) => Err(err("releaseShares")(ChainFailure::TxFailed(h))),
        Ok(None) => Err(err("releaseShares")(ChainFailure::Rpc(format!(
            "transaction {h} dropped"
        )))),
        Err(e) => Err(err("releaseShares")(e)),
    }
}
