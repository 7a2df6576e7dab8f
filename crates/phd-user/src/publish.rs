//! `phd-user publish`: prepare → seal → upload → publish → shares to keepers → acknowledgements.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::Signer;
use phd_chain::{DatasetStatus, Purpose};
use phd_keys::{DatasetSecret, KeyShare};
use phd_protocol::{
    DatasetId, Health, ShareUpload, UploadReply, keeper_share_aad, share_upload_path,
    upload_message,
};
use phd_seal::SealingKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ctx::{UserCtx, id_u64};
use crate::error::{Result, UserError};
use crate::prepare::{HardwareCheck, PrepareOptions, QualityCheck, prepare};
use crate::state::LocalDataset;
use crate::util::{now_unix, write_atomic};

/// Consent terms used when `--consent-terms` is not given.
pub const DEFAULT_CONSENT_TERMS: &str = "PHD exchange standard consent terms v1: the data owner consents to \
the listed purposes only; buyers may not attempt re-identification; the owner may withdraw consent at any \
time, after which key shares are destroyed and the sealed object is deleted.";

/// Keeper choice: the flags, env variables and draw `publish` and `series create` share.
#[derive(Debug, Clone, clap::Args)]
pub struct KeeperArgs {
    /// Shares needed to reconstruct the key.
    #[arg(long, env = "PHD_THRESHOLD", default_value_t = 3)]
    pub threshold: u8,
    /// Keeper addresses (share i to the i-th), overriding the automatic choice (a warning when
    /// their total stake is small).
    #[arg(long, env = "PHD_KEEPER_ADDRESSES", value_delimiter = ',')]
    pub keepers: Vec<Address>,
    /// Number of keepers to pick automatically (at most 32): healthy staked keepers drawn at
    /// random, weighted by stake, at most one per endpoint host.
    #[arg(long, env = "PHD_KEEPERS_N", default_value_t = 5)]
    pub keepers_n: u8,
    /// Allow several automatically chosen keepers on one endpoint host (local devnets only; off
    /// by default for Sybil resistance).
    #[arg(long, env = "PHD_ALLOW_SHARED_HOSTS")]
    pub allow_shared_hosts: bool,
    /// Seed of the automatic keeper draw (reproducible choice for tests and audits; predictable
    /// by anyone who knows it, so production leaves it unset). Default: the OS random number
    /// generator.
    #[arg(long, env = "PHD_SELECTION_SEED")]
    pub selection_seed: Option<u64>,
}

impl KeeperArgs {
    /// Rejects a threshold outside `2..=keepers` before anything touches the network.
    pub fn check_threshold(&self) -> Result<()> {
        let n_wanted = if self.keepers.is_empty() {
            self.keepers_n
        } else {
            u8::try_from(self.keepers.len()).unwrap_or(u8::MAX)
        };
        if self.threshold < 2 || self.threshold > n_wanted {
            return Err(UserError::InvalidArg {
                arg: "--threshold",
                reason: format!(
                    "need 2 <= threshold <= keepers, got threshold {} with {n_wanted} keepers",
                    self.threshold
                ),
            });
        }
        Ok(())
    }
}

/// Rejects an empty `--purposes` (nothing could be bought).
pub fn require_purposes(purposes: &[Purpose]) -> Result<()> {
    if purposes.is_empty() {
        return Err(UserError::InvalidArg {
            arg: "--purposes",
            reason: "at least one purpose is required".into(),
        });
    }
    Ok(())
}

