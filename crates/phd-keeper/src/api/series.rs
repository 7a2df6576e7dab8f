//! `PUT /v1/series/{series_id}/segments/{seq}/share`: a series owner's share of one segment.
//!
//! The upload precedes `appendSegment`, so the keeper verifies the share against the
//! commitments carried (and signed) in the body and keeps their hash; the watcher releases
//! the share only once the on-chain `segmentCommitmentsHash` equals it. Before the append the
//! owner may replace the share (a streamer restarted after a crash re-seals the segment under a
//! new secret); after it, only the appended commitments are accepted.

use std::sync::Arc;

use alloy::primitives::{U256, keccak256};
use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use phd_protocol::{SegmentShareUpload, UploadReply, segment_keeper_share_aad};
use subtle::ConstantTimeEq;

use super::{ApiError, check_owner_signature, check_share_index};
use crate::{
    Shared,
    chain::series::SeriesStatus,
    keys::{ShareRejection, check_share},
    metrics::Metrics,
};

/// How far past the appended segments an upload may run ahead (bounds what an owner can make a
/// keeper store before anything is appended).
pub(crate) const MAX_SEGMENTS_AHEAD: u64 = 4;

pub(super) async fn put_segment_share(
    State(s): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    body: Result<Json<SegmentShareUpload>, JsonRejection>,
) -> Response {
    let result = async {
        let Path((series, seq)) =
            path.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let Json(req) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        handle(&s, &series, &seq, req).await
    }
    .await;
    match result {
        Ok(reply) => (StatusCode::OK, Json(reply)).into_response(),
        Err(e) => {
            if e.status.is_client_error() {
                Metrics::inc(&s.metrics.shares_rejected);
            }
            tracing::info!(status = e.status.as_u16(), reason = %e.message, "segment share upload refused");
            e.into_response()
        }
    }
}

