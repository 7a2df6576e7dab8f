use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{IngestError, Result};
use crate::table::{Attribute, SensorTable};

/// Hex characters kept from the HMAC-SHA256 output (16 bytes = 128 bits).
pub const HASH_HEX_LEN: usize = 32;

/// What the built-in classifier thinks a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnClass {
    /// name, e-mail, address, phone, national id, precise location … → drop
    DirectIdentifier,
    /// device serial, IMEI, MAC … → keyed hash
    DeviceIdentifier,
    /// → 10-year band
    Age,
    /// → 10 kg band
    Weight,
    /// sex / gender → keep
    Sex,
    /// a known sensor channel → keep
    Sensor,
    /// a time column → keep
    Time,
}

impl ColumnClass {
    /// String attribute (as opposed to a numeric sensor/time column).
    pub fn is_attribute(self) -> bool {
        !matches!(self, Self::Sensor | Self::Time)
    }
}

fn norm(name: &str) -> String {
    name.trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c == '-' || c == ' ' || c == '.' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Built-in classifier of column names (case-insensitive, `-`/space/`.` treated as `_`).
pub fn classify_column(name: &str) -> Option<ColumnClass> {
    let n = norm(name);
    const DIRECT: &[&str] = &[
        "name",
        "first_name",
        "firstname",
        "last_name",
        "lastname",
        "surname",
        "full_name",
        "fullname",
        "given_name",
        "family_name",
        "email",
        "e_mail",
        "mail",
        "email_address",
        "address",
        "street",
        "street_address",
        "city",
        "zip",
        "zip_code",
        "postcode",
        "postal_code",
        "phone",
        "phone_number",
        "telephone",
        "mobile",
        "ssn",
        "social_security_number",
        "national_id",
        "passport",
        "tax_id",
        "insurance_number",
        "patient_id",
        "user_id",
        "username",
        "user_name",
        "birth_date",
        "date_of_birth",
        "dob",
        "birthday",
        "ip",
        "ip_address",
        "lat",
        "lon",
        "lng",
        "latitude",
        "longitude",
        "gps",
        "location",
    ];
    const DEVICE: &[&str] = &[
        "serial",
        "serial_number",
        "serial_no",
        "device_id",
        "device_serial",
        "deviceid",
        "imei",
        "mac",
        "mac_address",
        "bluetooth_address",
        "device_uuid",
        "uuid",
        "udid",
    ];
    const TIME: &[&str] = &[
        "time",
        "timestamp",
        "t",
        "time_s",
        "t_ms",
        "time_ms",
        "timestamp_ms",
        "datetime",
    ];
    const SENSOR_PREFIX: &[&str] = &[
        "acc",
        "accel",
        "gyr",
        "gyro",
        "mag",
        "magnetometer",
        "hr",
        "heart_rate",
        "heartrate",
        "bpm",
        "ecg",
        "ppg",
        "bvp",
        "eda",
        "gsr",
        "spo2",
        "temp",
        "skin_temp",
        "temperature",
        "steps",
        "resp",
        "respiration",
        "ibi",
        "rr",
        "emg",
        "eeg",
        "pressure",
        "baro",
        "quat",
        "grav",
        "linacc",
    ];
    if DIRECT.contains(&n.as_str()) {
        return Some(ColumnClass::DirectIdentifier);
    }
    if DEVICE.contains(&n.as_str()) {
        return Some(ColumnClass::DeviceIdentifier);
    }
    if TIME.contains(&n.as_str()) {
        return Some(ColumnClass::Time);
    }
    match n.as_str() {
        "age" | "age_years" => return Some(ColumnClass::Age),
        "weight" | "weight_kg" | "body_weight" => return Some(ColumnClass::Weight),
        "sex" | "gender" => return Some(ColumnClass::Sex),
        "x" | "y" | "z" => return Some(ColumnClass::Sensor),
        _ => {}
    }
    // sensor channels: a known prefix followed by end, `_`, or an axis/digit suffix
    let is_sensor = SENSOR_PREFIX.iter().any(|p| {
        n.strip_prefix(p).is_some_and(|rest| {
            rest.is_empty()
                || rest.starts_with('_')
                || rest
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, 'x' | 'y' | 'z'))
        })
    });
    is_sensor.then_some(ColumnClass::Sensor)
}

