//! What a keeper operator looks at: stake, deliveries, disputes against it, earnings. Read-only:
//! anyone can look up any keeper, since every figure is public on-chain.

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, format_phd};
use serde::Serialize;

use crate::ctx::{ClientCtx, id_u64};
use crate::error::{Result, SdkError};

/// One share a keeper posted.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub purchase_id: u64,
    pub share_index: u8,
    pub block_number: Option<u64>,
    pub tx_hash: Option<String>,
}

/// A delivery proven wrong on-chain, or a committed delivery that never came (both slash).
#[derive(Debug, Clone, Serialize)]
pub struct DisputeRow {
    pub purchase_id: u64,
    pub dataset_id: u64,
    /// `wrong_share` (proven wrong) or `non_delivery`.
    pub kind: String,
    pub block_number: Option<u64>,
}

/// A keeper's page.
#[derive(Debug, Clone, Serialize)]
pub struct KeeperReport {
    pub address: Address,
    pub active: bool,
    pub stake_wei: String,
    pub stake_phd: String,
    /// Unix time the stake unlocks after an exit request (0 while active).
    pub unlock_at: u64,
    /// Credits waiting to be withdrawn (delivery fees and keeper shares of settled sales).
    pub credits_wei: String,
    pub credits_phd: String,
    /// Total slashed from its stake, PHD.
    pub slashed_phd: String,
    /// Key shares it holds now: datasets whose share it acknowledged and has not confirmed
    /// erased (from `ShareAcknowledged` and `ErasureConfirmed`).
    pub shares_held: u64,
    /// Shares it ever acknowledged, and confirmed erased after a consent withdrawal.
    pub shares_acknowledged: u64,
    pub shares_erased: u64,
    pub deliveries: Vec<DeliveryRow>,
    pub disputes: Vec<DisputeRow>,
}

/// Stake, deliveries, disputes and earnings of `keeper`.
pub async fn report(ctx: &ClientCtx, keeper: Address) -> Result<KeeperReport> {
    let c = &ctx.chain;
    let stake = c
        .stake_of(keeper)
        .await
        .map_err(|e| SdkError::chain("reading the stake", e))?;
    let active = c
        .is_keeper(keeper)
        .await
        .map_err(|e| SdkError::chain("reading the keeper registry", e))?;
    let credits = c
        .credits_of(keeper)
        .await
        .map_err(|e| SdkError::chain("reading credits", e))?;
    let deliveries = c
        .deliveries_by_keeper(keeper, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading deliveries", e))?
        .into_iter()
        .map(|d| DeliveryRow {
            purchase_id: id_u64(d.event.purchaseId),
            share_index: d.event.shareIndex,
            block_number: d.block_number,
            tx_hash: d.tx_hash.map(|h| format!("{h:#x}")),
        })
        .collect();
    let mut disputes: Vec<DisputeRow> = c
        .disputes(None, None, Some(keeper), BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading disputes", e))?
        .into_iter()
        .map(|d| DisputeRow {
            purchase_id: id_u64(d.event.purchaseId),
            dataset_id: id_u64(d.event.datasetId),
            kind: "wrong_share".into(),
            block_number: d.block_number,
        })
        .collect();
    disputes.extend(
        c.keeper_slashes(None, None, Some(keeper), BlockRange::all())
            .await
            .map_err(|e| SdkError::chain("reading non-delivery slashes", e))?
            .into_iter()
            .map(|d| DisputeRow {
                purchase_id: id_u64(d.event.purchaseId),
                dataset_id: id_u64(d.event.datasetId),
                kind: "non_delivery".into(),
                block_number: d.block_number,
            }),
    );
    let slashed = c
        .stake_slashes(Some(keeper), BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading slashes", e))?
        .iter()
        .fold(U256::ZERO, |a, s| a.saturating_add(s.event.amount));
    let acked: std::collections::BTreeSet<U256> = c
        .acknowledgements(None, Some(keeper), BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading acknowledgements", e))?
        .iter()
        .map(|a| a.event.datasetId)
        .collect();
    let erased: std::collections::BTreeSet<U256> = c
        .erasures(None, Some(keeper), BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading erasure confirmations", e))?
        .iter()
        .map(|a| a.event.datasetId)
        .collect();
    Ok(KeeperReport {
        shares_held: acked.difference(&erased).count() as u64,
        shares_acknowledged: acked.len() as u64,
        shares_erased: erased.len() as u64,
        address: keeper,
        active,
        stake_wei: stake.amount.to_string(),
        stake_phd: format_phd(stake.amount),
        unlock_at: stake.unlock_at,
        credits_wei: credits.to_string(),
        credits_phd: format_phd(credits),
        slashed_phd: format_phd(slashed),
        deliveries,
        disputes,
    })
}
