use std::io::Write;

use crate::error::{IngestError, Result};
use crate::table::{SensorTable, TimeUnit};

/// Media type recorded in the metadata for [`write_canonical_csv`] output.
pub const CANONICAL_FORMAT: &str = "text/csv; phd-canonical-v1";

fn fmt_f64(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else {
        format!("{v}")
    }
}

fn quote(s: &str) -> String {
    let needs = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Deterministic CSV serialisation ("phd-canonical-v1"), the exact plaintext that is sealed:
///
/// * UTF-8, `\n` line ends, a header line, no trailing spaces, no BOM;
/// * columns: `recording,label` (only if the table has more than one recording or any label),
///   then `t` (seconds) or `t_ms` (integer milliseconds), the channels in table order, then the
///   attribute columns in table order;
/// * numbers: Rust's shortest round-trip decimal (`{}` of f64, never an exponent), `-0` → `0`;
///   non-finite values are refused ([`IngestError::NonFiniteOutput`]) — invalid windows must be
///   filtered out before sealing;
/// * strings are quoted (RFC 4180, `""` escape) only if they contain `,` `"` CR LF or
///   leading/trailing space.
pub fn write_canonical_csv<W: Write>(table: &SensorTable, mut w: W) -> Result<()> {
    table.validate()?;
    let with_rec = table.recording_count() > 1 || table.labels.iter().any(Option::is_some);
    let mut header: Vec<String> = Vec::new();
    if with_rec {
        header.push("recording".into());
        header.push("label".into());
    }
    header.push(match table.time_unit {
        TimeUnit::Seconds => "t".into(),
        TimeUnit::Millis => "t_ms".into(),
    });
    header.extend(table.channel_names.iter().cloned());
    header.extend(table.attributes.iter().map(|a| a.name.clone()));
    let we = |source| IngestError::Write { source };
    let mut line = header
        .iter()
        .map(|h| quote(h))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    w.write_all(line.as_bytes()).map_err(we)?;
    for row in 0..table.len() {
        line.clear();
        if with_rec {
            let r = table.recording[row];
            let label = table
                .labels
                .get(r as usize)
                .cloned()
                .flatten()
                .unwrap_or_default();
            line.push_str(&format!("{r},{},", quote(&label)));
        }
        let t = table.time[row];
        if !t.is_finite() {
            return Err(IngestError::NonFiniteOutput {
                column: "t".into(),
                row,
            });
        }
        match table.time_unit {
            TimeUnit::Seconds => line.push_str(&fmt_f64(t)),
            TimeUnit::Millis => line.push_str(&format!("{}", (t * 1000.0).round() as i64)),
        }
        for (name, c) in table.channel_names.iter().zip(&table.channels) {
            let v = c[row];
            if !v.is_finite() {
                return Err(IngestError::NonFiniteOutput {
                    column: name.clone(),
                    row,
                });
            }
            line.push(',');
            line.push_str(&fmt_f64(v));
        }
        for a in &table.attributes {
            line.push(',');
            line.push_str(&quote(&a.values[row]));
        }
        line.push('\n');
        w.write_all(line.as_bytes()).map_err(we)?;
    }
    w.flush().map_err(we)
}

/// [`write_canonical_csv`] into a byte vector.
pub fn canonical_csv_bytes(table: &SensorTable) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    write_canonical_csv(table, &mut v)?;
    Ok(v)
}
