//! Small helpers: S3 URIs.

/// `s3://bucket/key` → (bucket, key).
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris() {
        assert_eq!(
            parse_s3_uri("s3://b/k/x.phd"),
            Some(("b".into(), "k/x.phd".into()))
        );
        assert_eq!(parse_s3_uri("s3:///k"), None);
        assert_eq!(
            parse_s3_uri("s3://b/datasets/x.phd"),
            Some(("b".into(), "datasets/x.phd".into()))
        );
        assert_eq!(parse_s3_uri("s3://b/"), None);
        assert_eq!(parse_s3_uri("http://b/k"), None);
    }
}
