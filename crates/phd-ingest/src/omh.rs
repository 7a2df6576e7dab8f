//! Open mHealth / IEEE 1752.1 data points ↔ [`SensorTable`].
//!
//! A data point is `{"header": {"id", "creation_date_time", "schema_id": {"namespace", "name",
//! "version"}, …}, "body": {…}}`. Supported bodies (one sample each, time in
//! `effective_time_frame.date_time`, or the start of its `time_interval`):
//!
//! | schema | body fields | channels |
//! |---|---|---|
//! | `omh:acceleration:1.x/2.x` | `acceleration_x/y/z: {value, unit}` (unit `m/s^2`; `g`, `mg` converted) | `acc_x..z` |
//! | `phd:angular-velocity:1.0` (OMH has no gyroscope data point; values are the standard `omh:angular-velocity-unit-value`) | `angular_velocity_x/y/z: {value, unit}` (`rad/s`; `deg/s` converted) | `gyr_x..z` |
//! | `omh:heart-rate:1.x/2.x` | `heart_rate: {value, unit: "beats/min"}` | `heart_rate` |
//!
//! Recording, label and attribute columns (what the canonical CSV carries besides the
//! channels) travel in a header extension `"phd": {"recording", "label", "attributes"}`, which
//! other OMH consumers ignore. Input: a JSON array of data points, or one per line (NDJSON).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::aliases::{Quantity, unit_factor};
use crate::error::{IngestError, Result};
use crate::interchange::{Assembler, needs_recording, read_bounded, row_context};
use crate::read::ReadLimits;
use crate::table::SensorTable;
use crate::timefmt;

const FORMAT: &str = "Open mHealth";

