//! phd-quality: window features, activity model, corruption generator, validity detector,
//! dataset scoring and the deterministic model artifact. See `docs/QUALITY.md`.

mod corrupt;
mod detect;
mod error;
mod features;
mod forest;
mod model;
mod rng;
mod window;

pub use corrupt::{CorruptionKind, corrupt};
pub use detect::{
    CLASS_SPIKE_MARGIN, Detection, Detector, InvalidReason, LONELY_MARGIN, Thresholds, Validity,
    lonely_peak, rule_check,
};
pub use error::{QualityError, Result};
pub use features::{
    AGGREGATES, FeatureConfig, FeatureExtractor, PER_SERIES_FIXED, SERIES_FEATURE_NAMES,
};
pub use forest::{Forest, ForestParams};
pub use model::{
    DatasetScore, EvalReport, MODEL_VERSION, QualityModel, ScoreOptions, TrainParams, TrainReport,
    Variant, WindowScore, default_data_dir, read_basic_motions, train_from_dir,
};
pub use rng::SplitMix64;
pub use window::{Window, channel_positions, windows};

/// Path of the model shipped in the repository.
pub fn shipped_model_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("model/quality-model.bin")
}
