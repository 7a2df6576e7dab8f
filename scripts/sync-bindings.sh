#!/usr/bin/env bash
# Regenerates the contract artifacts the Rust bindings (crates/phd-chain) are built from.
#
#   scripts/sync-bindings.sh          forge build, then write crates/phd-chain/artifacts/<Name>.json
#   scripts/sync-bindings.sh --check  build into a temp dir and fail (with a diff) if the committed
#                                     artifacts differ from what the contracts compile to
#
# Each artifact keeps only abi, bytecode.object and deployedBytecode.{object,immutableReferences},
# pretty-printed with sorted keys so diffs are stable. immutableReferences is flattened to a list of
# {start,length} ranges sorted by start: forge keys it by AST id, which changes whenever other
# files join the compilation. Until a contract implementation exists the
# script falls back to its interface (I<Name>) with empty bytecode, and says so.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTRACTS="$ROOT/contracts"
DEST="$ROOT/crates/phd-chain/artifacts"
FORGE="${PHD_FORGE_BIN:-$ROOT/node_modules/@foundry-rs/forge-linux-amd64/bin/forge}"
NAMES=(PHDCoin KeeperRegistry DataRegistry Marketplace SeriesMarket SeriesCertification)

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if [[ ! -x "$FORGE" ]]; then
  echo "error: forge not found at $FORGE (run 'npm ci' in $ROOT, or set PHD_FORGE_BIN)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Always build into a private out dir: never disturbs contracts/out, and --check sees exactly
# what the sources compile to now.
(cd "$CONTRACTS" && "$FORGE" build src --out "$tmp/out" --cache-path "$tmp/cache" >"$tmp/forge.log" 2>&1) || {
  cat "$tmp/forge.log" >&2
  echo "error: forge build failed" >&2
  exit 1
}

# Reduce a forge artifact to abi + bytecode, stable formatting.
extract() {
  local src="$1" dst="$2"
  if command -v jq >/dev/null 2>&1; then
    jq -S '{abi: .abi,
            bytecode: {object: .bytecode.object},
            deployedBytecode: {object: .deployedBytecode.object,
                               immutableReferences: ([(.deployedBytecode.immutableReferences // {}) | to_entries[] | .value[]]
                                                     | sort_by(.start))}}' \
      "$src" >"$dst"
  else
    node -e '
      const fs = require("fs");
      const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      const sort = (v) => Array.isArray(v) ? v.map(sort)
        : (v && typeof v === "object") ? Object.fromEntries(Object.keys(v).sort().map(k => [k, sort(v[k])])) : v;
      const o = { abi: a.abi, bytecode: { object: a.bytecode.object },
        deployedBytecode: { object: a.deployedBytecode.object,
          immutableReferences: Object.values(a.deployedBytecode.immutableReferences || {}).flat()
            .sort((x, y) => x.start - y.start) } };
      fs.writeFileSync(process.argv[2], JSON.stringify(sort(o), null, 2) + "\n");
    ' "$src" "$dst"
  fi
}

mkdir -p "$tmp/artifacts"
for name in "${NAMES[@]}"; do
  impl="$tmp/out/$name.sol/$name.json"
  iface="$tmp/out/I$name.sol/I$name.json"
  if [[ -f "$impl" ]]; then
    extract "$impl" "$tmp/artifacts/$name.json"
  elif [[ -f "$iface" ]]; then
    echo "warning: no implementation of $name yet; using interface I$name (no bytecode)" >&2
    extract "$iface" "$tmp/artifacts/$name.json"
  else
    echo "error: neither $name nor I$name found in forge output" >&2
    exit 1
  fi
done

if [[ $check -eq 1 ]]; then
  if diff -ru "$DEST" "$tmp/artifacts" >"$tmp/diff"; then
    echo "bindings up to date (${NAMES[*]})"
  else
    cat "$tmp/diff" | head -200
    echo "error: crates/phd-chain/artifacts differ from the contracts; run scripts/sync-bindings.sh and commit" >&2
    exit 1
  fi
else
  mkdir -p "$DEST"
  for name in "${NAMES[@]}"; do
    cp "$tmp/artifacts/$name.json" "$DEST/$name.json"
  done
  echo "wrote ${NAMES[*]/%/.json} to crates/phd-chain/artifacts"
fi
