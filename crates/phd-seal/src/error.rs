//! Error type of phd-seal.

use std::io;

/// Result alias for this crate.
pub type Result<T, E = SealError> = std::result::Result<T, E>;

/// Everything that can go wrong while sealing, parsing or opening a sealed object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The header or footer magic is not ours.
    #[error("bad magic in {what}")]
    BadMagic {
        /// `"header"` or `"footer"`.
        what: &'static str,
    },
    /// The object was written by a format version this code does not read.
    #[error("unsupported sealed-object version {version}")]
    UnsupportedVersion {
        /// Version found in the header.
        version: u16,
    },
    /// Unknown or missing flags in the header.
    #[error("unsupported header flags {flags:#06x}")]
    UnsupportedFlags {
        /// Flags found in the header.
        flags: u16,
    },
    /// The object is shorter than its own structure says.
    #[error("truncated object: {context}")]
    Truncated {
        /// What was being read.
        context: &'static str,
    },
    /// The trailer is larger than the caller's limits allow.
    #[error("trailer of {len} bytes exceeds the limit of {limit} bytes")]
    TrailerTooLarge {
        /// Declared trailer length.
        len: u64,
        /// Limit in force.
        limit: u64,
    },
    /// Too many chunks for the caller's limits.
    #[error("{count} chunks exceed the limit of {limit}")]
    TooManyChunks {
        /// Declared chunk count.
        count: u64,
        /// Limit in force.
        limit: u64,
    },
    /// The declared plaintext chunk size is zero or above the limit.
    #[error("chunk size {size} is outside 1..={limit}")]
    ChunkSizeOutOfRange {
        /// Declared chunk size.
        size: u64,
        /// Limit in force.
        limit: u64,
    },
    /// The header, trailer or footer is internally inconsistent.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which structure.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The recomputed content root differs from the expected one.
    #[error(
        "content root mismatch: expected {}, object has {}",
        hex32(expected),
        hex32(actual)
    )]
    RootMismatch {
        /// The root the caller trusts (e.g. from chain).
        expected: [u8; 32],
        /// The root recomputed from the object's header and trailer.
        actual: [u8; 32],
    },
    /// A chunk's ciphertext does not hash to the value in the trailer.
    #[error("chunk {index}: ciphertext hash mismatch")]
    ChunkHashMismatch {
        /// Chunk index.
        index: u64,
    },
    /// The key does not match the object's key check value.
    #[error("wrong key for this object")]
    WrongKey,
    /// Decompression of a (verified, decrypted) chunk failed.
    #[error("chunk {index}: decompression failed")]
    Decompress {
        /// Chunk index.
        index: u64,
        /// Underlying zstd error.
        #[source]
        source: io::Error,
    },
    /// A chunk decompressed to a size other than declared.
    #[error("chunk {index}: plaintext is {actual} bytes, declared {declared}")]
    OutputTooLarge {
        /// Chunk index.
        index: u64,
        /// Declared plaintext length.
        declared: u64,
        /// Actual length (lower bound if decompression was cut off).
        actual: u64,
    },
    /// The requested chunk range is not inside the object.
    #[error("chunk range {start}..{end} outside 0..{count}")]
    RangeOutOfBounds {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// Chunks in the object.
        count: u64,
    },
    /// Invalid seal options.
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
    /// This key was already used to seal an object in this process.
    #[error("sealing key was already used for another object")]
    KeyReuse,
    /// The key material is unacceptable (e.g. all zero).
    #[error("weak key: {0}")]
    WeakKey(&'static str),
    /// The OS random number generator failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
    /// Keystream limit of AES-CTR reached (cannot happen with u32 chunk sizes).
    #[error("chunk {index}: AES-CTR keystream exhausted")]
    KeystreamExhausted {
        /// Chunk index.
        index: u64,
    },
    /// I/O error with context.
    #[error("i/o error while {context}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// Internal invariant failed (a worker thread died etc.).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl SealError {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> SealError {
        move |source| SealError::Io { context, source }
    }
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> SealError {
        SealError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

pub(crate) fn hex32(b: &[u8; 32]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(64);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}
