//! # phd-protocol — what crosses between the roles of PHD exchange
//!
//! One definition of every off-chain message and byte layout, used by both sides of each
//! border (docs/PROTOCOL.md):
//!
//! - owner → keeper: [`ShareUpload`] (`PUT /v1/shares/{dataset_id}`), [`UploadReply`], the
//!   keeper's [`Health`] (`GET /health`), [`keeper_share_aad`] and the signed
//!   [`upload_message`];
//! - keeper → buyer: [`buyer_share_aad`] of the `deliverShare` payload;
//! - series owner → keeper: [`SegmentShareUpload`] (`PUT /v1/series/{series_id}/segments/{seq}/share`),
//!   [`segment_keeper_share_aad`], the signed [`segment_upload_message`];
//! - series segment objects: [`segment_object_key`] (one key per owner, series, seq);
//! - owner → validator: the validator's [`ValidatorHealth`] (`GET /health`);
//! - buyer → access gateway: [`gateway::AccessToken`] (EIP-712), object/manifest routes,
//!   [`gateway::Manifest`];
//! - [`DatasetId`] / [`PurchaseId`]: on-chain `uint256` ids with checked `u64` conversions.

mod aad;
mod error;
pub mod gateway;
mod ids;
mod messages;
mod series_object;

pub use aad::{
    buyer_share_aad, keeper_share_aad, segment_keeper_share_aad, segment_upload_message,
    upload_message,
};
pub use error::ProtocolError;
pub use ids::{DatasetId, PurchaseId};
pub use messages::{
    Health, SEGMENT_SHARES_PATH, SHARES_PATH, SegmentShareUpload, ShareUpload, UploadReply,
    ValidatorHealth, segment_share_upload_path, share_upload_path,
};
pub use series_object::{SERIES_KEY_ROOT, parse_segment_object_key, segment_object_key};
