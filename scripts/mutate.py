#!/usr/bin/env python3
"""Guard mutation check for contracts/src/Marketplace.sol (part of `make audit`).

Also mutated: the guards of the DataRegistry functions the escrow's newer rules live in (the
listing bond's reclaim and the owner-fraud proof: EXTRA_TARGETS).

For each guard of the Marketplace -- `require(cond, ...)` and `if (cond) <revert statement>`
(`revert ...;`, `_revertNotOpen(...)`, `{ revert ...; }`) -- this produces mutants on a private
copy of the contracts directory (never the real file):

  remove  the guard never fires:          if (cond)  ->  if (false)   / require(true, ...)
  clause  for a guard `a || b || ...`, one disjunct at a time is dropped (-> false), so that
          every individual condition of a compound guard needs a failing test too
  flip    the guard fires on the opposite: if (cond)  ->  if (!(cond)) / require(!(cond), ...)
          (opt-in with --ops / MUTATION_OPS: a flipped guard breaks the happy path, so flips
          are practically always killed and double the run time)

and runs the fast test subset on each (unit tests + fuzz tests with few runs + the invariant
tests with a short campaign, see TEST_ARGS). A mutant is *killed* when a test fails, *survives*
when every test passes (a test is missing for that guard), and is *invalid* when it does not
compile. Equivalent mutants (a change that provably cannot alter behaviour) may be listed in
scripts/mutants-equivalent.txt with the reason; they are still run and reported, but do not fail
the check. Exit status: 0 when no non-equivalent mutant survived, 1 otherwise, 2 on setup error
(e.g. the unmutated baseline fails its tests).

Usage: scripts/mutate.py --contracts <dir> [--jobs N] [--only ID,...] [--list] [--out report.md]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

TARGET = "src/Marketplace.sol"
# Other files whose guards are mutated, restricted to the named functions. Their mutant ids are
# prefixed (e.g. `DR-L216-remove`); the Marketplace's keep their plain ids and equivalence keys.
EXTRA_TARGETS = {
    "src/DataRegistry.sol": ("DR", ["reclaimListingBond", "delistForOwnerFraud", "_requireOwnerFraud"]),
}
ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = Path(os.environ.get("AUDIT_NODE_MODULES", ROOT / "node_modules"))
FORGE = NODE_MODULES / "@foundry-rs/forge-linux-amd64/bin/forge"
EQUIVALENT_FILE = ROOT / "scripts/mutants-equivalent.txt"

# The fast subset: Marketplace-relevant unit tests, the fuzz tests with few runs, the invariant
# suite with a short campaign. Run from the contracts directory.
# The code-size test is left out: without the optimizer (below) the contracts exceed EIP-170 by
# design; `make test` checks the size of the optimized build.
TEST_ARGS = ["test", "--match-path", "test/{unit,fuzz,invariant}/*", "--no-match-contract", "CodeSizeTest",
             "--fail-fast"]
# What a mutant needs compiled: the fast subset's files (and what they import). The gas tests,
# the Halmos harness and the code-size test import the Marketplace too but are never run here,
# and every file that imports a mutated contract costs a solc-js recompile per mutant.
BUILD_ARGS = ["build", "--skip", "test/gas/*", "test/halmos/*", "CodeSize"]
TEST_ENV = {
    "FOUNDRY_FUZZ_RUNS": "32",
    "FOUNDRY_INVARIANT_RUNS": "16",
    "FOUNDRY_INVARIANT_DEPTH": "40",
    "FOUNDRY_FUZZ_SEED": "0x5eed",
    # solc-js is slow: without the optimizer a mutant compiles ~2.5x faster. The baseline runs
    # with the same settings, so a test that depends on optimized gas would show up there.
    "FOUNDRY_OPTIMIZER": "false",
}
TIMEOUT_S = 900


@dataclass
class Guard:
    line: int  # 1-based line of the `if`/`require`
    kind: str  # "if" | "require"
    start: int  # offset of the condition's first character
    end: int  # offset just past the condition
    cond: str
    text: str  # the guard's source, one line, for the report
    occurrence: int = 0  # how many earlier guards have the same text

@dataclass
class Mutant:
    id: str
    file: str  # path relative to the contracts dir
    guard: Guard
    op: str  # remove | flip | clause
    detail: str
    source: str  # whole mutated file
    status: str = "pending"
    seconds: float = 0.0
    build_seconds: float = 0.0  # of `seconds`: the compile (solc-js), the rest is the tests
    note: str = ""
    equivalent: str | None = field(default=None)


def strip_comments(src: str) -> str:
    """Blank out comments and strings (same length) so that parsing ignores them."""
    out = list(src)
    i, n = 0, len(src)
    while i < n:
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif src[i] == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


def matching_paren(s: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(s)):
        if s[i] == "(":
            depth += 1
        elif s[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def function_spans(clean: str, names: list[str]) -> list[tuple[int, int]]:
    """Body spans of the named functions (first `{` after the name to its matching `}`)."""
    spans = []
    for name in names:
        for m in re.finditer(r"\bfunction\s+" + re.escape(name) + r"\s*\(", clean):
            open_at = clean.index("{", m.end())
            depth = 0
            for i in range(open_at, len(clean)):
                if clean[i] == "{":
                    depth += 1
                elif clean[i] == "}":
                    depth -= 1
                    if depth == 0:
                        spans.append((m.start(), i))
                        break
    return spans


def find_guards(src: str, functions: list[str] | None = None) -> list[Guard]:
    clean = strip_comments(src)
    spans = function_spans(clean, functions) if functions else None
    guards: list[Guard] = []
    for m in re.finditer(r"\b(if|require)\s*\(", clean):
        if spans is not None and not any(a <= m.start() <= b for a, b in spans):
            continue
        kind = m.group(1)
        open_at = m.end() - 1
        close = matching_paren(clean, open_at)
        if kind == "if":
            rest = clean[close + 1 :].lstrip()
            if rest.startswith("{"):
                rest = rest[1:].lstrip()
            if not (rest.startswith("revert") or rest.startswith("_revertNotOpen(")):
                continue
            cond_start, cond_end = open_at + 1, close
        else:
            # require(cond, ...) / require(cond): the condition ends at the first top-level comma.
            depth, cond_end = 0, close
            for i in range(open_at + 1, close):
                c = clean[i]
                if c in "([{":
                    depth += 1
                elif c in ")]}":
                    depth -= 1
                elif c == "," and depth == 0:
                    cond_end = i
                    break
            cond_start = open_at + 1
        line = src.count("\n", 0, m.start()) + 1
        stmt_end = clean.find(";", close)
        text = " ".join(src[m.start() : stmt_end + 1].split())
        same = sum(1 for g in guards if g.text == text)
        guards.append(Guard(line, kind, cond_start, cond_end, src[cond_start:cond_end], text, same))
    return guards


def top_level_split(cond: str, op: str) -> list[tuple[int, int]]:
    """Spans of the top-level operands of `op` ('||') in `cond` (comments already absent)."""
    spans, depth, last, i = [], 0, 0, 0
    while i < len(cond):
        c = cond[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and cond.startswith(op, i):
            spans.append((last, i))
            last = i + len(op)
            i += len(op)
            continue
        i += 1
    spans.append((last, len(cond)))
    return spans if len(spans) > 1 else []


def make_mutants(src: str, file: str = TARGET, prefix: str = "", functions: list[str] | None = None) -> list[Mutant]:
    mutants: list[Mutant] = []
    clean = strip_comments(src)
    for g in find_guards(src, functions):
        base = f"{prefix}-L{g.line}" if prefix else f"L{g.line}"

        def sub(new_cond: str) -> str:
            return src[: g.start] + new_cond + src[g.end :]

        mutants.append(Mutant(f"{base}-remove", file, g, "remove", "guard never fires",
                              sub("true" if g.kind == "require" else "false")))
        mutants.append(Mutant(f"{base}-flip", file, g, "flip", "condition negated", sub(f"!({g.cond.strip()})")))
        if g.kind == "if":
            ccond = clean[g.start : g.end]
            for k, (a, b) in enumerate(top_level_split(ccond, "||")):
                operand = " ".join(g.cond[a:b].split())
                new = g.cond[:a] + " false " + g.cond[b:]
                mutants.append(Mutant(f"{base}-clause{k + 1}", file, g, "clause", f"drops `{operand}`", sub(new)))
    return mutants


def load_equivalent() -> dict[str, str]:
    eq: dict[str, str] = {}
    if EQUIVALENT_FILE.exists():
        for raw in EQUIVALENT_FILE.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, reason = line.partition(" ")
            eq[key] = reason.strip()
    return eq


def equivalence_key(m: Mutant) -> str:
    """Stable across line moves: op + detail + the guard's text + which occurrence of that text."""
    import hashlib

    where = "" if m.file == TARGET else f"{m.file}|"
    h = hashlib.sha256(f"{where}{m.op}|{m.detail}|{m.guard.text}|{m.guard.occurrence}".encode()).hexdigest()[:12]
    return f"{m.op}:{h}"


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return 124, out


