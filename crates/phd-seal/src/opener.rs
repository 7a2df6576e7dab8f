//! Opening a sealed object piece by piece, from bytes the caller fetched itself (ranged reads
//! from a remote store): footer → trailer → header, the content root checked against the
//! trusted root before anything else, then each chunk hashed once while it is in memory,
//! decrypted in place and decompressed with bounded output.
//!
//! ```text
//! let footer = get(phd_seal::footer_range(len)?);
//! let trailer = get(phd_seal::trailer_range(len, &footer, &limits)?);
//! let header = get(phd_seal::header_range());
//! let opener = ChunkOpener::new(&key, len, &header, &trailer, onchain_root, &limits)?;
//! for (i, e) in opener.entries().iter().enumerate() {
//!     let mut ct = get(e.offset..e.offset + e.ct_len as u64);
//!     out.write_all(&opener.open_chunk(i as u64, &mut ct)?)?;
//! }
//! ```

use std::ops::Range;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::OpenLimits;
use crate::error::{Result, SealError};
use crate::format::{self, ChunkEntry, FOOTER_LEN, HEADER_LEN, Header, MAX_CHUNK_SIZE};
use crate::keys::{ObjectKeys, OpeningKey};

/// Byte range of the footer in an object of `object_len` bytes; too short an object is refused
/// before any read.
pub fn footer_range(object_len: u64) -> Result<Range<u64>> {
    let min = (HEADER_LEN + format::TRAILER_FIXED_LEN + FOOTER_LEN) as u64;
    if object_len < min {
        return Err(SealError::Truncated {
            context: "object shorter than header + trailer + footer",
        });
    }
    Ok(object_len - FOOTER_LEN as u64..object_len)
}

/// Byte range of the trailer, from the footer's bytes (bounded by `limits.max_trailer_bytes`
/// and by the object's length).
pub fn trailer_range(object_len: u64, footer: &[u8], limits: &OpenLimits) -> Result<Range<u64>> {
    footer_range(object_len)?;
    let trailer_len = format::parse_footer(footer)?;
    if trailer_len > limits.max_trailer_bytes {
        return Err(SealError::TrailerTooLarge {
            len: trailer_len,
            limit: limits.max_trailer_bytes,
        });
    }
    if trailer_len < format::TRAILER_FIXED_LEN as u64
        || trailer_len > object_len - (HEADER_LEN + FOOTER_LEN) as u64
    {
        return Err(SealError::Truncated {
            context: "trailer length exceeds object",
        });
    }
    let end = object_len - FOOTER_LEN as u64;
    Ok(end - trailer_len..end)
}

/// Byte range of the header.
pub fn header_range() -> Range<u64> {
    0..HEADER_LEN as u64
}

/// Structure of an object checked against the limits; root not yet compared.
pub(crate) struct Layout {
    pub(crate) header: Header,
    pub(crate) entries: Vec<ChunkEntry>,
    pub(crate) plaintext_len: u64,
    pub(crate) root: [u8; 32],
}

impl Layout {
    pub(crate) fn parse(
        object_len: u64,
        header: &[u8],
        trailer: &[u8],
        limits: &OpenLimits,
    ) -> Result<Layout> {
        let header = Header::parse(header)?;
        let limit = limits.max_chunk_size.min(MAX_CHUNK_SIZE);
        if header.chunk_size == 0 || header.chunk_size > limit {
            return Err(SealError::ChunkSizeOutOfRange {
                size: u64::from(header.chunk_size),
                limit: u64::from(limit),
            });
        }
        let max_ct = zstd::zstd_safe::compress_bound(header.chunk_size as usize) as u64;
        let (entries, plaintext_len) =
            format::parse_trailer(trailer, &header, object_len, limits.max_chunks, max_ct)?;
        let root = format::content_root(&header.to_bytes(), &entries, plaintext_len);
        Ok(Layout {
            header,
            entries,
            plaintext_len,
            root,
        })
    }
}

/// An object whose header and trailer matched the trusted root and whose key matched the key
/// check: opens chunks handed to it as bytes. `Sync`, so one opener serves every worker.
pub struct ChunkOpener {
    entries: Vec<ChunkEntry>,
    chunk_size: u32,
    plaintext_len: u64,
    keys: ObjectKeys,
    window_log: u32,
}

impl std::fmt::Debug for ChunkOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkOpener")
            .field("chunks", &self.entries.len())
            .field("chunk_size", &self.chunk_size)
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

impl ChunkOpener {
    /// Parses `header` and `trailer` (validated as in [`crate::open`]), compares the content
    /// root with `expected_root` in constant time (`RootMismatch`), then the key check
    /// (`WrongKey`). Nothing about the chunks is trusted before this returns.
    pub fn new(
        key: &OpeningKey,
        object_len: u64,
        header: &[u8],
        trailer: &[u8],
        expected_root: [u8; 32],
        limits: &OpenLimits,
    ) -> Result<ChunkOpener> {
        let layout = Layout::parse(object_len, header, trailer, limits)?;
        ChunkOpener::from_layout(key, layout, expected_root, limits)
    }

