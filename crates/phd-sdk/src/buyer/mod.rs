//! The buyer's flows (buy, confirm, refund, purchases, dispute, slash a non-delivering keeper),
//! shared by the `phd-customer` CLI and the web page so neither holds a second copy.

pub mod buy;
pub mod dispute;
pub mod error;

pub use error::{BuyerError, Result};
