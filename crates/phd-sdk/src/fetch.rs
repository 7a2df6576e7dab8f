//! Pipelined retrieval of a sealed object from any [`RangedObject`]: ranged GETs of chunk runs
//! in parallel, each chunk verified against its (root-checked) trailer hash while it is in
//! memory, decrypted and decompressed on the blocking pool, and written in order to a partial
//! file next to the output, which is renamed into place only after the last chunk.
//!
//! Order: footer → trailer + header (three small reads) → content root compared with the
//! trusted root and the key check → chunks. Memory is bounded by [`FetchOptions::window_bytes`]
//! (ciphertext fetched plus plaintext not yet written), whatever the object's size.
//!
//! Resume: next to the partial file `.<name>.phd-partial` a state file
//! `.<name>.phd-partial.state` records the content root and the BLAKE3 hash of every chunk's
//! plaintext already written (BLAKE3, not SHA-256: it runs over every plaintext byte, ≈ 3× the
//! ciphertext, and SHA-256 there cost a tenth of a large retrieval's CPU). A later fetch of the same root to the same output re-hashes that
//! prefix, keeps the chunks that still match, and fetches only the rest. Nothing unverified is
//! ever written: the partial file holds only plaintext of chunks whose ciphertext matched the
//! on-chain root.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;
use phd_seal::{ChunkEntry, ChunkOpener, OpenLimits, OpeningKey};
use phd_storage::RangedObject;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::error::{Result, SdkError};
use crate::events::RetrieveEvent;

/// Tuning of [`fetch_and_open`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Bytes alive at once: ciphertext requested or held plus its plaintext not yet written.
    pub window_bytes: u64,
    /// Sealed bytes asked for per ranged GET (whole chunks; at least one chunk).
    pub request_bytes: u64,
    /// Ranged GETs in flight at most.
    pub max_requests: usize,
    /// Attempts per ranged GET before the fetch fails (the partial output stays resumable).
    pub attempts: u32,
    /// Keep verified chunks of an earlier, interrupted fetch of the same object.
    pub resume: bool,
    /// Bounds for the hostile object's header and trailer.
    pub limits: OpenLimits,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            window_bytes: 96 << 20,
            request_bytes: 4 << 20,
            max_requests: 8,
            attempts: 3,
            resume: true,
            limits: OpenLimits::default(),
        }
    }
}

/// What [`fetch_and_open`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Chunks in the object.
    pub chunks: u64,
    /// Plaintext bytes at the output.
    pub plaintext_len: u64,
    /// Sealed object length.
    pub sealed_len: u64,
    /// Chunks kept from an interrupted earlier fetch.
    pub resumed_chunks: u64,
    /// Sealed bytes fetched by this call (header, trailer, footer and chunks).
    pub fetched_bytes: u64,
}

/// Fetches the sealed object `object`, verifies it against `root` and writes its plaintext to
/// `out` (partial file + rename). `storage_uri` names the object in errors; `emit` receives
/// `Downloaded`, `ChunksVerified` and `Decrypted` as the pipeline advances.
pub async fn fetch_and_open<O: RangedObject + 'static>(
    object: Arc<O>,
    key: &OpeningKey,
    root: [u8; 32],
    out: &Path,
    storage_uri: &str,
    opts: &FetchOptions,
    emit: &(dyn Fn(RetrieveEvent) + Send + Sync),
) -> Result<Fetched> {
    let r = fetch_and_open_inner(object, key, root, out, storage_uri, opts, emit).await;
    if let Err(SdkError::Tampered { .. }) = &r {
        // The object itself is bad: a resume could only fail again, so leave nothing behind.
        // Other failures (network, disk) keep the verified prefix for the next attempt.
        PartialPaths::for_output(out).remove();
    }
    r
}

