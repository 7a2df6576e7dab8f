#!/usr/bin/env bash
# Sealing benchmark: phd-seal vs `zstd -3 | openssl enc -aes-256-ctr` on a
# reproducible accelerometer CSV, plus peak RSS on a 4 GiB input.
#
#   scripts/bench-seal.sh [WORKDIR]
#
# Env: BYTES (default 150000000), BIG_BYTES (default 4294967296, 0 = skip),
#      SEED (42), CARGO_TARGET_DIR (default target).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
work="${1:-$(mktemp -d /tmp/phd-bench.XXXXXX)}"
mkdir -p "$work"
BYTES="${BYTES:-150000000}"
BIG_BYTES="${BIG_BYTES:-4294967296}"
SEED="${SEED:-42}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "needs GNU time (apt-get install time)"; exit 1; }
command -v zstd >/dev/null && command -v openssl >/dev/null || { echo "needs zstd and openssl"; exit 1; }

cd "$root"
cargo build --release -q -p phd-seal --example gen_accel_csv --example seal_file --example open_file
bin="$CARGO_TARGET_DIR/release/examples"
KEY=$(openssl rand -hex 32)
IV=$(openssl rand -hex 16)

# run CMD... ; prints "<wall seconds> <max rss KiB> <cpu seconds user+sys>"
# (max rss is the largest single process of the pipeline)
measure() {
  local log="$work/time.log"
  "$TIME" -f "%e %M %U %S" -o "$log" bash -c "$1" >/dev/null
  tail -1 "$log" | awk '{printf "%s %s %.2f\n", $1, $2, $3+$4}'
}
mbps() { awk -v b="$1" -v s="$2" 'BEGIN{ if (s<=0) s=0.001; printf "%.1f", b/1e6/s }'; }

echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| input | pipeline | throughput | size | peak RSS | time |"
echo "|---|---|---|---|---|---|"
echo "# zstd $(zstd --version | grep -o 'v[0-9.]*'), $(openssl version | cut -d' ' -f1-2)"

run_set() {
  local in="$1" label="$2" size
  size=$(stat -c %s "$in")
  cat "$in" > /dev/null  # warm page cache
  read -r bs brss bscpu < <(measure "zstd -q -3 -c '$in' | openssl enc -aes-256-ctr -K $KEY -iv $IV > '$work/base.enc'")
  read -r bo borss bocpu < <(measure "openssl enc -d -aes-256-ctr -K $KEY -iv $IV -in '$work/base.enc' | zstd -q -d -c > /dev/null")
  local bsize; bsize=$(stat -c %s "$work/base.enc")
  read -r ss srss sscpu < <(measure "'$bin/seal_file' --key-hex $KEY '$in' '$work/obj.sealed' > '$work/seal.out'")
  local sealroot; sealroot=$(sed -n 's/.*root=\([0-9a-f]*\).*/\1/p' "$work/seal.out")
  read -r os orss oscpu < <(measure "'$bin/open_file' --key-hex $KEY --root $sealroot '$work/obj.sealed' - 2>/dev/null > /dev/null")
  local ssize; ssize=$(stat -c %s "$work/obj.sealed")
  # correctness spot check on the small set only
  if [ "$label" = small ]; then
    "$bin/open_file" --key-hex "$KEY" --root "$sealroot" "$work/obj.sealed" "$work/rt.csv" 2>/dev/null
    cmp -s "$in" "$work/rt.csv" && echo "# round trip: identical" || { echo "ROUND TRIP MISMATCH"; exit 1; }
    rm -f "$work/rt.csv"
  fi
  echo "| $label | baseline zstd-3\|openssl seal | $(mbps "$size" "$bs") MB/s | ratio $(awk -v a="$size" -v b="$bsize" 'BEGIN{printf "%.3f", a/b}') | RSS $((brss/1024)) MiB | ${bs} s wall, ${bscpu} s CPU |"
  echo "| $label | phd-seal seal | $(mbps "$size" "$ss") MB/s ($(awk -v a="$bs" -v b="$ss" 'BEGIN{printf "%.2f", a/b}')× baseline) | ratio $(awk -v a="$size" -v b="$ssize" 'BEGIN{printf "%.3f", a/b}') ($(awk -v a="$ssize" -v b="$bsize" 'BEGIN{printf "%.3f", a/b}')× zstd-3 size) | RSS $((srss/1024)) MiB | ${ss} s wall, ${sscpu} s CPU |"
  echo "| $label | baseline openssl\|zstd -d open | $(mbps "$size" "$bo") MB/s | | RSS $((borss/1024)) MiB | ${bo} s wall, ${bocpu} s CPU |"
  echo "| $label | phd-seal open | $(mbps "$size" "$os") MB/s ($(awk -v a="$bo" -v b="$os" 'BEGIN{printf "%.2f", a/b}')× baseline) | | RSS $((orss/1024)) MiB | ${os} s wall, ${oscpu} s CPU |"
  # lines for scripts/bench.sh's summary table: name|ours|baseline|ratio|aim
  echo "BENCH|seal $label: seal_file vs zstd -3 → openssl|$(mbps "$size" "$ss") MB/s|$(mbps "$size" "$bs") MB/s|$(awk -v a="$bs" -v b="$ss" 'BEGIN{printf "%.2f", a/b}')×|≥ 2.0×"
  echo "BENCH|open $label: open_file vs openssl → zstd -d|$(mbps "$size" "$os") MB/s|$(mbps "$size" "$bo") MB/s|$(awk -v a="$bo" -v b="$os" 'BEGIN{printf "%.2f", a/b}')×|≥ 1.5×"
  rm -f "$work/base.enc" "$work/obj.sealed" "$work/seal.out"
}

"$bin/gen_accel_csv" --seed "$SEED" --bytes "$BYTES" "$work/accel.csv"
echo "# input: $BYTES bytes accelerometer CSV (seed $SEED), sha256 $(sha256sum "$work/accel.csv" | cut -c1-16)…"
run_set "$work/accel.csv" small
rm -f "$work/accel.csv"

if [ "$BIG_BYTES" != 0 ]; then
  "$bin/gen_accel_csv" --seed "$SEED" --bytes "$BIG_BYTES" "$work/big.csv"
  echo "# input: $BIG_BYTES bytes accelerometer CSV (seed $SEED)"
  run_set "$work/big.csv" 4GiB
  rm -f "$work/big.csv"
fi
rmdir "$work" 2>/dev/null || true
