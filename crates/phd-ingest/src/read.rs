use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{IngestError, Result};
use crate::pseudo::{ColumnClass, classify_column};
use crate::table::{Attribute, SensorTable, TimeUnit};

/// Hostile-input limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Longest accepted line in bytes (without the newline). Default 1 MiB.
    pub max_line_bytes: usize,
    /// Most columns (CSV) or channels (`.ts`). Default 1024.
    pub max_columns: usize,
    /// Most data rows (CSV rows, `.ts` samples). Default 50 million.
    pub max_rows: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: 1 << 20,
            max_columns: 1024,
            max_rows: 50_000_000,
        }
    }
}

/// What to do with NaN / ±inf / empty numeric fields in channel columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonFinitePolicy {
    /// Keep them as NaN/inf so the quality layer can mark the window invalid (default).
    #[default]
    Keep,
    /// Fail with [`IngestError::NonFinite`].
    Reject,
}

/// How to interpret the time column of a CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeUnitHint {
    /// `Millis` if the column name ends in `ms` (e.g. `timestamp_ms`), else `Seconds`.
    #[default]
    Auto,
    Seconds,
    Millis,
}

/// Reader options.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Name of the time column; default: first of `time`, `timestamp`, `t`, `time_s`, `t_ms`,
    /// `time_ms`, `timestamp_ms` (case-insensitive).
    pub time_column: Option<String>,
    pub time_unit: TimeUnitHint,
    pub non_finite: NonFinitePolicy,
    /// Accept time that does not strictly increase within a recording (the quality layer then
    /// flags those windows). Default false: such input is an error.
    pub allow_non_monotonic_time: bool,
    /// Extra columns to read as strings (attributes) rather than numeric channels. Columns the
    /// built-in classifier recognises as identifiers/attributes are strings anyway.
    pub attribute_columns: Vec<String>,
    /// `.ts`: sampling rate if the header declares none. Default 10 Hz.
    pub sampling_rate_hz: Option<f64>,
    /// `.ts`: channel names (default `acc_x..gyr_z` for 6 dimensions, else `ch0..`).
    pub channel_names: Option<Vec<String>>,
    pub limits: ReadLimits,
}

/// Time column names recognised (case-insensitive, first match wins); a name ending in `ms`,
/// `us` or `ns` is in milli-, micro- or nanoseconds unless [`ReadOptions::time_unit`] says
/// otherwise.
pub const TIME_CANDIDATES: [&str; 16] = [
    "time",
    "timestamp",
    "t",
    "time_s",
    "timestamp_s",
    "seconds_elapsed",
    "elapsed_s",
    "t_ms",
    "time_ms",
    "timestamp_ms",
    "unix_ms",
    "epoch_ms",
    "time_us",
    "timestamp_us",
    "time_ns",
    "timestamp_ns",
];

/// Units of a time column per second, from its name: 1000 for `…ms`, 10⁶ for `…us`, 10⁹ for
/// `…ns`, else 1 (seconds).
pub fn time_units_per_second(name: &str) -> f64 {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with("ms") {
        1e3
    } else if n.ends_with("us") {
        1e6
    } else if n.ends_with("ns") {
        1e9
    } else {
        1.0
    }
}

/// Index of the time column in `header` (see [`TIME_CANDIDATES`]).
pub fn time_column_index<S: AsRef<str>>(header: &[S]) -> Option<usize> {
    TIME_CANDIDATES.iter().find_map(|c| {
        header
            .iter()
            .position(|h| h.as_ref().trim().eq_ignore_ascii_case(c))
    })
}

/// Line reader that never buffers more than `max` bytes of one line: a 10 GB line without a
/// newline fails with [`IngestError::LineTooLong`] after reading `max + 1` bytes of it.
#[derive(Debug)]
pub struct LimitedLineReader<R> {
    inner: R,
    max: usize,
    line_no: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LimitedLineReader<R> {
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        Self {
            inner,
            max: max_line_bytes,
            line_no: 0,
            buf: Vec::new(),
        }
    }

    /// 1-based number of the line last returned.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Next line (1-based line number, text without its `\n` / `\r\n`), or `None` at end.
    pub fn next_line(&mut self) -> Result<Option<(u64, &str)>> {
        self.buf.clear();
        self.line_no += 1;
        let line = self.line_no;
        let mut saw_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(IngestError::Io { line, source }),
            };
            if chunk.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
                Some(p) => (p, true),
                None => (chunk.len(), false),
            };
            if self.buf.len() + take > self.max {
                return Err(IngestError::LineTooLong {
                    line,
                    max: self.max,
                });
            }
            self.buf.extend_from_slice(&chunk[..take]);
            self.inner.consume(if done { take + 1 } else { take });
            if done {
                break;
            }
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        std::str::from_utf8(&self.buf)
            .map(|s| Some((line, s)))
            .map_err(|_| IngestError::NotUtf8 { line })
    }
}

