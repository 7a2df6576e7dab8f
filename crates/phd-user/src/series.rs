//! Continuous series: `series create` opens one on-chain, `stream` feeds it from a growing CSV.
//!
//! Both are thin: keeper choice is `publish`'s ([`crate::publish::select_keepers`]), the
//! streamer is phd-sdk's [`phd_sdk::stream::stream`] (crash-safe, resumable from its state
//! file). What this module adds is the owner's defaults (pseudonym key from the local state)
//! and a progress reporter that reads the streamer's state file, so progress and lag are
//! visible without the streamer knowing about terminals.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, U256, keccak256};
use phd_chain::{Purpose, SeriesParams};
use phd_sdk::stream::{SegmentBy, StreamOptions, StreamOutcome, StreamState, StreamStats};
use serde::Serialize;

use crate::ctx::UserCtx;
use crate::error::{Result, UserError};
use crate::publish::{KeeperArgs, consent_terms_hash, require_purposes, select_keepers};

/// What `series create` needs.
#[derive(Debug, Clone)]
pub struct CreateSeriesArgs {
    /// Price of one segment, PHD wei.
    pub price_per_segment: U256,
    /// Consented purposes.
    pub purposes: Vec<Purpose>,
    /// Consent terms text (its keccak256 goes on-chain).
    pub consent_terms: Option<PathBuf>,
    /// Keepers and shares needed per segment, chosen as `publish` does.
    pub keepers: KeeperArgs,
    /// Title in the series metadata.
    pub title: Option<String>,
    /// Data type in the series metadata.
    pub data_type: Option<String>,
}

/// What `series create` did.
#[derive(Debug, Clone, Serialize)]
pub struct CreateSeriesOutcome {
    /// New series id.
    pub series_id: u64,
    /// Transaction.
    pub tx_hash: String,
    /// Gas used.
    pub gas_used: u64,
    /// Keepers, share i + 1 to the i-th.
    pub keepers: Vec<Address>,
    /// Shares needed per segment.
    pub threshold: u8,
    /// Price of one segment, PHD.
    pub price_per_segment_phd: String,
    /// The metadata document whose keccak256 went on-chain.
    pub metadata: serde_json::Value,
    /// Keeper-choice warnings.
    pub warnings: Vec<String>,
}

/// Opens a series on-chain with keepers chosen like `publish`.
pub async fn create_series(ctx: &UserCtx, args: &CreateSeriesArgs) -> Result<CreateSeriesOutcome> {
    require_purposes(&args.purposes)?;
    args.keepers.check_threshold()?;
    let terms_hash = consent_terms_hash(args.consent_terms.as_deref())?;
    let mut warnings = Vec::new();
    let targets = select_keepers(ctx, &args.keepers, &mut warnings).await?;
    let keepers: Vec<Address> = targets.iter().map(|t| t.address).collect();
    let metadata = serde_json::json!({
        "title": args.title,
        "dataType": args.data_type,
        "purposes": args.purposes.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "consentTermsHash": format!("0x{}", hex::encode(terms_hash)),
    });
    let metadata_hash = keccak256(serde_json::to_vec(&metadata).unwrap_or_default());
    let (tx, series_id) = ctx
        .chain
        .create_series(&SeriesParams {
            keepers: keepers.clone(),
            threshold: args.keepers.threshold,
            purposes: args.purposes.clone(),
            price_per_segment: args.price_per_segment,
            metadata_hash,
            consent_terms_hash: terms_hash.into(),
        })
        .await
        .map_err(|e| UserError::chain("creating the series", e))?;
    Ok(CreateSeriesOutcome {
        series_id: crate::ctx::id_u64(series_id),
        tx_hash: format!("{:#x}", tx.tx_hash),
        gas_used: tx.gas_used,
        keepers,
        threshold: args.keepers.threshold,
        price_per_segment_phd: phd_chain::format_phd(args.price_per_segment),
        metadata,
        warnings,
    })
}

