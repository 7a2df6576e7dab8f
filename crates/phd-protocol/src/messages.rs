//! JSON bodies of the keeper's HTTP API (docs/PROTOCOL.md, "Owner → keeper").

use alloy::primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};

use crate::{DatasetId, segment_upload_message, upload_message};

/// Route of the share upload, with `{dataset_id}` as the axum path parameter.
pub const SHARES_PATH: &str = "/v1/shares/{dataset_id}";

/// `<endpoint>/v1/shares/<dataset_id>`: where an owner `PUT`s a [`ShareUpload`].
pub fn share_upload_path(endpoint: &str, dataset_id: DatasetId) -> String {
    format!("{}/v1/shares/{dataset_id}", endpoint.trim_end_matches('/'))
}

/// Body of `PUT /v1/shares/{dataset_id}`: one Feldman share, ECIES-encrypted to the keeper's
/// registered key under [`keeper_share_aad`](crate::keeper_share_aad), signed by the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareUpload {
    /// Chain of the deployment.
    pub chain_id: u64,
    /// `DataRegistry` address.
    pub registry: Address,
    /// Must equal the id in the path.
    pub dataset_id: DatasetId,
    /// 1-based share index (the keeper's `shareIndexOf`).
    pub share_index: u8,
    /// ECIES ciphertext of the 33-byte share.
    pub ciphertext: Bytes,
    /// 65-byte EIP-191 signature over [`ShareUpload::signing_message`].
    pub signature: Bytes,
}

impl ShareUpload {
    /// The message the owner signs: [`upload_message`] over this body's fields.
    pub fn signing_message(&self) -> B256 {
        upload_message(
            self.chain_id,
            self.registry,
            self.dataset_id.get(),
            self.share_index,
            &self.ciphertext,
        )
    }
}

/// Route of a series segment's share upload (axum path parameters `{series_id}`, `{seq}`).
pub const SEGMENT_SHARES_PATH: &str = "/v1/series/{series_id}/segments/{seq}/share";

/// `<endpoint>/v1/series/<series_id>/segments/<seq>/share`: where a series owner `PUT`s a
/// [`SegmentShareUpload`].
pub fn segment_share_upload_path(endpoint: &str, series_id: u64, seq: u64) -> String {
    format!(
        "{}/v1/series/{series_id}/segments/{seq}/share",
        endpoint.trim_end_matches('/')
    )
}

/// Body of `PUT /v1/series/{series_id}/segments/{seq}/share`: the series variant of
/// [`ShareUpload`]. One Feldman share of the segment's fresh secret, ECIES-encrypted to the
/// keeper under [`segment_keeper_share_aad`](crate::segment_keeper_share_aad), with the
/// segment's commitments (the upload precedes `appendSegment`, which later pins their hash
/// on-chain), signed by the series owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentShareUpload {
    /// Chain of the deployment.
    pub chain_id: u64,
    /// `SeriesMarket` address.
    pub series_market: Address,
    /// Must equal the id in the path.
    pub series_id: u64,
    /// Must equal the seq in the path.
    pub seq: u64,
    /// 1-based share index (the keeper's position in the series' keeper list).
    pub share_index: u8,
    /// The segment's packed compressed Feldman commitments (threshold × 33 bytes).
    pub commitments: Bytes,
    /// ECIES ciphertext of the 33-byte share.
    pub ciphertext: Bytes,
    /// 65-byte EIP-191 signature over [`SegmentShareUpload::signing_message`].
    pub signature: Bytes,
}

impl SegmentShareUpload {
    /// The message the owner signs: [`segment_upload_message`] over this body's fields.
    pub fn signing_message(&self) -> B256 {
        segment_upload_message(
            self.chain_id,
            self.series_market,
            alloy::primitives::U256::from(self.series_id),
            self.seq,
            self.share_index,
            &self.commitments,
            &self.ciphertext,
        )
    }
}

/// A keeper's `200` reply to a [`ShareUpload`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReply {
    /// The share is stored and acknowledged on-chain.
    pub acknowledged: bool,
    /// The `acknowledgeShare` transaction; `null` when the keeper found it already done.
    #[serde(default)]
    pub tx_hash: Option<B256>,
}

