//! Throughput of the wearable-input paths (release build, one core):
//! `CARGO_TARGET_DIR=target-inputs cargo run -p phd-ingest --release --example inputs_throughput`
//!
//! One hour of six-channel data at 50 Hz (180 000 rows): rate detection + anti-aliased
//! resampling to 10 Hz, and the canonical CSV → Open mHealth / FHIR → table round trips.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use phd_ingest::{
    ExportFormat, InputOptions, ReadLimits, SensorTable, TimeUnit, canonical_csv_bytes,
    export_canonical, normalise, read_fhir, read_omh,
};

fn table(rate: f64, secs: f64) -> SensorTable {
    let n = (rate * secs) as usize;
    let time: Vec<f64> = (0..n).map(|i| i as f64 / rate).collect();
    let channels = (0..6)
        .map(|c| {
            time.iter()
                .map(|t| ((c as f64 + 1.0) * 0.7 * t).sin() + 0.1 * (13.0 * t).cos())
                .collect()
        })
        .collect();
    SensorTable {
        time_unit: TimeUnit::Seconds,
        time,
        channel_names: ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
            .map(str::to_owned)
            .to_vec(),
        channels,
        attributes: vec![],
        recording: vec![0; n],
        labels: vec![None],
        sampling_rate_hz: None,
    }
}

fn main() {
    for rate in [25.0, 50.0, 100.0] {
        let t = table(rate, 3600.0);
        let rows = t.len();
        let start = Instant::now();
        let (out, _) = normalise(
            t,
            &InputOptions {
                target_rate_hz: Some(10.0),
            },
        )
        .unwrap();
        let s = start.elapsed().as_secs_f64();
        println!(
            "resample {rate} Hz → 10 Hz: {rows} rows × 6 channels in {:.3} s = {:.2} M source rows/s ({} rows out)",
            s,
            rows as f64 / s / 1e6,
            out.len()
        );
    }
    let t = table(50.0, 3600.0);
    let csv = canonical_csv_bytes(&t).unwrap();
    for f in [ExportFormat::Omh, ExportFormat::Fhir] {
        let start = Instant::now();
        let out = export_canonical(&csv, f).unwrap();
        let export_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let back = match f {
            ExportFormat::Omh => read_omh(&out[..], &ReadLimits::default()),
            _ => read_fhir(&out[..], &ReadLimits::default()),
        }
        .unwrap();
        let import_s = start.elapsed().as_secs_f64();
        assert_eq!(back.len(), t.len());
        println!(
            "{f:?}: {} rows, CSV {:.1} MB → {:.1} MB; export {:.3} s ({:.2} M rows/s), import {:.3} s ({:.2} M rows/s)",
            t.len(),
            csv.len() as f64 / 1e6,
            out.len() as f64 / 1e6,
            export_s,
            t.len() as f64 / export_s / 1e6,
            import_s,
            t.len() as f64 / import_s / 1e6
        );
    }
}
