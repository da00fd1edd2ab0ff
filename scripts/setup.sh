#!/usr/bin/env bash
# Set up everything the site and the tests need, in this folder; safe to run again.
#   scripts/setup.sh            Python packages (.venv) and front-end assets (node_modules)
#   scripts/setup.sh --browser  the same, plus a Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
VENV=.venv
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

# 1. A virtual environment, created once and reused.
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "Python 3.10 or newer is needed (found $("$PY" --version))" >&2; exit 1; }
  say "creating the virtual environment $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
else
  say "reusing the virtual environment $VENV"
fi

# 2. Python packages: installed again only when requirements.txt or pyproject.toml changed.
stamp="$VENV/.longctx-installed"
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (requirements.txt, then longctx in editable mode)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements.txt
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps -e .
  echo "$want" > "$stamp"
else
  say "Python packages are up to date"
fi

# 3. KaTeX and fonts, from the committed package-lock.json.
nstamp=node_modules/.longctx-installed
nwant=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat "$nstamp" 2>/dev/null)" != "$nwant" ]; then
  say "installing front-end assets with npm ci (KaTeX, Roboto)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$nwant" > "$nstamp"
else
  say "front-end assets are up to date"
fi

# 4. A browser for the browser tests: Chromium's headless build (Debian's chromium-headless-shell,
#    the build Playwright itself runs headless; the same tests take a fifth less CPU than in the
#    full chromium), installed from Debian's packages when running as root; else the system's
#    chromium; otherwise Playwright's own headless build, where it can be downloaded.
debian() {  # install Debian packages; read the package lists again only if the first try fails
  local apt=(apt-get -qq -o Acquire::Retries=1 -o Acquire::http::Timeout=30)  # no long hang offline
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y "$@" >/dev/null 2>&1 \
    || { "${apt[@]}" update && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y "$@" >/dev/null; }
}
if [ "${1:-}" = "--browser" ]; then
  if command -v chromium-headless-shell >/dev/null 2>&1; then
    say "using the system's $(chromium-headless-shell --version 2>/dev/null | head -n1) (headless shell)"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && debian chromium-headless-shell; then
    say "installed Debian's chromium-headless-shell package"
  elif command -v chromium >/dev/null 2>&1; then
    say "using the system's $(chromium --version 2>/dev/null | head -n1) (no headless shell could be installed)"
  else
    say "no system Chromium: installing Playwright's own headless build"
    "$VENV/bin/python" -m playwright install --only-shell chromium
  fi
fi
say "setup done"