/// What `stream` needs beyond the SDK's options.
#[derive(Debug, Clone)]
pub struct StreamArgs {
    /// Series to append to.
    pub series_id: u64,
    /// CSV being appended to, a drop directory, or `-` (stdin).
    pub source: PathBuf,
    /// Progress file (resume point).
    pub state_file: PathBuf,
    /// Segment cut.
    pub segment_by: SegmentBy,
    /// Owner's pseudonym key; default: the one in the local state dir (as `publish`).
    pub pseudonym_key: Option<Vec<u8>>,
    /// Keep these columns unchanged.
    pub keep_columns: Vec<String>,
    /// Drop these columns.
    pub drop_columns: Vec<String>,
    /// Poll interval while the source does not grow.
    pub poll: Duration,
    /// Stop after this many segments.
    pub max_segments: Option<u64>,
    /// The owner's access gateway (segments listed behind it).
    pub gateway: Option<String>,
    /// Directory for a copy of each segment's pseudonymised rows.
    pub pseudonymised_out: Option<PathBuf>,
    /// Quality model and keep choice applied per segment (`None`: every row kept).
    pub quality: Option<std::sync::Arc<dyn phd_sdk::stream::SegmentQuality>>,
    /// Interval of progress reports (`None`: none).
    pub progress_every: Option<Duration>,
    /// Progress reports as JSON lines instead of text.
    pub json_events: bool,
}

/// One progress report, read from the streamer's state file and the source's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamProgress {
    /// Always `"progress"` (JSON event kind).
    pub event: &'static str,
    /// Series.
    pub series_id: u64,
    /// Next seq to append.
    pub next_seq: u64,
    /// Segment being published, if any.
    pub in_flight: Option<u64>,
    /// Bytes of the source not yet in an appended segment (the lag).
    pub lag_bytes: u64,
    /// Sample-time lag in milliseconds: newest complete row of the source minus the last row
    /// appended (`None` until a segment is appended or without a time column).
    pub lag_ms: Option<u64>,
}

/// Offset just past the last newline before byte `len` of `path` (within its last 4 KiB).
fn last_newline_end(path: &Path, len: u64) -> Option<u64> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let start = len.saturating_sub(4096);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = vec![0u8; usize::try_from(len - start).ok()?];
    f.read_exact(&mut buf).ok()?;
    let i = buf.iter().rposition(|b| *b == b'\n')?;
    Some(start + i as u64 + 1)
}

/// The time-column value of the complete line that ends at byte `end` of `path`.
fn time_of_line_ending_at(path: &Path, end: u64) -> Option<f64> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 4096];
    let n = f.read(&mut head).ok()?;
    let header = std::str::from_utf8(&head[..n]).ok()?.lines().next()?;
    let col = header.split(',').position(|c| {
        matches!(
            c.trim().to_ascii_lowercase().as_str(),
            "time" | "timestamp" | "t" | "time_s"
        )
    })?;
    let start = end.saturating_sub(4096);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = vec![0u8; usize::try_from(end - start).ok()?];
    f.read_exact(&mut buf).ok()?;
    let body = buf.strip_suffix(b"\n")?;
    let line_start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if line_start == 0 && start > 0 {
        return None; // a line longer than 4 KiB: not a sensor row
    }
    std::str::from_utf8(&body[line_start..])
        .ok()?
        .split(',')
        .nth(col)?
        .trim()
        .parse()
        .ok()
}

