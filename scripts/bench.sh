#!/usr/bin/env bash
# Every benchmark, in sequence (`make bench`). Each step's output is also saved under $OUT;
# a step whose example/script is missing is skipped, a failing step does not stop the others,
# and the exit status is non-zero if any step failed. Figures go to docs/PERFORMANCE.md
# (one section per crate; printed at the end).
#
#   scripts/bench.sh [OUT_DIR]
#
# Env: CARGO (cargo), CARGO_TARGET_DIR (target), FORGE (node_modules forge),
#      S3_MB (256), DELIVERY_ARGS ("" = example defaults: 200 purchases, 3 keepers),
#      E2E_ARGS ("" = example defaults: --sizes 1MB,100MB), GATEWAY_ARGS ("" = --mb 32 --rounds 3),
#      WEB_ARGS ("" = --listings 1000 --runs 5),
#      ONLY (space-separated step names: seal gas storage quality keeper e2e series gateway web;
#      series-week only by name), DRY_RUN=1 (print the steps, run nothing),
#      plus what scripts/bench-seal.sh reads (BYTES, BIG_BYTES, SEED).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

CARGO="${CARGO:-cargo}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
FORGE="${FORGE:-$root/node_modules/@foundry-rs/forge-linux-amd64/bin/forge}"
export PHD_ANVIL_BIN="${PHD_ANVIL_BIN:-$root/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil}"
S3_MB="${S3_MB:-256}"
DELIVERY_ARGS="${DELIVERY_ARGS:-}"
E2E_ARGS="${E2E_ARGS:-}"
GATEWAY_ARGS="${GATEWAY_ARGS:-}"
ONLY="${ONLY:-}"
DRY_RUN="${DRY_RUN:-}"
OUT="${1:-$CARGO_TARGET_DIR/bench/$(date -u +%Y%m%dT%H%M%SZ)}"
[ -n "$DRY_RUN" ] || mkdir -p "$OUT"

declare -a summary=()
failed=0

bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }

# wanted NAME: whether ONLY (if set) selects this step
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# step NAME "WHERE FIGURES GO" CMD... : runs CMD, tees to $OUT/NAME.log, records the outcome
step() {
  local name="$1" dest="$2"
  shift 2
  wanted "$name" || return 0
  bold "==> [$name] $*"
  if [ -n "$DRY_RUN" ]; then
    summary+=("dry-run $name → $dest")
    return 0
  fi
  local start=$SECONDS rc
  "$@" 2>&1 | tee "$OUT/$name.log"
  rc=${PIPESTATUS[0]}
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    summary+=("ok      $name (${took}s) → $dest   [log: $OUT/$name.log]")
  else
    summary+=("FAILED  $name (exit $rc after ${took}s) → see $OUT/$name.log")
    failed=1
  fi
}

# skip NAME WHY
skip() {
  wanted "$1" || return 0
  bold "==> [$1] skipped: $2"
  summary+=("skipped $1: $2")
}

# has_example PACKAGE_DIR NAME: examples/NAME.rs or examples/NAME/main.rs exists
has_example() { [ -f "$1/examples/$2.rs" ] || [ -f "$1/examples/$2/main.rs" ]; }

# 1. sealing: phd-seal vs zstd | openssl (+ peak RSS)
if [ -f "$here/bench-seal.sh" ]; then
  step seal 'docs/PERFORMANCE.md "Sealing"' bash "$here/bench-seal.sh"
else
  skip seal "scripts/bench-seal.sh not found"
fi

# 2. gas: isolated snapshots (profile "gas": test/gas/*, isolate = true) + per-function report
if [ ! -x "$FORGE" ]; then
  skip gas "forge not found at $FORGE (run make deps)"
elif [ ! -d contracts/test/gas ]; then
  skip gas "contracts/test/gas not found"
else
  gas() {
    echo "--- isolated snapshots: cd contracts && FOUNDRY_PROFILE=gas $FORGE test --gas-report"
    (cd contracts && FOUNDRY_PROFILE=gas "$FORGE" test --gas-report) || return
    echo "--- per-function min/avg/max over the unit tests (not isolated): --match-path 'test/unit/*'"
    (cd contracts && "$FORGE" test --gas-report --match-path 'test/unit/*')
  }
  step gas 'docs/PERFORMANCE.md "Gas" (snapshots: contracts/snapshots/*.json)' gas  # forge test --gas-report
fi

# 3. storage: S3 upload/download throughput against the embedded server
if has_example crates/phd-storage s3_throughput; then
  step storage 'docs/PERFORMANCE.md "Storage"' \
    "$CARGO" run -q -p phd-storage --release --example s3_throughput -- --mb "$S3_MB"
else
  skip storage "crates/phd-storage/examples/s3_throughput.rs not found"
fi

# 4. quality: scoring throughput per CPU second
if has_example crates/phd-quality throughput; then
  step quality 'docs/PERFORMANCE.md "Quality"' \
    "$CARGO" run -q -p phd-quality --release --example throughput
