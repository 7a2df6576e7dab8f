//! Error type of phd-validator.

use std::path::PathBuf;

/// A boxed error from another layer; its `Display` is kept.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for this crate.
pub type Result<T, E = ValidatorError> = std::result::Result<T, E>;

/// Everything the validator (service and owner-side helpers) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidatorError {
    /// The quality model file is missing, corrupt, or of another format version.
    #[error("cannot load the quality model {path}: {source}")]
    Model {
        path: PathBuf,
        #[source]
        source: Box<phd_quality::QualityError>,
    },
    /// Training or scoring failed inside phd-quality.
    #[error("quality model: {0}")]
    Quality(#[from] phd_quality::QualityError),
    /// The plaintext could not be read as canonical CSV.
    #[error("reading the dataset as canonical CSV: {0}")]
    Ingest(#[from] phd_ingest::IngestError),
    /// A chain call or transaction failed (reverts are decoded by phd-chain).
    #[error("{context}: {source}")]
    Chain {
        context: String,
        #[source]
        source: Box<phd_chain::ChainError>,
    },
    /// Retrieving the granted data failed (shares, key reconstruction, download, verification).
    #[error("retrieving dataset {dataset_id} (grant {purchase_id}): {source}")]
    Retrieve {
        dataset_id: u64,
        purchase_id: u64,
        #[source]
        source: Box<phd_sdk::SdkError>,
    },
    /// Following a granted series failed (segment lookup, shares, download, verification).
    #[error("following series {series_id} (subscription {subscription_id}): {source}")]
    Series {
        series_id: u64,
        subscription_id: u64,
        #[source]
        source: Box<phd_sdk::SdkError>,
    },
    /// Object storage failed.
    #[error("storage: {context}: {source}")]
    Storage {
        context: String,
        #[source]
        source: Box<phd_storage::Error>,
    },
    /// File-system access to the data directory failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file in the data directory is not what it should be.
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// This account is registered on-chain with another role.
    #[error("{address} is registered in the KeeperRegistry as a {role}, not as a validator")]
    WrongRole { address: String, role: &'static str },
    /// Bad configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Serving HTTP failed.
    #[error("http server on {addr}: {source}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// A background task panicked or was cancelled.
    #[error("{task} task failed: {reason}")]
    Task { task: &'static str, reason: String },
    /// The validator endpoint did not answer as a validator should (owner side).
    #[error("validator at {endpoint}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    /// The validator is not acceptable (owner side): key/address mismatch, not registered, …
    #[error("validator {address}: {reason}")]
    NotAValidator { address: String, reason: String },
    /// Waiting for something on-chain timed out.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    /// JSON encoding/decoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// An on-chain id does not fit a job record (u64).
    #[error(transparent)]
    Id(#[from] phd_protocol::ProtocolError),
}

impl ValidatorError {
    pub(crate) fn chain(context: impl Into<String>, source: phd_chain::ChainError) -> Self {
        ValidatorError::Chain {
            context: context.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ValidatorError::Io { path, source }
    }

    /// Whether retrying later may succeed (unreachable node, not enough shares yet, timeouts).
    pub fn is_transient(&self) -> bool {
        match self {
            ValidatorError::Chain { source, .. } => source.revert().is_none(),
            ValidatorError::Retrieve { source, .. } => matches!(
                **source,
                phd_sdk::SdkError::NotEnoughShares { .. }
                    | phd_sdk::SdkError::Chain { .. }
                    | phd_sdk::SdkError::Storage { .. }
            ),
            ValidatorError::Storage { .. } | ValidatorError::Timeout { .. } => true,
            _ => false,
        }
    }
}
