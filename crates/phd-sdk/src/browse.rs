//! `browse`: listings from `Published` events + current on-chain state.

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, DatasetStatus, Purpose, format_phd};
use serde::Serialize;

use crate::ctx::{ClientCtx, id_u64};
use crate::error::{Result, SdkError};

/// Filters of `browse`.
#[derive(Debug, Clone, Default)]
pub struct BrowseFilter {
    /// Substring of the metadata data type (case-insensitive), e.g. `accelerometer`.
    pub data_type: Option<String>,
    /// Minimum quality score 0..=1 (the certified score when certified, else the owner's).
    pub min_quality: Option<f64>,
    /// Only datasets certified by a validator.
    pub certified: bool,
    /// Maximum price (wei).
    pub max_price: Option<U256>,
    /// Also list Pending and Withdrawn datasets.
    pub all: bool,
}

/// One listing.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub dataset_id: u64,
    pub owner: Address,
    pub status: String,
    pub title: Option<String>,
    pub data_type: Option<String>,
    pub plaintext_bytes: Option<u64>,
    pub samples: Option<u64>,
    pub sampling_rate_hz: Option<f64>,
    /// Owner-side model score (metadata), 0..=1.
    pub quality_score: Option<f64>,
    /// Validator of the latest certificate, and the aggregate (mean) score of all certificates
    /// (basis points).
    pub certified_by: Option<Address>,
    pub certified_score_bps: Option<u16>,
    /// Certified by the rule of the DataRegistry (≥ MIN_CERTIFICATIONS independent certificates
    /// with a passing score), not just certified once.
    pub certified: bool,
    /// Certificates recorded, and those that count.
    pub certifications: u64,
    pub certifications_counted: u64,
    /// Smallest and total stake of the dataset's keepers (what a cheating keeper stands to lose).
    pub keeper_stake_min_phd: Option<String>,
    pub keeper_stake_total_phd: Option<String>,
    pub price_wei: String,
    pub price_phd: String,
    pub purposes: Vec<String>,
    pub threshold: u8,
    pub keepers: u8,
    pub acknowledged: u8,
    pub storage_uri: String,
}

impl Listing {
    /// Certified score when certified, else the owner's metadata score.
    pub fn effective_quality(&self) -> Option<f64> {
        self.certified_score_bps
            .map(|b| f64::from(b) / 10_000.0)
            .or(self.quality_score)
    }
}

