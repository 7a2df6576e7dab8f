#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::PathBuf;

use phd_ingest::*;

fn data_dir() -> PathBuf {
    std::env::var_os("PHD_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/basic-motions")
        })
}

fn csv(s: &str) -> Result<SensorTable> {
    read_csv(Cursor::new(s.as_bytes().to_vec()), &ReadOptions::default())
}

const KEY: &[u8] = b"owner-secret-key-0123456789abcdef";

#[test]
fn basic_motions_ts_reads_and_canonicalises() {
    let t = read_ts_path(
        &data_dir().join("BasicMotions_TRAIN.ts"),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(t.recording_count(), 40);
    assert_eq!(t.len(), 4000);
    assert_eq!(
        t.channel_names,
        ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    );
    assert_eq!(t.labels[0].as_deref(), Some("Standing"));
    assert_eq!(t.sampling_rate_hz, Some(10.0));
    assert_eq!(t.time[3], 0.3);
    let bytes = canonical_csv_bytes(&t).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("recording,label,t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,Standing,0,")
    );
    assert_eq!(text.lines().count(), 4001);
    // deterministic and round-trips through the CSV reader
    assert_eq!(canonical_csv_bytes(&t).unwrap(), bytes);
    let back = read_csv(Cursor::new(bytes.clone()), &ReadOptions::default()).unwrap();
    assert_eq!(back.channels, t.channels);
    assert_eq!(back.labels, t.labels);
    assert_eq!(back.recording, t.recording);
    assert_eq!(canonical_csv_bytes(&back).unwrap(), bytes);
}

#[test]
fn csv_with_time_detection_and_millis() {
    let t = csv("timestamp_ms,acc_x,acc_y\n1000,1.5,2\n1100,1.25,-0\n").unwrap();
    assert_eq!(t.time_unit, TimeUnit::Millis);
    assert_eq!(t.time, [1.0, 1.1]);
    let out = String::from_utf8(canonical_csv_bytes(&t).unwrap()).unwrap();
    assert_eq!(out, "t_ms,acc_x,acc_y\n1000,1.5,2\n1100,1.25,0\n");
    let t = csv("T,hr\n0,60\n0.5,61\n").unwrap();
    assert_eq!(t.time_unit, TimeUnit::Seconds);
}

