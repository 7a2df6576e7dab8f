//! Series measurements on the full local stack (issue #12, docs/PERFORMANCE.md "Series: lag,
//! throughput, gas per day"):
//!
//! - `lag`: a writer appends 50 Hz six-channel rows in real time (every 100 ms) to the file the
//!   streamer follows (segments by sample time); a subscriber with no storage credential
//!   follows through the gateway. For each segment: from its first sample written (the worst
//!   sample: it waits the whole segment) and from its closing sample written (the streamer's
//!   and subscriber's own delay) to the decrypted segment file appearing. Aim: first-sample lag
//!   ≤ segment length + 10 s.
//! - `week`: `--hours` of 50 Hz six-channel rows (a week = 168 h ≈ 30 M samples) already on
//!   disk are streamed by the real `phd-user stream` binary with 1 h segments (catch-up speed):
//!   rows/s and the binary's peak RSS (VmHWM, polled). Aim: ≤ 256 MiB.
//!
//! ```text
//! cargo run -p phd-e2e --release --example series_bench -- lag [--segment-secs 5] [--segments 4]
//! cargo run -p phd-e2e --release --example series_bench -- week [--hours 168]
//! ```
//! Prints `BENCH|…` lines for scripts/bench.sh.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::primitives::U256;
use phd_chain::Purpose;
use phd_e2e::stack::Stack;
use phd_sdk::{
    ClientCtx,
    series_follow::{FollowOptions, follow, segment_path},
    stream::{SegmentBy, StreamOptions, stream},
};

const HZ: u64 = 50;
const HEADER: &str = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z";

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Row `i` at 50 Hz: BasicMotions-like magnitudes, varied so it compresses like real data.
fn row(i: u64) -> String {
    let t = i as f64 / HZ as f64;
    let f = |k: f64| ((t * k).sin() * 3.0 + (i % 7) as f64 * 0.013).to_string();
    format!(
        "{t:.2},{},{},{},{},{},{}",
        f(1.3),
        f(0.7),
        f(2.1),
        f(0.3),
        f(1.9),
        f(0.5)
    )
}

