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
    /// The smallest keeper stake in wei (for filtering and sorting without re-parsing).
    pub keeper_stake_min_wei: Option<String>,
    pub keeper_stake_total_phd: Option<String>,
    pub price_wei: String,
    pub price_phd: String,
    pub purposes: Vec<String>,
    pub threshold: u8,
    pub keepers: u8,
    pub acknowledged: u8,
    pub storage_uri: String,
    /// Quality report of the owner's scoring (metadata): kept windows per predicted activity,
    /// dropped windows per reason, windows kept.
    pub activities: std::collections::BTreeMap<String, u64>,
    pub windows_dropped: std::collections::BTreeMap<String, u64>,
    pub windows_kept: Option<u64>,
    /// The recording device as the owner's app described it (metadata `device`): its model, and
    /// whether its certificate chains to a manufacturer approved on-chain — checked by the
    /// owner's app at publish time (`phd-user publish`), so an owner's claim, not a proof.
    pub device_model: Option<String>,
    pub device_certified: bool,
}

impl Listing {
    /// Certified score when certified, else the owner's metadata score.
    pub fn effective_quality(&self) -> Option<f64> {
        self.certified_score_bps
            .map(|b| f64::from(b) / 10_000.0)
            .or(self.quality_score)
    }
}

/// How many listings `browse` reads from the node at once.
const CONCURRENT_READS: usize = 16;

/// All listings matching `filter`, by dataset id.
///
/// The keepers and metadata come from the `Published` events (one log query); each keeper's
/// stake is read once for all its datasets; the per-dataset state (status and price,
/// certification) is read [`CONCURRENT_READS`] datasets at a time. With 1,000 listings that is
/// ≈ 3 calls per listing instead of ≈ 9 made one after the other (docs/PERFORMANCE.md "Web").
pub async fn browse(ctx: &ClientCtx, filter: &BrowseFilter) -> Result<Vec<Listing>> {
    use futures::StreamExt as _;
    let published = ctx
        .chain
        .published_datasets(None, BlockRange::all())
        .await
        .map_err(|e| SdkError::chain("reading listings", e))?;
    let stakes = stakes_of(
        ctx,
        published
            .iter()
            .flat_map(|p| p.event.keepers.iter().copied()),
    )
    .await;
    let (stakes, all) = (&stakes, filter.all);
    // Owned events into the futures: a stream over borrowed ones is not `Send` for every
    // lifetime, which an axum handler needs.
    let reads = published
        .into_iter()
        .map(|p| async move { listing_from(ctx, &p.event, stakes, all).await });
    let rows: Vec<Result<Option<(Listing, U256)>>> = futures::stream::iter(reads)
        .buffered(CONCURRENT_READS)
        .collect()
        .await;
    let mut out = Vec::new();
    for r in rows {
        if let Some((l, price)) = r?
            && matches(&l, price, filter)
        {
            out.push(l);
        }
    }
    Ok(out)
}

/// One dataset's listing, whatever its status; `None` when no such dataset was published.
pub async fn listing(ctx: &ClientCtx, dataset_id: u64) -> Result<Option<Listing>> {
    let id = U256::from(dataset_id);
    let Some(p) = ctx
        .chain
        .published_dataset(id)
        .await
        .map_err(|e| SdkError::chain("reading listings", e))?
    else {
        return Ok(None);
    };
    let stakes = stakes_of(ctx, p.event.keepers.iter().copied()).await;
    Ok(listing_from(ctx, &p.event, &stakes, true)
        .await?
        .map(|(l, _)| l))
}

/// Every listing (any status) as of a block: what a catalog renders from, kept fresh by
/// [`refresh`] at the cost of one `eth_blockNumber` while nothing changed.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The chain head when the snapshot was started (state read at or after it).
    pub block: u64,
    /// By dataset id.
    pub listings: Vec<Listing>,
}

/// A fresh snapshot of every listing.
pub async fn snapshot(ctx: &ClientCtx) -> Result<Snapshot> {
    let block = ctx
        .chain
        .block_number()
        .await
        .map_err(|e| SdkError::chain("reading the chain head", e))?;
    let listings = browse(
        ctx,
        &BrowseFilter {
            all: true,
            ..BrowseFilter::default()
        },
    )
    .await?;
    Ok(Snapshot { block, listings })
}

