//! End-to-end latency: purchase transaction → verified plaintext on disk, on the full local
//! stack (anvil, contracts, embedded S3 over loopback HTTP, five in-process keepers, t = 3).
//!
//! `cargo run -p phd-e2e --release --example e2e_bench -- --sizes 1MB,100MB,1GB [--runs 5]`
//!
//! For each size: a CSV-like plaintext (accelerometer-style numbers, compresses like real
//! data) is sealed, uploaded and listed once; then each run buys it and times
//! purchase tx → t shares delivered → the customer library's retrieve (collect + verify shares,
//! combine, download, verify every chunk, decrypt, rename into place). The plaintext is compared with the input (SHA-256, outside the timing).
//! Prints a Markdown table (median and min/max per phase).

use std::{
    io::Write as _,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use phd_chain::{Purpose, phd};
use phd_e2e::stack::{Stack, publish_raw, wait_deliveries};
use sha2::{Digest, Sha256};

fn parse_size(s: &str) -> eyre::Result<u64> {
    let s = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = s.strip_suffix("GB") {
        (n, 1u64 << 30)
    } else if let Some(n) = s.strip_suffix("MB") {
        (n, 1 << 20)
    } else if let Some(n) = s.strip_suffix("KB") {
        (n, 1 << 10)
    } else {
        (s.as_str(), 1)
    };
    Ok(num
        .trim()
        .parse::<u64>()
        .map_err(|e| eyre::eyre!("bad size {s:?}: {e}"))?
        * mult)
}

/// Writes `size` bytes of accelerometer-like CSV.
fn write_plaintext(path: &Path, size: u64) -> eyre::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut written = 0u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut line = String::with_capacity(64);
    let mut i = 0u64;
    w.write_all(b"time,acc_x,acc_y,acc_z\n")?;
    written += 23;
    while written < size {
        // xorshift noise on top of a slow signal
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "{}.{:02},{:.4},{:.4},{:.4}",
            i / 50,
            (i % 50) * 2,
            ((i % 628) as f64 / 100.0).sin() + (x % 1000) as f64 / 10_000.0,
            (((i + 157) % 628) as f64 / 100.0).sin() * 0.5,
            9.81 + ((x >> 20) % 1000) as f64 / 50_000.0
        );
        let bytes = line.as_bytes();
        let take = usize::try_from((size - written).min(bytes.len() as u64))?;
        w.write_all(&bytes[..take])?;
        written += take as u64;
        i += 1;
    }
    w.flush()?;
    Ok(())
}

fn sha256_file(path: &Path) -> eyre::Result<[u8; 32]> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// One line for scripts/bench.sh's summary table: name|ours|baseline|ratio|aim.
fn bench_line(name: &str, ours: &str, baseline: &str, ratio: f64, aim: &str) {
    println!("BENCH|{name}|{ours}|{baseline}|{ratio:.2}×|{aim}");
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// Flushes dirty pages (the generated input, the last run's output) so that writeback of an
/// earlier step does not land inside the next timing.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// Seals `input` to a local file, then uploads that file: each step alone, timed.
async fn seal_then_upload(
    store: &phd_storage::Store,
    input: &Path,
    work: &Path,
) -> eyre::Result<(Duration, Duration)> {
    let sealed = work.join("baseline.phd");
    let (src, dst) = (input.to_owned(), sealed.clone());
    settle();
    let start = Instant::now();
    tokio::task::spawn_blocking(move || -> eyre::Result<()> {
        let key = phd_seal::SealingKey::generate()?;
        let r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&src)?);
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&dst)?);
        phd_seal::seal(key, r, &mut w, &phd_seal::SealOptions::default())?;
        w.flush()?;
        Ok(())
    })
    .await??;
    let seal = start.elapsed();
    settle();
    let start = Instant::now();
    store
        .put_file("bench/baseline.phd", &sealed, |_| {})
        .await?;
    let upload = start.elapsed();
    store.delete("bench/baseline.phd").await?;
    std::fs::remove_file(&sealed)?;
    Ok((seal, upload))
}

/// Seals and uploads `input` overlapped, as publishing does, timed; the object is removed.
async fn seal_and_upload_timed(
    store: &phd_storage::Store,
    input: &Path,
    work: &Path,
) -> eyre::Result<Duration> {
    let opts = phd_sdk::sealed_upload::SealUploadOptions {
        plaintext_len: std::fs::metadata(input)?.len(),
        scratch_dir: Some(work.to_path_buf()),
        ..Default::default()
    };
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(input)?);
    settle();
    let start = Instant::now();
    phd_sdk::sealed_upload::seal_and_upload(
        store,
        "bench/overlapped.phd",
        phd_seal::SealingKey::generate()?,
        reader,
        &opts,
        |_| {},
    )
    .await?;
    let took = start.elapsed();
    store.delete("bench/overlapped.phd").await?;
    Ok(took)
}

