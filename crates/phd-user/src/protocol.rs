//! Owner → keeper share upload (docs/PROTOCOL.md, "Owner → keeper").

use alloy::primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};

/// AAD of the ECIES ciphertext of a share sent to a keeper:
/// `"phd share to keeper v1" ‖ chain_id (u64 BE) ‖ registry (20) ‖ dataset_id (u256 BE) ‖ share_index (u8)`.
pub fn keeper_share_aad(chain_id: u64, registry: Address, dataset_id: U256, share_index: u8) -> Vec<u8> {
    let mut aad = Vec::with_capacity(22 + 8 + 20 + 32 + 1);
    aad.extend_from_slice(b"phd share to keeper v1");
    aad.extend_from_slice(&chain_id.to_be_bytes());
    aad.extend_from_slice(registry.as_slice());
    aad.extend_from_slice(&dataset_id.to_be_bytes::<32>());
    aad.push(share_index);
    aad
}

/// The 32-byte message the owner signs with EIP-191 `personal_sign`:
/// `keccak256("phd share upload v1" ‖ chain_id ‖ registry ‖ dataset_id ‖ share_index ‖ keccak256(ciphertext))`.
pub fn upload_message(chain_id: u64, registry: Address, dataset_id: U256, share_index: u8, ciphertext: &[u8]) -> B256 {
    let mut m = Vec::with_capacity(19 + 8 + 20 + 32 + 1 + 32);
    m.extend_from_slice(b"phd share upload v1");
    m.extend_from_slice(&chain_id.to_be_bytes());
    m.extend_from_slice(registry.as_slice());
    m.extend_from_slice(&dataset_id.to_be_bytes::<32>());
    m.push(share_index);
    m.extend_from_slice(keccak256(ciphertext).as_slice());
    keccak256(&m)
}

/// Body of `PUT /v1/shares/{dataset_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareUpload {
    pub chain_id: u64,
    pub registry: String,
    pub dataset_id: u64,
    pub share_index: u8,
    pub ciphertext: String,
    pub signature: String,
}

/// A keeper's `200` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReply {
    pub acknowledged: bool,
    #[serde(default)]
    pub tx_hash: Option<String>,
}

/// A keeper's `GET /health` reply (only the fields we use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub address: String,
    #[serde(default)]
    pub chain_id: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_layout() {
        let reg = Address::repeat_byte(0x11);
        let aad = keeper_share_aad(31337, reg, U256::from(7u64), 2);
        assert_eq!(&aad[..22], b"phd share to keeper v1");
        assert_eq!(&aad[22..30], &31337u64.to_be_bytes());
        assert_eq!(&aad[30..50], reg.as_slice());
        assert_eq!(aad[50 + 31], 7);
        assert_eq!(aad[82], 2);
        assert_eq!(aad.len(), 83);
    }

    #[test]
    fn upload_message_binds_everything() {
        let reg = Address::repeat_byte(0x11);
        let base = upload_message(1, reg, U256::from(1u64), 1, b"ct");
        assert_ne!(base, upload_message(2, reg, U256::from(1u64), 1, b"ct"));
        assert_ne!(base, upload_message(1, reg, U256::from(2u64), 1, b"ct"));
        assert_ne!(base, upload_message(1, reg, U256::from(1u64), 2, b"ct"));
        assert_ne!(base, upload_message(1, reg, U256::from(1u64), 1, b"cu"));
    }
}
