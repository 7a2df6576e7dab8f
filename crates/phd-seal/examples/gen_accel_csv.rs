//! Reproducible accelerometer-style CSV: `timestamp_ms,ax,ay,az` at 100 Hz.
//!
//! `cargo run --release -p phd-seal --example gen_accel_csv -- --seed 42 --bytes 150000000 out.csv`
//! (`-` as output writes to stdout). Same seed and size → same bytes.

use std::io::{BufWriter, Write};

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Roughly N(0,1) (Irwin–Hall with 4 uniforms).
    fn gauss(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..4 {
            s += (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        }
        (s - 2.0) * 1.732
    }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `v` with exactly 4 decimals (round half away from zero), e.g. `-0.0132`.
fn push_fixed4(out: &mut Vec<u8>, v: f64) {
    let scaled = (v * 10_000.0).round() as i64;
    if scaled < 0 {
        out.push(b'-');
    }
    let a = scaled.unsigned_abs();
    push_u64(out, a / 10_000);
    out.push(b'.');
    let f = a % 10_000;
    out.extend_from_slice(&[
        b'0' + (f / 1000) as u8,
        b'0' + (f / 100 % 10) as u8,
        b'0' + (f / 10 % 10) as u8,
        b'0' + (f % 10) as u8,
    ]);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut seed = 42u64;
    let mut bytes = 150_000_000u64;
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = args.next().ok_or("--seed needs a value")?.parse()?,
            "--bytes" => bytes = args.next().ok_or("--bytes needs a value")?.parse()?,
            _ => out = Some(a),
        }
    }
    let out = out.ok_or("usage: gen_accel_csv --seed N --bytes N OUT|-")?;
    let sink: Box<dyn Write> = if out == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&out)?)
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    let mut rng = SplitMix(seed);
    let header = b"timestamp_ms,ax,ay,az\n";
    let mut written = 0u64;
    let mut line = Vec::with_capacity(64);
    if bytes >= header.len() as u64 {
        w.write_all(header)?;
        written += header.len() as u64;
    }
    let mut t: u64 = 1_700_000_000_000;
    // gait-like signal: slow drifting activity level, periodic steps, noise
    let (mut phase, mut activity) = (0.0f64, 0.3f64);
    let mut i = 0u64;
    while written < bytes {
        if i.is_multiple_of(3000) {
            activity = (activity + 0.2 * rng.gauss()).clamp(0.0, 1.5);
        }
        phase += 2.0 * std::f64::consts::PI * (1.6 + 0.2 * activity) / 100.0;
        let step = activity * phase.sin();
        let ax = 0.02 * rng.gauss() + 0.3 * step;
        let ay = 0.02 * rng.gauss() + 0.15 * (2.0 * phase).sin() * activity;
        let az = 9.81 + 0.02 * rng.gauss() + 0.8 * step.abs();
        line.clear();
        push_u64(&mut line, t);
        for v in [ax, ay, az] {
            line.push(b',');
            push_fixed4(&mut line, v);
        }
        line.push(b'\n');
        let take = line.len().min((bytes - written) as usize);
        w.write_all(&line[..take])?;
        written += take as u64;
        t += 10;
        i += 1;
    }
    w.flush()?;
    Ok(())
}
