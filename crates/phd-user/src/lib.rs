//! phd-user: the data owner's side of PHD exchange.
//!
//! Every command of the `phd-user` binary is a library function taking an explicit
//! [`UserCtx`] (chain client, store, local state dir, progress mode), so end-to-end tests
//! drive exactly what a person runs:
//!
//! | command | function |
//! |---|---|
//! | `publish FILE` | [`publish::publish`] |
//! | `list` | [`manage::list`] |
//! | `sales [--dataset]` | [`manage::sales`] |
//! | `price ID NEW` | [`manage::set_price`] |
//! | `withdraw` | [`manage::withdraw_credits`] |
//! | `grant ID --to --pubkey --purpose` | [`manage::grant`] (and [`manage::grant_to_self`]) |
//! | `withdraw-consent ID` | [`gdpr::withdraw_consent`] |
//! | `status ID` | [`gdpr::status`] |
//! | `export [--out] [--with-data]` | [`gdpr::export`] + [`gdpr::write_export`] |
//! | `series create --price-per-segment` | [`series::create_series`] |
//! | `stream --series --source --state [--metrics-addr]` | [`series::stream`] (+ [`metrics::serve`]) |
//! | `stream-status --state [--source]` | [`series::StreamStatus::read`] |

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod checks;
pub mod cli;
pub mod ctx;
pub mod error;
pub mod export_doc;
pub mod gdpr;
pub mod manage;
pub mod metrics;
pub mod prepare;
pub mod publish;
pub mod series;
pub mod state;
pub mod util;

pub use ctx::UserCtx;
pub use error::{BoxError, Result, UserError};
