//! Small helpers: atomic writes, progress bars, purposes, PHD amounts.

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

/// Purpose ids of `contracts/src/Purposes.sol`.
pub const PURPOSES: [(&str, u8); 5] = [
    ("research", 0),
    ("commercial", 1),
    ("validation", 2),
    ("portability", 3),
    ("public-health", 4),
];

/// Parses one purpose name (`research`, `commercial`, `validation`, `portability`,
/// `public-health`/`public_health`) or a numeric id 0..=4.
pub fn parse_purpose(s: &str) -> std::result::Result<u8, String> {
    let norm = s.trim().to_ascii_lowercase().replace('_', "-");
    if let Some((_, id)) = PURPOSES.iter().find(|(n, _)| *n == norm) {
        return Ok(*id);
    }
    if let Ok(id) = norm.parse::<u8>()
        && PURPOSES.iter().any(|(_, i)| *i == id)
    {
        return Ok(id);
    }
    Err(format!(
        "unknown purpose `{s}` (expected one of: {})",
        PURPOSES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    ))
}

/// Name of a purpose id (`purpose-<id>` when unknown).
pub fn purpose_name(id: u8) -> String {
    PURPOSES
        .iter()
        .find(|(_, i)| *i == id)
        .map_or_else(|| format!("purpose-{id}"), |(n, _)| (*n).to_string())
}

/// Comma-separated purposes → bitmask (bit `id` set per purpose). Empty → error.
pub fn parse_purposes_mask(s: &str) -> std::result::Result<u64, String> {
    let mut mask = 0u64;
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        mask |= 1u64 << parse_purpose(part)?;
    }
    if mask == 0 {
        return Err("at least one purpose is required".into());
    }
    Ok(mask)
}

/// Bitmask → purpose names.
pub fn purposes_from_mask(mask: u64) -> Vec<String> {
    (0u8..64).filter(|i| mask & (1u64 << i) != 0).map(purpose_name).collect()
}

/// Parses a decimal PHD amount (`12.5`, `0.000000000000000001`, `3`) into wei (18 decimals).
pub fn parse_phd(s: &str) -> std::result::Result<u128, String> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(format!("`{s}` is not an amount"));
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{s}` is not a decimal PHD amount (e.g. 12.5)"));
    }
    if frac.len() > 18 {
        return Err(format!("`{s}` has more than 18 decimals"));
    }
    let int_v: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| format!("`{s}` is too large"))? };
    let mut frac_s = frac.to_string();
    while frac_s.len() < 18 {
        frac_s.push('0');
    }
    let frac_v: u128 = frac_s.parse().map_err(|_| format!("`{s}` is not an amount"))?;
    int_v
        .checked_mul(1_000_000_000_000_000_000)
        .and_then(|v| v.checked_add(frac_v))
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Formats wei as a decimal PHD amount without trailing zeros (`12.5`).
pub fn fmt_phd(wei: u128) -> String {
    let int = wei / 1_000_000_000_000_000_000;
    let frac = wei % 1_000_000_000_000_000_000;
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:018}");
    format!("{int}.{}", f.trim_end_matches('0'))
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
    fn purposes_roundtrip() {
        assert_eq!(parse_purposes_mask("research,commercial,validation"), Ok(0b111));
        assert_eq!(parse_purposes_mask("public_health"), Ok(1 << 4));
        assert!(parse_purposes_mask("").is_err());
        assert!(parse_purposes_mask("marketing").unwrap_err().contains("unknown purpose"));
        assert_eq!(purposes_from_mask(0b1001), vec!["research".to_string(), "portability".to_string()]);
    }

    #[test]
    fn phd_amounts() {
        assert_eq!(parse_phd("12.5"), Ok(12_500_000_000_000_000_000));
        assert_eq!(parse_phd("0.000000000000000001"), Ok(1));
        assert_eq!(parse_phd("3"), Ok(3_000_000_000_000_000_000));
        assert!(parse_phd("1.0000000000000000001").is_err());
        assert!(parse_phd("-1").is_err());
        assert!(parse_phd("abc").is_err());
        assert!(parse_phd("").is_err());
        assert_eq!(fmt_phd(12_500_000_000_000_000_000), "12.5");
        assert_eq!(fmt_phd(0), "0");
    }

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
