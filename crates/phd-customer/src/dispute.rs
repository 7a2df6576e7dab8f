//! `dispute` (prove a delivered share wrong: the keeper is slashed to our credits) and
//! `slash-non-delivery` (a committed keeper that did not deliver by the deadline).

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, PurchaseStatus, format_phd};
use phd_sdk::dispute::{check_deliveries, dispute_proof};
use phd_sdk::{BadShare, DisputeKind};
use serde::Serialize;

use crate::CustomerCtx;
use crate::error::{CustomerError, Result};

/// Outcome of one dispute.
#[derive(Debug, Clone, Serialize)]
pub struct DisputeReport {
    pub purchase_id: u64,
    pub keeper: String,
    pub share_index: u8,
    /// Why the share is bad.
    pub reason: String,
    pub tx_hash: Option<String>,
    /// Slashed from the keeper and credited to us (`withdraw`); `None` when the dispute failed.
    pub slashed_wei: Option<String>,
    pub slashed_phd: Option<String>,
    /// The decoded revert (or other failure) when the dispute failed.
    pub error: Option<String>,
}

impl std::fmt::Display for DisputeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.slashed_phd, &self.error) {
            (Some(amount), _) => write!(
                f,
                "share {} of keeper {} proven wrong ({}): keeper slashed {} PHD, credited to you{}",
                self.share_index,
                self.keeper,
                self.reason,
                amount,
                self.tx_hash
                    .as_ref()
                    .map_or(String::new(), |t| format!(" (tx {t})"))
            ),
            (None, e) => write!(
                f,
                "share {} of keeper {} is bad ({}) but the dispute failed: {}",
                self.share_index,
                self.keeper,
                self.reason,
                e.as_deref().unwrap_or("unknown")
            ),
        }
    }
}

/// Disputes each share of `bad` on-chain. Never fails as a whole: each report says what
/// happened. A share already disputed on-chain is reported with its recorded slash.
pub async fn dispute_bad_shares(
    ctx: &CustomerCtx,
    purchase_id: u64,
    bad: &[BadShare],
) -> Vec<DisputeReport> {
    let pid = U256::from(purchase_id);
    let already = ctx
        .chain
        .disputes(Some(pid), None, None, BlockRange::all())
        .await
        .unwrap_or_default();
    let mut out = Vec::with_capacity(bad.len());
    let mut log: Option<Vec<alloy::primitives::B256>> = None;
    for b in bad {
        let mut r = DisputeReport {
            purchase_id,
            keeper: b.keeper.clone(),
            share_index: b.share_index,
            reason: b.reason.clone(),
            tx_hash: None,
            slashed_wei: None,
            slashed_phd: None,
            error: None,
        };
        if let Some(d) = already.iter().find(|d| d.event.shareIndex == b.share_index) {
            r.slashed_wei = Some(d.event.slashed.to_string());
            r.slashed_phd = Some(format_phd(d.event.slashed));
            r.tx_hash = d.tx_hash.map(|h| format!("{h:#x}"));
            out.push(r);
            continue;
        }
        let Some(kind) = b.dispute else {
            r.error = Some("this failure cannot be proven on-chain".into());
            out.push(r);
            continue;
        };
        match dispute_one(ctx, purchase_id, b.share_index, &b.payload, kind, &mut log).await {
            Ok((tx, slashed)) => {
                r.tx_hash = Some(tx);
                r.slashed_wei = Some(slashed.to_string());
                r.slashed_phd = Some(format_phd(slashed));
            }
            Err(e) => {
                r.error = Some(e.to_string());
            }
        }
        out.push(r);
    }
    out
}

async fn dispute_one(
    ctx: &CustomerCtx,
    purchase_id: u64,
    share_index: u8,
    payload: &[u8],
    kind: DisputeKind,
    log: &mut Option<Vec<alloy::primitives::B256>>,
) -> Result<(String, U256)> {
    let pid = U256::from(purchase_id);
    let proof = dispute_proof(ctx, purchase_id, share_index, payload, kind)?;
    // The delivery log does not change with disputes, only with deliveries: read it once.
    let entries = match log {
        Some(l) => l.clone(),
        None => {
            let l = ctx
                .chain
                .delivery_log(pid)
                .await
                .map_err(|e| CustomerError::chain("rebuilding the delivery log", e))?;
            *log = Some(l.clone());
            l
        }
    };
    let (tx, slashed) = ctx
        .chain
        .dispute(
            pid,
            share_index,
            payload,
            &ctx.chain.pubkey64(),
            &entries,
            &proof,
        )
        .await
        .map_err(|e| {
            CustomerError::chain(
                format!("disputing share {share_index} of purchase {purchase_id}"),
                e,
            )
        })?;
    Ok((format!("{:#x}", tx.tx_hash), slashed))
}

