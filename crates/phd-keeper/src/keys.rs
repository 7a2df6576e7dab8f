//! Adapter over `phd-keys`: the keeper's encryption key, share parsing and Feldman checks,
//! ECIES to and from the keeper. The only module that names phd-keys items.

use alloy::primitives::Bytes;
use phd_keys::{Commitments, EncryptionSecretKey, KeyShare};
use zeroize::Zeroizing;

/// The keeper's encryption key (never its account key).
pub(crate) struct KeeperKey {
    sk: EncryptionSecretKey,
    raw: Zeroizing<[u8; 32]>,
    public: [u8; 33],
}

impl std::fmt::Debug for KeeperKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeeperKey")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

impl KeeperKey {
    pub(crate) fn from_secret(sk: EncryptionSecretKey) -> Result<Self, String> {
        let raw = sk.to_bytes();
        let public = sk.public_key_compressed();
        Ok(Self {
            sk,
            raw: Zeroizing::new(*raw),
            public,
        })
    }

    /// The secret key (signs the registry's key proof).
    pub(crate) fn secret(&self) -> &EncryptionSecretKey {
        &self.sk
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.raw
    }

    pub(crate) fn public_compressed(&self) -> [u8; 33] {
        self.public
    }

    /// ECIES-decrypts a share sent to this keeper.
    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        phd_keys::decrypt(&self.sk, ciphertext, aad).map_err(|e| e.to_string())
    }
}

/// Why a decrypted share was refused.
#[derive(Debug)]
pub(crate) enum ShareRejection {
    Malformed(String),
    WrongIndex { expected: u8, got: u8 },
    BadCommitments(String),
    DoesNotVerify,
}

/// Parses a 33-byte share and Feldman-verifies it against on-chain commitments.
pub(crate) fn check_share(
    share_bytes: &[u8],
    expected_index: u8,
    commitments: &[Bytes],
) -> Result<(), ShareRejection> {
    let share =
        KeyShare::from_bytes(share_bytes).map_err(|e| ShareRejection::Malformed(e.to_string()))?;
    if share.index() != expected_index {
        return Err(ShareRejection::WrongIndex {
            expected: expected_index,
            got: share.index(),
        });
    }
    let points = commitments
        .iter()
        .enumerate()
        .map(|(j, c)| {
            <[u8; 33]>::try_from(c.as_ref()).map_err(|_| {
                ShareRejection::BadCommitments(format!("commitment {j} is {} bytes", c.len()))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let commitments = Commitments::from_bytes(&points)
        .map_err(|e| ShareRejection::BadCommitments(e.to_string()))?;
    phd_keys::verify_share(&share, &commitments).map_err(|_| ShareRejection::DoesNotVerify)
}

/// A wrong but well-formed share with the same index (test knob for a cheating keeper).
pub(crate) fn corrupt_share(share_bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(share_bytes.to_vec());
    for bit in [1u8, 2, 4, 8] {
        if let Some(last) = out.last_mut() {
            *last ^= bit;
        }
        if KeyShare::from_bytes(&out).is_ok() {
            break;
        }
        if let Some(last) = out.last_mut() {
            *last ^= bit;
        }
    }
    out
}

/// The provable delivery payload (FORMATS.md §2.4) of `share_bytes` for the buyer whose
/// 64-byte (x ‖ y) account key is `buyer_pubkey`, with an encrypted `tail` (e.g. a presigned
/// URL) when given. Anyone can check it against the Feldman commitments once the buyer
/// publishes the ECDH point in a dispute, so a wrong share gets the keeper slashed.
pub(crate) fn deliver_to_buyer(
    share_bytes: &[u8],
    buyer_pubkey: &[u8],
    ctx: &phd_keys::DeliveryContext,
    tail: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    if buyer_pubkey.len() != 64 {
        return Err(format!(
            "buyer public key is {} bytes, expected 64",
            buyer_pubkey.len()
        ));
    }
    let share = KeyShare::from_bytes(share_bytes).map_err(|e| e.to_string())?;
    let d = match tail {
        Some(t) => phd_keys::deliver_share_with_tail(&share, buyer_pubkey, ctx, t),
        None => phd_keys::deliver_share(&share, buyer_pubkey, ctx),
    }
    .map_err(|e| e.to_string())?;
    Ok(d.to_bytes())
}

/// The provable delivery payload of `share_bytes` for a series subscriber (64-byte account
/// key), bound to the subscription and segment by a [`phd_keys::SeriesDeliveryContext`], so it
/// cannot be replayed as a purchase delivery, to another subscription or as another segment.
pub(crate) fn deliver_to_subscriber(
    share_bytes: &[u8],
    subscriber_pubkey: &[u8],
    ctx: &phd_keys::SeriesDeliveryContext,
) -> Result<Vec<u8>, String> {
    if subscriber_pubkey.len() != 64 {
        return Err(format!(
            "subscriber public key is {} bytes, expected 64",
            subscriber_pubkey.len()
        ));
    }
    let share = KeyShare::from_bytes(share_bytes).map_err(|e| e.to_string())?;
    phd_keys::deliver_share(&share, subscriber_pubkey, ctx)
        .map(|d| d.to_bytes())
        .map_err(|e| e.to_string())
}
