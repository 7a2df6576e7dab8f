//! phd-gateway: the access gateway a data owner (or a storage operator) runs in front of S3
//! with the owner's storage credentials, so a buyer or grantee reads the sealed object without
//! holding any of them (docs/SECURITY.md "Storage access", docs/FORMATS.md "Gateway access
//! token").
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET`/`HEAD /v1/objects/{key}` | buyer with a signed [`AccessToken`] | the object, one `Range` per request (206 + `Content-Range`), streamed from S3 |
//! | `GET`/`HEAD /v1/objects/series/…` | subscriber with a signed [`AccessToken`] (series id, subscription id) | a series segment object, same ranges (module `segment`) |
//! | `GET /v1/manifest/{key}` | anyone | header + trailer + footer ([`Manifest`]): sizes and hashes to recompute the content root before paying |
//! | `GET /health` | anyone | chain id, marketplace, public URL |
//!
//! An object request is served only when the token verifies (domain = this chain, marketplace
//! and gateway URL; not expired; at most [`MAX_TOKEN_TTL_SECS`] ahead; signature by the named
//! account) and the chain says: the purchase exists, its buyer is the signer, it is Open or
//! Settled, it is for the token's dataset, the dataset is not withdrawn and its `storageUri`
//! names this object. Otherwise 401/403 with `{"error", "code"}` and no bytes. Every request
//! is appended to the [`AccessLog`].

mod ledger;
mod log;
pub mod range;
mod segment;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::Address;
use axum::{
    Json, Router,
    body::Body,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures::TryStreamExt as _;
use phd_chain::{DatasetStatus, Deployment, PurchaseStatus};
use phd_protocol::gateway::{
    AccessRecord, AccessToken, GatewayDomain, MANIFEST_ROUTE, MAX_TOKEN_TTL_SECS, Manifest,
    OBJECT_ROUTE, TokenError, parse_gateway_uri, valid_key,
};
use phd_storage::{S3Config, Store};

pub use ledger::{
    ChainLedger, DatasetView, Ledger, LedgerError, PurchaseView, SeriesView, SubscriptionView,
};
pub use log::{AccessLog, read_access_log};

/// Largest trailer the manifest route reads (the sealed format's default open limit).
const MAX_TRAILER: u64 = 64 << 20;

/// Errors of starting or running the gateway (request failures are HTTP replies, not these).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Connecting to the chain failed.
    #[error("gateway: chain at {rpc_url}: {source}")]
    Chain {
        /// RPC URL.
        rpc_url: String,
        /// Underlying error.
        #[source]
        source: Box<phd_chain::ChainError>,
    },
    /// Connecting to storage failed.
    #[error("gateway: storage: {0}")]
    Storage(Box<phd_storage::Error>),
    /// A local file (the access log) failed.
    #[error("gateway: {}: {source}", path.display())]
    Io {
        /// File.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bad configuration.
    #[error("gateway: {0}")]
    Config(String),
    /// The HTTP server failed.
    #[error("gateway: serving HTTP: {0}")]
    Serve(std::io::Error),
}

/// Everything a gateway needs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Ethereum JSON-RPC endpoint.
    pub rpc_url: String,
    /// Contract addresses.
    pub deployment: Deployment,
    /// The owner's bucket and credentials.
    pub s3: S3Config,
    /// This gateway's public base URL (`scheme://host[:port]`), the audience tokens must name.
    pub public_url: String,
    /// Only keys under this prefix are served (the owner's dataset objects, not the whole bucket).
    pub key_prefix: String,
    /// Series segment objects are served under this prefix (the streamer's keys,
    /// `series/<owner>/<series>/<seq>.phd`, checked against SeriesMarket); empty: none.
    pub series_prefix: String,
    /// Access log (JSONL).
    pub access_log: PathBuf,
    /// How long a positive chain check is reused for the same token (ranged downloads send many
    /// requests with one token; a refund or withdrawal takes effect after at most this long).
    pub auth_cache: Duration,
}

