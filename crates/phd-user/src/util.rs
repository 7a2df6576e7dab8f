//! Small helpers: atomic writes, progress bars, time. Purposes and PHD amounts are
//! `phd_chain`'s (`Purpose`, `parse_phd`, `format_phd`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, UserError};

pub use phd_cli::Progress;

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename.
/// On error nothing is left at `path` (and a previous file there is untouched).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir).map_err(|source| UserError::Write { path: dir.clone(), source })?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|source| UserError::Write { path: path.to_path_buf(), source })?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|source| UserError::Write { path: path.to_path_buf(), source })?;
    tmp.persist(path)
        .map_err(|e| UserError::Write { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Like [`write_atomic`] with mode 0600 on unix (secrets such as the pseudonym key).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir).map_err(|source| UserError::Write { path: dir.clone(), source })?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|source| UserError::Write { path: path.to_path_buf(), source })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|source| UserError::Write { path: path.to_path_buf(), source })?;
    }
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|source| UserError::Write { path: path.to_path_buf(), source })?;
    tmp.persist(path)
        .map_err(|e| UserError::Write { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
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
