//! The GDPR export (Art. 15 access, Art. 20 portability) of a data owner, built from the chain:
//! `phd-user export` and the web page's download run this same code.

use std::collections::HashMap;

use alloy::primitives::B256;
use phd_chain::bindings::data_registry::DataRegistry;
use phd_chain::{BlockRange, DatasetStatus, PurchaseStatus, format_phd};

use crate::ctx::{ClientCtx, id_u64};
use crate::error::{Result, SdkError};
use crate::export_doc::{
    Delivery, EXPORT_FORMAT, ExportCertification, ExportData, ExportDataset, ExportDoc,
    ExportKeeper, ExportPurchase, LocalInfo, Payout, PriceChange, Refund, Subject, Withdrawal,
};
use crate::owner::{SaleEntry, sale_entries};

fn tx_str(h: Option<B256>) -> Option<String> {
    h.map(|h| format!("{h:#x}"))
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The export validated against its schema (`docs/export.schema.json`), as pretty JSON.
pub fn to_validated_json(doc: &ExportDoc) -> Result<Vec<u8>, String> {
    let v = serde_json::to_value(doc).map_err(|e| e.to_string())?;
    let schema: serde_json::Value =
        serde_json::from_str(crate::export_doc::EXPORT_SCHEMA).map_err(|e| e.to_string())?;
    let errors = crate::export_doc::validate(&schema, &v);
    if !errors.is_empty() {
        return Err(format!("export fails its schema: {}", errors.join("; ")));
    }
    serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())
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

/// What the owner's app keeps about one dataset on the owner's machine (the chain does not know
/// it): where the local copies are, and the pseudonymised data when it is to be embedded.
#[derive(Debug, Clone, Default)]
pub struct LocalCopy {
    pub info: Option<LocalInfo>,
    pub data: Option<ExportData>,
}

/// Builds the GDPR export of everything about the acting account as a data owner (see
/// `docs/EXPORT.md`); `local` adds what only the owner's machine knows, by dataset id (the
/// `phd-user export` CLI passes its local state; the web page has none).
pub async fn build(ctx: &ClientCtx, local: &HashMap<u64, LocalCopy>) -> Result<ExportDoc> {
    build_with_access(ctx, local, None).await
}

/// [`build`], also listing every request about each dataset in the owner's gateway access log
/// (`access`: its records; per purchase a summary, per dataset every record); with `None` those
/// fields are null.
pub async fn build_with_access(
    ctx: &ClientCtx,
    local: &HashMap<u64, LocalCopy>,
    access: Option<&[crate::access::AccessRecord]>,
) -> Result<ExportDoc> {
    let owner = ctx.me();
    let chain = &ctx.chain;
    let dep = chain.deployment().clone();
    let err = |what: &'static str| move |e: phd_chain::ChainError| SdkError::chain(what, e);
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
                access: access.map(|log| crate::access::summarize(log, did, id_u64(pid))),
            });
        }

        let copy = local.get(&did).cloned().unwrap_or_default();
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
            purposes: crate::owner::purpose_names(d.purposes),
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
            local: copy.info,
            data: copy.data,
            access_log: access.map(|log| {
                let key = crate::access::object_key(&d.storageUri);
                crate::access::dataset_records(log, did, key.as_deref())
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
