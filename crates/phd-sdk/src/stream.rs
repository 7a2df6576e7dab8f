//! The owner's streamer: follows a CSV file as it grows (`tail -F`: truncation and rotation
//! restart from the new file's first row) — or a drop directory or stdin, through a spool file
//! ([`crate::stream_source`]) — cuts segments by row count or by sample time,
//! pseudonymises each segment exactly as `publish` does (phd-ingest's reader, pseudonymiser
//! and canonical CSV), and hands it to [`publish_segment`].
//!
//! Crash safety: the state file (written atomically) holds the byte offset of the first row
//! not yet in an appended segment, the next seq and the in-flight segment's byte range. The
//! in-flight range is recorded before any effect, so a restart re-cuts exactly the same rows
//! and [`publish_segment`] (idempotent, checks the on-chain seq first) finishes or repeats
//! the segment: nothing is lost and nothing appended twice. Memory: one segment at a time.
//!
//! A source sampled at another rate than the quality model's is resampled (phd-ingest's
//! anti-aliasing filter, the same as `publish`) statefully: the rate is detected once, from the
//! first segment, and the filter's history and the output instants not produced yet (the source
//! rows they need, at most the filter length plus one window) are kept in the state file with the
//! offset, so the resampled stream is the same however it is cut into segments and restarts.

use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::primitives::{B256, keccak256};
use phd_cli::fs::{Access, write_atomic};
use phd_ingest::{PseudonymisePolicy, ReadOptions};
use serde::{Deserialize, Serialize};

use crate::{
    ClientCtx, Result, SdkError,
    series::{SeriesKeeper, publish_segment_via, series_keepers},
    stream_source::{SourceKind, Spooler, ingest_dir, spool_path, spool_stdin},
};

/// How segments are cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SegmentBy {
    /// Every `n` rows.
    Rows(usize),
    /// By sample time: a segment spans `[t0, t0 + secs)` of the time column; it closes when the
    /// first later sample arrives.
    Seconds(f64),
}

/// The owner's quality model and keep choice, applied to each segment before pseudonymising
/// (phd-user wraps phd-quality's model in it).
///
/// Windows tile the stream: a segment always starts on a window boundary and is cut back to a
/// whole number of windows, the rows after the last whole window staying in the source for the
/// next segment. So a window that would straddle a segment (or, through the directory spool, a
/// file) boundary is scored once, whole, in the next segment; no row is scored twice or skipped.
pub trait SegmentQuality: Send + Sync + std::fmt::Debug {
    /// Rows per window (windows are this long and do not overlap).
    fn window_rows(&self) -> usize;
    /// Scores `table` (a whole number of windows) and returns the rows kept and the report that
    /// goes into the segment's metadata (`quality`).
    fn assess(
        &self,
        table: &phd_ingest::SensorTable,
    ) -> std::result::Result<(phd_ingest::SensorTable, phd_ingest::QualitySummary), String>;
    /// The sample rate the model's windows assume (`None`: any). A source at another rate is
    /// resampled to it by the streamer (the module docs).
    fn sample_rate_hz(&self) -> Option<f64> {
        None
    }
    /// What the model remembers of the stream so far (e.g. recent window levels for the
    /// cross-window drift check), saved in the state file with each finished segment.
    fn carry(&self) -> Option<serde_json::Value> {
        None
    }
    /// Restores [`Self::carry`] at start-up, so a segment re-cut after a crash is assessed
    /// exactly as it was the first time.
    fn resume(&self, _carry: Option<&serde_json::Value>) {}
}

/// What to stream.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Series to append to (the caller's).
    pub series_id: u64,
    /// CSV file being appended to, a drop directory, or `-` for stdin
    /// ([`crate::stream_source`]).
    pub source: PathBuf,
    /// Where progress is kept.
    pub state_file: PathBuf,
    /// Segment cut.
    pub segment_by: SegmentBy,
    /// Owner's pseudonymisation key (as `publish`).
    pub pseudonym_key: Vec<u8>,
    /// Pseudonymisation choices (as `publish`).
    pub policy: PseudonymisePolicy,
    /// Polling interval while the file does not grow.
    pub poll: Duration,
    /// Stop after this many segments appended in this run.
    pub max_segments: Option<u64>,
    /// The owner's access gateway: segments are listed behind it, so subscribers need no
    /// storage credential (`None`: listed under their `s3://` URI).
    pub gateway: Option<String>,
    /// Keep a copy of each segment's pseudonymised plaintext here, named as the follower names
    /// its files (`segment-<seq>.csv`): the owner's record of exactly what subscribers get.
    pub pseudonymised_out: Option<PathBuf>,
    /// Quality model and keep choice (`None`: every row is kept, no quality report).
    pub quality: Option<std::sync::Arc<dyn SegmentQuality>>,
}

