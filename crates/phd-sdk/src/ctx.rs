//! The explicit context every client call runs in (a buyer, or a grantee such as a validator).

use std::time::Duration;

use alloy::primitives::{Address, U256};
use phd_chain::PhdClient;
use phd_cli::Progress;
use phd_storage::Store;

use crate::events::{Observer, RetrieveEvent};

/// Chain client (the acting account: buyer or grantee), optional object store, HTTP client
/// (presigned URLs), progress mode.
#[derive(Debug, Clone)]
pub struct ClientCtx {
    /// Signing client acting as the buyer (or grantee).
    pub chain: PhdClient,
    /// Object store for `s3://` URIs; `None` = only keeper-provided presigned URLs are used.
    pub store: Option<Store>,
    /// HTTP client for presigned GET URLs.
    pub http: reqwest::Client,
    /// Progress bars on stderr or hidden.
    pub progress: Progress,
    /// Optional receiver of structured progress events (the web page).
    pub observer: Option<Observer>,
}

impl ClientCtx {
    /// A context with progress hidden.
    pub fn new(chain: PhdClient, store: Option<Store>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap_or_default();
        ClientCtx {
            chain,
            store,
            http,
            progress: Progress::Hidden,
            observer: None,
        }
    }

    /// Same context, drawing progress bars as `progress` says.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Same context, also reporting [`RetrieveEvent`]s to `observer`.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Reports `event` to the observer, if any.
    pub fn emit(&self, event: RetrieveEvent) {
        if let Some(o) = &self.observer {
            o.emit(event);
        }
    }

    /// The acting account's address.
    pub fn me(&self) -> Address {
        self.chain.address()
    }
}

/// A dataset or purchase id as `u64`; the contracts count from 1, so saturating only matters
/// for a hostile node, and then the id simply matches nothing.
pub fn id_u64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}
