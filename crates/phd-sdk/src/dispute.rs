//! Checking a purchase's deliveries and proving bad ones wrong on-chain (FORMATS.md §2.4,
//! `Marketplace.dispute`). The buyer alone can build the proof: it needs the buyer's key.

use alloy::primitives::{Address, Bytes, U256};
use phd_chain::BlockRange;
use serde::Serialize;

use crate::ctx::ClientCtx;
use crate::error::{BadShare, DisputeKind, Result, SdkError};
use crate::retrieve::{
    account_key, delivery_context, my_purchase, onchain_commitments, open_provable,
};

/// One `ShareDelivered` of a purchase, opened with the buyer's key.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedDelivery {
    pub keeper: Address,
    pub share_index: u8,
    /// The payload as posted (public).
    pub payload: Bytes,
    /// `None` when the share opened and verified.
    pub problem: Option<BadShare>,
    /// Already proven wrong on-chain (`ShareDisputed`).
    pub disputed: bool,
}

/// Opens every delivery of `purchase_id` (ours) and says which are bad and already disputed.
pub async fn check_deliveries(ctx: &ClientCtx, purchase_id: u64) -> Result<Vec<CheckedDelivery>> {
    let pid = U256::from(purchase_id);
    let chain = &ctx.chain;
    let p = my_purchase(ctx, purchase_id).await?;
    let commitments = onchain_commitments(ctx, p.datasetId, purchase_id).await?;
    let esk = account_key(ctx, purchase_id)?;
    let dep = chain.deployment();
    let deliveries = chain
        .share_deliveries(pid, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading share deliveries", e))?;
    let disputed: Vec<u8> = chain
        .disputes(Some(pid), None, None, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading disputes", e))?
        .iter()
        .map(|d| d.event.shareIndex)
        .collect();
    let mut out = Vec::with_capacity(deliveries.len());
    for dl in deliveries {
        let idx = dl.event.shareIndex;
        let payload = dl.event.payload.clone();
        let dctx = delivery_context(dep.chain_id, dep.marketplace, pid, idx);
        let problem = match open_provable(&esk, &payload, &dctx, &commitments) {
            Ok(_) => None,
            Err((reason, dispute)) => Some(BadShare {
                keeper: format!("{:#x}", dl.event.keeper),
                share_index: idx,
                reason,
                payload: payload.clone(),
                dispute,
            }),
        };
        out.push(CheckedDelivery {
            keeper: dl.event.keeper,
            share_index: idx,
            payload,
            problem,
            disputed: disputed.contains(&idx),
        });
    }
    Ok(out)
}

/// The `proof` argument of `Marketplace.dispute` for a delivery of `purchase_id` under
/// `share_index`: the 352-byte DLEQ proof for a well-formed payload, empty for a malformed one.
pub fn dispute_proof(
    ctx: &ClientCtx,
    purchase_id: u64,
    share_index: u8,
    payload: &[u8],
    kind: DisputeKind,
) -> Result<Vec<u8>> {
    if kind == DisputeKind::Malformed {
        return Ok(Vec::new());
    }
    let esk = account_key(ctx, purchase_id)?;
    let dep = ctx.chain.deployment();
    let dctx = delivery_context(
        dep.chain_id,
        dep.marketplace,
        U256::from(purchase_id),
        share_index,
    );
    let proof = phd_keys::prove_dispute(&esk, payload, &dctx).map_err(|e| SdkError::Purchase {
        purchase_id,
        reason: format!("cannot build the dispute proof for share {share_index}: {e}"),
    })?;
    Ok(proof.to_bytes().to_vec())
}
