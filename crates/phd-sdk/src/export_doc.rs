//! The GDPR export document (Art. 15 access, Art. 20 portability).
//!
//! Serialised as one JSON document that validates against `docs/export.schema.json`
//! (embedded as [`EXPORT_SCHEMA`]). Amounts are decimal strings in wei (u256 does not fit a JSON
//! number) plus a human `*_phd` string; addresses and hashes are 0x-hex; times are Unix seconds.

use serde::{Deserialize, Serialize};

/// The JSON Schema of the export (draft 2020-12).
pub const EXPORT_SCHEMA: &str = include_str!("../../../docs/export.schema.json");

/// Schema identifier written into every export.
pub const EXPORT_FORMAT: &str = "phd-export/v1";

/// The whole export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportDoc {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// Unix seconds when generated.
    pub generated_at: u64,
    /// Whose data this is and where.
    pub subject: Subject,
    /// Every dataset the subject published.
    pub datasets: Vec<ExportDataset>,
    /// Credits withdrawn from the marketplace.
    pub withdrawals: Vec<Withdrawal>,
    /// Credits not yet withdrawn (wei).
    pub credits_wei: String,
}

/// The data subject and the deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub address: String,
    pub chain_id: u64,
    pub data_registry: String,
    pub marketplace: String,
}

/// One dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportDataset {
    pub dataset_id: u64,
    /// `Pending`, `Active` or `Withdrawn`.
    pub status: String,
    pub storage_uri: String,
    pub content_root: String,
    pub metadata_hash: String,
    /// The metadata JSON as published (null if it could not be parsed).
    pub metadata: serde_json::Value,
    pub price_wei: String,
    pub price_phd: String,
    pub purposes: Vec<String>,
    pub consent_terms_hash: String,
    pub threshold: u8,
    pub published_at: u64,
    pub published_tx: Option<String>,
    pub withdrawn_at: Option<u64>,
    pub withdrawal_tx: Option<String>,
    pub keepers: Vec<ExportKeeper>,
    pub certifications: Vec<ExportCertification>,
    pub price_changes: Vec<PriceChange>,
    /// Purchases and grants (grants have `kind = "grant"` and price 0).
    pub purchases: Vec<ExportPurchase>,
    /// What the owner's app keeps locally (null when nothing).
    pub local: Option<LocalInfo>,
    /// The owner's own pseudonymised data (`--with-data`), else null.
    pub data: Option<ExportData>,
    /// Every request about this dataset in the owner's gateway access log (`--access-log`,
    /// `PHD_GATEWAY_ACCESS_LOG`): reads, manifest reads and refusals; null when no log was given.
    pub access_log: Option<Vec<crate::access::AccessRecord>>,
}

/// A keeper of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportKeeper {
    pub address: String,
    pub share_index: u8,
    pub acknowledged: bool,
    pub acknowledged_tx: Option<String>,
    pub erasure_confirmed: bool,
    pub erasure_tx: Option<String>,
}

/// A validator certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportCertification {
    pub validator: String,
    pub score_bps: u16,
    pub model_id: String,
    pub report_hash: String,
    pub report_uri: String,
    pub reward_wei: String,
    pub tx_hash: Option<String>,
}

/// A price change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceChange {
    pub old_price_wei: String,
    pub new_price_wei: String,
    pub tx_hash: Option<String>,
}

/// A purchase or grant with its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportPurchase {
    pub purchase_id: u64,
    /// `purchase` or `grant`.
    pub kind: String,
    /// Buyer or grantee.
    pub counterparty: String,
    pub purpose: String,
    pub price_wei: String,
    pub price_phd: String,
    /// Unix seconds (`createdAt` on-chain).
    pub created_at: u64,
    pub tx_hash: Option<String>,
    /// `Open`, `Settled` or `Refunded`.
    pub status: String,
    pub shares_delivered: u8,
    pub deliveries: Vec<Delivery>,
    pub payout: Option<Payout>,
    pub refund: Option<Refund>,
    /// Reads of the object through the owner's gateway for this purchase; null when no access
    /// log was given.
    pub access: Option<crate::access::AccessSummary>,
}

/// A keeper's share delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub keeper: String,
    pub share_index: u8,
    pub tx_hash: Option<String>,
}

/// The `Settled` split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payout {
    pub owner_amount_wei: String,
    pub keeper_amount_each_wei: String,
    pub keeper_count: u8,
    pub tx_hash: Option<String>,
}

/// A refund to the buyer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub amount_wei: String,
    pub tx_hash: Option<String>,
}

