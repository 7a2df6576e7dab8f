//! Error type of phd-devnet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::Address;
use phd_chain::ChainError;
use phd_keeper::KeeperError;

/// Errors of the devnet.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// Chain access failed (anvil, funding, approval, registration checks).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Deploying the contracts failed.
    #[error("deploying the contracts: {0}")]
    Deploy(#[from] phd_deploy::DeployError),
    /// The KeeperRegistry does not let this deployment's contract slash.
    #[error(
        "the KeeperRegistry's {slasher} slasher is {found}, not {expected}: redeploy (--clean)"
    )]
    NotWired {
        /// Which slasher.
        slasher: &'static str,
        /// The deployment's contract.
        expected: Address,
        /// What the registry holds.
        found: Address,
    },
    /// The embedded S3 server or the bucket failed.
    #[error("embedded S3: {0}")]
    Storage(#[from] phd_storage::Error),
    /// A keeper failed.
    #[error("keeper {index} ({address}): {source}")]
    Keeper {
        /// Position in [`crate::Devnet::keepers`].
        index: usize,
        /// Account.
        address: Address,
        /// Cause.
        #[source]
        source: KeeperError,
    },
    /// A keeper did not become ready.
    #[error("keeper {index} ({address}) not ready after {waited:?}: {reason}")]
    KeeperNotReady {
        /// Position in [`crate::Devnet::keepers`].
        index: usize,
        /// Account.
        address: Address,
        /// How long we waited.
        waited: Duration,
        /// Last observation.
        reason: String,
    },
    /// File system.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Bad configuration.
    #[error("invalid devnet configuration: {0}")]
    Config(String),
}

impl DevnetError {
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> Self + use<'a> {
        move |source| Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}
