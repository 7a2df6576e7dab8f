//! Stable-toolchain fuzz fallback: bounded random mutation of valid sealed
//! objects fed to `inspect`/`open`. Checks: no panic; a successful open yields
//! exactly the original plaintext. `cargo run --release -p phd-seal --example fuzz_open -- [ITERATIONS] [SEED]`

use phd_seal::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let iters: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let mut rng = Rng(seed | 1);
    let mut corpus = Vec::new();
    for (len, chunk) in [
        (0usize, 64u32),
        (1, 64),
        (500, 64),
        (4000, 1000),
        (20_000, 4096),
    ] {
        let data: Vec<u8> = (0..len)
            .map(|i| (i * 7 % 251) as u8 ^ (i / 97) as u8)
            .collect();
        let mut obj = Vec::new();
        let opts = SealOptions {
            chunk_size: chunk,
            threads: 1,
            ..SealOptions::default()
        };
        let s = seal(SealingKey::generate()?, &data[..], &mut obj, &opts)?;
        corpus.push((obj, data, s.opening_key));
    }
    let limits = OpenLimits {
        threads: 1,
        ..OpenLimits::default()
    };
    let (mut ok, mut err) = (0u64, 0u64);
    for _ in 0..iters {
        let (obj, data, key) = &corpus[rng.below(corpus.len())];
        let mut m = obj.clone();
        for _ in 0..=rng.below(4) {
            match rng.below(6) {
                0 if !m.is_empty() => {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
                1 if !m.is_empty() => {
                    let i = rng.below(m.len());
                    m[i] = rng.next() as u8;
                }
                2 => {
                    let n = rng.below(m.len() + 1);
                    m.truncate(n);
                }
                3 => {
                    let i = rng.below(m.len() + 1);
                    m.insert(i, rng.next() as u8);
                }
                4 if m.len() >= 8 => {
                    // overwrite a u64/u32 field with an "interesting" value
                    let i = rng.below(m.len() - 7);
                    let v =
                        [0u64, 1, u64::MAX, u32::MAX as u64, 1 << 40, m.len() as u64][rng.below(6)];
                    m[i..i + 8].copy_from_slice(&v.to_be_bytes());
                }
                _ => {}
            }
        }
        let _ = inspect(&m[..]);
        let root = inspect(&m[..]).map(|i| i.root).unwrap_or([0u8; 32]);
        let mut out = Vec::new();
        match open(key, &m[..], root, &mut out, &limits) {
            Ok(_) => {
                assert_eq!(&out, data, "mutated object opened to different plaintext");
                ok += 1;
            }
            Err(_) => err += 1,
        }
    }
    println!(
        "fuzz_open: {iters} iterations, {ok} opened (unchanged content), {err} rejected, 0 panics"
    );
    Ok(())
}
