//! Series certification end to end: the owner streams BasicMotions rows into a series behind
//! its gateway, grants the devnet's in-process validator access (`phd-sdk` series grant, as
//! `phd-user series-grant`), the keepers release the segments to the validator, which follows
//! them, scores each with the quality model and certifies the series on-chain with a real
//! rolling score and the hash of a report it serves. The owner's own account, registered as a
//! staked validator and holding a grant with every segment released, is refused by name.

use std::time::Duration;

use alloy::primitives::U256;
use phd_chain::{BlockRange, NodeRole, Purpose, keys::sign_key_proof, phd};
use phd_e2e::stack::{Stack, wait_for};
use phd_sdk::{
    ClientCtx,
    stream::{SegmentBy, StreamOptions, stream},
};

use crate::e2e_series::{append, basic_motions_rows};

/// One quality-model window (100 samples at 10 Hz) per segment.
const ROWS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validator_certifies_a_granted_series_and_the_owner_cannot() {
    let stack = Stack::start_with(|c| c.validator = true).await.unwrap();
    let d = &stack.devnet;
    let owner = d.user_client().await.unwrap();
    let owner_ctx = ClientCtx::new(owner.clone(), Some(d.store().await.unwrap()));
    let price = phd(1);
    let sid = stack.create_series(price).await.unwrap();
    let series_id = U256::from(sid);

    // The validator is granted segments 0..2 before they exist.
    let validator = d.accounts.validator.address();
    let validator_pk = phd_chain::pubkey64(&d.accounts.validator);
    let grant = phd_sdk::series_cert::grant_series(
        &owner_ctx,
        sid,
        validator,
        &validator_pk,
        Some(0),
        2,
        Purpose::Research,
    )
    .await
    .unwrap();
    assert_eq!(grant.escrow_wei, (price * U256::from(2u64)).to_string());

    // A grant with someone else's key is refused before any transaction.
    let wrong = phd_sdk::series_cert::grant_series(
        &owner_ctx,
        sid,
        validator,
        &owner.pubkey64(),
        Some(0),
        2,
        Purpose::Research,
    )
    .await;
    assert!(wrong.is_err(), "a key that is not the grantee's");

    // Two segments streamed behind the owner's gateway (the validator holds no storage key).
    let work = stack.work();
    let source = work.join("wearable.csv");
    append(
        &source,
        &["time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z".to_string()],
    );
    // The first test recording is one the model drops (no valid window); the next ones are kept.
    append(&source, &basic_motions_rows(3 * ROWS + 1)[ROWS..]);
    let out = stream(
        &owner_ctx,
        &StreamOptions {
            series_id: sid,
            source: source.clone(),
            state_file: work.join("stream-state.json"),
            segment_by: SegmentBy::Rows(ROWS),
            pseudonym_key: b"series certification e2e key".to_vec(),
            policy: phd_ingest::PseudonymisePolicy::default(),
            poll: Duration::from_millis(50),
            max_segments: Some(2),
            gateway: d.gateway_url.clone(),
            pseudonymised_out: None,
            quality: None,
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(out.segments, vec![0, 1]);

    // The validator certifies through segment 1 (one certificate per segment by default).
    let cert = wait_for(
        "the validator's certificate through segment 1",
        Duration::from_secs(180),
        || async {
            Ok(owner
                .current_series_certificate(series_id, validator)
                .await?
                .filter(|c| c.throughSeq == 1))
        },
    )
    .await
    .unwrap();
    assert_eq!(cert.subscriptionId, grant.subscription_id);
    let status = phd_sdk::series_cert::series_status(&owner_ctx, sid)
        .await
        .unwrap();
    let c = status.certification.clone().expect("deployed");
    assert_eq!(
        c.certificates, 2,
        "segment 0, then the rolling one through 1"
    );
    assert_eq!(c.current.len(), 1);

    // The report behind the hash is served by the validator and hashes to it.
    let bytes = reqwest::get(&c.current[0].report_uri)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        format!("{:#x}", alloy::primitives::keccak256(&bytes)),
        c.current[0].report_hash
    );
    let report: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(report["through_seq"], 1);
    assert_eq!(report["window"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["score_bps"], cert.scoreBps);
    // A real score of the model (not a placeholder): every segment scored, the mean on-chain.
    let window = report["window"].as_array().unwrap();
    assert!(
        window
            .iter()
            .all(|w| w["samples"] == ROWS && w["windows_total"] == 1),
        "{report}"
    );
    assert!(
        cert.scoreBps > 5_000,
        "clean BasicMotions rows score high: {report}"
    );
    assert!(c.certified, "k = 1 on the devnet: {}", status.to_text());

    // A subscriber finds the certified series: the SDK catalog, its filters, and the page.
    let certified = phd_sdk::series_cert::browse_series(
        &owner_ctx,
        &phd_sdk::series_cert::SeriesFilter {
            certified: true,
            purpose: Some(Purpose::Research),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        certified.iter().map(|v| v.series_id).collect::<Vec<_>>(),
        vec![sid]
    );
    assert_eq!(certified[0].segments, 2);
    let too_cheap = phd_sdk::series_cert::browse_series(
        &owner_ctx,
        &phd_sdk::series_cert::SeriesFilter {
            max_price_per_segment: Some(price - U256::from(1u64)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(too_cheap.is_empty(), "the price filter");
    web_shows_the_certification(
        owner_ctx.clone(),
        sid,
        cert.scoreBps,
        &c.current[0].report_uri,
    )
    .await;

    // The grant scan is the reorg-aware cursor: it remembers the scanned blocks' hashes, and
    // they are this chain's (a reorganisation would show as a mismatch and rewind the scan).
    let series_state = phd_validator::series::load_state(&d.state_dir.join("validator")).unwrap();
    let &(newest, newest_hash) = series_state
        .scanned_blocks
        .last()
        .expect("the series grant cursor remembers scanned blocks");
    assert_eq!(series_state.next_block, Some(newest + 1));
    assert_eq!(owner.block_hash(newest).await.unwrap(), Some(newest_hash));

    // The owner's own account as a staked validator, granted and released every segment, is
    // refused by name: it is not independent of its series.
    let secret: [u8; 32] = d.accounts.user.to_bytes().into();
    let proof = sign_key_proof(
        &secret,
        owner.key_proof_digest(owner.address()).await.unwrap(),
    )
    .unwrap();
    owner
        .register_node(
            NodeRole::Validator,
            &phd_chain::pubkey_compressed(&d.accounts.user),
            "http://127.0.0.1:1",
            phd(100),
            &proof,
        )
        .await
        .unwrap();
    let own = phd_sdk::series_cert::grant_series(
        &owner_ctx,
        sid,
        owner.address(),
        &owner.pubkey64(),
        Some(0),
        2,
        Purpose::Research,
    )
    .await
    .unwrap();
    wait_for(
        "keepers releasing both segments to the owner's grant",
        Duration::from_secs(120),
        || async {
            Ok(
                Some(owner.subscription(U256::from(own.subscription_id)).await?)
                    .filter(|s| s.charged == 2),
            )
        },
    )
    .await
    .unwrap();
    let refused = owner
        .certify_series(&phd_chain::SeriesCertifyParams {
            series_id,
            subscription_id: own.subscription_id,
            through_seq: 1,
            score_bps: 10_000,
            model_id: alloy::primitives::B256::ZERO,
            report_hash: alloy::primitives::B256::ZERO,
            report_uri: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.revert().map(|r| r.name()).as_deref(),
        Some("SeriesCertificationValidatorNotIndependent"),
        "{refused}"
    );
    let events = owner
        .series_certifications(Some(series_id), Some(owner.address()), BlockRange::all())
        .await
        .unwrap();
    assert!(events.is_empty());

    stack.stop().await;
}

/// The page and the API list the series as certified, show the validator's certificate, and
/// answer bad requests with 4xx.
async fn web_shows_the_certification(
    reader: ClientCtx,
    sid: u64,
    score_bps: u16,
    report_uri: &str,
) {
    use tower::ServiceExt as _;
    let app = phd_web::router(
        phd_web::AppState::new(phd_web::WebConfig {
            buyer: None,
            owner: Some(reader),
            download_dir: std::env::temp_dir(),
            share_timeout: Duration::from_secs(1),
            listing_ttl: Duration::ZERO,
        })
        .unwrap(),
    );
    let get = |uri: String| {
        let app = app.clone();
        async move {
            let r = app
                .oneshot(
                    axum::http::Request::get(uri)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, body) = get("/api/series?certified=1".into()).await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["series_id"], sid, "{body}");
    assert_eq!(list[0]["certification"]["certified"], true, "{body}");
    let (status, body) = get("/series".into()).await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!(r#"<a href="/series/{sid}">"#)),
        "{body}"
    );
    assert!(body.contains("certified (1/1)"), "{body}");
    let (status, body) = get(format!("/series/{sid}")).await;
    assert_eq!(status, 200);
    let score = format!("{:.2}", f64::from(score_bps) / 10_000.0);
    assert!(
        body.contains(&score),
        "the certificate's score {score}: {body}"
    );
    assert!(
        body.contains(&format!("phd-customer follow {sid}")),
        "{body}"
    );
    // The validator's http report is linked (a non-http one would be shown as text only).
    assert!(
        body.contains(&format!(r#"<a href="{report_uri}""#)),
        "{body}"
    );
    for (uri, want) in [
        (format!("/api/series/{}", sid + 100), 404),
        ("/api/series/0".into(), 400),
        ("/api/series?purpose=gossip".into(), 400),
        ("/series?max_price=lots".into(), 400),
    ] {
        let (status, body) = get(uri.clone()).await;
        assert_eq!(status, want, "{uri}: {body}");
    }
}
