//! Series segments through the gateway: only a subscriber whose subscription covers the seq of
//! an appended segment of a series not withdrawn gets bytes; every other request is a 4xx with
//! its own code and no bytes.

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use phd_chain::SeriesStatus;
use phd_gateway::{SeriesView, SubscriptionView, read_access_log};
use phd_protocol::segment_object_key;
use phd_storage::Store;

use super::{Memory, call, env, obj, token};

/// The series owner (names the keys).
const OWNER: Address = Address::repeat_byte(0x0a);

/// Series 7 (active, segments 0..3 appended, object 3 uploaded but not appended) and series 8
/// (withdrawn, 0..2), all objects holding `sealed`. Subscriptions of `buyer`: 10 to series 7
/// covering 1..6; 12 to series 8 covering 0..2; 13 to series 7 shrunk by a cancel to 0..1.
/// Subscription 11 to series 7 (0..5) is a stranger's.
pub(crate) async fn populate(
    m: &mut Memory,
    store: &Store,
    buyer: &PrivateKeySigner,
    sealed: &[u8],
) {
    for (series, seq) in [(7, 0), (7, 1), (7, 2), (7, 3), (8, 0), (8, 1)] {
        store
            .put_bytes(&segment_object_key(OWNER, series, seq), sealed.to_vec())
            .await
            .unwrap();
    }
    let series = |status, segment_count| SeriesView {
        owner: OWNER,
        status,
        segment_count,
    };
    m.series.insert(7, series(SeriesStatus::Active, 3));
    m.series.insert(8, series(SeriesStatus::Withdrawn, 2));
    let sub = |series_id, subscriber, from_seq, segments| SubscriptionView {
        series_id,
        subscriber,
        from_seq,
        segments,
    };
    let me = buyer.address();
    m.subscriptions.insert(10, sub(7, me, 1, 5));
    m.subscriptions
        .insert(11, sub(7, Address::repeat_byte(0x77), 0, 5));
    m.subscriptions.insert(12, sub(8, me, 0, 2));
    m.subscriptions.insert(13, sub(7, me, 0, 1));
}

fn seg(series: u64, seq: u64) -> String {
    obj(&segment_object_key(OWNER, series, seq))
}

#[tokio::test]
async fn a_subscriber_reads_the_segments_its_subscription_covers() {
    let e = env(false).await;
    for seq in [1, 2] {
        let r = call(
            &e.app,
            "GET",
            &seg(7, seq),
            &[("authorization", token(&e.buyer, 7, 10))],
        )
        .await;
        assert_eq!(r.status, 200, "seq {seq}");
        assert_eq!(r.body, e.sealed);
    }
    // Ranged reads (what the SDK's downloader sends) work the same way.
    let r = call(
        &e.app,
        "GET",
        &seg(7, 2),
        &[
            ("authorization", token(&e.buyer, 7, 10)),
            ("range", "bytes=0-99".into()),
        ],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &e.sealed[..100]));
    // A cancel shrank subscription 13 to segment 0: that one is still readable.
    let r = call(
        &e.app,
        "GET",
        &seg(7, 0),
        &[("authorization", token(&e.buyer, 7, 13))],
    )
    .await;
    assert_eq!(r.status, 200);
    let log = read_access_log(&e.log).unwrap();
    assert!(log.iter().all(|l| l.allowed && l.route == "segment"));
    assert_eq!(log[0].dataset_id, Some(7));
    assert_eq!(log[0].purchase_id, Some(10));
}

#[tokio::test]
async fn segment_refusals_name_the_broken_rule_and_send_no_bytes() {
    let e = env(false).await;
    let stranger = PrivateKeySigner::random();
    let foreign_owner = format!(
        "/v1/objects/{}",
        segment_object_key(Address::repeat_byte(0x0b), 7, 1)
    );
    let cases: Vec<(String, String, u16, &str)> = vec![
        // Not the subscriber: someone else's subscription, or no subscription at all.
        (seg(7, 1), token(&e.buyer, 7, 11), 403, "not_subscriber"),
        (seg(7, 1), token(&stranger, 7, 10), 403, "not_subscriber"),
        (
            seg(7, 1),
            token(&e.buyer, 7, 99),
            403,
            "no_such_subscription",
        ),
        // The subscription does not cover the seq: before its range, or cut off by a cancel.
        (
            seg(7, 0),
            token(&e.buyer, 7, 10),
            403,
            "segment_not_covered",
        ),
        (
            seg(7, 1),
            token(&e.buyer, 7, 13),
            403,
            "segment_not_covered",
        ),
        // Covered but not appended (an upload of a streamer that has not appended it yet).
        (
            seg(7, 3),
            token(&e.buyer, 7, 10),
            403,
            "segment_not_appended",
        ),
        // Withdrawn series: nothing more, even for a paid subscription.
        (seg(8, 0), token(&e.buyer, 8, 12), 403, "series_withdrawn"),
        // A token for another series (or a dataset token) does not open this one.
        (seg(7, 1), token(&e.buyer, 8, 12), 403, "wrong_series"),
        (seg(7, 1), token(&e.buyer, 1, 1), 403, "wrong_series"),
        (seg(8, 0), token(&e.buyer, 8, 10), 403, "wrong_series"),
        // The key names another owner: not this series' object.
        (foreign_owner, token(&e.buyer, 7, 10), 403, "wrong_object"),
        // Not a canonical segment key.
        (
            "/v1/objects/series/x/7/1.phd".into(),
            token(&e.buyer, 7, 10),
            400,
            "bad_key",
        ),
        (
            obj(&format!("series/{OWNER:#x}/7/1.phd")),
            token(&e.buyer, 7, 10),
            400,
            "bad_key",
        ),
    ];
    for (uri, auth, status, code) in &cases {
        let r = call(&e.app, "GET", uri, &[("authorization", auth.clone())]).await;
        assert_eq!((r.status, r.code().as_str()), (*status, *code), "{uri}");
        assert_ne!(r.body, e.sealed);
    }
    // No token at all.
    let r = call(&e.app, "GET", &seg(7, 1), &[]).await;
    assert_eq!((r.status, r.code().as_str()), (401, "missing_token"));
    // A segment token does not open a dataset object (purchase 10 does not exist).
    let r = call(
        &e.app,
        "GET",
        &obj(super::KEY),
        &[("authorization", token(&e.buyer, 7, 10))],
    )
    .await;
    assert_eq!(r.status, 403);
    let log = read_access_log(&e.log).unwrap();
    assert_eq!(log.len(), cases.len() + 2);
    assert!(log.iter().all(|l| !l.allowed && l.bytes == 0));
}

#[tokio::test]
async fn a_down_chain_is_503_for_segments() {
    let e = env(true).await;
    let r = call(
        &e.app,
        "GET",
        &seg(7, 1),
        &[("authorization", token(&e.buyer, 7, 10))],
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (503, "chain_unavailable"));
}
