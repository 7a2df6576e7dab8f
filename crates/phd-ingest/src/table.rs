use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};

/// How the time column is expressed in the source and in canonical output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeUnit {
    /// f64 seconds (canonical column `t`).
    Seconds,
    /// integer milliseconds (canonical column `t_ms`).
    Millis,
}

/// A per-row string column (e.g. `sex`, `age`, `device_serial`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}

/// Column-major sensor data.
///
/// Rows are grouped into recordings (`recording[row]`, non-decreasing); `labels[r]` is the
/// label of recording `r` where known. Time is stored in seconds (`time[row]`) and is strictly
/// increasing within a recording (unless the reader was told to allow otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorTable {
    pub time_unit: TimeUnit,
    /// seconds
    pub time: Vec<f64>,
    pub channel_names: Vec<String>,
    /// `channels[c][row]`
    pub channels: Vec<Vec<f64>>,
    pub attributes: Vec<Attribute>,
    /// recording index per row (0-based, non-decreasing)
    pub recording: Vec<u32>,
    /// label per recording, indexed by recording id
    pub labels: Vec<Option<String>>,
    /// nominal sampling rate if known
    pub sampling_rate_hz: Option<f64>,
}

impl SensorTable {
    /// Number of rows (samples per channel).
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Number of recordings (max recording id + 1).
    pub fn recording_count(&self) -> usize {
        self.recording.last().map_or(0, |r| *r as usize + 1)
    }

    /// Index of a channel by name.
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channel_names.iter().position(|n| n == name)
    }

    /// Row ranges `[start, end)` of each recording, in order.
    pub fn recording_ranges(&self) -> Vec<(u32, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        let mut start = 0usize;
        for i in 1..=self.recording.len() {
            let boundary =
                i == self.recording.len() || self.recording.get(i) != self.recording.get(i - 1);
            if boundary {
                if let Some(r) = self.recording.get(start) {
                    out.push((*r, start..i));
                }
                start = i;
            }
        }
        out
    }

    /// Checks that all columns have the same length and recordings are non-decreasing.
    pub fn validate(&self) -> Result<()> {
        let n = self.time.len();
        let bad = |reason: String| Err(IngestError::Inconsistent { reason });
        if self.channels.len() != self.channel_names.len() {
            return bad("channel names and columns differ in count".into());
        }
        if let Some(c) = self.channels.iter().position(|c| c.len() != n) {
            return bad(format!("channel {c} has a different length"));
        }
        if let Some(a) = self.attributes.iter().find(|a| a.values.len() != n) {
            return bad(format!("attribute {} has a different length", a.name));
        }
        if self.recording.len() != n {
            return bad("recording column has a different length".into());
        }
        if self.recording.windows(2).any(|w| w[1] < w[0]) {
            return bad("recording ids decrease".into());
        }
        if self.labels.len() < self.recording_count() {
            return bad("fewer labels than recordings".into());
        }
        Ok(())
    }

    /// New table with only the rows whose `keep[row]` is true (labels kept, recording ids kept).
    pub fn filter_rows(&self, keep: &[bool]) -> Result<SensorTable> {
        self.validate()?;
        if keep.len() != self.len() {
            return Err(IngestError::Inconsistent {
                reason: format!(
                    "row mask has {} entries for {} rows",
                    keep.len(),
                    self.len()
                ),
            });
        }
        let pick_f = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(x, _)| *x)
                .collect()
        };
        Ok(SensorTable {
            time_unit: self.time_unit,
            time: pick_f(&self.time),
            channel_names: self.channel_names.clone(),
            channels: self.channels.iter().map(|c| pick_f(c)).collect(),
            attributes: self
                .attributes
                .iter()
                .map(|a| Attribute {
                    name: a.name.clone(),
                    values: a
                        .values
                        .iter()
                        .zip(keep)
                        .filter(|(_, k)| **k)
                        .map(|(x, _)| x.clone())
                        .collect(),
                })
                .collect(),
            recording: self
                .recording
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(x, _)| *x)
                .collect(),
            labels: self.labels.clone(),
            sampling_rate_hz: self.sampling_rate_hz,
        })
    }

    /// Time range (first, last) in seconds over all rows, ignoring non-finite values.
    pub fn time_range(&self) -> Option<(f64, f64)> {
        let mut it = self.time.iter().copied().filter(|t| t.is_finite());
        let first = it.next()?;
        let (lo, hi) = it.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t)));
        Some((lo, hi))
    }
}