/// A credit withdrawal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub amount_wei: String,
    pub amount_phd: String,
    pub tx_hash: Option<String>,
    pub block_number: Option<u64>,
}

/// Local bookkeeping for a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalInfo {
    pub object_key: String,
    pub source_file: String,
    pub pseudonymised_file: Option<String>,
    pub object_deleted: bool,
}

/// Embedded data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportData {
    /// `phd-canonical-csv`.
    pub format: String,
    pub sha256: String,
    pub content: String,
}

/// Checks `instance` against `schema` for the subset of JSON Schema the export schema uses
/// (`type`, `required`, `properties`, `additionalProperties: false`, `items`, `enum`, `const`,
/// `pattern` as a prefix/charset check for 0x-hex, `$ref` to `#/$defs/...`).
/// Returns every violation as `path: problem`; empty means valid.
pub fn validate(schema: &serde_json::Value, instance: &serde_json::Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, instance, "$", &mut errors);
    errors
}

fn check(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    v: &serde_json::Value,
    path: &str,
    errs: &mut Vec<String>,
) {
    use serde_json::Value;
    let Some(obj) = schema.as_object() else {
        return;
    };
    if let Some(Value::String(r)) = obj.get("$ref") {
        let target = r
            .strip_prefix("#/")
            .and_then(|p| p.split('/').try_fold(root, |acc, seg| acc.get(seg)));
        match target {
            Some(t) => check(root, t, v, path, errs),
            None => errs.push(format!("{path}: unresolvable $ref {r}")),
        }
        return;
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            _ => false,
        });
        if !ok {
            errs.push(format!("{path}: expected {types:?}, found {v}"));
            return;
        }
    }
    if let Some(Value::Array(options)) = obj.get("enum")
        && !options.contains(v)
    {
        errs.push(format!("{path}: {v} is not one of {options:?}"));
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        errs.push(format!("{path}: expected {c}, found {v}"));
    }
    if let (Some(Value::String(p)), Some(s)) = (obj.get("pattern"), v.as_str())
        && !simple_pattern(p, s)
    {
        errs.push(format!("{path}: `{s}` does not match {p}"));
    }
    if let Some(o) = v.as_object() {
        if let Some(Value::Array(req)) = obj.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    errs.push(format!("{path}: missing required property `{r}`"));
                }
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(root, s, val, &format!("{path}.{k}"), errs),
                None => {
                    if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
                        errs.push(format!("{path}: unexpected property `{k}`"));
                    }
                }
            }
        }
    }
    if let (Some(items), Some(a)) = (obj.get("items"), v.as_array()) {
        for (i, item) in a.iter().enumerate() {
            check(root, items, item, &format!("{path}[{i}]"), errs);
        }
    }
}

