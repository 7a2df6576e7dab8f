//! Seal a file: `seal_file [--chunk-size N] [--level L] [--threads N] [--key-hex HEX] IN|- OUT`.
//! Prints `root=<hex> key=<hex>` on stdout (a benchmark/demo tool: the real app
//! derives the key from a `phd_keys::DatasetSecret`).

use phd_seal::{SealOptions, SealingKey, seal};
use std::io::{BufWriter, Read};
use zeroize::Zeroizing;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Result<[u8; 32], Box<dyn std::error::Error>> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err("key must be 64 hex chars".into());
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or("hex")?, 16)?;
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = SealOptions::default();
    let mut key_hex: Option<String> = None;
    let mut pos = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--chunk-size" => opts.chunk_size = args.next().ok_or("value")?.parse()?,
            "--level" => opts.level = args.next().ok_or("value")?.parse()?,
            "--threads" => opts.threads = args.next().ok_or("value")?.parse()?,
            "--key-hex" => key_hex = Some(args.next().ok_or("value")?),
            _ => pos.push(a),
        }
    }
    let [input, output] = pos.as_slice() else {
        return Err("usage: seal_file [opts] IN|- OUT".into());
    };
    let key = match key_hex {
        Some(h) => SealingKey::from_derived(Zeroizing::new(unhex32(&h)?))?,
        None => SealingKey::generate()?,
    };
    let reader: Box<dyn Read> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(input)?)
    };
    let writer = BufWriter::with_capacity(1 << 16, std::fs::File::create(output)?);
    let s = seal(key, reader, writer, &opts)?;
    println!(
        "root={} key={} chunks={} plaintext={} sealed={}",
        hex(&s.root),
        hex(s.opening_key.to_bytes().as_ref()),
        s.chunk_count,
        s.plaintext_len,
        s.sealed_len
    );
    Ok(())
}
