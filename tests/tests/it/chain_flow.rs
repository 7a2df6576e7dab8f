//! Chain-level end-to-end tests against a real anvil: publish → acknowledge → purchase →
//! deliver → settle → withdraw with exact balances, the refund path, and decoded errors.

#![allow(clippy::expect_used, clippy::panic)] // tests

use alloy::primitives::{Address, U256};
use phd_chain::{
    BlockRange, ChainError, ContractRevert, DatasetStatus, PhdClient, PurchaseStatus, Purpose,
    bindings::{
        coin::PHDCoin::PHDCoinErrors, data_registry::DataRegistry::DataRegistryErrors as D,
        keeper_registry::KeeperRegistry::KeeperRegistryErrors,
        marketplace::Marketplace::MarketplaceErrors as M,
    },
    phd,
};
use phd_e2e::{START_PHD, TestChain, publish_sample, sample_params};

const PURPOSES: [Purpose; 2] = [Purpose::Research, Purpose::Validation];

fn revert(r: Result<impl std::fmt::Debug, ChainError>) -> ContractRevert {
    match r {
        Err(ChainError::Revert { revert, .. }) => revert,
        other => panic!("expected a revert, got {other:?}"),
    }
}

async fn bal(c: &PhdClient, a: Address) -> U256 {
    c.balance_of(a).await.expect("balance")
}

#[tokio::test]
async fn publish_purchase_deliver_settle_withdraw() -> eyre::Result<()> {
    let chain = TestChain::start().await?;
    chain.register_nodes().await?;
    let user = chain.user().await?;
    let customer = chain.customer().await?;
    let keepers = chain.keepers().await?;
    let price = phd(100);

    // publish n = 5, t = 3
    let addrs: Vec<Address> = keepers.iter().map(PhdClient::address).collect();
    let params = sample_params(&addrs, 3, price, &PURPOSES);
    let (_, id) = user.publish(&params).await?;
    assert_eq!(id, U256::from(1));
    let ds = user.dataset(id).await?;
    assert_eq!(DatasetStatus::from(ds.status), DatasetStatus::Pending);
    assert_eq!(ds.owner, user.address());
    assert_eq!((ds.threshold, ds.keeperCount), (3, 5));
    assert_eq!(user.keepers_of(id).await?, addrs);
    assert_eq!(user.commitments_of(id).await?, params.commitments);
    assert_eq!(user.share_index_of(id, addrs[2]).await?, 3);
    let published = user.published_dataset(id).await?.expect("Published event");
    assert_eq!(published.event.metadata, params.metadata);
    assert_eq!(published.event.owner, user.address());
    assert_eq!(
        user.published_datasets(Some(user.address()), BlockRange::all())
            .await?
            .len(),
        1
    );

    // 3 acknowledgements activate it
    for (i, k) in keepers.iter().take(3).enumerate() {
        let (_, ack) = k.acknowledge_share(id).await?;
        assert_eq!(ack.share_index as usize, i + 1);
        assert_eq!(ack.acknowledged as usize, i + 1);
        assert_eq!(ack.activated, i == 2);
    }
    assert_eq!(
        DatasetStatus::from(user.dataset(id).await?.status),
        DatasetStatus::Active
    );
    assert_eq!(
        user.acknowledgements(Some(id), None, BlockRange::all())
            .await?
            .len(),
        3
    );

    // purchase (approve + purchase)
    let market = chain.deployment.marketplace;
    let bought = customer.purchase(id, Purpose::Research, price).await?;
    assert!(bought.approve.is_some());
    assert_eq!(bought.price, price);
    assert_eq!(
        bal(&customer, customer.address()).await,
        phd(START_PHD) - price
    );
    assert_eq!(bal(&customer, market).await, price);
    assert_eq!(customer.open_escrow().await?, price);
    let pid = bought.purchase_id;
    let seen = keepers[0]
        .purchases(Some(id), None, BlockRange::all())
        .await?;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].event.buyerPubKey.as_ref(),
        customer.pubkey64().as_slice()
    );
    assert_eq!(seen[0].event.purpose, Purpose::Research.id());

    // issue 10: no delivery before t = 3 keepers committed; then 3 deliveries
    let r = revert(keepers[0].deliver_share(pid, b"too early").await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceNotEnoughCommitments(_))
        ),
        "{r:?}"
    );
    for k in keepers.iter().take(3) {
        k.commit(pid).await?;
    }
    assert_eq!(customer.commit_state(pid).await?.committed, 3);
    for (i, k) in keepers.iter().take(3).enumerate() {
        let (_, delivered) = k
            .deliver_share(pid, format!("encrypted share {}", i + 1).as_bytes())
            .await?;
        assert_eq!(delivered as usize, i + 1);
    }
    let deliveries = customer.share_deliveries(pid, BlockRange::all()).await?;
    assert_eq!(deliveries.len(), 3);
    assert_eq!(deliveries[1].event.payload.as_ref(), b"encrypted share 2");
    assert_eq!(deliveries[1].event.shareIndex, 2);

    // confirm settles: fee 10 % split among 3 deliverers, owner takes the rest (incl. dust)
    let (_, settled) = customer.confirm(pid).await?;
    let s = settled.expect("confirm settles");
    let fee = price * U256::from(chain.config.keeper_fee_bps) / U256::from(10_000);
    let each = fee / U256::from(3);
    assert_eq!(s.keeper_count, 3);
    assert_eq!(s.keeper_amount_each, each);
    assert_eq!(s.owner_amount, price - each * U256::from(3));
    assert_eq!(
        PurchaseStatus::from(customer.get_purchase(pid).await?.status),
        PurchaseStatus::Settled
    );
    assert_eq!(customer.open_escrow().await?, U256::ZERO);
    assert_eq!(customer.total_credits().await?, price);
    assert_eq!(customer.credits_of(user.address()).await?, s.owner_amount);
    assert_eq!(customer.credits_of(addrs[3]).await?, U256::ZERO);
    assert_eq!(
        customer
            .settlements(Some(pid), BlockRange::all())
            .await?
            .len(),
        1
    );

    // withdraw
    let (_, got) = user.withdraw_credits().await?;
    assert_eq!(got, s.owner_amount);
    // The listing bond stays deposited while the listing is open.
    assert_eq!(
        bal(&user, user.address()).await,
        phd(START_PHD) + s.owner_amount - user.listing_bond().await?
    );
    for k in keepers.iter().take(3) {
        let (_, got) = k.withdraw_credits().await?;
        assert_eq!(got, each);
        assert_eq!(bal(k, k.address()).await, each);
    }
    assert_eq!(bal(&user, market).await, U256::ZERO);
    assert_eq!(customer.total_credits().await?, U256::ZERO);
    assert_eq!(
        bal(&customer, customer.address()).await,
        phd(START_PHD) - price
    );
    // a keeper that did not deliver has nothing
    let r = revert(keepers[4].withdraw_credits().await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceNothingToWithdraw(_))
        ),
        "{r:?}"
    );
    let w = user
        .withdrawals(Some(user.address()), BlockRange::all())
        .await?;
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].event.amount, s.owner_amount);

    // a second purchase with an EIP-2612 permit instead of an approval
    let bought = customer
        .purchase_with_permit(id, Purpose::Validation, price)
        .await?;
    assert_eq!(bought.price, price);
    assert_eq!(bal(&customer, market).await, price);
    assert_eq!(
        customer
            .purchases(None, Some(customer.address()), BlockRange::all())
            .await?
            .len(),
        2
    );
    Ok(())
}

