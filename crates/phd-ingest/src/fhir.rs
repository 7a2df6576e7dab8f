//! FHIR R4 `Observation`s with `valueSampledData` ↔ [`SensorTable`].
//!
//! Read: one `Observation`, a `Bundle` of them (`entry[].resource`), or NDJSON (one resource per
//! line). Each `valueSampledData` (on the Observation or on each `component`) is one channel
//! (`dimensions` 1) or several interleaved (`dimensions` d: `<name>_x/_y/_z` for 3, else
//! `<name>_<i>`); its name comes from `code` (a coding of [`CHANNEL_SYSTEM`], else `code.text`,
//! else the first coding's `display`/`code`; LOINC 8867-4 is heart rate) and goes through the
//! column alias table. Sample `i` is at `effectiveDateTime` (or `effectivePeriod.start`) +
//! `i × period` ms (R5's `interval` + `intervalUnit` also read); its value is
//! `origin.value + factor × data[i]` in `origin`'s unit (`code`, else `unit`), converted to the
//! canonical unit. `E` (error), `L` / `U` (below / above the detection limits) are read as
//! missing (NaN), which the quality model rejects.
//!
//! Write: per recording and regular run of rows (a new run wherever the next time is off the
//! run's grid by more than 0.5 µs, or an attribute changes), one Observation with one
//! `component` per channel (`origin` 0, `factor` 1, exact decimals). Recording, label and
//! attribute columns travel as extensions of [`EXTENSION_BASE`].

use std::io::{Read, Write};

use serde::Deserialize;
use serde_json::json;

use crate::aliases::{Quantity, quantity_of, resolve, unit_factor};
use crate::error::{IngestError, Result};
use crate::interchange::{Assembler, needs_recording, read_bounded, row_context};
use crate::read::ReadLimits;
use crate::table::SensorTable;
use crate::timefmt;

const FORMAT: &str = "FHIR";

/// Code system of the channel codes this crate writes (`acc_x`, …).
pub const CHANNEL_SYSTEM: &str = "https://phd.exchange/fhir/CodeSystem/channel";
/// Prefix of the extension URLs (`recording`, `label`, `attribute`).
pub const EXTENSION_BASE: &str = "https://phd.exchange/fhir/StructureDefinition/";

