//! Keeper failures on the full local stack: two of five down, three of five down (refund after
//! the deadline), and keepers killed mid-delivery and restarted (exactly-once delivery).

use std::time::Duration;

use alloy::primitives::U256;
use phd_chain::{BlockRange, PurchaseStatus, Purpose, phd};
use phd_devnet::KeeperKnobs;
use phd_e2e::stack::{
    BuyerError, KEEPER_TIMEOUT, Stack, reference_buy_decrypt, wait_deliveries, write_accel_csv,
};
use phd_keeper::FailPoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_five_down_sale_completes() -> eyre::Result<()> {
    let mut stack = Stack::start().await?;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 500, None)?;
    let pseudo = work.join("pseudo.csv");
    let published = stack
        .publish(&input, phd(10), &[Purpose::Research], &pseudo)
        .await?;
    // Wait until all five stored their share before taking two down.
    let user = stack.devnet.user_client().await?;
    let id = U256::from(published.dataset_id);
    phd_e2e::stack::wait_for("5 acknowledgements", KEEPER_TIMEOUT, || async {
        Ok((user.dataset(id).await?.acknowledged == 5).then_some(()))
    })
    .await?;
    stack.devnet.keepers[3].stop().await?;
    stack.devnet.keepers[4].stop().await?;

    let d = &stack.devnet;
    let customer = d.customer_client().await?;
    let bought = customer.purchase(id, Purpose::Research, phd(10)).await?;
    wait_deliveries(&customer, bought.purchase_id, 3).await?;
    let out = work.join("out.csv");
    stack.retrieve(bought.purchase_id, &out).await??;
    eyre::ensure!(
        std::fs::read(&out)? == std::fs::read(&pseudo)?,
        "plaintext differs"
    );
    let (_, s) = customer.confirm(bought.purchase_id).await?;
    let s = s.ok_or_else(|| eyre::eyre!("not settled"))?;
    eyre::ensure!(s.keeper_count == 3, "deliverers {}", s.keeper_count);
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_five_down_nothing_released_then_full_refund() -> eyre::Result<()> {
    let mut stack = Stack::start().await?;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 500, None)?;
    let pseudo = work.join("pseudo.csv");
    let price = phd(10);
    let published = stack
        .publish(&input, price, &[Purpose::Research], &pseudo)
        .await?;
    let id = U256::from(published.dataset_id);
    let user = stack.devnet.user_client().await?;
    phd_e2e::stack::wait_for("5 acknowledgements", KEEPER_TIMEOUT, || async {
        Ok((user.dataset(id).await?.acknowledged == 5).then_some(()))
    })
    .await?;
    for i in 0..3 {
        stack.devnet.keepers[i].stop().await?;
    }
    let d = &stack.devnet;
    let customer = d.customer_client().await?;
    let before = customer.balance_of(customer.address()).await?;
    let bought = customer.purchase(id, Purpose::Research, price).await?;
    // Issue 10 (changed rule): the two live keepers commit, but nobody delivers before t = 3
    // keepers committed, so not even those two shares are released (a refunded buyer cannot
    // gather shares across purchases).
    phd_e2e::stack::wait_for("2 commitments", KEEPER_TIMEOUT, || async {
        Ok((customer.commit_state(bought.purchase_id).await?.committed >= 2).then_some(()))
    })
    .await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    eyre::ensure!(
        customer.commit_state(bought.purchase_id).await?.committed == 2,
        "a stopped keeper committed"
    );
    eyre::ensure!(
        customer.get_purchase(bought.purchase_id).await?.delivered == 0,
        "a share was released before t commitments"
    );
    let out = work.join("out.csv");
    match reference_buy_decrypt(d, &customer, bought.purchase_id, &out).await {
        Err(BuyerError::NotEnoughShares {
            good: 0,
            threshold: 3,
            ..
        }) => {}
        other => eyre::bail!("expected NotEnoughShares, got {other:?}"),
    }
    eyre::ensure!(!out.exists(), "file written without enough shares");
    // Settling is refused, refunding too until the deadline.
    let e = customer
        .settle(bought.purchase_id)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("settle succeeded"))?;
    eyre::ensure!(
        e.revert().map(|r| r.name()).as_deref() == Some("MarketplaceThresholdNotReached"),
        "{e}"
    );
    let e = customer
        .refund(bought.purchase_id)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("early refund succeeded"))?;
    eyre::ensure!(
        e.revert().map(|r| r.name()).as_deref() == Some("MarketplaceRefundNotYetAllowed"),
        "{e}"
    );

    let window = d
        .deployment
        .params
        .as_ref()
        .map_or(60, |p| p.delivery_window);
    d.increase_time(window + 1).await?;
    let (_, amount) = customer.refund(bought.purchase_id).await?;
    eyre::ensure!(amount == price, "refunded {amount}");
    eyre::ensure!(
        customer.balance_of(customer.address()).await? == before,
        "balance not restored"
    );
    let p = customer.get_purchase(bought.purchase_id).await?;
    eyre::ensure!(
        PurchaseStatus::from(p.status) == PurchaseStatus::Refunded,
        "status"
    );
    // Fewer than t committed: no keeper was bound to deliver, so none is slashable (the app says
    // so before sending anything, and the contract agrees).
    let ctx = stack.customer_ctx().await?;
    let r =
        phd_customer::dispute::slash_non_delivery(&ctx, u64::try_from(bought.purchase_id)?).await;
    eyre::ensure!(
        matches!(&r, Err(phd_customer::CustomerError::Purchase { reason, .. }) if reason.contains("nothing to slash")),
        "{r:?}"
    );
    let live = d.keepers[4].address;
    let e = customer
        .slash_non_delivery(bought.purchase_id, live)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("slash succeeded"))?;
    eyre::ensure!(
        e.revert().map(|r| r.name()).as_deref() == Some("MarketplaceNotSlashable"),
        "{e}"
    );
    stack.stop().await;
    Ok(())
}

