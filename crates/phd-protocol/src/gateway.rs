//! Buyer ↔ access gateway (docs/FORMATS.md §"Gateway access token", docs/SECURITY.md
//! "Storage access"): the signed access token, the object and manifest routes, the storage URI
//! that tells a buyer to use a gateway, and the manifest body.
//!
//! A dataset whose `storageUri` is `http(s)://<gateway>/v1/objects/<key>` is read through that
//! gateway: `GET`/`HEAD` on the URI itself with an [`AccessToken`] in `Authorization`, and the
//! public `GET <gateway>/v1/manifest/<key>` for the footer, trailer and header (sizes and hashes,
//! no data) so a buyer can recompute the content root before paying.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol,
    sol_types::{Eip712Domain, SolStruct, eip712_domain},
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Route of a sealed object (axum syntax; `key` may contain `/`).
pub const OBJECT_ROUTE: &str = "/v1/objects/{*key}";
/// Route of an object's public manifest.
pub const MANIFEST_ROUTE: &str = "/v1/manifest/{*key}";
/// Path prefix of objects.
pub const OBJECT_PREFIX: &str = "/v1/objects/";
/// Path prefix of manifests.
pub const MANIFEST_PREFIX: &str = "/v1/manifest/";
/// `Authorization` scheme of an access token.
pub const AUTH_SCHEME: &str = "PHD-Access";
/// Longest token lifetime a gateway accepts (seconds from its clock to `expiry`).
pub const MAX_TOKEN_TTL_SECS: u64 = 600;
/// EIP-712 domain name.
pub const DOMAIN_NAME: &str = "PHD exchange gateway";
/// EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";
/// First 8 bytes of a manifest body.
pub const MANIFEST_MAGIC: [u8; 8] = *b"PHDMANI1";
/// Largest manifest a client accepts (the sealed format's trailer limit plus header/footer).
pub const MAX_MANIFEST_BYTES: usize = (64 << 20) + 1024;

sol! {
    /// What the buyer signs (EIP-712 typed data).
    #[derive(Debug)]
    struct GatewayAccess {
        string gateway;
        address account;
        uint256 datasetId;
        uint256 purchaseId;
        uint64 expiry;
        bytes32 nonce;
    }
}

/// Where a token may be used: chain, marketplace and the gateway's public base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayDomain {
    /// Chain id of the deployment.
    pub chain_id: u64,
    /// Marketplace (EIP-712 `verifyingContract`).
    pub marketplace: Address,
    /// The gateway's public base URL, `scheme://host[:port]` (the token's audience).
    pub gateway: String,
}

impl GatewayDomain {
    fn eip712(&self) -> Eip712Domain {
        eip712_domain! {
            name: DOMAIN_NAME,
            version: DOMAIN_VERSION,
            chain_id: self.chain_id,
            verifying_contract: self.marketplace,
        }
    }
}

/// Why a token is refused before any chain lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No `Authorization: PHD-Access …` header.
    #[error(
        "no access token: send `Authorization: {AUTH_SCHEME} <token>` signed by the buyer's account"
    )]
    Missing,
    /// Not base64url JSON of the token fields.
    #[error("malformed access token: {0}")]
    Malformed(String),
    /// Signed for another chain, marketplace or gateway.
    #[error("access token is for {field} {got}, this gateway serves {expected}")]
    WrongDomain {
        /// `chain id`, `marketplace` or `gateway`.
        field: &'static str,
        /// What this gateway expects.
        expected: String,
        /// What the token names.
        got: String,
    },
    /// `expiry` has passed.
    #[error("access token expired at {expiry} (now {now}); sign a new one")]
    Expired {
        /// Token expiry (unix seconds).
        expiry: u64,
        /// Gateway clock.
        now: u64,
    },
    /// `expiry` is further ahead than the gateway allows.
    #[error("access token expiry {expiry} is more than {max}s after now ({now})")]
    TooLong {
        /// Token expiry.
        expiry: u64,
        /// Gateway clock.
        now: u64,
        /// Allowed lifetime.
        max: u64,
    },
    /// The signature does not recover to the token's account.
    #[error("access token signature is not by {account}")]
    BadSignature {
        /// The account the token claims.
        account: Address,
    },
}

