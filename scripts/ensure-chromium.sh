#!/usr/bin/env bash
# The browser tests (tests/tests/it/web.rs) drive Debian's headless Chromium through its
# chromedriver. Installs both when missing (CI runs as root); otherwise says exactly what to run.
# The tests themselves fail with the same message when Chromium is still missing: never skipped.
set -euo pipefail
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing chromium and chromium-driver (browser tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  exit 0
fi
echo "browser tests need /usr/bin/chromium and /usr/bin/chromedriver:" >&2
echo "  sudo apt-get install -y chromium chromium-driver" >&2
exit 1
