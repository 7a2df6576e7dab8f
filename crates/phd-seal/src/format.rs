//! Byte layout of a sealed object (see docs/FORMATS.md §"Sealed object v1").

use crate::error::{Result, SealError};
use sha2::{Digest, Sha256};

/// Header magic, 8 bytes.
pub const HEADER_MAGIC: [u8; 8] = *b"PHDSEAL\0";
/// Footer magic, 8 bytes.
pub const FOOTER_MAGIC: [u8; 8] = *b"PHDSEND1";
/// Current (and only) format version.
pub const VERSION: u16 = 1;
/// Flag bit: chunks are zstd-compressed before encryption (mandatory in v1).
pub const FLAG_ZSTD: u16 = 0x0001;
/// Header length in bytes.
pub const HEADER_LEN: usize = 64;
/// Footer length in bytes.
pub const FOOTER_LEN: usize = 16;
/// Fixed part of the trailer (chunk count + plaintext length).
pub const TRAILER_FIXED_LEN: usize = 16;
/// One trailer entry: offset u64, ct_len u32, pt_len u32, sha256 32.
pub const ENTRY_LEN: usize = 48;
/// Largest plaintext chunk size the format allows (256 MiB).
pub const MAX_CHUNK_SIZE: u32 = 256 << 20;

/// Parsed header.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) chunk_size: u32,
    pub(crate) salt: [u8; 32],
    pub(crate) key_check: [u8; 16],
}

impl Header {
    pub(crate) fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&HEADER_MAGIC);
        h[8..10].copy_from_slice(&VERSION.to_be_bytes());
        h[10..12].copy_from_slice(&FLAG_ZSTD.to_be_bytes());
        h[12..16].copy_from_slice(&self.chunk_size.to_be_bytes());
        h[16..48].copy_from_slice(&self.salt);
        h[48..64].copy_from_slice(&self.key_check);
        h
    }

    pub(crate) fn parse(b: &[u8]) -> Result<Header> {
        let b: &[u8; HEADER_LEN] = b
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(SealError::Truncated { context: "header" })?;
        if b[0..8] != HEADER_MAGIC {
            return Err(SealError::BadMagic { what: "header" });
        }
        let version = u16::from_be_bytes([b[8], b[9]]);
        if version != VERSION {
            return Err(SealError::UnsupportedVersion { version });
        }
        let flags = u16::from_be_bytes([b[10], b[11]]);
        if flags != FLAG_ZSTD {
            return Err(SealError::UnsupportedFlags { flags });
        }
        let chunk_size = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&b[16..48]);
        let mut key_check = [0u8; 16];
        key_check.copy_from_slice(&b[48..64]);
        Ok(Header {
            chunk_size,
            salt,
            key_check,
        })
    }
}

/// One chunk as listed in the trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEntry {
    /// Byte offset of the chunk ciphertext in the object.
    pub offset: u64,
    /// Ciphertext (= compressed) length.
    pub ct_len: u32,
    /// Plaintext length of the chunk.
    pub pt_len: u32,
    /// SHA-256 of the chunk ciphertext.
    pub hash: [u8; 32],
}

impl ChunkEntry {
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.ct_len.to_be_bytes());
        out.extend_from_slice(&self.pt_len.to_be_bytes());
        out.extend_from_slice(&self.hash);
    }

    fn parse(b: &[u8; ENTRY_LEN]) -> ChunkEntry {
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[0..8]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[16..48]);
        ChunkEntry {
            offset: u64::from_be_bytes(o),
            ct_len: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            pt_len: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            hash,
        }
    }

    /// Merkle leaf of this chunk.
    pub(crate) fn leaf(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([0x00]);
        h.update(self.hash);
        h.update(self.ct_len.to_be_bytes());
        h.update(self.pt_len.to_be_bytes());
        h.finalize().into()
    }
}

/// Serialise the trailer (without footer).
pub(crate) fn trailer_bytes(entries: &[ChunkEntry], plaintext_len: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(TRAILER_FIXED_LEN + ENTRY_LEN * entries.len());
    t.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    t.extend_from_slice(&plaintext_len.to_be_bytes());
    for e in entries {
        e.write_to(&mut t);
    }
    t
}

pub(crate) fn footer_bytes(trailer_len: u64) -> [u8; FOOTER_LEN] {
    let mut f = [0u8; FOOTER_LEN];
    f[0..8].copy_from_slice(&trailer_len.to_be_bytes());
    f[8..16].copy_from_slice(&FOOTER_MAGIC);
    f
}

/// Parse the footer; returns the trailer length.
pub(crate) fn parse_footer(b: &[u8]) -> Result<u64> {
    let b: &[u8; FOOTER_LEN] = b
        .try_into()
        .map_err(|_| SealError::Truncated { context: "footer" })?;
    if b[8..16] != FOOTER_MAGIC {
        return Err(SealError::BadMagic { what: "footer" });
    }
    let mut l = [0u8; 8];
    l.copy_from_slice(&b[0..8]);
    Ok(u64::from_be_bytes(l))
}

