//! Sealing straight into storage: the sealer writes a temporary file while
//! [`Store::put_growing_file`] sends each multipart part as soon as the file holds it, so
//! publishing a large file takes about as long as the slower of sealing and uploading rather
//! than their sum. Memory holds the sealer's window and the parts in flight, whatever the size.
//!
//! The object key must be chosen before the content root exists (the root is only known after
//! the last chunk), so callers name objects by something fixed up front (see
//! [`fresh_object_name`]); the root is still what the listing binds on-chain.

use std::io::{BufWriter, Read};
use std::path::PathBuf;

use phd_seal::{SealOptions, SealSummary, SealingKey};
use phd_storage::{GrowingFile, ObjectInfo, Store};

use crate::error::{Result, SdkError};

/// What [`seal_and_upload`] produced.
#[derive(Debug)]
pub struct SealedUpload {
    /// The seal's summary: content root, lengths, the key that opens the object.
    pub summary: SealSummary,
    /// The stored object.
    pub object: ObjectInfo,
}

/// A fresh random object name (32 hex digits): objects are named before their content root is
/// known, and two uploads never collide.
pub fn fresh_object_name() -> Result<String> {
    use rand::TryRng as _;
    let mut id = [0u8; 16];
    rand::rngs::SysRng
        .try_fill_bytes(&mut id)
        .map_err(|e| SdkError::InvalidArg {
            arg: "object name",
            reason: format!("no randomness from the OS: {e}"),
        })?;
    Ok(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// How [`seal_and_upload`] seals and where it keeps the sealed bytes meanwhile.
#[derive(Debug, Clone, Default)]
pub struct SealUploadOptions {
    /// Chunking, compression level and threads of the seal.
    pub seal: SealOptions,
    /// About how many plaintext bytes the input yields (sizes the multipart parts; a larger
    /// input still uploads, with more parts, up to S3's 10,000).
    pub plaintext_len: u64,
    /// Directory of the temporary sealed file (the system temp dir if `None`); the file is
    /// removed on return.
    pub scratch_dir: Option<PathBuf>,
}

/// Seals `input` under `key` and uploads the sealed bytes to `object_key` while they are
/// produced. `progress` gets the sealed bytes stored so far.
///
/// A sealing failure aborts the upload and is the error returned; an upload failure stops the
/// sealer at its next write. Either way no object and no incomplete upload is left behind.
pub async fn seal_and_upload<R: Read + Send + 'static>(
    store: &Store,
    object_key: &str,
    key: SealingKey,
    input: R,
    opts: &SealUploadOptions,
    progress: impl Fn(u64) + Send + Sync,
) -> Result<SealedUpload> {
    let dir = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
    let write_err = |source| SdkError::Write {
        path: dir.clone(),
        source,
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(write_err)?;
    let (writer, growth) = GrowingFile::new(tmp.reopen().map_err(write_err)?);
    let seal_opts = opts.seal.clone();
    let seal = tokio::task::spawn_blocking(move || -> phd_seal::Result<SealSummary> {
        let mut w = BufWriter::with_capacity(1 << 20, writer);
        let summary = phd_seal::seal(key, input, &mut w, &seal_opts)?;
        let io = |source| phd_seal::SealError::Io {
            context: "writing the sealed file",
            source,
        };
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.finish().map_err(io)?;
        Ok(summary)
    });
    let bound = phd_seal::sealed_len_bound(opts.plaintext_len, opts.seal.chunk_size);
    let upload = store.put_growing_file(object_key, tmp.path(), growth, bound, progress);
    let (sealed, uploaded) = tokio::join!(seal, upload);
    let sealed = sealed.unwrap_or_else(|e| {
        Err(phd_seal::SealError::Io {
            context: "sealing task",
            source: std::io::Error::other(e),
        })
    });
    match (sealed, uploaded) {
        (Ok(summary), Ok(object)) => Ok(SealedUpload { summary, object }),
        (Err(source), _) if !stopped_by_upload(&source) => Err(SdkError::Seal {
            context: format!("sealing for {object_key}"),
            source,
        }),
        // The upload failed (and the sealer, if it had not finished, stopped because of it).
        (_, Err(e)) => Err(SdkError::Storage {
            context: format!("uploading {object_key}"),
            source: Box::new(e),
        }),
        (Err(source), Ok(_)) => Err(SdkError::Seal {
            context: format!("sealing for {object_key}"),
            source,
        }),
    }
}

/// Whether the sealer stopped only because [`GrowingFile`] refused its writes (the upload had
/// already failed).
fn stopped_by_upload(e: &phd_seal::SealError) -> bool {
    matches!(e, phd_seal::SealError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}
