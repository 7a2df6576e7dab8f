#!/usr/bin/env bash
# `make s3-compat`: phd-storage against another S3 implementation than the embedded s3s-fs
# server: moto's `moto_server` (PyPI, pinned in scripts/s3-compat-requirements.txt, installed
# into target/s3-compat-venv; nothing else is downloaded). Runs the ignored integration test
# `s3_compat_external_endpoint` of crates/phd-storage/tests/store.rs (single and multipart
# uploads, ranged GETs inside and across parts, a streamed range, presigned GET, a sealed
# object opened chunk by chunk from ranged reads, delete) over loopback HTTP, path-style
# addressing. Not part of `make test` (it installs from PyPI on first use). docs/STORAGE.md.
#
# Env: CARGO (cargo), S3_COMPAT_PORT (free port picked when unset). The test builds with
# `--workspace` so the features match `make test` and its artifacts are reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
VENV="$ROOT/target/s3-compat-venv"
REQS="$ROOT/scripts/s3-compat-requirements.txt"
OUT="$ROOT/target/s3-compat"
mkdir -p "$OUT"

stamp="$VENV/.requirements"
if [[ ! -x "$VENV/bin/moto_server" ]] || ! cmp -s "$REQS" "$stamp"; then
  echo "== installing moto into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$stamp"
fi

PORT="${S3_COMPAT_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$OUT/moto.log" 2>&1 &
MOTO=$!
trap 'kill "$MOTO" 2>/dev/null || true; wait "$MOTO" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$MOTO" 2>/dev/null || { cat "$OUT/moto.log" >&2; echo "moto_server exited" >&2; exit 1; }
  sleep 0.1
done
echo "== moto_server $("$VENV/bin/python" -c 'import moto; print(moto.__version__)') on http://127.0.0.1:$PORT (log $OUT/moto.log)"
echo "== path-style addressing (http://127.0.0.1:$PORT/<bucket>/<key>)"
PHD_S3_COMPAT_ENDPOINT="http://127.0.0.1:$PORT" \
  "$CARGO" test --workspace --locked --test store -- --ignored s3_compat --nocapture
# Virtual-host addressing needs <bucket>.localhost to resolve to loopback (systemd-resolved
# does; plain glibc with /etc/hosts does not), and the SDK never uses it for an IP endpoint.
if getent hosts phd-s3-compat-probe.localhost >/dev/null 2>&1; then
  echo "== virtual-host addressing (http://<bucket>.localhost:$PORT/<key>)"
  PHD_S3_COMPAT_ENDPOINT="http://localhost:$PORT" PHD_S3_COMPAT_PATH_STYLE=false \
    "$CARGO" test --workspace --locked --test store -- --ignored s3_compat --nocapture
else
  echo "== virtual-host addressing: not run (<bucket>.localhost does not resolve on this machine)"
fi