/// Issue 10: once t good shares were delivered, the buyer cannot take the money back; the app
/// reports the contract's named refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_after_t_deliveries_is_refused() -> eyre::Result<()> {
    let stack = Stack::start().await?;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 300, None)?;
    let pseudo = work.join("pseudo.csv");
    let price = phd(4);
    let published = stack
        .publish(&input, price, &[Purpose::Research], &pseudo)
        .await?;
    let d = &stack.devnet;
    let customer = d.customer_client().await?;
    let bought = customer
        .purchase(U256::from(published.dataset_id), Purpose::Research, price)
        .await?;
    wait_deliveries(&customer, bought.purchase_id, d.threshold).await?;
    let window = d
        .deployment
        .params
        .as_ref()
        .map_or(60, |p| p.delivery_window);
    d.increase_time(window + 1).await?;
    let ctx = stack.customer_ctx().await?;
    match phd_customer::buy::refund(&ctx, u64::try_from(bought.purchase_id)?).await {
        Err(e @ phd_customer::CustomerError::Refused { .. }) => {
            let msg = e.to_string();
            eyre::ensure!(
                msg.contains("MarketplaceThresholdDelivered") && msg.contains("retrieve"),
                "message: {msg}"
            );
        }
        other => eyre::bail!("expected the refund to be refused, got {other:?}"),
    }
    let p = customer.get_purchase(bought.purchase_id).await?;
    eyre::ensure!(
        PurchaseStatus::from(p.status) != PurchaseStatus::Refunded,
        "refunded after t deliveries"
    );
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_killed_and_restarted_delivers_exactly_once() -> eyre::Result<()> {
    let mut stack = Stack::start_with(|c| {
        c.keeper_knobs = vec![
            KeeperKnobs {
                fail_after: Some(FailPoint::DeliveryIntentRecorded),
                ..Default::default()
            },
            KeeperKnobs {
                fail_after: Some(FailPoint::DeliverySent),
                ..Default::default()
            },
        ];
    })
    .await?;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 500, None)?;
    let pseudo = work.join("pseudo.csv");
    let published = stack
        .publish(&input, phd(10), &[Purpose::Research], &pseudo)
        .await?;
    let id = U256::from(published.dataset_id);
    let customer = stack.devnet.customer_client().await?;
    let bought = customer.purchase(id, Purpose::Research, phd(10)).await?;

    // Both faulty keepers die at their fail point during this purchase.
    for i in 0..2 {
        let stopped = stack.devnet.keepers[i].wait_stopped(KEEPER_TIMEOUT).await?;
        eyre::ensure!(stopped, "keeper {i} did not hit its fail point");
    }
    // Restart with the same data directories, without the fault.
    for i in 0..2 {
        let k = &mut stack.devnet.keepers[i];
        k.config.fail_after = None;
        k.start().await?;
    }
    wait_deliveries(&customer, bought.purchase_id, 5).await?;
    let deliveries = customer
        .share_deliveries(bought.purchase_id, BlockRange::all())
        .await?;
    for k in &stack.devnet.keepers {
        let n = deliveries
            .iter()
            .filter(|l| l.event.keeper == k.address)
            .count();
        eyre::ensure!(n == 1, "keeper {} delivered {n} times", k.index);
    }
    // Give the restarted keepers another full poll round; still exactly once.
    let block = customer.block_number().await?;
    phd_e2e::stack::wait_for(
        "keepers past the purchase block",
        KEEPER_TIMEOUT,
        || async {
            let mut all = true;
            for k in &stack.devnet.keepers[..2] {
                let s = phd_keeper::local_status(k.data_dir())?;
                all &= s.cursor_block.is_some_and(|c| c > block);
            }
            Ok(all.then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = customer
        .share_deliveries(bought.purchase_id, BlockRange::all())
        .await?;
    eyre::ensure!(again.len() == 5, "{} deliveries", again.len());
    let out = work.join("out.csv");
    stack.retrieve(bought.purchase_id, &out).await??;
    eyre::ensure!(
        std::fs::read(&out)? == std::fs::read(&pseudo)?,
        "plaintext differs"
    );
    stack.stop().await;
    Ok(())
}

/// Issue 10 (Sybil keepers): automatic keeper choice never puts two keepers of one host in a
/// dataset, and draws by stake, so keepers registered first with the minimum stake are not the
/// default choice any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sybil_keepers_are_not_chosen_by_default() -> eyre::Result<()> {
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 200, None)?;
    let ctx = stack.user_ctx().await?;
    let mut args = phd_user::publish::PublishArgs::new(&input, phd(1), vec![Purpose::Research]);
    args.threshold = 2;
    args.keepers_n = 2;
    args.ack_timeout = KEEPER_TIMEOUT;

    // Every devnet keeper listens on 127.0.0.1: one operator host, so at most one of them may be
    // chosen and publishing with two refuses before anything is uploaded or published.
    let count_before = d.user_client().await?.dataset_count().await?;
    let e = phd_user::publish::publish(&ctx, &args, None, None)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("published on one host"))?;
    eyre::ensure!(
        e.to_string().contains("distinct hosts") && e.to_string().contains("on 1 hosts"),
        "{e}"
    );
    eyre::ensure!(
        d.user_client().await?.dataset_count().await? == count_before,
        "a dataset was published"
    );

    // Keepers 0..=2 (registered first) keep the minimum stake; 3 and 4 bond far more. Counting
    // each keeper as its own host (local devnet), the stake-weighted draw picks 3 and 4
    // (a minimum-stake keeper is drawn with probability below 0.1 %).
    let deployer = d.deployer_client().await?;
    for i in [3usize, 4] {
        let k = d.client(&d.accounts.keepers[i]).await?;
        deployer.transfer_coin(k.address(), phd(400_000)).await?;
        k.add_stake(phd(400_000)).await?;
    }
    args.allow_shared_hosts = true;
    let r = phd_user::publish::publish(&ctx, &args, None, None).await?;
    let mut chosen: Vec<_> = r.keepers.iter().map(|k| k.address).collect();
    chosen.sort();
    let mut expected = vec![d.keepers[3].address, d.keepers[4].address];
    expected.sort();
    eyre::ensure!(
        chosen == expected,
        "chose {chosen:?}, expected the heavily staked {expected:?}"
    );
    eyre::ensure!(
        r.keepers.iter().all(|k| k.stake_phd.starts_with("400")),
        "stakes shown {:?}",
        r.keepers
    );

    // An explicit set of minimum-stake keepers is allowed but warned about.
    args.keepers = vec![d.keepers[0].address, d.keepers[1].address];
    args.allow_shared_hosts = false;
    let r = phd_user::publish::publish(&ctx, &args, None, None).await?;
    eyre::ensure!(
        r.warnings.iter().any(|w| w.contains("little is at risk")),
        "warnings {:?}",
        r.warnings
    );
    eyre::ensure!(
        r.warnings.iter().any(|w| w.contains("one host")),
        "warnings {:?}",
        r.warnings
    );
    stack.stop().await;
    Ok(())
}

