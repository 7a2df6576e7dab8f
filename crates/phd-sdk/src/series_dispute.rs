//! Proving a keeper's series release wrong on-chain (`SeriesMarket.disputeRelease`, FORMATS.md
//! §2.4 in the series context). The subscriber alone can build the proof: it needs the
//! subscriber's key. The follower calls [`dispute_bad_releases`] for each segment it handles;
//! `phd-customer series-dispute` calls [`dispute_release`] by hand.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use phd_chain::{
    BlockRange, ReleaseDispute, TxOutcome, chain_release_log, release_log_entry, split_commitments,
};
use phd_keys::{Commitments, EncryptionSecretKey, KeyError, SeriesDeliveryContext};
use serde::Serialize;

use crate::{ClientCtx, DisputeKind, Result, SdkError, id_u64};

/// One keeper's release of a segment to the subscription, opened with the subscriber's key.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedRelease {
    /// The releasing keeper.
    pub keeper: Address,
    /// Its share index on the series.
    pub share_index: u8,
    /// `None` when the share opened and matched the segment's commitments.
    pub problem: Option<String>,
    /// How a bad release is proven (`None` for a good one, or one that cannot be proven).
    pub dispute: Option<DisputeKind>,
    /// Already proven wrong on-chain.
    pub disputed: bool,
}

/// What a proven dispute did.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesDisputeOutcome {
    /// Subscription.
    pub subscription_id: u64,
    /// Segment.
    pub seq: u64,
    /// The keeper proven wrong and its share index.
    pub keeper: Address,
    pub share_index: u8,
    /// Credited to the subscriber (the keeper's fee or the segment price, plus the slash).
    pub compensation: U256,
    /// The segment's price came back (fewer than t good releases remained).
    pub refunded: bool,
    /// The dispute transaction.
    pub tx: TxOutcome,
}

/// A release as posted: share index, segment and payload, in log order.
struct Posted {
    keeper: Address,
    share_index: u8,
    seq: u64,
    payload: Bytes,
}

/// What the subscription's releases are checked against.
struct Segment {
    series_id: u64,
    packed: Bytes,
    commitments: Commitments,
}

fn account_key(ctx: &ClientCtx, series_id: u64) -> Result<EncryptionSecretKey> {
    EncryptionSecretKey::from_bytes(ctx.chain.signer().to_bytes().as_slice())
        .map_err(|e| SdkError::series(series_id, format!("account key: {e}")))
}

fn release_context(
    ctx: &ClientCtx,
    subscription_id: u64,
    seq: u64,
    index: u8,
) -> SeriesDeliveryContext {
    let d = ctx.chain.deployment();
    SeriesDeliveryContext::new(
        d.chain_id,
        d.series_market.into_array(),
        subscription_id,
        seq,
        index,
    )
}

/// Our subscription's series, and the segment's commitments as appended (packed, checked
/// against the stored hash).
async fn segment_of(ctx: &ClientCtx, subscription_id: u64, seq: u64) -> Result<Segment> {
    let sub = ctx
        .chain
        .subscription(U256::from(subscription_id))
        .await
        .map_err(|e| SdkError::chain("reading the subscription", e))?;
    let series_id = id_u64(sub.seriesId);
    if sub.subscriber != ctx.me() {
        return Err(SdkError::series(
            series_id,
            format!("subscription {subscription_id} is not this account's"),
        ));
    }
    let stored = ctx
        .chain
        .segment_commitments_hash(sub.seriesId, seq)
        .await
        .map_err(|e| SdkError::chain("reading the segment commitments hash", e))?;
    let appended = ctx
        .chain
        .appended_segments(sub.seriesId, BlockRange::default())
        .await
        .map_err(|e| SdkError::chain("reading SegmentAppended events", e))?;
    let Some(ev) = appended.into_iter().map(|l| l.event).find(|e| e.seq == seq) else {
        return Err(SdkError::series(
            series_id,
            format!("segment {seq} is not appended"),
        ));
    };
    if stored == B256::ZERO || keccak256(&ev.commitments) != stored {
        return Err(SdkError::series(
            series_id,
            format!("segment {seq}: event commitments do not match the stored hash"),
        ));
    }
    let points = split_commitments(&ev.commitments)
        .map_err(|e| SdkError::series(series_id, e.to_string()))?;
    let commitments = Commitments::from_bytes(&points)
        .map_err(|e| SdkError::series(series_id, format!("segment {seq} commitments: {e}")))?;
    Ok(Segment {
        series_id,
        packed: ev.commitments,
        commitments,
    })
}

