//! Series (continuous data), both sides of a subscription:
//!
//! - owner: [`publish_segment`] seals one segment's plaintext under a FRESH secret, uploads it,
//!   sends each keeper its share ([`SegmentShareUpload`]) and appends it on-chain. Every step
//!   is idempotent, so a streamer killed anywhere simply calls it again for the same `seq`:
//!   a segment already appended is reported as such; one that was not is re-sealed under a new
//!   secret, re-uploaded to the same key and its shares replaced at the keepers (they accept a
//!   replacement until the append pins the commitments hash).
//! - subscriber: [`fetch_segment`] collects the keepers' releases of one segment, opens them
//!   (Feldman-checked against the commitments of the `SegmentAppended` event, whose hash the
//!   contract stores), combines, downloads (through the owner's gateway when the segment's URI
//!   names one, else from S3), verifies every chunk and decrypts.

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::Signer,
};
use phd_chain::{BlockRange, SegmentParams};
use phd_keys::{Commitments, DatasetSecret, EncryptionSecretKey, KeyShare, SeriesDeliveryContext};
use phd_protocol::{
    SegmentShareUpload, UploadReply, segment_keeper_share_aad, segment_share_upload_path,
};
use phd_seal::{OpenLimits, OpeningKey, SealOptions, SealingKey};
use serde::Serialize;

use crate::{ClientCtx, Result, SdkError, util::parse_s3_uri};

/// A keeper of a series as the owner reaches it.
#[derive(Debug, Clone)]
pub struct SeriesKeeper {
    /// Account (share index = position in the series' keeper list + 1).
    pub address: Address,
    /// Registered HTTP endpoint.
    pub endpoint: String,
    /// Registered 33-byte encryption key.
    pub encryption_key: Vec<u8>,
}

/// The series' keepers with their registered endpoints and keys, in share-index order.
pub async fn series_keepers(ctx: &ClientCtx, series_id: u64) -> Result<Vec<SeriesKeeper>> {
    let addrs = ctx
        .chain
        .series_keepers(U256::from(series_id))
        .await
        .map_err(|e| SdkError::chain(format!("reading the keepers of series {series_id}"), e))?;
    let mut out = Vec::with_capacity(addrs.len());
    for a in addrs {
        let n = ctx
            .chain
            .node(a)
            .await
            .map_err(|e| SdkError::chain(format!("reading keeper {a}"), e))?;
        out.push(SeriesKeeper {
            address: a,
            endpoint: n.endpoint,
            encryption_key: n.encryptionKey.to_vec(),
        });
    }
    Ok(out)
}

/// What [`publish_segment`] did.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentOutcome {
    /// Segment number.
    pub seq: u64,
    /// `false`: found appended already (a previous run got that far).
    pub appended_now: bool,
    /// Where the sealed segment lives.
    pub storage_uri: String,
    /// Plaintext bytes.
    pub plaintext_bytes: u64,
    /// Gas of the append (0 when found appended).
    pub gas_used: u64,
    /// Sealed bytes this call uploaded (0 when the segment was found appended before sealing).
    pub sealed_bytes: u64,
}

/// The object key of a segment: one per (owner, series, seq), so a retry overwrites.
pub use phd_protocol::segment_object_key;

/// Seals, uploads, distributes and appends segment `seq` of `series_id` (see the module doc),
/// listed under its `s3://` URI (subscribers need storage access: see [`publish_segment_via`]).
pub async fn publish_segment(
    ctx: &ClientCtx,
    series_id: u64,
    seq: u64,
    plaintext: &[u8],
    metadata_hash: B256,
    keepers: &[SeriesKeeper],
) -> Result<SegmentOutcome> {
    publish_segment_via(ctx, series_id, seq, plaintext, metadata_hash, keepers, None).await
}