    pub(crate) fn from_layout(
        key: &OpeningKey,
        layout: Layout,
        expected_root: [u8; 32],
        limits: &OpenLimits,
    ) -> Result<ChunkOpener> {
        if !bool::from(layout.root.ct_eq(&expected_root)) {
            return Err(SealError::RootMismatch {
                expected: expected_root,
                actual: layout.root,
            });
        }
        let keys = ObjectKeys::derive(&key.key, &layout.header.salt)?;
        if !bool::from(keys.check.ct_eq(&layout.header.key_check)) {
            return Err(SealError::WrongKey);
        }
        let window_log = limits
            .window_log_max
            .min(ceil_log2(layout.header.chunk_size).max(10));
        Ok(ChunkOpener {
            entries: layout.entries,
            chunk_size: layout.header.chunk_size,
            plaintext_len: layout.plaintext_len,
            keys,
            window_log,
        })
    }

    /// The verified trailer entries, in chunk order.
    pub fn entries(&self) -> &[ChunkEntry] {
        &self.entries
    }

    /// Plaintext bytes per chunk (the last may be shorter).
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Total plaintext length.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    fn entry(&self, index: u64) -> Result<&ChunkEntry> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
            .ok_or(SealError::RangeOutOfBounds {
                start: index,
                end: index.saturating_add(1),
                count: self.entries.len() as u64,
            })
    }

    /// Checks chunk `index`'s ciphertext against its (root-verified) trailer hash, in
    /// constant time.
    pub fn verify_chunk(&self, index: u64, ciphertext: &[u8]) -> Result<()> {
        let e = self.entry(index)?;
        if ciphertext.len() != e.ct_len as usize {
            return Err(SealError::ChunkHashMismatch { index });
        }
        let h: [u8; 32] = Sha256::digest(ciphertext).into();
        if bool::from(h.ct_eq(&e.hash)) {
            Ok(())
        } else {
            Err(SealError::ChunkHashMismatch { index })
        }
    }

    /// Verifies chunk `index` (one hash pass over the bytes in memory), decrypts it in place and
    /// returns exactly its declared plaintext. On a hash mismatch nothing is decrypted.
    pub fn open_chunk(&self, index: u64, ciphertext: &mut [u8]) -> Result<Vec<u8>> {
        self.open_chunk_with(&mut self.decoder()?, index, ciphertext)
    }

    /// [`ChunkOpener::open_chunk`] reusing a worker's decoder (saves a zstd context per chunk).
    pub fn open_chunk_with(
        &self,
        decoder: &mut ChunkDecoder,
        index: u64,
        ciphertext: &mut [u8],
    ) -> Result<Vec<u8>> {
        self.verify_chunk(index, ciphertext)?;
        self.decrypt_held(decoder, index, ciphertext)
    }

    /// Decrypts chunk `index` whose ciphertext the caller checked with
    /// [`ChunkOpener::verify_chunk`] and has held in memory since (no second hash pass).
    pub(crate) fn decrypt_held(
        &self,
        decoder: &mut ChunkDecoder,
        index: u64,
        ciphertext: &mut [u8],
    ) -> Result<Vec<u8>> {
        decrypt_verified(
            &self.keys,
            &mut decoder.0,
            index,
            ciphertext,
            self.entry(index)?.pt_len,
        )
    }

    /// A decompressor bounded by this object's chunk size (one per worker thread).
    pub fn decoder(&self) -> Result<ChunkDecoder> {
        let mut d =
            zstd::bulk::Decompressor::new().map_err(SealError::io("creating zstd decompressor"))?;
        d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(self.window_log))
            .map_err(SealError::io("setting zstd window_log_max"))?;
        Ok(ChunkDecoder(d))
    }
}

/// A zstd decompression context with this object's window bound; not `Sync`, one per worker.
pub struct ChunkDecoder(zstd::bulk::Decompressor<'static>);

impl std::fmt::Debug for ChunkDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkDecoder")
    }
}

/// Decrypts a chunk whose hash was checked and decompresses it into exactly `pt_len` bytes.
fn decrypt_verified(
    keys: &ObjectKeys,
    d: &mut zstd::bulk::Decompressor<'static>,
    index: u64,
    ct: &mut [u8],
    pt_len: u32,
) -> Result<Vec<u8>> {
    keys.apply_keystream(index, ct)?;
    let declared = pt_len as usize;
    let mut out = Vec::with_capacity(declared);
    match d.decompress_to_buffer(&*ct, &mut out) {
        Ok(_) => {}
        Err(err) if err.to_string().contains("too small") => {
            return Err(SealError::OutputTooLarge {
                index,
                declared: declared as u64,
                actual: out.capacity() as u64 + 1,
            });
        }
        Err(source) => return Err(SealError::Decompress { index, source }),
    }
    if out.len() != declared {
        return Err(SealError::OutputTooLarge {
            index,
            declared: declared as u64,
            actual: out.len() as u64,
        });
    }
    Ok(out)
}

fn ceil_log2(x: u32) -> u32 {
    if x <= 1 {
        0
    } else {
        32 - (x - 1).leading_zeros()
    }
}
