//! The logic behind the `phd-device` binary (key files, certify, sign, verify), kept here so
//! `main.rs` is only flag parsing and printing, and out of the library so the format library
//! does not pull in the CLI's dependencies. On-chain steps live in the binary (they need a
//! client); everything here is synchronous and file-based.
//!
//! Key files hold one line, `0x` + 64 hex digits, and are created with mode 0600. Wherever a
//! key is expected, a *key source* is accepted: the path of a key file, or (typically from an
//! environment variable such as `PHD_MANUFACTURER_PRIVATE_KEY`) the hex key itself. Keys are
//! never echoed back, not even in error messages.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use eyre::{WrapErr, bail, eyre};
use serde::Serialize;

use phd_device::{
    Address, B256, Device, DeviceCertificate, Error, Manufacturer, PrivateKeySigner,
    RecordingSignature, VerifiedDevice, sig_path_for, verify_recording_file,
};

/// Largest key file read.
const MAX_KEY_FILE: u64 = 4096;

/// `0x`-prefixed lowercase hex of a hash.
fn hex32(h: &B256) -> String {
    format!("0x{}", hex::encode(h.as_slice()))
}

/// Whether `s` looks like a raw hex private key rather than a path (`0x` optional, 64 digits).
fn looks_like_hex_key(s: &str) -> bool {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `s` is plainly a path (has a `/` or `.`, which no hex key has) and so may be echoed
/// in messages; anything else could be a mistyped key and is never echoed.
fn echoable_path(s: &str) -> bool {
    s.contains(['/', '.', std::path::MAIN_SEPARATOR])
}

/// Parses a hex private key; the error never contains the key.
fn signer_from_hex(s: &str) -> eyre::Result<PrivateKeySigner> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.len() != 64 {
        bail!(
            "expected 64 hex digits (32 bytes), got {} characters",
            t.len()
        );
    }
    let mut raw = [0u8; 32];
    hex::decode_to_slice(t, &mut raw).map_err(|_| eyre!("not hexadecimal"))?;
    let signer = PrivateKeySigner::from_bytes(&B256::from(raw))
        .map_err(|_| eyre!("not a valid secp256k1 private key"));
    raw.fill(0);
    signer
}

/// Loads a signer from a key source: an existing file holding a hex key, else the hex key itself.
/// `what` names the flag for messages (e.g. `--device-key`).
pub(crate) fn load_signer(source: &str, what: &str) -> eyre::Result<PrivateKeySigner> {
    let path = Path::new(source);
    if path.is_file() {
        let f = fs::File::open(path)
            .wrap_err_with(|| format!("{what}: opening key file {}", path.display()))?;
        let mut text = String::new();
        f.take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .wrap_err_with(|| format!("{what}: reading key file {}", path.display()))?;
        warn_if_readable_by_others(path);
        return signer_from_hex(&text).wrap_err_with(|| {
            format!(
                "{what}: key file {} does not hold a hex private key",
                path.display()
            )
        });
    }
    if looks_like_hex_key(source) {
        return signer_from_hex(source).wrap_err_with(|| format!("{what}: invalid private key"));
    }
    if path.exists() {
        bail!("{what}: {} is not a regular file", path.display());
    }
    if source.trim().is_empty() {
        bail!("{what}: empty key source (give a key file)");
    }
    if !echoable_path(source) {
        bail!("{what}: neither an existing key file nor a 32-byte hex private key");
    }
    bail!("{what}: key file {} not found", path.display())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: key file {} is accessible by other users (mode {:o}); chmod 600 it",
            path.display(),
            m.permissions().mode() & 0o777
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes `bytes` to a new file readable only by its owner (mode 0600). Refuses to replace an
/// existing file unless `force` (then replaces it atomically).
pub(crate) fn write_private_file(path: &Path, bytes: &[u8], force: bool) -> eyre::Result<()> {
    phd_cli::fs::write_private(path, bytes, force).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            eyre!(
                "{} already exists (pass --force to replace it)",
                path.display()
            )
        } else {
            eyre!(e).wrap_err(format!("writing {}", path.display()))
        }
    })
}

/// What `keygen` did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeygenReport {
    /// Address of the new key.
    pub(crate) address: String,
    /// Where the key was written (`None` with `--out -`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key_file: Option<PathBuf>,
}

