use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Everything that can go wrong while ingesting. Line numbers are 1-based, columns 1-based.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("read error at line {line}: {source}")]
    Io { line: u64, source: std::io::Error },
    #[error("line {line} is longer than the limit of {max} bytes")]
    LineTooLong { line: u64, max: usize },
    #[error("line {line}: {found} columns exceed the limit of {max}")]
    TooManyColumns { line: u64, found: usize, max: usize },
    #[error("more than {max} rows")]
    TooManyRows { max: usize },
    #[error("line {line} is not valid UTF-8")]
    NotUtf8 { line: u64 },
    #[error("input is empty (no header / no data)")]
    Empty,
    #[error("line {line}: expected {expected} columns, found {found}")]
    ColumnCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}, column {column} ({name}): `{value}` is not a number")]
    NotANumber {
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error("line {line}, column {column} ({name}): non-finite value `{value}` rejected by policy")]
    NonFinite {
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error(
        "line {line}: time {time} is not after the previous time {previous} (recording {recording})"
    )]
    NonMonotonicTime {
        line: u64,
        recording: u32,
        previous: f64,
        time: f64,
    },
    #[error("no time column found (looked for {candidates:?}); set ReadOptions::time_column")]
    NoTimeColumn { candidates: Vec<String> },
    #[error("duplicate column name `{name}`")]
    DuplicateColumn { name: String },
    #[error("empty column name at column {column}")]
    EmptyColumnName { column: usize },
    #[error("line {line}: malformed .ts data: {reason}")]
    TsFormat { line: u64, reason: String },
    #[error("line {line}: channel {channel} has {found} samples, expected {expected}")]
    TsLength {
        line: u64,
        channel: usize,
        found: usize,
        expected: usize,
    },
    #[error("invalid sampling rate {rate}")]
    BadSamplingRate { rate: f64 },
    #[error("column `{name}` is not classified; list it in the policy's keep or drop")]
    UnclassifiedColumn { name: String },
    #[error(
        "column `{column}` row {row}: value looks like an identifier ({kind}); refusing to keep it"
    )]
    IdentifierInKeptColumn {
        column: String,
        row: usize,
        kind: &'static str,
    },
    #[error("column `{column}` row {row}: `{value}` cannot be coarsened (not a number in range)")]
    NotCoarsenable {
        column: String,
        row: usize,
        value: String,
    },
    #[error(
        "column `{column}` is both a channel and must be {action}; only attribute columns can be {action}"
    )]
    ChannelPolicy {
        column: String,
        action: &'static str,
    },
    #[error("keyed hashing requires a non-empty owner key of at least 16 bytes")]
    WeakKey,
    #[error("column `{column}` row {row}: non-finite value cannot be written to canonical output")]
    NonFiniteOutput { column: String, row: usize },
    #[error("write error: {source}")]
    Write { source: std::io::Error },
    #[error("table is inconsistent: {reason}")]
    Inconsistent { reason: String },
    #[error("metadata is {size} bytes, over the limit of {max}")]
    MetadataTooLarge { size: usize, max: usize },
    #[error("metadata version {found} unsupported (expected {expected})")]
    MetadataVersion { found: u32, expected: u32 },
    #[error("metadata JSON: {source}")]
    MetadataJson { source: serde_json::Error },
    #[error(
        "columns {columns:?} all mean `{canonical}`; keep one (drop the others before publishing)"
    )]
    AmbiguousColumns {
        canonical: String,
        columns: Vec<String>,
    },
    #[error("column `{column}`: unit `{unit}` is not a unit of {quantity} (accepted: {accepted})")]
    ColumnUnit {
        column: String,
        unit: String,
        quantity: &'static str,
        accepted: &'static str,
    },
    #[error("cannot determine the sample rate: {reason}")]
    RateUndetermined { reason: String },
    #[error(
        "sample rate {rate_hz:.3} Hz is outside what can be resampled to {target_hz} Hz (accepted {min_hz}..={max_hz} Hz)"
    )]
    RateOutOfRange {
        rate_hz: f64,
        target_hz: f64,
        min_hz: f64,
        max_hz: f64,
    },
    #[error("{format} input is {size} bytes, over the limit of {max}")]
    InputTooLarge {
        format: &'static str,
        size: u64,
        max: u64,
    },
    #[error("{format} input: {reason}")]
    Interchange {
        format: &'static str,
        reason: String,
    },
    #[error("{format} export: channel `{channel}` has no mapping in this format")]
    ExportChannel {
        format: &'static str,
        channel: String,
    },
}
