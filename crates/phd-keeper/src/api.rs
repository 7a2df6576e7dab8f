//! The keeper's HTTP API (docs/PROTOCOL.md): `PUT /v1/shares/{dataset_id}`, `GET /health`,
//! `GET /metrics`.

use std::{collections::HashMap, sync::Arc};

use alloy::primitives::{B256, Signature, U256};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Path, State, rejection::JsonRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use phd_protocol::{
    DatasetId, Health, SEGMENT_SHARES_PATH, SHARES_PATH, ShareUpload, UploadReply, keeper_share_aad,
};
use subtle::ConstantTimeEq;

use crate::{
    Shared,
    chain::{ChainFailure, DatasetStatus, Revert},
    keys::{ShareRejection, check_share},
    metrics::Metrics,
};

mod series;

/// An upload must be signed (EIP-191 personal_sign) by the on-chain owner of the `what`
/// (dataset or series) it is for: 401 for a malformed signature, 403 for anyone else's.
fn check_owner_signature(
    signature: &[u8],
    message: &[u8],
    owner: alloy::primitives::Address,
    what: &str,
) -> Result<(), ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    if signature.len() != 65 {
        return Err(unauthorized("signature must be 65 bytes"));
    }
    let sig = Signature::from_raw(signature).map_err(|_| unauthorized("malformed signature"))?;
    let signer = sig
        .recover_address_from_msg(message)
        .map_err(|_| unauthorized("signature does not recover"))?;
    if signer != owner {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("signer {signer} is not the {what} owner"),
        ));
    }
    Ok(())
}

/// The share in an upload must be the one the chain lists this keeper for (index 0 = not listed).
fn check_share_index(my_index: u8, requested: u8, what: &str) -> Result<(), ApiError> {
    if my_index == 0 {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this keeper is not listed for the {what}"),
        ));
    }
    if my_index != requested {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("share_index {requested} is not this keeper's index {my_index}"),
        ));
    }
    Ok(())
}
pub(crate) use series::segment_at_rest_id;

const MAX_BODY: usize = 16 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(SHARES_PATH, put(put_share))
        .route(SEGMENT_SHARES_PATH, put(series::put_segment_share))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// An error reply: status plus `{"error": ...}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn internal(e: &crate::KeeperError) -> Self {
        tracing::error!(error = %e, "share upload failed internally");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
    fn chain(op: &str, e: &ChainFailure) -> Self {
        tracing::warn!(op, error = %e, "chain call failed during share upload");
        if e.is_transient() {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("chain unavailable ({op})"),
            )
        } else {
            Self::new(
                StatusCode::BAD_GATEWAY,
                format!("chain call {op} failed: {e}"),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

async fn put_share(
    State(s): State<Arc<Shared>>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Result<Json<ShareUpload>, JsonRejection>,
) -> Response {
    let result = async {
        let Path(path_id) =
            path.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let Json(req) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        handle_put(&s, &path_id, req).await
    }
    .await;
    match result {
        Ok(reply) => (StatusCode::OK, Json(reply)).into_response(),
        Err(e) => {
            if e.status.is_client_error() {
                Metrics::inc(&s.metrics.shares_rejected);
            }
            tracing::info!(status = e.status.as_u16(), reason = %e.message, "share upload refused");
            e.into_response()
        }
    }
}

async fn handle_put(
    s: &Arc<Shared>,
    path_id: &str,
    req: ShareUpload,
) -> Result<UploadReply, ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, m);
    let dataset_id = path_id
        .parse::<DatasetId>()
        .map_err(|_| bad("dataset id in path is not a number"))?
        .get();
    if req.dataset_id.get() != dataset_id {
        return Err(bad("dataset_id in body does not match the path"));
    }
    let chain = &s.chain;
    if req.chain_id != chain.chain_id() {
        return Err(bad(&format!(
            "chain_id {} is not this keeper's chain {}",
            req.chain_id,
            chain.chain_id()
        )));
    }
    if req.registry != chain.data_registry() {
        return Err(bad("registry is not this keeper's DataRegistry"));
    }
    if req.share_index == 0 {
        return Err(bad("share_index must be 1..=255"));
    }
    if req.ciphertext.is_empty() || req.ciphertext.len() > 1024 {
        return Err(bad("ciphertext length out of range"));
    }
    let ds = chain
        .dataset(dataset_id)
        .await
        .map_err(|e| ApiError::chain("dataset", &e))?;
    match ds.status {
        DatasetStatus::None | DatasetStatus::Unknown(_) => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown dataset"));
        }
        DatasetStatus::Withdrawn => {
            return Err(ApiError::new(StatusCode::GONE, "dataset withdrawn"));
        }
        DatasetStatus::Delisted => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "dataset delisted for owner fraud",
            ));
        }
        DatasetStatus::Pending | DatasetStatus::Active => {}
    }

    // chain id and registry were checked equal to ours above
    check_owner_signature(
        &req.signature,
        req.signing_message().as_slice(),
        ds.owner,
        "dataset",
    )?;
    let my_index = chain
        .share_index_of(dataset_id)
        .await
        .map_err(|e| ApiError::chain("shareIndexOf", &e))?;
    check_share_index(my_index, req.share_index, "dataset")?;

    let unprocessable = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let aad = keeper_share_aad(
        chain.chain_id(),
        chain.data_registry(),
        dataset_id,
        my_index,
    );
    let share = s
        .key
        .decrypt(&req.ciphertext, &aad)
        .map_err(|_| unprocessable("ciphertext does not decrypt under this keeper's key".into()))?;
    let commitments = chain
        .commitments_of(dataset_id)
        .await
        .map_err(|e| ApiError::chain("commitmentsOf", &e))?;
    check_share(&share, my_index, &commitments).map_err(|r| match r {
        ShareRejection::Malformed(m) => unprocessable(format!("share malformed: {m}")),
        ShareRejection::WrongIndex { expected, got } => {
            unprocessable(format!("share carries index {got}, expected {expected}"))
        }
        ShareRejection::BadCommitments(m) => {
            unprocessable(format!("on-chain commitments unusable: {m}"))
        }
        ShareRejection::DoesNotVerify => {
            unprocessable("share does not verify against the on-chain commitments".into())
        }
    })?;

    // One upload per dataset at a time from here: compare-or-store, then acknowledge.
    let lock = s.dataset_lock(dataset_id);
    let _guard = lock.lock().await;

    let store = Arc::clone(&s.store);
    let existing = store
        .run(move |st| st.get_share(dataset_id))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match existing {
        Some(row) => {
            let stored = s
                .at_rest
                .open(dataset_id, row.share_index, &row.sealed)
                .ok_or_else(|| {
                    ApiError::internal(&crate::KeeperError::AtRestCorrupt { dataset_id })
                })?;
            if row.share_index != my_index || !bool::from(stored.as_slice().ct_eq(share.as_slice()))
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "a different share for this dataset is already stored",
                ));
            }
            tracing::info!(dataset_id = %dataset_id, "share re-uploaded (idempotent)");
            if row.acked {
                return Ok(UploadReply {
                    acknowledged: true,
                    tx_hash: row.ack_tx,
                });
            }
        }
        None => {
            let sealed = s.at_rest.seal(dataset_id, my_index, &share).map_err(|r| {
                ApiError::internal(&crate::KeeperError::Crypto {
                    op: "seal at rest",
                    reason: r,
                })
            })?;
            store
                .run(move |st| st.insert_share(dataset_id, my_index, &sealed))
                .await
                .map_err(|e| ApiError::internal(&e))?;
            Metrics::inc(&s.metrics.shares_stored);
            tracing::info!(dataset_id = %dataset_id, share_index = my_index, "share verified and stored");
        }
    }
    let tx = acknowledge(s, dataset_id)
        .await
        .map_err(|e| ApiError::chain("acknowledgeShare", &e))?;
    Ok(UploadReply {
        acknowledged: true,
        tx_hash: tx,
    })
}

