//! Verifying a recording against its signature and the certificate inside it.

use std::path::Path;

use subtle::ConstantTimeEq;

use crate::{
    B256, Error, RecordingSignature, Result, VERSION, VerifiedDevice, sha256, sha256_file,
    sig_path_for,
};

/// Verifies a recording against its signature: the certificate recovers to its manufacturer,
/// the recording signature recovers to the certified device, and `data` hashes to the signed
/// hash (constant-time comparison). The caller then checks `manufacturer` is approved on-chain.
pub fn verify_recording(data: &[u8], sig: &RecordingSignature) -> Result<VerifiedDevice> {
    verify_hash(sha256(data), sig)
}

/// [`verify_recording`] for a file (hashed streaming).
pub fn verify_recording_file(
    data_path: impl AsRef<Path>,
    sig: &RecordingSignature,
) -> Result<VerifiedDevice> {
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
        return Err(Error::UnsupportedVersion {
            what: "recording signature",
            found: u64::from(sig.version),
        });
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
        .map_err(|e| Error::BadRecordingSignature {
            device,
            recovered: None,
            reason: e.to_string(),
        })?;
    if recovered != device {
        return Err(Error::BadRecordingSignature {
            device,
            recovered: Some(recovered),
            reason: "signed by a different key".into(),
        });
    }
    if !bool::from(actual.as_slice().ct_eq(sig.content_sha256.as_slice())) {
        return Err(Error::ContentHashMismatch {
            signed: sig.content_sha256,
            actual,
        });
    }
    Ok(VerifiedDevice {
        manufacturer,
        device,
        model: sig.certificate.model.clone(),
        serial_hash: sig.certificate.serial_hash,
        content_sha256: actual,
    })
}
