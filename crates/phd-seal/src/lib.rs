//! phd-seal: the sealed object format of PHD exchange.
//!
//! Plaintext is cut into fixed-size chunks; each chunk is zstd-compressed on
//! its own, encrypted with AES-256-CTR and hashed with SHA-256. A trailer lists
//! every chunk and a fixed footer points at the trailer, so a remote reader can
//! fetch footer → trailer → any chunk range with ranged reads. The *content
//! root* (what goes on-chain) commits to the header, the trailer and every
//! chunk; nothing is decrypted before it and the chunk hash have been checked.
//!
//! The byte layout, the Merkle construction and the key schedule are specified
//! in `docs/FORMATS.md`.
//!
//! ```text
//! // owner: one fresh secret per dataset (phd-keys), seal, publish summary.root
//! let secret = phd_keys::DatasetSecret::generate()?;
//! let key = phd_seal::SealingKey::from_derived(secret.data_key())?;
//! let summary = phd_seal::seal(key, File::open(csv)?, File::create(out)?, &SealOptions::default())?;
//!
//! // buyer: combine shares → secret, then verify against the on-chain root and decrypt
//! let key = phd_seal::OpeningKey::from_derived(secret.data_key());
//! let src = phd_seal::FileSource::open(out)?;            // or an S3 ChunkSource
//! phd_seal::open(&key, &src, onchain_root, File::create(plain)?, &OpenLimits::default())?;
//! ```

mod error;
mod format;
mod keys;
mod opener;
mod pipeline;
mod source;

pub use error::{Result, SealError};
pub use format::{
    ChunkEntry, ENTRY_LEN, FLAG_ZSTD, FOOTER_LEN, FOOTER_MAGIC, HEADER_LEN, HEADER_MAGIC,
    MAX_CHUNK_SIZE, TRAILER_FIXED_LEN, VERSION, chunk_tree_root,
};
pub use keys::{OpeningKey, SealingKey};
pub use opener::{ChunkDecoder, ChunkOpener, footer_range, header_range, trailer_range};
pub use source::{ChunkSource, FileSource};

use format::Header;
use keys::ObjectKeys;
use opener::Layout;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::ops::Range;
use subtle::ConstantTimeEq;

/// Default plaintext chunk size: 4 MiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 4 << 20;
/// Default zstd level.
pub const DEFAULT_LEVEL: i32 = 3;

/// Options for [`seal`].
#[derive(Debug, Clone)]
pub struct SealOptions {
    /// Plaintext bytes per chunk (1..=[`MAX_CHUNK_SIZE`]).
    pub chunk_size: u32,
    /// zstd compression level.
    pub level: i32,
    /// Worker threads; 0 = number of CPUs.
    pub threads: usize,
    /// Chunks in flight; 0 = 2 × threads.
    pub window: usize,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            level: DEFAULT_LEVEL,
            threads: 0,
            window: 0,
        }
    }
}

/// Bounds applied when reading a (hostile) sealed object.
#[derive(Debug, Clone)]
pub struct OpenLimits {
    /// Largest accepted plaintext chunk size.
    pub max_chunk_size: u32,
    /// Largest accepted chunk count.
    pub max_chunks: u64,
    /// Largest accepted trailer, in bytes.
    pub max_trailer_bytes: u64,
    /// Upper bound for zstd's `window_log_max` (the decoder uses
    /// `min(this, ceil(log2(chunk_size)))`).
    pub window_log_max: u32,
    /// When true (default), [`open`] checks every chunk hash of the requested
    /// range before the first plaintext byte reaches the writer (two passes
    /// over the ciphertext). When false, each chunk is still verified before
    /// it is decrypted, but earlier chunks may already have been written when
    /// a later one fails.
    pub verify_all_before_output: bool,
    /// With `verify_all_before_output`, a selection whose ciphertext totals at most this many
    /// bytes is read and hashed once: the verified bytes are kept in memory for decryption, so
    /// nothing can change between check and use. Larger selections are read and hashed again
    /// per chunk just before decryption (the source may have changed since the first pass).
    pub hold_verified_bytes: u64,
    /// Worker threads; 0 = number of CPUs.
    pub threads: usize,
    /// Chunks in flight; 0 = 2 × threads.
    pub window: usize,
}

