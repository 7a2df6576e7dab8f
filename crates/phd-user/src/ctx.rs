//! The explicit context every owner command runs in.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::Address;
use phd_chain::PhdClient;
use phd_storage::Store;

use crate::error::{Result, UserError};
use crate::state::LocalState;
use crate::util::Progress;

/// Everything an owner command needs: chain client (the owner's account), object store,
/// local state directory, an HTTP client for keepers, and whether to draw progress bars.
#[derive(Debug, Clone)]
pub struct UserCtx {
    /// Signing client acting as the owner.
    pub chain: PhdClient,
    /// Object store (None: commands that need S3 fail with a clear error).
    pub store: Option<Store>,
    /// Local record (`~/.local/share/phd/user/<address>/` by default).
    pub state: LocalState,
    /// HTTP client for keeper endpoints.
    pub http: reqwest::Client,
    /// Progress bars on stderr or hidden.
    pub progress: Progress,
}

impl UserCtx {
    /// A context with progress hidden and an HTTP client with 10 s timeouts.
    pub fn new(chain: PhdClient, store: Option<Store>, state_dir: impl Into<PathBuf>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        UserCtx {
            chain,
            store,
            state: LocalState::new(state_dir),
            http,
            progress: Progress::Hidden,
        }
    }

    /// Same context, drawing progress bars as `progress` says.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The owner's address.
    pub fn owner(&self) -> Address {
        self.chain.address()
    }

    pub(crate) fn store(&self) -> Result<&Store> {
        self.store.as_ref().ok_or_else(|| UserError::InvalidArg {
            arg: "storage",
            reason:
                "no S3 bucket configured (set --s3-bucket / PHD_S3_BUCKET and the AWS_* variables)"
                    .into(),
        })
    }
}

// The client layer's helpers, under the names the owner commands use.
pub(crate) use phd_sdk::id_u64;
pub use phd_sdk::util::parse_s3_uri;
