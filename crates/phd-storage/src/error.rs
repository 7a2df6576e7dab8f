//! Errors, with the operation, bucket and key they happened on.

use std::path::PathBuf;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in this crate. Never contains credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad or missing configuration.
    #[error("invalid storage configuration: {0}")]
    Config(String),

    /// The object does not exist.
    #[error("{op} s3://{bucket}/{key}: no such object")]
    NotFound {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },

    /// The bucket does not exist.
    #[error("{op} s3://{bucket}: no such bucket")]
    NoSuchBucket {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
    },

    /// Could not connect / the connection failed (after all retries).
    #[error(
        "{op} s3://{bucket}/{key}: cannot reach S3 at {endpoint} (is the server running?): {detail}"
    )]
    Unreachable {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Endpoint tried (`AWS` for the default).
        endpoint: String,
        /// Full error chain as text.
        detail: String,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// A request or a download stalled past its timeout.
    #[error("{op} s3://{bucket}/{key}: timed out talking to {endpoint}: {detail}")]
    Timeout {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Endpoint tried.
        endpoint: String,
        /// What timed out.
        detail: String,
    },

    /// The requested byte range lies outside the object.
    #[error("{op} s3://{bucket}/{key}: byte range {start}..{end} is not satisfiable")]
    InvalidRange {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Range start (inclusive).
        start: u64,
        /// Range end (exclusive).
        end: u64,
    },

    /// The server answered with an error (access denied, bad request, ...).
    #[error("{op} s3://{bucket}/{key} failed ({}): {detail}", code.as_deref().unwrap_or("no error code"))]
    S3 {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// S3 error code, when the server sent one.
        code: Option<String>,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// Full error chain as text.
        detail: String,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// The server's answer lacked something required, or the body was cut short.
    #[error("{op} s3://{bucket}/{key}: unexpected response: {detail}")]
    Protocol {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What was wrong.
        detail: String,
    },

    /// Reading or writing a local file failed.
    #[error("{op} s3://{bucket}/{key}: local file {}: {source}", path.display())]
    Io {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Local path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The upload source failed to deliver bytes (the multipart upload was aborted).
    #[error("{op} s3://{bucket}/{key}: reading upload source at offset {offset} failed: {source}")]
    Source {
        /// S3 operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Offset of the failed read.
        offset: u64,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The embedded S3 server failed.
    #[error("embedded S3 server: {context}: {source}")]
    Server {
        /// What it was doing.
        context: String,
        /// Underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Whether this is "object or bucket does not exist".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::NoSuchBucket { .. })
    }
}

/// Maps an SDK error into [`Error`], keeping operation, bucket and key.
pub(crate) fn map_sdk<E>(
    op: &'static str,
    bucket: &str,
    key: &str,
    endpoint: &str,
    err: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&err).to_string();
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    let endpoint = endpoint.to_owned();
    match &err {
        SdkError::TimeoutError(_) => {
            return Error::Timeout {
                op,
                bucket,
                key,
                endpoint,
                detail,
            };
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            return Error::Timeout {
                op,
                bucket,
                key,
                endpoint,
                detail,
            };
        }
        SdkError::DispatchFailure(_) => {
            return Error::Unreachable {
                op,
                bucket,
                key,
                endpoint,
                detail,
                source: Box::new(err),
            };
        }
        _ => {}
    }
    match (code.as_deref(), status) {
        (Some("NoSuchBucket"), _) => Error::NoSuchBucket { op, bucket },
        (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) if !key.is_empty() => {
            Error::NotFound { op, bucket, key }
        }
        (Some("NotFound"), _) | (None, Some(404)) => Error::NoSuchBucket { op, bucket },
        _ => Error::S3 {
            op,
            bucket,
            key,
            code,
            status,
            detail,
            source: Box::new(err),
        },
    }
}