#[derive(Debug, Deserialize)]
struct Coding {
    system: Option<String>,
    code: Option<String>,
    display: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FhirQuantity {
    value: Option<f64>,
    unit: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SampledData {
    origin: FhirQuantity,
    period: Option<f64>,
    interval: Option<f64>,
    interval_unit: Option<String>,
    factor: Option<f64>,
    dimensions: u64,
    data: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Component {
    code: CodeableConcept,
    value_sampled_data: Option<SampledData>,
}

#[derive(Debug, Deserialize)]
struct Period {
    start: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extension {
    url: String,
    value_integer: Option<i64>,
    value_string: Option<String>,
    #[serde(default)]
    extension: Vec<Extension>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    resource_type: String,
    // Bundle
    #[serde(default)]
    entry: Vec<Entry>,
    // Observation
    code: Option<CodeableConcept>,
    effective_date_time: Option<String>,
    effective_period: Option<Period>,
    value_sampled_data: Option<SampledData>,
    #[serde(default)]
    component: Vec<Component>,
    #[serde(default)]
    extension: Vec<Extension>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    resource: Option<Resource>,
}

fn bad(reason: String) -> IngestError {
    IngestError::Interchange {
        format: FORMAT,
        reason,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn channel_name(code: &CodeableConcept) -> Option<String> {
    code.coding
        .iter()
        .find(|c| c.system.as_deref() == Some(CHANNEL_SYSTEM))
        .and_then(|c| c.code.clone())
        .or_else(|| {
            code.coding
                .iter()
                .any(|c| {
                    c.system.as_deref() == Some("http://loinc.org")
                        && c.code.as_deref() == Some("8867-4")
                })
                .then(|| "heart_rate".to_owned())
        })
        .or_else(|| code.text.clone())
        .or_else(|| {
            code.coding
                .first()
                .and_then(|c| c.display.clone().or_else(|| c.code.clone()))
        })
}

/// Reads FHIR Observations (see the module docs) into a table with canonical channel names and
/// units.
pub fn read_fhir<R: Read>(reader: R, limits: &ReadLimits) -> Result<SensorTable> {
    let bytes = read_bounded(reader, crate::interchange::MAX_INTERCHANGE_BYTES, FORMAT)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| IngestError::NotUtf8 { line: 0 })?;
    let text = text.trim_start_matches('\u{feff}').trim();
    let mut resources: Vec<Resource> = Vec::new();
    match serde_json::from_str::<Resource>(text) {
        Ok(r) => resources.push(r),
        Err(whole) => {
            // NDJSON, one resource per line; a single-line document's error is the whole one
            if text.lines().filter(|l| !l.trim().is_empty()).count() < 2 {
                return Err(bad(format!("not a FHIR resource: {whole}")));
            }
            for (i, l) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                resources.push(
                    serde_json::from_str(l)
                        .map_err(|e| bad(format!("line {}: not a FHIR resource: {e}", i + 1)))?,
                );
            }
        }
    }
    let mut observations = Vec::new();
    for r in resources {
        match r.resource_type.as_str() {
            "Bundle" => observations.extend(
                r.entry
                    .into_iter()
                    .filter_map(|e| e.resource)
                    .filter(|r| r.resource_type == "Observation"),
            ),
            "Observation" => observations.push(r),
            other => {
                return Err(bad(format!(
                    "resourceType `{}`: expected Observation or Bundle",
                    truncate(other)
                )));
            }
        }
    }
    if observations.is_empty() {
        return Err(bad("no Observation".into()));
    }
    let mut asm = Assembler::new(FORMAT, limits.max_rows, limits.max_columns);
    for (i, o) in observations.iter().enumerate() {
        read_observation(o, limits, &mut asm).map_err(|e| match e {
            IngestError::Interchange { reason, .. } => bad(format!("Observation {i}: {reason}")),
            e => e,
        })?;
    }
    asm.finish()
}

fn read_observation(o: &Resource, limits: &ReadLimits, asm: &mut Assembler) -> Result<()> {
    let start = o
        .effective_date_time
        .as_deref()
        .or_else(|| o.effective_period.as_ref().and_then(|p| p.start.as_deref()))
        .ok_or_else(|| bad("no effectiveDateTime or effectivePeriod.start".into()))?;
    let t0 = timefmt::parse(start)
        .ok_or_else(|| bad(format!("`{}` is not a FHIR dateTime", truncate(start))))?;
    let mut rec = 0u32;
    let mut label = None;
    let mut attrs: Vec<(String, String)> = Vec::new();
    for e in &o.extension {
        match e.url.strip_prefix(EXTENSION_BASE) {
            Some("recording") => {
                rec = e
                    .value_integer
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| {
                        bad("recording extension without a valueInteger in u32".into())
                    })?;
            }
            Some("label") => label = e.value_string.clone(),
            Some("attribute") => {
                let part = |n: &str| {
                    e.extension
                        .iter()
                        .find(|x| x.url == n)
                        .and_then(|x| x.value_string.clone())
                };
                let (Some(n), Some(v)) = (part("name"), part("value")) else {
                    return Err(bad("attribute extension needs name and value".into()));
                };
                attrs.push((n, v));
            }
            _ => {}
        }
    }
    if let Some(l) = &label {
        asm.label(rec, l)?;
    }
    let mut series: Vec<(Option<String>, &SampledData)> = Vec::new();
    if let Some(sd) = &o.value_sampled_data {
        series.push((o.code.as_ref().and_then(channel_name), sd));
    }
    for c in &o.component {
        if let Some(sd) = &c.value_sampled_data {
            series.push((channel_name(&c.code), sd));
        }
    }
    if series.is_empty() {
        return Err(bad(
            "no valueSampledData (on the Observation or a component)".into(),
        ));
    }
    for (name, sd) in series {
        let name = name.ok_or_else(|| bad("sampled data without a code naming it".into()))?;
        read_sampled(&name, sd, t0, rec, &attrs, limits, asm)?;
    }
    Ok(())
}

/// One `SampledData` into the assembler, with the Observation's attributes on each of its rows.
fn read_sampled(
    name: &str,
    sd: &SampledData,
    t0: f64,
    rec: u32,
    attrs: &[(String, String)],
    limits: &ReadLimits,
    asm: &mut Assembler,
) -> Result<()> {
    let dims = usize::try_from(sd.dimensions)
        .ok()
        .filter(|d| (1..=limits.max_columns).contains(d))
        .ok_or_else(|| {
            bad(format!(
                "`{}`: dimensions {} outside 1..={}",
                truncate(name),
                sd.dimensions,
                limits.max_columns
            ))
        })?;
    let period_ms = match (sd.period, sd.interval) {
        (Some(p), _) => p,
        (None, Some(i)) => {
            i * match sd.interval_unit.as_deref().unwrap_or("ms") {
                "ms" => 1.0,
                "s" => 1000.0,
                "us" => 0.001,
                "min" => 60_000.0,
                u => return Err(bad(format!("intervalUnit `{}`", truncate(u)))),
            }
        }
        (None, None) => return Err(bad(format!("`{}`: no period", truncate(name)))),
    };
    if !(period_ms.is_finite() && period_ms > 0.0) {
        return Err(bad(format!("`{}`: period {period_ms} ms", truncate(name))));
    }
    let names: Vec<String> = match dims {
        1 => vec![name.to_owned()],
        3 => ["x", "y", "z"]
            .iter()
            .map(|a| format!("{name}_{a}"))
            .collect(),
        d => (0..d).map(|i| format!("{name}_{i}")).collect(),
    };
    // canonical names and unit factors (the origin's unit is the series' unit)
    let unit = sd.origin.code.as_deref().or(sd.origin.unit.as_deref());
    let mut targets = Vec::with_capacity(dims);
    for n in &names {
        // a unit in the name (`gyro_x (deg/s)`) applies when the origin has none
        let (canon, q, name_factor) = match resolve(n)? {
            Some(r) => (r.canonical.to_owned(), Some(r.quantity), r.factor),
            None => (n.clone(), quantity_of(n), 1.0),
        };
        let f = match (unit, q) {
            (Some(u), Some(q)) => unit_factor(u, q).ok_or_else(|| IngestError::ColumnUnit {
                column: n.clone(),
                unit: truncate(u),
                quantity: quantity_name(q),
                accepted: accepted(q),
            })?,
            _ => name_factor,
        };
        targets.push((canon, f));
    }
    let origin = sd.origin.value.unwrap_or(0.0);
    let factor = sd.factor.unwrap_or(1.0);
    let data = sd.data.as_deref().unwrap_or("");
    let mut k = 0usize;
    for tok in data.split_ascii_whitespace() {
        let (i, d) = (k / dims, k % dims);
        if i >= limits.max_rows {
            return Err(IngestError::TooManyRows {
                max: limits.max_rows,
            });
        }
        let raw = match tok {
            "E" | "L" | "U" => f64::NAN,
            t => t
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    bad(format!(
                        "`{}`: data token `{}`",
                        truncate(name),
                        truncate(t)
                    ))
                })?,
        };
        let (canon, f) = &targets[d];
        let t = t0 + i as f64 * period_ms / 1000.0;
        asm.set(rec, t, canon, (origin + factor * raw) * f)?;
        if d == 0 {
            for (n, v) in attrs {
                asm.set_attribute(rec, t, n, v)?;
            }
        }
        k += 1;
    }
    if !k.is_multiple_of(dims) {
        return Err(bad(format!(
            "`{}`: {k} data values are not a multiple of {dims} dimensions",
            truncate(name)
        )));
    }
    Ok(())
}

fn quantity_name(q: Quantity) -> &'static str {
    match q {
        Quantity::Acceleration => "acceleration",
        Quantity::AngularVelocity => "angular velocity",
        Quantity::MagneticField => "magnetic field",
        Quantity::HeartRate => "heart rate",
    }
}

