//! ECIES over secp256k1: ephemeral ECDH → HKDF-SHA256 → AES-256-GCM.
//!
//! Wire format (docs/FORMATS.md §ECIES):
//! `0x01 ‖ ephemeral pubkey (33, compressed) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.

use crate::error::{KeyError, Result};
use crate::secret::point_to_33;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use elliptic_curve::Generate;
use elliptic_curve::sec1::ToSec1Point;
use hkdf::Hkdf;
use k256::{PublicKey, SecretKey};
use rand::TryRng;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// Wire version byte.
pub const ECIES_VERSION: u8 = 0x01;
/// HKDF info string.
pub const ECIES_INFO: &[u8] = b"phd ecies v1";
/// Bytes before the AES-GCM ciphertext: version, ephemeral key, nonce.
pub const ECIES_HEADER_LEN: usize = 1 + 33 + 12;
/// AES-GCM tag length.
pub const ECIES_TAG_LEN: usize = 16;
/// Total overhead added to the plaintext.
pub const ECIES_OVERHEAD: usize = ECIES_HEADER_LEN + ECIES_TAG_LEN;

/// A secp256k1 key pair used to receive ECIES messages (a keeper's or a
/// buyer's encryption key). Zeroized on drop; `Debug` shows only the public key.
pub struct EncryptionSecretKey {
    sk: SecretKey,
}

impl EncryptionSecretKey {
    /// A fresh key from the OS RNG.
    pub fn generate() -> Result<EncryptionSecretKey> {
        let sk = SecretKey::try_generate_from_rng(&mut rand::rngs::SysRng)
            .map_err(|e| KeyError::Rng(e.to_string()))?;
        Ok(EncryptionSecretKey { sk })
    }

    /// From a 32-byte big-endian scalar (e.g. an Ethereum private key).
    pub fn from_bytes(bytes: &[u8]) -> Result<EncryptionSecretKey> {
        if bytes.len() != 32 {
            return Err(KeyError::InvalidSecret);
        }
        let sk = SecretKey::from_slice(bytes).map_err(|_| KeyError::InvalidSecret)?;
        Ok(EncryptionSecretKey { sk })
    }

    /// The 32 secret bytes.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.sk.to_bytes());
        out
    }

    /// The secret scalar (for the share-delivery proofs in `proof.rs`).
    pub(crate) fn nonzero_scalar(&self) -> k256::NonZeroScalar {
        self.sk.to_nonzero_scalar()
    }

    /// Public key, SEC1 compressed (33 bytes).
    pub fn public_key_compressed(&self) -> [u8; 33] {
        point_to_33(&self.sk.public_key().to_projective())
    }

    /// Public key, SEC1 uncompressed (65 bytes, `0x04 ‖ x ‖ y`).
    pub fn public_key_uncompressed(&self) -> [u8; 65] {
        let enc = self.sk.public_key().to_sec1_point(false);
        let mut out = [0u8; 65];
        if enc.as_bytes().len() == 65 {
            out.copy_from_slice(enc.as_bytes());
        }
        out
    }

    /// Public key as Ethereum stores it: raw `x ‖ y` (64 bytes).
    pub fn public_key_raw64(&self) -> [u8; 64] {
        let u = self.public_key_uncompressed();
        let mut out = [0u8; 64];
        out.copy_from_slice(&u[1..]);
        out
    }
}

impl fmt::Debug for EncryptionSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionSecretKey")
            .field("public", &hex::encode(self.public_key_compressed()))
            .finish_non_exhaustive()
    }
}

/// Parse a recipient public key given as 33-byte compressed, 65-byte
/// uncompressed (`0x04‖x‖y`) or 64-byte raw (`x‖y`). Rejects every other
/// length/tag, off-curve points and the identity.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey> {
    let len = bytes.len();
    let bad = |reason| KeyError::InvalidPublicKey { len, reason };
    let sec1: Vec<u8> = match len {
        33 if bytes[0] == 0x02 || bytes[0] == 0x03 => bytes.to_vec(),
        65 if bytes[0] == 0x04 => bytes.to_vec(),
        64 => {
            let mut v = Vec::with_capacity(65);
            v.push(0x04);
            v.extend_from_slice(bytes);
            v
        }
        33 | 65 => return Err(bad("unexpected SEC1 tag")),
        _ => return Err(bad("expected 33, 64 or 65 bytes")),
    };
    PublicKey::from_sec1_bytes(&sec1).map_err(|_| bad("not a valid curve point"))
}

