//! The quality model bundle: training, evaluation, scoring, filtering, persistence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bincode::Options;
use phd_ingest::{QualitySummary, ReadOptions, SensorTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::corrupt::{CorruptionKind, corrupt};
use crate::detect::{
    CLASS_SPIKE_MARGIN, Detector, GLITCH_MARGIN, InvalidReason, LONELY_MARGIN, Validity,
    drift_exceeds, glitch_isolation, lonely_peak, spike_stats,
};
use crate::error::{QualityError, Result};
use crate::features::{FeatureConfig, FeatureExtractor};
use crate::forest::{Forest, ForestParams, argmax};
use crate::stream::DriftTracker;
use crate::window::{Window, windows};

/// Version of [`QualityModel`]: its serialisation and the decision procedure it implies, so a
/// model id names one scoring (3: the detector forest's `spikes` verdict needs a corroborating
/// spike statistic; 2: the long-stream checks).
pub const MODEL_VERSION: u32 = 3;
const MAGIC: &[u8; 8] = b"PHDQMDL\x01";
const MAX_MODEL_BYTES: u64 = 256 << 20;

/// Training hyper-parameters (all seeds fixed → deterministic model bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    pub activity: ForestParams,
    pub detector: ForestParams,
    /// corrupted copies per clean TRAIN window and model-detected corruption kind
    pub detector_reps: usize,
    pub corruption_seed: u64,
    /// clean-window false-reject rate the detector threshold is calibrated to (4-fold CV on TRAIN)
    pub detector_max_false_reject: f64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            activity: ForestParams {
                n_trees: 100,
                subspace_fraction: 0.33,
                max_depth: Some(12),
                seed: 0xAC71_0001,
            },
            detector: ForestParams {
                n_trees: 100,
                subspace_fraction: 0.6,
                max_depth: Some(12),
                seed: 0xDE7E_0001,
            },
            detector_reps: 4,
            corruption_seed: 0xC022_0001,
            detector_max_false_reject: 0.025,
        }
    }
}

/// One channel set (e.g. acc+gyro, or acc only) with its activity model and detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub features: FeatureConfig,
    activity: Forest,
    detector: Detector,
}

impl Variant {
    pub fn detector(&self) -> &Detector {
        &self.detector
    }
}

/// Activity model(s) + detector + feature config + class names.
#[derive(Debug, Serialize, Deserialize)]
pub struct QualityModel {
    /// must stay the first field: `load` reads it before decoding the rest
    pub version: u32,
    pub class_names: Vec<String>,
    pub params: TrainParams,
    /// tried in order; the first whose channels are all present is used
    variants: Vec<Variant>,
    /// cached [`Self::model_id`] (not serialised)
    #[serde(skip)]
    id_cache: std::sync::OnceLock<String>,
}

/// Summary of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub train_windows: usize,
    pub class_names: Vec<String>,
    pub variants: Vec<String>,
    pub model_id: String,
}

/// Which classes the owner shares; `None` = all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOptions {
    /// class names (case-insensitive) to keep, e.g. `["Walking", "Running"]`
    pub keep_classes: Option<Vec<String>>,
    /// force a variant by name (`acc+gyro`, `acc`)
    pub variant: Option<String>,
}

/// Result for one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowScore {
    pub recording: u32,
    pub start_row: usize,
    pub len: usize,
    /// predicted activity (None for invalid windows)
    pub class: Option<String>,
    /// forest vote fraction of the predicted class (0 for invalid windows)
    pub confidence: f64,
    pub validity: Validity,
    /// valid and of a kept class
    pub kept: bool,
}

/// Result for a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetScore {
    /// Σ confidence over valid windows / number of windows, in [0, 1]
    pub score: f64,
    pub model_id: String,
    pub variant: String,
    pub windows: Vec<WindowScore>,
    pub windows_kept: u64,
    /// reason name (or `class_excluded`) → count
    pub windows_dropped: BTreeMap<String, u64>,
    /// predicted class → kept windows
    pub classes: BTreeMap<String, u64>,
}

