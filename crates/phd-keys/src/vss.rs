//! Feldman verifiable secret sharing of the dataset secret (vsss-rs over k256).

use crate::error::{KeyError, Result};
use crate::secret::{DatasetSecret, point_from_33, point_to_33};
use elliptic_curve::ff::PrimeField;
use k256::{ProjectivePoint, Scalar, SecretKey};
use rand::{SeedableRng, TryRng};
use std::collections::HashSet;
use std::fmt;
use subtle::ConstantTimeEq;
use vsss_rs::{
    DefaultShare, FeldmanVerifierSet, IdentifierPrimeField, ReadableShareSet, Share,
    ShareVerifierGroup,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

type VShare = DefaultShare<IdentifierPrimeField<Scalar>, IdentifierPrimeField<Scalar>>;
type VVerifier = ShareVerifierGroup<ProjectivePoint>;

/// Length of [`KeyShare::to_bytes`].
pub const SHARE_LEN: usize = 33;

/// One keeper's share: `index ‖ f(index)` with `f` the dealer's polynomial.
/// Zeroized on drop; `Debug` shows only the index.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyShare {
    index: u8,
    value: [u8; 32],
}

impl KeyShare {
    /// The share's identifier (1..=255).
    pub fn index(&self) -> u8 {
        self.index
    }

    /// 33 bytes: `index ‖ value (32 bytes, big-endian scalar)`.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SHARE_LEN]> {
        let mut out = Zeroizing::new([0u8; SHARE_LEN]);
        out[0] = self.index;
        out[1..].copy_from_slice(&self.value);
        out
    }

    /// Parse 33 bytes; rejects wrong length, index 0, zero or non-canonical scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare> {
        let b: &[u8; SHARE_LEN] = bytes
            .try_into()
            .map_err(|_| KeyError::InvalidShareEncoding {
                reason: "share must be 33 bytes",
            })?;
        let index = b[0];
        if index == 0 {
            return Err(KeyError::InvalidShareIndex { index });
        }
        let mut value = [0u8; 32];
        value.copy_from_slice(&b[1..]);
        let share = KeyShare { index, value };
        match share.scalar() {
            Some(s) if !bool::from(s.is_zero()) => Ok(share),
            _ => Err(KeyError::InvalidShareEncoding {
                reason: "share value is zero or not a canonical scalar",
            }),
        }
    }

    pub(crate) fn scalar(&self) -> Option<Scalar> {
        Option::from(Scalar::from_repr(self.value.into()))
    }

    /// A share from its index and a non-zero scalar (used when unmasking a delivery).
    pub(crate) fn from_scalar(index: u8, value: &Scalar) -> Result<KeyShare> {
        if index == 0 {
            return Err(KeyError::InvalidShareIndex { index });
        }
        if bool::from(value.is_zero()) {
            return Err(KeyError::InvalidShareEncoding {
                reason: "share value is zero",
            });
        }
        let mut repr = value.to_repr();
        let mut v = [0u8; 32];
        v.copy_from_slice(&repr);
        repr.zeroize();
        Ok(KeyShare { index, value: v })
    }

    fn to_vsss(&self) -> Option<VShare> {
        Some(VShare::with_identifier_and_value(
            IdentifierPrimeField(Scalar::from(u64::from(self.index))),
            IdentifierPrimeField(self.scalar()?),
        ))
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyShare")
            .field("index", &self.index)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl PartialEq for KeyShare {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && bool::from(self.value.ct_eq(&other.value))
    }
}
impl Eq for KeyShare {}

/// Feldman commitments `C_j = a_j·G` for `j = 0..t`; `C0 = s·G` is the key commitment.
#[derive(Clone, PartialEq, Eq)]
pub struct Commitments {
    points: Vec<ProjectivePoint>,
}

impl Commitments {
    /// Parse `t` compressed points (2 <= t <= 255); rejects malformed,
    /// off-curve and identity points.
    pub fn from_bytes(points: &[[u8; 33]]) -> Result<Commitments> {
        if points.len() < 2 || points.len() > 255 {
            return Err(KeyError::InvalidCommitments {
                reason: format!("need 2..=255 commitments, got {}", points.len()),
            });
        }
        let mut out = Vec::with_capacity(points.len());
        for (j, p) in points.iter().enumerate() {
            let q = point_from_33(p).ok_or_else(|| KeyError::InvalidCommitments {
                reason: format!("commitment {j} is not a valid non-identity compressed point"),
            })?;
            out.push(q);
        }
        Ok(Commitments { points: out })
    }

    /// Parse from a flat byte string of `33·t` bytes.
    pub fn from_concat_bytes(bytes: &[u8]) -> Result<Commitments> {
        if !bytes.len().is_multiple_of(33) {
            return Err(KeyError::InvalidCommitments {
                reason: format!("{} bytes is not a multiple of 33", bytes.len()),
            });
        }
        let pts: Vec<[u8; 33]> = bytes
            .chunks_exact(33)
            .filter_map(|c| <[u8; 33]>::try_from(c).ok())
            .collect();
        Commitments::from_bytes(&pts)
    }

    /// The `t` compressed points.
    pub fn to_bytes(&self) -> Vec<[u8; 33]> {
        self.points.iter().map(point_to_33).collect()
    }

    /// All points concatenated (`33·t` bytes).
    pub fn to_concat_bytes(&self) -> Vec<u8> {
        self.to_bytes().concat()
    }

    /// The points `C_0..C_{t-1}`.
    pub(crate) fn points(&self) -> &[ProjectivePoint] {
        &self.points
    }

