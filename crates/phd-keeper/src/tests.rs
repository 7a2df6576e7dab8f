//! Service tests against an in-memory chain (the anvil tests live in `tests/`).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use phd_keys::{DatasetSecret, EncryptionSecretKey, KeyShare};

use crate::{
    FailPoint, KeeperConfig, KeeperError, Misbehaviour,
    chain::{
        ChainEvent, ChainFailure, DatasetStatus, DatasetView, KeeperChain, NodeView,
        PurchaseStatus, PurchaseView, Revert,
    },
};
use phd_protocol::{keeper_share_aad as keeper_aad, upload_message};

const CHAIN_ID: u64 = 31337;

struct MockDataset {
    owner: Address,
    status: DatasetStatus,
    commitments: Vec<Bytes>,
    my_index: u8,
}

/// The registry's key-proof digest in the mock chain.
const DIGEST: B256 = B256::repeat_byte(0x5d);

#[derive(Default)]
struct MockState {
    block: u64,
    datasets: HashMap<U256, MockDataset>,
    acks: HashSet<U256>,
    ack_txs: u32,
    node: Option<NodeView>,
    purchases: HashMap<U256, PurchaseView>,
    delivered: HashMap<U256, Bytes>,
    delivery_txs: u32,
    /// Commitments of other keepers per purchase.
    others_committed: HashMap<U256, u8>,
    /// Purchases we committed to.
    my_commits: HashSet<U256>,
    commit_txs: u32,
    /// The commit window is closed: a commit sent with the fixed gas limit is mined as failed,
    /// one sent after estimation is refused with `CommitClosed` before it is sent.
    commit_closed: bool,
    /// Commits mined as failed (their hashes' receipts say so).
    failed_txs: HashSet<B256>,
    /// Commits sent after estimating gas.
    estimated_commits: u32,
    /// (stake, key proof) of our registration.
    registration: Option<(U256, Bytes)>,
    erasures: HashSet<U256>,
    erasure_txs: u32,
    events: Vec<ChainEvent>,
    /// Blocks from `reorg.0` on belong to branch `reorg.1` (0: the original chain).
    reorg: (u64, u8),
}

impl MockState {
    fn committed(&self, id: U256) -> u8 {
        self.others_committed.get(&id).copied().unwrap_or(0)
            + u8::from(self.my_commits.contains(&id) || self.delivered.contains_key(&id))
    }
}

struct MockChain {
    me: Address,
    st: Mutex<MockState>,
}

impl MockChain {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            me: Address::repeat_byte(0xAA),
            st: Mutex::new(MockState {
                block: 1,
                ..Default::default()
            }),
        })
    }
    fn with<T>(&self, f: impl FnOnce(&mut MockState) -> T) -> T {
        f(&mut self.st.lock().unwrap())
    }
}

fn hash(tag: &str, id: U256) -> B256 {
    keccak256([tag.as_bytes(), &id.to_be_bytes::<32>()].concat())
}

