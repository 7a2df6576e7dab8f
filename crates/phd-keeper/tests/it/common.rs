//! Shared harness: anvil + deployed contracts + in-process keepers on port-0 listeners.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::{path::PathBuf, time::Duration};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use phd_chain::{
    AnvilSettings, BlockRange, Deployment, PhdClient, PublishParams, Purpose, RoleSigners,
};
use phd_keeper::{KeeperConfig, KeeperError};
use phd_keys::{DatasetSecret, KeyShare};

pub struct Chain {
    pub anvil: AnvilInstance,
    pub url: String,
    pub roles: RoleSigners,
    pub deployment: Deployment,
}

pub async fn chain() -> Chain {
    let settings = AnvilSettings::load_default().unwrap();
    let anvil = phd_chain::spawn_anvil(&settings, 0).unwrap();
    let url = anvil.endpoint();
    let roles = settings.role_signers().unwrap();
    let cfg = phd_deploy::DeployConfig {
        initial_holder: Some(roles.customer.address()),
        ..Default::default()
    };
    let out = phd_deploy::deploy(&url, roles.deployer.clone(), &cfg, None, true)
        .await
        .unwrap();
    // Keepers and the validator stake at registration; the owner pays the delivery fees of its
    // grants: all get PHD from the holder.
    let holder = PhdClient::connect(&url, roles.customer.clone(), out.deployment.clone())
        .await
        .unwrap();
    for node in roles.keepers.iter().chain([&roles.validator]) {
        holder
            .transfer_coin(node.address(), phd_chain::phd(200))
            .await
            .unwrap();
    }
    holder
        .transfer_coin(roles.user.address(), phd_chain::phd(100))
        .await
        .unwrap();
    Chain {
        anvil,
        url,
        roles,
        deployment: out.deployment,
    }
}

pub struct Keeper {
    pub address: Address,
    pub dir: PathBuf,
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<Result<(), KeeperError>>,
}

impl Keeper {
    pub async fn stop(mut self) -> Result<(), KeeperError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("keeper did not stop")
            .unwrap()
    }
}

pub fn keeper_config(c: &Chain, signer: &PrivateKeySigner, dir: &std::path::Path) -> KeeperConfig {
    let mut cfg = KeeperConfig::new(
        dir,
        c.url.parse().unwrap(),
        signer.clone(),
        c.deployment.clone(),
    );
    cfg.poll_interval = Duration::from_millis(100);
    cfg
}

pub async fn start_keeper(cfg: KeeperConfig) -> Keeper {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let address = cfg.signer.address();
    let dir = cfg.data_dir.clone();
    let handle = tokio::spawn(phd_keeper::run(cfg, listener, async move {
        let _ = rx.await;
    }));
    Keeper {
        address,
        dir,
        url,
        stop: Some(tx),
        handle,
    }
}

pub async fn client(c: &Chain, signer: &PrivateKeySigner) -> PhdClient {
    PhdClient::connect(&c.url, signer.clone(), c.deployment.clone())
        .await
        .unwrap()
}

pub async fn wait_until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits until `keeper` is registered on-chain with `endpoint`.
pub async fn wait_registered(owner: &PhdClient, keeper: Address, endpoint: &str) {
    wait_until("keeper registration", 30, || async {
        owner
            .node(keeper)
            .await
            .map(|n| n.endpoint == endpoint)
            .unwrap_or(false)
    })
    .await;
}

pub struct Dataset {
    pub id: U256,
    pub shares: Vec<KeyShare>,
    pub commitments: Vec<Bytes>,
}

