//! What a long client call is doing, for callers that show it somewhere other than a terminal
//! bar (the web page streams these to the browser). Terminal bars stay in `ctx.progress`.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// One step of a purchase's retrieval, in the order they happen. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum RetrieveEvent {
    /// Waiting for `threshold` verified shares.
    WaitingForShares { purchase_id: u64, threshold: usize },
    /// A keeper's delivery was opened and checked against the Feldman commitments.
    ShareChecked {
        share_index: u8,
        keeper: String,
        valid: bool,
    },
    /// `threshold` shares combined and checked against C0.
    KeyReconstructed { shares_used: Vec<u8> },
    /// Sealed bytes fetched so far (`total` once known).
    Downloaded { bytes: u64, total: Option<u64> },
    /// Chunks verified against the on-chain content root so far.
    ChunksVerified { chunks: u64, total: u64 },
    /// Plaintext written so far.
    Decrypted { bytes: u64 },
    /// The verified plaintext is in place at the output path.
    Done { bytes: u64 },
}

/// Receives [`RetrieveEvent`]s; cheap to clone, called from any thread.
#[derive(Clone)]
pub struct Observer(Arc<dyn Fn(RetrieveEvent) + Send + Sync>);

impl Observer {
    /// An observer calling `f` for every event.
    pub fn new(f: impl Fn(RetrieveEvent) + Send + Sync + 'static) -> Self {
        Observer(Arc::new(f))
    }

    /// Delivers one event.
    pub fn emit(&self, event: RetrieveEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer(..)")
    }
}
