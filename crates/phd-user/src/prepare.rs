//! Step 1 of the workflow: read → hardware check → quality → pseudonymise → canonical CSV →
//! metadata. Pure local work (no chain, no storage), so it is testable on its own.

use std::path::{Path, PathBuf};

use phd_ingest::{
    CoarseAttributes, DatasetMetadata, DeviceInfo, InputFormat, InputOptions, InputReport,
    PseudonymisePolicy, PseudonymiseReport, QualitySummary, ReadOptions, SensorTable, TimeRange,
};

use crate::error::{BoxError, Result, UserError};

/// What a successful quality assessment returns.
#[derive(Debug, Clone)]
pub struct QualityOutcome {
    /// The table with dropped windows removed (these rows never reach the sealed data).
    pub table: SensorTable,
    /// Score, model id, windows kept/dropped, for the metadata.
    pub summary: QualitySummary,
    /// The channels the model scored (every other sensor channel went unchecked).
    pub checked_channels: Vec<String>,
}

/// Pluggable quality model (the default wraps phd-quality).
pub trait QualityCheck: Send + Sync + std::fmt::Debug {
    /// Scores `table`; keeps only windows whose activity is in `keep_classes` (all when empty)
    /// and that are not judged noise.
    fn assess(
        &self,
        table: &SensorTable,
        keep_classes: &[String],
    ) -> std::result::Result<QualityOutcome, BoxError>;

    /// The sample rate the model scores at: input at another rate is resampled to it first.
    /// `None`: the model takes any rate.
    fn sample_rate_hz(&self) -> Option<f64> {
        None
    }
}

/// A verified device recording signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDevice {
    /// Manufacturer account that signed the device certificate (0x-hex); must be approved on-chain.
    pub manufacturer: String,
    /// Device model.
    pub model: String,
}

/// Pluggable hardware check (the default wraps phd-device).
pub trait HardwareCheck: Send + Sync + std::fmt::Debug {
    /// Verifies `sig_path` (`<FILE>.sig.json`) over the bytes of `data_path`.
    fn verify(
        &self,
        data_path: &Path,
        sig_path: &Path,
    ) -> std::result::Result<VerifiedDevice, BoxError>;
}

/// Inputs of [`prepare`].
#[derive(Debug, Clone, Default)]
pub struct PrepareOptions {
    /// Activities to keep (`--keep walking,running`); empty = all.
    pub keep_classes: Vec<String>,
    /// Columns to keep as-is (override the classifier).
    pub keep_columns: Vec<String>,
    /// Columns to drop.
    pub drop_columns: Vec<String>,
    /// Title for the metadata (default: the file stem).
    pub title: Option<String>,
    /// Data type (default: derived from the channel names).
    pub data_type: Option<String>,
    /// Consented purposes (names) for the metadata.
    pub purposes: Vec<String>,
    /// 0x SHA-256 of the consent terms.
    pub consent_terms_hash: String,
    /// Sampling rate if the file does not say.
    pub sampling_rate_hz: Option<f64>,
    /// Owner HMAC key for keyed hashes (≥ 16 bytes).
    pub pseudonym_key: Vec<u8>,
    /// Refuse files without a valid device signature.
    pub require_certified: bool,
    /// Input format (`None`: from the extension, or the content for JSON).
    pub input_format: Option<InputFormat>,
    /// Keep sensor channels the quality model does not check (listed in the metadata's
    /// `unchecked_channels`); by default they are dropped, with a report line.
    pub keep_unchecked: bool,
}

/// Output of [`prepare`].
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Canonical CSV bytes: exactly what gets sealed.
    pub canonical: Vec<u8>,
    /// The metadata (plaintext_bytes filled in).
    pub metadata: DatasetMetadata,
    /// Canonical metadata JSON (≤ 4 KiB), goes on-chain.
    pub metadata_json: Vec<u8>,
    /// What pseudonymisation did.
    pub pseudonymisation: PseudonymiseReport,
    /// Device, when a signature verified (manufacturer still to be checked on-chain).
    pub device: Option<VerifiedDevice>,
    /// Rows read / rows kept.
    pub rows_read: usize,
    /// Rows after quality filtering.
    pub rows_kept: usize,
    /// Column mapping, unit conversions, sample rate and resampling.
    pub input: InputReport,
    /// Sensor channels the model did not check, dropped (default) …
    pub unchecked_dropped: Vec<String>,
    /// … or kept on `keep_unchecked` (also in the metadata).
    pub unchecked_kept: Vec<String>,
}

impl Prepared {
    /// What happened to the input, one line each (CLI output).
    pub fn input_lines(&self) -> Vec<String> {
        let mut v = self.input.lines();
        if !self.unchecked_dropped.is_empty() {
            v.push(format!(
                "dropped channels the quality model does not check: {} (--keep-unchecked keeps them, listed as unchecked)",
                self.unchecked_dropped.join(", ")
            ));
        }
        if !self.unchecked_kept.is_empty() {
            v.push(format!(
                "kept unchecked channels (listed in the metadata): {}",
                self.unchecked_kept.join(", ")
            ));
        }
        v
    }
}

