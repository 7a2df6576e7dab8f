//! SeriesMarket: continuous datasets (series), subscriptions, batched share releases.

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::Serialize;

use crate::{
    ChainError, PhdClient,
    bindings::series_market::{ISeriesMarket, SeriesMarket, SeriesMarket::SeriesMarketInstance},
    events::{BlockRange, EventLog},
    purpose::Purpose,
    tx::{TxOutcome, find_event, require_event, send_call},
};

/// A series as stored on-chain.
pub type Series = ISeriesMarket::Series;
/// A subscription as stored on-chain.
pub type Subscription = ISeriesMarket::Subscription;
/// The argument of `disputeRelease`: a subscriber's proof that a keeper released a wrong share.
pub type ReleaseDispute = ISeriesMarket::ReleaseDispute;

/// What a proven dispute of a release did (the `ReleaseDisputed` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseDisputeOutcome {
    /// The dispute transaction.
    pub tx: TxOutcome,
    /// The keeper proven wrong.
    pub keeper: Address,
    /// Its share index on the series.
    pub share_index: u8,
    /// Credited to the subscriber: the keeper's fee (or the segment price when fewer than t good
    /// releases remain) plus the bad-release slash, from the keeper's credits and bond.
    pub compensation: U256,
    /// The segment's price came back (fewer than t good releases remained).
    pub refunded: bool,
}

/// Entry of a release in its (subscription, keeper) log: keccak256(seq (8 bytes BE) ‖ payload).
pub fn release_log_entry(seq: u64, payload: &[u8]) -> B256 {
    let mut buf = Vec::with_capacity(8 + payload.len());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(payload);
    alloy::primitives::keccak256(&buf)
}

/// One step of a release log: keccak256(head ‖ entry); the log starts at zero.
pub fn chain_release_log(head: B256, entry: B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(head.as_slice());
    buf[32..].copy_from_slice(entry.as_slice());
    alloy::primitives::keccak256(buf)
}

/// `SeriesStatus` of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SeriesStatus {
    /// No such series.
    None,
    /// Segments are appended and released.
    Active,
    /// Consent withdrawn: stopped for good.
    Withdrawn,
}

impl From<u8> for SeriesStatus {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Active,
            2 => Self::Withdrawn,
            _ => Self::None,
        }
    }
}

/// What an owner states when opening a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesParams {
    /// Keeper i holds share identifier i + 1 of every segment.
    pub keepers: Vec<Address>,
    /// Shares needed per segment.
    pub threshold: u8,
    /// Consented purposes.
    pub purposes: Vec<Purpose>,
    /// Price of one segment, PHD wei.
    pub price_per_segment: U256,
    /// keccak256 of the series metadata JSON.
    pub metadata_hash: B256,
    /// keccak256 of the consent terms.
    pub consent_terms_hash: B256,
}

/// One sealed segment as appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentParams {
    /// Sequence number: exactly the series' segment count.
    pub seq: u64,
    /// SHA-256 Merkle root of the sealed object.
    pub content_root: B256,
    /// The segment's Feldman commitments (`threshold` compressed points).
    pub commitments: Vec<[u8; 33]>,
    /// Where the sealed object lives.
    pub uri: String,
    /// keccak256 of the segment's metadata (rows, time span, quality).
    pub metadata_hash: B256,
}

/// Result of `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscribeOutcome {
    /// The approval sent first, if one was needed.
    pub approve: Option<TxOutcome>,
    /// The subscription transaction.
    pub tx: TxOutcome,
    /// New subscription id.
    pub subscription_id: U256,
    /// Price per segment locked in.
    pub price_per_segment: U256,
    /// Escrowed: price × segments.
    pub escrow: U256,
}

/// Counts of one `releaseShares` batch (the `Released` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReleaseOutcome {
    /// Items posted.
    pub released: u64,
    /// Items no longer deliverable (cancelled, refunded, out of window, already released).
    pub skipped: u64,
    /// Segment charges this batch completed (threshold-th releases).
    pub settled: u64,
}

/// One item of a batch: keeper's share of `seq`, encrypted to the subscription's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseItem {
    /// Subscription.
    pub subscription_id: u64,
    /// Segment.
    pub seq: u64,
    /// ECIES payload.
    pub payload: Bytes,
}

impl PhdClient {
    /// Raw `SeriesMarket` binding.
    pub fn series_market(&self) -> SeriesMarketInstance<alloy::providers::DynProvider> {
        SeriesMarket::new(self.deployment().series_market, self.provider().clone())
    }

