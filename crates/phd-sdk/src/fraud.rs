//! Owner accountability (docs/SECURITY.md, `Marketplace.proveOwnerFraud`): when the key that t
//! verified shares reconstruct — checked against the on-chain key commitment C0 — does not open
//! the listed object, the owner listed an object sealed under another key. The buyer proves it
//! on-chain with the secret and the object's header, chunk count, plaintext length and chunk tree
//! root (docs/FORMATS.md §1.5, §1.6); the contract hashes them back to the listed content root
//! and recomputes the header's key check. Refund, the owner's listing bond, the dataset delisted.
//!
//! The proof reveals the dataset secret on-chain. That is only possible when the data does not
//! open under it anyway (the contract refuses a proof whose key check matches), and a buyer with
//! t shares could always leak the secret off-chain.

use std::path::Path;

use alloy::primitives::{B256, U256};
use phd_chain::{OwnerFraudEvidence, OwnerFraudProven};
use phd_seal::{FileSource, OpeningKey};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::ctx::ClientCtx;
use crate::error::{Result, SdkError};
use crate::retrieve::{RetrieveOptions, retrieve};

/// What a successful owner-fraud proof did.
#[derive(Debug, Clone, Serialize)]
pub struct FraudProofOutcome {
    pub purchase_id: u64,
    pub dataset_id: u64,
    /// Price returned, PHD wei.
    pub refunded: U256,
    /// Part of the owner's listing bond paid to the buyer, PHD wei.
    pub bond: U256,
    pub tx_hash: B256,
}

/// Reads the evidence from a downloaded sealed object and checks whether `key` opens it.
/// `Ok(None)`: the key opens it (no fraud) or the object is not the listed one (`root` differs:
/// that is tampering, which the normal open reports). `Ok(Some(evidence))`: the listed object
/// does not open under the C0-checked key — provable owner fraud.
pub fn owner_fraud_evidence(
    sealed: &Path,
    root: [u8; 32],
    key: &OpeningKey,
    secret: &Zeroizing<[u8; 32]>,
) -> std::result::Result<Option<OwnerFraudEvidence>, phd_seal::SealError> {
    let src = FileSource::open(sealed).map_err(|source| phd_seal::SealError::Io {
        context: "opening the sealed object",
        source,
    })?;
    let ev = phd_seal::key_check_evidence(&src)?;
    if ev.root != root || ev.key_opens(key)? {
        return Ok(None);
    }
    Ok(Some(OwnerFraudEvidence {
        secret: B256::from(**secret),
        header: ev.header,
        chunk_count: ev.chunk_count,
        plaintext_len: ev.plaintext_len,
        tree_root: B256::from(ev.tree_root),
    }))
}

/// Submits the proof for `purchase_id` (ours, ≥ t good shares, inside its confirmation window).
pub async fn prove_owner_fraud(
    ctx: &ClientCtx,
    purchase_id: u64,
    dataset_id: u64,
    evidence: &OwnerFraudEvidence,
) -> Result<FraudProofOutcome> {
    let (tx, OwnerFraudProven { refunded, bond }) = ctx
        .chain
        .prove_owner_fraud(U256::from(purchase_id), evidence)
        .await
        .map_err(|e| {
            SdkError::chain(format!("proving owner fraud for purchase {purchase_id}"), e)
        })?;
    Ok(FraudProofOutcome {
        purchase_id,
        dataset_id,
        refunded,
        bond,
        tx_hash: tx.tx_hash,
    })
}

