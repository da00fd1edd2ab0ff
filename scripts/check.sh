#!/usr/bin/env bash
# Every check the project has, in the order CI runs them; stops at the first that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --browser
. .venv/bin/activate

export TRITON_INTERPRET=1            # Triton kernels run on the CPU through the interpreter
export NO_MKDOCS_2_WARNING=1
export SITE_URL=http://127.0.0.1:8765/   # the browser tests serve the built site on this port
export PYTHONHASHSEED=0

start_all=$SECONDS
step() {
  local name=$1; shift
  printf '\n\033[1m==> %s\033[0m\n$ %s\n' "$name" "$*"
  local t0=$SECONDS
  "$@"
  printf '\033[1m<== %s: ok in %ss\033[0m\n' "$name" "$((SECONDS - t0))"
}

step "GitHub workflows audit (zizmor, offline: pinned actions, no persisted credentials)" \
  zizmor --offline --no-progress .github
rm -f .coverage .coverage.*
step "unit tests (package, kernels under the interpreter, docs policy, quiz data), with coverage" \
  coverage run -m pytest tests --ignore=tests/browser -p no:cacheprovider
coverage combine -q
step "coverage gate: every statement of every section a page shows was executed" \
  python scripts/check_snippet_coverage.py
step "code blocks in docs/ (pytest-codeblocks)" \
  pytest --codeblocks docs -p no:cacheprovider -q
step "site build (mkdocs build --strict, notebooks executed)" \
  timeout 600 mkdocs build --strict
step "links and anchors of the built site" \
  python scripts/check_links.py site
step "paste test: every Python block of the lessons, topics and drills runs when copied, without longctx" \
  env LONGCTX_SITE_DIR=site pytest tests/test_paste.py -k every_page -p no:cacheprovider -q -s
step "browser tests (headless Chromium, offline)" \
  pytest tests/browser -p no:cacheprovider
printf '\n\033[1mall checks passed in %ss\033[0m\n' "$((SECONDS - start_all))"
