//! Real wearable inputs: device column names and units, sample rates, Open mHealth and FHIR
//! round trips, hostile interchange input.

use std::io::Cursor;
use std::path::PathBuf;

use phd_ingest::*;
use proptest::prelude::*;

fn data_dir() -> PathBuf {
    std::env::var_os("PHD_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/basic-motions")
        })
}

fn csv(s: &str) -> SensorTable {
    read_csv(Cursor::new(s.as_bytes().to_vec()), &ReadOptions::default()).unwrap()
}

fn mapped(s: &str) -> Result<(SensorTable, ColumnReport)> {
    map_columns(csv(s))
}

/// The first `n` recordings of the BasicMotions TEST split (four activities, labelled).
fn basic_motions(n: u32) -> SensorTable {
    let t = read_ts_path(
        &data_dir().join("BasicMotions_TEST.ts"),
        &ReadOptions::default(),
    )
    .unwrap();
    let keep: Vec<bool> = t.recording.iter().map(|r| *r < n).collect();
    let mut t = t.filter_rows(&keep).unwrap();
    t.labels.truncate(n as usize);
    t
}

fn assert_tables_close(a: &SensorTable, b: &SensorTable, tol: f64) {
    assert_eq!(a.channel_names, b.channel_names);
    assert_eq!(a.recording, b.recording);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.attributes, b.attributes);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.time.iter().zip(&b.time) {
        assert!((x - y).abs() <= 1e-6, "time {x} vs {y}");
    }
    for (ca, cb) in a.channels.iter().zip(&b.channels) {
        for (x, y) in ca.iter().zip(cb) {
            assert!((x - y).abs() <= tol, "{x} vs {y}");
        }
    }
}

// ---------------------------------------------------------------- aliases and units

#[test]
fn device_spellings_map_to_canonical_channels() {
    for header in [
        "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z",
        "time,accel_x,accel_y,accel_z,gyro_x,gyro_y,gyro_z",
        "time,accelerometer_x,accelerometer_y,accelerometer_z,gyroscope_x,gyroscope_y,gyroscope_z",
        "time,ax,ay,az,gx,gy,gz",
        "time,AccX,AccY,AccZ,GyroX,GyroY,GyroZ",
        "time,Accel X,Accel Y,Accel Z,rotationRate.x,rotationRate.y,rotationRate.z",
        "timestamp,ACC_X,ACC_Y,ACC_Z,angular_velocity_x,angular_velocity_y,angular_velocity_z",
    ] {
        let (t, r) = mapped(&format!("{header}\n0,1,2,3,4,5,6\n0.1,1,2,3,4,5,6\n")).unwrap();
        assert_eq!(
            t.channel_names,
            ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"],
            "{header}"
        );
        assert_eq!(
            t.channels[3],
            vec![4.0, 4.0],
            "{header}: no unit, no conversion"
        );
        assert!(r.unknown.is_empty(), "{header}");
    }
}

#[test]
fn units_in_headers_are_converted_to_si() {
    let (t, r) = mapped(
        "time,acc_x (g),acc_y [m/s^2],acc_z_mg,gyro_x (deg/s),gyro_y_dps,gyro_z (rad/s)\n0,1,9.5,1000,180,90,1\n0.1,0,0,0,0,0,0\n",
    )
    .unwrap();
    let row0: Vec<f64> = t.channels.iter().map(|c| c[0]).collect();
    let want = [
        9.806_65,
        9.5,
        9.806_65,
        std::f64::consts::PI,
        std::f64::consts::FRAC_PI_2,
        1.0,
    ];
    for (g, w) in row0.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{row0:?}");
    }
    assert_eq!(
        r.mapped.len(),
        6,
        "every column renamed or converted: {r:?}"
    );
    assert_eq!(r.mapped[3].unit.as_deref(), Some("deg/s"));
}

