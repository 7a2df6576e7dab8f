//! Embedded S3 server: [s3s] + [s3s_fs] serving a directory over HTTP with SigV4 auth.
//!
//! This is what `phd-devnet` serves on loopback and what the tests talk to. The same
//! [`crate::Store`] code then talks to MinIO or AWS by changing the endpoint.
//!
//! s3s-fs 0.14 does not implement `ListMultipartUploads`; this module wraps its
//! `FileSystem` and answers that operation from the upload bookkeeping files s3s-fs keeps
//! in the root directory (`.upload-<id>.json` plus
//! `.bucket-<b64 bucket>.object-<b64 key>.upload-<id>.metadata.json`), so that
//! [`crate::Store::list_incomplete_uploads`] works against the embedded server too.
//! `UploadPart`, `ListParts` and `CompleteMultipartUpload` are this crate's own (module
//! `multipart`): the object is assembled without s3s-fs's second read and hash of every part.

mod multipart;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput, CreateBucketInput,
    CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteBucketInput,
    DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput,
    DeleteObjectsOutput, GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput,
    GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput,
    ListBucketsInput, ListBucketsOutput, ListMultipartUploadsInput, ListMultipartUploadsOutput,
    ListObjectsInput, ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, ListPartsInput,
    ListPartsOutput, MultipartUpload, PutObjectInput, PutObjectOutput, StreamingBlob, Timestamp,
    UploadPartCopyInput, UploadPartCopyOutput, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Error, Result, S3Config};

/// How long graceful shutdown waits for open connections before dropping them.
const GRACE: Duration = Duration::from_secs(5);

/// Access key and secret the embedded server accepts (SigV4 / presigned URLs).
#[derive(Clone)]
pub struct ServerCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never printed by `Debug`).
    pub secret_access_key: String,
}

impl ServerCredentials {
    /// Credentials from an access key id and a secret.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }
}

impl fmt::Debug for ServerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// `s3s_fs::FileSystem` plus `ListMultipartUploads`, and multipart uploads of its own.
struct PhdFs {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    paths: multipart::Paths,
}

impl fmt::Debug for PhdFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhdFs").field("root", &self.root).finish()
    }
}

/// Decodes unpadded URL-safe base64 (the encoding s3s-fs uses in its bookkeeping file names).
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let [_, b0, b1, b2] = acc.to_be_bytes();
        out.push(b0);
        if chunk.len() > 2 {
            out.push(b1);
        }
        if chunk.len() > 3 {
            out.push(b2);
        }
    }
    Some(out)
}

/// Parses `.bucket-<b64>.object-<b64>.upload-<id>.metadata.json`.
fn parse_upload_metadata_name(name: &str) -> Option<(String, String, String)> {
    let rest = name
        .strip_prefix(".bucket-")?
        .strip_suffix(".metadata.json")?;
    let (bucket_b64, rest) = rest.split_once(".object-")?;
    let (key_b64, upload_id) = rest.split_once(".upload-")?;
    let bucket = String::from_utf8(b64url_decode(bucket_b64)?).ok()?;
    let key = String::from_utf8(b64url_decode(key_b64)?).ok()?;
    Some((bucket, key, upload_id.to_owned()))
}

impl PhdFs {
    async fn scan_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        access_key: Option<&str>,
    ) -> std::io::Result<Vec<MultipartUpload>> {
        let mut found = Vec::new();
        let mut dir = tokio::fs::read_dir(&self.root).await?;
        while let Some(entry) = dir.next_entry().await? {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((b, key, upload_id)) = parse_upload_metadata_name(name) else {
                continue;
            };
            if b != bucket || !key.starts_with(prefix) {
                continue;
            }
            // The upload is live while its info file exists; it records the initiator's key.
            let info = self.root.join(format!(".upload-{upload_id}.json"));
            let Ok(content) = tokio::fs::read(&info).await else {
                continue;
            };
            let owner: Option<String> = serde_json_like_string(&content);
            if owner.as_deref() != access_key {
                continue;
            }
            let initiated = entry
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .map(Timestamp::from);
            found.push(MultipartUpload {
                key: Some(key),
                upload_id: Some(upload_id),
                initiated,
                ..Default::default()
            });
        }
        found.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        Ok(found)
    }
}

/// s3s-fs writes the initiator as JSON `"<access key>"` or `null`.
fn serde_json_like_string(content: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(content).ok()?.trim();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    // Access keys are plain ASCII; anything escaped is not ours to interpret.
    (!inner.contains('\\')).then(|| inner.to_owned())
}

