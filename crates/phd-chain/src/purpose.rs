//! Purpose ids a data owner consents to (mirror of `contracts/src/Purposes.sol`).

use std::{fmt, str::FromStr};

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};

use crate::ChainError;

/// A purpose a purchase or grant names; datasets store a bitmask of consented purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Purpose {
    /// Scientific research.
    Research = 0,
    /// Commercial use.
    Commercial = 1,
    /// Quality validation by a validator.
    Validation = 2,
    /// The owner's own portable copy (GDPR Art. 20).
    Portability = 3,
    /// Public health.
    PublicHealth = 4,
}

impl Purpose {
    /// All purposes, in id order.
    pub const ALL: [Purpose; 5] = [
        Self::Research,
        Self::Commercial,
        Self::Validation,
        Self::Portability,
        Self::PublicHealth,
    ];

    /// The on-chain id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The purpose with on-chain id `id`.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// Bit of this purpose in a consent mask.
    pub fn bit(self) -> U256 {
        U256::from(1u8) << usize::from(self.id())
    }

    /// Mask with the bits of all `purposes`.
    pub fn mask(purposes: &[Purpose]) -> U256 {
        purposes.iter().fold(U256::ZERO, |m, p| m | p.bit())
    }

    /// The purposes set in `mask` (unknown bits ignored).
    pub fn from_mask(mask: U256) -> Vec<Purpose> {
        Self::ALL
            .into_iter()
            .filter(|p| !(mask & p.bit()).is_zero())
            .collect()
    }

    /// Kebab-case name, as accepted by `FromStr`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Research => "research",
            Self::Commercial => "commercial",
            Self::Validation => "validation",
            Self::Portability => "portability",
            Self::PublicHealth => "public-health",
        }
    }
}

/// Human name of a purpose id, `purpose #N` when unknown.
pub fn purpose_name(id: u8) -> String {
    Purpose::from_id(id).map_or_else(|| format!("purpose #{id}"), |p| p.name().to_owned())
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Purpose {
    type Err = ChainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        if let Ok(id) = norm.parse::<u8>() {
            return Self::from_id(id)
                .ok_or_else(|| ChainError::InvalidInput(format!("unknown purpose id {id}")));
        }
        Self::ALL.into_iter().find(|p| p.name() == norm).ok_or_else(|| {
            ChainError::InvalidInput(format!(
                "unknown purpose {s:?} (expected one of research, commercial, validation, portability, public-health)"
            ))
        })
    }
}

/// Lifecycle of a dataset (`IDataRegistry.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetStatus {
    /// Unknown dataset.
    None,
    /// Fewer than threshold keepers acknowledged.
    Pending,
    /// Purchasable.
    Active,
    /// Consent withdrawn (final).
    Withdrawn,
    /// A value this version does not know.
    Unknown(u8),
}

impl From<u8> for DatasetStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::None,
            1 => Self::Pending,
            2 => Self::Active,
            3 => Self::Withdrawn,
            x => Self::Unknown(x),
        }
    }
}

impl fmt::Display for DatasetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("unknown"),
            Self::Pending => f.write_str("pending"),
            Self::Active => f.write_str("active"),
            Self::Withdrawn => f.write_str("withdrawn"),
            Self::Unknown(x) => write!(f, "status #{x}"),
        }
    }
}

/// State of a purchase (`IMarketplace.PurchaseStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PurchaseStatus {
    /// Unknown purchase.
    None,
    /// Escrow open.
    Open,
    /// Paid out to owner and keepers.
    Settled,
    /// Returned to the buyer.
    Refunded,
    /// A value this version does not know.
    Unknown(u8),
}

impl From<u8> for PurchaseStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::None,
            1 => Self::Open,
            2 => Self::Settled,
            3 => Self::Refunded,
            x => Self::Unknown(x),
        }
    }
}

impl fmt::Display for PurchaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("unknown"),
            Self::Open => f.write_str("open"),
            Self::Settled => f.write_str("settled"),
            Self::Refunded => f.write_str("refunded"),
            Self::Unknown(x) => write!(f, "status #{x}"),
        }
    }
}

/// Role of a registered node (`IKeeperRegistry.Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum NodeRole {
    /// Not registered.
    None = 0,
    /// Key keeper.
    Keeper = 1,
    /// Quality validator.
    Validator = 2,
}

impl NodeRole {
    /// The role with on-chain value `v`.
    pub fn from_id(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::None),
            1 => Some(Self::Keeper),
            2 => Some(Self::Validator),
            _ => None,
        }
    }
}

/// Human name of a role value.
pub fn role_name(v: u8) -> &'static str {
    match v {
        0 => "none",
        1 => "keeper",
        2 => "validator",
        _ => "unknown role",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes() {
        assert_eq!(
            Purpose::mask(&[Purpose::Research, Purpose::Validation]),
            U256::from(5)
        );
        assert_eq!(
            Purpose::from_mask(U256::from(5)),
            vec![Purpose::Research, Purpose::Validation]
        );
        assert_eq!(
            "public_health".parse::<Purpose>().ok(),
            Some(Purpose::PublicHealth)
        );
        assert_eq!("1".parse::<Purpose>().ok(), Some(Purpose::Commercial));
        assert!("nope".parse::<Purpose>().is_err());
    }
}
