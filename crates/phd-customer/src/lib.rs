//! phd-customer: the buyer's side of PHD exchange.
//!
//! Every command is a library function over an explicit [`CustomerCtx`] (phd-sdk's client
//! context); browse and retrieve are phd-sdk's, buying is here:
//!
//! | command | function |
//! |---|---|
//! | `browse [filters]` | [`phd_sdk::browse::browse`] |
//! | `buy ID --purpose --out [--max-price] [--permit]` | [`buy::buy`] |
//! | `retrieve PURCHASE --out [--confirm]` | [`phd_sdk::retrieve::retrieve`] (+ [`buy::confirm`]) — also for grants (validator, portability) |
//! | `refund PURCHASE` | [`buy::refund`] |
//! | `purchases` | [`buy::purchases`] |
//! | `dispute PURCHASE [--index I]` | [`dispute::dispute`] (also run by `buy` for every bad share) |
//! | `slash-non-delivery PURCHASE` | [`dispute::slash_non_delivery`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod buy;
pub mod cli;
pub mod dispute;
pub mod error;

pub use error::{CustomerError, Result};
pub use phd_sdk::BadShare;

/// The buyer's context is the SDK's client context; the name stays for the buyer's API.
pub type CustomerCtx = phd_sdk::ClientCtx;
