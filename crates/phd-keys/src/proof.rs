//! Provable share delivery (docs/FORMATS.md §2.4): a keeper → buyer delivery of a Feldman share
//! that the buyer alone can prove wrong on-chain, mirroring
//! `contracts/src/libraries/ShareProof.sol`.
//!
//! ```text
//! keeper: let d = deliver_share(&share, &buyer_pubkey, &ctx)?;         // d.to_bytes() → deliverShare
//! buyer:  match open_delivery(&buyer_key, &payload, &ctx, &commitments) {
//!             Ok(share) => use it,
//!             Err(KeyError::ShareVerification { .. }) =>               // wrong share: prove it
//!                 dispute(prove_dispute(&buyer_key, &payload, &ctx)?.to_bytes()),
//!             Err(KeyError::MalformedDelivery { .. }) => dispute(empty proof),
//!             Err(e) => ...,
//!         }
//! anyone: verify_dispute(&buyer_pubkey, &payload, &ctx, &commitments, &proof)? // == the contract
//! ```

use crate::ecies::{EncryptionSecretKey, parse_public_key};
use crate::error::{KeyError, Result};
use crate::secret::point_to_33;
use crate::vss::{Commitments, KeyShare};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use elliptic_curve::Generate;
use elliptic_curve::ff::PrimeField;
use elliptic_curve::ops::Reduce;
use elliptic_curve::point::AffineCoordinates;
use hkdf::Hkdf;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar, SecretKey, WideBytes};
use rand::TryRng;
use sha2::{Digest, Sha256, Sha512};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// First byte of a delivery payload (ECIES payloads start with 0x01).
pub const DELIVERY_VERSION: u8 = 0x02;
/// Length of a delivery without its optional tail: `version ‖ R (33) ‖ m (32)`.
pub const DELIVERY_LEN: usize = 66;
/// Length of a dispute proof: 11 words `P ‖ A1 ‖ A2 ‖ z·R ‖ c·P ‖ z`.
pub const DISPUTE_PROOF_LEN: usize = 352;
/// Length of the encoded [`DeliveryContext`].
pub const DELIVERY_CONTEXT_LEN: usize = 85;
/// Domain separation tag of the mask hash.
pub const MASK_DST: &[u8; 17] = b"phd share mask v1";
/// Domain separation tag of the Chaum–Pedersen challenge.
pub const DLEQ_DST: &[u8; 17] = b"phd share dleq v1";
/// HKDF info prefix of the optional encrypted tail (followed by the context).
pub const TAIL_INFO: &[u8] = b"phd share delivery tail v1";
const TAIL_NONCE_LEN: usize = 12;

/// The group order n, big-endian (x-coordinates used with `ecrecover` must be below it).
const ORDER_BE: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
];

/// Fresh randomness is retried this often before giving up (each retry has probability ≈ 2⁻¹²⁷).
const MAX_ATTEMPTS: usize = 64;

/// What a delivery is bound to: chain, marketplace contract, purchase and the keeper's share
/// index. Encoded as `chain_id (u256 BE) ‖ marketplace (20) ‖ purchase_id (32) ‖ index (u8)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryContext {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Marketplace contract address.
    pub marketplace: [u8; 20],
    /// Purchase id (u256, big-endian).
    pub purchase_id: [u8; 32],
    /// The keeper's share index (1..=255).
    pub index: u8,
}

impl DeliveryContext {
    /// A context with a purchase id that fits in 64 bits.
    pub fn new(chain_id: u64, marketplace: [u8; 20], purchase_id: u64, index: u8) -> Self {
        let mut id = [0u8; 32];
        id[24..].copy_from_slice(&purchase_id.to_be_bytes());
        DeliveryContext {
            chain_id,
            marketplace,
            purchase_id: id,
            index,
        }
    }

    /// The 85-byte encoding hashed into the mask and the challenge.
    pub fn to_bytes(&self) -> [u8; DELIVERY_CONTEXT_LEN] {
        let mut out = [0u8; DELIVERY_CONTEXT_LEN];
        out[24..32].copy_from_slice(&self.chain_id.to_be_bytes());
        out[32..52].copy_from_slice(&self.marketplace);
        out[52..84].copy_from_slice(&self.purchase_id);
        out[84] = self.index;
        out
    }
}

