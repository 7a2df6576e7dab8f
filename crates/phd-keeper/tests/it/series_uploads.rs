//! Adversarial uploads of series segment shares (`PUT /v1/series/{id}/segments/{seq}/share`)
//! against a real keeper on anvil: each rule of `api/series.rs` is attacked and the test checks
//! both the refusal and that the keeper's stored share did not change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use alloy::{
    primitives::{B256, Bytes, U256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use common::*;
use phd_chain::{Deployment, Purpose, SegmentParams, SeriesParams, phd};
use phd_keys::{Commitments, DatasetSecret, KeyShare};
use phd_protocol::{SegmentShareUpload, segment_keeper_share_aad, segment_share_upload_path};

/// One segment's secret split 2-of-2: the shares and the packed commitments.
struct Segment {
    shares: Vec<KeyShare>,
    commitments: Commitments,
}

impl Segment {
    fn new() -> Self {
        let (shares, commitments) =
            phd_keys::split(&DatasetSecret::generate().unwrap(), 2, 2).unwrap();
        Segment {
            shares,
            commitments,
        }
    }

    fn packed(&self) -> Vec<u8> {
        self.commitments
            .to_bytes()
            .iter()
            .flatten()
            .copied()
            .collect()
    }
}

/// The upload body the owner's streamer sends, with the share bytes and the claimed index
/// chosen by the test, signed by `signer`.
fn body(
    d: &Deployment,
    keeper_key: &[u8],
    (series_id, seq): (u64, u64),
    claimed_index: u8,
    share: &KeyShare,
    seg: &Segment,
    signer: &PrivateKeySigner,
) -> SegmentShareUpload {
    let aad = segment_keeper_share_aad(
        d.chain_id,
        d.series_market,
        U256::from(series_id),
        seq,
        claimed_index,
    );
    let ct = phd_keys::encrypt(keeper_key, share.to_bytes().as_slice(), &aad).unwrap();
    let mut b = SegmentShareUpload {
        chain_id: d.chain_id,
        series_market: d.series_market,
        series_id,
        seq,
        share_index: claimed_index,
        commitments: Bytes::from(seg.packed()),
        ciphertext: ct.into(),
        signature: Bytes::new(),
    };
    let sig = signer
        .sign_message_sync(b.signing_message().as_slice())
        .unwrap();
    b.signature = Bytes::copy_from_slice(&sig.as_bytes());
    b
}

async fn put_segment(url: &str, b: &SegmentShareUpload) -> (u16, String) {
    let r = reqwest::Client::new()
        .put(segment_share_upload_path(url, b.series_id, b.seq))
        .json(b)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// (shares stored, uploads rejected) from the keeper's metrics.
async fn counters(url: &str) -> (u64, u64) {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let read = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("phd_keeper_{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    (read("shares_stored_total"), read("shares_rejected_total"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_upload_rules_hold_against_strangers_replays_and_runaway_owners() {
    let c = chain().await;
    let owner_signer = c.roles.user.clone();
    let owner = client(&c, &owner_signer).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut keepers = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        keepers.push(start_keeper(keeper_config(&c, &c.roles.keepers[i], d.path())).await);
    }
    for k in &keepers {
        wait_registered(&owner, k.address, &k.url).await;
    }
    let (_, sid) = owner
        .create_series(&SeriesParams {
            keepers: keepers.iter().map(|k| k.address).collect(),
            threshold: 2,
            purposes: vec![Purpose::Research],
            price_per_segment: phd(1),
            metadata_hash: B256::repeat_byte(1),
            consent_terms_hash: B256::repeat_byte(2),
        })
        .await
        .unwrap();
    let sid = u64::try_from(sid).unwrap();
    let d = &c.deployment;
    let k = &keepers[1]; // share index 2
    let key = owner.node(k.address).await.unwrap().encryptionKey;
    let stranger = &c.roles.customer;

    // The owner uploads segment 0 (version A): stored.
    let a = Segment::new();
    let upload_a = body(d, &key, (sid, 0), 2, &a.shares[1], &a, &owner_signer);
    let (st, text) = put_segment(&k.url, &upload_a).await;
    assert_eq!(st, 200, "{text}");
    let (stored, rejected) = counters(&k.url).await;
    assert_eq!(stored, 1);

    // Each attack is refused with its status, is counted as rejected, and stores nothing.
    let mut rejected_so_far = rejected;
    let mut refused = async |what: &str, b: &SegmentShareUpload, want: u16| {
        let (st, text) = put_segment(&k.url, b).await;
        assert_eq!(st, want, "{what}: {text}");
        let (s, r) = counters(&k.url).await;
        assert_eq!(s, stored, "{what}: a share was stored");
        assert_eq!(r, rejected_so_far + 1, "{what}: not counted as rejected");
        rejected_so_far = r;
    };

    // A stranger (a funded, registered-nothing account) signs a valid share upload.
    let other = Segment::new();
    refused(
        "stranger's upload",
        &body(d, &key, (sid, 0), 2, &other.shares[1], &other, stranger),
        403,
    )
    .await;
    // The owner claims another keeper's index (this keeper holds index 2).
    refused(
        "wrong claimed share index",
        &body(
            d,
            &key,
            (sid, 0),
            1,
            &other.shares[0],
            &other,
            &owner_signer,
        ),
        403,
    )
    .await;
    // The right claimed index, but the share of index 1 inside.
    refused(
        "share of another index",
        &body(
            d,
            &key,
            (sid, 0),
            2,
            &other.shares[0],
            &other,
            &owner_signer,
        ),
        422,
    )
    .await;
    // More than MAX_SEGMENTS_AHEAD (4) segments past the appended ones (none yet): seq 5.
    refused(
        "fifth segment ahead",
        &body(
            d,
            &key,
            (sid, 5),
            2,
            &other.shares[1],
            &other,
            &owner_signer,
        ),
        409,
    )
    .await;
    // A signed body replayed onto another seq (the path disagrees with the signed body).
    let (st, _) = reqwest::Client::new()
        .put(segment_share_upload_path(&k.url, sid, 1))
        .json(&upload_a)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(st, 400, "body for seq 0 on the seq-1 path");
    rejected_so_far += 1;
    assert_eq!(counters(&k.url).await, (stored, rejected_so_far));

    // Before the append the owner may replace the share (a restarted streamer re-seals).
    let b = Segment::new();
    let upload_b = body(d, &key, (sid, 0), 2, &b.shares[1], &b, &owner_signer);
    assert_eq!(put_segment(&k.url, &upload_b).await.0, 200);
    let stored = stored + 1;
    assert_eq!(counters(&k.url).await, (stored, rejected_so_far));

    // Version B is appended on-chain.
    owner
        .append_segment(
            U256::from(sid),
            &SegmentParams {
                seq: 0,
                content_root: B256::repeat_byte(3),
                commitments: b.commitments.to_bytes(),
                uri: "s3://bucket/series/0".into(),
                metadata_hash: B256::repeat_byte(4),
            },
        )
        .await
        .unwrap();

    // The old, validly signed upload of version A is replayed after the append: refused, and
    // version B is still what the keeper holds.
    let (st, text) = put_segment(&k.url, &upload_a).await;
    assert_eq!(
        st, 409,
        "replay of a replaced upload after the append: {text}"
    );
    assert_eq!(counters(&k.url).await, (stored, rejected_so_far + 1));
    // Re-sending B is the idempotent path (same commitments, byte-identical stored share): 200
    // without storing anything, which proves the stored row is still B's share.
    let (st, text) = put_segment(&k.url, &upload_b).await;
    assert_eq!(st, 200, "{text}");
    assert_eq!(counters(&k.url).await, (stored, rejected_so_far + 1));

    // Once segment 0 is appended the window moves: seq 5 (= 1 appended + 4) is accepted,
    // seq 6 is not.
    let c5 = Segment::new();
    assert_eq!(
        put_segment(
            &k.url,
            &body(d, &key, (sid, 5), 2, &c5.shares[1], &c5, &owner_signer)
        )
        .await
        .0,
        200
    );
    let (st, _) = put_segment(
        &k.url,
        &body(d, &key, (sid, 6), 2, &c5.shares[1], &c5, &owner_signer),
    )
    .await;
    assert_eq!(st, 409);

    for k in keepers {
        k.stop().await.unwrap();
    }
}
