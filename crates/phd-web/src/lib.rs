//! phd-web: the page for data owners, buyers and keeper operators, and a small JSON API, both
//! over the same `phd-sdk` calls the CLIs use (no second implementation of any flow).
//!
//! Why server-rendered HTML with a little progressive JavaScript: no build step and no bundler
//! to pin, every page works offline from the binary alone (CSS, JS and SVG charts are served by
//! it, no CDN), a page weighs a few kilobytes, and every page works without JavaScript (the
//! script only adds live progress over Server-Sent Events and live erasure counts).
//!
//! Keys: the page never sees one. The service signs with the key from the same flags and
//! environment the CLIs use, and only on a confirmation form POST carrying the session's CSRF
//! token ([`csrf`]); cross-origin POSTs are refused.
//!
//! | path | what |
//! |---|---|
//! | `GET /` | catalog with filters and sorting |
//! | `GET /datasets/{id}` | dataset: metadata, quality charts, certificates, keepers and stakes |
//! | `GET /datasets/{id}/buy`, `POST …` | confirm price and purpose, then buy |
//! | `GET /jobs/{job}` (+ `/events` SSE, `/file`) | live purchase progress, then the file |
//! | `GET /owner`, `POST /owner/withdraw`, `…/consent` | listings, sales, earnings, consent withdrawal |
//! | `GET /owner/datasets/{id}`, `POST …/price`, `POST …/grant` | erasure status, price change, grants |
//! | `GET /owner/export` | the GDPR export as a download (as `phd-user export`) |
//! | `GET /keepers`, `/keepers/{address}` | stake, deliveries, disputes, earnings |
//! | `GET /series`, `/series/{id}` | live series with their certification, how to follow one |
//! | `/api/…` | the same as JSON ([`api`]) |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod cli;
pub mod csrf;
pub mod error;
pub mod html;
pub mod jobs;
pub mod pages;
pub mod series;
pub mod state;

use std::future::Future;

use axum::Router;
use axum::routing::{get, post};

pub use error::WebError;
pub use state::{AppState, WebConfig};

/// Every route of the page and the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::catalog))
        .route("/datasets/{id}", get(pages::dataset))
        .route(
            "/datasets/{id}/buy",
            get(pages::buy_form).post(pages::buy_submit),
        )
        .route("/jobs/{job}", get(pages::job))
        .route("/jobs/{job}/events", get(jobs::events))
        .route("/jobs/{job}/file", get(jobs::file))
        .route("/owner", get(pages::owner))
        .route("/owner/withdraw", post(pages::owner_withdraw))
        .route("/owner/datasets/{id}", get(pages::owner_dataset))
        .route("/owner/datasets/{id}/price", post(pages::price_submit))
        .route("/owner/datasets/{id}/grant", post(pages::grant_submit))
        .route("/owner/export", get(pages::owner_export))
        .route(
            "/owner/datasets/{id}/consent",
            get(pages::consent_form).post(pages::consent_submit),
        )
        .route("/keepers", get(pages::keepers))
        .route("/keepers/{address}", get(pages::keeper))
        .route("/series", get(series::list))
        .route("/series/{id}", get(series::detail))
        .route("/assets/app.css", get(html::css))
        .route("/assets/app.js", get(html::js))
        .route("/api/listings", get(api::listings))
        .route("/api/datasets/{id}", get(api::dataset))
        .route("/api/datasets/{id}/prices", get(api::prices))
        .route("/api/purchases", get(api::purchases))
        .route("/api/buy", post(api::buy))
        .route("/api/jobs/{job}", get(api::job))
        .route("/api/owner", get(api::owner))
        .route("/api/owner/datasets/{id}", get(api::owner_dataset))
        .route("/api/owner/datasets/{id}/price", post(api::set_price))
        .route("/api/owner/datasets/{id}/grant", post(api::grant))
        .route("/api/owner/export", get(api::export))
        .route("/api/keepers/{address}", get(api::keeper))
        .route("/api/series", get(series::api_list))
        .route("/api/series/{id}", get(series::api_detail))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::guard,
        ))
        .with_state(state)
}

/// Serves the page on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "phd-web listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("phd-web stopped");
    Ok(())
}
