//! [`KeeperChain`] over phd-chain's contract bindings (generated from the committed
//! artifacts) and revert decoding, with one HTTP provider holding the keeper's wallet and
//! local nonce tracking so many deliveries can be in flight at once without nonce races.
//! Fees are fetched at most once per [`FEE_TTL`] rather than once per transaction, and gas is
//! estimated outside the send lock, so the only step serialised per keeper is nonce + broadcast.

use std::time::Duration;

use alloy::{
    eips::{BlockNumberOrTag, eip1559::Eip1559Estimation},
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{
        client::BatchRequest,
        types::{Filter, TransactionRequest},
    },
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
    transports::TransportError,
};
use phd_chain::{
    ContractRevert, NodeRole,
    bindings::{
        DataRegistry, KeeperRegistry, Marketplace, PHDCoin,
        data_registry::DataRegistry::DataRegistryErrors as D,
        marketplace::Marketplace::MarketplaceErrors as M,
        series_market::SeriesMarket::SeriesMarketErrors as S,
    },
};

mod series;

use super::{
    ChainEvent, ChainFailure, DatasetStatus, DatasetView, DeliveryCheck, KeeperChain, NodeView,
    PurchaseStatus, PurchaseView, Revert,
};

/// How long one wait for a receipt may take before the attempt counts as failed (and is retried).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Receipt polls per check that the node still knows a pending transaction.
const KNOWN_CHECK_EVERY: u32 = 4;

/// How long fetched EIP-1559 fees are reused. The default estimate offers twice the base fee,
/// which covers the base fee's rise over several full blocks; a send that fails anyway drops
/// the cache, so the retry fetches fresh fees.
const FEE_TTL: Duration = Duration::from_secs(2);

/// Contract addresses the keeper talks to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addresses {
    pub(crate) chain_id: u64,
    pub(crate) coin: Address,
    pub(crate) keeper_registry: Address,
    pub(crate) data_registry: Address,
    pub(crate) marketplace: Address,
    pub(crate) series_market: Address,
}

#[derive(Debug)]
pub(crate) struct AlloyChain {
    provider: DynProvider,
    me: Address,
    addrs: Addresses,
    next_nonce: tokio::sync::Mutex<Option<u64>>,
    fees: std::sync::Mutex<Option<(tokio::time::Instant, Eip1559Estimation)>>,
    receipt_poll: Duration,
}

impl AlloyChain {
    pub(crate) fn connect(
        rpc_url: &url::Url,
        signer: PrivateKeySigner,
        addrs: Addresses,
        poll: Duration,
    ) -> Self {
        let me = signer.address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(rpc_url.clone())
            .erased();
        provider.client().set_poll_interval(poll);
        Self {
            provider,
            me,
            addrs,
            next_nonce: tokio::sync::Mutex::new(None),
            fees: std::sync::Mutex::new(None),
            receipt_poll: (poll / 4).clamp(Duration::from_millis(20), Duration::from_secs(1)),
        }
    }

    async fn send(&self, to: Address, input: Vec<u8>) -> Result<B256, ChainFailure> {
        self.send_with_gas(to, input, None).await
    }

    /// `gas_limit: None` estimates (a revert surfaces before a nonce is used); a fixed limit
    /// saves that round trip where the caller has just checked the call's preconditions.
    async fn send_with_gas(
        &self,
        to: Address,
        input: Vec<u8>,
        gas_limit: Option<u64>,
    ) -> Result<B256, ChainFailure> {
        let tx = TransactionRequest::default()
            .with_from(self.me)
            .with_to(to)
            .with_input(Bytes::from(input));
        // Estimation does not depend on the nonce: many run at once, outside the lock.
        let gas = match gas_limit {
            Some(g) => g,
            None => {
                self.provider
                    .estimate_gas(tx.clone())
                    .await
                    .map_err(transport_failure)?
                    .saturating_mul(12)
                    / 10
            }
        };
        let fees = self.fees().await?;
        let tx = tx
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        // One sender at a time: assign the nonce, broadcast. Receipts are awaited outside the
        // lock.
        let mut next = self.next_nonce.lock().await;
        let nonce = match *next {
            Some(n) => n,
            None => self
                .provider
                .get_transaction_count(self.me)
                .pending()
                .await
                .map_err(transport_failure)?,
        };
        let tx = tx.with_nonce(nonce).with_gas_limit(gas);
        match self.provider.send_transaction(tx).await {
            Ok(pending) => {
                *next = Some(nonce.saturating_add(1));
                Ok(*pending.tx_hash())
            }
            Err(e) => {
                *next = None;
                self.drop_fees();
                Err(transport_failure(e))
            }
        }
    }

