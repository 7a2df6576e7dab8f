#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::vss::split;
use crate::{DatasetSecret, EncryptionSecretKey};
use proptest::prelude::*;
use std::fmt::Write as _;

const MARKET: [u8; 20] = [0xAB; 20];

fn ctx(index: u8) -> DeliveryContext {
    DeliveryContext::new(31337, MARKET, 7, index)
}

fn dataset(t: u8, n: u8) -> (Vec<KeyShare>, Commitments) {
    let s = DatasetSecret::generate().unwrap();
    split(&s, t, n).unwrap()
}

/// A keeper that masks `value` instead of its share.
fn deliver_value(value: &Scalar, buyer: &EncryptionSecretKey, ctx: &DeliveryContext) -> Vec<u8> {
    let b = parse_public_key(&buyer.public_key_raw64())
        .unwrap()
        .to_projective();
    loop {
        let r = SecretKey::try_generate_from_rng(&mut rand::rngs::SysRng).unwrap();
        if let Some((d, _)) = deliver_with(value, &b, ctx, &r.to_nonzero_scalar()).unwrap() {
            return d.to_bytes();
        }
    }
}

#[test]
fn honest_delivery_opens_and_verifies() {
    let (shares, c) = dataset(3, 5);
    let buyer = EncryptionSecretKey::generate().unwrap();
    for sh in &shares {
        let cx = ctx(sh.index());
        let d = deliver_share(sh, &buyer.public_key_compressed(), &cx).unwrap();
        let payload = d.to_bytes();
        assert_eq!(payload.len(), DELIVERY_LEN);
        assert_eq!(payload[0], DELIVERY_VERSION);
        assert_eq!(ShareDelivery::from_bytes(&payload).unwrap(), d);
        let got = open_delivery(&buyer, &payload, &cx, &c).unwrap();
        assert_eq!(&got, sh);
        // A proof of a right share verifies but does not make a valid dispute.
        let proof = prove_dispute(&buyer, &payload, &cx).unwrap();
        let bad = verify_dispute(
            &buyer.public_key_raw64(),
            &payload,
            &cx,
            &c,
            &proof.to_bytes(),
        );
        assert_eq!(bad, Ok(false));
    }
    // The shares opened from deliveries reconstruct the secret.
    let opened: Vec<KeyShare> = shares[1..4]
        .iter()
        .map(|sh| {
            let cx = ctx(sh.index());
            let p = deliver_share(sh, &buyer.public_key_uncompressed(), &cx)
                .unwrap()
                .to_bytes();
            open_delivery(&buyer, &p, &cx, &c).unwrap()
        })
        .collect();
    crate::combine(&opened, &c).unwrap();
}

#[test]
fn wrong_share_is_detected_and_proven() {
    let (shares, c) = dataset(3, 5);
    let buyer = EncryptionSecretKey::generate().unwrap();
    let sh = &shares[1];
    let cx = ctx(sh.index());
    let wrong = sh.scalar().unwrap() + Scalar::ONE;
    let payload = deliver_value(&wrong, &buyer, &cx);
    assert_eq!(
        open_delivery(&buyer, &payload, &cx, &c).unwrap_err(),
        KeyError::ShareVerification { index: 2 }
    );
    let proof = prove_dispute(&buyer, &payload, &cx).unwrap();
    assert_eq!(
        verify_dispute(
            &buyer.public_key_raw64(),
            &payload,
            &cx,
            &c,
            &proof.to_bytes()
        ),
        Ok(true)
    );
    // Another keeper's (correct) share under this index is wrong too.
    let payload = deliver_value(&shares[0].scalar().unwrap(), &buyer, &cx);
    let proof = prove_dispute(&buyer, &payload, &cx).unwrap();
    assert_eq!(
        verify_dispute(
            &buyer.public_key_raw64(),
            &payload,
            &cx,
            &c,
            &proof.to_bytes()
        ),
        Ok(true)
    );
    // A zero share.
    let payload = deliver_value(&Scalar::ZERO, &buyer, &cx);
    assert!(open_delivery(&buyer, &payload, &cx, &c).is_err());
    let proof = prove_dispute(&buyer, &payload, &cx).unwrap();
    assert_eq!(
        verify_dispute(
            &buyer.public_key_raw64(),
            &payload,
            &cx,
            &c,
            &proof.to_bytes()
        ),
        Ok(true)
    );
}

