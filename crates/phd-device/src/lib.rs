//! Hardware check for PHD exchange: device certificates and signed recordings.
//!
//! A **manufacturer** (an Ethereum account listed on-chain as approved) certifies each device's
//! key; the **device** signs every recording it produces; the owner's app
//! [verifies](verify_recording) both before ingesting, then checks the returned
//! [`VerifiedDevice::manufacturer`] against the on-chain approved list (done by the chain crate;
//! [`VerifiedDevice::ensure_manufacturer_in`] helps).
//!
//! All signatures are Ethereum `personal_sign` ([EIP-191]) signatures over secp256k1, so the
//! signer's address is recoverable from the signature and ordinary wallets/HSMs can sign.
//!
//! # Signed messages (the EIP-191 payloads; binary, domain separated)
//!
//! Certificate (signed by the manufacturer):
//! ```text
//! "PHD-DEVICE-CERT\0v1\0"           19 bytes, domain tag
//! device_address                    20 bytes
//! len(model) as u16 big-endian       2 bytes
//! model                              UTF-8, 1..=256 bytes
//! serial_hash                       32 bytes
//! ```
//! Recording (signed by the device key):
//! ```text
//! "PHD-DEVICE-RECORDING\0v1\0"      24 bytes, domain tag
//! content_sha256                    32 bytes, SHA-256 of the data file's bytes
//! ```
//! The two tags differ, so a certificate signature can never be replayed as a recording
//! signature or the other way round.
//!
//! `serial_hash = HMAC-SHA256(serial_key, serial)`: the raw serial never leaves the
//! manufacturer. `serial_key` is a manufacturer secret (by default derived from its signing key
//! as `HMAC-SHA256(private key, "phd-device/serial-hash-key/v1")`; see
//! [`Manufacturer::with_serial_key`]), so low-entropy serials cannot be brute-forced from
//! certificates, while the manufacturer can still recompute the hash for a known serial.
//!
//! # File formats (JSON, `version` = 1)
//!
//! Certificate file (e.g. `device.cert.json`):
//! ```json
//! {
//!   "version": 1,
//!   "device_address": "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
//!   "model": "AccelBand 3",
//!   "serial_hash": "0x<64 hex digits>",
//!   "manufacturer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
//!   "signature": "0x<130 hex digits: r ‖ s ‖ v, v = 27/28>"
//! }
//! ```
//! Recording signature, stored next to the data file as `<data file>.sig.json`
//! ([`sig_path_for`]):
//! ```json
//! {
//!   "version": 1,
//!   "certificate": { ...the device certificate... },
//!   "content_sha256": "0x<64 hex digits>",
//!   "signature": "0x<130 hex digits>"
//! }
//! ```
//! Addresses are written EIP-55 checksummed and read case-insensitively; unknown fields are
//! rejected; files larger than 64 KiB are rejected.
//!
//! [EIP-191]: https://eips.ethereum.org/EIPS/eip-191

pub mod cli;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use alloy::primitives::{Address, B256, Signature};
pub use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Domain tag of certificate messages.
pub const CERT_TAG: &[u8] = b"PHD-DEVICE-CERT\0v1\0";
/// Domain tag of recording messages.
pub const RECORDING_TAG: &[u8] = b"PHD-DEVICE-RECORDING\0v1\0";
/// Longest model name, in bytes.
pub const MAX_MODEL_LEN: usize = 256;
/// Largest certificate / signature file accepted.
pub const MAX_JSON_LEN: u64 = 64 * 1024;

