#!/usr/bin/env bash
# `make audit`: the contracts' security audit (not part of `make test`: it takes tens of minutes).
#
#   slither    static analysis (Slither, through the solc-js shim); fails on any medium/high
#              finding not triaged in scripts/slither-triage.json (reasons in docs/AUDIT.md)
#   halmos     symbolic checks of the Marketplace escrow (contracts/test/halmos/*.t.sol)
#   mutation   every guard of Marketplace.sol removed / flipped / clause-dropped; fails when a
#              mutant survives the fast test subset (scripts/mutate.py)
#   invariant  the invariant suites under FOUNDRY_PROFILE=audit (≥ 1000 runs × depth 100)
#
# Everything runs on a snapshot of contracts/ under target/audit/ (the real directory, its out/
# and cache/ are never touched). Environment:
#   AUDIT_PARTS=slither,halmos,mutation,invariant   the parts to run (default: all)
#   AUDIT_REF=<git ref>   audit that commit's contracts/ instead of the working tree (the
#                         audit's own files -- test/halmos, slither config -- still come from
#                         the working tree)
#   AUDIT_JOBS=N          parallel mutants (default: 2)
#   AUDIT_NODE_MODULES=<dir>  another `npm ci` of package.json (default: ./node_modules)
# The tools install from PyPI into target/audit-venv (pinned in scripts/audit-requirements.txt);
# nothing else is downloaded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# node_modules of the project (npm ci); AUDIT_NODE_MODULES may point at another install.
NODE_MODULES="${AUDIT_NODE_MODULES:-$ROOT/node_modules}"
export AUDIT_NODE_MODULES="$NODE_MODULES"
FORGE_BIN="$NODE_MODULES/@foundry-rs/forge-linux-amd64/bin"
VENV="$ROOT/target/audit-venv"
REQS="$ROOT/scripts/audit-requirements.txt"
OUT="$ROOT/target/audit"
SNAP="$OUT/snapshot"
PARTS="${AUDIT_PARTS:-slither,halmos,mutation,invariant}"
JOBS="${AUDIT_JOBS:-2}"
export PATH="$FORGE_BIN:$VENV/bin:$PATH"

declare -a SUMMARY=()
FAILED=0

log() { printf '\n== %s\n' "$*"; }

# part NAME FUNCTION: runs FUNCTION, prints and records its runtime and result.
part() {
    local name="$1" fn="$2" start end rc
    [[ ",$PARTS," == *",$name,"* ]] || return 0
    log "$name"
    start=$(date +%s)
    set +e
    ( set -e; "$fn" )
    rc=$?
    set -e
    end=$(date +%s)
    if [[ $rc -eq 0 ]]; then
        SUMMARY+=("$(printf '%-10s PASS  %5ss' "$name" $((end - start)))")
    else
        SUMMARY+=("$(printf '%-10s FAIL  %5ss' "$name" $((end - start)))")
        FAILED=1
    fi
    printf -- '-- %s: %s in %ss\n' "$name" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)" $((end - start))
}

venv() {
    local stamp="$VENV/.requirements"
    if [[ -x "$VENV/bin/slither" && -x "$VENV/bin/halmos" ]] && cmp -s "$REQS" "$stamp"; then
        return 0
    fi
    log "installing the audit tools into target/audit-venv (PyPI)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
    cp "$REQS" "$stamp"
}

# A private copy of contracts/ with node_modules and tools next to it (foundry.toml refers to
# ../node_modules and ../tools/solc).
snapshot() {
    rm -rf "$SNAP"
    mkdir -p "$SNAP/contracts"
    if [[ -n "${AUDIT_REF:-}" ]]; then
        git archive "$AUDIT_REF" contracts | tar -x -C "$SNAP"
        rm -rf "$SNAP/contracts/test/halmos"
        mkdir -p "$SNAP/contracts/test/halmos"
        cp -a contracts/test/halmos/. "$SNAP/contracts/test/halmos/"
        cp contracts/slither.config.json "$SNAP/contracts/"
        echo "snapshot: contracts/ of $(git rev-parse --short "$AUDIT_REF") (+ the audit's own files)"
    else
        tar -C contracts --exclude=./out --exclude=./cache --exclude=./broadcast -cf - . | tar -C "$SNAP/contracts" -xf -
        echo "snapshot: contracts/ of the working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- contracts || echo ' + uncommitted changes'))"
    fi
    ln -s "$NODE_MODULES" "$SNAP/node_modules"
    # tools/solc loads solc-js from ../node_modules next to itself: copy it beside the link.
    mkdir -p "$SNAP/tools"
    cp "$ROOT/tools/solc" "$SNAP/tools/solc"
}