/// Every release to the subscription, in the order the contract logged them.
async fn posted(ctx: &ClientCtx, subscription_id: u64) -> Result<Vec<Posted>> {
    let logs = ctx
        .chain
        .released_shares(U256::from(subscription_id), None, BlockRange::default())
        .await
        .map_err(|e| SdkError::chain("reading ShareReleased events", e))?;
    Ok(logs
        .into_iter()
        .map(|l| Posted {
            keeper: l.event.keeper,
            share_index: l.event.shareIndex,
            seq: l.event.seq,
            payload: l.event.payload,
        })
        .collect())
}

/// Opens a payload: `Ok(())` for a correct share, else why and how it is proven.
fn classify(
    esk: &EncryptionSecretKey,
    payload: &[u8],
    dctx: &SeriesDeliveryContext,
    commitments: &Commitments,
) -> std::result::Result<(), (String, Option<DisputeKind>)> {
    match phd_keys::open_delivery(esk, payload, dctx, commitments) {
        Ok(_) => Ok(()),
        Err(e @ KeyError::MalformedDelivery { .. }) => Err((
            format!("malformed release ({e})"),
            Some(DisputeKind::Malformed),
        )),
        Err(e @ KeyError::ShareVerification { .. }) => Err((
            format!("does not match the segment's commitments ({e})"),
            Some(DisputeKind::WrongShare),
        )),
        Err(e) => Err((format!("cannot open the release ({e})"), None)),
    }
}

/// Opens every release of segment `seq` to our subscription and says which are bad and
/// already proven wrong.
pub async fn check_releases(
    ctx: &ClientCtx,
    subscription_id: u64,
    seq: u64,
) -> Result<Vec<CheckedRelease>> {
    let segment = segment_of(ctx, subscription_id, seq).await?;
    let esk = account_key(ctx, segment.series_id)?;
    let (bad_bits, _) = ctx
        .chain
        .proven_bad_releases(U256::from(subscription_id), seq)
        .await
        .map_err(|e| SdkError::chain("reading proven bad releases", e))?;
    Ok(posted(ctx, subscription_id)
        .await?
        .into_iter()
        .filter(|p| p.seq == seq)
        .map(|p| {
            let dctx = release_context(ctx, subscription_id, seq, p.share_index);
            let (problem, dispute) = match classify(&esk, &p.payload, &dctx, &segment.commitments) {
                Ok(()) => (None, None),
                Err((reason, kind)) => (Some(reason), kind),
            };
            CheckedRelease {
                keeper: p.keeper,
                share_index: p.share_index,
                problem,
                dispute,
                disputed: p.share_index != 0
                    && p.share_index <= 8
                    && (bad_bits >> (p.share_index - 1)) & 1 == 1,
            }
        })
        .collect())
}

