//! Client of an access gateway (`phd-gateway`, docs/SECURITY.md "Storage access"): a dataset
//! whose storage URI is `http(s)://<gateway>/v1/objects/<key>` is read with ranged GETs signed
//! by the buyer's account ([`GatewayObject`], a [`RangedObject`]), and its public manifest lets
//! a buyer check availability before paying ([`check_availability`]).
//!
//! Every request is retried on what a restart or a flaky network produces (connection refused
//! or reset, 502/503/504, a body cut short) with capped exponential backoff, so a gateway that
//! is killed and restarted mid-download costs a pause, never a corrupt or duplicated byte: each
//! range is returned whole or not at all. Refusals (401/403/404/416) fail at once with the
//! gateway's code.

use std::{
    ops::Range,
    path::Path,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use bytes::Bytes;
use phd_protocol::gateway::{
    AccessToken, GatewayDomain, Manifest, manifest_url, parse_gateway_uri,
};
use phd_storage::{Error as StorageError, RangedObject};

use crate::{ClientCtx, Result, SdkError};

/// Lifetime of the tokens this client signs (the gateway accepts at most
/// [`phd_protocol::gateway::MAX_TOKEN_TTL_SECS`]); renewed when less than a minute is left.
pub const TOKEN_TTL_SECS: u64 = 300;

/// Range size of [`download_to_file`].
pub const DOWNLOAD_PART: u64 = 8 << 20;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// First pause; doubled each time up to `max_delay`.
    pub base_delay: Duration,
    /// Longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // ≈ 30 s of patience: enough for a gateway restart, short enough to report a dead one.
        RetryPolicy {
            attempts: 12,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(4),
        }
    }
}

/// One dataset object behind a gateway, read as the buyer (or grantee) of `purchase_id`.
#[derive(Debug)]
pub struct GatewayObject {
    http: reqwest::Client,
    url: String,
    domain: GatewayDomain,
    signer: PrivateKeySigner,
    dataset_id: u64,
    purchase_id: u64,
    token: Mutex<Option<(String, u64)>>,
    retry: RetryPolicy,
    size: tokio::sync::OnceCell<u64>,
}