/// Issue 10 (delivery economics): a free dataset still escrows threshold × deliveryFee for the
/// keepers; the buyer's app offers exactly that as its maximum price and completes the sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_dataset_pays_the_keepers_delivery_fees() -> eyre::Result<()> {
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 200, None)?;
    let pseudo = work.join("pseudo.csv");
    let published = stack
        .publish(&input, U256::ZERO, &[Purpose::Research], &pseudo)
        .await?;
    let customer = d.customer_client().await?;
    let fee = customer.delivery_fee().await?;
    let ctx = stack.customer_ctx().await?;
    let mut args = phd_customer::buy::BuyArgs::new(
        published.dataset_id,
        Purpose::Research,
        work.join("out.csv"),
    );
    args.retrieve.share_timeout = KEEPER_TIMEOUT;
    let b = phd_customer::buy::buy(&ctx, &args).await?;
    eyre::ensure!(
        b.price_wei == (fee * U256::from(d.threshold)).to_string(),
        "escrowed {} (fee {fee})",
        b.price_wei
    );
    eyre::ensure!(
        std::fs::read(work.join("out.csv"))? == std::fs::read(&pseudo)?,
        "plaintext differs"
    );
    eyre::ensure!(
        b.confirm_tx.is_some(),
        "not confirmed: {:?}",
        b.not_confirmed
    );
    eyre::ensure!(
        b.settled_owner_wei
            .as_deref()
            .map(|o| o.parse::<U256>())
            .transpose()?
            .unwrap_or_default()
            < fee,
        "owner took the fees"
    );
    stack.stop().await;
    Ok(())
}