def prepare_worker(src_dir: Path, work: Path) -> None:
    """A private copy of the contracts dir (with its build cache, for incremental compiles) at
    <worker>/contracts, with node_modules and tools linked beside it as foundry.toml expects."""
    parent = work.parent
    if parent.exists():
        shutil.rmtree(parent)
    parent.mkdir(parents=True)
    shutil.copytree(src_dir, work, symlinks=True, ignore=shutil.ignore_patterns("out-*", "cache-*", "broadcast"))
    # forge lints on build; a removed guard can leave a local unused, which the lint turns into
    # a build failure ("invalid" mutant) although the mutant compiles. Lint is not what is tested.
    toml = work / "foundry.toml"
    text = toml.read_text()
    if "lint_on_build" not in text:
        toml.write_text(text.replace("[lint]\n", "[lint]\nlint_on_build = false\n", 1))
    (parent / "node_modules").symlink_to(NODE_MODULES)
    # tools/solc loads solc-js from ../node_modules next to itself: a copy beside the link.
    (parent / "tools").mkdir()
    shutil.copy2(ROOT / "tools/solc", parent / "tools/solc")


def forge_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(TEST_ENV)
    env.pop("FOUNDRY_PROFILE", None)
    return env


def test_mutant(m: Mutant, work: Path) -> None:
    target = work / m.file
    original = target.read_text()
    t0 = time.monotonic()
    try:
        target.write_text(m.source)
        code, out = run([str(FORGE), *BUILD_ARGS], work, forge_env(), TIMEOUT_S)
        m.build_seconds = time.monotonic() - t0
        if code != 0:
            m.status, m.note = "invalid", last_error(out)
            return
        code, out = run([str(FORGE), *TEST_ARGS], work, forge_env(), TIMEOUT_S)
        if code == 0:
            m.status = "SURVIVED"
        elif code == 124:
            m.status, m.note = "killed", "timeout"
        else:
            m.status, m.note = "killed", first_failure(out)
    finally:
        target.write_text(original)
        m.seconds = time.monotonic() - t0


