use phd_quality::*;
fn main() {
    let dir = default_data_dir();
    let t0 = std::time::Instant::now();
    let (model, _) = train_from_dir(&dir).unwrap();
    println!("train {:?}", t0.elapsed());
    let test = read_basic_motions(&dir.join("BasicMotions_TEST.ts")).unwrap();
    for v in &model.variants {
        let r = model.evaluate(&test, &v.name, 5, 0xE7A1).unwrap();
        println!("{} cv {:.3} frr {:.3} {:?} recall {:?}", v.name, v.detector().thresholds.clean_vote_min, r.false_reject_rate, r.false_rejects, r.recall.iter().map(|(k, x)| (k.clone(), x.0 as f64 / x.1 as f64)).collect::<Vec<_>>());
    }
}
