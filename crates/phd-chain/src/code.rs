//! Matching on-chain runtime code against the committed artifacts (immutables masked).

use std::fmt;

use alloy::primitives::{B256, Bytes, keccak256};
use serde::Deserialize;

use crate::{ChainError, bindings::artifacts};

/// The PHD exchange contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractKind {
    /// `PHDCoin`.
    PhdCoin,
    /// `KeeperRegistry`.
    KeeperRegistry,
    /// `DataRegistry`.
    DataRegistry,
    /// `Marketplace`.
    Marketplace,
    /// `SeriesMarket`.
    SeriesMarket,
    /// `SeriesCertification`.
    SeriesCertification,
}

impl ContractKind {
    /// All contracts in deployment order.
    pub const ALL: [ContractKind; 6] = [
        Self::PhdCoin,
        Self::KeeperRegistry,
        Self::DataRegistry,
        Self::Marketplace,
        Self::SeriesMarket,
        Self::SeriesCertification,
    ];

    /// Solidity contract name.
    pub fn name(self) -> &'static str {
        match self {
            Self::PhdCoin => "PHDCoin",
            Self::KeeperRegistry => "KeeperRegistry",
            Self::DataRegistry => "DataRegistry",
            Self::Marketplace => "Marketplace",
            Self::SeriesMarket => "SeriesMarket",
            Self::SeriesCertification => "SeriesCertification",
        }
    }

    fn artifact_json(self) -> &'static str {
        match self {
            Self::PhdCoin => artifacts::PHD_COIN,
            Self::KeeperRegistry => artifacts::KEEPER_REGISTRY,
            Self::DataRegistry => artifacts::DATA_REGISTRY,
            Self::Marketplace => artifacts::MARKETPLACE,
            Self::SeriesMarket => artifacts::SERIES_MARKET,
            Self::SeriesCertification => artifacts::SERIES_CERTIFICATION,
        }
    }

    /// Creation and runtime code with immutable ranges from the committed artifact.
    pub fn artifact(self) -> Result<Artifact, ChainError> {
        #[derive(Deserialize)]
        struct Obj {
            object: Bytes,
            #[serde(default, rename = "immutableReferences")]
            immutable_references: Vec<Range>,
        }
        #[derive(Deserialize)]
        struct Range {
            start: usize,
            length: usize,
        }
        #[derive(Deserialize)]
        struct Raw {
            bytecode: Obj,
            #[serde(rename = "deployedBytecode")]
            deployed_bytecode: Obj,
        }
        let raw: Raw =
            serde_json::from_str(self.artifact_json()).map_err(|e| ChainError::Artifact {
                name: self.name(),
                reason: e.to_string(),
            })?;
        let mut immutables: Vec<(usize, usize)> = raw
            .deployed_bytecode
            .immutable_references
            .iter()
            .map(|r| (r.start, r.length))
            .collect();
        immutables.sort_unstable();
        Ok(Artifact {
            kind: self,
            bytecode: raw.bytecode.object,
            deployed_bytecode: raw.deployed_bytecode.object,
            immutables,
        })
    }
}

impl fmt::Display for ContractKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// EIP-170: the largest runtime code public chains accept, bytes.
pub const EIP170_LIMIT: usize = 24_576;

/// A contract's committed bytecode.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Which contract.
    pub kind: ContractKind,
    /// Creation code.
    pub bytecode: Bytes,
    /// Runtime code (immutables zeroed).
    pub deployed_bytecode: Bytes,
    /// `(start, length)` byte ranges of immutables in the runtime code.
    pub immutables: Vec<(usize, usize)>,
}

impl Artifact {
    /// keccak256 of `code` with the immutable ranges zeroed; `None` when the length differs from
    /// the artifact's runtime code (then it cannot be this contract).
    pub fn masked_hash(&self, code: &[u8]) -> Option<B256> {
        if code.len() != self.deployed_bytecode.len() {
            return None;
        }
        let mut masked = code.to_vec();
        for &(start, len) in &self.immutables {
            if let Some(slice) = masked.get_mut(start..start.saturating_add(len)) {
                slice.fill(0);
            }
        }
        Some(keccak256(&masked))
    }

    /// Whether the runtime code exceeds EIP-170's limit ([`EIP170_LIMIT`]): such a contract
    /// cannot be deployed on a chain enforcing it (anvil included).
    pub fn exceeds_eip170(&self) -> bool {
        self.deployed_bytecode.len() > EIP170_LIMIT
    }

    /// Whether on-chain runtime `code` is this artifact's code (immutables ignored).
    pub fn matches_runtime(&self, code: &[u8]) -> bool {
        match (
            self.masked_hash(code),
            self.masked_hash(&self.deployed_bytecode),
        ) {
            (Some(a), Some(b)) => a == b && !code.is_empty(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_parse_and_self_match() {
        for kind in ContractKind::ALL {
            let a = kind.artifact();
            assert!(a.is_ok(), "{kind}");
            if let Ok(a) = a {
                assert!(
                    !a.bytecode.is_empty(),
                    "{kind} has no bytecode (interface artifact?)"
                );
                assert!(a.matches_runtime(&a.deployed_bytecode));
                // Deployable on public chains (the deploy tool only warns).
                assert!(
                    !a.exceeds_eip170(),
                    "{kind}: {} bytes of runtime code",
                    a.deployed_bytecode.len()
                );
                let mut other = a.deployed_bytecode.to_vec();
                if let Some(b) = other.last_mut() {
                    *b ^= 1;
                }
                assert!(
                    !a.matches_runtime(&other)
                        || a.immutables.iter().any(|&(s, l)| s + l == other.len())
                );
            }
        }
    }
}