    /// EIP-1559 fees, fetched at most once per [`FEE_TTL`].
    async fn fees(&self) -> Result<Eip1559Estimation, ChainFailure> {
        let now = tokio::time::Instant::now();
        if let Ok(cached) = self.fees.lock()
            && let Some((at, fees)) = *cached
            && now.duration_since(at) < FEE_TTL
        {
            return Ok(fees);
        }
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(transport_failure)?;
        if let Ok(mut cached) = self.fees.lock() {
            *cached = Some((now, fees));
        }
        Ok(fees)
    }

    fn drop_fees(&self) {
        if let Ok(mut cached) = self.fees.lock() {
            *cached = None;
        }
    }

    async fn send_and_confirm(&self, to: Address, input: Vec<u8>) -> Result<B256, ChainFailure> {
        let hash = self.send(to, input).await?;
        match self.wait_receipt(hash).await? {
            Some(true) => Ok(hash),
            Some(false) => Err(ChainFailure::TxFailed(hash)),
            None => Err(ChainFailure::Rpc(format!("transaction {hash} was dropped"))),
        }
    }
}

/// Fixed gas limit for `deliverShare` with a `payload_len`-byte payload: the first delivery of
/// a purchase costs ≈ 66k gas (`contracts/snapshots/steady.json`), the payload is calldata
/// (≤ 16 gas/byte) and event data (8 gas/byte + memory); twice that plus a margin.
fn deliver_share_gas(payload_len: usize) -> u64 {
    150_000 + 64 * payload_len as u64
}

/// Fixed gas limit for `commit`: 45,111 gas in every snapshot (`contracts/snapshots/*.json`:
/// cold purchase slot, registry lookups, one event); twice that covers any storage layout
/// change short of a redesign, and a commit that still runs out is retried with estimation.
const COMMIT_GAS: u64 = 100_000;

/// `getPurchase`'s answer (or its `UnknownPurchase` revert) as the keeper's view.
fn purchase_view(
    answer: Result<<Marketplace::getPurchaseCall as SolCall>::Return, ChainFailure>,
) -> Result<PurchaseView, ChainFailure> {
    match answer {
        Ok(p) => Ok(PurchaseView {
            dataset_id: p.datasetId,
            buyer: p.buyer,
            status: PurchaseStatus::from(p.status),
            delivery_deadline: p.deliveryDeadline,
            threshold: p.threshold,
        }),
        Err(ChainFailure::Reverted(Revert::Other(s))) if s.contains("UnknownPurchase") => {
            Ok(PurchaseView {
                dataset_id: U256::ZERO,
                buyer: Address::ZERO,
                status: PurchaseStatus::None,
                delivery_deadline: 0,
                threshold: 0,
            })
        }
        Err(other) => Err(other),
    }
}

/// Decodes the answer of an `eth_call` made inside a JSON-RPC batch.
fn batch_call<C: SolCall>(
    answer: Result<Bytes, TransportError>,
) -> Result<C::Return, ChainFailure> {
    let bytes = answer.map_err(transport_failure)?;
    C::abi_decode_returns(&bytes).map_err(|e| ChainFailure::Rpc(format!("undecodable answer: {e}")))
}

