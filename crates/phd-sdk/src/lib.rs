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
//! | shares → key → download → verify → decrypt, for purchases and grants | [`retrieve::retrieve`] |
//! | pipelined, resumable fetch of a sealed object from any `RangedObject` (S3, presigned URL) | [`fetch::fetch_and_open`], [`objects::SealedObject`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod browse;
pub mod ctx;
pub mod dispute;
pub mod error;
pub mod events;
pub mod fetch;
pub mod objects;
pub mod retrieve;
pub mod util;

pub use ctx::{ClientCtx, id_u64};
pub use error::{BadShare, BoxError, DisputeKind, Result, SdkError};
pub use events::{Observer, RetrieveEvent};