/// Split one CSV line (RFC 4180 quoting with `""` escapes; no embedded newlines).
fn split_csv(line: &str, line_no: u64, max_cols: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut chars = line.chars().peekable();
    let mut field_start = true;
    while let Some(c) = chars.next() {
        if in_q {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    in_q = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && field_start {
            in_q = true;
            field_start = false;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            if out.len() >= max_cols {
                return Err(IngestError::TooManyColumns {
                    line: line_no,
                    found: out.len() + 1,
                    max: max_cols,
                });
            }
            field_start = true;
        } else {
            cur.push(c);
            field_start = false;
        }
    }
    out.push(cur);
    Ok(out)
}

fn parse_num(
    s: &str,
    line: u64,
    column: usize,
    name: &str,
    policy: NonFinitePolicy,
) -> Result<f64> {
    let t = s.trim();
    let v = if t.is_empty() || t == "?" {
        f64::NAN
    } else {
        t.parse::<f64>().map_err(|_| IngestError::NotANumber {
            line,
            column,
            name: name.to_owned(),
            value: truncate(t),
        })?
    };
    if !v.is_finite() && policy == NonFinitePolicy::Reject {
        return Err(IngestError::NonFinite {
            line,
            column,
            name: name.to_owned(),
            value: truncate(t),
        });
    }
    Ok(v)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Read a CSV file from a path (see [`read_csv`]).
pub fn read_csv_path(path: &Path, opts: &ReadOptions) -> Result<SensorTable> {
    let f = File::open(path).map_err(|source| IngestError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_csv(BufReader::new(f), opts)
}

/// Read a CSV with a header row and a time column.
///
/// Columns: the time column; optional `recording` (integer) and `label` columns (as written by
/// [`crate::write_canonical_csv`]); attribute columns (string) = columns the built-in classifier
/// recognises as identifiers/attributes plus [`ReadOptions::attribute_columns`]; every other
/// column is a numeric channel.
pub fn read_csv<R: BufRead>(reader: R, opts: &ReadOptions) -> Result<SensorTable> {
    let lim = opts.limits;
    let mut lr = LimitedLineReader::new(reader, lim.max_line_bytes);
    let header = loop {
        match lr.next_line()? {
            None => return Err(IngestError::Empty),
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((line, l)) => {
                break split_csv(l.trim_start_matches('\u{feff}'), line, lim.max_columns)?;
            }
        }
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
    for (i, h) in header.iter().enumerate() {
        if h.is_empty() {
            return Err(IngestError::EmptyColumnName { column: i + 1 });
        }
        if header[..i].iter().any(|p| p == h) {
            return Err(IngestError::DuplicateColumn { name: h.clone() });
        }
    }
    let time_idx = match &opts.time_column {
        Some(n) => header.iter().position(|h| h == n),
        None => time_column_index(&header),
    }
    .ok_or_else(|| IngestError::NoTimeColumn {
        candidates: opts.time_column.clone().map_or_else(
            || TIME_CANDIDATES.iter().map(|s| (*s).to_owned()).collect(),
            |n| vec![n],
        ),
    })?;
    let time_name = &header[time_idx];
    // units of the time column per second
    let (unit, per_second) = match opts.time_unit {
        TimeUnitHint::Seconds => (TimeUnit::Seconds, 1.0),
        TimeUnitHint::Millis => (TimeUnit::Millis, 1e3),
        TimeUnitHint::Auto => {
            let per_second = time_units_per_second(time_name);
            let unit = if per_second == 1e3 {
                TimeUnit::Millis
            } else {
                TimeUnit::Seconds
            };
            (unit, per_second)
        }
    };
    let rec_idx = header.iter().position(|h| h == "recording");
    let label_idx = header.iter().position(|h| h == "label");
    #[derive(Clone, Copy)]
    enum Kind {
        Time,
        Rec,
        Label,
        Chan(usize),
        Attr(usize),
    }
    let mut kinds = Vec::with_capacity(header.len());
    let (mut channel_names, mut attr_names) = (Vec::new(), Vec::new());
    for (i, h) in header.iter().enumerate() {
        let k = if i == time_idx {
            Kind::Time
        } else if Some(i) == rec_idx {
            Kind::Rec
        } else if Some(i) == label_idx {
            Kind::Label
        } else if opts.attribute_columns.iter().any(|a| a == h)
            || classify_column(h).is_some_and(ColumnClass::is_attribute)
        {
            attr_names.push(h.clone());
            Kind::Attr(attr_names.len() - 1)
        } else {
            channel_names.push(h.clone());
            Kind::Chan(channel_names.len() - 1)
        };
        kinds.push(k);
    }
    let mut time = Vec::new();
    let mut channels: Vec<Vec<f64>> = vec![Vec::new(); channel_names.len()];
    let mut attrs: Vec<Vec<String>> = vec![Vec::new(); attr_names.len()];
    let mut recording: Vec<u32> = Vec::new();
    let mut labels: Vec<Option<String>> = Vec::new();
    while let Some((line, l)) = lr.next_line()? {
        if l.trim().is_empty() {
            continue;
        }
        if time.len() >= lim.max_rows {
            return Err(IngestError::TooManyRows { max: lim.max_rows });
        }
        let fields = split_csv(l, line, lim.max_columns)?;
        if fields.len() != header.len() {
            return Err(IngestError::ColumnCount {
                line,
                expected: header.len(),
                found: fields.len(),
            });
        }
        let mut rec = 0u32;
        let mut label = None;
        for (i, (f, k)) in fields.into_iter().zip(&kinds).enumerate() {
            match *k {
                Kind::Time => {
                    let v = parse_num(&f, line, i + 1, &header[i], NonFinitePolicy::Reject)?;
                    time.push(v / per_second);
                }
                Kind::Rec => {
                    rec = f
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| IngestError::NotANumber {
                            line,
                            column: i + 1,
                            name: header[i].clone(),
                            value: truncate(&f),
                        })?;
                }
                Kind::Label => label = Some(f),
                Kind::Chan(c) => {
                    channels[c].push(parse_num(&f, line, i + 1, &header[i], opts.non_finite)?)
                }
                Kind::Attr(a) => attrs[a].push(f),
            }
        }
        if let Some(&prev) = recording.last()
            && rec < prev
        {
            return Err(IngestError::TsFormat {
                line,
                reason: format!(
                    "recording id {rec} after {prev}: recordings must be contiguous and ascending"
                ),
            });
        }
        if !opts.allow_non_monotonic_time
            && recording.last() == Some(&rec)
            && let (Some(&t1), Some(&t0)) = (
                time.last(),
                time.len().checked_sub(2).and_then(|i| time.get(i)),
            )
            && t1 <= t0
        {
            return Err(IngestError::NonMonotonicTime {
                line,
                recording: rec,
                previous: t0,
                time: t1,
            });
        }
        let r = rec as usize;
        if r >= labels.len() {
            if r > lim.max_rows {
                return Err(IngestError::TooManyRows { max: lim.max_rows });
            }
            labels.resize(r + 1, None);
        }
        if let (Some(l), Some(slot)) = (label, labels.get_mut(r))
            && !l.is_empty()
        {
            *slot = Some(l);
        }
        recording.push(rec);
    }
    if time.is_empty() {
        return Err(IngestError::Empty);
    }
    let table = SensorTable {
        time_unit: unit,
        time,
        channel_names,
        channels,
        attributes: attr_names
            .into_iter()
            .zip(attrs)
            .map(|(name, values)| Attribute { name, values })
            .collect(),
        recording,
        labels,
        sampling_rate_hz: None,
    };
    Ok(table)
}

/// Read a `.ts` file from a path (see [`read_ts`]).
pub fn read_ts_path(path: &Path, opts: &ReadOptions) -> Result<SensorTable> {
    let f = File::open(path).map_err(|source| IngestError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_ts(BufReader::new(f), opts)
}

/// Read the UEA/sktime `.ts` format (BasicMotions). Header lines start with `#` (comment) or
/// `@` (`@dimensions`, `@seriesLength`, `@classLabel true|false ...`, optional
/// `@samplingRate <hz>`); each data line is one recording: channels separated by `:`, samples
/// by `,`, then `:label` if class labels are declared. Time is synthetic: `i / rate` seconds
/// from the start of each recording.
pub fn read_ts<R: BufRead>(reader: R, opts: &ReadOptions) -> Result<SensorTable> {
    let lim = opts.limits;
    let mut lr = LimitedLineReader::new(reader, lim.max_line_bytes);
    let mut dims: Option<usize> = None;
    let mut series_len: Option<usize> = None;
    let mut has_labels = false;
    let mut class_names: Vec<String> = Vec::new();
    let mut rate = opts.sampling_rate_hz;
    let mut in_data = false;
    let mut channels: Vec<Vec<f64>> = Vec::new();
    let mut time = Vec::new();
    let mut recording = Vec::new();
    let mut labels = Vec::new();
    let mut saw_anything = false;
    while let Some((line, l)) = lr.next_line()? {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            saw_anything |= !l.is_empty();
            continue;
        }
        saw_anything = true;
        if let Some(h) = l.strip_prefix('@') {
            let mut it = h.split_whitespace();
            let key = it.next().unwrap_or("").to_ascii_lowercase();
            let val = it.next();
            let bad = |reason: String| IngestError::TsFormat { line, reason };
            match key.as_str() {
                "dimensions" => {
                    let d = val
                        .and_then(|v| v.parse::<usize>().ok())
                        .ok_or_else(|| bad("bad @dimensions".into()))?;
                    if d == 0 || d > lim.max_columns {
                        return Err(IngestError::TooManyColumns {
                            line,
                            found: d,
                            max: lim.max_columns,
                        });
                    }
                    dims = Some(d);
                }
                "serieslength" => {
                    series_len = Some(
                        val.and_then(|v| v.parse::<usize>().ok())
                            .ok_or_else(|| bad("bad @seriesLength".into()))?,
                    );
                }
                "classlabel" => {
                    has_labels = val.is_some_and(|v| v.eq_ignore_ascii_case("true"));
                    class_names = it.map(str::to_owned).collect();
                }
                "samplingrate" | "frequency" => {
                    let r = val
                        .and_then(|v| v.parse::<f64>().ok())
                        .ok_or_else(|| bad("bad @samplingRate".into()))?;
                    rate = Some(r);
                }
                "data" => in_data = true,
                _ => {}
            }
            continue;
        }
        if !in_data {
            return Err(IngestError::TsFormat {
                line,
                reason: "data before @data".into(),
            });
        }
        let rate = rate.unwrap_or(10.0);
        if !(rate.is_finite() && rate > 0.0) {
            return Err(IngestError::BadSamplingRate { rate });
        }
        let mut parts: Vec<&str> = l.split(':').collect();
        if parts.len() > lim.max_columns + 1 {
            return Err(IngestError::TooManyColumns {
                line,
                found: parts.len(),
                max: lim.max_columns,
            });
        }
        let label = if has_labels {
            let lab = parts.pop().unwrap_or("").trim().to_owned();
            if !class_names.is_empty() && !class_names.contains(&lab) {
                return Err(IngestError::TsFormat {
                    line,
                    reason: format!("label `{}` not declared in @classLabel", truncate(&lab)),
                });
            }
            Some(lab)
        } else {
            None
        };
        let d = *dims.get_or_insert(parts.len());
        if parts.len() != d {
            return Err(IngestError::ColumnCount {
                line,
                expected: d,
                found: parts.len(),
            });
        }
        if channels.is_empty() {
            channels = vec![Vec::new(); d];
        }
        let mut n_this: Option<usize> = None;
        for (c, p) in parts.iter().enumerate() {
            let before = channels[c].len();
            let name = format!("dimension {c}");
            for (k, s) in p.split(',').enumerate() {
                if time.len() + k >= lim.max_rows {
                    return Err(IngestError::TooManyRows { max: lim.max_rows });
                }
                channels[c].push(parse_num(s, line, c + 1, &name, opts.non_finite)?);
            }
            let n = channels[c].len() - before;
            let expected = series_len.or(n_this).unwrap_or(n);
            if n != expected {
                return Err(IngestError::TsLength {
                    line,
                    channel: c,
                    found: n,
                    expected,
                });
            }
            n_this = Some(n);
        }
        let n = n_this.unwrap_or(0);
        let rec = labels.len() as u32;
        for i in 0..n {
            time.push(i as f64 / rate);
            recording.push(rec);
        }
        labels.push(label);
    }
    if !saw_anything || time.is_empty() {
        return Err(IngestError::Empty);
    }
    let d = channels.len();
    let channel_names = match &opts.channel_names {
        Some(n) if n.len() == d => n.clone(),
        Some(n) => {
            return Err(IngestError::ColumnCount {
                line: 0,
                expected: n.len(),
                found: d,
            });
        }
        None if d == 6 => ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
            .map(str::to_owned)
            .to_vec(),
        None if d == 3 => ["acc_x", "acc_y", "acc_z"].map(str::to_owned).to_vec(),
        None => (0..d).map(|i| format!("ch{i}")).collect(),
    };
    Ok(SensorTable {
        time_unit: TimeUnit::Seconds,
        time,
        channel_names,
        channels,
        attributes: Vec::new(),
        recording,
        labels,
        sampling_rate_hz: Some(rate.unwrap_or(10.0)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn split_quotes() {
        let v = split_csv(r#"a,"b,c","d""e",f"#, 1, 10).unwrap();
        assert_eq!(v, vec!["a", "b,c", "d\"e", "f"]);
    }
}