/// `old` brought up to the chain head, invalidated by events: no new block → `old` as it is;
/// `DataRegistry` events since `old.block` → only the datasets they name are read again (a new
/// `Published` adds one); any `KeeperRegistry` event (stakes moved: deposit, exit, slash) → a
/// full [`snapshot`], since every listing shows its keepers' stakes.
pub async fn refresh(ctx: &ClientCtx, old: &Snapshot) -> Result<Snapshot> {
    use alloy::providers::Provider as _;
    let c = &ctx.chain;
    let head = c
        .block_number()
        .await
        .map_err(|e| SdkError::chain("reading the chain head", e))?;
    if head <= old.block {
        return Ok(old.clone());
    }
    let dep = c.deployment();
    let filter = alloy::rpc::types::Filter::new()
        .address(vec![dep.data_registry, dep.keeper_registry])
        .from_block(old.block + 1)
        .to_block(head);
    let logs = c
        .provider()
        .get_logs(&filter)
        .await
        .map_err(|e| SdkError::chain("reading listing events", e))?;
    if logs.iter().any(|l| l.address() == dep.keeper_registry) {
        return snapshot(ctx).await;
    }
    // Every DataRegistry event about a dataset has its id as the first indexed topic; the few
    // that do not (RewardsFunded: a funder address) name no published dataset and are skipped.
    let touched: std::collections::BTreeSet<U256> = logs
        .iter()
        .filter_map(|l| l.topics().get(1).map(|t| U256::from_be_bytes(t.0)))
        .collect();
    let mut listings = old.listings.clone();
    for id in touched {
        let Ok(did) = u64::try_from(id) else { continue };
        let Some(fresh) = listing(ctx, did).await? else {
            continue;
        };
        match listings.binary_search_by_key(&did, |l| l.dataset_id) {
            Ok(i) => listings[i] = fresh,
            Err(i) => listings.insert(i, fresh),
        }
    }
    Ok(Snapshot {
        block: head,
        listings,
    })
}

/// The current stake of each of `keepers` (each read once; unreadable ones left out: display only).
async fn stakes_of(
    ctx: &ClientCtx,
    keepers: impl Iterator<Item = Address>,
) -> std::collections::HashMap<Address, U256> {
    use futures::StreamExt as _;
    let distinct: std::collections::BTreeSet<Address> = keepers.collect();
    futures::stream::iter(distinct)
        .map(|k| async move { ctx.chain.stake_of(k).await.ok().map(|s| (k, s.amount)) })
        .buffer_unordered(CONCURRENT_READS)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

/// The listing of the dataset `p` published, with its price; `None` when it is not active and
/// `all` is false. `stakes` holds its keepers' stakes.
async fn listing_from(
    ctx: &ClientCtx,
    p: &phd_chain::bindings::data_registry::DataRegistry::Published,
    stakes: &std::collections::HashMap<Address, U256>,
    all: bool,
) -> Result<Option<(Listing, U256)>> {
    let id = p.datasetId;
    let metadata = &p.metadata;
    let (d, cert, summary) = tokio::join!(
        ctx.chain.dataset(id),
        ctx.chain.certification(id),
        ctx.chain.certification_summary(id)
    );
    let d = d.map_err(|e| SdkError::chain("reading a dataset", e))?;
    let status = DatasetStatus::from(d.status);
    if !all && status != DatasetStatus::Active {
        return Ok(None);
    }
    let meta: serde_json::Value =
        serde_json::from_slice(metadata).unwrap_or(serde_json::Value::Null);
    let quality = meta.get("quality");
    let cert = cert.ok().filter(|c| c.validator != Address::ZERO);
    let summary = summary.ok();
    let stakes: Vec<U256> = p
        .keepers
        .iter()
        .filter_map(|k| stakes.get(k).copied())
        .collect();
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
        keeper_stake_min_wei: stakes.iter().min().map(|s| s.to_string()),
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
        activities: counts(quality.and_then(|q| q.get("classes"))),
        windows_dropped: counts(quality.and_then(|q| q.get("windows_dropped"))),
        windows_kept: quality
            .and_then(|q| q.get("windows_kept"))
            .and_then(serde_json::Value::as_u64),
        device_model: meta
            .get("device")
            .and_then(|d| d.get("model"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        device_certified: meta
            .get("device")
            .and_then(|d| d.get("certified"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    };
    Ok(Some((l, d.price)))
}

/// A `{name: count}` object of the metadata (unreadable entries left out: display only).
fn counts(v: Option<&serde_json::Value>) -> std::collections::BTreeMap<String, u64> {
    v.and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
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
            keeper_stake_min_wei: None,
            keeper_stake_total_phd: None,
            price_wei: "1".into(),
            price_phd: "0".into(),
            purposes: vec![],
            threshold: 3,
            keepers: 5,
            acknowledged: 5,
            storage_uri: String::new(),
            activities: Default::default(),
            windows_dropped: Default::default(),
            windows_kept: None,
            device_model: None,
            device_certified: false,
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
