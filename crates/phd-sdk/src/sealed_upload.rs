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
    Ok(alloy::hex::encode(id))
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
        // The upload failed first; the sealer stopped because of it.
        (Err(stopped), Err(e)) if stopped_by_upload(&stopped) => Err(upload_failed(object_key, e)),
        (Err(source), _) => Err(SdkError::Seal {
            context: format!("sealing for {object_key}"),
            source,
        }),
        (Ok(_), Err(e)) => Err(upload_failed(object_key, e)),
    }
}

fn upload_failed(object_key: &str, e: phd_storage::Error) -> SdkError {
    SdkError::Storage {
        context: format!("uploading {object_key}"),
        source: Box::new(e),
    }
}

/// Whether the sealer stopped only because [`GrowingFile`] refused its writes (the upload had
/// already failed).
fn stopped_by_upload(e: &phd_seal::SealError) -> bool {
    matches!(e, phd_seal::SealError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phd_storage::server::{EmbeddedS3, ServerCredentials};

    const MIB: u64 = 1 << 20;

    /// Numbers that compress somewhat, like sensor CSV, so several parts are needed.
    fn plaintext(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut out = Vec::with_capacity(len + 32);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(format!("{},{}\n", x % 100_000, x >> 48).as_bytes());
        }
        out.truncate(len);
        out
    }

    async fn s3(dir: &std::path::Path) -> (EmbeddedS3, Store) {
        let server = EmbeddedS3::start(
            dir.join("s3"),
            ServerCredentials::new("test", "test-secret"),
        )
        .await
        .unwrap();
        let mut cfg = server.client_config("sealed-upload");
        cfg.multipart_threshold = 5 * MIB;
        cfg.part_size = 5 * MIB;
        cfg.upload_concurrency = 2;
        let store = Store::connect(cfg).await.unwrap();
        store.ensure_bucket().await.unwrap();
        (server, store)
    }

    fn options(scratch: &std::path::Path, len: usize) -> SealUploadOptions {
        SealUploadOptions {
            seal: SealOptions {
                chunk_size: 1 << 20,
                ..SealOptions::default()
            },
            plaintext_len: len as u64,
            scratch_dir: Some(scratch.to_path_buf()),
        }
    }

    /// A reader that fails after `ok` bytes (a disk error half-way through the input).
    struct FailingReader {
        data: std::io::Cursor<Vec<u8>>,
        ok: u64,
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.data.position() >= self.ok {
                return Err(std::io::Error::other("disk read error"));
            }
            self.data.read(buf)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_uploaded_object_opens_to_the_input_and_nothing_is_left_over() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let (server, store) = s3(dir.path()).await;
        let pt = plaintext(24 << 20);
        let name = fresh_object_name().unwrap();
        assert_eq!(name.len(), 32);
        assert_ne!(name, fresh_object_name().unwrap());
        let key = format!("datasets/{name}.phd");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = done.clone();
        let up = seal_and_upload(
            &store,
            &key,
            SealingKey::generate().unwrap(),
            std::io::Cursor::new(pt.clone()),
            &options(scratch.path(), pt.len()),
            move |n| seen.store(n, std::sync::atomic::Ordering::SeqCst),
        )
        .await
        .unwrap();
        assert_eq!(up.object.len, up.summary.sealed_len);
        assert!(
            up.object.len > 5 * MIB,
            "one part only: the test would not overlap"
        );
        assert_eq!(
            done.load(std::sync::atomic::Ordering::SeqCst),
            up.object.len
        );
        let stored = store.get_range(&key, 0..up.object.len).await.unwrap();
        let mut out = Vec::new();
        phd_seal::open(
            &up.summary.opening_key,
            &stored[..],
            up.summary.root,
            &mut out,
            &phd_seal::OpenLimits::default(),
        )
        .unwrap();
        assert!(out == pt, "opened plaintext differs from the input");
        assert!(store.list_incomplete_uploads("").await.unwrap().is_empty());
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
        server.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_input_that_fails_half_way_stores_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let (server, store) = s3(dir.path()).await;
        let pt = plaintext(24 << 20);
        let input = FailingReader {
            data: std::io::Cursor::new(pt.clone()),
            ok: 16 << 20,
        };
        let err = seal_and_upload(
            &store,
            "datasets/broken.phd",
            SealingKey::generate().unwrap(),
            input,
            &options(scratch.path(), pt.len()),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, SdkError::Seal { source, .. } if source.to_string().contains("disk read error")
                || std::error::Error::source(source).is_some_and(|s| s.to_string().contains("disk read error"))),
            "{err}"
        );
        assert!(!store.exists("datasets/broken.phd").await.unwrap());
        assert!(store.list_incomplete_uploads("").await.unwrap().is_empty());
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
        server.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_is_down_is_a_storage_error_and_stops_the_sealer() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let (server, store) = s3(dir.path()).await;
        server.shutdown().await.unwrap();
        let pt = plaintext(24 << 20);
        let err = seal_and_upload(
            &store,
            "datasets/nowhere.phd",
            SealingKey::generate().unwrap(),
            std::io::Cursor::new(pt.clone()),
            &options(scratch.path(), pt.len()),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SdkError::Storage { .. }), "{err}");
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }
}
