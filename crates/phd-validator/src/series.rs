//! Series certification: follows the SeriesMarket `Granted` events to this validator, reads
//! each granted segment once t keepers released it (phd-sdk's `appended_segment` +
//! `fetch_segment`: shares Feldman-verified, C0, every chunk verified against the on-chain root),
//! scores it with the quality model, keeps a rolling window of segment scores and, every
//! `series_certify_every` segments, certifies the series on-chain through the last scored
//! segment with the window's mean score and the keccak256 of a report listing the window.
//!
//! Unlike datasets, a low rolling score is posted too: the contract counts only certificates
//! above its minimum, and a validator's latest certificate replaces its previous one, so a
//! series whose quality drops loses its certification instead of keeping a stale one.
//!
//! State: `<data_dir>/series.json` (reorg-aware cursor over `Granted` events and one record per
//! granted subscription), reports in `<data_dir>/series-reports/<series>-<through>.json` (and S3
//! `reports/series/<series>/<through>.json` when configured). Plaintext never touches the disk.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use alloy::primitives::{B256, U256};
use phd_chain::{BlockRange, SeriesCertifyParams, SeriesStatus};
use phd_cli::fs::Access;
use phd_node::{BlockRef, CursorScanner, ScanConfig};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::error::{Result, ValidatorError};
use crate::report::{now_unix, report_hash, score_plaintext};

/// Version of the series report JSON.
pub const SERIES_REPORT_VERSION: u32 = 1;

/// One scored segment of the rolling window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentScore {
    pub seq: u64,
    pub score_bps: u16,
    pub samples: u64,
    pub windows_total: u64,
    pub windows_kept: u64,
}

/// Where a granted subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowState {
    /// Segments are followed and certified.
    Following,
    /// The granted range was read (or the series stopped): nothing more to do.
    Done,
}

/// Durable record of one granted subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesFollow {
    pub series_id: u64,
    pub subscription_id: u64,
    /// Next segment to read.
    pub next_seq: u64,
    /// The latest segment scores, oldest first (at most the configured window).
    pub window: Vec<SegmentScore>,
    /// Segments scored since the last certificate.
    pub since_certified: u64,
    pub certified_through: Option<u64>,
    pub certified_score_bps: Option<u16>,
    pub certify_tx: Option<String>,
    pub report_uri: Option<String>,
    pub state: FollowState,
    /// Last error (transient or final).
    pub error: Option<String>,
    /// Why the last certificate was not made (kept until one is).
    #[serde(default)]
    pub certify_error: Option<String>,
}

/// `series.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeriesState {
    /// Next block to scan for `Granted` events (`None`: the deployment block).
    pub next_block: Option<u64>,
    /// The last scanned blocks (number, hash), oldest first: a reorganisation of them is
    /// rewound (phd-node's cursor). Absent in state files written before it existed.
    #[serde(default)]
    pub scanned_blocks: Vec<BlockRef>,
    pub follows: Vec<SeriesFollow>,
}

/// The published report; `reportHash = keccak256(bytes)`. Aggregates per segment only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesReport {
    pub version: u32,
    pub chain_id: u64,
    /// SeriesCertification address.
    pub series_certification: String,
    pub validator: String,
    pub series_id: u64,
    pub subscription_id: u64,
    pub through_seq: u64,
    pub model_id: String,
    /// Mean of the window's segment scores: what goes on-chain.
    pub score_bps: u16,
    pub window: Vec<SegmentScore>,
    pub created_at: u64,
}

fn state_path(s: &Shared) -> PathBuf {
    s.data.root().join("series.json")
}

fn reports_dir(s: &Shared) -> PathBuf {
    s.data.root().join("series-reports")
}

/// File name of the report of `series_id` through `through_seq`.
pub fn series_report_name(series_id: u64, through_seq: u64) -> String {
    format!("{series_id}-{through_seq}.json")
}

/// Reads `series.json` (empty state when absent).
pub fn load_state(data_dir: &std::path::Path) -> Result<SeriesState> {
    let path = data_dir.join("series.json");
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| ValidatorError::Corrupt {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SeriesState::default()),
        Err(source) => Err(ValidatorError::Io { path, source }),
    }
}

fn save_state(s: &Shared, st: &SeriesState) -> Result<()> {
    let path = state_path(s);
    phd_cli::fs::write_atomic(&path, &serde_json::to_vec_pretty(st)?, Access::Default)
        .map_err(ValidatorError::io(&path))
}

