//! Window validity: exact rules first, then thresholds calibrated on clean TRAIN windows, then
//! a forest trained on TRAIN clean vs. corrupted windows.

use serde::{Deserialize, Serialize};

use crate::corrupt::{CorruptionKind, corrupt};
use crate::error::Result;
use crate::features::{FeatureConfig, FeatureExtractor};
use crate::forest::{Forest, ForestParams, argmax};
use crate::rng::SplitMix64;
use crate::window::Window;

/// Why a window is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum InvalidReason {
    TooShort,
    NonFinite,
    DuplicateTimestamp,
    NonMonotonicTime,
    TimestampGap,
    Flatline,
    Clipping,
    WhiteNoise,
    Spikes,
    WrongScale,
    /// slow offset drift: within a window (class-conditional) or across consecutive windows
    /// of a stream ([`crate::DriftTracker`])
    Drift,
    /// a sample beyond the full scale its sensor showed in TRAIN
    OutOfRange,
}

impl InvalidReason {
    pub fn name(self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::NonFinite => "non_finite",
            Self::DuplicateTimestamp => "duplicate_timestamp",
            Self::NonMonotonicTime => "non_monotonic_time",
            Self::TimestampGap => "timestamp_gap",
            Self::Flatline => "flatline",
            Self::Clipping => "clipping",
            Self::WhiteNoise => "white_noise",
            Self::Spikes => "spikes",
            Self::WrongScale => "wrong_scale",
            Self::Drift => "drift",
            Self::OutOfRange => "out_of_range",
        }
    }
}

/// Validity of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Validity {
    Valid,
    Invalid { reason: InvalidReason },
}

impl Validity {
    pub fn is_valid(self) -> bool {
        self == Self::Valid
    }
}

/// Calibrated thresholds (all learned from clean TRAIN windows, with margins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// windows shorter than this are `TooShort`
    pub min_len: usize,
    /// a step larger than `gap_factor / fs` is a gap
    pub gap_factor: f64,
    /// a run of ≥ this many identical values in one channel is a flatline
    pub flat_run: usize,
    /// ≥ this many samples exactly at a channel's max (or min) is clipping
    pub clip_count: usize,
    /// max over channels of `peak_ratio` above this → spikes
    pub peak_ratio_max: f64,
    /// log10 rms of the first magnitude series must lie in this range
    pub log_rms_range: (f64, f64),
    /// log10 rms ratio of magnitude 0 over magnitude 1 must lie in this range (if 2 groups)
    pub log_ratio_range: Option<(f64, f64)>,
    /// reject if the forest's vote for "clean" is below this (cross-validated on TRAIN)
    pub clean_vote_min: f64,
    /// per activity class: [max channel peak ratio, max channel top1/top4 ratio] over clean
    /// TRAIN windows of that class, × `CLASS_SPIKE_MARGIN`; checked after classification
    pub class_spike_max: Vec<[f64; 2]>,
    /// per activity class: max [`lonely_peak`] over clean TRAIN windows × `LONELY_MARGIN`
    pub class_lonely_max: Vec<f64>,
    /// per channel: the largest |value| its sensor (axis triple) showed in clean TRAIN ×
    /// `FULL_SCALE_MARGIN` — the sensor's measuring range (BasicMotions: ±3 g, ±2000 °/s)
    pub full_scale: Vec<f64>,
    /// per activity class: max [`glitch_isolation`] over clean TRAIN windows × `GLITCH_MARGIN`
    pub class_glitch_max: Vec<f64>,
    /// per activity class and sensor (axis triple): max [`drift_shift`] over the sensor's axes
    /// in clean TRAIN windows × `DRIFT_MARGIN`
    pub class_drift_max: Vec<Vec<f64>>,
    /// the cross-window trend check of continuous streams
    pub stream_drift: crate::stream::StreamDriftLimits,
}

/// Margin over the TRAIN full scale: a sensor cannot report beyond its range, so anything
/// more than 5 % past the largest value it ever gave is not a measurement.
pub const FULL_SCALE_MARGIN: f64 = 1.05;
/// Margin over the per-class TRAIN maximum of [`glitch_isolation`].
pub const GLITCH_MARGIN: f64 = 1.25;
/// Margin over the per-class TRAIN maximum of [`drift_shift`].
pub const DRIFT_MARGIN: f64 = 1.5;