def last_error(out: str) -> str:
    for line in out.splitlines():
        if "Error" in line:
            return line.strip()[:160]
    return out.strip().splitlines()[-1][:160] if out.strip() else ""


def first_failure(out: str) -> str:
    for line in out.splitlines():
        if line.startswith("[FAIL"):
            return line.strip()[:200]
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contracts", required=True, type=Path, help="contracts dir to copy (a snapshot)")
    ap.add_argument("--work", type=Path, default=ROOT / "target/mutants")
    ap.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--only", default="", help="comma-separated mutant ids")
    ap.add_argument("--ops", default=os.environ.get("MUTATION_OPS", "remove,clause"),
                    help="mutation operators: remove,clause (default) and flip")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--out", type=Path, help="write a Markdown report here")
    args = ap.parse_args()

    src_dir = args.contracts.resolve()
    src = (src_dir / TARGET).read_text()
    mutants = make_mutants(src)
    for file, (prefix, functions) in EXTRA_TARGETS.items():
        mutants += make_mutants((src_dir / file).read_text(), file, prefix, functions)
    mutants = [m for m in mutants if m.op in args.ops.split(",")]
    if args.only:
        keep = set(args.only.split(","))
        mutants = [m for m in mutants if m.id in keep]
    eq = load_equivalent()
    for m in mutants:
        m.equivalent = eq.get(equivalence_key(m))
    guards = {(m.file, m.guard.line) for m in mutants}
    files = ", ".join([TARGET, *(f"{f} ({', '.join(fns)})" for f, (_, fns) in EXTRA_TARGETS.items())])
    print(f"mutate: {len(guards)} guards, {len(mutants)} mutants of {files}")
    if args.list:
        for m in mutants:
            print(f"  {m.id:<16} {equivalence_key(m)}  {m.detail}: {m.guard.text[:110]}")
        return 0

    args.work.mkdir(parents=True, exist_ok=True)
    workers = [args.work / f"w{i}" / "contracts" for i in range(args.jobs)]

    # Baseline: the unmutated copy must build and pass the subset, or every result is meaningless.
    t0 = time.monotonic()
    prepare_worker(src_dir, workers[0])
    code, out = run([str(FORGE), *BUILD_ARGS], workers[0], forge_env(), TIMEOUT_S)
    if code == 0:
        code, out = run([str(FORGE), *TEST_ARGS], workers[0], forge_env(), TIMEOUT_S)
    if code != 0:
        print(out[-4000:])
        print("mutate: the unmutated baseline fails: fix it first", file=sys.stderr)
        return 2
    print(f"mutate: baseline green in {time.monotonic() - t0:.0f}s")
    for w in workers[1:]:
        prepare_worker(workers[0], w)

    queue = list(mutants)
    done = 0

    def worker(w: Path) -> None:
        nonlocal done
        while queue:
            try:
                m = queue.pop(0)
            except IndexError:
                return
            test_mutant(m, w)
            done += 1
            flag = " (equivalent)" if m.equivalent and m.status == "SURVIVED" else ""
            print(f"  [{done}/{len(mutants)}] {m.id:<16} {m.status}{flag} {m.seconds:.0f}s "
                  f"(build {m.build_seconds:.0f}s)  {m.note}", flush=True)

    with cf.ThreadPoolExecutor(len(workers)) as ex:
        list(ex.map(worker, workers))

    survivors = [m for m in mutants if m.status == "SURVIVED" and not m.equivalent]
    equivalent = [m for m in mutants if m.status == "SURVIVED" and m.equivalent]
    invalid = [m for m in mutants if m.status == "invalid"]
    killed = [m for m in mutants if m.status == "killed"]
    lines = [
        f"Mutants of {files}: {len(mutants)} over {len(guards)} guards; killed {len(killed)}, "
        f"survived {len(survivors)}, equivalent {len(equivalent)}, invalid {len(invalid)}.",
        "",
    ]
    if survivors:
        lines += ["Survivors (no test fails without this guard/clause):", ""]
        lines += [f"- `{m.id}` ({m.detail}; key `{equivalence_key(m)}`): `{m.guard.text}`" for m in survivors]
        lines.append("")
    if equivalent:
        lines += ["Equivalent (listed in scripts/mutants-equivalent.txt):", ""]
        lines += [f"- `{m.id}` ({m.detail}): {m.equivalent}" for m in equivalent]
        lines.append("")
    if invalid:
        lines += ["Invalid (do not compile):", ""]
        lines += [f"- `{m.id}`: {m.note}" for m in invalid]
        lines.append("")
    report = "\n".join(lines)
    print(report)
    if args.out:
        rows = ["| mutant | guard | status | seconds (build) | note |", "| --- | --- | --- | --- | --- |"]
        for m in mutants:
            st = m.status + (" (equivalent)" if m.equivalent and m.status == "SURVIVED" else "")
            rows.append(f"| {m.id} | `{m.guard.text[:80]}` | {st} | {m.seconds:.0f} ({m.build_seconds:.0f}) "
                        f"| {m.note.replace('|', '/')} |")
        args.out.write_text(report + "\n" + "\n".join(rows) + "\n")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