pub async fn publish(owner: &PhdClient, keepers: &[Address], t: u8, price: U256) -> Dataset {
    let secret = DatasetSecret::generate().unwrap();
    let n = u8::try_from(keepers.len()).unwrap();
    let (shares, commitments) = phd_keys::split(&secret, t, n).unwrap();
    let commitments: Vec<Bytes> = commitments
        .to_bytes()
        .iter()
        .map(|c| Bytes::copy_from_slice(c))
        .collect();
    let params = PublishParams {
        storage_uri: "s3://bucket/object".into(),
        content_root: B256::repeat_byte(7),
        metadata: Bytes::from_static(br#"{"v":1}"#),
        price,
        keepers: keepers.to_vec(),
        threshold: t,
        commitments: commitments.clone(),
        purposes: vec![Purpose::Research],
        consent_terms_hash: B256::repeat_byte(9),
    };
    let (_, id) = owner.publish(&params).await.unwrap();
    Dataset {
        id,
        shares,
        commitments,
    }
}

fn keeper_aad(chain_id: u64, registry: Address, dataset_id: U256, idx: u8) -> Vec<u8> {
    let mut aad = b"phd share to keeper v1".to_vec();
    aad.extend_from_slice(&chain_id.to_be_bytes());
    aad.extend_from_slice(registry.as_slice());
    aad.extend_from_slice(&dataset_id.to_be_bytes::<32>());
    aad.push(idx);
    aad
}

/// The delivery context of FORMATS.md §2.4 for share `idx` of a purchase.
pub fn delivery_ctx(d: &Deployment, purchase_id: U256, idx: u8) -> phd_keys::DeliveryContext {
    phd_keys::DeliveryContext {
        chain_id: d.chain_id,
        marketplace: d.marketplace.into_array(),
        purchase_id: purchase_id.to_be_bytes::<32>(),
        index: idx,
    }
}

/// The Feldman commitments of the dataset of a purchase.
pub async fn commitments_of_purchase(
    buyer: &PhdClient,
    purchase_id: U256,
) -> phd_keys::Commitments {
    let p = buyer.get_purchase(purchase_id).await.unwrap();
    let points: Vec<[u8; 33]> = buyer
        .commitments_of(p.datasetId)
        .await
        .unwrap()
        .iter()
        .map(|c| <[u8; 33]>::try_from(c.as_ref()).unwrap())
        .collect();
    phd_keys::Commitments::from_bytes(&points).unwrap()
}

/// The buyer's encryption key: its account key (deliveries are masked to its 64-byte public key).
pub fn buyer_key(buyer: &PhdClient) -> phd_keys::EncryptionSecretKey {
    phd_keys::EncryptionSecretKey::from_bytes(buyer.signer().to_bytes().as_slice()).unwrap()
}

/// The PUT body of docs/PROTOCOL.md for share bytes `share` at `idx`, signed by `signer`.
pub fn upload_body(
    d: &Deployment,
    keeper_key: &[u8],
    dataset_id: U256,
    idx: u8,
    share: &[u8],
    signer: &PrivateKeySigner,
) -> serde_json::Value {
    let aad = keeper_aad(d.chain_id, d.data_registry, dataset_id, idx);
    let ct = phd_keys::encrypt(keeper_key, share, &aad).unwrap();
    let mut m = b"phd share upload v1".to_vec();
    m.extend_from_slice(&d.chain_id.to_be_bytes());
    m.extend_from_slice(d.data_registry.as_slice());
    m.extend_from_slice(&dataset_id.to_be_bytes::<32>());
    m.push(idx);
    m.extend_from_slice(keccak256(&ct).as_slice());
    let sig = signer.sign_message_sync(keccak256(&m).as_slice()).unwrap();
    serde_json::json!({
        "chain_id": d.chain_id,
        "registry": d.data_registry,
        "dataset_id": dataset_id.to_string(),
        "share_index": idx,
        "ciphertext": format!("0x{}", hex::encode(&ct)),
        "signature": format!("0x{}", hex::encode(sig.as_bytes())),
    })
}

pub async fn put(
    url: &str,
    dataset_id: U256,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .put(format!("{url}/v1/shares/{dataset_id}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Uploads share `i` to keeper `i` and expects 200.
pub async fn upload_all(
    owner: &PhdClient,
    owner_signer: &PrivateKeySigner,
    keepers: &[Keeper],
    ds: &Dataset,
) {
    for (i, k) in keepers.iter().enumerate() {
        let node = owner.node(k.address).await.unwrap();
        let idx = u8::try_from(i + 1).unwrap();
        let body = upload_body(
            owner.deployment(),
            &node.encryptionKey,
            ds.id,
            idx,
            ds.shares[i].to_bytes().as_slice(),
            owner_signer,
        );
        let (st, reply) = put(&k.url, ds.id, &body).await;
        assert_eq!(st, 200, "upload to keeper {i}: {reply}");
    }
}

/// Opens (and Feldman-checks) the provable `ShareDelivered` payloads for `purchase_id` from
/// `keeper`.
pub async fn deliveries_from(
    buyer: &PhdClient,
    purchase_id: U256,
    keeper: Address,
) -> Vec<KeyShare> {
    let evs = buyer
        .share_deliveries(purchase_id, BlockRange::all())
        .await
        .unwrap();
    let sk = buyer_key(buyer);
    let commitments = commitments_of_purchase(buyer, purchase_id).await;
    evs.into_iter()
        .filter(|e| e.event.keeper == keeper)
        .map(|e| {
            let ctx = delivery_ctx(buyer.deployment(), purchase_id, e.event.shareIndex);
            phd_keys::open_delivery(&sk, &e.event.payload, &ctx, &commitments).unwrap()
        })
        .collect()
}
