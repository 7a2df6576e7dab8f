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

/// Persisted progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
    time_col: Option<usize>,
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
                let t = time_col.and_then(|c| {
                    std::str::from_utf8(&line)
                        .ok()?
                        .trim_end()
                        .split(',')
                        .nth(c)?
                        .trim()
                        .parse::<f64>()
                        .ok()
                });
                if let (Some(t), Some(start)) = (t, t0)
                    && t >= start + secs
                {
                    return Ok(Some(len));
                }
                if t0.is_none() {
                    t0 = t;
                }
                len += n as u64;
            }
        }
    }
}

/// Header + rows → the canonical, pseudonymised CSV of one segment (the `publish` steps).
pub fn pseudonymised_segment(
    header: &str,
    rows: &[u8],
    policy: &PseudonymisePolicy,
    key: &[u8],
) -> std::result::Result<(Vec<u8>, usize), String> {
    let mut text = Vec::with_capacity(header.len() + 1 + rows.len());
    text.extend_from_slice(header.as_bytes());
    text.push(b'\n');
    text.extend_from_slice(rows);
    let table =
        phd_ingest::read_csv(&text[..], &ReadOptions::default()).map_err(|e| e.to_string())?;
    let (table, _) = phd_ingest::pseudonymise(&table, policy, key).map_err(|e| e.to_string())?;
    let n = table.len();
    phd_ingest::canonical_csv_bytes(&table)
        .map(|b| (b, n))
        .map_err(|e| e.to_string())
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
            }
        }
    };
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
            let time_col = header_line.split(',').position(|c| {
                matches!(
                    c.trim().to_ascii_lowercase().as_str(),
                    "time" | "timestamp" | "t" | "time_s"
                )
            });
            let range = match &state.in_flight {
                Some(f) => (f.start, f.end),
                None => match next_segment(&mut file, state.offset, opts.segment_by, time_col)? {
                    Some(len) => (state.offset, state.offset + len),
                    None => return Ok(None),
                },
            };
            let mut rows = vec![0u8; usize::try_from(range.1 - range.0).unwrap_or(0)];
            file.seek(SeekFrom::Start(range.0)).map_err(io_err(&tail))?;
            file.read_exact(&mut rows).map_err(io_err(&tail))?;
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
            save(&opts.state_file, &state)?;
        }
        let (plain, n) =
            pseudonymised_segment(&header_line, &rows, &opts.policy, &opts.pseudonym_key).map_err(
                |reason| {
                    SdkError::series(
                        opts.series_id,
                        format!("segment {seq} (bytes {start}..{end}): {reason}"),
                    )
                },
            )?;
        if let Some(dir) = &opts.pseudonymised_out {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let path = crate::series_follow::segment_path(dir, seq);
            write_atomic(&path, &plain, Access::OwnerOnly).map_err(io_err(&path))?;
        }
        let meta_hash: B256 = keccak256(format!("{{\"seq\":{seq},\"rows\":{n}}}"));
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
        state.next_seq = seq + 1;
        state.in_flight = None;
        save(&opts.state_file, &state)?;
        out.segments.push(seq);
        out.rows += n as u64;
        out.next_seq = state.next_seq;
    }
    Ok(out)
}
