#!/usr/bin/env bash
# `make gas`: the gas of one complete sale, each call measured in isolation (FOUNDRY_PROFILE=gas:
# isolate = true, only test/gas). Prints forge's gas table and fails if it measured nothing, so a
# filter that matches no test can never pass silently again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
FORGE="${FORGE:-$root/node_modules/@foundry-rs/forge-linux-amd64/bin/forge}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cd "$root/contracts"
FOUNDRY_PROFILE=gas "$FORGE" test --gas-report 2>&1 | tee "$out"
if grep -q "No tests found" "$out"; then
  echo "make gas: forge found no gas test (check FOUNDRY_PROFILE=gas in contracts/foundry.toml)" >&2
  exit 1
fi
passed="$(grep -Eo '[0-9]+ tests passed' "$out" | awk '{s += $1} END {print s + 0}')"
if [[ "$passed" -eq 0 ]] || ! grep -q "Marketplace" "$out"; then
  echo "make gas: no gas figures were measured" >&2
  exit 1
fi
echo "make gas: $passed gas tests, table above"
