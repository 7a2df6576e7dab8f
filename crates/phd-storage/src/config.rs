//! Connection and transfer settings.

use std::fmt;
use std::time::Duration;

use crate::{Error, Result};

/// Smallest part S3 accepts (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest part and largest single PUT S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;

const MIB: u64 = 1024 * 1024;

/// Where the objects live and how to move them.
///
/// Every field is public so a CLI can fill it from flags; [`S3Config::new`] gives the
/// defaults and [`S3Config::from_env`] reads the usual AWS variables.
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct S3Config {
    /// Custom endpoint (MinIO, the embedded server, ...); `None` = AWS.
    pub endpoint: Option<String>,
    /// Region used for signing (any value works for MinIO / the embedded server).
    pub region: String,
    /// Bucket holding the objects.
    pub bucket: String,
    /// Static access key id; with `secret_access_key`. `None` = the standard AWS chain
    /// (environment, profile, web identity, IMDS).
    pub access_key_id: Option<String>,
    /// Static secret access key.
    pub secret_access_key: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed for MinIO and the embedded server.
    pub force_path_style: bool,
    /// Objects of at least this many bytes go up as multipart uploads.
    pub multipart_threshold: u64,
    /// Part size for multipart uploads (raised automatically if the object would need more
    /// than 10 000 parts; at least 5 MiB).
    pub part_size: u64,
    /// Parts uploaded at once.
    pub upload_concurrency: usize,
    /// Attempts per request, including the first (standard retry mode, exponential backoff
    /// with jitter).
    pub max_attempts: u32,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one attempt of one request (until the response headers; uploads include
    /// sending the body).
    pub attempt_timeout: Option<Duration>,
    /// Timeout of one request including all its retries.
    pub operation_timeout: Option<Duration>,
    /// A download whose body delivers nothing for this long is abandoned.
    pub read_stall_timeout: Duration,
}

impl S3Config {
    /// Defaults for `bucket`: AWS `us-east-1`, 16 MiB multipart threshold, 8 MiB parts,
    /// 4 parts in flight, 3 attempts, 2 s connect timeout, 120 s per attempt, 600 s per
    /// operation, 60 s read stall.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: bucket.into(),
            access_key_id: None,
            secret_access_key: None,
            force_path_style: false,
            multipart_threshold: 16 * MIB,
            part_size: 8 * MIB,
            upload_concurrency: 4,
            max_attempts: 3,
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Some(Duration::from_secs(120)),
            operation_timeout: Some(Duration::from_secs(600)),
            read_stall_timeout: Duration::from_secs(60),
        }
    }

    /// From the CLI's S3 flag values `(endpoint, region, bucket, access key, secret key,
    /// path style)`; `None` when no bucket was given (the program then works without storage).
    #[allow(clippy::type_complexity)]
    pub fn from_flags(
        (endpoint, region, bucket, access_key_id, secret_access_key, force_path_style): (
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            bool,
        ),
    ) -> Option<Self> {
        Some(Self {
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            force_path_style,
            ..Self::new(bucket?)
        })
    }

    /// Reads `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`), `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `PHD_S3_BUCKET`
    /// (required) and `AWS_S3_FORCE_PATH_STYLE` (`true`/`1`/`false`/`0`; when unset, path
    /// style is used exactly when a custom endpoint is set).
    ///
    /// Without static keys the standard AWS chain (profile, SSO, IMDS, ...) supplies
    /// credentials at connect time.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`S3Config::from_env`] with a custom variable lookup (for tests and flag layers).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let nonempty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let bucket = nonempty("PHD_S3_BUCKET").ok_or_else(|| {
            Error::Config("PHD_S3_BUCKET is not set (the bucket holding data objects)".into())
        })?;
        let mut cfg = Self::new(bucket);
        cfg.endpoint = nonempty("AWS_ENDPOINT_URL_S3").or_else(|| nonempty("AWS_ENDPOINT_URL"));
        if let Some(region) = nonempty("AWS_REGION").or_else(|| nonempty("AWS_DEFAULT_REGION")) {
            cfg.region = region;
        }
        cfg.access_key_id = nonempty("AWS_ACCESS_KEY_ID");
        cfg.secret_access_key = nonempty("AWS_SECRET_ACCESS_KEY");
        cfg.force_path_style = match nonempty("AWS_S3_FORCE_PATH_STYLE") {
            Some(v) => parse_bool(&v).ok_or_else(|| {
                Error::Config(format!(
                    "AWS_S3_FORCE_PATH_STYLE: expected true/false, got {v:?}"
                ))
            })?,
            None => cfg.endpoint.is_some(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the values S3 would reject later (part sizes, attempts, key pairs).
    pub fn validate(&self) -> Result<()> {
        let fail = |m: String| Err(Error::Config(m));
        if self.bucket.is_empty() {
            return fail("bucket name is empty".into());
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return fail("access key id and secret access key must be given together".into());
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return fail(format!(
                "part size {} is outside S3's limits [{MIN_PART_SIZE}, {MAX_PART_SIZE}]",
                self.part_size
            ));
        }
        if self.multipart_threshold == 0 || self.multipart_threshold > MAX_PART_SIZE {
            return fail(format!(
                "multipart threshold {} must be in 1..={MAX_PART_SIZE} (largest single PUT)",
                self.multipart_threshold
            ));
        }
        if self.upload_concurrency == 0 {
            return fail("upload concurrency must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return fail("max attempts must be at least 1".into());
        }
        if let Some(ep) = &self.endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return fail(format!(
                "endpoint {ep:?} must start with http:// or https://"
            ));
        }
        Ok(())
    }

    /// The part size actually used for an object of `len` bytes (≤ 10 000 parts).
    pub fn effective_part_size(&self, len: u64) -> u64 {
        let needed = len.div_ceil(MAX_PARTS);
        self.part_size
            .max(needed)
            .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("force_path_style", &self.force_path_style)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("max_attempts", &self.max_attempts)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("read_stall_timeout", &self.read_stall_timeout)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn env_parsing() {
        let cfg = S3Config::from_lookup(lookup(&[
            ("PHD_S3_BUCKET", "data"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ]))
        .unwrap();
        assert_eq!(cfg.bucket, "data");
        assert_eq!(cfg.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(cfg.region, "eu-west-1");
        assert!(
            cfg.force_path_style,
            "custom endpoint implies path style by default"
        );
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");

        let cfg = S3Config::from_lookup(lookup(&[
            ("PHD_S3_BUCKET", "data"),
            ("AWS_ENDPOINT_URL", "http://x"),
            ("AWS_S3_FORCE_PATH_STYLE", "false"),
        ]))
        .unwrap();
        assert!(!cfg.force_path_style);
        assert!(cfg.access_key_id.is_none());

        assert!(matches!(
            S3Config::from_lookup(lookup(&[])),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            S3Config::from_lookup(lookup(&[
                ("PHD_S3_BUCKET", "b"),
                ("AWS_S3_FORCE_PATH_STYLE", "maybe")
            ])),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            S3Config::from_lookup(lookup(&[
                ("PHD_S3_BUCKET", "b"),
                ("AWS_ACCESS_KEY_ID", "only-id")
            ])),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn part_size_grows_for_huge_objects() {
        let cfg = S3Config::new("b");
        assert_eq!(cfg.effective_part_size(100 * MIB), 8 * MIB);
        let huge = 200 * 1024 * MIB * 1024; // 200 TiB: capped at 5 GiB parts
        assert_eq!(cfg.effective_part_size(huge), MAX_PART_SIZE);
        let big = 100_000 * MIB; // needs > 8 MiB parts to fit 10 000 parts
        assert!(big.div_ceil(cfg.effective_part_size(big)) <= MAX_PARTS);
    }
}