/// Robust scale of a set of residuals: 1.4826 × median |r| (the MAD of a zero-centred
/// series), floored so that a flat channel does not divide by zero. A few glitch samples
/// move a median of ~100 values by at most a few ranks, so the glitch does not hide itself by
/// inflating the scale (unlike a standard deviation).
fn robust_scale(r: &[f64], scratch: &mut Vec<f64>) -> f64 {
    scratch.clear();
    scratch.extend(r.iter().map(|v| v.abs()));
    (1.4826 * crate::features::quantile(scratch, 0.5)).max(1e-9)
}

/// Glitch statistic (a Hampel filter on the local residual, cross-checked against every other
/// channel). For each channel, the residual of sample `i` against the straight line through its
/// neighbours, `e_i = x_i − (x_{i−1} + x_{i+1}) / 2`, as a robust z-score (`|e_i|` over
/// 1.4826 × median `|e|` of that channel); divided by the largest z-score of every *other*
/// channel (both sensors) at samples `i−1 ..= i+1`, floored at 1; the max over channels and
/// samples. A body movement that bends one axis also shows in the other axes and in the other
/// sensor (a wrist jolt is both an acceleration and a rotation); a transmission or ADC glitch
/// changes one number.
pub fn glitch_isolation(w: &Window) -> f64 {
    let n = w.len();
    let nch = w.data.len();
    if n < 5 || w.data.iter().any(|c| c.len() != n) {
        return 0.0;
    }
    let mut scratch = Vec::with_capacity(n);
    let z: Vec<Vec<f64>> = w
        .data
        .iter()
        .map(|x| {
            let mut e = vec![0.0; n];
            for i in 1..n - 1 {
                e[i] = x[i] - 0.5 * (x[i - 1] + x[i + 1]);
            }
            let s = robust_scale(&e[1..n - 1], &mut scratch);
            e.iter().map(|v| v.abs() / s).collect()
        })
        .collect();
    let mut best = 0.0f64;
    for c in 0..nch {
        for i in 1..n - 1 {
            let zc = z[c][i];
            if zc <= best {
                continue; // cannot beat the best even with no support from other channels
            }
            let others = (0..nch)
                .filter(|&j| j != c)
                .flat_map(|j| z[j][i - 1..=i + 1].iter().copied())
                .fold(0.0, f64::max);
            best = best.max(zc / others.max(1.0));
        }
    }
    if best.is_finite() { best.min(1e6) } else { 1e6 }
}

/// Drift statistic per channel: |median of the last third − median of the first third| of the
/// window, in the channel's units. Medians, so one glitch or one swing does not move it; thirds,
/// so a ramp over the window shows as ⅔ of its rise.
pub fn drift_shift(w: &Window) -> Vec<f64> {
    let n = w.len();
    let k = n / 3;
    let mut scratch = Vec::with_capacity(k);
    w.data
        .iter()
        .map(|x| {
            if k == 0 || x.len() != n {
                return 0.0;
            }
            scratch.clear();
            scratch.extend_from_slice(&x[..k]);
            let a = crate::features::quantile(&mut scratch, 0.5);
            scratch.clear();
            scratch.extend_from_slice(&x[n - k..]);
            let b = crate::features::quantile(&mut scratch, 0.5);
            (b - a).abs()
        })
        .collect()
}

/// Whether the window's within-window shift exceeds, on some accelerometer axis, what clean
/// TRAIN windows of activity `class` ever showed on the accelerometer.
///
/// Accelerometer only: a lasting shift of *linear* acceleration means an ever-growing velocity,
/// which a wrist cannot sustain, whereas a lasting shift of a rotation rate is simply a turn
/// (a clean TEST walker turning shifts gyr_z by 1.55 rad/s within 10 s). Gyroscope drift is
/// left to the cross-window trend check: nobody keeps turning faster for minutes.
pub(crate) fn drift_exceeds(w: &Window, th: &Thresholds, class: usize) -> bool {
    let Some(&lim) = th.class_drift_max.get(class).and_then(|l| l.first()) else {
        return false;
    };
    drift_shift(w).iter().take(3).any(|d| *d > lim)
}

