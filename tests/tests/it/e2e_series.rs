//! Series end to end: a CSV made from the BasicMotions recordings is streamed into a series
//! (segments of 20 rows), keepers release each segment to every subscriber in one batch, two
//! followers receive exactly what they paid for, and consent withdrawal ends in erasure
//! confirmations from every keeper.

use std::{io::Write as _, time::Duration};

use alloy::primitives::U256;
use phd_chain::{BlockRange, Purpose};
use phd_e2e::stack::{Stack, wait_for};
use phd_sdk::{
    ClientCtx,
    series_follow::{FollowOptions, export_path, follow, segment_path},
    stream::{SegmentBy, StreamOptions, pseudonymised_segment, stream},
};

const ROWS: usize = 20;
const KEY: &[u8] = b"series e2e pseudonym key";

/// `time,acc_x..gyr_z` rows from the first BasicMotions test recordings, 10 Hz.
pub(crate) fn basic_motions_rows(n: usize) -> Vec<String> {
    let dir = std::env::var("PHD_DATA_DIR").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/basic-motions"),
        std::path::PathBuf::from,
    );
    let t = phd_ingest::read_ts_path(
        &dir.join("BasicMotions_TEST.ts"),
        &phd_ingest::ReadOptions::default(),
    )
    .unwrap();
    (0..n)
        .map(|i| {
            let ch: Vec<String> = t.channels.iter().map(|c| format!("{}", c[i])).collect();
            format!("{:.1},{}", i as f64 / 10.0, ch.join(","))
        })
        .collect()
}

