//! The signing roles: a manufacturer certifies device keys, a device signs recordings.

use std::path::Path;

use alloy::signers::SignerSync;

use crate::format::{cert_message, recording_message};
use crate::hash::hmac_sha256;
use crate::{
    Address, B256, DeviceCertificate, Error, PrivateKeySigner, RecordingSignature, Result, VERSION,
    serial_hash, sha256, sha256_file,
};

const SERIAL_KEY_LABEL: &[u8] = b"phd-device/serial-hash-key/v1";

/// A device manufacturer: certifies device keys.
pub struct Manufacturer {
    signer: PrivateKeySigner,
    serial_key: [u8; 32],
}

impl std::fmt::Debug for Manufacturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manufacturer")
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
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
    pub fn certify_device(
        &self,
        device_address: Address,
        model: &str,
        serial: &str,
    ) -> Result<DeviceCertificate> {
        let serial_hash = self.serial_hash(serial);
        let msg = cert_message(&device_address, model, &serial_hash)?;
        let signature = self
            .signer
            .sign_message_sync(&msg)
            .map_err(|source| Error::Signing {
                signer: self.address(),
                source,
            })?;
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
            return Err(Error::DeviceKeyMismatch {
                signer: signer.address(),
                certified: cert.device_address,
            });
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
            .map_err(|source| Error::Signing {
                signer: self.address(),
                source,
            })?;
        Ok(RecordingSignature {
            version: VERSION,
            certificate: self.cert.clone(),
            content_sha256,
            signature,
        })
    }
}
