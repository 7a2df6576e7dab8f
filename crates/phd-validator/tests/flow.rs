//! The validator on the devnet stack (anvil, contracts by phd-deploy, embedded S3, three
//! in-process keepers, t = 2): publish (phd-user) → request_validation → the validator retrieves
//! through the keepers' deliverShare, scores, reports, confirms the grant (a certificate needs a
//! settled grant), certifies → certificate with the shipped model id, reward paid to the owner
//! from the reward pool, report hash on-chain == keccak(report), browse shows it; a restart does
//! not certify twice; garbage datasets are rejected (report, no certificate). The validator is
//! staked (it registers with the minimum stake).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use phd_chain::{BlockRange, PurchaseStatus, Purpose, phd};
use phd_devnet::{Devnet, DevnetConfig};
use phd_sdk::ClientCtx;
use phd_sdk::browse::BrowseFilter;
use phd_user::UserCtx;
use phd_user::publish::PublishArgs;
use phd_validator::{
    Decision, JobRecord, JobState, Outcome, ValidationReport, ValidatorConfig, ValidatorError,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Running {
    endpoint: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ValidatorError>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let r = tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("validator stops");
        r.expect("join").expect("validator ran without error");
    }
}

async fn start_validator(
    devnet: &Devnet,
    signer: &PrivateKeySigner,
    data_dir: &Path,
) -> eyre::Result<Running> {
    let mut cfg = ValidatorConfig::new(
        data_dir,
        devnet.rpc_url.clone(),
        signer.clone(),
        devnet.deployment.clone(),
    );
    cfg.s3 = Some(devnet.s3.client_config());
    cfg.poll_interval = Duration::from_millis(200);
    cfg.share_timeout = Duration::from_secs(20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(phd_validator::run(cfg, listener, async move {
        let _ = rx.await;
    }));
    // ready when /health answers
    for _ in 0..300 {
        if task.is_finished() {
            let r = task.await?;
            return Err(eyre::eyre!("validator exited early: {r:?}"));
        }
        if phd_validator::fetch_health(&endpoint).await.is_ok() {
            return Ok(Running {
                endpoint,
                stop: Some(tx),
                task,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(eyre::eyre!("validator did not come up"))
}

async fn wait_report(endpoint: &str, id: u64, timeout: Duration) -> eyre::Result<Vec<u8>> {
    let start = std::time::Instant::now();
    loop {
        if let Some(b) = phd_validator::fetch_report(endpoint, id).await? {
            return Ok(b);
        }
        if start.elapsed() > timeout {
            return Err(eyre::eyre!("no report for dataset {id} after {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn jobs(endpoint: &str) -> eyre::Result<Vec<JobRecord>> {
    Ok(reqwest::get(format!("{endpoint}/jobs"))
        .await?
        .json()
        .await?)
}

async fn wait_job(
    endpoint: &str,
    id: u64,
    pred: impl Fn(&JobRecord) -> bool,
    timeout: Duration,
) -> eyre::Result<JobRecord> {
    let start = std::time::Instant::now();
    loop {
        if let Some(j) = jobs(endpoint)
            .await?
            .into_iter()
            .find(|j| j.dataset_id == id && pred(j))
        {
            return Ok(j);
        }
        if start.elapsed() > timeout {
            return Err(eyre::eyre!(
                "job {id} did not reach the expected state: {:?}",
                jobs(endpoint).await?
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn publish(user: &UserCtx, file: &Path, purposes: Vec<Purpose>) -> eyre::Result<u64> {
    let mut args = PublishArgs::new(file, phd(3), purposes);
    args.threshold = 2;
    args.keepers_n = 3;
    // Every devnet keeper listens on 127.0.0.1.
    args.allow_shared_hosts = true;
    args.ack_timeout = Duration::from_secs(60);
    let out = phd_user::publish::publish(user, &args, None, None).await?;
    assert!(out.acknowledged >= 2, "{out:?}");
    Ok(out.dataset_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_certifies_granted_data_and_rejects_garbage() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut cfg = DevnetConfig::for_tests(dir.path().join("devnet"));
    cfg.keepers = 3;
    cfg.threshold = 2;
    let mut devnet = Devnet::start(cfg).await?;
    let store = devnet.store().await?;
    // our own account (not the devnet's validator role), so a devnet-run validator cannot interfere
    let vsigner = phd_chain::AnvilSettings::load_default()?.signer(19)?;
    let vaddr = vsigner.address();
    let vdir = dir.path().join("validator");
    // The validator stakes at registration: fund it (the devnet funds only its own role accounts).
    devnet
        .customer_client()
        .await?
        .transfer_coin(vaddr, phd(200))
        .await?;
    let v = start_validator(&devnet, &vsigner, &vdir).await?;

    let health = phd_validator::fetch_health(&v.endpoint).await?;
    assert_eq!(health.address.parse::<Address>()?, vaddr);
    let shipped = phd_validator::load_model(&phd_quality::shipped_model_path())?.1;
    assert_eq!(health.model_id, format!("{shipped:#x}"));
    let owner_client = devnet.user_client().await?;
    let is_validator: bool = owner_client
        .keeper_registry()
        .isValidator(vaddr)
        .call()
        .await?;
    assert!(is_validator);
    let min_stake = owner_client.min_stake().await?;
    assert_eq!(
        owner_client.stake_of(vaddr).await?.amount,
        min_stake,
        "staked the minimum"
    );
    let h: serde_json::Value = reqwest::get(format!("{}/health", v.endpoint))
        .await?
        .json()
        .await?;
    assert_eq!(h["stake"], min_stake.to_string());
    // Issue 10: the owner pays the keepers' delivery fees of every grant (t × deliveryFee).
    let grant_fee = owner_client.delivery_fee().await? * U256::from(2u8);

    let user = UserCtx::new(
        owner_client.clone(),
        Some(store.clone()),
        dir.path().join("user-state"),
    );
    let owner = user.owner();

    // -- a good dataset: BasicMotions TEST (40 recordings, acc+gyro) ---------------------------
    let ts = phd_quality::default_data_dir().join("BasicMotions_TEST.ts");
    let id = publish(&user, &ts, vec![Purpose::Research, Purpose::Validation]).await?;
    let reward: U256 = owner_client
        .data_registry()
        .CERTIFICATION_REWARD()
        .call()
        .await?;
    let before = owner_client.balance_of(owner).await?;

    let req = phd_validator::request_validation(&owner_client, id, &v.endpoint).await?;
    assert_eq!(req.validator, vaddr);
    assert!(req.tx_hash.is_some());
    let cert =
        phd_validator::wait_for_certification(&owner_client, id, Duration::from_secs(180)).await?;
    assert_eq!(cert.validator, vaddr);
    assert_eq!(cert.model_id, format!("{shipped:#x}"));
    assert!(
        cert.score_bps > 5_000,
        "clean BasicMotions data should score high: {cert:?}"
    );
    let after = owner_client.balance_of(owner).await?;
    assert_eq!(
        after + grant_fee - before,
        reward,
        "certification pays CERTIFICATION_REWARD to the owner"
    );
    // Certified only after the grant settled, from the reward pool.
    assert!(owner_client.access_granted(U256::from(id), vaddr).await?);
    let summary = owner_client.certification_summary(U256::from(id)).await?;
    assert!(summary.certified, "{summary:?}");
    assert_eq!(summary.counted, U256::from(1));
    assert_eq!(
        owner_client
            .certification_history(U256::from(id))
            .await?
            .len(),
        1
    );

    // the report: served over HTTP and in S3, keccak == on-chain reportHash
    let bytes = phd_validator::fetch_report(&v.endpoint, id)
        .await?
        .expect("report served");
    assert_eq!(
        format!("{:#x}", phd_validator::report_hash(&bytes)),
        cert.report_hash
    );
    assert_eq!(
        cert.report_uri,
        format!("s3://{}/reports/{id}.json", devnet.s3.bucket)
    );
    assert_eq!(
        std::fs::read(devnet.s3.object_path(&format!("reports/{id}.json")))?,
        bytes
    );
    let rep: ValidationReport = serde_json::from_slice(&bytes)?;
    assert_eq!(rep.dataset_id, Some(id));
    assert_eq!(rep.decision, Decision::Certify);
    assert_eq!(rep.result.outcome, Outcome::Scored);
    assert_eq!(rep.result.score_bps, cert.score_bps);
    assert_eq!(rep.result.windows_total, 40);
    let d = owner_client.dataset(U256::from(id)).await?;
    assert_eq!(rep.content_root, Some(format!("{:#x}", d.contentRoot)));
    assert!(rep.result.classes.len() >= 3, "{:?}", rep.result.classes);

    // browse (phd-sdk) shows it certified, with the score
    let buyer = ClientCtx::new(devnet.customer_client().await?, Some(store.clone()));
    let listings = phd_sdk::browse::browse(
        &buyer,
        &BrowseFilter {
            certified: true,
            ..Default::default()
        },
    )
    .await?;
    let l = listings
        .iter()
        .find(|l| l.dataset_id == id)
        .expect("certified listing");
    assert_eq!(l.certified_by, Some(vaddr));
    assert_eq!(l.certified_score_bps, Some(cert.score_bps));

    // the zero-price grant gets confirmed (settled)
    let job = wait_job(
        &v.endpoint,
        id,
        |j| j.confirmed.contains(&req.purchase_id),
        Duration::from_secs(30),
    )
    .await?;
    assert_eq!(job.state, JobState::Certified);
    let p = owner_client
        .get_purchase(U256::from(req.purchase_id))
        .await?;
    assert_eq!(PurchaseStatus::from(p.status), PurchaseStatus::Settled);

    // asking again reuses the grant
    let again = phd_validator::request_validation(&owner_client, id, &v.endpoint).await?;
    assert_eq!(again.purchase_id, req.purchase_id);
    assert!(again.tx_hash.is_none());

    // restart: same data dir, no second certificate
    v.stop().await;
    let v = start_validator(&devnet, &vsigner, &vdir).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let certs = owner_client
        .certifications(Some(U256::from(id)), Some(vaddr), BlockRange::all())
        .await?;
    assert_eq!(certs.len(), 1, "certified exactly once");
    assert_eq!(
        phd_validator::fetch_report(&v.endpoint, id).await?,
        Some(bytes)
    );

    // -- garbage: a flat-lined accelerometer (scored 0) and a file the model cannot read ------
    let flat = dir.path().join("flat.csv");
    let mut s = String::from("time,acc_x,acc_y,acc_z\n");
    for i in 0..600 {
        s.push_str(&format!("{:.1},0.5,0.5,9.81\n", f64::from(i) / 10.0));
    }
    std::fs::write(&flat, s)?;
    let hr = dir.path().join("heart.csv");
    let mut s = String::from("time,heart_rate\n");
    for i in 0..300 {
        s.push_str(&format!("{i},{}\n", 60 + i % 7));
    }
    std::fs::write(&hr, s)?;
    let flat_id = publish(&user, &flat, vec![Purpose::Validation]).await?;
    let hr_id = publish(&user, &hr, vec![Purpose::Validation]).await?;
    let before = owner_client.balance_of(owner).await?;
    phd_validator::request_validation(&owner_client, flat_id, &v.endpoint).await?;
    phd_validator::request_validation(&owner_client, hr_id, &v.endpoint).await?;
    for (gid, outcome) in [(flat_id, Outcome::Scored), (hr_id, Outcome::Unscorable)] {
        let job = wait_job(
            &v.endpoint,
            gid,
            |j| j.state.is_final(),
            Duration::from_secs(180),
        )
        .await?;
        assert_eq!(job.state, JobState::Rejected, "{job:?}");
        let b = wait_report(&v.endpoint, gid, Duration::from_secs(5)).await?;
        let r: ValidationReport = serde_json::from_slice(&b)?;
        assert_eq!(r.decision, Decision::Reject, "{r:?}");
        assert_eq!(r.result.outcome, outcome, "{r:?}");
        assert!(r.result.score_bps < r.min_certify_bps);
        assert!(
            phd_validator::certification(&owner_client, gid)
                .await?
                .is_none()
        );
    }
    // No reward for rejected data: the owner only paid the two grants' delivery fees.
    assert_eq!(
        owner_client.balance_of(owner).await?,
        before - grant_fee * U256::from(2u8),
        "no reward for rejected data"
    );

    v.stop().await;
    devnet.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn corrupt_model_is_a_clear_error_at_start() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let model = dir.path().join("model.bin");
    let mut bytes = std::fs::read(phd_quality::shipped_model_path())?;
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&model, &bytes)?;
    let deployment = phd_chain::Deployment {
        chain_id: 31337,
        coin: Address::ZERO,
        keeper_registry: Address::ZERO,
        data_registry: Address::ZERO,
        marketplace: Address::ZERO,
        series_market: Address::ZERO,
        series_certification: Address::ZERO,
        deployed_at_block: 0,
        deployer: Address::ZERO,
        params: None,
        code_hashes: Default::default(),
    };
    let mut cfg = ValidatorConfig::new(
        dir.path().join("v"),
        "http://127.0.0.1:9",
        PrivateKeySigner::random(),
        deployment,
    );
    for (content, what) in [
        (bytes.clone(), "truncated"),
        (b"not a model".to_vec(), "garbage"),
    ] {
        std::fs::write(&model, &content)?;
        cfg.model_path = model.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let err = phd_validator::run(cfg.clone(), listener, std::future::pending())
            .await
            .unwrap_err();
        assert!(matches!(err, ValidatorError::Model { .. }), "{what}: {err}");
        assert!(err.to_string().contains("model.bin"), "{what}: {err}");
    }
    cfg.model_path = dir.path().join("missing.bin");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let err = phd_validator::run(cfg, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ValidatorError::Model { .. }), "{err}");
    Ok(())
}

#[test]
fn offline_scoring_of_canonical_csv() {
    let (model, id) = phd_validator::load_model(&phd_quality::shipped_model_path()).unwrap();
    let table = phd_quality::read_basic_motions(
        &phd_quality::default_data_dir().join("BasicMotions_TEST.ts"),
    )
    .unwrap();
    let csv = phd_ingest::canonical_csv_bytes(&table).unwrap();
    let s = phd_validator::score_plaintext(&model, &csv);
    assert_eq!(s.outcome, Outcome::Scored);
    assert_eq!(s.model_id, format!("{id:#x}"));
    assert_eq!(s.windows_total, 40);
    assert!(s.score_bps > 5_000, "{s:?}");
    for junk in [
        &b""[..],
        b"\x00\x01\x02garbage",
        b"time,acc_x\n1,2\n",
        b"a,b,c\n1,2,3\n",
    ] {
        let s = phd_validator::score_plaintext(&model, junk);
        assert_eq!(s.outcome, Outcome::Unscorable, "{s:?}");
        assert_eq!(s.score_bps, 0);
        assert!(s.error.is_some());
        let r = ValidationReport::offline(s, 1000);
        assert_eq!(r.decision, Decision::Reject);
    }
}
