//! The access path (issue 11): download through the owner's gateway vs a direct `GetObject` of
//! the same bytes, and purchase transaction → first plaintext byte, on the devnet stack (anvil,
//! contracts, embedded S3 over loopback HTTP, five in-process keepers polling every 100 ms,
//! the in-process `phd-gateway` checking every token on-chain).
//!
//! `cargo run -p phd-e2e --release --example gateway_bench -- [--mb 32] [--rounds 3]`
//!
//! A noisy accelerometer CSV is published behind the gateway (≈ `--mb` MiB sealed) and bought
//! once (timed: purchase sent → first decrypted byte written by `phd_sdk::retrieve`, and → last).
//! Then, per round and alternating, the sealed object is downloaded to a file three ways:
//! (a) direct: one `GetObject` streamed to a file (`Store::get_to_file`, the owner's
//! credentials); (b) direct in the buyer's request size: sequential 8 MiB ranged GETs;
//! (c) through the gateway as the buyer: the same 8 MiB ranges with a signed token
//! (`phd_sdk::gateway::download_to_file`). Best of the rounds; the files are compared.
//! Prints `BENCH|…` lines for `scripts/bench.sh`'s summary table.

use std::{
    fmt::Write as _,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::primitives::U256;
use phd_chain::{Purpose, phd};
use phd_e2e::stack::{KEEPER_TIMEOUT, Stack};
use phd_sdk::{
    ClientCtx, Observer, RetrieveEvent,
    gateway::{DOWNLOAD_PART, GatewayObject, download_to_file},
    retrieve::{RetrieveOptions, retrieve},
};
use phd_storage::{RangedObject as _, S3Object};

fn arg(name: &str, default: u64) -> eyre::Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| eyre::eyre!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

/// ≈ 48 bytes a row of poorly compressible numbers (sealed ≈ 0.45× of the CSV).
fn write_csv(path: &Path, bytes: u64) -> eyre::Result<()> {
    let mut s = String::from("time,acc_x,acc_y,acc_z\n");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut i = 0u64;
    while (s.len() as u64) < bytes {
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            #[allow(clippy::cast_precision_loss)]
            let v = (x % 2_000_000) as f64 / 1e5 - 10.0;
            v
        };
        #[allow(clippy::cast_precision_loss)]
        let t = i as f64 / 50.0;
        let (a, b, c) = (next(), next(), next());
        let _ = writeln!(s, "{t:.2},{a:.5},{b:.5},{c:.5}");
        i += 1;
    }
    std::fs::write(path, s)?;
    Ok(())
}

