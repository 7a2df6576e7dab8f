//! The pipeline on small in-memory objects: round trip, resume after a failure, a damaged
//! partial file, tampering, and the memory window (counted by the object, not by the pipeline).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use phd_seal::{SealOptions, SealingKey};
use sha2::Digest as _;

use super::*;

const CHUNK: u32 = 16 << 10;

/// Called with every range asked for, before it is served.
type OnGet = Box<dyn Fn(&Range<u64>) + Send + Sync>;

/// A sealed object in memory, as a store would serve it. Chunk ranges reaching past
/// `fail_from` fail (a connection that drops at that byte); every range served is logged.
struct MemObject {
    bytes: Bytes,
    fail_from: u64,
    /// Where the chunks end (the trailer starts).
    data_end: u64,
    log: Mutex<Vec<Range<u64>>>,
    on_get: Option<OnGet>,
}

impl MemObject {
    fn new(bytes: Vec<u8>) -> Self {
        let info = phd_seal::inspect(bytes.as_slice()).unwrap();
        let data_end = info
            .chunks
            .last()
            .map_or(64, |e| e.offset + u64::from(e.ct_len));
        MemObject {
            bytes: bytes.into(),
            fail_from: u64::MAX,
            data_end,
            log: Mutex::default(),
            on_get: None,
        }
    }
    fn served(&self) -> u64 {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.end - r.start)
            .sum()
    }
}

impl RangedObject for MemObject {
    fn describe(&self) -> String {
        "memory".into()
    }
    async fn size(&self) -> phd_storage::Result<u64> {
        Ok(self.bytes.len() as u64)
    }
    async fn get_range(&self, range: Range<u64>) -> phd_storage::Result<Bytes> {
        if let Some(f) = &self.on_get {
            f(&range);
        }
        tokio::task::yield_now().await;
        if range.end > self.fail_from && range.start < self.data_end {
            return Err(phd_storage::Error::Protocol {
                op: "GetObject",
                bucket: "mem".into(),
                key: "object".into(),
                detail: "connection reset".into(),
            });
        }
        self.log.lock().unwrap().push(range.clone());
        Ok(self.bytes.slice(range.start as usize..range.end as usize))
    }
}