impl TokenError {
    /// Stable machine-readable code for JSON replies and the access log.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Missing => "missing_token",
            TokenError::Malformed(_) => "malformed_token",
            TokenError::WrongDomain { .. } => "wrong_domain",
            TokenError::Expired { .. } => "expired_token",
            TokenError::TooLong { .. } => "expiry_too_far",
            TokenError::BadSignature { .. } => "bad_signature",
        }
    }
}

/// A signed access token (sent base64url-encoded JSON in `Authorization: PHD-Access <…>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    /// Where the token may be used.
    #[serde(flatten)]
    pub domain: GatewayDomain,
    /// The signing account (buyer or grantee).
    pub account: Address,
    /// Dataset whose object is read.
    pub dataset_id: u64,
    /// Purchase (or grant) that pays for the access.
    pub purchase_id: u64,
    /// Unix seconds after which the token is refused.
    pub expiry: u64,
    /// Random; makes each token unique (sessions in the access log).
    pub nonce: B256,
    /// 65-byte secp256k1 signature over the EIP-712 hash.
    pub signature: Bytes,
}

impl AccessToken {
    fn typed(
        domain: &GatewayDomain,
        account: Address,
        dataset_id: u64,
        purchase_id: u64,
        expiry: u64,
        nonce: B256,
    ) -> GatewayAccess {
        GatewayAccess {
            gateway: domain.gateway.clone(),
            account,
            datasetId: U256::from(dataset_id),
            purchaseId: U256::from(purchase_id),
            expiry,
            nonce,
        }
    }

    /// The EIP-712 signing hash of these fields under `domain`.
    pub fn signing_hash(
        domain: &GatewayDomain,
        account: Address,
        dataset_id: u64,
        purchase_id: u64,
        expiry: u64,
        nonce: B256,
    ) -> B256 {
        Self::typed(domain, account, dataset_id, purchase_id, expiry, nonce)
            .eip712_signing_hash(&domain.eip712())
    }

    /// Signs a token for `purchase_id` of `dataset_id` with `signer`, valid until `expiry`.
    pub fn sign(
        signer: &PrivateKeySigner,
        domain: GatewayDomain,
        dataset_id: u64,
        purchase_id: u64,
        expiry: u64,
        nonce: B256,
    ) -> Result<Self, TokenError> {
        let account = signer.address();
        let hash = Self::signing_hash(&domain, account, dataset_id, purchase_id, expiry, nonce);
        let sig = signer
            .sign_hash_sync(&hash)
            .map_err(|e| TokenError::Malformed(format!("signing failed: {e}")))?;
        Ok(AccessToken {
            domain,
            account,
            dataset_id,
            purchase_id,
            expiry,
            nonce,
            signature: Bytes::from(sig.as_bytes().to_vec()),
        })
    }

    /// Checks domain, lifetime (`now` and `max_ttl` in seconds) and signature; returns the signer.
    /// Whether that signer may read the object is the gateway's chain check.
    pub fn verify(
        &self,
        expected: &GatewayDomain,
        now: u64,
        max_ttl: u64,
    ) -> Result<Address, TokenError> {
        let wrong = |field, e: String, g: String| {
            Err(TokenError::WrongDomain {
                field,
                expected: e,
                got: g,
            })
        };
        if self.domain.chain_id != expected.chain_id {
            return wrong(
                "chain id",
                expected.chain_id.to_string(),
                self.domain.chain_id.to_string(),
            );
        }
        if self.domain.marketplace != expected.marketplace {
            return wrong(
                "marketplace",
                expected.marketplace.to_string(),
                self.domain.marketplace.to_string(),
            );
        }
        if self.domain.gateway != expected.gateway {
            return wrong(
                "gateway",
                expected.gateway.clone(),
                self.domain.gateway.clone(),
            );
        }
        if self.expiry < now {
            return Err(TokenError::Expired {
                expiry: self.expiry,
                now,
            });
        }
        if self.expiry - now > max_ttl {
            return Err(TokenError::TooLong {
                expiry: self.expiry,
                now,
                max: max_ttl,
            });
        }
        let sig =
            alloy::primitives::Signature::try_from(self.signature.as_ref()).map_err(|_| {
                TokenError::BadSignature {
                    account: self.account,
                }
            })?;
        let hash = Self::signing_hash(
            expected,
            self.account,
            self.dataset_id,
            self.purchase_id,
            self.expiry,
            self.nonce,
        );
        match sig.recover_address_from_prehash(&hash) {
            Ok(a) if a == self.account => Ok(a),
            _ => Err(TokenError::BadSignature {
                account: self.account,
            }),
        }
    }

