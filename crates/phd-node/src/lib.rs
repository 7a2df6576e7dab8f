//! # phd-node — the lifecycle a PHD exchange service node shares
//!
//! The keeper and the validator are both long-running nodes registered in the
//! `KeeperRegistry`. What they do differs; how they live does not:
//!
//! - [`key_file`]: the node's encryption key (hex, mode 0600, created once, never replaced);
//! - [`registration`]: register or update role, key and endpoint on-chain, retrying
//!   transient failures;
//! - [`cursor`]: one reorg-safe block-cursor scan (remembered hashes, rewind to the fork
//!   point), `confirmations` behind the head, with one convention:
//!   the stored cursor is the **next block to scan**;
//! - [`serve`]: `run(listener, shutdown)` — the HTTP router and the background watcher until
//!   shutdown, both drained and joined.
//!
//! Signals are not handled here: callers pass a shutdown future (`phd_cli::shutdown_signal`).

pub mod cursor;
mod error;
pub mod key_file;
pub mod registration;
pub mod serve;

pub use cursor::{
    BlockRef, CursorScanner, REORG_WINDOW, ScanConfig, confirmations_or_default, scan_to_head,
};
pub use error::{KeyFileError, RegisterError, RegisterStep, RunError};
pub use key_file::{KEY_FILE, create_private_dir, load_or_create_key};
pub use registration::{Registration, RegistryAccess, RegistryNode, ensure_registered};
pub use serve::run;
