//! Device column names → canonical channels, with units.
//!
//! Wearables and phone apps spell the same sensor many ways (`gyro_x`, `gyroscope_x`, `gx`,
//! `rotationRate.x`, `Gyro X (deg/s)`). The quality model is trained on canonical names in SI
//! units, so a column it would not recognise is never scored: before this table existed a file
//! with `gyro_x` headers was scored by the accelerometer-only model and a gyroscope in deg/s went
//! through unchecked. Every reader's output goes through [`map_columns`].
//!
//! Rules: names are compared case-insensitively, camelCase is split (`accelX` = `accel_x`), and
//! `-`, `.`, space read as `_`. A unit in brackets (`(deg/s)`, `[m/s^2]`) or as a known suffix
//! (`_deg_s`, `_g`, `_mg`, `_ms2`) is converted to the canonical unit, or refused when it is not
//! a unit of that quantity. A name without a unit is taken to be in the canonical unit already
//! (the quality model's wrong-scale check is what catches a silent deg/s gyroscope).

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};
use crate::table::SensorTable;

/// The physical quantity of a canonical channel; fixes its canonical unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantity {
    /// m/s² (SI).
    Acceleration,
    /// rad/s (SI).
    AngularVelocity,
    /// µT.
    MagneticField,
    /// beats per minute.
    HeartRate,
}

impl Quantity {
    /// The unit canonical channels of this quantity are in.
    pub fn canonical_unit(self) -> &'static str {
        match self {
            Self::Acceleration => "m/s^2",
            Self::AngularVelocity => "rad/s",
            Self::MagneticField => "uT",
            Self::HeartRate => "/min",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Acceleration => "acceleration",
            Self::AngularVelocity => "angular velocity",
            Self::MagneticField => "magnetic field",
            Self::HeartRate => "heart rate",
        }
    }

    fn accepted(self) -> &'static str {
        match self {
            Self::Acceleration => "m/s^2, g, mg",
            Self::AngularVelocity => "rad/s, deg/s",
            Self::MagneticField => "uT, nT, mT, gauss",
            Self::HeartRate => "bpm, /min",
        }
    }
}

const STANDARD_GRAVITY: f64 = 9.806_65;

/// Unit spellings (normalised: lower case, no spaces, `^`/`²` removed) → quantity, factor to
/// the canonical unit.
const UNITS: &[(&[&str], Quantity, f64)] = &[
    (
        &[
            "m/s2", "ms-2", "m/s/s", "ms2", "m_s2", "m_s_2", "mps2", "m/sec2",
        ],
        Quantity::Acceleration,
        1.0,
    ),
    (
        &["g", "gn", "g0", "[g]"],
        Quantity::Acceleration,
        STANDARD_GRAVITY,
    ),
    (&["mg"], Quantity::Acceleration, STANDARD_GRAVITY / 1000.0),
    (
        &["rad/s", "rads-1", "rad_s", "rads", "rad/sec", "radps"],
        Quantity::AngularVelocity,
        1.0,
    ),
    (
        &[
            "deg/s",
            "°/s",
            "degs-1",
            "deg_s",
            "degs",
            "dps",
            "degps",
            "deg/sec",
            "degree/s",
            "degrees/s",
        ],
        Quantity::AngularVelocity,
        std::f64::consts::PI / 180.0,
    ),
    (
        &["ut", "µt", "μt", "microtesla"],
        Quantity::MagneticField,
        1.0,
    ),
    (&["nt"], Quantity::MagneticField, 0.001),
    (&["mt"], Quantity::MagneticField, 1000.0),
    (&["gauss"], Quantity::MagneticField, 100.0),
    (
        &["bpm", "/min", "1/min", "beats/min", "min-1", "{beats}/min"],
        Quantity::HeartRate,
        1.0,
    ),
];

/// Unit suffixes recognised after an underscore (`gyro_x_deg_s`), longest first so `_mg` is not
/// read as `_g`.
const UNIT_SUFFIXES: &[&str] = &[
    "m_s_2", "deg_s", "rad_s", "m_s2", "mps2", "degps", "radps", "rads", "degs", "ms2", "dps",
    "bpm", "mg", "ut", "nt", "g",
];

