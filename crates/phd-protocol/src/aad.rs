//! Byte layouts that bind a share to where it may be used (docs/PROTOCOL.md). A change here
//! is a protocol version change: every layout starts with a versioned label.

use alloy::primitives::{Address, B256, U256, keccak256};

const KEEPER_LABEL: &[u8] = b"phd share to keeper v1";
const BUYER_LABEL: &[u8] = b"phd share to buyer v1";
const UPLOAD_LABEL: &[u8] = b"phd share upload v1";

/// `label ‖ chain_id (u64 BE) ‖ contract (20) ‖ id (u256 BE) ‖ share_index (u8)`.
fn bind(label: &[u8], chain_id: u64, contract: Address, id: U256, share_index: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + 8 + 20 + 32 + 1 + 32);
    out.extend_from_slice(label);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(contract.as_slice());
    out.extend_from_slice(&id.to_be_bytes::<32>());
    out.push(share_index);
    out
}

/// AAD of the ECIES ciphertext of a share sent to a keeper:
/// `"phd share to keeper v1" ‖ chain_id (u64 BE) ‖ registry (20) ‖ dataset_id (u256 BE) ‖ share_index (u8)`.
pub fn keeper_share_aad(
    chain_id: u64,
    registry: Address,
    dataset_id: U256,
    share_index: u8,
) -> Vec<u8> {
    bind(KEEPER_LABEL, chain_id, registry, dataset_id, share_index)
}

/// AAD of a share payload a keeper delivers to a buyer through `deliverShare`:
/// `"phd share to buyer v1" ‖ chain_id (u64 BE) ‖ marketplace (20) ‖ purchase_id (u256 BE) ‖ share_index (u8)`.
/// It binds the payload to one purchase, so replaying it elsewhere fails to decrypt.
pub fn buyer_share_aad(
    chain_id: u64,
    marketplace: Address,
    purchase_id: U256,
    share_index: u8,
) -> Vec<u8> {
    bind(BUYER_LABEL, chain_id, marketplace, purchase_id, share_index)
}

/// The 32-byte message the owner signs with EIP-191 `personal_sign` for a share upload:
/// `keccak256("phd share upload v1" ‖ chain_id ‖ registry ‖ dataset_id ‖ share_index ‖ keccak256(ciphertext))`.
pub fn upload_message(
    chain_id: u64,
    registry: Address,
    dataset_id: U256,
    share_index: u8,
    ciphertext: &[u8],
) -> B256 {
    let mut m = bind(UPLOAD_LABEL, chain_id, registry, dataset_id, share_index);
    m.extend_from_slice(keccak256(ciphertext).as_slice());
    keccak256(&m)
}

const SEGMENT_KEEPER_LABEL: &[u8] = b"phd segment share to keeper v1";
const SEGMENT_UPLOAD_LABEL: &[u8] = b"phd segment share upload v1";

/// `label ‖ chain_id (u64 BE) ‖ series_market (20) ‖ series_id (u256 BE) ‖ seq (u64 BE) ‖ share_index (u8)`.
fn bind_segment(
    label: &[u8],
    chain_id: u64,
    series_market: Address,
    series_id: U256,
    seq: u64,
    share_index: u8,
) -> Vec<u8> {
    let mut out = bind(label, chain_id, series_market, series_id, share_index);
    // The index stays last, as in every other layout.
    let index = out.pop().unwrap_or(share_index);
    out.extend_from_slice(&seq.to_be_bytes());
    out.push(index);
    out
}

/// AAD of the ECIES ciphertext of a series segment's share sent to a keeper:
/// `"phd segment share to keeper v1" ‖ chain_id (u64 BE) ‖ series_market (20) ‖ series_id (u256 BE) ‖ seq (u64 BE) ‖ share_index (u8)`.
/// Its own label keeps a dataset share from being accepted as a segment share and back.
pub fn segment_keeper_share_aad(
    chain_id: u64,
    series_market: Address,
    series_id: U256,
    seq: u64,
    share_index: u8,
) -> Vec<u8> {
    bind_segment(
        SEGMENT_KEEPER_LABEL,
        chain_id,
        series_market,
        series_id,
        seq,
        share_index,
    )
}