impl Default for OpenLimits {
    fn default() -> Self {
        OpenLimits {
            max_chunk_size: 64 << 20,
            max_chunks: 1 << 20,
            max_trailer_bytes: 64 << 20,
            window_log_max: 27,
            verify_all_before_output: true,
            hold_verified_bytes: 64 << 20,
            threads: 0,
            window: 0,
        }
    }
}

/// What [`seal`] produced.
#[derive(Debug)]
pub struct SealSummary {
    /// Content root (goes on-chain).
    pub root: [u8; 32],
    /// Number of chunks.
    pub chunk_count: u64,
    /// Plaintext bytes read.
    pub plaintext_len: u64,
    /// Bytes written (whole sealed object).
    pub sealed_len: u64,
    /// The key that opens the object (the sealing key was consumed).
    pub opening_key: OpeningKey,
}

/// What [`open`] / [`open_range`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSummary {
    /// Chunks decrypted.
    pub chunks: u64,
    /// Plaintext bytes written.
    pub plaintext_len: u64,
}

/// Public facts about a sealed object, readable without a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedInfo {
    /// Format version.
    pub version: u16,
    /// Plaintext chunk size.
    pub chunk_size: u32,
    /// Number of chunks.
    pub chunk_count: u64,
    /// Total plaintext length.
    pub plaintext_len: u64,
    /// Total sealed object length.
    pub sealed_len: u64,
    /// Content root recomputed from header and trailer (what the object
    /// *claims*; compare with the trusted on-chain root).
    pub root: [u8; 32],
    /// Per-chunk entries from the trailer.
    pub chunks: Vec<ChunkEntry>,
}

impl SealedInfo {
    /// Chunks holding the plaintext byte range `bytes` (clamped to the object).
    pub fn chunk_range_for(&self, bytes: Range<u64>) -> Range<u64> {
        let cs = u64::from(self.chunk_size.max(1));
        let end = bytes.end.min(self.plaintext_len);
        if bytes.start >= end {
            return 0..0;
        }
        (bytes.start / cs)..end.div_ceil(cs).min(self.chunk_count)
    }
}

/// An upper bound of the sealed length of `plaintext_len` bytes cut into `chunk_size` chunks
/// (every chunk at zstd's worst case), for sizing uploads before sealing has finished.
pub fn sealed_len_bound(plaintext_len: u64, chunk_size: u32) -> u64 {
    let chunk_size = u64::from(chunk_size.max(1));
    let full = plaintext_len / chunk_size;
    let rest = plaintext_len % chunk_size;
    let bound =
        |n: u64| zstd::zstd_safe::compress_bound(usize::try_from(n).unwrap_or(usize::MAX)) as u64;
    let chunks = full + u64::from(rest > 0);
    let body = full
        .saturating_mul(bound(chunk_size))
        .saturating_add(if rest > 0 { bound(rest) } else { 0 });
    (format::HEADER_LEN + format::TRAILER_FIXED_LEN + format::FOOTER_LEN) as u64
        + body.saturating_add(chunks.saturating_mul(format::ENTRY_LEN as u64))
}