    /// The threshold `t` (number of commitments).
    pub fn threshold(&self) -> usize {
        self.points.len()
    }

    /// `C0 = s·G`, compressed.
    pub fn key_commitment(&self) -> [u8; 33] {
        self.points.first().map(point_to_33).unwrap_or([0u8; 33])
    }

    fn verifier_set(&self) -> Vec<VVerifier> {
        let mut v = Vec::with_capacity(self.points.len() + 1);
        v.push(vsss_rs::ValueGroup(ProjectivePoint::GENERATOR));
        v.extend(self.points.iter().map(|p| vsss_rs::ValueGroup(*p)));
        v
    }
}

impl fmt::Debug for Commitments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.to_bytes().iter().map(hex::encode).collect();
        f.debug_struct("Commitments").field("points", &hex).finish()
    }
}

/// Split `secret` into `n` shares with threshold `t` (`2 <= t <= n`); share
/// `i` (returned at position `i-1`) has identifier `i`.
pub fn split(secret: &DatasetSecret, t: u8, n: u8) -> Result<(Vec<KeyShare>, Commitments)> {
    if t < 2 || t > n {
        return Err(KeyError::InvalidThreshold {
            t: t.into(),
            n: n.into(),
        });
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::SysRng
        .try_fill_bytes(seed.as_mut())
        .map_err(|e| KeyError::Rng(e.to_string()))?;
    let mut rng = rand::rngs::StdRng::from_seed(*seed);
    let mut s = IdentifierPrimeField(secret.scalar());
    let split_result =
        vsss_rs::feldman::split_secret::<VShare, VVerifier>(t.into(), n.into(), &s, None, &mut rng)
            .map_err(|e| KeyError::Vss(e.to_string()));
    s.0.zeroize();
    let (vshares, verifiers) = split_result?;
    let points: Vec<ProjectivePoint> =
        FeldmanVerifierSet::<VShare, VVerifier>::verifiers(&verifiers)
            .iter()
            .map(|v| v.0)
            .collect();
    if points.len() != usize::from(t) {
        return Err(KeyError::Vss(format!(
            "expected {t} commitments, library produced {}",
            points.len()
        )));
    }
    let mut shares = Vec::with_capacity(n.into());
    for (i, vs) in vshares.iter().enumerate() {
        let index = u8::try_from(i + 1).map_err(|_| KeyError::Vss("index overflow".into()))?;
        // vsss-rs numbers participants 1..=n sequentially; check it.
        if vs.identifier.0 != Scalar::from(u64::from(index)) {
            return Err(KeyError::Vss("unexpected participant identifier".into()));
        }
        let mut value = [0u8; 32];
        value.copy_from_slice(&vs.value.0.to_repr());
        shares.push(KeyShare { index, value });
    }
    for mut vs in vshares {
        vs.zeroize();
    }
    Ok((shares, Commitments { points }))
}

/// Feldman check: `f(i)·G == Σ_j C_j·i^j`.
pub fn verify_share(share: &KeyShare, commitments: &Commitments) -> Result<()> {
    let bad = || KeyError::ShareVerification { index: share.index };
    let vs = share.to_vsss().ok_or_else(bad)?;
    FeldmanVerifierSet::<VShare, VVerifier>::verify_share(&commitments.verifier_set(), &vs)
        .map_err(|_| bad())
}

/// Indices of the shares that fail Feldman verification (a cheating keeper).
pub fn identify_bad_shares(shares: &[KeyShare], commitments: &Commitments) -> Vec<u8> {
    shares
        .iter()
        .filter(|s| verify_share(s, commitments).is_err())
        .map(KeyShare::index)
        .collect()
}

/// Verify every share, interpolate the secret from exactly `t` verified ones,
/// and check it against `C0`.
pub fn combine(shares: &[KeyShare], commitments: &Commitments) -> Result<DatasetSecret> {
    let t = commitments.threshold();
    if shares.len() < t {
        return Err(KeyError::NotEnoughShares {
            need: t,
            got: shares.len(),
        });
    }
    let mut seen = HashSet::new();
    for s in shares {
        if s.index == 0 {
            return Err(KeyError::InvalidShareIndex { index: 0 });
        }
        if !seen.insert(s.index) {
            return Err(KeyError::DuplicateShareIndex { index: s.index });
        }
    }
    let mut good = Vec::with_capacity(t);
    let mut bad = Vec::new();
    for s in shares {
        match (verify_share(s, commitments), s.to_vsss()) {
            (Ok(()), Some(v)) => good.push(v),
            _ => bad.push(s.index),
        }
    }
    if good.len() < t {
        return Err(KeyError::NotEnoughValidShares {
            need: t,
            valid: good.len(),
            bad,
        });
    }
    good.truncate(t);
    let combined = good.combine();
    for g in good.iter_mut() {
        g.zeroize();
    }
    let mut secret = combined.map_err(|e| KeyError::Vss(e.to_string()))?;
    let c0 = commitments
        .points
        .first()
        .ok_or(KeyError::KeyCommitmentMismatch)?;
    if ProjectivePoint::GENERATOR * secret.0 != *c0 {
        return Err(KeyError::KeyCommitmentMismatch);
    }
    let mut repr = secret.0.to_repr();
    secret.0.zeroize();
    let sk = SecretKey::from_slice(&repr).map_err(|_| KeyError::InvalidSecret);
    repr.zeroize();
    let sk = sk?;
    Ok(DatasetSecret { sk })
}