/// Where the device signature of `file` lives: `<FILE>.sig.json`.
pub fn signature_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_os_string();
    s.push(".sig.json");
    PathBuf::from(s)
}

/// Reads a `.csv` (time column), `.ts` (BasicMotions), Open mHealth or FHIR file (`format`, or
/// detected from the extension / JSON content).
pub fn read_table(
    file: &Path,
    format: Option<InputFormat>,
    sampling_rate_hz: Option<f64>,
) -> Result<SensorTable> {
    let opts = ReadOptions {
        sampling_rate_hz,
        ..ReadOptions::default()
    };
    let format = match format {
        Some(f) => f,
        None => phd_ingest::detect_format(file)
            .map_err(|e| UserError::Ingest {
                path: file.to_path_buf(),
                source: Box::new(e),
            })?
            .ok_or_else(|| UserError::UnsupportedFormat {
                path: file.to_path_buf(),
            })?,
    };
    let table =
        phd_ingest::read_input(file, Some(format), &opts).map_err(|e| UserError::Ingest {
            path: file.to_path_buf(),
            source: Box::new(e),
        })?;
    if table.is_empty() {
        return Err(UserError::Ingest {
            path: file.to_path_buf(),
            source: "the file contains no samples".into(),
        });
    }
    Ok(table)
}

