//! Multipart uploads on the embedded server without s3s-fs's second pass over the object.
//!
//! s3s-fs 0.14 writes each part through an 8 KiB buffer (one blocking-pool hop per write),
//! keeps no record of a part's MD5, and at `CompleteMultipartUpload` re-reads every part,
//! MD5s it again and copies it into the object in 64 KiB reads: a full extra read, hash and
//! write of the object after the last part, serialised, which a single `PutObject` does not
//! pay. Here:
//!
//! * `UploadPart` streams the body into a temporary file in 1 MiB writes (hashing on the
//!   blocking thread that writes, while the next MiB is received), then records the part's
//!   MD5 in a sidecar `.upload_id-<id>.etag-<n>` together with the identity of the file it
//!   belongs to (inode, length, modification time), and only then renames the part into
//!   place. A part is never modified after that, only replaced by another rename, so a
//!   sidecar whose identity matches the part file describes exactly its bytes; any other
//!   interleaving (two uploads of the same part, a crash between the two renames) leaves an
//!   identity that does not match, and the part is hashed again instead of trusted.
//! * `ListParts` answers with each part's ETag (s3s-fs sends none), sorted and paginated, so
//!   a client can resume an upload by checking which parts it need not send again.
//! * `CompleteMultipartUpload` checks everything first — part numbers ascending
//!   (`InvalidPartOrder`; gaps are allowed, as on S3), every listed part present (`InvalidPart`), each ETag the client sent equal
//!   to the part's MD5 (`InvalidPart`), every part but the last at least 5 MiB
//!   (`EntityTooSmall`) — on the part files it holds open, then copies them into a temporary
//!   file with the kernel's `copy_file_range` (no user-space buffer, no second hash), renames
//!   it into place and writes the multipart ETag (MD5 of the concatenated part MD5s, `-N`).
//!   Until the rename nothing visible changes and the parts stay, so a failed completion can
//!   be retried.
//!
//! Names that are not plain relative paths (and conditional completions) keep s3s-fs's own
//! code path, which resolves them inside the root.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::{
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, ETag, ListPartsInput,
    ListPartsOutput, Part, StreamingBlob, Timestamp, UploadPartInput, UploadPartOutput,
};
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::{PhdFs, plain_object_path, serde_json_like_string};

/// Bytes per write of a part body (and per read when a part must be hashed again).
const WRITE_BLOCK: usize = 1 << 20;
/// S3's smallest part except the last.
const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's part numbers are 1..=10 000.
const MAX_PART_NUMBER: i32 = 10_000;
/// `ListParts` page size when the client does not ask for one (S3's default).
const DEFAULT_MAX_PARTS: i32 = 1000;

fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> S3Error {
    S3Error::with_source(s3s::S3ErrorCode::InternalError, e.into())
}

/// Which file a recorded MD5 belongs to: a part is replaced only by renaming a new file over
/// it, which changes this triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId {
        ino: meta.ino(),
        len: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    })
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    // No stable identity: every part is hashed again at completion.
    None
}

/// Sidecar text: `<md5 hex> <ino> <len> <mtime ns>`.
fn format_sidecar(md5: &[u8; 16], id: FileId) -> String {
    format!("{} {} {} {}", hex(md5), id.ino, id.len, id.mtime_ns)
}

fn parse_sidecar(text: &str) -> Option<([u8; 16], FileId)> {
    let mut it = text.split_ascii_whitespace();
    let md5 = unhex16(it.next()?)?;
    let id = FileId {
        ino: it.next()?.parse().ok()?,
        len: it.next()?.parse().ok()?,
        mtime_ns: it.next()?.parse().ok()?,
    };
    it.next().is_none().then_some((md5, id))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Unpadded URL-safe base64, as s3s-fs names its bookkeeping files.
pub(super) fn b64url_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The multipart ETag: MD5 of the concatenated part MD5s, then `-<number of parts>`.
pub(super) fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for m in part_md5s {
        h.update(m);
    }
    format!("{}-{}", hex(h.finalize().as_ref()), part_md5s.len())
}