#[test]
fn a_unit_of_the_wrong_quantity_or_an_unknown_unit_is_refused() {
    for header in [
        "gyro_x (m/s^2)",
        "acc_x (furlongs/fortnight)",
        "gyro_x_deg_s (rad/s)",
    ] {
        let err = mapped(&format!("time,{header}\n0,1\n0.1,1\n")).unwrap_err();
        assert!(
            matches!(err, IngestError::ColumnUnit { .. }),
            "{header}: {err}"
        );
        assert!(
            err.to_string().contains(header.split(' ').next().unwrap()),
            "{err}"
        );
    }
}

#[test]
fn two_columns_for_one_channel_are_an_error_naming_both() {
    let err = mapped("time,acc_x,accel_x\n0,1,2\n0.1,1,2\n").unwrap_err();
    match err {
        IngestError::AmbiguousColumns { canonical, columns } => {
            assert_eq!(canonical, "acc_x");
            assert_eq!(columns, ["acc_x", "accel_x"]);
        }
        e => panic!("{e}"),
    }
}

#[test]
fn columns_that_are_no_known_sensor_are_reported() {
    let (t, r) = mapped("time,acc_x,temp,rot_q\n0,1,36.5,0.2\n0.1,1,36.5,0.2\n").unwrap();
    assert_eq!(r.unknown, ["temp", "rot_q"]);
    assert_eq!(t.channel_names, ["acc_x", "temp", "rot_q"]);
    let (kept, removed) = retain_channels(&t, &["acc_x".to_owned()]);
    assert_eq!(kept.channel_names, ["acc_x"]);
    assert_eq!(removed, ["temp", "rot_q"]);
}

#[test]
fn time_columns_in_ms_us_and_ns_read_as_seconds() {
    for (h, v) in [
        ("timestamp_ms", "1500"),
        ("time_us", "1500000"),
        ("timestamp_ns", "1500000000"),
    ] {
        let t = csv(&format!("{h},acc_x\n0,1\n{v},2\n"));
        assert!((t.time[1] - 1.5).abs() < 1e-12, "{h}");
    }
}

// ---------------------------------------------------------------- sample rate

/// BasicMotions at 50 Hz (band-limited interpolation of the 10 Hz samples), resampled back to
/// 10 Hz by `normalise`, is the original within what the anti-alias filter removes (the
/// 4.5–5 Hz band) (the model-level check is phd-user's `fifty_hz_basic_motions_scores_like_the_original`).
#[test]
fn upsampled_basic_motions_resamples_back_to_the_original() {
    let orig = basic_motions(8);
    let fifty = resample::bandlimited_upsample(&orig, 5);
    let (back, report) = normalise(
        fifty,
        &InputOptions {
            target_rate_hz: Some(10.0),
        },
    )
    .unwrap();
    let src = report.source_rate.unwrap();
    assert!((src.rate_hz - 50.0).abs() < 1e-6, "{src:?}");
    assert_eq!(report.resampled_to_hz, Some(10.0));
    assert_eq!(back.len(), orig.len());
    assert_eq!(back.sampling_rate_hz, Some(10.0));
    // The difference is what the anti-alias filter must remove: the original's content near
    // the 5 Hz Nyquist frequency (plus edge effects of 10 s recordings). Compare it with the
    // original's energy at ≥ 4 Hz (DFT per recording).
    for (c, (a, b)) in orig.channels.iter().zip(&back.channels).enumerate() {
        let err: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
        let energy: f64 = a.iter().map(|x| x * x).sum::<f64>();
        let high: f64 = orig
            .recording_ranges()
            .iter()
            .map(|(_, r)| band_energy(&a[r.clone()], 10.0, 4.0))
            .sum();
        eprintln!(
            "channel {c}: relative RMS error {:.4}, energy ≥ 4 Hz {:.4} of the total",
            (err / energy).sqrt(),
            high / energy
        );
        assert!(
            err <= 1.5 * high + 0.01 * energy,
            "channel {c}: error {err} beyond the removed band {high}"
        );
    }
    // a 10 Hz file is left alone
    let (same, r) = normalise(
        basic_motions(2),
        &InputOptions {
            target_rate_hz: Some(10.0),
        },
    )
    .unwrap();
    assert_eq!(r.resampled_to_hz, None);
    assert_eq!(same, basic_motions(2));
}

