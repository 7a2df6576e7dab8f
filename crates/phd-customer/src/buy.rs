//! `buy`, `confirm`, `refund`, `purchases`.

use std::path::PathBuf;

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, DatasetStatus, Purpose, PurchaseStatus, format_phd};
use serde::Serialize;

use phd_sdk::SdkError;
use phd_sdk::id_u64;
use phd_sdk::retrieve::{RetrieveOptions, RetrieveOutcome, retrieve};

use crate::CustomerCtx;
use crate::error::{CustomerError, Result};

/// Inputs of [`buy`].
#[derive(Debug, Clone)]
pub struct BuyArgs {
    pub dataset_id: u64,
    pub purpose: Purpose,
    /// Pay at most this (wei); `None` = the current price (a later price rise then reverts).
    pub max_price: Option<U256>,
    /// EIP-2612 permit instead of approve + purchase.
    pub permit: bool,
    /// Where to write the data.
    pub out: PathBuf,
    /// Confirm receipt on-chain after a successful download (settles at once).
    pub confirm: bool,
    pub retrieve: RetrieveOptions,
}

impl BuyArgs {
    /// Defaults: current price as max, approve + purchase, confirm after download.
    pub fn new(dataset_id: u64, purpose: Purpose, out: impl Into<PathBuf>) -> Self {
        BuyArgs { dataset_id, purpose, max_price: None, permit: false, out: out.into(), confirm: true, retrieve: RetrieveOptions::default() }
    }
}

/// Result of [`buy`].
#[derive(Debug, Clone, Serialize)]
pub struct BuyOutcome {
    pub purchase_id: u64,
    pub dataset_id: u64,
    pub price_wei: String,
    pub price_phd: String,
    pub purchase_tx: String,
    pub approve_tx: Option<String>,
    pub gas_used: u64,
    pub retrieved: RetrieveOutcome,
    pub confirm_tx: Option<String>,
    /// Settled at confirmation: owner and per-keeper credit (wei).
    pub settled_owner_wei: Option<String>,
    pub settled_keeper_each_wei: Option<String>,
}

/// Buys `dataset_id` (escrow) → waits for ≥ t shares → reconstructs → downloads, verifies,
/// decrypts → writes `out` atomically → confirms. Failing after payment, the error says the
/// purchase id (refundable after the deadline with `refund`).
pub async fn buy(ctx: &CustomerCtx, args: &BuyArgs) -> Result<BuyOutcome> {
    let id = U256::from(args.dataset_id);
    let max_price = match args.max_price {
        Some(m) => m,
        None => {
            let d = ctx.chain.dataset(id).await.map_err(|e| CustomerError::chain(format!("reading dataset {}", args.dataset_id), e))?;
            if DatasetStatus::from(d.status) == DatasetStatus::None {
                return Err(CustomerError::Dataset { dataset_id: args.dataset_id, reason: "no such dataset".into() });
            }
            d.price
        }
    };
    let pb = ctx.progress.bar(None, format!("buying dataset {}", args.dataset_id));
    let r = if args.permit {
        ctx.chain.purchase_with_permit(id, args.purpose, max_price).await
    } else {
        ctx.chain.purchase(id, args.purpose, max_price).await
    };
    pb.finish_and_clear();
    let po = r.map_err(|e| CustomerError::chain(format!("buying dataset {}", args.dataset_id), e))?;
    let purchase_id = id_u64(po.purchase_id);
    let retrieved = retrieve(ctx, purchase_id, &args.out, &args.retrieve).await.map_err(|e| match e {
        SdkError::NotEnoughShares { .. } | SdkError::Tampered { .. } | SdkError::Reconstruct { .. } => {
            CustomerError::Purchase {
                purchase_id,
                reason: format!("paid (tx {:#x}) but not delivered: {e}; `phd-customer refund {purchase_id}` after the delivery deadline", po.tx.tx_hash),
            }
        }
        other => CustomerError::Sdk(other),
    })?;
    let (confirm_tx, settled) = if args.confirm {
        let (tx, s) = ctx.chain.confirm(po.purchase_id).await.map_err(|e| CustomerError::Confirm {
            purchase_id,
            path: args.out.clone(),
            source: Box::new(e),
        })?;
        (Some(format!("{:#x}", tx.tx_hash)), s)
    } else {
        (None, None)
    };
    Ok(BuyOutcome {
        purchase_id,
        dataset_id: args.dataset_id,
        price_wei: po.price.to_string(),
        price_phd: format_phd(po.price),
        purchase_tx: format!("{:#x}", po.tx.tx_hash),
        approve_tx: po.approve.as_ref().map(|a| format!("{:#x}", a.tx_hash)),
        gas_used: po.tx.gas_used + po.approve.as_ref().map_or(0, |a| a.gas_used),
        retrieved,
        confirm_tx,
        settled_owner_wei: settled.map(|s| s.owner_amount.to_string()),
        settled_keeper_each_wei: settled.map(|s| s.keeper_amount_each.to_string()),
    })
}

