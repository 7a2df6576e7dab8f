//! What every handler shares: the acting accounts, the listing cache, the purchase jobs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phd_sdk::ClientCtx;
use phd_sdk::browse::{BrowseFilter, Listing};
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
    /// How long the catalog may show a listing snapshot before reading the chain again.
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
    /// snapshot at most `listing_ttl` old (our own transactions drop it at once).
    pub(crate) listings: RwLock<Option<(Instant, Arc<Vec<Listing>>)>>,
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

    /// Every listing (any status), from the snapshot when fresh.
    pub(crate) async fn listings(&self) -> Result<Arc<Vec<Listing>>, WebError> {
        if let Some((at, l)) = self.0.listings.read().await.as_ref()
            && at.elapsed() < self.0.config.listing_ttl
        {
            return Ok(l.clone());
        }
        let mut slot = self.0.listings.write().await;
        if let Some((at, l)) = slot.as_ref()
            && at.elapsed() < self.0.config.listing_ttl
        {
            return Ok(l.clone());
        }
        let fresh = Arc::new(
            phd_sdk::browse::browse(
                self.reader()?,
                &BrowseFilter {
                    all: true,
                    ..BrowseFilter::default()
                },
            )
            .await?,
        );
        *slot = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Drops the listing snapshot (after a transaction of ours changed what it shows).
    pub(crate) async fn invalidate_listings(&self) {
        *self.0.listings.write().await = None;
    }
}