/// Margin over the per-class TRAIN maximum of [`lonely_peak`].
pub const LONELY_MARGIN: f64 = 1.75;

/// "Lonely peak" statistic: for each channel, the largest robust deviation
/// `|x − median| / p90(|x − median|)` at sample `i`, divided by the largest robust deviation of
/// the *other axes of the same sensor* at the same sample (floored at 1); max over channels.
/// A real jolt moves all axes of a sensor at once; a glitch spike hits one channel.
pub fn lonely_peak(w: &Window) -> f64 {
    let n = w.len();
    if n == 0 || w.data.iter().any(|c| c.len() != n) {
        return 0.0;
    }
    let mut scratch = Vec::with_capacity(n);
    let stats: Vec<(f64, f64)> = w
        .data
        .iter()
        .map(|c| {
            scratch.clear();
            scratch.extend_from_slice(c);
            let med = crate::features::quantile(&mut scratch, 0.5);
            scratch.clear();
            scratch.extend(c.iter().map(|v| (v - med).abs()));
            (med, crate::features::quantile(&mut scratch, 0.9).max(1e-12))
        })
        .collect();
    let mut best = 0.0f64;
    for (c, x) in w.data.iter().enumerate() {
        let (med, p90) = stats[c];
        let (i, peak) = x
            .iter()
            .enumerate()
            .map(|(i, v)| (i, (v - med).abs() / p90))
            .fold((0, 0.0), |b, v| if v.1 > b.1 { v } else { b });
        let g = c / 3 * 3;
        let others = (g..(g + 3).min(w.data.len()))
            .filter(|&j| j != c)
            .map(|j| (w.data[j][i] - stats[j].0).abs() / stats[j].1)
            .fold(0.0, f64::max);
        best = best.max(peak / others.max(1.0));
    }
    best.min(1e6)
}

/// Margin over the per-class TRAIN maxima of the spike statistics.
pub const CLASS_SPIKE_MARGIN: f64 = 1.5;

/// (max channel peak ratio, max channel top1/top4 ratio) from a feature vector.
pub(crate) fn spike_stats(f: &[f64], cfg: &FeatureConfig) -> [f64; 2] {
    let base = cfg.series_count() * cfg.per_series();
    [
        f.get(base).copied().unwrap_or(0.0),
        f.get(base + 3).copied().unwrap_or(0.0),
    ]
}

/// The detector's forest classes.
const MODEL_REASONS: [Option<InvalidReason>; 4] = [
    None,
    Some(InvalidReason::WhiteNoise),
    Some(InvalidReason::Spikes),
    Some(InvalidReason::WrongScale),
];
const MODEL_KINDS: [CorruptionKind; 3] = [
    CorruptionKind::WhiteNoise,
    CorruptionKind::Spikes,
    CorruptionKind::WrongScale,
];

/// Validity detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct Detector {
    pub thresholds: Thresholds,
    forest: Forest,
}

fn longest_run(x: &[f64]) -> usize {
    let mut best = 0;
    let mut run = 0;
    for i in 0..x.len() {
        if i > 0 && x[i].to_bits() == x[i - 1].to_bits() {
            run += 1;
        } else {
            run = 1;
        }
        best = best.max(run);
    }
    best
}

