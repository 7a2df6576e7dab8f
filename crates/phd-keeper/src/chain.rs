//! The keeper's view of the chain: a small trait over exactly the calls the keeper makes, so
//! the HTTP and watcher logic can be tested against an in-memory chain, and an implementation
//! over phd-chain's contract bindings.

use alloy::primitives::{Address, B256, Bytes, U256};
// The status enums are phd-chain's: one decoding of the contracts' uint8 states.
pub(crate) use phd_chain::{DatasetStatus, PurchaseStatus};

pub(crate) mod alloy_impl;
pub(crate) mod series;

/// A decoded contract revert the keeper reacts to; anything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    /// `MarketplaceAlreadyDelivered`: this keeper's share is already on-chain for the purchase.
    AlreadyDelivered,
    /// `DataRegistryAlreadyAcknowledged`.
    AlreadyAcknowledged,
    /// `DataRegistryAlreadyConfirmedErasure`.
    AlreadyConfirmedErasure,
    /// `MarketplacePurchaseNotOpen`: settled or refunded.
    PurchaseNotOpen,
    /// `MarketplaceDeliveryClosed`: the deadline passed.
    DeliveryClosed,
    /// `DataRegistryWrongStatus`.
    WrongStatus,
    /// `MarketplaceNotListedKeeper` / `DataRegistryNotListedKeeper`.
    NotListed,
    /// `MarketplaceAlreadyCommitted`: our commitment is already on-chain.
    AlreadyCommitted,
    /// `MarketplaceCommitClosed`: the commit window of the purchase passed.
    CommitClosed,
    /// `MarketplaceNotEnoughCommitments`: deliveries wait for `threshold` commitments.
    NotEnoughCommitments,
    /// Any other revert, as decoded text.
    Other(String),
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Other(s) => f.write_str(s),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A failed chain call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainFailure {
    /// Transport or node trouble: worth retrying.
    #[error("rpc error: {0}")]
    Rpc(String),
    /// The contract reverted (in simulation or on-chain).
    #[error("reverted: {0}")]
    Reverted(Revert),
    /// The transaction was mined but failed.
    #[error("transaction {0} failed on-chain")]
    TxFailed(B256),
}

impl ChainFailure {
    /// Whether retrying the same call later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Rpc(_))
    }
}

/// The parts of a dataset the keeper needs.
#[derive(Debug, Clone)]
pub(crate) struct DatasetView {
    /// The owner, whose signature authorises share uploads.
    pub(crate) owner: Address,
    /// Lifecycle status.
    pub(crate) status: DatasetStatus,
}

/// The parts of a purchase the keeper re-checks before delivering.
#[derive(Debug, Clone)]
pub(crate) struct PurchaseView {
    /// Dataset bought.
    pub(crate) dataset_id: U256,
    /// Buyer account.
    pub(crate) buyer: Address,
    /// Open / settled / refunded.
    pub(crate) status: PurchaseStatus,
    /// Unix seconds after which deliveries are refused.
    pub(crate) delivery_deadline: u64,
    /// Shares (and commitments) the purchase needs.
    pub(crate) threshold: u8,
}

/// What a delivery re-checks on-chain before acting, read together.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryCheck {
    /// The purchase as stored.
    pub(crate) purchase: PurchaseView,
    /// Timestamp of the latest block (deadlines are compared with it).
    pub(crate) now: u64,
    /// `hasDelivered(pid, me)`.
    pub(crate) delivered: bool,
    /// `hasCommitted(pid, me)`.
    pub(crate) committed: bool,
}

/// A registered node.
#[derive(Debug, Clone)]
pub(crate) struct NodeView {
    /// 0 none, 1 keeper, 2 validator.
    pub(crate) role: u8,
    /// Registered 33-byte compressed encryption key.
    pub(crate) encryption_key: Vec<u8>,
    /// Registered endpoint.
    pub(crate) endpoint: String,
}

/// An event the watcher acts on, with its position in the chain.
#[derive(Debug, Clone)]
pub(crate) enum ChainEvent {
    /// `Purchased` or `Granted`.
    Purchase {
        /// Purchase id.
        purchase_id: U256,
        /// Dataset bought.
        dataset_id: U256,
        /// 64-byte public key shares are encrypted to.
        buyer_pubkey: Bytes,
        /// `Granted` rather than `Purchased`.
        grant: bool,
        /// Block number.
        block: u64,
    },
    /// `ConsentWithdrawn`.
    ConsentWithdrawn {
        /// The dataset.
        dataset_id: U256,
        /// Block number.
        block: u64,
    },
}

