//! First paint of the web catalog with 1,000 listings, and the page weight, read from headless
//! Chromium's Performance API over WebDriver.
//!
//! `cargo run -p phd-e2e --release --example web_first_paint -- [--listings 1000] [--runs 5]`
//!
//! The stack is the devnet's (real anvil, deployed contracts, embedded S3, five in-process
//! keepers). The listings are published straight through the contracts (phd-chain's `publish`,
//! then `acknowledgeShare` from three keepers' accounts so each is Active), with metadata shaped
//! like the owner app's (title, data type, quality classes, dropped windows): the catalog reads
//! exactly what it reads for real listings, without 1,000 seal + upload runs.
//!
//! Measured, each in a fresh tab of one browser (assets cached after the first load, like a
//! returning visitor; the first load is reported separately):
//! - `cold`: the first catalog request of a fresh service (no listing snapshot: the service
//!   reads all 1,000 listings from the chain before answering);
//! - `warm`: later requests (snapshot valid: no new block since it was read);
//! - page weight: document + CSS + JS as transferred, for the page shell (no rows) and for the
//!   first page of 50 rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/it/browser.rs"]
mod browser;

use std::time::{Duration, Instant};

use alloy::primitives::{B256, Bytes, U256};
use phd_chain::{Purpose, phd};
use phd_e2e::stack::Stack;
use phd_web::{AppState, WebConfig};
use serde_json::Value;

const ACTIVITIES: [&str; 4] = ["walking", "running", "standing", "badminton"];

fn metadata(i: usize) -> Bytes {
    let a = ACTIVITIES[i % 4];
    let b = ACTIVITIES[(i / 4) % 4];
    let score = 0.55 + (i % 45) as f64 / 100.0;
    let meta = serde_json::json!({
        "version": 1,
        "title": format!("Wrist accelerometer, participant {i}"),
        "data_type": if i.is_multiple_of(3) { "accelerometer+gyroscope" } else { "accelerometer" },
        "plaintext_bytes": 100_000 + i * 37,
        "sample_count": 2_000 + i,
        "sampling_rate_hz": 50.0,
        "device": {"model": "Watch 1", "certified": i.is_multiple_of(2)},
        "quality": {
            "score": score,
            "windows_kept": 40 + i % 20,
            "classes": {a: 20 + i % 10, b: 10 + i % 7},
            "windows_dropped": {"low_confidence": i % 5, "flat_signal": i % 3},
        },
    });
    Bytes::from(serde_json::to_vec(&meta).unwrap())
}

