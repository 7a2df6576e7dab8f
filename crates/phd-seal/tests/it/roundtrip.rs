#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use phd_seal::*;
use proptest::prelude::*;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

fn opts(chunk: u32) -> SealOptions {
    SealOptions {
        chunk_size: chunk,
        level: 3,
        threads: 2,
        window: 0,
    }
}

fn seal_bytes(data: &[u8], chunk: u32) -> (Vec<u8>, SealSummary) {
    let mut out = Vec::new();
    let s = seal(
        SealingKey::generate().unwrap(),
        data,
        &mut out,
        &opts(chunk),
    )
    .unwrap();
    (out, s)
}

/// Writer that records every byte it was given.
#[derive(Clone, Default)]
struct Recorder(Rc<RefCell<Vec<u8>>>);
impl Write for Recorder {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn open_bytes(key: &OpeningKey, obj: &[u8], root: [u8; 32]) -> (Result<OpenSummary>, Vec<u8>) {
    let rec = Recorder::default();
    let r = open(key, obj, root, rec.clone(), &OpenLimits::default());
    let got = rec.0.borrow().clone();
    (r, got)
}

fn pseudo(n: usize, seed: u64) -> Vec<u8> {
    // compressible-ish: text with varying numbers
    let mut v = Vec::with_capacity(n);
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    while v.len() < n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let line = format!("{},{},{}\n", x >> 50, (x >> 20) & 0xff, x & 0x3);
        v.extend_from_slice(line.as_bytes());
    }
    v.truncate(n);
    v
}

#[test]
fn boundary_sizes_round_trip() {
    let c = 4096u32;
    for n in [0usize, 1, 4095, 4096, 4097, 3 * 4096, 10 * 4096 + 17] {
        let data = pseudo(n, n as u64);
        let (obj, s) = seal_bytes(&data, c);
        assert_eq!(s.plaintext_len, n as u64);
        assert_eq!(s.chunk_count, (n as u64).div_ceil(4096));
        assert_eq!(s.sealed_len, obj.len() as u64);
        let (r, got) = open_bytes(&s.opening_key, &obj, s.root);
        let r = r.unwrap();
        assert_eq!(got, data, "size {n}");
        assert_eq!(r.plaintext_len, n as u64);
        let info = inspect(&obj[..]).unwrap();
        assert_eq!(info.root, s.root);
        assert_eq!(info.chunk_count, s.chunk_count);
    }
}

#[test]
fn empty_object_has_fixed_shape() {
    let (obj, s) = seal_bytes(&[], 1024);
    assert_eq!(obj.len(), HEADER_LEN + TRAILER_FIXED_LEN + FOOTER_LEN);
    assert_eq!(s.chunk_count, 0);
    let (r, got) = open_bytes(&s.opening_key, &obj, s.root);
    assert_eq!(r.unwrap().chunks, 0);
    assert!(got.is_empty());
}

#[test]
fn same_key_bytes_refused_and_salt_differs() {
    let k = zeroize::Zeroizing::new([7u8; 32]);
    let mut a = Vec::new();
    let s = seal(
        SealingKey::from_derived(k.clone()).unwrap(),
        &b"hello"[..],
        &mut a,
        &opts(64),
    )
    .unwrap();
    let mut b = Vec::new();
    let e = seal(
        SealingKey::from_derived(k.clone()).unwrap(),
        &b"hello"[..],
        &mut b,
        &opts(64),
    );
    assert!(matches!(e, Err(SealError::KeyReuse)), "{e:?}");
    // The opening key works with from_derived bytes.
    let ok = OpeningKey::from_derived(k);
    let (r, got) = open_bytes(&ok, &a, s.root);
    r.unwrap();
    assert_eq!(got, b"hello");
    assert!(SealingKey::from_derived(zeroize::Zeroizing::new([0u8; 32])).is_err());
}

#[test]
fn fresh_salts_give_different_ciphertexts() {
    let data = pseudo(5000, 1);
    let (a, sa) = seal_bytes(&data, 1024);
    let (b, sb) = seal_bytes(&data, 1024);
    assert_ne!(sa.root, sb.root);
    assert_ne!(
        a[HEADER_LEN..HEADER_LEN + 64],
        b[HEADER_LEN..HEADER_LEN + 64]
    );
}