/// Raw ECDH: x-coordinate of `secret·public` (32 bytes).
pub fn ecdh(secret: &EncryptionSecretKey, public: &PublicKey) -> Zeroizing<[u8; 32]> {
    ecdh_raw(&secret.sk, public)
}

fn ecdh_raw(sk: &SecretKey, public: &PublicKey) -> Zeroizing<[u8; 32]> {
    let shared = k256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), public.as_affine());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(shared.raw_secret_bytes());
    out
}

fn derive_key(
    shared_x: &[u8; 32],
    eph33: &[u8; 33],
    recipient33: &[u8; 33],
) -> Result<Zeroizing<[u8; 32]>> {
    let mut salt = [0u8; 66];
    salt[..33].copy_from_slice(eph33);
    salt[33..].copy_from_slice(recipient33);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared_x);
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(ECIES_INFO, key.as_mut())
        .map_err(|_| KeyError::EncryptionFailed)?;
    Ok(key)
}

fn gcm_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(header.len() + aad.len());
    v.extend_from_slice(header);
    v.extend_from_slice(aad);
    v
}

/// Encrypt `plaintext` to `recipient_pubkey` (33, 64 or 65 bytes), binding `aad`.
pub fn encrypt(recipient_pubkey: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let recipient = parse_public_key(recipient_pubkey)?;
    let eph = SecretKey::try_generate_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| KeyError::Rng(e.to_string()))?;
    let mut nonce = [0u8; 12];
    rand::rngs::SysRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| KeyError::Rng(e.to_string()))?;
    encrypt_with(&recipient, &eph, nonce, plaintext, aad)
}

pub(crate) fn encrypt_with(
    recipient: &PublicKey,
    eph: &SecretKey,
    nonce: [u8; 12],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    let eph33 = point_to_33(&eph.public_key().to_projective());
    let rec33 = point_to_33(&recipient.to_projective());
    let shared = ecdh_raw(eph, recipient);
    let key = derive_key(&shared, &eph33, &rec33)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| KeyError::EncryptionFailed)?;
    let mut out = Vec::with_capacity(ECIES_OVERHEAD + plaintext.len());
    out.push(ECIES_VERSION);
    out.extend_from_slice(&eph33);
    out.extend_from_slice(&nonce);
    let ad = gcm_aad(&out, aad);
    let ct = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| KeyError::EncryptionFailed)?;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypt a message produced by [`encrypt`] with the same `aad`.
pub fn decrypt(
    key: &EncryptionSecretKey,
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if ciphertext.len() < ECIES_OVERHEAD {
        return Err(KeyError::CiphertextTooShort {
            len: ciphertext.len(),
        });
    }
    let (header, body) = ciphertext.split_at(ECIES_HEADER_LEN);
    if header[0] != ECIES_VERSION {
        return Err(KeyError::UnsupportedVersion { version: header[0] });
    }
    let eph33: [u8; 33] = header[1..34]
        .try_into()
        .map_err(|_| KeyError::DecryptionFailed)?;
    let nonce: [u8; 12] = header[34..46]
        .try_into()
        .map_err(|_| KeyError::DecryptionFailed)?;
    let eph = parse_public_key(&eph33)?;
    let rec33 = key.public_key_compressed();
    let shared = ecdh_raw(&key.sk, &eph);
    let k = derive_key(&shared, &eph33, &rec33)?;
    let cipher = Aes256Gcm::new_from_slice(k.as_ref()).map_err(|_| KeyError::DecryptionFailed)?;
    let ad = gcm_aad(header, aad);
    let pt = cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: body,
                aad: &ad,
            },
        )
        .map_err(|_| KeyError::DecryptionFailed)?;
    Ok(Zeroizing::new(pt))
}