/// MD5 of a whole file, in [`WRITE_BLOCK`] reads.
fn md5_of(file: &mut File) -> std::io::Result<[u8; 16]> {
    let mut h = Md5::new();
    let mut buf = vec![0u8; WRITE_BLOCK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let out = h.finalize();
    let mut md5 = [0u8; 16];
    md5.copy_from_slice(out.as_ref());
    Ok(md5)
}

/// One part checked for completion: its open file (the bytes that were checked are the bytes
/// that get copied, whatever happens to the path meanwhile), length and MD5.
struct CheckedPart {
    file: File,
    len: u64,
    md5: [u8; 16],
}

/// Where the server keeps what (s3s-fs's names), for the blocking halves of the operations.
#[derive(Debug, Clone)]
pub(super) struct Paths {
    root: PathBuf,
    tmp_counter: Arc<AtomicU64>,
}

impl Paths {
    pub(super) fn new(root: PathBuf) -> Self {
        Paths {
            root,
            tmp_counter: Arc::default(),
        }
    }

    /// A fresh temporary file name in the root; s3s-fs removes `.tmp.*.internal.part` at
    /// start-up, so a crash leaves nothing behind for long.
    fn tmp(&self) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root
            .join(format!(".tmp.phd-{}-{n}.internal.part", std::process::id()))
    }

    fn part(&self, upload_id: &str, part_number: i32) -> PathBuf {
        self.root
            .join(format!(".upload_id-{upload_id}.part-{part_number}"))
    }

    fn sidecar(&self, upload_id: &str, part_number: i32) -> PathBuf {
        self.root
            .join(format!(".upload_id-{upload_id}.etag-{part_number}"))
    }

    fn upload_info(&self, upload_id: &str) -> PathBuf {
        self.root.join(format!(".upload-{upload_id}.json"))
    }

    fn metadata(&self, bucket: &str, key: &str, upload_id: Option<&str>) -> PathBuf {
        let u = upload_id
            .map(|u| format!(".upload-{u}"))
            .unwrap_or_default();
        self.root.join(format!(
            ".bucket-{}.object-{}{u}.metadata.json",
            b64url_encode(bucket.as_bytes()),
            b64url_encode(key.as_bytes())
        ))
    }

    fn internal_info(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(format!(
            ".bucket-{}.object-{}.internal.json",
            b64url_encode(bucket.as_bytes()),
            b64url_encode(key.as_bytes())
        ))
    }

    /// Writes `content` to `dest` through a temporary file and a rename.
    fn write_atomic(&self, dest: &Path, content: &[u8]) -> std::io::Result<()> {
        let tmp = self.tmp();
        let r = std::fs::write(&tmp, content).and_then(|()| std::fs::rename(&tmp, dest));
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }

    /// The part's MD5: from its sidecar when that describes this very file, else hashed.
    fn part_md5(
        &self,
        upload_id: &str,
        part_number: i32,
        file: &mut File,
    ) -> std::io::Result<[u8; 16]> {
        let meta = file.metadata()?;
        let recorded = std::fs::read_to_string(self.sidecar(upload_id, part_number))
            .ok()
            .and_then(|t| parse_sidecar(&t));
        if let (Some((md5, id)), Some(now)) = (recorded, file_id(&meta))
            && id == now
        {
            return Ok(md5);
        }
        md5_of(file)
    }

    /// Records the received part's MD5 beside it, then renames it into place (in that order:
    /// see the module comment).
    fn place_part(
        &self,
        tmp: &Path,
        file: File,
        md5: &[u8; 16],
        upload_id: &str,
        part_number: i32,
    ) -> std::io::Result<()> {
        if let Some(id) = file_id(&file.metadata()?) {
            self.write_atomic(
                &self.sidecar(upload_id, part_number),
                format_sidecar(md5, id).as_bytes(),
            )?;
        }
        drop(file);
        std::fs::rename(tmp, self.part(upload_id, part_number))
    }

    /// Parts numbered above `after`, at most `max`, sorted; and whether more follow.
    fn list_parts(
        &self,
        upload_id: &str,
        after: i32,
        max: i32,
    ) -> std::io::Result<(Vec<Part>, bool)> {
        let prefix = format!(".upload_id-{upload_id}.part-");
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let name = entry?.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            if n > after && (1..=MAX_PART_NUMBER).contains(&n) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        let max = usize::try_from(max).unwrap_or(1);
        let truncated = numbers.len() > max;
        numbers.truncate(max);
        let mut parts = Vec::with_capacity(numbers.len());
        for n in numbers {
            // A part completed or aborted meanwhile is simply not listed.
            let Ok(mut file) = File::open(self.part(upload_id, n)) else {
                continue;
            };
            let meta = file.metadata()?;
            let md5 = self.part_md5(upload_id, n, &mut file)?;
            parts.push(Part {
                part_number: Some(n),
                size: Some(i64::try_from(meta.len()).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(hex(&md5))),
                last_modified: meta.modified().ok().map(Timestamp::from),
                ..Default::default()
            });
        }
        Ok((parts, truncated))
    }

    /// Checks the listed parts against the part files (see the module comment for which
    /// error each failure gets) and returns them open, with their MD5s.
    fn check_parts(
        &self,
        upload_id: &str,
        listed: &[(Option<i32>, Option<String>)],
    ) -> S3Result<Vec<CheckedPart>> {
        let count = listed.len();
        let mut checked = Vec::with_capacity(count);
        // The list's shape first, then the parts.
        let mut previous = 0;
        for (number, _) in listed {
            let number = number.ok_or_else(|| s3_error!(InvalidRequest, "missing part number"))?;
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "part numbers must ascend; {number} follows {previous}"
                ));
            }
            previous = number;
        }
        for (i, (number, sent)) in listed.iter().enumerate() {
            let number = number.ok_or_else(|| s3_error!(InvalidRequest, "missing part number"))?;
            let mut file = match File::open(self.part(upload_id, number)) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(s3_error!(InvalidPart, "part {number} was not uploaded"));
                }
                Err(e) => return Err(internal(e)),
            };
            let len = file.metadata().map_err(internal)?.len();
            if i + 1 < count && len < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "part {number} is {len} bytes; every part but the last must be at least 5 MiB"
                ));
            }
            let md5 = self
                .part_md5(upload_id, number, &mut file)
                .map_err(internal)?;
            if sent.as_deref() != Some(hex(&md5).as_str()) {
                return Err(s3_error!(
                    InvalidPart,
                    "the ETag given for part {number} is not the part's"
                ));
            }
            checked.push(CheckedPart { file, len, md5 });
        }
        Ok(checked)
    }

    /// The whole completion after the upload was checked: parts checked, object assembled in a
    /// temporary file and renamed into place, ETag and attributes recorded, leftovers removed.
    fn complete(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        object: &Path,
        listed: &[(Option<i32>, Option<String>)],
    ) -> S3Result<String> {
        let mut parts = self.check_parts(upload_id, listed)?;
        let md5s: Vec<[u8; 16]> = parts.iter().map(|p| p.md5).collect();
        let e_tag = multipart_etag(&md5s);
        let tmp = self.tmp();
        let assembled = assemble(&mut parts, &tmp, object, &self.root);
        if let Err(e) = assembled {
            let _ = std::fs::remove_file(&tmp);
            return Err(internal(e));
        }
        drop(parts);

        // The object is in place: its ETag, its attributes, then the upload's leftovers.
        let info = format!("{{\"e_tag\":\"{e_tag}\"}}");
        self.write_atomic(&self.internal_info(bucket, key), info.as_bytes())
            .map_err(internal)?;
        let attrs = self.metadata(bucket, key, Some(upload_id));
        if attrs.exists() {
            std::fs::rename(&attrs, self.metadata(bucket, key, None)).map_err(internal)?;
        }
        let _ = std::fs::remove_file(self.upload_info(upload_id));
        // Every part file and record of the upload, also parts uploaded but not listed (S3
        // discards those too).
        let prefix = format!(".upload_id-{upload_id}.");
        if let Ok(dir) = std::fs::read_dir(&self.root) {
            for entry in dir.flatten() {
                if !entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    continue;
                }
                if let Err(e) = std::fs::remove_file(entry.path())
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %entry.path().display(), error = %e,
                        "embedded S3: cannot remove a completed part");
                }
            }
        }
        Ok(e_tag)
    }
}

