use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{IngestError, Result};

/// Current metadata schema version.
pub const METADATA_VERSION: u32 = 1;
/// Upper bound of the canonical JSON (DESIGN §4.4).
pub const METADATA_MAX_BYTES: usize = 4096;

/// Time span of the data, seconds (relative for synthetic time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_s: f64,
    pub end_s: f64,
}

/// Quality block, filled from `phd_quality::Scoring`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    /// dataset score in [0, 1] (formula in docs/QUALITY.md)
    pub score: f64,
    /// `0x` + 64 hex: SHA-256 of the serialised quality model
    pub model_id: String,
    pub windows_kept: u64,
    /// reason → count (BTreeMap: sorted, deterministic)
    pub windows_dropped: BTreeMap<String, u64>,
    /// predicted class → kept windows
    pub classes: BTreeMap<String, u64>,
}

/// Device block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub manufacturer: String,
    pub model: String,
    /// certificate chain checked against the on-chain manufacturer list
    pub certified: bool,
}

/// Optional coarse attributes (never raw values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoarseAttributes {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub age_band: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weight_band: Option<String>,
}

impl CoarseAttributes {
    /// Derive from a pseudonymised table: `sex`/`gender`, `age`, `weight` attribute columns are
    /// used only if every row carries the same non-empty value (one person per dataset);
    /// `age`/`weight` must already be bands (`30-39`) — raw numbers are never copied.
    pub fn from_table(table: &crate::SensorTable) -> Self {
        let uniform = |names: &[&str]| -> Option<String> {
            let a = table
                .attributes
                .iter()
                .find(|a| names.iter().any(|n| a.name.eq_ignore_ascii_case(n)))?;
            let first = a.values.first()?;
            (!first.is_empty() && a.values.iter().all(|v| v == first)).then(|| first.clone())
        };
        let band = |v: Option<String>| {
            v.filter(|b| {
                b.split_once('-')
                    .is_some_and(|(lo, hi)| lo.parse::<u32>().is_ok() && hi.parse::<u32>().is_ok())
            })
        };
        Self {
            sex: uniform(&["sex", "gender"]),
            age_band: band(uniform(&["age", "age_years"])),
            weight_band: band(uniform(&["weight", "weight_kg", "body_weight"])),
        }
    }
}

/// Dataset metadata (DESIGN §4.4), versioned, ≤ 4096 bytes as canonical JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetMetadata {
    pub version: u32,
    pub title: String,
    /// e.g. `accelerometer+gyroscope`
    pub data_type: String,
    /// e.g. [`crate::CANONICAL_FORMAT`]
    pub format: String,
    pub sampling_rate_hz: Option<f64>,
    /// The device's rate when the data was resampled to `sampling_rate_hz` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resampled_from_hz: Option<f64>,
    pub time_range: Option<TimeRange>,
    /// rows of the canonical CSV
    pub sample_count: u64,
    /// bytes of the canonical CSV (before sealing)
    pub plaintext_bytes: u64,
    pub quality: Option<QualitySummary>,
    pub device: Option<DeviceInfo>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attributes: Option<CoarseAttributes>,
    /// Sensor channels in the data that the quality model did not check (kept only on the
    /// owner's explicit `--keep-unchecked`; absent when every channel was checked or dropped).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unchecked_channels: Option<Vec<String>>,
    pub consented_purposes: Vec<String>,
    /// `0x` + 64 hex: SHA-256 of the consent terms text the owner agreed to
    pub consent_terms_hash: String,
}

impl DatasetMetadata {
    /// Canonical JSON: serde field order (declaration order), maps sorted (BTreeMap), compact,
    /// no trailing newline. Errors if over [`METADATA_MAX_BYTES`] or wrong version.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>> {
        if self.version != METADATA_VERSION {
            return Err(IngestError::MetadataVersion {
                found: self.version,
                expected: METADATA_VERSION,
            });
        }
        let v = serde_json::to_vec(self).map_err(|source| IngestError::MetadataJson { source })?;
        if v.len() > METADATA_MAX_BYTES {
            return Err(IngestError::MetadataTooLarge {
                size: v.len(),
                max: METADATA_MAX_BYTES,
            });
        }
        Ok(v)
    }

    /// SHA-256 of [`Self::to_canonical_json`].
    pub fn hash(&self) -> Result<[u8; 32]> {
        let j = self.to_canonical_json()?;
        Ok(Sha256::digest(&j).into())
    }

    /// `0x`-prefixed hex of [`Self::hash`].
    pub fn hash_hex(&self) -> Result<String> {
        Ok(format!("0x{}", hex::encode(self.hash()?)))
    }

    /// Parse (size-bounded, version-checked, unknown fields rejected).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > METADATA_MAX_BYTES {
            return Err(IngestError::MetadataTooLarge {
                size: bytes.len(),
                max: METADATA_MAX_BYTES,
            });
        }
        let m: Self =
            serde_json::from_slice(bytes).map_err(|source| IngestError::MetadataJson { source })?;
        if m.version != METADATA_VERSION {
            return Err(IngestError::MetadataVersion {
                found: m.version,
                expected: METADATA_VERSION,
            });
        }
        Ok(m)
    }

    /// SHA-256 of consent terms text, `0x` hex, for [`Self::consent_terms_hash`].
    pub fn hash_terms(terms: &str) -> String {
        format!("0x{}", hex::encode(Sha256::digest(terms.as_bytes())))
    }
}
