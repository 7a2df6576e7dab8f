//! Hex (de)serialisation helpers: `0x`-prefixed, addresses EIP-55 on output.

use crate::{Address, B256, Signature};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

fn strip(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

fn bytes<const N: usize, E: serde::de::Error>(s: &str, what: &str) -> Result<[u8; N], E> {
    let s = strip(s);
    if s.len() != 2 * N {
        return Err(E::custom(format!(
            "{what}: expected {} hex digits, got {}",
            2 * N,
            s.len()
        )));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|e| E::custom(format!("{what}: {e}")))?;
    Ok(out)
}

pub(crate) mod address {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&a.to_checksum(None))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Address::from(bytes::<20, D::Error>(&s, "address")?))
    }
}

pub(crate) mod b256 {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(h: &B256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(h.as_slice())))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<B256, D::Error> {
        let s = String::deserialize(d)?;
        Ok(B256::from(bytes::<32, D::Error>(&s, "hash")?))
    }
}

pub(crate) mod signature {
    use super::*;
    pub(crate) fn serialize<S: Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(sig.as_bytes())))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let s = String::deserialize(d)?;
        let raw = bytes::<65, D::Error>(&s, "signature")?;
        Signature::from_raw_array(&raw).map_err(|e| D::Error::custom(format!("signature: {e}")))
    }
}
