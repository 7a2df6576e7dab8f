//! `cargo run -p phd-e2e --example chain-demo`: starts anvil, deploys, and walks one dataset
//! through publish → acknowledge → purchase → deliver → confirm/settle → withdraw, plus a refund,
//! printing every transaction with its hash, gas and time.

use std::time::Instant;

use alloy::primitives::Address;
use phd_chain::{BlockRange, PhdClient, Purpose, TxOutcome, format_phd_unit, phd};
use phd_e2e::{TestChain, sample_params};

fn step(label: &str, tx: &TxOutcome) {
    println!(
        "  {label:<34} tx {}  block {:>3}  gas {:>8}  {:>4} ms",
        tx.tx_hash, tx.block_number, tx.gas_used, tx.elapsed_ms
    );
}

async fn balances(c: &PhdClient, who: &[(&str, Address)]) -> eyre::Result<()> {
    for (name, a) in who {
        println!(
            "    {name:<12} {}",
            format_phd_unit(c.balance_of(*a).await?)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let t0 = Instant::now();
    println!("== starting anvil and deploying");
    let chain = TestChain::start().await?;
    println!(
        "  anvil at {} (chain {})",
        chain.rpc_url, chain.deployment.chain_id
    );
    for tx in &chain.deploy.transactions {
        step(tx.operation, tx);
    }
    let d = &chain.deployment;
    println!(
        "  PHDCoin {}  KeeperRegistry {}\n  DataRegistry {}  Marketplace {}",
        d.coin, d.keeper_registry, d.data_registry, d.marketplace
    );

    println!("== registering 5 keepers, a validator, a manufacturer");
    chain.register_nodes().await?;
    let user = chain.user().await?;
    let customer = chain.customer().await?;
    let keepers = chain.keepers().await?;
    println!("  keepers: {:?}", user.keepers().await?);

    println!("== owner publishes (n = 5, t = 3, price 100 PHD, research + validation)");
    let addrs: Vec<Address> = keepers.iter().map(PhdClient::address).collect();
    let (tx, id) = user
        .publish(&sample_params(
            &addrs,
            3,
            phd(100),
            &[Purpose::Research, Purpose::Validation],
        ))
        .await?;
    step(&format!("publish → dataset {id}"), &tx);
    for (i, k) in keepers.iter().take(3).enumerate() {
        let (tx, ack) = k.acknowledge_share(id).await?;
        step(
            &format!(
                "keeper {} acknowledges{}",
                i + 1,
                if ack.activated { " → Active" } else { "" }
            ),
            &tx,
        );
    }

    println!("== customer buys");
    let bought = customer.purchase(id, Purpose::Research, phd(100)).await?;
    if let Some(a) = &bought.approve {
        step("approve", a);
    }
    step(
        &format!("purchase → purchase {}", bought.purchase_id),
        &bought.tx,
    );
    let pid = bought.purchase_id;
    for (i, k) in keepers.iter().take(3).enumerate() {
        let (tx, n) = k
            .deliver_share(pid, format!("share {} for the buyer", i + 1).as_bytes())
            .await?;
        step(&format!("keeper {} delivers ({n}/3)", i + 1), &tx);
    }
    let (tx, s) = customer.confirm(pid).await?;
    step("buyer confirms → settled", &tx);
    if let Some(s) = s {
        println!(
            "  owner credited {}, {} keepers {} each",
            format_phd_unit(s.owner_amount),
            s.keeper_count,
            format_phd_unit(s.keeper_amount_each)
        );
    }
    let (tx, amount) = user.withdraw_credits().await?;
    step(&format!("owner withdraws {}", format_phd_unit(amount)), &tx);
    for (i, k) in keepers.iter().take(3).enumerate() {
        let (tx, amount) = k.withdraw_credits().await?;
        step(
            &format!("keeper {} withdraws {}", i + 1, format_phd_unit(amount)),
            &tx,
        );
    }
    balances(
        &user,
        &[
            ("owner", user.address()),
            ("customer", customer.address()),
            ("keeper 1", addrs[0]),
            ("keeper 4", addrs[3]),
            ("marketplace", d.marketplace),
        ],
    )
    .await?;

    println!("== a purchase with too few shares is refunded after the deadline");
    let bought = customer.purchase(id, Purpose::Research, phd(100)).await?;
    step("purchase", &bought.tx);
    let (tx, _) = keepers[0]
        .deliver_share(bought.purchase_id, b"only one")
        .await?;
    step("keeper 1 delivers (1/3)", &tx);
    match customer.refund(bought.purchase_id).await {
        Err(e) => println!("  refund now refused: {e}"),
        Ok(_) => println!("  refund unexpectedly accepted"),
    }
    chain
        .increase_time(chain.config.delivery_window + 1)
        .await?;
    let (tx, amount) = customer.refund(bought.purchase_id).await?;
    step(
        &format!("refund {} after the deadline", format_phd_unit(amount)),
        &tx,
    );

    println!("== decoded errors");
    if let Err(e) = customer.purchase(id, Purpose::Research, phd(50)).await {
        println!("  {e}");
    }
    if let Err(e) = customer.purchase(id, Purpose::Commercial, phd(100)).await {
        println!("  {e}");
    }
    let poor = chain.client(&chain.roles.manufacturer).await?;
    if let Err(e) = poor.purchase(id, Purpose::Research, phd(100)).await {
        println!("  {e}");
    }

    let events = user.purchases(Some(id), None, BlockRange::all()).await?;
    println!(
        "== {} Purchased events for dataset {id}; escrow now {}",
        events.len(),
        format_phd_unit(user.open_escrow().await?)
    );
    println!("done in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
