//! Public keys of local signers.

use alloy::{
    primitives::{Address, B256, Bytes},
    signers::{SignerSync, local::PrivateKeySigner},
};
use zeroize::Zeroizing;

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
    let b = B256::try_from(bytes.as_slice()).map_err(|_| {
        ChainError::Key(format!("private key must be 32 bytes, got {}", bytes.len()))
    })?;
    PrivateKeySigner::from_bytes(&b)
        .map_err(|e| ChainError::Key(format!("invalid private key: {e}")))
}

/// The `keyProof` of `KeeperRegistry.register` / `update`: a raw (no EIP-191 prefix) secp256k1
/// signature `r ‖ s ‖ v` (65 bytes, v = 27/28, low s) by the node's *encryption* secret key over
/// `digest` = `keyProofDigest(account)`. It shows the registrant holds the key shares will be
/// encrypted to, so nobody can register someone else's key.
pub fn sign_key_proof(encryption_secret: &[u8; 32], digest: B256) -> Result<Bytes, ChainError> {
    // The signer keeps its own (zeroize-on-drop) copy; ours is wiped on return.
    let secret = Zeroizing::new(*encryption_secret);
    let signer = PrivateKeySigner::from_slice(secret.as_slice())
        .map_err(|e| ChainError::Key(format!("invalid encryption secret key: {e}")))?;
    let sig = signer
        .sign_hash_sync(&digest)
        .map_err(|source| ChainError::Signer {
            context: "key proof",
            source,
        })?;
    Ok(Bytes::copy_from_slice(&sig.as_bytes()))
}

/// A random valid compressed secp256k1 point (33 bytes) — e.g. a stand-in Feldman commitment.
pub fn random_compressed_point() -> [u8; 33] {
    pubkey_compressed(&PrivateKeySigner::random())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
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

    #[test]
    fn key_proof_recovers_to_the_encryption_key() {
        let enc = PrivateKeySigner::random();
        let digest = B256::repeat_byte(0x42);
        let proof = sign_key_proof(&enc.to_bytes().0, digest).unwrap();
        assert_eq!(proof.len(), 65);
        assert!(matches!(proof[64], 27 | 28));
        let sig = alloy::primitives::Signature::try_from(proof.as_ref()).unwrap();
        assert_eq!(
            sig.recover_address_from_prehash(&digest).unwrap(),
            enc.address()
        );
        // Another digest (another account / chain / registry) does not recover to the key.
        assert_ne!(
            sig.recover_address_from_prehash(&B256::repeat_byte(1))
                .unwrap(),
            enc.address()
        );
        assert!(sign_key_proof(&[0u8; 32], digest).is_err());
    }
}
