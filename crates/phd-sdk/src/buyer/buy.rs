//! `buy`, `confirm`, `refund`, `purchases`.

use std::path::PathBuf;

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, DatasetStatus, PurchaseStatus, Purpose, format_phd};
use serde::Serialize;

use crate::id_u64;
use crate::retrieve::{RetrieveOptions, RetrieveOutcome, retrieve};
use crate::{BadShare, SdkError};

use super::dispute::{DisputeReport, dispute_bad_shares};

use super::error::{BuyerError, Result};
use crate::ClientCtx;

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
        BuyArgs {
            dataset_id,
            purpose,
            max_price: None,
            permit: false,
            out: out.into(),
            confirm: true,
            retrieve: RetrieveOptions::default(),
        }
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
    /// Bad shares proven wrong on-chain (keeper slashed, amount credited to us) or whose
    /// dispute failed (`error`).
    pub disputes: Vec<DisputeReport>,
    /// Why `buy` did not confirm although asked to.
    pub not_confirmed: Option<String>,
    pub confirm_tx: Option<String>,
    /// Settled at confirmation: owner and per-keeper credit (wei).
    pub settled_owner_wei: Option<String>,
    pub settled_keeper_each_wei: Option<String>,
}

/// Buys `dataset_id` (escrow) → waits for ≥ t shares → reconstructs → downloads, verifies,
/// decrypts → writes `out` atomically → confirms. Failing after payment, the error says the
/// purchase id (refundable after the deadline with `refund`).
pub async fn buy(ctx: &ClientCtx, args: &BuyArgs) -> Result<BuyOutcome> {
    let id = U256::from(args.dataset_id);
    let max_price = match args.max_price {
        Some(m) => m,
        None => {
            let d = ctx.chain.dataset(id).await.map_err(|e| {
                BuyerError::chain(format!("reading dataset {}", args.dataset_id), e)
            })?;
            if DatasetStatus::from(d.status) == DatasetStatus::None {
                return Err(BuyerError::Dataset {
                    dataset_id: args.dataset_id,
                    reason: "no such dataset".into(),
                });
            }
            if d.price.is_zero() {
                // A free dataset escrows threshold × deliveryFee for the delivering keepers.
                let fee = ctx
                    .chain
                    .delivery_fee()
                    .await
                    .map_err(|e| BuyerError::chain("reading the delivery fee", e))?;
                fee * U256::from(d.threshold)
            } else {
                d.price
            }
        }
    };
    // Availability before payment: the stored object's header and trailer must recompute the
    // on-chain content root (a gateway's public manifest, or our own S3 access).
    let d = ctx
        .chain
        .dataset(id)
        .await
        .map_err(|e| BuyerError::chain(format!("reading dataset {}", args.dataset_id), e))?;
    // A listing that is not open is refused by the purchase itself with a named revert, which
    // says more than "object gone" (consent withdrawal deletes the object).
    if DatasetStatus::from(d.status) == DatasetStatus::Active {
        let available = crate::gateway::check_availability(
            ctx,
            args.dataset_id,
            &d.storageUri,
            d.contentRoot.0,
        )
        .await?;
        if available.is_none() {
            tracing::warn!(storage_uri = %d.storageUri, "cannot check the object before paying (no gateway, no S3 access to its bucket)");
        }
    }
    let pb = ctx
        .progress
        .bar(None, format!("buying dataset {}", args.dataset_id));
    let r = if args.permit {
        ctx.chain
            .purchase_with_permit(id, args.purpose, max_price)
            .await
    } else {
        ctx.chain.purchase(id, args.purpose, max_price).await
    };
    pb.finish_and_clear();
    let po = r.map_err(|e| BuyerError::chain(format!("buying dataset {}", args.dataset_id), e))?;
    let purchase_id = id_u64(po.purchase_id);
    let paid = format!("{:#x}", po.tx.tx_hash);
    let (retrieved, disputes) =
        retrieve_disputing(ctx, purchase_id, &args.out, &args.retrieve, &paid).await?;
    // Never confirm while a bad share stands undisputed: confirming gives up the dispute.
    let undisputed: Vec<&DisputeReport> = disputes
        .iter()
        .filter(|d| d.slashed_wei.is_none())
        .collect();
    let confirm = args.confirm && undisputed.is_empty();
    let not_confirmed = (args.confirm && !confirm)
        .then(|| format!("not confirmed: a bad share could not be disputed; retry with `phd-customer dispute {purchase_id}`, then `phd-customer retrieve {purchase_id} --confirm`"));
    let (confirm_tx, settled) = if confirm {
        let (tx, s) = ctx
            .chain
            .confirm(po.purchase_id)
            .await
            .map_err(|e| BuyerError::Confirm {
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
        disputes,
        not_confirmed,
        confirm_tx,
        settled_owner_wei: settled.map(|s| s.owner_amount.to_string()),
        settled_keeper_each_wei: settled.map(|s| s.keeper_amount_each.to_string()),
    })
}

/// Retrieves purchase `purchase_id` (ours, already paid), disputing every bad share on the way:
/// after a dispute the slashed keeper's share stops counting, so retrieval goes on waiting for
/// the others until the timeout. Used by `buy` and `retrieve`; does not confirm.
pub async fn retrieve_and_dispute(
    ctx: &ClientCtx,
    purchase_id: u64,
    out: &std::path::Path,
    opts: &RetrieveOptions,
) -> Result<(RetrieveOutcome, Vec<DisputeReport>)> {
    retrieve_disputing(ctx, purchase_id, out, opts, "earlier").await
}

/// [`retrieve_and_dispute`] naming the paying transaction in errors.
async fn retrieve_disputing(
    ctx: &ClientCtx,
    purchase_id: u64,
    out: &std::path::Path,
    opts: &RetrieveOptions,
    paid_tx: &str,
) -> Result<(RetrieveOutcome, Vec<DisputeReport>)> {
    let start = std::time::Instant::now();
    let mut disputes: Vec<DisputeReport> = Vec::new();
    loop {
        let left = opts.share_timeout.saturating_sub(start.elapsed());
        let o = RetrieveOptions {
            share_timeout: left,
            ..opts.clone()
        };
        match retrieve(ctx, purchase_id, out, &o).await {
            Ok(r) => {
                disputes.extend(dispute_new(ctx, purchase_id, &r.bad_shares, &disputes).await);
                return Ok((r, disputes));
            }
            Err(SdkError::NotEnoughShares {
                bad,
                good,
                threshold,
                secs,
                ..
            }) => {
                let fresh = dispute_new(ctx, purchase_id, &bad, &disputes).await;
                let progressed = fresh.iter().any(|d| d.slashed_wei.is_some());
                disputes.extend(fresh);
                if progressed && !left.is_zero() {
                    continue;
                }
                let shown: Vec<String> = disputes.iter().map(ToString::to_string).collect();
                return Err(BuyerError::Purchase {
                    purchase_id,
                    reason: format!(
                        "paid (tx {paid_tx}) but only {good} valid of the {threshold} needed key shares arrived within {secs}s{}; \
                         `phd-customer refund {purchase_id}` after the delivery deadline (and `phd-customer slash-non-delivery {purchase_id}` for keepers that committed but did not deliver)",
                        if shown.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", shown.join("; "))
                        }
                    ),
                });
            }
            Err(SdkError::WrongKey {
                purchase_id,
                dataset_id,
                evidence,
                storage_uri,
            }) => {
                // The owner's fraud, proven like a bad share: refund + bond, the dataset delisted.
                return Err(
                    match crate::fraud::prove_owner_fraud(ctx, purchase_id, dataset_id, &evidence)
                        .await
                    {
                        Ok(o) => fraud_proven(&o),
                        Err(e) => BuyerError::Purchase {
                            purchase_id,
                            reason: format!(
                                "paid (tx {paid_tx}) but {storage_uri} does not open under the committed key (owner fraud), and proving it failed: {e}; retry with `phd-customer prove-fraud {purchase_id}` before the confirmation window ends"
                            ),
                        },
                    },
                );
            }
            Err(e @ (SdkError::Tampered { .. } | SdkError::Reconstruct { .. })) => {
                return Err(BuyerError::Purchase {
                    purchase_id,
                    reason: format!(
                        "paid (tx {paid_tx}) but not delivered: {e}; `phd-customer refund {purchase_id}` after the delivery deadline"
                    ),
                });
            }
            Err(other) => return Err(BuyerError::Sdk(other)),
        }
    }
}