/// `phd-customer dispute PURCHASE [--index I]`: checks every delivery and disputes the bad ones
/// (or only share `index`; a share that verifies is refused locally: the contract would revert
/// `MarketplaceFalseDispute`).
pub async fn dispute(
    ctx: &CustomerCtx,
    purchase_id: u64,
    index: Option<u8>,
) -> Result<Vec<DisputeReport>> {
    let checked = check_deliveries(ctx, purchase_id).await?;
    if let Some(i) = index {
        let Some(d) = checked.iter().find(|d| d.share_index == i) else {
            return Err(CustomerError::Purchase {
                purchase_id,
                reason: format!("no delivery of share {i}"),
            });
        };
        if d.problem.is_none() {
            return Err(CustomerError::Purchase {
                purchase_id,
                reason: format!(
                    "share {i} of keeper {:#x} opens and verifies: nothing to dispute",
                    d.keeper
                ),
            });
        }
    }
    let bad: Vec<BadShare> = checked
        .into_iter()
        .filter(|d| index.is_none_or(|i| i == d.share_index))
        .filter_map(|d| d.problem)
        .collect();
    Ok(dispute_bad_shares(ctx, purchase_id, &bad).await)
}

/// Outcome of one non-delivery slash.
#[derive(Debug, Clone, Serialize)]
pub struct SlashReport {
    pub purchase_id: u64,
    pub keeper: Address,
    pub tx_hash: Option<String>,
    pub slashed_wei: Option<String>,
    pub slashed_phd: Option<String>,
    pub error: Option<String>,
}

/// `phd-customer slash-non-delivery PURCHASE`: after the delivery deadline of a failed purchase,
/// slashes every keeper that committed but did not deliver (credited to the buyer).
pub async fn slash_non_delivery(ctx: &CustomerCtx, purchase_id: u64) -> Result<Vec<SlashReport>> {
    let pid = U256::from(purchase_id);
    let chain = &ctx.chain;
    let p = chain
        .get_purchase(pid)
        .await
        .map_err(|e| CustomerError::chain(format!("reading purchase {purchase_id}"), e))?;
    if PurchaseStatus::from(p.status) == PurchaseStatus::None {
        return Err(CustomerError::Purchase {
            purchase_id,
            reason: "no such purchase".into(),
        });
    }
    let now = chain
        .block_timestamp()
        .await
        .map_err(|e| CustomerError::chain("reading the time", e))?;
    if now <= p.deliveryDeadline {
        return Err(CustomerError::Purchase {
            purchase_id,
            reason: format!(
                "the delivery deadline ({}) has not passed yet ({}s left)",
                p.deliveryDeadline,
                p.deliveryDeadline - now
            ),
        });
    }
    // The contract slashes only when ≥ t keepers committed (then the committed ones that did not
    // deliver broke a promise); with fewer, no keeper was bound to deliver.
    let cs = chain
        .commit_state(pid)
        .await
        .map_err(|e| CustomerError::chain("reading commitments", e))?;
    if cs.committed < p.threshold {
        return Err(CustomerError::Purchase {
            purchase_id,
            reason: format!(
                "only {} of {} keepers committed, so none was bound to deliver: nothing to slash (refund instead)",
                cs.committed, p.threshold
            ),
        });
    }
    let keepers = chain
        .keepers_of(p.datasetId)
        .await
        .map_err(|e| CustomerError::chain("reading the dataset's keepers", e))?;
    let mut out = Vec::new();
    for k in keepers {
        let committed = chain
            .has_committed(pid, k)
            .await
            .map_err(|e| CustomerError::chain("reading commitments", e))?;
        let delivered = chain
            .has_delivered(pid, k)
            .await
            .map_err(|e| CustomerError::chain("reading deliveries", e))?;
        if !committed || delivered {
            continue;
        }
        let mut r = SlashReport {
            purchase_id,
            keeper: k,
            tx_hash: None,
            slashed_wei: None,
            slashed_phd: None,
            error: None,
        };
        match chain.slash_non_delivery(pid, k).await {
            Ok((tx, amount)) => {
                r.tx_hash = Some(format!("{:#x}", tx.tx_hash));
                r.slashed_wei = Some(amount.to_string());
                r.slashed_phd = Some(format_phd(amount));
            }
            Err(e) => r.error = Some(e.to_string()),
        }
        out.push(r);
    }
    Ok(out)
}