    /// The `Authorization` header value.
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "{AUTH_SCHEME} {}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        )
    }

    /// Parses an `Authorization` header value.
    pub fn from_header(value: &str) -> Result<Self, TokenError> {
        let b64 = value
            .strip_prefix(AUTH_SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| {
                TokenError::Malformed(format!("Authorization scheme is not {AUTH_SCHEME}"))
            })?;
        if b64.len() > 4096 {
            return Err(TokenError::Malformed("token longer than 4096 bytes".into()));
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64.trim())
            .map_err(|e| TokenError::Malformed(format!("not base64url: {e}")))?;
        serde_json::from_slice(&json)
            .map_err(|e| TokenError::Malformed(format!("not a token: {e}")))
    }
}

/// `http(s)://<gateway>/v1/objects/<key>`: the storage URI of an object behind `gateway`.
pub fn gateway_object_uri(gateway: &str, key: &str) -> String {
    format!("{}{OBJECT_PREFIX}{key}", gateway.trim_end_matches('/'))
}

/// Splits a gateway storage URI into (gateway base URL, object key); `None` for anything else
/// (an `s3://` URI, a URL without the object prefix, an empty or `..` key).
pub fn parse_gateway_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))?;
    let scheme_len = uri.len() - rest.len();
    let slash = rest.find('/')?;
    let (authority, path) = rest.split_at(slash);
    let key = path.strip_prefix(OBJECT_PREFIX)?;
    if authority.is_empty() || !valid_key(key) {
        return None;
    }
    Some((
        uri[..scheme_len + authority.len()].to_owned(),
        key.to_owned(),
    ))
}

/// An object key a gateway may serve: non-empty, ≤ 512 bytes, no empty, `.` or `..` segments,
/// no query/fragment characters or control characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && !key
            .chars()
            .any(|c| c.is_control() || matches!(c, '?' | '#' | '\\' | '%'))
}

/// The manifest URL of `key` at `gateway`.
pub fn manifest_url(gateway: &str, key: &str) -> String {
    format!("{}{MANIFEST_PREFIX}{key}", gateway.trim_end_matches('/'))
}

/// The public part of a sealed object: its length, the header and everything from the trailer
/// to the end (trailer + footer). Enough to recompute the content root, nothing to decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Length of the whole sealed object.
    pub object_len: u64,
    /// The first bytes of the object (the sealed header).
    pub head: Vec<u8>,
    /// The last bytes of the object (trailer + footer).
    pub tail: Vec<u8>,
}

impl Manifest {
    /// `MANIFEST_MAGIC ‖ object_len u64 BE ‖ head_len u32 BE ‖ head ‖ tail`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.head.len() + self.tail.len());
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.extend_from_slice(&self.object_len.to_be_bytes());
        out.extend_from_slice(
            &u32::try_from(self.head.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.tail);
        out
    }

    /// Parses [`Manifest::encode`]'s output; refuses anything inconsistent.
    pub fn decode(b: &[u8]) -> Result<Self, TokenError> {
        let bad = |m: &str| TokenError::Malformed(format!("manifest: {m}"));
        if b.len() > MAX_MANIFEST_BYTES {
            return Err(bad("too large"));
        }
        if b.get(..8) != Some(&MANIFEST_MAGIC[..]) {
            return Err(bad("bad magic"));
        }
        let object_len = b
            .get(8..16)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| bad("truncated"))?;
        let head_len = b
            .get(16..20)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| bad("truncated"))?;
        let head_end = 20usize
            .checked_add(head_len as usize)
            .ok_or_else(|| bad("header length"))?;
        let head = b
            .get(20..head_end)
            .ok_or_else(|| bad("truncated header"))?
            .to_vec();
        let tail = b.get(head_end..).unwrap_or_default().to_vec();
        if (head.len() as u64).saturating_add(tail.len() as u64) > object_len {
            return Err(bad("header and tail longer than the object"));
        }
        Ok(Manifest {
            object_len,
            head,
            tail,
        })
    }
}

