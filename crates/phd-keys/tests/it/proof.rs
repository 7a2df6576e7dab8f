#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Provable share delivery through the public API only, as phd-keeper and phd-customer use it.

use phd_keys::*;

#[test]
fn keeper_to_buyer_through_public_api() {
    let secret = DatasetSecret::generate().unwrap();
    let (shares, commitments) = split(&secret, 3, 5).unwrap();
    let buyer = EncryptionSecretKey::generate().unwrap();
    let market = [0x11; 20];
    let mut opened = Vec::new();
    for sh in &shares[..3] {
        let ctx = DeliveryContext::new(31337, market, 42, sh.index());
        let payload = deliver_share_with_tail(sh, &buyer.public_key_raw64(), &ctx, b"https://u")
            .unwrap()
            .to_bytes();
        opened.push(open_delivery(&buyer, &payload, &ctx, &commitments).unwrap());
        assert_eq!(
            &open_delivery_tail(&buyer, &payload, &ctx).unwrap().unwrap()[..],
            b"https://u"
        );
    }
    let got = combine(&opened, &commitments).unwrap();
    assert_eq!(*got.data_key(), *secret.data_key());
}

#[test]
fn cheating_keeper_is_proven_by_the_buyer_alone() {
    let secret = DatasetSecret::generate().unwrap();
    let (shares, commitments) = split(&secret, 2, 3).unwrap();
    let buyer = EncryptionSecretKey::generate().unwrap();
    // Keeper 2 delivers keeper 1's share value under its own index.
    let ctx = DeliveryContext::new(1, [0x22; 20], 9, 2);
    let mut bytes = shares[0].to_bytes();
    bytes[0] = 2;
    let forged = KeyShare::from_bytes(&bytes[..]).unwrap();
    let payload = deliver_share(&forged, &buyer.public_key_compressed(), &ctx)
        .unwrap()
        .to_bytes();
    let err = open_delivery(&buyer, &payload, &ctx, &commitments).unwrap_err();
    assert_eq!(err, KeyError::ShareVerification { index: 2 });
    let proof = prove_dispute(&buyer, &payload, &ctx).unwrap();
    assert_eq!(proof.to_bytes().len(), DISPUTE_PROOF_LEN);
    // Anyone (the contract) can check it with public data only.
    assert_eq!(
        verify_dispute(
            &buyer.public_key_raw64(),
            &payload,
            &ctx,
            &commitments,
            &proof.to_bytes()
        ),
        Ok(true)
    );
    // The honest keeper's delivery of the same index is not disputable.
    let honest = deliver_share(&shares[1], &buyer.public_key_compressed(), &ctx)
        .unwrap()
        .to_bytes();
    let proof = prove_dispute(&buyer, &honest, &ctx).unwrap();
    assert_eq!(
        verify_dispute(
            &buyer.public_key_raw64(),
            &honest,
            &ctx,
            &commitments,
            &proof.to_bytes()
        ),
        Ok(false)
    );
    assert_ne!(public_share(&commitments, 2), public_share(&commitments, 1));
}
