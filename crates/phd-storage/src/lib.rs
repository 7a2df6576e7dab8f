//! Object storage for PHD exchange: an S3 client over `aws-sdk-s3` and an embedded S3 server.
//!
//! * [`S3Config`] — endpoint, region, bucket, credentials, multipart and retry settings;
//!   [`S3Config::from_env`] reads `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `PHD_S3_BUCKET`, `AWS_S3_FORCE_PATH_STYLE`.
//! * [`Store`] — `put_file` (single PUT below the threshold, concurrent multipart above,
//!   aborted on failure), `put_bytes`, `get_range` (random access for sealed objects),
//!   `put_file_resumable` (continues an interrupted multipart upload from its stored parts),
//!   `put_growing_file` (uploads a file while a [`GrowingFile`] is still writing it),
//!   `get_to_file` (temp file + rename), `head`, `exists`, `presign_get`, `delete`,
//!   `list_incomplete_uploads`, `abort_incomplete_uploads`. Standard retries with backoff and
//!   connect/attempt/operation timeouts, so a server that is down fails fast with
//!   [`Error::Unreachable`].
//! * [`server`] — s3s + s3s-fs serving a directory on loopback with SigV4 auth
//!   ([`server::EmbeddedS3`] for devnet and tests).
//!
//! Works against AWS S3, MinIO (`force_path_style`) and the embedded server alike.

// Errors carry operation, bucket, key, endpoint and the full SDK error text; they are built
// only on the (network-bound, cold) failure path, so their size does not matter.
#![allow(clippy::result_large_err)]

mod config;
mod error;
mod growing;
mod ranged;
pub mod server;
mod store;

pub use config::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, S3Config};
pub use error::{BoxError, Error};
pub use growing::{GrowingFile, Growth};
pub use ranged::{RangedObject, S3Object};
pub use store::{FileSource, IncompleteUpload, ObjectInfo, ResumedUpload, Store, UploadSource};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
