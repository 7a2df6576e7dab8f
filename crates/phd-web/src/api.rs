//! The JSON API: the same reads and the same purchase as the pages, for scripts. Errors are
//! `{"error": kind, "message": text}` with a 4xx for bad requests, never a 500.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::csrf::Session;
use crate::error::WebError;
use crate::pages::{
    CatalogQuery, PAGE_SIZE, find_listing, parse_address, parse_buy, parse_grant, parse_id,
    parse_price,
};
use crate::state::AppState;

/// An error as JSON.
#[derive(Debug)]
pub struct ApiError(pub WebError);

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        (
            status,
            Json(json!({"error": self.0.kind(), "message": self.0.to_string()})),
        )
            .into_response()
    }
}

pub(crate) type ApiResult = Result<Json<Value>, ApiError>;

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `GET /api/listings?…`: the catalog's filters and order; one page of 50.
pub async fn listings(
    State(state): State<AppState>,
    q: Result<Query<CatalogQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| WebError::bad("query", e.body_text()))?;
    let f = q.filters()?;
    let snap = state.listings().await?;
    let all = &snap.listings;
    let hits = f.apply(all);
    let page: Vec<Value> = hits
        .iter()
        .skip((f.page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|l| to_json(*l))
        .collect();
    Ok(Json(
        json!({"total": hits.len(), "page": f.page, "listings": page}),
    ))
}

/// `GET /api/datasets/{id}`.
pub async fn dataset(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    Ok(Json(to_json(&find_listing(&state, id).await?)))
}

/// `GET /api/purchases`: the buyer's purchases and grants.
pub async fn purchases(State(state): State<AppState>) -> ApiResult {
    Ok(Json(to_json(
        &phd_sdk::buyer::buy::purchases(state.buyer()?).await?,
    )))
}

/// Body of `POST /api/buy`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyRequest {
    pub dataset_id: u64,
    pub purpose: String,
    /// PHD, decimal (`"12.5"`); default: the current price.
    pub max_price: Option<String>,
}

/// `POST /api/buy` (header `x-csrf-token`): starts a purchase; 202 with the job's addresses.
pub async fn buy(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    body: Result<Json<BuyRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    session.verify(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let Json(req) = body.map_err(|e| WebError::bad("body", e.body_text()))?;
    let (purpose, max) = parse_buy(Some(&req.purpose), req.max_price.as_deref())?;
    if req.dataset_id == 0 {
        return Err(WebError::bad("dataset_id", "dataset ids start at 1").into());
    }
    // Unknown datasets are a 404 here, before any job exists.
    find_listing(&state, req.dataset_id).await?;
    let job = crate::jobs::start(&state, &session, req.dataset_id, purpose, max)?;
    let id = &job.id;
    Ok((StatusCode::ACCEPTED, Json(json!({"job": id, "page": format!("/jobs/{id}"), "events": format!("/jobs/{id}/events"), "file": format!("/jobs/{id}/file")})))
        .into_response())
}

/// `GET /api/jobs/{job}`: a purchase's steps so far.
pub async fn job(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> ApiResult {
    Ok(Json(to_json(
        &crate::jobs::get(&state, &session, &id)?.state(),
    )))
}

/// `GET /api/owner`: my listings, sales and credits.
pub async fn owner(State(state): State<AppState>) -> ApiResult {
    let ctx = state.owner()?;
    let datasets = phd_sdk::owner::list(ctx).await?;
    let sales = phd_sdk::owner::sales(ctx, None).await?;
    let credits = ctx.chain.credits_of(ctx.me()).await.map_err(|e| {
        WebError::Sdk(phd_sdk::SdkError::Chain {
            context: "reading credits".into(),
            source: e.into(),
        })
    })?;
    Ok(Json(
        json!({"owner": ctx.me(), "datasets": datasets, "sales": sales, "credits_wei": credits.to_string(), "credits_phd": phd_chain::format_phd(credits)}),
    ))
}

/// `GET /api/owner/datasets/{id}`: status with erasure confirmations.
pub async fn owner_dataset(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    Ok(Json(to_json(
        &phd_sdk::owner::status(state.owner()?, id).await?,
    )))
}

/// `GET /api/keepers/{address}`.
pub async fn keeper(State(state): State<AppState>, Path(addr): Path<String>) -> ApiResult {
    let a = parse_address(&addr)?;
    Ok(Json(to_json(
        &phd_sdk::keeper::report(state.reader()?, a).await?,
    )))
}

/// `GET /api/datasets/{id}/prices`: the price history (listed, then each change), oldest first.
pub async fn prices(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let h = phd_sdk::owner::price_history(state.reader()?, id).await?;
    if h.is_empty() {
        return Err(WebError::NotFound {
            what: format!("dataset {id}"),
        }
        .into());
    }
    Ok(Json(to_json(&h)))
}

/// Body of `POST /api/owner/datasets/{id}/price`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRequest {
    /// PHD, decimal (`"12.5"`).
    pub price: String,
}

/// `POST /api/owner/datasets/{id}/price` (header `x-csrf-token`): the owner changes the price.
pub async fn set_price(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<PriceRequest>, JsonRejection>,
) -> ApiResult {
    session.verify(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let id = parse_id(&id)?;
    let Json(req) = body.map_err(|e| WebError::bad("body", e.body_text()))?;
    let price = parse_price(Some(&req.price))?;
    let r = phd_sdk::owner::set_price(state.owner()?, id, price).await?;
    state.invalidate_listings().await;
    Ok(Json(to_json(&r)))
}

/// Body of `POST /api/owner/datasets/{id}/grant`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub to: String,
    /// 64 bytes hex (x‖y), optionally `0x`/`04`-prefixed.
    pub pubkey: String,
    pub purpose: String,
}

/// `POST /api/owner/datasets/{id}/grant` (header `x-csrf-token`): free access for an account.
pub async fn grant(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<GrantRequest>, JsonRejection>,
) -> ApiResult {
    session.verify(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let id = parse_id(&id)?;
    let Json(req) = body.map_err(|e| WebError::bad("body", e.body_text()))?;
    let (to, pubkey, purpose) = parse_grant(Some(&req.to), Some(&req.pubkey), Some(&req.purpose))?;
    let r = phd_sdk::owner::grant(state.owner()?, id, to, &pubkey, purpose).await?;
    Ok(Json(to_json(&r)))
}

/// `GET /api/owner/export`: the GDPR export document (as `phd-user export`, without local copies).
pub async fn export(State(state): State<AppState>) -> ApiResult {
    let doc = phd_sdk::export::build(state.owner()?, &Default::default()).await?;
    Ok(Json(to_json(&doc)))
}
