//! Scoring a dataset's plaintext (canonical CSV) and the report the certificate's hash covers.
//!
//! The report holds aggregates only (score, windows kept/dropped by reason, class histogram,
//! mean confidence): it is published (S3 / `GET /reports/{id}`) and its keccak256 goes
//! on-chain, so it must not leak the owner's activity timeline — per-window results stay
//! inside the validator.

use std::collections::BTreeMap;

use phd_ingest::{NonFinitePolicy, ReadOptions};
use phd_quality::{QualityModel, ScoreOptions, Validity};
use serde::{Deserialize, Serialize};

/// Version of the report JSON.
pub const REPORT_VERSION: u32 = 1;

/// Default minimum score (basis points) the validator certifies; below it the dataset is
/// rejected (report stored and served, nothing posted on-chain, no reward minted).
pub const DEFAULT_MIN_CERTIFY_BPS: u16 = 1_000;

/// What the model made of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Parsed and scored.
    Scored,
    /// Not canonical CSV, or no model variant fits its channels, or no window at all.
    Unscorable,
}

/// What the validator does with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// `certify(datasetId, score_bps, modelId, keccak256(report), reportUri)`.
    Certify,
    /// No certificate (score below the minimum, or unscorable); the report says why.
    Reject,
}

/// Model output for one plaintext, before it is bound to a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    pub outcome: Outcome,
    /// Why the data could not be scored (only for [`Outcome::Unscorable`]).
    pub error: Option<String>,
    pub model_id: String,
    /// Model variant used (`acc+gyro`, `acc`).
    pub variant: Option<String>,
    /// Σ confidence over valid windows / windows, in [0, 1] (0 when unscorable).
    pub score: f64,
    /// `round(score × 10000)`, what goes on-chain.
    pub score_bps: u16,
    pub plaintext_bytes: u64,
    pub samples: u64,
    pub recordings: u64,
    pub channels: Vec<String>,
    pub windows_total: u64,
    pub windows_kept: u64,
    /// reason → count
    pub windows_dropped: BTreeMap<String, u64>,
    /// predicted class → windows
    pub classes: BTreeMap<String, u64>,
    /// Mean forest confidence over valid windows (0 when none).
    pub mean_confidence: f64,
}

/// The published report (`reports/<dataset_id>.json`); `reportHash = keccak256(bytes)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub version: u32,
    pub dataset_id: Option<u64>,
    pub purchase_id: Option<u64>,
    pub chain_id: Option<u64>,
    /// DataRegistry address.
    pub data_registry: Option<String>,
    pub validator: Option<String>,
    /// On-chain content root of the sealed object the plaintext was verified against.
    pub content_root: Option<String>,
    pub decision: Decision,
    /// Minimum score (bps) this validator certifies.
    pub min_certify_bps: u16,
    #[serde(flatten)]
    pub result: ScoreSummary,
    /// Unix seconds.
    pub created_at: u64,
}

impl ValidationReport {
    /// A report for `result` not bound to any dataset (offline `certify-file`).
    pub fn offline(result: ScoreSummary, min_certify_bps: u16) -> Self {
        ValidationReport {
            version: REPORT_VERSION,
            dataset_id: None,
            purchase_id: None,
            chain_id: None,
            data_registry: None,
            validator: None,
            content_root: None,
            decision: decide(&result, min_certify_bps),
            min_certify_bps,
            result,
            created_at: now_unix(),
        }
    }

    /// The exact bytes that are stored, served and hashed (pretty JSON + newline).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut v = serde_json::to_vec_pretty(self)?;
        v.push(b'\n');
        Ok(v)
    }
}

/// Certify when scored and `score_bps >= min_certify_bps`.
pub fn decide(result: &ScoreSummary, min_certify_bps: u16) -> Decision {
    if result.outcome == Outcome::Scored && result.score_bps >= min_certify_bps {
        Decision::Certify
    } else {
        Decision::Reject
    }
}

/// keccak256 of report bytes (the on-chain `reportHash`).
pub fn report_hash(bytes: &[u8]) -> alloy::primitives::B256 {
    alloy::primitives::keccak256(bytes)
}

pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Score in [0, 1] → basis points (NaN → 0).
pub fn score_to_bps(score: f64) -> u16 {
    if !score.is_finite() {
        return 0;
    }
    // clamped to 0..=10000 first, so the cast cannot truncate
    (score.clamp(0.0, 1.0) * 10_000.0).round() as u16
}

/// Reads `plaintext` as canonical CSV (phd-ingest) and scores every window with `model`.
/// Never fails: data that cannot be read or scored gives [`Outcome::Unscorable`] with the reason.
pub fn score_plaintext(model: &QualityModel, plaintext: &[u8]) -> ScoreSummary {
    let model_id = model.model_id().unwrap_or_default();
    let mut s = ScoreSummary {
        outcome: Outcome::Unscorable,
        error: None,
        model_id,
        variant: None,
        score: 0.0,
        score_bps: 0,
        plaintext_bytes: plaintext.len() as u64,
        samples: 0,
        recordings: 0,
        channels: Vec::new(),
        windows_total: 0,
        windows_kept: 0,
        windows_dropped: BTreeMap::new(),
        classes: BTreeMap::new(),
        mean_confidence: 0.0,
    };
    let opts = ReadOptions {
        non_finite: NonFinitePolicy::Keep,
        allow_non_monotonic_time: true,
        ..ReadOptions::default()
    };
    let table = match phd_ingest::read_csv(plaintext, &opts) {
        Ok(t) => t,
        Err(e) => {
            s.error = Some(format!("not readable as canonical CSV: {e}"));
            return s;
        }
    };
    s.samples = table.len() as u64;
    s.recordings = table.recording_count() as u64;
    s.channels = table.channel_names.clone();
    let scored = match model.score(&table, &ScoreOptions::default()) {
        Ok(d) => d,
        Err(e) => {
            s.error = Some(format!("cannot be scored: {e}"));
            return s;
        }
    };
    if scored.windows.is_empty() {
        s.error = Some("no complete window of data".into());
        return s;
    }
    let valid: Vec<f64> = scored
        .windows
        .iter()
        .filter(|w| matches!(w.validity, Validity::Valid))
        .map(|w| w.confidence)
        .collect();
    s.outcome = Outcome::Scored;
    s.variant = Some(scored.variant.clone());
    s.score = if scored.score.is_finite() {
        scored.score
    } else {
        0.0
    };
    s.score_bps = score_to_bps(s.score);
    s.windows_total = scored.windows.len() as u64;
    s.windows_kept = scored.windows_kept;
    s.windows_dropped = scored.windows_dropped;
    s.classes = scored.classes;
    s.mean_confidence = if valid.is_empty() {
        0.0
    } else {
        valid.iter().sum::<f64>() / valid.len() as f64
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bps() {
        assert_eq!(score_to_bps(0.0), 0);
        assert_eq!(score_to_bps(1.0), 10_000);
        assert_eq!(score_to_bps(0.12345), 1_235);
        assert_eq!(score_to_bps(f64::NAN), 0);
        assert_eq!(score_to_bps(7.0), 10_000);
        assert_eq!(score_to_bps(-1.0), 0);
    }
}