/// One round: new grants, then every followed subscription as far as it goes.
pub(crate) async fn round(s: &Shared, cancel: &CancellationToken) -> Result<()> {
    if s.cfg.deployment.series_certification.is_zero() {
        return Ok(());
    }
    let mut st = load_state(s.data.root())?;
    scan_grants(s, &mut st).await?;
    save_state(s, &st)?;
    for i in 0..st.follows.len() {
        if cancel.is_cancelled() {
            break;
        }
        if st.follows[i].state == FollowState::Done {
            continue;
        }
        let mut f = st.follows[i].clone();
        let res = advance(s, &mut f, &mut st, i, cancel).await;
        if let Err(e) = &res {
            f.error = Some(e.to_string());
            tracing::warn!(series_id = f.series_id, subscription_id = f.subscription_id, error = %e, "series step failed; will retry");
        }
        st.follows[i] = f;
        save_state(s, &st)?;
    }
    Ok(())
}

/// Largest block range per scan step (phd-chain fetches events in chunks as well).
const MAX_RANGE: u64 = 10_000;

/// Scans new `Granted` events of the SeriesMarket to this validator with the reorg-aware
/// cursor the dataset watcher uses (phd-node): confirmation depth, remembered block hashes and
/// a rewind past a reorganisation.
async fn scan_grants(s: &Shared, st: &mut SeriesState) -> Result<()> {
    let cfg = ScanConfig {
        start_block: s.cfg.deployment.deployed_at_block,
        confirmations: s.cfg.confirmations,
        max_range: MAX_RANGE,
    };
    let scanner = SeriesGrantScanner {
        s,
        state: Mutex::new(std::mem::take(st)),
    };
    let scanned = phd_node::scan_to_head(&scanner, &cfg).await;
    *st = scanner.into_state();
    scanned.map(|_| ())
}

/// `Granted` events to this validator become [`SeriesFollow`] records; the cursor and the
/// remembered blocks live in `series.json` with them, saved together after each range.
struct SeriesGrantScanner<'a> {
    s: &'a Shared,
    /// Never held across an `.await`.
    state: Mutex<SeriesState>,
}

impl SeriesGrantScanner<'_> {
    fn into_state(self) -> SeriesState {
        self.state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut SeriesState) -> T) -> T {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn set_cursor(&self, next_block: u64, window: &[BlockRef]) -> Result<()> {
        let snapshot = self.with_state(|st| {
            st.next_block = Some(next_block);
            st.scanned_blocks = window.to_vec();
            st.clone()
        });
        save_state(self.s, &snapshot)
    }
}

#[async_trait::async_trait]
impl CursorScanner for SeriesGrantScanner<'_> {
    type Error = ValidatorError;

    async fn head(&self) -> Result<u64> {
        self.s
            .client
            .block_number()
            .await
            .map_err(|e| ValidatorError::chain("reading the block number", e))
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>> {
        self.s
            .client
            .block_hash(number)
            .await
            .map_err(|e| ValidatorError::chain("reading a block hash", e))
    }

    async fn next_block(&self) -> Result<Option<u64>> {
        Ok(self.with_state(|st| st.next_block))
    }

    async fn remembered(&self) -> Result<Vec<BlockRef>> {
        Ok(self.with_state(|st| st.scanned_blocks.clone()))
    }

    /// Follow records stay: a rescanned grant is recognised by its subscription id, and a
    /// grant that vanished with the old branch cannot be certified on (the certificate needs
    /// the segments released to this validator on-chain).
    async fn rewind(&self, next_block: u64, window: &[BlockRef]) -> Result<()> {
        self.set_cursor(next_block, window)
    }

    async fn scan(&self, from: u64, to: u64, window: &[BlockRef]) -> Result<()> {
        let me = self.s.client.address();
        let grants = self
            .s
            .client
            .series_grants(
                None,
                Some(me),
                BlockRange {
                    from: Some(from),
                    to: Some(to),
                },
            )
            .await
            .map_err(|e| ValidatorError::chain("reading series Granted events", e))?;
        for g in grants {
            let ev = g.event;
            if ev.grantee != me {
                continue;
            }
            let (Ok(series_id), Ok(subscription_id)) =
                (u64::try_from(ev.seriesId), u64::try_from(ev.subscriptionId))
            else {
                tracing::warn!(series_id = %ev.seriesId, "series grant ignored: id does not fit u64");
                continue;
            };
            let known = self.with_state(|st| {
                st.follows
                    .iter()
                    .any(|f| f.subscription_id == subscription_id)
            });
            if known {
                continue;
            }
            let sub = self
                .s
                .client
                .subscription(U256::from(subscription_id))
                .await
                .map_err(|e| ValidatorError::chain("reading the granted subscription", e))?;
            tracing::info!(
                series_id,
                subscription_id,
                from_seq = sub.fromSeq,
                segments = sub.segments,
                "series grant received"
            );
            self.with_state(|st| {
                st.follows.push(SeriesFollow {
                    series_id,
                    subscription_id,
                    next_seq: sub.fromSeq,
                    window: Vec::new(),
                    since_certified: 0,
                    certified_through: None,
                    certified_score_bps: None,
                    certify_tx: None,
                    report_uri: None,
                    state: FollowState::Following,
                    error: None,
                    certify_error: None,
                });
            });
        }
        // The follows and the cursor are saved in one file: never a cursor past unsaved grants.
        self.set_cursor(to.saturating_add(1), window)
    }
}

