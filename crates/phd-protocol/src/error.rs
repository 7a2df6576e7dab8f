//! Error type of phd-protocol.

use alloy::primitives::U256;

/// A value that does not fit the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An on-chain id does not fit where a `u64` is needed (file names, JSON records).
    #[error("{kind} id {value} does not fit in 64 bits")]
    IdOutOfRange {
        /// `dataset` or `purchase`.
        kind: &'static str,
        /// The id.
        value: U256,
    },
    /// Text that is not a decimal or 0x-hex id.
    #[error("{kind} id {input:?} is not a decimal or 0x-hex integer")]
    InvalidId {
        /// `dataset` or `purchase`.
        kind: &'static str,
        /// What was given (ids are public; echoing them is safe).
        input: String,
    },
}
