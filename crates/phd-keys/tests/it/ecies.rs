#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use phd_keys::*;
use proptest::prelude::*;

#[test]
fn all_pubkey_encodings_round_trip() {
    let k = EncryptionSecretKey::generate().unwrap();
    let aad = b"chain=31337|market=0xabc|dataset=7|keeper=2";
    let c33 = k.public_key_compressed();
    let c65 = k.public_key_uncompressed();
    let c64 = k.public_key_raw64();
    assert_eq!(&c65[1..], &c64[..]);
    for pk in [&c33[..], &c65[..], &c64[..]] {
        let ct = encrypt(pk, b"share bytes", aad).unwrap();
        assert_eq!(ct.len(), ECIES_OVERHEAD + 11);
        assert_eq!(ct[0], ECIES_VERSION);
        assert_eq!(&decrypt(&k, &ct, aad).unwrap()[..], b"share bytes");
    }
    let k2 = EncryptionSecretKey::from_bytes(&k.to_bytes()[..]).unwrap();
    assert_eq!(k2.public_key_compressed(), c33);
}

#[test]
fn rejects_bad_public_keys() {
    let k = EncryptionSecretKey::generate().unwrap();
    let mut c65 = k.public_key_uncompressed();
    c65[64] ^= 1; // off curve
    assert!(matches!(
        encrypt(&c65, b"x", b""),
        Err(KeyError::InvalidPublicKey { .. })
    ));
    assert!(encrypt(&c65[1..], b"x", b"").is_err());
    assert!(encrypt(&[0u8; 33], b"x", b"").is_err());
    assert!(encrypt(&[0u8; 65], b"x", b"").is_err());
    assert!(encrypt(&[0u8; 64], b"x", b"").is_err());
    assert!(encrypt(&[0u8; 1], b"x", b"").is_err());
    assert!(encrypt(&[], b"x", b"").is_err());
    let mut c33 = k.public_key_compressed();
    c33[0] = 0x04;
    assert!(encrypt(&c33, b"x", b"").is_err());
    let mut hybrid = k.public_key_uncompressed();
    hybrid[0] = 0x06;
    assert!(encrypt(&hybrid, b"x", b"").is_err());
    assert!(EncryptionSecretKey::from_bytes(&[0u8; 32]).is_err());
    assert!(EncryptionSecretKey::from_bytes(&[1u8; 31]).is_err());
}

#[test]
fn rejects_tampering_wrong_key_wrong_aad() {
    let k = EncryptionSecretKey::generate().unwrap();
    let other = EncryptionSecretKey::generate().unwrap();
    let ct = encrypt(
        &k.public_key_compressed(),
        b"0123456789abcdef0123456789abcdef",
        b"aad",
    )
    .unwrap();
    assert!(decrypt(&other, &ct, b"aad").is_err());
    assert!(decrypt(&k, &ct, b"aaD").is_err());
    assert!(decrypt(&k, &ct, b"").is_err());
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        assert!(decrypt(&k, &bad, b"aad").is_err(), "flip at {i} accepted");
    }
    for cut in 0..ct.len() {
        assert!(decrypt(&k, &ct[..cut], b"aad").is_err());
    }
    let mut ext = ct.clone();
    ext.push(0);
    assert!(decrypt(&k, &ext, b"aad").is_err());
    // ephemeral key replaced by identity / off-curve
    let mut bad = ct.clone();
    bad[1..34].copy_from_slice(&[0u8; 33]);
    assert!(decrypt(&k, &bad, b"aad").is_err());
    let mut badv = ct.clone();
    badv[0] = 2;
    assert!(matches!(
        decrypt(&k, &badv, b"aad"),
        Err(KeyError::UnsupportedVersion { version: 2 })
    ));
}

#[test]
fn share_transport_end_to_end() {
    // owner splits, encrypts each share to a keeper, keeper re-encrypts to buyer, buyer combines
    let secret = DatasetSecret::generate().unwrap();
    let (shares, c) = split(&secret, 3, 5).unwrap();
    let buyer = EncryptionSecretKey::generate().unwrap();
    let mut got = Vec::new();
    for sh in shares.iter().take(3) {
        let aad = format!("chain=1|dataset=9|keeper={}", sh.index());
        let ct = encrypt(
            &buyer.public_key_raw64(),
            &sh.to_bytes()[..],
            aad.as_bytes(),
        )
        .unwrap();
        let pt = decrypt(&buyer, &ct, aad.as_bytes()).unwrap();
        let s = KeyShare::from_bytes(&pt).unwrap();
        verify_share(&s, &c).unwrap();
        got.push(s);
    }
    assert_eq!(*combine(&got, &c).unwrap().data_key(), *secret.data_key());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]
    #[test]
    fn prop_round_trip(msg in prop::collection::vec(any::<u8>(), 0..2048), aad in prop::collection::vec(any::<u8>(), 0..64)) {
        let k = EncryptionSecretKey::generate().unwrap();
        let ct = encrypt(&k.public_key_compressed(), &msg, &aad).unwrap();
        prop_assert_eq!(&decrypt(&k, &ct, &aad).unwrap()[..], &msg[..]);
    }

    #[test]
    fn prop_decrypt_never_panics(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let k = EncryptionSecretKey::from_bytes(&[7u8; 32]).unwrap();
        let _ = decrypt(&k, &data, b"");
    }
}