/// One line of a gateway's access log (JSONL): every object or manifest request, allowed or
/// refused. The owner's `sales`/`export` read it; it holds no token or signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Unix milliseconds (gateway clock).
    pub time_ms: u64,
    /// `object` or `manifest`.
    pub route: String,
    /// `GET` or `HEAD`.
    pub method: String,
    /// Object key.
    pub key: String,
    /// Signer of the token, when one verified.
    pub account: Option<Address>,
    /// Dataset named by the token.
    pub dataset_id: Option<u64>,
    /// Purchase (or grant) named by the token.
    pub purchase_id: Option<u64>,
    /// Requested byte range, `start-end` inclusive as in HTTP.
    pub range: Option<String>,
    /// Bytes the reply was to carry.
    pub bytes: u64,
    /// Whether data (or a manifest) was served.
    pub allowed: bool,
    /// HTTP status.
    pub status: u16,
    /// Refusal code (`not_buyer`, `expired_token`, …), when refused.
    pub code: Option<String>,
}

/// An access log read back (the gateway writes it; the owner's `sales` and `export` read it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLogContents {
    /// Every record that parsed, in file order.
    pub records: Vec<AccessRecord>,
    /// 1-based numbers of the lines that did not parse (a line cut short by a crash, a foreign
    /// line): skipped, never fatal.
    pub unreadable_lines: Vec<usize>,
}

/// Parses access-log text (JSON lines). Blank lines are ignored; any other line that is not an
/// [`AccessRecord`] is reported in [`AccessLogContents::unreadable_lines`].
pub fn parse_access_log(text: &str) -> AccessLogContents {
    let mut out = AccessLogContents::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(r) => out.records.push(r),
            Err(_) => out.unreadable_lines.push(i + 1),
        }
    }
    out
}

