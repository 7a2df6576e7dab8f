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

fn check_rates(src: f64, target_hz: f64) -> Result<()> {
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
    Ok(())
}

/// The low-pass kernel when decimating (`None`: the source is used as it is, interpolated).
fn kernel_for(src: f64, target_hz: f64) -> Option<Vec<f64>> {
    (src > target_hz * (1.0 + RATE_TOLERANCE)).then(|| lowpass_kernel(src, target_hz))
}

/// The runs of `table` between gaps (the quality detector's gap rule, Δt > 1.5 / rate) and
/// recording changes: `(recording, rows)`.
fn runs(table: &SensorTable, src: f64) -> Vec<(u32, std::ops::Range<usize>)> {
    let gap = 1.5 / src;
    let mut out = Vec::new();
    for (rec, range) in table.recording_ranges() {
        let mut start = range.start;
        while start < range.end {
            let mut end = start + 1;
            while end < range.end && table.time[end] - table.time[end - 1] <= gap {
                end += 1;
            }
            out.push((rec, start..end));
            start = end;
        }
    }
    out
}

/// The `k`-th output instant of a run whose grid starts at `origin`.
fn instant(origin: f64, k: u64, target_hz: f64) -> f64 {
    ((origin + k as f64 * (1.0 / target_hz)) * 1e6).round() / 1e6
}

/// One output instant of a run: time, source index `j` (relative to the run) with
/// `t[j] <= tau < t[j+1]`, and the interpolation weight towards `j + 1`.
#[derive(Debug, Clone, Copy)]
struct Instant {
    tau: f64,
    j: usize,
    frac: f64,
}

/// Advances `j` to the source sample at or before `tau` and returns the output instant.
fn locate(t: &[f64], tau: f64, j: &mut usize) -> Instant {
    while *j + 1 < t.len() && t[*j + 1] <= tau + 1e-9 {
        *j += 1;
    }
    let frac = if *j + 1 < t.len() {
        ((tau - t[*j]) / (t[*j + 1] - t[*j])).clamp(0.0, 1.0)
    } else {
        0.0
    };
    Instant { tau, j: *j, frac }
}

/// Number of output instants of a whole run (up to its last sample).
fn run_count(origin: f64, last: f64, target_hz: f64) -> u64 {
    ((last - origin) * target_hz + 1e-6).floor() as u64 + 1
}

