//! Cutting a [`SensorTable`] into windows.

use phd_ingest::SensorTable;

use crate::error::{QualityError, Result};
use crate::features::FeatureConfig;

/// One window of a table: time and the model's channels (in [`FeatureConfig::channels`] order).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub recording: u32,
    /// first table row of the window
    pub start_row: usize,
    /// time, seconds
    pub t: Vec<f64>,
    /// `data[c][i]`
    pub data: Vec<Vec<f64>>,
    /// recording label, if the table carries one
    pub label: Option<String>,
}

impl Window {
    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

/// Positions of `cfg.channels` in the table.
pub fn channel_positions(table: &SensorTable, cfg: &FeatureConfig) -> Result<Vec<usize>> {
    cfg.channels
        .iter()
        .map(|name| {
            table
                .channel_index(name)
                .ok_or_else(|| QualityError::MissingChannel {
                    name: name.clone(),
                    available: table.channel_names.clone(),
                })
        })
        .collect()
}

/// Windows of `window_len` rows every `stride` rows within each recording; a recording's tail
/// shorter than `window_len` becomes one short window (the detector rejects windows shorter
/// than half the length), so every row is covered by at least one window when
/// `stride <= window_len`.
pub fn windows(table: &SensorTable, cfg: &FeatureConfig) -> Result<Vec<Window>> {
    if cfg.window_len == 0 || cfg.stride == 0 {
        return Err(QualityError::BadConfig {
            reason: "window_len and stride must be > 0".into(),
        });
    }
    table.validate()?;
    let pos = channel_positions(table, cfg)?;
    let mut out = Vec::new();
    for (rec, range) in table.recording_ranges() {
        let mut s = range.start;
        while s < range.end {
            let e = (s + cfg.window_len).min(range.end);
            out.push(Window {
                recording: rec,
                start_row: s,
                t: table.time[s..e].to_vec(),
                data: pos
                    .iter()
                    .map(|&p| table.channels[p][s..e].to_vec())
                    .collect(),
                label: table.labels.get(rec as usize).cloned().flatten(),
            });
            if e == range.end {
                break;
            }
            s += cfg.stride;
        }
    }
    Ok(out)
}