/// Inputs of [`publish`] (the `publish` command's flags).
#[derive(Debug, Clone)]
pub struct PublishArgs {
    /// CSV (time column) or BasicMotions `.ts` file.
    pub file: PathBuf,
    /// Price in PHD wei.
    pub price: U256,
    /// Consented purposes (at least one).
    pub purposes: Vec<Purpose>,
    /// Consent terms text file (hashed); `None` = [`DEFAULT_CONSENT_TERMS`].
    pub consent_terms: Option<PathBuf>,
    /// Shares needed (t).
    pub threshold: u8,
    /// Explicit keepers (share i+1 to keeper i); empty = the first `keepers_n` registered keepers
    /// whose `/health` answers.
    pub keepers: Vec<Address>,
    /// Number of keepers to pick when `keepers` is empty.
    pub keepers_n: u8,
    /// Let automatic selection pick several keepers of one endpoint host (a local devnet, where
    /// every keeper listens on 127.0.0.1); off by default (Sybil resistance).
    pub allow_shared_hosts: bool,
    /// Seed of the automatic keeper draw, for a reproducible choice (tests, audits of a past
    /// choice); `None` = the OS RNG. A seed known in advance lets others predict the choice, so
    /// production use leaves it unset.
    pub selection_seed: Option<u64>,
    /// Activities to keep (empty = all).
    pub keep_classes: Vec<String>,
    /// Columns to keep as-is.
    pub keep_columns: Vec<String>,
    /// Columns to drop.
    pub drop_columns: Vec<String>,
    /// Owner HMAC key for keyed hashes; `None` = the one in the state dir (generated once).
    pub pseudonym_key: Option<Vec<u8>>,
    /// Also write the pseudonymised canonical CSV here.
    pub pseudonymised_out: Option<PathBuf>,
    /// Refuse files without a device signature.
    pub require_certified: bool,
    /// Metadata title.
    pub title: Option<String>,
    /// Metadata data type.
    pub data_type: Option<String>,
    /// Sampling rate when the file does not say.
    pub sampling_rate_hz: Option<f64>,
    /// How long to wait for ≥ t acknowledgements.
    pub ack_timeout: Duration,
    /// Public base URL of the owner's access gateway (`phd-gateway`): the listing's storage URI
    /// becomes `<gateway>/v1/objects/<key>` and buyers read through it without S3 credentials.
    /// `None` lists `s3://bucket/key` (buyers need their own access to the bucket).
    pub gateway: Option<String>,
    /// Input format (`None`: from the extension, or the content for JSON).
    pub input_format: Option<phd_ingest::InputFormat>,
    /// Keep sensor channels the quality model does not check (listed in the metadata).
    pub keep_unchecked: bool,
}

impl PublishArgs {
    /// The keeper choice in the form `series create` and [`select_keepers`] take.
    pub fn keeper_args(&self) -> KeeperArgs {
        KeeperArgs {
            threshold: self.threshold,
            keepers: self.keepers.clone(),
            keepers_n: self.keepers_n,
            allow_shared_hosts: self.allow_shared_hosts,
            selection_seed: self.selection_seed,
        }
    }

    /// Defaults for everything but the file, price and purposes: t = 3 of 5 registered keepers,
    /// 120 s acknowledgement timeout.
    pub fn new(file: impl Into<PathBuf>, price: U256, purposes: Vec<Purpose>) -> Self {
        PublishArgs {
            file: file.into(),
            price,
            purposes,
            consent_terms: None,
            threshold: 3,
            keepers: Vec::new(),
            keepers_n: 5,
            allow_shared_hosts: false,
            selection_seed: None,
            keep_classes: Vec::new(),
            keep_columns: Vec::new(),
            drop_columns: Vec::new(),
            pseudonym_key: None,
            pseudonymised_out: None,
            require_certified: false,
            title: None,
            data_type: None,
            sampling_rate_hz: None,
            ack_timeout: Duration::from_secs(120),
            gateway: None,
            input_format: None,
            keep_unchecked: false,
        }
    }
}

/// One keeper's part in a publish.
#[derive(Debug, Clone, Serialize)]
pub struct KeeperReport {
    pub address: Address,
    pub endpoint: String,
    pub share_index: u8,
    /// Stake bonded by the keeper when chosen (PHD).
    pub stake_phd: String,
    /// On-chain acknowledgement seen.
    pub acknowledged: bool,
    /// Keeper's acknowledgement transaction, when it told us.
    pub ack_tx: Option<String>,
    /// Why the upload failed, if it did.
    pub error: Option<String>,
}

/// Result of [`publish`].
#[derive(Debug, Clone, Serialize)]
pub struct PublishOutcome {
    pub dataset_id: u64,
    pub tx_hash: String,
    pub gas_used: u64,
    pub block_number: u64,
    pub status: String,
    pub storage_uri: String,
    pub object_key: String,
    pub content_root: String,
    pub sealed_bytes: u64,
    pub plaintext_bytes: u64,
    pub rows_read: usize,
    pub rows_kept: usize,
    pub quality_score: Option<f64>,
    pub certified_device: bool,
    pub threshold: u8,
    pub acknowledged: usize,
    pub keepers: Vec<KeeperReport>,
    /// Warnings about the keeper set (explicit `--keepers` with little stake, shared hosts).
    pub warnings: Vec<String>,
    /// What happened to the input: column renames and unit conversions, sample rate and
    /// resampling, channels the model does not check (dropped or kept).
    pub input: Vec<String>,
    pub metadata: serde_json::Value,
}