/// A fresh random key; written to `out` (mode 0600) unless `out` is `-`. Returns the signer so
/// the caller can print the key for `-`.
pub(crate) fn keygen(out: &Path, force: bool) -> eyre::Result<(PrivateKeySigner, KeygenReport)> {
    let signer = PrivateKeySigner::random();
    let address = signer.address().to_checksum(None);
    if out == Path::new("-") {
        return Ok((
            signer,
            KeygenReport {
                address,
                key_file: None,
            },
        ));
    }
    let mut text = format!("0x{}\n", hex::encode(signer.to_bytes().as_slice())).into_bytes();
    let r = write_private_file(out, &text, force);
    text.fill(0);
    r?;
    Ok((
        signer,
        KeygenReport {
            address,
            key_file: Some(out.to_path_buf()),
        },
    ))
}

/// The hex private key, for `keygen --out -` only.
pub(crate) fn private_key_hex(signer: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(signer.to_bytes().as_slice()))
}

/// What `certify` did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CertifyReport {
    /// Manufacturer that signed.
    pub(crate) manufacturer: String,
    /// Certified device key.
    pub(crate) device: String,
    /// Model.
    pub(crate) model: String,
    /// Keyed serial hash in the certificate (the raw serial is not stored).
    pub(crate) serial_hash: String,
    /// Certificate file written.
    pub(crate) cert_file: PathBuf,
}

/// Parses a 32-byte hex secret (serial-hash key); the error never contains it.
pub(crate) fn parse_secret32(s: &str, what: &str) -> eyre::Result<[u8; 32]> {
    let t = s.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let mut out = [0u8; 32];
    if t.len() != 64 || hex::decode_to_slice(t, &mut out).is_err() {
        bail!("{what}: expected 64 hex digits (32 bytes)");
    }
    Ok(out)
}

/// Certifies `device` as a `model` with serial `serial`, writing the certificate to `out`.
pub(crate) fn certify(
    manufacturer: PrivateKeySigner,
    serial_key: Option<[u8; 32]>,
    device: Address,
    model: &str,
    serial: &str,
    out: &Path,
) -> eyre::Result<CertifyReport> {
    if serial.is_empty() {
        bail!("--serial must not be empty");
    }
    if device == Address::ZERO {
        bail!("--device must not be the zero address");
    }
    let mut m = Manufacturer::new(manufacturer);
    if let Some(k) = serial_key {
        m = m.with_serial_key(k);
    }
    let cert = m
        .certify_device(device, model, serial)
        .wrap_err("certifying the device")?;
    cert.save(out).wrap_err("writing the certificate")?;
    Ok(CertifyReport {
        manufacturer: cert.manufacturer.to_checksum(None),
        device: cert.device_address.to_checksum(None),
        model: cert.model.clone(),
        serial_hash: hex32(&cert.serial_hash),
        cert_file: out.to_path_buf(),
    })
}

/// What `sign` did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SignReport {
    /// Data file signed.
    pub(crate) data_file: PathBuf,
    /// Signature file written.
    pub(crate) signature_file: PathBuf,
    /// SHA-256 of the data.
    pub(crate) content_sha256: String,
    /// Device that signed.
    pub(crate) device: String,
    /// Manufacturer that certified the device.
    pub(crate) manufacturer: String,
    /// Certified model.
    pub(crate) model: String,
}

fn require_file(path: &Path, what: &str) -> eyre::Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => bail!("{what} {} is not a regular file", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{what} {} not found", path.display())
        }
        Err(e) => Err(eyre!(e).wrap_err(format!("{what} {}", path.display()))),
    }
}

/// Signs `data` with the device key and its certificate; writes `<data>.sig.json` or `out`.
pub(crate) fn sign(
    device_key: PrivateKeySigner,
    cert_path: &Path,
    data: &Path,
    out: Option<&Path>,
) -> eyre::Result<SignReport> {
    require_file(data, "data file")?;
    require_file(cert_path, "certificate")?;
    let cert = DeviceCertificate::load(cert_path).wrap_err("reading the certificate")?;
    let device = Device::new(device_key, cert).wrap_err_with(|| {
        format!(
            "certificate {} cannot be used with this device key",
            cert_path.display()
        )
    })?;
    let sig = device
        .sign_recording_file(data)
        .wrap_err_with(|| format!("signing {}", data.display()))?;
    let signature_file = match out {
        Some(p) => {
            sig.save(p).wrap_err("writing the signature")?;
            p.to_path_buf()
        }
        None => sig.save_sidecar(data).wrap_err("writing the signature")?,
    };
    Ok(SignReport {
        data_file: data.to_path_buf(),
        signature_file,
        content_sha256: hex32(&sig.content_sha256),
        device: device.address().to_checksum(None),
        manufacturer: sig.certificate.manufacturer.to_checksum(None),
        model: sig.certificate.model,
    })
}

