//! Seeded, reproducible corruption of clean windows into realistic sensor failures.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;
use crate::window::Window;

/// Failure types the generator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CorruptionKind {
    /// one axis stuck at a value for 2–6 s
    Flatline,
    /// one sensor (all 3 axes) saturating at ± its 80th percentile of |value|
    Clipping,
    /// every channel replaced by Gaussian white noise with the channel's own mean and std
    WhiteNoise,
    /// 1–3 glitch samples at 2–4 × the channel's largest deviation
    Spikes,
    /// 0.5–3 s of rows missing (timestamp gap)
    Dropout,
    /// wrong units on one sensor: acc ×9.81 / ÷9.81 / ×1000 / ÷1000, gyro ×57.3 / ÷57.3
    WrongScale,
    /// 1–3 rows duplicated (same timestamp twice)
    DuplicateTimestamps,
    /// two timestamps swapped or a backward jump
    NonMonotonicTime,
    /// 1–3 NaN / ±inf values
    NanInf,
    /// slow offset drift: one axis gains a linear ramp from a random start in the first half
    /// to the window's end, at a fixed slope (acc 0.5 / 1 / 2 m/s² per s, gyro 0.1 / 0.2 /
    /// 0.4 rad/s per s)
    Drift,
    /// 1–3 isolated single-sample glitches of a *fixed* amplitude, not relative to the window
    /// (acc ± 3 g = 29.42 m/s², gyro ± 1000 °/s = 17.45 rad/s added to the sample)
    Glitch,
}

impl CorruptionKind {
    pub const ALL: [CorruptionKind; 11] = [
        Self::Flatline,
        Self::Clipping,
        Self::WhiteNoise,
        Self::Spikes,
        Self::Dropout,
        Self::WrongScale,
        Self::DuplicateTimestamps,
        Self::NonMonotonicTime,
        Self::NanInf,
        Self::Drift,
        Self::Glitch,
    ];

    /// The held-out kinds of the long-stream evaluation (docs/QUALITY.md "Drift and fixed
    /// glitches"): no detector forest is ever trained on them.
    pub const HELD_OUT: [CorruptionKind; 2] = [Self::Drift, Self::Glitch];

    pub fn name(self) -> &'static str {
        match self {
            Self::Flatline => "flatline",
            Self::Clipping => "clipping",
            Self::WhiteNoise => "white_noise",
            Self::Spikes => "spikes",
            Self::Dropout => "dropout",
            Self::WrongScale => "wrong_scale",
            Self::DuplicateTimestamps => "duplicate_timestamps",
            Self::NonMonotonicTime => "non_monotonic_time",
            Self::NanInf => "nan_inf",
            Self::Drift => "drift",
            Self::Glitch => "glitch",
        }
    }
}

fn group_of(w: &Window, rng: &mut SplitMix64) -> std::ops::Range<usize> {
    let groups = w.data.len() / 3;
    let g = rng.below(groups.max(1));
    let lo = (g * 3).min(w.data.len());
    lo..(lo + 3).min(w.data.len())
}

