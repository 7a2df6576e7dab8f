//! phd-customer: the buyer's side of PHD exchange.
//!
//! Every command is a library function over an explicit [`CustomerCtx`] (phd-sdk's client
//! context); browse and retrieve are phd-sdk's, buying is phd-sdk's [`phd_sdk::buyer`], re-exported here:
//!
//! | command | function |
//! |---|---|
//! | `browse [filters]` | [`phd_sdk::browse::browse`] |
//! | `buy ID --purpose --out [--max-price] [--permit] [--format csv\|omh\|fhir]` | [`buy::buy`] (+ [`export::export`]) |
//! | `retrieve PURCHASE --out [--confirm] [--format csv\|omh\|fhir]` | [`phd_sdk::retrieve::retrieve`] (+ [`buy::confirm`]) — also for grants (validator, portability) |
//! | `refund PURCHASE` | [`buy::refund`] |
//! | `purchases` | [`buy::purchases`] |
//! | `dispute PURCHASE [--index I]` | [`dispute::dispute`] (also run by `buy` for every bad share) |
//! | `slash-non-delivery PURCHASE` | [`dispute::slash_non_delivery`] |
//! | `follow SERIES --out DIR [--since] [--segments] [--max-price-per-segment] [--purpose] [--subscription]` | [`follow::follow`] (phd-sdk's follower) |
//! | `series-cancel SUB` / `series-refund SUB` | [`phd_chain::PhdClient::cancel_subscription`] / [`phd_chain::PhdClient::refund_subscription`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;
pub mod export;
pub mod follow;

// The buying flows live in phd-sdk (the web page runs the same code); their paths stay here.
pub use phd_sdk::buyer::{BuyerError as CustomerError, Result};
pub use phd_sdk::buyer::{buy, dispute};
/// The buyer's error type under this crate's name.
pub mod error {
    pub use phd_sdk::buyer::error::BoxError;
    pub use phd_sdk::buyer::{BuyerError as CustomerError, Result};
}
pub use phd_sdk::BadShare;

/// The buyer's context is the SDK's client context; the name stays for the buyer's API.
pub type CustomerCtx = phd_sdk::ClientCtx;
