//! `--format omh|fhir`: the bought data in an interchange format. The verified, decrypted
//! canonical CSV (byte-identical to what the owner sealed, what disputes are about) stays at
//! `<out>.canonical.csv`; `<out>` gets the conversion (phd-ingest's Open mHealth / FHIR writers).

use std::path::{Path, PathBuf};

use eyre::WrapErr;
use phd_cli::fs::{Access, write_atomic};
pub use phd_ingest::ExportFormat;

/// Where the retrieval writes the canonical CSV for `out` in `format`.
pub fn canonical_path(out: &Path, format: ExportFormat) -> PathBuf {
    if format == ExportFormat::Csv {
        return out.to_path_buf();
    }
    let mut s = out.as_os_str().to_os_string();
    s.push(".canonical.csv");
    PathBuf::from(s)
}

/// Converts the canonical CSV at `canonical` into `out` (0600, atomic). Returns the bytes
/// written; a no-op for CSV.
pub fn export(canonical: &Path, out: &Path, format: ExportFormat) -> eyre::Result<u64> {
    if format == ExportFormat::Csv {
        return Ok(0);
    }
    let csv = std::fs::read(canonical)
        .wrap_err_with(|| format!("reading the retrieved data {}", canonical.display()))?;
    let bytes = phd_ingest::export_canonical(&csv, format)
        .wrap_err_with(|| format!("converting {} to {format:?}", canonical.display()))?;
    write_atomic(out, &bytes, Access::OwnerOnly)
        .wrap_err_with(|| format!("writing {}", out.display()))?;
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_written_in_place_and_others_beside() {
        let out = Path::new("/tmp/x/bought.json");
        assert_eq!(canonical_path(out, ExportFormat::Csv), out);
        assert_eq!(
            canonical_path(out, ExportFormat::Fhir),
            Path::new("/tmp/x/bought.json.canonical.csv")
        );
    }

    #[test]
    fn export_writes_a_fhir_bundle_that_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("b.canonical.csv");
        std::fs::write(&csv, "t,acc_x,acc_y,acc_z\n0,1,2,3\n0.1,1.5,2.5,3.5\n").unwrap();
        let out = d.path().join("b.json");
        let n = export(&csv, &out, ExportFormat::Fhir).unwrap();
        assert!(n > 0);
        let t = phd_ingest::read_fhir(
            std::fs::File::open(&out).unwrap(),
            &phd_ingest::ReadLimits::default(),
        )
        .unwrap();
        assert_eq!(t.channels[2], vec![3.0, 3.5]);
    }
}