else
  skip quality "crates/phd-quality/examples/throughput.rs not found"
fi

# 5. keeper: sustained delivery throughput on anvil (2 keepers, the smallest threshold, as the scaling baseline; then 3)
if has_example crates/phd-keeper delivery_throughput; then
  keeper() {
    "$CARGO" run -q -p phd-keeper --release --example delivery_throughput -- 200 2 || return
    # shellcheck disable=SC2086 # DELIVERY_ARGS is a word list on purpose
    "$CARGO" run -q -p phd-keeper --release --example delivery_throughput -- $DELIVERY_ARGS
  }
  step keeper 'docs/PERFORMANCE.md "Keeper"' keeper
else
  skip keeper "crates/phd-keeper/examples/delivery_throughput.rs not found"
fi

# 6. end to end: purchase → verified plaintext on the full local stack
if has_example tests e2e_bench; then
  # shellcheck disable=SC2086
  step e2e 'docs/PERFORMANCE.md "End to end"' \
    "$CARGO" run -q -p phd-e2e --release --example e2e_bench -- $E2E_ARGS
else
  skip e2e "tests/examples/e2e_bench.rs not found (phd-e2e has no e2e_bench example yet)"
fi

# 7. series (issue 12): lag on the local stack and gas per day from `make gas`'s snapshots; the
# week of 50 Hz data (`make bench-series-week`, ONLY=series-week) only when asked for by name.
if has_example tests series_bench; then
  series() {
    scripts/series-gas-day.sh || return
    "$CARGO" build -q --release --locked -p phd-user --bin phd-user || return
    "$CARGO" run -q -p phd-e2e --release --example series_bench -- lag
  }
  step series 'docs/PERFORMANCE.md "Series: lag, throughput, gas per day"' series
  if [[ " $ONLY " == *" series-week "* ]]; then
    series_week() {
      "$CARGO" build -q --release --locked -p phd-user --bin phd-user || return
      # shellcheck disable=SC2086 # SERIES_WEEK_ARGS is a word list on purpose
      "$CARGO" run -q -p phd-e2e --release --example series_bench -- week ${SERIES_WEEK_ARGS:---hours 168}
    }
    step series-week 'docs/PERFORMANCE.md "Series: lag, throughput, gas per day"' series_week
  fi
else
  skip series "tests/examples/series_bench.rs not found"
fi

# 8. access path: download through phd-gateway vs direct GetObject; purchase → first plaintext byte
if has_example tests gateway_bench; then
  # shellcheck disable=SC2086
  step gateway 'docs/PERFORMANCE.md "Access gateway"' \
    "$CARGO" run -q -p phd-e2e --release --example gateway_bench -- $GATEWAY_ARGS
else
  skip gateway "tests/examples/gateway_bench.rs not found"
fi

# 9. web: first contentful paint of the catalog with 1,000 listings + page weight (headless Chromium)
if has_example tests web_first_paint; then
  web() {
    "$here/ensure-chromium.sh" || return
    # shellcheck disable=SC2086 # WEB_ARGS is a word list on purpose
    "$CARGO" run -q -p phd-e2e --release --example web_first_paint -- ${WEB_ARGS:-}
  }
  step web 'docs/PERFORMANCE.md "Web page (phd-web)"' web
else
  skip web "tests/examples/web_first_paint.rs not found"
fi

# One table of every figure beside its baseline from this run: each step prints
# "BENCH|what|ours|baseline|ratio|aim" lines; they are collected here and written into
# docs/PERFORMANCE.md between the bench-table markers.
if [ -z "$DRY_RUN" ]; then
  table="$OUT/summary.md"
  {
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ), $(nproc 2>/dev/null || echo ?) CPUs ($(uname -m)), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other builds were running; compare the ratios, measured within the run, not the absolute rates). Logs: \`$OUT\`."
    echo
    echo "| measurement | ours | baseline (same run) | ratio | aim |"
    echo "|---|---:|---:|---:|---|"
    cat "$OUT"/*.log 2>/dev/null | grep -a '^BENCH|' | sed 's/^BENCH|/| /; s/$/ |/'
  } > "$table"
  bold "==> results"
  cat "$table"
  doc="$root/docs/PERFORMANCE.md"
  if [ -z "$ONLY" ] && grep -q '<!-- bench-table:begin -->' "$doc"; then
    awk -v f="$table" '
      /<!-- bench-table:begin -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
      /<!-- bench-table:end -->/ { skip = 0 }
      !skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
    echo "(written to docs/PERFORMANCE.md)"
  fi
fi

bold "==> summary (logs in $OUT)"
printf '  %s\n' "${summary[@]}"
echo
echo "Copy the figures into docs/PERFORMANCE.md, one section per crate (Sealing, Gas, Storage,"
echo "Quality, Keeper, End to end), with the machine (nproc: $(nproc 2>/dev/null || echo ?), $(uname -m)) and the date."
exit "$failed"
