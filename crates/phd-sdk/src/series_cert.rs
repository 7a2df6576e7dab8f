//! Series certification from the owner's and the reader's side: the owner grants a validator
//! access to a series (an owner-paid subscription, see `SeriesMarket.grant`), and anyone reads
//! a series' certification (k-of, rolling per validator).

use alloy::primitives::{Address, U256};
use phd_chain::{Purpose, format_phd};
use serde::Serialize;

use crate::{ClientCtx, Result, SdkError, id_u64};

/// What `series-grant` did.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesGrantReport {
    pub series_id: u64,
    pub grantee: String,
    /// The grantee's new subscription.
    pub subscription_id: u64,
    pub from_seq: u64,
    pub segments: u64,
    pub tx_hash: String,
    pub gas_used: u64,
    /// Escrowed by the owner (price × segments): keepers are paid their fee per released
    /// segment, the rest comes back as SeriesMarket credit (`withdraw`).
    pub escrow_wei: String,
    pub escrow_phd: String,
}

/// Grants `to` (whose 64-byte key is `pubkey`) segments [from_seq, from_seq + segments) of my
/// series `series_id`; `from_seq` defaults to the next segment to be appended.
pub async fn grant_series(
    ctx: &ClientCtx,
    series_id: u64,
    to: Address,
    pubkey: &[u8; 64],
    from_seq: Option<u64>,
    segments: u64,
    purpose: Purpose,
) -> Result<SeriesGrantReport> {
    let derived = phd_chain::address_of_pubkey64(pubkey);
    if derived != to {
        return Err(SdkError::InvalidArg {
            arg: "public key",
            reason: format!("this public key belongs to {derived}, not to {to}"),
        });
    }
    if segments == 0 {
        return Err(SdkError::InvalidArg {
            arg: "segments",
            reason: "grant at least one segment".into(),
        });
    }
    let sid = U256::from(series_id);
    let from_seq = match from_seq {
        Some(f) => f,
        None => {
            ctx.chain
                .series(sid)
                .await
                .map_err(|e| SdkError::chain(format!("reading series {series_id}"), e))?
                .segmentCount
        }
    };
    let out = ctx
        .chain
        .grant_series(sid, to, pubkey, from_seq, segments, purpose)
        .await
        .map_err(|e| SdkError::chain(format!("granting series {series_id} to {to}"), e))?;
    Ok(SeriesGrantReport {
        series_id,
        grantee: to.to_string(),
        subscription_id: id_u64(out.subscription_id),
        from_seq,
        segments,
        tx_hash: format!("{:#x}", out.tx.tx_hash),
        gas_used: out.tx.gas_used,
        escrow_wei: out.escrow.to_string(),
        escrow_phd: format_phd(out.escrow),
    })
}

/// One validator's current certificate of a series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesCertificateView {
    pub validator: String,
    pub through_seq: u64,
    pub score_bps: u16,
    pub counts: bool,
    pub report_uri: String,
    pub report_hash: String,
}

/// A series' certification as browse/status show it.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesCertificationView {
    pub series_id: u64,
    /// At least `required` current certificates score ≥ the minimum.
    pub certified: bool,
    pub counted: u64,
    pub required: u8,
    /// Every certificate ever made (the rolling history).
    pub certificates: u64,
    /// Each validator's current certificate, newest first.
    pub current: Vec<SeriesCertificateView>,
}

impl SeriesCertificationView {
    /// `certified (2/2, 5 certificates)` or `not certified (1/2, …)`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} ({}/{} validators, {} certificates)",
            if self.certified {
                "certified"
            } else {
                "not certified"
            },
            self.counted,
            self.required,
            self.certificates
        )
    }
}

/// Reads the certification of `series_id` (`None` when the deployment has no
/// SeriesCertification).
pub async fn series_certification(
    ctx: &ClientCtx,
    series_id: u64,
) -> Result<Option<SeriesCertificationView>> {
    let Some(events) = certified_events(ctx, Some(series_id)).await? else {
        return Ok(None);
    };
    certification_from(ctx, series_id, &events).await.map(Some)
}

/// `SeriesCertified` events of one series, or of every series (`None`): one log query where a
/// catalog would otherwise make one per series. `None` when the deployment has no
/// SeriesCertification.
async fn certified_events(
    ctx: &ClientCtx,
    series_id: Option<u64>,
) -> Result<Option<Vec<CertifiedEvent>>> {
    if ctx.chain.deployment().series_certification.is_zero() {
        return Ok(None);
    }
    ctx.chain
        .series_certifications(
            series_id.map(U256::from),
            None,
            phd_chain::BlockRange::default(),
        )
        .await
        .map(Some)
        .map_err(|e| SdkError::chain("reading SeriesCertified events", e))
}

type CertifiedEvent = phd_chain::EventLog<
    phd_chain::bindings::series_certification::SeriesCertification::SeriesCertified,
>;

