#![allow(clippy::unwrap_used)]
//! Hostile input: the readers never panic, whatever the bytes.

use std::io::Cursor;

use phd_ingest::*;
use proptest::prelude::*;

fn opts() -> ReadOptions {
    ReadOptions {
        limits: ReadLimits {
            max_line_bytes: 4096,
            max_columns: 64,
            max_rows: 10_000,
        },
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csv_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_csv(Cursor::new(bytes), &opts());
    }

    #[test]
    fn ts_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_ts(Cursor::new(bytes), &opts());
    }

    #[test]
    fn csv_like_text_never_panics(s in "(t|time|acc_x|name|age|recording|label|[,:\"\\n0-9.eE+-]|NaN|inf){0,80}") {
        if let Ok(t) = read_csv(Cursor::new(s.clone().into_bytes()), &opts()) {
            let _ = canonical_csv_bytes(&t);
            let _ = pseudonymise(&t, &PseudonymisePolicy::default(), b"0123456789abcdef0123");
        }
        let _ = read_ts(Cursor::new(format!("@data\n{s}").into_bytes()), &opts());
    }

    #[test]
    fn canonical_csv_round_trips(vals in proptest::collection::vec(-1e6f64..1e6, 1..50)) {
        let n = vals.len();
        let t = SensorTable {
            time_unit: TimeUnit::Seconds,
            time: (0..n).map(|i| i as f64 / 10.0).collect(),
            channel_names: vec!["acc_x".into()],
            channels: vec![vals],
            attributes: vec![],
            recording: vec![0; n],
            labels: vec![None],
            sampling_rate_hz: None,
        };
        let bytes = canonical_csv_bytes(&t).unwrap();
        let back = read_csv(Cursor::new(bytes.clone()), &ReadOptions::default()).unwrap();
        prop_assert_eq!(&back.channels, &t.channels);
        prop_assert_eq!(canonical_csv_bytes(&back).unwrap(), bytes);
    }
}
