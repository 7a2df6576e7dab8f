//! Error type of phd-customer.

use std::path::PathBuf;

pub use phd_sdk::BoxError;

/// Result alias for this crate.
pub type Result<T, E = CustomerError> = std::result::Result<T, E>;

/// Everything the buyer's commands can fail with. Messages are meant for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustomerError {
    /// A chain call or transaction failed (reverts decoded by phd-chain: insufficient PHD,
    /// price above maxPrice, unconsented purpose, withdrawn dataset, ...).
    #[error("{context}: {source}")]
    Chain {
        context: String,
        #[source]
        source: BoxError,
    },
    /// Browsing or retrieving failed (shares, key reconstruction, download, verification,
    /// writing the output); a paid purchase that was not delivered is reported as
    /// [`CustomerError::Purchase`] instead, naming the refund.
    #[error(transparent)]
    Sdk(#[from] phd_sdk::SdkError),
    /// Purchase not ours / unknown.
    #[error("purchase {purchase_id}: {reason}")]
    Purchase { purchase_id: u64, reason: String },
    /// Dataset unknown / not buyable.
    #[error("dataset {dataset_id}: {reason}")]
    Dataset { dataset_id: u64, reason: String },
    /// Bad argument.
    #[error("invalid {arg}: {reason}")]
    InvalidArg { arg: &'static str, reason: String },
    /// The contract refused the action by rule (e.g. a refund after t deliveries).
    #[error("purchase {purchase_id}: {action} refused by the contract ({error}): {reason}")]
    Refused {
        purchase_id: u64,
        action: &'static str,
        error: String,
        reason: String,
    },
    /// Data retrieved but the on-chain confirmation failed.
    #[error("data written to {path}, but confirming purchase {purchase_id} failed: {source}")]
    Confirm {
        purchase_id: u64,
        path: PathBuf,
        #[source]
        source: BoxError,
    },
}

impl CustomerError {
    pub(crate) fn chain(context: impl Into<String>, e: impl Into<BoxError>) -> Self {
        CustomerError::Chain {
            context: context.into(),
            source: e.into(),
        }
    }
}
