//! Train on TRAIN, evaluate on TEST, print the figures of docs/QUALITY.md.
//! `cargo run -p phd-quality --release --example evaluate [-- --save]`
use phd_quality::{
    QualityModel, default_data_dir, read_basic_motions, shipped_model_path, train_from_dir,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = default_data_dir();
    let t0 = std::time::Instant::now();
    let (model, report) = train_from_dir(&dir)?;
    println!("trained in {:.2?}: {report:?}", t0.elapsed());
    if std::env::args().any(|a| a == "--save") {
        model.save(&shipped_model_path())?;
        println!("saved {}", shipped_model_path().display());
    }
    let test = read_basic_motions(&dir.join("BasicMotions_TEST.ts"))?;
    for variant in ["acc+gyro", "acc"] {
        let t0 = std::time::Instant::now();
        let r = model.evaluate(&test, variant, 5, 0xE7A1)?;
        println!("\n== variant {variant} (evaluated in {:.2?})", t0.elapsed());
        println!("accuracy on TEST: {:.4}", r.accuracy);
        println!(
            "confusion (rows = true, cols = predicted) {:?}",
            r.class_names
        );
        for (name, row) in r.class_names.iter().zip(&r.confusion) {
            println!("  {name:>10} {row:?}");
        }
        println!(
            "false-reject rate on clean TEST: {:.4} {:?}",
            r.false_reject_rate, r.false_rejects
        );
        println!("| corruption | detected | total | recall | right reason |");
        for (k, (d, t, e)) in &r.recall {
            println!(
                "| {k} | {d} | {t} | {:.3} | {:.3} |",
                *d as f64 / *t as f64,
                *e as f64 / *t as f64
            );
        }
        println!("held-out kinds by true activity (recall):");
        for (k, by) in &r.held_out_by_class {
            let cells: Vec<String> = by
                .iter()
                .map(|(c, (d, t))| format!("{c} {:.2}", *d as f64 / *t as f64))
                .collect();
            println!("  {k}: {}", cells.join(", "));
        }
        let t0 = std::time::Instant::now();
        let s = model.evaluate_stream_drift(&test, variant, 60, 4, 0x5D21)?;
        println!(
            "continuous streams ({} windows per activity, evaluated in {:.2?}): clean windows {}, rejected {} ({} as drift, {} of them by the trend check)",
            s.stream_windows,
            t0.elapsed(),
            s.clean_windows,
            s.clean_rejects,
            s.clean_drift_rejects,
            s.clean_trend_rejects
        );
        println!("| stream drift | streams | detected | recall | mean first window |");
        for (k, (n, d, first)) in &s.drifted {
            println!(
                "| {k} | {n} | {d} | {:.3} | {first:.1} |",
                *d as f64 / *n as f64
            );
        }
    }
    let _ = QualityModel::load(&shipped_model_path())
        .map(|m| println!("\nshipped model id {:?}", m.model_id()));
    Ok(())
}