/// A keeper's `GET /health` reply. Fields are in the order the keeper has always sent them;
/// all but `address` are optional so a reader tolerates a keeper that sends less.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The keeper's account.
    pub address: Address,
    /// Chain of the deployment it serves.
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// Next block its watcher scans (`null` before the first scan).
    #[serde(default)]
    pub cursor_block: Option<u64>,
    /// Its 33-byte compressed encryption key.
    #[serde(default)]
    pub encryption_key: Option<Bytes>,
    /// Shares it holds.
    #[serde(default)]
    pub shares: Option<u64>,
}

/// A validator's `GET /health` reply; the owner checks it before granting data to validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorHealth {
    /// The validator's account (checksummed 0x-hex).
    pub address: String,
    /// 64-byte x ‖ y public key of the account (0x-hex): grants encrypt shares to it;
    /// `keccak256(account_pubkey)[12..] == address`.
    pub account_pubkey: String,
    /// 33-byte compressed encryption key registered in the KeeperRegistry (0x-hex).
    pub encryption_key: String,
    /// Chain of the deployment it serves.
    pub chain_id: u64,
    /// bytes32 model id certificates carry.
    pub model_id: String,
    /// Endpoint registered on-chain.
    pub endpoint: String,
    /// Last block scanned for grants (`null` before the first scan).
    pub cursor_block: Option<u64>,
    /// Minimum score (bps) this validator certifies.
    pub min_certify_bps: u16,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use alloy::primitives::U256;

    fn upload() -> ShareUpload {
        ShareUpload {
            chain_id: 31337,
            registry: Address::repeat_byte(0xAB),
            dataset_id: DatasetId::from(7u64),
            share_index: 2,
            ciphertext: Bytes::from(vec![1, 2, 0xff]),
            signature: Bytes::from(vec![0xee; 2]),
        }
    }

    #[test]
    fn share_upload_wire_format() {
        let json = serde_json::to_string(&upload()).unwrap();
        assert_eq!(
            json,
            "{\"chain_id\":31337,\"registry\":\"0xabababababababababababababababababababab\",\"dataset_id\":7,\
             \"share_index\":2,\"ciphertext\":\"0x0102ff\",\"signature\":\"0xeeee\"}"
        );
        assert_eq!(
            serde_json::from_str::<ShareUpload>(&json).unwrap(),
            upload()
        );
    }

    #[test]
    fn share_upload_reads_string_ids() {
        let json = "{\"chain_id\":1,\"registry\":\"0xabababababababababababababababababababab\",\"dataset_id\":\"0x7\",\
                    \"share_index\":2,\"ciphertext\":\"0x01\",\"signature\":\"0x02\"}";
        let u: ShareUpload = serde_json::from_str(json).unwrap();
        assert_eq!(u.dataset_id.get(), U256::from(7u64));
    }

    #[test]
    fn signing_message_is_upload_message() {
        let u = upload();
        assert_eq!(
            u.signing_message(),
            upload_message(31337, u.registry, U256::from(7u64), 2, &[1, 2, 0xff])
        );
    }

    #[test]
    fn reply_and_health_wire_format() {
        let r = UploadReply {
            acknowledged: true,
            tx_hash: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "{\"acknowledged\":true,\"tx_hash\":null}"
        );
        assert_eq!(
            serde_json::from_str::<UploadReply>("{\"acknowledged\":true}").unwrap(),
            r
        );
        let h = Health {
            address: Address::repeat_byte(1),
            chain_id: Some(31337),
            cursor_block: None,
            encryption_key: Some(Bytes::from(vec![2u8; 2])),
            shares: Some(3),
        };
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            "{\"address\":\"0x0101010101010101010101010101010101010101\",\"chain_id\":31337,\"cursor_block\":null,\
             \"encryption_key\":\"0x0202\",\"shares\":3}"
        );
        let minimal: Health =
            serde_json::from_str("{\"address\":\"0x0101010101010101010101010101010101010101\"}")
                .unwrap();
        assert_eq!(minimal.chain_id, None);
    }

    #[test]
    fn upload_path() {
        assert_eq!(
            share_upload_path("http://k:1/", DatasetId::from(9u64)),
            "http://k:1/v1/shares/9"
        );
    }
}