/// A keeper chosen for a dataset.
#[derive(Debug, Clone)]
pub(crate) struct KeeperTarget {
    pub(crate) address: Address,
    pub(crate) endpoint: String,
    pub(crate) encryption_key: Vec<u8>,
    pub(crate) stake: U256,
}

/// Publishes `args.file`. `quality`/`hardware`: see [`crate::prepare::prepare`]
/// ([`crate::checks::ModelQuality`] and [`crate::checks::DeviceSignature`] are the real ones).
pub async fn publish(
    ctx: &UserCtx,
    args: &PublishArgs,
    quality: Option<&dyn QualityCheck>,
    hardware: Option<&dyn HardwareCheck>,
) -> Result<PublishOutcome> {
    require_purposes(&args.purposes)?;
    let choice = args.keeper_args();
    choice.check_threshold()?;
    let store = ctx.store()?;

    // 1. Local preparation (nothing leaves the machine yet).
    let terms_hash = consent_terms_hash(args.consent_terms.as_deref())?;
    let pseudonym_key = match &args.pseudonym_key {
        Some(k) => zeroize::Zeroizing::new(k.clone()),
        None => ctx.state.pseudonym_key()?,
    };
    let opts = PrepareOptions {
        keep_classes: args.keep_classes.clone(),
        keep_columns: args.keep_columns.clone(),
        drop_columns: args.drop_columns.clone(),
        title: args.title.clone(),
        data_type: args.data_type.clone(),
        purposes: args.purposes.iter().map(|p| p.name().to_string()).collect(),
        consent_terms_hash: format!("0x{}", hex::encode(terms_hash)),
        sampling_rate_hz: args.sampling_rate_hz,
        pseudonym_key: pseudonym_key.to_vec(),
        require_certified: args.require_certified,
        input_format: args.input_format,
        keep_unchecked: args.keep_unchecked,
    };
    let spinner = ctx
        .progress
        .bar(None, "checking, scoring and pseudonymising");
    // CPU-bound but short (seconds); the checks borrow from the caller, so it runs inline.
    let mut prepared = prepare(&args.file, &opts, quality, hardware)?;
    spinner.finish_and_clear();

    // 2. Hardware: the manufacturer must be approved on-chain.
    if let Some(dev) = &prepared.device {
        let m: Address = dev.manufacturer.parse().map_err(|_| UserError::Hardware {
            path: args.file.clone(),
            reason: format!("manufacturer `{}` is not an address", dev.manufacturer),
        })?;
        let ok = ctx
            .chain
            .is_approved_manufacturer(m)
            .await
            .map_err(|e| UserError::chain("checking the device manufacturer", e))?;
        if !ok {
            return Err(UserError::Hardware {
                path: args.file.clone(),
                reason: format!(
                    "manufacturer {m} is not on the on-chain approved list (KeeperRegistry)"
                ),
            });
        }
    }

    // 3. Keepers (before anything is uploaded).
    let mut warnings = Vec::new();
    let targets = select_keepers(ctx, &choice, &mut warnings).await?;
    let n = u8::try_from(targets.len()).unwrap_or(u8::MAX);

    // 4. Local copies.
    if let Some(out) = &args.pseudonymised_out {
        write_atomic(out, &prepared.canonical)?;
    }

    // 5. Secret, shares, seal.
    let secret = DatasetSecret::generate()
        .map_err(|e| UserError::keys("generating the dataset secret", e))?;
    let (shares, commitments) = phd_keys::split(&secret, args.threshold, n)
        .map_err(|e| UserError::keys("splitting the dataset secret", e))?;
    let key = SealingKey::from_derived(secret.data_key()).map_err(|e| UserError::Seal {
        path: args.file.clone(),
        source: Box::new(e),
    })?;
    drop(secret);
    // 6. Seal and upload at once: parts go out while later chunks are still being sealed. The
    // object is named before its content root exists, so it gets a fresh random name.
    let object_key = format!(
        "datasets/{:#x}/{}.phd",
        ctx.owner(),
        phd_sdk::sealed_upload::fresh_object_name()?
    );
    let storage_uri = match &args.gateway {
        Some(gw) => phd_protocol::gateway::gateway_object_uri(gw, &object_key),
        None => format!("s3://{}/{}", store.bucket(), object_key),
    };
    // Shared, not copied: the sealer reads it while it is also the local copy written below.
    let canonical = Bytes::from(std::mem::take(&mut prepared.canonical));
    let opts = phd_sdk::sealed_upload::SealUploadOptions {
        plaintext_len: canonical.len() as u64,
        ..Default::default()
    };
    let pb = ctx.progress.bytes(
        phd_seal::sealed_len_bound(opts.plaintext_len, opts.seal.chunk_size),
        "sealing and uploading",
    );
    let sealed = phd_sdk::sealed_upload::seal_and_upload(
        store,
        &object_key,
        key,
        std::io::Cursor::new(canonical.0.clone()),
        &opts,
        |done| pb.set_position(done),
    )
    .await;
    pb.finish_and_clear();
    let summary = match sealed {
        Ok(s) => s.summary,
        Err(phd_sdk::SdkError::Seal { source, .. }) => {
            return Err(UserError::Seal {
                path: args.file.clone(),
                source: Box::new(source),
            });
        }
        Err(phd_sdk::SdkError::Storage { source, .. }) => {
            return Err(UserError::Storage {
                context: format!("uploading {storage_uri} (nothing was published)"),
                source,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let content_root = B256::from(summary.root);
    let root_hex = format!("{content_root:#x}");

    let local_copy = ctx.state.data_path(&root_hex);
    write_atomic(&local_copy, &canonical)?;
    let mut record = LocalDataset {
        dataset_id: None,
        object_key: object_key.clone(),
        storage_uri: storage_uri.clone(),
        content_root: root_hex.clone(),
        source_file: args.file.clone(),
        pseudonymised_file: Some(local_copy),
        publish_tx: None,
        created_at: now_unix(),
        metadata: serde_json::from_slice(&prepared.metadata_json)
            .unwrap_or(serde_json::Value::Null),
        object_deleted: false,
    };
    ctx.state.upsert(&record)?;

    // 7. Publish on-chain; on failure delete the object again.
    let params = phd_chain::PublishParams {
        storage_uri: storage_uri.clone(),
        content_root,
        metadata: Bytes::from(prepared.metadata_json.clone()),
        price: args.price,
        keepers: targets.iter().map(|k| k.address).collect(),
        threshold: args.threshold,
        commitments: commitments
            .to_bytes()
            .iter()
            .map(|c| Bytes::copy_from_slice(c))
            .collect(),
        purposes: args.purposes.clone(),
        consent_terms_hash: B256::from(terms_hash),
    };
    let (tx, dataset_id) = match ctx.chain.publish(&params).await {
        Ok(r) => r,
        Err(e) => {
            let err = UserError::chain("publishing the dataset", e);
            let state = match store.delete(&object_key).await {
                Ok(()) => {
                    record.object_deleted = true;
                    let _ = ctx.state.upsert(&record);
                    format!(
                        "nothing published; the uploaded object {storage_uri} was deleted again"
                    )
                }
                Err(de) => format!(
                    "nothing published; the uploaded object {storage_uri} is still there (deleting it failed: {de}); \
                     delete it by hand"
                ),
            };
            return Err(UserError::Partial {
                state,
                source: Box::new(err),
            });
        }
    };
    let did = id_u64(dataset_id);
    record.dataset_id = Some(did);
    record.publish_tx = Some(format!("{:#x}", tx.tx_hash));
    ctx.state.upsert(&record)?;

    // 8. Shares to keepers, concurrently; then wait for ≥ t acknowledgements on-chain.
    let mut reports = send_shares(ctx, dataset_id, &targets, &shares).await;
    let acked = wait_for_acks(
        ctx,
        dataset_id,
        &targets,
        &mut reports,
        args.threshold,
        args.ack_timeout,
    )
    .await;
    let dataset = ctx.chain.dataset(dataset_id).await.ok();
    let status = dataset
        .as_ref()
        .map_or(DatasetStatus::Pending, |d| DatasetStatus::from(d.status));
    if acked < usize::from(args.threshold) {
        let details = reports
            .iter()
            .map(|r| {
                format!(
                    "{} ({}): {}",
                    r.address,
                    r.endpoint,
                    r.error.as_deref().unwrap_or(if r.acknowledged {
                        "acknowledged"
                    } else {
                        "no acknowledgement"
                    })
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(UserError::Partial {
            state: format!(
                "dataset {did} is published (tx {:#x}) but {status}; the object is uploaded at {storage_uri}; \
                 run `phd-user withdraw-consent {did}` to take it down, or `phd-user status {did}` to watch",
                tx.tx_hash
            ),
            source: Box::new(UserError::AckTimeout {
                dataset_id: did,
                acked,
                threshold: usize::from(args.threshold),
                secs: args.ack_timeout.as_secs(),
                details,
            }),
        });
    }

    Ok(PublishOutcome {
        dataset_id: did,
        tx_hash: format!("{:#x}", tx.tx_hash),
        gas_used: tx.gas_used,
        block_number: tx.block_number,
        status: status.to_string(),
        storage_uri,
        object_key,
        content_root: root_hex,
        sealed_bytes: summary.sealed_len,
        plaintext_bytes: summary.plaintext_len,
        rows_read: prepared.rows_read,
        rows_kept: prepared.rows_kept,
        quality_score: prepared.metadata.quality.as_ref().map(|q| q.score),
        certified_device: prepared.device.is_some(),
        threshold: args.threshold,
        acknowledged: acked,
        keepers: reports,
        warnings,
        input: prepared.input_lines(),
        metadata: record.metadata,
    })
}

/// SHA-256 of the consent terms text (file, or [`DEFAULT_CONSENT_TERMS`]).
pub fn consent_terms_hash(path: Option<&Path>) -> Result<[u8; 32]> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|source| UserError::Read {
            path: p.to_path_buf(),
            source,
        })?,
        None => DEFAULT_CONSENT_TERMS.to_string(),
    };
    Ok(Sha256::digest(text.as_bytes()).into())
}

/// Most keepers a dataset can have (`DataRegistry.MAX_KEEPERS`).
pub const MAX_KEEPERS: u8 = 32;

/// An explicit keeper set whose total stake is below this many minimum stakes per keeper gets a
/// warning: keepers bonded at about the minimum are the cheapest to run as a Sybil set.
const SMALL_STAKE_FACTOR: u64 = 2;

/// A healthy, staked keeper that automatic selection may pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub address: Address,
    /// Operator host (the endpoint's host): at most one keeper per host is chosen.
    pub host: String,
    pub stake: U256,
}

/// The host of a keeper endpoint (lower-case), or the whole endpoint when it is not a URL.
pub fn endpoint_host(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| endpoint.trim().to_ascii_lowercase())
}

/// Sybil-resistant choice of `n` keepers among `cands`: random, weighted by stake, without
/// replacement, and at most one per operator host (a second keeper on a host adds no
/// independence). Candidates with zero stake are never chosen. Returns indices into `cands` in
/// the order drawn; fewer than `n` when there are not enough distinct hosts.
pub fn choose_keepers(cands: &[Candidate], n: usize, rng: &mut dyn FnMut() -> u64) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(n);
    let mut hosts: Vec<&str> = Vec::with_capacity(n);
    while chosen.len() < n {
        let pool: Vec<usize> = (0..cands.len())
            .filter(|i| {
                !chosen.contains(i)
                    && !cands[*i].stake.is_zero()
                    && !hosts.contains(&cands[*i].host.as_str())
            })
            .collect();
        let total = pool
            .iter()
            .fold(U256::ZERO, |a, i| a.saturating_add(cands[*i].stake));
        if pool.is_empty() || total.is_zero() {
            break;
        }
        // 256 random bits reduced mod the total: the bias is below 2^-128 for any real stake.
        let mut pick = U256::from_limbs([rng(), rng(), rng(), rng()]) % total;
        let mut drawn = pool[pool.len() - 1];
        for i in &pool {
            if pick < cands[*i].stake {
                drawn = *i;
                break;
            }
            pick -= cands[*i].stake;
        }
        chosen.push(drawn);
        hosts.push(cands[drawn].host.as_str());
    }
    chosen
}

fn os_random_u64() -> u64 {
    use rand::TryRng;
    // The OS RNG failing is not recoverable here; a fixed value would make the choice
    // predictable, so fall back to the clock's nanoseconds only to stay total.
    rand::rngs::SysRng.try_next_u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into())
    })
}