/// Reads the access log at `path`. A missing file is an empty log (no request yet); bytes that
/// are not UTF-8 only spoil their own line.
pub fn read_access_log(path: &std::path::Path) -> std::io::Result<AccessLogContents> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(parse_access_log(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AccessLogContents::default()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn domain() -> GatewayDomain {
        GatewayDomain {
            chain_id: 31337,
            marketplace: Address::repeat_byte(0x11),
            gateway: "http://127.0.0.1:9000".into(),
        }
    }

    fn token(signer: &PrivateKeySigner, expiry: u64) -> AccessToken {
        AccessToken::sign(signer, domain(), 7, 3, expiry, B256::repeat_byte(5)).unwrap()
    }

    #[test]
    fn valid_token_recovers_the_signer_through_the_header() {
        let s = PrivateKeySigner::random();
        let t = token(&s, 1_100);
        let parsed = AccessToken::from_header(&t.to_header()).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(
            parsed.verify(&domain(), 1_000, MAX_TOKEN_TTL_SECS),
            Ok(s.address())
        );
    }

    #[test]
    fn tampered_fields_or_signature_are_bad_signatures() {
        let s = PrivateKeySigner::random();
        let mut t = token(&s, 1_100);
        t.purchase_id = 4;
        assert_eq!(
            t.verify(&domain(), 1_000, 600).unwrap_err().code(),
            "bad_signature"
        );
        let mut t = token(&s, 1_100);
        t.signature = Bytes::from(vec![1u8; 65]);
        assert_eq!(
            t.verify(&domain(), 1_000, 600).unwrap_err().code(),
            "bad_signature"
        );
        let mut t = token(&s, 1_100);
        t.signature = Bytes::from(vec![1u8; 3]);
        assert_eq!(
            t.verify(&domain(), 1_000, 600).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn a_token_claiming_another_account_is_refused() {
        // Signed by a stranger but naming the buyer's account: the signature does not recover to it.
        let buyer = PrivateKeySigner::random();
        let stranger = PrivateKeySigner::random();
        let mut t = token(&stranger, 1_100);
        t.account = buyer.address();
        assert_eq!(
            t.verify(&domain(), 1_000, 600),
            Err(TokenError::BadSignature {
                account: buyer.address()
            })
        );
    }

    #[test]
    fn expired_and_too_long_tokens_are_refused() {
        let s = PrivateKeySigner::random();
        assert_eq!(
            token(&s, 999)
                .verify(&domain(), 1_000, 600)
                .unwrap_err()
                .code(),
            "expired_token"
        );
        assert_eq!(
            token(&s, 1_601)
                .verify(&domain(), 1_000, 600)
                .unwrap_err()
                .code(),
            "expiry_too_far"
        );
        assert!(token(&s, 1_000).verify(&domain(), 1_000, 600).is_ok());
    }

    #[test]
    fn replay_in_another_domain_is_refused() {
        let s = PrivateKeySigner::random();
        let t = token(&s, 1_100);
        for other in [
            GatewayDomain {
                chain_id: 1,
                ..domain()
            },
            GatewayDomain {
                marketplace: Address::repeat_byte(0x22),
                ..domain()
            },
            GatewayDomain {
                gateway: "http://127.0.0.1:9001".into(),
                ..domain()
            },
        ] {
            assert_eq!(
                t.verify(&other, 1_000, 600).unwrap_err().code(),
                "wrong_domain"
            );
            // Rewriting the token's domain to match does not help: the signature covers it.
            let mut moved = t.clone();
            moved.domain = other.clone();
            assert_eq!(
                moved.verify(&other, 1_000, 600).unwrap_err().code(),
                "bad_signature"
            );
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        for h in [
            "",
            "Bearer abc",
            "PHD-Access",
            "PHD-Access !!!",
            "PHD-Access e30",
            "PHD-Access bm90IGpzb24",
        ] {
            assert_eq!(
                AccessToken::from_header(h).unwrap_err().code(),
                "malformed_token",
                "{h}"
            );
        }
        let long = format!("PHD-Access {}", "A".repeat(5000));
        assert_eq!(
            AccessToken::from_header(&long).unwrap_err().code(),
            "malformed_token"
        );
    }

    #[test]
    fn gateway_uris() {
        let u = gateway_object_uri("http://127.0.0.1:9000/", "datasets/a.phd");
        assert_eq!(u, "http://127.0.0.1:9000/v1/objects/datasets/a.phd");
        assert_eq!(
            parse_gateway_uri(&u),
            Some(("http://127.0.0.1:9000".into(), "datasets/a.phd".into()))
        );
        assert_eq!(
            manifest_url("https://gw.example", "k"),
            "https://gw.example/v1/manifest/k"
        );
        for bad in [
            "s3://b/k",
            "http://h/v1/objects/",
            "http://h/other/k",
            "http:///v1/objects/k",
            "http://h/v1/objects/a/../b",
            "http://h/v1/objects/a//b",
            "http://h/v1/objects/a?x=1",
            "ftp://h/v1/objects/k",
        ] {
            assert_eq!(parse_gateway_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn manifest_round_trip_and_bad_input() {
        let m = Manifest {
            object_len: 1000,
            head: vec![1; 64],
            tail: vec![2; 80],
        };
        assert_eq!(Manifest::decode(&m.encode()), Ok(m.clone()));
        let e = m.encode();
        assert!(Manifest::decode(&e[..10]).is_err());
        assert!(Manifest::decode(b"nope").is_err());
        let mut lie = m.clone();
        lie.object_len = 10;
        assert!(Manifest::decode(&lie.encode()).is_err());
        let mut huge_head = e.clone();
        huge_head[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Manifest::decode(&huge_head).is_err());
    }

    #[test]
    fn access_log_lines_that_do_not_parse_are_skipped_not_fatal() {
        let rec = AccessRecord {
            time_ms: 1,
            route: "object".into(),
            method: "GET".into(),
            key: "datasets/a.phd".into(),
            account: Some(Address::repeat_byte(7)),
            dataset_id: Some(1),
            purchase_id: Some(2),
            range: Some("0-9".into()),
            bytes: 10,
            allowed: true,
            status: 206,
            code: None,
        };
        let line = serde_json::to_string(&rec).unwrap();
        // A complete line, a blank one, a line cut short by a crash, foreign JSON, garbage,
        // and the complete line again.
        let text = format!(
            "{line}\n\n{}\n{{\"a\":1}}\nnot json\n{line}\n",
            &line[..line.len() / 2]
        );
        let got = parse_access_log(&text);
        assert_eq!(got.records, vec![rec.clone(), rec.clone()]);
        assert_eq!(got.unreadable_lines, vec![3, 4, 5]);

        let dir = std::env::temp_dir().join(format!("phd-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.jsonl");
        assert_eq!(
            read_access_log(&missing).unwrap(),
            AccessLogContents::default()
        );
        let bad_utf8 = dir.join("bad.jsonl");
        let mut bytes = line.clone().into_bytes();
        bytes.extend_from_slice(b"\n\xff\xfe\x00\n");
        bytes.extend_from_slice(line.as_bytes());
        std::fs::write(&bad_utf8, bytes).unwrap();
        let got = read_access_log(&bad_utf8).unwrap();
        assert_eq!((got.records.len(), got.unreadable_lines), (2, vec![2]));
        assert!(
            read_access_log(&dir).is_err(),
            "a directory is an error, not a panic"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
