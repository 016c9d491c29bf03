#!/usr/bin/env bash
# What the browser test (tests/test_web_browser.py) needs: Debian's Chromium, Node.js with npm,
# and the npm packages of tests/browser pinned by its committed package-lock.json (npm ci).
# Idempotent: each step is skipped when done. Installs system packages only as root with apt-get;
# otherwise it says what is missing (the test then fails in CI and as root, and skips otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser_deps: installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "browser_deps: ${need_apt[*]} missing (install as root: apt-get install ${need_apt[*]})" >&2
    [ -z "${CI:-}" ] || exit 1
    exit 0
  fi
fi

# npm ci again only when the lockfile changed; no install scripts are needed (esbuild's binary
# comes as its platform's optional package)
stamp="tests/browser/node_modules/.ci-$(sha256sum tests/browser/package-lock.json | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "browser_deps: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  touch "$stamp"
fi