#[async_trait::async_trait]
impl S3 for PhdFs {
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let ak = req.credentials.as_ref().map(|c| c.access_key.as_str());
        let bucket_dir = self.root.join(&input.bucket);
        if input.bucket.contains(['/', '\\'])
            || !tokio::fs::try_exists(&bucket_dir).await.unwrap_or(false)
        {
            return Err(s3s::s3_error!(NoSuchBucket));
        }
        let uploads = self
            .scan_uploads(&input.bucket, &prefix, ak)
            .await
            .map_err(|e| s3s::s3_error!(e, InternalError))?;
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }
    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.inner.copy_object(req).await
    }
    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.inner.delete_bucket(req).await
    }
    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }
    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.inner.delete_objects(req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.inner.get_bucket_location(req).await
    }
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        // `Path::join` with an absolute or `..` key would leave the root: such keys keep
        // s3s-fs's own (root-resolved) body.
        let path = plain_object_path(&self.root, &req.input.bucket, &req.input.key);
        let mut resp = self.inner.get_object(req).await?;
        // s3s-fs streams the body in 4 KiB reads, each one hop through tokio's blocking pool:
        // at ≈ 100 MB/s that is ≈ 25,000 hops per second competing for the cores with the
        // client. Serve the same bytes in 1 MiB reads instead (s3s-fs did every check: the key
        // resolved inside the root, the range is satisfiable, the headers are set).
        if let Some(path) = path
            && let Some(body) = large_read_body(&path, &resp.output).await
        {
            resp.output.body = Some(StreamingBlob::wrap(body));
        }
        Ok(resp)
    }
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }
    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.inner.list_objects(req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.inner.put_object(req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(req).await
    }
    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.upload_part_fast(req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.inner.upload_part_copy(req).await
    }
    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.list_parts_with_etags(req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        match self.complete_fast(&req).await? {
            Some(out) => Ok(S3Response::new(out)),
            None => self.inner.complete_multipart_upload(req).await,
        }
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(req).await
    }
}

/// `root/bucket/key` when bucket and key are plain relative names (no root, prefix, `.` or
/// `..` component), else `None`.
fn plain_object_path(root: &Path, bucket: &str, key: &str) -> Option<PathBuf> {
    use std::path::Component;
    let plain = |s: &str| {
        !s.is_empty()
            && Path::new(s)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
    };
    (plain(bucket) && plain(key)).then(|| root.join(bucket).join(key))
}

/// Bytes per read of an object body served by [`PhdFs::get_object`].
const BODY_READ: usize = 1 << 20;

/// The body s3s-fs would send for `out`, read from `path` in [`BODY_READ`] blocks; `None`
/// (keep s3s-fs's own body) when the file is not the one s3s-fs measured, e.g. replaced since.
async fn large_read_body(
    path: &Path,
    out: &GetObjectOutput,
) -> Option<impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync + 'static> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let len = u64::try_from(out.content_length?).ok()?;
    let (start, total) = match out.content_range.as_deref() {
        None => (0, len),
        Some(range) => parse_content_range(range)?,
    };
    let mut file = tokio::fs::File::open(path).await.ok()?;
    if file.metadata().await.ok()?.len() != total {
        return None;
    }
    file.seek(std::io::SeekFrom::Start(start)).await.ok()?;
    Some(futures::stream::try_unfold(
        (file, len),
        |(mut file, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left).unwrap_or(BODY_READ).min(BODY_READ);
            let mut buf = bytes::BytesMut::with_capacity(want);
            while buf.len() < want {
                if file.read_buf(&mut buf).await? == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "object shrank while being read",
                    ));
                }
            }
            let n = buf.len() as u64;
            Ok(Some((buf.freeze(), (file, left - n))))
        },
    ))
}

/// `bytes <first>-<last>/<total>` → (first, total).
fn parse_content_range(range: &str) -> Option<(u64, u64)> {
    let (span, total) = range.strip_prefix("bytes ")?.split_once('/')?;
    let (first, _last) = span.split_once('-')?;
    Some((first.parse().ok()?, total.parse().ok()?))
}

fn build_service(root_dir: &Path, creds: &ServerCredentials) -> Result<s3s::service::S3Service> {
    let io_err = |source: std::io::Error| Error::Server {
        context: format!("preparing root directory {}", root_dir.display()),
        source: Box::new(source),
    };
    std::fs::create_dir_all(root_dir).map_err(io_err)?;
    let root = root_dir.canonicalize().map_err(io_err)?;
    let inner = s3s_fs::FileSystem::new(&root).map_err(|e| Error::Server {
        context: format!("opening s3s-fs root {}", root.display()),
        source: format!("{e:?}").into(),
    })?;
    let paths = multipart::Paths::new(root.clone());
    let mut builder = s3s::service::S3ServiceBuilder::new(PhdFs { inner, root, paths });
    builder.set_auth(s3s::auth::SimpleAuth::from_single(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
    ));
    Ok(builder.build())
}