/// Parse and validate the trailer against the header and the object length.
pub(crate) fn parse_trailer(
    t: &[u8],
    header: &Header,
    object_len: u64,
    max_chunks: u64,
    max_ct_len: u64,
) -> Result<(Vec<ChunkEntry>, u64)> {
    let fixed = t
        .get(..TRAILER_FIXED_LEN)
        .ok_or(SealError::Truncated { context: "trailer" })?;
    let mut c = [0u8; 8];
    c.copy_from_slice(&fixed[0..8]);
    let count = u64::from_be_bytes(c);
    c.copy_from_slice(&fixed[8..16]);
    let plaintext_len = u64::from_be_bytes(c);
    if count > max_chunks {
        return Err(SealError::TooManyChunks {
            count,
            limit: max_chunks,
        });
    }
    let expected_len = (count as u128) * (ENTRY_LEN as u128) + TRAILER_FIXED_LEN as u128;
    if expected_len != t.len() as u128 {
        return Err(SealError::malformed(
            "trailer",
            format!(
                "length {} does not match {count} chunks ({expected_len} bytes)",
                t.len()
            ),
        ));
    }
    let data_end = object_len
        .checked_sub((t.len() + FOOTER_LEN) as u64)
        .ok_or(SealError::Truncated { context: "trailer" })?;
    let chunk_size = u64::from(header.chunk_size);
    let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut offset = HEADER_LEN as u64;
    let mut pt_total: u64 = 0;
    for (i, raw) in t[TRAILER_FIXED_LEN..].chunks_exact(ENTRY_LEN).enumerate() {
        let i = i as u64;
        let raw: &[u8; ENTRY_LEN] = raw.try_into().map_err(|_| SealError::Truncated {
            context: "trailer entry",
        })?;
        let e = ChunkEntry::parse(raw);
        if e.offset != offset {
            return Err(SealError::malformed(
                "trailer",
                format!("chunk {i} offset {} but expected {offset}", e.offset),
            ));
        }
        if e.ct_len == 0 || u64::from(e.ct_len) > max_ct_len {
            return Err(SealError::malformed(
                "trailer",
                format!(
                    "chunk {i} ciphertext length {} outside 1..={max_ct_len}",
                    e.ct_len
                ),
            ));
        }
        let last = i + 1 == count;
        let pt_ok = if last {
            e.pt_len >= 1 && u64::from(e.pt_len) <= chunk_size
        } else {
            u64::from(e.pt_len) == chunk_size
        };
        if !pt_ok {
            return Err(SealError::malformed(
                "trailer",
                format!(
                    "chunk {i} plaintext length {} inconsistent with chunk size {chunk_size}",
                    e.pt_len
                ),
            ));
        }
        offset = offset
            .checked_add(u64::from(e.ct_len))
            .ok_or_else(|| SealError::malformed("trailer", "offset overflow"))?;
        if offset > data_end {
            return Err(SealError::Truncated {
                context: "chunk data",
            });
        }
        pt_total = pt_total
            .checked_add(u64::from(e.pt_len))
            .ok_or_else(|| SealError::malformed("trailer", "plaintext length overflow"))?;
        entries.push(e);
    }
    if offset != data_end {
        return Err(SealError::malformed(
            "trailer",
            format!("chunks end at {offset} but trailer starts at {data_end}"),
        ));
    }
    if pt_total != plaintext_len {
        return Err(SealError::malformed(
            "trailer",
            format!("plaintext length {plaintext_len} but chunks sum to {pt_total}"),
        ));
    }
    Ok((entries, plaintext_len))
}

/// Merkle root over chunk leaves: leaves `SHA256(0x00‖hash‖ct_len‖pt_len)`,
/// nodes `SHA256(0x01‖left‖right)`, an odd last node is promoted unchanged,
/// empty tree = `SHA256(0x03)`.
pub fn chunk_tree_root(entries: &[ChunkEntry]) -> [u8; 32] {
    if entries.is_empty() {
        return Sha256::digest([0x03u8]).into();
    }
    let mut level: Vec<[u8; 32]> = entries.iter().map(ChunkEntry::leaf).collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [l, r] => {
                    let mut h = Sha256::new();
                    h.update([0x01]);
                    h.update(l);
                    h.update(r);
                    next.push(h.finalize().into());
                }
                [single] => next.push(*single),
                _ => {}
            }
        }
        level = next;
    }
    level.first().copied().unwrap_or([0u8; 32])
}

/// Content root = `SHA256(0x02 ‖ "phd-seal v1" ‖ SHA256(header) ‖ count u64 ‖ plaintext_len u64 ‖ tree root)`.
pub(crate) fn content_root(
    header_bytes: &[u8; HEADER_LEN],
    entries: &[ChunkEntry],
    plaintext_len: u64,
) -> [u8; 32] {
    let header_digest: [u8; 32] = Sha256::digest(header_bytes).into();
    let mut h = Sha256::new();
    h.update([0x02]);
    h.update(b"phd-seal v1");
    h.update(header_digest);
    h.update((entries.len() as u64).to_be_bytes());
    h.update(plaintext_len.to_be_bytes());
    h.update(chunk_tree_root(entries));
    h.finalize().into()
}
