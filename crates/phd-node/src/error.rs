//! Errors of phd-node. Chain and watcher errors stay the caller's type (`E`), so each role
//! keeps matching on its own errors.

use std::path::PathBuf;

use alloy::primitives::Address;

/// The encryption key file could not be read or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading or writing the file (or its directory) failed.
    #[error("i/o on {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but does not hold a key.
    #[error("encryption key file {path} is invalid: {reason}")]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// No key could be generated.
    #[error("generating an encryption key: {reason}")]
    Generate {
        /// Cause.
        reason: String,
    },
}

/// A step of [`ensure_registered`](crate::ensure_registered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterStep {
    /// `KeeperRegistry.node(me)`.
    ReadNode,
    /// `KeeperRegistry.register`.
    Register,
    /// `KeeperRegistry.update`.
    Update,
    /// `KeeperRegistry.keyProofDigest(me)`.
    KeyProofDigest,
    /// `KeeperRegistry.MIN_STAKE()`.
    MinStake,
}

impl RegisterStep {
    /// The contract call of this step.
    pub fn call(self) -> &'static str {
        match self {
            Self::ReadNode => "KeeperRegistry.node",
            Self::Register => "KeeperRegistry.register",
            Self::Update => "KeeperRegistry.update",
            Self::KeyProofDigest => "KeeperRegistry.keyProofDigest",
            Self::MinStake => "KeeperRegistry.MIN_STAKE",
        }
    }
}

/// Registration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError<E: std::error::Error + 'static> {
    /// The endpoint to register is empty or longer than the registry accepts.
    #[error("endpoint must be 1..=256 bytes, got {len}")]
    InvalidEndpoint {
        /// Its length in bytes.
        len: usize,
    },
    /// The account is registered with another role.
    #[error("account {address} is registered on-chain with role {role}")]
    WrongRole {
        /// The node's account.
        address: Address,
        /// Its on-chain role id.
        role: u8,
    },
    /// Signing the key proof with the encryption key failed.
    #[error("signing the key proof: {reason}")]
    KeyProof {
        /// Cause.
        reason: String,
    },
    /// The configured stake is below the registry's minimum.
    #[error("stake {stake} wei is below the registry minimum {minimum} wei")]
    StakeTooLow {
        /// Configured stake.
        stake: alloy::primitives::U256,
        /// `MIN_STAKE()`.
        minimum: alloy::primitives::U256,
    },
    /// A chain call failed (after retries, when transient).
    #[error("chain {}: {source}", step.call())]
    Chain {
        /// Which call.
        step: RegisterStep,
        /// Cause.
        #[source]
        source: E,
    },
}

/// [`run`](crate::run) ended with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError<E: std::error::Error + 'static> {
    /// The watcher returned an error.
    #[error(transparent)]
    Watcher(E),
    /// Serving HTTP failed.
    #[error("http server on {addr}: {source}")]
    Serve {
        /// Listen address.
        addr: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A task panicked or was cancelled.
    #[error("background task {task} failed: {reason}")]
    Task {
        /// `watcher` or `http server`.
        task: &'static str,
        /// The join error.
        reason: String,
    },
}