/// Seal everything `reader` yields into `writer`, consuming the key.
pub fn seal<R: Read, W: Write>(
    key: SealingKey,
    mut reader: R,
    mut writer: W,
    opts: &SealOptions,
) -> Result<SealSummary> {
    if opts.chunk_size == 0 || opts.chunk_size > MAX_CHUNK_SIZE {
        return Err(SealError::ChunkSizeOutOfRange {
            size: u64::from(opts.chunk_size),
            limit: u64::from(MAX_CHUNK_SIZE),
        });
    }
    if !zstd::compression_level_range().contains(&opts.level) {
        return Err(SealError::InvalidOption("zstd level out of range"));
    }
    key.mark_used()?;
    let mut salt = [0u8; 32];
    keys::fill_random(&mut salt)?;
    let okeys = ObjectKeys::derive(&key.key, &salt)?;
    let header = Header {
        chunk_size: opts.chunk_size,
        salt,
        key_check: okeys.check,
    };
    let header_bytes = header.to_bytes();
    writer
        .write_all(&header_bytes)
        .map_err(SealError::io("writing header"))?;

    let chunk_size = opts.chunk_size as usize;
    let (threads, window) = pipeline::threads_and_window(opts.threads, opts.window);
    let level = opts.level;
    let mut entries: Vec<ChunkEntry> = Vec::new();
    let mut offset = HEADER_LEN as u64;
    let mut plaintext_len = 0u64;
    let mut eof = false;

    pipeline::run(
        threads,
        window,
        |_idx| {
            if eof {
                return Ok(None);
            }
            let buf = read_chunk(&mut reader, chunk_size)?;
            if buf.len() < chunk_size {
                eof = true;
            }
            if buf.is_empty() {
                Ok(None)
            } else {
                Ok(Some(buf))
            }
        },
        || zstd::bulk::Compressor::new(level).map_err(SealError::io("creating zstd compressor")),
        |comp, idx, pt: Vec<u8>| {
            let pt_len = u32::try_from(pt.len())
                .map_err(|_| SealError::Internal("chunk larger than u32"))?;
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(pt.len()));
            comp.compress_to_buffer(&pt, &mut out)
                .map_err(SealError::io("compressing chunk"))?;
            drop(pt);
            okeys.apply_keystream(idx, &mut out)?;
            let hash: [u8; 32] = Sha256::digest(&out).into();
            Ok((out, hash, pt_len))
        },
        |_idx, (ct, hash, pt_len): (Vec<u8>, [u8; 32], u32)| {
            writer
                .write_all(&ct)
                .map_err(SealError::io("writing chunk"))?;
            let ct_len = u32::try_from(ct.len())
                .map_err(|_| SealError::Internal("ciphertext chunk larger than u32"))?;
            entries.push(ChunkEntry {
                offset,
                ct_len,
                pt_len,
                hash,
            });
            offset += u64::from(ct_len);
            plaintext_len += u64::from(pt_len);
            Ok(())
        },
    )?;
    let trailer = format::trailer_bytes(&entries, plaintext_len);
    writer
        .write_all(&trailer)
        .map_err(SealError::io("writing trailer"))?;
    writer
        .write_all(&format::footer_bytes(trailer.len() as u64))
        .map_err(SealError::io("writing footer"))?;
    writer.flush().map_err(SealError::io("flushing output"))?;
    let root = format::content_root(&header_bytes, &entries, plaintext_len);
    Ok(SealSummary {
        root,
        chunk_count: entries.len() as u64,
        plaintext_len,
        sealed_len: offset + (trailer.len() + FOOTER_LEN) as u64,
        opening_key: key.opening_key(),
    })
}

/// Read up to `n` bytes (fewer only at end of input).
fn read_chunk<R: Read>(reader: &mut R, n: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    let mut limited = reader.take(n as u64);
    loop {
        match limited.read_to_end(&mut buf) {
            Ok(_) => return Ok(buf),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(SealError::Io {
                    context: "reading plaintext",
                    source: e,
                });
            }
        }
    }
}

fn read_exact_at<S: ChunkSource + ?Sized>(
    source: &S,
    offset: u64,
    len: usize,
    context: &'static str,
) -> Result<Vec<u8>> {
    let buf = source.read_at(offset, len).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            SealError::Truncated { context }
        } else {
            SealError::Io { context, source: e }
        }
    })?;
    if buf.len() != len {
        return Err(SealError::Truncated { context });
    }
    Ok(buf)
}

fn read_range<S: ChunkSource + ?Sized>(
    source: &S,
    range: Range<u64>,
    context: &'static str,
) -> Result<Vec<u8>> {
    let len =
        usize::try_from(range.end - range.start).map_err(|_| SealError::Truncated { context })?;
    read_exact_at(source, range.start, len, context)
}

