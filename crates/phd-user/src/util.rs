//! Small helpers: atomic writes, progress bars, time. Purposes and PHD amounts are
//! `phd_chain`'s (`Purpose`, `parse_phd`, `format_phd`).

use std::path::Path;

use crate::error::{Result, UserError};

pub use phd_cli::Progress;

/// Writes `bytes` to `path` atomically (temp file, fsync, rename; see `phd_cli::fs`).
/// On error nothing is left at `path` (and a previous file there is untouched).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    phd_cli::fs::write_atomic(path, bytes, phd_cli::fs::Access::Default).map_err(|source| {
        UserError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Like [`write_atomic`], mode 0600 from the first byte (secrets such as the pseudonym key).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    phd_cli::fs::write_atomic(path, bytes, phd_cli::fs::Access::OwnerOnly).map_err(|source| {
        UserError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let entries: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn atomic_write_into_missing_readonly_location_fails_cleanly() {
        let err = write_atomic(Path::new("/proc/definitely/not/here.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("/proc/definitely"));
    }
}
