//! Step 8: collect shares → decrypt → Feldman-verify → combine → C0 → data key → pipelined fetch
//! (`crate::fetch`: root first, then every chunk verified and decrypted as it arrives) → rename.
//! Used by `buy` and, for grants, by the validator and the owner's portability copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use phd_chain::PurchaseStatus;
use phd_keys::{Commitments, DeliveryContext, EncryptionSecretKey, KeyError, KeyShare};
use phd_seal::OpeningKey;
use phd_storage::{RangedObject, S3Object};
use serde::Serialize;

use crate::ctx::{ClientCtx, id_u64};
use crate::error::{BadShare, DisputeKind, Result, SdkError};
use crate::events::RetrieveEvent;
use crate::fetch::{FetchOptions, fetch_and_open};
use crate::objects::{SealedObject, UrlObject};
use crate::util::parse_s3_uri;

/// Options of [`retrieve`].
#[derive(Debug, Clone)]
pub struct RetrieveOptions {
    /// How long to wait for ≥ t valid shares (also bounded by the delivery deadline).
    pub share_timeout: Duration,
    /// Poll interval for `ShareDelivered` events.
    pub poll: Duration,
}

impl Default for RetrieveOptions {
    fn default() -> Self {
        RetrieveOptions {
            share_timeout: Duration::from_secs(120),
            poll: Duration::from_millis(300),
        }
    }
}

/// Result of [`retrieve`].
#[derive(Debug, Clone, Serialize)]
pub struct RetrieveOutcome {
    pub purchase_id: u64,
    pub dataset_id: u64,
    pub out: PathBuf,
    pub bytes_written: u64,
    pub chunks: u64,
    pub storage_uri: String,
    /// Indices of the shares used to reconstruct the key.
    pub shares_used: Vec<u8>,
    /// Shares that failed verification, each naming its keeper.
    pub bad_shares: Vec<BadShare>,
    /// Where the object was fetched from: `gateway`, `s3` or `presigned-url`.
    pub source: String,
}

/// One decrypted, verified share (and the optional presigned URL that came with it).
pub(crate) struct GoodShare {
    share: KeyShare,
    url: Option<String>,
}

/// The dataset's Feldman commitments as stored on-chain.
pub(crate) async fn onchain_commitments(
    ctx: &ClientCtx,
    dataset_id: U256,
    purchase_id: u64,
) -> Result<Commitments> {
    let raw = ctx
        .chain
        .commitments_of(dataset_id)
        .await
        .map_err(|e| SdkError::chain("reading commitments", e))?;
    let points: Vec<[u8; 33]> = raw
        .iter()
        .map(|c| <[u8; 33]>::try_from(c.as_ref()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| SdkError::Reconstruct {
            purchase_id,
            reason: "on-chain commitment of wrong length".into(),
        })?;
    Commitments::from_bytes(&points).map_err(|e| SdkError::Reconstruct {
        purchase_id,
        reason: format!("on-chain commitments: {e}"),
    })
}

/// The acting account's key as an encryption key (purchases are made to the account's pubkey).
pub(crate) fn account_key(ctx: &ClientCtx, purchase_id: u64) -> Result<EncryptionSecretKey> {
    EncryptionSecretKey::from_bytes(ctx.chain.signer().to_bytes().as_slice()).map_err(|e| {
        SdkError::Reconstruct {
            purchase_id,
            reason: format!("account key: {e}"),
        }
    })
}

/// The context a keeper's delivery for `purchase_id` under share `index` is bound to.
pub fn delivery_context(
    chain_id: u64,
    marketplace: Address,
    purchase_id: U256,
    index: u8,
) -> DeliveryContext {
    DeliveryContext {
        chain_id,
        marketplace: marketplace.into_array(),
        purchase_id: purchase_id.to_be_bytes::<32>(),
        index,
    }
}

/// Opens one provable delivery (FORMATS.md §2.4): unmask + Feldman check, then the optional
/// encrypted tail (a presigned URL). On failure: the reason and how it can be disputed.
pub(crate) fn open_provable(
    esk: &EncryptionSecretKey,
    payload: &[u8],
    dctx: &DeliveryContext,
    commitments: &Commitments,
) -> std::result::Result<GoodShare, (String, Option<DisputeKind>)> {
    let share = match phd_keys::open_delivery(esk, payload, dctx, commitments) {
        Ok(s) => s,
        Err(e @ KeyError::MalformedDelivery { .. }) => {
            return Err((
                format!("malformed delivery ({e})"),
                Some(DisputeKind::Malformed),
            ));
        }
        Err(e @ KeyError::ShareVerification { .. }) => {
            return Err((
                format!("does not match the on-chain commitments ({e})"),
                Some(DisputeKind::WrongShare),
            ));
        }
        Err(e) => return Err((format!("cannot open the delivery ({e})"), None)),
    };
    // The tail is not covered by disputes; a bad tail only loses the URL, never the share.
    let url = match phd_keys::open_delivery_tail(esk, payload, dctx) {
        Ok(Some(pt)) => std::str::from_utf8(&pt)
            .ok()
            .map(str::trim)
            .filter(|u| u.starts_with("http"))
            .map(str::to_string),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(index = dctx.index, error = %e, "delivery tail does not open; ignoring its URL");
            None
        }
    };
    Ok(GoodShare { share, url })
}