/// [`publish_segment`], listing the segment behind the owner's access `gateway` when given
/// (`<gateway>/v1/objects/<key>`): subscribers then read it with a token signed by their
/// account, holding no storage credential (docs/SECURITY.md "Storage access").
pub async fn publish_segment_via(
    ctx: &ClientCtx,
    series_id: u64,
    seq: u64,
    plaintext: &[u8],
    metadata_hash: B256,
    keepers: &[SeriesKeeper],
    gateway: Option<&str>,
) -> Result<SegmentOutcome> {
    let sid = U256::from(series_id);
    let series = ctx
        .chain
        .series(sid)
        .await
        .map_err(|e| SdkError::chain(format!("reading series {series_id}"), e))?;
    let store = ctx.store.as_ref().ok_or_else(|| SdkError::Storage {
        context: "publishing a segment".into(),
        source: "no object store configured".into(),
    })?;
    let key = segment_object_key(ctx.me(), series_id, seq);
    let storage_uri = match gateway {
        Some(gw) => phd_protocol::gateway::gateway_object_uri(gw, &key),
        None => format!("s3://{}/{key}", store.bucket()),
    };
    if series.segmentCount > seq {
        return Ok(SegmentOutcome {
            seq,
            appended_now: false,
            storage_uri,
            plaintext_bytes: plaintext.len() as u64,
            gas_used: 0,
            sealed_bytes: 0,
        });
    }
    if series.segmentCount < seq {
        return Err(SdkError::Series {
            series_id,
            reason: format!(
                "segment {seq} cannot follow the {} appended (a gap would never be filled)",
                series.segmentCount
            ),
        });
    }
    let n = u8::try_from(keepers.len()).unwrap_or(u8::MAX);
    let secret = DatasetSecret::generate()
        .map_err(|e| SdkError::series(series_id, format!("generating the segment secret: {e}")))?;
    let (shares, commitments) = phd_keys::split(&secret, series.threshold, n)
        .map_err(|e| SdkError::series(series_id, format!("splitting the segment secret: {e}")))?;
    let sealing = SealingKey::from_derived(secret.data_key())
        .map_err(|e| SdkError::series(series_id, format!("sealing key: {e}")))?;
    drop(secret);
    let mut sealed = Vec::with_capacity(plaintext.len() / 2 + 4096);
    let summary = phd_seal::seal(sealing, plaintext, &mut sealed, &SealOptions::default())
        .map_err(|e| SdkError::series(series_id, format!("sealing segment {seq}: {e}")))?;
    let sealed_len = sealed.len() as u64;
    store
        .put_bytes(&key, sealed)
        .await
        .map_err(|e| SdkError::Storage {
            context: format!("uploading {storage_uri}"),
            source: Box::new(e),
        })?;

    let points = commitments.to_bytes();
    let packed: Vec<u8> = points.iter().flatten().copied().collect();
    let uploads = keepers
        .iter()
        .zip(&shares)
        .map(|(k, share)| send_segment_share(ctx, series_id, seq, k, share, &packed));
    let results = futures::future::join_all(uploads).await;
    let stored = results.iter().filter(|r| r.is_ok()).count();
    if stored < usize::from(series.threshold) {
        let why: Vec<String> = results.into_iter().filter_map(|r| r.err()).collect();
        return Err(SdkError::series(
            series_id,
            format!(
                "segment {seq}: only {stored} of {} keepers stored their share (need {}): {}",
                keepers.len(),
                series.threshold,
                why.join("; ")
            ),
        ));
    }
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        tracing::warn!(series_id, seq, error = %e, "a keeper refused its segment share");
    }

    let params = SegmentParams {
        seq,
        content_root: B256::from(summary.root),
        commitments: points,
        uri: storage_uri.clone(),
        metadata_hash,
    };
    let tx = match ctx.chain.append_segment(sid, &params).await {
        Ok(tx) => tx,
        Err(e) => {
            // Lost a race with ourselves (an earlier run's append landed late): done.
            let now = ctx
                .chain
                .series(sid)
                .await
                .map(|s| s.segmentCount)
                .unwrap_or(0);
            if now > seq {
                return Ok(SegmentOutcome {
                    seq,
                    appended_now: false,
                    storage_uri,
                    plaintext_bytes: summary.plaintext_len,
                    gas_used: 0,
                    sealed_bytes: sealed_len,
                });
            }
            return Err(SdkError::chain(format!("appending segment {seq}"), e));
        }
    };
    Ok(SegmentOutcome {
        seq,
        appended_now: true,
        storage_uri,
        plaintext_bytes: summary.plaintext_len,
        gas_used: tx.gas_used,
        sealed_bytes: sealed_len,
    })
}