fn decode_revert(data: &[u8]) -> Revert {
    match ContractRevert::decode(data) {
        ContractRevert::Marketplace(e) => match e {
            M::MarketplaceAlreadyDelivered(_) => Revert::AlreadyDelivered,
            M::MarketplacePurchaseNotOpen(_) => Revert::PurchaseNotOpen,
            M::MarketplaceDeliveryClosed(_) => Revert::DeliveryClosed,
            M::MarketplaceNotListedKeeper(_) => Revert::NotListed,
            M::MarketplaceAlreadyCommitted(_) => Revert::AlreadyCommitted,
            M::MarketplaceCommitClosed(_) => Revert::CommitClosed,
            M::MarketplaceNotEnoughCommitments(_) => Revert::NotEnoughCommitments,
            other => Revert::Other(format!("{other:?}")),
        },
        ContractRevert::DataRegistry(e) => match e {
            D::DataRegistryAlreadyAcknowledged(_) => Revert::AlreadyAcknowledged,
            D::DataRegistryAlreadyConfirmedErasure(_) => Revert::AlreadyConfirmedErasure,
            D::DataRegistryWrongStatus(_) => Revert::WrongStatus,
            D::DataRegistryNotListedKeeper(_) => Revert::NotListed,
            other => Revert::Other(format!("{other:?}")),
        },
        ContractRevert::SeriesMarket(S::SeriesMarketAlreadyConfirmedErasure(_)) => {
            Revert::AlreadyConfirmedErasure
        }
        ContractRevert::KeeperRegistry(e) => Revert::Other(format!("{e:?}")),
        // Nothing the keeper reacts to: keep the raw bytes for the log.
        _ => Revert::Other(format!("0x{}", hex::encode(data))),
    }
}

fn transport_failure(e: TransportError) -> ChainFailure {
    match e.as_error_resp().and_then(|p| p.as_revert_data()) {
        Some(data) => ChainFailure::Reverted(decode_revert(&data)),
        None => match e.as_error_resp() {
            // Node-side "execution reverted" without data is still a revert, not a transport hiccup.
            Some(p) if p.message.contains("revert") => {
                ChainFailure::Reverted(Revert::Other(p.message.to_string()))
            }
            _ => ChainFailure::Rpc(e.to_string()),
        },
    }
}

fn contract_failure(e: alloy::contract::Error) -> ChainFailure {
    match e {
        alloy::contract::Error::TransportError(t) => transport_failure(t),
        other => match other.as_revert_data() {
            Some(data) => ChainFailure::Reverted(decode_revert(&data)),
            None => ChainFailure::Rpc(other.to_string()),
        },
    }
}

#[async_trait::async_trait]
impl KeeperChain for AlloyChain {
    fn address(&self) -> Address {
        self.me
    }
    fn chain_id(&self) -> u64 {
        self.addrs.chain_id
    }
    fn data_registry(&self) -> Address {
        self.addrs.data_registry
    }
    fn marketplace(&self) -> Address {
        self.addrs.marketplace
    }

    async fn block_number(&self) -> Result<u64, ChainFailure> {
        self.provider
            .get_block_number()
            .await
            .map_err(transport_failure)
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainFailure> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(transport_failure)?;
        Ok(block.map(|b| b.header.hash))
    }

    async fn forget_nonce(&self) {
        *self.next_nonce.lock().await = None;
    }