/// What a delivery is bound to, as the 85 bytes hashed into its mask, challenge and tail key.
/// Two kinds exist and their encodings never collide (a purchase context starts with 24 zero
/// bytes, a series context with the tag `0x01`), so a delivery made for one cannot be opened
/// or replayed as the other.
pub trait DeliveryBinding {
    /// The 85-byte encoding.
    fn to_bytes(&self) -> [u8; DELIVERY_CONTEXT_LEN];
    /// The keeper's share index the delivery carries (1..=255).
    fn share_index(&self) -> u8;
}

impl DeliveryBinding for DeliveryContext {
    fn to_bytes(&self) -> [u8; DELIVERY_CONTEXT_LEN] {
        DeliveryContext::to_bytes(self)
    }
    fn share_index(&self) -> u8 {
        self.index
    }
}

/// First byte of an encoded [`SeriesDeliveryContext`].
pub const SERIES_CONTEXT_TAG: u8 = 0x01;

/// What a series release (`SeriesMarket.releaseShares`) is bound to: chain, series market,
/// subscription, segment and the keeper's share index. Encoded as
/// `0x01 ‖ 0 (7) ‖ seq (u64 BE) ‖ 0 (8) ‖ chain_id (u64 BE) ‖ series_market (20) ‖
/// subscription_id (32) ‖ index (u8)` (85 bytes, like [`DeliveryContext`], whose first byte is
/// always 0). `SeriesMarket.disputeRelease` uses the same bytes as ShareProof's context (first
/// word `0x01 << 248 | seq << 128 | chain_id`), so a wrong release is proven like a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesDeliveryContext {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// SeriesMarket contract address.
    pub series_market: [u8; 20],
    /// Subscription id (u256, big-endian).
    pub subscription_id: [u8; 32],
    /// Segment sequence number.
    pub seq: u64,
    /// The keeper's share index (1..=255).
    pub index: u8,
}

impl SeriesDeliveryContext {
    /// A context with a subscription id that fits in 64 bits.
    pub fn new(
        chain_id: u64,
        series_market: [u8; 20],
        subscription_id: u64,
        seq: u64,
        index: u8,
    ) -> Self {
        let mut id = [0u8; 32];
        id[24..].copy_from_slice(&subscription_id.to_be_bytes());
        Self {
            chain_id,
            series_market,
            subscription_id: id,
            seq,
            index,
        }
    }
}

impl DeliveryBinding for SeriesDeliveryContext {
    fn to_bytes(&self) -> [u8; DELIVERY_CONTEXT_LEN] {
        let mut out = [0u8; DELIVERY_CONTEXT_LEN];
        out[0] = SERIES_CONTEXT_TAG;
        out[8..16].copy_from_slice(&self.seq.to_be_bytes());
        out[24..32].copy_from_slice(&self.chain_id.to_be_bytes());
        out[32..52].copy_from_slice(&self.series_market);
        out[52..84].copy_from_slice(&self.subscription_id);
        out[84] = self.index;
        out
    }
    fn share_index(&self) -> u8 {
        self.index
    }
}

/// A parsed delivery: the keeper's ephemeral point `R` and the masked share `m`.
/// Public data (what goes on-chain); anything after the 66 bytes is kept as an opaque tail.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareDelivery {
    r: AffinePoint,
    r33: [u8; 33],
    m: Scalar,
    tail: Vec<u8>,
}