/// Runs the local part of `publish`. `quality`/`hardware` are the pluggable checks
/// (`None` = step skipped, noted in the metadata as no quality / uncertified).
pub fn prepare(
    file: &Path,
    opts: &PrepareOptions,
    quality: Option<&dyn QualityCheck>,
    hardware: Option<&dyn HardwareCheck>,
) -> Result<Prepared> {
    if !file.is_file() {
        return Err(UserError::Read {
            path: file.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    // Hardware check: a signature that exists must verify; --require-certified demands one.
    let sig = signature_path(file);
    let device = if sig.is_file() || opts.require_certified {
        if !sig.is_file() {
            return Err(UserError::Hardware {
                path: file.to_path_buf(),
                reason: format!(
                    "--require-certified given but {} does not exist",
                    sig.display()
                ),
            });
        }
        let Some(hw) = hardware else {
            return Err(UserError::Hardware {
                path: file.to_path_buf(),
                reason:
                    "device signature present but no device verifier is available in this build"
                        .into(),
            });
        };
        let dev = hw.verify(file, &sig).map_err(|e| UserError::Hardware {
            path: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        Some(dev)
    } else {
        None
    };

    let table = read_table(file, opts.input_format, opts.sampling_rate_hz)?;
    let rows_read = table.len();
    // Device names and units → canonical; the model's rate (resampled when it differs).
    let input_opts = InputOptions {
        target_rate_hz: quality.and_then(|q| q.sample_rate_hz()),
    };
    let (table, input) =
        phd_ingest::normalise(table, &input_opts).map_err(|e| UserError::Ingest {
            path: file.to_path_buf(),
            source: Box::new(e),
        })?;
    let mut unchecked_dropped = Vec::new();
    let mut unchecked_kept = Vec::new();

    let (table, quality_summary) = match quality {
        Some(q) => {
            let out = q
                .assess(&table, &opts.keep_classes)
                .map_err(|e| UserError::Quality {
                    reason: e.to_string(),
                })?;
            // A channel the model never looked at must not ride along as if checked.
            let (checked, unchecked) =
                phd_ingest::retain_channels(&out.table, &out.checked_channels);
            let table = if opts.keep_unchecked {
                unchecked_kept = unchecked;
                out.table
            } else {
                unchecked_dropped = unchecked;
                checked
            };
            (table, Some(out.summary))
        }
        None if !opts.keep_classes.is_empty() => {
            // Without the model, --keep still filters on recording labels.
            let keep: Vec<bool> = table
                .recording
                .iter()
                .map(|r| {
                    table
                        .labels
                        .get(*r as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|l| {
                            opts.keep_classes.iter().any(|k| k.eq_ignore_ascii_case(l))
                        })
                })
                .collect();
            let t = table.filter_rows(&keep).map_err(|e| UserError::Quality {
                reason: e.to_string(),
            })?;
            (t, None)
        }
        None => (table, None),
    };
    if table.is_empty() {
        return Err(UserError::Quality {
            reason: "no windows left after quality filtering / --keep; nothing to publish".into(),
        });
    }
    let rows_kept = table.len();

    let policy = PseudonymisePolicy {
        drop: opts.drop_columns.clone(),
        keep: opts.keep_columns.clone(),
        ..PseudonymisePolicy::default()
    };
    let (table, report) =
        phd_ingest::pseudonymise(&table, &policy, &opts.pseudonym_key).map_err(|e| {
            UserError::Pseudonymise {
                source: Box::new(e),
            }
        })?;
    let canonical =
        phd_ingest::canonical_csv_bytes(&table).map_err(|e| UserError::Pseudonymise {
            source: Box::new(e),
        })?;

    let attributes = coarse_attributes(&table);
    let metadata = DatasetMetadata {
        version: phd_ingest::METADATA_VERSION,
        title: opts.title.clone().unwrap_or_else(|| {
            file.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("dataset")
                .to_string()
        }),
        data_type: opts
            .data_type
            .clone()
            .unwrap_or_else(|| data_type_of(&table)),
        format: phd_ingest::CANONICAL_FORMAT.to_string(),
        sampling_rate_hz: table.sampling_rate_hz,
        resampled_from_hz: input
            .resampled_to_hz
            .and(input.source_rate)
            .map(|r| (r.rate_hz * 1000.0).round() / 1000.0),
        time_range: table
            .time_range()
            .map(|(start_s, end_s)| TimeRange { start_s, end_s }),
        sample_count: table.len() as u64,
        plaintext_bytes: canonical.len() as u64,
        quality: quality_summary,
        device: device.as_ref().map(|d| DeviceInfo {
            manufacturer: d.manufacturer.clone(),
            model: d.model.clone(),
            certified: true,
        }),
        attributes,
        unchecked_channels: (!unchecked_kept.is_empty()).then(|| unchecked_kept.clone()),
        consented_purposes: opts.purposes.clone(),
        consent_terms_hash: opts.consent_terms_hash.clone(),
    };
    let metadata_json = metadata
        .to_canonical_json()
        .map_err(|e| UserError::Metadata {
            source: Box::new(e),
        })?;
    Ok(Prepared {
        canonical,
        metadata,
        metadata_json,
        pseudonymisation: report,
        device,
        rows_read,
        rows_kept,
        input,
        unchecked_dropped,
        unchecked_kept,
    })
}

/// `accelerometer+gyroscope`, `heart-rate`, `ecg`, ... from the channel names.
fn data_type_of(t: &SensorTable) -> String {
    let has = |p: &[&str]| {
        t.channel_names.iter().any(|n| {
            let n = n.to_ascii_lowercase();
            p.iter().any(|p| n.starts_with(p))
        })
    };
    let mut kinds = Vec::new();
    if has(&["acc"]) {
        kinds.push("accelerometer");
    }
    if has(&["gyr"]) {
        kinds.push("gyroscope");
    }
    if has(&["hr", "heart"]) {
        kinds.push("heart-rate");
    }
    if has(&["ecg"]) {
        kinds.push("ecg");
    }
    if kinds.is_empty() {
        "sensor".into()
    } else {
        kinds.join("+")
    }
}

/// Coarse attributes when constant over the whole table (after pseudonymisation).
fn coarse_attributes(t: &SensorTable) -> Option<CoarseAttributes> {
    let constant = |name: &str| {
        t.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .and_then(|a| {
                let first = a.values.first()?;
                a.values.iter().all(|v| v == first).then(|| first.clone())
            })
    };
    let a = CoarseAttributes {
        sex: constant("sex"),
        age_band: constant("age"),
        weight_band: constant("weight"),
    };
    (a.sex.is_some() || a.age_band.is_some() || a.weight_band.is_some()).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> PrepareOptions {
        PrepareOptions {
            purposes: vec!["research".into()],
            consent_terms_hash: DatasetMetadata::hash_terms("terms"),
            pseudonym_key: vec![7u8; 32],
            ..PrepareOptions::default()
        }
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = prepare(Path::new("/nonexistent/x.csv"), &opts(), None, None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.csv"), "{err}");
    }

    #[test]
    fn unsupported_extension() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.xlsx");
        std::fs::write(&p, b"abc").unwrap();
        let err = prepare(&p, &opts(), None, None).unwrap_err();
        assert!(matches!(err, UserError::UnsupportedFormat { .. }), "{err}");
    }

    #[test]
    fn malformed_csv_names_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.csv");
        std::fs::write(&p, "time,acc_x\n0.0,1.0\n0.1,abc\n").unwrap();
        let err = prepare(&p, &opts(), None, None).unwrap_err();
        let s = err.to_string();
        assert!(s.contains("line 3") && s.contains("abc"), "{s}");
    }

    #[test]
    fn csv_is_pseudonymised_and_described() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("walk.csv");
        std::fs::write(
            &p,
            "time,acc_x,acc_y,name,age\n0.0,1.0,2.0,Alice,34\n0.1,1.5,2.5,Alice,34\n",
        )
        .unwrap();
        let prep = prepare(&p, &opts(), None, None).unwrap();
        let csv = String::from_utf8(prep.canonical.clone()).unwrap();
        assert!(!csv.contains("Alice"), "{csv}");
        assert_eq!(prep.metadata.sample_count, 2);
        assert_eq!(prep.metadata.data_type, "accelerometer");
        assert_eq!(prep.metadata.plaintext_bytes, prep.canonical.len() as u64);
        assert!(prep.metadata_json.len() <= 4096);
    }

    #[test]
    fn require_certified_without_signature_refuses() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("walk.csv");
        std::fs::write(&p, "time,acc_x\n0.0,1.0\n").unwrap();
        let o = PrepareOptions {
            require_certified: true,
            ..opts()
        };
        let err = prepare(&p, &o, None, None).unwrap_err();
        assert!(matches!(err, UserError::Hardware { .. }), "{err}");
    }
}
