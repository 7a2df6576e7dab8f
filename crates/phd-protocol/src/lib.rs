//! # phd-protocol — what crosses between the roles of PHD exchange
//!
//! One definition of every off-chain message and byte layout, used by both sides of each
//! border (docs/PROTOCOL.md):
//!
//! - owner → keeper: [`ShareUpload`] (`PUT /v1/shares/{dataset_id}`), [`UploadReply`], the
//!   keeper's [`Health`] (`GET /health`), [`keeper_share_aad`] and the signed
//!   [`upload_message`];
//! - keeper → buyer: [`buyer_share_aad`] of the `deliverShare` payload;
//! - owner → validator: the validator's [`ValidatorHealth`] (`GET /health`);
//! - [`DatasetId`] / [`PurchaseId`]: on-chain `uint256` ids with checked `u64` conversions.

mod aad;
mod error;
mod ids;
mod messages;

pub use aad::{buyer_share_aad, keeper_share_aad, upload_message};
pub use error::ProtocolError;
pub use ids::{DatasetId, PurchaseId};
pub use messages::{
    Health, SHARES_PATH, ShareUpload, UploadReply, ValidatorHealth, share_upload_path,
};
