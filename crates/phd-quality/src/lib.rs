//! phd-quality: window features, activity model, corruption generator, validity detector,
//! dataset scoring and the deterministic model artifact. See `docs/QUALITY.md`.

mod corrupt;
mod detect;
mod error;
mod features;
mod forest;
mod model;
mod rng;
mod stream;
mod window;

pub use corrupt::{CorruptionKind, DRIFT_SLOPES, GLITCH_AMPLITUDE, corrupt};
pub use detect::{
    CLASS_SPIKE_MARGIN, DRIFT_MARGIN, Detection, Detector, FULL_SCALE_MARGIN, GLITCH_MARGIN,
    InvalidReason, LONELY_MARGIN, Thresholds, Validity, drift_shift, glitch_isolation, lonely_peak,
    rule_check,
};
pub use error::{QualityError, Result};
pub use features::{
    AGGREGATES, FeatureConfig, FeatureExtractor, PER_SERIES_FIXED, SERIES_FEATURE_NAMES,
};
pub use forest::{Forest, ForestParams};
pub use model::{
    DatasetScore, EvalReport, MODEL_VERSION, QualityModel, STREAM_DRIFT_SLOPES, ScoreOptions,
    StreamDriftReport, TrainParams, TrainReport, Variant, WindowScore, default_data_dir,
    read_basic_motions, train_from_dir,
};
pub use rng::SplitMix64;
pub use stream::{DriftTracker, STREAM_DRIFT_MIN_Z, STREAM_DRIFT_WINDOWS, StreamDriftLimits};
pub use window::{Window, channel_positions, windows};

/// Path of the model shipped in the repository.
pub fn shipped_model_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("model/quality-model.bin")
}
