//! Fuzz phd-keys parsers: ECIES decrypt, public keys, shares, commitments.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = phd_keys::EncryptionSecretKey::from_bytes(&[9u8; 32]) {
        let _ = phd_keys::decrypt(&k, data, b"aad");
    }
    let _ = phd_keys::parse_public_key(data);
    let _ = phd_keys::KeyShare::from_bytes(data);
    if let Ok(c) = phd_keys::Commitments::from_concat_bytes(data) {
        let shares: Vec<_> = data.chunks(33).filter_map(|b| phd_keys::KeyShare::from_bytes(b).ok()).collect();
        let _ = phd_keys::combine(&shares, &c);
        let _ = phd_keys::identify_bad_shares(&shares, &c);
    }
});
