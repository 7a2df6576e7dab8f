//! The streamer's other sources with the real `phd-user stream` binary (issue #12): a drop
//! directory the watch app renames whole files into, the binary SIGKILLed between and during
//! segments and restarted, and stdin, which the binary streams until it closes. A subscriber
//! then receives exactly the pseudonymised rows, segments spanning file boundaries included,
//! nothing lost or duplicated. With `--keep`, the quality model runs per segment and the
//! subscriber gets exactly what the owner's model keeps; segments left empty are not appended.

use std::{path::Path, process::Stdio, time::Duration};

use alloy::primitives::U256;
use phd_chain::Purpose;
use phd_e2e::stack::Stack;
use phd_sdk::{
    ClientCtx,
    series_follow::{FollowOptions, follow, segment_path},
    stream::pseudonymised_segment,
};

use crate::{e2e_errors::built_bin, e2e_series::basic_motions_rows};

const ROWS: usize = 10;
const KEY: &[u8] = b"stream sources e2e pseudonym key";
const HEADER: &str = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z";

struct Fixture {
    stack: Stack,
    series_id: u64,
    price: U256,
    env: Vec<(String, String)>,
}

async fn fixture() -> Fixture {
    let stack = Stack::start().await.unwrap();
    let d = &stack.devnet;
    let price = U256::from(10u64).pow(U256::from(18u64));
    let series_id = stack.create_series(price).await.unwrap();
    let env = d
        .env_vars()
        .into_iter()
        .chain(d.role_vars("user"))
        .collect();
    Fixture {
        series_id,
        stack,
        price,
        env,
    }
}

impl Fixture {
    fn command(&self, source: &Path, state: &Path) -> tokio::process::Command {
        self.command_cut(source, state, ROWS)
    }

    fn command_cut(&self, source: &Path, state: &Path, rows: usize) -> tokio::process::Command {
        self.command_series(self.series_id, source, state, rows)
    }

    fn command_series(
        &self,
        series_id: u64,
        source: &Path,
        state: &Path,
        rows: usize,
    ) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(built_bin("phd-user").unwrap());
        c.args(["stream", "--series", &series_id.to_string(), "--source"])
            .arg(source)
            .arg("--state")
            .arg(state)
            .args(["--segment-rows", &rows.to_string(), "--poll-ms", "20"])
            .args(["--progress", "0", "--pseudonym-key", &hex::encode(KEY)])
            .envs(self.env.iter().cloned())
            .env("PHD_STATE_DIR", self.stack.work().join("user-state"))
            .env_remove("PHD_DEVNET_ENV")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn appended(&self) -> u64 {
        let owner = self.stack.devnet.user_client().await.unwrap();
        owner
            .series(U256::from(self.series_id))
            .await
            .unwrap()
            .segmentCount
    }

    /// A credential-free subscriber's copy of segments 0..n equals the pseudonymised rows.
    async fn assert_followed(&self, n: u64, rows: &[String]) {
        let d = &self.stack.devnet;
        let sub = ClientCtx::new(d.customer_client().await.unwrap(), None);
        let opts = FollowOptions {
            series_id: self.series_id,
            out_dir: self.stack.work().join("sub"),
            since: Some(0),
            segments: n,
            max_price_per_segment: self.price,
            purpose: Purpose::Research,
            subscription_id: None,
            poll: Duration::from_millis(50),
            max_segments: Some(n),
            format: phd_ingest::ExportFormat::Csv,
        };
        let run = tokio::time::timeout(
            Duration::from_secs(120),
            follow(&sub, &opts, std::future::pending()),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(run.written, (0..n).collect::<Vec<_>>());
        let policy = phd_ingest::PseudonymisePolicy::default();
        for seq in 0..n as usize {
            let body: String = rows[seq * ROWS..(seq + 1) * ROWS]
                .iter()
                .map(|l| format!("{l}\n"))
                .collect();
            let (want, _) = pseudonymised_segment(HEADER, body.as_bytes(), &policy, KEY).unwrap();
            let got = std::fs::read(segment_path(&opts.out_dir, seq as u64)).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "segment {seq}"
            );
        }
    }
}

