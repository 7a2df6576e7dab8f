//! Error type of phd-user.

use std::path::PathBuf;

/// A boxed error from another layer (chain, storage, keys, ...). Its `Display` is kept.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for this crate.
pub type Result<T, E = UserError> = std::result::Result<T, E>;

/// Everything the owner's commands can fail with. Messages are meant for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Unknown input format.
    #[error(
        "{path}: unsupported input format (expected a .csv file with a time column, a BasicMotions .ts file, or Open mHealth / FHIR JSON; --input-format names it)"
    )]
    UnsupportedFormat { path: PathBuf },
    /// The sensor file is malformed.
    #[error("{path}: {source}")]
    Ingest {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    /// Device certificate / recording signature check failed.
    #[error("hardware check failed for {path}: {reason}")]
    Hardware { path: PathBuf, reason: String },
    /// Quality scoring failed or left nothing.
    #[error("quality check: {reason}")]
    Quality { reason: String },
    /// Pseudonymisation refused the data.
    #[error("pseudonymisation refused: {source}")]
    Pseudonymise {
        #[source]
        source: BoxError,
    },
    /// Metadata could not be built.
    #[error("metadata: {source}")]
    Metadata {
        #[source]
        source: BoxError,
    },
    /// Key generation / split / ECIES failed.
    #[error("keys: {context}: {source}")]
    Keys {
        context: String,
        #[source]
        source: BoxError,
    },
    /// Sealing failed.
    #[error("sealing {path}: {source}")]
    Seal {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    /// Object storage failed.
    #[error("storage: {context}: {source}")]
    Storage {
        context: String,
        #[source]
        source: BoxError,
    },
    /// A chain call or transaction failed (reverts decoded by phd-chain).
    #[error("{context}: {source}")]
    Chain {
        context: String,
        #[source]
        source: BoxError,
    },
    /// A keeper refused or could not be reached.
    #[error("keeper {keeper} ({endpoint}): {reason}")]
    Keeper {
        keeper: String,
        endpoint: String,
        reason: String,
    },
    /// Not enough keepers answered.
    #[error("not enough keepers: {reason}")]
    Keepers { reason: String },
    /// Fewer than t acknowledgements before the timeout.
    #[error(
        "only {acked} of the {threshold} needed keeper acknowledgements arrived within {secs}s (dataset {dataset_id} stays Pending; keepers: {details})"
    )]
    AckTimeout {
        dataset_id: u64,
        acked: usize,
        threshold: usize,
        secs: u64,
        details: String,
    },
    /// A command argument is invalid.
    #[error("invalid {arg}: {reason}")]
    InvalidArg { arg: &'static str, reason: String },
    /// The dataset does not exist or belongs to someone else.
    #[error("dataset {dataset_id}: {reason}")]
    Dataset { dataset_id: u64, reason: String },
    /// Publishing failed after some side effects; `state` says exactly what exists now.
    #[error("{source}\n  state after failure: {state}")]
    Partial {
        state: String,
        #[source]
        source: Box<UserError>,
    },
    /// Local state directory problem.
    #[error("local state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    /// A shared client flow failed (phd-sdk) in a way no variant above names.
    #[error(transparent)]
    Sdk(phd_sdk::SdkError),
    /// JSON (de)serialisation of our own documents.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl UserError {
    /// Chain error with context.
    pub(crate) fn chain(context: impl Into<String>, e: impl Into<BoxError>) -> Self {
        UserError::Chain {
            context: context.into(),
            source: e.into(),
        }
    }
    /// Key error with context.
    pub(crate) fn keys(context: impl Into<String>, e: impl Into<BoxError>) -> Self {
        UserError::Keys {
            context: context.into(),
            source: e.into(),
        }
    }
}

impl From<phd_sdk::SdkError> for UserError {
    /// Keeps the owner's variants for what they already named (so callers matching on
    /// `Dataset`/`Chain`/`Storage` see no change when a flow moved down into phd-sdk).
    fn from(e: phd_sdk::SdkError) -> Self {
        match e {
            phd_sdk::SdkError::Dataset { dataset_id, reason } => {
                UserError::Dataset { dataset_id, reason }
            }
            phd_sdk::SdkError::Chain { context, source } => UserError::Chain { context, source },
            phd_sdk::SdkError::Storage { context, source } => {
                UserError::Storage { context, source }
            }
            phd_sdk::SdkError::InvalidArg {
                arg: "public key",
                reason,
            } => UserError::InvalidArg {
                arg: "--pubkey",
                reason,
            },
            other => UserError::Sdk(other),
        }
    }
}
