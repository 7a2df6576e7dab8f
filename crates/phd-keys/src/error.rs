//! Error type of phd-keys.

/// Result alias for this crate.
pub type Result<T, E = KeyError> = std::result::Result<T, E>;

/// Errors from key generation, secret sharing and ECIES.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Threshold/share count outside `2 <= t <= n <= 255`.
    #[error("invalid threshold t={t} for n={n} (need 2 <= t <= n <= 255)")]
    InvalidThreshold {
        /// Threshold requested.
        t: usize,
        /// Number of shares requested.
        n: usize,
    },
    /// A share index of 0.
    #[error("invalid share index {index}")]
    InvalidShareIndex {
        /// The index.
        index: u8,
    },
    /// Two shares with the same index were given.
    #[error("duplicate share index {index}")]
    DuplicateShareIndex {
        /// The index.
        index: u8,
    },
    /// A share's byte encoding is malformed.
    #[error("malformed share encoding: {reason}")]
    InvalidShareEncoding {
        /// What is wrong.
        reason: &'static str,
    },
    /// A commitment vector is malformed.
    #[error("invalid commitments: {reason}")]
    InvalidCommitments {
        /// What is wrong.
        reason: String,
    },
    /// Fewer shares than the threshold.
    #[error("need {need} shares, got {got}")]
    NotEnoughShares {
        /// Threshold.
        need: usize,
        /// Shares given.
        got: usize,
    },
    /// Fewer *valid* shares than the threshold; `bad` names the failing indices.
    #[error("need {need} valid shares, only {valid} verified; bad share indices {bad:?}")]
    NotEnoughValidShares {
        /// Threshold.
        need: usize,
        /// Shares that verified.
        valid: usize,
        /// Indices of shares that failed Feldman verification.
        bad: Vec<u8>,
    },
    /// A share failed Feldman verification against the commitments.
    #[error("share {index} does not match the commitments")]
    ShareVerification {
        /// The share's index.
        index: u8,
    },
    /// The reconstructed secret does not match commitment C0.
    #[error("reconstructed secret does not match key commitment C0")]
    KeyCommitmentMismatch,
    /// Secret bytes are zero or not below the group order.
    #[error("invalid secret scalar")]
    InvalidSecret,
    /// A public key is malformed, off-curve or the identity.
    #[error("invalid public key ({len} bytes): {reason}")]
    InvalidPublicKey {
        /// Length of the encoding given.
        len: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// ECIES ciphertext shorter than header + tag.
    #[error("ciphertext too short ({len} bytes)")]
    CiphertextTooShort {
        /// Length given.
        len: usize,
    },
    /// Unknown ECIES wire version.
    #[error("unsupported ciphertext version {version}")]
    UnsupportedVersion {
        /// Version byte found.
        version: u8,
    },
    /// Decryption/authentication failed (wrong key, wrong aad, or altered ciphertext).
    #[error("decryption failed")]
    DecryptionFailed,
    /// Encryption failed (plaintext too long for AES-GCM).
    #[error("encryption failed")]
    EncryptionFailed,
    /// A provable share delivery (docs/FORMATS.md §2.4) is malformed: the keeper is at fault
    /// and the buyer disputes it on-chain without a proof.
    #[error("malformed share delivery: {reason}")]
    MalformedDelivery {
        /// What is wrong.
        reason: &'static str,
    },
    /// A dispute proof (docs/FORMATS.md §2.4) is malformed or does not verify.
    #[error("invalid dispute proof: {reason}")]
    InvalidDisputeProof {
        /// What is wrong.
        reason: &'static str,
    },
    /// A share delivery was asked for a context whose index is not the share's.
    #[error("share index {share_index} does not match the delivery context index {context_index}")]
    ContextMismatch {
        /// Index of the share.
        share_index: u8,
        /// Index in the delivery context.
        context_index: u8,
    },
    /// Error from the secret-sharing library.
    #[error("secret sharing error: {0}")]
    Vss(String),
    /// The OS RNG failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
}