#[test]
fn wrong_key_fails_without_output() {
    let data = pseudo(10_000, 3);
    let (obj, s) = seal_bytes(&data, 2048);
    let other = SealingKey::generate().unwrap().opening_key();
    let (r, got) = open_bytes(&other, &obj, s.root);
    assert!(matches!(r, Err(SealError::WrongKey)), "{r:?}");
    assert!(got.is_empty());
}

#[test]
fn wrong_root_truncation_reorder_duplicate() {
    let data = pseudo(4 * 1024 + 100, 9);
    let (obj, s) = seal_bytes(&data, 1024);
    let k = &s.opening_key;
    // wrong root
    let mut bad = s.root;
    bad[0] ^= 1;
    let (r, got) = open_bytes(k, &obj, bad);
    assert!(matches!(r, Err(SealError::RootMismatch { .. })), "{r:?}");
    assert!(got.is_empty());
    // truncations
    for cut in [1usize, 15, 16, 17, 100, obj.len() - 10, obj.len() - 1] {
        let (r, got) = open_bytes(k, &obj[..obj.len() - cut], s.root);
        assert!(r.is_err(), "cut {cut}");
        assert!(got.is_empty());
    }
    let info = inspect(&obj[..]).unwrap();
    let c0 = info.chunks[0];
    let c1 = info.chunks[1];
    let chunk =
        |e: &ChunkEntry| obj[e.offset as usize..(e.offset + e.ct_len as u64) as usize].to_vec();
    // reorder chunk 0 and 1 (ciphertext only)
    let mut re = obj[..HEADER_LEN].to_vec();
    re.extend(chunk(&c1));
    re.extend(chunk(&c0));
    re.extend(&obj[(c1.offset + c1.ct_len as u64) as usize..]);
    let (r, got) = open_bytes(k, &re, s.root);
    assert!(r.is_err());
    assert!(got.is_empty());
    // duplicate chunk 0
    let mut du = obj[..(c0.offset + c0.ct_len as u64) as usize].to_vec();
    du.extend(chunk(&c0));
    du.extend(&obj[(c0.offset + c0.ct_len as u64) as usize..]);
    let (r, got) = open_bytes(k, &du, s.root);
    assert!(r.is_err());
    assert!(got.is_empty());
    // appended garbage
    let mut ap = obj.clone();
    ap.push(0);
    assert!(open_bytes(k, &ap, s.root).0.is_err());
}

#[test]
fn range_access() {
    let data = pseudo(10 * 1000 + 5, 11);
    let (obj, s) = seal_bytes(&data, 1000);
    let info = inspect(&obj[..]).unwrap();
    assert_eq!(info.chunk_count, 11);
    for (a, b) in [(0u64, 1u64), (3, 7), (10, 11), (0, 11), (5, 5)] {
        let mut out = Vec::new();
        let r = open_range(
            &s.opening_key,
            &obj[..],
            s.root,
            a..b,
            &mut out,
            &OpenLimits::default(),
        )
        .unwrap();
        assert_eq!(r.chunks, b - a);
        let lo = (a * 1000) as usize;
        let hi = ((b * 1000) as usize).min(data.len());
        assert_eq!(out, data[lo.min(hi)..hi]);
    }
    assert!(matches!(
        open_range(
            &s.opening_key,
            &obj[..],
            s.root,
            3..12,
            &mut Vec::new(),
            &OpenLimits::default()
        ),
        Err(SealError::RangeOutOfBounds { .. })
    ));
    assert_eq!(info.chunk_range_for(1500..2500), 1..3);
    assert_eq!(info.chunk_range_for(0..1), 0..1);
    assert_eq!(info.chunk_range_for(9999..20000), 9..11);
}