/// Unique, not secret: keccak of the clock, the process id and a counter.
fn unique_nonce() -> B256 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut buf = Vec::with_capacity(32);
    buf.extend_from_slice(&nanos.to_be_bytes());
    buf.extend_from_slice(&std::process::id().to_be_bytes());
    buf.extend_from_slice(&n.to_be_bytes());
    alloy::primitives::keccak256(&buf)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl GatewayObject {
    /// The object at `storage_uri` for `purchase_id` of `dataset_id`, signing as the context's
    /// account; `None` when `storage_uri` is not a gateway URI.
    pub fn for_purchase(
        ctx: &ClientCtx,
        storage_uri: &str,
        dataset_id: u64,
        purchase_id: u64,
    ) -> Option<Self> {
        let (gateway, _) = parse_gateway_uri(storage_uri)?;
        let dep = ctx.chain.deployment();
        Some(GatewayObject {
            http: ctx.http.clone(),
            url: storage_uri.to_owned(),
            domain: GatewayDomain {
                chain_id: dep.chain_id,
                marketplace: dep.marketplace,
                gateway,
            },
            signer: ctx.chain.signer().clone(),
            dataset_id,
            purchase_id,
            token: Mutex::new(None),
            retry: RetryPolicy::default(),
            size: tokio::sync::OnceCell::new(),
        })
    }

    /// Same object, retrying as `retry` says.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// A valid `Authorization` value, signing a new token when the cached one is near expiry
    /// (or `renew`).
    #[allow(clippy::result_large_err)]
    fn token(&self, renew: bool) -> std::result::Result<String, StorageError> {
        let now = unix_now();
        let mut slot = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !renew && let Some((t, _)) = slot.as_ref().filter(|(_, e)| *e > now + 60) {
            return Ok(t.clone());
        }
        let expiry = now + TOKEN_TTL_SECS;
        let token = AccessToken::sign(
            &self.signer,
            self.domain.clone(),
            self.dataset_id,
            self.purchase_id,
            expiry,
            unique_nonce(),
        )
        .map_err(|e| self.err("sign token", None, None, e.to_string()))?
        .to_header();
        *slot = Some((token.clone(), expiry));
        Ok(token)
    }

    fn err(
        &self,
        op: &'static str,
        status: Option<u16>,
        code: Option<String>,
        detail: String,
    ) -> StorageError {
        StorageError::Http {
            op,
            url: self.url.clone(),
            status,
            code,
            detail,
        }
    }

    /// Sends `method` (with `range`), retrying transient failures; returns the checked body.
    // The storage error is built only on the cold failure path (as in phd-storage).
    #[allow(clippy::result_large_err)]
    async fn fetch(
        &self,
        op: &'static str,
        method: reqwest::Method,
        range: Option<&Range<u64>>,
    ) -> std::result::Result<(reqwest::header::HeaderMap, Bytes), StorageError> {
        let mut delay = self.retry.base_delay;
        let mut renew = false;
        let mut last: Option<StorageError> = None;
        for attempt in 1..=self.retry.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(self.retry.max_delay);
            }
            let mut req = self
                .http
                .request(method.clone(), &self.url)
                .header(reqwest::header::AUTHORIZATION, self.token(renew)?);
            renew = false;
            if let Some(r) = range {
                req = req.header(
                    reqwest::header::RANGE,
                    format!("bytes={}-{}", r.start, r.end - 1),
                );
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(attempt, error = %e, url = %self.url, "gateway request failed; retrying");
                    last = Some(self.err(op, None, None, e.to_string()));
                    continue;
                }
            };
            let status = resp.status();
            if !status.is_success() {
                let s = status.as_u16();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                let code = body["code"].as_str().map(str::to_owned);
                let detail = body["error"]
                    .as_str()
                    .map_or_else(|| status.to_string(), str::to_owned);
                let e = self.err(op, Some(s), code.clone(), detail);
                // A token that expired in flight (slow retries, clock step) is renewed once.
                if s == 401 && code.as_deref() == Some("expired_token") && attempt == 1 {
                    renew = true;
                    last = Some(e);
                    continue;
                }
                if matches!(s, 502..=504) || s == 429 {
                    last = Some(e);
                    continue;
                }
                return Err(e);
            }
            let headers = resp.headers().clone();
            if method == reqwest::Method::HEAD {
                return Ok((headers, Bytes::new()));
            }
            match resp.bytes().await {
                Ok(b) => return Ok((headers, b)),
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "gateway body cut short; retrying the range");
                    last = Some(self.err(op, Some(status.as_u16()), None, format!("body: {e}")));
                }
            }
        }
        Err(last.unwrap_or_else(|| self.err(op, None, None, "no attempt made".into())))
    }
}

fn header_u64(h: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> Option<u64> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
}

impl RangedObject for GatewayObject {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn size(&self) -> phd_storage::Result<u64> {
        self.size
            .get_or_try_init(|| async {
                let (h, _) = self.fetch("HEAD", reqwest::Method::HEAD, None).await?;
                header_u64(&h, reqwest::header::CONTENT_LENGTH)
                    .ok_or_else(|| self.err("HEAD", None, None, "no Content-Length".into()))
            })
            .await
            .copied()
    }

    async fn get_range(&self, range: Range<u64>) -> phd_storage::Result<Bytes> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        let want = range.end - range.start;
        let (h, body) = self
            .fetch("GET range", reqwest::Method::GET, Some(&range))
            .await?;
        let expect = format!("bytes {}-{}/", range.start, range.end - 1);
        let content_range = h
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_range.starts_with(&expect) || body.len() as u64 != want {
            return Err(self.err(
                "GET range",
                Some(206),
                None,
                format!(
                    "asked for {want} bytes at {}, got {} ({content_range:?})",
                    range.start,
                    body.len()
                ),
            ));
        }
        Ok(body)
    }
}

