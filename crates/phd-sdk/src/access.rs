//! The owner's view of its access gateway's log (docs/SECURITY.md "Storage access"): who read
//! which purchase's object, how much, and what was refused. `phd-user sales` and `export` (and
//! the web page) attach it to their rows; the record type and the reader are
//! `phd-protocol`'s, shared with the gateway that writes the log.
//!
//! What a record proves: an *allowed* object read passed the gateway's token and on-chain
//! check, so its account, dataset and purchase are the verified buyer's. A *refused* record
//! carries whatever the request claimed (a forged token can name any account or purchase): it
//! is counted as an attempt on that purchase, never as a read.

use serde::{Deserialize, Serialize};

pub use phd_protocol::gateway::{
    AccessLogContents, AccessRecord, parse_access_log, read_access_log,
};

use crate::owner::SaleRow;

/// Accesses to one purchase's (or grant's) object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSummary {
    /// Object requests served (GET and HEAD) to the buyer or grantee.
    pub reads: u64,
    /// Object bytes served (a range asked again after an interruption counts again).
    pub bytes: u64,
    /// Object requests naming this purchase that the gateway refused (any signer: a stranger
    /// replaying the purchase id, an expired token, a refunded purchase, …).
    pub refused: u64,
    /// First and last request (gateway clock, Unix milliseconds).
    pub first_ms: Option<u64>,
    /// See `first_ms`.
    pub last_ms: Option<u64>,
}

/// The summary of `records` for purchase `purchase_id` of dataset `dataset_id`.
pub fn summarize(records: &[AccessRecord], dataset_id: u64, purchase_id: u64) -> AccessSummary {
    let mut s = AccessSummary::default();
    for r in records.iter().filter(|r| {
        r.route == "object"
            && r.dataset_id == Some(dataset_id)
            && r.purchase_id == Some(purchase_id)
    }) {
        if r.allowed {
            s.reads += 1;
            s.bytes = s.bytes.saturating_add(r.bytes);
        } else {
            s.refused += 1;
        }
        s.first_ms = Some(s.first_ms.map_or(r.time_ms, |t| t.min(r.time_ms)));
        s.last_ms = Some(s.last_ms.map_or(r.time_ms, |t| t.max(r.time_ms)));
    }
    s
}

/// Fills [`SaleRow::access`] of every row from `records`.
pub fn attach_access(rows: &mut [SaleRow], records: &[AccessRecord]) {
    for row in rows {
        row.access = Some(summarize(records, row.dataset_id, row.purchase_id));
    }
}

/// Every record about dataset `dataset_id`: requests whose token named it, and requests for
/// its object key (manifest reads, refusals before a token parsed).
pub fn dataset_records<'a>(
    records: &'a [AccessRecord],
    dataset_id: u64,
    object_key: Option<&str>,
) -> Vec<&'a AccessRecord> {
    records
        .iter()
        .filter(|r| r.dataset_id == Some(dataset_id) || object_key.is_some_and(|k| r.key == k))
        .collect()
}

/// The object key a storage URI names (gateway or `s3://` URI).
pub fn object_key(storage_uri: &str) -> Option<String> {
    phd_protocol::gateway::parse_gateway_uri(storage_uri)
        .map(|(_, k)| k)
        .or_else(|| crate::util::parse_s3_uri(storage_uri).map(|(_, k)| k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    fn rec(
        t: u64,
        did: Option<u64>,
        pid: Option<u64>,
        allowed: bool,
        bytes: u64,
        key: &str,
    ) -> AccessRecord {
        AccessRecord {
            time_ms: t,
            route: "object".into(),
            method: "GET".into(),
            key: key.into(),
            account: Some(Address::repeat_byte(1)),
            dataset_id: did,
            purchase_id: pid,
            range: None,
            bytes,
            allowed,
            status: if allowed { 206 } else { 403 },
            code: (!allowed).then(|| "not_buyer".into()),
        }
    }

    #[test]
    fn a_purchase_counts_only_its_own_reads_and_refusals() {
        let k = "datasets/a.phd";
        let log = vec![
            rec(30, Some(1), Some(5), true, 100, k),
            rec(10, Some(1), Some(5), true, 50, k),
            // a stranger naming the purchase: an attempt, not a read
            rec(20, Some(1), Some(5), false, 0, k),
            // another purchase, another dataset, a manifest read
            rec(40, Some(1), Some(6), true, 7, k),
            rec(50, Some(2), Some(5), true, 9, "datasets/b.phd"),
            AccessRecord {
                route: "manifest".into(),
                ..rec(5, None, None, true, 300, k)
            },
        ];
        assert_eq!(
            summarize(&log, 1, 5),
            AccessSummary {
                reads: 2,
                bytes: 150,
                refused: 1,
                first_ms: Some(10),
                last_ms: Some(30)
            }
        );
        assert_eq!(summarize(&log, 3, 5), AccessSummary::default());
        let about_1: Vec<u64> = dataset_records(&log, 1, Some(k))
            .iter()
            .map(|r| r.time_ms)
            .collect();
        assert_eq!(about_1, vec![30, 10, 20, 40, 5]);
        assert_eq!(dataset_records(&log, 1, None).len(), 4);
    }

    #[test]
    fn byte_counts_saturate_instead_of_overflowing() {
        let k = "datasets/a.phd";
        let log = vec![
            rec(1, Some(1), Some(1), true, u64::MAX, k),
            rec(2, Some(1), Some(1), true, u64::MAX, k),
        ];
        assert_eq!(summarize(&log, 1, 1).bytes, u64::MAX);
    }

    #[test]
    fn object_keys_of_uris() {
        assert_eq!(
            object_key("http://127.0.0.1:9/v1/objects/datasets/x.phd").as_deref(),
            Some("datasets/x.phd")
        );
        assert_eq!(
            object_key("s3://bucket/datasets/y.phd").as_deref(),
            Some("datasets/y.phd")
        );
        assert_eq!(object_key("ftp://nope"), None);
    }
}
