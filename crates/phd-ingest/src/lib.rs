//! phd-ingest: sensor data in, pseudonymised canonical data out.
//!
//! * [`SensorTable`] — the in-memory data model (time + numeric channels + string attributes,
//!   grouped into recordings with optional labels).
//! * Readers with hostile-input limits: [`read_csv`], [`read_ts`] (BasicMotions / UEA `.ts`).
//! * [`write_canonical_csv`] — the deterministic plaintext that gets sealed.
//! * [`pseudonymise`] — drop / keyed-hash / coarsen identifier columns (GDPR Art. 5/25/32).
//! * [`DatasetMetadata`] — versioned, ≤ 4 KiB, canonical JSON + SHA-256 hash.
//! * Real wearable input: device column names and units → canonical channels ([`aliases`]),
//!   sample-rate detection and anti-aliased resampling ([`resample`]), Open mHealth ([`omh`])
//!   and FHIR `Observation`/`SampledData` ([`fhir`]) import and export, all behind
//!   [`read_input`] + [`normalise`].

pub mod aliases;
mod canonical;
mod error;
pub mod fhir;
mod input;
mod interchange;
mod metadata;
pub mod omh;
mod pseudo;
mod read;
pub mod resample;
mod table;
mod timefmt;

pub use aliases::{ColumnMapping, ColumnReport, map_columns};
pub use canonical::{CANONICAL_FORMAT, canonical_csv_bytes, write_canonical_csv};
pub use error::{IngestError, Result};
pub use fhir::{read_fhir, write_fhir};
pub use input::{
    ExportFormat, InputOptions, InputReport, export_canonical, normalise, read_input,
    retain_channels,
};
pub use interchange::{InputFormat, MAX_INTERCHANGE_BYTES, detect_format};
pub use metadata::{
    CoarseAttributes, DatasetMetadata, DeviceInfo, METADATA_MAX_BYTES, METADATA_VERSION,
    QualitySummary, TimeRange,
};
pub use omh::{read_omh, write_omh};
pub use pseudo::{
    ColumnAction, ColumnClass, HASH_HEX_LEN, PseudonymisePolicy, PseudonymiseReport,
    classify_column, coarsen_age, coarsen_weight, keyed_hash, pseudonymise,
};
pub use read::{
    LimitedLineReader, NonFinitePolicy, ReadLimits, ReadOptions, TIME_CANDIDATES, TimeUnitHint,
    read_csv, read_csv_path, read_ts, read_ts_path, time_column_index, time_units_per_second,
};
pub use resample::{RateEstimate, detect_rate, resample};
pub use table::{Attribute, SensorTable, TimeUnit};
