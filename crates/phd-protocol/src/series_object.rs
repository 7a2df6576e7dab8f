//! Where a series segment's sealed object lives: one key per (owner, series, seq), so a
//! streamer's retry overwrites instead of leaving orphans, and an access gateway can tell from
//! the key alone which series and segment a request is for (and check the owner on-chain).

use alloy::primitives::Address;

/// First path segment of every segment object key.
pub const SERIES_KEY_ROOT: &str = "series/";

/// `series/<owner 0x…>/<series id>/<seq, 12 digits>.phd`.
pub fn segment_object_key(owner: Address, series_id: u64, seq: u64) -> String {
    format!("{SERIES_KEY_ROOT}{owner:#x}/{series_id}/{seq:012}.phd")
}

/// `(owner, series id, seq)` of a key made by [`segment_object_key`]; `None` for anything
/// else, including the same numbers spelt differently (only the canonical key is accepted, so
/// one segment has one key).
pub fn parse_segment_object_key(key: &str) -> Option<(Address, u64, u64)> {
    let rest = key.strip_prefix(SERIES_KEY_ROOT)?;
    let mut parts = rest.split('/');
    let owner: Address = parts.next()?.parse().ok()?;
    let series_id: u64 = parts.next()?.parse().ok()?;
    let seq: u64 = parts.next()?.strip_suffix(".phd")?.parse().ok()?;
    if parts.next().is_some() || segment_object_key(owner, series_id, seq) != key {
        return None;
    }
    Some((owner, series_id, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_only_canonical_keys_parse() {
        let owner = Address::repeat_byte(0xab);
        let key = segment_object_key(owner, 7, 42);
        assert_eq!(
            key,
            "series/0xabababababababababababababababababababab/7/000000000042.phd"
        );
        assert_eq!(parse_segment_object_key(&key), Some((owner, 7, 42)));
        for bad in [
            "series/0xabababababababababababababababababababab/7/42.phd",
            "series/0xABABABABABABABABABABABABABABABABABABABAB/7/000000000042.phd",
            "series/0xabababababababababababababababababababab/07/000000000042.phd",
            "series/0xabababababababababababababababababababab/7/000000000042.phd/x",
            "series/0xabababababababababababababababababababab/7/000000000042",
            "series/nope/7/000000000042.phd",
            "datasets/0xabababababababababababababababababababab/7/000000000042.phd",
            "series/0xabababababababababababababababababababab/-7/000000000042.phd",
            "",
        ] {
            assert_eq!(parse_segment_object_key(bad), None, "{bad}");
        }
    }
}