#[test]
fn tampered_proofs_fail() {
    let (shares, c) = dataset(2, 3);
    let buyer = EncryptionSecretKey::generate().unwrap();
    let cx = ctx(3);
    let payload = deliver_value(&(shares[2].scalar().unwrap() + Scalar::ONE), &buyer, &cx);
    let proof = prove_dispute(&buyer, &payload, &cx).unwrap().to_bytes();
    let bk = buyer.public_key_raw64();
    assert_eq!(verify_dispute(&bk, &payload, &cx, &c, &proof), Ok(true));
    for byte in (0..DISPUTE_PROOF_LEN).step_by(7).chain([31, 63, 351]) {
        let mut p = proof;
        p[byte] ^= 0x01;
        assert!(
            verify_dispute(&bk, &payload, &cx, &c, &p).is_err(),
            "flipped byte {byte} still verifies"
        );
    }
    // Other contexts, another buyer, truncated proof.
    for other in [
        DeliveryContext::new(1, MARKET, 7, 3),
        DeliveryContext::new(31337, [0xAC; 20], 7, 3),
        DeliveryContext::new(31337, MARKET, 8, 3),
    ] {
        assert!(verify_dispute(&bk, &payload, &other, &c, &proof).is_err());
    }
    let other = EncryptionSecretKey::generate().unwrap();
    assert!(verify_dispute(&other.public_key_raw64(), &payload, &cx, &c, &proof).is_err());
    assert!(matches!(
        verify_dispute(&bk, &payload, &cx, &c, &proof[..351]),
        Err(KeyError::InvalidDisputeProof { .. })
    ));
    // A proof for P' ≠ b·R cannot be made by the buyer: a proof built with the wrong secret fails.
    let d = ShareDelivery::from_bytes(&payload).unwrap();
    let forged = loop {
        let k = SecretKey::try_generate_from_rng(&mut rand::rngs::SysRng).unwrap();
        if let Some(p) =
            prove_with(&other.nonzero_scalar(), &d, &cx, &k.to_nonzero_scalar()).unwrap()
        {
            break p;
        }
    };
    assert!(verify_dispute(&bk, &payload, &cx, &c, &forged.to_bytes()).is_err());
}

#[test]
fn malformed_deliveries() {
    let (shares, c) = dataset(2, 2);
    let buyer = EncryptionSecretKey::generate().unwrap();
    let cx = ctx(1);
    let good = deliver_share(&shares[0], &buyer.public_key_raw64(), &cx)
        .unwrap()
        .to_bytes();
    let mut order = [0u8; 66];
    order[0] = 2;
    order[1] = 2;
    order[2..34].copy_from_slice(&ORDER_BE);
    let mut m_big = good.clone();
    m_big[34..].copy_from_slice(&ORDER_BE);
    let mut bad_version = good.clone();
    bad_version[0] = 1;
    let mut uncompressed = good.clone();
    uncompressed[1] = 4;
    let mut off_curve = good.clone();
    off_curve[2..34].copy_from_slice(&[0u8; 32]);
    off_curve[33] = 5; // x = 5: x³ + 7 is not a square
    for p in [
        vec![],
        good[..65].to_vec(),
        order.to_vec(),
        m_big,
        bad_version,
        uncompressed,
        off_curve,
    ] {
        assert!(matches!(
            ShareDelivery::from_bytes(&p),
            Err(KeyError::MalformedDelivery { .. })
        ));
        assert!(matches!(
            open_delivery(&buyer, &p, &cx, &c),
            Err(KeyError::MalformedDelivery { .. })
        ));
        assert!(prove_dispute(&buyer, &p, &cx).is_err());
        assert_eq!(
            verify_dispute(&buyer.public_key_raw64(), &p, &cx, &c, &[]),
            Ok(true)
        );
    }
    // A tail is kept and ignored.
    let mut tailed = good.clone();
    tailed.extend_from_slice(b"tail");
    let d = ShareDelivery::from_bytes(&tailed).unwrap();
    assert_eq!(d.tail(), b"tail");
    assert_eq!(d.to_bytes(), tailed);
    assert_eq!(open_delivery(&buyer, &tailed, &cx, &c).unwrap(), shares[0]);
    // Index mismatch and index 0.
    assert_eq!(
        deliver_share(&shares[0], &buyer.public_key_raw64(), &ctx(2)).unwrap_err(),
        KeyError::ContextMismatch {
            share_index: 1,
            context_index: 2
        }
    );
    assert!(verify_dispute(&buyer.public_key_raw64(), &good, &ctx(0), &c, &[]).is_err());
    // Bad buyer keys.
    assert!(deliver_share(&shares[0], &[0u8; 33], &cx).is_err());
    let mut off = buyer.public_key_raw64();
    off[63] ^= 1;
    assert!(deliver_share(&shares[0], &off, &cx).is_err());
    assert!(matches!(
        verify_dispute(&off, &good, &cx, &c, &[0u8; DISPUTE_PROOF_LEN]),
        Err(KeyError::InvalidPublicKey { .. })
    ));
}