/// What the keeper needs from the chain. `me` is always the keeper's own account.
#[async_trait::async_trait]
pub(crate) trait KeeperChain: Send + Sync + 'static {
    /// The keeper's account.
    fn address(&self) -> Address;
    /// Chain id of the deployment.
    fn chain_id(&self) -> u64;
    /// DataRegistry address.
    fn data_registry(&self) -> Address;
    /// Marketplace address.
    fn marketplace(&self) -> Address;

    async fn block_number(&self) -> Result<u64, ChainFailure>;
    /// Hash of block `number`; `None` past the head (reorg detection).
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainFailure>;
    /// Forgets a locally tracked next nonce: after a reorg our mined transactions may be gone,
    /// so the next send re-reads the pending count instead of leaving a nonce gap.
    async fn forget_nonce(&self) {}
    async fn block_timestamp(&self) -> Result<u64, ChainFailure>;
    async fn node(&self) -> Result<NodeView, ChainFailure>;
    /// `keyProofDigest(me)`.
    async fn key_proof_digest(&self) -> Result<B256, ChainFailure>;
    /// `MIN_STAKE()`.
    async fn min_stake(&self) -> Result<U256, ChainFailure>;
    /// Our bonded stake (`stakeOf(me).amount`).
    async fn stake(&self) -> Result<U256, ChainFailure>;
    /// Approves the registry for `stake` when needed, then registers as a keeper, mined.
    async fn register_keeper(
        &self,
        encryption_key: Bytes,
        endpoint: String,
        stake: U256,
        key_proof: Bytes,
    ) -> Result<B256, ChainFailure>;
    async fn update_node(
        &self,
        encryption_key: Bytes,
        endpoint: String,
        key_proof: Bytes,
    ) -> Result<B256, ChainFailure>;

    async fn dataset(&self, dataset_id: U256) -> Result<DatasetView, ChainFailure>;
    async fn commitments_of(&self, dataset_id: U256) -> Result<Vec<Bytes>, ChainFailure>;
    async fn share_index_of(&self, dataset_id: U256) -> Result<u8, ChainFailure>;
    async fn has_acknowledged(&self, dataset_id: U256) -> Result<bool, ChainFailure>;
    async fn acknowledge_share(&self, dataset_id: U256) -> Result<B256, ChainFailure>;
    async fn has_confirmed_erasure(&self, dataset_id: U256) -> Result<bool, ChainFailure>;
    async fn confirm_erasure(&self, dataset_id: U256) -> Result<B256, ChainFailure>;

    async fn purchase(&self, purchase_id: U256) -> Result<PurchaseView, ChainFailure>;
    async fn has_delivered(&self, purchase_id: U256) -> Result<bool, ChainFailure>;
    /// Whether we committed (or delivered) for the purchase.
    async fn has_committed(&self, purchase_id: U256) -> Result<bool, ChainFailure>;
    /// Commitments of the purchase so far (`commitState(pid).committed`).
    async fn commit_count(&self, purchase_id: U256) -> Result<u8, ChainFailure>;
    /// The purchase, the latest block time and whether we delivered or committed. Nodes that
    /// take JSON-RPC batches answer it in one round trip (see `alloy_impl`).
    async fn delivery_check(&self, purchase_id: U256) -> Result<DeliveryCheck, ChainFailure> {
        let (purchase, now, delivered, committed) = tokio::try_join!(
            self.purchase(purchase_id),
            self.block_timestamp(),
            self.has_delivered(purchase_id),
            self.has_committed(purchase_id)
        )?;
        Ok(DeliveryCheck {
            purchase,
            now,
            delivered,
            committed,
        })
    }
    /// Broadcasts `commit`; returns the hash as soon as the node accepted it.
    /// `estimate: false` sends with a fixed gas limit (the caller has just checked the call's
    /// preconditions); `true` estimates first, so a revert is decoded before a nonce is used.
    async fn send_commit(&self, purchase_id: U256, estimate: bool) -> Result<B256, ChainFailure>;
    /// Broadcasts `deliverShare`; returns the hash as soon as the node accepted it.
    async fn send_delivery(&self, purchase_id: U256, payload: Bytes) -> Result<B256, ChainFailure>;
    /// Waits for a transaction's receipt; `Ok(None)` when the node does not know it (dropped).
    async fn wait_receipt(&self, tx_hash: B256) -> Result<Option<bool>, ChainFailure>;

    /// Purchases, grants and withdrawals in `[from, to]`, in chain order.
    async fn events(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>, ChainFailure>;
}

/// Registration (phd-node) over the keeper's chain view.
pub(crate) struct KeeperRegistryAccess<'a>(pub(crate) &'a dyn KeeperChain);

#[async_trait::async_trait]
impl phd_node::RegistryAccess for KeeperRegistryAccess<'_> {
    type Error = ChainFailure;

    fn account(&self) -> Address {
        self.0.address()
    }

    async fn node(&self) -> Result<phd_node::RegistryNode, ChainFailure> {
        let n = self.0.node().await?;
        Ok(phd_node::RegistryNode {
            role: n.role,
            encryption_key: n.encryption_key,
            endpoint: n.endpoint,
        })
    }

    async fn key_proof_digest(&self) -> Result<B256, ChainFailure> {
        self.0.key_proof_digest().await
    }

    async fn min_stake(&self) -> Result<U256, ChainFailure> {
        self.0.min_stake().await
    }

    /// The keeper only ever registers as a keeper (the call has no role parameter).
    async fn register(
        &self,
        _role: phd_chain::NodeRole,
        encryption_key: &[u8; 33],
        endpoint: &str,
        stake: U256,
        key_proof: &[u8],
    ) -> Result<B256, ChainFailure> {
        self.0
            .register_keeper(
                Bytes::copy_from_slice(encryption_key),
                endpoint.to_owned(),
                stake,
                Bytes::copy_from_slice(key_proof),
            )
            .await
    }

    async fn update(
        &self,
        encryption_key: &[u8; 33],
        endpoint: &str,
        key_proof: &[u8],
    ) -> Result<B256, ChainFailure> {
        self.0
            .update_node(
                Bytes::copy_from_slice(encryption_key),
                endpoint.to_owned(),
                Bytes::copy_from_slice(key_proof),
            )
            .await
    }

    fn is_transient(&self, error: &ChainFailure) -> bool {
        error.is_transient()
    }
}
