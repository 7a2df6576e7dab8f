//! Error type of phd-sdk.

use std::path::PathBuf;

/// A boxed error from another layer; its `Display` is kept.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for this crate.
pub type Result<T, E = SdkError> = std::result::Result<T, E>;

/// How a bad delivery can be proven wrong on-chain (`Marketplace.dispute`, FORMATS.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeKind {
    /// Well-formed payload whose unmasked share fails the Feldman check: dispute with a DLEQ
    /// proof (`phd_keys::prove_dispute`).
    WrongShare,
    /// Payload not in the provable format: dispute with an empty proof.
    Malformed,
}

/// One keeper's share that failed (format, unmasking or Feldman verification). Carries what a
/// dispute needs: the posted payload (public: it is on-chain) and the share index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadShare {
    /// Keeper address (0x-hex).
    pub keeper: String,
    /// Share index it delivered under.
    pub share_index: u8,
    /// What was wrong.
    pub reason: String,
    /// The payload exactly as posted in `ShareDelivered`.
    pub payload: alloy::primitives::Bytes,
    /// How to dispute it; `None` when it cannot be proven wrong on-chain.
    pub dispute: Option<DisputeKind>,
}

impl std::fmt::Display for BadShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "keeper {} (share {}) sent an invalid share: {}",
            self.keeper, self.share_index, self.reason
        )
    }
}

/// Everything browsing and retrieving can fail with. Messages are meant for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// A chain call failed (reverts decoded by phd-chain).
    #[error("{context}: {source}")]
    Chain {
        context: String,
        #[source]
        source: BoxError,
    },
    /// Object storage failed.
    #[error("storage: {context}: {source}")]
    Storage {
        context: String,
        #[source]
        source: BoxError,
    },
    /// Not enough good shares arrived in time.
    #[error("purchase {purchase_id}: only {good} valid of the {threshold} needed key shares arrived within {secs}s{}", bad_suffix(.bad))]
    NotEnoughShares {
        purchase_id: u64,
        good: usize,
        threshold: usize,
        secs: u64,
        bad: Vec<BadShare>,
    },
    /// Reconstructing the key failed.
    #[error("purchase {purchase_id}: cannot reconstruct the data key: {reason}")]
    Reconstruct { purchase_id: u64, reason: String },
    /// The sealed object does not verify against the on-chain content root (altered or
    /// replaced); nothing was written.
    #[error(
        "the sealed object {storage_uri} failed verification against the on-chain content root: {reason}; refusing it, nothing was written"
    )]
    Tampered { storage_uri: String, reason: String },
    /// The listed object does not open under the key the purchase's verified shares reconstruct
    /// (checked against C0): the owner sealed it under another key. Provable on-chain with
    /// `evidence` (`phd_sdk::fraud::prove_owner_fraud`); nothing was written.
    #[error(
        "dataset {dataset_id}: the listed object {storage_uri} does not open under the key committed on-chain (C0) — the owner listed an object sealed under another key; prove it with `phd-customer prove-fraud {purchase_id}` (refund + the owner's listing bond)"
    )]
    WrongKey {
        purchase_id: u64,
        dataset_id: u64,
        storage_uri: String,
        evidence: Box<phd_chain::OwnerFraudEvidence>,
    },
    /// The object hashes to the listed root but its header's key check is not the one of the
    /// reconstructed key (retrieve turns this into [`SdkError::WrongKey`] with the proof).
    #[error("{storage_uri}: the object does not open under the reconstructed key")]
    KeyCheckMismatch {
        storage_uri: String,
        evidence: Box<phd_seal::KeyCheckEvidence>,
    },
    /// An owner-fraud proof was asked for, but the object opens under the committed key.
    #[error(
        "purchase {purchase_id}: the object of dataset {dataset_id} opens under the committed key; there is no owner fraud to prove"
    )]
    NoOwnerFraud { purchase_id: u64, dataset_id: u64 },
    /// The dataset's object is not there or not the one listed (checked before paying).
    #[error(
        "dataset {dataset_id}: the sealed object at {storage_uri} is not available: {reason}; not paying"
    )]
    Unavailable {
        dataset_id: u64,
        storage_uri: String,
        reason: String,
    },
    /// Purchase not ours / unknown / refunded.
    #[error("purchase {purchase_id}: {reason}")]
    Purchase { purchase_id: u64, reason: String },
    /// An argument is malformed or inconsistent (nothing was sent).
    #[error("invalid {arg}: {reason}")]
    InvalidArg { arg: &'static str, reason: String },
    /// Dataset unknown, or not the acting account's.
    #[error("dataset {dataset_id}: {reason}")]
    Dataset { dataset_id: u64, reason: String },
    /// A series step failed (sealing, shares, commitments, a gap in the sequence).
    #[error("series {series_id}: {reason}")]
    Series { series_id: u64, reason: String },
    /// A verified segment could not be converted to the requested interchange format.
    #[error("series {series_id} segment {seq}: cannot convert it to {format:?}: {source}")]
    Export {
        series_id: u64,
        seq: u64,
        format: phd_ingest::ExportFormat,
        #[source]
        source: phd_ingest::IngestError,
    },
    /// Sealing local data failed (nothing was stored).
    #[error("{context}: {source}")]
    Seal {
        context: String,
        #[source]
        source: phd_seal::SealError,
    },
    /// Writing the output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn bad_suffix(bad: &[BadShare]) -> String {
    if bad.is_empty() {
        String::new()
    } else {
        format!(
            "; {}",
            bad.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

impl SdkError {
    pub(crate) fn series(series_id: u64, reason: impl Into<String>) -> Self {
        Self::Series {
            series_id,
            reason: reason.into(),
        }
    }

    pub(crate) fn chain(context: impl Into<String>, e: impl Into<BoxError>) -> Self {
        SdkError::Chain {
            context: context.into(),
            source: e.into(),
        }
    }
}
