//! Error type of phd-device.

use std::path::PathBuf;

use crate::{Address, B256, VERSION};

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
    #[error(
        "certificate of device {device} claims manufacturer {claimed} but was signed by {recovered}"
    )]
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