/// A reproducible stream for [`choose_keepers`]: SHA-256 of a domain tag, the seed and a counter
/// (uniform 64-bit words, unlike a plain counter or a weak PRNG that could skew the draw).
pub fn seeded_u64s(seed: u64) -> impl FnMut() -> u64 {
    let mut block = [0u8; 32];
    let mut used = block.len();
    let mut counter = 0u64;
    move || {
        if used == block.len() {
            let mut h = Sha256::new();
            h.update(b"PHD exchange keeper selection v1");
            h.update(seed.to_be_bytes());
            h.update(counter.to_be_bytes());
            block = h.finalize().into();
            counter += 1;
            used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&block[used..used + 8]);
        used += 8;
        u64::from_be_bytes(word)
    }
}

/// Explicit keepers (each must be an active, staked keeper; a warning when their total stake is
/// small or hosts repeat), or `n` keepers chosen by [`choose_keepers`] among the registered,
/// staked keepers whose `/health` answers as themselves.
pub(crate) async fn select_keepers(
    ctx: &UserCtx,
    choice: &KeeperArgs,
    warnings: &mut Vec<String>,
) -> Result<Vec<KeeperTarget>> {
    let explicit = &choice.keepers[..];
    let n = choice.keepers_n;
    if usize::from(n) > usize::from(MAX_KEEPERS) || explicit.len() > usize::from(MAX_KEEPERS) {
        return Err(UserError::InvalidArg {
            arg: "--keepers-n",
            reason: format!("at most {MAX_KEEPERS} keepers per dataset"),
        });
    }
    let min_stake = ctx
        .chain
        .min_stake()
        .await
        .map_err(|e| UserError::chain("reading the minimum stake", e))?;
    let mut out = Vec::new();
    if !explicit.is_empty() {
        for (i, a) in explicit.iter().enumerate() {
            if explicit[..i].contains(a) {
                return Err(UserError::InvalidArg {
                    arg: "--keepers",
                    reason: format!("keeper {a} is listed twice"),
                });
            }
            let node = ctx
                .chain
                .node(*a)
                .await
                .map_err(|e| UserError::chain("reading the keeper registry", e))?;
            if node.role != 1 {
                return Err(UserError::Keepers {
                    reason: format!("{a} is not a registered keeper"),
                });
            }
            if !ctx
                .chain
                .is_keeper(*a)
                .await
                .map_err(|e| UserError::chain("reading the keeper registry", e))?
            {
                return Err(UserError::Keepers {
                    reason: format!(
                        "{a} is not an active keeper (exiting, or stake below the minimum)"
                    ),
                });
            }
            let stake = ctx
                .chain
                .stake_of(*a)
                .await
                .map_err(|e| UserError::chain("reading a keeper's stake", e))?
                .amount;
            out.push(KeeperTarget {
                address: *a,
                endpoint: node.endpoint,
                encryption_key: node.encryptionKey.to_vec(),
                stake,
            });
        }
        let total = out
            .iter()
            .fold(U256::ZERO, |a, t| a.saturating_add(t.stake));
        let floor = min_stake
            .saturating_mul(U256::from(SMALL_STAKE_FACTOR))
            .saturating_mul(U256::from(out.len()));
        if total < floor {
            warnings.push(format!(
                "the chosen keepers stake {} PHD in total (less than {SMALL_STAKE_FACTOR} x the minimum per keeper): little is at risk if they collude",
                phd_chain::format_phd(total)
            ));
        }
        let mut hosts: Vec<String> = out.iter().map(|t| endpoint_host(&t.endpoint)).collect();
        hosts.sort();
        if hosts.windows(2).any(|w| w[0] == w[1]) {
            warnings.push(
                "several of the chosen keepers run on one host: they are not independent".into(),
            );
        }
        return Ok(out);
    }
    let all = ctx
        .chain
        .keepers()
        .await
        .map_err(|e| UserError::chain("reading the keeper registry", e))?;
    let mut skipped = Vec::new();
    let mut nodes = Vec::new();
    for a in all {
        let node = ctx
            .chain
            .node(a)
            .await
            .map_err(|e| UserError::chain("reading the keeper registry", e))?;
        let stake = ctx
            .chain
            .stake_of(a)
            .await
            .map_err(|e| UserError::chain("reading a keeper's stake", e))?
            .amount;
        if stake < min_stake {
            skipped.push(format!(
                "{a}: stake {} below the minimum",
                phd_chain::format_phd(stake)
            ));
            continue;
        }
        nodes.push((a, node, stake));
    }
    let checks =
        futures::future::join_all(nodes.iter().map(|(_, node, _)| health(ctx, &node.endpoint)))
            .await;
    let mut cands = Vec::new();
    let mut targets = Vec::new();
    for ((a, node, stake), h) in nodes.into_iter().zip(checks) {
        match h {
            Ok(h) if h.address != a => {
                skipped.push(format!("{a} ({}): answers as {}", node.endpoint, h.address))
            }
            Ok(_) => {
                let host = endpoint_host(&node.endpoint);
                // Shared hosts allowed: each keeper counts as its own operator.
                let host = if choice.allow_shared_hosts {
                    format!("{host}#{a}")
                } else {
                    host
                };
                cands.push(Candidate {
                    address: a,
                    host,
                    stake,
                });
                targets.push(KeeperTarget {
                    address: a,
                    endpoint: node.endpoint,
                    encryption_key: node.encryptionKey.to_vec(),
                    stake,
                });
            }
            Err(e) => skipped.push(format!("{a} ({}): {e}", node.endpoint)),
        }
    }
    let picked = match choice.selection_seed {
        Some(seed) => choose_keepers(&cands, usize::from(n), &mut seeded_u64s(seed)),
        None => choose_keepers(&cands, usize::from(n), &mut os_random_u64),
    };
    if picked.len() < usize::from(n) {
        let hosts = {
            let mut h: Vec<&str> = cands.iter().map(|c| c.host.as_str()).collect();
            h.sort_unstable();
            h.dedup();
            h.len()
        };
        return Err(UserError::Keepers {
            reason: format!(
                "wanted {n} healthy staked keepers on distinct hosts, found {} keepers on {hosts} hosts{}",
                cands.len(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (left out: {})", skipped.join("; "))
                }
            ),
        });
    }
    out.extend(picked.into_iter().filter_map(|i| targets.get(i).cloned()));
    Ok(out)
}