async fn create_series(stack: &Stack) -> eyre::Result<(u64, U256)> {
    let price = U256::from(10u64).pow(U256::from(15u64));
    Ok((stack.create_series(price).await?, price))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn lag(args: &[String]) -> eyre::Result<()> {
    let seg_secs = arg(args, "--segment-secs", 5);
    let segments = arg(args, "--segments", 4);
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let (series_id, price) = create_series(&stack).await?;
    let work = stack.work();
    let source = work.join("watch.csv");
    std::fs::write(&source, format!("{HEADER}\n"))?;
    let out_dir = work.join("follow");

    let sub = ClientCtx::new(d.customer_client().await?, None);
    let fopts = FollowOptions {
        series_id,
        out_dir: out_dir.clone(),
        since: Some(0),
        segments,
        max_price_per_segment: price,
        purpose: Purpose::Research,
        subscription_id: None,
        poll: Duration::from_millis(100),
        max_segments: Some(segments),
        format: phd_ingest::ExportFormat::Csv,
    };
    let follower = tokio::spawn(async move { follow(&sub, &fopts, std::future::pending()).await });

    let owner = ClientCtx::new(d.user_client().await?, Some(d.store().await?));
    let sopts = StreamOptions {
        series_id,
        source: source.clone(),
        state_file: work.join("stream-state.json"),
        segment_by: SegmentBy::Seconds(seg_secs as f64),
        pseudonym_key: b"series bench pseudonym key 0123".to_vec(),
        policy: phd_ingest::PseudonymisePolicy::default(),
        poll: Duration::from_millis(100),
        max_segments: Some(segments),
        gateway: d.gateway_url.clone(),
        pseudonymised_out: None,
        quality: None,
    };
    let streamer =
        tokio::spawn(async move { stream(&owner, &sopts, std::future::pending()).await });

    // The device: every 100 ms the samples of the last 100 ms; write times kept per row.
    let rows_per_seg = seg_secs * HZ;
    let total = segments * rows_per_seg + 1;
    let written: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let w = written.clone();
    let src = source.clone();
    let writer = tokio::spawn(async move {
        let mut f = std::fs::OpenOptions::new().append(true).open(&src)?;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut i = 0;
        while i < total {
            tick.tick().await;
            let n = (HZ / 10).min(total - i);
            let chunk: String = (i..i + n).map(|k| format!("{}\n", row(k))).collect();
            f.write_all(chunk.as_bytes())?;
            let now = Instant::now();
            w.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend((0..n).map(|_| now));
            i += n;
        }
        eyre::Ok(())
    });

    let mut first = Vec::new();
    let mut closing = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(segments * seg_secs + 120);
    for seq in 0..segments {
        let path = segment_path(&out_dir, seq);
        while !path.exists() {
            eyre::ensure!(Instant::now() < deadline, "segment {seq} never arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = Instant::now();
        let w = written.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let f0 = w[(seq * rows_per_seg) as usize];
        let fc = w[((seq + 1) * rows_per_seg) as usize];
        first.push((got - f0).as_secs_f64());
        closing.push((got - fc).as_secs_f64());
        println!(
            "segment {seq}: first sample → plaintext {:.2} s, closing sample → plaintext {:.2} s",
            first[first.len() - 1],
            closing[closing.len() - 1]
        );
    }
    writer.await??;
    streamer.await??;
    follower.await??;
    let (mf, mc) = (median(&mut first.clone()), median(&mut closing.clone()));
    let maxf = first.iter().copied().fold(0.0, f64::max);
    println!(
        "BENCH|series lag, first sample → subscriber plaintext ({seg_secs} s segments, 50 Hz, via gateway; median / max of {segments})|{mf:.2} s / {maxf:.2} s|segment length {seg_secs} s|{:.2}|≤ segment + 10 s",
        mf / seg_secs as f64
    );
    println!(
        "BENCH|series lag, closing sample → subscriber plaintext (streamer + keepers + follower, median)|{mc:.2} s|—|—|≤ 10 s"
    );
    stack.stop().await;
    Ok(())
}

/// Peak RSS (VmHWM) of `pid` in KiB, if readable.
fn vm_hwm(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn phd_user_bin() -> eyre::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/series_bench
    let p = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("phd-user"))
        .ok_or_else(|| eyre::eyre!("no target dir above {}", exe.display()))?;
    eyre::ensure!(
        p.is_file(),
        "{} is not built (cargo build -p phd-user in the same profile)",
        p.display()
    );
    Ok(p)
}

async fn week(args: &[String]) -> eyre::Result<()> {
    let hours = arg(args, "--hours", 168);
    let bin = phd_user_bin()?;
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let (series_id, _) = create_series(&stack).await?;
    let work = stack.work();
    let source = work.join("week.csv");
    let rows = hours * 3600 * HZ + 1;
    let t = Instant::now();
    {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&source)?);
        writeln!(f, "{HEADER}")?;
        for i in 0..rows {
            writeln!(f, "{}", row(i))?;
        }
        f.flush()?;
    }
    let bytes = std::fs::metadata(&source)?.len();
    println!(
        "generated {rows} rows ({:.1} MiB) in {:.1} s",
        bytes as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );
    let env: Vec<(String, String)> = d
        .env_vars()
        .into_iter()
        .chain(d.role_vars("user"))
        .collect();
    let t = Instant::now();
    let mut child = tokio::process::Command::new(&bin)
        .args(["--json", "stream", "--series", &series_id.to_string()])
        .arg("--source")
        .arg(&source)
        .arg("--state")
        .arg(work.join("week-state.json"))
        .args(["--segment", "1h", "--max-segments", &hours.to_string()])
        .args([
            "--progress",
            "0",
            "--pseudonym-key",
            "0123456789abcdef0123456789abcdef",
        ])
        .envs(env)
        .env("PHD_STATE_DIR", work.join("user-state"))
        .env_remove("PHD_DEVNET_ENV")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    let mut peak_kib = 0;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        peak_kib = peak_kib.max(vm_hwm(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secs = t.elapsed().as_secs_f64();
    let out = child.wait_with_output().await?;
    eyre::ensure!(
        status.success(),
        "phd-user stream failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let appended = d
        .user_client()
        .await?
        .series(U256::from(series_id))
        .await?
        .segmentCount;
    eyre::ensure!(appended == hours, "{appended} of {hours} segments appended");
    let samples = (rows - 1) as f64;
    println!(
        "BENCH|series streamer, {hours} h of 50 Hz 6-channel rows ({:.1} M samples) with 1 h segments: rows/s (sealed, uploaded, shared, appended)|{:.0} rows/s ({:.1} s)|real time 50 rows/s|{:.0}×|≥ 50 rows/s",
        samples / 1e6,
        samples / secs,
        secs,
        samples / secs / 50.0
    );
    println!(
        "BENCH|series streamer peak RSS (VmHWM of phd-user stream, {hours} h run)|{:.1} MiB|—|—|≤ 256 MiB",
        peak_kib as f64 / 1024.0
    );
    stack.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("lag") => lag(&args).await,
        Some("week") => week(&args).await,
        _ => eyre::bail!(
            "usage: series_bench lag [--segment-secs 5] [--segments 4] | week [--hours 168]"
        ),
    }
}