/// The in-flight segment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InFlight {
    /// Its seq.
    pub seq: u64,
    /// Byte range of its rows in the source.
    pub start: u64,
    /// End of the range (exclusive).
    pub end: u64,
}

/// Running totals of a stream (kept in the state file, so they survive restarts): what
/// `phd-user stream-status` and the streamer's metrics report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StreamStats {
    /// Segments cut from the source (recorded in flight before any effect).
    pub segments_cut: u64,
    /// Segments this streamer sealed and uploaded itself (not found appended by an earlier run).
    pub segments_uploaded: u64,
    /// Segments appended on-chain (or found appended after a restart).
    pub segments_appended: u64,
    /// Segments left empty by the quality model and keep choice (not appended).
    pub segments_skipped: u64,
    /// Rows in the appended segments.
    pub samples_appended: u64,
    /// Sealed bytes uploaded.
    pub bytes_uploaded: u64,
    /// Time column of the last source row of the last appended segment (seconds).
    pub last_sample_time: Option<f64>,
    /// When the last segment was appended (unix seconds).
    pub last_append_unixtime: Option<u64>,
}

/// Persisted progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamState {
    /// Series appended to.
    pub series_id: u64,
    /// Inode of the source when the offset was taken (rotation detection).
    pub inode: u64,
    /// Byte offset of the first row not in an appended segment.
    pub offset: u64,
    /// Next seq to append.
    pub next_seq: u64,
    /// The segment being published, if any.
    pub in_flight: Option<InFlight>,
    /// Totals (absent in state files of older versions: zero).
    #[serde(default)]
    pub stats: StreamStats,
    /// The quality model's memory of the stream as of `offset` ([`SegmentQuality::carry`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_carry: Option<serde_json::Value>,
    /// The source's sample rate, detected from the first segment when a quality model runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_rate_hz: Option<f64>,
    /// Set when the source is resampled to the model's rate: where the resampler stands as of
    /// `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample: Option<StreamResample>,
}

/// The resampler's state between segments (crash-safe: saved with the offset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamResample {
    /// Rate, grid origin and next output instant.
    pub cursor: phd_ingest::resample::StreamCursor,
    /// The source rows before `offset` that the next segment still needs (complete CSV lines,
    /// as read): the filter's history and the rows of instants not output yet.
    pub carried_rows: String,
}

/// What a stream run did.
#[derive(Debug, Clone, Serialize)]
pub struct StreamOutcome {
    /// Segments appended (or found appended) in this run.
    pub segments: Vec<u64>,
    /// Rows in them.
    pub rows: u64,
    /// Next seq.
    pub next_seq: u64,
    /// Segments that came out empty after the quality model and keep choice (not appended).
    pub skipped: u64,
}

/// The segment metadata whose keccak256 goes on-chain with the append: `{"seq","rows"}`, plus
/// `"quality"` (score, model id, windows kept, dropped by reason, classes) when a model ran.
/// Field order is the struct's, so the bytes (and the hash) do not depend on serde_json features.
/// `"resampled_from_hz"` records the source rate when the rows were resampled to the model's.
pub fn segment_metadata(
    seq: u64,
    rows: usize,
    quality: Option<&phd_ingest::QualitySummary>,
    resampled_from_hz: Option<f64>,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct SegmentMetadata<'a> {
        seq: u64,
        rows: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        quality: Option<&'a phd_ingest::QualitySummary>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resampled_from_hz: Option<f64>,
    }
    serde_json::to_vec(&SegmentMetadata {
        seq,
        rows,
        quality,
        resampled_from_hz,
    })
    .unwrap_or_default()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SdkError + '_ {
    move |source| SdkError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn save(path: &Path, s: &StreamState) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(s).unwrap_or_default();
    write_atomic(path, &bytes, Access::OwnerOnly).map_err(io_err(path))
}

fn load(path: &Path) -> Result<Option<StreamState>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| SdkError::Write {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}
#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// The source's header line (without newline) and the offset of its first row; `None` while
/// the header is incomplete.
fn header(bytes: &[u8]) -> Option<(String, u64)> {
    let nl = bytes.iter().position(|b| *b == b'\n')?;
    let h = String::from_utf8_lossy(&bytes[..nl])
        .trim_end_matches('\r')
        .to_string();
    Some((h, nl as u64 + 1))
}

