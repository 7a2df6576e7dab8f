//! End-to-end helpers on the full local stack ([`phd_devnet::Devnet`]): real anvil, deployed
//! contracts, the embedded S3 server over HTTP, in-process keepers — plus the owner's library
//! (`phd-user`) and a reference buyer that follows docs/PROTOCOL.md "Buyer: reconstruct and
//! download" step by step (used alongside `phd-sdk`'s retrieve).

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, PhdClient, Purpose};
use phd_devnet::{Devnet, DevnetConfig};
use phd_keys::{Commitments, EncryptionSecretKey, KeyShare};
use phd_seal::{OpenLimits, OpeningKey};
use phd_user::{UserCtx, publish::PublishArgs};

/// A devnet in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct Stack {
    /// The running stack.
    pub devnet: Devnet,
    /// Holds the state directory; also a scratch area for tests (`work()`).
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Starts a devnet with the test settings (60 s windows, keepers polling every 100 ms).
    pub async fn start() -> eyre::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Like [`Stack::start`], with a chance to adjust the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut DevnetConfig)) -> eyre::Result<Self> {
        let dir = tempfile::Builder::new().prefix("phd-e2e-").tempdir()?;
        let mut config = DevnetConfig::for_tests(dir.path().join("devnet"));
        adjust(&mut config);
        let devnet = Devnet::start(config).await?;
        Ok(Self { devnet, dir })
    }

    /// Scratch directory for test files.
    pub fn work(&self) -> PathBuf {
        let p = self.dir.path().join("work");
        let _ = std::fs::create_dir_all(&p);
        p
    }

    /// The owner's context (phd-user library), state under the scratch directory.
    pub async fn user_ctx(&self) -> eyre::Result<UserCtx> {
        let chain = self.devnet.user_client().await?;
        let store = self.devnet.store().await?;
        Ok(UserCtx::new(
            chain,
            Some(store),
            self.dir.path().join("user-state"),
        ))
    }

    /// Publishes `file` with the owner's library: all keepers, the devnet threshold, no quality
    /// model (fast), `pseudonymised_out` written. Returns the outcome.
    pub async fn publish(
        &self,
        file: &Path,
        price: U256,
        purposes: &[Purpose],
        pseudonymised_out: &Path,
    ) -> eyre::Result<phd_user::publish::PublishOutcome> {
        self.publish_with(file, price, purposes, pseudonymised_out, |_| {})
            .await
    }

    /// [`Stack::publish`] with a chance to adjust the owner's arguments (e.g. `gateway`, so the
    /// listing's storage URI names an access gateway instead of the bucket).
    pub async fn publish_with(
        &self,
        file: &Path,
        price: U256,
        purposes: &[Purpose],
        pseudonymised_out: &Path,
        adjust: impl FnOnce(&mut PublishArgs),
    ) -> eyre::Result<phd_user::publish::PublishOutcome> {
        let ctx = self.user_ctx().await?;
        let mut args = PublishArgs::new(file, price, purposes.to_vec());
        args.threshold = self.devnet.threshold;
        args.keepers = self.devnet.keeper_addresses();
        args.pseudonymised_out = Some(pseudonymised_out.to_owned());
        args.ack_timeout = Duration::from_secs(120);
        adjust(&mut args);
        Ok(phd_user::publish::publish(&ctx, &args, None, None).await?)
    }

    /// Opens a series as the devnet's owner over every keeper at the devnet threshold (research
    /// only, placeholder metadata and consent hashes), `price` per segment; returns its id.
    pub async fn create_series(&self, price: U256) -> eyre::Result<u64> {
        let d = &self.devnet;
        let (_, id) = d
            .user_client()
            .await?
            .create_series(&phd_chain::SeriesParams {
                keepers: d.keeper_addresses(),
                threshold: d.threshold,
                purposes: vec![Purpose::Research],
                price_per_segment: price,
                metadata_hash: alloy::primitives::B256::repeat_byte(1),
                consent_terms_hash: alloy::primitives::B256::repeat_byte(2),
            })
            .await?;
        Ok(u64::try_from(id)?)
    }

    /// Stops the stack.
    pub async fn stop(mut self) {
        self.devnet.shutdown().await;
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> eyre::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = eyre::Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            eyre::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Generous timeout for anything the keepers do (2 loaded cores).
pub const KEEPER_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits until `purchase_id` has at least `n` deliveries on-chain; returns the count.
pub async fn wait_deliveries(client: &PhdClient, purchase_id: U256, n: u8) -> eyre::Result<u8> {
    wait_for(
        &format!("{n} deliveries for purchase {purchase_id}"),
        KEEPER_TIMEOUT,
        || async {
            let p = client.get_purchase(purchase_id).await?;
            Ok((p.delivered >= n).then_some(p.delivered))
        },
    )
    .await
}

/// A small accelerometer CSV (`time,acc_x,acc_y,acc_z` at 50 Hz) of `rows` rows; extra
/// identifier columns when `pii` is given (`name,email,address,serial` values per row).
pub fn write_accel_csv(path: &Path, rows: usize, pii: Option<[&str; 4]>) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut s = String::from("time,acc_x,acc_y,acc_z");
    if pii.is_some() {
        s.push_str(",name,email,address,serial");
    }
    s.push('\n');
    for i in 0..rows {
        #[allow(clippy::cast_precision_loss)]
        let t = i as f64 / 50.0;
        let x = (t * 3.1).sin();
        let y = (t * 1.7).cos() * 0.5;
        let z = 9.81 + (t * 0.3).sin() * 0.1;
        let _ = write!(s, "{t:.3},{x:.5},{y:.5},{z:.5}");
        if let Some([n, e, a, ser]) = pii {
            let _ = write!(s, ",{n},{e},\"{a}\",{ser}");
        }
        s.push('\n');
    }
    std::fs::write(path, s)
}