impl ShareDelivery {
    /// `0x02 ‖ R (33) ‖ m (32)` followed by the tail (empty unless parsed with one).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DELIVERY_LEN + self.tail.len());
        out.push(DELIVERY_VERSION);
        out.extend_from_slice(&self.r33);
        out.extend_from_slice(&self.m.to_repr());
        out.extend_from_slice(&self.tail);
        out
    }

    /// Parse a payload; rejects (as the contract does) a length below 66, another version, an
    /// `R` that is not a compressed curve point or has `R.x ≥ n`, and `m ≥ n`.
    pub fn from_bytes(payload: &[u8]) -> Result<ShareDelivery> {
        let bad = |reason| KeyError::MalformedDelivery { reason };
        if payload.len() < DELIVERY_LEN {
            return Err(bad("shorter than 66 bytes"));
        }
        if payload[0] != DELIVERY_VERSION {
            return Err(bad("unknown version"));
        }
        let mut r33 = [0u8; 33];
        r33.copy_from_slice(&payload[1..34]);
        if r33[0] != 0x02 && r33[0] != 0x03 {
            return Err(bad("R is not a compressed point"));
        }
        let r = parse_public_key(&r33)
            .map_err(|_| bad("R is not a curve point"))?
            .as_affine()
            .to_owned();
        if !x_below_order(&r) {
            return Err(bad("R.x is not below the group order"));
        }
        let mut mb = FieldBytes::default();
        mb.copy_from_slice(&payload[34..66]);
        let m = Option::<Scalar>::from(Scalar::from_repr(mb))
            .ok_or(bad("m is not below the group order"))?;
        Ok(ShareDelivery {
            r,
            r33,
            m,
            tail: payload[DELIVERY_LEN..].to_vec(),
        })
    }

    /// The ephemeral point `R`, compressed.
    pub fn ephemeral_key(&self) -> [u8; 33] {
        self.r33
    }

    /// Bytes after the 66-byte core (opaque to the dispute).
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }
}

impl fmt::Debug for ShareDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareDelivery")
            .field("r", &hex::encode(self.r33))
            .field("m", &hex::encode(self.m.to_repr()))
            .field("tail_len", &self.tail.len())
            .finish()
    }
}

/// A buyer's dispute proof: the ECDH point `P = b·R`, a Chaum–Pedersen proof `(A1, A2, z)` of
/// `log_G(B) = log_R(P)` with `c = H_dleq(ctx, B, R, P, A1, A2)`, and the helper points
/// `z·R`, `c·P` the contract needs (docs/FORMATS.md §2.4). Publishing it reveals the delivered
/// share value, nothing about `b`.
#[derive(Clone, PartialEq, Eq)]
pub struct DisputeProof {
    bytes: [u8; DISPUTE_PROOF_LEN],
}

impl DisputeProof {
    /// The 352 bytes the contract takes.
    pub fn to_bytes(&self) -> [u8; DISPUTE_PROOF_LEN] {
        self.bytes
    }

    /// Wrap 352 bytes (checked when verified).
    pub fn from_bytes(bytes: &[u8]) -> Result<DisputeProof> {
        let bytes: [u8; DISPUTE_PROOF_LEN] =
            bytes
                .try_into()
                .map_err(|_| KeyError::InvalidDisputeProof {
                    reason: "proof must be 352 bytes",
                })?;
        Ok(DisputeProof { bytes })
    }

    fn word(&self, i: usize) -> &[u8] {
        &self.bytes[32 * i..32 * (i + 1)]
    }

    fn point64(&self, i: usize) -> &[u8] {
        &self.bytes[32 * i..32 * (i + 2)]
    }
}

impl fmt::Debug for DisputeProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisputeProof")
            .field("bytes", &hex::encode(self.bytes))
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Keeper side
// ---------------------------------------------------------------------------------------------

/// Keeper: mask `share` for the buyer whose public key is `buyer_pubkey` (33, 64 or 65 bytes):
/// fresh `r`, `R = r·G` (`R.x < n`), `m = s + H_mask(ctx, R, r·B) mod n`.
pub fn deliver_share<C: DeliveryBinding + ?Sized>(
    share: &KeyShare,
    buyer_pubkey: &[u8],
    ctx: &C,
) -> Result<ShareDelivery> {
    deliver(share, buyer_pubkey, ctx, None)
}