impl GatewayConfig {
    /// Defaults: key prefix `datasets/`, series segments under `series/`, 2 s authorization cache.
    pub fn new(
        rpc_url: String,
        deployment: Deployment,
        s3: S3Config,
        public_url: String,
        access_log: PathBuf,
    ) -> Self {
        Self {
            rpc_url,
            deployment,
            s3,
            public_url,
            key_prefix: "datasets/".into(),
            series_prefix: phd_protocol::SERIES_KEY_ROOT.into(),
            access_log,
            auth_cache: Duration::from_secs(2),
        }
    }
}

/// Shared state of the handlers.
#[derive(Debug)]
pub struct Gateway {
    domain: GatewayDomain,
    ledger: Arc<dyn Ledger>,
    store: Store,
    key_prefix: String,
    series_prefix: String,
    log: AccessLog,
    auth_cache: Duration,
    allowed: Mutex<HashMap<AuthKey, Instant>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AuthKey {
    account: Address,
    dataset_id: u64,
    purchase_id: u64,
    key: String,
}

impl Gateway {
    /// Connects to the chain and storage and opens the access log.
    pub async fn connect(config: GatewayConfig) -> Result<Arc<Self>, GatewayError> {
        let ledger = ChainLedger::connect(&config.rpc_url, config.deployment.clone())
            .await
            .map_err(|e| GatewayError::Chain {
                rpc_url: config.rpc_url.clone(),
                source: Box::new(e),
            })?;
        let store = Store::connect(config.s3.clone())
            .await
            .map_err(|e| GatewayError::Storage(Box::new(e)))?;
        Self::with_ledger(config, Arc::new(ledger), store)
    }

    /// A gateway over any [`Ledger`] (tests) and a connected store.
    pub fn with_ledger(
        config: GatewayConfig,
        ledger: Arc<dyn Ledger>,
        store: Store,
    ) -> Result<Arc<Self>, GatewayError> {
        let public_url = config.public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(GatewayError::Config(format!(
                "public URL {public_url:?} must start with http:// or https://"
            )));
        }
        let domain = GatewayDomain {
            chain_id: config.deployment.chain_id,
            marketplace: config.deployment.marketplace,
            gateway: public_url,
        };
        let log = AccessLog::open(&config.access_log)?;
        Ok(Arc::new(Self {
            domain,
            ledger,
            store,
            key_prefix: config.key_prefix,
            series_prefix: config.series_prefix,
            log,
            auth_cache: config.auth_cache,
            allowed: Mutex::new(HashMap::new()),
        }))
    }

    /// The domain tokens must be signed for.
    pub fn domain(&self) -> &GatewayDomain {
        &self.domain
    }

    /// The access log.
    pub fn access_log(&self) -> &AccessLog {
        &self.log
    }

    fn cached(&self, k: &AuthKey) -> bool {
        let map = self
            .allowed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(k).is_some_and(|until| Instant::now() < *until)
    }