impl StreamProgress {
    /// From the state file (absent: nothing appended yet) and the source's current length.
    pub fn read(series_id: u64, state_file: &Path, source: &Path) -> Self {
        let state: Option<StreamState> = std::fs::read(state_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        // A directory or stdin is tailed through its spool: the lag is measured there.
        let tailed = match phd_sdk::stream_source::SourceKind::of(source) {
            phd_sdk::stream_source::SourceKind::File(p) => p,
            _ => phd_sdk::stream_source::spool_path(state_file),
        };
        let len = std::fs::metadata(&tailed).map_or(0, |m| m.len());
        // The newest complete row ends at the last newline of the source.
        let newest_end = last_newline_end(&tailed, len);
        let lag_ms = state.as_ref().and_then(|s| {
            let appended = time_of_line_ending_at(&tailed, s.offset)?;
            let latest = time_of_line_ending_at(&tailed, newest_end?)?;
            Some(((latest - appended).max(0.0) * 1000.0).round() as u64)
        });
        StreamProgress {
            event: "progress",
            series_id,
            next_seq: state.as_ref().map_or(0, |s| s.next_seq),
            in_flight: state
                .as_ref()
                .and_then(|s| s.in_flight.as_ref().map(|f| f.seq)),
            lag_bytes: len.saturating_sub(state.as_ref().map_or(0, |s| s.offset)),
            lag_ms,
        }
    }

    /// The line printed on stderr.
    pub fn line(&self, json: bool) -> String {
        if json {
            serde_json::to_string(self).unwrap_or_default()
        } else {
            format!(
                "series {}: next segment {}{}, {} bytes of the source not yet appended{}",
                self.series_id,
                self.next_seq,
                self.in_flight
                    .map(|s| format!(" (publishing {s})"))
                    .unwrap_or_default(),
                self.lag_bytes,
                self.lag_ms
                    .map(|ms| format!(" ({:.1} s of samples behind)", ms as f64 / 1000.0))
                    .unwrap_or_default()
            )
        }
    }
}

/// `phd-user stream-status`: the streamer's progress and lag, read from its state file (and the
/// source or spool), without the network. Also what `stream --metrics-addr` serves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStatus {
    /// Series.
    pub series_id: u64,
    /// Next seq to append.
    pub next_seq: u64,
    /// Segment cut and being published, if any.
    pub in_flight: Option<u64>,
    /// Running totals kept by the streamer (cut, uploaded, appended, skipped, samples, bytes,
    /// last sample time, last append time).
    #[serde(flatten)]
    pub stats: StreamStats,
    /// Bytes of the source (or spool) not yet in an appended segment (`None`: source unknown).
    pub pending_bytes: Option<u64>,
    /// now − the last appended sample's time, in seconds, when the time column holds unix time
    /// (seconds or milliseconds); `None` for relative sample times or before the first append.
    pub lag_seconds: Option<f64>,
    /// Newest complete row of the source − last appended row, in sample time (ms).
    pub source_lag_ms: Option<u64>,
}

/// Sample times above this are unix times (after 2001-09-09 in seconds), not seconds since the
/// start of a recording.
const UNIX_SECONDS_FROM: f64 = 1e9;
/// Sample times above this are unix times in milliseconds.
const UNIX_MILLIS_FROM: f64 = 1e11;

/// now − `sample_time` when the sample time is a unix time.
pub fn wall_clock_lag(sample_time: f64, now_unix: f64) -> Option<f64> {
    let t = if sample_time >= UNIX_MILLIS_FROM {
        sample_time / 1000.0
    } else if sample_time >= UNIX_SECONDS_FROM {
        sample_time
    } else {
        return None;
    };
    Some((now_unix - t).max(0.0))
}

