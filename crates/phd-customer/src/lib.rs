//! phd-customer: the buyer's side of PHD exchange.
//!
//! Every command is a library function over an explicit [`CustomerCtx`]:
//!
//! | command | function |
//! |---|---|
//! | `browse [filters]` | [`browse::browse`] |
//! | `buy ID --purpose --out [--max-price] [--permit]` | [`buy::buy`] |
//! | `retrieve PURCHASE --out [--confirm]` | [`retrieve::retrieve`] (+ [`buy::confirm`]) — also for grants (validator, portability) |
//! | `refund PURCHASE` | [`buy::refund`] |
//! | `purchases` | [`buy::purchases`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod browse;
pub mod buy;
pub mod cli;
pub mod ctx;
pub mod error;
pub mod retrieve;
pub mod util;

pub use ctx::CustomerCtx;
pub use error::{BadShare, CustomerError, Result};
