//! One integration-test binary for this crate (each file below was its own binary: one link instead of many).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod chain_flow;
mod e2e_errors;
mod e2e_flow;
mod e2e_gateway;
mod e2e_gdpr;
mod e2e_keepers;
mod e2e_owner_fraud;
mod e2e_processes;
mod e2e_series;
mod e2e_series_certification;
mod e2e_series_dispute;
mod e2e_stream_crash;
mod e2e_stream_sources;
mod web;
