//! The keeper's view of the `SeriesMarket`: a trait separate from [`KeeperChain`](super::KeeperChain)
//! so the dataset path (and its in-memory test chain) is untouched; the alloy implementation
//! shares the dataset path's sender, so both paths draw nonces from one counter.

use alloy::primitives::{Address, B256, Bytes, U256};
pub(crate) use phd_chain::SeriesStatus;

use super::ChainFailure;

/// The parts of a series the keeper needs.
#[derive(Debug, Clone)]
pub(crate) struct SeriesView {
    /// Signs segment share uploads.
    pub(crate) owner: Address,
    /// Active or withdrawn.
    pub(crate) status: SeriesStatus,
    /// Segments appended so far.
    pub(crate) segment_count: u64,
    /// Shares per segment needed to decrypt it.
    pub(crate) threshold: u8,
}

/// The parts of a subscription the keeper re-checks before releasing.
#[derive(Debug, Clone)]
pub(crate) struct SubscriptionView {
    /// Series subscribed to.
    pub(crate) series_id: U256,
    /// First segment.
    pub(crate) from_seq: u64,
    /// Segments still covered (shrinks on cancel and refund).
    pub(crate) segments: u64,
}

/// One item of a `releaseShares` batch.
#[derive(Debug, Clone)]
pub(crate) struct ReleaseItem {
    pub(crate) subscription_id: u64,
    pub(crate) seq: u64,
    pub(crate) payload: Bytes,
}

/// A `SeriesMarket` event the series watcher acts on.
#[derive(Debug, Clone)]
pub(crate) enum SeriesEvent {
    /// `Subscribed`: the 64-byte key releases are encrypted to.
    Subscribed {
        subscription_id: U256,
        series_id: U256,
        pubkey: Bytes,
    },
    /// `SegmentAppended`, `SubscriptionCancelled` or `SubscriptionRefunded`: something to
    /// release (or no longer to release) may have changed for the series or subscription.
    Touched,
    /// `ConsentWithdrawn` of a series.
    Withdrawn { series_id: U256 },
}

/// What the keeper needs from the `SeriesMarket`.
#[async_trait::async_trait]
pub(crate) trait SeriesChain: Send + Sync + 'static {
    /// `SeriesMarket` address.
    fn series_market(&self) -> Address;
    async fn series(&self, series_id: U256) -> Result<SeriesView, ChainFailure>;
    /// Our share index on the series (0: not listed).
    async fn series_share_index(&self, series_id: U256) -> Result<u8, ChainFailure>;
    /// keccak256 of a segment's packed commitments (zero: not appended).
    async fn segment_commitments_hash(
        &self,
        series_id: U256,
        seq: u64,
    ) -> Result<B256, ChainFailure>;
    async fn subscription(&self, subscription_id: U256) -> Result<SubscriptionView, ChainFailure>;
    /// Next segment we release to the subscription.
    async fn release_cursor(&self, subscription_id: U256) -> Result<u64, ChainFailure>;
    /// Broadcasts one `releaseShares` batch; returns its hash once the node accepted it.
    async fn send_release(
        &self,
        series_id: U256,
        items: Vec<ReleaseItem>,
    ) -> Result<B256, ChainFailure>;
    async fn has_confirmed_series_erasure(&self, series_id: U256) -> Result<bool, ChainFailure>;
    /// `confirmErasure(seriesId)`, mined.
    async fn confirm_series_erasure(&self, series_id: U256) -> Result<B256, ChainFailure>;
    /// Series events in `[from, to]`, in chain order.
    async fn series_events(&self, from: u64, to: u64) -> Result<Vec<SeriesEvent>, ChainFailure>;
}
