//! phd-sdk: the client layer of PHD exchange that the role crates (`phd-customer`,
//! `phd-validator`, `phd-user`) sit on, so no role crate depends on another.
//!
//! Everything runs over an explicit [`ClientCtx`] (an account's chain client, optional object
//! store, HTTP client, progress mode):
//!
//! | what | function |
//! |---|---|
//! | listings with on-chain state and certification | [`browse::browse`] |
//! | open every delivery of a purchase, build dispute proofs for bad ones | [`dispute::check_deliveries`], [`dispute::dispute_proof`] |
//! | read an object through an access gateway; check availability before paying | [`gateway::GatewayObject`], [`gateway::check_availability`] |
//! | shares → key → download → verify → decrypt, for purchases and grants | [`retrieve::retrieve`] |
//! | prove that the listed object does not open under the C0-checked key (owner fraud) | [`fraud::prove_owner_fraud`], [`fraud::retrieve_and_prove`] |
//! | buy, confirm, refund, purchases, disputes (the buyer) | [`buyer`] |
//! | listings, sales, earnings, consent withdrawal (the owner) | [`owner`] |
//! | who read which purchase's object through the owner's gateway (its access log) | [`access::summarize`], [`access::attach_access`] |
//! | stake, deliveries, disputes, earnings (a keeper operator) | [`keeper`] |
//! | pipelined, resumable fetch of a sealed object from any `RangedObject` (S3, presigned URL) | [`fetch::fetch_and_open`], [`objects::SealedObject`] |
//! | series: one segment sealed, shared and appended; one segment fetched | [`series::publish_segment`], [`series::fetch_segment`] |
//! | follow a subscription into a directory, resumable | [`series_follow::follow`] |
//! | stream a growing CSV into a series, crash-safe | [`stream::stream`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod access;
pub mod browse;
pub mod buyer;
pub mod ctx;
pub mod dispute;
pub mod error;
pub mod events;
pub mod export;
pub mod export_doc;
pub mod fetch;
pub mod fraud;
pub mod gateway;
pub mod keeper;
pub mod objects;
pub mod owner;
pub mod retrieve;
pub mod sealed_upload;
pub mod series;
pub mod series_cert;
pub mod series_dispute;
pub mod series_follow;
pub mod stream;
pub mod stream_source;
pub mod util;

pub use ctx::{ClientCtx, id_u64};
pub use error::{BadShare, BoxError, DisputeKind, Result, SdkError};
pub use events::{Observer, RetrieveEvent};