/// As a watch app drops a file: written elsewhere, renamed in whole.
fn drop_file(dir: &Path, name: &str, rows: &[String]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    let body: String = std::iter::once(HEADER.to_string())
        .chain(rows.iter().cloned())
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drop_directory_files_once_each_across_kills() {
    const SEGMENTS: u64 = 6;
    const PER_FILE: usize = 7; // segments span file boundaries
    let f = fixture().await;
    let work = f.stack.work();
    let inbox = work.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let state = work.join("dir-state.json");
    let rows = basic_motions_rows(SEGMENTS as usize * ROWS + 3);
    let files: Vec<&[String]> = rows.chunks(PER_FILE).collect();
    // Files arrive while the streamer runs; it is SIGKILLed after each of the first kills.
    let mut dropped = 0;
    for (round, delay_ms) in [5u64, 60, 15, 120, 30, 250].into_iter().enumerate() {
        for _ in 0..2 {
            if let Some(chunk) = files.get(dropped) {
                drop_file(&inbox, &format!("rec-{dropped:04}.csv"), chunk);
                dropped += 1;
            }
        }
        let mut child = f.command(&inbox, &state).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms + 100 * round as u64)).await;
        child.kill().await.unwrap();
        child.wait().await.unwrap();
    }
    while dropped < files.len() {
        drop_file(&inbox, &format!("rec-{dropped:04}.csv"), files[dropped]);
        dropped += 1;
    }
    // A last undisturbed run appends the rest.
    let done = f.appended().await;
    if done < SEGMENTS {
        let out = tokio::time::timeout(
            Duration::from_secs(90),
            f.command(&inbox, &state)
                .args(["--max-segments", &(SEGMENTS - done).to_string()])
                .output(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(f.appended().await, SEGMENTS);
    // The spool is the concatenation of every file, each once, in name order.
    let spool = std::fs::read_to_string(phd_sdk::stream_source::spool_path(&state)).unwrap();
    let want: String = std::iter::once(HEADER.to_string())
        .chain(rows.iter().cloned())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(spool, want);
    f.assert_followed(SEGMENTS, &rows).await;
    f.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stdin_is_streamed_until_it_closes() {
    let f = fixture().await;
    let state = f.stack.work().join("stdin-state.json");
    let rows = basic_motions_rows(2 * ROWS + 4);
    let mut child = f
        .command(Path::new("-"), &state)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: String = std::iter::once(HEADER.to_string())
        .chain(rows.iter().cloned())
        .map(|l| format!("{l}\n"))
        .collect();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, input.as_bytes())
        .await
        .unwrap();
    drop(stdin); // end of input: the streamer appends what is complete and exits
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(
        |_| serde_json::json!({ "text": String::from_utf8_lossy(&out.stdout).to_string() }),
    );
    assert_eq!(f.appended().await, 2, "{v}");
    f.assert_followed(2, &rows).await;
    f.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stdin_with_the_quality_model_keeps_only_the_shared_activities() {
    const SEG: usize = 500;
    let f = fixture().await;
    let state = f.stack.work().join("quality-state.json");
    // The first 20 BasicMotions test recordings (two activities), 100-row windows.
    let rows = basic_motions_rows(4 * SEG);
    let keep = ["walking", "running"];
    let mut child = f
        .command_cut(Path::new("-"), &state, SEG)
        .args(["--keep", &keep.join(",")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: String = std::iter::once(HEADER.to_string())
        .chain(rows.iter().cloned())
        .map(|l| format!("{l}\n"))
        .collect();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, input.as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the owner's model keeps, segment by segment; empty segments are never appended.
    let model = phd_user::checks::SegmentModel::new(
        phd_user::checks::ModelQuality::shipped().unwrap(),
        keep.map(str::to_owned).to_vec(),
    )
    .unwrap();
    let policy = phd_ingest::PseudonymisePolicy::default();
    let want: Vec<Vec<u8>> = rows
        .chunks(SEG)
        .map(|c| {
            let body: String = c.iter().map(|l| format!("{l}\n")).collect();
            phd_sdk::stream::segment_plaintext(HEADER, body.as_bytes(), &policy, KEY, Some(&model))
                .unwrap()
                .0
        })
        .filter(|p| !p.is_empty())
        .collect();
    assert!(
        !want.is_empty() && want.len() < 4,
        "the recordings hold shared and unshared activities"
    );
    assert_eq!(f.appended().await, want.len() as u64);
    let d = &f.stack.devnet;
    let sub = ClientCtx::new(d.customer_client().await.unwrap(), None);
    let n = want.len() as u64;
    let opts = FollowOptions {
        series_id: f.series_id,
        out_dir: f.stack.work().join("sub-quality"),
        since: Some(0),
        segments: n,
        max_price_per_segment: f.price,
        purpose: Purpose::Research,
        subscription_id: None,
        poll: Duration::from_millis(50),
        max_segments: Some(n),
        format: phd_ingest::ExportFormat::Csv,
    };
    tokio::time::timeout(
        Duration::from_secs(120),
        follow(&sub, &opts, std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap();
    for (seq, w) in want.iter().enumerate() {
        let got = std::fs::read(segment_path(&opts.out_dir, seq as u64)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(w),
            "segment {seq}"
        );
    }
    fifty_hz_file_resampled_across_a_restart(&f).await;
    f.stack.stop().await;
}

/// A 50 Hz device file (BasicMotions as a 50 Hz watch would have recorded it) streamed with the
/// 10 Hz quality model in two runs of the binary: the segments, cut in 50 Hz rows that straddle
/// windows, hold exactly the rows of the whole file resampled at once (then scored and
/// pseudonymised), and each segment's metadata records the source rate.
async fn fifty_hz_file_resampled_across_a_restart(f: &Fixture) {
    const SEG: usize = 1_300; // 26 s of 50 Hz rows: 2.6 windows of the model
    let series_id = f.stack.create_series(f.price).await.unwrap();
    let work = f.stack.work();
    let (src, state, out) = (
        work.join("fifty.csv"),
        work.join("fifty-state.json"),
        work.join("fifty-owner"),
    );
    let ten: String = std::iter::once(HEADER.to_string())
        .chain(basic_motions_rows(800))
        .map(|l| format!("{l}\n"))
        .collect();
    let ten = phd_ingest::read_csv(ten.as_bytes(), &phd_ingest::ReadOptions::default()).unwrap();
    let fifty = phd_ingest::resample::bandlimited_upsample(&ten, 5);
    let body: String = std::iter::once(HEADER.to_string())
        .chain((0..fifty.len()).map(|i| {
            let ch: Vec<String> = fifty.channels.iter().map(|c| format!("{}", c[i])).collect();
            format!("{:.2},{}", fifty.time[i], ch.join(","))
        }))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&src, &body).unwrap();
    // 3 996 rows: three whole 1 300-row segments; the restart comes after the first
    for max in [1, 2] {
        let run = f
            .command_series(series_id, &src, &state, SEG)
            .args(["--quality", "--max-segments", &max.to_string()])
            .arg("--pseudonymised-out")
            .arg(&out)
            .output();
        let run = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .unwrap()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let mut got = Vec::new();
    for seq in 0..3u64 {
        let plain = std::fs::read_to_string(segment_path(&out, seq)).unwrap();
        got.extend(plain.lines().skip(1).map(str::to_owned));
        let meta = std::fs::read(out.join(format!("segment-{seq:012}.meta.json"))).unwrap();
        let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
        assert_eq!(meta["resampled_from_hz"], 50.0, "{meta}");
        assert_eq!(meta["seq"], seq);
    }
    // the whole file resampled at once; the streamer has output its first 7 windows (the
    // rest waits for the filter's lookahead and a whole window)
    let whole = phd_ingest::read_csv(body.as_bytes(), &phd_ingest::ReadOptions::default()).unwrap();
    let rate = phd_ingest::RateEstimate {
        rate_hz: 50.0,
        gaps: 0,
        intervals: 0,
    };
    let mut one_shot = phd_ingest::resample(&whole, &rate, 10.0).unwrap();
    let keep: Vec<bool> = (0..one_shot.len()).map(|i| i < 700).collect();
    one_shot = one_shot.filter_rows(&keep).unwrap();
    let model = phd_user::checks::SegmentModel::new(
        phd_user::checks::ModelQuality::shipped().unwrap(),
        Vec::new(),
    )
    .unwrap();
    let (kept, _) = phd_sdk::stream::SegmentQuality::assess(&model, &one_shot).unwrap();
    let (kept, _) =
        phd_ingest::pseudonymise(&kept, &phd_ingest::PseudonymisePolicy::default(), KEY).unwrap();
    let want = phd_ingest::canonical_csv_bytes(&kept).unwrap();
    let want: Vec<&str> = std::str::from_utf8(&want)
        .unwrap()
        .lines()
        .skip(1)
        .collect();
    assert!(
        want.len() >= 500,
        "the model keeps most windows: {}",
        want.len()
    );
    assert_eq!(got, want);
}

/// Progress and lag are visible (issue #12 item 2): while the binary streams a growing file,
/// `--metrics-addr` serves its totals and lag in Prometheus text over HTTP; after it is killed,
/// `stream-status` reads the same totals from the state file, without the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_and_metrics_show_the_streamed_segments() {
    use tokio::io::AsyncBufReadExt;
    const SEGMENTS: u64 = 3;
    let f = fixture().await;
    let work = f.stack.work();
    let src = work.join("status.csv");
    let state = work.join("status-state.json");
    // Unix sample times, a minute old: the lag is wall clock.
    let t0 = phd_user::series::now_unix().floor() - 60.0;
    let rows: Vec<String> = basic_motions_rows(SEGMENTS as usize * ROWS + 4)
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let rest = r.split_once(',').unwrap().1;
            format!("{:.1},{rest}", t0 + i as f64 / 10.0)
        })
        .collect();
    let body: String = std::iter::once(HEADER.to_string())
        .chain(rows.iter().cloned())
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&src, &body).unwrap();
    let mut child = f
        .command(&src, &state)
        .args(["--metrics-addr", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some(u) = l.strip_prefix("metrics on ") {
                return u.to_owned();
            }
        }
        panic!("the streamer ended without serving metrics");
    })
    .await
    .unwrap();
    // keep reading stderr so the streamer never blocks on a full pipe
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let value = |text: &str, name: &str| -> f64 {
        let prefix = format!("{name}{{series=\"{}\"}} ", f.series_id);
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
            .parse()
            .unwrap()
    };
    let text = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
            if value(&text, "phd_stream_segments_appended_total") >= SEGMENTS as f64 {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(value(&text, "phd_stream_segments_appended_total"), 3.0);
    assert_eq!(value(&text, "phd_stream_samples_total"), 30.0);
    assert!(value(&text, "phd_stream_bytes_uploaded_total") > 0.0);
    // the last appended sample is row 29, 2.9 s after t0 (a minute ago): lag ≈ 57 s
    let lag = value(&text, "phd_stream_lag_seconds");
    assert!((56.0..600.0).contains(&lag), "lag {lag}");
    let now = phd_user::series::now_unix();
    assert!((now - value(&text, "phd_stream_last_append_unixtime")).abs() < 600.0);
    // the 4 rows of an unfinished segment wait
    let pending = rows[30..].iter().map(|l| l.len() + 1).sum::<usize>();
    assert_eq!(value(&text, "phd_stream_pending_bytes"), pending as f64);
    child.kill().await.unwrap();
    child.wait().await.unwrap();

    let status = std::process::Command::new(built_bin("phd-user").unwrap())
        .arg("--json")
        .arg("stream-status")
        .arg("--state")
        .arg(&state)
        .arg("--source")
        .arg(&src)
        .env_remove("PHD_DEVNET_ENV")
        .env("PHD_RPC_URL", "http://127.0.0.1:1") // never contacted
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["series_id"], f.series_id);
    assert_eq!(v["segments_cut"], 3);
    assert_eq!(v["segments_uploaded"], 3);
    assert_eq!(v["segments_appended"], 3);
    assert_eq!(v["samples_appended"], 30);
    assert_eq!(v["next_seq"], 3);
    assert_eq!(v["pending_bytes"], pending as u64);
    // the time column of the last row of segment 2 (row 29), as written
    let last: f64 = rows[29].split(',').next().unwrap().parse().unwrap();
    assert_eq!(v["last_sample_time"].as_f64().unwrap(), last);
    assert!(v["lag_seconds"].as_f64().unwrap() >= 56.0, "{v}");
    f.stack.stop().await;
}
