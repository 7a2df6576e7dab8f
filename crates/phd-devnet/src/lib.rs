//! # phd-devnet — the whole PHD exchange stack on one machine
//!
//! [`Devnet::start`] brings up, in order:
//!
//! 1. **anvil** (`PHD_ANVIL_BIN` or the npm-pinned binary; chain id, mnemonic and role accounts
//!    from `anvil/devnet.json`) on loopback;
//! 2. the **contracts**, deployed by `phd-deploy` with the deployer account; the deployment file
//!    goes to `<state>/deployment.json` (and optionally to a second path);
//! 3. the **embedded S3 server** (`phd_storage::server`, s3s + s3s-fs) on a loopback port, data
//!    under `<state>/s3`, the bucket created;
//! 4. **PHD for the user and the customer** (transfers from the deployer) and the **device
//!    manufacturer approved** in the `KeeperRegistry`;
//! 5. **n keepers in-process** (`phd_keeper::run` on loopback listeners), each with its own anvil
//!    account, its own data directory `<state>/keepers/<i>` (encryption key + SQLite store), each
//!    registering itself on-chain; the devnet waits until every one answers `/health` and is
//!    registered with its endpoint;
//! 6. optionally the **validator** (`phd_validator::run` in-process, [`Devnet::start_validator`]);
//! 7. the **env file** `<state>/env` (docs/PROTOCOL.md "Devnet environment file") that every CLI
//!    reads.
//!
//! [`Devnet::shutdown`] drains the keepers, stops the S3 server and kills anvil. Tests use the
//! same stack in-process; [`KeeperHandle`] stops and restarts single keepers (same data
//! directory, same port when it is still free) and carries the keepers' test knobs.

#![allow(clippy::result_large_err)] // ChainError carries decoded reverts; boxing everywhere is noise

mod config;
mod env_file;
mod error;
mod keeper;
mod stack;

pub use config::{DevnetConfig, KeeperKnobs};
pub use error::DevnetError;
pub use keeper::KeeperHandle;
pub use stack::{Accounts, Devnet, S3Info, run};