const SERIAL_KEY_LABEL: &[u8] = b"phd-device/serial-hash-key/v1";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The certificate's signature is not a valid secp256k1 signature (nothing recoverable).
    #[error("certificate of device {device}: bad manufacturer signature: {reason}")]
    BadCertificateSignature {
        /// Device the certificate is for.
        device: Address,
        /// Why.
        reason: String,
    },
    /// The certificate was signed by someone other than the manufacturer it names.
    #[error("certificate of device {device} claims manufacturer {claimed} but was signed by {recovered}")]
    ManufacturerMismatch {
        /// Device the certificate is for.
        device: Address,
        /// Manufacturer named in the certificate.
        claimed: Address,
        /// Address that actually signed.
        recovered: Address,
    },
    /// The recording's signature is invalid or was not made by the certified device key.
    #[error("recording signature is not from certified device {device}: {reason}")]
    BadRecordingSignature {
        /// Device named by the certificate.
        device: Address,
        /// Address that actually signed, if recoverable.
        recovered: Option<Address>,
        /// Why.
        reason: String,
    },
    /// The data does not match the signed hash.
    #[error("content hash mismatch: signature covers {signed}, data hashes to {actual}")]
    ContentHashMismatch {
        /// Hash in the signature.
        signed: B256,
        /// Hash of the data given.
        actual: B256,
    },
    /// Not a well-formed certificate / signature file.
    #[error("malformed {what} {}: {source}", path.as_deref().map_or_else(|| "(in memory)".to_owned(), |p| p.display().to_string()))]
    Malformed {
        /// Which kind of document.
        what: &'static str,
        /// File, if it came from one.
        path: Option<PathBuf>,
        /// Parse error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A format version this build does not understand.
    #[error("{what} version {found} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion {
        /// Which kind of document.
        what: &'static str,
        /// Version found.
        found: u64,
    },
    /// A field value is not acceptable (e.g. an empty or over-long model name).
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// `Device::new` was given a key that is not the certified device key.
    #[error("device key {signer} does not match certified device address {certified}")]
    DeviceKeyMismatch {
        /// Address of the key given.
        signer: Address,
        /// Address in the certificate.
        certified: Address,
    },
    /// The manufacturer is not on the approved list.
    #[error("manufacturer {manufacturer} is not approved")]
    UnapprovedManufacturer {
        /// The manufacturer.
        manufacturer: Address,
    },
    /// Signing failed.
    #[error("signing with {signer} failed: {source}")]
    Signing {
        /// Signer address.
        signer: Address,
        /// Underlying error.
        #[source]
        source: alloy::signers::Error,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Hex (de)serialisation helpers: `0x`-prefixed, addresses EIP-55 on output.
mod hexfmt {
    use super::{Address, B256, Signature};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    fn strip(s: &str) -> &str {
        s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s)
    }

    fn bytes<const N: usize, E: serde::de::Error>(s: &str, what: &str) -> Result<[u8; N], E> {
        let s = strip(s);
        if s.len() != 2 * N {
            return Err(E::custom(format!("{what}: expected {} hex digits, got {}", 2 * N, s.len())));
        }
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).map_err(|e| E::custom(format!("{what}: {e}")))?;
        Ok(out)
    }

    pub(crate) mod address {
        use super::*;
        pub(crate) fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&a.to_checksum(None))
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
            let s = String::deserialize(d)?;
            Ok(Address::from(bytes::<20, D::Error>(&s, "address")?))
        }
    }

    pub(crate) mod b256 {
        use super::*;
        pub(crate) fn serialize<S: Serializer>(h: &B256, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&format!("0x{}", hex::encode(h.as_slice())))
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<B256, D::Error> {
            let s = String::deserialize(d)?;
            Ok(B256::from(bytes::<32, D::Error>(&s, "hash")?))
        }
    }

    pub(crate) mod signature {
        use super::*;
        pub(crate) fn serialize<S: Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&format!("0x{}", hex::encode(sig.as_bytes())))
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
            let s = String::deserialize(d)?;
            let raw = bytes::<65, D::Error>(&s, "signature")?;
            Signature::from_raw_array(&raw).map_err(|e| D::Error::custom(format!("signature: {e}")))
        }
    }
}

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

/// What a successful [`verify_recording`] proves: this data was signed by `device`, which
/// `manufacturer` certified as a `model`. The caller must still check `manufacturer` against
/// the on-chain approved list.
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
            Err(Error::UnapprovedManufacturer { manufacturer: self.manufacturer })
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