/// Footer → trailer → header, the same three reads a remote reader makes.
fn parse<S: ChunkSource + ?Sized>(source: &S, limits: &OpenLimits) -> Result<Layout> {
    let object_len = source.len();
    let footer = read_range(source, footer_range(object_len)?, "footer")?;
    let trailer_at = trailer_range(object_len, &footer, limits)?;
    let header = read_range(source, header_range(), "header")?;
    let trailer = read_range(source, trailer_at, "trailer")?;
    Layout::parse(object_len, &header, &trailer, limits)
}

/// Read header, trailer and footer (no key needed) and report what the object
/// claims. Uses default [`OpenLimits`].
pub fn inspect<S: ChunkSource + ?Sized>(source: &S) -> Result<SealedInfo> {
    inspect_with_limits(source, &OpenLimits::default())
}

/// [`inspect`] with explicit limits.
pub fn inspect_with_limits<S: ChunkSource + ?Sized>(
    source: &S,
    limits: &OpenLimits,
) -> Result<SealedInfo> {
    let p = parse(source, limits)?;
    Ok(SealedInfo {
        version: VERSION,
        chunk_size: p.header.chunk_size,
        chunk_count: p.entries.len() as u64,
        plaintext_len: p.plaintext_len,
        sealed_len: source.len(),
        root: p.root,
        chunks: p.entries,
    })
}

/// What an object's owner committed to about its key, readable without a key: the 64 header bytes
/// (salt and key check, docs/FORMATS.md §1.1) and the rest of the content root's preimage (§1.6).
/// A buyer whose C0-checked key does not open the object submits these on-chain as evidence of
/// owner fraud; the contract hashes them back to the listed root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheckEvidence {
    /// The header exactly as stored.
    pub header: [u8; HEADER_LEN],
    /// Number of chunks.
    pub chunk_count: u64,
    /// Total plaintext length.
    pub plaintext_len: u64,
    /// Merkle root over the chunk leaves ([`chunk_tree_root`]).
    pub tree_root: [u8; 32],
    /// The content root these hash to.
    pub root: [u8; 32],
}

impl KeyCheckEvidence {
    /// Whether `key` matches the header's key check (constant time). `false` means the object
    /// cannot be opened under `key`.
    pub fn key_opens(&self, key: &OpeningKey) -> Result<bool> {
        let header = Header::parse(&self.header)?;
        let okeys = ObjectKeys::derive(&key.key, &header.salt)?;
        Ok(bool::from(okeys.check.ct_eq(&header.key_check)))
    }
}

/// Reads header, trailer and footer (no key) into a [`KeyCheckEvidence`], with the structural
/// checks of [`inspect`] (default [`OpenLimits`]).
pub fn key_check_evidence<S: ChunkSource + ?Sized>(source: &S) -> Result<KeyCheckEvidence> {
    Ok(evidence_of(parse(source, &OpenLimits::default())?))
}

/// [`key_check_evidence`] from the header and trailer bytes a remote reader already fetched
/// (the object's length, its 64-byte header and its trailer without the footer).
pub fn key_check_evidence_from_parts(
    object_len: u64,
    header: &[u8],
    trailer: &[u8],
) -> Result<KeyCheckEvidence> {
    Ok(evidence_of(opener::Layout::parse(
        object_len,
        header,
        trailer,
        &OpenLimits::default(),
    )?))
}

fn evidence_of(p: opener::Layout) -> KeyCheckEvidence {
    KeyCheckEvidence {
        header: p.header.to_bytes(),
        chunk_count: p.entries.len() as u64,
        plaintext_len: p.plaintext_len,
        tree_root: chunk_tree_root(&p.entries),
        root: p.root,
    }
}