/// The patterns the schema uses: `^0x[0-9a-fA-F]{N}$`, `^0x[0-9a-fA-F]*$`, `^[0-9]+$`.
/// Unknown patterns pass (they are documentation for full validators).
fn simple_pattern(p: &str, s: &str) -> bool {
    let is_hex = |t: &str| t.chars().all(|c| c.is_ascii_hexdigit());
    match p {
        "^[0-9]+$" => !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()),
        "^0x[0-9a-fA-F]*$" => s.strip_prefix("0x").is_some_and(is_hex),
        _ => {
            if let Some(n) = p
                .strip_prefix("^0x[0-9a-fA-F]{")
                .and_then(|r| r.strip_suffix("}$"))
            {
                let n: usize = n.parse().unwrap_or(0);
                s.strip_prefix("0x")
                    .is_some_and(|h| h.len() == n && is_hex(h))
            } else {
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: usize, b: char) -> String {
        format!("0x{}", b.to_string().repeat(n))
    }

    fn sample() -> ExportDoc {
        ExportDoc {
            format: EXPORT_FORMAT.into(),
            generated_at: 1_700_000_000,
            subject: Subject {
                address: h(40, 'a'),
                chain_id: 31337,
                data_registry: h(40, 'b'),
                marketplace: h(40, 'c'),
            },
            datasets: vec![ExportDataset {
                dataset_id: 1,
                status: "Withdrawn".into(),
                storage_uri: "s3://phd/datasets/x.phd".into(),
                content_root: h(64, '1'),
                metadata_hash: h(64, '2'),
                metadata: serde_json::json!({ "version": 1, "title": "walk" }),
                price_wei: "12500000000000000000".into(),
                price_phd: "12.5".into(),
                purposes: vec!["research".into(), "validation".into()],
                consent_terms_hash: h(64, '3'),
                threshold: 3,
                published_at: 1,
                published_tx: Some(h(64, '4')),
                withdrawn_at: Some(5),
                withdrawal_tx: Some(h(64, '5')),
                keepers: vec![ExportKeeper {
                    address: h(40, 'd'),
                    share_index: 1,
                    acknowledged: true,
                    acknowledged_tx: Some(h(64, '6')),
                    erasure_confirmed: true,
                    erasure_tx: None,
                }],
                certifications: vec![ExportCertification {
                    validator: h(40, 'e'),
                    score_bps: 9000,
                    model_id: h(64, '7'),
                    report_hash: h(64, '8'),
                    report_uri: String::new(),
                    reward_wei: "10".into(),
                    tx_hash: None,
                }],
                price_changes: vec![PriceChange {
                    old_price_wei: "1".into(),
                    new_price_wei: "2".into(),
                    tx_hash: None,
                }],
                purchases: vec![ExportPurchase {
                    purchase_id: 1,
                    kind: "purchase".into(),
                    counterparty: h(40, 'f'),
                    purpose: "research".into(),
                    price_wei: "2".into(),
                    price_phd: "0.000000000000000002".into(),
                    created_at: 3,
                    tx_hash: Some(h(64, '9')),
                    status: "Settled".into(),
                    shares_delivered: 3,
                    deliveries: vec![Delivery {
                        keeper: h(40, 'd'),
                        share_index: 1,
                        tx_hash: None,
                    }],
                    payout: Some(Payout {
                        owner_amount_wei: "1".into(),
                        keeper_amount_each_wei: "0".into(),
                        keeper_count: 3,
                        tx_hash: None,
                    }),
                    refund: None,
                    access: Some(crate::access::AccessSummary {
                        reads: 2,
                        bytes: 4096,
                        refused: 1,
                        first_ms: Some(1),
                        last_ms: Some(2),
                    }),
                }],
                local: Some(LocalInfo {
                    object_key: "datasets/x.phd".into(),
                    source_file: "walk.csv".into(),
                    pseudonymised_file: None,
                    object_deleted: true,
                }),
                data: Some(ExportData {
                    format: "phd-canonical-csv".into(),
                    sha256: h(64, 'a'),
                    content: "t,acc_x\n".into(),
                }),
                access_log: Some(vec![crate::access::AccessRecord {
                    time_ms: 1,
                    route: "object".into(),
                    method: "GET".into(),
                    key: "datasets/x.phd".into(),
                    account: Some(alloy::primitives::Address::repeat_byte(0xf)),
                    dataset_id: Some(1),
                    purchase_id: Some(1),
                    range: Some("0-4095".into()),
                    bytes: 4096,
                    allowed: true,
                    status: 206,
                    code: None,
                }]),
            }],
            withdrawals: vec![Withdrawal {
                amount_wei: "1".into(),
                amount_phd: "0".into(),
                tx_hash: None,
                block_number: Some(9),
            }],
            credits_wei: "0".into(),
        }
    }

    fn schema() -> serde_json::Value {
        serde_json::from_str(EXPORT_SCHEMA).unwrap()
    }

    #[test]
    fn sample_export_validates() {
        let v = serde_json::to_value(sample()).unwrap();
        let errs = validate(&schema(), &v);
        assert!(errs.is_empty(), "{errs:#?}");
    }

    #[test]
    fn empty_export_validates() {
        let doc = ExportDoc {
            datasets: vec![],
            withdrawals: vec![],
            ..sample()
        };
        assert!(validate(&schema(), &serde_json::to_value(doc).unwrap()).is_empty());
    }

    #[test]
    fn violations_are_reported() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["datasets"][0]["purchases"][0]["kind"] = "gift".into();
        v["datasets"][0]["keepers"][0]["address"] = "0x12".into();
        v["subject"].as_object_mut().unwrap().remove("chain_id");
        v["extra"] = 1.into();
        v["credits_wei"] = "-1".into();
        let errs = validate(&schema(), &v);
        let all = errs.join("\n");
        assert!(all.contains("kind"), "{all}");
        assert!(all.contains("keepers[0].address"), "{all}");
        assert!(all.contains("chain_id"), "{all}");
        assert!(all.contains("unexpected property `extra`"), "{all}");
        assert!(all.contains("credits_wei"), "{all}");
    }

    #[test]
    fn doc_roundtrips() {
        let s = serde_json::to_string(&sample()).unwrap();
        let back: ExportDoc = serde_json::from_str(&s).unwrap();
        assert_eq!(back, sample());
    }
}
