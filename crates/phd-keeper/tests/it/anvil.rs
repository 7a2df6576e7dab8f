//! The keeper against real contracts on anvil: uploads, deliveries, crashes, erasure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::Duration;

use alloy::primitives::U256;
use common::*;
use phd_chain::{BlockRange, ChainError, Purpose, phd};
use phd_keeper::{FailPoint, KeeperError, Misbehaviour};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_statuses_and_acknowledgement() {
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        keepers.push(start_keeper(keeper_config(&c, &c.roles.keepers[i], d.path())).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let ds = publish(&owner, &addrs, 2, phd(1)).await;
    let k = &keepers[1];
    let key = owner.node(k.address).await.unwrap().encryptionKey;
    let good = ds.shares[1].to_bytes();

    // malformed JSON → 400
    let r = reqwest::Client::new()
        .put(format!("{}/v1/shares/{}", k.url, ds.id))
        .header("content-type", "application/json")
        .body("{\"chain_id\": 1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // unrecoverable signature → 401
    let mut body = upload_body(
        &c.deployment,
        &key,
        ds.id,
        2,
        good.as_slice(),
        &owner_signer,
    );
    body["signature"] = serde_json::json!(format!("0x{}", "00".repeat(65)));
    assert_eq!(put(&k.url, ds.id, &body).await.0, 401);

    // signed by an account that is not the owner → 403
    let body = upload_body(
        &c.deployment,
        &key,
        ds.id,
        2,
        good.as_slice(),
        &c.roles.customer,
    );
    assert_eq!(put(&k.url, ds.id, &body).await.0, 403);

    // wrong share value for index 2 → 422 and no acknowledgement
    let mut bad = ds.shares[1].to_bytes();
    bad[1..].copy_from_slice(&ds.shares[0].to_bytes()[1..]);
    let body = upload_body(&c.deployment, &key, ds.id, 2, bad.as_slice(), &owner_signer);
    let (st, reply) = put(&k.url, ds.id, &body).await;
    assert_eq!(st, 422, "{reply}");
    assert!(!owner.has_acknowledged(ds.id, k.address).await.unwrap());

    // happy path → 200, acknowledged on-chain; re-PUT is idempotent
    let body = upload_body(
        &c.deployment,
        &key,
        ds.id,
        2,
        good.as_slice(),
        &owner_signer,
    );
    let (st, reply) = put(&k.url, ds.id, &body).await;
    assert_eq!(st, 200, "{reply}");
    assert_eq!(reply["acknowledged"], true);
    assert!(owner.has_acknowledged(ds.id, k.address).await.unwrap());
    let (st, reply2) = put(&k.url, ds.id, &body).await;
    assert_eq!(st, 200);
    assert_eq!(reply2["tx_hash"], reply["tx_hash"]);
    let acks = owner
        .acknowledgements(Some(ds.id), Some(k.address), BlockRange::all())
        .await
        .unwrap();
    assert_eq!(acks.len(), 1);

    // keeper 0 is not share index 2 → 403
    let key0 = owner.node(keepers[0].address).await.unwrap().encryptionKey;
    let body = upload_body(
        &c.deployment,
        &key0,
        ds.id,
        2,
        good.as_slice(),
        &owner_signer,
    );
    assert_eq!(put(&keepers[0].url, ds.id, &body).await.0, 403);

    let health: serde_json::Value = reqwest::get(format!("{}/health", k.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["shares"], 1);
    assert_eq!(health["chain_id"], c.deployment.chain_id);
    // Registered with the minimum stake (100 PHD), shown in /health.
    assert_eq!(health["stake"], phd(100).to_string());
    assert_eq!(owner.stake_of(k.address).await.unwrap().amount, phd(100));
    assert!(owner.is_keeper(k.address).await.unwrap());
    let metrics = reqwest::get(format!("{}/metrics", k.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("phd_keeper_acks_total 1"), "{metrics}");
    for k in keepers {
        k.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_is_delivered_once_per_keeper() {
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let buyer = client(&c, &c.roles.customer).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        keepers.push(start_keeper(keeper_config(&c, &c.roles.keepers[i], d.path())).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let ds = publish(&owner, &addrs, 2, phd(1)).await;
    upload_all(&owner, &owner_signer, &keepers, &ds).await;
    let p = buyer
        .purchase(ds.id, Purpose::Research, phd(1))
        .await
        .unwrap();
    wait_until("three deliveries", 30, || async {
        buyer
            .share_deliveries(p.purchase_id, BlockRange::all())
            .await
            .map(|v| v.len() == 3)
            .unwrap_or(false)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, k) in keepers.iter().enumerate() {
        let got = deliveries_from(&buyer, p.purchase_id, k.address).await;
        assert_eq!(got.len(), 1, "keeper {i} delivered {} times", got.len());
        assert_eq!(got[0], ds.shares[i]);
        assert!(buyer.has_delivered(p.purchase_id, k.address).await.unwrap());
    }

    // A grant (zero-price access for a validator) takes the same path.
    let validator = client(&c, &c.roles.validator).await;
    let g = owner
        .grant(
            ds.id,
            validator.address(),
            &validator.pubkey64(),
            Purpose::Research,
        )
        .await
        .unwrap();
    wait_until("three grant deliveries", 30, || async {
        validator
            .share_deliveries(g.purchase_id, BlockRange::all())
            .await
            .map(|v| v.len() == 3)
            .unwrap_or(false)
    })
    .await;
    for (i, k) in keepers.iter().enumerate() {
        assert_eq!(
            deliveries_from(&validator, g.purchase_id, k.address).await,
            vec![ds.shares[i].clone()]
        );
        // The event is on-chain before the keeper has processed its receipt: wait for the counter.
        let metrics_url = format!("{}/metrics", k.url);
        wait_until("deliveries_sent_total 2", 30, || async {
            match reqwest::get(&metrics_url).await {
                Ok(r) => r
                    .text()
                    .await
                    .map(|m| m.contains("phd_keeper_deliveries_sent_total 2"))
                    .unwrap_or(false),
                Err(_) => false,
            }
        })
        .await;
    }
    for k in keepers {
        k.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_delivery_delivers_exactly_once() {
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let buyer = client(&c, &c.roles.customer).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let mut cfg = keeper_config(&c, &c.roles.keepers[i], d.path());
        if i == 0 {
            cfg.fail_after = Some(FailPoint::DeliveryIntentRecorded);
        }
        keepers.push(start_keeper(cfg).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let ds = publish(&owner, &addrs, 2, phd(1)).await;
    upload_all(&owner, &owner_signer, &keepers, &ds).await;
    let p = buyer
        .purchase(ds.id, Purpose::Research, phd(1))
        .await
        .unwrap();

    // Crash 1: intent recorded, nothing sent.
    let k0 = keepers.remove(0);
    let (dir0, addr0) = (k0.dir.clone(), k0.address);
    let r = tokio::time::timeout(Duration::from_secs(30), k0.handle)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            r,
            Err(KeeperError::FailPointHit(FailPoint::DeliveryIntentRecorded))
        ),
        "{r:?}"
    );
    assert!(!buyer.has_delivered(p.purchase_id, addr0).await.unwrap());

    // Crash 2: transaction broadcast (and mined), but not recorded.
    let mut cfg = keeper_config(&c, &c.roles.keepers[0], &dir0);
    cfg.fail_after = Some(FailPoint::DeliverySent);
    let k0 = start_keeper(cfg).await;
    let r = tokio::time::timeout(Duration::from_secs(30), k0.handle)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(r, Err(KeeperError::FailPointHit(FailPoint::DeliverySent))),
        "{r:?}"
    );

    // Clean restart: finds the delivery on-chain, sends nothing more.
    let k0 = start_keeper(keeper_config(&c, &c.roles.keepers[0], &dir0)).await;
    wait_until("keeper 0 delivery", 30, || async {
        buyer
            .has_delivered(p.purchase_id, addr0)
            .await
            .unwrap_or(false)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = deliveries_from(&buyer, p.purchase_id, addr0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0], ds.shares[0]);
    let by_keeper = buyer
        .deliveries_by_keeper(addr0, BlockRange::all())
        .await
        .unwrap();
    assert_eq!(by_keeper.len(), 1);
    k0.stop().await.unwrap();
    let st = phd_keeper::local_status(&dir0).unwrap();
    assert_eq!(st.deliveries.values().sum::<u64>(), 1);
    assert_eq!(st.deliveries.get("already_delivered"), Some(&1), "{st:?}");
    for k in keepers {
        k.stop().await.unwrap();
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawal_erases_share_and_confirms() {
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        keepers.push(start_keeper(keeper_config(&c, &c.roles.keepers[i], d.path())).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let ds = publish(&owner, &addrs, 2, phd(1)).await;
    upload_all(&owner, &owner_signer, &keepers, &ds).await;

    // What each keeper holds at rest (its sealed row) and the plaintext share.
    let mut secrets = Vec::new();
    for (i, k) in keepers.iter().enumerate() {
        let db = rusqlite::Connection::open(k.dir.join(phd_keeper::DB_FILE)).unwrap();
        let sealed: Vec<u8> = db
            .query_row(
                "SELECT sealed FROM shares WHERE dataset_id = ?1",
                [ds.id.to_string()],
                |r| r.get(0),
            )
            .unwrap();
        secrets.push((sealed, ds.shares[i].to_bytes()[1..].to_vec()));
    }

    owner.withdraw_consent(ds.id).await.unwrap();
    let reg = owner.data_registry();
    for k in &keepers {
        wait_until("erasure confirmation", 30, || async {
            reg.hasConfirmedErasure(ds.id, k.address)
                .call()
                .await
                .unwrap_or(false)
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, k) in keepers.iter().enumerate() {
        let ev = owner
            .erasures(Some(ds.id), Some(k.address), BlockRange::all())
            .await
            .unwrap();
        assert_eq!(ev.len(), 1, "keeper {i} confirmed {} times", ev.len());
        for f in [phd_keeper::DB_FILE, "keeper.db-wal", "keeper.db-shm"] {
            let bytes = std::fs::read(k.dir.join(f)).unwrap_or_default();
            assert!(!contains(&bytes, &secrets[i].0), "sealed share left in {f}");
            assert!(!contains(&bytes, &secrets[i].1), "plaintext share in {f}");
        }
        let h: serde_json::Value = reqwest::get(format!("{}/health", k.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(h["shares"], 0);
    }
    // A withdrawn dataset refuses uploads.
    let key = owner.node(keepers[0].address).await.unwrap().encryptionKey;
    let body = upload_body(
        &c.deployment,
        &key,
        ds.id,
        1,
        ds.shares[0].to_bytes().as_slice(),
        &owner_signer,
    );
    assert_eq!(put(&keepers[0].url, ds.id, &body).await.0, 410);
    for k in keepers {
        k.stop().await.unwrap();
    }
    let _ = U256::ZERO;
}

fn revert_name(e: &ChainError) -> String {
    e.revert()
        .map(|r| r.name())
        .unwrap_or_else(|| format!("not a revert: {e}"))
}

/// A keeper that delivers a wrong share (test fault) is proven wrong by the buyer on-chain:
/// slashed half the minimum stake to the buyer, its delivery no longer counts and is not paid.
/// A stale delivery log and a dispute of a correct share are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_share_is_disputed_and_the_keeper_slashed() {
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let buyer = client(&c, &c.roles.customer).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let mut cfg = keeper_config(&c, &c.roles.keepers[i], d.path());
        if i == 0 {
            cfg.misbehave = Some(Misbehaviour::WrongShare);
        }
        keepers.push(start_keeper(cfg).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let ds = publish(&owner, &addrs, 2, phd(1)).await;
    upload_all(&owner, &owner_signer, &keepers, &ds).await;
    let p = buyer
        .purchase(ds.id, Purpose::Research, phd(1))
        .await
        .unwrap();
    let pid = p.purchase_id;
    wait_until("three deliveries", 30, || async {
        buyer
            .share_deliveries(pid, BlockRange::all())
            .await
            .map(|v| v.len() == 3)
            .unwrap_or(false)
    })
    .await;
    // Every keeper committed before delivering.
    assert_eq!(buyer.commit_state(pid).await.unwrap().committed, 3);

    let evs = buyer
        .share_deliveries(pid, BlockRange::all())
        .await
        .unwrap();
    let sk = buyer_key(&buyer);
    let commitments = commitments_of_purchase(&buyer, pid).await;
    let bad = evs
        .iter()
        .find(|e| e.event.keeper == keepers[0].address)
        .unwrap()
        .event
        .clone();
    let good = evs
        .iter()
        .find(|e| e.event.keeper == keepers[1].address)
        .unwrap()
        .event
        .clone();
    let bad_ctx = delivery_ctx(&c.deployment, pid, bad.shareIndex);
    let err = phd_keys::open_delivery(&sk, &bad.payload, &bad_ctx, &commitments).unwrap_err();
    assert!(
        matches!(err, phd_keys::KeyError::ShareVerification { .. }),
        "{err:?}"
    );
    let proof = phd_keys::prove_dispute(&sk, &bad.payload, &bad_ctx)
        .unwrap()
        .to_bytes();
    let log = buyer.delivery_log(pid).await.unwrap();
    assert_eq!(log.len(), 3);
    let me = buyer.pubkey64();

    // A log missing a delivery does not chain to the stored hash.
    let e = buyer
        .dispute(pid, bad.shareIndex, &bad.payload, &me, &log[..2], &proof)
        .await
        .unwrap_err();
    assert_eq!(revert_name(&e), "MarketplaceInvalidDeliveryLog");
    // A correct share cannot be disputed (its proof shows it is right).
    let good_ctx = delivery_ctx(&c.deployment, pid, good.shareIndex);
    let good_proof = phd_keys::prove_dispute(&sk, &good.payload, &good_ctx)
        .unwrap()
        .to_bytes();
    let e = buyer
        .dispute(pid, good.shareIndex, &good.payload, &me, &log, &good_proof)
        .await
        .unwrap_err();
    assert_eq!(revert_name(&e), "MarketplaceFalseDispute");
    // Only the buyer may dispute.
    let e = owner
        .dispute(pid, bad.shareIndex, &bad.payload, &me, &log, &proof)
        .await
        .unwrap_err();
    assert_eq!(revert_name(&e), "MarketplaceNotBuyer");

    let before = buyer.stake_of(keepers[0].address).await.unwrap().amount;
    let (_, slashed) = buyer
        .dispute(pid, bad.shareIndex, &bad.payload, &me, &log, &proof)
        .await
        .unwrap();
    assert_eq!(
        slashed,
        phd(50),
        "BAD_SHARE_SLASH = 50 % of the minimum stake"
    );
    assert_eq!(
        buyer.stake_of(keepers[0].address).await.unwrap().amount,
        before - slashed
    );
    assert_eq!(buyer.credits_of(buyer.address()).await.unwrap(), slashed);
    // Below the minimum stake: ejected from the keeper set.
    assert!(!buyer.is_keeper(keepers[0].address).await.unwrap());
    assert_eq!(buyer.get_purchase(pid).await.unwrap().delivered, 2);
    let disputes = buyer
        .disputes(Some(pid), None, Some(keepers[0].address), BlockRange::all())
        .await
        .unwrap();
    assert_eq!(disputes.len(), 1);
    // Twice is refused.
    let e = buyer
        .dispute(pid, bad.shareIndex, &bad.payload, &me, &log, &proof)
        .await
        .unwrap_err();
    assert_eq!(revert_name(&e), "MarketplaceNotDisputable");

    // Two good shares remain: the purchase settles, the cheater is not among the paid keepers.
    let (_, settlement) = buyer.confirm(pid).await.unwrap();
    assert_eq!(settlement.unwrap().keeper_count, 2);
    assert_eq!(
        buyer.credits_of(keepers[0].address).await.unwrap(),
        U256::ZERO
    );
    for k in keepers {
        k.stop().await.unwrap();
    }
}

/// A keeper that committed and then never delivered (crashed for good) makes the purchase fail;
/// after the deadline the buyer slashes it (10 % of the minimum stake, credited to the buyer)
/// and takes the refund. The keeper that did deliver cannot be slashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_keeper_that_never_delivers_is_slashed() {
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let buyer = client(&c, &c.roles.customer).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let mut cfg = keeper_config(&c, &c.roles.keepers[i], d.path());
        if i == 0 {
            cfg.fail_after = Some(FailPoint::DeliveryIntentRecorded);
        }
        keepers.push(start_keeper(cfg).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let ds = publish(&owner, &addrs, 2, phd(1)).await;
    upload_all(&owner, &owner_signer, &keepers, &ds).await;
    let p = buyer
        .purchase(ds.id, Purpose::Research, phd(1))
        .await
        .unwrap();
    let pid = p.purchase_id;
    let k0 = keepers.remove(0);
    let addr0 = k0.address;
    let r = tokio::time::timeout(Duration::from_secs(30), k0.handle)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            r,
            Err(KeeperError::FailPointHit(FailPoint::DeliveryIntentRecorded))
        ),
        "{r:?}"
    );
    let addr1 = keepers[0].address;
    wait_until("keeper 1 delivery", 30, || async {
        buyer.has_delivered(pid, addr1).await.unwrap_or(false)
    })
    .await;
    assert!(buyer.has_committed(pid, addr0).await.unwrap());
    assert!(!buyer.has_delivered(pid, addr0).await.unwrap());

    // Not before the deadline.
    let e = buyer.slash_non_delivery(pid, addr0).await.unwrap_err();
    assert_eq!(revert_name(&e), "MarketplaceRefundNotYetAllowed");
    buyer.increase_time(3601).await.unwrap();
    let e = buyer.slash_non_delivery(pid, addr1).await.unwrap_err();
    assert_eq!(revert_name(&e), "MarketplaceNotSlashable");
    let (_, amount) = buyer.slash_non_delivery(pid, addr0).await.unwrap();
    assert_eq!(
        amount,
        phd(10),
        "NON_DELIVERY_SLASH = 10 % of the minimum stake"
    );
    assert_eq!(buyer.stake_of(addr0).await.unwrap().amount, phd(90));
    let e = buyer.slash_non_delivery(pid, addr0).await.unwrap_err();
    assert_eq!(revert_name(&e), "MarketplaceNotSlashable");
    let (_, refunded) = buyer.refund(pid).await.unwrap();
    assert_eq!(refunded, phd(1));
    assert_eq!(buyer.credits_of(buyer.address()).await.unwrap(), amount);
    for k in keepers {
        k.stop().await.unwrap();
    }
}

/// anvil `evm_snapshot`/`evm_revert` as a reorg: a purchase is mined and served, the chain goes
/// back before it, and another buyer's purchase takes its id. The keepers rewind, serve the new
/// purchase exactly once each, and the vanished one is not served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_replacing_a_purchase_is_served_once_on_the_new_branch() {
    use alloy::providers::Provider;
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        keepers.push(start_keeper(keeper_config(&c, &c.roles.keepers[i], d.path())).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let addrs: Vec<_> = keepers.iter().map(|k| k.address).collect();
    let ds = publish(&owner, &addrs, 2, phd(1)).await;
    upload_all(&owner, &owner_signer, &keepers, &ds).await;

    let snapshot: U256 = owner
        .provider()
        .raw_request("evm_snapshot".into(), ())
        .await
        .unwrap();
    let first = client(&c, &c.roles.customer).await;
    let p = first
        .purchase(ds.id, Purpose::Research, phd(1))
        .await
        .unwrap();
    wait_until("three deliveries before the reorg", 30, || async {
        first
            .share_deliveries(p.purchase_id, BlockRange::all())
            .await
            .map(|v| v.len() == 3)
            .unwrap_or(false)
    })
    .await;
    let reverted: bool = owner
        .provider()
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .unwrap();
    assert!(reverted);
    assert!(
        first
            .share_deliveries(p.purchase_id, BlockRange::all())
            .await
            .unwrap()
            .is_empty()
    );

    let second = client(&c, &c.roles.validator).await;
    let q = second
        .purchase(ds.id, Purpose::Research, phd(1))
        .await
        .unwrap();
    assert_eq!(
        q.purchase_id, p.purchase_id,
        "the id is re-used on the new branch"
    );
    wait_until("three deliveries after the reorg", 60, || async {
        second
            .share_deliveries(q.purchase_id, BlockRange::all())
            .await
            .map(|v| v.len() == 3)
            .unwrap_or(false)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (i, k) in keepers.iter().enumerate() {
        assert_eq!(
            deliveries_from(&second, q.purchase_id, k.address).await,
            vec![ds.shares[i].clone()],
            "keeper {i}"
        );
    }
    for k in keepers {
        k.stop().await.unwrap();
    }
}
