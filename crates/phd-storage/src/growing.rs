//! Uploading a file while it is still being written, so producing the bytes (sealing) and
//! sending them overlap: a part goes out as soon as the file has grown past its end. The
//! writer half ([`GrowingFile`]) reports its length through a watch channel; the uploader half
//! ([`Store::put_growing_file`]) streams each part's body from disk, so memory holds only
//! the parts in flight, whatever the file's size.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;

use crate::store::FileSource;
use crate::{Error, ObjectInfo, Result, Store};

/// How far a file being written has grown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Growth {
    /// Bytes written to the file so far (visible to readers; not necessarily synced).
    pub len: u64,
    /// The writer has finished: `len` is final.
    pub complete: bool,
}

/// The writing half: a file that announces every byte it has written.
///
/// Dropping it without [`GrowingFile::finish`] tells the uploader the file will never be
/// complete, so the upload is aborted. Once the uploader has given up (its receiver is gone),
/// every write fails with [`std::io::ErrorKind::BrokenPipe`], so the producer stops early
/// instead of writing a file nobody will send.
#[derive(Debug)]
pub struct GrowingFile {
    file: File,
    len: u64,
    tx: watch::Sender<Growth>,
}

impl GrowingFile {
    /// Wraps `file` (positioned at its start, empty) and returns the receiver the uploader
    /// watches.
    pub fn new(file: File) -> (Self, watch::Receiver<Growth>) {
        let (tx, rx) = watch::channel(Growth::default());
        (Self { file, len: 0, tx }, rx)
    }

    /// Marks the file complete at its current length and returns that length.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.file.flush()?;
        let len = self.len;
        // A closed receiver means the upload already failed; its error is the one reported.
        let _ = self.tx.send(Growth {
            len,
            complete: true,
        });
        Ok(len)
    }
}

impl Write for GrowingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.tx.is_closed() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the upload of this file stopped",
            ));
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        let len = self.len;
        self.tx.send_replace(Growth {
            len,
            complete: false,
        });
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Store {
    /// Uploads the file at `path` while [`GrowingFile`] is still writing it: a multipart upload
    /// whose parts (sized for `size_hint`, an upper bound of the final length) start as soon
    /// as the file holds them, at most `upload_concurrency` at once. A file that completes
    /// below `multipart_threshold` before its first part is full goes up in one PUT.
    ///
    /// If the writer is dropped before finishing, or a part fails, no new part starts, those in
    /// flight are awaited and the upload is aborted, so nothing is left behind.
    pub async fn put_growing_file(
        &self,
        key: &str,
        path: impl AsRef<Path>,
        mut growth: watch::Receiver<Growth>,
        size_hint: u64,
        progress: impl Fn(u64) + Send + Sync,
    ) -> Result<ObjectInfo> {
        let path = path.as_ref();
        let part_size = self.config().effective_part_size(size_hint);
        let first = wait_for(&mut growth, part_size)
            .await
            .map_err(|g| self.stopped(key, path, g))?;
        if first.complete && first.len < self.config().multipart_threshold {
            return self.put_file(key, path, progress).await;
        }

        tracing::debug!(bucket = %self.bucket(), key, part_size, "multipart upload of a growing file");
        self.multipart(key, async |upload_id| {
            self.upload_growing_parts(key, upload_id, path, growth, part_size, &progress)
                .await
        })
        .await
    }

    /// Parts 1, 2, … of the growing file, each started once the file holds it; returns the
    /// completed parts in order and the final length.
    async fn upload_growing_parts(
        &self,
        key: &str,
        upload_id: &str,
        path: &Path,
        mut growth: watch::Receiver<Growth>,
        part_size: u64,
        progress: &(impl Fn(u64) + Send + Sync),
    ) -> Result<(Vec<aws_sdk_s3::types::CompletedPart>, u64)> {
        let mut next: u64 = 1;
        let mut uploaded = 0u64;
        let mut inflight = FuturesUnordered::new();
        let mut done = Vec::new();
        let mut failure: Option<Error> = None;
        let mut seen = *growth.borrow_and_update();
        let mut writer_gone = false;
        loop {
            // Start every part the file already holds, up to the concurrency limit.
            while failure.is_none() && inflight.len() < self.config().upload_concurrency {
                let offset = (next - 1) * part_size;
                let n = if seen.len >= offset + part_size {
                    part_size
                } else if seen.complete && seen.len > offset {
                    seen.len - offset
                } else {
                    break;
                };
                let src = FileSource {
                    path: path.to_path_buf(),
                    len: offset + n,
                };
                let number = next;
                next += 1;
                inflight.push(async move {
                    self.upload_part(key, upload_id, &src, number, offset, n)
                        .await
                });
            }
            let all_sent = seen.complete && (next - 1) * part_size >= seen.len;
            if inflight.is_empty() && (all_sent || failure.is_some()) {
                break;
            }
            if inflight.is_empty() && writer_gone {
                failure = Some(self.stopped(key, path, seen));
                break;
            }
            tokio::select! {
                finished = inflight.next(), if !inflight.is_empty() => match finished {
                    Some(Ok((part, n))) => {
                        uploaded += n;
                        progress(uploaded);
                        done.push(part);
                    }
                    Some(Err(e)) => {
                        failure.get_or_insert(e);
                    }
                    None => {}
                },
                changed = growth.changed(), if !writer_gone && !seen.complete && failure.is_none() => {
                    match changed {
                        Ok(()) => seen = *growth.borrow_and_update(),
                        Err(_) => writer_gone = true,
                    }
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        done.sort_by_key(|p| p.part_number());
        Ok((done, seen.len))
    }

    fn stopped(&self, key: &str, path: &Path, at: Growth) -> Error {
        Error::Source {
            op: "UploadPart",
            bucket: self.bucket().to_owned(),
            key: key.to_owned(),
            offset: at.len,
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{} stopped growing at {} bytes before it was complete",
                    path.display(),
                    at.len
                ),
            ),
        }
    }
}

/// Waits until the file holds `want` bytes or is complete; `Err` with the last growth seen
/// if the writer went away first.
async fn wait_for(
    growth: &mut watch::Receiver<Growth>,
    want: u64,
) -> std::result::Result<Growth, Growth> {
    loop {
        let g = *growth.borrow_and_update();
        if g.complete || g.len >= want {
            return Ok(g);
        }
        if growth.changed().await.is_err() {
            let last = *growth.borrow();
            return if last.complete || last.len >= want {
                Ok(last)
            } else {
                Err(last)
            };
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_ends_when_enough_is_written_or_the_writer_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, mut rx) = GrowingFile::new(File::create(dir.path().join("f")).unwrap());
        w.write_all(&[1; 10]).unwrap();
        assert_eq!(wait_for(&mut rx, 10).await.unwrap().len, 10);
        let waiter = tokio::spawn(async move { wait_for(&mut rx, 100).await });
        w.write_all(&[2; 5]).unwrap();
        drop(w);
        let last = waiter.await.unwrap().unwrap_err();
        assert_eq!(
            last,
            Growth {
                len: 15,
                complete: false
            }
        );
    }

    #[test]
    fn writes_fail_once_nobody_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, rx) = GrowingFile::new(File::create(dir.path().join("f")).unwrap());
        w.write_all(b"abc").unwrap();
        drop(rx);
        let err = w.write_all(b"def").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        assert_eq!(w.len, 3);
    }
}
