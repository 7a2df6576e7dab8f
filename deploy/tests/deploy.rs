//! phd-deploy against anvil: the constructor parameters of the trust rules, the wiring
//! (`setMarketplace`, funded reward pool, no minter), reuse of a matching deployment and the
//! admin hand-over.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy::primitives::{Address, U256};
use phd_chain::{AnvilSettings, PhdClient, phd};
use phd_deploy::{DeployConfig, DeployError, deploy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_wired_funded_and_reusable() {
    let settings = AnvilSettings::load_default().unwrap();
    let anvil = phd_chain::spawn_anvil(&settings, 0).unwrap();
    let url = anvil.endpoint();
    let roles = settings.role_signers().unwrap();
    let dir = std::env::temp_dir().join(format!("phd-deploy-test-{}", std::process::id()));
    let path = dir.join("deployment.json");
    let holder = roles.customer.address();
    let admin = Address::repeat_byte(0xAD);
    let cfg = DeployConfig {
        initial_holder: Some(holder),
        admin: Some(admin),
        min_certifications: 2,
        ..Default::default()
    };

    let first = deploy(&url, roles.deployer.clone(), &cfg, Some(&path), false)
        .await
        .unwrap();
    assert!(!first.reused);
    let d = first.deployment.clone();
    let c = PhdClient::connect(&url, roles.deployer.clone(), d.clone())
        .await
        .unwrap();

    // Parameters as configured.
    assert_eq!(c.min_stake().await.unwrap(), phd(100));
    assert_eq!(c.unbonding_delay().await.unwrap(), 7 * 86_400);
    assert_eq!(c.delivery_fee().await.unwrap(), phd(1));
    assert_eq!(c.min_certifications().await.unwrap(), 2);
    assert_eq!(
        c.keeper_registry().marketplace().call().await.unwrap(),
        d.marketplace
    );
    // The second slasher (series disputes) is wired too.
    assert_eq!(
        c.keeper_registry().seriesMarket().call().await.unwrap(),
        d.series_market
    );
    // The reward pool is funded from the supply; the holder gets the rest; nothing can be minted.
    assert_eq!(c.reward_pool().await.unwrap(), phd(10_000));
    assert_eq!(
        c.balance_of(holder).await.unwrap(),
        phd(1_000_000) - phd(10_000)
    );
    assert_eq!(
        c.balance_of(roles.deployer.address()).await.unwrap(),
        U256::ZERO
    );
    assert_eq!(c.coin().cap().call().await.unwrap(), phd(1_000_000));
    let minter = c.coin().MINTER_ROLE().call().await.unwrap();
    assert!(
        !c.coin()
            .hasRole(minter, d.data_registry)
            .call()
            .await
            .unwrap()
    );
    // The admin hand-over started; the deployer stays in charge until the admin accepts.
    assert_eq!(
        c.coin()
            .pendingDefaultAdmin()
            .call()
            .await
            .unwrap()
            .newAdmin,
        admin
    );
    assert_eq!(
        c.keeper_registry().pendingOwner().call().await.unwrap(),
        admin
    );
    assert_eq!(
        c.keeper_registry().owner().call().await.unwrap(),
        roles.deployer.address()
    );
    let p = d.params.clone().unwrap();
    assert_eq!(
        (p.min_stake, p.delivery_fee, p.min_certifications),
        (phd(100), phd(1), 2)
    );

    // Re-running reuses the matching deployment (its code compared with the artifacts).
    let again = deploy(&url, roles.deployer.clone(), &cfg, Some(&path), false)
        .await
        .unwrap();
    assert!(again.reused);
    assert!(again.transactions.is_empty());
    assert_eq!(again.deployment, d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refuses_configurations_the_contracts_would_revert_on() {
    // An unbonding delay shorter than delivery + confirmation would let a node leave before its
    // purchases close: refused before anything is sent (the URL is never contacted).
    let cfg = DeployConfig {
        unbonding_delay: 3600,
        ..Default::default()
    };
    let err = deploy(
        "http://127.0.0.1:1",
        alloy::signers::local::PrivateKeySigner::random(),
        &cfg,
        None,
        true,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DeployError::InvalidConfig(ref m) if m.contains("unbonding")),
        "{err}"
    );
    for bad in [
        DeployConfig {
            min_stake: U256::ZERO,
            ..Default::default()
        },
        DeployConfig {
            min_certifications: 0,
            ..Default::default()
        },
        DeployConfig {
            delivery_window: 1,
            ..Default::default()
        },
        DeployConfig {
            reward_budget: phd(2_000_000),
            ..Default::default()
        },
        DeployConfig {
            supply_cap: Some(phd(1)),
            ..Default::default()
        },
        // Two release windows (release + dispute) must fit in the unbonding delay.
        DeployConfig {
            release_window: 4 * 86_400,
            ..Default::default()
        },
    ] {
        assert!(
            matches!(bad.validate(), Err(DeployError::InvalidConfig(_))),
            "{bad:?}"
        );
    }
    assert!(DeployConfig::default().validate().is_ok());
}

/// The SeriesMarket as deployed, through the typed client: a series with three staked keepers,
/// appends, a back-filled subscription, one batched release per keeper and segment, settlement
/// at the threshold-th release, cancel, and reverts decoded into named errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_market_through_the_client() {
    use phd_chain::{
        NodeRole, Purpose, ReleaseItem, SegmentParams, SeriesParams, keys::sign_key_proof,
    };

    let settings = AnvilSettings::load_default().unwrap();
    let anvil = phd_chain::spawn_anvil(&settings, 0).unwrap();
    let url = anvil.endpoint();
    let roles = settings.role_signers().unwrap();
    let cfg = DeployConfig {
        initial_holder: Some(roles.customer.address()),
        ..Default::default()
    };
    let d = deploy(&url, roles.deployer.clone(), &cfg, None, true)
        .await
        .unwrap()
        .deployment;
    assert_ne!(d.series_market, Address::ZERO);
    assert_ne!(d.series_certification, Address::ZERO);
    let customer = PhdClient::connect(&url, roles.customer.clone(), d.clone())
        .await
        .unwrap();
    let owner = PhdClient::connect(&url, roles.user.clone(), d.clone())
        .await
        .unwrap();

    let mut keepers = Vec::new();
    for signer in roles.keepers.iter().take(3) {
        customer
            .transfer_coin(signer.address(), phd(100))
            .await
            .unwrap();
        let k = PhdClient::connect(&url, signer.clone(), d.clone())
            .await
            .unwrap();
        let secret: [u8; 32] = signer.to_bytes().into();
        let proof =
            sign_key_proof(&secret, k.key_proof_digest(k.address()).await.unwrap()).unwrap();
        let key = phd_chain::pubkey_compressed(signer);
        k.register_node(
            NodeRole::Keeper,
            &key,
            "http://127.0.0.1:1",
            phd(100),
            &proof,
        )
        .await
        .unwrap();
        keepers.push(k);
    }

    let params = SeriesParams {
        keepers: keepers.iter().map(PhdClient::address).collect(),
        threshold: 2,
        purposes: vec![Purpose::Research],
        price_per_segment: phd(2),
        metadata_hash: alloy::primitives::B256::repeat_byte(1),
        consent_terms_hash: alloy::primitives::B256::repeat_byte(2),
    };
    let (_, series_id) = owner.create_series(&params).await.unwrap();
    let segment = |seq: u64| SegmentParams {
        seq,
        content_root: alloy::primitives::B256::repeat_byte(seq as u8 + 10),
        commitments: vec![
            phd_chain::random_compressed_point(),
            phd_chain::random_compressed_point(),
        ],
        uri: format!("s3://bucket/series/{seq}"),
        metadata_hash: alloy::primitives::B256::ZERO,
    };
    let first = segment(0);
    owner.append_segment(series_id, &first).await.unwrap();
    owner.append_segment(series_id, &segment(1)).await.unwrap();
    // A replayed seq is refused with a named error.
    let err = owner.append_segment(series_id, &first).await.unwrap_err();
    assert_eq!(
        err.revert().map(|r| r.name()).as_deref(),
        Some("SeriesMarketWrongSeq"),
        "{err}"
    );
    let stored = customer
        .segment_commitments_hash(series_id, 0)
        .await
        .unwrap();
    assert_eq!(stored, phd_chain::commitments_hash(&first.commitments));
    let events = customer
        .appended_segments(series_id, phd_chain::BlockRange::all())
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        phd_chain::split_commitments(&events[0].event.commitments).unwrap(),
        first.commitments
    );

    // Back-filled from segment 0, four segments.
    let sub = customer
        .subscribe_series(series_id, 0, 4, phd(2), Purpose::Research)
        .await
        .unwrap();
    assert_eq!(sub.escrow, phd(8));
    let sid: u64 = sub.subscription_id.to();
    for k in &keepers[..2] {
        let items: Vec<ReleaseItem> = (0..2)
            .map(|seq| ReleaseItem {
                subscription_id: sid,
                seq,
                payload: vec![7u8; 113].into(),
            })
            .collect();
        let (_, r) = k.release_shares(series_id, &items).await.unwrap();
        assert_eq!(r.released, 2);
    }
    let s = customer.subscription(sub.subscription_id).await.unwrap();
    assert_eq!(s.charged, 2);
    let released = customer
        .released_shares(sub.subscription_id, Some(1), phd_chain::BlockRange::all())
        .await
        .unwrap();
    assert_eq!(released.len(), 2);
    // Keeper fee 10 % of 2 PHD split between the two releasers; the owner gets the rest.
    assert_eq!(
        customer
            .series_credit_of(keepers[0].address())
            .await
            .unwrap(),
        phd(2) * U256::from(2) / U256::from(20)
    );
    assert_eq!(
        customer.series_credit_of(owner.address()).await.unwrap(),
        phd(2) * U256::from(2) * U256::from(9) / U256::from(10)
    );
    let (_, refunded) = customer
        .cancel_subscription(sub.subscription_id)
        .await
        .unwrap();
    assert_eq!(refunded, phd(4));
    let err = customer
        .cancel_subscription(sub.subscription_id)
        .await
        .unwrap_err();
    assert_eq!(
        err.revert().map(|r| r.name()).as_deref(),
        Some("SeriesMarketAlreadyCancelled"),
        "{err}"
    );
    let (_, paid) = owner.withdraw_series_credits().await.unwrap();
    assert_eq!(
        paid,
        phd(2) * U256::from(2) * U256::from(9) / U256::from(10)
    );
}
