//! Owner accountability on the full local stack (issue 10 item 3): an owner lists an object
//! sealed under another key than the one its keepers' shares reconstruct; the buyer's app proves
//! it on-chain by itself, the buyer gets the price back, the keepers that delivered good shares
//! their normal fee from the listing bond, the buyer and the pool half of the rest each, and the
//! dataset is delisted for good.

use alloy::primitives::U256;
use phd_chain::{DatasetStatus, PurchaseStatus, Purpose, phd};
use phd_e2e::stack::{KEEPER_TIMEOUT, Stack, publish_raw_sealed_under, write_accel_csv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_fraud_buy_proves_it_refunds_slashes_and_delists() -> eyre::Result<()> {
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 300, None)?;
    let price = phd(7);

    // The dishonest listing: honest shares and commitments of one secret, the object sealed under
    // another; the content root is the object's own, so downloading and chunk checks pass.
    let other = phd_keys::DatasetSecret::generate()?;
    let listed =
        publish_raw_sealed_under(d, &input, price, &[Purpose::Research], Some(&other)).await?;
    let id = listed.dataset_id;

    let owner = d.user_client().await?;
    let customer = d.customer_client().await?;
    let bond = owner.listing_bond().await?;
    eyre::ensure!(!bond.is_zero(), "the deployment has no listing bond");
    eyre::ensure!(owner.listing_bond_of(id).await? == bond, "bond not posted");
    let buyer_before = customer.balance_of(customer.address()).await?;
    let pool_before = customer.reward_pool().await?;
    let owner_before = owner.balance_of(owner.address()).await?;
    let mut keeper_credits_before = Vec::new();
    for k in customer.keepers_of(id).await? {
        keeper_credits_before.push((k, customer.credits_of(k).await?));
    }

    // The buyer's app: pays, waits for t verified shares, reconstructs (checked against C0),
    // downloads, finds the object does not open under that key and proves it on its own.
    let ctx = stack.customer_ctx().await?;
    let out = work.join("out.csv");
    let mut args = phd_customer::buy::BuyArgs::new(u64::try_from(id)?, Purpose::Research, &out);
    args.retrieve.share_timeout = KEEPER_TIMEOUT;
    let (purchase_id, refunded_phd, bond_phd) = match phd_customer::buy::buy(&ctx, &args).await {
        Err(phd_customer::CustomerError::OwnerFraudProven {
            purchase_id,
            dataset_id,
            refunded_phd,
            bond_phd,
            ..
        }) => {
            eyre::ensure!(dataset_id == u64::try_from(id)?, "dataset {dataset_id}");
            (purchase_id, refunded_phd, bond_phd)
        }
        other => eyre::bail!("expected the owner's fraud to be proven, got {other:?}"),
    };
    eyre::ensure!(!out.exists(), "data written although it does not open");
    let p = customer.get_purchase(U256::from(purchase_id)).await?;

    // The bond, in order: each keeper whose share counted gets its normal fee (capped by the
    // bond), then half of the rest to the buyer, half to the pool. Owner: nothing back.
    let delivered = U256::from(p.delivered);
    let fee_bps = U256::from(customer.marketplace().keeperFeeBps().call().await?);
    let each = (price * fee_bps / U256::from(10_000u16) / delivered).min(bond / delivered);
    let half = (bond - each * delivered) / U256::from(2u8);
    eyre::ensure!(
        !each.is_zero(),
        "the keepers' fee rounds to nothing: the check is vacuous"
    );
    eyre::ensure!(
        refunded_phd == phd_chain::format_phd(price) && bond_phd == phd_chain::format_phd(half),
        "reported refund {refunded_phd}, bond {bond_phd}"
    );
    let mut paid = U256::ZERO;
    for (k, before) in keeper_credits_before {
        let got = customer.credits_of(k).await? - before;
        let delivered_k = customer.has_delivered(U256::from(purchase_id), k).await?;
        eyre::ensure!(
            got == if delivered_k { each } else { U256::ZERO },
            "keeper {k} (delivered: {delivered_k}) credited {got}"
        );
        paid += got;
    }
    eyre::ensure!(paid == each * delivered, "keepers paid {paid}");
    eyre::ensure!(
        customer.balance_of(customer.address()).await? == buyer_before + half,
        "buyer balance"
    );
    eyre::ensure!(
        customer.reward_pool().await? == pool_before + (bond - each * delivered - half),
        "pool"
    );
    eyre::ensure!(owner.listing_bond_of(id).await?.is_zero(), "bond left");
    eyre::ensure!(
        PurchaseStatus::from(p.status) == PurchaseStatus::Refunded,
        "purchase {:?}",
        PurchaseStatus::from(p.status)
    );
    eyre::ensure!(
        DatasetStatus::from(owner.dataset(id).await?.status) == DatasetStatus::Delisted,
        "dataset not delisted"
    );

    // A new purchase is refused by name, before any money moves.
    let e = customer
        .purchase(id, Purpose::Research, price)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("bought a delisted dataset"))?;
    eyre::ensure!(
        e.revert().map(|r| r.name()).as_deref() == Some("MarketplaceDatasetNotActive"),
        "{e}"
    );
    eyre::ensure!(
        customer.balance_of(customer.address()).await? == buyer_before + half,
        "the refused purchase moved money"
    );

    // The owner cannot take the bond back, neither now nor after withdrawing and waiting out
    // the confirmation window (the path an honest owner uses).
    for attempt in ["delisted", "withdrawn"] {
        let e = owner
            .reclaim_listing_bond(id)
            .await
            .err()
            .ok_or_else(|| eyre::eyre!("bond reclaimed ({attempt})"))?;
        eyre::ensure!(
            e.revert().map(|r| r.name()).as_deref() == Some("DataRegistryNoListingBond"),
            "{attempt}: {e}"
        );
        if attempt == "delisted" {
            owner.withdraw_consent(id).await?;
            let window = d
                .deployment
                .params
                .as_ref()
                .map_or(60, |p| p.confirmation_window);
            d.increase_time(window + 1).await?;
        }
    }
    eyre::ensure!(
        owner.balance_of(owner.address()).await? == owner_before,
        "the owner got PHD back"
    );
    stack.stop().await;
    Ok(())
}