/// [`inspect`] from only the first and last bytes of an object of `object_len` bytes: `head`
/// (at least the header) and `tail` (at least trailer + footer), e.g. a gateway's manifest.
/// A read that falls outside both is refused as truncated, so a lying `object_len` or a tail
/// too short for the trailer it announces fails instead of reading zeros.
pub fn inspect_parts(object_len: u64, head: &[u8], tail: &[u8]) -> Result<SealedInfo> {
    struct Parts<'a> {
        len: u64,
        head: &'a [u8],
        tail: &'a [u8],
    }
    impl ChunkSource for Parts<'_> {
        fn len(&self) -> u64 {
            self.len
        }
        fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            let eof = || {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "outside the manifest's header and tail",
                )
            };
            let end = offset.checked_add(len as u64).ok_or_else(eof)?;
            if end <= self.head.len() as u64 {
                return self.head.read_at(offset, len);
            }
            let tail_start = self
                .len
                .checked_sub(self.tail.len() as u64)
                .ok_or_else(eof)?;
            if offset >= tail_start && end <= self.len {
                return self.tail.read_at(offset - tail_start, len);
            }
            Err(eof())
        }
    }
    inspect(&Parts {
        len: object_len,
        head,
        tail,
    })
}

/// Verify and decrypt the whole object into `writer`.
///
/// Order of checks: footer/trailer/header structure and bounds → content root
/// against `expected_root` (constant time) → key check value → every chunk
/// hash (all of them first when `limits.verify_all_before_output`) → decrypt →
/// bounded decompression.
pub fn open<S: ChunkSource + ?Sized, W: Write>(
    key: &OpeningKey,
    source: &S,
    expected_root: [u8; 32],
    writer: W,
    limits: &OpenLimits,
) -> Result<OpenSummary> {
    let p = parse(source, limits)?;
    let count = p.entries.len() as u64;
    open_parsed(key, source, p, expected_root, 0..count, writer, limits)
}

/// Verify and decrypt chunks `chunks` (indices, end exclusive) into `writer`.
/// The whole trailer is verified against `expected_root` first.
pub fn open_range<S: ChunkSource + ?Sized, W: Write>(
    key: &OpeningKey,
    source: &S,
    expected_root: [u8; 32],
    chunks: Range<u64>,
    writer: W,
    limits: &OpenLimits,
) -> Result<OpenSummary> {
    let p = parse(source, limits)?;
    let count = p.entries.len() as u64;
    if chunks.start > chunks.end || chunks.end > count {
        return Err(SealError::RangeOutOfBounds {
            start: chunks.start,
            end: chunks.end,
            count,
        });
    }
    open_parsed(key, source, p, expected_root, chunks, writer, limits)
}

