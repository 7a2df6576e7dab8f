//! RFC 3339 instants ↔ seconds since the Unix epoch, at microsecond precision (what Open mHealth
//! `date_time` and FHIR `dateTime`/`instant` carry). Table time that is relative (a `.ts`
//! recording starts at 0) is written as an offset from 1970-01-01T00:00:00Z, so it reads back
//! as the same number.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Latest instant accepted (year 9999), so arithmetic never overflows.
const MAX_ABS_SECONDS: f64 = 253_402_300_799.0;

/// `seconds` since the epoch as `YYYY-MM-DDThh:mm:ss.ffffffZ`; `None` outside years 0..=9999
/// or when not finite.
pub(crate) fn format(seconds: f64) -> Option<String> {
    if !seconds.is_finite() || seconds.abs() > MAX_ABS_SECONDS {
        return None;
    }
    let micros = (seconds * 1e6).round() as i64;
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    ))
}

fn num(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses an RFC 3339 date-time (`T` or space, optional fraction, `Z` or `±hh:mm`) into seconds
/// since the epoch, rounded to the microsecond. A date alone (`2024-05-01`) is midnight UTC.
pub(crate) fn parse(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.len() > 64 || !s.is_ascii() {
        return None;
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let (y, mo, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() || date.len() != 10 || !(1..=12).contains(&mo) || !(1..=31).contains(&d)
    {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    // reject 2023-02-31 and the like
    if civil_from_days(days) != (i64::from(y), mo, d) {
        return None;
    }
    let mut total_micros = days.checked_mul(86_400_000_000)?;
    if let Some(rest) = rest {
        let (clock, offset_s) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
            (c, 0i64)
        } else {
            let i = rest.rfind(['+', '-'])?;
            let (c, off) = rest.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let mut op = off[1..].split(':');
            let (oh, om) = (num(op.next()?)?, num(op.next()?)?);
            if op.next().is_some() || oh > 23 || om > 59 {
                return None;
            }
            (c, sign * i64::from(oh * 3600 + om * 60))
        };
        let (hms, frac) = match clock.split_once('.') {
            Some((h, f)) => (h, Some(f)),
            None => (clock, None),
        };
        let mut cp = hms.split(':');
        let (h, mi, sec) = (num(cp.next()?)?, num(cp.next()?)?, num(cp.next()?)?);
        if cp.next().is_some() || hms.len() != 8 || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let micros = match frac {
            None => 0i64,
            Some(f) if !f.is_empty() && f.len() <= 12 && f.bytes().all(|b| b.is_ascii_digit()) => {
                let padded: String = f.chars().chain(std::iter::repeat('0')).take(7).collect();
                // 7 digits: round the 7th
                let v: i64 = padded.parse().ok()?;
                (v + 5) / 10
            }
            Some(_) => return None,
        };
        total_micros += (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset_s)
            * 1_000_000
            + micros;
    }
    Some(total_micros as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_at_microsecond_precision() {
        for s in [0.0, 0.1, 9.9, 1_733_000_000.123_456, 86_399.999_999] {
            let f = format(s).unwrap();
            assert!((parse(&f).unwrap() - s).abs() < 1e-6, "{s} → {f}");
        }
        assert_eq!(format(0.1).unwrap(), "1970-01-01T00:00:00.100000Z");
        assert_eq!(parse("2024-02-29T12:00:00+02:00").unwrap(), 1_709_200_800.0);
        assert_eq!(parse("1970-01-02").unwrap(), 86_400.0);
    }

    #[test]
    fn malformed_instants_are_none() {
        for s in [
            "",
            "2024-02-30T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "abcd-01-01T00:00:00Z",
            "2024-01-01T00:00:00+99:00",
        ] {
            assert!(parse(s).is_none(), "{s}");
        }
        assert!(format(f64::NAN).is_none());
        assert!(format(1e300).is_none());
    }
}