async fn health(ctx: &UserCtx, endpoint: &str) -> std::result::Result<Health, String> {
    let url = format!("{}/health", endpoint.trim_end_matches('/'));
    let resp = ctx
        .http
        .get(&url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("/health answered {}", resp.status()));
    }
    resp.json::<Health>()
        .await
        .map_err(|e| format!("bad /health reply: {e}"))
}

async fn send_shares(
    ctx: &UserCtx,
    dataset_id: U256,
    targets: &[KeeperTarget],
    shares: &[KeyShare],
) -> Vec<KeeperReport> {
    let pb = ctx
        .progress
        .bar(Some(targets.len() as u64), "sending shares to keepers");
    let futs = targets.iter().zip(shares).map(|(t, s)| {
        let pb = pb.clone();
        async move {
            let r = upload_share(ctx, dataset_id, t, s).await;
            pb.inc(1);
            let (ack_tx, error) = match r {
                Ok(reply) => (reply.tx_hash.map(|h| format!("{h:#x}")), None),
                Err(e) => (None, Some(e)),
            };
            KeeperReport {
                address: t.address,
                endpoint: t.endpoint.clone(),
                share_index: s.index(),
                stake_phd: phd_chain::format_phd(t.stake),
                acknowledged: false,
                ack_tx,
                error,
            }
        }
    });
    let out = futures::future::join_all(futs).await;
    pb.finish_and_clear();
    out
}

