#!/usr/bin/env bash
# The whole PHD exchange story on a local stack, with the real CLIs and the real BasicMotions
# smartwatch recording. `make demo` runs `npm ci` + `cargo fetch` first, then this script.
#
#   hardware check → publish (quality, --keep, pseudonymise, seal, upload, list, shares, acks)
#   → browse → buy (escrow) → keepers release → download, verify, decrypt → settle
#   → byte-for-byte check → owner withdraws earnings
#   → GDPR: export, withdraw consent, status (erasure n/n, object gone)
#   → live series: create, stream a recording as it is written (3 segments of 3 s), a subscriber
#     follows through the gateway without storage credentials, byte-for-byte check, cancel
#   → stack stopped.
#
# Environment: PHD_DATA_DIR (default data/basic-motions), PHD_DEMO_PROFILE (debug|release,
# default debug), PHD_DEMO_PORT (anvil port, default 8545), PHD_DEMO_DIR (work dir, default
# .devnet/demo), CARGO (default cargo), KEEP (1: afterwards list a second dataset, start the web
# page phd-web on PHD_WEB_PORT, default 8080, print its address and keep everything running
# until Ctrl-C). Exits non-zero if any step fails; the stack is always stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
PROFILE="${PHD_DEMO_PROFILE:-debug}"
PORT="${PHD_DEMO_PORT:-8545}"
DEMO_DIR="${PHD_DEMO_DIR:-$ROOT/.devnet/demo}"
DATA_DIR="${PHD_DATA_DIR:-$ROOT/data/basic-motions}"
DATA_FILE="$DATA_DIR/BasicMotions_TEST.ts"
STATE="$DEMO_DIR/state"
WORK="$DEMO_DIR/work"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export PHD_ANVIL_BIN="${PHD_ANVIL_BIN:-$ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil}"

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
fail() { printf '\033[31mFAILED: %s\033[0m\n' "$*" >&2; exit 1; }

# JSON field from stdin: `jf '.a.b'` (jq when installed, else node — installed by npm ci anyway).
jf() {
  if command -v jq >/dev/null 2>&1; then
    jq -r "($1) | if . == null then empty else . end"
  else
    node -e '
      const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
      let v; try { v = eval("o" + process.argv[1]); } catch (e) { v = undefined; }
      if (v !== undefined && v !== null) console.log(typeof v === "object" ? JSON.stringify(v) : v);' "$1"
  fi
}

now_ms() { date +%s%3N; }

[[ -f "$DATA_FILE" ]] || fail "no recording at $DATA_FILE (set PHD_DATA_DIR)"
[[ -x "$PHD_ANVIL_BIN" ]] || fail "no anvil at $PHD_ANVIL_BIN (run npm ci / make deps)"

# ---------------------------------------------------------------------------------------------
bold "==> building phd-devnet, phd-user, phd-customer ($PROFILE)"
t0=$(now_ms)
if [[ "$PROFILE" == release ]]; then
  "$CARGO" build --release --locked -p phd-devnet -p phd-user -p phd-customer -p phd-web \
    --bin phd-devnet --bin phd-user --bin phd-customer --bin phd-web
else
  # The same cargo invocation as `make test` (same packages, same features): right after
  # `make test` this builds nothing, and the binaries it leaves in target/debug are the ones run.
  # shellcheck disable=SC2086
  "$CARGO" test ${CARGO_TEST_TARGETS:---workspace --locked --lib --bins --tests} --no-run
fi
BIN="$TARGET/$PROFILE"
echo "    built in $(( ($(now_ms) - t0) / 1000 )) s"

rm -rf "$DEMO_DIR"
mkdir -p "$STATE" "$WORK"