fn cert_message(device_address: &Address, model: &str, serial_hash: &B256) -> Result<Vec<u8>> {
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

fn recording_message(content_sha256: &B256) -> Vec<u8> {
    let mut m = Vec::with_capacity(RECORDING_TAG.len() + 32);
    m.extend_from_slice(RECORDING_TAG);
    m.extend_from_slice(content_sha256.as_slice());
    m
}

/// Reads a JSON document (size-capped), checks `version`, then parses it.
fn parse_versioned<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &'static str, path: Option<&Path>) -> Result<T> {
    let malformed = |source| Error::Malformed { what, path: path.map(Path::to_path_buf), source };
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
    let malformed = |source| Error::Malformed { what, path: path.map(Path::to_path_buf), source };
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| malformed(serde::de::Error::custom("missing or non-integer \"version\"")))?;
    if version != u64::from(VERSION) {
        return Err(Error::UnsupportedVersion { what, found: version });
    }
    Ok(())
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let f = fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    // Read one byte past the cap so an oversized file is detected, not truncated.
    f.take(cap + 1).read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

fn write_json<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
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
            return Err(Error::UnsupportedVersion { what: "device certificate", found: u64::from(self.version) });
        }
        let msg = self.signed_message()?;
        let device = self.device_address;
        if self.signature.normalize_s().is_some() {
            return Err(Error::BadCertificateSignature { device, reason: "non-canonical (high-s) signature".into() });
        }
        let recovered = self
            .signature
            .recover_address_from_msg(&msg)
            .map_err(|e| Error::BadCertificateSignature { device, reason: e.to_string() })?;
        if recovered != self.manufacturer {
            return Err(Error::ManufacturerMismatch { device, claimed: self.manufacturer, recovered });
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
        parse_versioned(&read_capped(path, MAX_JSON_LEN)?, "device certificate", Some(path))
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
        parse_versioned(&read_capped(path, MAX_JSON_LEN)?, "recording signature", Some(path))
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

/// `HMAC-SHA256(key, serial)`.
pub fn serial_hash(key: &[u8; 32], serial: &str) -> B256 {
    hmac_sha256(key, serial.as_bytes())
}

/// HMAC-SHA256 with a 32-byte key (zero-padded to the 64-byte block, exactly as HMAC
/// specifies for short keys, which makes construction infallible).
fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> B256 {
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
    let io = |source| Error::Io { path: path.to_path_buf(), source };
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

/// A device manufacturer: certifies device keys.
pub struct Manufacturer {
    signer: PrivateKeySigner,
    serial_key: [u8; 32],
}

impl std::fmt::Debug for Manufacturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manufacturer").field("address", &self.signer.address()).finish_non_exhaustive()
    }
}

impl Manufacturer {
    /// A manufacturer signing with `signer`; the serial-hash key is derived from its private key.
    pub fn new(signer: PrivateKeySigner) -> Self {
        let serial_key = hmac_sha256(&signer.to_bytes().0, SERIAL_KEY_LABEL).0;
        Self { signer, serial_key }
    }

    /// Uses an explicit secret serial-hash key instead of the derived one.
    pub fn with_serial_key(mut self, key: [u8; 32]) -> Self {
        self.serial_key = key;
        self
    }

    /// The manufacturer's address (what goes on the on-chain approved list).
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The keyed hash this manufacturer puts in certificates for `serial`.
    pub fn serial_hash(&self, serial: &str) -> B256 {
        serial_hash(&self.serial_key, serial)
    }

    /// Certifies that `device_address` is the key of a `model` device with serial `serial`
    /// (only its keyed hash goes into the certificate).
    pub fn certify_device(&self, device_address: Address, model: &str, serial: &str) -> Result<DeviceCertificate> {
        let serial_hash = self.serial_hash(serial);
        let msg = cert_message(&device_address, model, &serial_hash)?;
        let signature = self
            .signer
            .sign_message_sync(&msg)
            .map_err(|source| Error::Signing { signer: self.address(), source })?;
        Ok(DeviceCertificate {
            version: VERSION,
            device_address,
            model: model.to_owned(),
            serial_hash,
            manufacturer: self.address(),
            signature,
        })
    }
}

