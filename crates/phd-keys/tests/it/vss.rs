#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use phd_keys::*;

fn setup(t: u8, n: u8) -> (DatasetSecret, Vec<KeyShare>, Commitments) {
    let s = DatasetSecret::generate().unwrap();
    let (shares, c) = split(&s, t, n).unwrap();
    (s, shares, c)
}

#[test]
fn every_3_subset_of_5_reconstructs() {
    let (s, shares, c) = setup(3, 5);
    assert_eq!(c.threshold(), 3);
    assert_eq!(c.key_commitment(), s.key_commitment());
    for (i, sh) in shares.iter().enumerate() {
        assert_eq!(sh.index() as usize, i + 1);
        verify_share(sh, &c).unwrap();
    }
    let mut n = 0;
    for a in 0..5 {
        for b in a + 1..5 {
            for d in b + 1..5 {
                let subset = [shares[a].clone(), shares[b].clone(), shares[d].clone()];
                let got = combine(&subset, &c).unwrap();
                assert_eq!(*got.to_bytes(), *s.to_bytes());
                assert_eq!(*got.data_key(), *s.data_key());
                n += 1;
            }
        }
    }
    assert_eq!(n, 10);
    // more than t shares also fine
    assert_eq!(*combine(&shares, &c).unwrap().to_bytes(), *s.to_bytes());
}

#[test]
fn fewer_than_t_shares_fail() {
    let (_s, shares, c) = setup(3, 5);
    for k in 0..3 {
        let e = combine(&shares[..k], &c).unwrap_err();
        assert!(
            matches!(e, KeyError::NotEnoughShares { need: 3, .. }),
            "{e:?}"
        );
    }
    // t-1 shares against forged commitments with t-1 entries: C0 check fails
    let short = Commitments::from_bytes(&c.to_bytes()[..2]).unwrap();
    assert!(combine(&shares[..2], &short).is_err());
}

#[test]
fn single_corrupted_share_always_detected() {
    let (s, shares, c) = setup(3, 5);
    let mut seed = 12345u64;
    let mut checked = 0;
    for trial in 0..200 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let victim = (seed >> 33) as usize % 5;
        let byte = 1 + (seed >> 40) as usize % 32;
        let bit = (seed >> 50) as u8 % 8;
        let mut raw = shares[victim].to_bytes();
        raw[byte] ^= 1 << bit;
        let Ok(bad) = KeyShare::from_bytes(&raw[..]) else {
            checked += 1; // non-canonical scalar: rejected at parse, also a detection
            continue;
        };
        checked += 1;
        assert!(verify_share(&bad, &c).is_err(), "trial {trial}");
        let mut set = shares.clone();
        set[victim] = bad;
        assert_eq!(identify_bad_shares(&set, &c), vec![victim as u8 + 1]);
        // combine with exactly t including the bad one fails, naming it
        let three: Vec<KeyShare> = if victim < 3 {
            set[..3].to_vec()
        } else {
            vec![set[0].clone(), set[1].clone(), set[victim].clone()]
        };
        match combine(&three, &c) {
            Err(KeyError::NotEnoughValidShares { bad, .. }) => {
                assert_eq!(bad, vec![victim as u8 + 1])
            }
            other => panic!("trial {trial}: {other:?}"),
        }
        // with all 5, combine skips the bad share and still succeeds
        assert_eq!(*combine(&set, &c).unwrap().to_bytes(), *s.to_bytes());
    }
    assert_eq!(checked, 200);
}

#[test]
fn share_with_wrong_index_detected() {
    let (_s, shares, c) = setup(2, 3);
    let mut raw = shares[0].to_bytes();
    raw[0] = 2;
    let moved = KeyShare::from_bytes(&raw[..]).unwrap();
    assert!(verify_share(&moved, &c).is_err());
}

#[test]
fn commitments_from_other_dealing_rejected() {
    let (_s, shares, _c) = setup(3, 5);
    let (_s2, _sh2, c2) = setup(3, 5);
    assert_eq!(identify_bad_shares(&shares, &c2).len(), 5);
    assert!(combine(&shares, &c2).is_err());
}

