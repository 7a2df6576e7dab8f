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
    fn assess(
        &self,
        table: &SensorTable,
        keep_classes: &[String],
    ) -> std::result::Result<QualityOutcome, BoxError> {
        let opts = ScoreOptions {
            keep_classes: (!keep_classes.is_empty()).then(|| keep_classes.to_vec()),
            ..ScoreOptions::default()
        };
        let score = self.model.score(table, &opts)?;
        let filtered = QualityModel::filter(table, &score)?;
        Ok(QualityOutcome {
            table: filtered,
            summary: score.summary(),
        })
    }
}

/// Device certificate + recording signature check (`<FILE>.sig.json`, phd-device).
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceSignature;

impl HardwareCheck for DeviceSignature {
    fn verify(
        &self,
        data_path: &Path,
        sig_path: &Path,
    ) -> std::result::Result<VerifiedDevice, BoxError> {
        let sig = phd_device::RecordingSignature::load(sig_path)?;
        let v = phd_device::verify_recording_file(data_path, &sig)?;
        Ok(VerifiedDevice {
            manufacturer: format!("{:#x}", v.manufacturer),
            model: v.model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare::{PrepareOptions, prepare};

    #[test]
    fn shipped_model_scores_basic_motions() {
        let Ok(q) = ModelQuality::shipped() else {
            return;
        };
        let p = phd_quality::default_data_dir().join("BasicMotions_TEST.ts");
        if !p.is_file() {
            return;
        }
        let opts = PrepareOptions {
            purposes: vec!["research".into()],
            consent_terms_hash: phd_ingest::DatasetMetadata::hash_terms("t"),
            pseudonym_key: vec![1u8; 32],
            keep_classes: vec!["walking".into(), "running".into()],
            ..PrepareOptions::default()
        };
        let prep = prepare(&p, &opts, Some(&q), None).unwrap();
        let quality = prep.metadata.quality.clone().unwrap();
        assert!((0.0..=1.0).contains(&quality.score), "{quality:?}");
        assert!(
            prep.rows_kept < prep.rows_read,
            "--keep walking,running drops the other activities"
        );
    }
}