    /// Opens a series; returns its id.
    pub async fn create_series(
        &self,
        params: &SeriesParams,
    ) -> Result<(TxOutcome, U256), ChainError> {
        let p = ISeriesMarket::CreateParams {
            keepers: params.keepers.clone(),
            threshold: params.threshold,
            purposes: Purpose::mask(&params.purposes),
            pricePerSegment: params.price_per_segment,
            metadataHash: params.metadata_hash,
            consentTermsHash: params.consent_terms_hash,
        };
        let market = self.series_market();
        let call = market.createSeries(p);
        let (tx, receipt) = send_call(&self.send_ctx(), "createSeries", &call).await?;
        let ev: SeriesMarket::SeriesCreated = require_event(
            "createSeries",
            &receipt,
            self.deployment().series_market,
            "SeriesCreated",
        )?;
        Ok((tx, ev.seriesId))
    }

    /// Appends one segment (its seq must be the series' segment count).
    pub async fn append_segment(
        &self,
        series_id: U256,
        segment: &SegmentParams,
    ) -> Result<TxOutcome, ChainError> {
        let packed: Vec<u8> = segment.commitments.iter().flatten().copied().collect();
        let market = self.series_market();
        let call = market.appendSegment(
            series_id,
            segment.seq,
            segment.content_root,
            packed.into(),
            segment.uri.clone(),
            segment.metadata_hash,
        );
        Ok(send_call(&self.send_ctx(), "appendSegment", &call).await?.0)
    }

    /// Stops a series for good (consent withdrawn).
    pub async fn withdraw_series_consent(&self, series_id: U256) -> Result<TxOutcome, ChainError> {
        let market = self.series_market();
        let call = market.withdrawConsent(series_id);
        Ok(
            send_call(&self.send_ctx(), "withdrawConsent(series)", &call)
                .await?
                .0,
        )
    }

    /// Subscribes this account (its own key receives the shares) to `segments` segments from
    /// `from_seq`; the SeriesMarket is approved for the escrow first when the allowance is short.
    pub async fn subscribe_series(
        &self,
        series_id: U256,
        from_seq: u64,
        segments: u64,
        max_price_per_segment: U256,
        purpose: Purpose,
    ) -> Result<SubscribeOutcome, ChainError> {
        let price = self.series(series_id).await?.pricePerSegment;
        let escrow = price.saturating_mul(U256::from(segments));
        let approve = if price <= max_price_per_segment {
            self.ensure_allowance(self.deployment().series_market, escrow)
                .await?
        } else {
            None
        };
        let market = self.series_market();
        let call = market.subscribe(
            series_id,
            from_seq,
            segments,
            max_price_per_segment,
            purpose.id(),
            Bytes::copy_from_slice(&self.pubkey64()),
        );
        let (tx, receipt) = send_call(&self.send_ctx(), "subscribe", &call).await?;
        let ev: SeriesMarket::Subscribed = require_event(
            "subscribe",
            &receipt,
            self.deployment().series_market,
            "Subscribed",
        )?;
        Ok(SubscribeOutcome {
            approve,
            tx,
            subscription_id: ev.subscriptionId,
            price_per_segment: ev.pricePerSegment,
            escrow: ev.pricePerSegment.saturating_mul(U256::from(ev.segments)),
        })
    }

    /// Cancels a subscription; returns the amount refunded at once.
    pub async fn cancel_subscription(
        &self,
        subscription_id: U256,
    ) -> Result<(TxOutcome, U256), ChainError> {
        let market = self.series_market();
        let call = market.cancel(subscription_id);
        let (tx, receipt) = send_call(&self.send_ctx(), "cancel", &call).await?;
        let refunded = find_event::<SeriesMarket::SubscriptionRefunded>(
            &receipt,
            self.deployment().series_market,
        )
        .map_or(U256::ZERO, |e| e.amount);
        Ok((tx, refunded))
    }

    /// Refunds what is no longer deliverable of a subscription.
    pub async fn refund_subscription(
        &self,
        subscription_id: U256,
    ) -> Result<(TxOutcome, U256), ChainError> {
        let market = self.series_market();
        let call = market.refund(subscription_id);
        let (tx, receipt) = send_call(&self.send_ctx(), "refund(subscription)", &call).await?;
        let ev: SeriesMarket::SubscriptionRefunded = require_event(
            "refund(subscription)",
            &receipt,
            self.deployment().series_market,
            "SubscriptionRefunded",
        )?;
        Ok((tx, ev.amount))
    }