    fn remember(&self, k: AuthKey) {
        let mut map = self
            .allowed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            let now = Instant::now();
            map.retain(|_, until| *until > now);
        }
        map.insert(k, Instant::now() + self.auth_cache);
    }

    /// The access rule (module docs): the signer of `token`, or why not.
    async fn authorize(
        &self,
        headers: &HeaderMap,
        key: &str,
    ) -> Result<(AccessToken, Address), Refusal> {
        let (token, signer) = self.verified_token(headers)?;
        self.authorize_dataset(token, signer, key).await
    }

    /// The token in `Authorization`, its domain, lifetime and signature checked: who signed.
    fn verified_token(&self, headers: &HeaderMap) -> Result<(AccessToken, Address), Refusal> {
        let raw = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Refusal::token(&TokenError::Missing))?;
        let raw = raw
            .to_str()
            .map_err(|_| Refusal::token(&TokenError::Malformed("not ASCII".into())))?;
        let token = AccessToken::from_header(raw).map_err(|e| Refusal::token(&e))?;
        let signer = token
            .verify(&self.domain, unix_now(), MAX_TOKEN_TTL_SECS)
            .map_err(|e| Refusal::token(&e).with(&token))?;
        Ok((token, signer))
    }

    /// The dataset half of the access rule (module docs) for a verified token.
    async fn authorize_dataset(
        &self,
        token: AccessToken,
        signer: Address,
        key: &str,
    ) -> Result<(AccessToken, Address), Refusal> {
        let ck = AuthKey {
            account: signer,
            dataset_id: token.dataset_id,
            purchase_id: token.purchase_id,
            key: key.to_owned(),
        };
        if self.cached(&ck) {
            return Ok((token, signer));
        }
        let forbid = |code: &'static str, msg: String| {
            Refusal::new(StatusCode::FORBIDDEN, code, msg).with(&token)
        };
        let unavailable = |e: LedgerError| {
            tracing::warn!(error = %e, "chain read failed");
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "chain_unavailable",
                format!("cannot check the purchase now ({})", e.op),
            )
            .with(&token)
        };
        let (pid, did) = (token.purchase_id, token.dataset_id);
        let p = self.ledger.purchase(pid).await.map_err(unavailable)?;
        let p =
            p.ok_or_else(|| forbid("no_such_purchase", format!("purchase {pid} does not exist")))?;
        if p.buyer != signer {
            return Err(forbid(
                "not_buyer",
                format!(
                    "purchase {pid} belongs to {}, not to the signer {signer}",
                    p.buyer
                ),
            ));
        }
        if p.dataset_id != did {
            return Err(forbid(
                "wrong_dataset",
                format!("purchase {pid} is for dataset {}, not {did}", p.dataset_id),
            ));
        }
        if !matches!(p.status, PurchaseStatus::Open | PurchaseStatus::Settled) {
            return Err(forbid(
                "purchase_not_active",
                format!("purchase {pid} is {}", p.status),
            ));
        }
        let d = self.ledger.dataset(did).await.map_err(unavailable)?;
        let d =
            d.ok_or_else(|| forbid("no_such_dataset", format!("dataset {did} does not exist")))?;
        if d.status == DatasetStatus::Withdrawn {
            return Err(forbid(
                "dataset_withdrawn",
                format!("dataset {did}: the owner withdrew consent"),
            ));
        }
        match parse_gateway_uri(&d.storage_uri) {
            Some((_, k)) if k == key => {}
            _ => {
                return Err(forbid(
                    "wrong_object",
                    format!("dataset {did} is not stored under {key}"),
                ));
            }
        }
        self.remember(ck);
        Ok((token, signer))
    }

    fn check_key(&self, key: &str) -> Result<(), Refusal> {
        if !valid_key(key) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_key",
                "invalid object key".into(),
            ));
        }
        if !key.starts_with(&self.key_prefix) && !self.is_segment_key(key) {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                "not_served",
                format!(
                    "this gateway serves only keys under {:?}{}",
                    self.key_prefix,
                    if self.series_prefix.is_empty() {
                        String::new()
                    } else {
                        format!(" and {:?}", self.series_prefix)
                    }
                ),
            ));
        }
        Ok(())
    }

    fn storage_refusal(&self, e: &phd_storage::Error) -> Refusal {
        if e.is_not_found() {
            return Refusal::new(
                StatusCode::NOT_FOUND,
                "object_missing",
                "the object is not in storage".into(),
            );
        }
        tracing::warn!(error = %e, "storage read failed");
        Refusal::new(
            StatusCode::BAD_GATEWAY,
            "storage_unavailable",
            "storage did not answer; retry".into(),
        )
    }
}

/// A refused request: status, stable code, message; the token fields for the log.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    account: Option<Address>,
    dataset_id: Option<u64>,
    purchase_id: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        Self {
            status,
            code,
            message,
            account: None,
            dataset_id: None,
            purchase_id: None,
        }
    }
    fn token(e: &TokenError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
    }
    fn with(mut self, t: &AccessToken) -> Self {
        self.account = Some(t.account);
        self.dataset_id = Some(t.dataset_id);
        self.purchase_id = Some(t.purchase_id);
        self
    }
    fn into_response(self, extra: Option<(header::HeaderName, String)>) -> Response {
        let mut r = (
            self.status,
            Json(serde_json::json!({ "error": self.message, "code": self.code })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("PHD-Access"),
            );
        }
        if let Some((name, value)) = extra
            && let Ok(v) = HeaderValue::from_str(&value)
        {
            r.headers_mut().insert(name, v);
        }
        r
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The gateway's routes over `state`.
pub fn router(state: Arc<Gateway>) -> Router {
    Router::new()
        .route(OBJECT_ROUTE, get(object).head(object))
        .route(MANIFEST_ROUTE, get(manifest))
        .route("/health", get(health))
        .fallback(|| async {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such route (see /v1/objects/{key}, /v1/manifest/{key})".into(),
            )
            .into_response(None)
        })
        .with_state(state)
}

