//! phd-keys: dataset secrets, Feldman VSS of the secret among key keepers,
//! and ECIES over secp256k1 for carrying shares to keepers and buyers.
//!
//! Independent of `phd-seal`: the application glues them with
//! `SealingKey::from_derived(secret.data_key())`. Formats are specified in
//! `docs/FORMATS.md`.
//!
//! ```text
//! let secret = DatasetSecret::generate()?;
//! let (shares, commitments) = split(&secret, t, n)?;     // commitments.to_bytes() → chain
//! let ct = encrypt(&keeper_pubkey, &shares[i].to_bytes()[..], &aad)?;   // to keeper i+1
//! // keeper:  verify_share(&KeyShare::from_bytes(&decrypt(&sk, &ct, &aad)?)?, &commitments)?
//! // buyer:   let secret = combine(&received_shares, &commitments)?;   // checks C0
//! //          identify_bad_shares(&received_shares, &commitments) names cheaters
//! ```

mod ecies;
mod error;
mod proof;
mod secret;
mod vss;

pub use ecies::{
    ECIES_HEADER_LEN, ECIES_INFO, ECIES_OVERHEAD, ECIES_TAG_LEN, ECIES_VERSION,
    EncryptionSecretKey, decrypt, ecdh, encrypt, parse_public_key,
};
pub use error::{KeyError, Result};
pub use k256::PublicKey;
pub use proof::{
    DELIVERY_CONTEXT_LEN, DELIVERY_LEN, DELIVERY_VERSION, DISPUTE_PROOF_LEN, DLEQ_DST,
    DeliveryBinding, DeliveryContext, DisputeProof, MASK_DST, SERIES_CONTEXT_TAG,
    SeriesDeliveryContext, ShareDelivery, TAIL_INFO, deliver_share, deliver_share_with_tail,
    open_delivery, open_delivery_tail, prove_dispute, public_share, verify_dispute,
};
pub use secret::{DATA_KEY_INFO, DatasetSecret};
pub use vss::{
    Commitments, KeyShare, SHARE_LEN, combine, identify_bad_shares, split, verify_share,
};