/// Serves `root_dir` as S3 on `listener` until `shutdown` resolves, then shuts down
/// gracefully (open connections get a few seconds to finish).
///
/// Buckets are directories under `root_dir`; requests must be SigV4-signed (headers or
/// presigned query) with `creds`. Path-style addressing only.
pub async fn run(
    listener: TcpListener,
    root_dir: impl AsRef<Path>,
    creds: ServerCredentials,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let service = build_service(root_dir.as_ref(), &creds)?;
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let socket = tokio::select! {
            res = listener.accept() => match res {
                Ok((socket, _)) => socket,
                Err(err) => {
                    // Transient (e.g. EMFILE): back off briefly instead of spinning.
                    tracing::warn!(error = %err, "embedded S3: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let _ = socket.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(socket), service.clone());
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "embedded S3: connection ended with error");
            }
        });
    }
    drop(listener);

    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("embedded S3: shut down gracefully"),
        () = tokio::time::sleep(GRACE) => tracing::warn!("embedded S3: grace period over, dropping connections"),
    }
    Ok(())
}

/// A running in-process S3 server on `127.0.0.1:<ephemeral port>`.
///
/// Dropping it without [`EmbeddedS3::shutdown`] also stops the server (without waiting).
#[derive(Debug)]
pub struct EmbeddedS3 {
    addr: SocketAddr,
    endpoint: String,
    creds: ServerCredentials,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

impl EmbeddedS3 {
    /// Binds `127.0.0.1:0` and serves `root_dir` in a background task.
    pub async fn start(root_dir: impl AsRef<Path>, creds: ServerCredentials) -> Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().map_err(|e| Error::Server {
                context: "parsing loopback address".into(),
                source: Box::new(e),
            })?,
            root_dir,
            creds,
        )
        .await
    }

    /// Binds `addr` (port 0 for an ephemeral port) and serves `root_dir` in a background task.
    pub async fn start_on(
        addr: SocketAddr,
        root_dir: impl AsRef<Path>,
        creds: ServerCredentials,
    ) -> Result<Self> {
        let root_dir = root_dir.as_ref().to_path_buf();
        // Fail early (in the caller) on a bad root rather than inside the task.
        drop(build_service(&root_dir, &creds)?);
        let listener = TcpListener::bind(addr).await.map_err(|e| Error::Server {
            context: format!("binding {addr}"),
            source: Box::new(e),
        })?;
        let addr = listener.local_addr().map_err(|e| Error::Server {
            context: "reading bound address".into(),
            source: Box::new(e),
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, root_dir, creds.clone(), async move {
            // A dropped sender also means stop.
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            endpoint: format!("http://{addr}"),
            creds,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A client configuration for this server (path style, static credentials).
    pub fn client_config(&self, bucket: impl Into<String>) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            access_key_id: Some(self.creds.access_key_id.clone()),
            secret_access_key: Some(self.creds.secret_access_key.clone()),
            force_path_style: true,
            ..S3Config::new(bucket)
        }
    }

    /// Stops accepting, lets open requests finish (bounded), and waits for the server task.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| Error::Server {
                context: "embedded S3 task".into(),
                source: Box::new(e),
            })?,
            None => Ok(()),
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_never_leave_the_root() {
        let root = Path::new("/srv/s3");
        assert_eq!(
            plain_object_path(root, "b", "datasets/x.phd"),
            Some(PathBuf::from("/srv/s3/b/datasets/x.phd"))
        );
        for key in ["/etc/passwd", "../b2/x", "a/../../x", "./x", ""] {
            assert_eq!(plain_object_path(root, "b", key), None, "{key}");
        }
        assert_eq!(plain_object_path(root, "..", "x"), None);
    }

    #[test]
    fn content_range_start_and_total() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 10)));
        assert_eq!(
            parse_content_range("bytes 4194304-8388607/36000000"),
            Some((4_194_304, 36_000_000))
        );
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(parse_content_range("items 0-9/10"), None);
        assert_eq!(parse_content_range("bytes 0-9"), None);
    }

    #[test]
    fn b64url_roundtrip_names() {
        assert_eq!(b64url_decode("YnVja2V0").unwrap(), b"bucket");
        assert_eq!(b64url_decode("YQ").unwrap(), b"a");
        assert_eq!(b64url_decode("YWI").unwrap(), b"ab");
        assert_eq!(b64url_decode("ZGlyL2tleS0_Pw").unwrap(), b"dir/key-??");
        assert!(b64url_decode("Y").is_none());
        assert!(b64url_decode("Y*==").is_none());
        let (b, k, u) =
            parse_upload_metadata_name(".bucket-YnVja2V0.object-YQ.upload-1234.metadata.json")
                .unwrap();
        assert_eq!(
            (b.as_str(), k.as_str(), u.as_str()),
            ("bucket", "a", "1234")
        );
        assert!(parse_upload_metadata_name(".bucket-YnVja2V0.object-YQ.metadata.json").is_none());
    }
}
