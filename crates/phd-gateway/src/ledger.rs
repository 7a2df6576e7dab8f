//! What the gateway asks the chain: a purchase (or grant) and a dataset, reduced to the fields
//! the access rule needs. [`ChainLedger`] reads them through phd-chain; the handler tests use an
//! in-memory ledger with the same trait.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use phd_chain::{ChainError, DatasetStatus, Deployment, PhdClient, PurchaseStatus, SeriesStatus};

/// The purchase fields the access rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseView {
    /// Dataset bought.
    pub dataset_id: u64,
    /// Buyer (or grantee).
    pub buyer: Address,
    /// Escrow state.
    pub status: PurchaseStatus,
}

/// The dataset fields the access rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetView {
    /// Listing state (`Withdrawn` closes access).
    pub status: DatasetStatus,
    /// On-chain storage URI (names the object key the purchase pays for).
    pub storage_uri: String,
}

/// The series fields the segment access rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesView {
    /// Owner (names the object keys of its segments).
    pub owner: Address,
    /// `Withdrawn` closes access to every segment.
    pub status: SeriesStatus,
    /// Segments appended so far (a key for a later seq is not a segment yet).
    pub segment_count: u64,
}

/// The subscription fields the segment access rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    /// Series subscribed to.
    pub series_id: u64,
    /// Subscriber (must be the token's signer).
    pub subscriber: Address,
    /// First segment paid for.
    pub from_seq: u64,
    /// Segments paid for (shrinks to what stays deliverable after a cancel or refund).
    pub segments: u64,
}

/// A failed chain read (the request gets 503, never 500, and is retried by the client).
#[derive(Debug, thiserror::Error)]
#[error("chain read {op} failed: {source}")]
pub struct LedgerError {
    /// Which read.
    pub op: &'static str,
    /// Underlying error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Read access to purchases and datasets.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Purchase `id`, `None` when it does not exist.
    async fn purchase(&self, id: u64) -> Result<Option<PurchaseView>, LedgerError>;
    /// Dataset `id`, `None` when it does not exist.
    async fn dataset(&self, id: u64) -> Result<Option<DatasetView>, LedgerError>;
    /// Series `id`, `None` when it does not exist (a ledger without series knows of none, so
    /// every segment request is refused).
    async fn series(&self, _id: u64) -> Result<Option<SeriesView>, LedgerError> {
        Ok(None)
    }
    /// Subscription `id`, `None` when it does not exist.
    async fn subscription(&self, _id: u64) -> Result<Option<SubscriptionView>, LedgerError> {
        Ok(None)
    }
}

/// The ledger on a real chain.
#[derive(Debug, Clone)]
pub struct ChainLedger {
    client: PhdClient,
}

impl ChainLedger {
    /// Connects to `rpc_url` for `deployment`. The gateway sends no transactions, so the client
    /// signs with a throw-away key that never holds funds.
    pub async fn connect(rpc_url: &str, deployment: Deployment) -> Result<Self, ChainError> {
        let client = PhdClient::connect(rpc_url, PrivateKeySigner::random(), deployment).await?;
        client.check_code().await?;
        Ok(Self { client })
    }

    /// The deployment read.
    pub fn deployment(&self) -> &Deployment {
        self.client.deployment()
    }
}

fn err(op: &'static str) -> impl FnOnce(ChainError) -> LedgerError {
    move |e| LedgerError {
        op,
        source: Box::new(e),
    }
}

#[async_trait::async_trait]
impl Ledger for ChainLedger {
    async fn purchase(&self, id: u64) -> Result<Option<PurchaseView>, LedgerError> {
        let p = match self.client.get_purchase(U256::from(id)).await {
            Ok(p) => p,
            // `getPurchase` reverts for an unknown id: that is a refusal (403), not a chain
            // failure (503, which the client would retry for half a minute).
            Err(e)
                if e.revert()
                    .is_some_and(|r| r.name() == "MarketplaceUnknownPurchase") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(err("getPurchase")(e)),
        };
        let status = PurchaseStatus::from(p.status);
        if status == PurchaseStatus::None {
            return Ok(None);
        }
        Ok(Some(PurchaseView {
            dataset_id: u64::try_from(p.datasetId).unwrap_or(u64::MAX),
            buyer: p.buyer,
            status,
        }))
    }

    async fn dataset(&self, id: u64) -> Result<Option<DatasetView>, LedgerError> {
        let d = match self.client.dataset(U256::from(id)).await {
            Ok(d) => d,
            // `dataset` reverts for an unknown id; any other revert is a failure too.
            Err(e)
                if e.revert()
                    .is_some_and(|r| r.name() == "DataRegistryUnknownDataset") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(err("dataset")(e)),
        };
        let status = DatasetStatus::from(d.status);
        if status == DatasetStatus::None {
            return Ok(None);
        }
        Ok(Some(DatasetView {
            status,
            storage_uri: d.storageUri,
        }))
    }

    async fn series(&self, id: u64) -> Result<Option<SeriesView>, LedgerError> {
        let s = match self.client.series(U256::from(id)).await {
            Ok(s) => s,
            Err(e)
                if e.revert()
                    .is_some_and(|r| r.name() == "SeriesMarketUnknownSeries") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(err("series")(e)),
        };
        let status = SeriesStatus::from(s.status);
        if status == SeriesStatus::None {
            return Ok(None);
        }
        Ok(Some(SeriesView {
            owner: s.owner,
            status,
            segment_count: s.segmentCount,
        }))
    }

    async fn subscription(&self, id: u64) -> Result<Option<SubscriptionView>, LedgerError> {
        let sub = match self.client.subscription(U256::from(id)).await {
            Ok(s) => s,
            Err(e)
                if e.revert()
                    .is_some_and(|r| r.name() == "SeriesMarketUnknownSubscription") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(err("subscription")(e)),
        };
        Ok(Some(SubscriptionView {
            series_id: u64::try_from(sub.seriesId).unwrap_or(u64::MAX),
            subscriber: sub.subscriber,
            from_seq: sub.fromSeq,
            segments: sub.segments,
        }))
    }
}