    /// Pays out this account's SeriesMarket credits.
    pub async fn withdraw_series_credits(&self) -> Result<(TxOutcome, U256), ChainError> {
        let market = self.series_market();
        let call = market.withdraw();
        let (tx, receipt) = send_call(&self.send_ctx(), "withdraw(series)", &call).await?;
        let ev: SeriesMarket::Withdrawn = require_event(
            "withdraw(series)",
            &receipt,
            self.deployment().series_market,
            "Withdrawn",
        )?;
        Ok((tx, ev.amount))
    }

    /// One keeper's batch: every item in one transaction.
    pub async fn release_shares(
        &self,
        series_id: U256,
        items: &[ReleaseItem],
    ) -> Result<(TxOutcome, ReleaseOutcome), ChainError> {
        let releases = items
            .iter()
            .map(|i| ISeriesMarket::Release {
                subscriptionId: i.subscription_id,
                seq: i.seq,
                payload: i.payload.clone(),
            })
            .collect();
        let market = self.series_market();
        let call = market.releaseShares(series_id, releases);
        let (tx, receipt) = send_call(&self.send_ctx(), "releaseShares", &call).await?;
        let ev: SeriesMarket::Released = require_event(
            "releaseShares",
            &receipt,
            self.deployment().series_market,
            "Released",
        )?;
        let n = |v: U256| v.saturating_to::<u64>();
        Ok((
            tx,
            ReleaseOutcome {
                released: n(ev.released),
                skipped: n(ev.skipped),
                settled: n(ev.settled),
            },
        ))
    }

    /// The subscriber proves a keeper's release wrong (`disputeRelease`); a correct share reverts
    /// `SeriesMarketFalseDispute`.
    pub async fn dispute_release(
        &self,
        dispute: ReleaseDispute,
    ) -> Result<ReleaseDisputeOutcome, ChainError> {
        let market = self.series_market();
        let call = market.disputeRelease(dispute);
        let (tx, receipt) = send_call(&self.send_ctx(), "disputeRelease", &call).await?;
        let ev: SeriesMarket::ReleaseDisputed = require_event(
            "disputeRelease",
            &receipt,
            self.deployment().series_market,
            "ReleaseDisputed",
        )?;
        Ok(ReleaseDisputeOutcome {
            tx,
            keeper: ev.keeper,
            share_index: ev.shareIndex,
            compensation: ev.compensation,
            refunded: ev.refunded,
        })
    }

    /// Head of the hash chain of `share_index`'s releases to the subscription.
    pub async fn release_log(
        &self,
        subscription_id: U256,
        share_index: u8,
    ) -> Result<B256, ChainError> {
        self.series_market()
            .releaseLog(subscription_id, share_index)
            .call()
            .await
            .map_err(self.rpc_err("releaseLog"))
    }

    /// Share indices (bit i − 1 for index i) whose release of `seq` was proven wrong, and
    /// whether a dispute refunded the segment.
    pub async fn proven_bad_releases(
        &self,
        subscription_id: U256,
        seq: u64,
    ) -> Result<(u8, bool), ChainError> {
        let r = self
            .series_market()
            .provenBadReleases(subscription_id, seq)
            .call()
            .await
            .map_err(self.rpc_err("provenBadReleases"))?;
        Ok((r.shareIndexBits, r.refunded))
    }

    /// A listed keeper confirms it erased a withdrawn series' shares.
    pub async fn confirm_series_erasure(&self, series_id: U256) -> Result<TxOutcome, ChainError> {
        let market = self.series_market();
        let call = market.confirmErasure(series_id);
        Ok(send_call(&self.send_ctx(), "confirmErasure(series)", &call)
            .await?
            .0)
    }

    /// A series.
    pub async fn series(&self, series_id: U256) -> Result<Series, ChainError> {
        self.series_market()
            .series(series_id)
            .call()
            .await
            .map_err(self.rpc_err("series"))
    }

