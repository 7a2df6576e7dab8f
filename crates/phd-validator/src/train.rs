//! `phd-validator train`: trains the quality model on the TRAIN split (phd-quality), writes it,
//! reports its id (the bytes32 in certificates) and its accuracy on the TEST split.

use std::path::Path;

use phd_quality::QualityModel;
use serde::Serialize;

use crate::error::{Result, ValidatorError};

/// Accuracy of one model variant on TEST.
#[derive(Debug, Clone, Serialize)]
pub struct VariantAccuracy {
    pub variant: String,
    /// accuracy on clean TEST windows (a wrongly rejected window counts as wrong)
    pub accuracy: f64,
    pub false_reject_rate: f64,
}

/// Result of [`train`].
#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    /// `0x` + SHA-256 of the model bytes: the `modelId` certificates carry.
    pub model_id: String,
    pub out: String,
    pub file_bytes: u64,
    pub train_windows: usize,
    pub class_names: Vec<String>,
    pub test: Vec<VariantAccuracy>,
}

/// Trains on `<data_dir>/BasicMotions_TRAIN.ts` only, saves to `out`, evaluates on
/// `<data_dir>/BasicMotions_TEST.ts` (when present). CPU-bound: call from a blocking context.
pub fn train(data_dir: &Path, out: &Path) -> Result<TrainOutcome> {
    let (model, report) = phd_quality::train_from_dir(data_dir)?;
    model.save(out)?;
    // reload what was written: the id printed is the id of the file's bytes
    let reloaded = QualityModel::load(out).map_err(|source| ValidatorError::Model {
        path: out.to_path_buf(),
        source: Box::new(source),
    })?;
    let model_id = reloaded.model_id()?;
    let file_bytes = std::fs::metadata(out)
        .map_err(ValidatorError::io(out))?
        .len();
    let mut test = Vec::new();
    let test_path = data_dir.join("BasicMotions_TEST.ts");
    if test_path.is_file() {
        let table = phd_quality::read_basic_motions(&test_path)?;
        for v in reloaded.variants() {
            let e = reloaded.evaluate(&table, &v.name, 1, 0xE7A1)?;
            test.push(VariantAccuracy {
                variant: e.variant,
                accuracy: e.accuracy,
                false_reject_rate: e.false_reject_rate,
            });
        }
    }
    Ok(TrainOutcome {
        model_id,
        out: out.display().to_string(),
        file_bytes,
        train_windows: report.train_windows,
        class_names: report.class_names,
        test,
    })
}