/// Reads the source from `offset` and returns the byte length of the next complete segment,
/// or `None` while it is incomplete. Reads at most what one segment needs plus one line.
fn next_segment(
    file: &mut std::fs::File,
    offset: u64,
    by: SegmentBy,
    time_col: Option<(usize, f64)>,
    min_rows: usize,
) -> Result<Option<u64>> {
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| SdkError::Write {
            path: PathBuf::from("<source>"),
            source: e,
        })?;
    let mut r = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut len = 0u64;
    let mut rows = 0usize;
    let mut t0: Option<f64> = None;
    loop {
        line.clear();
        let n = std::io::BufRead::read_until(&mut r, b'\n', &mut line).map_err(|e| {
            SdkError::Write {
                path: PathBuf::from("<source>"),
                source: e,
            }
        })?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(None); // an incomplete last line is not read yet
        }
        match by {
            SegmentBy::Rows(k) => {
                len += n as u64;
                rows += 1;
                if rows >= k {
                    return Ok(Some(len));
                }
            }
            SegmentBy::Seconds(secs) => {
                let t = time_col.and_then(|(c, per_second)| {
                    std::str::from_utf8(&line)
                        .ok()?
                        .trim_end()
                        .split(',')
                        .nth(c)?
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .map(|t| t / per_second)
                });
                if let (Some(t), Some(start)) = (t, t0)
                    && t >= start + secs
                    && rows >= min_rows
                {
                    return Ok(Some(len));
                }
                if t0.is_none() {
                    t0 = t;
                }
                len += n as u64;
                rows += 1;
            }
        }
    }
}

/// Position of the time column in a CSV header (the names the streamer cuts by).
pub fn time_column(header: &str) -> Option<usize> {
    header.split(',').position(|c| {
        matches!(
            c.trim().to_ascii_lowercase().as_str(),
            "time" | "timestamp" | "t" | "time_s"
        )
    })
}

/// The time-column value of the last complete row of `rows`.
pub fn last_row_time(header: &str, rows: &[u8]) -> Option<f64> {
    let col = time_column(header)?;
    let body = rows.strip_suffix(b"\n").unwrap_or(rows);
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    std::str::from_utf8(&body[start..])
        .ok()?
        .trim_end()
        .split(',')
        .nth(col)?
        .trim()
        .parse()
        .ok()
}

/// Byte length of the first `whole windows × window_rows` rows of `rows` (complete lines).
pub fn whole_windows_len(rows: &[u8], window_rows: usize) -> usize {
    let lines: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let keep = lines.len() / window_rows.max(1) * window_rows.max(1);
    if keep == 0 { 0 } else { lines[keep - 1] }
}

/// One segment's plaintext as subscribers get it: rows → quality and keep choice (when given)
/// → pseudonymisation → canonical CSV. Returns the bytes (empty when no row was kept), the rows
/// in them and the quality report.
pub fn segment_plaintext(
    header: &str,
    rows: &[u8],
    policy: &PseudonymisePolicy,
    key: &[u8],
    quality: Option<&dyn SegmentQuality>,
) -> std::result::Result<(Vec<u8>, usize, Option<phd_ingest::QualitySummary>), String> {
    let table = mapped_table(header, &[rows])?;
    if let Some(q) = quality
        && let (Some(target), Ok(r)) = (q.sample_rate_hz(), phd_ingest::detect_rate(&table))
        && !phd_ingest::resample::rate_matches(r.rate_hz, target)
    {
        return Err(format!(
            "the rows are sampled at {:.3} Hz but the quality model scores {target} Hz windows; a lone segment cannot be resampled exactly (the streamer resamples the stream)",
            r.rate_hz
        ));
    }
    assessed_plaintext(table, policy, key, quality)
}

/// Header + row blocks → the table `publish` would read (same device-name and unit mapping).
fn mapped_table(
    header: &str,
    blocks: &[&[u8]],
) -> std::result::Result<phd_ingest::SensorTable, String> {
    let mut text =
        Vec::with_capacity(header.len() + 1 + blocks.iter().map(|b| b.len()).sum::<usize>());
    text.extend_from_slice(header.as_bytes());
    text.push(b'\n');
    for b in blocks {
        text.extend_from_slice(b);
    }
    let table =
        phd_ingest::read_csv(&text[..], &ReadOptions::default()).map_err(|e| e.to_string())?;
    drop(text);
    let (table, _) = phd_ingest::map_columns(table).map_err(|e| e.to_string())?;
    Ok(table)
}

/// The source rate of a stream's first rows (rounded to 1 mHz, as dataset metadata records it).
pub fn detect_source_rate(header: &str, rows: &[u8]) -> std::result::Result<f64, String> {
    let table = mapped_table(header, &[rows])?;
    let r = phd_ingest::detect_rate(&table).map_err(|e| e.to_string())?;
    Ok((r.rate_hz * 1000.0).round() / 1000.0)
}