/// Appends the values of `run` at `at` to `out`.
fn emit_run(
    table: &SensorTable,
    rec: u32,
    run: std::ops::Range<usize>,
    at: &[Instant],
    kernel: Option<&[f64]>,
    out: &mut SensorTable,
) {
    let mut filtered: Vec<f64> = Vec::new();
    for (c, col) in table.channels.iter().enumerate() {
        let x = &col[run.clone()];
        let value = |i: usize, f: &mut Vec<f64>| -> f64 {
            match kernel {
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
        for a in at {
            let v0 = value(a.j, &mut filtered);
            let v = if a.frac > 1e-9 && a.j + 1 < x.len() {
                let v1 = value(a.j + 1, &mut filtered);
                v0 + (v1 - v0) * a.frac
            } else {
                v0
            };
            out.channels[c].push(v);
        }
    }
    for (o, src_attr) in out.attributes.iter_mut().zip(&table.attributes) {
        o.values
            .extend(at.iter().map(|a| src_attr.values[run.start + a.j].clone()));
    }
    out.time.extend(at.iter().map(|a| a.tau));
    out.recording.extend(std::iter::repeat_n(rec, at.len()));
}

fn empty_like(table: &SensorTable, target_hz: f64) -> SensorTable {
    SensorTable {
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
    }
}

/// Resamples every recording of `table` to `target_hz` (see the module docs); the detected
/// source rate is `source`. Attributes take the value of the nearest earlier source row.
pub fn resample(table: &SensorTable, source: &RateEstimate, target_hz: f64) -> Result<SensorTable> {
    table.validate()?;
    let src = source.rate_hz;
    check_rates(src, target_hz)?;
    let kernel = kernel_for(src, target_hz);
    let mut out = empty_like(table, target_hz);
    for (rec, run) in runs(table, src) {
        let t = &table.time[run.clone()];
        let origin = t[0];
        let mut j = 0;
        let at: Vec<Instant> = (0..run_count(origin, t[t.len() - 1], target_hz))
            .map(|k| locate(t, instant(origin, k, target_hz), &mut j))
            .collect();
        emit_run(table, rec, run, &at, kernel.as_deref(), &mut out);
    }
    Ok(out)
}

/// Where a stream being resampled chunk by chunk stands: what the streamer keeps in its
/// crash-safe state, together with the source rows from [`StreamChunk::keep_from`] on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StreamCursor {
    /// The source rate, fixed for the whole stream (detected once), so the filter and the gap
    /// rule do not change between chunks.
    pub source_hz: f64,
    /// The model's rate.
    pub target_hz: f64,
    /// Grid origin of the run the first carried row belongs to (`None`: no run under way).
    pub run_origin: Option<f64>,
    /// Index on that grid of the next output instant.
    pub next_k: u64,
}

impl StreamCursor {
    /// A stream about to start.
    pub fn new(source_hz: f64, target_hz: f64) -> Self {
        StreamCursor {
            source_hz,
            target_hz,
            run_origin: None,
            next_k: 0,
        }
    }
}

/// One chunk of a resampled stream.
#[derive(Debug, Clone)]
pub struct StreamChunk {
    /// The output rows (a multiple of the `whole` asked for).
    pub table: SensorTable,
    /// First input row the next chunk still needs (the filter's history and the instants not
    /// output yet): the next call's input is the input rows from here on, then the new rows.
    pub keep_from: usize,
    /// The cursor to pass with that input.
    pub cursor: StreamCursor,
}

/// Resamples a stream chunk by chunk with exactly the output of [`resample`] over the whole
/// stream (same instants, bit-identical values), however the stream is cut.
///
/// `table` is the rows carried from the previous chunk ([`StreamChunk::keep_from`]) followed by
/// the new rows. An instant is output once every source sample its filter reads is present, so
/// the last run of a chunk (which may go on in the next) holds back its last
/// `filter half-length + 1` source samples; runs the chunk shows ended (a gap or another
/// recording follows) are output whole, as [`resample`] does. At most a multiple of `whole`
/// rows is output (the quality model's window); the rest waits for the next chunk. What is
/// carried is bounded by the filter length plus one window.
pub fn resample_stream(
    table: &SensorTable,
    cursor: &StreamCursor,
    whole: usize,
) -> Result<StreamChunk> {
    table.validate()?;
    let (src, target_hz) = (cursor.source_hz, cursor.target_hz);
    check_rates(src, target_hz)?;
    let kernel = kernel_for(src, target_hz);
    let half = kernel.as_ref().map_or(0, |k| k.len() / 2);
    let runs = runs(table, src);
    // every instant that can be output now, in order: (run index, k, instant)
    let mut ready: Vec<(usize, u64, Instant)> = Vec::new();
    // the open (last) run's first instant that cannot be output yet
    let mut waiting = None;
    for (r, (_, run)) in runs.iter().enumerate() {
        let t = &table.time[run.clone()];
        let (origin, k0) = match (r, cursor.run_origin) {
            (0, Some(origin)) => (origin, cursor.next_k),
            _ => (t[0], 0),
        };
        let open = r + 1 == runs.len();
        let end = if open {
            u64::MAX
        } else {
            run_count(origin, t[t.len() - 1], target_hz)
        };
        let mut j = 0;
        let mut k = k0;
        while k < end {
            let at = locate(t, instant(origin, k, target_hz), &mut j);
            if open && at.j + 1 + half >= t.len() {
                waiting = Some((r, k, at));
                break;
            }
            ready.push((r, k, at));
            k += 1;
        }
    }
    let m = ready.len() / whole.max(1) * whole.max(1);
    let next = ready.get(m).copied().or(waiting);
    let (keep_from, run_origin, next_k) = match next {
        Some((r, k, at)) => {
            let run = &runs[r].1;
            let origin = match (r, cursor.run_origin) {
                (0, Some(origin)) => origin,
                _ => table.time[run.start],
            };
            (run.start + at.j.saturating_sub(half), Some(origin), k)
        }
        None => (table.len(), None, 0),
    };
    let mut out = empty_like(table, target_hz);
    for group in ready[..m].chunk_by(|a, b| a.0 == b.0) {
        let (rec, run) = &runs[group[0].0];
        let at: Vec<Instant> = group.iter().map(|(_, _, a)| *a).collect();
        emit_run(table, *rec, run.clone(), &at, kernel.as_deref(), &mut out);
    }
    Ok(StreamChunk {
        table: out,
        keep_from,
        cursor: StreamCursor {
            run_origin,
            next_k,
            ..*cursor
        },
    })
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

    /// Rows `range` of `t` as their own table.
    fn rows(t: &SensorTable, range: std::ops::Range<usize>) -> SensorTable {
        let keep: Vec<bool> = (0..t.len()).map(|i| range.contains(&i)).collect();
        t.filter_rows(&keep).unwrap()
    }

    #[test]
    fn a_stream_resampled_chunk_by_chunk_equals_the_whole_resampled_at_once() {
        // 50 Hz with an in-band and an aliasing tone, jitter and two gaps; 25 Hz (non-integer
        // ratio) and 8 Hz (upsampling) too.
        for rate in [50.0, 25.0, 8.0] {
            let mut t = sine_table(rate, 120.0, &[0.7, 8.0]);
            for (i, x) in t.time.iter_mut().enumerate() {
                *x += if i % 3 == 0 { 0.1 / rate } else { 0.0 };
                *x += if i >= t.recording.len() / 3 { 3.0 } else { 0.0 };
                *x += if i >= t.recording.len() / 2 {
                    0.75
                } else {
                    0.0
                };
            }
            let est = RateEstimate {
                rate_hz: rate,
                gaps: 0,
                intervals: 0,
            };
            let whole = resample(&t, &est, 10.0).unwrap();
            for (cuts, window) in [(vec![1usize, 37, 400, 2, 999], 7usize), (vec![250], 100)] {
                let mut cursor = StreamCursor::new(rate, 10.0);
                let mut carried = rows(&t, 0..0);
                let mut got = empty_like(&t, 10.0);
                let (mut at, mut c) = (0, 0);
                while at < t.len() {
                    let next = (at + cuts[c % cuts.len()]).min(t.len());
                    c += 1;
                    // the carried rows then the new ones, as the streamer reads them
                    let keep: Vec<bool> = (0..t.len())
                        .map(|i| i >= at - carried.len() && i < next)
                        .collect();
                    let input = t.filter_rows(&keep).unwrap();
                    let chunk = resample_stream(&input, &cursor, window).unwrap();
                    assert_eq!(chunk.table.len() % window, 0);
                    // the state round-trips through the streamer's JSON state file
                    cursor = serde_json::from_str(&serde_json::to_string(&chunk.cursor).unwrap())
                        .unwrap();
                    carried = rows(&input, chunk.keep_from..input.len());
                    assert!(carried.len() < 2_000, "bounded carry: {}", carried.len());
                    got.time.extend(&chunk.table.time);
                    got.channels[0].extend(&chunk.table.channels[0]);
                    at = next;
                }
                let n = got.time.len();
                assert!(n + 200 > whole.len(), "{rate}: {n} of {}", whole.len());
                assert_eq!(got.time, whole.time[..n], "{rate} {cuts:?}");
                assert_eq!(got.channels[0], whole.channels[0][..n], "{rate} {cuts:?}");
            }
        }
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
