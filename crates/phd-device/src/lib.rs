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

mod error;
mod format;
mod hash;
mod hexfmt;
mod sign;
mod verify;

pub use alloy::primitives::{Address, B256, Signature};
pub use alloy::signers::local::PrivateKeySigner;

pub use error::{Error, Result};
pub use format::{DeviceCertificate, RecordingSignature, VerifiedDevice, sig_path_for};
pub use hash::{serial_hash, sha256, sha256_file};
pub use sign::{Device, Manufacturer};
pub use verify::{verify_hash, verify_recording, verify_recording_file, verify_recording_sidecar};

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