async fn sequential_ranges(obj: &S3Object, to: &Path, part: u64) -> eyre::Result<u64> {
    use std::io::Write as _;
    let len = obj.size().await?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(to)?);
    let mut at = 0;
    while at < len {
        let end = (at + part).min(len);
        f.write_all(&obj.get_range(at..end).await?)?;
        at = end;
    }
    f.into_inner()?.sync_all()?;
    Ok(len)
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / f64::from(1u32 << 20);
    mib / d.as_secs_f64()
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let mb = arg("--mb", 32)?;
    let rounds = arg("--rounds", 3)?.max(1);
    let stack = Stack::start().await?;
    let gateway = stack
        .devnet
        .gateway_url
        .clone()
        .ok_or_else(|| eyre::eyre!("the devnet runs no gateway"))?;
    let work = stack.work();
    let csv = work.join("bench.csv");
    write_csv(&csv, mb * (1 << 20) * 22 / 10)?;
    let pseudo = work.join("bench.pseudonymised.csv");
    let price = phd(1);
    let published = stack
        .publish_with(&csv, price, &[Purpose::Research], &pseudo, |a| {
            a.gateway = Some(gateway.clone());
        })
        .await?;
    let (did, uri, key, sealed) = (
        published.dataset_id,
        published.storage_uri.clone(),
        published.object_key.clone(),
        published.sealed_bytes,
    );
    eprintln!("published dataset {did}: {sealed} bytes sealed behind {gateway}");

    // Purchase → first plaintext byte (and → last), the buyer holding no storage credential.
    let customer = stack.devnet.customer_client().await?;
    let t0 = Instant::now();
    let first: Arc<Mutex<Option<Duration>>> = Arc::default();
    let f2 = first.clone();
    let ctx = ClientCtx::new(customer.clone(), None).with_observer(Observer::new(move |e| {
        if let RetrieveEvent::Decrypted { bytes } = e
            && bytes > 0
        {
            let mut slot = f2.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| t0.elapsed());
        }
    }));
    let po = customer
        .purchase(U256::from(did), Purpose::Research, price)
        .await?;
    let purchase_tx = t0.elapsed();
    let pid = phd_sdk::id_u64(po.purchase_id);
    let out = work.join("bought.csv");
    let opts = RetrieveOptions {
        share_timeout: KEEPER_TIMEOUT,
        poll: Duration::from_millis(20),
    };
    let got = retrieve(&ctx, pid, &out, &opts).await?;
    let last = t0.elapsed();
    let first = (*first.lock().unwrap_or_else(|p| p.into_inner()))
        .ok_or_else(|| eyre::eyre!("no plaintext event"))?;
    eyre::ensure!(got.source == "gateway", "read from {}", got.source);
    eyre::ensure!(
        std::fs::read(&out)? == std::fs::read(&pseudo)?,
        "plaintext differs"
    );

    // Downloads of the same sealed bytes, alternating, best of the rounds.
    let store = stack.devnet.store().await?;
    let direct_obj = S3Object::new(store.clone(), key.clone());
    let gw_obj = GatewayObject::for_purchase(&ctx, &uri, did, pid)
        .ok_or_else(|| eyre::eyre!("{uri} is not a gateway URI"))?;
    let (mut one_get, mut ranges, mut through) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let p = work.join("direct.bin");
        let t = Instant::now();
        store.get_to_file(&key, &p).await?;
        one_get = one_get.min(t.elapsed());
        let q = work.join("ranges.bin");
        let t = Instant::now();
        sequential_ranges(&direct_obj, &q, DOWNLOAD_PART).await?;
        ranges = ranges.min(t.elapsed());
        let g = work.join("gateway.bin");
        let t = Instant::now();
        download_to_file(&gw_obj, &g, DOWNLOAD_PART).await?;
        through = through.min(t.elapsed());
        let direct = std::fs::read(&p)?;
        eyre::ensure!(
            direct.len() as u64 == sealed
                && direct == std::fs::read(&q)?
                && direct == std::fs::read(&g)?,
            "the three downloads differ"
        );
    }

    let (a, b, c) = (
        mib_s(sealed, one_get),
        mib_s(sealed, ranges),
        mib_s(sealed, through),
    );
    let sealed_mib = sealed >> 20;
    println!(
        "sealed {sealed} bytes; best of {rounds}: direct GetObject {one_get:?} ({a:.0} MiB/s), \
         direct 8 MiB ranges {ranges:?} ({b:.0} MiB/s), gateway 8 MiB ranges {through:?} ({c:.0} MiB/s)"
    );
    println!(
        "purchase tx {purchase_tx:?}; first plaintext byte {first:?} after the purchase was sent; \
         whole file ({} bytes) {last:?}",
        got.bytes_written
    );
    println!(
        "BENCH|download {sealed_mib} MiB sealed through phd-gateway (token checked on-chain, 8 MiB ranges) vs one direct GetObject (best of {rounds})|{c:.0} MiB/s|{a:.0} MiB/s|{:.2}×|≥ 0.9×",
        c / a
    );
    println!(
        "BENCH|same, vs direct ranged GETs of the same 8 MiB parts (the gateway hop alone)|{c:.0} MiB/s|{b:.0} MiB/s|{:.2}×|≥ 0.9×",
        c / b
    );
    println!(
        "BENCH|purchase tx sent → first plaintext byte through the gateway ({sealed_mib} MiB sealed, keepers poll 100 ms)|{} ms|whole file {} ms|—|—",
        first.as_millis(),
        last.as_millis()
    );
    stack.stop().await;
    Ok(())
}