/// Result of `confirm` / `refund`.
#[derive(Debug, Clone, Serialize)]
pub struct TxReport {
    pub purchase_id: u64,
    pub tx_hash: String,
    pub gas_used: u64,
    pub amount_wei: Option<String>,
    pub amount_phd: Option<String>,
}

/// Confirms receipt of purchase (or grant) `purchase_id` (settles when ≥ t shares arrived).
pub async fn confirm(ctx: &CustomerCtx, purchase_id: u64) -> Result<TxReport> {
    let (tx, s) = ctx
        .chain
        .confirm(U256::from(purchase_id))
        .await
        .map_err(|e| CustomerError::chain(format!("confirming purchase {purchase_id}"), e))?;
    Ok(TxReport {
        purchase_id,
        tx_hash: format!("{:#x}", tx.tx_hash),
        gas_used: tx.gas_used,
        amount_wei: s.map(|s| s.owner_amount.to_string()),
        amount_phd: s.map(|s| format_phd(s.owner_amount)),
    })
}

/// Full refund (fewer than t shares by the deadline, or consent withdrawn).
pub async fn refund(ctx: &CustomerCtx, purchase_id: u64) -> Result<TxReport> {
    let (tx, amount) = ctx
        .chain
        .refund(U256::from(purchase_id))
        .await
        .map_err(|e| CustomerError::chain(format!("refunding purchase {purchase_id}"), e))?;
    Ok(TxReport {
        purchase_id,
        tx_hash: format!("{:#x}", tx.tx_hash),
        gas_used: tx.gas_used,
        amount_wei: Some(amount.to_string()),
        amount_phd: Some(format_phd(amount)),
    })
}

/// One of my purchases (or grants to me).
#[derive(Debug, Clone, Serialize)]
pub struct PurchaseRow {
    pub purchase_id: u64,
    pub dataset_id: u64,
    /// `purchase` or `grant`.
    pub kind: String,
    pub purpose: String,
    pub price_wei: String,
    pub price_phd: String,
    pub status: String,
    pub delivered: u8,
    pub threshold: u8,
    pub confirmed: bool,
    pub created_at: u64,
    pub delivery_deadline: u64,
    pub tx_hash: Option<String>,
    /// Dataset owner.
    pub seller: Option<Address>,
}

/// My purchases and grants to me, with status.
pub async fn purchases(ctx: &CustomerCtx) -> Result<Vec<PurchaseRow>> {
    let me = ctx.me();
    let buys = ctx.chain.purchases(None, Some(me), BlockRange::all()).await.map_err(|e| CustomerError::chain("reading purchases", e))?;
    let grants = ctx.chain.grants(None, Some(me), BlockRange::all()).await.map_err(|e| CustomerError::chain("reading grants", e))?;
    let mut entries: Vec<(U256, &str, Option<String>)> =
        buys.iter().map(|b| (b.event.purchaseId, "purchase", b.tx_hash.map(|h| format!("{h:#x}")))).collect();
    entries.extend(grants.iter().map(|g| (g.event.purchaseId, "grant", g.tx_hash.map(|h| format!("{h:#x}")))));
    entries.sort_by_key(|e| e.0);
    let mut rows = Vec::new();
    for (pid, kind, tx_hash) in entries {
        let p = ctx.chain.get_purchase(pid).await.map_err(|e| CustomerError::chain("reading a purchase", e))?;
        let seller = ctx.chain.dataset(p.datasetId).await.ok().map(|d| d.owner);
        rows.push(PurchaseRow {
            purchase_id: id_u64(pid),
            dataset_id: id_u64(p.datasetId),
            kind: kind.into(),
            purpose: phd_chain::purpose::purpose_name(p.purpose),
            price_wei: p.price.to_string(),
            price_phd: format_phd(p.price),
            status: PurchaseStatus::from(p.status).to_string(),
            delivered: p.delivered,
            threshold: p.threshold,
            confirmed: p.confirmed,
            created_at: p.createdAt,
            delivery_deadline: p.deliveryDeadline,
            tx_hash,
            seller,
        });
    }
    Ok(rows)
}