#[async_trait::async_trait]
impl KeeperChain for MockChain {
    fn address(&self) -> Address {
        self.me
    }
    fn chain_id(&self) -> u64 {
        CHAIN_ID
    }
    fn data_registry(&self) -> Address {
        Address::repeat_byte(0xD1)
    }
    fn marketplace(&self) -> Address {
        Address::repeat_byte(0xE1)
    }
    async fn block_number(&self) -> Result<u64, ChainFailure> {
        Ok(self.with(|s| s.block))
    }
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainFailure> {
        Ok(self.with(|s| {
            let branch = if number >= s.reorg.0 { s.reorg.1 } else { 0 };
            (number <= s.block).then(|| keccak256([&[branch][..], &number.to_be_bytes()].concat()))
        }))
    }
    async fn block_timestamp(&self) -> Result<u64, ChainFailure> {
        Ok(1_000)
    }
    async fn node(&self) -> Result<NodeView, ChainFailure> {
        Ok(self.with(|s| s.node.clone()).unwrap_or(NodeView {
            role: 0,
            encryption_key: vec![],
            endpoint: String::new(),
        }))
    }
    async fn key_proof_digest(&self) -> Result<B256, ChainFailure> {
        Ok(DIGEST)
    }
    async fn min_stake(&self) -> Result<U256, ChainFailure> {
        Ok(U256::from(100))
    }
    async fn stake(&self) -> Result<U256, ChainFailure> {
        Ok(self.with(|s| s.registration.as_ref().map_or(U256::ZERO, |r| r.0)))
    }
    async fn register_keeper(
        &self,
        encryption_key: Bytes,
        endpoint: String,
        stake: U256,
        key_proof: Bytes,
    ) -> Result<B256, ChainFailure> {
        self.with(|s| {
            s.node = Some(NodeView {
                role: 1,
                encryption_key: encryption_key.to_vec(),
                endpoint,
            });
            s.registration = Some((stake, key_proof));
        });
        Ok(B256::repeat_byte(1))
    }
    async fn update_node(
        &self,
        encryption_key: Bytes,
        endpoint: String,
        key_proof: Bytes,
    ) -> Result<B256, ChainFailure> {
        self.with(|s| {
            s.node = Some(NodeView {
                role: 1,
                encryption_key: encryption_key.to_vec(),
                endpoint,
            });
            if let Some(r) = s.registration.as_mut() {
                r.1 = key_proof;
            }
        });
        Ok(B256::repeat_byte(1))
    }
    async fn dataset(&self, id: U256) -> Result<DatasetView, ChainFailure> {
        Ok(self.with(|s| match s.datasets.get(&id) {
            Some(d) => DatasetView {
                owner: d.owner,
                status: d.status,
            },
            None => DatasetView {
                owner: Address::ZERO,
                status: DatasetStatus::None,
            },
        }))
    }
    async fn commitments_of(&self, id: U256) -> Result<Vec<Bytes>, ChainFailure> {
        Ok(self.with(|s| {
            s.datasets
                .get(&id)
                .map(|d| d.commitments.clone())
                .unwrap_or_default()
        }))
    }
    async fn share_index_of(&self, id: U256) -> Result<u8, ChainFailure> {
        Ok(self.with(|s| s.datasets.get(&id).map_or(0, |d| d.my_index)))
    }
    async fn has_acknowledged(&self, id: U256) -> Result<bool, ChainFailure> {
        Ok(self.with(|s| s.acks.contains(&id)))
    }
    async fn acknowledge_share(&self, id: U256) -> Result<B256, ChainFailure> {
        self.with(|s| {
            if !s.acks.insert(id) {
                return Err(ChainFailure::Reverted(Revert::AlreadyAcknowledged));
            }
            s.ack_txs += 1;
            Ok(hash("ack", id))
        })
    }
    async fn has_confirmed_erasure(&self, id: U256) -> Result<bool, ChainFailure> {
        Ok(self.with(|s| s.erasures.contains(&id)))
    }
    async fn confirm_erasure(&self, id: U256) -> Result<B256, ChainFailure> {
        self.with(|s| {
            if !s.erasures.insert(id) {
                return Err(ChainFailure::Reverted(Revert::AlreadyConfirmedErasure));
            }
            s.erasure_txs += 1;
            Ok(hash("erase", id))
        })
    }
    async fn purchase(&self, id: U256) -> Result<PurchaseView, ChainFailure> {
        Ok(self
            .with(|s| s.purchases.get(&id).cloned())
            .unwrap_or(PurchaseView {
                dataset_id: U256::ZERO,
                buyer: Address::ZERO,
                status: PurchaseStatus::None,
                delivery_deadline: 0,
                threshold: 0,
            }))
    }
    async fn has_delivered(&self, id: U256) -> Result<bool, ChainFailure> {
        Ok(self.with(|s| s.delivered.contains_key(&id)))
    }
    async fn has_committed(&self, id: U256) -> Result<bool, ChainFailure> {
        Ok(self.with(|s| s.my_commits.contains(&id) || s.delivered.contains_key(&id)))
    }
    async fn commit_count(&self, id: U256) -> Result<u8, ChainFailure> {
        Ok(self.with(|s| s.committed(id)))
    }
    async fn send_commit(&self, id: U256, estimate: bool) -> Result<B256, ChainFailure> {
        self.with(|s| {
            s.estimated_commits += u32::from(estimate);
            if s.commit_closed {
                if estimate {
                    return Err(ChainFailure::Reverted(Revert::CommitClosed));
                }
                let h = hash("failed commit", id);
                s.failed_txs.insert(h);
                return Ok(h);
            }
            if !s.my_commits.insert(id) {
                return Err(ChainFailure::Reverted(Revert::AlreadyCommitted));
            }
            s.commit_txs += 1;
            Ok(hash("commit", id))
        })
    }
    async fn send_delivery(&self, id: U256, payload: Bytes) -> Result<B256, ChainFailure> {
        self.with(|s| {
            if s.delivered.contains_key(&id) {
                return Err(ChainFailure::Reverted(Revert::AlreadyDelivered));
            }
            // Like the Marketplace: a delivery counts as the keeper's commitment, and needs
            // `threshold` of them.
            let implicit = u8::from(!s.my_commits.contains(&id));
            let threshold = s.purchases.get(&id).map_or(0, |p| p.threshold);
            if s.committed(id) + implicit < threshold {
                return Err(ChainFailure::Reverted(Revert::NotEnoughCommitments));
            }
            s.delivered.insert(id, payload);
            s.delivery_txs += 1;
            Ok(hash("deliver", id))
        })
    }
    async fn wait_receipt(&self, tx: B256) -> Result<Option<bool>, ChainFailure> {
        Ok(Some(self.with(|s| !s.failed_txs.contains(&tx))))
    }
    async fn events(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>, ChainFailure> {
        Ok(self.with(|s| {
            s.events
                .iter()
                .filter(|e| {
                    let b = match e {
                        ChainEvent::Purchase { block, .. }
                        | ChainEvent::ConsentWithdrawn { block, .. } => *block,
                    };
                    (from..=to).contains(&b)
                })
                .cloned()
                .collect()
        }))
    }
}

struct Fixture {
    chain: Arc<MockChain>,
    owner: PrivateKeySigner,
    shares: Vec<KeyShare>,
    dataset: U256,
}

fn fixture() -> Fixture {
    let chain = MockChain::new();
    let owner = PrivateKeySigner::random();
    let secret = DatasetSecret::generate().unwrap();
    let (shares, commitments) = phd_keys::split(&secret, 2, 3).unwrap();
    let dataset = U256::from(7);
    chain.with(|s| {
        s.datasets.insert(
            dataset,
            MockDataset {
                owner: owner.address(),
                status: DatasetStatus::Active,
                commitments: commitments
                    .to_bytes()
                    .iter()
                    .map(|c| Bytes::copy_from_slice(c))
                    .collect(),
                my_index: 2,
            },
        );
    });
    Fixture {
        chain,
        owner,
        shares,
        dataset,
    }
}

struct Running {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), KeeperError>>,
}