/// The 32-byte message the series owner signs (EIP-191) for a segment share upload:
/// `keccak256("phd segment share upload v1" ‖ chain_id ‖ series_market ‖ series_id ‖ seq ‖ share_index ‖ keccak256(commitments) ‖ keccak256(ciphertext))`.
/// The commitments are signed because the keeper receives the share before `appendSegment`
/// puts their hash on-chain.
pub fn segment_upload_message(
    chain_id: u64,
    series_market: Address,
    series_id: U256,
    seq: u64,
    share_index: u8,
    commitments: &[u8],
    ciphertext: &[u8],
) -> B256 {
    let mut m = bind_segment(
        SEGMENT_UPLOAD_LABEL,
        chain_id,
        series_market,
        series_id,
        seq,
        share_index,
    );
    m.extend_from_slice(keccak256(commitments).as_slice());
    m.extend_from_slice(keccak256(ciphertext).as_slice());
    keccak256(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_layouts_bind_seq_and_differ_from_dataset_ones() {
        let m = Address::repeat_byte(0x33);
        let aad = segment_keeper_share_aad(31337, m, U256::from(7u64), 5, 2);
        assert_eq!(&aad[..30], b"phd segment share to keeper v1");
        assert_eq!(aad.len(), 30 + 8 + 20 + 32 + 8 + 1);
        assert_eq!(&aad[90..98], &5u64.to_be_bytes());
        assert_eq!(aad[98], 2);
        assert_ne!(
            aad,
            segment_keeper_share_aad(31337, m, U256::from(7u64), 6, 2)
        );
        let base = segment_upload_message(1, m, U256::from(1u64), 0, 1, b"c", b"ct");
        assert_ne!(
            base,
            segment_upload_message(1, m, U256::from(1u64), 1, 1, b"c", b"ct")
        );
        assert_ne!(
            base,
            segment_upload_message(1, m, U256::from(1u64), 0, 1, b"d", b"ct")
        );
        assert_ne!(base, upload_message(1, m, U256::from(1u64), 1, b"ct"));
    }

    #[test]
    fn keeper_aad_layout() {
        let reg = Address::repeat_byte(0x11);
        let aad = keeper_share_aad(31337, reg, U256::from(7u64), 2);
        assert_eq!(&aad[..22], b"phd share to keeper v1");
        assert_eq!(&aad[22..30], &31337u64.to_be_bytes());
        assert_eq!(&aad[30..50], reg.as_slice());
        assert_eq!(aad[50 + 31], 7);
        assert_eq!(aad[82], 2);
        assert_eq!(aad.len(), 83);
        assert_eq!(aad.len(), 22 + 8 + 20 + 32 + 1);
    }

    #[test]
    fn buyer_aad_layout() {
        let m = Address::repeat_byte(0x22);
        let aad = buyer_share_aad(31337, m, U256::from(9u64), 4);
        assert_eq!(&aad[..21], b"phd share to buyer v1");
        assert_eq!(&aad[21..29], &31337u64.to_be_bytes());
        assert_eq!(&aad[29..49], m.as_slice());
        assert_eq!(aad[49 + 31], 9);
        assert_eq!(aad[81], 4);
        assert_eq!(aad.len(), 82);
        assert_eq!(aad.len(), 21 + 8 + 20 + 32 + 1);
    }

    #[test]
    fn upload_message_binds_everything() {
        let reg = Address::repeat_byte(0x11);
        let base = upload_message(1, reg, U256::from(1u64), 1, b"ct");
        assert_ne!(base, upload_message(2, reg, U256::from(1u64), 1, b"ct"));
        assert_ne!(
            base,
            upload_message(1, Address::repeat_byte(0x12), U256::from(1u64), 1, b"ct")
        );
        assert_ne!(base, upload_message(1, reg, U256::from(2u64), 1, b"ct"));
        assert_ne!(base, upload_message(1, reg, U256::from(1u64), 2, b"ct"));
        assert_ne!(base, upload_message(1, reg, U256::from(1u64), 1, b"cu"));
    }

    #[test]
    fn upload_message_matches_the_documented_layout() {
        let reg = Address::repeat_byte(0x11);
        let mut m = Vec::new();
        m.extend_from_slice(b"phd share upload v1");
        m.extend_from_slice(&5u64.to_be_bytes());
        m.extend_from_slice(reg.as_slice());
        m.extend_from_slice(&U256::from(3u64).to_be_bytes::<32>());
        m.push(2);
        m.extend_from_slice(keccak256(b"ct").as_slice());
        assert_eq!(
            upload_message(5, reg, U256::from(3u64), 2, b"ct"),
            keccak256(&m)
        );
    }
}