/// A certified device: signs recordings.
pub struct Device {
    signer: PrivateKeySigner,
    cert: DeviceCertificate,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("address", &self.signer.address())
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A device with key `signer` and its certificate (which must be for that key and valid).
    pub fn new(signer: PrivateKeySigner, cert: DeviceCertificate) -> Result<Self> {
        if signer.address() != cert.device_address {
            return Err(Error::DeviceKeyMismatch { signer: signer.address(), certified: cert.device_address });
        }
        cert.verify()?;
        Ok(Self { signer, cert })
    }

    /// The device's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Its certificate.
    pub fn certificate(&self) -> &DeviceCertificate {
        &self.cert
    }

    /// Signs a recording given as bytes.
    pub fn sign_recording(&self, data: &[u8]) -> Result<RecordingSignature> {
        self.sign_hash(sha256(data))
    }

    /// Signs a recording file (hashed streaming).
    pub fn sign_recording_file(&self, path: impl AsRef<Path>) -> Result<RecordingSignature> {
        self.sign_hash(sha256_file(path)?)
    }

    /// Signs a recording by its SHA-256.
    pub fn sign_hash(&self, content_sha256: B256) -> Result<RecordingSignature> {
        let signature = self
            .signer
            .sign_message_sync(&recording_message(&content_sha256))
            .map_err(|source| Error::Signing { signer: self.address(), source })?;
        Ok(RecordingSignature { version: VERSION, certificate: self.cert.clone(), content_sha256, signature })
    }
}

/// Verifies a recording against its signature: the certificate recovers to its manufacturer,
/// the recording signature recovers to the certified device, and `data` hashes to the signed
/// hash (constant-time comparison). The caller then checks `manufacturer` is approved on-chain.
pub fn verify_recording(data: &[u8], sig: &RecordingSignature) -> Result<VerifiedDevice> {
    verify_hash(sha256(data), sig)
}

/// [`verify_recording`] for a file (hashed streaming).
pub fn verify_recording_file(data_path: impl AsRef<Path>, sig: &RecordingSignature) -> Result<VerifiedDevice> {
    verify_hash(sha256_file(data_path)?, sig)
}

/// Loads `<data file>.sig.json` and verifies the data file against it.
pub fn verify_recording_sidecar(data_path: impl AsRef<Path>) -> Result<VerifiedDevice> {
    let data_path = data_path.as_ref();
    let sig = RecordingSignature::load(sig_path_for(data_path))?;
    verify_recording_file(data_path, &sig)
}

/// [`verify_recording`] given the data's SHA-256.
pub fn verify_hash(actual: B256, sig: &RecordingSignature) -> Result<VerifiedDevice> {
    if sig.version != VERSION {
        return Err(Error::UnsupportedVersion { what: "recording signature", found: u64::from(sig.version) });
    }
    let manufacturer = sig.certificate.verify()?;
    let device = sig.certificate.device_address;
    if sig.signature.normalize_s().is_some() {
        return Err(Error::BadRecordingSignature {
            device,
            recovered: None,
            reason: "non-canonical (high-s) signature".into(),
        });
    }
    let recovered = sig
        .signature
        .recover_address_from_msg(sig.signed_message())
        .map_err(|e| Error::BadRecordingSignature { device, recovered: None, reason: e.to_string() })?;
    if recovered != device {
        return Err(Error::BadRecordingSignature {
            device,
            recovered: Some(recovered),
            reason: "signed by a different key".into(),
        });
    }
    if !bool::from(actual.as_slice().ct_eq(sig.content_sha256.as_slice())) {
        return Err(Error::ContentHashMismatch { signed: sig.content_sha256, actual });
    }
    Ok(VerifiedDevice {
        manufacturer,
        device,
        model: sig.certificate.model.clone(),
        serial_hash: sig.certificate.serial_hash,
        content_sha256: actual,
    })
}
