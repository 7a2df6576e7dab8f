//! The owner's flows that need no local state (listings, sales, earnings, consent withdrawal,
//! erasure status), shared by the `phd-user` CLI and the web page.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use phd_chain::bindings::marketplace::Marketplace;
use phd_chain::{BlockRange, DatasetStatus, EventLog, PurchaseStatus, Purpose, format_phd};
use serde::Serialize;

use crate::ctx::{ClientCtx, id_u64};
use crate::error::{Result, SdkError};
use crate::util::parse_s3_uri;

const NO_STORE: &str =
    "no S3 bucket configured (set --s3-bucket / PHD_S3_BUCKET and the AWS_* variables)";

/// One row of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetRow {
    pub dataset_id: u64,
    pub status: String,
    pub title: Option<String>,
    pub price_wei: String,
    pub price_phd: String,
    pub purposes: Vec<String>,
    pub acknowledged: u8,
    pub keepers: u8,
    pub threshold: u8,
    pub erasures: u8,
    pub sales: usize,
    pub grants: usize,
    /// Certified by the DataRegistry rule (≥ MIN_CERTIFICATIONS passing, independent certificates).
    pub certified: bool,
    /// Aggregate (mean) score of every certificate, when there is one.
    pub certified_score_bps: Option<u16>,
    /// Certificates recorded / counted towards certification.
    pub certifications: u64,
    pub certifications_counted: u64,
    pub storage_uri: String,
}