/// Copies every part into `tmp` (in the kernel: `std::io::copy` between two files is
/// `copy_file_range` on Linux), then renames it over `object`.
fn assemble(
    parts: &mut [CheckedPart],
    tmp: &Path,
    object: &Path,
    root: &Path,
) -> std::io::Result<()> {
    use std::io::Seek;
    let mut out = File::create(tmp)?;
    for part in parts.iter_mut() {
        part.file.seek(std::io::SeekFrom::Start(0))?;
        let n = std::io::copy(&mut (&part.file).take(part.len), &mut out)?;
        if n != part.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "a part shrank while the object was assembled",
            ));
        }
    }
    out.flush()?;
    drop(out);
    if let Some(dir) = object.parent()
        && dir != root
    {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(tmp, object)
}

impl PhdFs {
    /// The upload exists (`NoSuchUpload`) and was started with the caller's access key
    /// (`AccessDenied`), as s3s-fs records it. Returns the id as s3s-fs names its files.
    async fn check_upload(&self, upload_id: &str, access_key: Option<&str>) -> S3Result<String> {
        // Ids are s3s-fs's UUIDs; anything else never names a file of ours.
        let id = uuid_like(upload_id).ok_or_else(|| s3_error!(NoSuchUpload))?;
        let content = match tokio::fs::read(self.paths.upload_info(&id)).await {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(s3_error!(NoSuchUpload));
            }
            Err(e) => return Err(internal(e)),
        };
        if serde_json_like_string(&content).as_deref() != access_key {
            return Err(s3_error!(AccessDenied));
        }
        Ok(id)
    }

    pub(super) async fn upload_part_fast(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let UploadPartInput {
            body,
            upload_id,
            part_number,
            ..
        } = req.input;
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let body = body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let ak = req.credentials.as_ref().map(|c| c.access_key.as_str());
        let upload_id = self.check_upload(&upload_id, ak).await?;

        let tmp = self.paths.tmp();
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(internal)?
            .into_std()
            .await;
        let (file, md5) = match receive(body, file).await {
            Ok(x) => x,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let paths = self.paths.clone();
        let placed = tokio::task::spawn_blocking(move || {
            let r = paths.place_part(&tmp, file, &md5, &upload_id, part_number);
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r
        })
        .await
        .map_err(internal)?;
        placed.map_err(internal)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex(&md5))),
            ..Default::default()
        }))
    }

    pub(super) async fn list_parts_with_etags(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let ak = req.credentials.as_ref().map(|c| c.access_key.as_str());
        let ListPartsInput {
            bucket,
            key,
            upload_id,
            max_parts,
            part_number_marker,
            ..
        } = req.input;
        let id = self.check_upload(&upload_id, ak).await?;
        let max = max_parts
            .unwrap_or(DEFAULT_MAX_PARTS)
            .clamp(1, DEFAULT_MAX_PARTS);
        let after = part_number_marker.unwrap_or(0);
        let paths = self.paths.clone();
        let (parts, truncated) =
            tokio::task::spawn_blocking(move || paths.list_parts(&id, after, max))
                .await
                .map_err(internal)?
                .map_err(internal)?;
        let next = parts.last().and_then(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(bucket),
            key: Some(key),
            upload_id: Some(upload_id),
            max_parts: Some(max),
            part_number_marker: Some(after),
            next_part_number_marker: if truncated { next } else { None },
            is_truncated: Some(truncated),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    /// `None` when the request is one for s3s-fs's own completion (a name that is not a plain
    /// relative path, or a conditional completion).
    pub(super) async fn complete_fast(
        &self,
        req: &S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<Option<CompleteMultipartUploadOutput>> {
        let input = &req.input;
        let Some(object) = plain_object_path(&self.paths.root, &input.bucket, &input.key) else {
            return Ok(None);
        };
        if input.if_match.is_some() || input.if_none_match.is_some() || input.key.ends_with('/') {
            return Ok(None);
        }
        let ak = req.credentials.as_ref().map(|c| c.access_key.as_str());
        let upload_id = self.check_upload(&input.upload_id, ak).await?;
        let listed: Vec<(Option<i32>, Option<String>)> = input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.as_deref())
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let tag = p
                    .e_tag
                    .as_ref()
                    .map(|t| t.value().trim_matches('"').to_owned());
                (p.part_number, tag)
            })
            .collect();
        if listed.is_empty() {
            return Err(s3_error!(InvalidPart, "You must specify at least one part"));
        }
        if !tokio::fs::metadata(self.paths.root.join(&input.bucket))
            .await
            .is_ok_and(|m| m.is_dir())
        {
            return Err(s3_error!(NoSuchBucket));
        }
        let (paths, bucket, key) = (self.paths.clone(), input.bucket.clone(), input.key.clone());
        let e_tag = tokio::task::spawn_blocking(move || {
            paths.complete(&upload_id, &bucket, &key, &object, &listed)
        })
        .await
        .map_err(internal)??;
        Ok(Some(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(ETag::Strong(e_tag)),
            ..Default::default()
        }))
    }
}