#[test]
fn bad_inputs_give_clear_errors() {
    assert!(matches!(csv(""), Err(IngestError::Empty)));
    assert!(matches!(csv("t,acc_x\n"), Err(IngestError::Empty)));
    assert!(matches!(
        csv("acc_x,acc_y\n1,2\n"),
        Err(IngestError::NoTimeColumn { .. })
    ));
    let e = csv("t,acc_x,acc_y\n0,1,2\n0.1,1\n").unwrap_err();
    assert!(
        matches!(
            e,
            IngestError::ColumnCount {
                line: 3,
                expected: 3,
                found: 2
            }
        ),
        "{e}"
    );
    let e = csv("t,acc_x\n0,1\n0.1,abc\n").unwrap_err();
    assert!(
        matches!(
            e,
            IngestError::NotANumber {
                line: 3,
                column: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("line 3, column 2 (acc_x): `abc`"));
    let e = csv("t,acc_x\n0,1\n0.1,1\n0.1,2\n").unwrap_err();
    assert!(
        matches!(e, IngestError::NonMonotonicTime { line: 4, .. }),
        "{e}"
    );
    let e = csv("t,acc_x,acc_x\n0,1,1\n").unwrap_err();
    assert!(matches!(e, IngestError::DuplicateColumn { .. }));
    // NaN: kept by default (the quality layer marks the window), rejected on request
    let t = csv("t,acc_x\n0,NaN\n0.1,inf\n0.2,\n").unwrap();
    assert!(t.channels[0].iter().all(|v| !v.is_finite()));
    assert!(matches!(
        canonical_csv_bytes(&t),
        Err(IngestError::NonFiniteOutput { .. })
    ));
    let opts = ReadOptions {
        non_finite: NonFinitePolicy::Reject,
        ..Default::default()
    };
    let e = read_csv(Cursor::new(b"t,acc_x\n0,1\n0.1,NaN\n".to_vec()), &opts).unwrap_err();
    assert!(
        matches!(
            e,
            IngestError::NonFinite {
                line: 3,
                column: 2,
                ..
            }
        ),
        "{e}"
    );
    // NaN in the time column is never accepted
    assert!(matches!(
        csv("t,acc_x\nNaN,1\n"),
        Err(IngestError::NonFinite { .. })
    ));
    // too many columns
    let opts = ReadOptions {
        limits: ReadLimits {
            max_columns: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let e = read_csv(Cursor::new(b"t,a,b,c,d\n".to_vec()), &opts).unwrap_err();
    assert!(matches!(e, IngestError::TooManyColumns { .. }), "{e}");
    // .ts problems
    let ts = |s: &str| read_ts(Cursor::new(s.as_bytes().to_vec()), &ReadOptions::default());
    assert!(matches!(ts(""), Err(IngestError::Empty)));
    assert!(matches!(
        ts("@classLabel true A B\n@data\n1,2:3,4:A\n1,2:3:B\n"),
        Err(IngestError::TsLength { line: 4, .. })
    ));
    assert!(matches!(
        ts("@classLabel true A B\n@data\n1,2:3,4:C\n"),
        Err(IngestError::TsFormat { line: 3, .. })
    ));
    assert!(matches!(
        ts("@dimensions 2\n@classLabel true A\n@data\n1,2:3,4:5,6:A\n"),
        Err(IngestError::ColumnCount { .. })
    ));
    assert!(matches!(
        ts("@data\n1,x:3,4\n"),
        Err(IngestError::NotANumber {
            line: 2,
            column: 1,
            ..
        })
    ));
    assert!(matches!(
        ts("1,2\n"),
        Err(IngestError::TsFormat { line: 1, .. })
    ));
}

/// An endless line with no newline: must fail after ~max bytes without allocating gigabytes.
struct Endless {
    served: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(b'1');
        self.served += buf.len() as u64;
        Ok(buf.len())
    }
}

#[test]
fn huge_line_is_refused_without_reading_it_all() {
    let mut r = BufReader::new(Endless { served: 0 });
    let opts = ReadOptions::default();
    let e = read_csv(&mut r, &opts).unwrap_err();
    assert!(
        matches!(e, IngestError::LineTooLong { line: 1, max } if max == 1 << 20),
        "{e}"
    );
    assert!(
        r.get_ref().served < 4 << 20,
        "read {} bytes",
        r.get_ref().served
    );
    // the same through the .ts reader, on a data line
    let head = Cursor::new(b"@data\n".to_vec());
    let mut r = BufReader::new(head.chain(Endless { served: 0 }));
    let e = read_ts(&mut r, &opts).unwrap_err();
    assert!(matches!(e, IngestError::LineTooLong { line: 2, .. }), "{e}");
    // LimitedLineReader directly
    let mut lr = LimitedLineReader::new(BufReader::new(Cursor::new(b"ab\r\ncd".to_vec())), 3);
    assert_eq!(lr.next_line().unwrap(), Some((1, "ab")));
    assert_eq!(lr.next_line().unwrap(), Some((2, "cd")));
    assert_eq!(lr.next_line().unwrap(), None);
    let _ = BufReader::new(Cursor::new(b"x")).fill_buf();
}

#[test]
fn pseudonymisation_removes_identifiers() {
    let input = "time,name,e-mail,address,device_serial,age,weight,sex,acc_x,acc_y,acc_z\n\
        0,Alice Smith,alice@example.org,\"1 High St, Town\",SN-998877,34,72.5,female,0.1,0.2,0.3\n\
        0.1,Alice Smith,alice@example.org,\"1 High St, Town\",SN-998877,34,72.5,female,0.2,0.3,0.4\n";
    let t = csv(input).unwrap();
    assert_eq!(t.channel_names, ["acc_x", "acc_y", "acc_z"]);
    let (p, rep) = pseudonymise(&t, &PseudonymisePolicy::default(), KEY).unwrap();
    let out = String::from_utf8(canonical_csv_bytes(&p).unwrap()).unwrap();
    for raw in [
        "Alice",
        "Smith",
        "alice@example.org",
        "example",
        "High St",
        "SN-998877",
        "998877",
        "34",
        "72.5",
    ] {
        assert!(!out.contains(raw), "{raw} leaked into {out}");
    }
    assert_eq!(rep.dropped, ["name", "e-mail", "address"]);
    assert_eq!(rep.hashed, ["device_serial"]);
    assert_eq!(rep.coarsened, ["age", "weight"]);
    assert!(rep.kept.contains(&"sex".to_owned()));
    let h = keyed_hash(KEY, "device_serial", "SN-998877").unwrap();
    assert_eq!(h.len(), HASH_HEX_LEN);
    assert_eq!(
        out.lines().next().unwrap(),
        "t,acc_x,acc_y,acc_z,device_serial,age,weight,sex"
    );
    assert_eq!(
        out.lines().nth(1).unwrap(),
        format!("0,0.1,0.2,0.3,{h},30-39,70-79,female")
    );
    let coarse = CoarseAttributes::from_table(&p);
    assert_eq!(coarse.sex.as_deref(), Some("female"));
    assert_eq!(coarse.age_band.as_deref(), Some("30-39"));
    assert_eq!(coarse.weight_band.as_deref(), Some("70-79"));
    assert_eq!(
        CoarseAttributes::from_table(&t).age_band,
        None,
        "raw ages are never copied"
    );
    // a different owner key gives unlinkable hashes
    assert_ne!(
        keyed_hash(
            b"another-owner-key-000000000000",
            "device_serial",
            "SN-998877"
        )
        .unwrap(),
        h
    );
    assert!(matches!(
        keyed_hash(b"short", "c", "v"),
        Err(IngestError::WeakKey)
    ));
}

#[test]
fn unclassified_and_leaky_columns_are_refused() {
    let t = csv("t,acc_x,mood\n0,1,2\n").unwrap();
    let e = pseudonymise(&t, &PseudonymisePolicy::default(), KEY).unwrap_err();
    assert!(
        matches!(&e, IngestError::UnclassifiedColumn { name } if name == "mood"),
        "{e}"
    );
    let keep = PseudonymisePolicy {
        keep: vec!["mood".into()],
        ..Default::default()
    };
    assert!(pseudonymise(&t, &keep, KEY).is_ok());
    let drop = PseudonymisePolicy {
        drop: vec!["mood".into()],
        ..Default::default()
    };
    let (p, _) = pseudonymise(&t, &drop, KEY).unwrap();
    assert_eq!(p.channel_names, ["acc_x"]);
    // e-mail in a kept string column
    let opts = ReadOptions {
        attribute_columns: vec!["note".into()],
        ..Default::default()
    };
    let t = read_csv(
        Cursor::new(b"t,acc_x,note\n0,1,ok\n0.1,1,write to bob@mail.com\n".to_vec()),
        &opts,
    )
    .unwrap();
    let keep = PseudonymisePolicy {
        keep: vec!["note".into()],
        ..Default::default()
    };
    let e = pseudonymise(&t, &keep, KEY).unwrap_err();
    assert!(
        matches!(e, IngestError::IdentifierInKeptColumn { row: 1, .. }),
        "{e}"
    );
    // bad age
    let t = csv("t,acc_x,age\n0,1,old\n").unwrap();
    assert!(matches!(
        pseudonymise(&t, &PseudonymisePolicy::default(), KEY),
        Err(IngestError::NotCoarsenable { .. })
    ));
}

fn sample_metadata() -> DatasetMetadata {
    DatasetMetadata {
        version: METADATA_VERSION,
        title: "Smartwatch activity, 10 s recordings".into(),
        data_type: "accelerometer+gyroscope".into(),
        format: CANONICAL_FORMAT.into(),
        sampling_rate_hz: Some(10.0),
        resampled_from_hz: None,
        time_range: Some(TimeRange {
            start_s: 0.0,
            end_s: 9.9,
        }),
        sample_count: 4000,
        plaintext_bytes: 310_000,
        quality: Some(QualitySummary {
            score: 0.87,
            model_id: format!("0x{}", "ab".repeat(32)),
            windows_kept: 30,
            windows_dropped: [("class_excluded".to_owned(), 10u64)].into_iter().collect(),
            classes: [("Running".to_owned(), 10u64), ("Walking".to_owned(), 10)]
                .into_iter()
                .collect(),
        }),
        device: Some(DeviceInfo {
            manufacturer: "Acme".into(),
            model: "W1".into(),
            certified: true,
        }),
        attributes: Some(CoarseAttributes {
            sex: Some("female".into()),
            age_band: Some("30-39".into()),
            weight_band: None,
        }),
        unchecked_channels: None,
        consented_purposes: vec!["research".into()],
        consent_terms_hash: DatasetMetadata::hash_terms("terms v1"),
    }
}

#[test]
fn metadata_is_canonical_bounded_and_versioned() {
    let m = sample_metadata();
    let j = m.to_canonical_json().unwrap();
    assert!(j.len() <= METADATA_MAX_BYTES);
    assert!(j.starts_with(b"{\"version\":1,"));
    assert_eq!(DatasetMetadata::from_json(&j).unwrap(), m);
    assert_eq!(m.hash().unwrap(), sample_metadata().hash().unwrap());
    assert_eq!(m.hash_hex().unwrap().len(), 66);
    let mut big = m.clone();
    big.title = "x".repeat(5000);
    assert!(matches!(
        big.to_canonical_json(),
        Err(IngestError::MetadataTooLarge { .. })
    ));
    let mut v2 = m.clone();
    v2.version = 2;
    assert!(matches!(
        v2.to_canonical_json(),
        Err(IngestError::MetadataVersion { found: 2, .. })
    ));
    let bad = String::from_utf8(j)
        .unwrap()
        .replace("\"version\":1", "\"version\":7");
    assert!(matches!(
        DatasetMetadata::from_json(bad.as_bytes()),
        Err(IngestError::MetadataVersion { .. })
    ));
    println!(
        "{}",
        String::from_utf8(m.to_canonical_json().unwrap()).unwrap()
    );
}
