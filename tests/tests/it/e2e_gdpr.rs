//! GDPR on the full local stack: identifiers never reach a buyer; consent withdrawal closes the
//! listing, refunds open purchases in full, erases every keeper's share (raw database bytes
//! checked), deletes the object; the export lists exactly what happened and validates.

use std::time::Duration;

use alloy::primitives::U256;
use phd_chain::{DatasetStatus, PurchaseStatus, Purpose, phd};
use phd_e2e::stack::{Stack, contains_bytes, files_under, wait_deliveries, write_accel_csv};

/// `(dataset_id, sealed share blob)` rows of a keeper database (read-only, WAL-safe).
fn stored_shares(db: &std::path::Path) -> eyre::Result<Vec<(String, Vec<u8>)>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT dataset_id, sealed FROM shares")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pii_stripped_withdrawal_erases_everything_and_export_is_exact() -> eyre::Result<()> {
    let mut stack = Stack::start().await?;
    let d = &stack.devnet;
    let work = stack.work();
    let pii = [
        "Alice Example",
        "alice@example.org",
        "12 Privet Drive, Little Whinging",
        "SN-00042-XYZ",
    ];
    let input = work.join("with-pii.csv");
    write_accel_csv(&input, 600, Some(pii))?;
    let pseudo = work.join("pseudo.csv");
    let price = phd(7);
    let published = stack
        .publish(&input, price, &[Purpose::Research], &pseudo)
        .await?;
    let id = U256::from(published.dataset_id);
    let user = d.user_client().await?;
    let customer = d.customer_client().await?;

    // Purchase 1: bought, decrypted, confirmed (settled).
    let p1 = customer.purchase(id, Purpose::Research, price).await?;
    wait_deliveries(&customer, p1.purchase_id, d.threshold).await?;
    let out = work.join("bought.csv");
    stack.retrieve(p1.purchase_id, &out).await??;
    let plain = std::fs::read(&out)?;
    eyre::ensure!(
        plain == std::fs::read(&pseudo)?,
        "plaintext differs from pseudonymised input"
    );
    for v in pii {
        eyre::ensure!(
            !contains_bytes(&plain, v.as_bytes()),
            "identifier {v:?} reached the buyer"
        );
    }
    // Parts of the values too (e.g. the e-mail's local part, the serial digits).
    for v in ["alice@", "Privet", "00042"] {
        eyre::ensure!(
            !contains_bytes(&plain, v.as_bytes()),
            "fragment {v:?} reached the buyer"
        );
    }
    customer.confirm(p1.purchase_id).await?;

    // Purchase 2 must still be open (fewer than t shares out) when consent is withdrawn, or
    // the refund is rightly refused. Running keepers deliver within a poll round, so stop
    // n - t + 1 of them first: the two left can commit, but shares are released only once t
    // keepers committed, so nothing is delivered whatever the timing.
    let (keeper_count, threshold) = (d.keepers.len(), usize::from(d.threshold));
    let paused = keeper_count - threshold + 1;
    for k in stack.devnet.keepers.iter_mut().take(paused) {
        k.stop().await?;
    }
    let d = &stack.devnet;
    let cust_before_p2 = customer.balance_of(customer.address()).await?;
    let p2 = customer.purchase(id, Purpose::Research, price).await?;

    // Every keeper holds its (encrypted-at-rest) share now: remember the stored bytes.
    let mut blobs = Vec::new();
    for k in &d.keepers {
        let rows = stored_shares(&k.db_path())?;
        let mine: Vec<Vec<u8>> = rows
            .into_iter()
            .filter(|(ds, _)| ds.trim() == id.to_string())
            .map(|(_, b)| b)
            .collect();
        eyre::ensure!(
            mine.len() == 1,
            "keeper {} holds {} rows for the dataset",
            k.index,
            mine.len()
        );
        blobs.extend(mine.into_iter().map(|b| (k.index, b)));
    }

    // Withdraw consent with the owner's library (waits for erasure confirmations). The paused
    // keepers come back once the withdrawal is on-chain: they must erase and confirm, and must
    // not deliver to the purchase of a withdrawn dataset.
    let ctx = stack.user_ctx().await?;
    let withdrawal =
        phd_user::gdpr::withdraw_consent(&ctx, published.dataset_id, Duration::from_secs(120));
    let restart_paused = async {
        phd_e2e::stack::wait_for("withdrawal on-chain", Duration::from_secs(60), || async {
            Ok((user.dataset(id).await?.withdrawnAt != 0).then_some(()))
        })
        .await?;
        for k in stack.devnet.keepers.iter_mut().take(paused) {
            k.start().await?;
        }
        eyre::Ok(())
    };
    let (summary, restarted) = tokio::join!(withdrawal, restart_paused);
    restarted?;
    let summary = summary?;
    let d = &stack.devnet;
    eyre::ensure!(
        summary.object_deleted,
        "object not deleted: {:?}",
        summary.storage_error
    );
    eyre::ensure!(
        summary.erasures == 5,
        "erasures {}/{} (missing {:?})",
        summary.erasures,
        summary.keepers,
        summary.missing_erasures
    );

    // A new purchase reverts with a decoded error.
    let e = customer
        .purchase(id, Purpose::Research, price)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("purchase after withdrawal succeeded"))?;
    eyre::ensure!(
        e.revert().map(|r| r.name()).as_deref() == Some("MarketplaceDatasetNotActive"),
        "{e}"
    );
    // The open purchase refunds in full, at once.
    let (_, amount) = customer.refund(p2.purchase_id).await?;
    eyre::ensure!(amount == price, "refund {amount}");
    eyre::ensure!(
        customer.balance_of(customer.address()).await? == cust_before_p2,
        "buyer not made whole"
    );

    // Chain: n erasure confirmations.
    let ds = user.dataset(id).await?;
    eyre::ensure!(
        DatasetStatus::from(ds.status) == DatasetStatus::Withdrawn,
        "status"
    );
    eyre::ensure!(ds.erasures == 5, "on-chain erasures {}", ds.erasures);
    let status = phd_user::gdpr::status(&ctx, published.dataset_id).await?;
    eyre::ensure!(
        status.erasures == 5 && status.keeper_count == 5,
        "status {}/{}",
        status.erasures,
        status.keeper_count
    );
    eyre::ensure!(
        status.storage.object_present == Some(false),
        "status says object present"
    );

    // Keepers: no row, and the stored bytes are gone from the database files (incl. -wal/-shm).
    for k in &d.keepers {
        let rows = stored_shares(&k.db_path())?;
        eyre::ensure!(
            rows.iter().all(|(ds, _)| ds.trim() != id.to_string()),
            "keeper {} still has a row",
            k.index
        );
        for f in files_under(k.data_dir()) {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.starts_with(phd_keeper::DB_FILE) {
                continue;
            }
            let raw = std::fs::read(&f)?;
            for (ki, blob) in &blobs {
                eyre::ensure!(
                    !contains_bytes(&raw, blob),
                    "share bytes of keeper {ki} still in {}",
                    f.display()
                );
            }
        }
    }

    // S3: no object and no part for the key.
    let store = d.store().await?;
    eyre::ensure!(
        !store.exists(&published.object_key).await?,
        "object still in S3"
    );
    eyre::ensure!(
        store
            .list_incomplete_uploads(&published.object_key)
            .await?
            .is_empty(),
        "upload parts left"
    );
    eyre::ensure!(
        !d.s3.object_path(&published.object_key).exists(),
        "object file still on disk"
    );

    // Export: exactly the two purchases, right counterparties and amounts; validates.
    let doc = phd_user::gdpr::export(&ctx, false).await?;
    let value = serde_json::to_value(&doc)?;
    let schema: serde_json::Value = serde_json::from_str(phd_user::export_doc::EXPORT_SCHEMA)?;
    let violations = phd_user::export_doc::validate(&schema, &value);
    eyre::ensure!(
        violations.is_empty(),
        "export violates the schema: {violations:?}"
    );
    eyre::ensure!(doc.datasets.len() == 1, "datasets {}", doc.datasets.len());
    let ds = &doc.datasets[0];
    eyre::ensure!(
        ds.status.eq_ignore_ascii_case("withdrawn"),
        "export status {}",
        ds.status
    );
    let purchases: Vec<_> = ds
        .purchases
        .iter()
        .filter(|p| p.kind == "purchase")
        .collect();
    eyre::ensure!(
        purchases.len() == 2,
        "export lists {} purchases",
        purchases.len()
    );
    eyre::ensure!(
        ds.purchases.len() == 2,
        "export lists grants too: {}",
        ds.purchases.len()
    );
    let cust = format!("{:#x}", customer.address());
    for (p, (pid, st)) in purchases.iter().zip([
        (p1.purchase_id, PurchaseStatus::Settled),
        (p2.purchase_id, PurchaseStatus::Refunded),
    ]) {
        eyre::ensure!(
            U256::from(p.purchase_id) == pid,
            "purchase id {}",
            p.purchase_id
        );
        eyre::ensure!(
            p.counterparty.eq_ignore_ascii_case(&cust),
            "counterparty {}",
            p.counterparty
        );
        eyre::ensure!(p.price_wei == price.to_string(), "price {}", p.price_wei);
        eyre::ensure!(
            p.status.eq_ignore_ascii_case(&st.to_string()),
            "status {} != {st}",
            p.status
        );
    }
    eyre::ensure!(
        ds.keepers.iter().all(|k| k.erasure_confirmed),
        "export misses erasures"
    );
    stack.stop().await;
    Ok(())
}
