//! phd-chain: typed access to the PHD exchange contracts.
//!
//! - [`bindings`]: `alloy::sol!` bindings generated from the committed forge artifacts
//!   (`artifacts/*.json`, refreshed by `scripts/sync-bindings.sh`);
//! - [`PhdClient`]: a signing client with one typed method per contract operation, returning
//!   [`TxOutcome`] plus decoded return values and events, views, and chunked event queries;
//! - [`ChainError`] / [`ContractRevert`]: every custom error of the four contracts (including the
//!   inherited OpenZeppelin ones) decoded from revert data, with a human message;
//! - [`Deployment`]: contract addresses per chain (`deploy/deployments/<chainId>.json`);
//! - [`anvil`]: local chain settings (`anvil/devnet.json`) and spawning anvil.

// ChainError carries alloy transport errors by value (large); boxing it is a follow-up.
#![allow(clippy::result_large_err)]

pub mod anvil;
pub mod bindings;
pub mod client;
pub mod code;
pub mod deployment;
pub mod error;
pub mod events;
pub mod keys;
pub mod purpose;
pub mod revert;
pub mod series;
pub mod series_cert;
pub mod trust;
pub mod tx;
pub mod units;

pub use alloy;
pub use anvil::{AnvilSettings, RoleIndexes, RoleSigners, anvil_bin, repo_root, spawn_anvil};
pub use client::{
    Acknowledged, Certification, DEFAULT_TX_TIMEOUT, Dataset, Node, PhdClient, PublishParams,
    Purchase, PurchaseOutcome, Settlement, signing_provider,
};
pub use code::{Artifact, ContractKind};
pub use deployment::{Deployment, DeploymentParams};
pub use error::ChainError;
pub use events::{BlockRange, EventLog};
pub use keys::{
    address_of_pubkey64, pubkey_compressed, pubkey64, random_compressed_point, sign_key_proof,
    signer_from_hex,
};
pub use purpose::{DatasetStatus, NodeRole, PurchaseStatus, Purpose};
pub use revert::ContractRevert;
pub use series::{
    ReleaseDispute, ReleaseDisputeOutcome, ReleaseItem, ReleaseOutcome, SegmentParams, Series,
    SeriesParams, SeriesStatus, SubscribeOutcome, Subscription, chain_release_log,
    commitments_hash, release_log_entry, split_commitments,
};
pub use series_cert::{
    SeriesCertificate, SeriesCertificationSummary, SeriesCertifyParams, SeriesGrantOutcome,
};
pub use trust::{
    CertificationSummary, CommitState, Committed, OwnerFraudEvidence, OwnerFraudProven, Stake,
    delivery_log, delivery_log_entry, delivery_log_hash,
};
pub use tx::{SendCtx, TxOutcome, find_event, require_event, send_call};
pub use units::{format_phd, format_phd_unit, one_phd, parse_phd, phd};
