//! Open a sealed file: `open_file --key-hex HEX --root HEX [--threads N] IN OUT|-`.

use phd_seal::{FileSource, OpenLimits, OpeningKey, open};
use std::io::{BufWriter, Write};
use zeroize::Zeroizing;

fn unhex32(s: &str) -> Result<[u8; 32], Box<dyn std::error::Error>> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err("expected 64 hex chars".into());
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or("hex")?, 16)?;
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut limits = OpenLimits::default();
    let (mut key, mut root) = (None, None);
    let mut pos = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--key-hex" => key = Some(unhex32(&args.next().ok_or("value")?)?),
            "--root" => root = Some(unhex32(&args.next().ok_or("value")?)?),
            "--threads" => limits.threads = args.next().ok_or("value")?.parse()?,
            "--stream" => limits.verify_all_before_output = false,
            _ => pos.push(a),
        }
    }
    let [input, output] = pos.as_slice() else {
        return Err("usage: open_file --key-hex HEX --root HEX IN OUT|-".into());
    };
    let key = OpeningKey::from_derived(Zeroizing::new(key.ok_or("--key-hex required")?));
    let root = root.ok_or("--root required")?;
    let src = FileSource::open(input)?;
    let sink: Box<dyn Write> = if output == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(output)?)
    };
    let s = open(
        &key,
        &src,
        root,
        BufWriter::with_capacity(1 << 16, sink),
        &limits,
    )?;
    eprintln!("chunks={} plaintext={}", s.chunks, s.plaintext_len);
    Ok(())
}
