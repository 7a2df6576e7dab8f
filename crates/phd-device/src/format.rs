//! The certificate and recording-signature documents: signed messages, JSON files, checks.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    Address, B256, CERT_TAG, Error, MAX_JSON_LEN, MAX_MODEL_LEN, RECORDING_TAG, Result, Signature,
    VERSION, hexfmt,
};

/// A manufacturer's statement that `device_address` is the key of a genuine device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCertificate {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Address of the device's signing key.
    #[serde(with = "hexfmt::address")]
    pub device_address: Address,
    /// Model name (1..=256 bytes of UTF-8).
    pub model: String,
    /// `HMAC-SHA256(serial_key, serial)`, never the raw serial.
    #[serde(with = "hexfmt::b256")]
    pub serial_hash: B256,
    /// Address of the manufacturer that signed.
    #[serde(with = "hexfmt::address")]
    pub manufacturer: Address,
    /// EIP-191 signature over [`DeviceCertificate::signed_message`].
    #[serde(with = "hexfmt::signature")]
    pub signature: Signature,
}

/// A device's signature over one recording (data file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingSignature {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The signing device's certificate.
    pub certificate: DeviceCertificate,
    /// SHA-256 of the recording's bytes.
    #[serde(with = "hexfmt::b256")]
    pub content_sha256: B256,
    /// EIP-191 signature by the device key over [`RecordingSignature::signed_message`].
    #[serde(with = "hexfmt::signature")]
    pub signature: Signature,
}

/// What a successful [`verify_recording`](crate::verify_recording) proves: this data was
/// signed by `device`, which `manufacturer` certified as a `model`. The caller must still check
/// `manufacturer` against the on-chain approved list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDevice {
    /// Manufacturer that certified the device (recovered from its signature).
    pub manufacturer: Address,
    /// The device key that signed the recording.
    pub device: Address,
    /// Certified model.
    pub model: String,
    /// Keyed hash of the device serial (a stable pseudonymous device id).
    pub serial_hash: B256,
    /// SHA-256 of the verified content.
    pub content_sha256: B256,
}

impl VerifiedDevice {
    /// `Ok` if the manufacturer is in `approved` (e.g. the on-chain list).
    pub fn ensure_manufacturer_in(&self, approved: &[Address]) -> Result<()> {
        if approved.contains(&self.manufacturer) {
            Ok(())
        } else {
            Err(Error::UnapprovedManufacturer {
                manufacturer: self.manufacturer,
            })
        }
    }
}

fn check_model(model: &str) -> Result<()> {
    if model.is_empty() || model.len() > MAX_MODEL_LEN {
        return Err(Error::InvalidField {
            field: "model",
            reason: format!("must be 1..={MAX_MODEL_LEN} bytes, got {}", model.len()),
        });
    }
    Ok(())
}

pub(crate) fn cert_message(
    device_address: &Address,
    model: &str,
    serial_hash: &B256,
) -> Result<Vec<u8>> {
    check_model(model)?;
    let len = u16::try_from(model.len()).map_err(|_| Error::InvalidField {
        field: "model",
        reason: "too long".into(),
    })?;
    let mut m = Vec::with_capacity(CERT_TAG.len() + 20 + 2 + model.len() + 32);
    m.extend_from_slice(CERT_TAG);
    m.extend_from_slice(device_address.as_slice());
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(model.as_bytes());
    m.extend_from_slice(serial_hash.as_slice());
    Ok(m)
}

pub(crate) fn recording_message(content_sha256: &B256) -> Vec<u8> {
    let mut m = Vec::with_capacity(RECORDING_TAG.len() + 32);
    m.extend_from_slice(RECORDING_TAG);
    m.extend_from_slice(content_sha256.as_slice());
    m
}

