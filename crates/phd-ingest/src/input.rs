//! From a device file to the table the quality model scores: read any supported format, map
//! column names and units ([`crate::aliases`]), detect the sample rate and resample to the
//! model's rate ([`crate::resample`]), and report all of it.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::aliases::{ColumnReport, map_columns};
use crate::error::{IngestError, Result};
use crate::interchange::{InputFormat, detect_format};
use crate::read::ReadOptions;
use crate::resample::{RateEstimate, detect_rate, rate_matches, resample};
use crate::table::SensorTable;

/// What [`normalise`] should produce.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InputOptions {
    /// Resample to this rate (the quality model's). `None`: keep the source rate (it is still
    /// detected, for the metadata).
    pub target_rate_hz: Option<f64>,
}

/// What happened to the input on its way in (CLI output, and the owner's record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputReport {
    /// Renames and unit conversions; channels that are no known sensor.
    pub columns: ColumnReport,
    /// Detected source rate (`None`: could not be determined and no target was asked for).
    pub source_rate: Option<RateEstimate>,
    /// Set when the data was resampled to this rate.
    pub resampled_to_hz: Option<f64>,
}

impl InputReport {
    /// One line per thing that happened, for the CLI.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.columns.mapped {
            out.push(match &m.unit {
                Some(u) if m.factor != 1.0 => format!(
                    "column `{}` → `{}` (converted from {u}, × {})",
                    m.source, m.canonical, m.factor
                ),
                _ => format!("column `{}` → `{}`", m.source, m.canonical),
            });
        }
        match (&self.source_rate, self.resampled_to_hz) {
            (Some(r), Some(t)) => out.push(format!(
                "sample rate {:.3} Hz resampled to {t} Hz (low-pass before decimation, {} gap(s) kept)",
                r.rate_hz, r.gaps
            )),
            (Some(r), None) => out.push(format!("sample rate {:.3} Hz", r.rate_hz)),
            (None, _) => out.push("sample rate: not determined".into()),
        }
        out
    }
}

/// Maps columns, detects the rate and resamples to `opts.target_rate_hz` when it differs by
/// more than [`crate::resample::RATE_TOLERANCE`]. With a target, an undeterminable rate is an
/// error ([`IngestError::RateUndetermined`]): the model must not score data at a guessed rate.
pub fn normalise(table: SensorTable, opts: &InputOptions) -> Result<(SensorTable, InputReport)> {
    let (mut table, columns) = map_columns(table)?;
    let mut report = InputReport {
        columns,
        ..InputReport::default()
    };
    let rate = match detect_rate(&table) {
        Ok(r) => Some(r),
        Err(e) if opts.target_rate_hz.is_some() => return Err(e),
        Err(_) => None,
    };
    report.source_rate = rate;
    if let (Some(r), Some(target)) = (rate, opts.target_rate_hz) {
        if rate_matches(r.rate_hz, target) {
            table.sampling_rate_hz = Some(table.sampling_rate_hz.unwrap_or(target));
        } else {
            table = resample(&table, &r, target)?;
            report.resampled_to_hz = Some(target);
        }
    } else if let (Some(r), None) = (rate, table.sampling_rate_hz) {
        table.sampling_rate_hz = Some((r.rate_hz * 1000.0).round() / 1000.0);
    }
    Ok((table, report))
}

/// Reads a file in `format` (detected from the extension / content when `None`).
pub fn read_input(
    path: &Path,
    format: Option<InputFormat>,
    opts: &ReadOptions,
) -> Result<SensorTable> {
    let format = match format {
        Some(f) => f,
        None => detect_format(path)?.ok_or_else(|| IngestError::Interchange {
            format: "input",
            reason: format!(
                "{}: unknown format (csv, ts, or JSON with Open mHealth `schema_id` / FHIR `resourceType`)",
                path.display()
            ),
        })?,
    };
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| IngestError::Open {
                path: path.to_owned(),
                source,
            })
    };
    match format {
        InputFormat::Csv => crate::read::read_csv(open()?, opts),
        InputFormat::Ts => crate::read::read_ts(open()?, opts),
        InputFormat::Omh => crate::omh::read_omh(open()?, &opts.limits),
        InputFormat::Fhir => crate::fhir::read_fhir(open()?, &opts.limits),
    }
}

/// Output formats for bought data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// The canonical CSV as sealed (byte-identical to what the owner listed).
    #[default]
    Csv,
    /// Open mHealth data points.
    Omh,
    /// FHIR R4 Bundle of Observations.
    Fhir,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "omh" | "openmhealth" | "ieee1752" => Ok(Self::Omh),
            "fhir" => Ok(Self::Fhir),
            other => Err(format!("unknown format `{other}` (csv, omh, fhir)")),
        }
    }
}

/// Converts canonical CSV bytes (what a buyer decrypts) into `format`.
pub fn export_canonical(csv: &[u8], format: ExportFormat) -> Result<Vec<u8>> {
    if format == ExportFormat::Csv {
        return Ok(csv.to_vec());
    }
    let table = crate::read::read_csv(csv, &ReadOptions::default())?;
    let mut out = Vec::with_capacity(csv.len() * 3);
    match format {
        ExportFormat::Csv => {}
        ExportFormat::Omh => crate::omh::write_omh(&table, &mut out)?,
        ExportFormat::Fhir => crate::fhir::write_fhir(&table, &mut out)?,
    }
    Ok(out)
}

/// Splits `table`'s channels into those in `checked` and the rest: returns the table with only
/// the checked channels (attributes kept) and the names of the channels removed.
pub fn retain_channels(table: &SensorTable, checked: &[String]) -> (SensorTable, Vec<String>) {
    let mut out = table.clone();
    let mut removed = Vec::new();
    let mut names = Vec::new();
    let mut cols = Vec::new();
    for (n, c) in table.channel_names.iter().zip(&table.channels) {
        if checked.iter().any(|k| k == n) {
            names.push(n.clone());
            cols.push(c.clone());
        } else {
            removed.push(n.clone());
        }
    }
    out.channel_names = names;
    out.channels = cols;
    (out, removed)
}