impl Running {
    async fn stop(mut self) -> Result<(), KeeperError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.await.unwrap()
    }
}

fn config(dir: &std::path::Path) -> KeeperConfig {
    let mut c = KeeperConfig::new(
        dir,
        "http://127.0.0.1:1".parse().unwrap(),
        PrivateKeySigner::random(),
        crate::Deployment {
            chain_id: CHAIN_ID,
            coin: Address::repeat_byte(0xC0),
            keeper_registry: Address::repeat_byte(0xC1),
            data_registry: Address::repeat_byte(0xD1),
            marketplace: Address::repeat_byte(0xE1),
            series_market: Address::repeat_byte(0xE2),
            series_certification: Address::ZERO,
            deployed_at_block: 0,
            deployer: Address::ZERO,
            params: None,
            code_hashes: Default::default(),
        },
    );
    c.poll_interval = Duration::from_millis(20);
    c
}

async fn start(chain: &Arc<MockChain>, cfg: KeeperConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let chain: Arc<dyn KeeperChain> = chain.clone();
    let endpoint = url.clone();
    let handle = tokio::spawn(crate::run_with_chain(
        cfg,
        chain,
        listener,
        endpoint,
        async move {
            let _ = rx.await;
        },
    ));
    Running {
        url,
        stop: Some(tx),
        handle,
    }
}

fn keeper_pubkey(chain: &MockChain) -> Vec<u8> {
    chain.with(|s| s.node.as_ref().unwrap().encryption_key.clone())
}