/// What happens to one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnAction {
    Keep,
    Drop,
    KeyedHash,
    /// 10-unit band (`30-39`); age and weight both use 10-unit bands.
    Coarsen,
}

/// Owner's pseudonymisation choices; explicit entries override the built-in classifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PseudonymisePolicy {
    pub drop: Vec<String>,
    pub keyed_hash: Vec<String>,
    pub coarsen: Vec<String>,
    pub keep: Vec<String>,
}

impl PseudonymisePolicy {
    fn explicit(&self, name: &str) -> Option<ColumnAction> {
        let has = |v: &[String]| v.iter().any(|c| c == name);
        if has(&self.drop) {
            Some(ColumnAction::Drop)
        } else if has(&self.keyed_hash) {
            Some(ColumnAction::KeyedHash)
        } else if has(&self.coarsen) {
            Some(ColumnAction::Coarsen)
        } else if has(&self.keep) {
            Some(ColumnAction::Keep)
        } else {
            None
        }
    }

    /// Action for a column: explicit policy first, then the classifier; `None` = unclassified.
    pub fn action_for(&self, name: &str) -> Option<ColumnAction> {
        self.explicit(name).or_else(|| {
            classify_column(name).map(|c| match c {
                ColumnClass::DirectIdentifier => ColumnAction::Drop,
                ColumnClass::DeviceIdentifier => ColumnAction::KeyedHash,
                ColumnClass::Age | ColumnClass::Weight => ColumnAction::Coarsen,
                ColumnClass::Sex | ColumnClass::Sensor | ColumnClass::Time => ColumnAction::Keep,
            })
        })
    }
}

/// What was done, for the metadata / the owner's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PseudonymiseReport {
    pub dropped: Vec<String>,
    pub hashed: Vec<String>,
    pub coarsened: Vec<String>,
    pub kept: Vec<String>,
    /// hex characters of each keyed hash (HMAC-SHA256 truncated)
    pub hash_hex_len: usize,
}

/// `hex(HMAC-SHA256(owner_key, column ‖ 0x00 ‖ value))[..32]` — 128 bits, stable per owner key,
/// unlinkable across owners. Column name is bound in so equal values in different columns differ.
pub fn keyed_hash(owner_key: &[u8], column: &str, value: &str) -> Result<String> {
    if owner_key.len() < 16 {
        return Err(IngestError::WeakKey);
    }
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(owner_key).map_err(|_| IngestError::WeakKey)?;
    mac.update(column.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    let out = mac.finalize().into_bytes();
    let mut h = hex::encode(out);
    h.truncate(HASH_HEX_LEN);
    Ok(h)
}

fn band(v: f64, max: f64) -> Option<String> {
    if !(v.is_finite() && v >= 0.0 && v < max) {
        return None;
    }
    let lo = (v / 10.0).floor() as u32 * 10;
    Some(format!("{lo}-{}", lo + 9))
}

/// Age in years → 10-year band (`34` → `30-39`). `None` outside 0..150.
pub fn coarsen_age(v: &str) -> Option<String> {
    band(v.trim().parse().ok()?, 150.0)
}

/// Weight in kg → 10 kg band (`72.5` → `70-79`). `None` outside 0..700.
pub fn coarsen_weight(v: &str) -> Option<String> {
    band(v.trim().parse().ok()?, 700.0)
}

/// Identifier-looking values in a column that will be kept.
fn identifier_kind(v: &str) -> Option<&'static str> {
    let v = v.trim();
    if let Some((local, domain)) = v.split_once('@')
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
    {
        return Some("e-mail address");
    }
    let digits = v.chars().filter(char::is_ascii_digit).count();
    if digits >= 9
        && v.chars()
            .all(|c| c.is_ascii_digit() || " +-()/.".contains(c))
    {
        return Some("phone/ID-like number");
    }
    None
}

