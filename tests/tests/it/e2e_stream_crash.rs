//! Crash safety of the streamer (issue #12): the real `phd-user stream` binary is SIGKILLed at
//! seeded, varied moments and restarted with the same state file until every complete segment
//! of the source is on-chain; a subscriber then receives exactly the pseudonymised input, in
//! contiguous seqs, with no row lost and none duplicated, through the owner's access gateway
//! without any storage credential (and a stranger signing for its subscription gets nothing).

use std::{path::Path, process::Stdio, time::Duration};

use alloy::primitives::U256;
use phd_chain::Purpose;
use phd_e2e::stack::Stack;
use phd_sdk::{
    ClientCtx,
    series_follow::{FollowOptions, follow, segment_path},
    stream::{StreamState, pseudonymised_segment},
};

use crate::{
    e2e_errors::built_bin,
    e2e_series::{append, basic_motions_rows},
};

const ROWS: usize = 10;
const SEGMENTS: u64 = 12;
const KEY: &[u8] = b"stream crash e2e pseudonym key!!";
/// Fixed seed: the kill schedule is the same on every run.
const SEED: u64 = 0x5eed_c0de_1234_5678;
const KILLS: usize = 12;

/// splitmix64: a deterministic kill schedule without a dependency.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn read_state(path: &Path) -> Option<StreamState> {
    std::fs::read(path)
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stream_binary_killed_repeatedly_loses_and_duplicates_nothing() {
    let bin = built_bin("phd-user").unwrap();
    let stack = Stack::start().await.unwrap();
    let d = &stack.devnet;
    let owner = d.user_client().await.unwrap();
    let price = U256::from(10u64).pow(U256::from(18u64));
    let series_id = stack.create_series(price).await.unwrap();
    let sid = series_id;
    let series_id = U256::from(sid);

    // Twelve full segments and an incomplete thirteenth that must stay unappended.
    let work = stack.work();
    let source = work.join("wearable.csv");
    let header = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z".to_string();
    let rows = basic_motions_rows(SEGMENTS as usize * ROWS + 3);
    append(&source, std::slice::from_ref(&header));
    append(&source, &rows);

    let state_file = work.join("stream-state.json");
    let env: Vec<(String, String)> = d
        .env_vars()
        .into_iter()
        .chain(d.role_vars("user"))
        .collect();
    let key_hex = hex::encode(KEY);
    let sid_s = sid.to_string();
    let rows_s = ROWS.to_string();
    let spawn = |max_segments: Option<u64>| {
        let mut c = tokio::process::Command::new(&bin);
        c.args(["stream", "--series", &sid_s, "--source"])
            .arg(&source)
            .arg("--state")
            .arg(&state_file)
            .args([
                "--segment-rows",
                &rows_s,
                "--poll-ms",
                "20",
                "--progress",
                "0",
            ])
            .args(["--pseudonym-key", &key_hex])
            .envs(env.iter().cloned())
            .env("PHD_STATE_DIR", work.join("user-state"))
            .env_remove("PHD_DEVNET_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(m) = max_segments {
            c.args(["--max-segments", &m.to_string()]);
        }
        c.spawn().unwrap()
    };
    let appended = || async {
        owner
            .series(series_id)
            .await
            .map(|s| s.segmentCount)
            .unwrap()
    };

    // Killed again and again at seeded moments: a run that must first finish a segment a killed
    // run left in flight dies 0..300 ms after it starts (during start-up, the re-publish or
    // the next segment); any other run dies 0..40 ms after its state file shows a segment in
    // flight (before the upload, during the share hand-off, around the append transaction).
    let mut rng = SEED;
    let mut kills = Vec::new();
    while kills.len() < KILLS && appended().await < SEGMENTS {
        let resumed = read_state(&state_file).and_then(|s| s.in_flight);
        let mut child = spawn(None);
        let delay =
            Duration::from_millis(next(&mut rng) % if resumed.is_some() { 300 } else { 40 });
        let in_flight = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(f) = read_state(&state_file).and_then(|s| s.in_flight) {
                    return f.seq;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err)
                            .await
                            .unwrap();
                    }
                    panic!("stream exited on its own ({status}): {err}");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("no segment went in flight");
        tokio::time::sleep(delay).await;
        child.kill().await.unwrap(); // SIGKILL: no shutdown path runs
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), None, "exited before the kill: {status}");
        let st = read_state(&state_file).unwrap();
        kills.push((
            in_flight,
            delay.as_millis(),
            appended().await,
            st.next_seq,
            st.in_flight.map(|f| f.seq),
        ));
    }
    eprintln!("kills (in flight, +ms, on-chain, state next_seq, state in flight): {kills:?}");
    assert!(!kills.is_empty(), "the streamer was never killed");

    // A last, undisturbed run finishes the rest and exits.
    let done = read_state(&state_file).map_or(0, |s| s.next_seq);
    if done < SEGMENTS {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            spawn(Some(SEGMENTS - done)).wait_with_output(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(
            out.status.success(),
            "final run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(appended().await, SEGMENTS, "segments on-chain");
    let st = read_state(&state_file).unwrap();
    assert_eq!(st.next_seq, SEGMENTS);
    assert_eq!(st.in_flight, None);

    // The binary listed every segment behind the devnet's gateway (PHD_GATEWAY_URL)...
    let gateway = d.gateway_url.clone().expect("the devnet runs a gateway");
    let appended_logs = owner
        .appended_segments(series_id, phd_chain::BlockRange::default())
        .await
        .unwrap();
    assert_eq!(appended_logs.len() as u64, SEGMENTS);
    for l in &appended_logs {
        assert!(
            l.event
                .uri
                .starts_with(&format!("{gateway}/v1/objects/series/")),
            "{}",
            l.event.uri
        );
    }

    // ...so a subscriber with no storage credential receives every segment through it: seqs
    // 0..12, each exactly its rows, pseudonymised.
    let sub_ctx = ClientCtx::new(d.customer_client().await.unwrap(), None);
    let fopts = FollowOptions {
        series_id: sid,
        out_dir: work.join("sub"),
        since: Some(0),
        segments: SEGMENTS,
        max_price_per_segment: price,
        purpose: Purpose::Research,
        subscription_id: None,
        poll: Duration::from_millis(50),
        max_segments: Some(SEGMENTS),
        format: phd_ingest::ExportFormat::Csv,
    };
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        follow(&sub_ctx, &fopts, std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(run.written, (0..SEGMENTS).collect::<Vec<_>>());

    // Another account signing for that subscription gets no byte of a segment.
    let stranger = ClientCtx::new(d.client(&d.accounts.validator).await.unwrap(), None);
    let obj = phd_sdk::gateway::GatewayObject::for_purchase(
        &stranger,
        &appended_logs[0].event.uri,
        sid,
        run.subscription_id,
    )
    .unwrap()
    .with_retry(phd_sdk::gateway::RetryPolicy {
        attempts: 1,
        ..Default::default()
    });
    match phd_storage::RangedObject::get_range(&obj, 0..16).await {
        Err(phd_storage::Error::Http { status, code, .. }) => {
            assert_eq!(
                (status, code.as_deref()),
                (Some(403), Some("not_subscriber"))
            );
        }
        other => panic!("a stranger read a segment: {other:?}"),
    }
    let policy = phd_ingest::PseudonymisePolicy::default();
    let mut got_rows = Vec::new();
    let mut want_rows = Vec::new();
    for seq in 0..SEGMENTS as usize {
        let body: String = rows[seq * ROWS..(seq + 1) * ROWS]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        let (want, n) = pseudonymised_segment(&header, body.as_bytes(), &policy, KEY).unwrap();
        assert_eq!(n, ROWS);
        let got = std::fs::read(segment_path(&fopts.out_dir, seq as u64)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "segment {seq}"
        );
        let lines = |b: &[u8]| -> Vec<String> {
            String::from_utf8_lossy(b)
                .lines()
                .skip(1)
                .map(str::to_string)
                .collect()
        };
        got_rows.extend(lines(&got));
        want_rows.extend(lines(&want));
    }
    // The concatenation is the whole pseudonymised input: nothing lost, nothing twice.
    assert_eq!(got_rows.len(), SEGMENTS as usize * ROWS);
    assert_eq!(got_rows, want_rows);
    stack.stop().await;
}