async fn wait_registered(chain: &MockChain) {
    for _ in 0..200 {
        if chain.with(|s| s.node.is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("keeper never registered");
}

fn upload_body(
    f: &Fixture,
    keeper_pk: &[u8],
    share: &[u8],
    signer: &PrivateKeySigner,
) -> serde_json::Value {
    let registry = Address::repeat_byte(0xD1);
    let aad = keeper_aad(CHAIN_ID, registry, f.dataset, 2);
    let ct = phd_keys::encrypt(keeper_pk, share, &aad).unwrap();
    let msg = upload_message(CHAIN_ID, registry, f.dataset, 2, &ct);
    let sig = signer.sign_message_sync(msg.as_slice()).unwrap();
    serde_json::json!({
        "chain_id": CHAIN_ID,
        "registry": registry,
        "dataset_id": 7,
        "share_index": 2,
        "ciphertext": format!("0x{}", hex::encode(&ct)),
        "signature": format!("0x{}", hex::encode(sig.as_bytes())),
    })
}

async fn put(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .put(format!("{url}/v1/shares/7"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition never became true");
}

#[tokio::test]
async fn put_share_checks_and_stores() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let k = start(&f.chain, config(dir.path())).await;
    wait_registered(&f.chain).await;
    let pk = keeper_pubkey(&f.chain);
    let share = f.shares[1].to_bytes();

    // malformed JSON
    let r = reqwest::Client::new()
        .put(format!("{}/v1/shares/7", k.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());

    // bad signature (not 65 bytes / not recoverable)
    let mut body = upload_body(&f, &pk, share.as_slice(), &f.owner);
    body["signature"] = serde_json::json!(format!("0x{}", "00".repeat(65)));
    assert_eq!(put(&k.url, &body).await.0, 401);

    // signed by someone else
    let body = upload_body(&f, &pk, share.as_slice(), &PrivateKeySigner::random());
    assert_eq!(put(&k.url, &body).await.0, 403);

    // someone else's share fails Feldman verification against index 2
    let mut wrong = f.shares[1].to_bytes();
    wrong[1..].copy_from_slice(&f.shares[0].to_bytes()[1..]);
    let body = upload_body(&f, &pk, wrong.as_slice(), &f.owner);
    assert_eq!(put(&k.url, &body).await.0, 422);
    assert_eq!(f.chain.with(|s| s.ack_txs), 0);

    // happy path, then idempotent re-upload
    let body = upload_body(&f, &pk, share.as_slice(), &f.owner);
    let (st, reply) = put(&k.url, &body).await;
    assert_eq!(st, 200, "{reply}");
    assert_eq!(reply["acknowledged"], true);
    assert!(reply["tx_hash"].is_string());
    let (st2, reply2) = put(&k.url, &body).await;
    assert_eq!(st2, 200);
    assert_eq!(reply2["tx_hash"], reply["tx_hash"]);
    assert_eq!(f.chain.with(|s| s.ack_txs), 1);

    // health and metrics
    let h: serde_json::Value = reqwest::get(format!("{}/health", k.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["shares"], 1);
    assert_eq!(h["chain_id"], CHAIN_ID);
    let m = reqwest::get(format!("{}/metrics", k.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("phd_keeper_shares_stored_total 1"), "{m}");
    assert!(m.contains("phd_keeper_acks_total 1"));

    // withdrawn → 410
    f.chain
        .with(|s| s.datasets.get_mut(&f.dataset).unwrap().status = DatasetStatus::Withdrawn);
    assert_eq!(put(&k.url, &body).await.0, 410);
    k.stop().await.unwrap();

    // the key survives a restart: same registered key, no update
    let k = start(&f.chain, config(dir.path())).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(keeper_pubkey(&f.chain), pk);
    k.stop().await.unwrap();
}

async fn stored_fixture(dir: &std::path::Path) -> (Fixture, EncryptionSecretKey) {
    let f = fixture();
    let k = start(&f.chain, config(dir)).await;
    wait_registered(&f.chain).await;
    let pk = keeper_pubkey(&f.chain);
    let body = upload_body(&f, &pk, f.shares[1].to_bytes().as_slice(), &f.owner);
    assert_eq!(put(&k.url, &body).await.0, 200);
    k.stop().await.unwrap();
    let buyer = EncryptionSecretKey::generate().unwrap();
    f.chain.with(|s| {
        s.block = 10;
        s.purchases.insert(
            U256::from(1),
            PurchaseView {
                dataset_id: f.dataset,
                buyer: phd_chain::address_of_pubkey64(&buyer.public_key_raw64()),
                status: PurchaseStatus::Open,
                delivery_deadline: 5_000,
                threshold: 2,
            },
        );
        // One other keeper committed already: ours makes the threshold.
        s.others_committed.insert(U256::from(1), 1);
        s.events.push(ChainEvent::Purchase {
            purchase_id: U256::from(1),
            dataset_id: f.dataset,
            buyer_pubkey: Bytes::copy_from_slice(&buyer.public_key_raw64()),
            grant: false,
            block: 5,
        });
    });
    (f, buyer)
}

fn delivery_ctx() -> phd_keys::DeliveryContext {
    phd_keys::DeliveryContext::new(CHAIN_ID, Address::repeat_byte(0xE1).into_array(), 1, 2)
}

fn commitments(f: &Fixture) -> phd_keys::Commitments {
    let points: Vec<[u8; 33]> = f.chain.with(|s| {
        s.datasets[&f.dataset]
            .commitments
            .iter()
            .map(|c| <[u8; 33]>::try_from(c.as_ref()).unwrap())
            .collect()
    });
    phd_keys::Commitments::from_bytes(&points).unwrap()
}

/// The buyer opens the provable delivery (FORMATS.md §2.4) and Feldman-checks it.
fn open_delivered(
    f: &Fixture,
    buyer: &EncryptionSecretKey,
) -> Result<KeyShare, phd_keys::KeyError> {
    let payload = f
        .chain
        .with(|s| s.delivered.get(&U256::from(1)).cloned())
        .unwrap();
    phd_keys::open_delivery(buyer, &payload, &delivery_ctx(), &commitments(f))
}

fn decrypt_delivery(f: &Fixture, buyer: &EncryptionSecretKey) -> KeyShare {
    open_delivered(f, buyer).unwrap()
}

#[tokio::test]
async fn delivers_once_to_buyer() {
    let dir = tempfile::tempdir().unwrap();
    let (f, buyer) = stored_fixture(dir.path()).await;
    let k = start(&f.chain, config(dir.path())).await;
    eventually(|| f.chain.with(|s| s.delivery_txs == 1)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    k.stop().await.unwrap();
    assert_eq!(f.chain.with(|s| s.delivery_txs), 1);
    // Committed first, exactly once.
    assert_eq!(f.chain.with(|s| s.commit_txs), 1);
    assert_eq!(decrypt_delivery(&f, &buyer), f.shares[1]);
    let st = crate::local_status(dir.path()).unwrap();
    assert_eq!(st.deliveries.get("delivered"), Some(&1));
}

#[tokio::test]
async fn registers_with_stake_and_key_proof() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let k = start(&f.chain, config(dir.path())).await;
    wait_registered(&f.chain).await;
    let (stake, proof) = f.chain.with(|s| s.registration.clone()).unwrap();
    assert_eq!(stake, U256::from(100), "the minimum stake by default");
    // The proof is the encryption key's signature over the registry digest, not the account's.
    let sig = alloy::primitives::Signature::try_from(proof.as_ref()).unwrap();
    let signer_pub = sig
        .recover_from_prehash(&DIGEST)
        .unwrap()
        .to_encoded_point(true);
    assert_eq!(signer_pub.as_bytes(), keeper_pubkey(&f.chain).as_slice());
    let h: serde_json::Value = reqwest::get(format!("{}/health", k.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["stake"], "100");
    k.stop().await.unwrap();
}

#[tokio::test]
async fn waits_for_threshold_commitments_before_delivering() {
    let dir = tempfile::tempdir().unwrap();
    let (f, buyer) = stored_fixture(dir.path()).await;
    // Nobody else committed: ours alone (1 of 2) must not lead to a delivery.
    f.chain.with(|s| {
        s.others_committed.clear();
    });
    let k = start(&f.chain, config(dir.path())).await;
    eventually(|| f.chain.with(|s| s.commit_txs == 1)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        f.chain.with(|s| s.delivery_txs),
        0,
        "delivered before t commitments"
    );
    assert_eq!(
        crate::local_status(dir.path())
            .unwrap()
            .deliveries
            .get("committed"),
        Some(&1)
    );
    // A second keeper commits: now it delivers, without committing again.
    f.chain.with(|s| {
        s.others_committed.insert(U256::from(1), 1);
    });
    eventually(|| f.chain.with(|s| s.delivery_txs == 1)).await;
    k.stop().await.unwrap();
    assert_eq!(f.chain.with(|s| s.commit_txs), 1);
    assert_eq!(decrypt_delivery(&f, &buyer), f.shares[1]);
}

/// The first commit goes out with a fixed gas limit and no estimate. When the window closed
/// in between, it is mined as failed: the retry must estimate (decoding `CommitClosed` without
/// spending another nonce) and move on to delivering as the t-th keeper, not loop on failed
/// transactions.
#[tokio::test]
async fn a_fixed_gas_commit_that_reverts_is_retried_with_estimation_once() {
    let dir = tempfile::tempdir().unwrap();
    let (f, buyer) = stored_fixture(dir.path()).await;
    f.chain.with(|s| s.commit_closed = true);
    let k = start(&f.chain, config(dir.path())).await;
    eventually(|| f.chain.with(|s| s.delivery_txs == 1)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    k.stop().await.unwrap();
    f.chain.with(|s| {
        assert_eq!(s.failed_txs.len(), 1, "one commit mined as failed");
        assert_eq!(s.estimated_commits, 1, "the retry estimated, once");
        assert_eq!(s.commit_txs, 0, "no commit landed");
        assert_eq!(s.delivery_txs, 1, "delivered as the t-th keeper");
    });
    assert_eq!(decrypt_delivery(&f, &buyer), f.shares[1]);
}

#[tokio::test]
async fn killed_mid_commit_commits_exactly_once() {
    for point in [FailPoint::CommitIntentRecorded, FailPoint::CommitSent] {
        let dir = tempfile::tempdir().unwrap();
        let (f, buyer) = stored_fixture(dir.path()).await;
        let mut cfg = config(dir.path());
        cfg.fail_after = Some(point);
        let k = start(&f.chain, cfg).await;
        let err = tokio::time::timeout(Duration::from_secs(5), k.handle)
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(err, Err(KeeperError::FailPointHit(p)) if p == point),
            "{err:?}"
        );
        let k = start(&f.chain, config(dir.path())).await;
        eventually(|| f.chain.with(|s| s.delivered.contains_key(&U256::from(1)))).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        k.stop().await.unwrap();
        assert_eq!(f.chain.with(|s| s.commit_txs), 1, "{point:?}");
        assert_eq!(f.chain.with(|s| s.delivery_txs), 1, "{point:?}");
        assert_eq!(decrypt_delivery(&f, &buyer), f.shares[1]);
    }
}

#[tokio::test]
async fn killed_mid_delivery_delivers_exactly_once() {
    for point in [FailPoint::DeliveryIntentRecorded, FailPoint::DeliverySent] {
        let dir = tempfile::tempdir().unwrap();
        let (f, buyer) = stored_fixture(dir.path()).await;
        let mut cfg = config(dir.path());
        cfg.fail_after = Some(point);
        let k = start(&f.chain, cfg).await;
        let err = tokio::time::timeout(Duration::from_secs(5), k.handle)
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(err, Err(KeeperError::FailPointHit(p)) if p == point),
            "{err:?}"
        );
        let k = start(&f.chain, config(dir.path())).await;
        eventually(|| f.chain.with(|s| s.delivered.contains_key(&U256::from(1)))).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        k.stop().await.unwrap();
        assert_eq!(f.chain.with(|s| s.delivery_txs), 1, "{point:?}");
        assert_eq!(decrypt_delivery(&f, &buyer), f.shares[1]);
    }
}

#[tokio::test]
async fn wrong_share_knob_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (f, buyer) = stored_fixture(dir.path()).await;
    let mut cfg = config(dir.path());
    cfg.misbehave = Some(Misbehaviour::WrongShare);
    let k = start(&f.chain, cfg).await;
    eventually(|| f.chain.with(|s| s.delivery_txs == 1)).await;
    k.stop().await.unwrap();
    // The provable format exposes the cheat: the delivery fails the Feldman check, and the
    // dispute proof the buyer builds convinces the same verifier the contract runs.
    let err = open_delivered(&f, &buyer).unwrap_err();
    assert!(
        matches!(err, phd_keys::KeyError::ShareVerification { index: 2 }),
        "{err:?}"
    );
    let payload = f
        .chain
        .with(|s| s.delivered.get(&U256::from(1)).cloned())
        .unwrap();
    let proof = phd_keys::prove_dispute(&buyer, &payload, &delivery_ctx()).unwrap();
    assert!(
        phd_keys::verify_dispute(
            &buyer.public_key_raw64(),
            &payload,
            &delivery_ctx(),
            &commitments(&f),
            &proof.to_bytes()
        )
        .unwrap()
    );
}

#[tokio::test]
async fn withdrawal_erases_and_confirms_once() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _buyer) = stored_fixture(dir.path()).await;
    let sealed = {
        let s = crate::store::Store::open(&dir.path().join(crate::DB_FILE)).unwrap();
        s.get_share(f.dataset).unwrap().unwrap().sealed
    };
    f.chain.with(|s| {
        s.events.clear();
        s.datasets.get_mut(&f.dataset).unwrap().status = DatasetStatus::Withdrawn;
        s.events.push(ChainEvent::ConsentWithdrawn {
            dataset_id: f.dataset,
            block: 6,
        });
    });
    let mut cfg = config(dir.path());
    cfg.fail_after = Some(FailPoint::ErasureDeleted);
    let k = start(&f.chain, cfg).await;
    let r = tokio::time::timeout(Duration::from_secs(5), k.handle)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        r,
        Err(KeeperError::FailPointHit(FailPoint::ErasureDeleted))
    ));
    assert_eq!(f.chain.with(|s| s.erasure_txs), 0);
    let k = start(&f.chain, config(dir.path())).await;
    eventually(|| f.chain.with(|s| s.erasure_txs == 1)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    k.stop().await.unwrap();
    assert_eq!(f.chain.with(|s| s.erasure_txs), 1);
    for name in [crate::DB_FILE, "keeper.db-wal", "keeper.db-shm"] {
        let bytes = std::fs::read(dir.path().join(name)).unwrap_or_default();
        assert!(
            !bytes.windows(sealed.len()).any(|w| w == sealed.as_slice()),
            "share bytes left in {name}"
        );
    }
    let st = crate::local_status(dir.path()).unwrap();
    assert_eq!(st.shares, 0);
    assert_eq!(st.erasures.get("confirmed"), Some(&1));
}

#[tokio::test]
async fn reorg_rescans_and_delivers_each_purchase_once() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _first_buyer) = stored_fixture(dir.path()).await;
    let k = start(&f.chain, config(dir.path())).await;
    eventually(|| f.chain.with(|s| s.delivery_txs == 1)).await;
    // Blocks 5.. are replaced: the purchase (and our commit and delivery) vanish, and purchase
    // id 1 now belongs to another buyer, in block 6.
    let buyer = EncryptionSecretKey::generate().unwrap();
    f.chain.with(|s| {
        s.reorg = (5, 1);
        s.block = 12;
        s.delivered.clear();
        s.my_commits.clear();
        s.purchases.get_mut(&U256::from(1)).unwrap().buyer =
            phd_chain::address_of_pubkey64(&buyer.public_key_raw64());
        s.events = vec![ChainEvent::Purchase {
            purchase_id: U256::from(1),
            dataset_id: f.dataset,
            buyer_pubkey: Bytes::copy_from_slice(&buyer.public_key_raw64()),
            grant: false,
            block: 6,
        }];
    });
    eventually(|| f.chain.with(|s| s.delivery_txs == 2)).await;
    assert_eq!(
        decrypt_delivery(&f, &buyer),
        f.shares[1],
        "delivered to the purchase on the new branch"
    );
    // Another reorg that keeps the same events (and our delivery): the rescan does nothing.
    f.chain.with(|s| {
        s.reorg = (4, 2);
        s.block = 13;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    k.stop().await.unwrap();
    assert_eq!(f.chain.with(|s| (s.delivery_txs, s.commit_txs)), (2, 2));
    let st = crate::local_status(dir.path()).unwrap();
    assert_eq!(st.deliveries.get("delivered"), Some(&1));
}
