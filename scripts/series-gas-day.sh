#!/usr/bin/env bash
# Gas per day of a live series with 1 h segments (24 appends a day) for 1, 10 and 100
# subscribers, from the figures `make gas` writes (contracts/snapshots/series*.json, measured by
# contracts/test/gas/Series.t.sol: n = 5 keepers, t = 3). Each segment: one `appendSegment` by
# the owner, then one `releaseShares` per keeper carrying every subscriber's payload (keeper 3,
# the t-th, charges the segment). Two counts: all n = 5 keepers release (4 × keeper-1 figure +
# 1 × keeper-3 figure) and only t = 3 do (2 × keeper 1 + keeper 3). Baseline: no batching, one
# release transaction per keeper per subscriber (the 1-subscriber figures × subscribers).
# Prints a table and `BENCH|…` lines (scripts/bench.sh). Re-measure first with `make gas`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node - "$root/contracts/snapshots" <<'JS'
const fs = require("fs");
const dir = process.argv[2];
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8"));
const s = read("series.json");
const append = Number(s.appendSegment_n5_t3);
const subscribe = Number(s.subscribe);
const r1 = read("series_release_1.json");
const one = { k1: Number(r1.releaseShares_keeper1), k3: Number(r1.releaseShares_keeper3_settles_all) };
const M = (g) => (g / 1e6).toFixed(2) + " M";
console.log("| subscribers | per segment, 5 keepers release | per day (24 segments), 5 keepers | per day, only t = 3 release | + subscriptions (1 a day each) | unbatched baseline per day, 5 keepers |");
console.log("|---:|---:|---:|---:|---:|---:|");
const bench = [];
for (const n of [1, 10, 100]) {
  const r = read(`series_release_${n}.json`);
  const k1 = Number(r.releaseShares_keeper1), k3 = Number(r.releaseShares_keeper3_settles_all);
  const seg5 = append + 4 * k1 + k3;
  const seg3 = append + 2 * k1 + k3;
  const day5 = 24 * seg5, day3 = 24 * seg3;
  const base = 24 * (append + n * (4 * one.k1 + one.k3));
  console.log(`| ${n} | ${seg5.toLocaleString("en")} | ${M(day5)} | ${M(day3)} | ${M(n * subscribe)} | ${M(base)} |`);
  bench.push(`BENCH|series gas per day, 1 h segments, ${n} subscriber(s), n = 5 keepers release (t = 3: ${M(day3)})|${M(day5)}|${M(base)} unbatched|${(day5 / base).toFixed(2)}|one tx per keeper per segment`);
}
for (const b of bench) console.log(b);
JS
