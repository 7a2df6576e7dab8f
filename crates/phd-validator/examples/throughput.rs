//! Scoring throughput of the validator path: canonical CSV bytes → parse (phd-ingest) →
//! windows, detector, activity forest (phd-quality) → report JSON → keccak256.
//! `cargo run -p phd-validator --release --example throughput [-- COPIES]`
#![allow(clippy::print_stdout)]

use std::time::Instant;

use phd_validator::{ValidationReport, load_model, report_hash, score_plaintext};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let copies: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(25);
    let (model, _) = load_model(&phd_quality::shipped_model_path())?;
    let base = phd_quality::read_basic_motions(
        &phd_quality::default_data_dir().join("BasicMotions_TEST.ts"),
    )?;
    // the TEST split repeated `copies` times as distinct recordings
    let mut t = base.clone();
    let recs = base.recording_count() as u32;
    for k in 1..copies {
        t.time.extend_from_slice(&base.time);
        for (c, src) in t.channels.iter_mut().zip(&base.channels) {
            c.extend_from_slice(src);
        }
        t.recording
            .extend(base.recording.iter().map(|r| r + k * recs));
        t.labels.extend(base.labels.iter().cloned());
        for (a, src) in t.attributes.iter_mut().zip(&base.attributes) {
            a.values.extend_from_slice(&src.values);
        }
    }
    let csv = phd_ingest::canonical_csv_bytes(&t)?;
    let samples = t.len() as f64;
    // warm-up
    let _ = score_plaintext(&model, &csv);
    let runs = 3;
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut last = None;
    for _ in 0..runs {
        let s = score_plaintext(&model, &csv);
        let r = ValidationReport::offline(s, 1000);
        let b = r.to_bytes()?;
        let _ = report_hash(&b);
        last = Some(r);
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(runs);
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 1e9 / f64::from(runs)),
        _ => None,
    };
    let r = last.ok_or("no run")?;
    println!(
        "{} samples x 6 channels ({} windows, {:.1} MiB CSV): wall {:.3} s per dataset = {:.0} samples/s; thread CPU {} ; score {} bps",
        samples,
        r.result.windows_total,
        csv.len() as f64 / (1 << 20) as f64,
        secs,
        samples / secs,
        cpu.map_or_else(
            || "n/a".to_owned(),
            |c| format!("{c:.3} s = {:.0} samples/s/core", samples / c)
        ),
        r.result.score_bps
    );
    Ok(())
}

/// CPU time of this thread (ns), from `/proc/thread-self/schedstat` (Linux); robust on a loaded
/// machine where wall time overstates the cost.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
