//! The dataset secret and the data key derived from it.

use crate::error::{KeyError, Result};
use elliptic_curve::Generate;
use elliptic_curve::group::GroupEncoding;
use hkdf::Hkdf;
use k256::{ProjectivePoint, SecretKey};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// HKDF info string for the AES data key.
pub const DATA_KEY_INFO: &[u8] = b"phd data key v1";

/// The per-dataset secret: a random non-zero secp256k1 scalar `s`.
/// Zeroized on drop; `Debug` prints nothing secret.
pub struct DatasetSecret {
    pub(crate) sk: SecretKey,
}

impl DatasetSecret {
    /// A fresh random secret from the OS RNG.
    pub fn generate() -> Result<DatasetSecret> {
        let sk = SecretKey::try_generate_from_rng(&mut rand::rngs::SysRng)
            .map_err(|e| KeyError::Rng(e.to_string()))?;
        Ok(DatasetSecret { sk })
    }

    /// From 32 big-endian bytes; rejects zero and values `>= n`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<DatasetSecret> {
        let sk = SecretKey::from_slice(bytes).map_err(|_| KeyError::InvalidSecret)?;
        Ok(DatasetSecret { sk })
    }

    /// The scalar as 32 big-endian bytes.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.sk.to_bytes());
        out
    }

    /// AES-256 data key: `HKDF-SHA256(ikm = s (32 bytes BE), salt = empty, info = "phd data key v1")`.
    pub fn data_key(&self) -> Zeroizing<[u8; 32]> {
        let ikm = self.to_bytes();
        let hk = Hkdf::<Sha256>::new(None, ikm.as_ref());
        let mut okm = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit: cannot fail.
        let _ = hk.expand(DATA_KEY_INFO, okm.as_mut());
        okm
    }

    /// Key commitment `C0 = s·G`, compressed (33 bytes).
    pub fn key_commitment(&self) -> [u8; 33] {
        let p = ProjectivePoint::GENERATOR * *self.sk.to_nonzero_scalar();
        point_to_33(&p)
    }

    pub(crate) fn scalar(&self) -> k256::Scalar {
        *self.sk.to_nonzero_scalar()
    }
}

impl fmt::Debug for DatasetSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatasetSecret(<redacted>)")
    }
}

pub(crate) fn point_to_33(p: &ProjectivePoint) -> [u8; 33] {
    let enc = p.to_affine().to_bytes();
    let mut out = [0u8; 33];
    if enc.len() == 33 {
        out.copy_from_slice(&enc);
    }
    out
}

/// Parse a 33-byte compressed SEC1 point; rejects other tags, off-curve x, identity.
pub(crate) fn point_from_33(b: &[u8]) -> Option<ProjectivePoint> {
    if b.len() != 33 || !(b[0] == 0x02 || b[0] == 0x03) {
        return None;
    }
    k256::PublicKey::from_sec1_bytes(b)
        .ok()
        .map(|pk| pk.to_projective())
}