/// Canonical channel → (quantity, device spellings after [`normalise_name`]).
const ALIASES: &[(&str, Quantity, &[&str])] = &[
    (
        "acc_x",
        Quantity::Acceleration,
        &[
            "acc_x",
            "accel_x",
            "accelerometer_x",
            "acceleration_x",
            "accelerometer_acceleration_x",
            "ax",
            "accx",
            "accelx",
        ],
    ),
    (
        "acc_y",
        Quantity::Acceleration,
        &[
            "acc_y",
            "accel_y",
            "accelerometer_y",
            "acceleration_y",
            "accelerometer_acceleration_y",
            "ay",
            "accy",
            "accely",
        ],
    ),
    (
        "acc_z",
        Quantity::Acceleration,
        &[
            "acc_z",
            "accel_z",
            "accelerometer_z",
            "acceleration_z",
            "accelerometer_acceleration_z",
            "az",
            "accz",
            "accelz",
        ],
    ),
    (
        "gyr_x",
        Quantity::AngularVelocity,
        &[
            "gyr_x",
            "gyro_x",
            "gyroscope_x",
            "gx",
            "gyrx",
            "gyrox",
            "rotation_rate_x",
            "rotationrate_x",
            "angular_velocity_x",
            "gyro_rotation_x",
        ],
    ),
    (
        "gyr_y",
        Quantity::AngularVelocity,
        &[
            "gyr_y",
            "gyro_y",
            "gyroscope_y",
            "gy",
            "gyry",
            "gyroy",
            "rotation_rate_y",
            "rotationrate_y",
            "angular_velocity_y",
            "gyro_rotation_y",
        ],
    ),
    (
        "gyr_z",
        Quantity::AngularVelocity,
        &[
            "gyr_z",
            "gyro_z",
            "gyroscope_z",
            "gz",
            "gyrz",
            "gyroz",
            "rotation_rate_z",
            "rotationrate_z",
            "angular_velocity_z",
            "gyro_rotation_z",
        ],
    ),
    (
        "mag_x",
        Quantity::MagneticField,
        &["mag_x", "magnetometer_x", "magnetic_field_x", "mx", "magx"],
    ),
    (
        "mag_y",
        Quantity::MagneticField,
        &["mag_y", "magnetometer_y", "magnetic_field_y", "my", "magy"],
    ),
    (
        "mag_z",
        Quantity::MagneticField,
        &["mag_z", "magnetometer_z", "magnetic_field_z", "mz", "magz"],
    ),
    (
        "heart_rate",
        Quantity::HeartRate,
        &["heart_rate", "heartrate", "hr", "pulse", "pulse_rate"],
    ),
];

/// The canonical channels, in table order of [`ALIASES`].
pub fn canonical_channels() -> impl Iterator<Item = (&'static str, Quantity)> {
    ALIASES.iter().map(|(c, q, _)| (*c, *q))
}

/// Quantity of a canonical channel name.
pub fn quantity_of(canonical: &str) -> Option<Quantity> {
    ALIASES
        .iter()
        .find(|(c, _, _)| *c == canonical)
        .map(|(_, q, _)| *q)
}

/// What one source column became.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnMapping {
    /// The header as the file wrote it.
    pub source: String,
    /// The canonical channel.
    pub canonical: String,
    /// The unit the header declared (`None`: none, taken as canonical).
    pub unit: Option<String>,
    /// Multiplier applied to reach the canonical unit (1 when none was needed).
    pub factor: f64,
}

/// What [`map_columns`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// Columns renamed or converted (a column already canonical and unit-less is not listed).
    pub mapped: Vec<ColumnMapping>,
    /// Numeric columns that are no known sensor channel (kept under their own name).
    pub unknown: Vec<String>,
}

/// Resolution of one header.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub canonical: &'static str,
    pub quantity: Quantity,
    pub unit: Option<String>,
    pub factor: f64,
}

/// Lower case, camelCase split, `-`/`.`/space → `_`, runs of `_` collapsed, trimmed.
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev: Option<char> = None;
    for c in name.trim().chars() {
        if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
            out.push('_');
        }
        let c = if matches!(c, '-' | '.' | ' ' | '\t' | '/') {
            '_'
        } else {
            c
        };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.extend(c.to_lowercase());
        }
        prev = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn normalise_unit(unit: &str) -> String {
    unit.trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '^' | '*'))
        .map(|c| if c == '²' { '2' } else { c })
        .collect()
}

/// Factor from `unit` to the canonical unit of `q`, or `None` if `unit` is not a unit of `q`.
pub fn unit_factor(unit: &str, q: Quantity) -> Option<f64> {
    let u = normalise_unit(unit);
    UNITS
        .iter()
        .find(|(spellings, uq, _)| *uq == q && spellings.contains(&u.as_str()))
        .map(|(_, _, f)| *f)
}