/// Result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VerifyReport {
    /// Whether everything checked passed (signature, and the chain when checked).
    pub(crate) ok: bool,
    /// Data file verified.
    pub(crate) data_file: PathBuf,
    /// Signature file used.
    pub(crate) signature_file: PathBuf,
    /// Manufacturer that certified the device.
    pub(crate) manufacturer: String,
    /// Device that signed.
    pub(crate) device: String,
    /// Certified model.
    pub(crate) model: String,
    /// Keyed serial hash (pseudonymous device id).
    pub(crate) serial_hash: String,
    /// SHA-256 of the data.
    pub(crate) content_sha256: String,
    /// Whether the manufacturer is approved on-chain; `None` when not checked.
    pub(crate) manufacturer_approved: Option<bool>,
}

/// Verifies `data` against its signature (`sig`, default `<data>.sig.json`). The on-chain
/// check is the caller's ([`VerifyReport::manufacturer_approved`] starts `None`).
pub(crate) fn verify(
    data: &Path,
    sig: Option<&Path>,
) -> eyre::Result<(VerifiedDevice, VerifyReport)> {
    require_file(data, "data file")?;
    let sig_path = sig.map_or_else(|| sig_path_for(data), Path::to_path_buf);
    match fs::metadata(&sig_path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => bail!("signature {} is not a regular file", sig_path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no signature file {} for {} (sign it with `phd-device sign`, or pass --sig)",
            sig_path.display(),
            data.display()
        ),
        Err(e) => return Err(eyre!(e).wrap_err(format!("signature {}", sig_path.display()))),
    }
    let rs = RecordingSignature::load(&sig_path).wrap_err("reading the signature")?;
    let v = verify_recording_file(data, &rs).map_err(|e| {
        let headline = match &e {
            Error::ContentHashMismatch { .. } => {
                format!(
                    "{} does not match its signature: the data was modified after signing",
                    data.display()
                )
            }
            Error::ManufacturerMismatch { .. } | Error::BadCertificateSignature { .. } => {
                format!(
                    "the device certificate in {} is forged or corrupted",
                    sig_path.display()
                )
            }
            Error::BadRecordingSignature { .. } => {
                format!("{} was not signed by the certified device", data.display())
            }
            _ => format!(
                "verifying {} against {}",
                data.display(),
                sig_path.display()
            ),
        };
        eyre!(e).wrap_err(format!("verification FAILED: {headline}"))
    })?;
    let report = VerifyReport {
        ok: true,
        data_file: data.to_path_buf(),
        signature_file: sig_path,
        manufacturer: v.manufacturer.to_checksum(None),
        device: v.device.to_checksum(None),
        model: v.model.clone(),
        serial_hash: hex32(&v.serial_hash),
        content_sha256: hex32(&v.content_sha256),
        manufacturer_approved: None,
    };
    Ok((v, report))
}

impl VerifyReport {
    /// Human-readable summary.
    pub(crate) fn human(&self) -> String {
        let approved = match self.manufacturer_approved {
            Some(true) => "approved on-chain",
            Some(false) => "NOT approved on-chain",
            None => "on-chain approval not checked; pass --check-chain",
        };
        format!(
            "{status}: {data}\n  signature     {sig}\n  manufacturer  {m} ({approved})\n  device        {d}\n  model         {model}\n  serial hash   {sh}\n  sha256        {c}",
            status = if self.ok { "OK" } else { "FAILED" },
            data = self.data_file.display(),
            sig = self.signature_file.display(),
            m = self.manufacturer,
            d = self.device,
            model = self.model,
            sh = self.serial_hash,
            c = self.content_sha256,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sources() {
        let k = PrivateKeySigner::random();
        let hex = private_key_hex(&k);
        assert!(load_signer(&hex, "--k").is_ok_and(|s| s.address() == k.address()));
        assert!(load_signer(&hex[2..], "--k").is_ok_and(|s| s.address() == k.address()));
        // errors never echo key-like values
        let bad = &hex[..60];
        let e = load_signer(bad, "--k")
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(!e.is_empty() && !e.contains(&bad[2..]), "{e}");
        let zero = format!("0x{}", "0".repeat(64));
        let e = load_signer(&zero, "--k")
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("invalid private key"), "{e}");
        let e = load_signer("/nonexistent/k.hex", "--k")
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("not found"), "{e}");
    }

    #[test]
    fn secrets() {
        assert!(parse_secret32(&"ab".repeat(32), "x").is_ok());
        assert!(parse_secret32("abc", "x").is_err());
    }
}
