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
    let keeper_signers: Vec<_> = c.roles.keepers[..n_keepers].to_vec();
    for k in keepers {
        k.stop().await.unwrap();
    }
    let _ = ids;

    // Baseline on the same node, same run: what anvil itself sustains. Each delivery is two
    // transactions per keeper (`commit`, `deliverShare`), so the keepers' accounts send the same
    // number of plain transfers, signed locally with tracked nonces, each account's sends one
    // after another without awaiting any receipt (the best a keeper's send lock can do), the
    // accounts in parallel; timed until every transfer is mined.
    let txs_per_account = 2 * purchases;
    let (tx_rate, base_secs) = anvil_ceiling(&c.url, &keeper_signers, txs_per_account).await;
    println!(
        "anvil ceiling: {} plain transfers from {n_keepers} accounts in {base_secs:.2}s = {tx_rate:.0} tx/s \
         = {:.0} deliveries/s at 2 transactions per delivery",
        txs_per_account * n_keepers,
        tx_rate / 2.0
    );
    println!(
        "BENCH|keeper deliveries/s vs anvil's own ceiling (plain transfers, pipelined, 2 per delivery), {purchases} × {n_keepers}|{:.0} /s|{:.0} /s|{:.2}×|≥ 500 /s with 3 keepers",
        last as f64 / secs,
        tx_rate / 2.0,
        (last as f64 / secs) / (tx_rate / 2.0)
    );
}

/// Sends `per_account` 1-wei transfers from each signer (pipelined, see the caller) and returns
/// (mined transactions per second, seconds).
async fn anvil_ceiling(
    url: &str,
    signers: &[alloy::signers::local::PrivateKeySigner],
    per_account: usize,
) -> (f64, f64) {
    use alloy::{
        network::{EthereumWallet, TransactionBuilder},
        primitives::U256,
        providers::{Provider, ProviderBuilder},
        rpc::types::TransactionRequest,
    };
    let mut setups = Vec::new();
    for s in signers {
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(s.clone()))
            .connect_http(url.parse().unwrap());
        let nonce = provider
            .get_transaction_count(s.address())
            .pending()
            .await
            .unwrap();
        let fees = provider.estimate_eip1559_fees().await.unwrap();
        setups.push((provider, s.address(), nonce, fees));
    }
    let start = Instant::now();
    let tasks: Vec<_> = setups
        .into_iter()
        .map(|(provider, from, nonce, fees)| {
            tokio::spawn(async move {
                let mut last = None;
                for i in 0..per_account as u64 {
                    let tx = TransactionRequest::default()
                        .with_from(from)
                        .with_to(from)
                        .with_value(U256::from(1))
                        .with_nonce(nonce + i)
                        .with_gas_limit(21_000)
                        .with_max_fee_per_gas(fees.max_fee_per_gas)
                        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
                    last = Some(*provider.send_transaction(tx).await.unwrap().tx_hash());
                }
                let last = last.unwrap();
                loop {
                    if provider
                        .get_transaction_receipt(last)
                        .await
                        .unwrap()
                        .is_some()
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    ((per_account * signers.len()) as f64 / secs, secs)
}