#[test]
fn encrypted_tail_round_trip() {
    let (shares, c) = dataset(2, 3);
    let buyer = EncryptionSecretKey::generate().unwrap();
    let cx = ctx(2);
    let url = b"https://s3.example/bucket/key?X-Amz-Signature=abc";
    let d = deliver_share_with_tail(&shares[1], &buyer.public_key_raw64(), &cx, url).unwrap();
    let payload = d.to_bytes();
    assert_eq!(payload.len(), DELIVERY_LEN + 12 + url.len() + 16);
    assert_eq!(open_delivery(&buyer, &payload, &cx, &c).unwrap(), shares[1]);
    assert_eq!(
        &open_delivery_tail(&buyer, &payload, &cx).unwrap().unwrap()[..],
        url
    );
    // The dispute ignores the tail.
    let proof = prove_dispute(&buyer, &payload, &cx).unwrap();
    assert_eq!(
        verify_dispute(
            &buyer.public_key_raw64(),
            &payload,
            &cx,
            &c,
            &proof.to_bytes()
        ),
        Ok(false)
    );
    // No tail, wrong buyer, wrong context, altered tail, altered core.
    let plain = deliver_share(&shares[1], &buyer.public_key_raw64(), &cx)
        .unwrap()
        .to_bytes();
    assert_eq!(open_delivery_tail(&buyer, &plain, &cx).unwrap(), None);
    let other = EncryptionSecretKey::generate().unwrap();
    assert_eq!(
        open_delivery_tail(&other, &payload, &cx).unwrap_err(),
        KeyError::DecryptionFailed
    );
    assert_eq!(
        open_delivery_tail(&buyer, &payload, &DeliveryContext::new(31337, MARKET, 8, 2))
            .unwrap_err(),
        KeyError::DecryptionFailed
    );
    for at in [DELIVERY_LEN, DELIVERY_LEN + 12, payload.len() - 1, 40] {
        let mut p = payload.clone();
        p[at] ^= 1;
        assert!(open_delivery_tail(&buyer, &p, &cx).is_err(), "byte {at}");
    }
    let mut short = plain.clone();
    short.extend_from_slice(&[0u8; 27]);
    assert_eq!(
        open_delivery_tail(&buyer, &short, &cx).unwrap_err(),
        KeyError::DecryptionFailed
    );
    assert!(deliver_share_with_tail(&shares[0], &buyer.public_key_raw64(), &cx, url).is_err());
}

#[test]
fn proofs_use_fresh_nonces() {
    let (shares, c) = dataset(2, 2);
    let buyer = EncryptionSecretKey::generate().unwrap();
    let cx = ctx(1);
    let payload = deliver_value(&(shares[0].scalar().unwrap() + Scalar::ONE), &buyer, &cx);
    let p1 = prove_dispute(&buyer, &payload, &cx).unwrap().to_bytes();
    let p2 = prove_dispute(&buyer, &payload, &cx).unwrap().to_bytes();
    assert_eq!(p1[..64], p2[..64], "same P");
    assert_ne!(p1[64..128], p2[64..128], "A1 = k·G must differ");
    for p in [p1, p2] {
        assert_eq!(
            verify_dispute(&buyer.public_key_raw64(), &payload, &cx, &c, &p),
            Ok(true)
        );
    }
}

#[test]
fn public_share_matches_vss() {
    let (shares, c) = dataset(4, 6);
    for sh in &shares {
        assert_eq!(
            ProjectivePoint::GENERATOR * sh.scalar().unwrap(),
            public_share(&c, sh.index())
        );
    }
    assert_eq!(public_share(&c, 0), c.points()[0]);
}

