//! Small helpers: S3 URIs, the buyer share AAD.

/// `s3://bucket/key` → (bucket, key).
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

/// AAD of a share payload sent to a buyer (docs/PROTOCOL.md):
/// `"phd share to buyer v1" ‖ chain_id (u64 BE) ‖ marketplace (20) ‖ purchase_id (u256 BE) ‖ share_index (u8)`.
pub fn buyer_share_aad(
    chain_id: u64,
    marketplace: alloy::primitives::Address,
    purchase_id: alloy::primitives::U256,
    share_index: u8,
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(21 + 8 + 20 + 32 + 1);
    aad.extend_from_slice(b"phd share to buyer v1");
    aad.extend_from_slice(&chain_id.to_be_bytes());
    aad.extend_from_slice(marketplace.as_slice());
    aad.extend_from_slice(&purchase_id.to_be_bytes::<32>());
    aad.push(share_index);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, U256};

    #[test]
    fn aad_layout() {
        let m = Address::repeat_byte(0x22);
        let aad = buyer_share_aad(31337, m, U256::from(9u64), 4);
        assert_eq!(&aad[..21], b"phd share to buyer v1");
        assert_eq!(&aad[21..29], &31337u64.to_be_bytes());
        assert_eq!(&aad[29..49], m.as_slice());
        assert_eq!(aad[49 + 31], 9);
        assert_eq!(aad[81], 4);
        assert_eq!(aad.len(), 82);
    }

    #[test]
    fn s3_uris() {
        assert_eq!(parse_s3_uri("s3://b/k/x.phd"), Some(("b".into(), "k/x.phd".into())));
        assert_eq!(parse_s3_uri("s3:///k"), None);
    }
}