#[test]
fn malformed_inputs_rejected() {
    let s = DatasetSecret::generate().unwrap();
    assert!(matches!(
        split(&s, 1, 5),
        Err(KeyError::InvalidThreshold { .. })
    ));
    assert!(matches!(
        split(&s, 0, 5),
        Err(KeyError::InvalidThreshold { .. })
    ));
    assert!(matches!(
        split(&s, 6, 5),
        Err(KeyError::InvalidThreshold { .. })
    ));
    assert!(split(&s, 2, 2).is_ok());
    let (shares, c) = split(&s, 2, 255).unwrap();
    assert_eq!(shares.len(), 255);
    assert_eq!(shares[254].index(), 255);
    verify_share(&shares[254], &c).unwrap();

    // share encodings
    assert!(KeyShare::from_bytes(&[1u8; 32]).is_err());
    assert!(KeyShare::from_bytes(&[1u8; 34]).is_err());
    let mut zero_idx = shares[0].to_bytes();
    zero_idx[0] = 0;
    assert!(matches!(
        KeyShare::from_bytes(&zero_idx[..]),
        Err(KeyError::InvalidShareIndex { index: 0 })
    ));
    let mut zero_val = [0u8; 33];
    zero_val[0] = 1;
    assert!(KeyShare::from_bytes(&zero_val).is_err());
    let mut big = [0xffu8; 33];
    big[0] = 1;
    assert!(KeyShare::from_bytes(&big).is_err());
    // round trip
    let rt = KeyShare::from_bytes(&shares[3].to_bytes()[..]).unwrap();
    assert_eq!(rt, shares[3]);

    // duplicate indices
    let e = combine(&[shares[0].clone(), shares[0].clone()], &c).unwrap_err();
    assert!(
        matches!(e, KeyError::DuplicateShareIndex { index: 1 }),
        "{e:?}"
    );

    // commitments
    let cb = c.to_bytes();
    assert!(Commitments::from_bytes(&cb[..1]).is_err());
    assert!(Commitments::from_bytes(&[]).is_err());
    assert!(Commitments::from_bytes(&vec![cb[0]; 256]).is_err());
    let mut bad_tag = cb.clone();
    bad_tag[1][0] = 0x04;
    assert!(Commitments::from_bytes(&bad_tag).is_err());
    let mut identity = cb.clone();
    identity[1] = [0u8; 33];
    assert!(Commitments::from_bytes(&identity).is_err());
    // x not on curve: find an x with no y
    let mut off = cb.clone();
    let mut found = false;
    for x in 1u8..=255 {
        let mut p = [0u8; 33];
        p[0] = 2;
        p[32] = x;
        off[1] = p;
        if Commitments::from_bytes(&off).is_err() {
            found = true;
            break;
        }
    }
    assert!(found);
    assert!(Commitments::from_concat_bytes(&c.to_concat_bytes()[..65]).is_err());
    assert_eq!(
        Commitments::from_concat_bytes(&c.to_concat_bytes()).unwrap(),
        c
    );

    // secrets
    assert!(DatasetSecret::from_bytes(&[0u8; 32]).is_err());
    assert!(DatasetSecret::from_bytes(&[0xffu8; 32]).is_err());
}

#[test]
fn data_key_is_hkdf_of_scalar() {
    use hkdf::Hkdf;
    use sha2::Sha256;
    let s = DatasetSecret::from_bytes(&[0x11u8; 32]).unwrap();
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(None, &[0x11u8; 32])
        .expand(b"phd data key v1", &mut okm)
        .unwrap();
    assert_eq!(*s.data_key(), okm);
    assert_ne!(
        *s.data_key(),
        *DatasetSecret::from_bytes(&[0x12u8; 32]).unwrap().data_key()
    );
}

#[test]
fn debug_redacts() {
    let s = DatasetSecret::from_bytes(&[0x42u8; 32]).unwrap();
    let (shares, _c) = split(&s, 2, 3).unwrap();
    let out = format!("{s:?} {:?}", shares);
    assert!(!out.contains("42") && !out.contains("66"), "{out}");
    let k = EncryptionSecretKey::from_bytes(&[0x42u8; 32]).unwrap();
    assert!(!format!("{k:?}").contains("4242"));
}