#[test]
fn debug_output_hides_nothing_secret_and_is_stable() {
    let (shares, _) = dataset(2, 2);
    let buyer = EncryptionSecretKey::generate().unwrap();
    let d = deliver_share(&shares[0], &buyer.public_key_raw64(), &ctx(1)).unwrap();
    assert!(format!("{d:?}").contains("ShareDelivery"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trip(t in 2u8..6, extra in 0u8..4, pick in 0usize..9, delta in 0u64..3, purchase in any::<u64>()) {
        let n = t + extra;
        let (shares, c) = dataset(t, n);
        let buyer = EncryptionSecretKey::generate().unwrap();
        let sh = &shares[pick % shares.len()];
        let cx = DeliveryContext::new(31337, MARKET, purchase, sh.index());
        let value = sh.scalar().unwrap() + Scalar::from(delta);
        let payload = deliver_value(&value, &buyer, &cx);
        let opened = open_delivery(&buyer, &payload, &cx, &c);
        prop_assert_eq!(opened.is_ok(), delta == 0);
        let proof = prove_dispute(&buyer, &payload, &cx).unwrap();
        prop_assert_eq!(
            verify_dispute(&buyer.public_key_raw64(), &payload, &cx, &c, &proof.to_bytes()),
            Ok(delta != 0)
        );
    }

    #[test]
    fn hostile_inputs_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..80),
                                  proof in proptest::collection::vec(any::<u8>(), 0..360)) {
        let (_, c) = dataset(2, 2);
        let buyer = EncryptionSecretKey::generate().unwrap();
        let cx = ctx(1);
        let _ = ShareDelivery::from_bytes(&payload);
        let _ = open_delivery(&buyer, &payload, &cx, &c);
        let _ = prove_dispute(&buyer, &payload, &cx);
        let _ = verify_dispute(&buyer.public_key_raw64(), &payload, &cx, &c, &proof);
        let mut p2 = payload.clone();
        p2.resize(66, 0);
        p2[0] = 2;
        p2[1] = 2;
        let _ = verify_dispute(&buyer.public_key_raw64(), &p2, &cx, &c, &proof);
    }
}

// -------------------------------------------------------------------------------------------
// Cross-language vectors: contracts/test/vectors/share_proof.json, read by
// contracts/test/unit/ShareProof.t.sol (test_Vectors). Regenerate with PHD_UPDATE_VECTORS=1.
// -------------------------------------------------------------------------------------------

fn det_scalar(label: &str) -> Scalar {
    let mut h = Sha256::new();
    h.update(b"phd share proof vector v1");
    h.update(label.as_bytes());
    let s = <Scalar as Reduce<FieldBytes>>::reduce(&h.finalize());
    if bool::from(s.is_zero()) {
        Scalar::ONE
    } else {
        s
    }
}