/// Retrieves the data of purchase (or grant) `purchase_id` into `out` (atomically). Does not
/// confirm on-chain (the buyer does, with `phd_customer::buy::confirm`).
pub async fn retrieve(
    ctx: &ClientCtx,
    purchase_id: u64,
    out: &Path,
    opts: &RetrieveOptions,
) -> Result<RetrieveOutcome> {
    let pid = U256::from(purchase_id);
    let chain = &ctx.chain;
    let p = my_purchase(ctx, purchase_id).await?;
    if PurchaseStatus::from(p.status) == PurchaseStatus::Refunded {
        return Err(SdkError::Purchase {
            purchase_id,
            reason: "was refunded; keepers no longer deliver".into(),
        });
    }
    let dataset_id = id_u64(p.datasetId);
    let d = chain
        .dataset(p.datasetId)
        .await
        .map_err(|e| SdkError::chain("reading the dataset", e))?;
    let commitments = onchain_commitments(ctx, p.datasetId, purchase_id).await?;
    let t = commitments.threshold();

    // Our account key unmasks the deliveries (they are made to the purchase's pubkey).
    let esk = account_key(ctx, purchase_id)?;
    let dep = chain.deployment();

    // Collect shares.
    ctx.emit(RetrieveEvent::WaitingForShares {
        purchase_id,
        threshold: t,
    });
    let pb = ctx.progress.bar(
        Some(t as u64),
        format!("waiting for key shares (purchase {purchase_id})"),
    );
    let start = Instant::now();
    let mut good: Vec<GoodShare> = Vec::new();
    let mut bad: Vec<BadShare> = Vec::new();
    let mut seen: Vec<Address> = Vec::new();
    loop {
        let deliveries = chain
            .share_deliveries(pid, phd_chain::BlockRange::all())
            .await
            .map_err(|e| SdkError::chain("reading share deliveries", e))?;
        for dl in deliveries {
            let keeper = dl.event.keeper;
            if seen.contains(&keeper) {
                continue;
            }
            seen.push(keeper);
            let idx = dl.event.shareIndex;
            let payload = dl.event.payload.clone();
            let dctx = delivery_context(dep.chain_id, dep.marketplace, pid, idx);
            let opened = open_provable(&esk, &payload, &dctx, &commitments);
            ctx.emit(RetrieveEvent::ShareChecked {
                share_index: idx,
                keeper: format!("{keeper:#x}"),
                valid: opened.is_ok(),
            });
            match opened {
                Ok(g) => good.push(g),
                Err((reason, dispute)) => {
                    bad.push(BadShare {
                        keeper: format!("{keeper:#x}"),
                        share_index: idx,
                        reason,
                        payload,
                        dispute,
                    });
                }
            }
        }
        pb.set_position(good.len().min(t) as u64);
        if good.len() >= t {
            break;
        }
        let now = chain.block_timestamp().await.unwrap_or(0);
        let deadline_passed = p.deliveryDeadline != 0 && now > p.deliveryDeadline;
        if start.elapsed() >= opts.share_timeout || deadline_passed {
            pb.finish_and_clear();
            for b in &bad {
                tracing::warn!("{b}");
            }
            return Err(SdkError::NotEnoughShares {
                purchase_id,
                good: good.len(),
                threshold: t,
                secs: start.elapsed().as_secs(),
                bad,
            });
        }
        tokio::time::sleep(opts.poll).await;
    }
    pb.finish_and_clear();
    for b in &bad {
        tracing::warn!("{b}");
    }

    // Combine any t good ones; C0 check.
    let chosen: Vec<KeyShare> = good.iter().take(t).map(|g| g.share.clone()).collect();
    let secret = phd_keys::combine(&chosen, &commitments).map_err(|e| SdkError::Reconstruct {
        purchase_id,
        reason: e.to_string(),
    })?;
    if secret.key_commitment() != commitments.key_commitment() {
        return Err(SdkError::Reconstruct {
            purchase_id,
            reason: "secret does not match the key commitment C0".into(),
        });
    }
    let key = OpeningKey::from_derived(secret.data_key());
    let secret_bytes = secret.to_bytes(); // only for an owner-fraud proof (crate::fraud)
    drop(secret);
    ctx.emit(RetrieveEvent::KeyReconstructed {
        shares_used: chosen.iter().map(KeyShare::index).collect(),
    });

    // Fetch, verify and decrypt in one pipeline into a partial file next to `out`, renamed
    // into place after the last chunk (resumed if an earlier attempt was interrupted).
    let uri = d.storageUri.clone();
    let root: [u8; 32] = d.contentRoot.0;
    let (object, source) = download(
        ctx,
        &uri,
        (dataset_id, purchase_id),
        good.iter().find_map(|g| g.url.as_deref()),
    )?;
    let pb = ctx.progress.bar(
        None,
        format!(
            "downloading, verifying and decrypting {}",
            object.describe()
        ),
    );
    let emit = |e: RetrieveEvent| {
        if let RetrieveEvent::Decrypted { bytes } = &e {
            pb.set_position(*bytes);
        }
        ctx.emit(e);
    };
    let fetched = fetch_and_open(
        Arc::new(object),
        &key,
        root,
        out,
        &uri,
        &FetchOptions::default(),
        &emit,
    )
    .await;
    pb.finish_and_clear();
    let summary = match fetched {
        Ok(s) => s,
        Err(SdkError::KeyCheckMismatch { evidence, .. }) => {
            return Err(SdkError::WrongKey {
                purchase_id,
                dataset_id,
                storage_uri: uri,
                evidence: Box::new(phd_chain::OwnerFraudEvidence {
                    secret: alloy::primitives::B256::from(*secret_bytes),
                    header: evidence.header,
                    chunk_count: evidence.chunk_count,
                    plaintext_len: evidence.plaintext_len,
                    tree_root: alloy::primitives::B256::from(evidence.tree_root),
                }),
            });
        }
        Err(e) => return Err(e),
    };
    ctx.emit(RetrieveEvent::Done {
        bytes: summary.plaintext_len,
    });

    Ok(RetrieveOutcome {
        purchase_id,
        dataset_id,
        out: out.to_path_buf(),
        bytes_written: summary.plaintext_len,
        chunks: summary.chunks,
        storage_uri: uri,
        shares_used: chosen.iter().map(KeyShare::index).collect(),
        bad_shares: bad,
        source,
    })
}

