//! Byte layouts the keeper signs, checks and encrypts under (docs/PROTOCOL.md), and the
//! at-rest encryption of stored shares.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, Generate, KeyInit, Payload},
};
use alloy::primitives::{Address, B256, U256, keccak256};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

const NONCE_LEN: usize = 12;

/// AAD of a share encrypted to a keeper.
pub(crate) fn keeper_aad(chain_id: u64, registry: Address, dataset_id: U256, share_index: u8) -> Vec<u8> {
    let mut aad = Vec::with_capacity(22 + 8 + 20 + 32 + 1);
    aad.extend_from_slice(b"phd share to keeper v1");
    aad.extend_from_slice(&chain_id.to_be_bytes());
    aad.extend_from_slice(registry.as_slice());
    aad.extend_from_slice(&dataset_id.to_be_bytes::<32>());
    aad.push(share_index);
    aad
}

/// AAD of a share encrypted to a buyer.
pub(crate) fn buyer_aad(chain_id: u64, marketplace: Address, purchase_id: U256, share_index: u8) -> Vec<u8> {
    let mut aad = Vec::with_capacity(21 + 8 + 20 + 32 + 1);
    aad.extend_from_slice(b"phd share to buyer v1");
    aad.extend_from_slice(&chain_id.to_be_bytes());
    aad.extend_from_slice(marketplace.as_slice());
    aad.extend_from_slice(&purchase_id.to_be_bytes::<32>());
    aad.push(share_index);
    aad
}

/// The 32-byte message the owner `personal_sign`s for a share upload.
pub(crate) fn upload_message(
    chain_id: u64,
    registry: Address,
    dataset_id: U256,
    share_index: u8,
    ciphertext: &[u8],
) -> B256 {
    let mut m = Vec::with_capacity(19 + 8 + 20 + 32 + 1 + 32);
    m.extend_from_slice(b"phd share upload v1");
    m.extend_from_slice(&chain_id.to_be_bytes());
    m.extend_from_slice(registry.as_slice());
    m.extend_from_slice(&dataset_id.to_be_bytes::<32>());
    m.push(share_index);
    m.extend_from_slice(keccak256(ciphertext).as_slice());
    keccak256(&m)
}

/// AES-256-GCM under a key derived from the keeper's encryption key; a row's dataset id and
/// share index are the AAD, so rows cannot be swapped.
pub(crate) struct AtRest {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for AtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AtRest(..)")
    }
}

fn at_rest_aad(dataset_id: U256, share_index: u8) -> [u8; 54] {
    let mut aad = [0u8; 54];
    aad[..21].copy_from_slice(b"phd keeper at rest v1");
    aad[21..53].copy_from_slice(&dataset_id.to_be_bytes::<32>());
    aad[53] = share_index;
    aad
}

impl AtRest {
    /// HKDF-SHA256(ikm = encryption secret key, salt = "phd keeper at rest v1", info = "share rows").
    pub(crate) fn derive(secret: &[u8]) -> Result<Self, String> {
        let hk = Hkdf::<Sha256>::new(Some(b"phd keeper at rest v1"), secret);
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(b"share rows", okm.as_mut()).map_err(|e| format!("hkdf: {e}"))?;
        let cipher = Aes256Gcm::new_from_slice(okm.as_ref()).map_err(|e| format!("aes key: {e}"))?;
        Ok(Self { cipher })
    }

    /// `nonce (12) ‖ ciphertext ‖ tag`.
    pub(crate) fn seal(&self, dataset_id: U256, share_index: u8, share: &[u8]) -> Result<Vec<u8>, String> {
        let nonce = Nonce::generate();
        let aad = at_rest_aad(dataset_id, share_index);
        let ct = self
            .cipher
            .encrypt(&nonce, Payload { msg: share, aad: &aad })
            .map_err(|_| "at-rest encryption failed".to_string())?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub(crate) fn open(&self, dataset_id: U256, share_index: u8, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + 16 {
            return None;
        }
        let (n, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(n).ok()?;
        let aad = at_rest_aad(dataset_id, share_index);
        let mut pt = self.cipher.decrypt(&nonce, Payload { msg: ct, aad: &aad }).ok()?;
        let out = Zeroizing::new(pt.clone());
        pt.zeroize();
        Some(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn at_rest_round_trip_and_binding() {
        let a = AtRest::derive(&[7u8; 32]).unwrap();
        let sealed = a.seal(U256::from(5), 2, b"share bytes").unwrap();
        assert_eq!(a.open(U256::from(5), 2, &sealed).unwrap().as_slice(), b"share bytes");
        assert!(a.open(U256::from(6), 2, &sealed).is_none());
        assert!(a.open(U256::from(5), 3, &sealed).is_none());
        let other = AtRest::derive(&[8u8; 32]).unwrap();
        assert!(other.open(U256::from(5), 2, &sealed).is_none());
        assert!(a.open(U256::from(5), 2, &sealed[..10]).is_none());
    }

    #[test]
    fn aad_layouts() {
        let aad = keeper_aad(31337, Address::repeat_byte(1), U256::from(7), 2);
        assert_eq!(aad.len(), 22 + 8 + 20 + 32 + 1);
        let aad = buyer_aad(31337, Address::repeat_byte(1), U256::from(7), 2);
        assert_eq!(aad.len(), 21 + 8 + 20 + 32 + 1);
        assert_eq!(aad[21..29], 31337u64.to_be_bytes());
    }
}
