//! Series certification: the owner's `grant` of a series to a validator (SeriesMarket) and
//! validators' rolling certificates (SeriesCertification).

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::Serialize;

use crate::{
    ChainError, PhdClient,
    bindings::{
        series_certification::{
            ISeriesCertification, SeriesCertification,
            SeriesCertification::SeriesCertificationInstance,
        },
        series_market::SeriesMarket,
    },
    events::{BlockRange, EventLog},
    purpose::Purpose,
    tx::{TxOutcome, require_event, send_call},
};

/// A certificate as stored on-chain.
pub type SeriesCertificate = ISeriesCertification::Certificate;

/// Result of `grant` on a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesGrantOutcome {
    /// The approval sent first, if one was needed.
    pub approve: Option<TxOutcome>,
    /// The grant transaction.
    pub tx: TxOutcome,
    /// The grantee's new subscription.
    pub subscription_id: U256,
    /// Escrowed by the owner: series price × segments (the keepers' fee is spent, the rest
    /// comes back to the owner as SeriesMarket credit when segments are released).
    pub escrow: U256,
}

/// What one certificate states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesCertifyParams {
    /// Series.
    pub series_id: U256,
    /// The validator's subscription (grant) the segments were released through.
    pub subscription_id: u64,
    /// Last segment the score covers.
    pub through_seq: u64,
    /// Score, basis points.
    pub score_bps: u16,
    /// Quality model id.
    pub model_id: B256,
    /// keccak256 of the report bytes.
    pub report_hash: B256,
    /// Where the report is.
    pub report_uri: String,
}

/// A series' certification state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesCertificationSummary {
    /// At least k counted current certificates.
    pub certified: bool,
    /// Validators whose current certificate counts.
    pub counted: u64,
    /// k.
    pub required: u8,
    /// Lowest counting score, basis points.
    pub min_score_bps: u16,
    /// Certificates ever made (history).
    pub certificates: u64,
}

impl PhdClient {
    /// Raw `SeriesCertification` binding.
    pub fn series_certification(
        &self,
    ) -> SeriesCertificationInstance<alloy::providers::DynProvider> {
        SeriesCertification::new(
            self.deployment().series_certification,
            self.provider().clone(),
        )
    }

    /// The series owner opens a subscription for `grantee` (whose 64-byte key `grantee_pubkey`
    /// receives the shares) over segments [from_seq, from_seq + segments), paying the escrow;
    /// the SeriesMarket is approved for it first when the allowance is short.
    pub async fn grant_series(
        &self,
        series_id: U256,
        grantee: Address,
        grantee_pubkey: &[u8; 64],
        from_seq: u64,
        segments: u64,
        purpose: Purpose,
    ) -> Result<SeriesGrantOutcome, ChainError> {
        let price = self.series(series_id).await?.pricePerSegment;
        let escrow = price.saturating_mul(U256::from(segments));
        let approve = self
            .ensure_allowance(self.deployment().series_market, escrow)
            .await?;
        let market = self.series_market();
        let call = market.grant(
            series_id,
            grantee,
            from_seq,
            segments,
            purpose.id(),
            Bytes::copy_from_slice(grantee_pubkey),
        );
        let (tx, receipt) = send_call(&self.send_ctx(), "grant(series)", &call).await?;
        let ev: SeriesMarket::Granted = require_event(
            "grant(series)",
            &receipt,
            self.deployment().series_market,
            "Granted",
        )?;
        Ok(SeriesGrantOutcome {
            approve,
            tx,
            subscription_id: ev.subscriptionId,
            escrow,
        })
    }

    /// Certifies a series through `through_seq` (this account must be a staked validator,
    /// independent of the series, holding `subscription_id` with those segments released).
    pub async fn certify_series(
        &self,
        params: &SeriesCertifyParams,
    ) -> Result<TxOutcome, ChainError> {
        let c = self.series_certification();
        let call = c.certify(
            params.series_id,
            params.subscription_id,
            params.through_seq,
            params.score_bps,
            params.model_id,
            params.report_hash,
            params.report_uri.clone(),
        );
        Ok(send_call(&self.send_ctx(), "certify(series)", &call)
            .await?
            .0)
    }

    /// A series' certification state.
    pub async fn series_certification_summary(
        &self,
        series_id: U256,
    ) -> Result<SeriesCertificationSummary, ChainError> {
        let c = self.series_certification();
        let certified = c
            .isCertified(series_id)
            .call()
            .await
            .map_err(self.rpc_err("isCertified(series)"))?;
        let counted = c
            .countedOf(series_id)
            .call()
            .await
            .map_err(self.rpc_err("countedOf(series)"))?;
        let required = c
            .MIN_CERTIFICATIONS()
            .call()
            .await
            .map_err(self.rpc_err("MIN_CERTIFICATIONS(series)"))?;
        let min_score_bps = c
            .MIN_SCORE_BPS()
            .call()
            .await
            .map_err(self.rpc_err("MIN_SCORE_BPS(series)"))?;
        let certificates = c
            .certificationCount(series_id)
            .call()
            .await
            .map_err(self.rpc_err("certificationCount(series)"))?;
        Ok(SeriesCertificationSummary {
            certified,
            counted: counted.saturating_to(),
            required,
            min_score_bps,
            certificates: certificates.saturating_to(),
        })
    }

    /// `validator`'s current certificate of a series, if any.
    pub async fn current_series_certificate(
        &self,
        series_id: U256,
        validator: Address,
    ) -> Result<Option<SeriesCertificate>, ChainError> {
        let r = self
            .series_certification()
            .currentOf(series_id, validator)
            .call()
            .await
            .map_err(self.rpc_err("currentOf(series)"))?;
        Ok(r.found.then_some(r.certificate))
    }

    /// `Granted` events of the SeriesMarket, optionally of one series and one grantee.
    pub async fn series_grants(
        &self,
        series_id: Option<U256>,
        grantee: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesMarket::Granted>>, ChainError> {
        self.events(
            self.deployment().series_market,
            [
                None,
                series_id.map(B256::from),
                grantee.map(|a| a.into_word()),
            ],
            range,
        )
        .await
    }

    /// `SeriesCertified` events, optionally of one series and one validator.
    pub async fn series_certifications(
        &self,
        series_id: Option<U256>,
        validator: Option<Address>,
        range: BlockRange,
    ) -> Result<Vec<EventLog<SeriesCertification::SeriesCertified>>, ChainError> {
        self.events(
            self.deployment().series_certification,
            [
                series_id.map(B256::from),
                validator.map(|a| a.into_word()),
                None,
            ],
            range,
        )
        .await
    }
}
