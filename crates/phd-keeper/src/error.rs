//! Errors of the keeper service.

use std::path::PathBuf;

use alloy::primitives::U256;

/// Everything that can stop the keeper or one of its subcommands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeeperError {
    /// A file in the data directory could not be read or written.
    #[error("i/o on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The encryption key file exists but does not hold a valid key.
    #[error("encryption key file {path} is invalid: {reason}")]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The SQLite database failed.
    #[error("database {context}: {source}")]
    Db {
        /// What the keeper was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer keeper.
    #[error("database schema version {found} is newer than this keeper supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// A share stored at rest failed to decrypt (file tampered with, or key replaced).
    #[error("stored share of dataset {dataset_id} does not decrypt under this keeper's key")]
    AtRestCorrupt {
        /// The dataset whose share is unreadable.
        dataset_id: U256,
    },
    /// A chain call failed.
    #[error("chain {op}: {source}")]
    Chain {
        /// The call that failed.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: crate::chain::ChainFailure,
    },
    /// The account is registered, but not as a keeper.
    #[error("account {address} is registered on-chain with role {role}, not as a keeper")]
    WrongRole {
        /// The keeper's account.
        address: alloy::primitives::Address,
        /// The role it holds.
        role: u8,
    },
    /// A cryptographic operation failed.
    #[error("crypto {op}: {reason}")]
    Crypto {
        /// The operation.
        op: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The HTTP server failed.
    #[error("http server on {addr}: {source}")]
    Serve {
        /// The listening address.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A background task panicked or was cancelled.
    #[error("background task {task} failed: {reason}")]
    Task {
        /// Which task.
        task: &'static str,
        /// What happened.
        reason: String,
    },
    /// A configured fault-injection point was reached (tests only): the keeper stopped as if killed.
    #[error("fault injection: stopped at {0:?}")]
    FailPointHit(crate::FailPoint),
    /// Invalid configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl KeeperError {
    pub(crate) fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Db { context, source }
    }

    pub(crate) fn chain(op: &'static str) -> impl FnOnce(crate::chain::ChainFailure) -> Self {
        move |source| Self::Chain { op, source }
    }
}
