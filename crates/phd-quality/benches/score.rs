//! Scoring throughput: `cargo bench -p phd-quality --bench score`.
//! One "sample" = one time point with all 6 channels (acc x,y,z + gyro x,y,z).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use phd_quality::{
    FeatureConfig, FeatureExtractor, QualityModel, ScoreOptions, default_data_dir,
    read_basic_motions, shipped_model_path, windows,
};

fn bench(c: &mut Criterion) {
    let model = QualityModel::load(&shipped_model_path()).unwrap();
    let table = read_basic_motions(&default_data_dir().join("BasicMotions_TEST.ts")).unwrap();
    // 10× the TEST split (400 windows, 40,000 samples) so per-call overheads are amortised
    let mut big = table.clone();
    for k in 1..10u32 {
        big.time.extend_from_slice(&table.time);
        for (dst, src) in big.channels.iter_mut().zip(&table.channels) {
            dst.extend_from_slice(src);
        }
        big.recording
            .extend(table.recording.iter().map(|r| r + 40 * k));
        big.labels.extend(table.labels.iter().cloned());
    }
    let mut g = c.benchmark_group("quality");
    g.throughput(Throughput::Elements(big.len() as u64));
    g.bench_function("score_acc_gyro_samples", |b| {
        b.iter(|| {
            black_box(
                model
                    .score(black_box(&big), &ScoreOptions::default())
                    .unwrap(),
            )
        })
    });
    let cfg = FeatureConfig::acc_gyro();
    let ws = windows(&big, &cfg).unwrap();
    g.bench_function("features_only_samples", |b| {
        let mut fx = FeatureExtractor::new(&cfg);
        let mut out = Vec::new();
        b.iter(|| {
            for w in &ws {
                out.clear();
                fx.extract(&w.data, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