/// Splits `name (unit)` / `name [unit]`.
fn bracket_unit(name: &str) -> (&str, Option<&str>) {
    let t = name.trim();
    for (open, close) in [('(', ')'), ('[', ']')] {
        if t.ends_with(close)
            && let Some(i) = t.rfind(open)
        {
            let unit = &t[i + open.len_utf8()..t.len() - close.len_utf8()];
            return (t[..i].trim_end(), Some(unit));
        }
    }
    (t, None)
}

fn lookup(base: &str) -> Option<(&'static str, Quantity)> {
    ALIASES
        .iter()
        .find(|(_, _, spellings)| spellings.contains(&base))
        .map(|(c, q, _)| (*c, *q))
}

/// The canonical channel a header names, with its unit conversion; `Ok(None)` for a column
/// that is no known sensor channel. A known channel with a unit that is not one of its quantity
/// is an error ([`IngestError::ColumnUnit`]): never guessed.
pub fn resolve(header: &str) -> Result<Option<Resolved>> {
    let (base, unit) = bracket_unit(header);
    let base = normalise_name(base);
    let (canonical, quantity, unit) = if let Some((c, q)) = lookup(&base) {
        (c, q, unit.map(str::to_owned))
    } else {
        let suffixed = UNIT_SUFFIXES.iter().find_map(|s| {
            let stem = base.strip_suffix(s)?.strip_suffix('_')?;
            lookup(stem).map(|(c, q)| (c, q, (*s).to_owned()))
        });
        match (suffixed, unit) {
            (Some((c, q, s)), None) => (c, q, Some(s)),
            // `gyro_x_deg_s (rad/s)`: two units, refuse rather than pick one
            (Some((_, q, s)), Some(u)) => {
                return Err(IngestError::ColumnUnit {
                    column: header.to_owned(),
                    unit: format!("{s} and {u}"),
                    quantity: q.name(),
                    accepted: q.accepted(),
                });
            }
            (None, _) => return Ok(None),
        }
    };
    let factor = match &unit {
        None => 1.0,
        Some(u) => unit_factor(u, quantity).ok_or_else(|| IngestError::ColumnUnit {
            column: header.to_owned(),
            unit: u.clone(),
            quantity: quantity.name(),
            accepted: quantity.accepted(),
        })?,
    };
    Ok(Some(Resolved {
        canonical,
        quantity,
        unit,
        factor,
    }))
}

/// Renames every known sensor channel of `table` to its canonical name and converts it to the
/// canonical unit. Two columns meaning the same channel are an error naming both
/// ([`IngestError::AmbiguousColumns`]); channels that are no known sensor are kept under their
/// own name and listed in [`ColumnReport::unknown`].
pub fn map_columns(mut table: SensorTable) -> Result<(SensorTable, ColumnReport)> {
    let mut report = ColumnReport::default();
    let mut targets: Vec<(String, String)> = Vec::with_capacity(table.channel_names.len());
    for (i, name) in table.channel_names.iter().enumerate() {
        let target = match resolve(name)? {
            Some(r) => {
                if r.canonical != name || r.unit.is_some() {
                    report.mapped.push(ColumnMapping {
                        source: name.clone(),
                        canonical: r.canonical.to_owned(),
                        unit: r.unit.clone(),
                        factor: r.factor,
                    });
                }
                if r.factor != 1.0
                    && let Some(col) = table.channels.get_mut(i)
                {
                    col.iter_mut().for_each(|v| *v *= r.factor);
                }
                r.canonical.to_owned()
            }
            None => {
                report.unknown.push(name.clone());
                name.clone()
            }
        };
        if let Some((_, first)) = targets.iter().find(|(t, _)| *t == target) {
            return Err(IngestError::AmbiguousColumns {
                canonical: target,
                columns: vec![first.clone(), name.clone()],
            });
        }
        targets.push((target, name.clone()));
    }
    table.channel_names = targets.into_iter().map(|(t, _)| t).collect();
    Ok((table, report))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn camel_case_and_separators_normalise() {
        assert_eq!(normalise_name("rotationRate.x"), "rotation_rate_x");
        assert_eq!(normalise_name("AccX"), "acc_x");
        assert_eq!(normalise_name(" Gyro X "), "gyro_x");
        assert_eq!(normalise_name("HR"), "hr");
        assert_eq!(normalise_name("accelerometer-x"), "accelerometer_x");
    }

    #[test]
    fn suffix_units_do_not_shadow_each_other() {
        let r = resolve("acc_x_mg").unwrap().unwrap();
        assert_eq!((r.canonical, r.unit.as_deref()), ("acc_x", Some("mg")));
        assert!((r.factor - 0.009_806_65).abs() < 1e-12);
        let r = resolve("acc_x_g").unwrap().unwrap();
        assert!((r.factor - STANDARD_GRAVITY).abs() < 1e-12);
    }
}
