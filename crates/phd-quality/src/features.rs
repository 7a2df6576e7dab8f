//! Window features: time-domain statistics, a small radix-2 real FFT, autocorrelation, jerk.

use serde::{Deserialize, Serialize};

/// Which channels a model uses and how windows are cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// channel names, in order (looked up by name in the table)
    pub channels: Vec<String>,
    /// groups of 3 channel positions (into `channels`) whose Euclidean magnitude is an extra series
    pub magnitude_groups: Vec<[usize; 3]>,
    /// nominal sampling rate (Hz)
    pub sampling_rate_hz: f64,
    /// window length in samples
    pub window_len: usize,
    /// window stride in samples
    pub stride: usize,
    /// band edges in Hz for band-energy fractions (ascending; last band runs to Nyquist)
    pub band_edges_hz: Vec<f64>,
}

impl FeatureConfig {
    /// BasicMotions-style 6-channel (acc+gyro) config: 100-sample windows at 10 Hz.
    pub fn acc_gyro() -> Self {
        Self {
            channels: ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
                .map(str::to_owned)
                .to_vec(),
            magnitude_groups: vec![[0, 1, 2], [3, 4, 5]],
            sampling_rate_hz: 10.0,
            window_len: 100,
            stride: 100,
            band_edges_hz: vec![0.0, 0.5, 1.0, 2.0, 3.0],
        }
    }

    /// Accelerometer-only (3 channel) config.
    pub fn acc_only() -> Self {
        Self {
            channels: ["acc_x", "acc_y", "acc_z"].map(str::to_owned).to_vec(),
            magnitude_groups: vec![[0, 1, 2]],
            ..Self::acc_gyro()
        }
    }

    /// Number of series (channels + magnitudes).
    pub fn series_count(&self) -> usize {
        self.channels.len() + self.magnitude_groups.len()
    }

    /// Features per series.
    pub fn per_series(&self) -> usize {
        PER_SERIES_FIXED + self.band_edges_hz.len()
    }

    /// Total feature vector length.
    pub fn feature_count(&self) -> usize {
        self.series_count() * self.per_series()
            + AGGREGATES.len()
            + self.magnitude_groups.len().saturating_sub(1)
    }
}

/// Fixed per-series features (band energies come on top).
pub const PER_SERIES_FIXED: usize = 22;

/// Per-series feature positions aggregated (max over the raw channels) after all series.
pub const AGGREGATES: [usize; 5] = [16, 17, 18, 20, 21];

/// Names of the per-series features (for docs / debugging).
pub const SERIES_FEATURE_NAMES: [&str; PER_SERIES_FIXED] = [
    "mean",
    "std",
    "min",
    "max",
    "rms",
    "energy",
    "zero_cross_rate",
    "dominant_hz",
    "spectral_flatness",
    "spectral_centroid_hz",
    "acf1",
    "acf2",
    "acf5",
    "jerk_mean_abs",
    "jerk_std",
    "jerk_max_abs",
    "peak_ratio",
    "diff_ratio",
    "kurtosis",
    "iqr",
    "top1_top4_ratio",
    "spike_isolation",
];

/// In-place iterative radix-2 complex FFT (length must be a power of two).
#[derive(Debug, Clone)]
pub(crate) struct Fft {
    n: usize,
    cos: Vec<f64>,
    sin: Vec<f64>,
    rev: Vec<usize>,
}

impl Fft {
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(2).next_power_of_two();
        let bits = n.trailing_zeros();
        let rev = (0..n)
            .map(|i| i.reverse_bits() >> (usize::BITS - bits))
            .collect();
        let (cos, sin) = (0..n / 2)
            .map(|k| {
                let a = -2.0 * std::f64::consts::PI * k as f64 / n as f64;
                (a.cos(), a.sin())
            })
            .unzip();
        Self { n, cos, sin, rev }
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    pub(crate) fn run(&self, re: &mut [f64], im: &mut [f64]) {
        let n = self.n;
        if re.len() != n || im.len() != n {
            return;
        }
        for i in 0..n {
            let j = self.rev[i];
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let half = len / 2;
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..half {
                    let (wr, wi) = (self.cos[k * step], self.sin[k * step]);
                    let (a, b) = (start + k, start + k + half);
                    let xr = re[b] * wr - im[b] * wi;
                    let xi = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - xr;
                    im[b] = im[a] - xi;
                    re[a] += xr;
                    im[a] += xi;
                }
            }
            len *= 2;
        }
    }
}

/// Reusable feature extractor (holds FFT plan and scratch buffers).
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    cfg: FeatureConfig,
    fft: Fft,
    re: Vec<f64>,
    im: Vec<f64>,
    power: Vec<f64>,
    scratch: Vec<f64>,
    series: Vec<Vec<f64>>,
    agg: Vec<f64>,
}

