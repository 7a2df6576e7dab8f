#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Independent re-implementation of docs/FORMATS.md §1 checked against the
//! library: key schedule, counter blocks, trailer, content root.

use ctr::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use phd_seal::*;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap())
}

#[test]
fn object_matches_written_spec() {
    let key = [0x5au8; 32];
    let data: Vec<u8> = (0..10_000u32)
        .flat_map(|i| format!("{i},{}\n", i % 7).into_bytes())
        .collect();
    let mut obj = Vec::new();
    let opts = SealOptions {
        chunk_size: 5000,
        ..SealOptions::default()
    };
    let s = seal(
        SealingKey::from_derived(Zeroizing::new(key)).unwrap(),
        &data[..],
        &mut obj,
        &opts,
    )
    .unwrap();

    // header
    let h = &obj[..64];
    assert_eq!(&h[0..8], b"PHDSEAL\0");
    assert_eq!(be32(&[0, 0, h[8], h[9]]), 1);
    assert_eq!(&h[10..12], &[0, 1]);
    assert_eq!(be32(&h[12..16]), 5000);
    let salt = &h[16..48];
    let hk = Hkdf::<Sha256>::new(Some(salt), &key);
    let mut k_enc = [0u8; 32];
    hk.expand(b"phd-seal v1 aes-256-ctr key", &mut k_enc)
        .unwrap();
    let mut check = [0u8; 16];
    hk.expand(b"phd-seal v1 key check", &mut check).unwrap();
    assert_eq!(&h[48..64], &check);

    // footer + trailer
    let n = obj.len();
    assert_eq!(&obj[n - 8..], b"PHDSEND1");
    let tlen = be64(&obj[n - 16..n - 8]) as usize;
    let t = &obj[n - 16 - tlen..n - 16];
    let count = be64(&t[0..8]);
    assert_eq!(be64(&t[8..16]), data.len() as u64);
    assert_eq!(tlen, 16 + 48 * count as usize);
    let mut leaves = Vec::new();
    let mut plain = Vec::new();
    for i in 0..count as usize {
        let e = &t[16 + 48 * i..16 + 48 * (i + 1)];
        let (off, ct_len, pt_len, hash) = (
            be64(&e[0..8]) as usize,
            be32(&e[8..12]) as usize,
            be32(&e[12..16]),
            &e[16..48],
        );
        let ct = &obj[off..off + ct_len];
        assert_eq!(Sha256::digest(ct).as_slice(), hash);
        // counter block: index u64 BE ‖ 0u32 ‖ block counter u32 BE
        let mut iv = [0u8; 16];
        iv[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let mut c = ctr::Ctr32BE::<aes::Aes256>::new_from_slices(&k_enc, &iv).unwrap();
        let mut buf = ct.to_vec();
        c.apply_keystream(&mut buf);
        let pt = zstd::bulk::decompress(&buf, pt_len as usize).unwrap();
        assert_eq!(pt.len(), pt_len as usize);
        plain.extend(pt);
        let mut lh = Sha256::new();
        lh.update([0u8]);
        lh.update(hash);
        lh.update(&e[8..12]);
        lh.update(&e[12..16]);
        leaves.push(<[u8; 32]>::from(lh.finalize()));
    }
    assert_eq!(plain, data);
    // Merkle tree: promote odd node
    let mut level = leaves;
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => {
                    let mut x = Sha256::new();
                    x.update([1u8]);
                    x.update(l);
                    x.update(r);
                    x.finalize().into()
                }
                [one] => *one,
                _ => unreachable!(),
            })
            .collect();
    }
    let tree = level[0];
    let mut r = Sha256::new();
    r.update([2u8]);
    r.update(b"phd-seal v1");
    r.update(Sha256::digest(h));
    r.update(count.to_be_bytes());
    r.update((data.len() as u64).to_be_bytes());
    r.update(tree);
    assert_eq!(<[u8; 32]>::from(r.finalize()), s.root);
}

#[test]
fn empty_tree_root() {
    assert_eq!(
        chunk_tree_root(&[]),
        <[u8; 32]>::from(Sha256::digest([3u8]))
    );
}