/// Uplink of the emulated owner in the publish comparison: 50 MB/s (400 Mbit/s).
const UPLINK_BYTES_PER_SEC: f64 = 50e6;

/// A TCP proxy to `target` whose client → server direction is paced to `rate` bytes/s shared
/// by all connections (an owner's uplink; replies pass unpaced). Loopback S3 on this machine is
/// CPU-bound, so without a link limit there is nothing for sealing to overlap with.
async fn throttled_proxy(target: &str, rate: f64) -> eyre::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let target = target
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let next_free = Arc::new(tokio::sync::Mutex::new(tokio::time::Instant::now()));
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (target, next_free) = (target.clone(), next_free.clone());
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                let (mut from_client, mut to_client) = inbound.into_split();
                let (mut from_server, mut to_server) = outbound.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 << 10];
                    while let Ok(n) = from_client.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let at = {
                            let mut next = next_free.lock().await;
                            let start = (*next).max(tokio::time::Instant::now());
                            *next = start + Duration::from_secs_f64(n as f64 / rate);
                            start
                        };
                        tokio::time::sleep_until(at).await;
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown().await;
                };
                let down = tokio::io::copy(&mut from_server, &mut to_client);
                let _ = tokio::join!(up, down);
            });
        }
    });
    Ok(format!("http://{addr}"))
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let mut sizes = vec!["1MB".to_owned(), "100MB".to_owned()];
    let mut runs: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sizes" => {
                sizes = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            "--runs" => runs = Some(args.next().unwrap_or_default().parse()?),
            "-h" | "--help" => {
                println!("e2e_bench [--sizes 1MB,100MB,1GB] [--runs N]");
                return Ok(());
            }
            other => eyre::bail!("unknown argument {other:?}"),
        }
    }
    let sizes: Vec<(String, u64)> = sizes
        .iter()
        .map(|s| Ok((s.clone(), parse_size(s)?)))
        .collect::<eyre::Result<_>>()?;

    let stack = Stack::start_with(|c| {
        c.keeper_poll_interval = Duration::from_millis(100);
        c.deploy.delivery_window = 3600;
    })
    .await?;
    let d = &stack.devnet;
    let work = stack.work();
    let customer = d.customer_client().await?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "devnet up: {} keepers, t = {}, {} CPUs",
        d.keepers.len(),
        d.threshold,
        cpus
    );

    println!(
        "| size | runs | purchase tx (ms) | shares (ms) | download+verify+decrypt (ms) | **total median (ms)** | total min–max (ms) | sealed | of which fetch+verify+decrypt after the key (ms) | baseline: `open` of a local copy (ms) | fetch rate / local open rate |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut publish_rows = Vec::new();
    for (label, size) in sizes {
        let input = work.join(format!("plain-{label}.csv"));
        write_plaintext(&input, size)?;
        let want = sha256_file(&input)?;
        let published = publish_raw(d, &input, phd(1), &[Purpose::Research]).await?;
        let n = runs.unwrap_or(if size >= 1 << 30 { 1 } else { 5 });
        let (mut t_tx, mut t_sh, mut t_dl, mut t_all, mut t_fetch) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..n {
            let out = work.join(format!("out-{label}-{run}.csv"));
            settle();
            let start = Instant::now();
            let bought = customer
                .purchase(published.dataset_id, Purpose::Research, phd(1))
                .await?;
            let a = start.elapsed();
            wait_deliveries(&customer, bought.purchase_id, d.threshold).await?;
            // When the key was reconstructed: the rest is the fetch pipeline alone.
            let keyed = Arc::new(Mutex::new(None::<Instant>));
            let k = keyed.clone();
            let ctx = stack
                .customer_ctx()
                .await?
                .with_observer(phd_sdk::Observer::new(move |e| {
                    if matches!(e, phd_sdk::RetrieveEvent::KeyReconstructed { .. }) {
                        *k.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(Instant::now());
                    }
                }));
            let b = start.elapsed();
            let opts = phd_sdk::retrieve::RetrieveOptions {
                share_timeout: Duration::from_secs(120),
                poll: Duration::from_millis(100),
            };
            phd_sdk::retrieve::retrieve(&ctx, u64::try_from(bought.purchase_id)?, &out, &opts)
                .await
                .map_err(|e| eyre::eyre!("{e}"))?;
            let done = Instant::now();
            let c = start.elapsed();
            let keyed_at = keyed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unwrap_or(done);
            t_fetch.push(done - keyed_at);
            eyre::ensure!(sha256_file(&out)? == want, "plaintext differs for {label}");
            std::fs::remove_file(&out)?;
            t_tx.push(a);
            t_sh.push(b - a);
            t_dl.push(c - b);
            t_all.push(c);
            eprintln!("{label} run {run}: total {} ms", ms(c));
        }
        // Baseline from the same run: phd_seal::open (what `open_file` does, every chunk hashed
        // before the first byte, then again before decrypting) of the very object the server holds.
        let mut t_local = Vec::new();
        for run in 0..n {
            let local = d.s3.object_path(&published.object_key);
            let out = work.join(format!("local-{label}-{run}.csv"));
            let (key, root) = (published.opening_key.clone(), published.root);
            let o = out.clone();
            settle();
            let start = Instant::now();
            tokio::task::spawn_blocking(move || -> eyre::Result<()> {
                let src = phd_seal::FileSource::open(&local)?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&o)?);
                phd_seal::open(&key, &src, root, &mut w, &phd_seal::OpenLimits::default())?;
                w.flush()?;
                w.get_ref().sync_all()?;
                Ok(())
            })
            .await??;
            t_local.push(start.elapsed());
            std::fs::remove_file(&out)?;
        }
        // Publishing: seal and upload overlapped (what publish_raw did) against each step
        // alone on the same input, from the same run.
        // Alternating rounds (the listing's own publish ran right after the input was written,
        // so it is not one of them); medians.
        let direct = d.store().await?;
        let mut uplink_cfg = direct.config().clone();
        uplink_cfg.endpoint = Some(
            throttled_proxy(
                uplink_cfg.endpoint.as_deref().unwrap_or_default(),
                UPLINK_BYTES_PER_SEC,
            )
            .await?,
        );
        let uplink = phd_storage::Store::connect(uplink_cfg).await?;
        for (link, store) in [("loopback", &direct), ("400 Mbit/s uplink", &uplink)] {
            if link != "loopback" && size < 100 << 20 {
                continue;
            }
            let (mut both, mut seal, mut upload) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..n.max(3) {
                both.push(seal_and_upload_timed(store, &input, &work).await?);
                let (s, u) = seal_then_upload(store, &input, &work).await?;
                seal.push(s);
                upload.push(u);
            }
            publish_rows.push((
                format!("{label}, {link}"),
                median(&mut both),
                median(&mut seal),
                median(&mut upload),
            ));
        }
        let local = median(&mut t_local);
        let dl = median(&mut t_dl);
        let fetch = median(&mut t_fetch);
        let (lo, hi) = (
            t_all.iter().min().copied().unwrap_or_default(),
            t_all.iter().max().copied().unwrap_or_default(),
        );
        println!(
            "| {label} | {n} | {} | {} | {} | **{}** | {}–{} | {:.1} MB | {} | {} | {:.2}× |",
            ms(median(&mut t_tx)),
            ms(median(&mut t_sh)),
            ms(dl),
            ms(median(&mut t_all)),
            ms(lo),
            ms(hi),
            published.sealed_len as f64 / 1e6,
            ms(fetch),
            ms(local),
            local.as_secs_f64() / fetch.as_secs_f64().max(1e-9)
        );
        let aim = match size {
            s if s >= 1 << 30 => "≤ 2.5 s total, ≥ 0.8× local open",
            s if s >= 100 << 20 => "≤ 0.4 s total, ≥ 0.8× local open",
            _ => "≥ 0.8× local open",
        };
        let total = median(&mut t_all.clone());
        bench_line(
            &format!(
                "purchase → verified plaintext {label}: total; fetch+verify+decrypt after the key vs `open` of a local copy"
            ),
            &format!("{} ms total; fetch {} ms", ms(total), ms(fetch)),
            &format!("local open {} ms", ms(local)),
            local.as_secs_f64() / fetch.as_secs_f64().max(1e-9),
            aim,
        );
        std::fs::remove_file(&input)?;
        let _ = std::fs::remove_file(d.s3.object_path(&published.object_key));
    }
    println!();
    println!(
        "| size | seal + upload overlapped (median ms) | seal alone (ms) | upload alone (ms) | sum (ms) | overlapped / slower step |"
    );
    println!("|---|---|---|---|---|---|");
    for (label, both, seal, upload) in &publish_rows {
        let slower = (*seal).max(*upload);
        let ratio = both.as_secs_f64() / slower.as_secs_f64().max(1e-9);
        println!(
            "| {label} | {} | {} | {} | {} | {ratio:.2}× |",
            ms(*both),
            ms(*seal),
            ms(*upload),
            ms(*seal + *upload)
        );
        bench_line(
            &format!("publish {label}: seal + upload overlapped vs the slower of the two alone"),
            &format!("{} ms", ms(*both)),
            &format!(
                "seal {} ms, upload {} ms (sum {} ms)",
                ms(*seal),
                ms(*upload),
                ms(*seal + *upload)
            ),
            ratio,
            "bounded by the slower step (≈ 1×), well below the sum",
        );
    }
    stack.stop().await;
    // Everything (anvil aside: its own process) ran in this process: S3 server, keepers, buyer.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for l in status
            .lines()
            .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        {
            eprintln!("e2e_bench process {l}");
        }
        if let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            bench_line(
                "peak RSS of the bench process (S3 server + 5 keepers + owner + buyer)",
                &format!("{} MiB", kb / 1024),
                "—",
                1.0,
                "≤ 256 MiB per process",
            );
        }
    }
    Ok(())
}
