//! GDPR: `withdraw-consent` (Art. 7(3), 17), `status`, `export` (Art. 15, 20).

use std::path::Path;
use std::time::Duration;

use alloy::primitives::B256;
use phd_chain::bindings::data_registry::DataRegistry;
use phd_chain::{BlockRange, DatasetStatus, PurchaseStatus, format_phd};
use sha2::{Digest, Sha256};

use crate::ctx::{UserCtx, id_u64};
use crate::error::{Result, UserError};
use crate::export_doc::{
    Delivery, EXPORT_FORMAT, ExportCertification, ExportData, ExportDataset, ExportDoc,
    ExportKeeper, ExportPurchase, LocalInfo, Payout, PriceChange, Refund, Subject, Withdrawal,
};
use crate::util::{now_unix, write_atomic};

fn tx_str(h: Option<B256>) -> Option<String> {
    h.map(|h| format!("{h:#x}"))
}

// Consent withdrawal and erasure status are phd-sdk's (the web page runs the same code).
pub use phd_sdk::owner::{DatasetStatusReport, KeeperState, StorageState, WithdrawalSummary};
use phd_sdk::owner::{SaleEntry, sale_entries};

/// One command for Art. 7(3)/17: `withdrawConsent` → delete the object and abort unfinished
/// uploads for its key → wait (at most `wait`) for every keeper's `ErasureConfirmed`; the local
/// record then notes the object as deleted.
pub async fn withdraw_consent(
    ctx: &UserCtx,
    dataset_id: u64,
    wait: Duration,
) -> Result<WithdrawalSummary> {
    let s = phd_sdk::owner::withdraw_consent(
        &ctx.client().with_progress(ctx.progress),
        dataset_id,
        wait,
    )
    .await?;
    if s.object_deleted
        && let Ok(Some(mut rec)) = ctx.state.find(dataset_id)
    {
        rec.object_deleted = true;
        let _ = ctx.state.upsert(&rec);
    }
    Ok(s)
}

/// On-chain status, acknowledgements, erasure confirmations and storage state of one dataset.
pub async fn status(ctx: &UserCtx, dataset_id: u64) -> Result<DatasetStatusReport> {
    Ok(phd_sdk::owner::status(&ctx.client(), dataset_id).await?)
}

fn status_name(s: DatasetStatus) -> String {
    match s {
        DatasetStatus::Pending => "Pending",
        DatasetStatus::Active => "Active",
        DatasetStatus::Withdrawn => "Withdrawn",
        DatasetStatus::Delisted => "Delisted",
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
    export_with_access(ctx, with_data, None).await
}

/// [`export`], also listing every request about each dataset in the owner's gateway access log
/// at `access_log` (per purchase a summary, per dataset every record); with `None` those fields
/// are null. A missing log file is an empty log; unreadable lines are skipped.
pub async fn export_with_access(
    ctx: &UserCtx,
    with_data: bool,
    access_log: Option<&std::path::Path>,
) -> Result<ExportDoc> {
    let access = match access_log {
        Some(path) => Some(
            phd_sdk::access::read_access_log(path)
                .map_err(|source| UserError::Read {
                    path: path.to_owned(),
                    source,
                })?
                .records,
        ),
        None => None,
    };
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
        for SaleEntry {
            purchase_id: pid,
            counterparty: who,
            purpose,
            price,
            tx_hash: tx,
            kind,
        } in sale_entries(&buys, &grants)
        {
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
                access: access
                    .as_deref()
                    .map(|log| phd_sdk::access::summarize(log, did, id_u64(pid))),
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
            purposes: phd_sdk::owner::purpose_names(d.purposes),
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
            access_log: access.as_deref().map(|log| {
                let key = phd_sdk::access::object_key(&d.storageUri);
                phd_sdk::access::dataset_records(log, did, key.as_deref())
                    .into_iter()
                    .cloned()
                    .collect()
            }),
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
