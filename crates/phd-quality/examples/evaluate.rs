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
    }
    let _ = QualityModel::load(&shipped_model_path())
        .map(|m| println!("\nshipped model id {:?}", m.model_id()));
    Ok(())
}