#[tokio::test]
async fn too_few_shares_refund_after_deadline() -> eyre::Result<()> {
    let chain = TestChain::start().await?;
    chain.register_nodes().await?;
    let user = chain.user().await?;
    let customer = chain.customer().await?;
    let keepers = chain.keepers().await?;
    let price = phd(40);
    let id = publish_sample(&user, &keepers, 5, 3, price, &PURPOSES, 3).await?;

    let bought = customer.purchase(id, Purpose::Research, phd(50)).await?;
    assert_eq!(bought.price, price);
    let pid = bought.purchase_id;
    for k in keepers.iter().take(3) {
        k.commit(pid).await?;
    }
    for k in keepers.iter().take(2) {
        k.deliver_share(pid, b"share").await?;
    }
    // not yet: the delivery window is open
    let r = revert(customer.refund(pid).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceRefundNotYetAllowed(_))
        ),
        "{r:?}"
    );
    // settling needs the threshold
    let r = revert(customer.settle(pid).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceThresholdNotReached(_))
        ),
        "{r:?}"
    );
    assert!(r.to_string().contains("has 2 of 3 required shares"), "{r}");

    chain
        .increase_time(chain.config.delivery_window + 1)
        .await?;
    // too late for the third keeper
    let r = revert(keepers[2].deliver_share(pid, b"late").await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceDeliveryClosed(_))
        ),
        "{r:?}"
    );
    let (_, amount) = customer.refund(pid).await?;
    assert_eq!(amount, price);
    assert_eq!(bal(&customer, customer.address()).await, phd(START_PHD));
    assert_eq!(
        bal(&customer, chain.deployment.marketplace).await,
        U256::ZERO
    );
    assert_eq!(
        PurchaseStatus::from(customer.get_purchase(pid).await?.status),
        PurchaseStatus::Refunded
    );
    assert_eq!(customer.credits_of(keepers[0].address()).await?, U256::ZERO);
    let refunds = customer
        .refunds(None, Some(customer.address()), BlockRange::all())
        .await?;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].event.amount, price);
    // a purchase ends exactly once
    let r = revert(customer.refund(pid).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplacePurchaseNotOpen(_))
        ),
        "{r:?}"
    );
    // issue 10: the keeper that committed and did not deliver is slashed to the buyer, once;
    // a keeper that delivered is not slashable
    let (_, slashed) = customer
        .slash_non_delivery(pid, keepers[2].address())
        .await?;
    assert!(slashed > U256::ZERO);
    assert_eq!(customer.credits_of(customer.address()).await?, slashed);
    let r = revert(customer.slash_non_delivery(pid, keepers[2].address()).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceNotSlashable(_))
        ),
        "{r:?}"
    );
    let r = revert(customer.slash_non_delivery(pid, keepers[0].address()).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceNotSlashable(_))
        ),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test]