/// [`segment_plaintext`] for a stream resampled to the model's rate: `carry.carried_rows`, then
/// `rows`, resampled from where `carry` stands (output in whole windows of the model). Also
/// returns the resampler's state after this segment.
pub fn resampled_segment_plaintext(
    header: &str,
    rows: &[u8],
    carry: &StreamResample,
    policy: &PseudonymisePolicy,
    key: &[u8],
    quality: &dyn SegmentQuality,
) -> std::result::Result<
    (
        Vec<u8>,
        usize,
        Option<phd_ingest::QualitySummary>,
        StreamResample,
    ),
    String,
> {
    let table = mapped_table(header, &[carry.carried_rows.as_bytes(), rows])?;
    let chunk = phd_ingest::resample::resample_stream(&table, &carry.cursor, quality.window_rows())
        .map_err(|e| e.to_string())?;
    // read_csv skips blank lines: table row i is the i-th non-blank line
    let carried_rows: String = carry
        .carried_rows
        .as_bytes()
        .split_inclusive(|b| *b == b'\n')
        .chain(rows.split_inclusive(|b| *b == b'\n'))
        .filter(|l| !l.trim_ascii().is_empty())
        .skip(chunk.keep_from)
        .map(String::from_utf8_lossy)
        .collect();
    let next = StreamResample {
        cursor: chunk.cursor,
        carried_rows,
    };
    if chunk.table.is_empty() {
        return Ok((Vec::new(), 0, None, next));
    }
    let (bytes, n, report) = assessed_plaintext(chunk.table, policy, key, Some(quality))?;
    Ok((bytes, n, report, next))
}

/// Quality and keep choice (when given) → pseudonymisation → canonical CSV.
fn assessed_plaintext(
    mut table: phd_ingest::SensorTable,
    policy: &PseudonymisePolicy,
    key: &[u8],
    quality: Option<&dyn SegmentQuality>,
) -> std::result::Result<(Vec<u8>, usize, Option<phd_ingest::QualitySummary>), String> {
    let mut report = None;
    if let Some(q) = quality {
        let (kept, summary) = q.assess(&table)?;
        table = kept;
        report = Some(summary);
    }
    if table.is_empty() {
        return Ok((Vec::new(), 0, report));
    }
    let (table, _) = phd_ingest::pseudonymise(&table, policy, key).map_err(|e| e.to_string())?;
    let n = table.len();
    let bytes = phd_ingest::canonical_csv_bytes(&table).map_err(|e| e.to_string())?;
    Ok((bytes, n, report))
}

/// Header + rows → the canonical, pseudonymised CSV of one segment (the `publish` steps).
pub fn pseudonymised_segment(
    header: &str,
    rows: &[u8],
    policy: &PseudonymisePolicy,
    key: &[u8],
) -> std::result::Result<(Vec<u8>, usize), String> {
    segment_plaintext(header, rows, policy, key, None).map(|(bytes, n, _)| (bytes, n))
}

