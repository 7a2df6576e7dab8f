//! Sealing and opening keys, and the per-object key schedule.

use crate::error::{Result, SealError};
use hkdf::Hkdf;
use rand::TryRng;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A key that seals exactly one object.
///
/// Not `Clone`/`Copy`: [`crate::seal`] consumes it. It can only be made fresh
/// from the OS RNG ([`SealingKey::generate`]) or from 32 bytes derived by the
/// key layer ([`SealingKey::from_derived`]). In addition every seal mixes a
/// fresh random 32-byte salt into the encryption key (see docs/FORMATS.md), and
/// a process-wide registry of key fingerprints refuses to seal twice with the
/// same key bytes ([`SealError::KeyReuse`]).
pub struct SealingKey {
    pub(crate) key: Zeroizing<[u8; 32]>,
}

impl SealingKey {
    /// A fresh random key from the operating system's RNG.
    pub fn generate() -> Result<SealingKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        fill_random(key.as_mut())?;
        SealingKey::from_derived(key)
    }

    /// A key derived elsewhere (e.g. `phd_keys::DatasetSecret::data_key()`).
    /// Rejects the all-zero key.
    pub fn from_derived(key: Zeroizing<[u8; 32]>) -> Result<SealingKey> {
        if bool::from(key.ct_eq(&[0u8; 32])) {
            return Err(SealError::WeakKey("all-zero key"));
        }
        Ok(SealingKey { key })
    }

    /// The key that opens what this key seals.
    pub fn opening_key(&self) -> OpeningKey {
        OpeningKey {
            key: Zeroizing::new(*self.key),
        }
    }

    /// Register this key as used; errors if it was used before in this process.
    pub(crate) fn mark_used(&self) -> Result<()> {
        static USED: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
        let mut h = Sha256::new();
        h.update(b"phd-seal key fingerprint v1");
        h.update(self.key.as_ref());
        let fp: [u8; 32] = h.finalize().into();
        let set = USED.get_or_init(|| Mutex::new(HashSet::new()));
        let mut guard = set
            .lock()
            .map_err(|_| SealError::Internal("key registry poisoned"))?;
        if guard.insert(fp) {
            Ok(())
        } else {
            Err(SealError::KeyReuse)
        }
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

/// A key that opens sealed objects; may be used any number of times.
#[derive(Clone)]
pub struct OpeningKey {
    pub(crate) key: Zeroizing<[u8; 32]>,
}

impl OpeningKey {
    /// From 32 derived key bytes (the same bytes given to [`SealingKey::from_derived`]).
    pub fn from_derived(key: Zeroizing<[u8; 32]>) -> OpeningKey {
        OpeningKey { key }
    }

    /// The raw key bytes (for storing a generated key; handle with care).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.key)
    }
}

impl fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpeningKey(<redacted>)")
    }
}

/// Per-object keys derived from the sealing key and the header salt.
pub(crate) struct ObjectKeys {
    pub(crate) enc: Zeroizing<[u8; 32]>,
    pub(crate) check: [u8; 16],
}

impl ObjectKeys {
    pub(crate) fn derive(key: &[u8; 32], salt: &[u8; 32]) -> Result<ObjectKeys> {
        let hk = Hkdf::<Sha256>::new(Some(salt), key);
        let mut enc = Zeroizing::new([0u8; 32]);
        hk.expand(b"phd-seal v1 aes-256-ctr key", enc.as_mut())
            .map_err(|_| SealError::Internal("hkdf expand"))?;
        let mut check = [0u8; 16];
        hk.expand(b"phd-seal v1 key check", &mut check)
            .map_err(|_| SealError::Internal("hkdf expand"))?;
        Ok(ObjectKeys { enc, check })
    }

    /// AES-256-CTR in place. Counter block: `chunk_index u64 BE ‖ 0u32 ‖ block u32 BE`.
    pub(crate) fn apply_keystream(&self, index: u64, data: &mut [u8]) -> Result<()> {
        use ctr::cipher::{KeyIvInit, StreamCipher};
        type Aes256Ctr = ctr::Ctr32BE<aes::Aes256>;
        let mut iv = [0u8; 16];
        iv[0..8].copy_from_slice(&index.to_be_bytes());
        let mut c = Aes256Ctr::new_from_slices(self.enc.as_ref(), &iv)
            .map_err(|_| SealError::Internal("aes key length"))?;
        c.try_apply_keystream(data)
            .map_err(|_| SealError::KeystreamExhausted { index })
    }
}

pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|e| SealError::Rng(e.to_string()))
}