    /// Number of series created (ids run from 1).
    pub async fn series_count(&self) -> Result<u64, ChainError> {
        let n = self
            .series_market()
            .seriesCount()
            .call()
            .await
            .map_err(self.rpc_err("seriesCount"))?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// Keepers of a series, share index order.
    pub async fn series_keepers(&self, series_id: U256) -> Result<Vec<Address>, ChainError> {
        self.series_market()
            .keepersOf(series_id)
            .call()
            .await
            .map_err(self.rpc_err("keepersOf(series)"))
    }

    /// A subscription.
    pub async fn subscription(&self, subscription_id: U256) -> Result<Subscription, ChainError> {
        self.series_market()
            .subscription(subscription_id)
            .call()
            .await
            .map_err(self.rpc_err("subscription"))
    }

    /// Next segment `keeper` will release to the subscription.
    pub async fn release_cursor(
        &self,
        subscription_id: U256,
        keeper: Address,
    ) -> Result<u64, ChainError> {
        self.series_market()
            .releaseCursor(subscription_id, keeper)
            .call()
            .await
            .map_err(self.rpc_err("releaseCursor"))
    }

    /// keccak256 of a segment's packed commitments as stored.
    pub async fn segment_commitments_hash(
        &self,
        series_id: U256,
        seq: u64,
    ) -> Result<B256, ChainError> {
        self.series_market()
            .segmentCommitmentsHash(series_id, seq)
            .call()
            .await
            .map_err(self.rpc_err("segmentCommitmentsHash"))
    }

    /// Credits of `account` in the SeriesMarket.
    pub async fn series_credit_of(&self, account: Address) -> Result<U256, ChainError> {
        self.series_market()
            .creditOf(account)
            .call()
            .await
            .map_err(self.rpc_err("creditOf(series)"))
    }

    /// Whether `keeper` confirmed erasing the series.
    pub async fn has_confirmed_series_erasure(
        &self,
        series_id: U256,
        keeper: Address,
    ) -> Result<bool, ChainError> {
        self.series_market()
            .hasConfirmedErasure(series_id, keeper)
            .call()
            .await
            .map_err(self.rpc_err("hasConfirmedErasure(series)"))
    }

    /// `SegmentAppended` events of a series (with commitments and URI), oldest first.
    pub async fn appended_segments(
        &self,
        series_id: U256,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesMarket::SegmentAppended>>, ChainError> {
        self.events(
            self.deployment().series_market,
            [Some(B256::from(series_id)), None, None],
            range,
        )
        .await
    }

    /// `SeriesCreated` events, optionally of one series.
    pub async fn created_series(
        &self,
        series_id: Option<U256>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesMarket::SeriesCreated>>, ChainError> {
        self.events(
            self.deployment().series_market,
            [series_id.map(B256::from), None, None],
            range,
        )
        .await
    }

    /// `Subscribed` events, optionally of one series.
    pub async fn series_subscriptions(
        &self,
        series_id: Option<U256>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesMarket::Subscribed>>, ChainError> {
        self.events(
            self.deployment().series_market,
            [None, series_id.map(B256::from), None],
            range,
        )
        .await
    }

    /// `ShareReleased` events of one subscription, optionally of one segment.
    pub async fn released_shares(
        &self,
        subscription_id: U256,
        seq: Option<u64>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesMarket::ShareReleased>>, ChainError> {
        let seq = seq.map(|s| B256::from(U256::from(s)));
        self.events(
            self.deployment().series_market,
            [Some(B256::from(subscription_id)), seq, None],
            range,
        )
        .await
    }

    /// `ReleaseDisputed` events of one subscription, optionally of one segment.
    pub async fn release_disputes(
        &self,
        subscription_id: U256,
        seq: Option<u64>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesMarket::ReleaseDisputed>>, ChainError> {
        let seq = seq.map(|s| B256::from(U256::from(s)));
        self.events(
            self.deployment().series_market,
            [Some(B256::from(subscription_id)), seq, None],
            range,
        )
        .await
    }

    /// `ConsentWithdrawn` events of the SeriesMarket, optionally of one series.
    pub async fn series_withdrawals(
        &self,
        series_id: Option<U256>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesMarket::ConsentWithdrawn>>, ChainError> {
        self.events(
            self.deployment().series_market,
            [series_id.map(B256::from), None, None],
            range,
        )
        .await
    }
}

/// keccak256 of packed commitments, as `appendSegment` stores it.
pub fn commitments_hash(commitments: &[[u8; 33]]) -> B256 {
    let packed: Vec<u8> = commitments.iter().flatten().copied().collect();
    alloy::primitives::keccak256(packed)
}

/// Splits the `commitments` bytes of a `SegmentAppended` event into points.
pub fn split_commitments(packed: &[u8]) -> Result<Vec<[u8; 33]>, ChainError> {
    if packed.is_empty() || !packed.len().is_multiple_of(33) {
        return Err(ChainError::InvalidInput(format!(
            "segment commitments are {} bytes, not a non-empty multiple of 33",
            packed.len()
        )));
    }
    Ok(packed
        .chunks_exact(33)
        .map(|c| <[u8; 33]>::try_from(c).unwrap_or([0; 33]))
        .collect())
}
