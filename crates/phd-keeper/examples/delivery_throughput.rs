//! Sustained delivery throughput: N purchases are queued on anvil while the keepers are down,
//! then the keepers start and we time until every keeper delivered every purchase.
//!
//! `cargo run -p phd-keeper --release --example delivery_throughput -- [purchases] [keepers]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/it/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use phd_chain::{BlockRange, Purpose, phd};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let purchases: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let n_keepers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let buyer = client(&c, &c.roles.customer).await;
    let dirs: Vec<_> = (0..n_keepers)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let cfg = |i: usize| {
        let mut cfg = keeper_config(&c, &c.roles.keepers[i], dirs[i].path());
        cfg.poll_interval = Duration::from_millis(200);
        cfg
    };
    let mut keepers = Vec::new();
    for i in 0..n_keepers {
        keepers.push(start_keeper(cfg(i)).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let t = u8::try_from(n_keepers.min(2)).unwrap();
    let ds = publish(&owner, &addrs, t, phd(1)).await;
    upload_all(&owner, &owner_signer, &keepers, &ds).await;
    for k in keepers.drain(..) {
        k.stop().await.unwrap();
    }

    buyer
        .approve_coin(c.deployment.marketplace, phd(1_000_000))
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut ids = Vec::with_capacity(purchases);
    for _ in 0..purchases {
        ids.push(
            buyer
                .purchase(ds.id, Purpose::Research, phd(1))
                .await
                .unwrap()
                .purchase_id,
        );
    }
    eprintln!(
        "queued {purchases} purchases in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    for i in 0..n_keepers {
        keepers.push(start_keeper(cfg(i)).await);
    }
    let want = purchases * n_keepers;
    let mut last = 0;
    loop {
        // Count from the keepers' own databases (cheap; keeps the observer off the node).
        let got: usize = keepers
            .iter()
            .map(|k| {
                phd_keeper::local_status(&k.dir)
                    .map(|st| st.deliveries.get("delivered").copied().unwrap_or(0) as usize)
                    .unwrap_or(0)
            })
            .sum();
        if got != last {
            last = got;
        }
        if got >= want || start.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    // Cross-check on-chain: every keeper delivered every purchase exactly once.
    let mut onchain = 0;
    for k in &keepers {
        onchain += buyer
            .deliveries_by_keeper(k.address, BlockRange::all())
            .await
            .unwrap()
            .len();
    }
    assert_eq!(
        onchain, last,
        "on-chain ShareDelivered count differs from the keepers' records"
    );
    let mut dup = 0;
    for k in &keepers {
        let evs = buyer
            .deliveries_by_keeper(k.address, BlockRange::all())
            .await
            .unwrap();
        let mut seen = std::collections::HashSet::new();
        dup += evs
            .iter()
            .filter(|e| !seen.insert(e.event.purchaseId))
            .count();
    }
    println!(
        "purchases={purchases} keepers={n_keepers} deliveries={last}/{want} duplicates={dup} time={secs:.2}s \
         throughput={:.1} deliveries/s ({:.1}/s per keeper)",
        last as f64 / secs,
        last as f64 / secs / n_keepers as f64
    );
    // One line for scripts/bench.sh's summary table: name|ours|baseline|ratio|aim. The baseline
    // is the per-keeper rate: deliveries/s scale with keepers when the ratio is ≈ 1.
    println!(
        "BENCH|keeper deliveries/s, {purchases} purchases × {n_keepers} keepers (anvil, release)|{:.0} /s|{:.0} /s per keeper|{n_keepers} keepers|≥ 500 /s with 3 keepers",
        last as f64 / secs,
        last as f64 / secs / n_keepers as f64
    );
    for k in keepers {
        k.stop().await.unwrap();
    }
    let _ = ids;
}
