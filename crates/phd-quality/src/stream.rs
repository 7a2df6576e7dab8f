//! Drift across the consecutive windows of a continuous stream.
//!
//! A sensor's offset drifts with temperature and age slowly and in one direction: over minutes
//! the median of every window of the drifting axis moves the same way. Body movement does not
//! keep pushing a window's median one way for minutes: a wrist's linear acceleration whose
//! median kept rising would mean an ever faster wrist, a rotation rate whose median kept rising
//! an ever faster spin. So a trend of window medians that is both *consistent* (Mann–Kendall
//! z over the last 12 or 36 windows) and *large* (more than `min_shift` in the channel's
//! units) is drift, whatever the activity. A window of 10 s cannot tell a 0.02 m/s²/s drift
//! from posture; two minutes of windows can.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::features::{FeatureConfig, quantile};
use crate::window::Window;

/// Spans (in windows) of the trend test: 12 × 10 s = 2 min catches a fast drift soon, 36
/// windows = 6 min a slow one under the level changes of a vigorous activity.
pub const STREAM_DRIFT_WINDOWS: [usize; 2] = [12, 36];
/// Mann–Kendall z a trend must reach (|z| ≥ 4: an independent sequence does this about
/// 6 times in 100 000).
pub const STREAM_DRIFT_MIN_Z: f64 = 4.0;

/// Parameters of the cross-window trend check (part of the model's thresholds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamDriftLimits {
    /// spans (windows) of the trend test, each checked over the most recent windows
    pub spans: Vec<usize>,
    /// Mann–Kendall |z| a trend must reach
    pub min_z: f64,
    /// per channel: the least change of the window median over the test span (least-squares
    /// slope × span) that counts — half the median within-window interquartile range of the
    /// channel in clean TRAIN windows (a smaller drift hides inside ordinary movement)
    pub min_shift: Vec<f64>,
}

impl StreamDriftLimits {
    /// From clean TRAIN windows.
    pub fn calibrate(clean: &[Window], cfg: &FeatureConfig) -> Self {
        let nch = cfg.channels.len();
        let mut scratch = Vec::new();
        let min_shift = (0..nch)
            .map(|c| {
                let mut iqr: Vec<f64> = clean
                    .iter()
                    .filter_map(|w| w.data.get(c))
                    .map(|x| {
                        scratch.clear();
                        scratch.extend_from_slice(x);
                        quantile(&mut scratch, 0.75) - quantile(&mut scratch, 0.25)
                    })
                    .collect();
                0.5 * quantile(&mut iqr, 0.5)
            })
            .collect();
        Self {
            spans: STREAM_DRIFT_WINDOWS.to_vec(),
            min_z: STREAM_DRIFT_MIN_Z,
            min_shift,
        }
    }
}

/// Window medians of the recent past of one stream. Carried across segments by the streamer
/// (one tracker per stream); a time gap of more than 1.5 sample periods between windows, or a
/// backward step, starts afresh (another recording, not the same sensor's drift).
/// Serialises with the exact bits of every value (the streamer saves it in its state file and
/// a segment re-assessed after a restart must come out the same).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "TrackerBits", from = "TrackerBits")]
pub struct DriftTracker {
    medians: VecDeque<Vec<f64>>,
    last_time: Option<f64>,
}

#[derive(Serialize, Deserialize)]
struct TrackerBits {
    medians: Vec<Vec<u64>>,
    last_time: Option<u64>,
}

impl From<DriftTracker> for TrackerBits {
    fn from(t: DriftTracker) -> Self {
        Self {
            medians: t
                .medians
                .iter()
                .map(|m| m.iter().map(|v| v.to_bits()).collect())
                .collect(),
            last_time: t.last_time.map(f64::to_bits),
        }
    }
}

impl From<TrackerBits> for DriftTracker {
    fn from(b: TrackerBits) -> Self {
        Self {
            medians: b
                .medians
                .iter()
                .map(|m| m.iter().map(|v| f64::from_bits(*v)).collect())
                .collect(),
            last_time: b.last_time.map(f64::from_bits),
        }
    }
}