/// Reads, scores and certifies as far as the released segments go; saves after each segment.
async fn advance(
    s: &Shared,
    f: &mut SeriesFollow,
    st: &mut SeriesState,
    index: usize,
    cancel: &CancellationToken,
) -> Result<()> {
    let sid = U256::from(f.series_id);
    let every = s.cfg.series_certify_every.max(1);
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        // Before reading further: a certificate due (also one that failed in an earlier round).
        if f.since_certified >= every {
            let done = certify(s, f).await;
            st.follows[index] = f.clone();
            save_state(s, st)?;
            done?;
        }
        let sub = s
            .client
            .subscription(U256::from(f.subscription_id))
            .await
            .map_err(|e| ValidatorError::chain("reading the subscription", e))?;
        let series = s
            .client
            .series(sid)
            .await
            .map_err(|e| ValidatorError::chain("reading the series", e))?;
        let end = sub.fromSeq.saturating_add(sub.segments);
        let stopped = SeriesStatus::from(series.status) == SeriesStatus::Withdrawn;
        if f.next_seq >= end || stopped {
            f.state = FollowState::Done;
            tracing::info!(
                series_id = f.series_id,
                subscription_id = f.subscription_id,
                stopped,
                "series grant finished"
            );
            return Ok(());
        }
        let Some(segment) = phd_sdk::series::appended_segment(&s.ctx, f.series_id, f.next_seq)
            .await
            .map_err(series_err(f))?
        else {
            return Ok(());
        };
        let Some(plain) = phd_sdk::series::fetch_segment(
            &s.ctx,
            f.series_id,
            f.subscription_id,
            &segment,
            series.threshold,
        )
        .await
        .map_err(series_err(f))?
        else {
            return Ok(());
        };
        let plain = zeroize::Zeroizing::new(plain);
        let model = Arc::clone(&s.model);
        let result = tokio::task::spawn_blocking(move || score_plaintext(&model, &plain))
            .await
            .map_err(|e| ValidatorError::Task {
                task: "scoring a segment",
                reason: e.to_string(),
            })?;
        tracing::info!(
            series_id = f.series_id,
            seq = f.next_seq,
            score_bps = result.score_bps,
            samples = result.samples,
            "segment scored"
        );
        f.window.push(SegmentScore {
            seq: f.next_seq,
            score_bps: result.score_bps,
            samples: result.samples,
            windows_total: result.windows_total,
            windows_kept: result.windows_kept,
        });
        let keep = s.cfg.series_window.max(1);
        if f.window.len() > keep {
            let excess = f.window.len() - keep;
            f.window.drain(..excess);
        }
        f.next_seq += 1;
        f.since_certified += 1;
        f.error = None;
        st.follows[index] = f.clone();
        save_state(s, st)?;
    }
}

fn series_err(f: &SeriesFollow) -> impl FnOnce(phd_sdk::SdkError) -> ValidatorError {
    let (series_id, subscription_id) = (f.series_id, f.subscription_id);
    move |source| ValidatorError::Series {
        series_id,
        subscription_id,
        source: Box::new(source),
    }
}

