//! Smoke test of both CLIs' libraries on the devnet stack (anvil, contracts, embedded S3, three
//! in-process keepers, t = 2): publish → browse → buy → sales/list/status → export (schema) →
//! withdraw consent (erasure, object gone) → decoded errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use phd_chain::{Purpose, phd};
use phd_customer::buy::BuyArgs;
use phd_customer::{CustomerCtx, CustomerError};
use phd_devnet::{Devnet, DevnetConfig};
use phd_sdk::SdkError;
use phd_sdk::browse::BrowseFilter;
use phd_user::UserCtx;
use phd_user::publish::PublishArgs;

fn write_csv(path: &std::path::Path, rows: usize) {
    let mut s = String::from("time,acc_x,acc_y,acc_z,name\n");
    for i in 0..rows {
        let t = i as f64 / 50.0;
        s.push_str(&format!(
            "{t:.3},{:.5},{:.5},{:.5},Alice Example\n",
            (t * 3.1).sin(),
            (t * 1.7).cos(),
            9.81
        ));
    }
    std::fs::write(path, s).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_and_buyer_end_to_end() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut cfg = DevnetConfig::for_tests(dir.path().join("devnet"));
    cfg.keepers = 3;
    cfg.threshold = 2;
    let mut devnet = Devnet::start(cfg).await?;
    let store = devnet.store().await?;

    let user = UserCtx::new(
        devnet.user_client().await?,
        Some(store.clone()),
        dir.path().join("user-state"),
    );
    let buyer = CustomerCtx::new(devnet.customer_client().await?, Some(store.clone()));

    // publish
    let input = dir.path().join("walk.csv");
    write_csv(&input, 500);
    let pseudo = dir.path().join("walk.pseudo.csv");
    let mut args = PublishArgs::new(&input, phd(5), vec![Purpose::Research, Purpose::Validation]);
    args.threshold = 2;
    args.keepers_n = 3;
    // Every devnet keeper listens on 127.0.0.1; counting each as its own operator is the local
    // exception to one-keeper-per-host.
    args.allow_shared_hosts = true;
    args.pseudonymised_out = Some(pseudo.clone());
    args.ack_timeout = Duration::from_secs(60);
    let published = phd_user::publish::publish(&user, &args, None, None).await?;
    assert!(published.acknowledged >= 2, "{published:?}");
    assert!(!std::fs::read_to_string(&pseudo)?.contains("Alice"));
    let id = published.dataset_id;

    // browse
    let listings = phd_sdk::browse::browse(
        &buyer,
        &BrowseFilter {
            data_type: Some("accelerometer".into()),
            ..Default::default()
        },
    )
    .await?;
    assert!(listings.iter().any(|l| l.dataset_id == id), "{listings:?}");

    // decoded error: purpose not consented
    let out = dir.path().join("bought.csv");
    let err = phd_customer::buy::buy(&buyer, &BuyArgs::new(id, Purpose::Commercial, &out))
        .await
        .unwrap_err();
    assert!(matches!(err, CustomerError::Chain { .. }), "{err}");
    assert!(err.to_string().to_lowercase().contains("purpose"), "{err}");
    assert!(!out.exists());

    // buy
    let bought = phd_customer::buy::buy(&buyer, &BuyArgs::new(id, Purpose::Research, &out)).await?;
    assert_eq!(std::fs::read(&out)?, std::fs::read(&pseudo)?);
    assert!(bought.confirm_tx.is_some());
    let mine = phd_customer::buy::purchases(&buyer).await?;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, "settled");
    assert!(mine[0].committed >= 2, "{:?}", mine[0]);
    assert!(
        bought.disputes.is_empty() && bought.not_confirmed.is_none(),
        "{bought:?}"
    );

    // S3 tamper: flip a byte of the stored object → clear refusal, nothing written
    let obj = devnet.s3.object_path(&published.object_key);
    let original = std::fs::read(&obj)?;
    let mut altered = original.clone();
    altered[100] ^= 0x01;
    std::fs::write(&obj, &altered)?;
    let out2 = dir.path().join("again.csv");
    let err = phd_sdk::retrieve::retrieve(&buyer, bought.purchase_id, &out2, &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::Tampered { .. }), "{err}");
    assert!(!out2.exists());
    std::fs::write(&obj, &original)?;

    // owner views
    let list = phd_user::manage::list(&user).await?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].sales, 1);
    let sales = phd_user::manage::sales(&user, Some(id)).await?;
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].buyer, buyer.me());
    let w = phd_user::manage::withdraw_credits(&user).await?;
    assert!(w.amount_wei.as_deref() != Some("0"));

    // withdraw consent: erasure confirmations, object gone
    let s = phd_user::gdpr::withdraw_consent(&user, id, Duration::from_secs(30)).await?;
    assert!(s.object_deleted, "{s:?}");
    assert_eq!(s.erasures, 3, "{s:?}");
    let st = phd_user::gdpr::status(&user, id).await?;
    assert_eq!(st.status, "withdrawn");
    assert_eq!(st.storage.object_present, Some(false));
    assert_eq!(st.storage.incomplete_uploads, Some(0));

    // export validates against the schema and has the sale, payout and erasures
    let doc = phd_user::gdpr::export(&user, true).await?;
    let path = dir.path().join("export.json");
    phd_user::gdpr::write_export(&doc, &path)?;
    let d = &doc.datasets[0];
    assert_eq!(d.status, "Withdrawn");
    assert_eq!(d.purchases.len(), 1);
    assert!(d.purchases[0].payout.is_some());
    assert!(
        d.keepers
            .iter()
            .all(|k| k.acknowledged && k.erasure_confirmed)
    );
    assert_eq!(doc.withdrawals.len(), 1);
    assert_eq!(
        d.data.as_ref().map(|x| x.content.as_bytes().to_vec()),
        Some(std::fs::read(&pseudo)?)
    );

    // decoded error: withdrawn dataset
    let err = phd_customer::buy::buy(
        &buyer,
        &BuyArgs::new(id, Purpose::Research, dir.path().join("x.csv")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CustomerError::Chain { .. }), "{err}");

    devnet.shutdown().await;
    Ok(())
}
