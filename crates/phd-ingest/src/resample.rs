//! Sample-rate detection from the time column, and resampling to the quality model's rate.
//!
//! Detection is robust to jitter and gaps: the rate is 1 / the mean of the intervals within
//! 0.5–1.75 × the median interval (longer ones are gaps, left as gaps); if fewer than 80 % of
//! the other intervals are that regular the rate is undetermined and refused, never guessed.
//!
//! Downsampling low-passes first (a Blackman-windowed sinc, cut-off 0.45 × the target rate,
//! transition 0.1 × the target rate, so what would alias above the target's Nyquist frequency is
//! suppressed by > 70 dB) and then reads the filtered signal at the target instants by linear
//! interpolation, which handles non-integer ratios (25 → 10 Hz) and jitter. Upsampling
//! interpolates linearly. Each run between gaps is resampled on its own, so a gap stays a gap
//! and the quality model still sees it.

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};
use crate::table::{Attribute, SensorTable};

/// Rates within this relative distance of the target are used as they are.
pub const RATE_TOLERANCE: f64 = 0.02;
/// Slowest source rate accepted, as a fraction of the target (upsampling invents no detail, so
/// a source much slower than the model is refused).
pub const MIN_RATE_FRACTION: f64 = 0.5;
/// Fastest source rate accepted, as a multiple of the target (bounds the filter length).
pub const MAX_RATE_MULTIPLE: f64 = 100.0;

/// A detected sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateEstimate {
    /// Samples per second.
    pub rate_hz: f64,
    /// Intervals longer than 1.75 × the median (gaps, not used for the rate).
    pub gaps: usize,
    /// Intervals used.
    pub intervals: usize,
}

/// Detects the sample rate of `table` from its time column (within each recording).
pub fn detect_rate(table: &SensorTable) -> Result<RateEstimate> {
    let mut dts: Vec<f64> = Vec::new();
    for (_, range) in table.recording_ranges() {
        let t = &table.time[range];
        dts.extend(t.windows(2).map(|w| w[1] - w[0]));
    }
    let undetermined = |reason: String| Err(IngestError::RateUndetermined { reason });
    if dts.len() < 2 {
        return undetermined(format!(
            "{} time interval(s); at least 2 are needed",
            dts.len()
        ));
    }
    if dts.iter().any(|d| !d.is_finite() || *d <= 0.0) {
        return undetermined("time does not strictly increase within a recording".into());
    }
    let mut sorted = dts.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    // wide enough for alternating jitter (16/24 ms around 20 ms), narrow enough that one
    // dropped sample (2 × the interval) is a gap
    let (lo, hi) = (median * 0.5, median * 1.75);
    let regular: Vec<f64> = dts
        .iter()
        .copied()
        .filter(|d| (lo..=hi).contains(d))
        .collect();
    let gaps = dts.iter().filter(|d| **d > hi).count();
    let irregular = dts.len() - regular.len() - gaps;
    // gaps are allowed; intervals shorter than the median's range are bursts or jitter
    if (regular.len() as f64) < 0.8 * (regular.len() + irregular) as f64 {
        return undetermined(format!(
            "intervals are irregular: only {} of {} are within 0.5–1.75 × the median {:.6} s",
            regular.len(),
            regular.len() + irregular,
            median
        ));
    }
    let mean = regular.iter().sum::<f64>() / regular.len() as f64;
    let rate_hz = 1.0 / mean;
    if !rate_hz.is_finite() {
        return undetermined(format!("mean interval {mean} s"));
    }
    Ok(RateEstimate {
        rate_hz,
        gaps,
        intervals: regular.len(),
    })
}

/// True when `rate_hz` is close enough to `target_hz` to be used without resampling.
pub fn rate_matches(rate_hz: f64, target_hz: f64) -> bool {
    ((rate_hz - target_hz) / target_hz).abs() <= RATE_TOLERANCE
}

/// Low-pass kernel for decimating from `src_hz` to `target_hz`: Blackman-windowed sinc,
/// normalised to unit DC gain; odd length, centred.
fn lowpass_kernel(src_hz: f64, target_hz: f64) -> Vec<f64> {
    let cutoff = 0.45 * target_hz / src_hz; // cycles per source sample
    let transition = 0.1 * target_hz / src_hz;
    let half = ((5.5 / transition) / 2.0).ceil() as usize;
    let n = 2 * half + 1;
    let mut k: Vec<f64> = (0..n)
        .map(|i| {
            let m = i as f64 - half as f64;
            let sinc = if m == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * m).sin() / (std::f64::consts::PI * m)
            };
            let w = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos()
                + 0.08 * (4.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos();
            sinc * w
        })
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// Filtered value of `x` at sample `i` (kernel truncated at the run's edges and renormalised,
/// so the level is kept there; mirroring the signal instead measured worse on BasicMotions).
fn filtered_at(x: &[f64], i: usize, kernel: &[f64]) -> f64 {
    let half = kernel.len() / 2;
    let (mut acc, mut wsum) = (0.0, 0.0);
    let lo = i.saturating_sub(half);
    let hi = (i + half).min(x.len().saturating_sub(1));
    for (j, xv) in x.iter().enumerate().take(hi + 1).skip(lo) {
        let w = kernel[j + half - i];
        acc += w * xv;
        wsum += w;
    }
    if wsum == 0.0 { f64::NAN } else { acc / wsum }
}

