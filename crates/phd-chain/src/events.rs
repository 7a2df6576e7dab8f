//! Event queries over block ranges (chunked `eth_getLogs`).

use alloy::{
    primitives::{Address, B256, TxHash, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};

use crate::{
    ChainError, PhdClient,
    bindings::{
        data_registry::DataRegistry, keeper_registry::KeeperRegistry, marketplace::Marketplace,
    },
};

/// A decoded event with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog<E> {
    /// The event.
    pub event: E,
    /// Emitting contract.
    pub address: Address,
    /// Block number.
    pub block_number: Option<u64>,
    /// Block timestamp, when the node reports it with logs.
    pub block_timestamp: Option<u64>,
    /// Transaction.
    pub tx_hash: Option<TxHash>,
    /// Index in the block.
    pub log_index: Option<u64>,
}

/// Inclusive block range; `None` ends mean the deployment block and the latest block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockRange {
    /// First block (default: the deployment block).
    pub from: Option<u64>,
    /// Last block (default: latest).
    pub to: Option<u64>,
}

impl BlockRange {
    /// Everything since deployment.
    pub fn all() -> Self {
        Self::default()
    }

    /// From `from` to latest.
    pub fn since(from: u64) -> Self {
        Self {
            from: Some(from),
            to: None,
        }
    }
}

/// Indexed topics 1..=3 to match (`None` = any).
pub type Topics = [Option<B256>; 3];

fn id(v: U256) -> Option<B256> {
    Some(B256::from(v))
}

fn addr(a: Address) -> Option<B256> {
    Some(a.into_word())
}

impl PhdClient {
    /// All `E` events from `address` matching `topics` in `range`, oldest first. Logs that do
    /// not decode are skipped with a warning.
    pub async fn events<E: SolEvent>(
        &self,
        address: Address,
        topics: Topics,
        range: BlockRange,
    ) -> Result<Vec<EventLog<E>>, ChainError> {
        let latest = self
            .provider()
            .get_block_number()
            .await
            .map_err(self.transport_err("getLogs"))?;
        let from = range.from.unwrap_or(self.deployment().deployed_at_block);
        let to = range.to.map_or(latest, |t| t.min(latest));
        let mut out = Vec::new();
        let mut start = from;
        while start <= to {
            let end = start.saturating_add(self.log_chunk - 1).min(to);
            let mut filter = Filter::new()
                .address(address)
                .event_signature(E::SIGNATURE_HASH)
                .from_block(start)
                .to_block(end);
            if let Some(t) = topics[0] {
                filter = filter.topic1(t);
            }
            if let Some(t) = topics[1] {
                filter = filter.topic2(t);
            }
            if let Some(t) = topics[2] {
                filter = filter.topic3(t);
            }
            let logs = self
                .provider()
                .get_logs(&filter)
                .await
                .map_err(self.transport_err("getLogs"))?;
            for log in logs {
                match log.log_decode::<E>() {
                    Ok(d) => out.push(EventLog {
                        address: d.address(),
                        block_number: d.block_number,
                        block_timestamp: d.block_timestamp,
                        tx_hash: d.transaction_hash,
                        log_index: d.log_index,
                        event: d.inner.data,
                    }),
                    Err(e) => {
                        tracing::warn!(event = E::SIGNATURE, error = %e, "skipping undecodable log")
                    }
                }
            }
            if end == u64::MAX {
                break;
            }
            start = end + 1;
        }
        Ok(out)
    }