impl DatasetScore {
    /// The metadata block (phd-ingest §4.4).
    pub fn summary(&self) -> QualitySummary {
        QualitySummary {
            score: (self.score * 1e6).round() / 1e6,
            model_id: self.model_id.clone(),
            windows_kept: self.windows_kept,
            windows_dropped: self.windows_dropped.clone(),
            classes: self.classes.clone(),
        }
    }
}

/// Test-split evaluation of one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub variant: String,
    pub class_names: Vec<String>,
    /// accuracy on clean TEST windows
    pub accuracy: f64,
    /// `confusion[true][predicted]`
    pub confusion: Vec<Vec<u32>>,
    /// clean TEST windows wrongly rejected / clean TEST windows
    pub false_reject_rate: f64,
    pub false_rejects: BTreeMap<String, u32>,
    /// corruption kind → (detected, total, detected with the matching reason)
    pub recall: BTreeMap<String, (u32, u32, u32)>,
    /// held-out kinds ([`CorruptionKind::HELD_OUT`]) → true activity → (detected, total)
    pub held_out_by_class: BTreeMap<String, BTreeMap<String, (u32, u32)>>,
}

/// Continuous-stream drift evaluation ([`QualityModel::evaluate_stream_drift`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamDriftReport {
    pub variant: String,
    /// windows per stream
    pub stream_windows: usize,
    /// windows of the clean streams, and of those rejected as `drift` / for any reason
    pub clean_windows: u32,
    pub clean_drift_rejects: u32,
    /// of the `drift` rejects, those by the cross-window trend check
    pub clean_trend_rejects: u32,
    pub clean_rejects: u32,
    /// per slope label (`acc 0.01 m/s²/s`, …): (streams, streams with a `drift` window,
    /// mean index of the first `drift` window among the detected streams)
    pub drifted: BTreeMap<String, (u32, u32, f64)>,
}

/// Slopes of the stream drift set: accelerometer (m/s² per s), gyroscope (rad/s per s).
pub const STREAM_DRIFT_SLOPES: [[f64; 3]; 2] = [[0.005, 0.01, 0.02], [0.001, 0.002, 0.005]];

/// Default location of the BasicMotions data: `$PHD_DATA_DIR`, else
/// `data/basic-motions` of the repository.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("PHD_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/basic-motions"))
}

/// Read a `.ts` file with BasicMotions defaults (10 Hz).
pub fn read_basic_motions(path: &Path) -> Result<SensorTable> {
    let opts = ReadOptions {
        sampling_rate_hz: Some(10.0),
        ..Default::default()
    };
    Ok(phd_ingest::read_ts_path(path, &opts)?)
}

fn expected_reason(kind: CorruptionKind) -> &'static [InvalidReason] {
    use InvalidReason as R;
    match kind {
        CorruptionKind::Flatline => &[R::Flatline],
        CorruptionKind::Clipping => &[R::Clipping],
        CorruptionKind::WhiteNoise => &[R::WhiteNoise],
        CorruptionKind::Spikes => &[R::Spikes],
        CorruptionKind::Dropout => &[R::TimestampGap, R::TooShort],
        CorruptionKind::WrongScale => &[R::WrongScale],
        CorruptionKind::DuplicateTimestamps => &[R::DuplicateTimestamp],
        CorruptionKind::NonMonotonicTime => &[R::NonMonotonicTime],
        CorruptionKind::NanInf => &[R::NonFinite],
        CorruptionKind::Drift => &[R::Drift],
        CorruptionKind::Glitch => &[R::Spikes, R::OutOfRange],
    }
}

/// Train on the TRAIN `.ts` in `dir` (`BasicMotions_TRAIN.ts`).
pub fn train_from_dir(dir: &Path) -> Result<(QualityModel, TrainReport)> {
    let path = dir.join("BasicMotions_TRAIN.ts");
    let table = read_basic_motions(&path)?;
    if table.labels.iter().all(Option::is_none) {
        return Err(QualityError::NoData { path });
    }
    QualityModel::train(&table, &TrainParams::default())
}