/// Resamples every recording of `table` to `target_hz` (see the module docs); the detected
/// source rate is `source`. Attributes take the value of the nearest earlier source row.
pub fn resample(table: &SensorTable, source: &RateEstimate, target_hz: f64) -> Result<SensorTable> {
    table.validate()?;
    let src = source.rate_hz;
    if !(target_hz.is_finite() && target_hz > 0.0) {
        return Err(IngestError::BadSamplingRate { rate: target_hz });
    }
    if !(src >= target_hz * MIN_RATE_FRACTION && src <= target_hz * MAX_RATE_MULTIPLE) {
        return Err(IngestError::RateOutOfRange {
            rate_hz: src,
            target_hz,
            min_hz: target_hz * MIN_RATE_FRACTION,
            max_hz: target_hz * MAX_RATE_MULTIPLE,
        });
    }
    let kernel = (src > target_hz * (1.0 + RATE_TOLERANCE)).then(|| lowpass_kernel(src, target_hz));
    // the quality detector's gap rule (Δt > 1.5 / rate)
    let gap = 1.5 / src;
    let step = 1.0 / target_hz;
    let mut out = SensorTable {
        time_unit: table.time_unit,
        time: Vec::new(),
        channel_names: table.channel_names.clone(),
        channels: vec![Vec::new(); table.channels.len()],
        attributes: table
            .attributes
            .iter()
            .map(|a| Attribute {
                name: a.name.clone(),
                values: Vec::new(),
            })
            .collect(),
        recording: Vec::new(),
        labels: table.labels.clone(),
        sampling_rate_hz: Some(target_hz),
    };
    let mut filtered: Vec<f64> = Vec::new();
    for (rec, range) in table.recording_ranges() {
        // runs between gaps
        let mut start = range.start;
        while start < range.end {
            let mut end = start + 1;
            while end < range.end && table.time[end] - table.time[end - 1] <= gap {
                end += 1;
            }
            let t = &table.time[start..end];
            let t0 = t[0];
            let last = t[t.len() - 1];
            let count = ((last - t0) * target_hz + 1e-6).floor() as usize + 1;
            let taus: Vec<f64> = (0..count)
                .map(|k| ((t0 + k as f64 * step) * 1e6).round() / 1e6)
                .collect();
            // for each output instant: source index j with t[j] <= tau < t[j+1], and weight
            let mut at = Vec::with_capacity(count);
            let mut j = 0usize;
            for &tau in &taus {
                while j + 1 < t.len() && t[j + 1] <= tau + 1e-9 {
                    j += 1;
                }
                let frac = if j + 1 < t.len() {
                    ((tau - t[j]) / (t[j + 1] - t[j])).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                at.push((j, frac));
            }
            for (c, col) in table.channels.iter().enumerate() {
                let x = &col[start..end];
                let value = |i: usize, f: &mut Vec<f64>| -> f64 {
                    match &kernel {
                        None => x[i],
                        Some(k) => {
                            if f.is_empty() {
                                f.resize(x.len(), f64::NAN);
                            }
                            if f[i].is_nan() {
                                f[i] = filtered_at(x, i, k);
                            }
                            f[i]
                        }
                    }
                };
                filtered.clear();
                for &(i, frac) in &at {
                    let a = value(i, &mut filtered);
                    let v = if frac > 1e-9 && i + 1 < x.len() {
                        let b = value(i + 1, &mut filtered);
                        a + (b - a) * frac
                    } else {
                        a
                    };
                    out.channels[c].push(v);
                }
            }
            for (a, src_attr) in out.attributes.iter_mut().zip(&table.attributes) {
                a.values
                    .extend(at.iter().map(|(i, _)| src_attr.values[start + i].clone()));
            }
            out.time.extend(taus);
            out.recording.extend(std::iter::repeat_n(rec, count));
            start = end;
        }
    }
    Ok(out)
}

/// Band-limited (Whittaker–Shannon) interpolation of every recording to `factor` × its rate:
/// what a device sampling `factor` times faster would have recorded of the same band-limited
/// signal. For tests and benchmarks (`a 50 Hz BasicMotions`); assumes regular time, O(n²) per
/// recording.
#[doc(hidden)]
pub fn bandlimited_upsample(table: &SensorTable, factor: usize) -> SensorTable {
    let factor = factor.max(1);
    let mut out = SensorTable {
        time: Vec::new(),
        channels: vec![Vec::new(); table.channels.len()],
        attributes: Vec::new(),
        recording: Vec::new(),
        sampling_rate_hz: table.sampling_rate_hz.map(|r| r * factor as f64),
        ..table.clone()
    };
    let sinc = |x: f64| {
        if x == 0.0 {
            1.0
        } else {
            (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
        }
    };
    for (rec, range) in table.recording_ranges() {
        let t = &table.time[range.clone()];
        let n = t.len();
        let dt = if n > 1 { t[1] - t[0] } else { 0.0 };
        let m = (n - 1) * factor + 1;
        for k in 0..m {
            let u = k as f64 / factor as f64;
            out.time.push(((t[0] + u * dt) * 1e6).round() / 1e6);
            out.recording.push(rec);
        }
        for (c, col) in table.channels.iter().enumerate() {
            let x = &col[range.clone()];
            for k in 0..m {
                let u = k as f64 / factor as f64;
                let v = if k % factor == 0 {
                    x[k / factor]
                } else {
                    x.iter()
                        .enumerate()
                        .map(|(i, xi)| xi * sinc(u - i as f64))
                        .sum()
                };
                out.channels[c].push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::table::TimeUnit;

    fn sine_table(rate: f64, secs: f64, freqs: &[f64]) -> SensorTable {
        let n = (rate * secs) as usize;
        let time: Vec<f64> = (0..n).map(|i| i as f64 / rate).collect();
        let x: Vec<f64> = time
            .iter()
            .map(|t| {
                freqs
                    .iter()
                    .map(|f| (2.0 * std::f64::consts::PI * f * t).sin())
                    .sum()
            })
            .collect();
        SensorTable {
            time_unit: TimeUnit::Seconds,
            time,
            channel_names: vec!["acc_x".into()],
            channels: vec![x],
            attributes: vec![],
            recording: vec![0; n],
            labels: vec![None],
            sampling_rate_hz: None,
        }
    }

    fn rms(v: &[f64]) -> f64 {
        (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
    }

    #[test]
    fn in_band_tone_passes_and_an_aliasing_tone_is_removed() {
        for rate in [25.0, 50.0, 100.0] {
            let t = sine_table(rate, 60.0, &[1.0]);
            let est = detect_rate(&t).unwrap();
            assert!((est.rate_hz - rate).abs() < 1e-6);
            let r = resample(&t, &est, 10.0).unwrap();
            let mid = &r.channels[0][100..500];
            assert!(
                (rms(mid) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01,
                "{rate}"
            );
            // 8 Hz would alias to 2 Hz at 10 Hz sampling: must be gone
            let t = sine_table(rate, 60.0, &[8.0]);
            let r = resample(&t, &est, 10.0).unwrap();
            assert!(
                rms(&r.channels[0][100..500]) < 0.01,
                "{rate}: aliasing left"
            );
        }
    }

    #[test]
    fn jitter_is_tolerated_and_gaps_are_kept() {
        let mut t = sine_table(50.0, 20.0, &[1.0]);
        for (i, x) in t.time.iter_mut().enumerate() {
            *x += if i % 2 == 0 { 0.002 } else { -0.002 };
        }
        // a 2 s gap
        for x in t.time.iter_mut().skip(500) {
            *x += 2.0;
        }
        let est = detect_rate(&t).unwrap();
        assert!((est.rate_hz - 50.0).abs() < 0.5, "{est:?}");
        assert_eq!(est.gaps, 1);
        let r = resample(&t, &est, 10.0).unwrap();
        let max_dt = r
            .time
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(0.0f64, f64::max);
        assert!(max_dt > 2.0, "the gap stays a gap");
    }

    #[test]
    fn irregular_or_too_short_time_is_refused() {
        let mut t = sine_table(10.0, 2.0, &[1.0]);
        // bursts and pauses: no interval dominates
        let pattern = [1.0, 7.0, 2.0, 9.0, 3.0, 11.0, 4.0, 13.0];
        t.time = (0..20)
            .scan(0.0, |acc, i| {
                *acc += pattern[i % pattern.len()] / 100.0;
                Some(*acc)
            })
            .collect();
        assert!(matches!(
            detect_rate(&t),
            Err(IngestError::RateUndetermined { .. })
        ));
        let t = sine_table(10.0, 0.2, &[1.0]);
        assert!(detect_rate(&t).is_err());
    }
}