impl FeatureExtractor {
    pub fn new(cfg: &FeatureConfig) -> Self {
        let fft = Fft::new(cfg.window_len);
        let n = fft.len();
        Self {
            cfg: cfg.clone(),
            fft,
            re: vec![0.0; n],
            im: vec![0.0; n],
            power: vec![0.0; n / 2 + 1],
            scratch: Vec::new(),
            series: Vec::new(),
            agg: Vec::new(),
        }
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Features of one window (`data[c]` = channel `c` in config order, all the same length).
    /// Appends `feature_count()` values to `out`.
    pub fn extract(&mut self, data: &[Vec<f64>], out: &mut Vec<f64>) {
        let n = data.first().map_or(0, Vec::len);
        if self.fft.len() < n {
            self.fft = Fft::new(n);
            self.re = vec![0.0; self.fft.len()];
            self.im = vec![0.0; self.fft.len()];
            self.power = vec![0.0; self.fft.len() / 2 + 1];
        }
        let mut series = std::mem::take(&mut self.series);
        series.resize(self.cfg.magnitude_groups.len(), Vec::new());
        for (g, s) in self.cfg.magnitude_groups.iter().zip(series.iter_mut()) {
            s.clear();
            if let (Some(a), Some(b), Some(c)) = (data.get(g[0]), data.get(g[1]), data.get(g[2])) {
                s.extend(
                    a.iter()
                        .zip(b)
                        .zip(c)
                        .map(|((x, y), z)| (x * x + y * y + z * z).sqrt()),
                );
            }
        }
        let first = out.len();
        for ch in data {
            self.series_features(ch, out);
        }
        let per = self.cfg.per_series();
        for j in AGGREGATES {
            let m = (0..data.len())
                .filter_map(|c| out.get(first + c * per + j).copied())
                .fold(0.0, f64::max);
            self.agg.push(m);
        }
        let mut rms = Vec::with_capacity(series.len());
        for s in &series {
            self.series_features(s, out);
            rms.push((s.iter().map(|v| v * v).sum::<f64>() / s.len().max(1) as f64).sqrt());
        }
        out.append(&mut self.agg);
        // cross-sensor scale ratios: log10(rms(mag_0) / rms(mag_k))
        for k in 1..rms.len() {
            out.push(((rms[0] + 1e-12) / (rms[k] + 1e-12)).log10());
        }
        self.series = series;
    }

    fn series_features(&mut self, x: &[f64], out: &mut Vec<f64>) {
        let n = x.len();
        let start = out.len();
        let per = self.cfg.per_series();
        if n < 4 {
            out.extend(std::iter::repeat_n(0.0, per));
            return;
        }
        let nf = n as f64;
        let fs = self.cfg.sampling_rate_hz;
        let mean = x.iter().sum::<f64>() / nf;
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut m2, mut m4, mut sq) = (0.0, 0.0, 0.0);
        let mut zc = 0usize;
        let mut prev_pos: Option<bool> = None;
        for &v in x {
            min = min.min(v);
            max = max.max(v);
            let d = v - mean;
            let d2 = d * d;
            m2 += d2;
            m4 += d2 * d2;
            sq += v * v;
            let pos = d >= 0.0;
            if let Some(p) = prev_pos
                && p != pos
            {
                zc += 1;
            }
            prev_pos = Some(pos);
        }
        let var = m2 / nf;
        let std = var.sqrt();
        let rms = (sq / nf).sqrt();
        let kurt = if var > 1e-18 {
            (m4 / nf) / (var * var)
        } else {
            0.0
        };
        // spectrum of the mean-removed, zero-padded series
        let nfft = self.fft.len();
        self.re.fill(0.0);
        self.im.fill(0.0);
        for (r, v) in self.re.iter_mut().zip(x) {
            *r = v - mean;
        }
        self.fft.run(&mut self.re, &mut self.im);
        let half = nfft / 2;
        let mut total = 0.0;
        let (mut best_k, mut best_p) = (1usize, -1.0);
        let mut log_sum = 0.0;
        let mut centroid = 0.0;
        for k in 1..=half {
            let p = self.re[k] * self.re[k] + self.im[k] * self.im[k];
            self.power[k] = p;
            total += p;
            if p > best_p {
                best_p = p;
                best_k = k;
            }
            log_sum += (p + 1e-18).ln();
            centroid += p * k as f64;
        }
        let hz = |k: f64| k * fs / nfft as f64;
        let flatness = if total > 1e-18 {
            (log_sum / half as f64).exp() / (total / half as f64)
        } else {
            1.0
        };
        let centroid_hz = if total > 1e-18 {
            hz(centroid / total)
        } else {
            0.0
        };
        // autocorrelation (normalised) at lags 1, 2, 5
        let acf = |lag: usize| -> f64 {
            if lag >= n || m2 <= 1e-18 {
                return 0.0;
            }
            let s: f64 = x
                .iter()
                .zip(&x[lag..])
                .map(|(a, b)| (a - mean) * (b - mean))
                .sum();
            s / m2
        };
        // jerk (first difference × fs)
        let (mut jsum, mut jsq, mut jmax) = (0.0, 0.0, 0.0f64);
        self.scratch.clear();
        for w in x.windows(2) {
            let d = w[1] - w[0];
            let j = d * fs;
            jsum += j.abs();
            jsq += j * j;
            jmax = jmax.max(j.abs());
            self.scratch.push(d.abs());
        }
        let nd = (n - 1) as f64;
        let jmean = jsum / nd;
        let jstd = (jsq / nd - (jsum / nd) * (jsum / nd)).max(0.0).sqrt();
        let med_diff = quantile(&mut self.scratch, 0.5);
        let diff_ratio = (jmax / fs) / (med_diff + 1e-9 * (std + 1e-12));
        // robust spread: deviations from the median
        self.scratch.clear();
        self.scratch.extend_from_slice(x);
        let q1 = quantile(&mut self.scratch, 0.25);
        let q3 = quantile(&mut self.scratch, 0.75);
        let med = quantile(&mut self.scratch, 0.5);
        self.scratch.clear();
        self.scratch.extend(x.iter().map(|v| (v - med).abs()));
        let p90 = quantile(&mut self.scratch, 0.9);
        let maxdev = self.scratch.iter().copied().fold(0.0, f64::max);
        let peak_ratio = maxdev / (p90 + 1e-9 * (std + 1e-12));
        // spike shape at the largest deviation: how far it stands from both neighbours
        let imax = self
            .scratch
            .iter()
            .enumerate()
            .fold((0, -1.0), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
            .0;
        let left = if imax > 0 {
            (x[imax] - x[imax - 1]).abs()
        } else {
            f64::INFINITY
        };
        let right = if imax + 1 < n {
            (x[imax] - x[imax + 1]).abs()
        } else {
            f64::INFINITY
        };
        let isolation = left.min(right) / (med_diff + 1e-9 * (std + 1e-12));
        let fourth = {
            let k = n.saturating_sub(4);
            let (_, v, _) = self.scratch.select_nth_unstable_by(k, f64::total_cmp);
            *v
        };
        let top_ratio = maxdev / (fourth + 1e-9 * (std + 1e-12));
        out.extend_from_slice(&[
            mean,
            std,
            min,
            max,
            rms,
            var * nf / fs, // energy: sum of squared deviations / fs
            zc as f64 / nd,
            hz(best_k as f64),
            flatness,
            centroid_hz,
            acf(1),
            acf(2),
            acf(5),
            jmean,
            jstd,
            jmax,
            peak_ratio.min(1e6),
            diff_ratio.min(1e6),
            kurt,
            q3 - q1,
            top_ratio.min(1e6),
            if isolation.is_finite() {
                isolation.min(1e6)
            } else {
                0.0
            },
        ]);
        // band energy fractions
        let edges = &self.cfg.band_edges_hz;
        for (b, lo) in edges.iter().enumerate() {
            let hi = edges.get(b + 1).copied().unwrap_or(f64::INFINITY);
            let e: f64 = (1..=half)
                .filter(|k| hz(*k as f64) >= *lo && hz(*k as f64) < hi)
                .map(|k| self.power[k])
                .sum();
            out.push(if total > 1e-18 { e / total } else { 0.0 });
        }
        debug_assert_eq!(out.len() - start, per);
    }
}

/// q-quantile by selection (reorders `v`); 0 for empty input; NaN-safe ordering.
pub(crate) fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    let k = k.min(v.len() - 1);
    let (_, m, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    *m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fft_matches_naive_dft() {
        let n = 16;
        let x: Vec<f64> = (0..n)
            .map(|i| ((i * 7 % 5) as f64).sin() + i as f64 * 0.1)
            .collect();
        let f = Fft::new(n);
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        f.run(&mut re, &mut im);
        for k in 0..n {
            let (mut r, mut i) = (0.0, 0.0);
            for (t, v) in x.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                r += v * a.cos();
                i += v * a.sin();
            }
            assert!((r - re[k]).abs() < 1e-9 && (i - im[k]).abs() < 1e-9);
        }
    }

    #[test]
    fn dominant_frequency_of_sine() {
        let cfg = FeatureConfig::acc_only();
        let mut fx = FeatureExtractor::new(&cfg);
        let sine: Vec<f64> = (0..100)
            .map(|i| (2.0 * std::f64::consts::PI * 2.0 * i as f64 / 10.0).sin())
            .collect();
        let mut out = Vec::new();
        fx.extract(&[sine.clone(), sine.clone(), sine], &mut out);
        assert_eq!(out.len(), cfg.feature_count());
        assert!((out[7] - 2.0).abs() < 0.1, "dominant {}", out[7]);
    }
}
