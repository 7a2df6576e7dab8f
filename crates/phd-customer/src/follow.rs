//! `follow`: a thin wrapper over phd-sdk's [`phd_sdk::series_follow::follow`] that fills in
//! the subscriber's defaults (the price cap is the series' current price) and reports progress
//! on stderr from the follower's state file, so the SDK stays free of terminal concerns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::U256;
use phd_chain::Purpose;
use phd_sdk::series_follow::{FOLLOW_STATE_FILE, FollowOptions, FollowOutcome, FollowState};
use serde::Serialize;

use crate::{CustomerCtx, CustomerError, Result};

/// What `follow` needs.
#[derive(Debug, Clone)]
pub struct FollowArgs {
    /// Series to follow.
    pub series_id: u64,
    /// Output directory (`segment-<seq>.csv` files and the resume state).
    pub out_dir: PathBuf,
    /// First segment when subscribing; default: the next one appended.
    pub since: Option<u64>,
    /// Segments to pay for when subscribing.
    pub segments: u64,
    /// Price cap per segment (PHD wei); default: the series' current price.
    pub max_price_per_segment: Option<U256>,
    /// Purpose stated when subscribing.
    pub purpose: Purpose,
    /// Use this subscription instead of subscribing.
    pub subscription_id: Option<u64>,
    /// Chain polling interval.
    pub poll: Duration,
    /// Stop after this many segments written in this run.
    pub max_segments: Option<u64>,
    /// Interchange format written beside each segment's CSV.
    pub format: phd_ingest::ExportFormat,
    /// Interval of progress lines on stderr (`None`: none).
    pub progress_every: Option<Duration>,
    /// Progress lines as JSON.
    pub json_events: bool,
}

/// One progress line: where the follower is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowProgress {
    /// Always `"progress"`.
    pub event: &'static str,
    /// Series.
    pub series_id: u64,
    /// Subscription used (once known).
    pub subscription_id: Option<u64>,
    /// Next segment to write.
    pub next_seq: Option<u64>,
}

impl FollowProgress {
    /// From the follower's state file in `out_dir`.
    pub fn read(series_id: u64, out_dir: &Path) -> Self {
        let s: Option<FollowState> = std::fs::read(out_dir.join(FOLLOW_STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        FollowProgress {
            event: "progress",
            series_id,
            subscription_id: s.as_ref().map(|s| s.subscription_id),
            next_seq: s.as_ref().map(|s| s.next_seq),
        }
    }

    /// The line printed on stderr.
    pub fn line(&self, json: bool) -> String {
        if json {
            return serde_json::to_string(self).unwrap_or_default();
        }
        match (self.subscription_id, self.next_seq) {
            (Some(sub), Some(seq)) => format!(
                "series {} (subscription {sub}): waiting for segment {seq}",
                self.series_id
            ),
            _ => format!("series {}: subscribing", self.series_id),
        }
    }
}

/// Follows until the subscription's range is written, the series is withdrawn, `max_segments`
/// were written or `stop` resolves; a restart with the same `out_dir` resumes.
pub async fn follow(
    ctx: &CustomerCtx,
    args: &FollowArgs,
    stop: impl std::future::Future<Output = ()>,
) -> Result<FollowOutcome> {
    let max_price_per_segment = match args.max_price_per_segment {
        Some(p) => p,
        // Reusing a subscription never pays again, so no cap is needed then.
        None if args.subscription_id.is_some() => U256::ZERO,
        None => {
            ctx.chain
                .series(U256::from(args.series_id))
                .await
                .map_err(|e| CustomerError::chain("reading the series", e))?
                .pricePerSegment
        }
    };
    let opts = FollowOptions {
        series_id: args.series_id,
        out_dir: args.out_dir.clone(),
        since: args.since,
        segments: args.segments,
        max_price_per_segment,
        purpose: args.purpose,
        subscription_id: args.subscription_id,
        poll: args.poll,
        max_segments: args.max_segments,
        format: args.format,
    };
    let run = phd_sdk::series_follow::follow(ctx, &opts, stop);
    match args.progress_every {
        None => Ok(run.await?),
        Some(every) => tokio::select! {
            r = run => Ok(r?),
            never = report_progress(args, every) => match never {},
        },
    }
}

/// Prints a [`FollowProgress`] line whenever it changes; runs until dropped.
async fn report_progress(args: &FollowArgs, every: Duration) -> std::convert::Infallible {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = None;
    loop {
        tick.tick().await;
        let p = FollowProgress::read(args.series_id, &args.out_dir);
        if last.as_ref() != Some(&p) {
            eprintln!("{}", p.line(args.json_events));
            last = Some(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_from_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = FollowProgress::read(5, dir.path());
        assert_eq!((p.subscription_id, p.next_seq), (None, None));
        assert!(p.line(false).contains("subscribing"));
        std::fs::write(
            dir.path().join(FOLLOW_STATE_FILE),
            br#"{"series_id":5,"subscription_id":2,"next_seq":9}"#,
        )
        .unwrap();
        let p = FollowProgress::read(5, dir.path());
        assert_eq!((p.subscription_id, p.next_seq), (Some(2), Some(9)));
        assert!(p.line(false).contains("segment 9"));
        let v: serde_json::Value = serde_json::from_str(&p.line(true)).unwrap();
        assert_eq!(v["next_seq"], 9);
    }
}
