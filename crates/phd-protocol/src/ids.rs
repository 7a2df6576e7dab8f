//! On-chain ids. The contracts count them as `uint256`; records, file names and JSON replies
//! hold them as `u64`. The conversion is checked here, once: an id that does not fit is an
//! error, never a silently different id.

use std::{fmt, str::FromStr};

use alloy::primitives::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::ProtocolError;

macro_rules! chain_id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// JSON: a number when it fits in 64 bits, else a decimal string; reads a number, a
        /// decimal string or a 0x-hex string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(U256);

        impl $name {
            /// Wraps an on-chain id.
            pub const fn new(id: U256) -> Self {
                Self(id)
            }

            /// The on-chain `uint256`.
            pub const fn get(self) -> U256 {
                self.0
            }

            /// The id as `u64`, or [`ProtocolError::IdOutOfRange`].
            pub fn to_u64(self) -> Result<u64, ProtocolError> {
                u64::try_from(self.0).map_err(|_| ProtocolError::IdOutOfRange { kind: $kind, value: self.0 })
            }
        }

        impl From<u64> for $name {
            fn from(id: u64) -> Self {
                Self(U256::from(id))
            }
        }

        impl From<U256> for $name {
            fn from(id: U256) -> Self {
                Self(id)
            }
        }

        impl From<$name> for U256 {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl TryFrom<$name> for u64 {
            type Error = ProtocolError;
            fn try_from(id: $name) -> Result<Self, ProtocolError> {
                id.to_u64()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ProtocolError;
            /// Decimal or `0x`-hex.
            fn from_str(s: &str) -> Result<Self, ProtocolError> {
                U256::from_str(s).map(Self).map_err(|_| ProtocolError::InvalidId { kind: $kind, input: s.to_owned() })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match u64::try_from(self.0) {
                    Ok(n) => serializer.serialize_u64(n),
                    // JSON readers lose precision on numbers this large; a string keeps it.
                    Err(_) => serializer.collect_str(&self.0),
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(IdVisitor($kind)).map(Self)
            }
        }
    };
}

chain_id_type!(
    /// A dataset id (`DataRegistry`).
    DatasetId,
    "dataset"
);
chain_id_type!(
    /// A purchase or grant id (`Marketplace`).
    PurchaseId,
    "purchase"
);

struct IdVisitor(&'static str);

impl de::Visitor<'_> for IdVisitor {
    type Value = U256;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {} id as a non-negative integer or a decimal/0x-hex string",
            self.0
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<U256, E> {
        Ok(U256::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<U256, E> {
        u64::try_from(v)
            .map(U256::from)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<U256, E> {
        Ok(U256::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<U256, E> {
        U256::from_str(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn u64_conversion_is_checked() {
        assert_eq!(DatasetId::from(7u64).to_u64().unwrap(), 7);
        assert_eq!(
            u64::try_from(PurchaseId::from(U256::from(u64::MAX))).unwrap(),
            u64::MAX
        );
        let big = DatasetId::new(U256::from(u64::MAX) + U256::from(1u64));
        assert!(matches!(
            big.to_u64(),
            Err(ProtocolError::IdOutOfRange {
                kind: "dataset",
                ..
            })
        ));
        assert_eq!(big.get(), U256::from(u64::MAX) + U256::from(1u64));
    }

    #[test]
    fn json_is_a_number_when_it_fits() {
        assert_eq!(serde_json::to_string(&DatasetId::from(7u64)).unwrap(), "7");
        let big = DatasetId::new(U256::from(u64::MAX) + U256::from(1u64));
        assert_eq!(
            serde_json::to_string(&big).unwrap(),
            "\"18446744073709551616\""
        );
        assert_eq!(
            serde_json::from_str::<DatasetId>("\"18446744073709551616\"").unwrap(),
            big
        );
    }

    #[test]
    fn json_reads_number_decimal_and_hex() {
        for text in ["7", "\"7\"", "\"0x7\""] {
            assert_eq!(
                serde_json::from_str::<PurchaseId>(text).unwrap(),
                PurchaseId::from(7u64),
                "{text}"
            );
        }
        for bad in ["-1", "1.5", "\"seven\"", "null", "[]"] {
            assert!(serde_json::from_str::<PurchaseId>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_round_trip() {
        let id: DatasetId = "42".parse().unwrap();
        assert_eq!(id.to_string(), "42");
        assert_eq!("0x2a".parse::<DatasetId>().unwrap(), id);
        assert!(matches!(
            "x".parse::<DatasetId>(),
            Err(ProtocolError::InvalidId {
                kind: "dataset",
                ..
            })
        ));
    }
}