/// Acknowledges a stored share on-chain unless already acknowledged; records it locally.
pub(crate) async fn acknowledge(
    s: &Arc<Shared>,
    dataset_id: U256,
) -> Result<Option<B256>, ChainFailure> {
    let tx = if s.chain.has_acknowledged(dataset_id).await? {
        let store = Arc::clone(&s.store);
        store
            .run(move |st| st.get_share(dataset_id))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.ack_tx)
    } else {
        match s.chain.acknowledge_share(dataset_id).await {
            Ok(h) => {
                Metrics::inc(&s.metrics.acks);
                tracing::info!(dataset_id = %dataset_id, tx = %h, "share acknowledged on-chain");
                Some(h)
            }
            Err(ChainFailure::Reverted(Revert::AlreadyAcknowledged)) => None,
            Err(e) => return Err(e),
        }
    };
    let store = Arc::clone(&s.store);
    if let Err(e) = store.run(move |st| st.set_acked(dataset_id, tx)).await {
        tracing::error!(dataset_id = %dataset_id, error = %e, "could not record acknowledgement");
    }
    Ok(tx)
}

async fn health(State(s): State<Arc<Shared>>) -> Response {
    let store = Arc::clone(&s.store);
    let (shares, cursor) = match store
        .run(|st| Ok((st.share_count()? + st.segment_share_count()?, st.cursor()?)))
        .await
    {
        Ok(v) => v,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    // The bond is read live; a chain hiccup leaves it out rather than failing the probe.
    let stake = match s.chain.stake().await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::debug!(error = %e, "reading the stake for /health failed");
            None
        }
    };
    Json(HealthReply {
        health: Health {
            address: s.chain.address(),
            chain_id: Some(s.chain.chain_id()),
            cursor_block: cursor,
            encryption_key: Some(s.key.public_compressed().to_vec().into()),
            shares: Some(shares),
        },
        stake,
    })
    .into_response()
}

/// `GET /health`: phd-protocol's [`Health`] plus the keeper's bonded stake (PHD wei, decimal
/// string; absent when the chain could not be read). Readers of [`Health`] ignore the extra field.
#[derive(Debug, serde::Serialize)]
struct HealthReply {
    #[serde(flatten)]
    health: Health,
    #[serde(skip_serializing_if = "Option::is_none", with = "stake_string")]
    stake: Option<U256>,
}

mod stake_string {
    use alloy::primitives::U256;

    pub(super) fn serialize<S: serde::Serializer>(
        v: &Option<U256>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let store = Arc::clone(&s.store);
    let held = store.run(|st| st.share_count()).await.unwrap_or(0);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(held),
    )
        .into_response()
}

/// Per-dataset upload locks.
#[derive(Debug, Default)]
pub(crate) struct DatasetLocks(std::sync::Mutex<HashMap<U256, Arc<tokio::sync::Mutex<()>>>>);

impl DatasetLocks {
    pub(crate) fn get(&self, id: U256) -> Arc<tokio::sync::Mutex<()>> {
        match self.0.lock() {
            Ok(mut m) => {
                if m.len() > 10_000 {
                    m.retain(|_, v| Arc::strong_count(v) > 1);
                }
                Arc::clone(m.entry(id).or_default())
            }
            // A poisoned map only loses lock sharing; hand out a fresh lock.
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}