struct VectorCase {
    name: String,
    t: usize,
    index: u8,
    purchase: u64,
    /// Added to the right share (0 = honest keeper).
    delta: u64,
    malformed: bool,
    /// 0: untouched; 1: z + 1; 2: another buyer key; 3: P replaced by −P (the contract reverts).
    tamper: u8,
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn vector_json() -> String {
    let mut cases = vec![
        VectorCase {
            name: "t3-i2-right".into(),
            t: 3,
            index: 2,
            purchase: 1,
            delta: 0,
            malformed: false,
            tamper: 0,
        },
        VectorCase {
            name: "t3-i1-wrong".into(),
            t: 3,
            index: 1,
            purchase: 2,
            delta: 1,
            malformed: false,
            tamper: 0,
        },
        VectorCase {
            name: "t4-i3-right".into(),
            t: 4,
            index: 3,
            purchase: 3,
            delta: 0,
            malformed: false,
            tamper: 0,
        },
        VectorCase {
            name: "t5-i4-wrong".into(),
            t: 5,
            index: 4,
            purchase: 4,
            delta: 0x1234_5678,
            malformed: false,
            tamper: 0,
        },
        VectorCase {
            name: "t2-i255-right".into(),
            t: 2,
            index: 255,
            purchase: u64::MAX,
            delta: 0,
            malformed: false,
            tamper: 0,
        },
        VectorCase {
            name: "t8-i200-wrong".into(),
            t: 8,
            index: 200,
            purchase: 6,
            delta: 3,
            malformed: false,
            tamper: 0,
        },
        VectorCase {
            name: "t3-i2-malformed".into(),
            t: 3,
            index: 2,
            purchase: 7,
            delta: 0,
            malformed: true,
            tamper: 0,
        },
        VectorCase {
            name: "t3-i2-tampered-z".into(),
            t: 3,
            index: 2,
            purchase: 8,
            delta: 1,
            malformed: false,
            tamper: 1,
        },
        VectorCase {
            name: "t3-i2-other-buyer-key".into(),
            t: 3,
            index: 2,
            purchase: 9,
            delta: 1,
            malformed: false,
            tamper: 2,
        },
        VectorCase {
            name: "t3-i3-negated-p".into(),
            t: 3,
            index: 3,
            purchase: 10,
            delta: 1,
            malformed: false,
            tamper: 3,
        },
    ];
    // A sweep over thresholds and indices (binary and non-adjacent-form digit paths on-chain).
    for (n, (t, index)) in [
        (2, 7),
        (3, 15),
        (4, 127),
        (5, 200),
        (6, 3),
        (3, 254),
        (4, 85),
        (2, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let wrong = n % 2 == 0;
        cases.push(VectorCase {
            name: format!(
                "sweep-t{t}-i{index}-{}",
                if wrong { "wrong" } else { "right" }
            ),
            t,
            index,
            purchase: 100 + n as u64,
            delta: if wrong { 1 + n as u64 } else { 0 },
            malformed: false,
            tamper: 0,
        });
    }
    let mut out = String::new();
    out.push_str("{\n  \"comment\": \"Provable share delivery vectors (docs/FORMATS.md 2.4). Written by crates/phd-keys/src/proof/tests.rs (share_proof_vectors), read by contracts/test/unit/ShareProof.t.sol (test_Vectors). valid = false: the contract reverts (invalid proof); bad = the dispute is valid.\",\n");
    let _ = writeln!(out, "  \"count\": {},", cases.len());
    out.push_str("  \"cases\": [\n");
    for (ci, case) in cases.iter().enumerate() {
        let coeffs: Vec<Scalar> = (0..case.t)
            .map(|j| det_scalar(&format!("{}/a{j}", case.name)))
            .collect();
        let cbytes: Vec<[u8; 33]> = coeffs
            .iter()
            .map(|a| point_to_33(&(ProjectivePoint::GENERATOR * a)))
            .collect();
        let commitments = Commitments::from_bytes(&cbytes).unwrap();
        let x = Scalar::from(u64::from(case.index));
        let share = coeffs.iter().rev().fold(Scalar::ZERO, |acc, a| acc * x + a);
        let delivered = share + Scalar::from(case.delta);
        let b = det_scalar(&format!("{}/b", case.name));
        let buyer = EncryptionSecretKey::from_bytes(&b.to_repr()).unwrap();
        let big_b = parse_public_key(&buyer.public_key_raw64())
            .unwrap()
            .to_projective();
        let cx = DeliveryContext::new(31337, MARKET, case.purchase, case.index);
        let (payload, proof) = if case.malformed {
            let mut p = vec![DELIVERY_VERSION, 0x02];
            p.extend_from_slice(&ORDER_BE);
            p.extend_from_slice(&delivered.to_repr());
            (p, Vec::new())
        } else {
            let d = (0..)
                .find_map(|i| {
                    let r = det_scalar(&format!("{}/r{i}", case.name));
                    deliver_with(&delivered, &big_b, &cx, &r)
                        .unwrap()
                        .map(|(d, _)| d)
                })
                .unwrap();
            let proof = (0..)
                .find_map(|i| {
                    let k = det_scalar(&format!("{}/k{i}", case.name));
                    prove_with(&b, &d, &cx, &k).unwrap()
                })
                .unwrap();
            (d.to_bytes(), proof.to_bytes().to_vec())
        };
        let mut key = buyer.public_key_raw64();
        let mut proof = proof;
        match case.tamper {
            1 => {
                let mut zb = FieldBytes::default();
                zb.copy_from_slice(&proof[320..]);
                let z = Option::<Scalar>::from(Scalar::from_repr(zb)).unwrap() + Scalar::ONE;
                proof[320..].copy_from_slice(&z.to_repr());
            }
            2 => {
                let other = det_scalar(&format!("{}/other", case.name));
                key = EncryptionSecretKey::from_bytes(&other.to_repr())
                    .unwrap()
                    .public_key_raw64();
            }
            3 => {
                let p = parse_public_key(&proof[..64]).unwrap().to_projective();
                proof[..64].copy_from_slice(&enc64(&(-p).to_affine()));
            }
            _ => {}
        }
        let result = verify_dispute(&key, &payload, &cx, &commitments, &proof);
        let valid = case.tamper == 0;
        let bad = if valid {
            result.unwrap()
        } else {
            assert!(result.is_err(), "{}", case.name);
            false
        };
        if valid {
            assert_eq!(bad, case.delta != 0 || case.malformed, "{}", case.name);
        }
        if !case.malformed {
            assert_eq!(
                open_delivery(&buyer, &payload, &cx, &commitments).is_ok(),
                case.delta == 0
            );
        }
        let cs: Vec<String> = cbytes.iter().map(|c| format!("\"{}\"", hex0x(c))).collect();
        out.push_str("    {\n");
        let _ = writeln!(out, "      \"name\": \"{}\",", case.name);
        let _ = writeln!(out, "      \"chainId\": {},", cx.chain_id);
        let _ = writeln!(
            out,
            "      \"marketplace\": \"{}\",",
            hex0x(&cx.marketplace)
        );
        let _ = writeln!(out, "      \"purchaseId\": \"{}\",", hex0x(&cx.purchase_id));
        let _ = writeln!(out, "      \"index\": {},", cx.index);
        let _ = writeln!(out, "      \"buyerKey\": \"{}\",", hex0x(&key));
        let _ = writeln!(out, "      \"commitments\": [{}],", cs.join(", "));
        let _ = writeln!(out, "      \"share\": \"{}\",", hex0x(&share.to_repr()));
        let _ = writeln!(
            out,
            "      \"delivered\": \"{}\",",
            hex0x(&delivered.to_repr())
        );
        let _ = writeln!(out, "      \"payload\": \"{}\",", hex0x(&payload));
        let _ = writeln!(out, "      \"proof\": \"{}\",", hex0x(&proof));
        let _ = writeln!(out, "      \"valid\": {valid},");
        let _ = writeln!(out, "      \"bad\": {bad}");
        out.push_str(if ci + 1 == cases.len() {
            "    }\n"
        } else {
            "    },\n"
        });
    }
    out.push_str("  ]\n}\n");
    out
}

#[test]
fn share_proof_vectors() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/test/vectors/share_proof.json");
    let json = vector_json();
    // Deterministic: generating twice gives the same file.
    assert_eq!(json, vector_json());
    if std::env::var_os("PHD_UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &json).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == json,
        "{} is stale: regenerate with PHD_UPDATE_VECTORS=1 cargo test -p phd-keys share_proof_vectors",
        path.display()
    );
}

#[test]
fn series_and_purchase_deliveries_cannot_be_replayed_across() {
    use crate::{DeliveryBinding, SeriesDeliveryContext};
    let secret = DatasetSecret::generate().unwrap();
    let (shares, commitments) = split(&secret, 2, 3).unwrap();
    let buyer = EncryptionSecretKey::generate().unwrap();
    let pk = buyer.public_key_uncompressed();
    let share = &shares[1];
    let series = SeriesDeliveryContext::new(31337, MARKET, 7, 0, share.index());
    let purchase = DeliveryContext::new(31337, MARKET, 7, share.index());
    // Same chain, contract, id and index: only the kind differs, and the encodings do.
    assert_ne!(series.to_bytes(), DeliveryBinding::to_bytes(&purchase));
    assert_eq!(series.to_bytes()[0], crate::SERIES_CONTEXT_TAG);
    let d = deliver_share(share, &pk[1..], &series).unwrap().to_bytes();
    assert_eq!(
        open_delivery(&buyer, &d, &series, &commitments)
            .unwrap()
            .to_bytes(),
        share.to_bytes()
    );
    assert!(open_delivery(&buyer, &d, &purchase, &commitments).is_err());
    // Another segment or subscription of the same series does not open either.
    for other in [
        SeriesDeliveryContext::new(31337, MARKET, 7, 1, share.index()),
        SeriesDeliveryContext::new(31337, MARKET, 8, 0, share.index()),
    ] {
        assert!(open_delivery(&buyer, &d, &other, &commitments).is_err());
    }
    let p = deliver_share(share, &pk[1..], &purchase)
        .unwrap()
        .to_bytes();
    assert!(open_delivery(&buyer, &p, &series, &commitments).is_err());
}
