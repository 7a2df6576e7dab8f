//! Where the contracts of one chain live (`deploy/deployments/<chainId>.json`).

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{ChainError, anvil::repo_root, code::ContractKind};

/// Parameters the contracts were deployed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentParams {
    /// Keepers' share of each price, basis points.
    pub keeper_fee_bps: u16,
    /// Seconds keepers have to deliver after a purchase.
    pub delivery_window: u64,
    /// Seconds after the threshold-th share before anyone may settle.
    pub confirmation_window: u64,
    /// PHD (wei) paid from the reward pool to an owner when its dataset becomes certified.
    pub certification_reward: U256,
    /// PHD (wei) each delivering keeper earns for a grant or a free dataset.
    #[serde(default)]
    pub delivery_fee: U256,
    /// Smallest keeper/validator bond, PHD wei.
    #[serde(default)]
    pub min_stake: U256,
    /// Seconds between a node's exit request and the release of its stake.
    #[serde(default)]
    pub unbonding_delay: u64,
    /// Smallest certificate score that counts, basis points.
    #[serde(default)]
    pub min_score_bps: u16,
    /// Counted certificates a dataset needs to be certified (k).
    #[serde(default)]
    pub min_certifications: u8,
    /// PHD (wei) put into the certification reward pool at deployment.
    #[serde(default)]
    pub reward_budget: U256,
    /// Seconds keepers have to release a segment to a subscription (SeriesMarket).
    #[serde(default)]
    pub release_window: u64,
    /// PHD (wei) every listing deposits as bond against owner fraud.
    #[serde(default)]
    pub listing_bond: U256,
}

/// Addresses of the contracts on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Chain id.
    pub chain_id: u64,
    /// `PHDCoin`.
    pub coin: Address,
    /// `KeeperRegistry`.
    pub keeper_registry: Address,
    /// `DataRegistry`.
    pub data_registry: Address,
    /// `Marketplace`.
    pub marketplace: Address,
    /// `SeriesMarket` (zero in files written before it existed: such a deployment is stale).
    #[serde(default)]
    pub series_market: Address,
    /// `SeriesCertification` (zero in files written before it existed: such a deployment is stale).
    #[serde(default)]
    pub series_certification: Address,
    /// Block of the first deployment transaction: event scans start here.
    pub deployed_at_block: u64,
    /// Account that deployed (admin of the coin, owner of the keeper registry).
    #[serde(default)]
    pub deployer: Address,
    /// Constructor parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<DeploymentParams>,
    /// keccak256 of each contract's runtime code with immutables zeroed, at deployment.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub code_hashes: std::collections::BTreeMap<String, B256>,
}

impl Deployment {
    /// Address of `kind`.
    pub fn address_of(&self, kind: ContractKind) -> Address {
        match kind {
            ContractKind::PhdCoin => self.coin,
            ContractKind::KeeperRegistry => self.keeper_registry,
            ContractKind::DataRegistry => self.data_registry,
            ContractKind::Marketplace => self.marketplace,
            ContractKind::SeriesMarket => self.series_market,
            ContractKind::SeriesCertification => self.series_certification,
        }
    }

    /// Reads a deployment file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ChainError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Io {
            action: "reading deployment",
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ChainError::Json {
            action: "parsing deployment",
            path: path.to_owned(),
            source,
        })
    }

    /// Writes a deployment file (pretty JSON), creating parent directories.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ChainError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ChainError::Io {
                action: "creating directory",
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut text = serde_json::to_string_pretty(self).map_err(|source| ChainError::Json {
            action: "serialising deployment",
            path: path.to_owned(),
            source,
        })?;
        text.push('\n');
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| ChainError::Io {
                action: "writing deployment",
                path: path.to_owned(),
                source,
            })
    }

    /// `deploy/deployments/<chain_id>.json` under the repository root (or the current directory
    /// when the repository cannot be found).
    pub fn default_path(chain_id: u64) -> PathBuf {
        repo_root()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("deploy")
            .join("deployments")
            .join(format!("{chain_id}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip() {
        let d = Deployment {
            chain_id: 31337,
            coin: Address::repeat_byte(1),
            keeper_registry: Address::repeat_byte(2),
            data_registry: Address::repeat_byte(3),
            marketplace: Address::repeat_byte(4),
            series_market: Address::repeat_byte(6),
            series_certification: Address::repeat_byte(8),
            deployed_at_block: 7,
            deployer: Address::repeat_byte(5),
            params: None,
            code_hashes: Default::default(),
        };
        let dir = std::env::temp_dir().join(format!("phd-chain-test-{}", std::process::id()));
        let path = dir.join("x").join("31337.json");
        assert!(d.save(&path).is_ok());
        assert_eq!(Deployment::load(&path).ok(), Some(d));
        let _ = std::fs::remove_dir_all(dir);
    }
}