/// Streams `body` into `file` in [`WRITE_BLOCK`] writes on the blocking pool, hashing each
/// block there too, while the next block is received.
async fn receive(mut body: StreamingBlob, file: File) -> S3Result<(File, [u8; 16])> {
    type Writer = (File, Md5);
    let mut idle: Option<Writer> = Some((file, Md5::new()));
    let mut pending: Option<tokio::task::JoinHandle<std::io::Result<Writer>>> = None;
    let mut buf = BytesMut::with_capacity(WRITE_BLOCK);
    loop {
        let next = body.next().await;
        let end = match next {
            Some(Ok(bytes)) => {
                buf.extend_from_slice(&bytes);
                if buf.len() < WRITE_BLOCK {
                    continue;
                }
                false
            }
            Some(Err(e)) => {
                if let Some(p) = pending.take() {
                    let _ = p.await;
                }
                return Err(s3_error!(IncompleteBody, "request body failed: {e}"));
            }
            None => true,
        };
        let (mut file, mut md5) = match (pending.take(), idle.take()) {
            (Some(p), _) => p.await.map_err(internal)?.map_err(internal)?,
            (None, Some(w)) => w,
            (None, None) => return Err(internal("part writer lost")),
        };
        let block: Bytes = buf.split().freeze();
        if end && block.is_empty() {
            idle = Some((file, md5));
            break;
        }
        pending = Some(tokio::task::spawn_blocking(move || {
            md5.update(&block);
            file.write_all(&block)?;
            Ok((file, md5))
        }));
        if end {
            break;
        }
    }
    let (file, md5) = match (pending.take(), idle.take()) {
        (Some(p), _) => p.await.map_err(internal)?.map_err(internal)?,
        (None, Some(w)) => w,
        (None, None) => return Err(internal("part writer lost")),
    };
    let digest = md5.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(digest.as_ref());
    Ok((file, out))
}

