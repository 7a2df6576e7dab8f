//! One integration-test binary for this crate (each file below was its own binary: one link instead of many).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fuzz;
mod ingest;
mod inputs;
