#!/usr/bin/env bash
# Install what the slide decks and the real-browser test need, when it is missing:
#
#   - the npm packages of package-lock.json (reveal.js and KaTeX for the offline site and decks,
#     playwright-core to drive the browser): `npm ci`, skipped when node_modules is up to date;
#   - Debian's Chromium (/usr/bin/chromium): `apt-get install chromium`, as root (CI runs as
#     root; elsewhere sudo is tried without a password prompt). Playwright's own browser download
#     (`npx playwright install`) is not used: it fetches from outside the package registries.
#   - poppler-utils (pdfinfo, pdftotext, pdftoppm): the talk's test reads its PDFs with them
#     (tests/browser/test_talk.py), installed the same way.
#
#   bash tools/setup_browser.sh           # install what is missing
#   bash tools/setup_browser.sh --check   # only report; exit 1 if something is missing
#
# Set CHROMIUM=/path/to/chrome to use another Chromium or Chrome instead of Debian's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

check_only=0
[[ "${1:-}" == "--check" ]] && check_only=1
missing=0

chromium_bin() {
  for c in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    [[ -n "$c" && -x "$c" ]] && { echo "$c"; return 0; }
  done
  command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || return 1
}

# --- npm packages ------------------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1; then
  echo "setup_browser: npm not found: install Node.js 20 or newer (Debian: apt-get install nodejs npm)" >&2
  missing=1
elif [[ -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
  echo "setup_browser: node_modules up to date"
elif (( check_only )); then
  echo "setup_browser: node_modules missing or older than package-lock.json (run npm ci)" >&2
  missing=1
else
  echo "setup_browser: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- Chromium ----------------------------------------------------------------------------------
if bin=$(chromium_bin); then
  echo "setup_browser: chromium at ${bin} ($("${bin}" --version 2>/dev/null || echo 'version unknown'))"
elif (( check_only )); then
  echo "setup_browser: chromium not installed (apt-get install chromium)" >&2
  missing=1
else
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "setup_browser: chromium is missing and this user cannot install packages." >&2
    echo "  Install it as root: apt-get update && apt-get install -y chromium" >&2
    echo "  (or set CHROMIUM=/path/to/chrome)" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: no apt-get here: install Chromium or Chrome and set CHROMIUM=/path/to/it" >&2
    exit 1
  fi
  echo "setup_browser: apt-get install chromium"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
  bin=$(chromium_bin)
  echo "setup_browser: chromium at ${bin} ($("${bin}" --version))"
fi

# --- poppler-utils (the talk's PDF checks) ---------------------------------------------------------
if command -v pdfinfo >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then
  echo "setup_browser: poppler-utils present ($(pdfinfo -v 2>&1 | head -n 1))"
elif (( check_only )); then
  echo "setup_browser: poppler-utils not installed (apt-get install poppler-utils)" >&2
  missing=1
elif [[ $(id -u) -eq 0 ]] || (command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
  echo "setup_browser: apt-get install poppler-utils"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -qq poppler-utils >/dev/null \
    || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq poppler-utils >/dev/null; }
else
  echo "setup_browser: poppler-utils is missing; install it as root: apt-get install -y poppler-utils" >&2
  exit 1
fi

exit "${missing}"
