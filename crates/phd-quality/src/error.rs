use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = QualityError> = std::result::Result<T, E>;

/// Errors of the quality layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QualityError {
    #[error(transparent)]
    Ingest(#[from] phd_ingest::IngestError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a quality model ({source})")]
    ModelDecode {
        path: PathBuf,
        source: bincode::Error,
    },
    #[error("{path}: bad magic, not a phd quality model file")]
    BadMagic { path: PathBuf },
    #[error("model format version {found} unsupported (expected {expected})")]
    ModelVersion { found: u32, expected: u32 },
    #[error("model encode: {source}")]
    ModelEncode { source: bincode::Error },
    #[error("channel `{name}` required by the model is missing (table has {available:?})")]
    MissingChannel {
        name: String,
        available: Vec<String>,
    },
    #[error("no model variant fits channels {available:?}")]
    NoVariant { available: Vec<String> },
    #[error("training {what} failed: {reason}")]
    Train { what: &'static str, reason: String },
    #[error("prediction failed: {reason}")]
    Predict { reason: String },
    #[error("{path}: no labelled recordings")]
    NoData { path: PathBuf },
    #[error("invalid configuration: {reason}")]
    BadConfig { reason: String },
}
