#!/usr/bin/env python3
"""Compare Slither's JSON output with the triage list (part of `make audit`).

Usage: slither_triage.py <slither.json> <slither-triage.json>

Each triage entry is {"check", "match", "reason"}: it covers every finding of detector `check`
whose description, with the line numbers removed, matches the regular expression `match`. The
reasons are explained in docs/AUDIT.md. Exit status 1 when a finding of medium or high impact
is not covered; untriaged low/informational findings are listed as warnings. Entries that no
longer match anything are reported as stale (the code changed: review and drop them).
"""
import json
import re
import sys


def normalize(description: str) -> str:
    return re.sub(r"#\d+(-\d+)?", "", description)


def main() -> int:
    results = json.load(open(sys.argv[1]))["results"].get("detectors", [])
    triage = json.load(open(sys.argv[2]))["triaged"]
    used = [0] * len(triage)
    untriaged = []
    by_impact: dict[str, int] = {}
    for r in results:
        desc = normalize(r["description"])
        by_impact[r["impact"]] = by_impact.get(r["impact"], 0) + 1
        hit = next((i for i, t in enumerate(triage) if t["check"] == r["check"] and re.search(t["match"], desc, re.S)), None)
        if hit is None:
            untriaged.append(r)
        else:
            used[hit] += 1
    counts = ", ".join(f"{k} {v}" for k, v in sorted(by_impact.items()))
    print(f"slither: {len(results)} findings ({counts or 'none'}); {len(results) - len(untriaged)} triaged")
    for t, n in zip(triage, used):
        print(f"  triaged  {t['check']:<24} x{n}  {t['match'][:70]}")
    for t, n in zip(triage, used):
        if n == 0:
            print(f"  STALE triage entry (matches nothing): {t['check']} / {t['match']}")
    failing = [r for r in untriaged if r["impact"] in ("High", "Medium")]
    for r in untriaged:
        tag = "UNTRIAGED" if r in failing else "untriaged (low/info)"
        first = r["description"].strip().splitlines()[0]
        print(f"  {tag}: [{r['impact']}/{r['confidence']}] {r['check']}: {first}")
    if failing:
        print(f"slither: {len(failing)} untriaged medium/high finding(s): fix them or triage them "
              "(scripts/slither-triage.json + docs/AUDIT.md)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
