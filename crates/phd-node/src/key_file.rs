//! The node's encryption key file: 64 hex digits, mode 0600, created on first start and never
//! replaced afterwards (the public half is registered on-chain; a new key orphans every share
//! encrypted to the old one).

use std::path::Path;

use phd_keys::EncryptionSecretKey;
use zeroize::Zeroizing;

use crate::KeyFileError;

/// File name of the encryption key inside a node's data directory.
pub const KEY_FILE: &str = "encryption.key";

/// Creates `dir` (and parents) with mode 0700 where it does not exist yet.
pub fn create_private_dir(dir: &Path) -> Result<(), KeyFileError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|source| KeyFileError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Loads the key at `path`, or generates one and writes it there (0600) when there is none.
pub fn load_or_create_key(path: &Path) -> Result<EncryptionSecretKey, KeyFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => read_key(path, &Zeroizing::new(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = EncryptionSecretKey::generate().map_err(|e| KeyFileError::Generate {
                reason: e.to_string(),
            })?;
            let hexkey = Zeroizing::new(hex::encode(key.to_bytes().as_slice()));
            // Not `replace`: a key file that appeared meanwhile wins over ours.
            phd_cli::fs::write_private(path, hexkey.as_bytes(), false).map_err(|source| {
                KeyFileError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            tracing::info!(
                path = %path.display(),
                public_key = %hex::encode(key.public_key_compressed()),
                "created encryption key"
            );
            Ok(key)
        }
        Err(source) => Err(KeyFileError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn read_key(path: &Path, text: &str) -> Result<EncryptionSecretKey, KeyFileError> {
    let invalid = |reason: &str| KeyFileError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    let digits = text.trim();
    let digits = digits.strip_prefix("0x").unwrap_or(digits);
    let mut raw = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(digits, raw.as_mut()).map_err(|_| invalid("expected 64 hex digits"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "encryption key file is readable by others; chmod 600 it");
        }
    }
    EncryptionSecretKey::from_bytes(raw.as_slice()).map_err(|e| invalid(&e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("node");
        create_private_dir(&data).unwrap();
        let path = data.join(KEY_FILE);
        let first = load_or_create_key(&path).unwrap();
        let again = load_or_create_key(&path).unwrap();
        assert_eq!(first.public_key_compressed(), again.public_key_compressed());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    #[test]
    fn accepts_0x_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, format!("0x{}\n", "11".repeat(32))).unwrap();
        assert!(load_or_create_key(&path).is_ok());
        std::fs::write(&path, "not a key").unwrap();
        let err = load_or_create_key(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::Invalid { .. }));
        assert!(!err.to_string().contains("not a key"));
        std::fs::write(&path, "00".repeat(32)).unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(KeyFileError::Invalid { .. })
        ));
    }
}
