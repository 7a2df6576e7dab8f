//! GDPR: `withdraw-consent` (Art. 7(3), 17), `status`, `export` (Art. 15, 20).

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use phd_chain::bindings::data_registry::DataRegistry;
use phd_chain::{BlockRange, DatasetStatus, PurchaseStatus, Purpose, format_phd};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ctx::{UserCtx, id_u64, parse_s3_uri};
use crate::error::{Result, UserError};
use crate::export_doc::{
    Delivery, EXPORT_FORMAT, ExportCertification, ExportData, ExportDataset, ExportDoc,
    ExportKeeper, ExportPurchase, LocalInfo, Payout, PriceChange, Refund, Subject, Withdrawal,
};
use crate::util::{now_unix, write_atomic};

/// (purchase id, counterparty, purpose, price, tx, kind)
type Entry<'a> = (U256, Address, u8, U256, Option<B256>, &'a str);

fn tx_str(h: Option<B256>) -> Option<String> {
    h.map(|h| format!("{h:#x}"))
}

async fn owned_dataset(ctx: &UserCtx, dataset_id: u64) -> Result<phd_chain::Dataset> {
    let d = ctx
        .chain
        .dataset(U256::from(dataset_id))
        .await
        .map_err(|e| UserError::chain(format!("reading dataset {dataset_id}"), e))?;
    if DatasetStatus::from(d.status) == DatasetStatus::None {
        return Err(UserError::Dataset {
            dataset_id,
            reason: "no such dataset".into(),
        });
    }
    if d.owner != ctx.owner() {
        return Err(UserError::Dataset {
            dataset_id,
            reason: format!("owned by {}, not by {}", d.owner, ctx.owner()),
        });
    }
    Ok(d)
}

/// Storage state of a dataset's object.
#[derive(Debug, Clone, Serialize)]
pub struct StorageState {
    pub storage_uri: String,
    /// `None` when the object lives in another bucket than the configured one, or S3 is not
    /// configured / reachable (see `error`).
    pub object_present: Option<bool>,
    pub object_bytes: Option<u64>,
    pub incomplete_uploads: Option<usize>,
    pub error: Option<String>,
}

async fn storage_state(ctx: &UserCtx, uri: &str) -> StorageState {
    let mut st = StorageState {
        storage_uri: uri.to_string(),
        object_present: None,
        object_bytes: None,
        incomplete_uploads: None,
        error: None,
    };
    let Some((bucket, key)) = parse_s3_uri(uri) else {
        st.error = Some("not an s3:// URI".into());
        return st;
    };
    let store = match ctx.store() {
        Ok(s) if s.bucket() == bucket => s,
        Ok(s) => {
            st.error = Some(format!(
                "object is in bucket {bucket}, configured bucket is {}",
                s.bucket()
            ));
            return st;
        }
        Err(e) => {
            st.error = Some(e.to_string());
            return st;
        }
    };
    match store.head(&key).await {
        Ok(info) => {
            st.object_present = Some(info.is_some());
            st.object_bytes = info.map(|i| i.len);
        }
        Err(e) => st.error = Some(e.to_string()),
    }
    match store.list_incomplete_uploads(&key).await {
        Ok(u) => st.incomplete_uploads = Some(u.len()),
        Err(e) => st.error = Some(e.to_string()),
    }
    st
}

/// Result of [`withdraw_consent`].
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawalSummary {
    pub dataset_id: u64,
    /// `None` when consent had already been withdrawn (command re-run).
    pub tx_hash: Option<String>,
    pub gas_used: Option<u64>,
    pub object_deleted: bool,
    pub uploads_aborted: usize,
    pub storage_error: Option<String>,
    pub erasures: u8,
    pub keepers: u8,
    /// Keepers that have not confirmed erasure (yet).
    pub missing_erasures: Vec<Address>,
    /// Open purchases that the buyers can now refund.
    pub refundable_purchases: Vec<u64>,
}