/// Chooses where the sealed object is read from: S3 when the store is configured for its
/// bucket, else a keeper-provided presigned URL. Returns the object and its label (`s3` or
/// `presigned-url`).
fn download(
    ctx: &ClientCtx,
    uri: &str,
    (dataset_id, purchase_id): (u64, u64),
    presigned: Option<&str>,
) -> Result<(SealedObject, String)> {
    if let Some(obj) =
        crate::gateway::GatewayObject::for_purchase(ctx, uri, dataset_id, purchase_id)
    {
        return Ok((
            SealedObject::Gateway(std::sync::Arc::new(obj)),
            "gateway".into(),
        ));
    }
    if let (Some((bucket, key)), Some(store)) = (parse_s3_uri(uri), &ctx.store)
        && store.bucket() == bucket
    {
        return Ok((
            SealedObject::S3(S3Object::new(store.clone(), key)),
            "s3".into(),
        ));
    }
    let Some(url) = presigned else {
        return Err(SdkError::Storage {
            context: format!("downloading {uri}"),
            source: "no S3 access to this bucket (set --s3-bucket and credentials) and no keeper sent a presigned URL".into(),
        });
    };
    Ok((
        SealedObject::Url(UrlObject::new(ctx.http.clone(), url)),
        "presigned-url".into(),
    ))
}

/// The purchase `purchase_id`, refused unless it exists and the context's account bought it.
pub(crate) async fn my_purchase(ctx: &ClientCtx, purchase_id: u64) -> Result<phd_chain::Purchase> {
    let p = ctx
        .chain
        .get_purchase(U256::from(purchase_id))
        .await
        .map_err(|e| SdkError::chain(format!("reading purchase {purchase_id}"), e))?;
    if PurchaseStatus::from(p.status) == PurchaseStatus::None {
        return Err(SdkError::Purchase {
            purchase_id,
            reason: "no such purchase".into(),
        });
    }
    if p.buyer != ctx.me() {
        return Err(SdkError::Purchase {
            purchase_id,
            reason: format!("belongs to {}, not to {}", p.buyer, ctx.me()),
        });
    }
    Ok(p)
}
