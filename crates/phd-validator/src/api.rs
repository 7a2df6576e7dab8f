//! The validator's HTTP API: `GET /health`, `GET /reports/{dataset_id}`, `GET /jobs`, and for
//! granted series `GET /series` (followed subscriptions) and `GET /series-reports/{name}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::Shared;

/// `GET /health` (the type is shared with the owner side through phd-protocol).
pub use phd_protocol::ValidatorHealth as Health;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/reports/{dataset_id}", get(report))
        .route("/jobs", get(jobs))
        .route("/series", get(series_follows))
        .route("/series-reports/{name}", get(series_report))
        .with_state(shared)
}

fn json_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": msg.into() })),
    )
        .into_response()
}

async fn health(State(s): State<Arc<Shared>>) -> Response {
    let mut h = s.health.clone();
    // The watcher keeps the next block to scan; the reply has always said the last one scanned.
    let next = s.next_block.load(Ordering::Relaxed);
    h.cursor_block = (next != u64::MAX).then(|| next.saturating_sub(1));
    // The bond is read live; a chain hiccup leaves it out rather than failing the probe.
    let stake = match s.client.stake_of(s.client.address()).await {
        Ok(st) => Some(st.amount.to_string()),
        Err(e) => {
            tracing::debug!(error = %e, "reading the stake for /health failed");
            None
        }
    };
    axum::Json(HealthReply { health: h, stake }).into_response()
}

/// `GET /health`: phd-protocol's [`Health`] plus the validator's bonded stake (PHD wei, decimal
/// string; absent when the chain could not be read). Readers of [`Health`] ignore the extra field.
#[derive(Debug, serde::Serialize)]
struct HealthReply {
    #[serde(flatten)]
    health: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    stake: Option<String>,
}

async fn report(State(s): State<Arc<Shared>>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.trim_end_matches(".json").parse::<u64>() else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "dataset id must be a decimal integer",
        );
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

async fn series_follows(State(s): State<Arc<Shared>>) -> Response {
    match crate::series::load_state(s.data.root()) {
        Ok(st) => axum::Json(st.follows).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading series.json");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the series state",
            )
        }
    }
}

async fn series_report(State(s): State<Arc<Shared>>, UrlPath(name): UrlPath<String>) -> Response {
    match crate::series::report_bytes(s.data.root(), &name) {
        Ok(Some(bytes)) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, format!("no series report {name}")),
        Err(e) => {
            tracing::error!(error = %e, "reading a series report");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the report")
        }
    }
}
