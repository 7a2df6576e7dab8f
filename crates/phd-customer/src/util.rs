//! Progress bars and small helpers.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress bars are drawn. Hidden for `--json` and when stderr is not a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Draw bars on stderr.
    Visible,
    /// Draw nothing.
    #[default]
    Hidden,
}

impl Progress {
    /// Visible only if `json` is false and stderr is a terminal.
    pub fn auto(json: bool) -> Progress {
        use std::io::IsTerminal;
        if !json && std::io::stderr().is_terminal() { Progress::Visible } else { Progress::Hidden }
    }

    /// A bar of `len` steps (spinner when `None`).
    pub fn bar(self, len: Option<u64>, msg: impl Into<String>) -> ProgressBar {
        let pb = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        if self == Progress::Hidden {
            pb.set_draw_target(ProgressDrawTarget::hidden());
        }
        let style = match len {
            Some(_) => ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})"),
            None => ProgressStyle::with_template("{spinner} {msg} ({elapsed})"),
        };
        if let Ok(style) = style {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg.into());
        if self == Progress::Visible {
            pb.enable_steady_tick(Duration::from_millis(120));
        }
        pb
    }
}

/// `s3://bucket/key` → (bucket, key).
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

/// AAD of a share payload sent to a buyer (docs/PROTOCOL.md):
/// `"phd share to buyer v1" ‖ chain_id (u64 BE) ‖ marketplace (20) ‖ purchase_id (u256 BE) ‖ share_index (u8)`.
pub fn buyer_share_aad(
    chain_id: u64,
    marketplace: alloy::primitives::Address,
    purchase_id: alloy::primitives::U256,
    share_index: u8,
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(21 + 8 + 20 + 32 + 1);
    aad.extend_from_slice(b"phd share to buyer v1");
    aad.extend_from_slice(&chain_id.to_be_bytes());
    aad.extend_from_slice(marketplace.as_slice());
    aad.extend_from_slice(&purchase_id.to_be_bytes::<32>());
    aad.push(share_index);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, U256};

    #[test]
    fn aad_layout() {
        let m = Address::repeat_byte(0x22);
        let aad = buyer_share_aad(31337, m, U256::from(9u64), 4);
        assert_eq!(&aad[..21], b"phd share to buyer v1");
        assert_eq!(&aad[21..29], &31337u64.to_be_bytes());
        assert_eq!(&aad[29..49], m.as_slice());
        assert_eq!(aad[49 + 31], 9);
        assert_eq!(aad[81], 4);
        assert_eq!(aad.len(), 82);
    }

    #[test]
    fn s3_uris() {
        assert_eq!(parse_s3_uri("s3://b/k/x.phd"), Some(("b".into(), "k/x.phd".into())));
        assert_eq!(parse_s3_uri("s3:///k"), None);
    }
}
