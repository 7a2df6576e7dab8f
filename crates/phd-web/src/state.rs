//! What every handler shares: the acting accounts, the listing cache, the purchase jobs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phd_sdk::ClientCtx;
use phd_sdk::browse::Snapshot;
use tokio::sync::RwLock;

use crate::error::WebError;
use crate::jobs::Job;

/// How the service acts.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The buyer's account (signs purchases); `None` = buying disabled.
    pub buyer: Option<ClientCtx>,
    /// The owner's account (sales, withdrawals, consent); `None` = owner page disabled.
    pub owner: Option<ClientCtx>,
    /// Where bought files are written (one file per purchase job).
    pub download_dir: PathBuf,
    /// How long a purchase waits for key shares.
    pub share_timeout: Duration,
    /// How long the catalog may show a listing snapshot without even asking the node for its
    /// head; after that one `eth_blockNumber` tells whether anything changed, and only the
    /// datasets named by new events are read again (`phd_sdk::browse::refresh`).
    pub listing_ttl: Duration,
}

/// The state shared by every request; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: WebConfig,
    /// Key of the session tokens (random per process: a restart ends every session).
    pub(crate) csrf_key: [u8; 32],
    /// Reading every listing costs several calls per dataset; the catalog renders from a
    /// snapshot checked against the chain head at most `listing_ttl` ago (our own transactions
    /// make the next request check at once) and refreshed by events, not re-read.
    pub(crate) listings: RwLock<Option<(Instant, Arc<Snapshot>)>>,
    pub(crate) jobs: Mutex<HashMap<String, Arc<Job>>>,
}

impl AppState {
    /// A state acting as `config` says.
    pub fn new(config: WebConfig) -> Result<Self, WebError> {
        Ok(AppState(Arc::new(Inner {
            config,
            csrf_key: crate::csrf::random_bytes()?,
            listings: RwLock::new(None),
            jobs: Mutex::new(HashMap::new()),
        })))
    }

    pub(crate) fn config(&self) -> &WebConfig {
        &self.0.config
    }

    /// Any account that can read the chain (the buyer's, else the owner's).
    pub(crate) fn reader(&self) -> Result<&ClientCtx, WebError> {
        self.0
            .config
            .buyer
            .as_ref()
            .or(self.0.config.owner.as_ref())
            .ok_or(WebError::NotConfigured {
                what: "a chain account (set --private-key or the devnet env)",
            })
    }

    pub(crate) fn buyer(&self) -> Result<&ClientCtx, WebError> {
        self.0.config.buyer.as_ref().ok_or(WebError::NotConfigured {
            what: "the buyer's account (PHD_CUSTOMER_PRIVATE_KEY or --private-key)",
        })
    }

    pub(crate) fn owner(&self) -> Result<&ClientCtx, WebError> {
        self.0.config.owner.as_ref().ok_or(WebError::NotConfigured {
            what: "the owner's account (PHD_USER_PRIVATE_KEY or --private-key)",
        })
    }

    /// Every listing (any status), from the snapshot when it is recent, else from the snapshot
    /// brought up to the chain head by events.
    pub(crate) async fn listings(&self) -> Result<Arc<Snapshot>, WebError> {
        let ttl = self.0.config.listing_ttl;
        if let Some((at, snap)) = self.0.listings.read().await.as_ref()
            && at.elapsed() < ttl
        {
            return Ok(snap.clone());
        }
        let mut slot = self.0.listings.write().await;
        if let Some((at, snap)) = slot.as_ref()
            && at.elapsed() < ttl
        {
            return Ok(snap.clone());
        }
        let ctx = self.reader()?;
        let fresh = Arc::new(match slot.as_ref() {
            Some((_, old)) => phd_sdk::browse::refresh(ctx, old).await?,
            None => phd_sdk::browse::snapshot(ctx).await?,
        });
        *slot = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Makes the next request check the snapshot against the chain head (after a transaction
    /// of ours changed what it shows); the events of that transaction refresh what it touched.
    pub(crate) async fn invalidate_listings(&self) {
        if let Some((at, _)) = self.0.listings.write().await.as_mut()
            && let Some(past) = Instant::now().checked_sub(self.0.config.listing_ttl)
        {
            *at = past;
        }
    }
}