/// Proves share index `share_index`'s release of segment `seq` to our subscription wrong.
/// Refuses (before sending) a release that verifies, unless `force` (the contract then
/// reverts `SeriesMarketFalseDispute`: a false dispute costs only its gas).
pub async fn dispute_release(
    ctx: &ClientCtx,
    subscription_id: u64,
    seq: u64,
    share_index: u8,
    force: bool,
) -> Result<SeriesDisputeOutcome> {
    let segment = segment_of(ctx, subscription_id, seq).await?;
    let series_id = segment.series_id;
    let esk = account_key(ctx, series_id)?;
    let mine: Vec<Posted> = posted(ctx, subscription_id)
        .await?
        .into_iter()
        .filter(|p| p.share_index == share_index)
        .collect();
    let Some(at) = mine.iter().position(|p| p.seq == seq) else {
        return Err(SdkError::series(
            series_id,
            format!(
                "share index {share_index} released nothing for segment {seq} to subscription {subscription_id}"
            ),
        ));
    };
    let entries: Vec<B256> = mine
        .iter()
        .map(|p| release_log_entry(p.seq, &p.payload))
        .collect();
    let prefix = entries[..at]
        .iter()
        .fold(B256::ZERO, |h, e| chain_release_log(h, *e));
    let head = entries[at..]
        .iter()
        .fold(prefix, |h, e| chain_release_log(h, *e));
    let onchain = ctx
        .chain
        .release_log(U256::from(subscription_id), share_index)
        .await
        .map_err(|e| SdkError::chain("reading the release log", e))?;
    if head != onchain {
        // Events not all visible yet (or a reorg): the contract would refuse the log.
        return Err(SdkError::series(
            series_id,
            format!(
                "the ShareReleased events of share index {share_index} do not rebuild its on-chain release log yet"
            ),
        ));
    }
    let payload = mine[at].payload.clone();
    let dctx = release_context(ctx, subscription_id, seq, share_index);
    let kind = match classify(&esk, &payload, &dctx, &segment.commitments) {
        Ok(()) if force => DisputeKind::WrongShare,
        Ok(()) => {
            return Err(SdkError::series(
                series_id,
                format!(
                    "share index {share_index}'s release of segment {seq} is correct: a dispute would be false (use force to send it anyway)"
                ),
            ));
        }
        Err((_, Some(kind))) => kind,
        Err((reason, None)) => {
            return Err(SdkError::series(
                series_id,
                format!(
                    "share index {share_index}'s release of segment {seq} cannot be proven wrong: {reason}"
                ),
            ));
        }
    };
    let proof = match kind {
        DisputeKind::Malformed => Vec::new(),
        DisputeKind::WrongShare => phd_keys::prove_dispute(&esk, &payload, &dctx)
            .map_err(|e| {
                SdkError::series(
                    series_id,
                    format!("cannot build the dispute proof for share {share_index}: {e}"),
                )
            })?
            .to_bytes()
            .to_vec(),
    };
    let dispute = ReleaseDispute {
        subscriptionId: U256::from(subscription_id),
        seq,
        shareIndex: share_index,
        payload,
        subscriberPubKey: Bytes::copy_from_slice(&esk.public_key_raw64()),
        logPrefix: prefix,
        laterEntries: entries[at + 1..].to_vec(),
        commitments: segment.packed,
        proof: Bytes::from(proof),
    };
    let out = ctx
        .chain
        .dispute_release(dispute)
        .await
        .map_err(|e| SdkError::chain("disputeRelease", e))?;
    tracing::info!(
        series_id,
        subscription_id,
        seq,
        share_index,
        keeper = %out.keeper,
        compensation = %out.compensation,
        refunded = out.refunded,
        "a keeper's wrong release was proven on-chain"
    );
    Ok(SeriesDisputeOutcome {
        subscription_id,
        seq,
        keeper: out.keeper,
        share_index: out.share_index,
        compensation: out.compensation,
        refunded: out.refunded,
        tx: out.tx,
    })
}

/// Disputes every provably bad release of segment `seq` to our subscription not proven yet.
/// Call it once the segment has at least `threshold` releases (the contract refuses earlier
/// while the release window is open). A failing dispute is logged and skipped: the others are
/// still tried, and the follower goes on with the good shares.
pub async fn dispute_bad_releases(
    ctx: &ClientCtx,
    subscription_id: u64,
    seq: u64,
) -> Result<Vec<SeriesDisputeOutcome>> {
    let mut out = Vec::new();
    for r in check_releases(ctx, subscription_id, seq).await? {
        if r.disputed || r.dispute.is_none() {
            continue;
        }
        match dispute_release(ctx, subscription_id, seq, r.share_index, false).await {
            Ok(o) => out.push(o),
            Err(e) => {
                tracing::warn!(subscription_id, seq, share_index = r.share_index, keeper = %r.keeper, error = %e, "disputing a wrong release failed");
            }
        }
    }
    Ok(out)
}
