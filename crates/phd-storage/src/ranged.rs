//! One stored object read by byte range, whoever serves it.
//!
//! Retrieval (verify chunks against the on-chain root, decrypt, write) does not care whether
//! the sealed bytes come from S3 with the reader's own credentials, from an access gateway
//! that checks the reader's purchase, or from a presigned URL. Each of those implements
//! [`RangedObject`]; the pipelined reader in `phd-sdk` is written once against it.

use std::future::Future;
use std::ops::Range;

use bytes::Bytes;

use crate::{Result, Store};

/// A read-only object of known length, fetched by byte range. Implementations must be cheap
/// to share across concurrent range requests (`&self`, `Send + Sync`).
pub trait RangedObject: Send + Sync {
    /// Where the object is, for messages (never a credential or a signed query string).
    fn describe(&self) -> String;

    /// Total length in bytes.
    fn size(&self) -> impl Future<Output = Result<u64>> + Send;

    /// Bytes `range.start..range.end`; exactly that many or an error.
    fn get_range(&self, range: Range<u64>) -> impl Future<Output = Result<Bytes>> + Send;
}

/// An object in an S3 bucket read with the reader's own credentials.
#[derive(Debug, Clone)]
pub struct S3Object {
    store: Store,
    key: String,
}

impl S3Object {
    /// `key` in `store`'s bucket.
    pub fn new(store: Store, key: impl Into<String>) -> Self {
        S3Object {
            store,
            key: key.into(),
        }
    }
}

impl RangedObject for S3Object {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.store.bucket(), self.key)
    }

    async fn size(&self) -> Result<u64> {
        match self.store.head(&self.key).await? {
            Some(info) => Ok(info.len),
            None => Err(crate::Error::NotFound {
                op: "HeadObject",
                bucket: self.store.bucket().to_owned(),
                key: self.key.clone(),
            }),
        }
    }

    async fn get_range(&self, range: Range<u64>) -> Result<Bytes> {
        self.store.get_range(&self.key, range).await
    }
}