run_slither() {
    cd "$SNAP/contracts"
    rm -f "$OUT/slither.json"
    # Slither exits non-zero whenever it reports anything; the triage below decides.
    slither . --config-file slither.config.json --json "$OUT/slither.json" >"$OUT/slither.log" 2>&1 || true
    if ! grep -q '"success": true' "$OUT/slither.json" 2>/dev/null; then
        tail -40 "$OUT/slither.log"
        echo "slither did not complete (log: target/audit/slither.log)"
        return 1
    fi
    python3 "$ROOT/scripts/slither_triage.py" "$OUT/slither.json" "$ROOT/scripts/slither-triage.json"
}

run_halmos() {
    # Only the sources and the Halmos tests: compiling the whole test tree would double the time.
    local h="$OUT/halmos"
    rm -rf "$h"
    mkdir -p "$h/contracts/test"
    cp -a "$SNAP/contracts/src" "$SNAP/contracts/foundry.toml" "$h/contracts/"
    cp -a "$SNAP/contracts/test/halmos" "$h/contracts/test/"
    ln -s "$NODE_MODULES" "$h/node_modules"
    mkdir -p "$h/tools"
    cp "$ROOT/tools/solc" "$h/tools/solc"
    cd "$h/contracts"
    # Branching queries get 1 s (Halmos' default is 1 ms): with the fee arithmetic most branch
    # conditions are not decided in 1 ms, so infeasible branches were explored as live paths and
    # the per-selector solvency checks did not finish in an hour; with 1 s each takes minutes.
    PYTHONUNBUFFERED=1 halmos --match-contract 'Halmos$' --loop 4 --solver-timeout-assertion 120s \
        --solver-timeout-branching 1s 2>&1 \
        | grep --line-buffered -v -E '^(warning|note)\[|^\s*(│|╭|╰|├|=|[0-9]+ │|\|)|^\s*$' | tee "$OUT/halmos.log"
    # halmos' exit status is 0 only when every check passed.
    local status="${PIPESTATUS[0]}"
    # Solvency has one check per state-changing selector: a new external function without its
    # own `check_solvencyAfter<Name>` fails the part instead of going unchecked.
    python3 - out/Marketplace.sol/Marketplace.json test/halmos/MarketplaceEscrow.t.sol <<'PY' || status=1
import json, sys
abi = json.load(open(sys.argv[1]))["abi"]
src = open(sys.argv[2]).read()
# Halmos cannot execute their proof checks (ecrecover/modexp/sha256); see the harness.
excluded = {"dispute", "proveOwnerFraud"}
names = sorted({f["name"] for f in abi if f["type"] == "function"
                and f["stateMutability"] in ("nonpayable", "payable")})
missing = [n for n in names if n not in excluded
           and f"function check_solvencyAfter{n[0].upper()}{n[1:]}()" not in src]
print(f"solvency checks cover {len(names) - len(excluded) - len(missing)} of "
      f"{len(names) - len(excluded)} state-changing selectors ({len(excluded)} excluded)")
if missing:
    print("no solvency check for: " + ", ".join(missing))
    sys.exit(1)
PY
    return "$status"
}

run_mutation() {
    python3 "$ROOT/scripts/mutate.py" --contracts "$SNAP/contracts" --jobs "$JOBS" --out "$OUT/mutation.md"
}

run_invariant() {
    cd "$SNAP/contracts"
    FOUNDRY_PROFILE=audit forge test --match-path 'test/invariant/*' 2>&1 \
        | grep --line-buffered -v -E '^(warning|note)\[|^\s*(│|╭|╰|├|=|[0-9]+ │)|^\s*$' | tee "$OUT/invariant.log"
    return "${PIPESTATUS[0]}"
}

mkdir -p "$OUT"
T0=$(date +%s)
# The tools are needed by slither and halmos only; `setup` is not a part one can leave out.
if [[ ",$PARTS," == *",slither,"* || ",$PARTS," == *",halmos,"* ]]; then
    PARTS="$PARTS,setup" part setup venv
fi
snapshot
part slither run_slither
part halmos run_halmos
part mutation run_mutation
part invariant run_invariant

log "summary (logs and reports in target/audit/)"
printf '%s\n' "${SUMMARY[@]}"
printf 'total      %s  %5ss\n' "$([[ $FAILED -eq 0 ]] && echo PASS || echo FAIL)" $(($(date +%s) - T0))
exit "$FAILED"
