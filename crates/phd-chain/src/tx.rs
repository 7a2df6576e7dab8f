//! Sending transactions and waiting for receipts with typed errors.

use std::time::{Duration, Instant};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    eips::BlockId,
    primitives::{Address, TxHash},
    providers::Provider,
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
use serde::Serialize;

use crate::{ChainError, revert::ContractRevert};

/// What a mined transaction cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxOutcome {
    /// Operation (`purchase`, `deliverShare`, …).
    pub operation: &'static str,
    /// Transaction hash.
    pub tx_hash: TxHash,
    /// Block it was mined in.
    pub block_number: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Price paid per gas, wei.
    pub effective_gas_price: u128,
    /// Created contract, for deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_address: Option<Address>,
    /// Wall-clock time from sending to receipt, milliseconds.
    pub elapsed_ms: u64,
}

impl TxOutcome {
    fn from_receipt(operation: &'static str, r: &TransactionReceipt, elapsed: Duration) -> Self {
        Self {
            operation,
            tx_hash: r.transaction_hash,
            block_number: r.block_number.unwrap_or_default(),
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            contract_address: r.contract_address,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SendCtx<'a> {
    /// RPC URL, for error messages.
    pub url: &'a str,
    /// Sender (used to replay a reverted transaction with `eth_call`).
    pub from: Address,
    /// How long to wait for the receipt.
    pub timeout: Duration,
}

/// Sends `call`, waits for its receipt and turns failures into [`ChainError`]s: a refused gas
/// estimate becomes [`ChainError::Revert`]; a transaction mined with status 0 is replayed with
/// `eth_call` on the previous block to recover its revert reason.
pub async fn send_call<P, D>(
    ctx: &SendCtx<'_>,
    operation: &'static str,
    call: &CallBuilder<P, D>,
) -> Result<(TxOutcome, TransactionReceipt), ChainError>
where
    P: Provider + Clone,
    D: CallDecoder + Clone,
{
    let start = Instant::now();
    tracing::debug!(operation, "sending transaction");
    let pending = call
        .send()
        .await
        .map_err(|e| ChainError::from_contract(operation, ctx.url, e))?;
    let tx_hash = *pending.tx_hash();
    let receipt = pending
        .with_timeout(Some(ctx.timeout))
        .get_receipt()
        .await
        .map_err(
            |e| match ChainError::from_pending(operation, ctx.url, Some(tx_hash), e) {
                ChainError::Timeout {
                    context, tx_hash, ..
                } => ChainError::Timeout {
                    context,
                    tx_hash,
                    timeout: ctx.timeout,
                },
                other => other,
            },
        )?;
    if !receipt.status() {
        let block = receipt.block_number.unwrap_or_default();
        let replay = call
            .clone()
            .from(ctx.from)
            .block(BlockId::number(block.saturating_sub(1)))
            .call_raw()
            .await;
        let revert = match replay {
            Err(e) => match ChainError::from_contract(operation, ctx.url, e) {
                ChainError::Revert { revert, .. } => revert,
                _ => ContractRevert::Empty,
            },
            Ok(_) => ContractRevert::Empty,
        };
        return Err(ChainError::Revert {
            context: operation,
            revert,
            tx_hash: Some(tx_hash),
        });
    }
    let outcome = TxOutcome::from_receipt(operation, &receipt, start.elapsed());
    tracing::info!(operation, tx = %outcome.tx_hash, block = outcome.block_number, gas = outcome.gas_used, "mined");
    Ok((outcome, receipt))
}

/// First log of event `E` emitted by `address` in `receipt`.
pub fn find_event<E: SolEvent>(receipt: &TransactionReceipt, address: Address) -> Option<E> {
    receipt
        .logs()
        .iter()
        .filter(|l| l.address() == address)
        .find_map(|l| l.log_decode::<E>().ok())
        .map(|l| l.inner.data)
}

/// Like [`find_event`], but a missing event is an error.
pub fn require_event<E: SolEvent>(
    operation: &'static str,
    receipt: &TransactionReceipt,
    address: Address,
    event: &'static str,
) -> Result<E, ChainError> {
    find_event::<E>(receipt, address).ok_or(ChainError::MissingEvent {
        context: operation,
        tx_hash: receipt.transaction_hash,
        event,
    })
}