/// Publishes `n` listings through the contracts and makes each Active (t acknowledgements).
async fn publish_many(stack: &mut Stack, n: usize) -> eyre::Result<()> {
    let d = &stack.devnet;
    let owner = d.user_client().await?;
    let t = d.threshold;
    let secret = phd_keys::DatasetSecret::generate()?;
    let (_, commitments) = phd_keys::split(&secret, t, u8::try_from(d.keepers.len())?)?;
    let commitments: Vec<Bytes> = commitments
        .to_bytes()
        .iter()
        .map(|c| Bytes::copy_from_slice(c))
        .collect();
    let bond = owner.listing_bond().await?;
    owner
        .approve_coin(
            owner.deployment().data_registry,
            bond * U256::from(n as u64 + 1),
        )
        .await?;
    // Sent without waiting for each receipt (anvil mines each on arrival; waiting would cost a
    // receipt poll interval per transaction); the last receipt of each account is awaited.
    let start = Instant::now();
    let first = owner.dataset_count().await? + U256::from(1);
    let reg = owner.data_registry();
    let mut last = None;
    for i in 0..n {
        let purposes = if i.is_multiple_of(2) {
            vec![Purpose::Research, Purpose::Validation]
        } else {
            vec![Purpose::Research]
        };
        let params = phd_chain::PublishParams {
            storage_uri: format!("s3://{}/bench/{i}.phd", d.s3.bucket),
            content_root: B256::from(U256::from(i as u64 + 1)),
            metadata: metadata(i),
            price: phd(1 + (i as u64 % 50)),
            keepers: d.keeper_addresses(),
            threshold: t,
            commitments: commitments.clone(),
            purposes,
            consent_terms_hash: B256::repeat_byte(1),
        };
        last = Some(reg.publish((&params).into()).send().await?);
    }
    if let Some(p) = last {
        eyre::ensure!(p.get_receipt().await?.status(), "the last publish failed");
    }
    let ids: Vec<U256> = (0..n as u64).map(|i| first + U256::from(i)).collect();
    eyre::ensure!(
        owner.dataset_count().await? == first + U256::from(n as u64 - 1),
        "not every listing was published"
    );
    eprintln!(
        "published {n} listings in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    // The acknowledging keepers' daemons are paused meanwhile: two senders with one key would
    // race for nonces.
    let start = Instant::now();
    for k in stack.devnet.keepers.iter_mut().take(usize::from(t)) {
        k.stop().await?;
    }
    let mut acks = Vec::new();
    for signer in stack.devnet.accounts.keepers.iter().take(usize::from(t)) {
        let k = stack.devnet.client(signer).await?;
        let ids = ids.clone();
        acks.push(tokio::spawn(async move {
            use alloy::providers::Provider as _;
            // One transaction at a time per account (no nonce gaps), its receipt read at once
            // (anvil mines on arrival) instead of after a receipt poll interval.
            let reg = k.data_registry();
            for id in ids {
                // A fixed gas limit: the estimate of a non-activating acknowledgement is too
                // low when another keeper's lands first and this one activates the listing.
                let h = *reg
                    .acknowledgeShare(id)
                    .gas(150_000)
                    .send()
                    .await?
                    .tx_hash();
                loop {
                    if let Some(r) = k.provider().get_transaction_receipt(h).await? {
                        if !r.status() {
                            // Replayed through phd-chain for the decoded reason.
                            let why = k.acknowledge_share(id).await.err();
                            eyre::bail!("acknowledging dataset {id} failed: {why:?}");
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            Ok::<_, eyre::Report>(())
        }));
    }
    for a in acks {
        a.await??;
    }
    for k in stack.devnet.keepers.iter_mut().take(usize::from(t)) {
        k.start().await?;
    }
    let active = stack
        .devnet
        .user_client()
        .await?
        .dataset(*ids.last().unwrap())
        .await?
        .status;
    eyre::ensure!(
        phd_chain::DatasetStatus::from(active) == phd_chain::DatasetStatus::Active,
        "the last listing is not active"
    );
    eprintln!(
        "acknowledged ({t} keepers × {n}) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The catalog read as it was before this benchmark (the baseline): for each listing one after
/// the other, the dataset, its certificate, its certification summary, its keepers and each
/// keeper's stake (≈ 9 calls per listing with 5 keepers).
async fn sequential_read(ctx: &phd_sdk::ClientCtx) -> eyre::Result<usize> {
    let c = &ctx.chain;
    let published = c
        .published_datasets(None, phd_chain::BlockRange::all())
        .await?;
    let mut n = 0;
    for p in published {
        let id = p.event.datasetId;
        let _ = c.dataset(id).await?;
        let _ = c.certification(id).await.ok();
        let _ = c.certification_summary(id).await.ok();
        for k in c.keepers_of(id).await? {
            let _ = c.stake_of(k).await.ok();
        }
        n += 1;
    }
    Ok(n)
}

/// Server-side: the time to read every listing, the old sequential way and phd-sdk's
/// (`browse::snapshot`), and to bring an unchanged snapshot up to date (`browse::refresh`).
async fn read_times(stack: &Stack) -> eyre::Result<(f64, f64, f64)> {
    let ctx = stack.customer_ctx().await?;
    let t = Instant::now();
    let n_old = sequential_read(&ctx).await?;
    let old = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let snap = phd_sdk::browse::snapshot(&ctx).await?;
    let new = t.elapsed().as_secs_f64() * 1e3;
    eyre::ensure!(snap.listings.len() == n_old, "both reads see every listing");
    let t = Instant::now();
    let again = phd_sdk::browse::refresh(&ctx, &snap).await?;
    let refresh = t.elapsed().as_secs_f64() * 1e3;
    eyre::ensure!(
        again.listings.len() == n_old,
        "the refresh keeps every listing"
    );
    Ok((old, new, refresh))
}

/// One navigation in a fresh tab; the paint and navigation figures of the Performance API.
struct Load {
    fcp_ms: f64,
    response_end_ms: f64,
    document_bytes: f64,
    asset_bytes: f64,
}

async fn load(c: &fantoccini::Client, url: &str) -> eyre::Result<Load> {
    // A fresh tab each time, so the timings are this navigation's alone.
    let win = c.new_window(true).await?;
    c.close_window().await?;
    c.switch_to_window(win.handle).await?;
    c.goto(url).await?;
    let v: Value = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const read = () => {
               const fcp = performance.getEntriesByName('first-contentful-paint')[0];
               if (!fcp) { setTimeout(read, 20); return; }
               const nav = performance.getEntriesByType('navigation')[0];
               const assets = performance.getEntriesByType('resource')
                 .reduce((a, r) => a + (r.transferSize || r.encodedBodySize || 0), 0);
               done({fcp: fcp.startTime, responseEnd: nav.responseEnd,
                     document: nav.transferSize || nav.encodedBodySize, assets});
             };
             read();",
            vec![],
        )
        .await?;
    Ok(Load {
        fcp_ms: v["fcp"].as_f64().unwrap_or(f64::NAN),
        response_end_ms: v["responseEnd"].as_f64().unwrap_or(f64::NAN),
        document_bytes: v["document"].as_f64().unwrap_or(f64::NAN),
        asset_bytes: v["assets"].as_f64().unwrap_or(f64::NAN),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Serves a fresh phd-web (empty listing snapshot) on a free port; returns its address.
async fn serve(stack: &Stack) -> eyre::Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let state = AppState::new(WebConfig {
        buyer: Some(stack.customer_ctx().await?),
        owner: Some(stack.user_ctx().await?.client()),
        download_dir: stack.work().join("downloads"),
        share_timeout: Duration::from_secs(120),
        listing_ttl: Duration::from_secs(5),
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(phd_web::run(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok((base, stop))
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let mut listings = 1000usize;
    let mut runs = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listings" => listings = args.next().unwrap_or_default().parse()?,
            "--runs" => runs = args.next().unwrap_or_default().parse()?,
            other => eyre::bail!("unknown argument {other:?} (--listings N, --runs N)"),
        }
    }
    let mut stack = Stack::start_with(|c| {
        c.fund_amount = phd(20 * listings as u64 + 10_000);
        c.gateway = false;
    })
    .await?;
    publish_many(&mut stack, listings).await?;
    let (read_old, read_new, read_refresh) = read_times(&stack).await?;
    let driver = browser::start_driver().await?;
    let c = browser::browser(&driver, &stack.work().join("chromium-profile")).await?;

    let mut cold = Vec::new();
    let mut cold_server = Vec::new();
    let mut first = None;
    let mut warm = Vec::new();
    let mut warm_server = Vec::new();
    let mut stops = Vec::new();
    for run in 0..runs {
        let (base, stop) = serve(&stack).await?;
        stops.push(stop);
        let l = load(&c, &format!("{base}/")).await?;
        if run == 0 {
            first = Some((l.document_bytes, l.asset_bytes, l.fcp_ms));
        } else {
            cold.push(l.fcp_ms);
            cold_server.push(l.response_end_ms);
        }
        for _ in 0..2 {
            let l = load(&c, &format!("{base}/")).await?;
            warm.push(l.fcp_ms);
            warm_server.push(l.response_end_ms);
        }
    }
    let (base, stop) = serve(&stack).await?;
    stops.push(stop);
    let shell = load(&c, &format!("{base}/?q=no-such-type")).await?;
    let count: Value = c
        .execute(
            "return document.getElementById('count').textContent",
            vec![],
        )
        .await?;
    let full = load(&c, &format!("{base}/")).await?;
    let rows: Value = c
        .execute(
            "return document.querySelectorAll('#listings tbody tr').length",
            vec![],
        )
        .await?;
    let (first_doc, first_assets, first_fcp) = first.unwrap();
    let assets_kb = first_assets / 1024.0;
    println!(
        "listings={listings} rows_shown={rows} shell_count={count} runs={runs}\n\
         first visit (fresh service, empty browser cache): FCP {first_fcp:.0} ms, document {:.1} KB, CSS+JS {assets_kb:.1} KB\n\
         cold service (first request reads every listing): FCP median {:.0} ms (response end {:.0} ms) over {} runs\n\
         warm service (listing snapshot valid): FCP median {:.0} ms (response end {:.0} ms) over {} runs\n\
         page weight: shell (no rows) {:.1} KB + CSS+JS {assets_kb:.1} KB; first page of 50 rows {:.1} KB",
        first_doc / 1024.0,
        median(cold.clone()),
        median(cold_server),
        cold.len(),
        median(warm.clone()),
        median(warm_server),
        warm.len(),
        shell.document_bytes / 1024.0,
        full.document_bytes / 1024.0,
    );
    println!(
        "BENCH|web catalog first contentful paint, {listings} listings, fresh service (Chromium, anvil)|{:.0} ms|{:.0} ms warm|{:.1}×|≤ 300 ms",
        median(cold.clone()),
        median(warm.clone()),
        median(cold) / median(warm.clone()).max(1.0)
    );
    println!(
        "BENCH|web catalog page weight before data (HTML shell + CSS + JS)|{:.1} KB|{:.1} KB with 50 rows|–|≤ 200 KB",
        (shell.document_bytes + first_assets) / 1024.0,
        (full.document_bytes + first_assets) / 1024.0,
    );
    println!(
        "server-side read of {listings} listings: sequential (before) {read_old:.0} ms, phd-sdk snapshot {read_new:.0} ms, refresh with no new block {read_refresh:.1} ms"
    );
    println!(
        "BENCH|web catalog: read {listings} listings from the node, phd-sdk vs the sequential read before (anvil)|{read_new:.0} ms|{read_old:.0} ms|{:.2}×|fast enough for the paint aim",
        read_new / read_old
    );
    let _ = c.close().await;
    for s in stops {
        let _ = s.send(());
    }
    stack.stop().await;
    Ok(())
}
