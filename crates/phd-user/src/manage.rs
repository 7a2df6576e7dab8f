//! `list`, `sales`, `price`, `withdraw`, `grant`.

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, DatasetStatus, PurchaseStatus, Purpose, format_phd};
use serde::Serialize;

use crate::ctx::{UserCtx, id_u64};
use crate::error::{Result, UserError};

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
pub async fn list(ctx: &UserCtx) -> Result<Vec<DatasetRow>> {
    let owner = ctx.owner();
    let published = ctx
        .chain
        .published_datasets(Some(owner), BlockRange::all())
        .await
        .map_err(|e| UserError::chain("reading published datasets", e))?;
    let purchases = ctx
        .chain
        .purchases(None, None, BlockRange::all())
        .await
        .map_err(|e| UserError::chain("reading purchases", e))?;
    let grants = ctx
        .chain
        .grants(None, None, BlockRange::all())
        .await
        .map_err(|e| UserError::chain("reading grants", e))?;
    let mut rows = Vec::new();
    for p in published {
        let id = p.event.datasetId;
        let d = ctx
            .chain
            .dataset(id)
            .await
            .map_err(|e| UserError::chain("reading a dataset", e))?;
        let summary = ctx
            .chain
            .certification_summary(id)
            .await
            .map_err(|e| UserError::chain("reading the certification summary", e))?;
        let title = serde_json::from_slice::<serde_json::Value>(&p.event.metadata)
            .ok()
            .and_then(|m| m.get("title").and_then(|t| t.as_str()).map(str::to_string));
        rows.push(DatasetRow {
            dataset_id: id_u64(id),
            status: DatasetStatus::from(d.status).to_string(),
            title,
            price_wei: d.price.to_string(),
            price_phd: format_phd(d.price),
            purposes: Purpose::from_mask(d.purposes)
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
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
}

/// Who bought (and who was granted) my datasets, optionally one dataset only.
pub async fn sales(ctx: &UserCtx, dataset: Option<u64>) -> Result<Vec<SaleRow>> {
    let owner = ctx.owner();
    let mine: Vec<U256> = ctx
        .chain
        .published_datasets(Some(owner), BlockRange::all())
        .await
        .map_err(|e| UserError::chain("reading published datasets", e))?
        .into_iter()
        .map(|p| p.event.datasetId)
        .filter(|id| dataset.is_none_or(|d| U256::from(d) == *id))
        .collect();
    if let Some(d) = dataset
        && mine.is_empty()
    {
        return Err(UserError::Dataset {
            dataset_id: d,
            reason: format!("not published by {owner}"),
        });
    }
    let settlements = ctx
        .chain
        .settlements(None, BlockRange::all())
        .await
        .map_err(|e| UserError::chain("reading settlements", e))?;
    let mut rows = Vec::new();
    for id in mine {
        let buys = ctx
            .chain
            .purchases(Some(id), None, BlockRange::all())
            .await
            .map_err(|e| UserError::chain("reading purchases", e))?;
        let grants = ctx
            .chain
            .grants(Some(id), None, BlockRange::all())
            .await
            .map_err(|e| UserError::chain("reading grants", e))?;
        #[allow(clippy::type_complexity)]
        let mut entries: Vec<(U256, Address, u8, U256, Option<String>, &str)> = buys
            .iter()
            .map(|b| {
                (
                    b.event.purchaseId,
                    b.event.buyer,
                    b.event.purpose,
                    b.event.price,
                    b.tx_hash.map(|h| format!("{h:#x}")),
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
                g.tx_hash.map(|h| format!("{h:#x}")),
                "grant",
            )
        }));
        for (pid, buyer, purpose, price, tx_hash, kind) in entries {
            let p = ctx
                .chain
                .get_purchase(pid)
                .await
                .map_err(|e| UserError::chain("reading a purchase", e))?;
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
                tx_hash,
                owner_amount_wei: settlements
                    .iter()
                    .find(|s| s.event.purchaseId == pid)
                    .map(|s| s.event.ownerAmount.to_string()),
            });
        }
    }
    rows.sort_by_key(|r| r.purchase_id);
    Ok(rows)
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
    fn new(op: &str, tx: &phd_chain::TxOutcome, amount: Option<U256>) -> Self {
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

/// `price <id> <new>`.
pub async fn set_price(ctx: &UserCtx, dataset_id: u64, new_price: U256) -> Result<TxReport> {
    let tx = ctx
        .chain
        .set_price(U256::from(dataset_id), new_price)
        .await
        .map_err(|e| UserError::chain(format!("changing the price of dataset {dataset_id}"), e))?;
    Ok(TxReport::new("setPrice", &tx, Some(new_price)))
}

/// `withdraw`: pull my credits.
pub async fn withdraw_credits(ctx: &UserCtx) -> Result<TxReport> {
    let (tx, amount) = ctx
        .chain
        .withdraw_credits()
        .await
        .map_err(|e| UserError::chain("withdrawing credits", e))?;
    Ok(TxReport::new("withdraw", &tx, Some(amount)))
}

/// Parses a 64-byte public key (x ‖ y) given as hex, optionally `0x` and/or with a `04` prefix.
pub fn parse_pubkey64(s: &str) -> Result<[u8; 64]> {
    let bytes =
        hex::decode(s.trim().trim_start_matches("0x")).map_err(|e| UserError::InvalidArg {
            arg: "--pubkey",
            reason: format!("not hex: {e}"),
        })?;
    let raw = match bytes.len() {
        64 => bytes,
        65 if bytes.first() == Some(&4) => bytes[1..].to_vec(),
        n => {
            return Err(UserError::InvalidArg {
                arg: "--pubkey",
                reason: format!("expected 64 bytes (x‖y) or 65 bytes starting 04, got {n}"),
            });
        }
    };
    let mut out = [0u8; 64];
    out.copy_from_slice(&raw);
    Ok(out)
}

/// `grant <id> --to <address> --pubkey <hex> --purpose validation`: free access, shares encrypted
/// to `pubkey`, which must belong to `to`.
pub async fn grant(
    ctx: &UserCtx,
    dataset_id: u64,
    to: Address,
    pubkey: &[u8; 64],
    purpose: Purpose,
) -> Result<TxReport> {
    let derived = phd_chain::address_of_pubkey64(pubkey);
    if derived != to {
        return Err(UserError::InvalidArg {
            arg: "--pubkey",
            reason: format!("this public key belongs to {derived}, not to {to}"),
        });
    }
    let out = ctx
        .chain
        .grant(U256::from(dataset_id), to, pubkey, purpose)
        .await
        .map_err(|e| UserError::chain(format!("granting dataset {dataset_id} to {to}"), e))?;
    // The owner escrows threshold × deliveryFee for the delivering keepers (approved by the
    // client); shown as the grant's amount.
    let mut r = TxReport::new("grant", &out.tx, Some(out.price));
    r.purchase_id = Some(id_u64(out.purchase_id));
    Ok(r)
}

/// Grant my own account access (purpose portability): the way to a copy of my data when the
/// local copy is gone. The grant is fetched like a purchase (`phd_sdk::retrieve`, or
/// `phd-customer retrieve`).
pub async fn grant_to_self(ctx: &UserCtx, dataset_id: u64) -> Result<TxReport> {
    let me = ctx.owner();
    let pk = ctx.chain.pubkey64();
    grant(ctx, dataset_id, me, &pk, Purpose::Portability).await
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