async fn handle(
    s: &Arc<Shared>,
    series_path: &str,
    seq_path: &str,
    req: SegmentShareUpload,
) -> Result<UploadReply, ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, m);
    let Some(series_chain) = s.series.as_ref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this keeper serves no SeriesMarket",
        ));
    };
    let series_u64 = series_path
        .parse::<u64>()
        .map_err(|_| bad("series id in path is not a number"))?;
    let seq = seq_path
        .parse::<u64>()
        .map_err(|_| bad("seq in path is not a number"))?;
    if req.series_id != series_u64 || req.seq != seq {
        return Err(bad("series_id/seq in body do not match the path"));
    }
    let series_id = U256::from(series_u64);
    if req.chain_id != s.chain.chain_id() {
        return Err(bad(&format!(
            "chain_id {} is not this keeper's chain {}",
            req.chain_id,
            s.chain.chain_id()
        )));
    }
    if req.series_market != series_chain.series_market() {
        return Err(bad("series_market is not this keeper's SeriesMarket"));
    }
    if req.share_index == 0 {
        return Err(bad("share_index must be 1..=255"));
    }
    if req.ciphertext.is_empty() || req.ciphertext.len() > 1024 {
        return Err(bad("ciphertext length out of range"));
    }
    if req.commitments.is_empty()
        || !req.commitments.len().is_multiple_of(33)
        || req.commitments.len() > 33 * 8
    {
        return Err(bad(
            "commitments must be 1..=8 compressed points (33 bytes each)",
        ));
    }
    let view = series_chain
        .series(series_id)
        .await
        .map_err(|e| ApiError::chain("series", &e))?;
    match view.status {
        SeriesStatus::None => return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown series")),
        SeriesStatus::Withdrawn => return Err(ApiError::new(StatusCode::GONE, "series withdrawn")),
        SeriesStatus::Active => {}
    }
    if req.commitments.len() != 33 * usize::from(view.threshold) {
        return Err(bad(&format!(
            "{} commitments for a threshold-{} series",
            req.commitments.len() / 33,
            view.threshold
        )));
    }
    if seq > view.segment_count.saturating_add(MAX_SEGMENTS_AHEAD) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "segment {seq} is too far ahead of the {} appended",
                view.segment_count
            ),
        ));
    }

    check_owner_signature(
        &req.signature,
        req.signing_message().as_slice(),
        view.owner,
        "series",
    )?;
    let my_index = series_chain
        .series_share_index(series_id)
        .await
        .map_err(|e| ApiError::chain("shareIndexOf", &e))?;
    check_share_index(my_index, req.share_index, "series")?;

    let unprocessable = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let aad = segment_keeper_share_aad(
        s.chain.chain_id(),
        series_chain.series_market(),
        series_id,
        seq,
        my_index,
    );
    let share = s
        .key
        .decrypt(&req.ciphertext, &aad)
        .map_err(|_| unprocessable("ciphertext does not decrypt under this keeper's key".into()))?;
    let points: Vec<alloy::primitives::Bytes> = req
        .commitments
        .chunks_exact(33)
        .map(alloy::primitives::Bytes::copy_from_slice)
        .collect();
    check_share(&share, my_index, &points).map_err(|r| match r {
        ShareRejection::Malformed(m) => unprocessable(format!("share malformed: {m}")),
        ShareRejection::WrongIndex { expected, got } => {
            unprocessable(format!("share carries index {got}, expected {expected}"))
        }
        ShareRejection::BadCommitments(m) => unprocessable(format!("commitments unusable: {m}")),
        ShareRejection::DoesNotVerify => {
            unprocessable("share does not verify against the commitments".into())
        }
    })?;
    let hash = keccak256(&req.commitments);

    // An appended segment's commitments are final: only its own share is accepted again.
    if seq < view.segment_count {
        let onchain = series_chain
            .segment_commitments_hash(series_id, seq)
            .await
            .map_err(|e| ApiError::chain("segmentCommitmentsHash", &e))?;
        if onchain != hash {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "segment already appended with other commitments",
            ));
        }
    }

    let lock = s.dataset_lock(segment_lock_id(series_id, seq));
    let _guard = lock.lock().await;
    let store = Arc::clone(&s.store);
    let existing = store
        .run(move |st| st.get_segment_share(series_id, seq))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let at_rest_id = segment_at_rest_id(series_id, seq);
    if let Some(row) = existing
        && row.commitments_hash == hash
    {
        let stored = s
            .at_rest
            .open(at_rest_id, row.share_index, &row.sealed)
            .ok_or_else(|| {
                ApiError::internal(&crate::KeeperError::AtRestCorrupt {
                    dataset_id: at_rest_id,
                })
            })?;
        if bool::from(stored.as_slice().ct_eq(share.as_slice())) {
            tracing::info!(series_id = %series_id, seq, "segment share re-uploaded (idempotent)");
            return Ok(UploadReply {
                acknowledged: true,
                tx_hash: None,
            });
        }
    }
    let sealed = s.at_rest.seal(at_rest_id, my_index, &share).map_err(|r| {
        ApiError::internal(&crate::KeeperError::Crypto {
            op: "seal at rest",
            reason: r,
        })
    })?;
    store
        .run(move |st| st.put_segment_share(series_id, seq, my_index, hash, &sealed))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Metrics::inc(&s.metrics.shares_stored);
    tracing::info!(series_id = %series_id, seq, share_index = my_index, "segment share verified and stored");
    Ok(UploadReply {
        acknowledged: true,
        tx_hash: None,
    })
}

/// The at-rest binding of a segment's share: an id no dataset id takes (the high bit set,
/// series and seq below), so a stored row cannot be swapped with a dataset's or another
/// segment's.
pub(crate) fn segment_at_rest_id(series_id: U256, seq: u64) -> U256 {
    let mut b = [0u8; 32];
    b[0] = 0x80;
    b[8..16].copy_from_slice(&series_id.saturating_to::<u64>().to_be_bytes());
    b[24..32].copy_from_slice(&seq.to_be_bytes());
    U256::from_be_bytes(b)
}

fn segment_lock_id(series_id: U256, seq: u64) -> U256 {
    segment_at_rest_id(series_id, seq)
}