async fn fetch_and_open_inner<O: RangedObject + 'static>(
    object: Arc<O>,
    key: &OpeningKey,
    root: [u8; 32],
    out: &Path,
    storage_uri: &str,
    opts: &FetchOptions,
    emit: &(dyn Fn(RetrieveEvent) + Send + Sync),
) -> Result<Fetched> {
    let storage = |what: &str, e: phd_storage::Error| SdkError::Storage {
        context: format!("{what} {storage_uri}"),
        source: Box::new(e),
    };
    let tampered = |e: phd_seal::SealError| SdkError::Tampered {
        storage_uri: storage_uri.to_owned(),
        reason: e.to_string(),
    };

    let sealed_len = object.size().await.map_err(|e| storage("sizing", e))?;
    let footer = get_range(
        &*object,
        phd_seal::footer_range(sealed_len).map_err(tampered)?,
        opts.attempts,
    )
    .await
    .map_err(|e| storage("reading the footer of", e))?;
    let trailer_at =
        phd_seal::trailer_range(sealed_len, &footer, &opts.limits).map_err(tampered)?;
    let (header, trailer) = tokio::join!(
        get_range(&*object, phd_seal::header_range(), opts.attempts),
        get_range(&*object, trailer_at, opts.attempts)
    );
    let header = header.map_err(|e| storage("reading the header of", e))?;
    let trailer = trailer.map_err(|e| storage("reading the trailer of", e))?;
    let mut fetched_bytes = (footer.len() + header.len() + trailer.len()) as u64;
    let opener = match ChunkOpener::new(key, sealed_len, &header, &trailer, root, &opts.limits) {
        Ok(o) => Arc::new(o),
        // The root matched, so this is the listed object: evidence for an owner-fraud proof.
        Err(phd_seal::SealError::WrongKey) => {
            let evidence = phd_seal::key_check_evidence_from_parts(sealed_len, &header, &trailer)
                .map_err(tampered)?;
            return Err(SdkError::KeyCheckMismatch {
                storage_uri: storage_uri.to_owned(),
                evidence: Box::new(evidence),
            });
        }
        Err(e) => return Err(tampered(e)),
    };
    drop(trailer);
    let entries = opener.entries();
    let chunk_count = entries.len() as u64;

    let paths = PartialPaths::for_output(out);
    let resume = opts.resume;
    let (file, state, done) = {
        let (p, opener) = (paths.clone(), opener.clone());
        tokio::task::spawn_blocking(move || p.open(root, opener.entries(), resume))
            .await
            .map_err(|e| SdkError::Write {
                path: out.to_path_buf(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| SdkError::Write {
                path: paths.partial.clone(),
                source,
            })?
    };
    let resumed_chunks = done as u64;
    let mut written: u64 = entries[..done].iter().map(|e| u64::from(e.pt_len)).sum();
    let mut verified = resumed_chunks;
    let mut downloaded: u64 = fetched_bytes;
    if done > 0 {
        tracing::info!(
            chunks = done,
            bytes = written,
            "resuming an interrupted retrieval"
        );
        emit(RetrieveEvent::ChunksVerified {
            chunks: verified,
            total: chunk_count,
        });
        emit(RetrieveEvent::Decrypted { bytes: written });
    }

    // Producer: permits for the window taken in chunk order (so a later run can never hold
    // memory an earlier, unwritten one waits for), one task per run, handed over in order.
    let window = Arc::new(Semaphore::new(permits(opts.window_bytes) as usize));
    let runs = plan_runs(entries, done, opts.request_bytes);
    let (tx, mut rx) = mpsc::channel::<InFlight>(opts.max_requests.max(1));
    let producer = {
        let (object, opener, window) = (object.clone(), opener.clone(), window.clone());
        let (cap, attempts) = (opts.window_bytes, opts.attempts);
        AbortOnDrop(tokio::spawn(async move {
            for run in runs {
                let cost = run_cost(opener.entries(), &run).min(cap);
                let Ok(permit) = window.clone().acquire_many_owned(permits(cost)).await else {
                    return;
                };
                let task = AbortOnDrop(tokio::spawn(fetch_run(
                    object.clone(),
                    opener.clone(),
                    run.clone(),
                    attempts,
                )));
                if tx
                    .send(InFlight {
                        run,
                        task,
                        _permit: permit,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }))
    };

    let mut sink = Some(Sink {
        file,
        state,
        digests: Vec::new(),
    });
    while let Some(InFlight { run, task, _permit }) = rx.recv().await {
        let plaintexts = match task.join().await {
            Ok(Ok(p)) => p,
            Ok(Err(RunError::Storage(e))) => return Err(storage("downloading", e)),
            Ok(Err(RunError::Seal(e))) => return Err(tampered(e)),
            Err(e) => {
                return Err(SdkError::Storage {
                    context: format!("downloading {storage_uri}"),
                    source: Box::new(e),
                });
            }
        };
        let ct: u64 = entries[run.clone()]
            .iter()
            .map(|e| u64::from(e.ct_len))
            .sum();
        downloaded += ct;
        fetched_bytes += ct;
        emit(RetrieveEvent::Downloaded {
            bytes: downloaded,
            total: Some(sealed_len),
        });
        verified += run.len() as u64;
        emit(RetrieveEvent::ChunksVerified {
            chunks: verified,
            total: chunk_count,
        });
        let mut s = sink.take().ok_or_else(|| SdkError::Write {
            path: paths.partial.clone(),
            source: std::io::Error::other("writer lost"),
        })?;
        let (s, r) = tokio::task::spawn_blocking(move || {
            let r = s.append(&plaintexts);
            (
                s,
                r.map(|()| {
                    plaintexts
                        .iter()
                        .map(|p| p.plaintext.len() as u64)
                        .sum::<u64>()
                }),
            )
        })
        .await
        .map_err(|e| SdkError::Write {
            path: paths.partial.clone(),
            source: std::io::Error::other(e),
        })?;
        written += r.map_err(|source| SdkError::Write {
            path: paths.partial.clone(),
            source,
        })?;
        sink = Some(s);
        emit(RetrieveEvent::Decrypted { bytes: written });
        // `_permit` drops here: the window reopens only once the plaintext is written.
    }
    drop(producer);
    if verified != chunk_count {
        return Err(SdkError::Storage {
            context: format!("downloading {storage_uri}"),
            source: "pipeline stopped early".into(),
        });
    }
    let sink = sink.ok_or_else(|| SdkError::Write {
        path: paths.partial.clone(),
        source: std::io::Error::other("writer lost"),
    })?;
    let out_path = out.to_path_buf();
    tokio::task::spawn_blocking(move || paths.finish(sink, &out_path))
        .await
        .map_err(|e| SdkError::Write {
            path: out.to_path_buf(),
            source: std::io::Error::other(e),
        })?
        .map_err(|source| SdkError::Write {
            path: out.to_path_buf(),
            source,
        })?;
    Ok(Fetched {
        chunks: chunk_count,
        plaintext_len: written,
        sealed_len,
        resumed_chunks,
        fetched_bytes,
    })
}

/// One run of chunks on its way: its fetch/open task and the window bytes it holds.
struct InFlight {
    run: Range<usize>,
    task: AbortOnDrop<std::result::Result<Vec<Opened>, RunError>>,
    _permit: OwnedSemaphorePermit,
}

/// A spawned task that is cancelled when its handle is dropped (an error elsewhere stops
/// every fetch still running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> std::result::Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum RunError {
    Storage(phd_storage::Error),
    Seal(phd_seal::SealError),
}

/// Semaphore permits for `bytes` (KiB granularity keeps large windows within `u32`).
fn permits(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
}

/// Window bytes a run holds: its ciphertext plus its plaintext.
fn run_cost(entries: &[ChunkEntry], run: &Range<usize>) -> u64 {
    entries[run.clone()]
        .iter()
        .map(|e| u64::from(e.ct_len) + u64::from(e.pt_len))
        .sum()
}

/// Consecutive chunks from `from`, grouped so each GET asks for about `request_bytes`.
fn plan_runs(entries: &[ChunkEntry], from: usize, request_bytes: u64) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = from;
    let mut bytes = 0u64;
    for (i, e) in entries.iter().enumerate().skip(from) {
        bytes += u64::from(e.ct_len);
        if bytes >= request_bytes {
            runs.push(start..i + 1);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < entries.len() {
        runs.push(start..entries.len());
    }
    runs
}

async fn get_range<O: RangedObject + ?Sized>(
    object: &O,
    range: Range<u64>,
    attempts: u32,
) -> phd_storage::Result<bytes::Bytes> {
    let mut attempt = 1;
    loop {
        match object.get_range(range.clone()).await {
            Ok(b) if b.len() as u64 == range.end - range.start => return Ok(b),
            Ok(b) => {
                return Err(phd_storage::Error::Protocol {
                    op: "GetObject",
                    bucket: String::new(),
                    key: object.describe(),
                    detail: format!(
                        "asked for {} bytes at {}, got {}",
                        range.end - range.start,
                        range.start,
                        b.len()
                    ),
                });
            }
            Err(e)
                if attempt < attempts
                    && !e.is_not_found()
                    && !matches!(e, phd_storage::Error::InvalidRange { .. }) =>
            {
                tracing::debug!(attempt, error = %e, "ranged GET failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(5))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A chunk's plaintext and its BLAKE3 hash for the resume state (hashed by the worker that
/// decrypted it, so the in-order writer only writes).
struct Opened {
    plaintext: Vec<u8>,
    digest: [u8; 32],
}

/// One ranged GET for the run, then every chunk of it opened on the blocking pool, in parallel.
async fn fetch_run<O: RangedObject>(
    object: Arc<O>,
    opener: Arc<ChunkOpener>,
    run: Range<usize>,
    attempts: u32,
) -> std::result::Result<Vec<Opened>, RunError> {
    let entries = &opener.entries()[run.clone()];
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(Vec::new());
    };
    let range = first.offset..last.offset + u64::from(last.ct_len);
    let body = get_range(&*object, range, attempts)
        .await
        .map_err(RunError::Storage)?;
    // Unique `Bytes` from a Vec converts without a copy; each chunk then gets its own mutable
    // slice of the same allocation to decrypt in place.
    let mut body = BytesMut::from(body);
    let mut jobs = Vec::with_capacity(entries.len());
    for (i, e) in run.zip(entries) {
        let mut ct = body.split_to(e.ct_len as usize);
        let opener = opener.clone();
        jobs.push(AbortOnDrop(tokio::task::spawn_blocking(move || {
            let plaintext = opener.open_chunk(i as u64, &mut ct)?;
            let digest = blake3::hash(&plaintext).into();
            Ok(Opened { plaintext, digest })
        })));
    }
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let pt = job
            .join()
            .await
            .map_err(|_| RunError::Seal(phd_seal::SealError::Internal("chunk worker stopped")))?;
        out.push(pt.map_err(RunError::Seal)?);
    }
    Ok(out)
}

/// The partial output and its resume state.
#[derive(Debug, Clone)]
struct PartialPaths {
    partial: PathBuf,
    state: PathBuf,
}

/// State file: magic ‖ content root ‖ BLAKE3 of each written chunk's plaintext, in order.
/// (`PHDPART1` files, with SHA-256, are not recognised: such a retrieval starts over.)
const STATE_MAGIC: &[u8; 8] = b"PHDPART2";

struct Sink {
    file: File,
    state: File,
    digests: Vec<u8>,
}

impl Sink {
    /// Plaintext first, then its hashes: a crash between the two loses at most a chunk's
    /// record, and a hash without its data fails the check on resume.
    fn append(&mut self, chunks: &[Opened]) -> std::io::Result<()> {
        self.digests.clear();
        for c in chunks {
            self.file.write_all(&c.plaintext)?;
            self.digests.extend_from_slice(&c.digest);
        }
        self.state.write_all(&self.digests)
    }
}

impl PartialPaths {
    fn for_output(out: &Path) -> PartialPaths {
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        PartialPaths {
            partial: dir.join(format!(".{name}.phd-partial")),
            state: dir.join(format!(".{name}.phd-partial.state")),
        }
    }

    /// Opens (or creates) the partial file positioned after the chunks that can be kept, and
    /// the state file positioned after their hashes. Returns how many chunks are kept.
    fn open(
        &self,
        root: [u8; 32],
        entries: &[ChunkEntry],
        resume: bool,
    ) -> std::io::Result<(File, File, usize)> {
        if let Some(dir) = self.partial.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = private_rw(&self.partial)?;
        let mut state = private_rw(&self.state)?;
        let keep = if resume {
            kept_chunks(&mut file, &mut state, root, entries)?
        } else {
            0
        };
        let pt_end: u64 = entries[..keep].iter().map(|e| u64::from(e.pt_len)).sum();
        file.set_len(pt_end)?;
        file.seek(SeekFrom::Start(pt_end))?;
        let state_end = (STATE_MAGIC.len() + 32 + 32 * keep) as u64;
        if keep == 0 {
            state.set_len(0)?;
            state.seek(SeekFrom::Start(0))?;
            state.write_all(STATE_MAGIC)?;
            state.write_all(&root)?;
        } else {
            state.set_len(state_end)?;
            state.seek(SeekFrom::Start(state_end))?;
        }
        Ok((file, state, keep))
    }

    /// Removes the partial file and its state (best effort: they hold only verified bytes).
    fn remove(&self) {
        for p in [&self.partial, &self.state] {
            if let Err(e) = std::fs::remove_file(p)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove a partial retrieval file");
            }
        }
    }

    /// fsync, rename into place, drop the state file.
    fn finish(&self, sink: Sink, out: &Path) -> std::io::Result<()> {
        sink.file.sync_all()?;
        drop(sink.file);
        std::fs::rename(&self.partial, out)?;
        drop(sink.state);
        std::fs::remove_file(&self.state).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })
    }
}

fn private_rw(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// How many leading chunks of the partial file are recorded for this root and still hash to
/// what was recorded.
fn kept_chunks(
    file: &mut File,
    state: &mut File,
    root: [u8; 32],
    entries: &[ChunkEntry],
) -> std::io::Result<usize> {
    let mut recorded = Vec::new();
    state.seek(SeekFrom::Start(0))?;
    state.read_to_end(&mut recorded)?;
    let Some(rest) = recorded.strip_prefix(STATE_MAGIC.as_slice()) else {
        return Ok(0);
    };
    let Some((recorded_root, hashes)) = rest.split_first_chunk::<32>() else {
        return Ok(0);
    };
    if *recorded_root != root {
        return Ok(0);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    let mut keep = 0;
    for (e, want) in entries.iter().zip(hashes.chunks_exact(32)) {
        buf.resize(e.pt_len as usize, 0);
        if file.read_exact(&mut buf).is_err() || blake3::hash(&buf).as_bytes() != want {
            break;
        }
        keep += 1;
    }
    Ok(keep)
}

#[cfg(test)]
mod tests;
