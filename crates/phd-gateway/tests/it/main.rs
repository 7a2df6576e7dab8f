//! Handler tests: every route against the real embedded S3 server over HTTP (a fresh bucket per
//! test) and an in-memory ledger standing in for the chain's purchase/dataset views (the
//! multi-process e2e in `tests/` runs the gateway against real anvil). Bad input is always a
//! 4xx with `{"error","code"}`, never a 500, and never bytes of the object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256},
    signers::local::PrivateKeySigner,
};
use axum::{body::Body, http::Request};
use http_body_util::BodyExt as _;
use phd_chain::{DatasetStatus, Deployment, PurchaseStatus};
use phd_gateway::{
    DatasetView, Gateway, GatewayConfig, Ledger, LedgerError, PurchaseView, SeriesView,
    SubscriptionView, read_access_log, router,
};
use phd_protocol::gateway::{AccessToken, GatewayDomain, Manifest, gateway_object_uri};
use phd_storage::{
    Store,
    server::{EmbeddedS3, ServerCredentials},
};
use tower::ServiceExt as _;

mod segments;

const GW: &str = "http://gateway.test:8600";
const KEY: &str = "datasets/a.phd";

#[derive(Debug, Default)]
struct Memory {
    purchases: HashMap<u64, PurchaseView>,
    datasets: HashMap<u64, DatasetView>,
    series: HashMap<u64, SeriesView>,
    subscriptions: HashMap<u64, SubscriptionView>,
    down: bool,
}

#[async_trait::async_trait]
impl Ledger for Memory {
    async fn purchase(&self, id: u64) -> Result<Option<PurchaseView>, LedgerError> {
        if self.down {
            return Err(LedgerError {
                op: "getPurchase",
                source: "node down".into(),
            });
        }
        Ok(self.purchases.get(&id).cloned())
    }
    async fn dataset(&self, id: u64) -> Result<Option<DatasetView>, LedgerError> {
        Ok(self.datasets.get(&id).cloned())
    }
    async fn series(&self, id: u64) -> Result<Option<SeriesView>, LedgerError> {
        Ok(self.series.get(&id).cloned())
    }
    async fn subscription(&self, id: u64) -> Result<Option<SubscriptionView>, LedgerError> {
        if self.down {
            return Err(LedgerError {
                op: "subscription",
                source: "node down".into(),
            });
        }
        Ok(self.subscriptions.get(&id).cloned())
    }
}

struct Env {
    _dir: tempfile::TempDir,
    _server: EmbeddedS3,
    app: axum::Router,
    gateway: Arc<Gateway>,
    buyer: PrivateKeySigner,
    sealed: Vec<u8>,
    log: std::path::PathBuf,
}

fn deployment() -> Deployment {
    Deployment {
        chain_id: 31337,
        coin: Address::repeat_byte(1),
        keeper_registry: Address::repeat_byte(2),
        data_registry: Address::repeat_byte(3),
        marketplace: Address::repeat_byte(4),
        series_market: Address::repeat_byte(5),
        series_certification: Address::ZERO,
        deployed_at_block: 0,
        deployer: Address::ZERO,
        params: None,
        code_hashes: Default::default(),
    }
}

/// Dataset 1 at `KEY` (active), purchase 1 by `buyer` (Open), purchase 2 refunded, dataset 2
/// withdrawn with purchase 3, dataset 3 stored elsewhere with purchase 4.
async fn env(down: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedS3::start(
        dir.path().join("s3"),
        ServerCredentials::new("gw-access", "gw-secret-0123456789"),
    )
    .await
    .unwrap();
    let store = Store::connect(server.client_config("gw-bucket"))
        .await
        .unwrap();
    store.ensure_bucket().await.unwrap();
    let plain: Vec<u8> = (0..200_000u32)
        .flat_map(|i| (i * 7).to_le_bytes())
        .collect();
    let mut sealed = Vec::new();
    let opts = phd_seal::SealOptions {
        chunk_size: 64 << 10,
        ..Default::default()
    };
    phd_seal::seal(
        phd_seal::SealingKey::generate().unwrap(),
        &plain[..],
        &mut sealed,
        &opts,
    )
    .unwrap();
    store.put_bytes(KEY, sealed.clone()).await.unwrap();
    store
        .put_bytes("datasets/garbage.phd", vec![7u8; 500])
        .await
        .unwrap();
    store
        .put_bytes("private/other.bin", vec![1u8; 10])
        .await
        .unwrap();

    let buyer = PrivateKeySigner::random();
    let uri = gateway_object_uri(GW, KEY);
    let mut m = Memory {
        down,
        ..Default::default()
    };
    let p = |dataset_id, status| PurchaseView {
        dataset_id,
        buyer: buyer.address(),
        status,
    };
    m.purchases.insert(1, p(1, PurchaseStatus::Open));
    m.purchases.insert(2, p(1, PurchaseStatus::Refunded));
    m.purchases.insert(3, p(2, PurchaseStatus::Settled));
    m.purchases.insert(4, p(3, PurchaseStatus::Open));
    m.purchases.insert(5, p(4, PurchaseStatus::Open));
    m.datasets.insert(
        1,
        DatasetView {
            status: DatasetStatus::Active,
            storage_uri: uri.clone(),
        },
    );
    m.datasets.insert(
        2,
        DatasetView {
            status: DatasetStatus::Withdrawn,
            storage_uri: uri.clone(),
        },
    );
    m.datasets.insert(
        3,
        DatasetView {
            status: DatasetStatus::Active,
            storage_uri: gateway_object_uri(GW, "datasets/b.phd"),
        },
    );
    m.datasets.insert(
        4,
        DatasetView {
            status: DatasetStatus::Active,
            storage_uri: gateway_object_uri(GW, "datasets/gone.phd"),
        },
    );
    segments::populate(&mut m, &store, &buyer, &sealed).await;
    let log = dir.path().join("log/access.jsonl");
    let mut cfg = GatewayConfig::new(
        "http://unused".into(),
        deployment(),
        server.client_config("gw-bucket"),
        GW.into(),
        log.clone(),
    );
    cfg.auth_cache = Duration::ZERO;
    let gateway = Gateway::with_ledger(cfg, Arc::new(m), store).unwrap();
    let app = router(gateway.clone());
    Env {
        _dir: dir,
        _server: server,
        app,
        gateway,
        buyer,
        sealed,
        log,
    }
}