fn deliver<C: DeliveryBinding + ?Sized>(
    share: &KeyShare,
    buyer_pubkey: &[u8],
    ctx: &C,
    tail_plaintext: Option<&[u8]>,
) -> Result<ShareDelivery> {
    if share.index() != ctx.share_index() {
        return Err(KeyError::ContextMismatch {
            share_index: share.index(),
            context_index: ctx.share_index(),
        });
    }
    let buyer = parse_public_key(buyer_pubkey)?.to_projective();
    let s = Zeroizing::new(share.scalar().ok_or(KeyError::InvalidShareEncoding {
        reason: "share value is not a canonical scalar",
    })?);
    for _ in 0..MAX_ATTEMPTS {
        let r = SecretKey::try_generate_from_rng(&mut rand::rngs::SysRng)
            .map_err(|e| KeyError::Rng(e.to_string()))?;
        let r = Zeroizing::new(*r.to_nonzero_scalar());
        if let Some((mut d, p)) = deliver_with(&s, &buyer, ctx, &r)? {
            if let Some(plaintext) = tail_plaintext {
                let mut nonce = [0u8; TAIL_NONCE_LEN];
                rand::rngs::SysRng
                    .try_fill_bytes(&mut nonce)
                    .map_err(|e| KeyError::Rng(e.to_string()))?;
                d.tail = seal_tail(&d, &p, ctx, nonce, plaintext)?;
            }
            return Ok(d);
        }
    }
    Err(KeyError::Rng("no ephemeral key with R.x < n".into()))
}

/// The delivery and its ECDH point `P`; `None` when `R.x ≥ n` (pick another `r`).
pub(crate) fn deliver_with<C: DeliveryBinding + ?Sized>(
    s: &Scalar,
    buyer: &ProjectivePoint,
    ctx: &C,
    r: &Scalar,
) -> Result<Option<(ShareDelivery, Zeroizing<AffinePoint>)>> {
    let big_r = (ProjectivePoint::GENERATOR * r).to_affine();
    if !x_below_order(&big_r) {
        return Ok(None);
    }
    let r33 = point_to_33(&big_r.into());
    let p = Zeroizing::new((*buyer * r).to_affine());
    let h = Zeroizing::new(mask(ctx, &r33, &p));
    let d = ShareDelivery {
        r: big_r,
        r33,
        m: *s + *h,
        tail: Vec::new(),
    };
    Ok(Some((d, p)))
}

/// Keeper: [`deliver_share`] followed by an encrypted tail carrying `tail_plaintext` (e.g. a
/// presigned download URL) for the buyer only: `nonce (12) ‖ AES-256-GCM(K_tail, nonce,
/// tail_plaintext, aad = core (66) ‖ ctx)` with `K_tail = HKDF-SHA256(IKM = enc64(P),
/// salt = core (66), info = "phd share delivery tail v1" ‖ ctx)`. The tail is not part of any
/// dispute, and a dispute (which publishes `P`) makes it readable by anyone.
pub fn deliver_share_with_tail<C: DeliveryBinding + ?Sized>(
    share: &KeyShare,
    buyer_pubkey: &[u8],
    ctx: &C,
    tail_plaintext: &[u8],
) -> Result<ShareDelivery> {
    deliver(share, buyer_pubkey, ctx, Some(tail_plaintext))
}

/// Buyer: decrypt the tail of a delivery made by [`deliver_share_with_tail`]; `Ok(None)` when
/// the payload has no tail. Any failure of the tail is `DecryptionFailed`.
pub fn open_delivery_tail<C: DeliveryBinding + ?Sized>(
    buyer: &EncryptionSecretKey,
    payload: &[u8],
    ctx: &C,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let d = ShareDelivery::from_bytes(payload)?;
    if d.tail.is_empty() {
        return Ok(None);
    }
    if d.tail.len() < TAIL_NONCE_LEN + 16 {
        return Err(KeyError::DecryptionFailed);
    }
    let b = Zeroizing::new(*buyer.nonzero_scalar());
    let p = Zeroizing::new((ProjectivePoint::from(d.r) * *b).to_affine());
    let (key, aad) = tail_key(&d, &p, ctx)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| KeyError::DecryptionFailed)?;
    let (nonce, body) = d.tail.split_at(TAIL_NONCE_LEN);
    let nonce: [u8; TAIL_NONCE_LEN] = nonce.try_into().map_err(|_| KeyError::DecryptionFailed)?;
    let pt = cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| KeyError::DecryptionFailed)?;
    Ok(Some(Zeroizing::new(pt)))
}