/// Reads `obj` into `to` in `part`-byte ranges, each fetched whole (retried inside the object)
/// and written at its offset, so an interruption never leaves a duplicated or shifted byte.
/// Returns the object's length.
pub async fn download_to_file(obj: &impl RangedObject, to: &Path, part: u64) -> Result<u64> {
    use std::io::{Seek, SeekFrom, Write};
    let storage = |e: StorageError| SdkError::Storage {
        context: format!("downloading {}", obj.describe()),
        source: Box::new(e),
    };
    let len = obj.size().await.map_err(storage)?;
    let mut file = std::fs::File::create(to).map_err(|source| SdkError::Write {
        path: to.to_path_buf(),
        source,
    })?;
    let part = part.max(1);
    let mut at = 0;
    while at < len {
        let end = (at + part).min(len);
        let bytes = obj.get_range(at..end).await.map_err(storage)?;
        let w = |source| SdkError::Write {
            path: to.to_path_buf(),
            source,
        };
        file.seek(SeekFrom::Start(at)).map_err(w)?;
        file.write_all(&bytes).map_err(w)?;
        at = end;
    }
    file.sync_all().map_err(|source| SdkError::Write {
        path: to.to_path_buf(),
        source,
    })?;
    Ok(len)
}

/// What [`check_availability`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Availability {
    /// The URI checked.
    pub storage_uri: String,
    /// Sealed object length.
    pub sealed_len: u64,
    /// Chunks listed.
    pub chunks: u64,
    /// `gateway-manifest` or `s3`.
    pub checked_via: String,
}

/// Before paying: fetches the object's header and trailer (a gateway's public manifest, or
/// ranged reads with the context's own S3 credentials) and recomputes the content root; it
/// must equal `content_root` (the on-chain one). `Ok(None)` when the URI cannot be checked from
/// here (an `s3://` bucket this context holds no credentials for; keepers may still send a
/// presigned URL). Any other failure is [`SdkError::Unavailable`].
pub async fn check_availability(
    ctx: &ClientCtx,
    dataset_id: u64,
    storage_uri: &str,
    content_root: [u8; 32],
) -> Result<Option<Availability>> {
    let unavailable = |reason: String| SdkError::Unavailable {
        dataset_id,
        storage_uri: storage_uri.to_owned(),
        reason,
    };
    let (info, via) = if let Some((gateway, key)) = parse_gateway_uri(storage_uri) {
        let url = manifest_url(&gateway, &key);
        let resp = ctx
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(format!("gateway unreachable: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            let why = body["error"].as_str().unwrap_or("no reason given");
            return Err(unavailable(format!(
                "gateway answered {status} for the manifest: {why}"
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| unavailable(format!("reading the manifest: {e}")))?;
        let m = Manifest::decode(&body).map_err(|e| unavailable(e.to_string()))?;
        let info = phd_seal::inspect_parts(m.object_len, &m.head, &m.tail)
            .map_err(|e| unavailable(format!("manifest does not parse: {e}")))?;
        (info, "gateway-manifest")
    } else if let (Some((bucket, key)), Some(store)) =
        (crate::util::parse_s3_uri(storage_uri), &ctx.store)
    {
        if store.bucket() != bucket {
            return Ok(None);
        }
        let len = match store.head(&key).await {
            Ok(Some(i)) => i.len,
            Ok(None) => return Err(unavailable("no such object in the bucket".into())),
            Err(e) => return Err(unavailable(e.to_string())),
        };
        let head_len = (phd_seal::HEADER_LEN as u64).min(len);
        let head = store
            .get_range(&key, 0..head_len)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let footer_len = (phd_seal::FOOTER_LEN as u64).min(len);
        let footer = store
            .get_range(&key, len - footer_len..len)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let trailer_len = footer
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let tail_len = trailer_len
            .saturating_add(footer_len)
            .min(len)
            .min(64 << 20);
        let tail = store
            .get_range(&key, len - tail_len..len)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let info = phd_seal::inspect_parts(len, &head, &tail)
            .map_err(|e| unavailable(format!("object does not parse: {e}")))?;
        (info, "s3")
    } else {
        return Ok(None);
    };
    // Both roots are public: a plain comparison leaks nothing.
    if info.root != content_root {
        return Err(unavailable(format!(
            "the stored object's content root 0x{} differs from the on-chain 0x{}",
            hex_of(&info.root),
            hex_of(&content_root)
        )));
    }
    Ok(Some(Availability {
        storage_uri: storage_uri.to_owned(),
        sealed_len: info.sealed_len,
        chunks: info.chunk_count,
        checked_via: via.into(),
    }))
}

fn hex_of(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
