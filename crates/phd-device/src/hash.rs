//! SHA-256 of contents and the keyed serial hash.

use std::fs;
use std::io::Read;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::{B256, Error, Result};

/// `HMAC-SHA256(key, serial)`.
pub fn serial_hash(key: &[u8; 32], serial: &str) -> B256 {
    hmac_sha256(key, serial.as_bytes())
}

/// HMAC-SHA256 with a 32-byte key (zero-padded to the 64-byte block, exactly as HMAC
/// specifies for short keys, which makes construction infallible).
pub(crate) fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> B256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(msg);
    B256::from_slice(&mac.finalize().into_bytes())
}

/// SHA-256 of bytes.
pub fn sha256(data: &[u8]) -> B256 {
    B256::from_slice(&Sha256::digest(data))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: impl AsRef<Path>) -> Result<B256> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(B256::from_slice(&h.finalize()))
}