/// My datasets (from `Published` events of the owner + current on-chain state).
pub async fn list(ctx: &ClientCtx) -> Result<Vec<DatasetRow>> {
    let owner = ctx.me();
    let published = ctx
        .chain
        .published_datasets(Some(owner), BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading published datasets", e))?;
    let purchases = ctx
        .chain
        .purchases(None, None, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading purchases", e))?;
    let grants = ctx
        .chain
        .grants(None, None, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading grants", e))?;
    let mut rows = Vec::new();
    for p in published {
        let id = p.event.datasetId;
        let d = ctx
            .chain
            .dataset(id)
            .await
            .map_err(|e| SdkError::chain("reading a dataset", e))?;
        let summary = ctx
            .chain
            .certification_summary(id)
            .await
            .map_err(|e| SdkError::chain("reading the certification summary", e))?;
        let title = serde_json::from_slice::<serde_json::Value>(&p.event.metadata)
            .ok()
            .and_then(|m| m.get("title").and_then(|t| t.as_str()).map(str::to_string));
        rows.push(DatasetRow {
            dataset_id: id_u64(id),
            status: DatasetStatus::from(d.status).to_string(),
            title,
            price_wei: d.price.to_string(),
            price_phd: format_phd(d.price),
            purposes: purpose_names(d.purposes),
            acknowledged: d.acknowledged,
            keepers: d.keeperCount,
            threshold: d.threshold,
            erasures: d.erasures,
            sales: purchases.iter().filter(|x| x.event.datasetId == id).count(),
            grants: grants.iter().filter(|x| x.event.datasetId == id).count(),
            certified: summary.certified,
            certified_score_bps: (!summary.count.is_zero()).then_some(summary.aggregate_score_bps),
            certifications: id_u64(summary.count),
            certifications_counted: id_u64(summary.counted),
            storage_uri: d.storageUri,
        });
    }
    Ok(rows)
}

/// One row of `sales`.
#[derive(Debug, Clone, Serialize)]
pub struct SaleRow {
    pub purchase_id: u64,
    pub dataset_id: u64,
    /// `purchase` or `grant`.
    pub kind: String,
    pub buyer: Address,
    pub purpose: String,
    pub price_wei: String,
    pub price_phd: String,
    /// Unix seconds.
    pub created_at: u64,
    pub status: String,
    pub shares_delivered: u8,
    pub tx_hash: Option<String>,
    /// What the owner was credited when it settled.
    pub owner_amount_wei: Option<String>,
    /// Reads of the object through the owner's gateway (`None` when no access log was given;
    /// [`crate::access::attach_access`]).
    pub access: Option<crate::access::AccessSummary>,
}

/// Who bought (and who was granted) my datasets, optionally one dataset only.
pub async fn sales(ctx: &ClientCtx, dataset: Option<u64>) -> Result<Vec<SaleRow>> {
    let owner = ctx.me();
    let mine: Vec<U256> = ctx
        .chain
        .published_datasets(Some(owner), BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading published datasets", e))?
        .into_iter()
        .map(|p| p.event.datasetId)
        .filter(|id| dataset.is_none_or(|d| U256::from(d) == *id))
        .collect();
    if let Some(d) = dataset
        && mine.is_empty()
    {
        return Err(SdkError::Dataset {
            dataset_id: d,
            reason: format!("not published by {owner}"),
        });
    }
    let settlements = ctx
        .chain
        .settlements(None, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading settlements", e))?;
    let mut rows = Vec::new();
    for id in mine {
        let buys = ctx
            .chain
            .purchases(Some(id), None, BlockRange::all())
            .await
            .map_err(|e| SdkError::chain("reading purchases", e))?;
        let grants = ctx
            .chain
            .grants(Some(id), None, BlockRange::all())
            .await
            .map_err(|e| SdkError::chain("reading grants", e))?;
        for SaleEntry {
            purchase_id: pid,
            counterparty: buyer,
            purpose,
            price,
            tx_hash,
            kind,
        } in sale_entries(&buys, &grants)
        {
            let p = ctx
                .chain
                .get_purchase(pid)
                .await
                .map_err(|e| SdkError::chain("reading a purchase", e))?;
            rows.push(SaleRow {
                purchase_id: id_u64(pid),
                dataset_id: id_u64(id),
                kind: kind.to_string(),
                buyer,
                purpose: phd_chain::purpose::purpose_name(purpose),
                price_wei: price.to_string(),
                price_phd: format_phd(price),
                created_at: p.createdAt,
                status: PurchaseStatus::from(p.status).to_string(),
                shares_delivered: p.delivered,
                tx_hash: tx_hash.map(|h| format!("{h:#x}")),
                owner_amount_wei: settlements
                    .iter()
                    .find(|s| s.event.purchaseId == pid)
                    .map(|s| s.event.ownerAmount.to_string()),
                access: None,
            });
        }
    }
    rows.sort_by_key(|r| r.purchase_id);
    Ok(rows)
}

/// Names of the purposes in an on-chain purpose mask.
pub fn purpose_names(mask: U256) -> Vec<String> {
    Purpose::from_mask(mask)
        .iter()
        .map(|p| p.name().to_string())
        .collect()
}

/// A purchase or a grant (a free purchase) of a dataset, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleEntry {
    pub purchase_id: U256,
    /// Buyer or grantee.
    pub counterparty: Address,
    pub purpose: u8,
    /// Zero for a grant.
    pub price: U256,
    pub tx_hash: Option<B256>,
    /// `"purchase"` or `"grant"`.
    pub kind: &'static str,
}

/// Purchases and grants in one list, by purchase id (they share one id space).
pub fn sale_entries(
    buys: &[EventLog<Marketplace::Purchased>],
    grants: &[EventLog<Marketplace::Granted>],
) -> Vec<SaleEntry> {
    let mut out: Vec<SaleEntry> = buys
        .iter()
        .map(|b| SaleEntry {
            purchase_id: b.event.purchaseId,
            counterparty: b.event.buyer,
            purpose: b.event.purpose,
            price: b.event.price,
            tx_hash: b.tx_hash,
            kind: "purchase",
        })
        .chain(grants.iter().map(|g| SaleEntry {
            purchase_id: g.event.purchaseId,
            counterparty: g.event.grantee,
            purpose: g.event.purpose,
            price: U256::ZERO,
            tx_hash: g.tx_hash,
            kind: "grant",
        }))
        .collect();
    out.sort_by_key(|e| e.purchase_id);
    out
}

/// Result of a single transaction command.
#[derive(Debug, Clone, Serialize)]
pub struct TxReport {
    pub operation: String,
    pub tx_hash: String,
    pub gas_used: u64,
    pub block_number: u64,
    /// Amount involved (new price, withdrawn credits), wei.
    pub amount_wei: Option<String>,
    pub amount_phd: Option<String>,
    /// New purchase id (grant).
    pub purchase_id: Option<u64>,
}

impl TxReport {
    pub fn new(op: &str, tx: &phd_chain::TxOutcome, amount: Option<U256>) -> Self {
        TxReport {
            operation: op.to_string(),
            tx_hash: format!("{:#x}", tx.tx_hash),
            gas_used: tx.gas_used,
            block_number: tx.block_number,
            amount_wei: amount.map(|a| a.to_string()),
            amount_phd: amount.map(format_phd),
            purchase_id: None,
        }
    }
}

/// `withdraw`: pull my credits.
pub async fn withdraw_credits(ctx: &ClientCtx) -> Result<TxReport> {
    let (tx, amount) = ctx
        .chain
        .withdraw_credits()
        .await
        .map_err(|e| SdkError::chain("withdrawing credits", e))?;
    Ok(TxReport::new("withdraw", &tx, Some(amount)))
}

/// `price <id> <new>`: the owner changes the price (`DataRegistry.setPrice`; emits
/// `PriceChanged`).
pub async fn set_price(ctx: &ClientCtx, dataset_id: u64, new_price: U256) -> Result<TxReport> {
    let tx = ctx
        .chain
        .set_price(U256::from(dataset_id), new_price)
        .await
        .map_err(|e| SdkError::chain(format!("changing the price of dataset {dataset_id}"), e))?;
    Ok(TxReport::new("setPrice", &tx, Some(new_price)))
}

/// One price a dataset had: the price it was published at, then each `PriceChanged`.
#[derive(Debug, Clone, Serialize)]
pub struct PricePoint {
    pub block_number: Option<u64>,
    pub price_wei: String,
    pub price_phd: String,
    pub tx_hash: Option<String>,
}

/// The price history of a dataset, oldest first, from chain events (`Published`, then
/// `PriceChanged`); empty when no such dataset was published.
pub async fn price_history(ctx: &ClientCtx, dataset_id: u64) -> Result<Vec<PricePoint>> {
    use phd_chain::bindings::data_registry::DataRegistry;
    let id = U256::from(dataset_id);
    let c = &ctx.chain;
    let Some(p) = c
        .published_dataset(id)
        .await
        .map_err(|e| SdkError::chain("reading the listing", e))?
    else {
        return Ok(Vec::new());
    };
    let point = |price: U256, block: Option<u64>, tx: Option<B256>| PricePoint {
        block_number: block,
        price_wei: price.to_string(),
        price_phd: format_phd(price),
        tx_hash: tx.map(|h| format!("{h:#x}")),
    };
    let mut out = vec![point(p.event.price, p.block_number, p.tx_hash)];
    let changes = c
        .events::<DataRegistry::PriceChanged>(
            c.deployment().data_registry,
            [Some(B256::from(id)), None, None],
            BlockRange::all(),
        )
        .await
        .map_err(|e| SdkError::chain("reading price changes", e))?;
    out.extend(
        changes
            .iter()
            .map(|e| point(e.event.newPrice, e.block_number, e.tx_hash)),
    );
    Ok(out)
}

/// Parses a 64-byte public key (x ‖ y) given as hex, optionally `0x` and/or with a `04` prefix.
pub fn parse_pubkey64(s: &str) -> Result<[u8; 64]> {
    let bad = |reason: String| SdkError::InvalidArg {
        arg: "public key",
        reason,
    };
    let bytes = alloy::hex::decode(s.trim().trim_start_matches("0x"))
        .map_err(|e| bad(format!("not hex: {e}")))?;
    let raw = match bytes.len() {
        64 => &bytes[..],
        65 if bytes.first() == Some(&4) => &bytes[1..],
        n => {
            return Err(bad(format!(
                "expected 64 bytes (x‖y) or 65 bytes starting 04, got {n}"
            )));
        }
    };
    let mut out = [0u8; 64];
    out.copy_from_slice(raw);
    Ok(out)
}

/// `grant <id> --to <address> --pubkey <hex> --purpose <p>`: free access for `to`, the shares
/// encrypted to `pubkey`, which must be `to`'s. The owner escrows threshold × deliveryFee for the
/// delivering keepers, shown as the grant's amount.
pub async fn grant(
    ctx: &ClientCtx,
    dataset_id: u64,
    to: Address,
    pubkey: &[u8; 64],
    purpose: Purpose,
) -> Result<TxReport> {
    let derived = phd_chain::address_of_pubkey64(pubkey);
    if derived != to {
        return Err(SdkError::InvalidArg {
            arg: "public key",
            reason: format!("this public key belongs to {derived}, not to {to}"),
        });
    }
    let out = ctx
        .chain
        .grant(U256::from(dataset_id), to, pubkey, purpose)
        .await
        .map_err(|e| SdkError::chain(format!("granting dataset {dataset_id} to {to}"), e))?;
    let mut r = TxReport::new("grant", &out.tx, Some(out.price));
    r.purchase_id = Some(id_u64(out.purchase_id));
    Ok(r)
}

/// Dataset `dataset_id`, refused unless it exists and the acting account owns it.
pub async fn owned_dataset(ctx: &ClientCtx, dataset_id: u64) -> Result<phd_chain::Dataset> {
    let d = ctx
        .chain
        .dataset(U256::from(dataset_id))
        .await
        .map_err(|e| SdkError::chain(format!("reading dataset {dataset_id}"), e))?;
    if DatasetStatus::from(d.status) == DatasetStatus::None {
        return Err(SdkError::Dataset {
            dataset_id,
            reason: "no such dataset".into(),
        });
    }
    if d.owner != ctx.me() {
        return Err(SdkError::Dataset {
            dataset_id,
            reason: format!("owned by {}, not by {}", d.owner, ctx.me()),
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

/// (bucket, key) of an object the owner stores: `s3://bucket/key`, or a gateway URI (the
/// owner's gateway fronts the owner's configured bucket).
fn owned_object(ctx: &ClientCtx, uri: &str) -> Option<(String, String)> {
    parse_s3_uri(uri).or_else(|| {
        let (_, key) = phd_protocol::gateway::parse_gateway_uri(uri)?;
        Some((ctx.store.as_ref()?.bucket().to_owned(), key))
    })
}

/// Whether the dataset's object (and unfinished uploads of it) is still in the configured bucket.
pub async fn storage_state(ctx: &ClientCtx, uri: &str) -> StorageState {
    let mut st = StorageState {
        storage_uri: uri.to_string(),
        object_present: None,
        object_bytes: None,
        incomplete_uploads: None,
        error: None,
    };
    let Some((bucket, key)) = owned_object(ctx, uri) else {
        st.error = Some("neither an s3:// URI nor a gateway URI of the configured bucket".into());
        return st;
    };
    let store = match &ctx.store {
        Some(s) if s.bucket() == bucket => s,
        Some(s) => {
            st.error = Some(format!(
                "object is in bucket {bucket}, configured bucket is {}",
                s.bucket()
            ));
            return st;
        }
        None => {
            st.error = Some(NO_STORE.into());
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
    ctx: &ClientCtx,
    dataset_id: u64,
    wait: Duration,
) -> Result<WithdrawalSummary> {
    let id = U256::from(dataset_id);
    let d = owned_dataset(ctx, dataset_id).await?;
    let (tx_hash, gas_used) = if DatasetStatus::from(d.status) == DatasetStatus::Withdrawn {
        (None, None)
    } else {
        let tx = ctx.chain.withdraw_consent(id).await.map_err(|e| {
            SdkError::chain(format!("withdrawing consent for dataset {dataset_id}"), e)
        })?;
        (Some(format!("{:#x}", tx.tx_hash)), Some(tx.gas_used))
    };

    // Storage: delete the object and abort unfinished multipart uploads for its key.
    let mut object_deleted = false;
    let mut uploads_aborted = 0;
    let mut storage_error = None;
    match (
        owned_object(ctx, &d.storageUri),
        ctx.store.as_ref().ok_or(NO_STORE),
    ) {
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
    // Erasure confirmations (bounded wait).
    let keepers = ctx
        .chain
        .keepers_of(id)
        .await
        .map_err(|e| SdkError::chain("reading keepers", e))?;
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
            .map_err(|e| SdkError::chain("reading dataset", e))?;
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
        .map_err(|e| SdkError::chain("reading purchases", e))?;
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
pub async fn status(ctx: &ClientCtx, dataset_id: u64) -> Result<DatasetStatusReport> {
    let id = U256::from(dataset_id);
    let d = owned_dataset(ctx, dataset_id).await?;
    let keepers = ctx
        .chain
        .keepers_of(id)
        .await
        .map_err(|e| SdkError::chain("reading keepers", e))?;
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
        .map_err(|e| SdkError::chain("reading the certification summary", e))?;
    let storage = storage_state(ctx, &d.storageUri).await;
    Ok(DatasetStatusReport {
        dataset_id,
        owner: d.owner,
        status: DatasetStatus::from(d.status).to_string(),
        price_wei: d.price.to_string(),
        price_phd: format_phd(d.price),
        purposes: purpose_names(d.purposes),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pubkeys() {
        let hex64 = "11".repeat(64);
        assert!(parse_pubkey64(&hex64).is_ok());
        assert!(parse_pubkey64(&format!("0x04{hex64}")).is_ok());
        assert!(
            parse_pubkey64("0x1234")
                .unwrap_err()
                .to_string()
                .contains("64 bytes")
        );
        assert!(parse_pubkey64("zz").is_err());
    }
}