/// Apply the policy. Every column must be classified (built-in or explicit), otherwise
/// [`IngestError::UnclassifiedColumn`]. Kept string columns are scanned for e-mail- and
/// phone-like values ([`IngestError::IdentifierInKeptColumn`]).
pub fn pseudonymise(
    table: &SensorTable,
    policy: &PseudonymisePolicy,
    owner_key: &[u8],
) -> Result<(SensorTable, PseudonymiseReport)> {
    table.validate()?;
    let mut rep = PseudonymiseReport {
        hash_hex_len: HASH_HEX_LEN,
        ..Default::default()
    };
    let mut names = Vec::new();
    let mut chans = Vec::new();
    for (name, col) in table.channel_names.iter().zip(&table.channels) {
        match policy.action_for(name) {
            None => return Err(IngestError::UnclassifiedColumn { name: name.clone() }),
            Some(ColumnAction::Keep) => {
                rep.kept.push(name.clone());
                names.push(name.clone());
                chans.push(col.clone());
            }
            Some(ColumnAction::Drop) => rep.dropped.push(name.clone()),
            Some(ColumnAction::KeyedHash) => {
                return Err(IngestError::ChannelPolicy {
                    column: name.clone(),
                    action: "keyed-hashed",
                });
            }
            Some(ColumnAction::Coarsen) => {
                return Err(IngestError::ChannelPolicy {
                    column: name.clone(),
                    action: "coarsened",
                });
            }
        }
    }
    let mut attrs = Vec::new();
    for a in &table.attributes {
        let action = policy
            .action_for(&a.name)
            .ok_or_else(|| IngestError::UnclassifiedColumn {
                name: a.name.clone(),
            })?;
        let values = match action {
            ColumnAction::Drop => {
                rep.dropped.push(a.name.clone());
                continue;
            }
            ColumnAction::KeyedHash => {
                rep.hashed.push(a.name.clone());
                a.values
                    .iter()
                    .map(|v| keyed_hash(owner_key, &a.name, v))
                    .collect::<Result<Vec<_>>>()?
            }
            ColumnAction::Coarsen => {
                rep.coarsened.push(a.name.clone());
                let weight = classify_column(&a.name) == Some(ColumnClass::Weight);
                a.values
                    .iter()
                    .enumerate()
                    .map(|(row, v)| {
                        if v.trim().is_empty() {
                            return Ok(String::new());
                        }
                        let b = if weight {
                            coarsen_weight(v)
                        } else {
                            coarsen_age(v)
                        };
                        b.ok_or_else(|| IngestError::NotCoarsenable {
                            column: a.name.clone(),
                            row,
                            value: v.chars().take(32).collect(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            ColumnAction::Keep => {
                if let Some((row, kind)) = a
                    .values
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| identifier_kind(v).map(|k| (i, k)))
                {
                    return Err(IngestError::IdentifierInKeptColumn {
                        column: a.name.clone(),
                        row,
                        kind,
                    });
                }
                rep.kept.push(a.name.clone());
                a.values.clone()
            }
        };
        attrs.push(Attribute {
            name: a.name.clone(),
            values,
        });
    }
    // labels are kept values too
    for (row, l) in table.labels.iter().enumerate() {
        if let Some(kind) = l.as_deref().and_then(identifier_kind) {
            return Err(IngestError::IdentifierInKeptColumn {
                column: "label".into(),
                row,
                kind,
            });
        }
    }
    let out = SensorTable {
        time_unit: table.time_unit,
        time: table.time.clone(),
        channel_names: names,
        channels: chans,
        attributes: attrs,
        recording: table.recording.clone(),
        labels: table.labels.clone(),
        sampling_rate_hz: table.sampling_rate_hz,
    };
    Ok((out, rep))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn classifier() {
        assert_eq!(
            classify_column("E-Mail"),
            Some(ColumnClass::DirectIdentifier)
        );
        assert_eq!(
            classify_column("device_serial"),
            Some(ColumnClass::DeviceIdentifier)
        );
        assert_eq!(classify_column("acc_x"), Some(ColumnClass::Sensor));
        assert_eq!(classify_column("gyro1"), Some(ColumnClass::Sensor));
        assert_eq!(classify_column("accountant"), None);
        assert_eq!(classify_column("mood"), None);
        assert_eq!(coarsen_age("34").as_deref(), Some("30-39"));
        assert_eq!(coarsen_weight("72.5").as_deref(), Some("70-79"));
        assert_eq!(coarsen_age("-1"), None);
        assert_eq!(identifier_kind("bob@example.org"), Some("e-mail address"));
        assert_eq!(
            identifier_kind("+44 20 7946 0958"),
            Some("phone/ID-like number")
        );
        assert_eq!(identifier_kind("female"), None);
    }
}