/// Reads a JSON document (size-capped), checks `version`, then parses it.
fn parse_versioned<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    what: &'static str,
    path: Option<&Path>,
) -> Result<T> {
    let malformed = |source| Error::Malformed {
        what,
        path: path.map(Path::to_path_buf),
        source,
    };
    if bytes.len() as u64 > MAX_JSON_LEN {
        return Err(malformed(serde::de::Error::custom(format!(
            "document is {} bytes, more than the {MAX_JSON_LEN} allowed",
            bytes.len()
        ))));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
    check_version(&value, what, path)?;
    if what == "recording signature"
        && let Some(cert) = value.get("certificate")
    {
        check_version(cert, "device certificate", path)?;
    }
    serde_json::from_value(value).map_err(malformed)
}

fn check_version(value: &serde_json::Value, what: &'static str, path: Option<&Path>) -> Result<()> {
    let malformed = |source| Error::Malformed {
        what,
        path: path.map(Path::to_path_buf),
        source,
    };
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| {
            malformed(serde::de::Error::custom(
                "missing or non-integer \"version\"",
            ))
        })?;
    if version != u64::from(VERSION) {
        return Err(Error::UnsupportedVersion {
            what,
            found: version,
        });
    }
    Ok(())
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    // Read one byte past the cap so an oversized file is detected, not truncated.
    f.take(cap + 1).read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

fn write_json<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| io(std::io::Error::other(e)))?;
    json.push(b'\n');
    fs::write(path, json).map_err(io)
}

impl DeviceCertificate {
    /// The exact bytes the manufacturer signs (see the crate docs).
    pub fn signed_message(&self) -> Result<Vec<u8>> {
        cert_message(&self.device_address, &self.model, &self.serial_hash)
    }

    /// Checks version, model, and that the signature recovers to `manufacturer`.
    /// Returns the manufacturer address.
    pub fn verify(&self) -> Result<Address> {
        if self.version != VERSION {
            return Err(Error::UnsupportedVersion {
                what: "device certificate",
                found: u64::from(self.version),
            });
        }
        let msg = self.signed_message()?;
        let device = self.device_address;
        if self.signature.normalize_s().is_some() {
            return Err(Error::BadCertificateSignature {
                device,
                reason: "non-canonical (high-s) signature".into(),
            });
        }
        let recovered = self.signature.recover_address_from_msg(&msg).map_err(|e| {
            Error::BadCertificateSignature {
                device,
                reason: e.to_string(),
            }
        })?;
        if recovered != self.manufacturer {
            return Err(Error::ManufacturerMismatch {
                device,
                claimed: self.manufacturer,
                recovered,
            });
        }
        Ok(recovered)
    }

    /// Parses a certificate from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        parse_versioned(bytes, "device certificate", None)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a certificate file (does not verify it; see [`DeviceCertificate::verify`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        parse_versioned(
            &read_capped(path, MAX_JSON_LEN)?,
            "device certificate",
            Some(path),
        )
    }

    /// Writes the certificate as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_json(self, path.as_ref())
    }
}

impl RecordingSignature {
    /// The exact bytes the device signs (see the crate docs).
    pub fn signed_message(&self) -> Vec<u8> {
        recording_message(&self.content_sha256)
    }

    /// Parses a recording signature from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        parse_versioned(bytes, "recording signature", None)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a signature file (does not verify it).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        parse_versioned(
            &read_capped(path, MAX_JSON_LEN)?,
            "recording signature",
            Some(path),
        )
    }

    /// Writes the signature as JSON to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_json(self, path.as_ref())
    }

    /// Writes the signature next to `data_path` as `<data file>.sig.json`; returns that path.
    pub fn save_sidecar(&self, data_path: impl AsRef<Path>) -> Result<PathBuf> {
        let p = sig_path_for(data_path);
        self.save(&p)?;
        Ok(p)
    }
}

/// `<data file>.sig.json` for a data file.
pub fn sig_path_for(data_path: impl AsRef<Path>) -> PathBuf {
    let mut s = data_path.as_ref().as_os_str().to_owned();
    s.push(".sig.json");
    PathBuf::from(s)
}