    /// `Published` events (with the metadata bytes), optionally of one owner.
    pub async fn published_datasets(
        &self,
        owner: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<DataRegistry::Published>>, ChainError> {
        self.events(
            self.deployment().data_registry,
            [None, owner.and_then(addr), None],
            range,
        )
        .await
    }

    /// The `Published` event of one dataset.
    pub async fn published_dataset(
        &self,
        dataset_id: U256,
    ) -> Result<Option<EventLog<DataRegistry::Published>>, ChainError> {
        Ok(self
            .events(
                self.deployment().data_registry,
                [id(dataset_id), None, None],
                BlockRange::all(),
            )
            .await?
            .into_iter()
            .next())
    }

    /// `ShareAcknowledged` events, optionally filtered by dataset and keeper.
    pub async fn acknowledgements(
        &self,
        dataset_id: Option<U256>,
        keeper: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<DataRegistry::ShareAcknowledged>>, ChainError> {
        self.events(
            self.deployment().data_registry,
            [dataset_id.and_then(id), keeper.and_then(addr), None],
            range,
        )
        .await
    }

    /// `Certified` events, optionally filtered by dataset and validator.
    pub async fn certifications(
        &self,
        dataset_id: Option<U256>,
        validator: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<DataRegistry::Certified>>, ChainError> {
        self.events(
            self.deployment().data_registry,
            [dataset_id.and_then(id), validator.and_then(addr), None],
            range,
        )
        .await
    }

    /// `ConsentWithdrawn` events, optionally filtered by dataset and owner.
    pub async fn consent_withdrawals(
        &self,
        dataset_id: Option<U256>,
        owner: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<DataRegistry::ConsentWithdrawn>>, ChainError> {
        self.events(
            self.deployment().data_registry,
            [dataset_id.and_then(id), owner.and_then(addr), None],
            range,
        )
        .await
    }

    /// `ErasureConfirmed` events, optionally filtered by dataset and keeper.
    pub async fn erasures(
        &self,
        dataset_id: Option<U256>,
        keeper: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<DataRegistry::ErasureConfirmed>>, ChainError> {
        self.events(
            self.deployment().data_registry,
            [dataset_id.and_then(id), keeper.and_then(addr), None],
            range,
        )
        .await
    }

    /// `Purchased` events, optionally filtered by dataset and buyer.
    pub async fn purchases(
        &self,
        dataset_id: Option<U256>,
        buyer: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::Purchased>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [None, dataset_id.and_then(id), buyer.and_then(addr)],
            range,
        )
        .await
    }

    /// `Granted` events, optionally filtered by dataset and grantee.
    pub async fn grants(
        &self,
        dataset_id: Option<U256>,
        grantee: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::Granted>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [None, dataset_id.and_then(id), grantee.and_then(addr)],
            range,
        )
        .await
    }

    /// `ShareDelivered` events (with the encrypted payloads) of one purchase.
    pub async fn share_deliveries(
        &self,
        purchase_id: U256,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::ShareDelivered>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [id(purchase_id), None, None],
            range,
        )
        .await
    }

    /// `ShareDelivered` events of one keeper.
    pub async fn deliveries_by_keeper(
        &self,
        keeper: Address,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::ShareDelivered>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [None, addr(keeper), None],
            range,
        )
        .await
    }

    /// `Settled` events, optionally of one purchase.
    pub async fn settlements(
        &self,
        purchase_id: Option<U256>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::Settled>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [purchase_id.and_then(id), None, None],
            range,
        )
        .await
    }

    /// `Refunded` events, optionally filtered by purchase and recipient (the buyer; for a grant,
    /// the dataset owner who paid the delivery fees).
    pub async fn refunds(
        &self,
        purchase_id: Option<U256>,
        buyer: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::Refunded>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [purchase_id.and_then(id), None, buyer.and_then(addr)],
            range,
        )
        .await
    }

    /// `Committed` events, optionally filtered by purchase, dataset and keeper. A keeper that
    /// delivered without committing first has no `Committed` event (its `ShareDelivered` is it).
    pub async fn commitments(
        &self,
        purchase_id: Option<U256>,
        dataset_id: Option<U256>,
        keeper: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::Committed>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [
                purchase_id.and_then(id),
                dataset_id.and_then(id),
                keeper.and_then(addr),
            ],
            range,
        )
        .await
    }

    /// `ShareDisputed` events (deliveries proven wrong), optionally filtered by purchase, dataset
    /// and keeper.
    pub async fn disputes(
        &self,
        purchase_id: Option<U256>,
        dataset_id: Option<U256>,
        keeper: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::ShareDisputed>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [
                purchase_id.and_then(id),
                dataset_id.and_then(id),
                keeper.and_then(addr),
            ],
            range,
        )
        .await
    }

    /// `KeeperSlashed` events (non-delivery slashes), optionally filtered by purchase, dataset
    /// and keeper.
    pub async fn keeper_slashes(
        &self,
        purchase_id: Option<U256>,
        dataset_id: Option<U256>,
        keeper: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::KeeperSlashed>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [
                purchase_id.and_then(id),
                dataset_id.and_then(id),
                keeper.and_then(addr),
            ],
            range,
        )
        .await
    }

    /// `Confirmed` events, optionally filtered by purchase, dataset and buyer.
    pub async fn confirmations(
        &self,
        purchase_id: Option<U256>,
        dataset_id: Option<U256>,
        buyer: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::Confirmed>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [
                purchase_id.and_then(id),
                dataset_id.and_then(id),
                buyer.and_then(addr),
            ],
            range,
        )
        .await
    }

    /// `Slashed` events of the `KeeperRegistry` (every slash of a node's stake), optionally of one
    /// node.
    pub async fn stake_slashes(
        &self,
        node: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<KeeperRegistry::Slashed>>, ChainError> {
        self.events(
            self.deployment().keeper_registry,
            [node.and_then(addr), None, None],
            range,
        )
        .await
    }

    /// `Withdrawn` events, optionally of one account.
    pub async fn withdrawals(
        &self,
        account: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<Marketplace::Withdrawn>>, ChainError> {
        self.events(
            self.deployment().marketplace,
            [account.and_then(addr), None, None],
            range,
        )
        .await
    }

    /// `NodeRegistered` events, optionally of one node.
    pub async fn node_registrations(
        &self,
        node: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<KeeperRegistry::NodeRegistered>>, ChainError> {
        self.events(
            self.deployment().keeper_registry,
            [node.and_then(addr), None, None],
            range,
        )
        .await
    }
}