impl QualityModel {
    /// Train both variants (acc+gyro, acc) on a labelled table (TRAIN split only).
    pub fn train(table: &SensorTable, params: &TrainParams) -> Result<(Self, TrainReport)> {
        let mut class_names: Vec<String> = table.labels.iter().flatten().cloned().collect();
        class_names.sort();
        class_names.dedup();
        if class_names.is_empty() {
            return Err(QualityError::Train {
                what: "activity model",
                reason: "no labels".into(),
            });
        }
        let mut variants = Vec::new();
        let mut n_windows = 0;
        for (name, cfg) in [
            ("acc+gyro", FeatureConfig::acc_gyro()),
            ("acc", FeatureConfig::acc_only()),
        ] {
            let ws = match windows(table, &cfg) {
                Ok(w) => w,
                Err(QualityError::MissingChannel { .. }) => continue,
                Err(e) => return Err(e),
            };
            let ws: Vec<Window> = ws
                .into_iter()
                .filter(|w| w.len() == cfg.window_len)
                .collect();
            n_windows = n_windows.max(ws.len());
            let mut fx = FeatureExtractor::new(&cfg);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            let classes: Vec<Option<usize>> = ws
                .iter()
                .map(|w| {
                    w.label
                        .as_ref()
                        .and_then(|l| class_names.iter().position(|n| n == l))
                })
                .collect();
            for (w, c) in ws.iter().zip(&classes) {
                let Some(c) = *c else { continue };
                let mut f = Vec::new();
                fx.extract(&w.data, &mut f);
                x.push(f);
                y.push(c as u32);
            }
            let activity = Forest::fit(&x, &y, class_names.len(), &params.activity)?;
            let detector = Detector::train(
                &ws,
                &classes,
                class_names.len(),
                &cfg,
                params.detector_reps,
                params.corruption_seed,
                params.detector_max_false_reject,
                &params.detector,
            )?;
            variants.push(Variant {
                name: name.into(),
                features: cfg,
                activity,
                detector,
            });
        }
        if variants.is_empty() {
            return Err(QualityError::NoVariant {
                available: table.channel_names.clone(),
            });
        }
        let model = Self {
            version: MODEL_VERSION,
            class_names: class_names.clone(),
            params: params.clone(),
            variants,
            id_cache: std::sync::OnceLock::new(),
        };
        let report = TrainReport {
            train_windows: n_windows,
            class_names,
            variants: model.variants.iter().map(|v| v.name.clone()).collect(),
            model_id: model.model_id()?,
        };
        Ok((model, report))
    }