pub(crate) fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn series_stream_two_followers_cancel_and_withdrawal() {
    let stack = Stack::start().await.unwrap();
    let d = &stack.devnet;
    let owner = d.user_client().await.unwrap();
    let store = d.store().await.unwrap();
    let owner_ctx = ClientCtx::new(owner.clone(), Some(store.clone()));
    let price = U256::from(10u64).pow(U256::from(18u64));
    let series_id = stack.create_series(price).await.unwrap();
    let sid = series_id;
    let series_id = U256::from(sid);

    // Subscriber B subscribes first (from 0, 4 segments) and will cancel after two.
    let b_chain = d.client(&d.accounts.validator).await.unwrap();
    let b_ctx = ClientCtx::new(b_chain.clone(), Some(store.clone()));
    let b_before = b_chain.balance_of(b_chain.address()).await.unwrap();

    let work = stack.work();
    let source = work.join("wearable.csv");
    let header = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z".to_string();
    let rows = basic_motions_rows(4 * ROWS + 5);
    append(&source, std::slice::from_ref(&header));
    let sopts = StreamOptions {
        series_id: sid,
        source: source.clone(),
        state_file: work.join("stream-state.json"),
        segment_by: SegmentBy::Rows(ROWS),
        pseudonym_key: KEY.to_vec(),
        policy: phd_ingest::PseudonymisePolicy::default(),
        poll: Duration::from_millis(50),
        max_segments: Some(2),
        // From S3 here; e2e_stream_crash lists its segments behind the devnet's gateway.
        gateway: None,
        pseudonymised_out: None,
        quality: None,
    };
    let b_opts = FollowOptions {
        series_id: sid,
        out_dir: work.join("b"),
        since: Some(0),
        segments: 4,
        max_price_per_segment: price,
        purpose: Purpose::Research,
        subscription_id: None,
        poll: Duration::from_millis(100),
        max_segments: Some(0),
        format: phd_ingest::ExportFormat::Csv,
    };
    let b_sub = follow(&b_ctx, &b_opts, std::future::pending())
        .await
        .unwrap()
        .subscription_id;

    // Two segments streamed (the rows arrive while the streamer runs).
    append(&source, &rows[..2 * ROWS + 3]);
    let out = stream(&owner_ctx, &sopts, std::future::pending())
        .await
        .unwrap();
    assert_eq!(out.segments, vec![0, 1]);

    // Subscriber A back-fills from seq 0.
    let a_ctx = ClientCtx::new(d.customer_client().await.unwrap(), Some(store.clone()));
    // A also asks for Open mHealth beside each segment's CSV.
    let a_opts = FollowOptions {
        out_dir: work.join("a"),
        max_segments: None,
        format: phd_ingest::ExportFormat::Omh,
        ..b_opts.clone()
    };

    // B takes its two segments, then cancels: refunded the two not appended yet.
    let b_run = follow(
        &b_ctx,
        &FollowOptions {
            max_segments: Some(2),
            ..b_opts.clone()
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(b_run.written, vec![0, 1]);
    let (_, refunded) = b_chain
        .cancel_subscription(U256::from(b_sub))
        .await
        .unwrap();
    assert_eq!(refunded, price * U256::from(2u64));

    // Two more segments; A follows all four.
    append(&source, &rows[2 * ROWS + 3..]);
    let out = stream(&owner_ctx, &sopts, std::future::pending())
        .await
        .unwrap();
    assert_eq!(out.segments, vec![2, 3]);
    // A's follower stops after three segments (as if killed) and a restart with the same
    // directory resumes at the fourth: same subscription, nothing paid or written twice.
    let a_first = tokio::time::timeout(
        Duration::from_secs(120),
        follow(
            &a_ctx,
            &FollowOptions {
                max_segments: Some(3),
                ..a_opts.clone()
            },
            std::future::pending(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(a_first.written, vec![0, 1, 2]);
    let subscriptions_before = owner
        .series_market()
        .subscriptionCount()
        .call()
        .await
        .unwrap();
    let a_run = tokio::time::timeout(
        Duration::from_secs(120),
        follow(&a_ctx, &a_opts, std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        a_run.written,
        vec![3],
        "the restart resumes after segment 2"
    );
    assert_eq!(a_run.subscription_id, a_first.subscription_id);
    assert_eq!(
        owner
            .series_market()
            .subscriptionCount()
            .call()
            .await
            .unwrap(),
        subscriptions_before,
        "the restart did not subscribe again"
    );

    // Byte-identical to the owner's pseudonymised rows, segment by segment.
    for seq in 0..4usize {
        let body: String = rows[seq * ROWS..(seq + 1) * ROWS]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        let (expected, n) = pseudonymised_segment(
            &header,
            body.as_bytes(),
            &phd_ingest::PseudonymisePolicy::default(),
            KEY,
        )
        .unwrap();
        assert_eq!(n, ROWS);
        let got = std::fs::read(segment_path(&a_opts.out_dir, seq as u64)).unwrap();
        assert_eq!(got, expected, "segment {seq} (A)");
        // The Open mHealth copy carries the same samples.
        let omh = export_path(&a_opts.out_dir, seq as u64, a_opts.format).unwrap();
        let omh = phd_ingest::read_omh(
            std::fs::File::open(&omh).unwrap(),
            &phd_ingest::ReadLimits::default(),
        )
        .unwrap();
        let csv = phd_ingest::read_csv(&expected[..], &phd_ingest::ReadOptions::default()).unwrap();
        assert_eq!(
            omh.channel_names, csv.channel_names,
            "segment {seq} (A, omh)"
        );
        assert_eq!(omh.channels, csv.channels, "segment {seq} (A, omh)");
        assert_eq!(omh.time.len(), ROWS, "segment {seq} (A, omh)");
        assert!(
            export_path(&b_opts.out_dir, seq as u64, phd_ingest::ExportFormat::Omh)
                .is_some_and(|p| !p.exists()),
            "B asked for CSV only"
        );
        if seq < 2 {
            let got = std::fs::read(segment_path(&b_opts.out_dir, seq as u64)).unwrap();
            assert_eq!(got, expected, "segment {seq} (B)");
        }
    }

    // Every keeper released A's last segment; none released anything past the cancel to B.
    wait_for(
        "all keepers released seq 3 to A",
        Duration::from_secs(60),
        || async {
            let n = owner
                .released_shares(
                    U256::from(a_run.subscription_id),
                    Some(3),
                    BlockRange::default(),
                )
                .await
                .map(|v| v.len())
                .unwrap_or(0);
            Ok((n == d.keeper_addresses().len()).then_some(()))
        },
    )
    .await
    .unwrap();
    for seq in 2..4 {
        let released = owner
            .released_shares(U256::from(b_sub), Some(seq), BlockRange::default())
            .await
            .unwrap();
        assert!(released.is_empty(), "B received a share of segment {seq}");
    }

    // Money: B paid 4, got 2 back; 6 segment charges split between the owner and the keepers.
    let b_after = b_chain.balance_of(b_chain.address()).await.unwrap();
    assert_eq!(b_before - b_after, price * U256::from(2u64));
    let mut credits = owner.series_credit_of(owner.address()).await.unwrap();
    let fee_bps = owner.series_market().keeperFeeBps().call().await.unwrap();
    let each = price * U256::from(fee_bps) / U256::from(10_000u64) / U256::from(d.threshold);
    assert_eq!(
        credits,
        U256::from(6u64) * (price - each * U256::from(d.threshold))
    );
    for k in d.keeper_addresses() {
        credits += owner.series_credit_of(k).await.unwrap();
    }
    assert_eq!(credits, price * U256::from(6u64));

    // Consent withdrawal: every keeper erases and confirms.
    owner.withdraw_series_consent(series_id).await.unwrap();
    for k in d.keeper_addresses() {
        wait_for(
            "series erasure confirmed",
            Duration::from_secs(60),
            || async {
                Ok(owner
                    .has_confirmed_series_erasure(series_id, k)
                    .await
                    .ok()
                    .filter(|c| *c))
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(
        owner.series(series_id).await.unwrap().erasures,
        u8::try_from(d.keeper_addresses().len()).unwrap()
    );
    stack.stop().await;
}
