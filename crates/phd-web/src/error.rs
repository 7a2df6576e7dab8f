//! Error type of phd-web: every failure becomes a 4xx (the request) or a 502/503 (something the
//! service talks to), never a 500, with the same decoded, named message the CLI prints.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use phd_chain::ChainError;
use phd_sdk::SdkError;
use phd_sdk::buyer::BuyerError;

/// Everything a page or API call can fail with. Messages are meant for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The request itself is wrong (malformed id, amount, purpose, body).
    #[error("invalid {what}: {reason}")]
    BadRequest { what: &'static str, reason: String },
    /// No such dataset, purchase job, keeper or page.
    #[error("{what} not found")]
    NotFound { what: String },
    /// Refused before doing anything: missing/invalid CSRF token, cross-origin POST.
    #[error("refused: {reason}")]
    Forbidden { reason: &'static str },
    /// The service was started without what this needs.
    #[error("this service is not configured with {what}")]
    NotConfigured { what: &'static str },
    /// A shared client flow failed (phd-sdk).
    #[error(transparent)]
    Sdk(#[from] SdkError),
    /// A purchase failed (phd-sdk's buyer flows).
    #[error(transparent)]
    Buyer(#[from] BuyerError),
    /// Writing or reading a local file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl WebError {
    /// The HTTP status: the contract refusing (a decoded revert) is the caller's conflict (409),
    /// an unreachable node or store is a bad gateway (502).
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            WebError::NotFound { .. } => StatusCode::NOT_FOUND,
            WebError::Forbidden { .. } => StatusCode::FORBIDDEN,
            WebError::NotConfigured { .. } | WebError::Io { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Sdk(SdkError::Dataset { reason, .. })
            | WebError::Buyer(BuyerError::Dataset { reason, .. })
                if reason.contains("no such") =>
            {
                StatusCode::NOT_FOUND
            }
            WebError::Sdk(SdkError::Dataset { .. })
            | WebError::Buyer(BuyerError::Dataset { .. }) => StatusCode::FORBIDDEN,
            WebError::Buyer(BuyerError::InvalidArg { .. })
            | WebError::Sdk(SdkError::InvalidArg { .. }) => StatusCode::BAD_REQUEST,
            WebError::Buyer(BuyerError::Refused { .. } | BuyerError::Purchase { .. })
            | WebError::Sdk(SdkError::Purchase { .. }) => StatusCode::CONFLICT,
            _ if self.revert_name().is_some_and(|n| {
                n.ends_with("UnknownDataset")
                    || n.ends_with("UnknownPurchase")
                    || n.ends_with("UnknownSeries")
            }) =>
            {
                StatusCode::NOT_FOUND
            }
            _ if self.revert_name().is_some() => StatusCode::CONFLICT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// The Solidity name of the contract's refusal, when the chain refused.
    pub fn revert_name(&self) -> Option<String> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cur {
            if let Some(ChainError::Revert { revert, .. }) = e.downcast_ref::<ChainError>() {
                return Some(revert.name());
            }
            cur = e.source();
        }
        None
    }

    /// A short name for the JSON API.
    pub fn kind(&self) -> String {
        if let Some(n) = self.revert_name() {
            return n;
        }
        match self {
            WebError::BadRequest { .. } => "bad_request",
            WebError::NotFound { .. } => "not_found",
            WebError::Forbidden { .. } => "forbidden",
            WebError::NotConfigured { .. } => "not_configured",
            WebError::Io { .. } => "io",
            _ if self.status() == StatusCode::NOT_FOUND => "not_found",
            _ if self.status() == StatusCode::CONFLICT => "refused",
            _ => "upstream",
        }
        .to_string()
    }

    /// A bad request about `what`.
    pub fn bad(what: &'static str, reason: impl Into<String>) -> Self {
        WebError::BadRequest {
            what,
            reason: reason.into(),
        }
    }
}

/// As an HTML page (the pages); the API wraps errors in [`crate::api::ApiError`].
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(error = %self, "request failed upstream");
        }
        let status = self.status();
        let body = crate::html::error_page(status, &self);
        (status, axum::response::Html(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_never_500() {
        let cases = [
            WebError::bad("id", "x"),
            WebError::NotFound {
                what: "dataset 9".into(),
            },
            WebError::Forbidden { reason: "csrf" },
            WebError::NotConfigured { what: "x" },
            WebError::Sdk(SdkError::Dataset {
                dataset_id: 1,
                reason: "no such dataset".into(),
            }),
            WebError::Sdk(SdkError::Dataset {
                dataset_id: 1,
                reason: "owned by someone else".into(),
            }),
            WebError::Buyer(BuyerError::Purchase {
                purchase_id: 1,
                reason: "x".into(),
            }),
            WebError::Io {
                context: "x".into(),
                source: std::io::Error::other("x"),
            },
        ];
        let want = [400, 404, 403, 503, 404, 403, 409, 503];
        for (e, w) in cases.iter().zip(want) {
            assert_eq!(e.status().as_u16(), w, "{e}");
        }
    }
}