/// Streams until `max_segments` were appended or `stop` resolves.
pub async fn stream(
    ctx: &ClientCtx,
    opts: &StreamOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<StreamOutcome> {
    let keepers: Vec<SeriesKeeper> = series_keepers(ctx, opts.series_id).await?;
    let mut state = match load(&opts.state_file)? {
        Some(s) if s.series_id == opts.series_id => s,
        Some(s) => {
            return Err(SdkError::series(
                opts.series_id,
                format!(
                    "{} belongs to series {}",
                    opts.state_file.display(),
                    s.series_id
                ),
            ));
        }
        None => {
            let count = ctx
                .chain
                .series(alloy::primitives::U256::from(opts.series_id))
                .await
                .map_err(|e| SdkError::chain("reading the series", e))?
                .segmentCount;
            StreamState {
                series_id: opts.series_id,
                inode: 0,
                offset: 0,
                next_seq: count,
                in_flight: None,
                stats: StreamStats::default(),
                quality_carry: None,
                source_rate_hz: None,
                resample: None,
            }
        }
    };
    if let Some(q) = &opts.quality {
        q.resume(state.quality_carry.as_ref());
    }
    let source = SourceKind::of(&opts.source);
    let (tail, stdin) = match &source {
        SourceKind::File(p) => (p.clone(), None),
        SourceKind::Dir(_) => (spool_path(&opts.state_file), None),
        SourceKind::Stdin => (
            spool_path(&opts.state_file),
            Some(spool_stdin(&opts.state_file)?),
        ),
    };
    let mut out = StreamOutcome {
        segments: Vec::new(),
        rows: 0,
        next_seq: state.next_seq,
        skipped: 0,
    };
    tokio::pin!(stop);
    loop {
        if opts
            .max_segments
            .is_some_and(|m| out.segments.len() as u64 >= m)
        {
            break;
        }
        if let SourceKind::Dir(dir) = &source {
            ingest_dir(dir, &opts.state_file)?;
        }
        // Read before the step: input that ended before a look is wholly in the spool.
        let input_ended = stdin.as_ref().is_some_and(Spooler::done);
        if let Some(e) = stdin.as_ref().and_then(Spooler::error) {
            return Err(SdkError::series(opts.series_id, format!("stdin: {e}")));
        }
        let step = async {
            let mut file = match std::fs::File::open(&tail) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(&tail)(e)),
            };
            let meta = file.metadata().map_err(io_err(&tail))?;
            let mut head = vec![0u8; 64 * 1024.min(meta.len() as usize)];
            let got = file.read(&mut head).map_err(io_err(&tail))?;
            head.truncate(got);
            let Some((header_line, body_start)) = header(&head) else {
                return Ok(None);
            };
            // Rotation (another inode) or truncation: the new file's rows start afresh.
            if (state.inode != inode(&meta)
                || meta.len() < state.offset
                || state.offset < body_start)
                && state.in_flight.is_none()
            {
                state.inode = inode(&meta);
                state.offset = body_start;
            }
            // the reader's time column, in seconds whatever its unit (`_ms`, `_ns`, …)
            let cols: Vec<&str> = header_line.split(',').collect();
            let time_col = phd_ingest::time_column_index(&cols)
                .map(|i| (i, phd_ingest::time_units_per_second(cols[i])));
            let window = opts.quality.as_ref().map_or(1, |q| q.window_rows().max(1));
            let range = match &state.in_flight {
                Some(f) => (f.start, f.end),
                None => match next_segment(
                    &mut file,
                    state.offset,
                    opts.segment_by,
                    time_col,
                    window,
                )? {
                    Some(len) => (state.offset, state.offset + len),
                    None => return Ok(None),
                },
            };
            let mut rows = vec![0u8; usize::try_from(range.1 - range.0).unwrap_or(0)];
            file.seek(SeekFrom::Start(range.0)).map_err(io_err(&tail))?;
            file.read_exact(&mut rows).map_err(io_err(&tail))?;
            // The source rate, decided once (saved with the in-flight record below).
            let target = opts.quality.as_ref().and_then(|q| q.sample_rate_hz());
            if let (Some(target), None, None) =
                (target, state.source_rate_hz, &state.in_flight)
            {
                let rate = detect_source_rate(&header_line, &rows).map_err(|reason| {
                    SdkError::series(
                        opts.series_id,
                        format!("the source's sample rate (bytes {}..{}): {reason}", range.0, range.1),
                    )
                })?;
                state.source_rate_hz = Some(rate);
                if !phd_ingest::resample::rate_matches(rate, target) {
                    state.resample = Some(StreamResample {
                        cursor: phd_ingest::resample::StreamCursor::new(rate, target),
                        carried_rows: String::new(),
                    });
                }
            }
            // With a quality model, only whole windows: the tail waits for the next segment.
            // (An in-flight range was cut this way already; a resampled stream is cut into
            // windows after resampling, its tail carried in the state.)
            if state.in_flight.is_none() && window > 1 && state.resample.is_none() {
                let whole = whole_windows_len(&rows, window);
                if whole == 0 {
                    return Err(SdkError::series(
                        opts.series_id,
                        format!(
                            "a segment must hold at least one quality window ({window} rows); cut longer segments"
                        ),
                    ));
                }
                rows.truncate(whole);
            }
            let range = (range.0, range.0 + rows.len() as u64);
            Ok(Some((header_line, range, rows)))
        }
        .await?;
        let Some((header_line, (start, end), rows)) = step else {
            if input_ended {
                break; // stdin closed and every complete segment of it is appended
            }
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(opts.poll) => continue,
            }
        };
        let seq = state.next_seq;
        if state.in_flight.is_none() {
            state.in_flight = Some(InFlight { seq, start, end });
            state.stats.segments_cut += 1;
            save(&opts.state_file, &state)?;
        }
        let made = match (&state.resample, opts.quality.as_deref()) {
            (Some(carry), Some(q)) => resampled_segment_plaintext(
                &header_line,
                &rows,
                carry,
                &opts.policy,
                &opts.pseudonym_key,
                q,
            )
            .map(|(plain, n, report, next)| (plain, n, report, Some(next))),
            _ => segment_plaintext(
                &header_line,
                &rows,
                &opts.policy,
                &opts.pseudonym_key,
                opts.quality.as_deref(),
            )
            .map(|(plain, n, report)| (plain, n, report, None)),
        };
        let (plain, n, report, resample_next) = made.map_err(|reason| {
            SdkError::series(
                opts.series_id,
                format!("segment {seq} (bytes {start}..{end}): {reason}"),
            )
        })?;
        let resampled_from_hz = resample_next.as_ref().map(|r| r.cursor.source_hz);
        if n == 0 {
            // Every window dropped (noise, or activities the owner does not share): nothing to
            // sell, no seq used; the rows are passed. (Without a report: a resampled stream has
            // no whole window yet; its rows wait in the carry.)
            tracing::info!(
                series_id = opts.series_id,
                start,
                end,
                ?report,
                "segment empty after quality and keep; skipped"
            );
            state.offset = end;
            state.resample = resample_next.or(state.resample);
            state.in_flight = None;
            state.stats.segments_skipped += u64::from(report.is_some());
            state.quality_carry = opts.quality.as_ref().and_then(|q| q.carry());
            save(&opts.state_file, &state)?;
            out.skipped += 1;
            continue;
        }
        if let Some(dir) = &opts.pseudonymised_out {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let path = crate::series_follow::segment_path(dir, seq);
            write_atomic(&path, &plain, Access::OwnerOnly).map_err(io_err(&path))?;
        }
        let metadata = segment_metadata(seq, n, report.as_ref(), resampled_from_hz);
        let meta_hash: B256 = keccak256(&metadata);
        if let (Some(dir), Some(_)) = (&opts.pseudonymised_out, &report) {
            let path = dir.join(format!("segment-{seq:012}.meta.json"));
            write_atomic(&path, &metadata, Access::OwnerOnly).map_err(io_err(&path))?;
        }
        let r = publish_segment_via(
            ctx,
            opts.series_id,
            seq,
            &plain,
            meta_hash,
            &keepers,
            opts.gateway.as_deref(),
        )
        .await?;
        tracing::info!(
            series_id = opts.series_id,
            seq,
            rows = n,
            appended_now = r.appended_now,
            "segment appended"
        );
        state.offset = end;
        state.resample = resample_next.or(state.resample);
        state.next_seq = seq + 1;
        state.in_flight = None;
        let st = &mut state.stats;
        st.segments_appended += 1;
        st.segments_uploaded += u64::from(r.sealed_bytes > 0);
        st.bytes_uploaded += r.sealed_bytes;
        st.samples_appended += n as u64;
        st.last_sample_time = last_row_time(&header_line, &rows).or(st.last_sample_time);
        st.last_append_unixtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        state.quality_carry = opts.quality.as_ref().and_then(|q| q.carry());
        save(&opts.state_file, &state)?;
        out.segments.push(seq);
        out.rows += n as u64;
        out.next_seq = state.next_seq;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, sync::Mutex};

    use super::*;

    const W: usize = 100;

    /// Records the first sample time of every window it scores; keeps windows with an even
    /// index (the owner's keep choice), drops the others as "class_excluded".
    #[derive(Debug, Default)]
    struct Recording {
        seen: Mutex<Vec<String>>,
    }

    impl SegmentQuality for Recording {
        fn window_rows(&self) -> usize {
            W
        }
        fn assess(
            &self,
            t: &phd_ingest::SensorTable,
        ) -> std::result::Result<(phd_ingest::SensorTable, phd_ingest::QualitySummary), String>
        {
            assert_eq!(t.len() % W, 0, "a segment of whole windows");
            let mut keep = Vec::with_capacity(t.len());
            let mut kept = 0;
            for w in 0..t.len() / W {
                let first = format!("{:.1}", t.time[w * W]);
                let index = (t.time[w * W] * 10.0).round() as usize / W;
                self.seen.lock().unwrap().push(first);
                keep.extend(std::iter::repeat_n(index.is_multiple_of(2), W));
                kept += usize::from(index.is_multiple_of(2));
            }
            let summary = phd_ingest::QualitySummary {
                score: 1.0,
                model_id: "0xtest".into(),
                windows_kept: kept as u64,
                windows_dropped: BTreeMap::from([(
                    "class_excluded".to_owned(),
                    (t.len() / W - kept) as u64,
                )]),
                classes: BTreeMap::new(),
            };
            Ok((t.filter_rows(&keep).map_err(|e| e.to_string())?, summary))
        }
    }

    /// The streamer's cut loop without the chain: next segment, whole windows, plaintext.
    fn cut_all(by: SegmentBy, rows: usize) -> (Recording, Vec<String>, u64, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let mut text = String::from("time,acc_x\n");
        for i in 0..rows {
            text.push_str(&format!("{:.1},{}\n", i as f64 / 10.0, i));
        }
        std::fs::write(&path, &text).unwrap();
        let q = Recording::default();
        let mut file = std::fs::File::open(&path).unwrap();
        let mut offset = "time,acc_x\n".len() as u64;
        let mut out = Vec::new();
        let mut segments = 0;
        while let Some(len) = next_segment(&mut file, offset, by, Some((0, 1.0)), W).unwrap() {
            let mut buf = vec![0u8; len as usize];
            file.seek(SeekFrom::Start(offset)).unwrap();
            file.read_exact(&mut buf).unwrap();
            buf.truncate(whole_windows_len(&buf, W));
            assert!(!buf.is_empty());
            let (plain, n, report) = segment_plaintext(
                "time,acc_x",
                &buf,
                &PseudonymisePolicy::default(),
                b"test pseudonym key 0123",
                Some(&q),
            )
            .unwrap();
            assert_eq!(report.unwrap().model_id, "0xtest");
            if n > 0 {
                let plain = String::from_utf8(plain).unwrap();
                out.extend(plain.lines().skip(1).map(str::to_owned));
                segments += 1;
            }
            offset += buf.len() as u64;
        }
        (q, out, offset, segments)
    }

    #[test]
    fn windows_straddling_segment_cuts_are_scored_once_and_no_row_is_lost_or_doubled() {
        // 130-row segments over 100-row windows: every window but the first straddles a cut.
        for by in [SegmentBy::Rows(130), SegmentBy::Seconds(13.0)] {
            let (q, kept, offset, segments) = cut_all(by, 1_000);
            let seen = q.seen.into_inner().unwrap();
            // Windows 0..9 are whole and scored exactly once each, in order; window 9 (rows
            // 900..1000) waits: a 130-row segment is not complete yet.
            let want: Vec<String> = (0..9)
                .map(|w| format!("{:.1}", (w * W) as f64 / 10.0))
                .collect();
            assert_eq!(seen, want, "{by:?}");
            assert_eq!(
                offset,
                ("time,acc_x\n".len()
                    + (0..900)
                        .map(|i| format!("{:.1},{i}\n", i as f64 / 10.0).len())
                        .sum::<usize>()) as u64
            );
            // Kept rows: exactly those of the even windows, in order, each once.
            let firsts: Vec<String> = kept
                .iter()
                .map(|l| l.split(',').nth(1).unwrap().to_owned())
                .collect();
            let want_rows: Vec<String> = (0..900)
                .filter(|i| (i / W).is_multiple_of(2))
                .map(|i| i.to_string())
                .collect();
            assert_eq!(firsts, want_rows, "{by:?}");
            assert!(segments >= 4, "{by:?}: {segments}");
        }
    }

    /// Keeps every row; scores 10 Hz windows of [`W`] rows.
    #[derive(Debug)]
    struct TenHz;

    impl SegmentQuality for TenHz {
        fn window_rows(&self) -> usize {
            W
        }
        fn assess(
            &self,
            t: &phd_ingest::SensorTable,
        ) -> std::result::Result<(phd_ingest::SensorTable, phd_ingest::QualitySummary), String>
        {
            assert_eq!(t.len() % W, 0, "a segment of whole windows");
            let summary = phd_ingest::QualitySummary {
                score: 1.0,
                model_id: "0xtest".into(),
                windows_kept: (t.len() / W) as u64,
                windows_dropped: BTreeMap::new(),
                classes: BTreeMap::new(),
            };
            Ok((t.clone(), summary))
        }
        fn sample_rate_hz(&self) -> Option<f64> {
            Some(10.0)
        }
    }

    /// BasicMotions' first recordings as one continuous stream, as a 50 Hz device would have
    /// recorded it: CSV header and rows.
    fn fifty_hz_basic_motions(recordings: usize) -> (String, String) {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/basic-motions/BasicMotions_TEST.ts");
        let mut t = phd_ingest::read_ts_path(&p, &ReadOptions::default()).unwrap();
        let n = recordings * 100;
        t.time = (0..n).map(|i| i as f64 / 10.0).collect();
        t.channels.iter_mut().for_each(|c| c.truncate(n));
        t.recording = vec![0; n];
        t.labels.truncate(1);
        let t = phd_ingest::resample::bandlimited_upsample(&t, 5);
        let header = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z".to_owned();
        let rows = (0..t.len())
            .map(|i| {
                let ch: Vec<String> = t.channels.iter().map(|c| format!("{}", c[i])).collect();
                format!("{:.2},{}\n", t.time[i], ch.join(","))
            })
            .collect();
        (header, rows)
    }

    #[test]
    fn a_fifty_hz_source_streamed_across_restarts_equals_the_one_shot_resampled_rows() {
        let (header, body) = fifty_hz_basic_motions(8);
        let (policy, key) = (PseudonymisePolicy::default(), b"test pseudonym key 0123");
        let lines: Vec<&str> = body.split_inclusive('\n').collect();
        // 1 300-row segments (26 s, 2.6 windows at 10 Hz): windows straddle every cut
        let segments: Vec<String> = lines.chunks(1_300).map(|c| c.concat()).collect();
        let rate = detect_source_rate(&header, segments[0].as_bytes()).unwrap();
        assert_eq!(rate, 50.0);
        let mut carry = StreamResample {
            cursor: phd_ingest::resample::StreamCursor::new(rate, 10.0),
            carried_rows: String::new(),
        };
        let mut got = Vec::new();
        for seg in &segments {
            let (plain, n, report, next) =
                resampled_segment_plaintext(&header, seg.as_bytes(), &carry, &policy, key, &TenHz)
                    .unwrap();
            assert_eq!(n % W, 0);
            if n > 0 {
                assert_eq!(report.unwrap().windows_kept, (n / W) as u64);
            }
            got.extend(
                String::from_utf8(plain)
                    .unwrap()
                    .lines()
                    .skip(1)
                    .map(str::to_owned),
            );
            // every segment is a restart: the carry goes through the state file's JSON
            carry = serde_json::from_slice(&serde_json::to_vec(&next).unwrap()).unwrap();
            // bounded: the filter length (2 × 138 + 1 source rows at 50 → 10 Hz) plus one window
            assert!(carry.carried_rows.lines().count() <= 277 + 5 * W);
        }
        let whole = mapped_table(&header, &[body.as_bytes()]).unwrap();
        let est = phd_ingest::RateEstimate {
            rate_hz: rate,
            gaps: 0,
            intervals: 0,
        };
        let one_shot = phd_ingest::resample(&whole, &est, 10.0).unwrap();
        let (want, _, _) = assessed_plaintext(one_shot, &policy, key, None).unwrap();
        let want: Vec<String> = String::from_utf8(want)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect();
        // all but the last (incomplete) window, row for row
        assert_eq!(got.len(), 700, "{}", want.len());
        assert_eq!(got, want[..got.len()]);
    }

    #[test]
    fn whole_windows_cut_at_a_window_boundary() {
        let rows: Vec<u8> = (0..250)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let two = (0..200).map(|i| format!("{i}\n").len()).sum::<usize>();
        assert_eq!(whole_windows_len(&rows, 100), two);
        assert_eq!(
            whole_windows_len(&rows[..two - 1], 100),
            (0..100).map(|i| format!("{i}\n").len()).sum::<usize>()
        );
        assert_eq!(whole_windows_len(b"1\n2\n", 100), 0);
        assert_eq!(
            whole_windows_len(b"1\n2\n3", 1),
            4,
            "a partial line is never taken"
        );
    }

    #[test]
    fn last_row_time_and_older_state_files() {
        assert_eq!(last_row_time("time,acc_x", b"0.1,1\n0.2,2\n"), Some(0.2));
        assert_eq!(last_row_time("acc_x,timestamp", b"1,5.5\r\n"), Some(5.5));
        assert_eq!(last_row_time("acc_x,acc_y", b"1,2\n"), None);
        assert_eq!(last_row_time("time,acc_x", b""), None);
        // a state file from before the totals: zeros, no carried memory
        let s: StreamState = serde_json::from_str(
            r#"{"series_id":1,"inode":2,"offset":3,"next_seq":4,"in_flight":null}"#,
        )
        .unwrap();
        assert_eq!(s.stats, StreamStats::default());
        assert_eq!(s.quality_carry, None);
    }

    #[test]
    fn segment_metadata_carries_the_quality_report() {
        assert_eq!(
            segment_metadata(3, 20, None, None),
            br#"{"seq":3,"rows":20}"#
        );
        let q = phd_ingest::QualitySummary {
            score: 0.5,
            model_id: "0xm".into(),
            windows_kept: 1,
            windows_dropped: BTreeMap::from([("spikes".to_owned(), 2)]),
            classes: BTreeMap::from([("walking".to_owned(), 1)]),
        };
        let bytes = segment_metadata(3, 20, Some(&q), None);
        assert!(bytes.starts_with(br#"{"seq":3,"rows":20,"quality":{"score":0.5,"#));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["quality"]["windows_dropped"]["spikes"], 2);
        assert_eq!(v["rows"], 20);
    }
}
