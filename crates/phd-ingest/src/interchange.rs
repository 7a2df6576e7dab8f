//! What the Open mHealth and FHIR readers/writers share: bounded input, the row assembler
//! (samples keyed by recording and time → a [`SensorTable`]), input-format detection.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};
use crate::table::{Attribute, SensorTable, TimeUnit};

/// Largest JSON document read by the Open mHealth / FHIR readers (they hold it in memory).
pub const MAX_INTERCHANGE_BYTES: u64 = 512 << 20;

/// Reads at most `max` bytes; more is [`IngestError::InputTooLarge`].
pub(crate) fn read_bounded(mut r: impl Read, max: u64, format: &'static str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut r)
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|source| IngestError::Io { line: 0, source })?;
    if buf.len() as u64 > max {
        return Err(IngestError::InputTooLarge {
            format,
            size: buf.len() as u64,
            max,
        });
    }
    Ok(buf)
}

/// Input formats `phd-user publish` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// CSV with a header and a time column.
    Csv,
    /// UEA/sktime `.ts` (BasicMotions).
    Ts,
    /// Open mHealth / IEEE 1752.1 data points (JSON array or one per line).
    Omh,
    /// FHIR R4 `Observation`s with `valueSampledData` (one, a `Bundle`, or NDJSON).
    Fhir,
}

impl std::str::FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "ts" => Ok(Self::Ts),
            "omh" | "openmhealth" | "ieee1752" => Ok(Self::Omh),
            "fhir" => Ok(Self::Fhir),
            other => Err(format!(
                "unknown input format `{other}` (csv, ts, omh, fhir)"
            )),
        }
    }
}

/// Format of a file: by extension for `.csv`/`.ts`, by content for JSON (`resourceType` → FHIR,
/// `schema_id` → Open mHealth). `None` when neither tells.
pub fn detect_format(path: &Path) -> Result<Option<InputFormat>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => return Ok(Some(InputFormat::Csv)),
        Some("ts") => return Ok(Some(InputFormat::Ts)),
        _ => {}
    }
    let f = std::fs::File::open(path).map_err(|source| IngestError::Open {
        path: path.to_owned(),
        source,
    })?;
    let mut head = Vec::new();
    f.take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(|source| IngestError::Io { line: 0, source })?;
    let text = String::from_utf8_lossy(&head);
    let first = text.trim_start_matches('\u{feff}').trim_start();
    if !(first.starts_with('{') || first.starts_with('[')) {
        return Ok(None);
    }
    Ok(if text.contains("\"resourceType\"") {
        Some(InputFormat::Fhir)
    } else if text.contains("\"schema_id\"") {
        Some(InputFormat::Omh)
    } else {
        None
    })
}

/// Builds a table from samples that arrive in any order, keyed by (recording, time in µs).
#[derive(Debug)]
pub(crate) struct Assembler {
    format: &'static str,
    max_rows: usize,
    max_columns: usize,
    rows: BTreeMap<(u32, i64), usize>,
    channels: Vec<(String, Vec<f64>)>,
    attributes: Vec<(String, Vec<Option<String>>)>,
    labels: BTreeMap<u32, String>,
}

impl Assembler {
    pub(crate) fn new(format: &'static str, max_rows: usize, max_columns: usize) -> Self {
        Self {
            format,
            max_rows,
            max_columns,
            rows: BTreeMap::new(),
            channels: Vec::new(),
            attributes: Vec::new(),
            labels: BTreeMap::new(),
        }
    }

    fn bad(&self, reason: String) -> IngestError {
        IngestError::Interchange {
            format: self.format,
            reason,
        }
    }

    fn row(&mut self, recording: u32, t: f64) -> Result<usize> {
        if !t.is_finite() {
            return Err(self.bad(format!("non-finite time {t}")));
        }
        let key = (recording, (t * 1e6).round() as i64);
        let next = self.rows.len();
        let row = *self.rows.entry(key).or_insert(next);
        if row == next {
            if next >= self.max_rows {
                return Err(IngestError::TooManyRows { max: self.max_rows });
            }
            for (_, c) in &mut self.channels {
                c.push(f64::NAN);
            }
            for (_, a) in &mut self.attributes {
                a.push(None);
            }
        }
        Ok(row)
    }