/// Mann–Kendall S of a sequence and its z (no tie correction; continuity-corrected).
fn mann_kendall_z(x: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            s += match x[j].partial_cmp(&x[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    let nf = n as f64;
    let var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    if var <= 0.0 {
        return 0.0;
    }
    let s = s as f64;
    (s - s.signum()) / var.sqrt()
}

/// Least-squares slope × (n − 1): the change of the fitted line over the sequence.
fn fitted_change(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 {
        return 0.0;
    }
    let tm = (n - 1.0) / 2.0;
    let xm = x.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let d = i as f64 - tm;
        num += d * (v - xm);
        den += d * d;
    }
    num / den * (n - 1.0)
}

impl DriftTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Windows currently remembered.
    pub fn len(&self) -> usize {
        self.medians.len()
    }

    pub fn is_empty(&self) -> bool {
        self.medians.is_empty()
    }

    /// Adds the next window of the stream; `true` when the channel medians of the last
    /// windows of some span trend consistently by more than `lim.min_shift` on some channel.
    pub fn observe(&mut self, w: &Window, sampling_rate_hz: f64, lim: &StreamDriftLimits) -> bool {
        let (Some(&first), Some(&last)) = (w.t.first(), w.t.last()) else {
            return false;
        };
        if let Some(prev) = self.last_time {
            let step = first - prev;
            if !(step > 0.0 && step <= 1.5 / sampling_rate_hz) {
                self.medians.clear();
            }
        }
        self.last_time = Some(last);
        let mut scratch = Vec::with_capacity(w.len());
        let medians = w
            .data
            .iter()
            .map(|x| {
                scratch.clear();
                scratch.extend_from_slice(x);
                quantile(&mut scratch, 0.5)
            })
            .collect();
        self.medians.push_back(medians);
        let longest = lim.spans.iter().copied().max().unwrap_or(0).max(2);
        while self.medians.len() > longest {
            self.medians.pop_front();
        }
        let have = self.medians.len();
        let nch = self.medians.back().map_or(0, Vec::len);
        lim.spans
            .iter()
            .filter(|&&s| s >= 2 && s <= have)
            .any(|&span| {
                (0..nch).any(|c| {
                    let series: Vec<f64> = self
                        .medians
                        .range(have - span..)
                        .map(|m| m.get(c).copied().unwrap_or(0.0))
                        .collect();
                    let floor = lim.min_shift.get(c).copied().unwrap_or(f64::INFINITY);
                    mann_kendall_z(&series).abs() >= lim.min_z
                        && fitted_change(&series).abs() > floor
                })
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn window(t0: f64, level: f64, wiggle: f64) -> Window {
        let t: Vec<f64> = (0..100).map(|i| t0 + i as f64 / 10.0).collect();
        let x: Vec<f64> = (0..100)
            .map(|i| level + wiggle * ((i * 37 % 11) as f64 - 5.0))
            .collect();
        Window {
            recording: 0,
            start_row: 0,
            t,
            data: vec![x],
            label: None,
        }
    }

    fn limits() -> StreamDriftLimits {
        StreamDriftLimits {
            spans: vec![12],
            min_z: 4.0,
            min_shift: vec![1.0],
        }
    }

    #[test]
    fn a_steady_trend_over_twelve_windows_is_drift_and_a_small_or_noisy_one_is_not() {
        let lim = limits();
        let mut tr = DriftTracker::new();
        let hits: Vec<bool> = (0..20)
            .map(|k| tr.observe(&window(k as f64 * 10.0, 0.2 * k as f64, 0.3), 10.0, &lim))
            .collect();
        assert!(hits[..11].iter().all(|h| !h), "needs 12 windows first");
        assert!(hits[11..].iter().all(|h| *h));
        // the same trend but too small to matter (0.01 per window: 0.11 over the span)
        let mut tr = DriftTracker::new();
        assert!((0..20).all(|k| !tr.observe(
            &window(k as f64 * 10.0, 0.01 * k as f64, 0.3),
            10.0,
            &lim
        )));
        // large but inconsistent level changes (activity): no trend
        let mut tr = DriftTracker::new();
        let levels = [
            0.0, 3.0, -2.0, 4.0, 1.0, -3.0, 2.0, 5.0, -1.0, 0.0, 3.0, -4.0, 2.0, 1.0,
        ];
        assert!(levels.iter().enumerate().all(|(k, l)| !tr.observe(
            &window(k as f64 * 10.0, *l, 0.3),
            10.0,
            &lim
        )));
    }

    #[test]
    fn the_tracker_survives_a_json_round_trip_bit_for_bit() {
        let lim = limits();
        let mut tr = DriftTracker::new();
        for k in 0..5 {
            tr.observe(
                &window(k as f64 * 10.0, 0.1 + 0.2 * k as f64 / 3.0, 0.3),
                10.0,
                &lim,
            );
        }
        let json = serde_json::to_value(&tr).unwrap();
        let back: DriftTracker = serde_json::from_value(json).unwrap();
        assert_eq!(back, tr);
    }

    #[test]
    fn a_time_gap_starts_afresh() {
        let lim = limits();
        let mut tr = DriftTracker::new();
        for k in 0..11 {
            assert!(!tr.observe(&window(k as f64 * 10.0, 0.2 * k as f64, 0.3), 10.0, &lim));
        }
        // a 5 s gap: another stretch of recording
        assert!(!tr.observe(&window(115.0, 2.2, 0.3), 10.0, &lim));
        assert_eq!(tr.len(), 1);
    }
}