/// Energy of `x` (sampled at `rate`) at frequencies ≥ `from_hz`, by DFT (Parseval: time-domain
/// units).
fn band_energy(x: &[f64], rate: f64, from_hz: f64) -> f64 {
    let n = x.len();
    let mut e = 0.0;
    for k in 0..n {
        let f = k.min(n - k) as f64 * rate / n as f64;
        if f < from_hz {
            continue;
        }
        let (mut re, mut im) = (0.0, 0.0);
        for (i, v) in x.iter().enumerate() {
            let w = -2.0 * std::f64::consts::PI * (k * i) as f64 / n as f64;
            re += v * w.cos();
            im += v * w.sin();
        }
        e += (re * re + im * im) / n as f64;
    }
    e
}

#[test]
fn undeterminable_or_unsupported_rates_are_refused_when_a_model_needs_one() {
    let target = InputOptions {
        target_rate_hz: Some(10.0),
    };
    // one sample: no interval
    let err = normalise(csv("time,acc_x\n0,1\n"), &target).unwrap_err();
    assert!(matches!(err, IngestError::RateUndetermined { .. }), "{err}");
    // 1 Hz: upsampling 10× would invent the data
    let slow: String = (0..30).map(|i| format!("{i},1\n")).collect();
    let err = normalise(csv(&format!("time,acc_x\n{slow}")), &target).unwrap_err();
    assert!(matches!(err, IngestError::RateOutOfRange { .. }), "{err}");
    // without a model the rate is only recorded (or left unknown)
    let (t, r) = normalise(csv("time,acc_x\n0,1\n"), &InputOptions::default()).unwrap();
    assert!(r.source_rate.is_none() && t.sampling_rate_hz.is_none());
}

// ---------------------------------------------------------------- Open mHealth, FHIR

fn with_attribute(mut t: SensorTable) -> SensorTable {
    let n = t.len();
    t.attributes.push(Attribute {
        name: "sex".into(),
        values: vec!["female".into(); n],
    });
    t
}