fn fraud_proven(o: &crate::fraud::FraudProofOutcome) -> BuyerError {
    BuyerError::OwnerFraudProven {
        purchase_id: o.purchase_id,
        dataset_id: o.dataset_id,
        refunded_phd: format_phd(o.refunded),
        bond_phd: format_phd(o.bond),
        tx_hash: format!("{:#x}", o.tx_hash),
    }
}

/// `prove-fraud`: retrieves purchase `purchase_id` (ours) and, when the listed object does not
/// open under the C0-checked key, proves the owner's fraud on-chain. Refused when it opens.
pub async fn prove_fraud(
    ctx: &ClientCtx,
    purchase_id: u64,
    opts: &RetrieveOptions,
) -> Result<crate::fraud::FraudProofOutcome> {
    Ok(crate::fraud::retrieve_and_prove(ctx, purchase_id, opts).await?)
}

/// Disputes the bad shares not yet handled in `done`.
async fn dispute_new(
    ctx: &ClientCtx,
    purchase_id: u64,
    bad: &[BadShare],
    done: &[DisputeReport],
) -> Vec<DisputeReport> {
    let todo: Vec<BadShare> = bad
        .iter()
        .filter(|b| !done.iter().any(|d| d.share_index == b.share_index))
        .cloned()
        .collect();
    if todo.is_empty() {
        return Vec::new();
    }
    dispute_bad_shares(ctx, purchase_id, &todo).await
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
pub async fn confirm(ctx: &ClientCtx, purchase_id: u64) -> Result<TxReport> {
    let (tx, s) = ctx
        .chain
        .confirm(U256::from(purchase_id))
        .await
        .map_err(|e| BuyerError::chain(format!("confirming purchase {purchase_id}"), e))?;
    Ok(TxReport {
        purchase_id,
        tx_hash: format!("{:#x}", tx.tx_hash),
        gas_used: tx.gas_used,
        amount_wei: s.map(|s| s.owner_amount.to_string()),
        amount_phd: s.map(|s| format_phd(s.owner_amount)),
    })
}

/// Full refund (fewer than t shares by the deadline, or consent withdrawn).
pub async fn refund(ctx: &ClientCtx, purchase_id: u64) -> Result<TxReport> {
    let (tx, amount) = ctx
        .chain
        .refund(U256::from(purchase_id))
        .await
        .map_err(|e| match e.revert() {
            Some(r) if r.name() == "MarketplaceThresholdDelivered" => BuyerError::Refused {
                purchase_id,
                action: "refund",
                error: r.name(),
                reason: format!("{r}; the key shares were delivered, so the data is yours: `phd-customer retrieve {purchase_id} --out FILE` (a bad share is disputed with `phd-customer dispute {purchase_id}`)"),
            },
            _ => BuyerError::chain(format!("refunding purchase {purchase_id}"), e),
        })?;
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
    /// Keepers that committed to deliver (deliveries wait for t commitments).
    pub committed: u8,
    pub threshold: u8,
    pub confirmed: bool,
    pub created_at: u64,
    pub delivery_deadline: u64,
    pub tx_hash: Option<String>,
    /// Dataset owner.
    pub seller: Option<Address>,
}

/// My purchases and grants to me, with status.
pub async fn purchases(ctx: &ClientCtx) -> Result<Vec<PurchaseRow>> {
    let me = ctx.me();
    let buys = ctx
        .chain
        .purchases(None, Some(me), BlockRange::all())
        .await
        .map_err(|e| BuyerError::chain("reading purchases", e))?;
    let grants = ctx
        .chain
        .grants(None, Some(me), BlockRange::all())
        .await
        .map_err(|e| BuyerError::chain("reading grants", e))?;
    let mut entries: Vec<(U256, &str, Option<String>)> = buys
        .iter()
        .map(|b| {
            (
                b.event.purchaseId,
                "purchase",
                b.tx_hash.map(|h| format!("{h:#x}")),
            )
        })
        .collect();
    entries.extend(grants.iter().map(|g| {
        (
            g.event.purchaseId,
            "grant",
            g.tx_hash.map(|h| format!("{h:#x}")),
        )
    }));
    entries.sort_by_key(|e| e.0);
    let mut rows = Vec::new();
    for (pid, kind, tx_hash) in entries {
        let p = ctx
            .chain
            .get_purchase(pid)
            .await
            .map_err(|e| BuyerError::chain("reading a purchase", e))?;
        let seller = ctx.chain.dataset(p.datasetId).await.ok().map(|d| d.owner);
        let committed = ctx
            .chain
            .commit_state(pid)
            .await
            .map_err(|e| BuyerError::chain("reading commitments", e))?
            .committed;
        rows.push(PurchaseRow {
            purchase_id: id_u64(pid),
            dataset_id: id_u64(p.datasetId),
            kind: kind.into(),
            purpose: phd_chain::purpose::purpose_name(p.purpose),
            price_wei: p.price.to_string(),
            price_phd: format_phd(p.price),
            status: PurchaseStatus::from(p.status).to_string(),
            delivered: p.delivered,
            committed,
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