async fn send_segment_share(
    ctx: &ClientCtx,
    series_id: u64,
    seq: u64,
    keeper: &SeriesKeeper,
    share: &KeyShare,
    commitments: &[u8],
) -> std::result::Result<UploadReply, String> {
    let d = ctx.chain.deployment();
    let index = share.index();
    let aad = segment_keeper_share_aad(
        d.chain_id,
        d.series_market,
        U256::from(series_id),
        seq,
        index,
    );
    let ct = phd_keys::encrypt(&keeper.encryption_key, share.to_bytes().as_slice(), &aad).map_err(
        |e| {
            format!(
                "{}: cannot encrypt to its registered key: {e}",
                keeper.address
            )
        },
    )?;
    let mut body = SegmentShareUpload {
        chain_id: d.chain_id,
        series_market: d.series_market,
        series_id,
        seq,
        share_index: index,
        commitments: Bytes::copy_from_slice(commitments),
        ciphertext: ct.into(),
        signature: Bytes::new(),
    };
    let sig = ctx
        .chain
        .signer()
        .sign_message(body.signing_message().as_slice())
        .await
        .map_err(|e| format!("signing failed: {e}"))?;
    body.signature = Bytes::copy_from_slice(&sig.as_bytes());
    let url = segment_share_upload_path(&keeper.endpoint, series_id, seq);
    let resp = ctx
        .http
        .put(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{}: unreachable: {e}", keeper.address))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!(
            "{} refused the share ({status}): {text}",
            keeper.address
        ));
    }
    serde_json::from_str(&text).map_err(|e| format!("{}: bad reply: {e}", keeper.address))
}

/// An appended segment as the subscriber sees it.
#[derive(Debug, Clone)]
pub struct AppendedSegment {
    /// Segment number.
    pub seq: u64,
    /// Sealed object's Merkle root.
    pub content_root: B256,
    /// Feldman commitments (checked against the stored hash).
    pub commitments: Commitments,
    /// Object URI.
    pub uri: String,
}

/// The `SegmentAppended` event of `seq`, its commitments checked against the hash the
/// contract stored (a node lying about logs cannot substitute other commitments).
pub async fn appended_segment(
    ctx: &ClientCtx,
    series_id: u64,
    seq: u64,
) -> Result<Option<AppendedSegment>> {
    let sid = U256::from(series_id);
    let stored = ctx
        .chain
        .segment_commitments_hash(sid, seq)
        .await
        .map_err(|e| SdkError::chain("reading the segment commitments hash", e))?;
    if stored == B256::ZERO {
        return Ok(None);
    }
    let logs = ctx
        .chain
        .appended_segments(sid, BlockRange::default())
        .await
        .map_err(|e| SdkError::chain("reading SegmentAppended events", e))?;
    let Some(ev) = logs.into_iter().map(|l| l.event).find(|e| e.seq == seq) else {
        return Ok(None);
    };
    if keccak256(&ev.commitments) != stored {
        return Err(SdkError::series(
            series_id,
            format!("segment {seq}: event commitments do not match the stored hash"),
        ));
    }
    let points = phd_chain::split_commitments(&ev.commitments)
        .map_err(|e| SdkError::series(series_id, e.to_string()))?;
    let commitments = Commitments::from_bytes(&points)
        .map_err(|e| SdkError::series(series_id, format!("segment {seq} commitments: {e}")))?;
    Ok(Some(AppendedSegment {
        seq,
        content_root: ev.contentRoot,
        commitments,
        uri: ev.uri,
    }))
}