/// By hand (`phd-customer prove-fraud`): retrieves the purchase into a scratch directory; when
/// the object does not open under the reconstructed key, proves it. Refuses with
/// [`SdkError::NoOwnerFraud`] when the object opens (nothing to prove; the secret stays private).
pub async fn retrieve_and_prove(
    ctx: &ClientCtx,
    purchase_id: u64,
    opts: &RetrieveOptions,
) -> Result<FraudProofOutcome> {
    let scratch = tempfile::tempdir().map_err(|source| SdkError::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    match retrieve(ctx, purchase_id, &scratch.path().join("data"), opts).await {
        Err(SdkError::WrongKey {
            purchase_id,
            dataset_id,
            evidence,
            ..
        }) => prove_owner_fraud(ctx, purchase_id, dataset_id, &evidence).await,
        Err(e) => Err(e),
        Ok(o) => Err(SdkError::NoOwnerFraud {
            purchase_id,
            dataset_id: o.dataset_id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers contracts/test/OwnerFraudBase.t.sol uses (S, S_DATA_KEY, S_KEY_CHECK), checked
    /// here with phd-keys' data key and phd-seal's key check.
    #[test]
    fn key_schedule_vector() {
        let s = alloy::hex!("6b1a5e2f0c9d8e7a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f10");
        let secret = phd_keys::DatasetSecret::from_bytes(&s).unwrap();
        let k = secret.data_key();
        assert_eq!(
            *k,
            alloy::hex!("a21696fad841eac6bab066468b2c793800f90858d4c679d9cce30a7e4a622a83")
        );
        let mut header = [0u8; 64];
        header[0..8].copy_from_slice(b"PHDSEAL\0");
        header[8..10].copy_from_slice(&1u16.to_be_bytes());
        header[10..12].copy_from_slice(&1u16.to_be_bytes());
        header[12..16].copy_from_slice(&(4u32 << 20).to_be_bytes());
        header[16..48].copy_from_slice(&[0x11; 32]);
        header[48..64].copy_from_slice(&alloy::hex!("579191f0f89c84e66bcd0ac0b5a5bbaa"));
        let ev = phd_seal::KeyCheckEvidence {
            header,
            chunk_count: 0,
            plaintext_len: 0,
            tree_root: [0; 32],
            root: [0; 32],
        };
        assert!(ev.key_opens(&OpeningKey::from_derived(k)).unwrap());
        assert!(
            !ev.key_opens(&OpeningKey::from_derived(Zeroizing::new([7u8; 32])))
                .unwrap()
        );
    }

    /// An object sealed under another key than the secret's data key yields evidence; one sealed
    /// under it yields none; a root that is not the listed one yields none (tampering, not fraud).
    #[test]
    fn evidence_only_for_the_wrong_key() {
        let secret = phd_keys::DatasetSecret::generate().unwrap();
        let bytes = secret.to_bytes();
        let key = OpeningKey::from_derived(secret.data_key());
        let dir = tempfile::tempdir().unwrap();
        let seal_to = |name: &str, k: phd_seal::SealingKey| {
            let path = dir.path().join(name);
            let mut out = std::fs::File::create(&path).unwrap();
            let s = phd_seal::seal(
                k,
                &b"heart rate 61,62,63"[..],
                &mut out,
                &phd_seal::SealOptions::default(),
            )
            .unwrap();
            (path, s.root)
        };
        let (honest, honest_root) = seal_to(
            "honest",
            phd_seal::SealingKey::from_derived(secret.data_key()).unwrap(),
        );
        let (fraud, fraud_root) = seal_to("fraud", phd_seal::SealingKey::generate().unwrap());
        assert!(
            owner_fraud_evidence(&honest, honest_root, &key, &bytes)
                .unwrap()
                .is_none()
        );
        assert!(
            owner_fraud_evidence(&fraud, honest_root, &key, &bytes)
                .unwrap()
                .is_none(),
            "not the listed object"
        );
        let ev = owner_fraud_evidence(&fraud, fraud_root, &key, &bytes)
            .unwrap()
            .unwrap();
        assert_eq!(ev.secret.0, *bytes);
        assert!(
            !format!("{ev:?}").contains(&alloy::hex::encode(*bytes)),
            "Debug redacts the secret"
        );
    }
}
