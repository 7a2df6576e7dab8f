//! At-rest encryption of stored shares. (The wire layouts the keeper checks and encrypts
//! under are in `phd-protocol`.)

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, Generate, KeyInit, Payload},
};
use alloy::primitives::U256;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

const NONCE_LEN: usize = 12;

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
        hk.expand(b"share rows", okm.as_mut())
            .map_err(|e| format!("hkdf: {e}"))?;
        let cipher =
            Aes256Gcm::new_from_slice(okm.as_ref()).map_err(|e| format!("aes key: {e}"))?;
        Ok(Self { cipher })
    }

    /// `nonce (12) ‖ ciphertext ‖ tag`.
    pub(crate) fn seal(
        &self,
        dataset_id: U256,
        share_index: u8,
        share: &[u8],
    ) -> Result<Vec<u8>, String> {
        let nonce = Nonce::generate();
        let aad = at_rest_aad(dataset_id, share_index);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: share,
                    aad: &aad,
                },
            )
            .map_err(|_| "at-rest encryption failed".to_string())?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub(crate) fn open(
        &self,
        dataset_id: U256,
        share_index: u8,
        sealed: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + 16 {
            return None;
        }
        let (n, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(n).ok()?;
        let aad = at_rest_aad(dataset_id, share_index);
        let mut pt = self
            .cipher
            .decrypt(&nonce, Payload { msg: ct, aad: &aad })
            .ok()?;
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
        assert_eq!(
            a.open(U256::from(5), 2, &sealed).unwrap().as_slice(),
            b"share bytes"
        );
        assert!(a.open(U256::from(6), 2, &sealed).is_none());
        assert!(a.open(U256::from(5), 3, &sealed).is_none());
        let other = AtRest::derive(&[8u8; 32]).unwrap();
        assert!(other.open(U256::from(5), 2, &sealed).is_none());
        assert!(a.open(U256::from(5), 2, &sealed[..10]).is_none());
    }
}
