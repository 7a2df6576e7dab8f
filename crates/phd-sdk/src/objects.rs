//! The places a buyer reads a sealed object from, each a [`RangedObject`], so retrieval is
//! written once ([`crate::fetch`]).

use std::ops::Range;

use bytes::Bytes;
use phd_storage::{RangedObject, S3Object};

/// Where this retrieval reads the sealed object from.
#[derive(Debug, Clone)]
pub enum SealedObject {
    /// The bucket, with the reader's own S3 credentials.
    S3(S3Object),
    /// A presigned GET URL a keeper sent along with its share.
    Url(UrlObject),
    /// The owner's access gateway, with a token signed by the buyer's account.
    Gateway(std::sync::Arc<crate::gateway::GatewayObject>),
}

impl RangedObject for SealedObject {
    fn describe(&self) -> String {
        match self {
            SealedObject::S3(o) => o.describe(),
            SealedObject::Url(o) => o.describe(),
            SealedObject::Gateway(o) => o.describe(),
        }
    }

    async fn size(&self) -> phd_storage::Result<u64> {
        match self {
            SealedObject::S3(o) => o.size().await,
            SealedObject::Url(o) => o.size().await,
            SealedObject::Gateway(o) => o.size().await,
        }
    }

    async fn get_range(&self, range: Range<u64>) -> phd_storage::Result<Bytes> {
        match self {
            SealedObject::S3(o) => o.get_range(range).await,
            SealedObject::Url(o) => o.get_range(range).await,
            SealedObject::Gateway(o) => o.get_range(range).await,
        }
    }
}

/// An object behind a presigned GET URL, read with `Range` requests. The signature covers the
/// method, so the size comes from the `Content-Range` of a one-byte GET, not from HEAD.
#[derive(Clone)]
pub struct UrlObject {
    http: reqwest::Client,
    url: String,
}

impl std::fmt::Debug for UrlObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlObject")
            .field("url", &self.describe())
            .finish_non_exhaustive()
    }
}

impl UrlObject {
    /// The object at `url`.
    pub fn new(http: reqwest::Client, url: impl Into<String>) -> Self {
        UrlObject {
            http,
            url: url.into(),
        }
    }

    fn err(&self, detail: impl Into<String>) -> phd_storage::Error {
        phd_storage::Error::Protocol {
            op: "GET (presigned URL)",
            bucket: String::new(),
            key: self.describe(),
            detail: detail.into(),
        }
    }

    async fn get(&self, range: &Range<u64>) -> phd_storage::Result<reqwest::Response> {
        let resp = self
            .http
            .get(&self.url)
            .header(
                reqwest::header::RANGE,
                format!("bytes={}-{}", range.start, range.end - 1),
            )
            .send()
            .await
            .map_err(|e| self.err(without_url(e)))?;
        match resp.status() {
            reqwest::StatusCode::PARTIAL_CONTENT => Ok(resp),
            s => Err(self.err(format!("answered {s} to a range request"))),
        }
    }
}

/// reqwest's message names the URL, query (signature) included; keep only the cause.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

impl RangedObject for UrlObject {
    /// The URL without its query string (the signature is a credential).
    fn describe(&self) -> String {
        self.url
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    async fn size(&self) -> phd_storage::Result<u64> {
        let resp = self.get(&(0..1)).await?;
        resp.headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit_once('/'))
            .and_then(|(_, total)| total.trim().parse().ok())
            .ok_or_else(|| self.err("no object size in Content-Range"))
    }

    async fn get_range(&self, range: Range<u64>) -> phd_storage::Result<Bytes> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        let want = range.end - range.start;
        let body = self
            .get(&range)
            .await?
            .bytes()
            .await
            .map_err(|e| self.err(without_url(e)))?;
        if body.len() as u64 != want {
            return Err(self.err(format!(
                "asked for {want} bytes at {}, got {}",
                range.start,
                body.len()
            )));
        }
        Ok(body)
    }
}