#[test]
fn file_source_round_trip() {
    let data = pseudo(50_000, 5);
    let (obj, s) = seal_bytes(&data, 8192);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.sealed");
    std::fs::write(&p, &obj).unwrap();
    let src = FileSource::open(&p).unwrap();
    let mut out = Vec::new();
    open(
        &s.opening_key,
        &src,
        s.root,
        &mut out,
        &OpenLimits::default(),
    )
    .unwrap();
    assert_eq!(out, data);
}

#[test]
fn streaming_mode_and_limits() {
    let data = pseudo(9000, 2);
    let (obj, s) = seal_bytes(&data, 1000);
    let lim = OpenLimits {
        verify_all_before_output: false,
        threads: 1,
        window: 1,
        ..OpenLimits::default()
    };
    let mut out = Vec::new();
    open(&s.opening_key, &obj[..], s.root, &mut out, &lim).unwrap();
    assert_eq!(out, data);
    let small = OpenLimits {
        max_chunks: 3,
        ..OpenLimits::default()
    };
    assert!(matches!(
        inspect_with_limits(&obj[..], &small),
        Err(SealError::TooManyChunks { .. })
    ));
    let small = OpenLimits {
        max_chunk_size: 999,
        ..OpenLimits::default()
    };
    assert!(matches!(
        inspect_with_limits(&obj[..], &small),
        Err(SealError::ChunkSizeOutOfRange { .. })
    ));
    let small = OpenLimits {
        max_trailer_bytes: 100,
        ..OpenLimits::default()
    };
    assert!(matches!(
        inspect_with_limits(&obj[..], &small),
        Err(SealError::TrailerTooLarge { .. })
    ));
}

/// A source whose first chunk reads differently from its second read on (a file rewritten
/// while it is opened).
struct ChangesAfterFirstRead {
    obj: Vec<u8>,
    chunk0_reads: std::sync::atomic::AtomicU32,
}

impl ChunkSource for ChangesAfterFirstRead {
    fn len(&self) -> u64 {
        self.obj.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut v = self.obj.read_at(offset, len)?;
        if offset == 64 {
            let n = self
                .chunk0_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n >= 1 {
                v[0] ^= 1;
            }
        }
        Ok(v)
    }
}