fn open_parsed<S: ChunkSource + ?Sized, W: Write>(
    key: &OpeningKey,
    source: &S,
    layout: Layout,
    expected_root: [u8; 32],
    chunks: Range<u64>,
    mut writer: W,
    limits: &OpenLimits,
) -> Result<OpenSummary> {
    let opener = ChunkOpener::from_layout(key, layout, expected_root, limits)?;
    let count = opener.entries().len() as u64;
    let start = usize::try_from(chunks.start).map_err(|_| SealError::Internal("range"))?;
    let end = usize::try_from(chunks.end).map_err(|_| SealError::Internal("range"))?;
    let selected = opener
        .entries()
        .get(start..end)
        .ok_or(SealError::RangeOutOfBounds {
            start: chunks.start,
            end: chunks.end,
            count,
        })?;
    let (threads, window) = pipeline::threads_and_window(limits.threads, limits.window);
    let base = chunks.start;
    // The driver thread only hands out trailer entries; workers do the ranged
    // reads themselves, so a remote source gets `threads` concurrent requests.
    let next = |i: u64| -> Result<Option<ChunkEntry>> {
        Ok(usize::try_from(i)
            .ok()
            .and_then(|i| selected.get(i))
            .copied())
    };
    let fetch = |e: &ChunkEntry| read_exact_at(source, e.offset, e.ct_len as usize, "chunk");
    let mut held: Option<std::vec::IntoIter<Vec<u8>>> = None;
    if limits.verify_all_before_output {
        let ct_total: u64 = selected.iter().map(|e| u64::from(e.ct_len)).sum();
        let keep = ct_total <= limits.hold_verified_bytes;
        let mut kept = Vec::with_capacity(if keep { selected.len() } else { 0 });
        pipeline::run(
            threads,
            window,
            next,
            || Ok(()),
            |(), rel, e| {
                let ct = fetch(&e)?;
                opener.verify_chunk(base + rel, &ct)?;
                Ok(keep.then_some(ct))
            },
            |_, ct: Option<Vec<u8>>| {
                kept.extend(ct);
                Ok(())
            },
        )?;
        if keep {
            held = Some(kept.into_iter());
        }
    }
    let mut written = 0u64;
    let mut sink = |_, pt: Vec<u8>| {
        writer
            .write_all(&pt)
            .map_err(SealError::io("writing plaintext"))?;
        written += pt.len() as u64;
        Ok(())
    };
    let n = match held {
        // Verified in the first pass and held in memory since: decrypt without a second read
        // or hash.
        Some(mut chunks) => pipeline::run(
            threads,
            window,
            |i| Ok(next(i)?.and_then(|_| chunks.next())),
            || opener.decoder(),
            |d, rel, mut ct: Vec<u8>| opener.decrypt_held(d, base + rel, &mut ct),
            &mut sink,
        )?,
        None => pipeline::run(
            threads,
            window,
            next,
            || opener.decoder(),
            // Read and verify again: the source may have changed since the first pass.
            |d, rel, e| opener.open_chunk_with(d, base + rel, &mut fetch(&e)?),
            &mut sink,
        )?,
    };
    writer
        .flush()
        .map_err(SealError::io("flushing plaintext"))?;
    Ok(OpenSummary {
        chunks: n,
        plaintext_len: written,
    })
}

/// Test support: build a *valid* sealed object around arbitrary chunk payloads
/// (`(compressed bytes, declared plaintext length)`), as a malicious key
/// holder could. Used to test the decoder's output caps against zstd bombs;
/// not part of the stable API.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// See the module docs.
    pub fn seal_precompressed<W: Write>(
        key: SealingKey,
        chunk_size: u32,
        chunks: &[(Vec<u8>, u32)],
        mut writer: W,
    ) -> Result<SealSummary> {
        key.mark_used()?;
        let mut salt = [0u8; 32];
        keys::fill_random(&mut salt)?;
        let okeys = ObjectKeys::derive(&key.key, &salt)?;
        let header = Header {
            chunk_size,
            salt,
            key_check: okeys.check,
        };
        let header_bytes = header.to_bytes();
        writer
            .write_all(&header_bytes)
            .map_err(SealError::io("writing header"))?;
        let mut entries = Vec::new();
        let mut offset = HEADER_LEN as u64;
        let mut plaintext_len = 0u64;
        for (i, (payload, pt_len)) in chunks.iter().enumerate() {
            let mut ct = payload.clone();
            okeys.apply_keystream(i as u64, &mut ct)?;
            writer
                .write_all(&ct)
                .map_err(SealError::io("writing chunk"))?;
            let ct_len = u32::try_from(ct.len()).map_err(|_| SealError::Internal("len"))?;
            entries.push(ChunkEntry {
                offset,
                ct_len,
                pt_len: *pt_len,
                hash: Sha256::digest(&ct).into(),
            });
            offset += u64::from(ct_len);
            plaintext_len += u64::from(*pt_len);
        }
        let trailer = format::trailer_bytes(&entries, plaintext_len);
        writer
            .write_all(&trailer)
            .map_err(SealError::io("writing trailer"))?;
        writer
            .write_all(&format::footer_bytes(trailer.len() as u64))
            .map_err(SealError::io("writing footer"))?;
        Ok(SealSummary {
            root: format::content_root(&header_bytes, &entries, plaintext_len),
            chunk_count: entries.len() as u64,
            plaintext_len,
            sealed_len: offset + (trailer.len() + FOOTER_LEN) as u64,
            opening_key: key.opening_key(),
        })
    }
}
