#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Criterion micro-benchmark: seal/open of 16 MiB of accelerometer-like CSV in
//! memory (1 MiB chunks). The end-to-end comparison with zstd|openssl lives in
//! `scripts/bench-seal.sh`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use phd_seal::*;
use std::fmt::Write;

fn csv(bytes: usize) -> Vec<u8> {
    let mut s = String::with_capacity(bytes + 64);
    let mut x = 0x2545F4914F6CDD1Du64;
    let mut t = 1_700_000_000_000u64;
    while s.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = ((x & 0xffff) as f64 / 65536.0 - 0.5) * 0.1;
        let b = (((x >> 16) & 0xffff) as f64 / 65536.0 - 0.5) * 0.1;
        let c = 9.81 + (((x >> 32) & 0xffff) as f64 / 65536.0 - 0.5) * 0.1;
        let _ = writeln!(s, "{t},{a:.4},{b:.4},{c:.4}");
        t += 10;
    }
    s.truncate(bytes);
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let data = csv(16 << 20);
    let opts = SealOptions {
        chunk_size: 1 << 20,
        ..SealOptions::default()
    };
    let mut g = c.benchmark_group("phd-seal");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("seal 16MiB csv", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(data.len() / 2);
            seal(SealingKey::generate().unwrap(), &data[..], &mut out, &opts).unwrap()
        })
    });
    let mut obj = Vec::new();
    let s = seal(SealingKey::generate().unwrap(), &data[..], &mut obj, &opts).unwrap();
    g.bench_function("open 16MiB csv", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(data.len());
            open(
                &s.opening_key,
                &obj[..],
                s.root,
                &mut out,
                &OpenLimits::default(),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
