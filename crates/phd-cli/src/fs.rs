//! The one way the programs write files that must survive a crash, and secrets.

use std::{io::Write as _, path::Path};

/// Who may read the file written by [`write_atomic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The umask decides (ordinary outputs).
    Default,
    /// Mode 0600 from the first byte on (keys, shares, pseudonym secrets, env files).
    OwnerOnly,
}

/// Writes `bytes` to `path` all or nothing: a temporary file in the same directory, fsync, then
/// rename over `path`. With [`Access::OwnerOnly`] the temporary file is 0600 before any byte is
/// written, so a secret is never readable by others, not even for a moment. Creates the parent
/// directory.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    write_temp_then(path, bytes, access, true)
}

/// Writes a 0600 temporary file beside `path`, then renames it over `path` (`replace`) or links
/// it there only if nothing exists yet (otherwise `AlreadyExists`, atomically: no check-then-write
/// window in which another process could create the file).
fn write_temp_then(
    path: &Path,
    bytes: &[u8],
    access: Access,
    replace: bool,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".phd-tmp-")
        .tempfile_in(&dir)?;
    #[cfg(unix)]
    if access == Access::OwnerOnly {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = access;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if replace {
        tmp.persist(path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}

/// [`write_atomic`] with [`Access::OwnerOnly`], refusing to replace an existing file unless
/// `replace` (a key generated twice must not silently overwrite the first).
pub fn write_private(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    write_temp_then(path, bytes, Access::OwnerOnly, replace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_owner_only_and_not_replaced() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("sub").join("key");
        write_private(&p, b"one", false).unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_private(&p, b"two", false);
        assert_eq!(
            again.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AlreadyExists)
        );
        assert_eq!(std::fs::read(&p).unwrap_or_default(), b"one");
        write_private(&p, b"two", true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&p).unwrap_or_default(), b"two");
        let leftovers = std::fs::read_dir(p.parent().unwrap_or(dir.path()))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }
}