/// CSV-like plaintext (compresses about like real recordings).
fn plaintext(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 0u64;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(format!("{i},{},{}\n", x % 10_000, (x >> 20) % 977).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn sealed(pt: &[u8]) -> (Vec<u8>, [u8; 32], OpeningKey) {
    let mut obj = Vec::new();
    let opts = SealOptions {
        chunk_size: CHUNK,
        threads: 1,
        ..SealOptions::default()
    };
    let s = phd_seal::seal(SealingKey::generate().unwrap(), pt, &mut obj, &opts).unwrap();
    (obj, s.root, s.opening_key)
}

fn small() -> FetchOptions {
    FetchOptions {
        window_bytes: 96 << 10,
        request_bytes: 12 << 10,
        max_requests: 3,
        attempts: 1,
        ..FetchOptions::default()
    }
}

async fn fetch(
    obj: Arc<MemObject>,
    key: &OpeningKey,
    root: [u8; 32],
    out: &Path,
    opts: &FetchOptions,
) -> Result<Fetched> {
    fetch_and_open(obj, key, root, out, "mem://object", opts, &|_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_leaves_only_the_output() {
    let pt = plaintext(300_000);
    let (obj, root, key) = sealed(&pt);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data.csv");
    let got = fetch(
        Arc::new(MemObject::new(obj.clone())),
        &key,
        root,
        &out,
        &small(),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), pt);
    assert_eq!(got.chunks, pt.len().div_ceil(CHUNK as usize) as u64);
    assert_eq!(
        got.fetched_bytes,
        obj.len() as u64,
        "every sealed byte fetched exactly once"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no partial or state file left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_fetch_resumes_from_the_last_written_chunk() {
    let pt = plaintext(400_000);
    let (obj, root, key) = sealed(&pt);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data.csv");
    let mut broken = MemObject::new(obj.clone());
    broken.fail_from = obj.len() as u64 / 2;
    let err = fetch(Arc::new(broken), &key, root, &out, &small())
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::Storage { .. }), "{err}");
    assert!(
        !out.exists(),
        "nothing at the output before the last chunk is verified"
    );

    let good = Arc::new(MemObject::new(obj.clone()));
    let got = fetch(good.clone(), &key, root, &out, &small())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), pt);
    assert!(
        got.resumed_chunks >= 3,
        "kept {} chunks",
        got.resumed_chunks
    );
    assert!(
        good.served() < obj.len() as u64 * 3 / 4,
        "refetched {} of {} bytes",
        good.served(),
        obj.len()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// A 400 kB object whose first fetch broke three quarters of the way through.
struct Interrupted {
    pt: Vec<u8>,
    obj: Vec<u8>,
    root: [u8; 32],
    key: OpeningKey,
    /// Holds the output's directory for the test's lifetime.
    _dir: tempfile::TempDir,
    out: PathBuf,
}

async fn interrupted_at_three_quarters() -> Interrupted {
    let pt = plaintext(400_000);
    let (obj, root, key) = sealed(&pt);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data.csv");
    let mut broken = MemObject::new(obj.clone());
    broken.fail_from = obj.len() as u64 * 3 / 4;
    fetch(Arc::new(broken), &key, root, &out, &small())
        .await
        .unwrap_err();
    Interrupted {
        pt,
        obj,
        root,
        key,
        _dir: dir,
        out,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_partial_file_is_refetched_from_the_damage() {
    let broke = interrupted_at_three_quarters().await;
    let partial = PartialPaths::for_output(&broke.out).partial;
    let mut bytes = std::fs::read(&partial).unwrap();
    assert!(bytes.len() > 3 * CHUNK as usize);
    bytes[CHUNK as usize + 5] ^= 1; // chunk 1 now differs from what the state file recorded
    std::fs::write(&partial, &bytes).unwrap();

    let got = fetch(
        Arc::new(MemObject::new(broke.obj)),
        &broke.key,
        broke.root,
        &broke.out,
        &small(),
    )
    .await
    .unwrap();
    assert_eq!(got.resumed_chunks, 1);
    assert_eq!(std::fs::read(&broke.out).unwrap(), broke.pt);
}

/// A state file of the earlier format (SHA-256 hashes, `PHDPART1`) that would otherwise match
/// is not trusted: the retrieval starts over and still writes the right plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_of_the_sha256_format_is_not_trusted() {
    let broke = interrupted_at_three_quarters().await;
    let paths = PartialPaths::for_output(&broke.out);
    let written = std::fs::read(&paths.partial).unwrap();
    let kept_before = written.len() / CHUNK as usize;
    assert!(kept_before >= 2);
    let mut old = b"PHDPART1".to_vec();
    old.extend_from_slice(&broke.root);
    for c in written.chunks(CHUNK as usize).take(kept_before) {
        old.extend_from_slice(&sha2::Sha256::digest(c));
    }
    std::fs::write(&paths.state, &old).unwrap();

    let got = fetch(
        Arc::new(MemObject::new(broke.obj)),
        &broke.key,
        broke.root,
        &broke.out,
        &small(),
    )
    .await
    .unwrap();
    assert_eq!(got.resumed_chunks, 0);
    assert_eq!(std::fs::read(&broke.out).unwrap(), broke.pt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_of_another_object_is_not_reused() {
    let (obj_a, root_a, key_a) = sealed(&plaintext(200_000));
    let pt_b = plaintext(250_000);
    let (obj_b, root_b, key_b) = sealed(&pt_b);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data.csv");
    let mut broken = MemObject::new(obj_a.clone());
    broken.fail_from = obj_a.len() as u64 / 2;
    fetch(Arc::new(broken), &key_a, root_a, &out, &small())
        .await
        .unwrap_err();
    let got = fetch(
        Arc::new(MemObject::new(obj_b)),
        &key_b,
        root_b,
        &out,
        &small(),
    )
    .await
    .unwrap();
    assert_eq!(got.resumed_chunks, 0);
    assert_eq!(std::fs::read(&out).unwrap(), pt_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_chunk_is_refused_and_nothing_reaches_the_output() {
    let (mut obj, root, key) = sealed(&plaintext(200_000));
    obj[64 + 3 * 1024] ^= 0x40; // inside chunk 0's ciphertext
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data.csv");
    let err = fetch(Arc::new(MemObject::new(obj)), &key, root, &out, &small())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SdkError::Tampered { reason, .. } if reason.contains("chunk 0")),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial or state file left for a bad object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_root_is_refused_before_any_chunk_is_fetched() {
    let (obj, _, key) = sealed(&plaintext(200_000));
    let dir = tempfile::tempdir().unwrap();
    let mem = Arc::new(MemObject::new(obj));
    let err = fetch(mem.clone(), &key, [7; 32], &dir.path().join("x"), &small())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SdkError::Tampered { reason, .. } if reason.contains("root")),
        "{err}"
    );
    assert!(
        mem.log
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.start == 0 || r.start >= mem.data_end),
        "only header, trailer, footer"
    );
    assert_eq!(mem.log.lock().unwrap().len(), 3);
}

/// Ciphertext asked for but not yet written out never exceeds the window, whatever the
/// object's size, and the first plaintext is written before the last range is requested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_bytes_stay_within_the_window() {
    let pt = plaintext(1_500_000);
    let (obj, root, key) = sealed(&pt);
    let info = phd_seal::inspect(obj.as_slice()).unwrap();
    let data = 64..info
        .chunks
        .last()
        .map(|e| e.offset + u64::from(e.ct_len))
        .unwrap();
    // ciphertext bytes of the first k chunks
    let ct_prefix: Vec<u64> = std::iter::once(0)
        .chain(info.chunks.iter().scan(0u64, |acc, e| {
            *acc += u64::from(e.ct_len);
            Some(*acc)
        }))
        .collect();
    let written_pt = Arc::new(AtomicU64::new(0));
    let requested = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let written_before_last = Arc::new(AtomicU64::new(u64::MAX));
    let mut mem = MemObject::new(obj);
    {
        let (written_pt, requested, peak, wbl) = (
            written_pt.clone(),
            requested.clone(),
            peak.clone(),
            written_before_last.clone(),
        );
        let data = data.clone();
        mem.on_get = Some(Box::new(move |r| {
            if r.start < data.start || r.end > data.end {
                return;
            }
            let asked = requested.fetch_add(r.end - r.start, Ordering::SeqCst) + (r.end - r.start);
            let chunks_written = (written_pt.load(Ordering::SeqCst) / u64::from(CHUNK)) as usize;
            let in_flight = asked - ct_prefix[chunks_written.min(ct_prefix.len() - 1)];
            peak.fetch_max(in_flight, Ordering::SeqCst);
            if r.end == data.end {
                wbl.store(written_pt.load(Ordering::SeqCst), Ordering::SeqCst);
            }
        }));
    }
    let opts = small();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data.csv");
    let w = written_pt.clone();
    let emit = move |e: RetrieveEvent| {
        if let RetrieveEvent::Decrypted { bytes } = e {
            w.store(bytes, Ordering::SeqCst);
        }
    };
    fetch_and_open(
        Arc::new(mem),
        &key,
        root,
        &out,
        "mem://object",
        &opts,
        &emit,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), pt);
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        peak > 0 && peak <= opts.window_bytes,
        "peak in flight {peak} > window {}",
        opts.window_bytes
    );
    assert!(
        data.end - data.start > 4 * opts.window_bytes,
        "object must be much larger than the window"
    );
    assert!(
        written_before_last.load(Ordering::SeqCst) > 0,
        "plaintext reached the partial file before the last GET"
    );
}

#[test]
fn runs_cover_every_chunk_once_in_order() {
    let entries: Vec<ChunkEntry> = (0..10u64)
        .map(|i| ChunkEntry {
            offset: 64 + i * 100,
            ct_len: 100,
            pt_len: 300,
            hash: [0; 32],
        })
        .collect();
    assert_eq!(plan_runs(&entries, 0, 250), vec![0..3, 3..6, 6..9, 9..10]);
    assert_eq!(
        plan_runs(&entries, 4, 1),
        (4..10).map(|i| i..i + 1).collect::<Vec<_>>()
    );
    assert_eq!(plan_runs(&entries, 10, 250), Vec::<Range<usize>>::new());
}

/// The two real sources a buyer uses, over HTTP against the embedded S3 server: the bucket with
/// credentials, and a presigned URL (size from `Content-Range`, signature kept out of messages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_presigned_url_sources_fetch_the_same_plaintext() {
    use crate::objects::{SealedObject, UrlObject};
    use phd_storage::server::{EmbeddedS3, ServerCredentials};
    let pt = plaintext(200_000);
    let (obj, root, key) = sealed(&pt);
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedS3::start(
        dir.path().join("s3"),
        ServerCredentials::new("test", "test-secret"),
    )
    .await
    .unwrap();
    let store = phd_storage::Store::connect(server.client_config("fetch"))
        .await
        .unwrap();
    store.ensure_bucket().await.unwrap();
    store.put_bytes("o.phd", obj).await.unwrap();
    let url = store
        .presign_get("o.phd", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let sources = [
        SealedObject::S3(phd_storage::S3Object::new(store.clone(), "o.phd")),
        SealedObject::Url(UrlObject::new(reqwest::Client::new(), url.clone())),
    ];
    for (i, source) in sources.into_iter().enumerate() {
        assert!(
            !source.describe().contains("X-Amz-Signature"),
            "{}",
            source.describe()
        );
        let out = dir.path().join(format!("out-{i}.csv"));
        fetch_and_open(
            Arc::new(source),
            &key,
            root,
            &out,
            "s3://fetch/o.phd",
            &small(),
            &|_| {},
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), pt);
    }
    let broken = UrlObject::new(reqwest::Client::new(), url.replace("o.phd", "missing.phd"));
    let err = fetch_and_open(
        Arc::new(broken),
        &key,
        root,
        &dir.path().join("x"),
        "s3://fetch/o.phd",
        &small(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SdkError::Storage { .. }) && !err.to_string().contains("Signature"),
        "{err}"
    );
    server.shutdown().await.unwrap();
}
