//! The `Range` request header: one byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`).

use std::ops::Range;

/// Why a `Range` header is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// Not `bytes=…`, several ranges, or not numbers (400).
    Malformed(String),
    /// Well-formed but outside the object (416).
    Unsatisfiable,
}

/// The byte range `header` asks for within an object of `len` bytes; `None` header = whole
/// object. Several ranges are refused rather than served as multipart: the client fetches
/// ranges one request at a time.
pub fn parse(header: Option<&str>, len: u64) -> Result<Option<Range<u64>>, RangeError> {
    let Some(h) = header else { return Ok(None) };
    let bad = |m: &str| RangeError::Malformed(format!("Range {h:?}: {m}"));
    let spec = h
        .trim()
        .strip_prefix("bytes=")
        .ok_or_else(|| bad("only `bytes=` ranges are served"))?;
    if spec.contains(',') {
        return Err(bad("one range per request"));
    }
    let (a, b) = spec
        .split_once('-')
        .ok_or_else(|| bad("expected start-end"))?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad("not a number"));
    let range = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => return Err(bad("empty range")),
        // suffix: the last n bytes
        (true, false) => {
            let n = num(b)?;
            if n == 0 || len == 0 {
                return Err(RangeError::Unsatisfiable);
            }
            len.saturating_sub(n)..len
        }
        (false, true) => {
            let start = num(a)?;
            if start >= len {
                return Err(RangeError::Unsatisfiable);
            }
            start..len
        }
        (false, false) => {
            let (start, last) = (num(a)?, num(b)?);
            if last < start {
                return Err(bad("end before start"));
            }
            if start >= len {
                return Err(RangeError::Unsatisfiable);
            }
            start..last.saturating_add(1).min(len)
        }
    };
    Ok(Some(range))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse(None, 10), Ok(None));
        assert_eq!(parse(Some("bytes=0-3"), 10), Ok(Some(0..4)));
        assert_eq!(parse(Some("bytes=5-"), 10), Ok(Some(5..10)));
        assert_eq!(parse(Some("bytes=-3"), 10), Ok(Some(7..10)));
        assert_eq!(parse(Some("bytes=-30"), 10), Ok(Some(0..10)));
        assert_eq!(parse(Some("bytes=8-100"), 10), Ok(Some(8..10)));
        assert_eq!(
            parse(Some("bytes=9-18446744073709551615"), 10),
            Ok(Some(9..10))
        );
        assert_eq!(parse(Some("bytes=10-"), 10), Err(RangeError::Unsatisfiable));
        assert_eq!(
            parse(Some("bytes=10-12"), 10),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(parse(Some("bytes=-0"), 10), Err(RangeError::Unsatisfiable));
        assert_eq!(parse(Some("bytes=0-0"), 0), Err(RangeError::Unsatisfiable));
        for bad in [
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=a-b",
            "bytes=-",
            "bytes=5-2",
            "bytes=1",
            "bytes=99999999999999999999-",
        ] {
            assert!(
                matches!(parse(Some(bad), 10), Err(RangeError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