/// Seconds since the unix epoch.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl StreamStatus {
    /// Reads `state_file`; `source` is the stream's `--source` (a directory or `-` means the
    /// spool next to the state file; `None`: the spool if there is one).
    pub fn read(state_file: &Path, source: Option<&Path>, now_unix: f64) -> Result<Self> {
        let bytes = std::fs::read(state_file).map_err(|source| UserError::Read {
            path: state_file.to_path_buf(),
            source,
        })?;
        let state: StreamState = serde_json::from_slice(&bytes).map_err(|e| UserError::Read {
            path: state_file.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a stream state file: {e}"),
            ),
        })?;
        let spool = phd_sdk::stream_source::spool_path(state_file);
        let source = match source {
            Some(p) => Some(p.to_path_buf()),
            None => spool.is_file().then(|| PathBuf::from("-")),
        };
        let progress = source
            .as_deref()
            .map(|src| StreamProgress::read(state.series_id, state_file, src));
        let lag_seconds = state
            .stats
            .last_sample_time
            .and_then(|t| wall_clock_lag(t, now_unix));
        Ok(StreamStatus {
            series_id: state.series_id,
            next_seq: state.next_seq,
            in_flight: state.in_flight.as_ref().map(|f| f.seq),
            stats: state.stats,
            pending_bytes: progress.as_ref().map(|p| p.lag_bytes),
            lag_seconds,
            source_lag_ms: progress.and_then(|p| p.lag_ms),
        })
    }

    /// Human-readable report.
    pub fn text(&self) -> String {
        let s = &self.stats;
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        format!(
            "series {}: next segment {}{}\n  segments   cut {}  uploaded {}  appended {}  skipped (empty after quality) {}\n  samples appended {}, sealed bytes uploaded {}\n  last sample time {}  last append {}\n  lag {}  source lag {}  pending bytes {}",
            self.series_id,
            self.next_seq,
            self.in_flight
                .map(|s| format!(" (publishing {s})"))
                .unwrap_or_default(),
            s.segments_cut,
            s.segments_uploaded,
            s.segments_appended,
            s.segments_skipped,
            s.samples_appended,
            s.bytes_uploaded,
            opt(s.last_sample_time.map(|t| format!("{t}"))),
            opt(s.last_append_unixtime.map(|t| format!("{t} (unix)"))),
            opt(self.lag_seconds.map(|l| format!("{l:.1} s"))),
            opt(self
                .source_lag_ms
                .map(|l| format!("{:.1} s", l as f64 / 1000.0))),
            opt(self.pending_bytes.map(|b| b.to_string())),
        )
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let s = &self.stats;
        let series = format!("{{series=\"{}\"}}", self.series_id);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: Option<String>| {
            if let Some(v) = value {
                out.push_str(&format!(
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{series} {v}\n"
                ));
            }
        };
        metric(
            "phd_stream_segments_appended_total",
            "counter",
            "Segments appended on-chain (or found appended after a restart).",
            Some(s.segments_appended.to_string()),
        );
        metric(
            "phd_stream_segments_cut_total",
            "counter",
            "Segments cut from the source.",
            Some(s.segments_cut.to_string()),
        );
        metric(
            "phd_stream_segments_skipped_total",
            "counter",
            "Segments left empty by the quality model and keep choice.",
            Some(s.segments_skipped.to_string()),
        );
        metric(
            "phd_stream_samples_total",
            "counter",
            "Rows in the appended segments.",
            Some(s.samples_appended.to_string()),
        );
        metric(
            "phd_stream_bytes_uploaded_total",
            "counter",
            "Sealed segment bytes uploaded.",
            Some(s.bytes_uploaded.to_string()),
        );
        metric(
            "phd_stream_last_append_unixtime",
            "gauge",
            "Unix time of the last append.",
            s.last_append_unixtime.map(|t| t.to_string()),
        );
        metric(
            "phd_stream_lag_seconds",
            "gauge",
            "Now minus the time of the last appended sample (unix sample times only).",
            self.lag_seconds.map(|l| format!("{l:.3}")),
        );
        metric(
            "phd_stream_source_lag_seconds",
            "gauge",
            "Newest complete source row minus the last appended row, in sample time.",
            self.source_lag_ms
                .map(|l| format!("{:.3}", l as f64 / 1000.0)),
        );
        metric(
            "phd_stream_pending_bytes",
            "gauge",
            "Bytes of the source not yet in an appended segment.",
            self.pending_bytes.map(|b| b.to_string()),
        );
        out
    }
}