async fn upload_share(
    ctx: &UserCtx,
    dataset_id: U256,
    t: &KeeperTarget,
    share: &KeyShare,
) -> std::result::Result<UploadReply, String> {
    let d = ctx.chain.deployment();
    let index = share.index();
    let aad = keeper_share_aad(d.chain_id, d.data_registry, dataset_id, index);
    let ct = phd_keys::encrypt(&t.encryption_key, share.to_bytes().as_slice(), &aad)
        .map_err(|e| format!("cannot encrypt to its registered key: {e}"))?;
    let msg = upload_message(d.chain_id, d.data_registry, dataset_id, index, &ct);
    let sig = ctx
        .chain
        .signer()
        .sign_message(msg.as_slice())
        .await
        .map_err(|e| format!("signing failed: {e}"))?;
    let body = ShareUpload {
        chain_id: d.chain_id,
        registry: d.data_registry,
        dataset_id: DatasetId::new(dataset_id),
        share_index: index,
        ciphertext: ct.into(),
        signature: Bytes::copy_from_slice(&sig.as_bytes()),
    };
    let url = share_upload_path(&t.endpoint, body.dataset_id);
    let resp = ctx
        .http
        .put(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or(text);
        return Err(format!("refused the share ({status}): {msg}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("bad reply: {e}"))
}

async fn wait_for_acks(
    ctx: &UserCtx,
    dataset_id: U256,
    targets: &[KeeperTarget],
    reports: &mut [KeeperReport],
    threshold: u8,
    timeout: Duration,
) -> usize {
    let pb = ctx.progress.bar(
        Some(u64::from(threshold)),
        "waiting for keeper acknowledgements",
    );
    let start = Instant::now();
    let want_all = reports
        .iter()
        .filter(|r| r.error.is_none())
        .count()
        .max(usize::from(threshold));
    loop {
        let mut acked = 0usize;
        for (t, r) in targets.iter().zip(reports.iter_mut()) {
            if !r.acknowledged {
                r.acknowledged = ctx
                    .chain
                    .has_acknowledged(dataset_id, t.address)
                    .await
                    .unwrap_or(false);
            }
            acked += usize::from(r.acknowledged);
        }
        pb.set_position(acked.min(usize::from(threshold)) as u64);
        // Enough once every keeper that took the share acknowledged, or ≥ t and a short grace.
        let done_all = acked >= want_all;
        let grace = acked >= usize::from(threshold) && start.elapsed() > Duration::from_secs(2);
        if done_all || grace || start.elapsed() >= timeout {
            pb.finish_and_clear();
            return acked;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod selection_tests {
    use super::*;

    fn cand(i: u8, host: &str, stake: u64) -> Candidate {
        Candidate {
            address: Address::repeat_byte(i),
            host: host.into(),
            stake: U256::from(stake),
        }
    }

    /// A deterministic xorshift stream standing in for the OS RNG.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed.max(1);
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            endpoint_host("http://Keeper-1.example:8080/api"),
            "keeper-1.example"
        );
        assert_eq!(endpoint_host("http://127.0.0.1:9001"), "127.0.0.1");
        assert_eq!(endpoint_host("not a url"), "not a url");
    }

    #[test]
    fn at_most_one_per_host_and_never_unstaked() {
        // Ten Sybil keepers on one host with a large total stake, one unstaked, three honest hosts.
        let mut c: Vec<Candidate> = (0..10).map(|i| cand(i, "sybil.example", 1_000)).collect();
        c.push(cand(20, "zero.example", 0));
        c.push(cand(21, "a.example", 100));
        c.push(cand(22, "b.example", 100));
        c.push(cand(23, "c.example", 100));
        for seed in 1..200 {
            let picked = choose_keepers(&c, 4, &mut rng(seed));
            assert_eq!(picked.len(), 4);
            let sybils = picked
                .iter()
                .filter(|i| c[**i].host == "sybil.example")
                .count();
            assert!(
                sybils <= 1,
                "seed {seed}: {sybils} keepers of one host chosen"
            );
            assert!(!picked.contains(&10), "an unstaked keeper was chosen");
            let mut dedup = picked.clone();
            dedup.sort_unstable();
            dedup.dedup();
            assert_eq!(dedup.len(), picked.len(), "a keeper chosen twice");
        }
        // Not enough distinct hosts: fewer than asked, never a repeat.
        assert_eq!(choose_keepers(&c, 6, &mut rng(7)).len(), 4);
    }

    #[test]
    fn weighted_by_stake() {
        // Host a stakes 9x host b: over many draws of one keeper, a wins far more often.
        let c = vec![cand(1, "a", 9_000), cand(2, "b", 1_000)];
        let mut r = rng(42);
        let a_wins = (0..2_000)
            .filter(|_| choose_keepers(&c, 1, &mut r) == vec![0])
            .count();
        assert!(
            (1_600..=1_990).contains(&a_wins),
            "a chosen {a_wins}/2000 times"
        );
    }

    #[test]
    fn seeded_choice_is_reproducible_and_still_weighted() {
        let c = vec![cand(1, "a", 9_000), cand(2, "b", 1_000), cand(3, "c", 500)];
        let draw = |seed| choose_keepers(&c, 2, &mut seeded_u64s(seed));
        assert_eq!(draw(7), draw(7));
        assert!(
            (0..64)
                .map(draw)
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1,
            "the seed does not change the draw"
        );
        let mut r = seeded_u64s(42);
        let a_wins = (0..2_000)
            .filter(|_| choose_keepers(&c, 1, &mut r) == vec![0])
            .count();
        // Expected 2000 × 9000/10500 ≈ 1714.
        assert!(
            (1_600..=1_820).contains(&a_wins),
            "a chosen {a_wins}/2000 times"
        );
    }

    #[test]
    fn empty_and_zero() {
        assert!(choose_keepers(&[], 3, &mut rng(1)).is_empty());
        assert!(choose_keepers(&[cand(1, "a", 0)], 1, &mut rng(1)).is_empty());
    }
}