/// Opens the releases of `segment` to `subscription_id` once ≥ threshold verified shares are
/// on-chain; `Ok(None)` while fewer are. Returns the plaintext, every chunk verified.
pub async fn fetch_segment(
    ctx: &ClientCtx,
    series_id: u64,
    subscription_id: u64,
    segment: &AppendedSegment,
    threshold: u8,
) -> Result<Option<Vec<u8>>> {
    let logs = ctx
        .chain
        .released_shares(
            U256::from(subscription_id),
            Some(segment.seq),
            BlockRange::default(),
        )
        .await
        .map_err(|e| SdkError::chain("reading ShareReleased events", e))?;
    let esk = EncryptionSecretKey::from_bytes(ctx.chain.signer().to_bytes().as_slice())
        .map_err(|e| SdkError::series(series_id, format!("account key: {e}")))?;
    let d = ctx.chain.deployment();
    let mut good: Vec<KeyShare> = Vec::new();
    for l in logs {
        let ev = l.event;
        let index = ev.shareIndex;
        if good.iter().any(|g| g.index() == index) {
            continue;
        }
        let dctx = SeriesDeliveryContext::new(
            d.chain_id,
            d.series_market.into_array(),
            subscription_id,
            segment.seq,
            index,
        );
        match phd_keys::open_delivery(&esk, &ev.payload, &dctx, &segment.commitments) {
            Ok(s) => good.push(s),
            Err(e) => {
                tracing::warn!(series_id, seq = segment.seq, keeper = %ev.keeper, error = %e, "a keeper's release does not verify; ignored")
            }
        }
    }
    if good.len() < usize::from(threshold) {
        return Ok(None);
    }
    good.truncate(usize::from(threshold));
    let secret = phd_keys::combine(&good, &segment.commitments)
        .map_err(|e| SdkError::series(series_id, format!("segment {}: {e}", segment.seq)))?;
    if secret.key_commitment() != segment.commitments.key_commitment() {
        return Err(SdkError::series(
            series_id,
            format!("segment {}: secret does not match C0", segment.seq),
        ));
    }
    let key = OpeningKey::from_derived(secret.data_key());
    drop(secret);
    let sealed = download_segment(ctx, series_id, subscription_id, segment).await?;
    let limits = OpenLimits {
        verify_all_before_output: true,
        ..OpenLimits::default()
    };
    let mut out = Vec::new();
    phd_seal::open(&key, &sealed[..], segment.content_root.0, &mut out, &limits).map_err(|e| {
        SdkError::Tampered {
            storage_uri: segment.uri.clone(),
            reason: e.to_string(),
        }
    })?;
    Ok(Some(out))
}

/// The sealed bytes of `segment`: through the gateway its URI names (a token signed by this
/// account for `subscription_id`), else from the configured object store.
async fn download_segment(
    ctx: &ClientCtx,
    series_id: u64,
    subscription_id: u64,
    segment: &AppendedSegment,
) -> Result<Vec<u8>> {
    let tmp = tempfile::NamedTempFile::new().map_err(|source| SdkError::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let read_tmp = |tmp: &tempfile::NamedTempFile| {
        std::fs::read(tmp.path()).map_err(|source| SdkError::Write {
            path: tmp.path().to_path_buf(),
            source,
        })
    };
    if let Some(obj) =
        crate::gateway::GatewayObject::for_purchase(ctx, &segment.uri, series_id, subscription_id)
    {
        crate::gateway::download_to_file(&obj, tmp.path(), crate::gateway::DOWNLOAD_PART).await?;
        return read_tmp(&tmp);
    }
    let store = ctx.store.as_ref().ok_or_else(|| SdkError::Storage {
        context: format!("downloading {}", segment.uri),
        source: "no object store configured".into(),
    })?;
    let Some((bucket, object)) = parse_s3_uri(&segment.uri) else {
        return Err(SdkError::series(
            series_id,
            format!("segment {}: not an s3:// URI", segment.seq),
        ));
    };
    if bucket != store.bucket() {
        return Err(SdkError::Storage {
            context: format!("downloading {}", segment.uri),
            source: format!("bucket {bucket} is not the configured {}", store.bucket()).into(),
        });
    }
    store
        .get_to_file(&object, tmp.path())
        .await
        .map_err(|e| SdkError::Storage {
            context: format!("downloading {}", segment.uri),
            source: Box::new(e),
        })?;
    read_tmp(&tmp)
}
