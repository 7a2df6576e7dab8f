//! Public keys of local signers.

use alloy::{
    primitives::{Address, B256},
    signers::{
        local::PrivateKeySigner,
    },
};

use crate::ChainError;

/// Uncompressed public key without the 0x04 prefix (x ‖ y, 64 bytes): what `purchase` and
/// `grant` take, and what hashes to the account address.
pub fn pubkey64(signer: &PrivateKeySigner) -> [u8; 64] {
    let point = signer.credential().verifying_key().to_encoded_point(false);
    let mut out = [0u8; 64];
    out.copy_from_slice(&point.as_bytes()[1..65]);
    out
}

/// Compressed public key (33 bytes), the format keepers register as their encryption key.
pub fn pubkey_compressed(signer: &PrivateKeySigner) -> [u8; 33] {
    let point = signer.credential().verifying_key().to_encoded_point(true);
    let mut out = [0u8; 33];
    out.copy_from_slice(point.as_bytes());
    out
}

/// Address a 64-byte public key belongs to (keccak256 of x ‖ y, last 20 bytes).
pub fn address_of_pubkey64(pubkey: &[u8; 64]) -> Address {
    Address::from_raw_public_key(pubkey)
}

/// A signer from a hex private key (with or without `0x`).
pub fn signer_from_hex(hex_key: &str) -> Result<PrivateKeySigner, ChainError> {
    let bytes = alloy::hex::decode(hex_key.trim())
        .map_err(|e| ChainError::Key(format!("private key is not hex: {e}")))?;
    let b = B256::try_from(bytes.as_slice())
        .map_err(|_| ChainError::Key(format!("private key must be 32 bytes, got {}", bytes.len())))?;
    PrivateKeySigner::from_bytes(&b).map_err(|e| ChainError::Key(format!("invalid private key: {e}")))
}

/// A random valid compressed secp256k1 point (33 bytes) — e.g. a stand-in Feldman commitment.
pub fn random_compressed_point() -> [u8; 33] {
    pubkey_compressed(&PrivateKeySigner::random())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pubkey_hashes_to_address() {
        let s = PrivateKeySigner::random();
        assert_eq!(address_of_pubkey64(&pubkey64(&s)), s.address());
        assert!(matches!(pubkey_compressed(&s)[0], 2 | 3));
        assert!(signer_from_hex("0x12").is_err());
        let p = random_compressed_point();
        assert!(matches!(p[0], 2 | 3));
    }
}
