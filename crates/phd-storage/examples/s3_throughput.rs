//! Upload/download throughput of `Store::put_file` / `Store::get_to_file` against a plain
//! single `put_object` / `get_object` of the same bytes, in one run, against the embedded server.
//!
//! ```text
//! cargo run -p phd-storage --release --example s3_throughput -- --mb 256 [--rounds 3] [--dir /tmp]
//! ```
//! Each round runs every transfer; the best round of each is reported (MiB/s). The plain
//! download writes through a 1 MiB buffer (as `get_to_file` does), without and with a final
//! `fsync` (`get_to_file` syncs before its rename); the ratio is taken against the one without.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use phd_storage::Store;
use phd_storage::server::{EmbeddedS3, ServerCredentials};
use tokio::io::AsyncWriteExt;

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn write_pattern(path: &Path, len: usize) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for c in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n])?;
        left -= n;
    }
    f.flush()
}

async fn plain_put(store: &Store, key: &str, path: &Path) -> BoxResult<()> {
    let body = ByteStream::from_path(path).await?;
    store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(key)
        .body(body)
        .send()
        .await?;
    Ok(())
}

/// The obvious good client: the body into a file through a 1 MiB buffer (one blocking-pool
/// hop per MiB, as `get_to_file` writes), `fsync` only when asked (`get_to_file` always syncs
/// before its rename; a plain download usually does not).
async fn plain_get(store: &Store, key: &str, path: &Path, sync: bool) -> BoxResult<u64> {
    let resp = store
        .client()
        .get_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await?;
    let mut reader = resp.body.into_async_read();
    let mut f = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::create(path).await?);
    let n = tokio::io::copy_buf(
        &mut tokio::io::BufReader::with_capacity(1 << 20, &mut reader),
        &mut f,
    )
    .await?;
    f.flush().await?;
    if sync {
        f.into_inner().sync_all().await?;
    }
    Ok(n)
}

fn mibps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let mb: usize = arg(&args, "--mb").map_or(Ok(256), |s| s.parse())?;
    let rounds: usize = arg(&args, "--rounds").map_or(Ok(3), |s| s.parse())?;
    let base: Option<PathBuf> = arg(&args, "--dir").map(PathBuf::from);
    let len = mb * 1024 * 1024;

    let tmp = match &base {
        Some(b) => tempfile::tempdir_in(b)?,
        None => tempfile::tempdir()?,
    };
    let src = tmp.path().join("src.bin");
    write_pattern(&src, len)?;

    let server = EmbeddedS3::start(
        tmp.path().join("s3"),
        ServerCredentials::new("bench", "bench-secret"),
    )
    .await?;
    let cfg = server.client_config("bench");
    println!(
        "object {mb} MiB; multipart threshold {} MiB, part {} MiB, {} parts in flight; endpoint {}",
        cfg.multipart_threshold >> 20,
        cfg.effective_part_size(len as u64) >> 20,
        cfg.upload_concurrency,
        server.endpoint()
    );
    let store = Store::connect(cfg).await?;
    store.ensure_bucket().await?;

    let mut best = [f64::INFINITY; 5];
    for round in 0..rounds {
        let t = Instant::now();
        plain_put(&store, "plain.bin", &src).await?;
        let plain_up = t.elapsed().as_secs_f64();

        let t = Instant::now();
        store.put_file("ours.bin", &src, |_| {}).await?;
        let ours_up = t.elapsed().as_secs_f64();

        let dst_plain = tmp.path().join("plain.out");
        let t = Instant::now();
        let n = plain_get(&store, "plain.bin", &dst_plain, false).await?;
        let plain_down = t.elapsed().as_secs_f64();
        assert_eq!(n as usize, len);
        std::fs::remove_file(&dst_plain)?;

        let t = Instant::now();
        let n = plain_get(&store, "plain.bin", &dst_plain, true).await?;
        let plain_down_sync = t.elapsed().as_secs_f64();
        assert_eq!(n as usize, len);

        let dst_ours = tmp.path().join("ours.out");
        let t = Instant::now();
        let info = store.get_to_file("ours.bin", &dst_ours).await?;
        let ours_down = t.elapsed().as_secs_f64();
        assert_eq!(info.len as usize, len);

        println!(
            "round {round}: upload plain {:.0} MiB/s, ours {:.0} MiB/s; download plain {:.0} MiB/s (+ fsync {:.0}), ours {:.0} MiB/s",
            mibps(len as u64, plain_up),
            mibps(len as u64, ours_up),
            mibps(len as u64, plain_down),
            mibps(len as u64, plain_down_sync),
            mibps(len as u64, ours_down)
        );
        for (b, v) in
            best.iter_mut()
                .zip([plain_up, ours_up, plain_down, ours_down, plain_down_sync])
        {
            *b = b.min(v);
        }
        std::fs::remove_file(&dst_plain)?;
        std::fs::remove_file(&dst_ours)?;
    }
    let [pu, ou, pd, od, pds] = best.map(|s| mibps(len as u64, s));
    println!("best of {rounds}:");
    println!(
        "  upload   plain put_object {pu:8.0} MiB/s   Store::put_file    {ou:8.0} MiB/s   ratio {:.2}",
        ou / pu
    );
    println!(
        "  download plain get_object {pd:8.0} MiB/s   Store::get_to_file {od:8.0} MiB/s   ratio {:.2}",
        od / pd
    );
    println!(
        "  download plain get_object + fsync {pds:8.0} MiB/s (get_to_file fsyncs before its rename)   ratio {:.2}",
        od / pds
    );
    // One line per figure for scripts/bench.sh's summary table: name|ours|baseline|ratio|aim.
    println!(
        "BENCH|S3 upload {mb} MiB: Store::put_file vs plain put_object|{ou:.0} MiB/s|{pu:.0} MiB/s|{:.2}×|≥ 0.9×",
        ou / pu
    );
    println!(
        "BENCH|S3 download {mb} MiB: Store::get_to_file vs plain get_object|{od:.0} MiB/s|{pd:.0} MiB/s|{:.2}×|≥ 0.9×",
        od / pd
    );
    server.shutdown().await?;
    Ok(())
}