#[test]
fn bytes_that_change_after_the_check_are_never_decrypted() {
    let data = pseudo(9000, 3);
    let (obj, s) = seal_bytes(&data, 1000);
    let src = |obj: &Vec<u8>| ChangesAfterFirstRead {
        obj: obj.clone(),
        chunk0_reads: Default::default(),
    };
    // Small enough to hold: one read and one hash per chunk; the later change is never seen.
    let held = src(&obj);
    let mut out = Vec::new();
    open(
        &s.opening_key,
        &held,
        s.root,
        &mut out,
        &OpenLimits::default(),
    )
    .unwrap();
    assert_eq!(out, data);
    assert_eq!(
        held.chunk0_reads.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // Not held: the second read is hashed again and the change refused before any output.
    let two_pass = src(&obj);
    let lim = OpenLimits {
        hold_verified_bytes: 0,
        ..OpenLimits::default()
    };
    let mut out = Vec::new();
    let err = open(&s.opening_key, &two_pass, s.root, &mut out, &lim).unwrap_err();
    assert!(
        matches!(err, SealError::ChunkHashMismatch { index: 0 }),
        "{err}"
    );
    assert!(out.is_empty());
    assert_eq!(
        two_pass
            .chunk0_reads
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[test]
fn debug_redacts_keys() {
    let k = SealingKey::from_derived(zeroize::Zeroizing::new([0xabu8; 32])).unwrap();
    let s = format!("{k:?} {:?}", k.opening_key());
    assert!(!s.contains("ab, ") && !s.contains("171"), "{s}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    #[test]
    fn prop_threads_window_and_ranges(len in 0usize..60_000, chunk in 256u32..8192, threads in 1usize..5, window in 0usize..9, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let data = pseudo(len, len as u64 ^ 0x55);
        let mut obj = Vec::new();
        let o = SealOptions { chunk_size: chunk, level: 1, threads, window };
        let s = seal(SealingKey::generate().unwrap(), &data[..], &mut obj, &o).unwrap();
        // Odd thread counts also take the two-pass path (nothing held between the passes).
        let hold_verified_bytes = if threads % 2 == 1 { 0 } else { OpenLimits::default().hold_verified_bytes };
        let lim = OpenLimits { threads, window, hold_verified_bytes, ..OpenLimits::default() };
        let mut out = Vec::new();
        open(&s.opening_key, &obj[..], s.root, &mut out, &lim).unwrap();
        prop_assert_eq!(&out, &data);
        let n = s.chunk_count as usize;
        let (x, y) = (a.index(n + 1) as u64, b.index(n + 1) as u64);
        let (lo, hi) = (x.min(y), x.max(y));
        let mut part = Vec::new();
        open_range(&s.opening_key, &obj[..], s.root, lo..hi, &mut part, &lim).unwrap();
        let cs = chunk as usize;
        let (plo, phi) = ((lo as usize * cs).min(len), (hi as usize * cs).min(len));
        prop_assert_eq!(&part[..], &data[plo..phi]);
    }

    #[test]
    fn prop_round_trip(chunk in 1u32..65536, len in 0usize..200_000, seed in any::<u64>(), random in any::<bool>()) {
        let data: Vec<u8> = if random {
            let mut x = seed | 1;
            (0..len).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 }).collect()
        } else { pseudo(len, seed) };
        let chunk = chunk.max(64);
        let (obj, s) = seal_bytes(&data, chunk);
        // Uploads are sized from this bound before sealing ends; random bytes are zstd's
        // worst case.
        prop_assert!(obj.len() as u64 <= sealed_len_bound(len as u64, chunk));
        let (r, got) = open_bytes(&s.opening_key, &obj, s.root);
        r.unwrap();
        prop_assert_eq!(got, data);
    }

    #[test]
    fn prop_any_byte_flip_rejected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        thread_local! {
            static OBJ: (Vec<u8>, [u8; 32], OpeningKey) = {
                let data = pseudo(3 * 700 + 50, 77);
                let (obj, s) = seal_bytes(&data, 700);
                (obj, s.root, s.opening_key)
            };
        }
        OBJ.with(|(obj, root, key)| {
            let mut bad = obj.clone();
            let i = pos.index(bad.len());
            bad[i] ^= 1 << bit;
            let (r, got) = open_bytes(key, &bad, *root);
            assert!(r.is_err(), "flip at {i} accepted");
            assert!(got.is_empty(), "flip at {i} leaked output");
        });
    }
}

#[test]
fn every_byte_flip_rejected_small_object() {
    let data = pseudo(2 * 300 + 10, 5);
    let (obj, s) = seal_bytes(&data, 300);
    for i in 0..obj.len() {
        let mut bad = obj.clone();
        bad[i] ^= 0x80;
        let (r, got) = open_bytes(&s.opening_key, &bad, s.root);
        assert!(r.is_err(), "flip at {i} accepted");
        assert!(got.is_empty());
    }
}

#[test]
fn inspect_parts_recomputes_the_root_from_header_and_tail_only() {
    let data: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let opts = SealOptions {
        chunk_size: 16 << 10,
        ..SealOptions::default()
    };
    let mut obj = Vec::new();
    let s = seal(SealingKey::generate().unwrap(), &data[..], &mut obj, &opts).unwrap();
    let full = inspect(&obj).unwrap();
    let tail_len = full.sealed_len
        - full
            .chunks
            .last()
            .map(|c| c.offset + u64::from(c.ct_len))
            .unwrap();
    let (head, tail) = (&obj[..HEADER_LEN], &obj[obj.len() - tail_len as usize..]);
    let info = inspect_parts(obj.len() as u64, head, tail).unwrap();
    assert_eq!(info.root, s.root);
    assert_eq!(info, full);
    // A lying length or a cut tail fails instead of reading zeros.
    assert!(inspect_parts(obj.len() as u64 + 1, head, tail).is_err());
    assert!(inspect_parts(obj.len() as u64, head, &tail[1..]).is_err());
    assert!(inspect_parts(obj.len() as u64, &head[..10], tail).is_err());
    assert!(inspect_parts(0, head, tail).is_err());
}