    /// Sets one channel value; the same (recording, time, channel) twice with different values
    /// is an error (two devices claiming one instant).
    pub(crate) fn set(&mut self, recording: u32, t: f64, channel: &str, v: f64) -> Result<()> {
        let row = self.row(recording, t)?;
        let c = match self.channels.iter().position(|(n, _)| n == channel) {
            Some(c) => c,
            None => {
                if self.channels.len() + self.attributes.len() >= self.max_columns {
                    return Err(IngestError::TooManyColumns {
                        line: 0,
                        found: self.channels.len() + self.attributes.len() + 1,
                        max: self.max_columns,
                    });
                }
                self.channels
                    .push((channel.to_owned(), vec![f64::NAN; self.rows.len()]));
                self.channels.len() - 1
            }
        };
        let prev = self.channels[c].1[row];
        if !prev.is_nan() && prev.to_bits() != v.to_bits() {
            return Err(self.bad(format!(
                "two different values for `{channel}` at t = {t} s (recording {recording})"
            )));
        }
        self.channels[c].1[row] = v;
        Ok(())
    }

    pub(crate) fn set_attribute(
        &mut self,
        recording: u32,
        t: f64,
        name: &str,
        value: &str,
    ) -> Result<()> {
        let row = self.row(recording, t)?;
        let a = match self.attributes.iter().position(|(n, _)| n == name) {
            Some(a) => a,
            None => {
                if self.channels.len() + self.attributes.len() >= self.max_columns {
                    return Err(IngestError::TooManyColumns {
                        line: 0,
                        found: self.channels.len() + self.attributes.len() + 1,
                        max: self.max_columns,
                    });
                }
                self.attributes
                    .push((name.to_owned(), vec![None; self.rows.len()]));
                self.attributes.len() - 1
            }
        };
        self.attributes[a].1[row] = Some(value.to_owned());
        Ok(())
    }

    pub(crate) fn label(&mut self, recording: u32, label: &str) -> Result<()> {
        match self.labels.get(&recording) {
            Some(l) if l != label => Err(self.bad(format!(
                "recording {recording} has two labels `{l}` and `{label}`"
            ))),
            _ => {
                self.labels.insert(recording, label.to_owned());
                Ok(())
            }
        }
    }

    /// Rows sorted by (recording, time); recording ids renumbered 0.. in order.
    pub(crate) fn finish(self) -> Result<SensorTable> {
        if self.rows.is_empty() {
            return Err(IngestError::Empty);
        }
        let n = self.rows.len();
        let mut time = Vec::with_capacity(n);
        let mut recording = Vec::with_capacity(n);
        let mut order = Vec::with_capacity(n);
        let mut ids: Vec<u32> = Vec::new();
        for (&(rec, t_us), &row) in &self.rows {
            if ids.last() != Some(&rec) {
                ids.push(rec);
            }
            time.push(t_us as f64 / 1e6);
            recording.push((ids.len() - 1) as u32);
            order.push(row);
        }
        let labels = ids.iter().map(|r| self.labels.get(r).cloned()).collect();
        Ok(SensorTable {
            time_unit: TimeUnit::Seconds,
            time,
            channel_names: self.channels.iter().map(|(n, _)| n.clone()).collect(),
            channels: self
                .channels
                .iter()
                .map(|(_, v)| order.iter().map(|&r| v[r]).collect())
                .collect(),
            attributes: self
                .attributes
                .iter()
                .map(|(name, v)| Attribute {
                    name: name.clone(),
                    values: order
                        .iter()
                        .map(|&r| v[r].clone().unwrap_or_default())
                        .collect(),
                })
                .collect(),
            recording,
            labels,
            sampling_rate_hz: None,
        })
    }
}

/// Row `i`'s (recording, label, attributes) for the writers' extensions.
pub(crate) fn row_context(table: &SensorTable, row: usize) -> (u32, Option<&str>) {
    let rec = table.recording[row];
    let label = table.labels.get(rec as usize).and_then(|l| l.as_deref());
    (rec, label)
}

/// Whether the writers must carry recording/label (as the canonical CSV does).
pub(crate) fn needs_recording(table: &SensorTable) -> bool {
    table.recording_count() > 1 || table.labels.iter().any(Option::is_some)
}