/// `id` when it has the shape of a UUID (hex digits and dashes), the ids s3s-fs issues; in
/// lower case, as s3s-fs names its files.
fn uuid_like(id: &str) -> Option<String> {
    let ok = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    ok.then(|| id.to_ascii_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn b64url_matches_s3s_fs_names() {
        assert_eq!(b64url_encode(b"bucket"), "YnVja2V0");
        assert_eq!(b64url_encode(b"a"), "YQ");
        assert_eq!(b64url_encode(b"ab"), "YWI");
        assert_eq!(b64url_encode(b"dir/key-??"), "ZGlyL2tleS0_Pw");
        for s in ["", "x", "datasets/0xabc.phd", "ünïcode/ключ"] {
            assert_eq!(
                super::super::b64url_decode(&b64url_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s_with_count() {
        // Two parts "a" and "b": md5("a") ‖ md5("b"), hashed.
        let a = Md5::checksum(b"a");
        let b = Md5::checksum(b"b");
        let mut parts = [[0u8; 16]; 2];
        parts[0].copy_from_slice(a.as_ref());
        parts[1].copy_from_slice(b.as_ref());
        let mut cat = Vec::new();
        cat.extend_from_slice(a.as_ref());
        cat.extend_from_slice(b.as_ref());
        let want = format!("{}-2", hex(Md5::checksum(&cat).as_ref()));
        assert_eq!(multipart_etag(&parts), want);
        assert_eq!(hex(a.as_ref()), "0cc175b9c0f1b6a831c399e269772661");
    }

    #[test]
    fn sidecar_roundtrip_and_garbage() {
        let id = FileId {
            ino: 42,
            len: 5 << 20,
            mtime_ns: 1_764_000_000_123_456_789,
        };
        let md5 = [7u8; 16];
        assert_eq!(parse_sidecar(&format_sidecar(&md5, id)), Some((md5, id)));
        for bad in [
            "",
            "zz 1 2 3",
            "07070707070707070707070707070707 1 2",
            "07070707070707070707070707070707 1 2 3 4",
        ] {
            assert_eq!(parse_sidecar(bad), None, "{bad}");
        }
    }

    #[test]
    fn upload_ids_must_look_like_uuids() {
        assert_eq!(
            uuid_like("0F8FAD5B-D9CB-469F-A165-70867728950E").as_deref(),
            Some("0f8fad5b-d9cb-469f-a165-70867728950e")
        );
        for bad in [
            "",
            "../../etc/passwd",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "0f8fad5b/d9cb-469f-a165-70867728950e",
        ] {
            assert_eq!(uuid_like(bad), None, "{bad}");
        }
    }
}