#[derive(Debug, Deserialize, Serialize)]
struct SchemaId {
    namespace: String,
    name: String,
    version: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct PhdExtension {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recording: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Header {
    schema_id: SchemaId,
    #[serde(default)]
    phd: Option<PhdExtension>,
}

#[derive(Debug, Deserialize)]
struct UnitValue {
    #[serde(deserialize_with = "exact_f64")]
    value: f64,
    unit: String,
}

/// serde_json's default float parsing may be 1 ULP off; the number's text parsed by `str::parse`
/// is exact, so values written by [`write_omh`] come back bit for bit.
fn exact_f64<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    let raw: Box<serde_json::value::RawValue> = Deserialize::deserialize(d)?;
    raw.get()
        .trim()
        .parse::<f64>()
        .map_err(|_| serde::de::Error::custom(format!("`{}` is not a number", truncate(raw.get()))))
}

#[derive(Debug, Deserialize)]
struct TimeInterval {
    start_date_time: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TimeFrame {
    date_time: Option<String>,
    time_interval: Option<TimeInterval>,
}

#[derive(Debug, Deserialize)]
struct Body {
    effective_time_frame: Option<TimeFrame>,
    acceleration_x: Option<UnitValue>,
    acceleration_y: Option<UnitValue>,
    acceleration_z: Option<UnitValue>,
    angular_velocity_x: Option<UnitValue>,
    angular_velocity_y: Option<UnitValue>,
    angular_velocity_z: Option<UnitValue>,
    heart_rate: Option<UnitValue>,
}

#[derive(Debug, Deserialize)]
struct DataPoint {
    header: Header,
    body: Body,
}

fn bad(reason: String) -> IngestError {
    IngestError::Interchange {
        format: FORMAT,
        reason,
    }
}

/// Reads Open mHealth data points (see the module docs) into a table with canonical channel
/// names and units.
pub fn read_omh<R: Read>(reader: R, limits: &ReadLimits) -> Result<SensorTable> {
    let bytes = read_bounded(reader, crate::interchange::MAX_INTERCHANGE_BYTES, FORMAT)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| IngestError::NotUtf8 { line: 0 })?;
    let text = text.trim_start_matches('\u{feff}').trim();
    let points: Vec<DataPoint> = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|e| bad(format!("not a data point array: {e}")))?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| bad(format!("line {}: not a data point: {e}", i + 1)))
            })
            .collect::<Result<_>>()?
    };
    let mut asm = Assembler::new(FORMAT, limits.max_rows, limits.max_columns);
    for (i, p) in points.iter().enumerate() {
        let at = |reason: String| bad(format!("data point {i}: {reason}"));
        let s = &p.header.schema_id;
        let b = &p.body;
        let fields: Vec<(&str, Option<&UnitValue>, Quantity)> = match s.name.as_str() {
            "acceleration" if s.namespace == "omh" => vec![
                ("acc_x", b.acceleration_x.as_ref(), Quantity::Acceleration),
                ("acc_y", b.acceleration_y.as_ref(), Quantity::Acceleration),
                ("acc_z", b.acceleration_z.as_ref(), Quantity::Acceleration),
            ],
            "angular-velocity" if s.namespace == "phd" || s.namespace == "omh" => vec![
                (
                    "gyr_x",
                    b.angular_velocity_x.as_ref(),
                    Quantity::AngularVelocity,
                ),
                (
                    "gyr_y",
                    b.angular_velocity_y.as_ref(),
                    Quantity::AngularVelocity,
                ),
                (
                    "gyr_z",
                    b.angular_velocity_z.as_ref(),
                    Quantity::AngularVelocity,
                ),
            ],
            "heart-rate" if s.namespace == "omh" => {
                vec![("heart_rate", b.heart_rate.as_ref(), Quantity::HeartRate)]
            }
            _ => {
                return Err(at(format!(
                    "schema {}:{}:{} is not supported (acceleration, angular-velocity, heart-rate)",
                    truncate(&s.namespace),
                    truncate(&s.name),
                    truncate(&s.version)
                )));
            }
        };
        let frame = p
            .body
            .effective_time_frame
            .as_ref()
            .ok_or_else(|| at("no effective_time_frame".into()))?;
        let when = frame
            .date_time
            .as_deref()
            .or_else(|| {
                frame
                    .time_interval
                    .as_ref()
                    .and_then(|i| i.start_date_time.as_deref())
            })
            .ok_or_else(|| at("effective_time_frame has no date_time".into()))?;
        let t = timefmt::parse(when)
            .ok_or_else(|| at(format!("`{}` is not an RFC 3339 date-time", truncate(when))))?;
        let ext = p.header.phd.as_ref();
        let rec = ext.and_then(|e| e.recording).unwrap_or(0);
        let mut any = false;
        for (name, uv, q) in fields {
            let Some(uv) = uv else { continue };
            if !uv.value.is_finite() {
                return Err(at(format!("`{name}`: value {} is not finite", uv.value)));
            }
            let f = unit_factor(&uv.unit, q).ok_or_else(|| {
                at(format!(
                    "`{name}`: unit `{}` is not a unit of {}",
                    truncate(&uv.unit),
                    q.canonical_unit()
                ))
            })?;
            asm.set(rec, t, name, uv.value * f)?;
            any = true;
        }
        if !any {
            return Err(at(format!("{} body without a value", s.name)));
        }
        if let Some(e) = ext {
            if let Some(l) = &e.label {
                asm.label(rec, l)?;
            }
            for (k, v) in &e.attributes {
                asm.set_attribute(rec, t, k, v)?;
            }
        }
    }
    asm.finish()
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Writes `table` as a JSON array of Open mHealth data points, one per line: per row an
/// `omh:acceleration:2.0` point (when the table has `acc_*`), a `phd:angular-velocity:1.0`
/// point (`gyr_*`) and an `omh:heart-rate:2.0` point (`heart_rate`). Any other channel has no
/// OMH schema and is refused ([`IngestError::ExportChannel`]). Deterministic: the header's
/// `creation_date_time` is the sample time, ids are `<recording>-<row>-<kind>`.
pub fn write_omh<W: Write>(table: &SensorTable, mut w: W) -> Result<()> {
    table.validate()?;
    type Group = (
        &'static str,
        &'static str,
        &'static str,
        [(&'static str, &'static str); 3],
    );
    const GROUPS: [Group; 3] = [
        (
            "omh",
            "acceleration",
            "2.0",
            [
                ("acc_x", "acceleration_x"),
                ("acc_y", "acceleration_y"),
                ("acc_z", "acceleration_z"),
            ],
        ),
        (
            "phd",
            "angular-velocity",
            "1.0",
            [
                ("gyr_x", "angular_velocity_x"),
                ("gyr_y", "angular_velocity_y"),
                ("gyr_z", "angular_velocity_z"),
            ],
        ),
        (
            "omh",
            "heart-rate",
            "2.0",
            [("heart_rate", "heart_rate"), ("", ""), ("", "")],
        ),
    ];
    let unit = |schema: &str| match schema {
        "acceleration" => "m/s^2",
        "angular-velocity" => "rad/s",
        _ => "beats/min",
    };
    if let Some(c) = table.channel_names.iter().find(|c| {
        !GROUPS.iter().any(|g| {
            g.3.iter()
                .any(|(canon, _)| !canon.is_empty() && *canon == c.as_str())
        })
    }) {
        return Err(IngestError::ExportChannel {
            format: FORMAT,
            channel: c.clone(),
        });
    }
    // per group: (schema parts, [(channel index, body field)])
    let groups: Vec<(&Group, Vec<(usize, &str)>)> = GROUPS
        .iter()
        .map(|g| {
            let cols =
                g.3.iter()
                    .filter_map(|(canon, field)| table.channel_index(canon).map(|i| (i, *field)))
                    .collect::<Vec<_>>();
            (g, cols)
        })
        .filter(|(_, cols)| !cols.is_empty())
        .collect();
    let with_rec = needs_recording(table);
    let we = |source| IngestError::Write { source };
    w.write_all(b"[").map_err(we)?;
    let mut first = true;
    for row in 0..table.len() {
        let t = table.time[row];
        let when = timefmt::format(t).ok_or(IngestError::NonFiniteOutput {
            column: "t".into(),
            row,
        })?;
        let (rec, label) = row_context(table, row);
        let ext = (with_rec || !table.attributes.is_empty()).then(|| PhdExtension {
            recording: with_rec.then_some(rec),
            label: label.map(str::to_owned),
            attributes: table
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.values[row].clone()))
                .collect(),
        });
        for ((ns, name, version, _), cols) in &groups {
            let mut body = serde_json::Map::new();
            for (c, field) in cols {
                let v = table.channels[*c][row];
                if !v.is_finite() {
                    return Err(IngestError::NonFiniteOutput {
                        column: table.channel_names[*c].clone(),
                        row,
                    });
                }
                body.insert(
                    (*field).to_owned(),
                    serde_json::json!({ "value": v, "unit": unit(name) }),
                );
            }
            body.insert(
                "effective_time_frame".into(),
                serde_json::json!({ "date_time": when }),
            );
            let mut header = serde_json::json!({
                "id": format!("{rec}-{row}-{name}"),
                "creation_date_time": when,
                "schema_id": { "namespace": ns, "name": name, "version": version },
                "acquisition_provenance": { "source_name": "phd-exchange", "modality": "sensed" },
            });
            if let (Some(e), Some(h)) = (&ext, header.as_object_mut()) {
                h.insert(
                    "phd".into(),
                    serde_json::to_value(e).map_err(|e| bad(e.to_string()))?,
                );
            }
            let point = serde_json::json!({ "header": header, "body": body });
            w.write_all(if first { b"\n" } else { b",\n" })
                .map_err(we)?;
            serde_json::to_writer(&mut w, &point).map_err(|e| bad(e.to_string()))?;
            first = false;
        }
    }
    w.write_all(b"\n]\n").map_err(we)?;
    w.flush().map_err(we)
}