/// Writes the report of the window and certifies through its last segment (once: a
/// certificate of ours already covering it, e.g. sent before a crash, is taken as done).
async fn certify(s: &Shared, f: &mut SeriesFollow) -> Result<()> {
    let Some(last) = f.window.last() else {
        return Ok(());
    };
    let through_seq = last.seq;
    let sid = U256::from(f.series_id);
    let me = s.client.address();
    if let Some(c) = s
        .client
        .current_series_certificate(sid, me)
        .await
        .map_err(|e| ValidatorError::chain("reading our series certificate", e))?
        && c.throughSeq >= through_seq
    {
        f.since_certified = 0;
        f.certified_through = Some(c.throughSeq);
        f.certified_score_bps = Some(c.scoreBps);
        return Ok(());
    }
    let sum: u64 = f.window.iter().map(|w| u64::from(w.score_bps)).sum();
    let score_bps = u16::try_from(sum / f.window.len() as u64).unwrap_or(u16::MAX);
    let d = &s.cfg.deployment;
    let rep = SeriesReport {
        version: SERIES_REPORT_VERSION,
        chain_id: d.chain_id,
        series_certification: d.series_certification.to_string(),
        validator: me.to_string(),
        series_id: f.series_id,
        subscription_id: f.subscription_id,
        through_seq,
        model_id: format!("{:#x}", s.model_id),
        score_bps,
        window: f.window.clone(),
        created_at: now_unix(),
    };
    let mut bytes = serde_json::to_vec_pretty(&rep)?;
    bytes.push(b'\n');
    let hash = report_hash(&bytes);
    let dir = reports_dir(s);
    std::fs::create_dir_all(&dir).map_err(ValidatorError::io(&dir))?;
    let name = series_report_name(f.series_id, through_seq);
    let path = dir.join(&name);
    phd_cli::fs::write_atomic(&path, &bytes, Access::Default).map_err(ValidatorError::io(&path))?;
    let key = format!("reports/series/{}/{through_seq}.json", f.series_id);
    let uri = match &s.store {
        Some(store) => {
            store
                .put_bytes(&key, bytes)
                .await
                .map_err(|source| ValidatorError::Storage {
                    context: format!("uploading {key}"),
                    source: Box::new(source),
                })?;
            format!("s3://{}/{key}", store.bucket())
        }
        None => format!(
            "{}/series-reports/{name}",
            s.health.endpoint.trim_end_matches('/')
        ),
    };
    let params = SeriesCertifyParams {
        series_id: sid,
        subscription_id: f.subscription_id,
        through_seq,
        score_bps,
        model_id: s.model_id,
        report_hash: hash,
        report_uri: uri.clone(),
    };
    let tx = match s.client.certify_series(&params).await {
        Ok(tx) => tx,
        Err(e) => {
            // A named refusal (e.g. this account is not independent of the series) does not
            // change by retrying: wait for the next segment instead of re-sending every round.
            if e.revert().is_some() {
                f.since_certified = 0;
            }
            f.certify_error = Some(e.to_string());
            return Err(ValidatorError::chain("certifying the series", e));
        }
    };
    tracing::info!(series_id = f.series_id, through_seq, score_bps, tx = %tx.tx_hash, report_uri = %uri, "series certified");
    f.since_certified = 0;
    f.certified_through = Some(through_seq);
    f.certified_score_bps = Some(score_bps);
    f.certify_tx = Some(format!("{:#x}", tx.tx_hash));
    f.report_uri = Some(uri);
    f.certify_error = None;
    Ok(())
}

/// The bytes of a stored series report (served at `GET /series-reports/{name}`).
pub(crate) fn report_bytes(data_dir: &std::path::Path, name: &str) -> Result<Option<Vec<u8>>> {
    // Only `<series>-<through>.json` names: nothing else under the data directory is served.
    let valid = name
        .strip_suffix(".json")
        .and_then(|stem| stem.split_once('-'))
        .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
    if !valid {
        return Ok(None);
    }
    let path = data_dir.join("series-reports").join(name);
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ValidatorError::Io { path, source }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn only_series_report_names_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("series-reports");
        std::fs::create_dir_all(&reports).unwrap();
        std::fs::write(reports.join("3-7.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("encryption.key"), b"secret").unwrap();
        assert_eq!(
            report_bytes(dir.path(), "3-7.json").unwrap(),
            Some(b"{}".to_vec())
        );
        assert_eq!(report_bytes(dir.path(), "3-8.json").unwrap(), None);
        for bad in [
            "../encryption.key",
            "..-1.json",
            "3-7",
            "a-b.json",
            "3-7.json/..",
            "-.json",
        ] {
            assert_eq!(report_bytes(dir.path(), bad).unwrap(), None, "{bad}");
        }
    }

    #[test]
    fn missing_state_is_empty_and_garbage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_state(dir.path()).unwrap().follows.is_empty());
        std::fs::write(dir.path().join("series.json"), b"not json").unwrap();
        assert!(matches!(
            load_state(dir.path()),
            Err(ValidatorError::Corrupt { .. })
        ));
    }
}
