//! phd-user: the data owner's side of PHD exchange.
//!
//! Every command of the `phd-user` binary is a library function taking an explicit context,
//! so end-to-end tests drive exactly what a person runs.

pub mod error;
pub mod export_doc;
pub mod prepare;
pub mod protocol;
pub mod state;
pub mod util;

pub use error::{BoxError, Result, UserError};
