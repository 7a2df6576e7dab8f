//! [`SeriesChain`] over the `SeriesMarket` bindings, sending through the dataset path's
//! nonce-tracking sender.

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{SolCall, SolEvent},
};
use phd_chain::bindings::series_market::{ISeriesMarket, SeriesMarket};

use super::{AlloyChain, contract_failure, transport_failure};
use crate::chain::{
    ChainFailure,
    series::{ReleaseItem, SeriesChain, SeriesEvent, SeriesStatus, SeriesView, SubscriptionView},
};

#[async_trait::async_trait]
impl SeriesChain for AlloyChain {
    fn series_market(&self) -> Address {
        self.addrs.series_market
    }

    async fn series(&self, series_id: U256) -> Result<SeriesView, ChainFailure> {
        let m = SeriesMarket::new(self.addrs.series_market, &self.provider);
        let s = m.series(series_id).call().await.map_err(contract_failure)?;
        Ok(SeriesView {
            owner: s.owner,
            status: SeriesStatus::from(s.status),
            segment_count: s.segmentCount,
            threshold: s.threshold,
        })
    }

    async fn series_share_index(&self, series_id: U256) -> Result<u8, ChainFailure> {
        let m = SeriesMarket::new(self.addrs.series_market, &self.provider);
        m.shareIndexOf(series_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn segment_commitments_hash(
        &self,
        series_id: U256,
        seq: u64,
    ) -> Result<B256, ChainFailure> {
        let m = SeriesMarket::new(self.addrs.series_market, &self.provider);
        m.segmentCommitmentsHash(series_id, seq)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn subscription(&self, subscription_id: U256) -> Result<SubscriptionView, ChainFailure> {
        let m = SeriesMarket::new(self.addrs.series_market, &self.provider);
        let s = m
            .subscription(subscription_id)
            .call()
            .await
            .map_err(contract_failure)?;
        Ok(SubscriptionView {
            series_id: s.seriesId,
            from_seq: s.fromSeq,
            segments: s.segments,
        })
    }

    async fn release_cursor(&self, subscription_id: U256) -> Result<u64, ChainFailure> {
        let m = SeriesMarket::new(self.addrs.series_market, &self.provider);
        m.releaseCursor(subscription_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn send_release(
        &self,
        series_id: U256,
        items: Vec<ReleaseItem>,
    ) -> Result<B256, ChainFailure> {
        let call = SeriesMarket::releaseSharesCall {
            seriesId: series_id,
            releases: items
                .into_iter()
                .map(|i| ISeriesMarket::Release {
                    subscriptionId: i.subscription_id,
                    seq: i.seq,
                    payload: i.payload,
                })
                .collect(),
        };
        self.send(self.addrs.series_market, call.abi_encode()).await
    }

    async fn has_confirmed_series_erasure(&self, series_id: U256) -> Result<bool, ChainFailure> {
        let m = SeriesMarket::new(self.addrs.series_market, &self.provider);
        m.hasConfirmedErasure(series_id, self.me)
            .call()
            .await
            .map_err(contract_failure)
    }

    async fn confirm_series_erasure(&self, series_id: U256) -> Result<B256, ChainFailure> {
        let call = SeriesMarket::confirmErasureCall {
            seriesId: series_id,
        };
        self.send_and_confirm(self.addrs.series_market, call.abi_encode())
            .await
    }

    async fn series_events(&self, from: u64, to: u64) -> Result<Vec<SeriesEvent>, ChainFailure> {
        let filter = Filter::new()
            .address(self.addrs.series_market)
            .event_signature(vec![
                SeriesMarket::Subscribed::SIGNATURE_HASH,
                SeriesMarket::SegmentAppended::SIGNATURE_HASH,
                SeriesMarket::SubscriptionCancelled::SIGNATURE_HASH,
                SeriesMarket::SubscriptionRefunded::SIGNATURE_HASH,
                SeriesMarket::ConsentWithdrawn::SIGNATURE_HASH,
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
            let Some(topic0) = log.topic0().copied() else {
                continue;
            };
            let event = if topic0 == SeriesMarket::Subscribed::SIGNATURE_HASH {
                log.log_decode::<SeriesMarket::Subscribed>()
                    .map(|l| SeriesEvent::Subscribed {
                        subscription_id: l.inner.data.subscriptionId,
                        series_id: l.inner.data.seriesId,
                        pubkey: l.inner.data.pubKey.clone(),
                    })
            } else if topic0 == SeriesMarket::SegmentAppended::SIGNATURE_HASH {
                log.log_decode::<SeriesMarket::SegmentAppended>()
                    .map(|_| SeriesEvent::Touched)
            } else if topic0 == SeriesMarket::SubscriptionCancelled::SIGNATURE_HASH {
                log.log_decode::<SeriesMarket::SubscriptionCancelled>()
                    .map(|_| SeriesEvent::Touched)
            } else if topic0 == SeriesMarket::SubscriptionRefunded::SIGNATURE_HASH {
                log.log_decode::<SeriesMarket::SubscriptionRefunded>()
                    .map(|_| SeriesEvent::Touched)
            } else {
                log.log_decode::<SeriesMarket::ConsentWithdrawn>()
                    .map(|l| SeriesEvent::Withdrawn {
                        series_id: l.inner.data.seriesId,
                    })
            };
            match event {
                Ok(e) => out.push(e),
                Err(e) => tracing::warn!(error = %e, "undecodable SeriesMarket log"),
            }
        }
        Ok(out)
    }
}