    /// Model variants (acc+gyro first, then acc only).
    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// Deterministic bytes (bincode, fixed-int little-endian) — what `model_id` hashes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        bincode::serialize(self).map_err(|source| QualityError::ModelEncode { source })
    }

    /// `0x` + hex SHA-256 of [`Self::to_bytes`] (a bytes32 on-chain).
    pub fn model_id(&self) -> Result<String> {
        if let Some(id) = self.id_cache.get() {
            return Ok(id.clone());
        }
        let id = format!("0x{}", hex::encode(Sha256::digest(self.to_bytes()?)));
        Ok(self.id_cache.get_or_init(|| id).clone())
    }

    /// Write `MAGIC ‖ to_bytes()`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut v = MAGIC.to_vec();
        v.extend(self.to_bytes()?);
        std::fs::write(path, v).map_err(|source| QualityError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Load and check magic, version and size. Model files are trusted artifacts (identified by
    /// [`Self::model_id`]); decoding is bounded, but a crafted file that decodes could still
    /// make smartcore's tree traversal misbehave — load only models whose id you expect.
    pub fn load(path: &Path) -> Result<Self> {
        let io = |source| QualityError::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_MODEL_BYTES {
            return Err(QualityError::BadConfig {
                reason: format!("{}: model file of {len} bytes is too large", path.display()),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_file_bytes(&bytes, path)
    }

    /// Decode file bytes (`MAGIC ‖ bincode`); `path` is for error messages.
    pub fn from_file_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| QualityError::BadMagic {
                path: path.to_owned(),
            })?;
        let ver = body
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if let Some(v) = ver
            && v != MODEL_VERSION
        {
            return Err(QualityError::ModelVersion {
                found: v,
                expected: MODEL_VERSION,
            });
        }
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .with_limit(MAX_MODEL_BYTES)
            .deserialize(body)
            .map_err(|source| QualityError::ModelDecode {
                path: path.to_owned(),
                source,
            })
    }

    /// The variant to use for a table.
    pub fn variant_for(&self, table: &SensorTable, name: Option<&str>) -> Result<&Variant> {
        self.variants
            .iter()
            .filter(|v| name.is_none_or(|n| v.name == n))
            .find(|v| {
                v.features
                    .channels
                    .iter()
                    .all(|c| table.channel_index(c).is_some())
            })
            .ok_or_else(|| QualityError::NoVariant {
                available: table.channel_names.clone(),
            })
    }

    /// Validity and activity for windows (class index + confidence for valid windows).
    pub fn classify_windows(
        &self,
        v: &Variant,
        ws: &[Window],
    ) -> Result<Vec<(Validity, Option<usize>, f64)>> {
        let mut fx = FeatureExtractor::new(&v.features);
        let det = v.detector.detect(ws, &v.features, &mut fx)?;
        let valid: Vec<usize> = (0..det.len())
            .filter(|&i| det[i].validity.is_valid() || det[i].forest_spikes)
            .collect();
        let rows: Vec<Vec<f64>> = valid.iter().map(|&i| det[i].features.clone()).collect();
        let proba = v.activity.predict_proba(&rows)?;
        let mut out: Vec<(Validity, Option<usize>, f64)> =
            det.iter().map(|d| (d.validity, None, 0.0)).collect();
        let th = &v.detector.thresholds;
        for (&i, p) in valid.iter().zip(&proba) {
            let (c, conf) = argmax(p);
            // class-conditional spike check: spikes beyond what clean TRAIN windows of the
            // predicted activity ever showed (× margin)
            let s = spike_stats(&det[i].features, &v.features);
            let lonely = ws.get(i).map_or(0.0, lonely_peak);
            let glitch = ws.get(i).map_or(0.0, glitch_isolation);
            if det[i].forest_spikes {
                // The forest's spikes verdict stands only when a spike statistic is beyond
                // what any clean TRAIN window of the predicted activity showed (the limits
                // without their margins); otherwise it was a clean window's natural jolt.
                let beyond_clean = th.class_spike_max.get(c).is_some_and(|lim| {
                    s[0] > lim[0] / CLASS_SPIKE_MARGIN || s[1] > lim[1] / CLASS_SPIKE_MARGIN
                }) || th
                    .class_lonely_max
                    .get(c)
                    .is_some_and(|lim| lonely > lim / LONELY_MARGIN)
                    || th
                        .class_glitch_max
                        .get(c)
                        .is_some_and(|lim| glitch > lim / GLITCH_MARGIN);
                if beyond_clean {
                    continue;
                }
                out[i].0 = Validity::Valid;
            }
            if th
                .class_spike_max
                .get(c)
                .is_some_and(|lim| s[0] > lim[0] || s[1] > lim[1])
                || th.class_lonely_max.get(c).is_some_and(|lim| lonely > *lim)
            {
                out[i].0 = Validity::Invalid {
                    reason: InvalidReason::Spikes,
                };
                continue;
            }
            // an isolated one-channel excursion beyond what clean windows of this activity
            // ever showed (docs/QUALITY.md "glitch")
            if th.class_glitch_max.get(c).is_some_and(|lim| glitch > *lim) {
                out[i].0 = Validity::Invalid {
                    reason: InvalidReason::Spikes,
                };
                continue;
            }
            // the level of an axis moving across the window more than in any clean window of
            // this activity
            if ws.get(i).is_some_and(|w| drift_exceeds(w, th, c)) {
                out[i].0 = Validity::Invalid {
                    reason: InvalidReason::Drift,
                };
                continue;
            }
            out[i].1 = Some(c);
            out[i].2 = conf;
        }
        Ok(out)
    }

    /// Score every window of a table (the cross-window drift check runs within each recording).
    pub fn score(&self, table: &SensorTable, opts: &ScoreOptions) -> Result<DatasetScore> {
        self.score_with(table, opts, None)
    }

    /// Score a table that continues a stream: `tracker` carries the recent window medians from
    /// the previous part (segment) of the stream and is updated, so drift that builds up
    /// across segment boundaries is seen. One tracker per stream.
    pub fn score_stream(
        &self,
        table: &SensorTable,
        opts: &ScoreOptions,
        tracker: &mut DriftTracker,
    ) -> Result<DatasetScore> {
        self.score_with(table, opts, Some(tracker))
    }

    /// Marks windows that continue a trend of window medians ([`DriftTracker`]) as `drift`.
    /// Windows are observed in order; a window rejected for another reason breaks the chain
    /// (its time gap resets the tracker), except within-window drift, which is the same story.
    fn stream_drift(
        v: &Variant,
        ws: &[Window],
        res: &mut [(Validity, Option<usize>, f64)],
        mut tracker: Option<&mut DriftTracker>,
    ) {
        let lim = &v.detector.thresholds.stream_drift;
        let fs = v.features.sampling_rate_hz;
        let mut own = DriftTracker::new();
        let mut recording = None;
        for (w, r) in ws.iter().zip(res.iter_mut()) {
            let observed = matches!(
                r.0,
                Validity::Valid
                    | Validity::Invalid {
                        reason: InvalidReason::Drift
                    }
            );
            if !observed {
                continue;
            }
            let t = match tracker.as_deref_mut() {
                Some(t) => t,
                None => {
                    if recording != Some(w.recording) {
                        own = DriftTracker::new();
                        recording = Some(w.recording);
                    }
                    &mut own
                }
            };
            if t.observe(w, fs, lim) && r.0.is_valid() {
                *r = (
                    Validity::Invalid {
                        reason: InvalidReason::Drift,
                    },
                    None,
                    0.0,
                );
            }
        }
    }

    fn score_with(
        &self,
        table: &SensorTable,
        opts: &ScoreOptions,
        tracker: Option<&mut DriftTracker>,
    ) -> Result<DatasetScore> {
        let v = self.variant_for(table, opts.variant.as_deref())?;
        let ws = windows(table, &v.features)?;
        let mut res = self.classify_windows(v, &ws)?;
        Self::stream_drift(v, &ws, &mut res, tracker);
        let keep_class = |c: &str| {
            opts.keep_classes
                .as_ref()
                .is_none_or(|k| k.iter().any(|x| x.eq_ignore_ascii_case(c)))
        };
        let mut out = DatasetScore {
            score: 0.0,
            model_id: self.model_id()?,
            variant: v.name.clone(),
            windows: Vec::with_capacity(ws.len()),
            windows_kept: 0,
            windows_dropped: BTreeMap::new(),
            classes: BTreeMap::new(),
        };
        let mut conf_sum = 0.0;
        for (w, (validity, class, conf)) in ws.iter().zip(res) {
            let class = class.and_then(|c| self.class_names.get(c)).cloned();
            let kept = match (&validity, &class) {
                (Validity::Invalid { reason }, _) => {
                    *out.windows_dropped
                        .entry(reason.name().to_owned())
                        .or_default() += 1;
                    false
                }
                (Validity::Valid, Some(c)) => {
                    conf_sum += conf;
                    if keep_class(c) {
                        *out.classes.entry(c.clone()).or_default() += 1;
                        out.windows_kept += 1;
                        true
                    } else {
                        *out.windows_dropped
                            .entry("class_excluded".to_owned())
                            .or_default() += 1;
                        false
                    }
                }
                (Validity::Valid, None) => false,
            };
            out.windows.push(WindowScore {
                recording: w.recording,
                start_row: w.start_row,
                len: w.len(),
                class,
                confidence: conf,
                validity,
                kept,
            });
        }
        out.score = if ws.is_empty() {
            0.0
        } else {
            (conf_sum / ws.len() as f64).clamp(0.0, 1.0)
        };
        Ok(out)
    }

    /// Only the rows every covering window kept (invalid and excluded windows never reach sealed
    /// data; rows covered by no window are dropped too).
    pub fn filter(table: &SensorTable, score: &DatasetScore) -> Result<SensorTable> {
        let n = table.len();
        let mut covered = vec![false; n];
        let mut veto = vec![false; n];
        for w in &score.windows {
            let end = (w.start_row + w.len).min(n);
            let start = w.start_row.min(end);
            for i in start..end {
                covered[i] = true;
                veto[i] |= !w.kept;
            }
        }
        let keep: Vec<bool> = covered.iter().zip(&veto).map(|(c, v)| *c && !*v).collect();
        Ok(table.filter_rows(&keep)?)
    }

    /// Drift on continuous streams, from a labelled TEST table: per activity, a stream of
    /// `stream_windows` windows made of that activity's recordings in seeded random order
    /// (continuous time); clean, then with a ramp on one axis over the whole stream for every
    /// slope of [`STREAM_DRIFT_SLOPES`] (`reps` seeded axis choices each). Counts clean windows
    /// rejected and how many drifted streams get a `drift` window, and how soon.
    pub fn evaluate_stream_drift(
        &self,
        test: &SensorTable,
        variant: &str,
        stream_windows: usize,
        reps: usize,
        seed: u64,
    ) -> Result<StreamDriftReport> {
        let v = self.variant_for(test, Some(variant))?;
        let ws: Vec<Window> = windows(test, &v.features)?
            .into_iter()
            .filter(|w| w.len() == v.features.window_len)
            .collect();
        let fs = v.features.sampling_rate_hz;
        let mut rng = crate::rng::SplitMix64::new(seed);
        let mut report = StreamDriftReport {
            variant: v.name.clone(),
            stream_windows,
            clean_windows: 0,
            clean_drift_rejects: 0,
            clean_trend_rejects: 0,
            clean_rejects: 0,
            drifted: BTreeMap::new(),
        };
        let run = |stream: &[Window]| -> Result<Vec<(Validity, Option<usize>, f64)>> {
            let mut res = self.classify_windows(v, stream)?;
            let mut tracker = DriftTracker::new();
            Self::stream_drift(v, stream, &mut res, Some(&mut tracker));
            Ok(res)
        };
        let is_drift = |r: &(Validity, Option<usize>, f64)| {
            r.0 == Validity::Invalid {
                reason: InvalidReason::Drift,
            }
        };
        for class in &self.class_names {
            let pool: Vec<&Window> = ws
                .iter()
                .filter(|w| w.label.as_ref() == Some(class))
                .collect();
            if pool.is_empty() {
                continue;
            }
            // seeded order: shuffled passes over the pool, joined with continuous time
            let mut stream = Vec::with_capacity(stream_windows);
            while stream.len() < stream_windows {
                let mut order: Vec<usize> = (0..pool.len()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i + 1));
                }
                for &i in order.iter().take(stream_windows - stream.len()) {
                    let k = stream.len();
                    let mut w = pool[i].clone();
                    let n = w.len();
                    w.recording = 0;
                    w.start_row = k * n;
                    w.t = (0..n).map(|j| (k * n + j) as f64 / fs).collect();
                    stream.push(w);
                }
            }
            let clean = run(&stream)?;
            let window_level = self.classify_windows(v, &stream)?;
            report.clean_trend_rejects += clean
                .iter()
                .zip(&window_level)
                .filter(|(a, b)| is_drift(a) && b.0.is_valid())
                .count() as u32;
            report.clean_windows += clean.len() as u32;
            report.clean_drift_rejects += clean.iter().filter(|r| is_drift(r)).count() as u32;
            report.clean_rejects += clean.iter().filter(|r| !r.0.is_valid()).count() as u32;
            let nch = v.features.channels.len();
            for (sensor, slopes) in STREAM_DRIFT_SLOPES.iter().enumerate() {
                if sensor * 3 >= nch {
                    continue;
                }
                for slope in slopes {
                    let unit = if sensor == 0 { "m/s²/s" } else { "rad/s/s" };
                    let label = format!(
                        "{} {slope} {unit}",
                        if sensor == 0 { "acc" } else { "gyro" }
                    );
                    for _ in 0..reps {
                        let c = sensor * 3 + rng.below(3.min(nch - sensor * 3));
                        let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                        let mut drifted = stream.clone();
                        for w in &mut drifted {
                            for (x, t) in w.data[c].iter_mut().zip(&w.t) {
                                *x += sign * slope * t;
                            }
                        }
                        let res = run(&drifted)?;
                        let first = res.iter().position(is_drift);
                        let e = report.drifted.entry(label.clone()).or_insert((0, 0, 0.0));
                        e.0 += 1;
                        if let Some(i) = first {
                            // running mean of the first-detection index
                            e.1 += 1;
                            e.2 += (i as f64 - e.2) / e.1 as f64;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Evaluate a variant on a labelled TEST table: accuracy/confusion on clean windows,
    /// false-reject rate, and per-corruption recall over `reps` seeded corruptions per window.
    pub fn evaluate(
        &self,
        test: &SensorTable,
        variant: &str,
        reps: usize,
        seed: u64,
    ) -> Result<EvalReport> {
        let v = self.variant_for(test, Some(variant))?;
        let ws = windows(test, &v.features)?;
        let res = self.classify_windows(v, &ws)?;
        let k = self.class_names.len();
        let mut confusion = vec![vec![0u32; k]; k];
        let (mut correct, mut total) = (0u32, 0u32);
        let mut false_rejects = BTreeMap::new();
        let mut rejected = 0u32;
        for (w, (validity, class, _)) in ws.iter().zip(&res) {
            if let Validity::Invalid { reason } = validity {
                rejected += 1;
                *false_rejects.entry(reason.name().to_owned()).or_insert(0) += 1;
            }
            let Some(t) = w
                .label
                .as_ref()
                .and_then(|l| self.class_names.iter().position(|n| n == l))
            else {
                continue;
            };
            // accuracy counts every clean window: a rejected one counts as wrong
            total += 1;
            if let Some(p) = class {
                if let Some(cell) = confusion.get_mut(t).and_then(|row| row.get_mut(*p)) {
                    *cell += 1;
                }
                if *p == t {
                    correct += 1;
                }
            }
        }
        let mut recall = BTreeMap::new();
        let mut held_out_by_class: BTreeMap<String, BTreeMap<String, (u32, u32)>> = BTreeMap::new();
        for kind in CorruptionKind::ALL {
            let mut cw = Vec::new();
            for (i, w) in ws.iter().enumerate() {
                for r in 0..reps {
                    cw.push(corrupt(
                        w,
                        kind,
                        seed ^ ((i as u64) << 24) ^ ((r as u64) << 4) ^ 0x7E57,
                    ));
                }
            }
            let out = self.classify_windows(v, &cw)?;
            if CorruptionKind::HELD_OUT.contains(&kind) {
                let by = held_out_by_class.entry(kind.name().to_owned()).or_default();
                for (w, o) in cw.iter().zip(&out) {
                    let e = by
                        .entry(w.label.clone().unwrap_or_default())
                        .or_insert((0, 0));
                    e.0 += u32::from(!o.0.is_valid());
                    e.1 += 1;
                }
            }
            let det = out.iter().filter(|o| !o.0.is_valid()).count() as u32;
            let exact = out
                .iter()
                .filter(|o| matches!(o.0, Validity::Invalid { reason } if expected_reason(kind).contains(&reason)))
                .count() as u32;
            recall.insert(kind.name().to_owned(), (det, cw.len() as u32, exact));
        }
        Ok(EvalReport {
            variant: v.name.clone(),
            class_names: self.class_names.clone(),
            accuracy: if total == 0 {
                0.0
            } else {
                correct as f64 / total as f64
            },
            confusion,
            false_reject_rate: if ws.is_empty() {
                0.0
            } else {
                rejected as f64 / ws.len() as f64
            },
            false_rejects,
            recall,
            held_out_by_class,
        })
    }
}