fn tail_key<C: DeliveryBinding + ?Sized>(
    d: &ShareDelivery,
    p: &AffinePoint,
    ctx: &C,
) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>)> {
    let mut core = d.to_bytes();
    core.truncate(DELIVERY_LEN);
    let ikm = Zeroizing::new(enc64(p));
    let hk = Hkdf::<Sha256>::new(Some(&core), ikm.as_ref());
    let mut info = Vec::with_capacity(TAIL_INFO.len() + DELIVERY_CONTEXT_LEN);
    info.extend_from_slice(TAIL_INFO);
    info.extend_from_slice(&ctx.to_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(&info, key.as_mut())
        .map_err(|_| KeyError::EncryptionFailed)?;
    let mut aad = core;
    aad.extend_from_slice(&ctx.to_bytes());
    Ok((key, aad))
}

fn seal_tail<C: DeliveryBinding + ?Sized>(
    d: &ShareDelivery,
    p: &AffinePoint,
    ctx: &C,
    nonce: [u8; TAIL_NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let (key, aad) = tail_key(d, p, ctx)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| KeyError::EncryptionFailed)?;
    let ct = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| KeyError::EncryptionFailed)?;
    let mut out = Vec::with_capacity(TAIL_NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Buyer side
// ---------------------------------------------------------------------------------------------

/// Buyer: unmask a delivery and Feldman-check it. `Err(MalformedDelivery)` and
/// `Err(ShareVerification)` both mean the keeper cheated: dispute on-chain (with
/// [`prove_dispute`] for the latter, with an empty proof for the former).
pub fn open_delivery<C: DeliveryBinding + ?Sized>(
    buyer: &EncryptionSecretKey,
    payload: &[u8],
    ctx: &C,
    commitments: &Commitments,
) -> Result<KeyShare> {
    let d = ShareDelivery::from_bytes(payload)?;
    let b = Zeroizing::new(*buyer.nonzero_scalar());
    let p = Zeroizing::new((ProjectivePoint::from(d.r) * *b).to_affine());
    let h = Zeroizing::new(mask(ctx, &d.r33, &p));
    let s = Zeroizing::new(d.m - *h);
    if ctx.share_index() == 0 {
        return Err(KeyError::InvalidShareIndex { index: 0 });
    }
    if ProjectivePoint::GENERATOR * *s != public_share(commitments, ctx.share_index()) {
        return Err(KeyError::ShareVerification {
            index: ctx.share_index(),
        });
    }
    KeyShare::from_scalar(ctx.share_index(), &s)
}

/// Buyer: the dispute proof for a (well-formed) delivery. It verifies whether or not the share
/// is wrong; the contract decides which.
pub fn prove_dispute<C: DeliveryBinding + ?Sized>(
    buyer: &EncryptionSecretKey,
    payload: &[u8],
    ctx: &C,
) -> Result<DisputeProof> {
    let d = ShareDelivery::from_bytes(payload)?;
    let b = Zeroizing::new(*buyer.nonzero_scalar());
    for attempt in 0..MAX_ATTEMPTS {
        let mut fresh = Zeroizing::new([0u8; 32]);
        rand::rngs::SysRng
            .try_fill_bytes(fresh.as_mut())
            .map_err(|e| KeyError::Rng(e.to_string()))?;
        let k = hedged_nonce(&b, &d, ctx, &fresh, attempt);
        if let Some(p) = prove_with(&b, &d, ctx, &k)? {
            return Ok(p);
        }
    }
    Err(KeyError::Rng("no usable Chaum-Pedersen nonce".into()))
}

/// Hedged nonce: `k = SHA-512("phd share dleq nonce v1" ‖ b ‖ ctx ‖ R ‖ fresh ‖ attempt) mod n`
/// (wide reduction, no bias). `b` is usually the buyer's account key, so a weak or repeated RNG
/// output alone must not give two proofs with one nonce (which would reveal `b`).
fn hedged_nonce<C: DeliveryBinding + ?Sized>(
    b: &Scalar,
    d: &ShareDelivery,
    ctx: &C,
    fresh: &[u8; 32],
    attempt: usize,
) -> Zeroizing<Scalar> {
    let mut bb = b.to_repr();
    let mut h = Sha512::new();
    h.update(b"phd share dleq nonce v1");
    h.update(bb);
    bb.zeroize();
    h.update(ctx.to_bytes());
    h.update(d.r33);
    h.update(fresh);
    h.update((attempt as u64).to_be_bytes());
    let mut wide = WideBytes::default();
    wide.copy_from_slice(&h.finalize());
    let k = Zeroizing::new(<Scalar as Reduce<WideBytes>>::reduce(&wide));
    wide.zeroize();
    k
}

/// `None` when the nonce `k` gives a degenerate proof the contract refuses (c = 0, z = 0, or
/// two of A2, c·P, z·R sharing an x-coordinate): pick another `k`.
pub(crate) fn prove_with<C: DeliveryBinding + ?Sized>(
    b: &Scalar,
    d: &ShareDelivery,
    ctx: &C,
    k: &Scalar,
) -> Result<Option<DisputeProof>> {
    let big_b = (ProjectivePoint::GENERATOR * b).to_affine();
    if !x_below_order(&big_b) {
        return Err(KeyError::InvalidPublicKey {
            len: 64,
            reason: "buyer key x-coordinate is not below the group order (cannot be proven with ecrecover)",
        });
    }
    let r = ProjectivePoint::from(d.r);
    let p = (r * b).to_affine();
    if !x_below_order(&p) {
        return Err(KeyError::InvalidDisputeProof {
            reason: "ECDH point x-coordinate is not below the group order",
        });
    }
    let a1 = (ProjectivePoint::GENERATOR * k).to_affine();
    let a2 = (r * k).to_affine();
    let c = challenge(ctx, &big_b, &d.r33, &p, &enc64(&a1), &enc64(&a2));
    let mut z = *k + c * b;
    if bool::from(c.is_zero()) || bool::from(z.is_zero()) {
        z.zeroize();
        return Ok(None);
    }
    let zr = (r * z).to_affine();
    let cp = (ProjectivePoint::from(p) * c).to_affine();
    let (xa, xw, xz) = (a2.x(), cp.x(), zr.x());
    if xa == xw || xa == xz || xw == xz {
        z.zeroize();
        return Ok(None);
    }
    let mut bytes = [0u8; DISPUTE_PROOF_LEN];
    for (i, pt) in [p, a1, a2, zr, cp].iter().enumerate() {
        bytes[64 * i..64 * (i + 1)].copy_from_slice(&enc64(pt));
    }
    bytes[320..].copy_from_slice(&z.to_repr());
    z.zeroize();
    Ok(Some(DisputeProof { bytes }))
}

// ---------------------------------------------------------------------------------------------
// Verification (mirrors ShareProof.verifyDispute)
// ---------------------------------------------------------------------------------------------

/// Decide a dispute as the contract does: `Ok(true)` when the delivery is proven wrong (a
/// malformed payload is wrong without a proof), `Ok(false)` when the share is correct, `Err` when
/// an input is invalid or the proof does not verify (the contract reverts).
pub fn verify_dispute<C: DeliveryBinding + ?Sized>(
    buyer_pubkey: &[u8],
    payload: &[u8],
    ctx: &C,
    commitments: &Commitments,
    proof: &[u8],
) -> Result<bool> {
    if ctx.share_index() == 0 {
        return Err(KeyError::InvalidShareIndex { index: 0 });
    }
    let Ok(d) = ShareDelivery::from_bytes(payload) else {
        return Ok(true);
    };
    let big_b = parse_public_key(buyer_pubkey)?.as_affine().to_owned();
    if !x_below_order(&big_b) {
        return Err(KeyError::InvalidPublicKey {
            len: buyer_pubkey.len(),
            reason: "x-coordinate is not below the group order",
        });
    }
    let proof = DisputeProof::from_bytes(proof)?;
    let p = verify_dleq(ctx, &big_b, &d, &proof)?;
    let s = d.m - mask(ctx, &d.r33, &p);
    Ok(ProjectivePoint::GENERATOR * s != public_share(commitments, ctx.share_index()))
}

/// Check the Chaum–Pedersen part; returns `P`.
fn verify_dleq<C: DeliveryBinding + ?Sized>(
    ctx: &C,
    big_b: &AffinePoint,
    d: &ShareDelivery,
    proof: &DisputeProof,
) -> Result<AffinePoint> {
    let bad = |reason| KeyError::InvalidDisputeProof { reason };
    let p = parse_public_key(proof.point64(0))
        .map_err(|_| bad("P is not a curve point"))?
        .as_affine()
        .to_owned();
    if !x_below_order(&p) {
        return Err(bad("P.x is not below the group order"));
    }
    let a2 = parse_public_key(proof.point64(4))
        .map_err(|_| bad("A2 is not a curve point"))?
        .to_projective();
    let mut zb = FieldBytes::default();
    zb.copy_from_slice(proof.word(10));
    let z = Option::<Scalar>::from(Scalar::from_repr(zb))
        .filter(|z| !bool::from(z.is_zero()))
        .ok_or(bad("z is zero or not below the group order"))?;
    let c = challenge(ctx, big_b, &d.r33, &p, proof.point64(2), proof.point64(4));
    if bool::from(c.is_zero()) {
        return Err(bad("zero challenge"));
    }
    let a1 = ProjectivePoint::GENERATOR * z - ProjectivePoint::from(*big_b) * c;
    if a1 == ProjectivePoint::IDENTITY || enc64(&a1.to_affine())[..] != *proof.point64(2) {
        return Err(bad("z·G − c·B is not A1"));
    }
    let zr = ProjectivePoint::from(d.r) * z;
    if zr == ProjectivePoint::IDENTITY || enc64(&zr.to_affine())[..] != *proof.point64(6) {
        return Err(bad("z·R helper point is wrong"));
    }
    let cp = ProjectivePoint::from(p) * c;
    if cp == ProjectivePoint::IDENTITY || enc64(&cp.to_affine())[..] != *proof.point64(8) {
        return Err(bad("c·P helper point is wrong"));
    }
    let (xa, xw, xz) = (a2.to_affine().x(), cp.to_affine().x(), zr.to_affine().x());
    if xa == xw || xa == xz || xw == xz {
        return Err(bad("A2, c·P and z·R must have distinct x-coordinates"));
    }
    if a2 + cp != zr {
        return Err(bad("z·R is not A2 + c·P"));
    }
    Ok(p)
}

/// Feldman public share `Σ_j index^j·C_j` (Horner's rule, as the contract computes it).
pub fn public_share(commitments: &Commitments, index: u8) -> ProjectivePoint {
    let x = Scalar::from(u64::from(index));
    let mut acc = ProjectivePoint::IDENTITY;
    for c in commitments.points().iter().rev() {
        acc = acc * x + c;
    }
    acc
}

// ---------------------------------------------------------------------------------------------
// Hashes and encodings
// ---------------------------------------------------------------------------------------------

/// `H_mask = SHA-256(MASK_DST ‖ ctx ‖ R (33) ‖ P.x ‖ P.y) mod n`.
fn mask<C: DeliveryBinding + ?Sized>(ctx: &C, r33: &[u8; 33], p: &AffinePoint) -> Scalar {
    let mut pe = enc64(p);
    let mut hasher = Sha256::new();
    hasher.update(MASK_DST);
    hasher.update(ctx.to_bytes());
    hasher.update(r33);
    hasher.update(pe);
    pe.zeroize();
    let mut out = hasher.finalize();
    let h = <Scalar as Reduce<FieldBytes>>::reduce(&out);
    out.zeroize();
    h
}

/// `c = SHA-256(DLEQ_DST ‖ ctx ‖ B (64) ‖ R (33) ‖ P (64) ‖ A1 (64) ‖ A2 (64)) mod n`.
fn challenge<C: DeliveryBinding + ?Sized>(
    ctx: &C,
    big_b: &AffinePoint,
    r33: &[u8; 33],
    p: &AffinePoint,
    a1: &[u8],
    a2: &[u8],
) -> Scalar {
    let mut hasher = Sha256::new();
    hasher.update(DLEQ_DST);
    hasher.update(ctx.to_bytes());
    hasher.update(enc64(big_b));
    hasher.update(r33);
    hasher.update(enc64(p));
    hasher.update(a1);
    hasher.update(a2);
    <Scalar as Reduce<FieldBytes>>::reduce(&hasher.finalize())
}

/// `x ‖ y`, 32 bytes each, big-endian (the identity, never passed here, encodes as zeros).
fn enc64(p: &AffinePoint) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&p.x());
    out[32..].copy_from_slice(&p.y());
    out
}

fn x_below_order(p: &AffinePoint) -> bool {
    let x = p.x();
    x.as_slice() < ORDER_BE.as_slice()
}

#[cfg(test)]
mod tests;