fn accepted(q: Quantity) -> &'static str {
    match q {
        Quantity::Acceleration => "m/s2, [g], g, mg",
        Quantity::AngularVelocity => "rad/s, deg/s",
        Quantity::MagneticField => "uT, nT, mT, gauss",
        Quantity::HeartRate => "/min, {beats}/min, bpm",
    }
}

/// UCUM code of a canonical channel's unit (`None` for a channel of no known quantity: written
/// without a unit).
fn ucum(channel: &str) -> Option<&'static str> {
    quantity_of(channel).map(|q| match q {
        Quantity::Acceleration => "m/s2",
        Quantity::AngularVelocity => "rad/s",
        Quantity::MagneticField => "uT",
        Quantity::HeartRate => "/min",
    })
}

/// Writes `table` as a FHIR R4 `Bundle` (type `collection`) of Observations (see the module
/// docs). Deterministic: no ids or timestamps but the data's.
pub fn write_fhir<W: Write>(table: &SensorTable, mut w: W) -> Result<()> {
    table.validate()?;
    let with_rec = needs_recording(table);
    let we = |source| IngestError::Write { source };
    w.write_all(b"{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[")
        .map_err(we)?;
    let mut first = true;
    let mut start = 0usize;
    while start < table.len() {
        // a run: same recording, same attributes, on the grid of its first two rows
        let t0 = table.time[start];
        let mut end = start + 1;
        let mut period = None;
        while end < table.len()
            && table.recording[end] == table.recording[start]
            && table
                .attributes
                .iter()
                .all(|a| a.values[end] == a.values[start])
        {
            let p = *period.get_or_insert(table.time[end] - t0);
            let predicted = t0 + (end - start) as f64 * p;
            if !p.is_finite() || p <= 0.0 || (table.time[end] - predicted).abs() > 0.5e-6 {
                break;
            }
            end += 1;
        }
        let period_ms = period.filter(|_| end - start > 1).unwrap_or(1.0) * 1000.0;
        let when = timefmt::format(t0).ok_or(IngestError::NonFiniteOutput {
            column: "t".into(),
            row: start,
        })?;
        let mut components = Vec::with_capacity(table.channels.len());
        for (name, col) in table.channel_names.iter().zip(&table.channels) {
            let mut data = String::with_capacity((end - start) * 8);
            for (k, v) in col[start..end].iter().enumerate() {
                if !v.is_finite() {
                    return Err(IngestError::NonFiniteOutput {
                        column: name.clone(),
                        row: start + k,
                    });
                }
                if k > 0 {
                    data.push(' ');
                }
                data.push_str(&format!("{v}"));
            }
            let mut origin = json!({ "value": 0 });
            if let Some(u) = ucum(name) {
                origin = json!({ "value": 0, "unit": u, "system": "http://unitsofmeasure.org", "code": u });
            }
            components.push(json!({
                "code": { "coding": [{ "system": CHANNEL_SYSTEM, "code": name }], "text": name },
                "valueSampledData": {
                    "origin": origin,
                    "period": period_ms,
                    "factor": 1,
                    "dimensions": 1,
                    "data": data,
                }
            }));
        }
        let (rec, label) = row_context(table, start);
        let mut ext = Vec::new();
        if with_rec {
            ext.push(json!({ "url": format!("{EXTENSION_BASE}recording"), "valueInteger": rec }));
            if let Some(l) = label {
                ext.push(json!({ "url": format!("{EXTENSION_BASE}label"), "valueString": l }));
            }
        }
        for a in &table.attributes {
            ext.push(json!({
                "url": format!("{EXTENSION_BASE}attribute"),
                "extension": [
                    { "url": "name", "valueString": a.name },
                    { "url": "value", "valueString": a.values[start] },
                ]
            }));
        }
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": { "coding": [{ "system": CHANNEL_SYSTEM, "code": "sensor-sample" }], "text": "wearable sensor samples" },
            "effectivePeriod": {
                "start": when,
                "end": timefmt::format(table.time[end - 1]).unwrap_or_else(|| when.clone()),
            },
            "component": components,
        });
        if !ext.is_empty()
            && let Some(o) = obs.as_object_mut()
        {
            o.insert("extension".into(), serde_json::Value::Array(ext));
        }
        w.write_all(if first { b"\n" } else { b",\n" })
            .map_err(we)?;
        serde_json::to_writer(&mut w, &json!({ "resource": obs }))
            .map_err(|e| bad(e.to_string()))?;
        first = false;
        start = end;
    }
    w.write_all(b"\n]}\n").map_err(we)?;
    w.flush().map_err(we)
}
