//! PHD amounts: 18 decimals, like ether.

use alloy::primitives::U256;

use crate::ChainError;

/// Decimals of the PHD coin.
pub const PHD_DECIMALS: u32 = 18;

/// One PHD in wei units.
pub fn one_phd() -> U256 {
    U256::from(10u64).pow(U256::from(PHD_DECIMALS))
}

/// `n` whole PHD in wei units.
pub fn phd(n: u64) -> U256 {
    U256::from(n) * one_phd()
}

/// Formats a wei amount as a decimal number of PHD without trailing zeros: `12.5`, `120`, `0.000001`.
pub fn format_phd(amount: U256) -> String {
    let one = one_phd();
    let whole = amount / one;
    let frac = amount % one;
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Formats a wei amount with its unit: `12.5 PHD`.
pub fn format_phd_unit(amount: U256) -> String {
    format!("{} PHD", format_phd(amount))
}

/// Parses a decimal PHD amount (`12.5`, `100`, `0.000000000000000001`, optional ` PHD` suffix) into wei.
pub fn parse_phd(s: &str) -> Result<U256, ChainError> {
    let bad = |why: &str| ChainError::InvalidInput(format!("invalid PHD amount {s:?}: {why}"));
    let t = s.trim();
    let t = t
        .strip_suffix("PHD")
        .or_else(|| t.strip_suffix("phd"))
        .unwrap_or(t)
        .trim();
    if t.is_empty() {
        return Err(bad("empty"));
    }
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !digits(whole) || !digits(frac) || (whole.is_empty() && frac.is_empty()) {
        return Err(bad("expected digits with an optional decimal point"));
    }
    let frac = frac.replace('_', "");
    if frac.len() > PHD_DECIMALS as usize {
        return Err(bad("more than 18 decimals"));
    }
    let whole = whole.replace('_', "");
    let whole = if whole.is_empty() {
        U256::ZERO
    } else {
        U256::from_str_radix(&whole, 10).map_err(|_| bad("too large"))?
    };
    let frac_wei = if frac.is_empty() {
        U256::ZERO
    } else {
        let padded = format!("{frac:0<18}");
        U256::from_str_radix(&padded, 10).map_err(|_| bad("bad fraction"))?
    };
    whole
        .checked_mul(one_phd())
        .and_then(|w| w.checked_add(frac_wei))
        .ok_or_else(|| bad("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "0",
            "1",
            "12.5",
            "120",
            "0.000000000000000001",
            "1000000.25",
        ] {
            let v = parse_phd(s).unwrap_or_default();
            assert_eq!(format_phd(v), s);
        }
        assert_eq!(parse_phd("12.5 PHD").ok(), Some(phd(25) / U256::from(2)));
        assert_eq!(format_phd_unit(phd(120)), "120 PHD");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            ".",
            "1.2.3",
            "abc",
            "-1",
            "1.0000000000000000001",
            "1e18",
        ] {
            assert!(parse_phd(s).is_err(), "{s}");
        }
    }
}