async fn health(State(g): State<Arc<Gateway>>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "chain_id": g.domain.chain_id,
        "marketplace": g.domain.marketplace,
        "gateway": g.domain.gateway,
    }))
    .into_response()
}

async fn object(
    State(g): State<Arc<Gateway>>,
    method: Method,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut rec = AccessRecord {
        time_ms: unix_ms(),
        route: "object".into(),
        method: method.as_str().to_owned(),
        key: key.clone(),
        account: None,
        dataset_id: None,
        purchase_id: None,
        range: None,
        bytes: 0,
        allowed: false,
        status: 0,
        code: None,
    };
    let result = serve_object(
        &g,
        &method,
        &key,
        &headers,
        range_header.as_deref(),
        &mut rec,
    )
    .await;
    let response = match result {
        Ok(r) => {
            rec.allowed = true;
            r
        }
        Err((refusal, extra)) => {
            rec.code = Some(refusal.code.to_owned());
            rec.account = rec.account.or(refusal.account);
            rec.dataset_id = rec.dataset_id.or(refusal.dataset_id);
            rec.purchase_id = rec.purchase_id.or(refusal.purchase_id);
            tracing::info!(
                key,
                code = refusal.code,
                status = refusal.status.as_u16(),
                "object request refused"
            );
            refusal.into_response(extra)
        }
    };
    rec.status = response.status().as_u16();
    g.log.append(&rec);
    response
}

type Refused = (Refusal, Option<(header::HeaderName, String)>);

async fn serve_object(
    g: &Gateway,
    method: &Method,
    key: &str,
    headers: &HeaderMap,
    range_header: Option<&str>,
    rec: &mut AccessRecord,
) -> Result<Response, Refused> {
    g.check_key(key).map_err(|r| (r, None))?;
    let (token, signer) = if g.is_segment_key(key) {
        rec.route = "segment".into();
        g.authorize_segment(headers, key).await
    } else {
        g.authorize(headers, key).await
    }
    .map_err(|r| (r, None))?;
    rec.account = Some(signer);
    rec.dataset_id = Some(token.dataset_id);
    rec.purchase_id = Some(token.purchase_id);
    let info = match g.store.head(key).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Err((
                Refusal::new(
                    StatusCode::NOT_FOUND,
                    "object_missing",
                    "the object is not in storage".into(),
                ),
                None,
            ));
        }
        Err(e) => return Err((g.storage_refusal(&e), None)),
    };
    let len = info.len;
    let range = match range::parse(range_header, len) {
        Ok(r) => r,
        Err(range::RangeError::Malformed(m)) => {
            return Err((Refusal::new(StatusCode::BAD_REQUEST, "bad_range", m), None));
        }
        Err(range::RangeError::Unsatisfiable) => {
            let r = Refusal::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the object has {len} bytes"),
            );
            return Err((r, Some((header::CONTENT_RANGE, format!("bytes */{len}")))));
        }
    };
    let (status, span) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..len),
    };
    rec.range = Some(format!("{}-{}", span.start, span.end.saturating_sub(1)));
    rec.bytes = span.end - span.start;
    let mut builder = Response::builder()
        .status(status)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, span.end - span.start)
        .header(header::CACHE_CONTROL, "private, no-store");
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{len}", span.start, span.end.saturating_sub(1)),
        );
    }
    if let Some(etag) = &info.etag {
        builder = builder.header(header::ETAG, format!("\"{etag}\""));
    }
    let body = if *method == Method::HEAD || span.is_empty() {
        rec.bytes = if *method == Method::HEAD {
            0
        } else {
            rec.bytes
        };
        Body::empty()
    } else {
        let stream = g
            .store
            .get_range_stream(key, span)
            .await
            .map_err(|e| (g.storage_refusal(&e), None))?;
        // A storage failure mid-body cuts the response short; the client sees fewer bytes
        // than Content-Length and retries the range.
        Body::from_stream(stream.map_err(|e| {
            tracing::warn!(error = %e, "storage stream failed mid-response");
            std::io::Error::other(e.to_string())
        }))
    };
    builder.body(body).map_err(|e| {
        tracing::error!(error = %e, "building the response");
        (
            Refusal::new(
                StatusCode::BAD_GATEWAY,
                "internal",
                "could not build the response".into(),
            ),
            None,
        )
    })
}

