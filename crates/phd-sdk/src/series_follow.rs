//! The subscriber's follower: subscribes (or resumes a subscription), waits for each covered
//! segment's releases, verifies shares and chunks, decrypts and writes each segment as its own
//! file in order (`segment-<seq>.csv`, written atomically; on request also converted to Open
//! mHealth or FHIR beside it), recording progress in a state file in the output directory so a
//! restart resumes at the next segment.
//!
//! A release that does not verify is ignored for decryption (the other keepers' shares are
//! used when t good ones exist) and proven wrong on-chain by itself
//! ([`crate::series_dispute::dispute_bad_releases`]): after the segment is written, or, when
//! the bad releases leave fewer than t good ones, as soon as t releases are posted (the
//! segment is then charged and the dispute refunds it).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::primitives::U256;
use phd_chain::{Purpose, SeriesStatus};
use phd_cli::fs::{Access, write_atomic};
use phd_ingest::ExportFormat;
use serde::{Deserialize, Serialize};

use crate::{
    ClientCtx, Result, SdkError,
    series::{appended_segment, fetch_segment},
    series_dispute::{SeriesDisputeOutcome, dispute_bad_releases},
};

/// File name of the follower's state inside the output directory.
pub const FOLLOW_STATE_FILE: &str = ".phd-follow.json";

/// What to follow.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Series to follow.
    pub series_id: u64,
    /// Where segment files and the state file go.
    pub out_dir: PathBuf,
    /// First segment when subscribing (back-fill from the past); default: the next one appended.
    pub since: Option<u64>,
    /// Segments to pay for when subscribing.
    pub segments: u64,
    /// Refuse to subscribe above this price per segment (PHD wei).
    pub max_price_per_segment: U256,
    /// Purpose stated when subscribing.
    pub purpose: Purpose,
    /// An existing subscription to use instead of subscribing.
    pub subscription_id: Option<u64>,
    /// Chain polling interval.
    pub poll: Duration,
    /// Stop after writing this many segments in this run (`None`: until the range or the series ends).
    pub max_segments: Option<u64>,
    /// Besides each segment's canonical CSV (always kept: it is what a dispute is about), write
    /// it in this interchange format ([`export_path`]); `Csv`: nothing more.
    pub format: ExportFormat,
}

/// Persisted progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FollowState {
    /// Series followed.
    pub series_id: u64,
    /// Subscription used.
    pub subscription_id: u64,
    /// Next segment to write.
    pub next_seq: u64,
}

/// What a follow run did.
#[derive(Debug, Clone, Serialize)]
pub struct FollowOutcome {
    /// Subscription used.
    pub subscription_id: u64,
    /// Segments written in this run.
    pub written: Vec<u64>,
    /// Next segment to write.
    pub next_seq: u64,
    /// Why it stopped.
    pub stopped: &'static str,
    /// Wrong releases proven on-chain in this run.
    pub disputes: Vec<SeriesDisputeOutcome>,
}

/// The path of segment `seq` in `out_dir`.
pub fn segment_path(out_dir: &Path, seq: u64) -> PathBuf {
    out_dir.join(format!("segment-{seq:012}.csv"))
}

/// The path of segment `seq` converted to `format` (`None` for CSV: the segment file itself).
pub fn export_path(out_dir: &Path, seq: u64, format: ExportFormat) -> Option<PathBuf> {
    let ext = match format {
        ExportFormat::Csv => return None,
        ExportFormat::Omh => "omh.json",
        ExportFormat::Fhir => "fhir.json",
    };
    Some(out_dir.join(format!("segment-{seq:012}.{ext}")))
}