/// Corrupt a clean window. `seed` fully determines the result. Windows shorter than 10 samples
/// (or with ragged channels) are returned unchanged.
pub fn corrupt(w: &Window, kind: CorruptionKind, seed: u64) -> Window {
    let mut rng = SplitMix64::new(seed ^ ((kind as u64 + 1) << 56));
    let mut out = w.clone();
    let n = w.len();
    let nch = w.data.len();
    if n < 10 || nch == 0 || w.data.iter().any(|c| c.len() != n) {
        return out;
    }
    match kind {
        CorruptionKind::Flatline => {
            let c = rng.below(nch);
            let len = 20 + rng.below(41).min(n - 1);
            let len = len.min(n);
            let s = rng.below(n - len + 1);
            let v = out.data[c][s];
            for x in &mut out.data[c][s..s + len] {
                *x = v;
            }
        }
        CorruptionKind::Clipping => {
            let g = group_of(w, &mut rng);
            let mut abs: Vec<f64> = g
                .clone()
                .flat_map(|c| w.data[c].iter().map(|v| v.abs()))
                .collect();
            let level = crate::features::quantile(&mut abs, 0.8);
            for c in g {
                for x in &mut out.data[c] {
                    *x = x.clamp(-level, level);
                }
            }
        }
        CorruptionKind::WhiteNoise => {
            for c in 0..nch {
                let m = w.data[c].iter().sum::<f64>() / n as f64;
                let sd =
                    (w.data[c].iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64).sqrt();
                for x in &mut out.data[c] {
                    *x = m + sd * rng.normal();
                }
            }
        }
        CorruptionKind::Spikes => {
            let k = 1 + rng.below(3);
            for _ in 0..k {
                let c = rng.below(nch);
                let i = rng.below(n);
                let m = w.data[c].iter().sum::<f64>() / n as f64;
                let maxdev = w.data[c]
                    .iter()
                    .map(|v| (v - m).abs())
                    .fold(0.0, f64::max)
                    .max(1e-3);
                let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                out.data[c][i] = m + sign * maxdev * rng.range_f(2.0, 4.0);
            }
        }
        CorruptionKind::Dropout => {
            let len = (5 + rng.below(26)).min(n / 2);
            let s = 1 + rng.below(n - len - 1);
            out.t.drain(s..s + len);
            for c in &mut out.data {
                c.drain(s..s + len);
            }
        }
        CorruptionKind::WrongScale => {
            let g = group_of(w, &mut rng);
            let factors: &[f64] = if g.start == 0 {
                &[9.81, 1.0 / 9.81, 1000.0, 0.001]
            } else {
                &[57.2958, 1.0 / 57.2958]
            };
            let f = factors[rng.below(factors.len())];
            for c in g {
                for x in &mut out.data[c] {
                    *x *= f;
                }
            }
        }
        CorruptionKind::DuplicateTimestamps => {
            let k = 1 + rng.below(3);
            for _ in 0..k {
                let i = rng.below(out.t.len());
                let t = out.t[i];
                out.t.insert(i, t);
                for c in &mut out.data {
                    let v = c[i];
                    c.insert(i, v);
                }
            }
        }
        CorruptionKind::NonMonotonicTime => {
            let i = 1 + rng.below(n - 2);
            if rng.below(2) == 0 {
                out.t.swap(i, i + 1);
            } else {
                let back = rng.range_f(0.5, 5.0);
                for t in &mut out.t[i..] {
                    *t -= back;
                }
            }
        }
        CorruptionKind::NanInf => {
            let k = 1 + rng.below(3);
            for _ in 0..k {
                let c = rng.below(nch);
                let i = rng.below(n);
                out.data[c][i] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][rng.below(3)];
            }
        }
        CorruptionKind::Drift => {
            let c = rng.below(nch);
            let slopes = DRIFT_SLOPES[usize::from(c >= 3)];
            let slope =
                slopes[rng.below(slopes.len())] * if rng.below(2) == 0 { 1.0 } else { -1.0 };
            let s = rng.below(n / 2);
            let t0 = w.t[s];
            for (x, t) in out.data[c][s..].iter_mut().zip(&w.t[s..]) {
                *x += slope * (t - t0);
            }
        }
        CorruptionKind::Glitch => {
            let k = 1 + rng.below(3);
            let mut hit: Vec<usize> = Vec::with_capacity(k);
            for _ in 0..k {
                let c = rng.below(nch);
                // isolated: never next to another glitch sample
                let i = rng.below(n);
                if hit.iter().any(|&j| j.abs_diff(i) < 2) {
                    continue;
                }
                hit.push(i);
                let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                out.data[c][i] += sign * GLITCH_AMPLITUDE[usize::from(c >= 3)];
            }
        }
    }
    out
}

/// Acceleration of gravity (m/s²): the fixed glitch amplitude is given in g.
pub(crate) const STANDARD_GRAVITY: f64 = 9.806_65;
/// Fixed glitch amplitude for an accelerometer axis (3 g) and a gyroscope axis (1000 °/s).
pub const GLITCH_AMPLITUDE: [f64; 2] = [
    3.0 * STANDARD_GRAVITY,
    1000.0 * std::f64::consts::PI / 180.0,
];
/// Drift slopes per second: accelerometer (m/s²/s) and gyroscope (rad/s/s).
pub const DRIFT_SLOPES: [[f64; 3]; 2] = [[0.5, 1.0, 2.0], [0.1, 0.2, 0.4]];
