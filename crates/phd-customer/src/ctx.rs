//! The explicit context every buyer command runs in.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use phd_chain::PhdClient;
use phd_storage::Store;

use crate::util::Progress;

/// Chain client (the buyer's account), optional object store, HTTP client (presigned URLs),
/// progress mode.
#[derive(Debug, Clone)]
pub struct CustomerCtx {
    /// Signing client acting as the buyer (or grantee).
    pub chain: PhdClient,
    /// Object store for `s3://` URIs; `None` = only keeper-provided presigned URLs are used.
    pub store: Option<Store>,
    /// HTTP client for presigned GET URLs.
    pub http: reqwest::Client,
    /// Progress bars on stderr or hidden.
    pub progress: Progress,
}

impl CustomerCtx {
    /// A context with progress hidden.
    pub fn new(chain: PhdClient, store: Option<Store>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap_or_default();
        CustomerCtx { chain, store, http, progress: Progress::Hidden }
    }

    /// Same context, drawing progress bars as `progress` says.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The buyer's address.
    pub fn me(&self) -> Address {
        self.chain.address()
    }
}

pub(crate) fn id_u64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}