/// One command for Art. 7(3)/17: `withdrawConsent` → delete the object and abort unfinished
/// uploads for its key → wait (at most `wait`) for every keeper's `ErasureConfirmed`.
pub async fn withdraw_consent(
    ctx: &UserCtx,
    dataset_id: u64,
    wait: Duration,
) -> Result<WithdrawalSummary> {
    let id = U256::from(dataset_id);
    let d = owned_dataset(ctx, dataset_id).await?;
    let (tx_hash, gas_used) = if DatasetStatus::from(d.status) == DatasetStatus::Withdrawn {
        (None, None)
    } else {
        let tx = ctx.chain.withdraw_consent(id).await.map_err(|e| {
            UserError::chain(format!("withdrawing consent for dataset {dataset_id}"), e)
        })?;
        (Some(format!("{:#x}", tx.tx_hash)), Some(tx.gas_used))
    };

    // Storage: delete the object and abort unfinished multipart uploads for its key.
    let mut object_deleted = false;
    let mut uploads_aborted = 0;
    let mut storage_error = None;
    match (parse_s3_uri(&d.storageUri), ctx.store()) {
        (Some((bucket, key)), Ok(store)) if store.bucket() == bucket => {
            match store.delete(&key).await {
                Ok(()) => object_deleted = true,
                Err(e) => storage_error = Some(format!("deleting {}: {e}", d.storageUri)),
            }
            match store.abort_incomplete_uploads(&key).await {
                Ok(n) => uploads_aborted = n,
                Err(e) => {
                    storage_error = Some(format!("aborting uploads of {}: {e}", d.storageUri))
                }
            }
        }
        (Some((bucket, _)), Ok(store)) => {
            storage_error = Some(format!(
                "object is in bucket {bucket}, configured bucket is {}; not deleted",
                store.bucket()
            ));
        }
        (None, _) => storage_error = Some(format!("storage URI {} is not s3://", d.storageUri)),
        (_, Err(e)) => storage_error = Some(format!("{e}; object {} not deleted", d.storageUri)),
    }
    if object_deleted && let Ok(Some(mut rec)) = ctx.state.find(dataset_id) {
        rec.object_deleted = true;
        let _ = ctx.state.upsert(&rec);
    }

    // Erasure confirmations (bounded wait).
    let keepers = ctx
        .chain
        .keepers_of(id)
        .await
        .map_err(|e| UserError::chain("reading keepers", e))?;
    let pb = ctx.progress.bar(
        Some(keepers.len() as u64),
        "waiting for keepers to confirm erasure",
    );
    let start = Instant::now();
    let mut erasures;
    loop {
        let cur = ctx
            .chain
            .dataset(id)
            .await
            .map_err(|e| UserError::chain("reading dataset", e))?;
        erasures = cur.erasures;
        pb.set_position(u64::from(erasures));
        if usize::from(erasures) >= keepers.len() || start.elapsed() >= wait {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    pb.finish_and_clear();
    let mut missing = Vec::new();
    for k in &keepers {
        let confirmed = ctx
            .chain
            .data_registry()
            .hasConfirmedErasure(id, *k)
            .call()
            .await
            .unwrap_or(false);
        if !confirmed {
            missing.push(*k);
        }
    }
    let mut refundable = Vec::new();
    let buys = ctx
        .chain
        .purchases(Some(id), None, BlockRange::all())
        .await
        .map_err(|e| UserError::chain("reading purchases", e))?;
    for b in buys {
        if let Ok(p) = ctx.chain.get_purchase(b.event.purchaseId).await
            && PurchaseStatus::from(p.status) == PurchaseStatus::Open
        {
            refundable.push(id_u64(b.event.purchaseId));
        }
    }
    Ok(WithdrawalSummary {
        dataset_id,
        tx_hash,
        gas_used,
        object_deleted,
        uploads_aborted,
        storage_error,
        erasures,
        keepers: u8::try_from(keepers.len()).unwrap_or(u8::MAX),
        missing_erasures: missing,
        refundable_purchases: refundable,
    })
}

/// One keeper's state for a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct KeeperState {
    pub address: Address,
    pub share_index: u8,
    pub acknowledged: bool,
    pub erasure_confirmed: bool,
}

/// Result of [`status`].
#[derive(Debug, Clone, Serialize)]
pub struct DatasetStatusReport {
    pub dataset_id: u64,
    pub owner: Address,
    pub status: String,
    pub price_wei: String,
    pub price_phd: String,
    pub purposes: Vec<String>,
    pub threshold: u8,
    pub acknowledged: u8,
    pub erasures: u8,
    pub keeper_count: u8,
    pub published_at: u64,
    pub withdrawn_at: Option<u64>,
    pub content_root: String,
    pub certified: bool,
    /// Certificates recorded / counted, and their aggregate (mean) score.
    pub certifications: u64,
    pub certifications_counted: u64,
    pub certified_score_bps: Option<u16>,
    pub keepers: Vec<KeeperState>,
    pub storage: StorageState,
}

/// On-chain status, acknowledgements, erasure confirmations and storage state of one dataset.
pub async fn status(ctx: &UserCtx, dataset_id: u64) -> Result<DatasetStatusReport> {
    let id = U256::from(dataset_id);
    let d = owned_dataset(ctx, dataset_id).await?;
    let keepers = ctx
        .chain
        .keepers_of(id)
        .await
        .map_err(|e| UserError::chain("reading keepers", e))?;
    let reg = ctx.chain.data_registry();
    let mut ks = Vec::new();
    for (i, k) in keepers.iter().enumerate() {
        ks.push(KeeperState {
            address: *k,
            share_index: u8::try_from(i + 1).unwrap_or(u8::MAX),
            acknowledged: ctx.chain.has_acknowledged(id, *k).await.unwrap_or(false),
            erasure_confirmed: reg
                .hasConfirmedErasure(id, *k)
                .call()
                .await
                .unwrap_or(false),
        });
    }
    let summary = ctx
        .chain
        .certification_summary(id)
        .await
        .map_err(|e| UserError::chain("reading the certification summary", e))?;
    let storage = storage_state(ctx, &d.storageUri).await;
    Ok(DatasetStatusReport {
        dataset_id,
        owner: d.owner,
        status: DatasetStatus::from(d.status).to_string(),
        price_wei: d.price.to_string(),
        price_phd: format_phd(d.price),
        purposes: Purpose::from_mask(d.purposes)
            .iter()
            .map(|p| p.name().to_string())
            .collect(),
        threshold: d.threshold,
        acknowledged: d.acknowledged,
        erasures: d.erasures,
        keeper_count: d.keeperCount,
        published_at: d.publishedAt,
        withdrawn_at: (d.withdrawnAt != 0).then_some(d.withdrawnAt),
        content_root: format!("{:#x}", d.contentRoot),
        certified: summary.certified,
        certifications: id_u64(summary.count),
        certifications_counted: id_u64(summary.counted),
        certified_score_bps: (!summary.count.is_zero()).then_some(summary.aggregate_score_bps),
        keepers: ks,
        storage,
    })
}

fn status_name(s: DatasetStatus) -> String {
    match s {
        DatasetStatus::Pending => "Pending",
        DatasetStatus::Active => "Active",
        DatasetStatus::Withdrawn => "Withdrawn",
        _ => "Pending",
    }
    .to_string()
}

fn purchase_status_name(s: PurchaseStatus) -> String {
    match s {
        PurchaseStatus::Settled => "Settled",
        PurchaseStatus::Refunded => "Refunded",
        _ => "Open",
    }
    .to_string()
}

/// Builds the GDPR export of everything about the owner (see `docs/EXPORT.md`).
/// `with_data` embeds the pseudonymised data from the local copy when it is present.
pub async fn export(ctx: &UserCtx, with_data: bool) -> Result<ExportDoc> {
    let owner = ctx.owner();
    let chain = &ctx.chain;
    let dep = chain.deployment().clone();
    let err = |what: &'static str| move |e: phd_chain::ChainError| UserError::chain(what, e);
    let all = BlockRange::all();

    let published = chain
        .published_datasets(Some(owner), all)
        .await
        .map_err(err("reading published datasets"))?;
    let settlements = chain
        .settlements(None, all)
        .await
        .map_err(err("reading settlements"))?;
    let refunds = chain
        .refunds(None, None, all)
        .await
        .map_err(err("reading refunds"))?;
    let local = ctx.state.load().unwrap_or_default();

    let mut datasets = Vec::new();
    for p in published {
        let id = p.event.datasetId;
        let did = id_u64(id);
        let topic = Some(B256::from(id));
        let d = chain.dataset(id).await.map_err(err("reading a dataset"))?;
        let acks = chain
            .acknowledgements(Some(id), None, all)
            .await
            .map_err(err("reading acknowledgements"))?;
        let erasures = chain
            .erasures(Some(id), None, all)
            .await
            .map_err(err("reading erasure confirmations"))?;
        let certs = chain
            .certifications(Some(id), None, all)
            .await
            .map_err(err("reading certifications"))?;
        let withdrawals = chain
            .consent_withdrawals(Some(id), None, all)
            .await
            .map_err(err("reading consent withdrawals"))?;
        let price_changes = chain
            .events::<DataRegistry::PriceChanged>(dep.data_registry, [topic, None, None], all)
            .await
            .map_err(err("reading price changes"))?;
        let keepers: Vec<ExportKeeper> = p
            .event
            .keepers
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let ack = acks.iter().find(|a| a.event.keeper == *k);
                let er = erasures.iter().find(|a| a.event.keeper == *k);
                ExportKeeper {
                    address: format!("{k:#x}"),
                    share_index: u8::try_from(i + 1).unwrap_or(u8::MAX),
                    acknowledged: ack.is_some(),
                    acknowledged_tx: ack.and_then(|a| tx_str(a.tx_hash)),
                    erasure_confirmed: er.is_some(),
                    erasure_tx: er.and_then(|a| tx_str(a.tx_hash)),
                }
            })
            .collect();

        let mut purchases = Vec::new();
        let buys = chain
            .purchases(Some(id), None, all)
            .await
            .map_err(err("reading purchases"))?;
        let grants = chain
            .grants(Some(id), None, all)
            .await
            .map_err(err("reading grants"))?;
        let mut entries: Vec<Entry<'_>> = buys
            .iter()
            .map(|b| {
                (
                    b.event.purchaseId,
                    b.event.buyer,
                    b.event.purpose,
                    b.event.price,
                    b.tx_hash,
                    "purchase",
                )
            })
            .collect();
        entries.extend(grants.iter().map(|g| {
            (
                g.event.purchaseId,
                g.event.grantee,
                g.event.purpose,
                U256::ZERO,
                g.tx_hash,
                "grant",
            )
        }));
        entries.sort_by_key(|e| e.0);
        for (pid, who, purpose, price, tx, kind) in entries {
            let pu = chain
                .get_purchase(pid)
                .await
                .map_err(err("reading a purchase"))?;
            let deliveries = chain
                .share_deliveries(pid, all)
                .await
                .map_err(err("reading share deliveries"))?;
            purchases.push(ExportPurchase {
                purchase_id: id_u64(pid),
                kind: kind.to_string(),
                counterparty: format!("{who:#x}"),
                purpose: phd_chain::purpose::purpose_name(purpose).replace("purpose #", "purpose-"),
                price_wei: price.to_string(),
                price_phd: format_phd(price),
                created_at: pu.createdAt,
                tx_hash: tx_str(tx),
                status: purchase_status_name(PurchaseStatus::from(pu.status)),
                shares_delivered: pu.delivered,
                deliveries: deliveries
                    .iter()
                    .map(|dl| Delivery {
                        keeper: format!("{:#x}", dl.event.keeper),
                        share_index: dl.event.shareIndex,
                        tx_hash: tx_str(dl.tx_hash),
                    })
                    .collect(),
                payout: settlements
                    .iter()
                    .find(|s| s.event.purchaseId == pid)
                    .map(|s| Payout {
                        owner_amount_wei: s.event.ownerAmount.to_string(),
                        keeper_amount_each_wei: s.event.keeperAmountEach.to_string(),
                        keeper_count: s.event.keeperCount,
                        tx_hash: tx_str(s.tx_hash),
                    }),
                refund: refunds
                    .iter()
                    .find(|r| r.event.purchaseId == pid)
                    .map(|r| Refund {
                        amount_wei: r.event.amount.to_string(),
                        tx_hash: tx_str(r.tx_hash),
                    }),
            });
        }

        let rec = local.iter().find(|r| r.dataset_id == Some(did));
        let data = match (with_data, rec.and_then(|r| r.pseudonymised_file.as_ref())) {
            (true, Some(path)) => read_local_data(path)?,
            _ => None,
        };
        datasets.push(ExportDataset {
            dataset_id: did,
            status: status_name(DatasetStatus::from(d.status)),
            storage_uri: d.storageUri.clone(),
            content_root: format!("{:#x}", d.contentRoot),
            metadata_hash: format!("{:#x}", d.metadataHash),
            metadata: serde_json::from_slice::<serde_json::Value>(&p.event.metadata)
                .ok()
                .filter(serde_json::Value::is_object)
                .unwrap_or(serde_json::Value::Null),
            price_wei: d.price.to_string(),
            price_phd: format_phd(d.price),
            purposes: Purpose::from_mask(d.purposes)
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            consent_terms_hash: format!("{:#x}", d.consentTermsHash),
            threshold: d.threshold,
            published_at: d.publishedAt,
            published_tx: tx_str(p.tx_hash),
            withdrawn_at: (d.withdrawnAt != 0).then_some(d.withdrawnAt),
            withdrawal_tx: withdrawals.first().and_then(|w| tx_str(w.tx_hash)),
            keepers,
            certifications: certs
                .iter()
                .map(|c| ExportCertification {
                    validator: format!("{:#x}", c.event.validator),
                    score_bps: c.event.scoreBps,
                    model_id: format!("{:#x}", c.event.modelId),
                    report_hash: format!("{:#x}", c.event.reportHash),
                    report_uri: c.event.reportUri.clone(),
                    reward_wei: c.event.reward.to_string(),
                    tx_hash: tx_str(c.tx_hash),
                })
                .collect(),
            price_changes: price_changes
                .iter()
                .map(|c| PriceChange {
                    old_price_wei: c.event.oldPrice.to_string(),
                    new_price_wei: c.event.newPrice.to_string(),
                    tx_hash: tx_str(c.tx_hash),
                })
                .collect(),
            purchases,
            local: rec.map(|r| LocalInfo {
                object_key: r.object_key.clone(),
                source_file: r.source_file.display().to_string(),
                pseudonymised_file: r
                    .pseudonymised_file
                    .as_ref()
                    .map(|p| p.display().to_string()),
                object_deleted: r.object_deleted,
            }),
            data,
        });
    }

    let withdrawals = chain
        .withdrawals(Some(owner), all)
        .await
        .map_err(err("reading withdrawals"))?
        .iter()
        .map(|w| Withdrawal {
            amount_wei: w.event.amount.to_string(),
            amount_phd: format_phd(w.event.amount),
            tx_hash: tx_str(w.tx_hash),
            block_number: w.block_number,
        })
        .collect();
    let credits = chain
        .credits_of(owner)
        .await
        .map_err(err("reading credits"))?;
    Ok(ExportDoc {
        format: EXPORT_FORMAT.to_string(),
        generated_at: now_unix(),
        subject: Subject {
            address: format!("{owner:#x}"),
            chain_id: dep.chain_id,
            data_registry: format!("{:#x}", dep.data_registry),
            marketplace: format!("{:#x}", dep.marketplace),
        },
        datasets,
        withdrawals,
        credits_wei: credits.to_string(),
    })
}

fn read_local_data(path: &Path) -> Result<Option<ExportData>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let content = String::from_utf8(bytes.clone()).map_err(|_| UserError::State {
                path: path.to_path_buf(),
                reason: "local copy is not UTF-8 canonical CSV".into(),
            })?;
            Ok(Some(ExportData {
                format: "phd-canonical-csv".into(),
                sha256: format!("0x{}", hex::encode(Sha256::digest(&bytes))),
                content,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UserError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the export to `out` atomically (pretty JSON), after validating it against the schema.
pub fn write_export(doc: &ExportDoc, out: &Path) -> Result<()> {
    let v = serde_json::to_value(doc)?;
    let schema: serde_json::Value = serde_json::from_str(crate::export_doc::EXPORT_SCHEMA)?;
    let errors = crate::export_doc::validate(&schema, &v);
    if !errors.is_empty() {
        return Err(UserError::State {
            path: out.to_path_buf(),
            reason: format!("export fails its schema: {}", errors.join("; ")),
        });
    }
    write_atomic(out, &serde_json::to_vec_pretty(&v)?)
}