async fn reverts_decode_from_call_estimate_and_mined_tx() -> eyre::Result<()> {
    let chain = TestChain::start().await?;
    chain.register_nodes().await?;
    let user = chain.user().await?;
    let customer = chain.customer().await?;
    let keepers = chain.keepers().await?;
    let price = phd(100);
    let active = publish_sample(&user, &keepers, 5, 3, price, &PURPOSES, 3).await?;
    let pending = publish_sample(&user, &keepers, 5, 3, price, &PURPOSES, 1).await?;

    // price above maxPrice (gas estimation of the sent transaction)
    let r = revert(customer.purchase(active, Purpose::Research, phd(50)).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplacePriceAboveMax(_))
        ),
        "{r:?}"
    );
    assert_eq!(r.to_string(), "price 100 PHD is above your maximum 50 PHD");

    // purpose not consented
    let r = revert(customer.purchase(active, Purpose::Commercial, price).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplacePurposeNotConsented(_))
        ),
        "{r:?}"
    );
    assert!(
        r.to_string()
            .contains("did not consent to purpose commercial"),
        "{r}"
    );

    // dataset not active
    let r = revert(customer.purchase(pending, Purpose::Research, price).await);
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceDatasetNotActive(_))
        ),
        "{r:?}"
    );
    assert!(
        r.to_string().contains("is not for sale (status: pending)"),
        "{r}"
    );

    // insufficient PHD: the manufacturer account holds none
    let poor = chain.client(&chain.roles.manufacturer).await?;
    let r = revert(poor.purchase(active, Purpose::Research, price).await);
    match &r {
        ContractRevert::Marketplace(M::MarketplaceInsufficientBalance(e)) => {
            assert_eq!(
                (e.buyer, e.balance, e.price),
                (poor.address(), U256::ZERO, price)
            );
        }
        other => panic!("expected MarketplaceInsufficientBalance, got {other:?}"),
    }
    assert!(r.to_string().starts_with("declined:"), "{r}");

    // the same refusal through a plain eth_call
    let m = poor.marketplace();
    let call = m
        .purchase(
            active,
            poor.pubkey64().to_vec().into(),
            Purpose::Research.id(),
            price,
        )
        .from(poor.address());
    let err = call.call().await.expect_err("eth_call must revert");
    let r = revert(Err::<(), _>(ChainError::from_contract(
        "purchase",
        poor.rpc_url(),
        err,
    )));
    assert!(
        matches!(
            r,
            ContractRevert::Marketplace(M::MarketplaceInsufficientBalance(_))
        ),
        "{r:?}"
    );

    // a transaction mined with status 0 (gas limit given, so no estimate): the reason is replayed
    let call = m
        .purchase(
            active,
            poor.pubkey64().to_vec().into(),
            Purpose::Research.id(),
            price,
        )
        .gas(400_000);
    let res = phd_chain::send_call(&poor.send_ctx(), "purchase", &call).await;
    match res {
        Err(ChainError::Revert {
            revert, tx_hash, ..
        }) => {
            assert!(tx_hash.is_some(), "mined");
            assert!(
                matches!(
                    revert,
                    ContractRevert::Marketplace(M::MarketplaceInsufficientBalance(_))
                ),
                "{revert:?}"
            );
        }
        other => panic!("expected a mined revert, got {other:?}"),
    }

    // inherited OpenZeppelin errors
    let r = revert(poor.transfer_coin(user.address(), phd(1)).await);
    assert!(
        matches!(
            r,
            ContractRevert::Coin(PHDCoinErrors::ERC20InsufficientBalance(_))
        ),
        "{r:?}"
    );
    let r = revert(user.approve_manufacturer(user.address(), "me").await);
    assert!(
        matches!(
            r,
            ContractRevert::KeeperRegistry(KeeperRegistryErrors::OwnableUnauthorizedAccount(_))
        ),
        "{r:?}"
    );
    let coin = user.coin();
    let mint = coin.mint(user.address(), phd(1));
    let r = revert(phd_chain::send_call(&user.send_ctx(), "mint", &mint).await);
    assert!(
        matches!(
            r,
            ContractRevert::Coin(PHDCoinErrors::AccessControlUnauthorizedAccount(_))
        ),
        "{r:?}"
    );

    // transport: nothing listening
    let dead = PhdClient::connect(
        "http://127.0.0.1:9",
        chain.roles.user.clone(),
        chain.deployment.clone(),
    )
    .await;
    match dead {
        Err(e @ ChainError::Unreachable { .. }) => {
            assert!(e.to_string().contains("http://127.0.0.1:9"), "{e}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn deploy_is_idempotent_and_detects_stale_files() -> eyre::Result<()> {
    let chain = TestChain::start().await?;
    let dir = std::env::temp_dir().join(format!("phd-e2e-deploy-{}", std::process::id()));
    let path = dir.join("31337.json");
    let cfg = phd_deploy::DeployConfig::default();
    let first = phd_deploy::deploy(
        &chain.rpc_url,
        chain.roles.deployer.clone(),
        &cfg,
        Some(&path),
        false,
    )
    .await?;
    assert!(!first.reused);
    let again = phd_deploy::deploy(
        &chain.rpc_url,
        chain.roles.deployer.clone(),
        &cfg,
        Some(&path),
        false,
    )
    .await?;
    assert!(again.reused);
    assert_eq!(again.deployment, first.deployment);
    let forced = phd_deploy::deploy(
        &chain.rpc_url,
        chain.roles.deployer.clone(),
        &cfg,
        Some(&path),
        true,
    )
    .await?;
    assert!(!forced.reused);
    assert_ne!(forced.deployment.coin, first.deployment.coin);
    // a file pointing at addresses without the right code is redeployed
    let mut stale = forced.deployment.clone();
    stale.marketplace = stale.coin;
    stale.save(&path)?;
    let fresh = phd_deploy::deploy(
        &chain.rpc_url,
        chain.roles.deployer.clone(),
        &cfg,
        Some(&path),
        false,
    )
    .await?;
    assert!(!fresh.reused);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// Issue 10: an owner that registers (and stakes) as a validator, grants itself access and
/// certifies its own dataset earns nothing: the certificate is refused by name, the reward pool
/// and the owner's balance are untouched.
#[tokio::test]
async fn self_certification_is_refused() -> eyre::Result<()> {
    let chain = TestChain::start().await?;
    chain.register_nodes().await?;
    let user = chain.user().await?;
    let keepers = chain.keepers().await?;
    let id = publish_sample(&user, &keepers, 5, 3, phd(10), &PURPOSES, 3).await?;
    phd_e2e::stake_and_register(
        &chain.deployer().await?,
        &user,
        phd_chain::NodeRole::Validator,
        "http://owner-validator.test",
        None,
    )
    .await?;
    // A settled grant to itself, so only the independence rule stands in the way.
    let grant = user
        .grant(id, user.address(), &user.pubkey64(), Purpose::Validation)
        .await?;
    for k in keepers.iter().take(3) {
        k.commit(grant.purchase_id).await?;
    }
    for k in keepers.iter().take(3) {
        k.deliver_share(grant.purchase_id, b"share").await?;
    }
    user.confirm(grant.purchase_id).await?;
    assert!(user.access_granted(id, user.address()).await?);
    let pool = user.reward_pool().await?;
    let balance = bal(&user, user.address()).await;
    let r = revert(
        user.certify(
            id,
            9_500,
            alloy::primitives::B256::repeat_byte(1),
            alloy::primitives::B256::repeat_byte(2),
            "",
        )
        .await,
    );
    assert!(
        matches!(
            r,
            ContractRevert::DataRegistry(D::DataRegistryValidatorNotIndependent(_))
        ),
        "{r:?}"
    );
    assert_eq!(user.reward_pool().await?, pool);
    assert_eq!(bal(&user, user.address()).await, balance);
    assert_eq!(user.certification_summary(id).await?.count, U256::ZERO);
    // A listed keeper of the dataset is not independent either.
    let k0 = &keepers[0];
    let r = revert(
        k0.certify(
            id,
            9_500,
            alloy::primitives::B256::repeat_byte(1),
            alloy::primitives::B256::repeat_byte(2),
            "",
        )
        .await,
    );
    assert!(
        matches!(
            r,
            ContractRevert::DataRegistry(
                D::DataRegistryValidatorNotIndependent(_) | D::DataRegistryNotValidator(_)
            )
        ),
        "{r:?}"
    );
    Ok(())
}
