//! The real quality and hardware checks (phd-quality, phd-device) behind the pluggable traits.

use std::path::Path;

use phd_ingest::SensorTable;
use phd_quality::{QualityModel, ScoreOptions};

use crate::error::{BoxError, Result, UserError};
use crate::prepare::{HardwareCheck, QualityCheck, QualityOutcome, VerifiedDevice};

/// The trained activity/validity model of phd-quality.
#[derive(Debug)]
pub struct ModelQuality {
    model: QualityModel,
}

impl ModelQuality {
    /// Loads a model file (`crates/phd-quality/model/quality-model.bin` is shipped).
    pub fn load(path: &Path) -> Result<Self> {
        let model = QualityModel::load(path).map_err(|e| UserError::Quality {
            reason: format!("cannot load the quality model {}: {e}", path.display()),
        })?;
        Ok(ModelQuality { model })
    }

    /// The model shipped in the repository.
    pub fn shipped() -> Result<Self> {
        Self::load(&phd_quality::shipped_model_path())
    }
}

impl QualityCheck for ModelQuality {
    fn assess(&self, table: &SensorTable, keep_classes: &[String]) -> std::result::Result<QualityOutcome, BoxError> {
        let opts = ScoreOptions {
            keep_classes: (!keep_classes.is_empty()).then(|| keep_classes.to_vec()),
            ..ScoreOptions::default()
        };
        let score = self.model.score(table, &opts)?;
        let filtered = QualityModel::filter(table, &score)?;
        Ok(QualityOutcome { table: filtered, summary: score.summary() })
    }
}

/// Device certificate + recording signature check (`<FILE>.sig.json`, phd-device).
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceSignature;

impl HardwareCheck for DeviceSignature {
    fn verify(&self, data_path: &Path, sig_path: &Path) -> std::result::Result<VerifiedDevice, BoxError> {
        let sig = phd_device::RecordingSignature::load(sig_path)?;
        let v = phd_device::verify_recording_file(data_path, &sig)?;
        Ok(VerifiedDevice { manufacturer: format!("{:#x}", v.manufacturer), model: v.model })
    }
}