#[test]
fn csv_to_omh_to_csv_round_trips() {
    let orig = with_attribute(basic_motions(4));
    let csv_bytes = canonical_csv_bytes(&orig).unwrap();
    let omh = export_canonical(&csv_bytes, ExportFormat::Omh).unwrap();
    let text = String::from_utf8(omh.clone()).unwrap();
    assert!(
        text.contains(r#""schema_id":{"name":"acceleration","namespace":"omh","version":"2.0"}"#)
            || text.contains(r#""namespace":"omh""#)
    );
    assert!(text.contains(r#""unit":"m/s^2""#) && text.contains(r#""unit":"rad/s""#));
    let back = read_omh(Cursor::new(omh), &ReadLimits::default()).unwrap();
    assert_tables_close(&orig, &back, 0.0);
    // and the canonical CSV of what came back is byte-identical
    assert_eq!(canonical_csv_bytes(&back).unwrap(), csv_bytes);
}

#[test]
fn csv_to_fhir_to_csv_round_trips() {
    let orig = with_attribute(basic_motions(4));
    let csv_bytes = canonical_csv_bytes(&orig).unwrap();
    let fhir = export_canonical(&csv_bytes, ExportFormat::Fhir).unwrap();
    let text = String::from_utf8(fhir.clone()).unwrap();
    assert!(text.starts_with(r#"{"resourceType":"Bundle""#));
    // one Observation per recording (each is a regular 10 Hz run)
    assert_eq!(text.matches(r#""resourceType":"Observation""#).count(), 4);
    let back = read_fhir(Cursor::new(fhir), &ReadLimits::default()).unwrap();
    assert_tables_close(&orig, &back, 0.0);
    assert_eq!(canonical_csv_bytes(&back).unwrap(), csv_bytes);
}

#[test]
fn fhir_round_trips_gaps_and_jittered_time() {
    // quality filtering leaves gaps; a raw device jitters: runs are split, nothing is moved
    let t = csv("t,acc_x,heart_rate\n0,1,60\n0.1,2,61\n0.2,3,62\n5,4,63\n5.1,5,64\n5.2031,6,65\n");
    let bytes = canonical_csv_bytes(&t).unwrap();
    let fhir = export_canonical(&bytes, ExportFormat::Fhir).unwrap();
    let back = read_fhir(Cursor::new(fhir), &ReadLimits::default()).unwrap();
    assert_tables_close(&t, &back, 0.0);
}

#[test]
fn fhir_sampled_data_with_origin_factor_units_and_flags() {
    // one Observation, three interleaved dimensions in milli-g, origin 0, factor 2; E/U/L
    let obs = r#"{
      "resourceType": "Observation", "status": "final",
      "code": {"text": "accel"},
      "effectiveDateTime": "2024-05-01T10:00:00Z",
      "valueSampledData": {
        "origin": {"value": 1, "unit": "mg", "code": "mg"},
        "period": 40, "factor": 2, "dimensions": 3,
        "data": "0 1 2 3 4 5 E U L"
      }
    }"#;
    let t = read_fhir(Cursor::new(obs), &ReadLimits::default()).unwrap();
    let (t, _) = map_columns(t).unwrap();
    assert_eq!(t.channel_names, ["acc_x", "acc_y", "acc_z"]);
    assert_eq!(t.len(), 3);
    let g = 9.806_65e-3;
    assert!((t.channels[0][1] - (1.0 + 2.0 * 3.0) * g).abs() < 1e-12);
    assert!((t.time[1] - t.time[0] - 0.04).abs() < 1e-6);
    assert!(
        t.channels.iter().all(|c| c[2].is_nan()),
        "E/U/L are missing values"
    );
    let est = detect_rate(&t).unwrap();
    assert!((est.rate_hz - 25.0).abs() < 1e-3, "{est:?}");
}

#[test]
fn omh_points_in_other_units_are_converted_and_ndjson_is_read() {
    let lines = [
        r#"{"header":{"id":"a","creation_date_time":"2024-05-01T10:00:00Z","schema_id":{"namespace":"omh","name":"acceleration","version":"1.0"}},"body":{"acceleration_x":{"value":1,"unit":"g"},"acceleration_y":{"value":0,"unit":"m/s^2"},"effective_time_frame":{"date_time":"2024-05-01T10:00:00Z"}}}"#,
        r#"{"header":{"id":"b","creation_date_time":"2024-05-01T10:00:00Z","schema_id":{"namespace":"phd","name":"angular-velocity","version":"1.0"}},"body":{"angular_velocity_x":{"value":90,"unit":"deg/s"},"effective_time_frame":{"date_time":"2024-05-01T10:00:00Z"}}}"#,
        r#"{"header":{"id":"c","creation_date_time":"2024-05-01T10:00:00Z","schema_id":{"namespace":"omh","name":"heart-rate","version":"2.0"}},"body":{"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"time_interval":{"start_date_time":"2024-05-01T10:00:00.1Z","duration":{"value":1,"unit":"sec"}}}}}"#,
    ];
    let t = read_omh(Cursor::new(lines.join("\n")), &ReadLimits::default()).unwrap();
    assert_eq!(t.channel_names, ["acc_x", "acc_y", "gyr_x", "heart_rate"]);
    assert_eq!(t.len(), 2);
    assert!((t.channels[0][0] - 9.806_65).abs() < 1e-12);
    assert!((t.channels[2][0] - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
    assert_eq!(t.channels[3][1], 72.0);
}

#[test]
fn hostile_interchange_input_gets_clear_errors() {
    let lim = ReadLimits {
        max_line_bytes: 4096,
        max_columns: 16,
        max_rows: 1000,
    };
    let omh_point = |schema: &str, body: &str| {
        format!(
            r#"[{{"header":{{"id":"x","creation_date_time":"2024-01-01T00:00:00Z","schema_id":{schema}}},"body":{body}}}]"#
        )
    };
    let acc = r#"{"namespace":"omh","name":"acceleration","version":"2.0"}"#;
    let cases_omh: Vec<(String, &str)> = vec![
        ("[{".into(), "not a data point array"),
        ("{}".into(), "not a data point"),
        (
            omh_point(
                r#"{"namespace":"omh","name":"step-count","version":"2.0"}"#,
                r#"{"effective_time_frame":{"date_time":"2024-01-01T00:00:00Z"}}"#,
            ),
            "not supported",
        ),
        (
            omh_point(acc, r#"{"acceleration_x":{"value":1,"unit":"m/s^2"}}"#),
            "effective_time_frame",
        ),
        (
            omh_point(
                acc,
                r#"{"acceleration_x":{"value":1,"unit":"deg/s"},"effective_time_frame":{"date_time":"2024-01-01T00:00:00Z"}}"#,
            ),
            "unit `deg/s`",
        ),
        (
            omh_point(
                acc,
                r#"{"acceleration_x":{"value":1,"unit":"m/s^2"},"effective_time_frame":{"date_time":"yesterday"}}"#,
            ),
            "RFC 3339",
        ),
        (
            omh_point(
                acc,
                r#"{"effective_time_frame":{"date_time":"2024-01-01T00:00:00Z"}}"#,
            ),
            "without a value",
        ),
    ];
    for (input, want) in cases_omh {
        let err = read_omh(Cursor::new(input.clone()), &lim).unwrap_err();
        assert!(err.to_string().contains(want), "{input}: {err}");
    }
    let obs = |sd: &str| {
        format!(
            r#"{{"resourceType":"Observation","code":{{"text":"acc_x"}},"effectiveDateTime":"2024-01-01T00:00:00Z","valueSampledData":{sd}}}"#
        )
    };
    let cases_fhir: Vec<(String, &str)> = vec![
        ("{".into(), "not a FHIR resource"),
        (r#"{"resourceType":"Patient"}"#.into(), "expected Observation"),
        (r#"{"resourceType":"Observation","code":{"text":"acc_x"},"effectiveDateTime":"2024-01-01T00:00:00Z"}"#.into(), "no valueSampledData"),
        (obs(r#"{"origin":{"value":0},"period":10,"dimensions":4000000000,"data":"1 2"}"#), "dimensions"),
        (obs(r#"{"origin":{"value":0},"period":10,"dimensions":2,"data":"1 2 3"}"#), "not a multiple"),
        (obs(r#"{"origin":{"value":0},"period":0,"dimensions":1,"data":"1"}"#), "period"),
        (obs(r#"{"origin":{"value":0},"dimensions":1,"data":"1"}"#), "no period"),
        (obs(r#"{"origin":{"value":0},"period":10,"dimensions":1,"data":"1 x"}"#), "data token"),
        (obs(r#"{"origin":{"value":0,"code":"deg/s"},"period":10,"dimensions":1,"data":"1"}"#), "deg/s"),
        (obs(r#"{"origin":{"value":0},"period":1e-300,"dimensions":1,"data":"1 2"}"#), "two different values"),
        (r#"{"resourceType":"Observation","code":{"text":"acc_x"},"valueSampledData":{"origin":{"value":0},"period":10,"dimensions":1,"data":"1"}}"#.into(), "effectiveDateTime"),
    ];
    for (input, want) in cases_fhir {
        let err = read_fhir(Cursor::new(input.clone()), &lim).unwrap_err();
        assert!(err.to_string().contains(want), "{input}: {err}");
    }
    // more samples than the row limit
    let many = vec!["1"; 1001].join(" ");
    let err = read_fhir(
        Cursor::new(obs(&format!(
            r#"{{"origin":{{"value":0}},"period":10,"dimensions":1,"data":"{many}"}}"#
        ))),
        &lim,
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::TooManyRows { .. }), "{err}");
}

#[test]
fn export_refuses_channels_a_format_cannot_carry() {
    let t = csv("t,acc_x,temp\n0,1,36\n0.1,1,36\n");
    let bytes = canonical_csv_bytes(&t).unwrap();
    let err = export_canonical(&bytes, ExportFormat::Omh).unwrap_err();
    assert!(
        matches!(&err, IngestError::ExportChannel { channel, .. } if channel == "temp"),
        "{err}"
    );
    // FHIR carries any channel (coded in the phd channel system)
    let fhir = export_canonical(&bytes, ExportFormat::Fhir).unwrap();
    let back = read_fhir(Cursor::new(fhir), &ReadLimits::default()).unwrap();
    assert_eq!(back.channel_names, ["acc_x", "temp"]);
}

#[test]
fn input_format_is_detected_by_extension_and_content() {
    let d = std::env::temp_dir().join(format!("phd-ingest-detect-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let cases = [
        ("a.csv", "time,acc_x\n", Some(InputFormat::Csv)),
        (
            "a.json",
            r#"{"resourceType":"Bundle"}"#,
            Some(InputFormat::Fhir),
        ),
        (
            "b.json",
            r#"[{"header":{"schema_id":{}}}]"#,
            Some(InputFormat::Omh),
        ),
        ("c.ndjson", r#"{"foo":1}"#, None),
        ("d.bin", "\u{0}\u{1}", None),
    ];
    for (name, body, want) in cases {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        assert_eq!(detect_format(&p).unwrap(), want, "{name}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn interchange_readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let lim = ReadLimits { max_line_bytes: 4096, max_columns: 16, max_rows: 1000 };
        let _ = read_omh(Cursor::new(bytes.clone()), &lim);
        let _ = read_fhir(Cursor::new(bytes), &lim);
    }

    #[test]
    fn fhir_like_json_never_panics(
        dims in 0u64..5_000_000_000,
        period in prop_oneof![Just(-1.0f64), Just(0.0), 1e-9f64..1e9],
        data in "([0-9.eE+-]{1,6}|E|U|L| ){0,40}",
        when in "(2024-01-01T00:00:00Z|2024-02-30T00:00:00Z|[0-9T:+-]{0,25})",
    ) {
        let lim = ReadLimits { max_line_bytes: 4096, max_columns: 16, max_rows: 1000 };
        let doc = format!(r#"{{"resourceType":"Observation","code":{{"text":"gyro_x"}},"effectiveDateTime":"{when}","valueSampledData":{{"origin":{{"value":0,"code":"rad/s"}},"period":{period},"dimensions":{dims},"data":"{data}"}}}}"#);
        if let Ok(t) = read_fhir(Cursor::new(doc), &lim) {
            let _ = normalise(t, &InputOptions { target_rate_hz: Some(10.0) });
        }
    }

    #[test]
    fn omh_and_fhir_round_trip_any_values(vals in proptest::collection::vec(-1e6f64..1e6, 2..40)) {
        let n = vals.len();
        let t = SensorTable {
            time_unit: TimeUnit::Seconds,
            time: (0..n).map(|i| i as f64 / 10.0).collect(),
            channel_names: vec!["gyr_y".into()],
            channels: vec![vals],
            attributes: vec![],
            recording: vec![0; n],
            labels: vec![None],
            sampling_rate_hz: None,
        };
        let bytes = canonical_csv_bytes(&t).unwrap();
        for f in [ExportFormat::Omh, ExportFormat::Fhir] {
            let out = export_canonical(&bytes, f).unwrap();
            let back = if f == ExportFormat::Omh {
                read_omh(Cursor::new(out), &ReadLimits::default()).unwrap()
            } else {
                read_fhir(Cursor::new(out), &ReadLimits::default()).unwrap()
            };
            prop_assert_eq!(canonical_csv_bytes(&back).unwrap(), bytes.clone());
        }
    }
}