# ---------------------------------------------------------------------------------------------
bold "==> starting the local stack (phd-devnet up)"
"$BIN/phd-devnet" up --state-dir "$STATE" --port "$PORT" >"$DEMO_DIR/devnet.log" 2>&1 &
DEVNET_PID=$!
WEB_PID=""
FOLLOW_PID=""
STREAM_PID=""
WATCH_PID=""
cleanup() {
  local rc=$?
  for p in $FOLLOW_PID $STREAM_PID $WATCH_PID; do kill -TERM "$p" 2>/dev/null || true; done
  if [[ -n "$WEB_PID" ]] && kill -0 "$WEB_PID" 2>/dev/null; then
    kill -TERM "$WEB_PID" 2>/dev/null || true
    wait "$WEB_PID" 2>/dev/null || true
  fi
  if kill -0 "$DEVNET_PID" 2>/dev/null; then
    echo "==> stopping the stack (pid $DEVNET_PID)"
    kill -TERM "$DEVNET_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DEVNET_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DEVNET_PID" 2>/dev/null || true
    wait "$DEVNET_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    echo "demo failed (exit $rc); devnet log: $DEMO_DIR/devnet.log" >&2
    tail -n 30 "$DEMO_DIR/devnet.log" >&2 || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
for _ in $(seq 1 1800); do
  [[ -f "$STATE/env" ]] && break
  kill -0 "$DEVNET_PID" 2>/dev/null || fail "phd-devnet exited during start-up"
  sleep 0.1
done
[[ -f "$STATE/env" ]] || fail "phd-devnet did not write $STATE/env within 180 s"
echo "    stack up in $(( ($(now_ms) - t0) / 1000 )) s"
sed -n '/^component/,/^env file/p' "$DEMO_DIR/devnet.log" | sed 's/^/    /'

# Every CLI reads the shared env file (RPC, deployment, keepers, gateway URL: public facts)
# through phd-cli, plus only its own role's secrets file (secrets/<role>.env): the owner its key
# and bucket credentials, the customer its key and nothing else.
export PHD_DEVNET_ENV="$STATE/env"
if grep -q '^AWS_\|PRIVATE_KEY' "$STATE/env"; then fail "the shared env file holds a secret"; fi
if grep -q '^AWS_' "$STATE/secrets/customer.env"; then fail "the customer's secrets file holds a storage credential"; fi
GATEWAY_URL=$(grep '^PHD_GATEWAY_URL=' "$STATE/env" | cut -d= -f2-)
[[ -n "$GATEWAY_URL" ]] || fail "no access gateway in $STATE/env"
echo "    separate identities: $(ls "$STATE/secrets" | tr '\n' ' ')(each 0600); buyers read through $GATEWAY_URL"

# run STEP_NAME OUT_JSON cmd...: runs a CLI with --json, prints tx hash / gas / time.
run() {
  local name="$1" out="$2"; shift 2
  local s e
  s=$(now_ms)
  if ! "$@" >"$out" 2>"$out.err"; then
    cat "$out.err" >&2
    fail "$name: $*"
  fi
  e=$(now_ms)
  local tx gas
  tx=$(jf '.tx_hash // .tx.tx_hash // .purchase.tx_hash // .purchase_tx // empty' <"$out" 2>/dev/null || true)
  gas=$(jf '.gas_used // .tx.gas_used // .purchase.gas_used // empty' <"$out" 2>/dev/null || true)
  printf '    %-34s %6d ms  %s%s\n' "$name" "$((e - s))" "${tx:+tx $tx }" "${gas:+gas $gas}"
}

# ---------------------------------------------------------------------------------------------
bold "==> 1. hardware check: the approved manufacturer certifies the watch; the watch signs the recording"
cp "$DATA_FILE" "$WORK/BasicMotions_TEST.ts"
run "device certificate + signature" "$WORK/device.json" \
  "$BIN/phd-devnet" device-sign "$WORK/BasicMotions_TEST.ts" --json
echo "    manufacturer $(jf .manufacturer <"$WORK/device.json"), device $(jf .device <"$WORK/device.json")"

# ---------------------------------------------------------------------------------------------
bold "==> 2. publish: quality model, keep walking/running/badminton, pseudonymise, seal, upload, list, shares"
export PHD_STATE_DIR="$WORK/user-state"
run "publish" "$WORK/publish.json" \
  "$BIN/phd-user" --json publish "$WORK/BasicMotions_TEST.ts" \
    --price 25 --purposes research,validation --keep walking,running,badminton \
    --require-certified --title "BasicMotions smartwatch, test split" \
    --pseudonymised-out "$WORK/pseudonymised.csv"
DATASET=$(jf .dataset_id <"$WORK/publish.json")
[[ -n "$DATASET" ]] || fail "publish printed no dataset id"
echo "    dataset $DATASET: $(jf .status <"$WORK/publish.json"), rows kept $(jf .rows_kept <"$WORK/publish.json")/$(jf .rows_read <"$WORK/publish.json"), quality $(jf .quality_score <"$WORK/publish.json"), acks $(jf .acknowledged <"$WORK/publish.json")/$(jf '.keepers | length' <"$WORK/publish.json"), sealed $(jf .sealed_bytes <"$WORK/publish.json") B"

# ---------------------------------------------------------------------------------------------
bold "==> 3. validation: the owner grants the devnet validator access; it decrypts, scores, certifies"
envval() { grep "^$1=" "$STATE/env" | cut -d= -f2-; }
V_ADDR=$(envval PHD_VALIDATOR_ADDRESS); V_URL=$(envval PHD_VALIDATOR_ENDPOINT)
[[ -n "$V_URL" ]] || fail "no validator endpoint in $STATE/env"
V_PK=$(node -e 'fetch(process.argv[1] + "/health").then(r => r.json()).then(h => console.log(h.account_pubkey)).catch(e => { console.error(e.message); process.exit(1); })' "$V_URL") \
  || fail "validator /health at $V_URL"
run "grant to validator" "$WORK/grant.json" \
  "$BIN/phd-user" --json grant "$DATASET" --to "$V_ADDR" --pubkey "$V_PK" --purpose validation
t0=$(now_ms)
for _ in $(seq 1 600); do
  "$BIN/phd-user" --json status "$DATASET" >"$WORK/cert-status.json" 2>/dev/null || true
  [[ "$(jf .certified <"$WORK/cert-status.json")" == "true" ]] && break
  sleep 0.2
done
[[ "$(jf .certified <"$WORK/cert-status.json")" == "true" ]] || fail "the validator did not certify within 120 s"
echo "    certified by $V_ADDR after $(( $(now_ms) - t0 )) ms (reward paid to the owner from the funded reward pool; the validator is staked and independent)"

# ---------------------------------------------------------------------------------------------
bold "==> 4. browse (customer)"
run "browse" "$WORK/browse.json" "$BIN/phd-customer" --json browse
unset PHD_STATE_DIR
export PHD_STATE_DIR="$WORK/customer-state"

# ---------------------------------------------------------------------------------------------
bold "==> 5–8. buy into escrow → keepers release → download, verify, decrypt → confirm/settle"
# The buyer holds no storage credential: it checks the listed object (manifest → content root)
# before paying, then downloads through the owner's gateway with tokens signed by its account.
run "buy + decrypt + confirm" "$WORK/buy.json" \
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u PHD_S3_BUCKET \
  "$BIN/phd-customer" --json buy "$DATASET" --purpose research --max-price 25 --out "$WORK/bought.csv"
[[ "$(jf .retrieved.source <"$WORK/buy.json")" == gateway ]] || fail "the buyer did not download through the gateway"
ALLOWED=$(grep -c '"allowed":true' "$STATE/gateway/access.jsonl" || true)
echo "    downloaded through the gateway without storage credentials; access log: $ALLOWED allowed request(s) in $STATE/gateway/access.jsonl"
echo "    purchase $(jf .purchase_id <"$WORK/buy.json"): shares used $(jf .retrieved.shares_used <"$WORK/buy.json"), confirm tx $(jf .confirm_tx <"$WORK/buy.json")"
echo "    settled: owner credited $(jf .settled_owner_wei <"$WORK/buy.json") wei, each delivering keeper $(jf .settled_keeper_each_wei <"$WORK/buy.json") wei"
cmp "$WORK/pseudonymised.csv" "$WORK/bought.csv" || fail "the decrypted file differs from the owner's pseudonymised input"
echo "    cmp: bought.csv == pseudonymised.csv ($(wc -c <"$WORK/bought.csv") bytes, byte for byte)"
run "purchases" "$WORK/purchases.json" "$BIN/phd-customer" --json purchases
unset PHD_STATE_DIR
export PHD_STATE_DIR="$WORK/user-state"

# ---------------------------------------------------------------------------------------------
bold "==> owner: sales and withdrawal of earnings"
run "sales" "$WORK/sales.json" "$BIN/phd-user" --json sales
run "withdraw earnings" "$WORK/withdraw.json" "$BIN/phd-user" --json withdraw
echo "    withdrew $(jf .amount_phd <"$WORK/withdraw.json") PHD"

# ---------------------------------------------------------------------------------------------
bold "==> GDPR: export (Art. 15/20), withdraw consent (Art. 7(3)/17), status"
run "export" "$WORK/export.run.json" "$BIN/phd-user" --json export --out "$WORK/export.json"
echo "    export: $(jf '.datasets | length' <"$WORK/export.json") dataset(s), $(jf '.datasets[0].purchases | length' <"$WORK/export.json") purchase(s)"
run "withdraw consent" "$WORK/withdraw-consent.json" "$BIN/phd-user" --json withdraw-consent "$DATASET" --wait 120
run "status" "$WORK/status.json" "$BIN/phd-user" --json status "$DATASET"
ER=$(jf .erasures <"$WORK/status.json"); KC=$(jf .keeper_count <"$WORK/status.json")
PRESENT=$(jf .storage.object_present <"$WORK/status.json")
echo "    status $(jf .status <"$WORK/status.json"): erasure $ER/$KC, object present: ${PRESENT:-unknown}"
[[ "$ER" == "$KC" ]] || fail "erasure confirmations $ER/$KC"
[[ "$PRESENT" == "false" ]] || fail "the sealed object is still in storage"

# ---------------------------------------------------------------------------------------------
bold "==> 9. live series: the watch streams as it records, a subscriber follows through the gateway"
# The owner opens a series (keepers, price per segment, purposes), then `phd-user stream` follows
# the file the watch appends to, cutting a segment per 3 s of samples: each is pseudonymised,
# sealed under a fresh secret, uploaded, its shares handed to the keepers and appended on-chain;
# keepers release each segment to every subscriber in one transaction. The subscriber holds no
# storage credential: it reads the segments through the gateway with tokens signed by its account.
export PHD_STATE_DIR="$WORK/user-state"
run "series create" "$WORK/series.json" \
  "$BIN/phd-user" --json series create --price-per-segment 2 --purposes research \
    --title "BasicMotions smartwatch, live" --data-type accelerometer+gyroscope
SERIES=$(jf .series_id <"$WORK/series.json")
[[ -n "$SERIES" ]] || fail "series create printed no series id"
echo "    series $SERIES: $(jf .price_per_segment_phd <"$WORK/series.json") PHD per segment, $(jf .threshold <"$WORK/series.json") of $(jf '.keepers | length' <"$WORK/series.json") keepers"

# Subscriber: pays for 5 segments from the next one, follows; cancels after 3 (2 refunded).
SEGS=3
FOLLOW_DIR="$WORK/follow"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u PHD_S3_BUCKET PHD_STATE_DIR="$WORK/customer-state" \
  "$BIN/phd-customer" --json follow "$SERIES" --out "$FOLLOW_DIR" --segments 5 --max-segments "$SEGS" \
    --purpose research --poll-ms 200 --progress 0 --format fhir >"$WORK/follow.json" 2>"$WORK/follow.err" &
FOLLOW_PID=$!
for _ in $(seq 1 300); do
  [[ -f "$FOLLOW_DIR/.phd-follow.json" ]] && break
  kill -0 "$FOLLOW_PID" 2>/dev/null || { cat "$WORK/follow.err" >&2; fail "phd-customer follow exited"; }
  sleep 0.1
done
[[ -f "$FOLLOW_DIR/.phd-follow.json" ]] || fail "the subscriber did not subscribe within 30 s"
SUB=$(jf .subscription_id <"$FOLLOW_DIR/.phd-follow.json")
echo "    subscriber: subscription $SUB (5 segments escrowed from segment $(jf .next_seq <"$FOLLOW_DIR/.phd-follow.json")), following with no storage credential"

# Owner: the streamer, behind the gateway, keeping its own copy of each pseudonymised segment.
SOURCE="$WORK/watch.csv"
: >"$SOURCE"
"$BIN/phd-user" --json stream --series "$SERIES" --source "$SOURCE" --state "$WORK/stream-state.json" \
  --segment 3s --max-segments "$SEGS" --poll-ms 100 --progress 0 \
  --pseudonymised-out "$WORK/stream-segments" >"$WORK/stream.json" 2>"$WORK/stream.err" &
STREAM_PID=$!

# The watch: 10 Hz rows from the BasicMotions recording, written 1 s of samples every 0.5 s.
t_stream=$(now_ms)
node -e '
  const fs = require("fs");
  const [ts, out, total] = [process.argv[1], process.argv[2], Number(process.argv[3])];
  const cases = fs.readFileSync(ts, "utf8").split("\n").filter(l => l && !l.startsWith("#") && !l.startsWith("@"));
  const rows = [];
  for (const c of cases) {
    const dims = c.split(":").slice(0, 6).map(d => d.split(","));
    for (let i = 0; i < dims[0].length && rows.length < total; i++) {
      rows.push(`${(rows.length / 10).toFixed(1)},${dims.map(d => d[i]).join(",")}`);
    }
    if (rows.length >= total) break;
  }
  fs.appendFileSync(out, "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n");
  let i = 0;
  const tick = () => {
    fs.appendFileSync(out, rows.slice(i, i + 10).map(r => r + "\n").join(""));
    i += 10;
    if (i < rows.length) setTimeout(tick, 500);
  };
  tick();' "$WORK/BasicMotions_TEST.ts" "$SOURCE" $((SEGS * 30 + 1)) &
WATCH_PID=$!
echo "    watch: writing $((SEGS * 30 + 1)) rows (${SEGS}×3 s of 10 Hz samples + 1) to $SOURCE, 1 s of samples every 0.5 s"

# Progress: each segment as the owner appends it and as the subscriber has it in plaintext
# (segment k's last sample is written ≈ 1.5·(k+1) s after the start).
seen_s=0; seen_f=0
for _ in $(seq 1 600); do
  appended=$( { jf .next_seq <"$WORK/stream-state.json"; } 2>/dev/null || true)
  while (( seen_s < ${appended:-0} )); do
    echo "    owner      appended   segment $seen_s at +$(( $(now_ms) - t_stream )) ms ($(( $(wc -l <"$(printf '%s/segment-%012d.csv' "$WORK/stream-segments" "$seen_s")") - 1 )) rows)"
    seen_s=$((seen_s + 1))
  done
  while [[ -f "$(printf '%s/segment-%012d.csv' "$FOLLOW_DIR" "$seen_f")" ]]; do
    echo "    subscriber decrypted segment $seen_f at +$(( $(now_ms) - t_stream )) ms"
    seen_f=$((seen_f + 1))
  done
  (( seen_f >= SEGS )) && break
  kill -0 "$FOLLOW_PID" 2>/dev/null || break
  sleep 0.1
done
wait "$WATCH_PID" || fail "the watch writer failed"
wait "$STREAM_PID" || { cat "$WORK/stream.err" >&2; fail "phd-user stream"; }
wait "$FOLLOW_PID" || { cat "$WORK/follow.err" >&2; fail "phd-customer follow"; }
echo "    stream: $(jf '.segments | length' <"$WORK/stream.json") segments, $(jf .rows <"$WORK/stream.json") rows; follow: $(jf '.written | length' <"$WORK/follow.json") segments ($(jf .stopped <"$WORK/follow.json"))"
for seq in $(seq 0 $((SEGS - 1))); do
  f=$(printf 'segment-%012d.csv' "$seq")
  cmp "$WORK/stream-segments/$f" "$FOLLOW_DIR/$f" || fail "segment $seq differs from the owner's pseudonymised rows"
done
echo "    cmp: the subscriber's $SEGS segments == the owner's pseudonymised segments, byte for byte"
# `--format fhir`: each segment also as a FHIR R4 Bundle, every sample of every channel in it.
for seq in $(seq 0 $((SEGS - 1))); do
  base=$(printf '%s/segment-%012d' "$FOLLOW_DIR" "$seq")
  rows=$(( $(wc -l <"$base.csv") - 1 ))
  node -e '
    const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const comps = b.entry.flatMap(e => e.resource.component);
    const per = {};
    for (const c of comps) per[c.code.text] = (per[c.code.text] || 0) + c.valueSampledData.data.split(" ").length;
    const counts = Object.values(per);
    if (b.resourceType !== "Bundle" || counts.length !== 6 || counts.some(n => n !== Number(process.argv[2]))) {
      console.error(JSON.stringify(per)); process.exit(1);
    }' "$base.fhir.json" "$rows" || fail "segment $seq: the FHIR copy does not carry the segment's $rows samples per channel"
done
echo "    FHIR: each segment also written as a FHIR R4 Bundle (segment-<seq>.fhir.json), 6 channels × every sample"
SEG_ALLOWED=$(grep '"route":"segment"' "$STATE/gateway/access.jsonl" | grep -c '"allowed":true' || true)
[[ "${SEG_ALLOWED:-0}" -gt 0 ]] || fail "the subscriber did not read through the gateway"
echo "    gateway access log: $SEG_ALLOWED segment request(s) allowed for subscription $SUB"

# Cancel: the 2 segments not released are refunded at once.
run "series-cancel" "$WORK/cancel.json" \
  env PHD_STATE_DIR="$WORK/customer-state" "$BIN/phd-customer" --json series-cancel "$SUB"
echo "    cancelled subscription $SUB: refunded $(jf .refunded_phd <"$WORK/cancel.json") PHD for the segments never released"

bold "==> demo complete: every step passed"

if [[ "${KEEP:-0}" == 1 ]]; then
  bold "==> KEEP=1: a second listing and the web page (phd-web)"
  export PHD_STATE_DIR="$WORK/user-state"
  # A listing still for sale (the first one was just withdrawn); the page works without it too.
  run "publish again" "$WORK/publish2.json" \
    "$BIN/phd-user" --json publish "$WORK/BasicMotions_TEST.ts" \
      --price 12.5 --purposes research,validation,commercial --keep walking,running,badminton \
      --title "BasicMotions smartwatch, for the web page" --pseudonymised-out "$WORK/pseudonymised2.csv" \
    || echo "    (second listing not published; the catalog shows the withdrawn one with ?all=1)"
  if [[ "$PROFILE" != release ]]; then
    # `cargo test --no-run` builds a package's plain binary only for its own integration tests,
    # and phd-web has none: without this the page would be missing (clean clone) or stale.
    "$CARGO" build --locked -p phd-web --bin phd-web
  fi
  WEB_ADDR="127.0.0.1:${PHD_WEB_PORT:-8080}"
  "$BIN/phd-web" --listen "$WEB_ADDR" --download-dir "$WORK/web-downloads" >"$DEMO_DIR/web.log" 2>&1 &
  WEB_PID=$!
  for _ in $(seq 1 100); do
    grep -q "open http" "$DEMO_DIR/web.log" 2>/dev/null && break
    kill -0 "$WEB_PID" 2>/dev/null || fail "phd-web exited: $(tail -n 5 "$DEMO_DIR/web.log")"
    sleep 0.1
  done
  bold "    web page: http://$WEB_ADDR/   (owner: /owner, keepers: /keepers; log $DEMO_DIR/web.log)"
  bold "    the stack and the page keep running; Ctrl-C stops them"
  wait "$DEVNET_PID"
fi