/// Writes the conversion before the segment's CSV: the CSV's presence is what a reader takes
/// as "segment complete", and the state advances only after both, so a crash between them
/// rewrites both on restart.
fn write_segment(opts: &FollowOptions, seq: u64, plain: &[u8]) -> Result<()> {
    if let Some(path) = export_path(&opts.out_dir, seq, opts.format) {
        let bytes = phd_ingest::export_canonical(plain, opts.format).map_err(|source| {
            SdkError::Export {
                series_id: opts.series_id,
                seq,
                format: opts.format,
                source,
            }
        })?;
        write_atomic(&path, &bytes, Access::Default).map_err(|source| SdkError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let path = segment_path(&opts.out_dir, seq);
    write_atomic(&path, plain, Access::Default).map_err(|source| SdkError::Write { path, source })
}

fn load_state(path: &Path) -> Result<Option<FollowState>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| SdkError::Write {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SdkError::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn save_state(path: &Path, state: &FollowState) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
    write_atomic(path, &bytes, Access::OwnerOnly).map_err(|source| SdkError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Follows until the subscription's range is written, the series is withdrawn, `max_segments`
/// were written, or `stop` resolves.
pub async fn follow(
    ctx: &ClientCtx,
    opts: &FollowOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<FollowOutcome> {
    let state_path = opts.out_dir.join(FOLLOW_STATE_FILE);
    std::fs::create_dir_all(&opts.out_dir).map_err(|source| SdkError::Write {
        path: opts.out_dir.clone(),
        source,
    })?;
    let series_id = opts.series_id;
    let sid = U256::from(series_id);
    let mut state = match load_state(&state_path)? {
        Some(s) if s.series_id == series_id => s,
        Some(s) => {
            return Err(SdkError::series(
                series_id,
                format!(
                    "{} follows series {}, not this one",
                    state_path.display(),
                    s.series_id
                ),
            ));
        }
        None => {
            let subscription_id = match opts.subscription_id {
                Some(id) => id,
                None => {
                    let series = ctx
                        .chain
                        .series(sid)
                        .await
                        .map_err(|e| SdkError::chain("reading the series", e))?;
                    let from = opts.since.unwrap_or(series.segmentCount);
                    let out = ctx
                        .chain
                        .subscribe_series(
                            sid,
                            from,
                            opts.segments,
                            opts.max_price_per_segment,
                            opts.purpose,
                        )
                        .await
                        .map_err(|e| SdkError::chain("subscribing", e))?;
                    crate::id_u64(out.subscription_id)
                }
            };
            let sub = ctx
                .chain
                .subscription(U256::from(subscription_id))
                .await
                .map_err(|e| SdkError::chain("reading the subscription", e))?;
            if sub.subscriber != ctx.me() || sub.seriesId != sid {
                return Err(SdkError::series(
                    series_id,
                    format!("subscription {subscription_id} is not this account's for this series"),
                ));
            }
            let s = FollowState {
                series_id,
                subscription_id,
                next_seq: sub.fromSeq,
            };
            save_state(&state_path, &s)?;
            s
        }
    };
    let mut written = Vec::new();
    let mut disputes = Vec::new();
    // (seq, releases seen) last checked for disputes while waiting, so a poll with nothing new
    // does not open the same shares again.
    let mut checked: Option<(u64, usize)> = None;
    tokio::pin!(stop);
    let stopped = loop {
        let sub = ctx
            .chain
            .subscription(U256::from(state.subscription_id))
            .await
            .map_err(|e| SdkError::chain("reading the subscription", e))?;
        let end = sub.fromSeq.saturating_add(sub.segments);
        if state.next_seq >= end {
            break "subscription range written";
        }
        if opts.max_segments.is_some_and(|m| written.len() as u64 >= m) {
            break "segment limit reached";
        }
        let series = ctx
            .chain
            .series(sid)
            .await
            .map_err(|e| SdkError::chain("reading the series", e))?;
        let mut progressed = false;
        let segment = appended_segment(ctx, series_id, state.next_seq).await?;
        let plain = match &segment {
            Some(segment) => {
                fetch_segment(
                    ctx,
                    series_id,
                    state.subscription_id,
                    segment,
                    series.threshold,
                )
                .await?
            }
            None => None,
        };
        if segment.is_some() && plain.is_none() {
            // Fewer than t good releases: once t are posted the segment is charged, and proving
            // the bad ones wrong refunds it.
            let seq = state.next_seq;
            let posted = ctx
                .chain
                .released_shares(
                    U256::from(state.subscription_id),
                    Some(seq),
                    phd_chain::BlockRange::default(),
                )
                .await
                .map_err(|e| SdkError::chain("reading ShareReleased events", e))?
                .len();
            if posted >= usize::from(series.threshold) && checked != Some((seq, posted)) {
                checked = Some((seq, posted));
                disputes.extend(dispute_logged(ctx, state.subscription_id, seq).await);
            }
        }
        if let Some(plain) = plain {
            write_segment(opts, state.next_seq, &plain)?;
            tracing::info!(
                series_id,
                seq = state.next_seq,
                bytes = plain.len(),
                "segment written"
            );
            written.push(state.next_seq);
            disputes.extend(dispute_logged(ctx, state.subscription_id, state.next_seq).await);
            state.next_seq += 1;
            save_state(&state_path, &state)?;
            progressed = true;
        }
        if !progressed {
            if SeriesStatus::from(series.status) == SeriesStatus::Withdrawn {
                break "series withdrawn";
            }
            tokio::select! {
                () = &mut stop => break "stopped",
                () = tokio::time::sleep(opts.poll) => {}
            }
        }
    };
    Ok(FollowOutcome {
        subscription_id: state.subscription_id,
        written,
        next_seq: state.next_seq,
        stopped,
        disputes,
    })
}

/// Disputes the segment's wrong releases; a failure is logged, never stops the follower.
async fn dispute_logged(
    ctx: &ClientCtx,
    subscription_id: u64,
    seq: u64,
) -> Vec<SeriesDisputeOutcome> {
    match dispute_bad_releases(ctx, subscription_id, seq).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(subscription_id, seq, error = %e, "checking releases for disputes failed");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(out_dir: &Path, format: ExportFormat) -> FollowOptions {
        FollowOptions {
            series_id: 7,
            out_dir: out_dir.to_path_buf(),
            since: None,
            segments: 1,
            max_price_per_segment: U256::ZERO,
            purpose: Purpose::Research,
            subscription_id: None,
            poll: Duration::from_millis(1),
            max_segments: None,
            format,
        }
    }

    #[test]
    fn a_segment_is_kept_as_csv_and_written_as_fhir_beside_it() {
        let d = tempfile::tempdir().unwrap();
        let opts = options(d.path(), ExportFormat::Fhir);
        let csv = b"time,acc_x,acc_y,acc_z\n0,1,2,3\n0.1,1.5,2.5,3.5\n";
        write_segment(&opts, 3, csv).unwrap();
        assert_eq!(std::fs::read(segment_path(d.path(), 3)).unwrap(), csv);
        let fhir = export_path(d.path(), 3, ExportFormat::Fhir).unwrap();
        assert!(fhir.ends_with("segment-000000000003.fhir.json"));
        let t = phd_ingest::read_fhir(
            std::fs::File::open(fhir).unwrap(),
            &phd_ingest::ReadLimits::default(),
        )
        .unwrap();
        assert_eq!(
            t.channels,
            vec![vec![1.0, 1.5], vec![2.0, 2.5], vec![3.0, 3.5]]
        );
    }

    #[test]
    fn a_segment_that_cannot_be_converted_is_not_written_at_all() {
        let d = tempfile::tempdir().unwrap();
        let opts = options(d.path(), ExportFormat::Omh);
        let err = write_segment(&opts, 0, b"not,a\nsensor table\n").unwrap_err();
        assert!(
            matches!(
                err,
                SdkError::Export {
                    series_id: 7,
                    seq: 0,
                    ..
                }
            ),
            "{err}"
        );
        // No CSV either and the state does not advance: the segment is not skipped, and a run
        // without the conversion still gets it.
        assert!(!segment_path(d.path(), 0).exists());
    }

    #[test]
    fn csv_needs_no_second_file() {
        assert_eq!(export_path(Path::new("/x"), 1, ExportFormat::Csv), None);
        assert_eq!(
            export_path(Path::new("/x"), 1, ExportFormat::Omh),
            Some(PathBuf::from("/x/segment-000000000001.omh.json"))
        );
    }
}
