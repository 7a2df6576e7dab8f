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
    ] {
        assert!(
            matches!(bad.validate(), Err(DeployError::InvalidConfig(_))),
            "{bad:?}"
        );
    }
    assert!(DeployConfig::default().validate().is_ok());
}