/// All listings matching `filter`, by dataset id.
pub async fn browse(ctx: &ClientCtx, filter: &BrowseFilter) -> Result<Vec<Listing>> {
    let published = ctx
        .chain
        .published_datasets(None, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading listings", e))?;
    let mut out = Vec::new();
    for p in published {
        let id = p.event.datasetId;
        let d = ctx
            .chain
            .dataset(id)
            .await
            .map_err(|e| SdkError::chain("reading a dataset", e))?;
        let status = DatasetStatus::from(d.status);
        if !filter.all && status != DatasetStatus::Active {
            continue;
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&p.event.metadata).unwrap_or(serde_json::Value::Null);
        let cert = ctx
            .chain
            .certification(id)
            .await
            .ok()
            .filter(|c| c.validator != Address::ZERO);
        let summary = ctx.chain.certification_summary(id).await.ok();
        let stakes = keeper_stakes(ctx, id).await;
        let l = Listing {
            dataset_id: id_u64(id),
            owner: d.owner,
            status: status.to_string(),
            title: meta
                .get("title")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            data_type: meta
                .get("data_type")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            plaintext_bytes: meta
                .get("plaintext_bytes")
                .and_then(serde_json::Value::as_u64),
            samples: meta.get("sample_count").and_then(serde_json::Value::as_u64),
            sampling_rate_hz: meta
                .get("sampling_rate_hz")
                .and_then(serde_json::Value::as_f64),
            quality_score: meta
                .get("quality")
                .and_then(|q| q.get("score"))
                .and_then(serde_json::Value::as_f64),
            certified_by: cert.as_ref().map(|c| c.validator),
            certified_score_bps: cert.as_ref().map(|c| c.scoreBps),
            certified: summary.as_ref().is_some_and(|s| s.certified),
            certifications: summary.as_ref().map_or(0, |s| id_u64(s.count)),
            certifications_counted: summary.as_ref().map_or(0, |s| id_u64(s.counted)),
            keeper_stake_min_phd: stakes.iter().min().map(|s| format_phd(*s)),
            keeper_stake_total_phd: (!stakes.is_empty())
                .then(|| format_phd(stakes.iter().fold(U256::ZERO, |a, s| a.saturating_add(*s)))),
            price_wei: d.price.to_string(),
            price_phd: format_phd(d.price),
            purposes: Purpose::from_mask(d.purposes)
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            threshold: d.threshold,
            keepers: d.keeperCount,
            acknowledged: d.acknowledged,
            storage_uri: d.storageUri,
        };
        if matches(&l, d.price, filter) {
            out.push(l);
        }
    }
    Ok(out)
}

/// The current stake of each keeper of a dataset (unreadable ones left out: display only).
pub async fn keeper_stakes(ctx: &ClientCtx, dataset_id: U256) -> Vec<U256> {
    let Ok(keepers) = ctx.chain.keepers_of(dataset_id).await else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(keepers.len());
    for k in keepers {
        if let Ok(s) = ctx.chain.stake_of(k).await {
            out.push(s.amount);
        }
    }
    out
}

/// Whether a listing passes the filter.
pub fn matches(l: &Listing, price: U256, f: &BrowseFilter) -> bool {
    if let Some(t) = &f.data_type {
        let t = t.to_ascii_lowercase();
        if !l
            .data_type
            .as_deref()
            .is_some_and(|d| d.to_ascii_lowercase().contains(&t))
        {
            return false;
        }
    }
    if let Some(q) = f.min_quality
        && l.effective_quality().is_none_or(|s| s < q)
    {
        return false;
    }
    if f.certified && !l.certified {
        return false;
    }
    if let Some(m) = f.max_price
        && price > m
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing() -> Listing {
        Listing {
            dataset_id: 1,
            owner: Address::ZERO,
            status: "active".into(),
            title: None,
            data_type: Some("accelerometer+gyroscope".into()),
            plaintext_bytes: Some(10),
            samples: Some(5),
            sampling_rate_hz: None,
            quality_score: Some(0.8),
            certified_by: None,
            certified_score_bps: None,
            certified: false,
            certifications: 0,
            certifications_counted: 0,
            keeper_stake_min_phd: None,
            keeper_stake_total_phd: None,
            price_wei: "1".into(),
            price_phd: "0".into(),
            purposes: vec![],
            threshold: 3,
            keepers: 5,
            acknowledged: 5,
            storage_uri: String::new(),
        }
    }

    #[test]
    fn filters() {
        let l = listing();
        let p = U256::from(10u64);
        assert!(matches(&l, p, &BrowseFilter::default()));
        assert!(matches(
            &l,
            p,
            &BrowseFilter {
                data_type: Some("GYRO".into()),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &l,
            p,
            &BrowseFilter {
                data_type: Some("ecg".into()),
                ..Default::default()
            }
        ));
        assert!(matches(
            &l,
            p,
            &BrowseFilter {
                min_quality: Some(0.75),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &l,
            p,
            &BrowseFilter {
                min_quality: Some(0.9),
                ..Default::default()
            }
        ));
        assert!(!matches(
            &l,
            p,
            &BrowseFilter {
                certified: true,
                ..Default::default()
            }
        ));
        assert!(!matches(
            &l,
            p,
            &BrowseFilter {
                max_price: Some(U256::from(9u64)),
                ..Default::default()
            }
        ));
        let c = Listing {
            certified_by: Some(Address::ZERO),
            certified_score_bps: Some(9500),
            certified: true,
            ..listing()
        };
        assert!(matches(
            &c,
            p,
            &BrowseFilter {
                certified: true,
                min_quality: Some(0.9),
                ..Default::default()
            }
        ));
        // One certificate is not certification (issue 10: k independent validators).
        let once = Listing {
            certified_by: Some(Address::ZERO),
            certified_score_bps: Some(9500),
            certifications: 1,
            ..listing()
        };
        assert!(!matches(
            &once,
            p,
            &BrowseFilter {
                certified: true,
                ..Default::default()
            }
        ));
    }
}
