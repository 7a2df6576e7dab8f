#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A malicious key holder (e.g. a dishonest data owner) can build objects that
//! verify but carry hostile compressed payloads. The decoder must cap output.
use phd_seal::testing::seal_precompressed;
use phd_seal::*;

fn build(chunk_size: u32, chunks: &[(Vec<u8>, u32)]) -> (Vec<u8>, SealSummary) {
    let mut out = Vec::new();
    let s = seal_precompressed(
        SealingKey::generate().unwrap(),
        chunk_size,
        chunks,
        &mut out,
    )
    .unwrap();
    (out, s)
}

fn try_open(obj: &[u8], s: &SealSummary) -> (Result<OpenSummary>, usize) {
    let mut out = Vec::new();
    let r = open(
        &s.opening_key,
        obj,
        s.root,
        &mut out,
        &OpenLimits::default(),
    );
    (r, out.len())
}

#[test]
fn zstd_bomb_is_capped() {
    let zeros = vec![0u8; 32 << 20];
    let bomb = zstd::bulk::compress(&zeros, 19).unwrap();
    assert!(bomb.len() < 10_000);
    let (obj, s) = build(4096, &[(bomb, 4096)]);
    let (r, n) = try_open(&obj, &s);
    assert!(
        matches!(
            r,
            Err(SealError::OutputTooLarge { .. }) | Err(SealError::Decompress { .. })
        ),
        "{r:?}"
    );
    assert_eq!(n, 0);
}

#[test]
fn short_chunk_and_garbage_rejected() {
    let good = zstd::bulk::compress(&[1u8; 100], 3).unwrap();
    let (obj, s) = build(100, &[(good.clone(), 100)]);
    let (r, n) = try_open(&obj, &s);
    r.unwrap();
    assert_eq!(n, 100);
    // declares more plaintext than the frame holds (last chunk 1..=chunk_size)
    let short = zstd::bulk::compress(&[1u8; 50], 3).unwrap();
    let (obj, s) = build(100, &[(short, 100)]);
    assert!(try_open(&obj, &s).0.is_err());
    // garbage payload
    let (obj, s) = build(100, &[(vec![0xAB; 40], 100)]);
    assert!(matches!(
        try_open(&obj, &s).0,
        Err(SealError::Decompress { .. })
    ));
    // a frame needing a large window is refused by window_log_max
    let big: Vec<u8> = (0..(8u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut c = zstd::bulk::Compressor::new(3).unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::WindowLog(23))
        .unwrap();
    c.include_contentsize(false).unwrap();
    let frame = c.compress(&big).unwrap();
    let (obj, s) = build(4096, &[(frame, 4096)]);
    assert!(try_open(&obj, &s).0.is_err());
}

#[test]
fn random_payloads_never_panic() {
    let mut x = 0x9E3779B97F4A7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seed_frame = zstd::bulk::compress(b"timestamp,x,y,z\n1,0.1,0.2,0.3\n", 3).unwrap();
    for _ in 0..200 {
        let mut p = seed_frame.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % p.len();
            p[i] = next() as u8;
        }
        let pt = (next() % 64 + 1) as u32;
        let (obj, s) = build(64, &[(p, pt)]);
        let _ = try_open(&obj, &s);
    }
}