    async fn block_timestamp(&self) -> Result<u64, ChainFailure> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(transport_failure)?
            .ok_or_else(|| ChainFailure::Rpc("no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    async fn node(&self) -> Result<NodeView, ChainFailure> {
        let reg = KeeperRegistry::new(self.addrs.keeper_registry, &self.provider);
        let n = reg.node(self.me).call().await.map_err(contract_failure)?;
        Ok(NodeView {
            role: n.role,
            encryption_key: n.encryptionKey.to_vec(),
            endpoint: n.endpoint,
        })
    }

    async fn key_proof_digest(&self) -> Result<B256, ChainFailure> {
        let reg = KeeperRegistry::new(self.addrs.keeper_registry, &self.provider);
        reg.keyProofDigest(self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn min_stake(&self) -> Result<U256, ChainFailure> {
        let reg = KeeperRegistry::new(self.addrs.keeper_registry, &self.provider);
        reg.MIN_STAKE().call().await.map_err(contract_failure)
    }

    async fn stake(&self) -> Result<U256, ChainFailure> {
        let reg = KeeperRegistry::new(self.addrs.keeper_registry, &self.provider);
        Ok(reg
            .stakeOf(self.me)
            .call()
            .await
            .map_err(contract_failure)?
            .amount)
    }

    async fn register_keeper(
        &self,
        encryption_key: Bytes,
        endpoint: String,
        stake: U256,
        key_proof: Bytes,
    ) -> Result<B256, ChainFailure> {
        let coin = PHDCoin::new(self.addrs.coin, &self.provider);
        let allowance = coin
            .allowance(self.me, self.addrs.keeper_registry)
            .call()
            .await
            .map_err(contract_failure)?;
        if allowance < stake {
            let call = PHDCoin::approveCall {
                spender: self.addrs.keeper_registry,
                value: stake,
            };
            self.send_and_confirm(self.addrs.coin, call.abi_encode())
                .await?;
        }
        let call = KeeperRegistry::registerCall {
            role: NodeRole::Keeper as u8,
            encryptionKey: encryption_key,
            endpoint,
            stakeAmount: stake,
            keyProof: key_proof,
        };
        self.send_and_confirm(self.addrs.keeper_registry, call.abi_encode())
            .await
    }

    async fn update_node(
        &self,
        encryption_key: Bytes,
        endpoint: String,
        key_proof: Bytes,
    ) -> Result<B256, ChainFailure> {
        let call = KeeperRegistry::updateCall {
            encryptionKey: encryption_key,
            endpoint,
            keyProof: key_proof,
        };
        self.send_and_confirm(self.addrs.keeper_registry, call.abi_encode())
            .await
    }

    async fn dataset(&self, dataset_id: U256) -> Result<DatasetView, ChainFailure> {
        let reg = DataRegistry::new(self.addrs.data_registry, &self.provider);
        match reg.dataset(dataset_id).call().await {
            Ok(d) => Ok(DatasetView {
                owner: d.owner,
                status: DatasetStatus::from(d.status),
            }),
            Err(e) => match contract_failure(e) {
                ChainFailure::Reverted(Revert::Other(s)) if s.contains("UnknownDataset") => {
                    Ok(DatasetView {
                        owner: Address::ZERO,
                        status: DatasetStatus::None,
                    })
                }
                other => Err(other),
            },
        }
    }

    async fn commitments_of(&self, dataset_id: U256) -> Result<Vec<Bytes>, ChainFailure> {
        let reg = DataRegistry::new(self.addrs.data_registry, &self.provider);
        reg.commitmentsOf(dataset_id)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn share_index_of(&self, dataset_id: U256) -> Result<u8, ChainFailure> {
        let reg = DataRegistry::new(self.addrs.data_registry, &self.provider);
        reg.shareIndexOf(dataset_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn has_acknowledged(&self, dataset_id: U256) -> Result<bool, ChainFailure> {
        let reg = DataRegistry::new(self.addrs.data_registry, &self.provider);
        reg.hasAcknowledged(dataset_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn acknowledge_share(&self, dataset_id: U256) -> Result<B256, ChainFailure> {
        let call = DataRegistry::acknowledgeShareCall {
            datasetId: dataset_id,
        };
        self.send_and_confirm(self.addrs.data_registry, call.abi_encode())
            .await
    }

    async fn has_confirmed_erasure(&self, dataset_id: U256) -> Result<bool, ChainFailure> {
        let reg = DataRegistry::new(self.addrs.data_registry, &self.provider);
        reg.hasConfirmedErasure(dataset_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn confirm_erasure(&self, dataset_id: U256) -> Result<B256, ChainFailure> {
        let call = DataRegistry::confirmErasureCall {
            datasetId: dataset_id,
        };
        self.send_and_confirm(self.addrs.data_registry, call.abi_encode())
            .await
    }

    async fn purchase(&self, purchase_id: U256) -> Result<PurchaseView, ChainFailure> {
        let m = Marketplace::new(self.addrs.marketplace, &self.provider);
        purchase_view(
            m.getPurchase(purchase_id)
                .call()
                .await
                .map_err(contract_failure),
        )
    }

    /// One JSON-RPC batch (one HTTP request) instead of four: under load most of a delivery's
    /// cost on the node is per request, not per call.
    async fn delivery_check(&self, purchase_id: U256) -> Result<DeliveryCheck, ChainFailure> {
        let m = self.addrs.marketplace;
        let mut batch = BatchRequest::new(self.provider.client());
        let mut add_view = |input: Vec<u8>| {
            let call = TransactionRequest::default()
                .with_to(m)
                .with_input(Bytes::from(input));
            batch
                .add_call::<_, Bytes>("eth_call", &(call, BlockNumberOrTag::Latest))
                .map_err(transport_failure)
        };
        let purchase = add_view(
            Marketplace::getPurchaseCall {
                purchaseId: purchase_id,
            }
            .abi_encode(),
        )?;
        let delivered = add_view(
            Marketplace::hasDeliveredCall {
                purchaseId: purchase_id,
                keeper: self.me,
            }
            .abi_encode(),
        )?;
        let committed = add_view(
            Marketplace::hasCommittedCall {
                purchaseId: purchase_id,
                keeper: self.me,
            }
            .abi_encode(),
        )?;
        let block = batch
            .add_call::<_, Option<alloy::rpc::types::Block>>(
                "eth_getBlockByNumber",
                &(BlockNumberOrTag::Latest, false),
            )
            .map_err(transport_failure)?;
        batch.send().await.map_err(transport_failure)?;
        let (purchase, delivered, committed, block) =
            tokio::join!(purchase, delivered, committed, block);
        let now = block
            .map_err(transport_failure)?
            .ok_or_else(|| ChainFailure::Rpc("no latest block".into()))?
            .header
            .timestamp;
        Ok(DeliveryCheck {
            purchase: purchase_view(batch_call::<Marketplace::getPurchaseCall>(purchase))?,
            now,
            delivered: batch_call::<Marketplace::hasDeliveredCall>(delivered)?,
            committed: batch_call::<Marketplace::hasCommittedCall>(committed)?,
        })
    }

    async fn has_delivered(&self, purchase_id: U256) -> Result<bool, ChainFailure> {
        let m = Marketplace::new(self.addrs.marketplace, &self.provider);
        m.hasDelivered(purchase_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn has_committed(&self, purchase_id: U256) -> Result<bool, ChainFailure> {
        let m = Marketplace::new(self.addrs.marketplace, &self.provider);
        m.hasCommitted(purchase_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn commit_count(&self, purchase_id: U256) -> Result<u8, ChainFailure> {
        let m = Marketplace::new(self.addrs.marketplace, &self.provider);
        Ok(m.commitState(purchase_id)
            .call()
            .await
            .map_err(contract_failure)?
            .committed)
    }

    async fn send_commit(&self, purchase_id: U256, estimate: bool) -> Result<B256, ChainFailure> {
        let call = Marketplace::commitCall {
            purchaseId: purchase_id,
        };
        let gas = (!estimate).then_some(COMMIT_GAS);
        self.send_with_gas(self.addrs.marketplace, call.abi_encode(), gas)
            .await
    }

    async fn send_delivery(&self, purchase_id: U256, payload: Bytes) -> Result<B256, ChainFailure> {
        let gas = deliver_share_gas(payload.len());
        let call = Marketplace::deliverShareCall {
            purchaseId: purchase_id,
            payload,
        };
        // The watcher checked purchase status, deadline, commitments and `hasDelivered` just
        // before; a delivery that still reverts (a race with the deadline) is mined as failed
        // and retried through the same checks, which then skip it.
        self.send_with_gas(self.addrs.marketplace, call.abi_encode(), Some(gas))
            .await
    }

    async fn wait_receipt(&self, tx_hash: B256) -> Result<Option<bool>, ChainFailure> {
        let mut unknown_polls = 0u32;
        let mut polls = 0u32;
        let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
        loop {
            if tokio::time::Instant::now() > deadline {
                // Still pending: the caller keeps the hash and checks again on its next attempt.
                return Err(ChainFailure::Rpc(format!(
                    "no receipt for {tx_hash} after {}s",
                    RECEIPT_TIMEOUT.as_secs()
                )));
            }
            if let Some(r) = self
                .provider
                .get_transaction_receipt(tx_hash)
                .await
                .map_err(transport_failure)?
            {
                return Ok(Some(r.status()));
            }
            // Whether the node still knows the transaction is asked every few polls only:
            // polling is most of the node's load when many deliveries are in flight.
            polls = polls.saturating_add(1);
            let known = !polls.is_multiple_of(KNOWN_CHECK_EVERY)
                || self
                    .provider
                    .get_transaction_by_hash(tx_hash)
                    .await
                    .map_err(transport_failure)?
                    .is_some();
            if !known {
                unknown_polls = unknown_polls.saturating_add(1);
                // Give the node a moment (load balancers, propagation) before calling it dropped.
                if unknown_polls > 20 / KNOWN_CHECK_EVERY {
                    // Its nonce may be free again: re-read it before the next send.
                    *self.next_nonce.lock().await = None;
                    return Ok(None);
                }
            }
            tokio::time::sleep(self.receipt_poll).await;
        }
    }

    async fn events(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>, ChainFailure> {
        let filter = Filter::new()
            .address(vec![self.addrs.marketplace, self.addrs.data_registry])
            .event_signature(vec![
                Marketplace::Purchased::SIGNATURE_HASH,
                Marketplace::Granted::SIGNATURE_HASH,
                DataRegistry::ConsentWithdrawn::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        let mut logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(transport_failure)?;
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        let mut out = Vec::with_capacity(logs.len());
        for log in logs {
            let block = log.block_number.unwrap_or(to);
            let addr = log.address();
            let Some(topic0) = log.topic0().copied() else {
                continue;
            };
            if addr == self.addrs.marketplace && topic0 == Marketplace::Purchased::SIGNATURE_HASH {
                match log.log_decode::<Marketplace::Purchased>() {
                    Ok(l) => out.push(ChainEvent::Purchase {
                        purchase_id: l.inner.data.purchaseId,
                        dataset_id: l.inner.data.datasetId,
                        buyer_pubkey: l.inner.data.buyerPubKey.clone(),
                        grant: false,
                        block,
                    }),
                    Err(e) => tracing::warn!(error = %e, block, "undecodable Purchased log"),
                }
            } else if addr == self.addrs.marketplace
                && topic0 == Marketplace::Granted::SIGNATURE_HASH
            {
                match log.log_decode::<Marketplace::Granted>() {
                    Ok(l) => out.push(ChainEvent::Purchase {
                        purchase_id: l.inner.data.purchaseId,
                        dataset_id: l.inner.data.datasetId,
                        buyer_pubkey: l.inner.data.granteePubKey.clone(),
                        grant: true,
                        block,
                    }),
                    Err(e) => tracing::warn!(error = %e, block, "undecodable Granted log"),
                }
            } else if addr == self.addrs.data_registry
                && topic0 == DataRegistry::ConsentWithdrawn::SIGNATURE_HASH
            {
                match log.log_decode::<DataRegistry::ConsentWithdrawn>() {
                    Ok(l) => out.push(ChainEvent::ConsentWithdrawn {
                        dataset_id: l.inner.data.datasetId,
                        block,
                    }),
                    Err(e) => tracing::warn!(error = %e, block, "undecodable ConsentWithdrawn log"),
                }
            }
        }
        Ok(out)
    }
}