/// Streams until `max_segments` were appended or `stop` resolves (Ctrl-C / SIGTERM from the
/// binary); the state file keeps the resume point either way.
pub async fn stream(
    ctx: &UserCtx,
    args: &StreamArgs,
    stop: impl std::future::Future<Output = ()>,
) -> Result<StreamOutcome> {
    if phd_sdk::stream_source::SourceKind::of(&args.source)
        == phd_sdk::stream_source::SourceKind::File(args.source.clone())
        && !args.source.is_file()
    {
        return Err(UserError::Read {
            path: args.source.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    ctx.store()?;
    let pseudonym_key = match &args.pseudonym_key {
        Some(k) => zeroize::Zeroizing::new(k.clone()),
        None => ctx.state.pseudonym_key()?,
    };
    let opts = StreamOptions {
        series_id: args.series_id,
        source: args.source.clone(),
        state_file: args.state_file.clone(),
        segment_by: args.segment_by,
        pseudonym_key: pseudonym_key.to_vec(),
        policy: phd_ingest::PseudonymisePolicy {
            drop: args.drop_columns.clone(),
            keep: args.keep_columns.clone(),
            ..phd_ingest::PseudonymisePolicy::default()
        },
        poll: args.poll,
        max_segments: args.max_segments,
        gateway: args.gateway.clone(),
        pseudonymised_out: args.pseudonymised_out.clone(),
        quality: args.quality.clone(),
    };
    let client = ctx.client();
    let run = phd_sdk::stream::stream(&client, &opts, stop);
    match args.progress_every {
        None => Ok(run.await?),
        Some(every) => tokio::select! {
            r = run => Ok(r?),
            never = report_progress(args, every) => match never {},
        },
    }
}

/// Prints a [`StreamProgress`] line on stderr whenever it changes; runs until dropped.
async fn report_progress(args: &StreamArgs, every: Duration) -> std::convert::Infallible {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = None;
    loop {
        tick.tick().await;
        let p = StreamProgress::read(args.series_id, &args.state_file, &args.source);
        // Quiet while nothing changes: a stream that idles for hours stays readable.
        if last.as_ref() != Some(&p) {
            eprintln!("{}", p.line(args.json_events));
            last = Some(p);
        }
    }
}

/// `--segment` value: a positive duration such as `90s`, `15m`, `1h`, `1.5h`, `1d`.
pub fn parse_segment_duration(s: &str) -> std::result::Result<f64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 90s, 15m, 1h)"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" | "sec" | "" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        u => return Err(format!("unknown unit `{u}` in `{s}` (ms, s, m, h, d)")),
    };
    let secs = n * scale;
    if secs.is_finite() && secs > 0.0 {
        Ok(secs)
    } else {
        Err(format!("`{s}`: a segment must last more than zero"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_durations() {
        assert_eq!(parse_segment_duration("90s"), Ok(90.0));
        assert_eq!(parse_segment_duration("15m"), Ok(900.0));
        assert_eq!(parse_segment_duration("1.5h"), Ok(5400.0));
        assert_eq!(parse_segment_duration("1d"), Ok(86_400.0));
        assert_eq!(parse_segment_duration("30"), Ok(30.0));
        assert_eq!(parse_segment_duration("500ms"), Ok(0.5));
        for bad in ["", "h", "0s", "-1h", "1w", "1..2h", "nan", "inf"] {
            assert!(parse_segment_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn progress_reads_state_and_lag() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("s.csv");
        let st = dir.path().join("state.json");
        std::fs::write(&src, vec![b'x'; 100]).unwrap();
        let p = StreamProgress::read(3, &st, &src);
        assert_eq!((p.next_seq, p.in_flight, p.lag_bytes), (0, None, 100));
        std::fs::write(
            &st,
            br#"{"series_id":3,"inode":1,"offset":60,"next_seq":2,"in_flight":{"seq":2,"start":60,"end":90}}"#,
        )
        .unwrap();
        let p = StreamProgress::read(3, &st, &src);
        assert_eq!((p.next_seq, p.in_flight, p.lag_bytes), (2, Some(2), 40));
        assert_eq!(p.lag_ms, None, "no time column");
        assert!(p.line(false).contains("publishing 2"));
        let v: serde_json::Value = serde_json::from_str(&p.line(true)).unwrap();
        assert_eq!(v["event"], "progress");
        assert_eq!(v["lag_bytes"], 40);
    }

    #[test]
    fn progress_reports_the_sample_time_lag() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("s.csv");
        let st = dir.path().join("state.json");
        let head = "time,acc_x\n0.0,1\n0.1,2\n";
        std::fs::write(&src, format!("{head}0.2,3\n2.7,4\n3.0,")).unwrap();
        std::fs::write(
            &st,
            format!(
                r#"{{"series_id":3,"inode":1,"offset":{},"next_seq":1,"in_flight":null}}"#,
                head.len()
            ),
        )
        .unwrap();
        let p = StreamProgress::read(3, &st, &src);
        // Last appended row 0.1 s, newest complete row 2.7 s (the partial "3.0," not yet).
        assert_eq!(p.lag_ms, Some(2600));
        assert!(
            p.line(false).contains("2.6 s of samples behind"),
            "{}",
            p.line(false)
        );
    }

    #[test]
    fn status_reads_the_totals_and_the_lag_and_older_state_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("s.csv");
        let st = dir.path().join("state.json");
        // a missing state file is a clear error naming it
        let e = StreamStatus::read(&st, Some(&src), 0.0).unwrap_err();
        assert!(e.to_string().contains("state.json"), "{e}");
        std::fs::write(&st, b"{not json").unwrap();
        let e = StreamStatus::read(&st, Some(&src), 0.0).unwrap_err();
        assert!(e.to_string().contains("not a stream state file"), "{e}");
        // a state file written before the totals existed: zeros
        let head = "time,acc_x\n1700000000.0,1\n";
        std::fs::write(&src, format!("{head}1700000000.1,2\n")).unwrap();
        std::fs::write(
            &st,
            format!(
                r#"{{"series_id":4,"inode":1,"offset":{},"next_seq":1,"in_flight":null}}"#,
                head.len()
            ),
        )
        .unwrap();
        let s = StreamStatus::read(&st, Some(&src), 1_700_000_100.0).unwrap();
        assert_eq!(s.stats, StreamStats::default());
        assert_eq!((s.pending_bytes, s.lag_seconds), (Some(15), None));
        assert_eq!(s.source_lag_ms, Some(100));
        // with totals: the lag is now − the last appended sample (unix seconds)
        let mut state: StreamState = serde_json::from_slice(&std::fs::read(&st).unwrap()).unwrap();
        state.stats.segments_appended = 1;
        state.stats.samples_appended = 1;
        state.stats.last_sample_time = Some(1_700_000_000.0);
        std::fs::write(&st, serde_json::to_vec(&state).unwrap()).unwrap();
        let s = StreamStatus::read(&st, Some(&src), 1_700_000_100.0).unwrap();
        assert_eq!(s.lag_seconds, Some(100.0));
        assert!(s.text().contains("appended 1"), "{}", s.text());
        assert!(s.text().contains("lag 100.0 s"), "{}", s.text());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["segments_appended"], 1);
        assert_eq!(v["lag_seconds"], 100.0);
        // no --source and no spool: the pending bytes are unknown, not zero
        assert_eq!(
            StreamStatus::read(&st, None, 0.0).unwrap().pending_bytes,
            None
        );
    }

    #[test]
    fn wall_clock_lag_only_for_unix_sample_times() {
        assert_eq!(wall_clock_lag(12.5, 1_700_000_000.0), None);
        assert_eq!(wall_clock_lag(1_700_000_000.0, 1_700_000_030.0), Some(30.0));
        assert_eq!(
            wall_clock_lag(1_700_000_000_000.0, 1_700_000_030.0),
            Some(30.0)
        );
        // a device clock ahead of ours: no negative lag
        assert_eq!(wall_clock_lag(1_700_000_060.0, 1_700_000_030.0), Some(0.0));
    }
}
