//! Owner-side pipeline on the TEST split: read → score → keep Walking+Running → pseudonymise →
//! canonical CSV → metadata (JSON + SHA-256).
//! `cargo run -p phd-quality --release --example pipeline`
use phd_ingest::{
    CANONICAL_FORMAT, CoarseAttributes, DatasetMetadata, DeviceInfo, METADATA_VERSION,
    PseudonymisePolicy, TimeRange, canonical_csv_bytes, pseudonymise,
};
use phd_quality::{
    QualityModel, ScoreOptions, default_data_dir, read_basic_motions, shipped_model_path,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = QualityModel::load(&shipped_model_path())?;
    let table = read_basic_motions(&default_data_dir().join("BasicMotions_TEST.ts"))?;
    let opts = ScoreOptions {
        keep_classes: Some(vec!["Walking".into(), "Running".into()]),
        variant: None,
    };
    let score = model.score(&table, &opts)?;
    let kept = QualityModel::filter(&table, &score)?;
    let (clean, report) = pseudonymise(
        &kept,
        &PseudonymisePolicy::default(),
        b"demo owner key, 32 bytes long..",
    )?;
    let plaintext = canonical_csv_bytes(&clean)?;
    let (start_s, end_s) = clean.time_range().unwrap_or((0.0, 0.0));
    let meta = DatasetMetadata {
        version: METADATA_VERSION,
        title: "BasicMotions TEST, walking and running".into(),
        data_type: "accelerometer+gyroscope".into(),
        format: CANONICAL_FORMAT.into(),
        sampling_rate_hz: clean.sampling_rate_hz,
        resampled_from_hz: None,
        time_range: Some(TimeRange { start_s, end_s }),
        sample_count: clean.len() as u64,
        plaintext_bytes: plaintext.len() as u64,
        quality: Some(score.summary()),
        device: Some(DeviceInfo {
            manufacturer: "unknown".into(),
            model: "smartwatch".into(),
            certified: false,
        }),
        attributes: Some(CoarseAttributes::from_table(&clean)),
        unchecked_channels: None,
        consented_purposes: vec!["research".into()],
        consent_terms_hash: DatasetMetadata::hash_terms("PHD exchange consent terms v1"),
    };
    println!(
        "score {:.4}, kept {} windows, dropped {:?}",
        score.score, score.windows_kept, score.windows_dropped
    );
    println!("pseudonymisation: {report:?}");
    println!("plaintext: {} rows, {} bytes", clean.len(), plaintext.len());
    println!(
        "metadata ({} bytes): {}",
        meta.to_canonical_json()?.len(),
        String::from_utf8(meta.to_canonical_json()?)?
    );
    println!("metadata hash: {}", meta.hash_hex()?);
    Ok(())
}