/// The certification of `series_id` from its summary and `events` (which may hold other
/// series' events too: they are skipped).
async fn certification_from(
    ctx: &ClientCtx,
    series_id: u64,
    events: &[CertifiedEvent],
) -> Result<SeriesCertificationView> {
    let sid = U256::from(series_id);
    let summary = ctx
        .chain
        .series_certification_summary(sid)
        .await
        .map_err(|e| SdkError::chain("reading the series certification", e))?;
    let min_score = summary.min_score_bps;
    let mut seen: Vec<Address> = Vec::new();
    let mut current = Vec::new();
    for ev in events.iter().rev().filter(|ev| ev.event.seriesId == sid) {
        let e = &ev.event;
        if seen.contains(&e.validator) {
            continue;
        }
        seen.push(e.validator);
        current.push(SeriesCertificateView {
            validator: e.validator.to_string(),
            through_seq: e.throughSeq,
            score_bps: e.scoreBps,
            counts: e.scoreBps >= min_score,
            report_uri: e.reportUri.clone(),
            report_hash: format!("{:#x}", e.reportHash),
        });
    }
    Ok(SeriesCertificationView {
        series_id,
        certified: summary.certified,
        counted: summary.counted,
        required: summary.required,
        certificates: summary.certificates,
        current,
    })
}

/// A series' state and certification (`phd-user series status`).
#[derive(Debug, Clone, Serialize)]
pub struct SeriesStatusView {
    pub series_id: u64,
    pub owner: String,
    pub status: phd_chain::SeriesStatus,
    pub segments: u64,
    pub threshold: u8,
    pub keepers: u8,
    pub price_per_segment_phd: String,
    /// Price per segment in wei (for filters and sorting).
    pub price_per_segment_wei: String,
    /// Purposes the owner consented to.
    pub purposes: Vec<String>,
    /// `None` when the deployment has no SeriesCertification.
    pub certification: Option<SeriesCertificationView>,
}

impl SeriesStatusView {
    /// Certified by at least k independent validators (false when certification is not
    /// deployed).
    pub fn certified(&self) -> bool {
        self.certification.as_ref().is_some_and(|c| c.certified)
    }
}

/// Which series `browse_series` lists.
#[derive(Debug, Clone, Default)]
pub struct SeriesFilter {
    /// Only series certified by at least k independent validators.
    pub certified: bool,
    /// Maximum price per segment (wei).
    pub max_price_per_segment: Option<U256>,
    /// Only series whose owner consented to this purpose.
    pub purpose: Option<Purpose>,
    /// Also list withdrawn series.
    pub all: bool,
}

/// Every series matching `filter`, newest first: what a subscriber chooses from before `follow`.
pub async fn browse_series(
    ctx: &ClientCtx,
    filter: &SeriesFilter,
) -> Result<Vec<SeriesStatusView>> {
    let count = ctx
        .chain
        .series_count()
        .await
        .map_err(|e| SdkError::chain("reading the number of series", e))?;
    let events = certified_events(ctx, None).await?;
    let mut out = Vec::new();
    for id in (1..=count).rev() {
        let s = ctx
            .chain
            .series(U256::from(id))
            .await
            .map_err(|e| SdkError::chain(format!("reading series {id}"), e))?;
        let status = phd_chain::SeriesStatus::from(s.status);
        if !filter.all && status == phd_chain::SeriesStatus::Withdrawn {
            continue;
        }
        if filter
            .max_price_per_segment
            .is_some_and(|m| s.pricePerSegment > m)
        {
            continue;
        }
        if filter
            .purpose
            .is_some_and(|p| (s.purposes & p.bit()).is_zero())
        {
            continue;
        }
        // Certification is read only for series that pass the cheap filters.
        let view = view_of(ctx, id, &s, events.as_deref()).await?;
        if filter.certified && !view.certified() {
            continue;
        }
        out.push(view);
    }
    Ok(out)
}

/// `events`: the `SeriesCertified` events read for this series or for all (`None`: no
/// SeriesCertification deployed).
async fn view_of(
    ctx: &ClientCtx,
    series_id: u64,
    s: &phd_chain::Series,
    events: Option<&[CertifiedEvent]>,
) -> Result<SeriesStatusView> {
    let certification = match events {
        Some(events) => Some(certification_from(ctx, series_id, events).await?),
        None => None,
    };
    Ok(SeriesStatusView {
        series_id,
        owner: s.owner.to_string(),
        status: phd_chain::SeriesStatus::from(s.status),
        segments: s.segmentCount,
        threshold: s.threshold,
        keepers: s.keeperCount,
        price_per_segment_phd: format_phd(s.pricePerSegment),
        price_per_segment_wei: s.pricePerSegment.to_string(),
        purposes: Purpose::from_mask(s.purposes)
            .into_iter()
            .map(|p| p.name().to_string())
            .collect(),
        certification,
    })
}

impl SeriesStatusView {
    /// Human-readable lines.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "series {} of {}: {:?}, {} segments, {} of {} keepers, {} PHD per segment",
            self.series_id,
            self.owner,
            self.status,
            self.segments,
            self.threshold,
            self.keepers,
            self.price_per_segment_phd
        );
        match &self.certification {
            None => s.push_str("\n  certification: not deployed on this chain"),
            Some(c) => {
                s.push_str(&format!("\n  certification: {}", c.summary_line()));
                for v in &c.current {
                    s.push_str(&format!(
                        "\n    {} through segment {}: {} bps{} ({})",
                        v.validator,
                        v.through_seq,
                        v.score_bps,
                        if v.counts { "" } else { " (below the minimum)" },
                        v.report_uri
                    ));
                }
            }
        }
        s
    }
}

/// Reads a series and its certification.
pub async fn series_status(ctx: &ClientCtx, series_id: u64) -> Result<SeriesStatusView> {
    let s = ctx
        .chain
        .series(U256::from(series_id))
        .await
        .map_err(|e| SdkError::chain(format!("reading series {series_id}"), e))?;
    let events = certified_events(ctx, Some(series_id)).await?;
    view_of(ctx, series_id, &s, events.as_deref()).await
}
