//! The crate's error type.

use std::{path::PathBuf, time::Duration};

use alloy::{
    primitives::{Address, TxHash},
    providers::PendingTransactionError,
    transports::{RpcError, TransportError},
};

use crate::revert::ContractRevert;

/// Everything that can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The contract refused the call (eth_call, gas estimation, or a mined transaction).
    #[error("{context}: {revert}")]
    Revert {
        /// Operation that failed.
        context: &'static str,
        /// Decoded reason.
        revert: ContractRevert,
        /// Hash of the mined transaction, when it was mined and reverted.
        tx_hash: Option<TxHash>,
    },
    /// The node could not be reached.
    #[error("{context}: cannot reach the Ethereum node at {url} (is it running?): {source}")]
    Unreachable {
        /// Operation that failed.
        context: &'static str,
        /// RPC URL.
        url: String,
        /// Transport error.
        #[source]
        source: TransportError,
    },
    /// The node answered with an error.
    #[error("{context}: RPC error from {url}: {source}")]
    Rpc {
        /// Operation that failed.
        context: &'static str,
        /// RPC URL.
        url: String,
        /// The error.
        #[source]
        source: TransportError,
    },
    /// A sent transaction was not mined in time.
    #[error("{context}: transaction {tx_hash} not mined within {timeout:?}")]
    Timeout {
        /// Operation that failed.
        context: &'static str,
        /// Hash of the pending transaction.
        tx_hash: TxHash,
        /// How long we waited.
        timeout: Duration,
    },
    /// A sent transaction's receipt could not be obtained.
    #[error("{context}: no receipt for transaction {tx_hash}: {reason}")]
    MissingReceipt {
        /// Operation that failed.
        context: &'static str,
        /// Hash of the transaction.
        tx_hash: TxHash,
        /// Why.
        reason: String,
    },
    /// The receipt lacks the event the operation must emit.
    #[error("{context}: transaction {tx_hash} emitted no {event} event")]
    MissingEvent {
        /// Operation.
        context: &'static str,
        /// Hash of the transaction.
        tx_hash: TxHash,
        /// Event name.
        event: &'static str,
    },
    /// Encoding or decoding failed, or another contract-binding error.
    #[error("{context}: {reason}")]
    Call {
        /// Operation that failed.
        context: &'static str,
        /// Reason.
        reason: String,
    },
    /// Signing failed.
    #[error("{context}: signing failed: {source}")]
    Signer {
        /// Operation that failed.
        context: &'static str,
        /// Signer error.
        #[source]
        source: alloy::signers::Error,
    },
    /// The node is on a different chain than the deployment.
    #[error("the node at {url} is chain {actual}, but the deployment is for chain {expected}")]
    WrongChain {
        /// RPC URL.
        url: String,
        /// Chain id of the deployment.
        expected: u64,
        /// Chain id reported by the node.
        actual: u64,
    },
    /// No contract code at a deployment address.
    #[error("no {name} contract at {address} on chain {chain_id} (stale deployment file?)")]
    NoCode {
        /// Contract name.
        name: &'static str,
        /// Address.
        address: Address,
        /// Chain id.
        chain_id: u64,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be parsed or written.
    #[error("{action} {path}: {source}")]
    Json {
        /// What we were doing.
        action: &'static str,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A committed artifact is malformed.
    #[error("artifact {name}: {reason}")]
    Artifact {
        /// Contract name.
        name: &'static str,
        /// Reason.
        reason: String,
    },
    /// Starting anvil failed.
    #[error("starting anvil ({bin}): {reason}")]
    Anvil {
        /// Binary used.
        bin: PathBuf,
        /// Reason.
        reason: String,
    },
    /// A key could not be derived or parsed.
    #[error("key: {0}")]
    Key(String),
    /// Bad input from the caller.
    #[error("{0}")]
    InvalidInput(String),
}

impl ChainError {
    /// The decoded revert, when this is one.
    pub fn revert(&self) -> Option<&ContractRevert> {
        match self {
            Self::Revert { revert, .. } => Some(revert),
            _ => None,
        }
    }

    /// Classifies a transport error: revert data → [`ChainError::Revert`], connection failures →
    /// [`ChainError::Unreachable`], anything else → [`ChainError::Rpc`].
    pub fn from_transport(context: &'static str, url: &str, source: TransportError) -> Self {
        if let Some(resp) = source.as_error_resp() {
            if let Some(data) = resp.as_revert_data() {
                return Self::Revert {
                    context,
                    revert: ContractRevert::decode(&data),
                    tx_hash: None,
                };
            }
            if resp.message.contains("revert") {
                return Self::Revert {
                    context,
                    revert: ContractRevert::Empty,
                    tx_hash: None,
                };
            }
        }
        if matches!(source, RpcError::Transport(_)) {
            return Self::Unreachable {
                context,
                url: url.to_owned(),
                source,
            };
        }
        Self::Rpc {
            context,
            url: url.to_owned(),
            source,
        }
    }

    /// Classifies an `alloy::contract::Error`.
    pub fn from_contract(context: &'static str, url: &str, source: alloy::contract::Error) -> Self {
        match source {
            alloy::contract::Error::TransportError(t) => Self::from_transport(context, url, t),
            alloy::contract::Error::PendingTransactionError(p) => {
                Self::from_pending(context, url, None, p)
            }
            other => Self::Call {
                context,
                reason: other.to_string(),
            },
        }
    }

    /// Classifies an error while waiting for a receipt.
    pub fn from_pending(
        context: &'static str,
        url: &str,
        tx_hash: Option<TxHash>,
        source: PendingTransactionError,
    ) -> Self {
        match source {
            PendingTransactionError::TransportError(t) => Self::from_transport(context, url, t),
            PendingTransactionError::TxWatcher(alloy::providers::WatchTxError::Timeout) => {
                Self::Timeout {
                    context,
                    tx_hash: tx_hash.unwrap_or_default(),
                    timeout: Duration::ZERO,
                }
            }
            other => Self::MissingReceipt {
                context,
                tx_hash: tx_hash.unwrap_or_default(),
                reason: other.to_string(),
            },
        }
    }
}
