//! # phd-validator — the independent quality validator of PHD exchange
//!
//! A long-running service shaped like mini-redis ([`run`] takes a config, a bound listener and
//! a shutdown future). On start it loads the quality model (a corrupt file is a clear error),
//! registers as a Validator in the `KeeperRegistry` (encryption key generated once in the data
//! directory, plus its endpoint), then:
//!
//! - serves `GET /health` (`{address, account_pubkey, encryption_key, chain_id, model_id, …}`),
//!   `GET /reports/{dataset_id}` (the exact report bytes whose keccak256 is on-chain) and
//!   `GET /jobs`;
//! - follows `Granted` events to its own account (cursor persisted), retrieves the data through
//!   `phd_sdk::retrieve::retrieve` (shares from `deliverShare`, Feldman-verified, C0, every
//!   chunk verified against the on-chain root), scores the canonical CSV with the model, writes
//!   the report durably (data dir, and `reports/<id>.json` in S3 when configured), and calls
//!   `certify(datasetId, scoreBps, modelId, keccak256(report), reportUri)` exactly once per
//!   dataset (checked against its own `Certified` events, survives restarts), then confirms the
//!   zero-price grant.
//! - Datasets that cannot be scored, or score below [`ValidatorConfig::min_certify_bps`], are
//!   **rejected**: the report (decision `reject`, with the reason) is stored and served, but no
//!   certificate is posted and so no reward is minted.
//!
//! Owner side: [`request_validation`] and [`wait_for_certification`]. Offline:
//! [`score_plaintext`] (`phd-validator certify-file`). Training: [`train::train`].

mod error;
pub mod owner;
pub mod report;
mod service;
pub mod state;
pub mod train;

pub use error::{BoxError, Result, ValidatorError};
pub use owner::{CertificationInfo, RequestedValidation, certification, fetch_health, fetch_report, request_validation, wait_for_certification};
pub use report::{DEFAULT_MIN_CERTIFY_BPS, Decision, Outcome, REPORT_VERSION, ScoreSummary, ValidationReport, decide, report_hash, score_plaintext, score_to_bps};
pub use service::{Health, ValidatorConfig, load_model, run};
pub use state::{DataDir, JobRecord, JobState};
