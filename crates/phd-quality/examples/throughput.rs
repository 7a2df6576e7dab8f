//! Scoring throughput per CPU second (robust on a loaded machine):
//! `cargo run -p phd-quality --release --example throughput` — reads this thread's CPU time
//! from /proc/thread-self/schedstat (ns) around the timed loop.
use phd_quality::{
    QualityModel, ScoreOptions, default_data_dir, read_basic_motions, shipped_model_path,
};

fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = QualityModel::load(&shipped_model_path())?;
    let table = read_basic_motions(&default_data_dir().join("BasicMotions_TEST.ts"))?;
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let _ = model.score(&table, &ScoreOptions::default())?; // warm up
    let (w0, c0) = (std::time::Instant::now(), cpu_ns());
    for _ in 0..iters {
        std::hint::black_box(model.score(&table, &ScoreOptions::default())?);
    }
    let (wall, cpu) = (
        w0.elapsed().as_secs_f64(),
        cpu_ns().zip(c0).map(|(a, b)| (a - b) as f64 / 1e9),
    );
    let samples = (table.len() * iters) as f64;
    println!("{iters} × {} samples (6 channels each)", table.len());
    println!("wall: {:.0} samples/s", samples / wall);
    if let Some(c) = cpu {
        println!("cpu:  {:.0} samples/s/core ({c:.3} s CPU)", samples / c);
    }
    Ok(())
}
