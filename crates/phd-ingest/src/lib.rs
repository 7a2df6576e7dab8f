//! phd-ingest: sensor data in, pseudonymised canonical data out.
//!
//! * [`SensorTable`] — the in-memory data model (time + numeric channels + string attributes,
//!   grouped into recordings with optional labels).
//! * Readers with hostile-input limits: [`read_csv`], [`read_ts`] (BasicMotions / UEA `.ts`).
//! * [`write_canonical_csv`] — the deterministic plaintext that gets sealed.
//! * [`pseudonymise`] — drop / keyed-hash / coarsen identifier columns (GDPR Art. 5/25/32).
//! * [`DatasetMetadata`] — versioned, ≤ 4 KiB, canonical JSON + SHA-256 hash.

mod canonical;
mod error;
mod metadata;
mod pseudo;
mod read;
mod table;

pub use canonical::{CANONICAL_FORMAT, canonical_csv_bytes, write_canonical_csv};
pub use error::{IngestError, Result};
pub use metadata::{
    CoarseAttributes, DatasetMetadata, DeviceInfo, METADATA_MAX_BYTES, METADATA_VERSION,
    QualitySummary, TimeRange,
};
pub use pseudo::{
    ColumnAction, ColumnClass, HASH_HEX_LEN, PseudonymisePolicy, PseudonymiseReport,
    classify_column, coarsen_age, coarsen_weight, keyed_hash, pseudonymise,
};
pub use read::{
    LimitedLineReader, NonFinitePolicy, ReadLimits, ReadOptions, TimeUnitHint, read_csv,
    read_csv_path, read_ts, read_ts_path,
};
pub use table::{Attribute, SensorTable, TimeUnit};