fn extreme_count(x: &[f64]) -> usize {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in x {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi <= lo {
        return 0; // constant: flatline's business
    }
    let a = x.iter().filter(|v| **v == hi).count();
    let b = x.iter().filter(|v| **v == lo).count();
    a.max(b)
}

/// Exact rules: length, NaN/inf, timestamps, flatline, clipping.
pub fn rule_check(w: &Window, cfg: &FeatureConfig, th: &Thresholds) -> Option<InvalidReason> {
    if w.len() < th.min_len || w.data.iter().any(|c| c.len() != w.len()) {
        return Some(InvalidReason::TooShort);
    }
    if w.t
        .iter()
        .chain(w.data.iter().flatten())
        .any(|v| !v.is_finite())
    {
        return Some(InvalidReason::NonFinite);
    }
    let nominal = 1.0 / cfg.sampling_rate_hz;
    for p in w.t.windows(2) {
        let dt = p[1] - p[0];
        if dt == 0.0 {
            return Some(InvalidReason::DuplicateTimestamp);
        }
        if dt < 0.0 {
            return Some(InvalidReason::NonMonotonicTime);
        }
    }
    if w.t
        .windows(2)
        .any(|p| p[1] - p[0] > th.gap_factor * nominal)
    {
        return Some(InvalidReason::TimestampGap);
    }
    if w.data.iter().any(|c| longest_run(c) >= th.flat_run) {
        return Some(InvalidReason::Flatline);
    }
    if w.data.iter().any(|c| extreme_count(c) >= th.clip_count) {
        return Some(InvalidReason::Clipping);
    }
    None
}

/// A sample beyond the sensor's full scale (after the spike and scale checks, which name the
/// cause more precisely when they fire).
fn out_of_range(w: &Window, th: &Thresholds) -> bool {
    w.data
        .iter()
        .zip(&th.full_scale)
        .any(|(c, fs)| c.iter().any(|v| v.abs() > *fs))
}

fn stat_check(f: &[f64], cfg: &FeatureConfig, th: &Thresholds) -> Option<InvalidReason> {
    let (peak, rms, ratio) = summary(f, cfg);
    if peak > th.peak_ratio_max {
        return Some(InvalidReason::Spikes);
    }
    if rms < th.log_rms_range.0 || rms > th.log_rms_range.1 {
        return Some(InvalidReason::WrongScale);
    }
    if let (Some(r), Some((lo, hi))) = (ratio, th.log_ratio_range)
        && (r < lo || r > hi)
    {
        return Some(InvalidReason::WrongScale);
    }
    None
}

/// (max channel peak ratio, log10 rms of magnitude 0, log10 magnitude ratio)
fn summary(f: &[f64], cfg: &FeatureConfig) -> (f64, f64, Option<f64>) {
    let per = cfg.per_series();
    let nch = cfg.channels.len();
    let peak = (0..nch)
        .filter_map(|s| f.get(s * per + 16).copied())
        .fold(0.0, f64::max);
    let rms = f
        .get(nch * per + 4)
        .copied()
        .unwrap_or(0.0)
        .max(1e-12)
        .log10();
    let ratio = if cfg.magnitude_groups.len() >= 2 {
        f.last().copied()
    } else {
        None
    };
    (peak, rms, ratio)
}

/// Per-window detector output including the feature vector (reused by the activity model).
#[derive(Debug, Clone)]
pub struct Detection {
    pub validity: Validity,
    /// features (empty if a rule fired before features were computed)
    pub features: Vec<f64>,
    /// The forest alone called it `Spikes` (no rule or threshold did) and gave the other
    /// corruptions less weight than "clean": the verdict stands only if a spike statistic
    /// corroborates it once the activity is known (`classify_windows`).
    pub forest_spikes: bool,
}

impl Detector {
    /// Train on clean windows (TRAIN split only).
    /// `classes[i]` is the activity class index of `clean[i]` (None if unlabelled), `n_classes`
    /// the number of activity classes.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        clean: &[Window],
        classes: &[Option<usize>],
        n_classes: usize,
        cfg: &FeatureConfig,
        reps: usize,
        seed: u64,
        max_false_reject: f64,
        p: &ForestParams,
    ) -> Result<Self> {
        let mut fx = FeatureExtractor::new(cfg);
        let feats = |fx: &mut FeatureExtractor, w: &Window| {
            let mut v = Vec::with_capacity(cfg.feature_count());
            fx.extract(&w.data, &mut v);
            v
        };
        // thresholds from clean windows
        let max_run = clean
            .iter()
            .flat_map(|w| w.data.iter().map(|c| longest_run(c)))
            .max()
            .unwrap_or(1);
        let max_ext = clean
            .iter()
            .flat_map(|w| w.data.iter().map(|c| extreme_count(c)))
            .max()
            .unwrap_or(1);
        let clean_f: Vec<Vec<f64>> = clean.iter().map(|w| feats(&mut fx, w)).collect();
        let sums: Vec<_> = clean_f.iter().map(|f| summary(f, cfg)).collect();
        let peak_max = sums.iter().map(|s| s.0).fold(0.0, f64::max);
        let (rlo, rhi) = sums
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| {
                (a.min(s.1), b.max(s.1))
            });
        let ratio = sums
            .iter()
            .filter_map(|s| s.2)
            .fold(None, |acc: Option<(f64, f64)>, r| {
                Some(acc.map_or((r, r), |(a, b)| (a.min(r), b.max(r))))
            });
        let thresholds = Thresholds {
            min_len: cfg.window_len.div_ceil(2),
            gap_factor: 1.5,
            flat_run: (2 * max_run).max(6),
            clip_count: (max_ext + 2).max(4),
            peak_ratio_max: peak_max * 1.25,
            log_rms_range: (rlo - 1.0, rhi + 1.0),
            log_ratio_range: ratio.map(|(a, b)| (a - 0.5, b + 0.5)),
            clean_vote_min: 0.5,
            class_spike_max: {
                let mut m = vec![[0.0f64; 2]; n_classes];
                for (f, c) in clean_f.iter().zip(classes) {
                    if let Some(slot) = c.and_then(|c| m.get_mut(c)) {
                        let s = spike_stats(f, cfg);
                        slot[0] = slot[0].max(s[0] * CLASS_SPIKE_MARGIN);
                        slot[1] = slot[1].max(s[1] * CLASS_SPIKE_MARGIN);
                    }
                }
                m
            },
            class_lonely_max: {
                let mut m = vec![0.0f64; n_classes];
                for (w, c) in clean.iter().zip(classes) {
                    if let Some(slot) = c.and_then(|c| m.get_mut(c)) {
                        *slot = slot.max(lonely_peak(w) * LONELY_MARGIN);
                    }
                }
                m
            },
            full_scale: {
                let nch = cfg.channels.len();
                let mut sensor = vec![0.0f64; nch.div_ceil(3)];
                for w in clean {
                    for (c, x) in w.data.iter().enumerate() {
                        let m = x.iter().map(|v| v.abs()).fold(0.0, f64::max);
                        sensor[c / 3] = sensor[c / 3].max(m);
                    }
                }
                (0..nch)
                    .map(|c| sensor[c / 3] * FULL_SCALE_MARGIN)
                    .collect()
            },
            class_glitch_max: {
                let mut m = vec![0.0f64; n_classes];
                for (w, c) in clean.iter().zip(classes) {
                    if let Some(slot) = c.and_then(|c| m.get_mut(c)) {
                        *slot = slot.max(glitch_isolation(w) * GLITCH_MARGIN);
                    }
                }
                m
            },
            class_drift_max: {
                let groups = cfg.channels.len().div_ceil(3);
                let mut m = vec![vec![0.0f64; groups]; n_classes];
                for (w, c) in clean.iter().zip(classes) {
                    if let Some(slot) = c.and_then(|c| m.get_mut(c)) {
                        for (ch, d) in drift_shift(w).iter().enumerate() {
                            slot[ch / 3] = slot[ch / 3].max(d * DRIFT_MARGIN);
                        }
                    }
                }
                m
            },
            stream_drift: crate::stream::StreamDriftLimits::calibrate(clean, cfg),
        };
        // forest: clean (+ gain-augmented clean) vs model-detected corruptions; `group[i]` is
        // the source window of row i (for cross-validation folds)
        let mut rng = SplitMix64::new(seed);
        let (mut x, mut y, mut group) = (Vec::new(), Vec::new(), Vec::new());
        for (i, w) in clean.iter().enumerate() {
            x.push(clean_f[i].clone());
            y.push(0);
            group.push(i);
            for r in 0..reps {
                let mut a = w.clone();
                for g in a.data.chunks_mut(3) {
                    let gain = rng.range_f(0.8, 1.25);
                    g.iter_mut().flatten().for_each(|v| *v *= gain);
                }
                x.push(feats(&mut fx, &a));
                y.push(0);
                group.push(i);
                for (k, kind) in MODEL_KINDS.iter().enumerate() {
                    let s = seed ^ ((i as u64) << 20) ^ ((r as u64) << 8) ^ k as u64;
                    x.push(feats(&mut fx, &corrupt(w, *kind, s)));
                    y.push(k as u32 + 1);
                    group.push(i);
                }
            }
        }
        // calibrate the clean-vote threshold by 4-fold cross-validation on TRAIN (folds by
        // source window): the largest threshold ≤ 0.5 that rejects at most `max_false_reject`
        // of the held-out clean windows.
        let mut held_out = Vec::new();
        let cv = ForestParams {
            n_trees: p.n_trees.min(40),
            ..*p
        };
        for fold in 0..4 {
            let tr: Vec<usize> = (0..x.len()).filter(|&r| group[r] % 4 != fold).collect();
            let xt: Vec<Vec<f64>> = tr.iter().map(|&r| x[r].clone()).collect();
            let yt: Vec<u32> = tr.iter().map(|&r| y[r]).collect();
            let f = Forest::fit(&xt, &yt, MODEL_REASONS.len(), &cv)?;
            let ho: Vec<Vec<f64>> = clean_f
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 4 == fold)
                .map(|(_, v)| v.clone())
                .collect();
            held_out.extend(
                f.predict_proba(&ho)?
                    .iter()
                    .map(|p| p.first().copied().unwrap_or(0.0)),
            );
        }
        held_out.sort_by(f64::total_cmp);
        let allowed = (held_out.len() as f64 * max_false_reject).floor() as usize;
        let q = held_out.get(allowed).copied().unwrap_or(0.5);
        let mut thresholds = thresholds;
        thresholds.clean_vote_min = q.min(0.5);
        let forest = Forest::fit(&x, &y, MODEL_REASONS.len(), p)?;
        Ok(Self { thresholds, forest })
    }

    /// Validity for a batch of windows; features are computed once and returned.
    pub fn detect(
        &self,
        windows: &[Window],
        cfg: &FeatureConfig,
        fx: &mut FeatureExtractor,
    ) -> Result<Vec<Detection>> {
        let th = &self.thresholds;
        let mut out: Vec<Detection> = Vec::with_capacity(windows.len());
        let mut pending = Vec::new();
        for w in windows {
            match rule_check(w, cfg, th) {
                Some(reason) => out.push(Detection {
                    validity: Validity::Invalid { reason },
                    features: Vec::new(),
                    forest_spikes: false,
                }),
                None => {
                    let mut f = Vec::with_capacity(cfg.feature_count());
                    fx.extract(&w.data, &mut f);
                    let reason = stat_check(&f, cfg, th)
                        .or_else(|| out_of_range(w, th).then_some(InvalidReason::OutOfRange));
                    let validity = match reason {
                        Some(reason) => Validity::Invalid { reason },
                        None => {
                            pending.push(out.len());
                            Validity::Valid
                        }
                    };
                    out.push(Detection {
                        validity,
                        features: f,
                        forest_spikes: false,
                    });
                }
            }
        }
        let rows: Vec<Vec<f64>> = pending.iter().map(|&i| out[i].features.clone()).collect();
        let proba = self.forest.predict_proba(&rows)?;
        for (&i, p) in pending.iter().zip(&proba) {
            if p.first().copied().unwrap_or(0.0) < th.clean_vote_min {
                let (k, _) = argmax(p.get(1..).unwrap_or(&[]));
                if let Some(Some(reason)) = MODEL_REASONS.get(k + 1) {
                    out[i].validity = Validity::Invalid { reason: *reason };
                    let clean = p.first().copied().unwrap_or(0.0);
                    let other: f64 = p
                        .iter()
                        .zip(MODEL_REASONS)
                        .filter(|(_, r)| r.is_some_and(|r| r != InvalidReason::Spikes))
                        .map(|(v, _)| v)
                        .sum();
                    out[i].forest_spikes = *reason == InvalidReason::Spikes && other < clean;
                }
            }
        }
        Ok(out)
    }
}