/// What the reference buyer did.
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// Keepers whose share did not decrypt or did not Feldman-verify.
    pub bad_keepers: Vec<Address>,
    /// Share indices combined.
    pub used: Vec<u8>,
    /// Plaintext bytes written.
    pub plaintext_len: u64,
}

/// Why the reference buyer refused.
#[derive(Debug, thiserror::Error)]
pub enum BuyerError {
    /// Fewer than t good shares.
    #[error("only {good} good shares of the {threshold} needed (bad: {bad:?})")]
    NotEnoughShares {
        /// Good shares.
        good: usize,
        /// Needed.
        threshold: usize,
        /// Keepers whose share failed.
        bad: Vec<Address>,
    },
    /// The object failed verification against the on-chain content root (or did not decrypt).
    #[error("sealed object {uri} failed verification: {reason}")]
    Integrity {
        /// Storage URI.
        uri: String,
        /// Cause (from phd-seal).
        reason: String,
    },
    /// Anything else (chain, storage, io).
    #[error(transparent)]
    Other(#[from] eyre::Report),
}

/// Reference buyer (docs/PROTOCOL.md): collects `ShareDelivered` events of `purchase_id`,
/// decrypts each with the account key of `buyer`, Feldman-verifies against the on-chain
/// commitments (naming bad keepers), combines t good shares, checks C0, derives the data key,
/// downloads the object from the devnet S3, verifies every chunk against the on-chain root and
/// writes the plaintext to `out` atomically (nothing on error).
pub async fn reference_buy_decrypt(
    devnet: &Devnet,
    buyer: &PhdClient,
    purchase_id: U256,
    out: &Path,
) -> Result<Decrypted, BuyerError> {
    let wrap = |e: phd_chain::ChainError| BuyerError::Other(e.into());
    let purchase = buyer.get_purchase(purchase_id).await.map_err(wrap)?;
    let dataset = buyer.dataset(purchase.datasetId).await.map_err(wrap)?;
    let commitments: Vec<[u8; 33]> = buyer
        .commitments_of(purchase.datasetId)
        .await
        .map_err(wrap)?
        .iter()
        .filter_map(|c| <[u8; 33]>::try_from(c.as_ref()).ok())
        .collect();
    let commitments = Commitments::from_bytes(&commitments)
        .map_err(|e| BuyerError::Other(eyre::eyre!("commitments: {e}")))?;
    let deliveries = buyer
        .share_deliveries(purchase_id, BlockRange::all())
        .await
        .map_err(wrap)?;
    let key = EncryptionSecretKey::from_bytes(buyer.signer().to_bytes().as_slice())
        .map_err(|e| BuyerError::Other(eyre::eyre!("account key: {e}")))?;
    let d = buyer.deployment();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for log in deliveries {
        let ev = log.event;
        // FORMATS.md §2.4: unmask with the buyer key under the delivery context, Feldman-check.
        let ctx = delivery_context(d.chain_id, d.marketplace, purchase_id, ev.shareIndex);
        let share = phd_keys::open_delivery(&key, &ev.payload, &ctx, &commitments)
            .ok()
            .filter(|s| s.index() == ev.shareIndex);
        match share {
            Some(s) => good.push(s),
            None => bad.push(ev.keeper),
        }
    }
    let t = usize::from(dataset.threshold);
    if good.len() < t {
        return Err(BuyerError::NotEnoughShares {
            good: good.len(),
            threshold: t,
            bad,
        });
    }
    good.truncate(t);
    let used: Vec<u8> = good.iter().map(KeyShare::index).collect();
    let secret = phd_keys::combine(&good, &commitments)
        .map_err(|e| BuyerError::Other(eyre::eyre!("combine: {e}")))?;
    let opening = OpeningKey::from_derived(secret.data_key());

    let uri = dataset.storageUri.clone();
    let key_path = uri
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .map(|(_, k)| k.to_owned())
        .ok_or_else(|| BuyerError::Other(eyre::eyre!("bad storage URI {uri}")))?;
    let store = devnet
        .store()
        .await
        .map_err(|e| BuyerError::Other(e.into()))?;
    let dir = out.parent().unwrap_or(Path::new("."));
    let sealed = tempfile::NamedTempFile::new_in(dir).map_err(|e| BuyerError::Other(e.into()))?;
    store
        .get_to_file(&key_path, sealed.path())
        .await
        .map_err(|e| BuyerError::Other(e.into()))?;
    let source =
        phd_seal::FileSource::open(sealed.path()).map_err(|e| BuyerError::Other(e.into()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| BuyerError::Other(e.into()))?;
    let writer = std::io::BufWriter::new(tmp.reopen().map_err(|e| BuyerError::Other(e.into()))?);
    let summary = phd_seal::open(
        &opening,
        &source,
        dataset.contentRoot.0,
        writer,
        &OpenLimits::default(),
    )
    .map_err(|e| BuyerError::Integrity {
        uri: uri.clone(),
        reason: e.to_string(),
    })?;
    tmp.persist(out)
        .map_err(|e| BuyerError::Other(e.error.into()))?;
    Ok(Decrypted {
        bad_keepers: bad,
        used,
        plaintext_len: summary.plaintext_len,
    })
}

/// The delivery context of FORMATS.md §2.4: `chain_id ‖ marketplace ‖ purchase_id ‖ index`.
pub fn delivery_context(
    chain_id: u64,
    marketplace: Address,
    purchase_id: U256,
    share_index: u8,
) -> phd_keys::DeliveryContext {
    phd_keys::DeliveryContext {
        chain_id,
        marketplace: marketplace.into_array(),
        purchase_id: purchase_id.to_be_bytes::<32>(),
        index: share_index,
    }
}

/// Every file under `dir` (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// What [`publish_raw`] listed.
#[derive(Debug, Clone)]
pub struct RawPublished {
    /// Dataset id.
    pub dataset_id: U256,
    /// Object key in the devnet bucket.
    pub object_key: String,
    /// Sealed size in bytes.
    pub sealed_len: u64,
    /// Content root (as listed on-chain).
    pub root: [u8; 32],
    /// The key that opens the object (benchmarks time a local open of the same bytes).
    pub opening_key: std::sync::Arc<phd_seal::OpeningKey>,
}

/// Publishes an arbitrary plaintext file the way the owner's app does after preparation (for
/// benchmarks with sizes the CSV pipeline is not meant for): fresh secret, Feldman split over all
/// devnet keepers, seal, upload, `publish`, signed ECIES share uploads to every keeper
/// (docs/PROTOCOL.md), then waits until the dataset is Active.
pub async fn publish_raw(
    devnet: &Devnet,
    plaintext: &Path,
    price: U256,
    purposes: &[Purpose],
) -> eyre::Result<RawPublished> {
    publish_raw_sealed_under(devnet, plaintext, price, purposes, None).await
}

/// [`publish_raw`], but when `seal_under` is given the object is sealed under that secret's data
/// key while the shares, the on-chain commitments (C0) and the key the buyer reconstructs stay
/// those of a fresh secret: the dishonest listing `Marketplace.proveOwnerFraud` exists for
/// (built from library calls, so the product has no fault switch for it).
pub async fn publish_raw_sealed_under(
    devnet: &Devnet,
    plaintext: &Path,
    price: U256,
    purposes: &[Purpose],
    seal_under: Option<&phd_keys::DatasetSecret>,
) -> eyre::Result<RawPublished> {
    use alloy::signers::Signer as _;
    let owner = devnet.user_client().await?;
    let n = u8::try_from(devnet.keepers.len())?;
    let t = devnet.threshold;
    let secret = phd_keys::DatasetSecret::generate()?;
    let (shares, commitments) = phd_keys::split(&secret, t, n)?;
    let key = phd_seal::SealingKey::from_derived(seal_under.unwrap_or(&secret).data_key())?;
    // Sealed and uploaded at once, as phd-user publishes (parts leave while sealing goes on).
    let object_key = format!("bench/{}.phd", phd_sdk::sealed_upload::fresh_object_name()?);
    let store = devnet.store().await?;
    let scratch = plaintext.parent().unwrap_or(Path::new(".")).to_path_buf();
    let opts = phd_sdk::sealed_upload::SealUploadOptions {
        plaintext_len: std::fs::metadata(plaintext)?.len(),
        scratch_dir: Some(scratch),
        ..Default::default()
    };
    let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(plaintext)?);
    let sealed =
        phd_sdk::sealed_upload::seal_and_upload(&store, &object_key, key, input, &opts, |_| {})
            .await?;
    let summary = sealed.summary;
    let root = alloy::primitives::B256::from(summary.root);
    let params = phd_chain::PublishParams {
        storage_uri: format!("s3://{}/{object_key}", devnet.s3.bucket),
        content_root: root,
        metadata: alloy::primitives::Bytes::from_static(br#"{"version":1,"title":"bench"}"#),
        price,
        keepers: devnet.keeper_addresses(),
        threshold: t,
        commitments: commitments
            .to_bytes()
            .iter()
            .map(|c| alloy::primitives::Bytes::copy_from_slice(c))
            .collect(),
        purposes: purposes.to_vec(),
        consent_terms_hash: alloy::primitives::B256::repeat_byte(1),
    };
    let (_, id) = owner.publish(&params).await?;
    let d = owner.deployment().clone();
    let http = reqwest::Client::new();
    for (k, share) in devnet.keepers.iter().zip(&shares) {
        let node = owner.node(k.address).await?;
        let index = share.index();
        let aad = phd_protocol::keeper_share_aad(d.chain_id, d.data_registry, id, index);
        let ct = phd_keys::encrypt(&node.encryptionKey, share.to_bytes().as_slice(), &aad)?;
        let msg = phd_protocol::upload_message(d.chain_id, d.data_registry, id, index, &ct);
        let sig = owner.signer().sign_message(msg.as_slice()).await?;
        let body = phd_protocol::ShareUpload {
            chain_id: d.chain_id,
            registry: d.data_registry,
            dataset_id: id.into(),
            share_index: index,
            ciphertext: ct.into(),
            signature: alloy::primitives::Bytes::copy_from_slice(&sig.as_bytes()),
        };
        let resp = http
            .put(format!("{}/v1/shares/{id}", k.endpoint()))
            .json(&body)
            .send()
            .await?;
        eyre::ensure!(
            resp.status().is_success(),
            "keeper {} refused the share: {}",
            k.index,
            resp.text().await.unwrap_or_default()
        );
    }
    wait_for("dataset active", KEEPER_TIMEOUT, || async {
        Ok(
            (phd_chain::DatasetStatus::from(owner.dataset(id).await?.status)
                == phd_chain::DatasetStatus::Active)
                .then_some(()),
        )
    })
    .await?;
    Ok(RawPublished {
        dataset_id: id,
        object_key,
        sealed_len: summary.sealed_len,
        root: summary.root,
        opening_key: std::sync::Arc::new(summary.opening_key),
    })
}

impl Stack {
    /// The customer's client context (phd-sdk).
    pub async fn customer_ctx(&self) -> eyre::Result<phd_sdk::ClientCtx> {
        let chain = self.devnet.customer_client().await?;
        let store = self.devnet.store().await?;
        Ok(phd_sdk::ClientCtx::new(chain, Some(store)))
    }

    /// The customer's step 8 with phd-sdk's retrieve: collect shares, verify, combine,
    /// download, verify every chunk, decrypt, write `out` atomically (no confirmation).
    pub async fn retrieve(
        &self,
        purchase_id: U256,
        out: &Path,
    ) -> eyre::Result<Result<phd_sdk::retrieve::RetrieveOutcome, phd_sdk::SdkError>> {
        let ctx = self.customer_ctx().await?;
        let opts = phd_sdk::retrieve::RetrieveOptions {
            share_timeout: KEEPER_TIMEOUT,
            poll: Duration::from_millis(100),
        };
        Ok(phd_sdk::retrieve::retrieve(&ctx, u64::try_from(purchase_id)?, out, &opts).await)
    }
}
