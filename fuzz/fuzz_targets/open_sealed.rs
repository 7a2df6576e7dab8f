//! Fuzz the hostile-input path of phd-seal: footer/trailer/header parsing,
//! root check, and open with the claimed root (decryption with a fixed key
//! normally stops at the key check; the decoder caps are fuzzed on the stable
//! fallback via `phd_seal::testing::seal_precompressed`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use phd_seal::{OpenLimits, OpeningKey, inspect, open, open_range};

fuzz_target!(|data: &[u8]| {
    let key = OpeningKey::from_derived(zeroize::Zeroizing::new([7u8; 32]));
    let limits = OpenLimits { threads: 1, max_chunks: 4096, max_trailer_bytes: 1 << 20, ..OpenLimits::default() };
    if let Ok(info) = inspect(data) {
        let _ = open(&key, data, info.root, std::io::sink(), &limits);
        let _ = open_range(&key, data, info.root, 0..info.chunk_count.min(2), std::io::sink(), &limits);
        let _ = info.chunk_range_for(0..u64::MAX);
    }
    let _ = open(&key, data, [0u8; 32], std::io::sink(), &limits);
});