fn domain() -> GatewayDomain {
    GatewayDomain {
        chain_id: 31337,
        marketplace: Address::repeat_byte(4),
        gateway: GW.into(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(s: &PrivateKeySigner, dataset: u64, purchase: u64) -> String {
    AccessToken::sign(
        s,
        domain(),
        dataset,
        purchase,
        now() + 120,
        B256::with_last_byte(9),
    )
    .unwrap()
    .to_header()
}

struct Reply {
    status: u16,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        v["code"].as_str().unwrap().to_owned()
    }
}

async fn call(app: &axum::Router, method: &str, uri: &str, headers: &[(&str, String)]) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    assert_ne!(status, 500, "a 500 for {method} {uri}");
    Reply {
        status,
        headers,
        body,
    }
}

fn obj(key: &str) -> String {
    format!("/v1/objects/{key}")
}

#[tokio::test]
async fn buyer_reads_whole_object_ranges_and_head() {
    let e = env(false).await;
    let auth = ("authorization", token(&e.buyer, 1, 1));
    let r = call(&e.app, "GET", &obj(KEY), std::slice::from_ref(&auth)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, e.sealed);
    assert_eq!(r.headers["accept-ranges"], "bytes");

    let len = e.sealed.len();
    let r = call(
        &e.app,
        "GET",
        &obj(KEY),
        &[auth.clone(), ("range", "bytes=10-109".into())],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, e.sealed[10..110]);
    assert_eq!(r.headers["content-range"], format!("bytes 10-109/{len}"));
    let r = call(
        &e.app,
        "GET",
        &obj(KEY),
        &[auth.clone(), ("range", "bytes=-16".into())],
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &e.sealed[len - 16..]));

    let r = call(&e.app, "HEAD", &obj(KEY), std::slice::from_ref(&auth)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.headers["content-length"], len.to_string());

    // Settled purchases (and grants, which are purchases) keep access; a bad range is 4xx.
    let r = call(
        &e.app,
        "GET",
        &obj(KEY),
        &[auth.clone(), ("range", "bytes=5-1".into())],
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_range"));
    let r = call(
        &e.app,
        "GET",
        &obj(KEY),
        &[auth.clone(), ("range", "bytes=0-1,4-5".into())],
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_range"));
    let r = call(
        &e.app,
        "GET",
        &obj(KEY),
        &[auth, ("range", format!("bytes={len}-"))],
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (416, "range_not_satisfiable")
    );
    assert_eq!(r.headers["content-range"], format!("bytes */{len}"));

    let log = read_access_log(&e.log).unwrap();
    assert_eq!(log.len(), 7);
    assert!(
        log[0].allowed
            && log[0].account == Some(e.buyer.address())
            && log[0].purchase_id == Some(1)
    );
    assert_eq!(log[1].range.as_deref(), Some("10-109"));
    assert_eq!(log[1].bytes, 100);
    assert!(!log[4].allowed && log[4].code.as_deref() == Some("bad_range"));
    assert_eq!(e.gateway.access_log().path(), e.log);
}

#[tokio::test]
async fn token_problems_are_401_and_chain_refusals_403_without_bytes() {
    let e = env(false).await;
    let stranger = PrivateKeySigner::random();
    let expired = AccessToken::sign(&e.buyer, domain(), 1, 1, now() - 1, B256::ZERO)
        .unwrap()
        .to_header();
    let too_long = AccessToken::sign(&e.buyer, domain(), 1, 1, now() + 3600, B256::ZERO)
        .unwrap()
        .to_header();
    let other_gw = GatewayDomain {
        gateway: "http://elsewhere:1".into(),
        ..domain()
    };
    let replayed = AccessToken::sign(&e.buyer, other_gw, 1, 1, now() + 60, B256::ZERO)
        .unwrap()
        .to_header();
    let other_chain = GatewayDomain {
        chain_id: 1,
        ..domain()
    };
    let mainnet = AccessToken::sign(&e.buyer, other_chain, 1, 1, now() + 60, B256::ZERO)
        .unwrap()
        .to_header();
    let mut forged = AccessToken::sign(&stranger, domain(), 1, 1, now() + 60, B256::ZERO).unwrap();
    forged.account = e.buyer.address();
    let cases: Vec<(Option<String>, u16, &str)> = vec![
        (None, 401, "missing_token"),
        (Some("Bearer x".into()), 401, "malformed_token"),
        (Some("PHD-Access ###".into()), 401, "malformed_token"),
        (Some(expired), 401, "expired_token"),
        (Some(too_long), 401, "expiry_too_far"),
        (Some(replayed), 401, "wrong_domain"),
        (Some(mainnet), 401, "wrong_domain"),
        (Some(forged.to_header()), 401, "bad_signature"),
        (Some(token(&stranger, 1, 1)), 403, "not_buyer"),
        (Some(token(&e.buyer, 1, 99)), 403, "no_such_purchase"),
        (Some(token(&e.buyer, 1, 2)), 403, "purchase_not_active"),
        (Some(token(&e.buyer, 2, 1)), 403, "wrong_dataset"),
        (Some(token(&e.buyer, 2, 3)), 403, "dataset_withdrawn"),
        (Some(token(&e.buyer, 3, 4)), 403, "wrong_object"),
    ];
    for (auth, status, code) in cases {
        let headers: Vec<(&str, String)> =
            auth.iter().map(|a| ("authorization", a.clone())).collect();
        for method in ["GET", "HEAD"] {
            let r = call(&e.app, method, &obj(KEY), &headers).await;
            assert_eq!(r.status, status, "{method} {code}");
            if method == "GET" {
                assert_eq!(r.code(), code);
                assert!(
                    !r.body
                        .windows(16)
                        .any(|w| e.sealed.windows(16).next() == Some(w)),
                    "object bytes leaked"
                );
            }
        }
    }
    let log = read_access_log(&e.log).unwrap();
    assert!(log.iter().all(|r| !r.allowed && r.bytes == 0));
    assert!(
        log.iter()
            .any(|r| r.code.as_deref() == Some("not_buyer") && r.account.is_some())
    );
}

#[tokio::test]
async fn bad_keys_missing_objects_and_a_down_chain_are_4xx_or_503() {
    let e = env(false).await;
    let auth = ("authorization", token(&e.buyer, 4, 5));
    let r = call(
        &e.app,
        "GET",
        &obj("datasets/gone.phd"),
        std::slice::from_ref(&auth),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (404, "object_missing"));
    let r = call(
        &e.app,
        "GET",
        &obj("private/other.bin"),
        std::slice::from_ref(&auth),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_served"));
    for bad in ["datasets/a/../x", "datasets//x", "datasets/%2e%2e/x"] {
        let r = call(&e.app, "GET", &obj(bad), std::slice::from_ref(&auth)).await;
        assert!(r.status == 400 || r.status == 404, "{bad}: {}", r.status);
    }
    let r = call(&e.app, "GET", "/nope", &[]).await;
    assert_eq!((r.status, r.code().as_str()), (404, "no_route"));
    let r = call(&e.app, "POST", &obj(KEY), &[]).await;
    assert_eq!(r.status, 405);

    let down = env(true).await;
    let r = call(
        &down.app,
        "GET",
        &obj(KEY),
        &[("authorization", token(&down.buyer, 1, 1))],
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (503, "chain_unavailable"));
}

#[tokio::test]
async fn manifest_is_public_and_recomputes_the_root() {
    let e = env(false).await;
    let r = call(&e.app, "GET", &format!("/v1/manifest/{KEY}"), &[]).await;
    assert_eq!(r.status, 200);
    let m = Manifest::decode(&r.body).unwrap();
    assert_eq!(m.object_len, e.sealed.len() as u64);
    assert!(
        m.tail.len() < e.sealed.len() / 10,
        "the manifest carries no chunk data"
    );
    let info = phd_seal::inspect_parts(m.object_len, &m.head, &m.tail).unwrap();
    assert_eq!(info.root, phd_seal::inspect(&e.sealed).unwrap().root);

    let r = call(&e.app, "GET", "/v1/manifest/datasets/garbage.phd", &[]).await;
    assert_eq!((r.status, r.code().as_str()), (422, "not_sealed"));
    let r = call(&e.app, "GET", "/v1/manifest/datasets/gone.phd", &[]).await;
    assert_eq!((r.status, r.code().as_str()), (404, "object_missing"));
    let r = call(&e.app, "GET", "/v1/manifest/private/other.bin", &[]).await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_served"));
    let r = call(&e.app, "GET", "/health", &[]).await;
    assert_eq!(r.status, 200);
}