async fn manifest(State(g): State<Arc<Gateway>>, UrlPath(key): UrlPath<String>) -> Response {
    let mut rec = AccessRecord {
        time_ms: unix_ms(),
        route: "manifest".into(),
        method: "GET".into(),
        key: key.clone(),
        account: None,
        dataset_id: None,
        purchase_id: None,
        range: None,
        bytes: 0,
        allowed: false,
        status: 0,
        code: None,
    };
    let response = match read_manifest(&g, &key).await {
        Ok(m) => {
            let body = m.encode();
            rec.allowed = true;
            rec.bytes = body.len() as u64;
            ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
        }
        Err(r) => {
            rec.code = Some(r.code.to_owned());
            r.into_response(None)
        }
    };
    rec.status = response.status().as_u16();
    g.log.append(&rec);
    response
}

/// Header, trailer and footer of `key`, checked to parse as a sealed object (a gateway never
/// vouches for bytes that are not one).
async fn read_manifest(g: &Gateway, key: &str) -> Result<Manifest, Refusal> {
    g.check_key(key)?;
    let len = match g.store.head(key).await {
        Ok(Some(i)) => i.len,
        Ok(None) => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                "object_missing",
                "the object is not in storage".into(),
            ));
        }
        Err(e) => return Err(g.storage_refusal(&e)),
    };
    let not_sealed = |m: String| {
        Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_sealed",
            format!("the stored object is not a sealed object: {m}"),
        )
    };
    let (header_len, footer_len) = (phd_seal::HEADER_LEN as u64, phd_seal::FOOTER_LEN as u64);
    if len < header_len + footer_len + phd_seal::TRAILER_FIXED_LEN as u64 {
        return Err(not_sealed(format!("only {len} bytes")));
    }
    let footer = g
        .store
        .get_range(key, len - footer_len..len)
        .await
        .map_err(|e| g.storage_refusal(&e))?;
    if footer.get(8..16) != Some(&phd_seal::FOOTER_MAGIC[..]) {
        return Err(not_sealed("bad footer".into()));
    }
    let trailer_len = footer
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(u64::MAX);
    if trailer_len > MAX_TRAILER || trailer_len + footer_len + header_len > len {
        return Err(not_sealed(format!(
            "trailer length {trailer_len} does not fit"
        )));
    }
    let head = g
        .store
        .get_range(key, 0..header_len)
        .await
        .map_err(|e| g.storage_refusal(&e))?;
    let tail = g
        .store
        .get_range(key, len - footer_len - trailer_len..len)
        .await
        .map_err(|e| g.storage_refusal(&e))?;
    phd_seal::inspect_parts(len, &head, &tail).map_err(|e| not_sealed(e.to_string()))?;
    Ok(Manifest {
        object_len: len,
        head: head.to_vec(),
        tail: tail.to_vec(),
    })
}

/// Connects (chain, storage, access log) and serves on `listener` until `shutdown` resolves;
/// in-flight responses finish first.
pub async fn run(
    config: GatewayConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let gateway = Gateway::connect(config).await?;
    serve(gateway, listener, shutdown).await
}

/// Serves an already connected gateway (see [`run`]).
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, gateway = %gateway.domain.gateway, log = %gateway.log.path().display(), "phd-gateway serving");
    axum::serve(listener, router(gateway))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(GatewayError::Serve)?;
    tracing::info!("phd-gateway stopped");
    Ok(())
}
