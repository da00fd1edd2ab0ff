#!/usr/bin/env bash
# Every check the project has, in the order CI runs them; stops at the first that fails.
#   scripts/check.sh          everything (what `make test` and CI run)
#   scripts/check.sh --quick  the inner loop: lint, package tests and docs policy; no site build
# Each step has a time budget in seconds; together they are the 6 minutes (360 s) the checks
# may take on the project's 2-core machine (90 s for --quick). The site build runs beside the
# steps up to the unit tests, on the same two cores, so the unit tests' budget includes it. The
# table at the end shows each budget beside the time taken and marks a step over it.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
[ "${1:-}" = "--quick" ] && quick=true
if $quick; then scripts/setup.sh; else scripts/setup.sh --browser; fi
. .venv/bin/activate

export TRITON_INTERPRET=1            # Triton kernels run on the CPU through the interpreter
export NO_MKDOCS_2_WARNING=1
export SITE_URL=http://127.0.0.1:8765/   # the browser tests serve the built site on this port
export PYTHONHASHSEED=0
# One compute thread per process: every step runs a process per core already (xdist workers, two
# labs at a time in the build beside them), and the tensors are too small for a second thread to pay.
export OMP_NUM_THREADS=1
# Compiled modules are kept in __pycache__ (ignored by git) even where the environment says not to
# write them: a dozen processes import the package and the tests, and without the cache each one
# compiles them again, and pytest rewrites the asserts of every test module (a collection of the
# unit tests took 7 s instead of 1.5).
unset PYTHONDONTWRITEBYTECODE

start_all=$SECONDS
names=() budgets=() took=() current=""
declare -A bg_pid=() bg_log=()  # steps started with `beside`, by name

# step NAME [BUDGET_SECONDS] COMMAND...   (a step without a budget shows "-" in the table)
step() {
  local name=$1 budget=-; shift
  if [[ ${1:-} =~ ^[0-9]+$ ]]; then budget=${1}s; shift; fi
  printf '\n\033[1m==> %s\033[0m\n$ %s\n' "$name" "$*"
  current=$name
  local t0=$SECONDS
  "$@"
  local dt=$((SECONDS - t0))
  names+=("$name") budgets+=("$budget") took+=("$dt") current=""
  printf '\033[1m<== %s: ok in %ss (budget %s)\033[0m\n' "$name" "$dt" "$budget"
}

# beside NAME COMMAND...   start a step in the background, where it shares the cores with the steps
# that follow (each of those uses one core for part of its time); its output is kept and shown by
# `joined NAME`, a step of its own whose time is what was left of it after those steps.
beside() {
  local name=$1; shift
  bg_log[$name]=$(mktemp)
  printf '\n\033[1m==> %s: started, beside the steps that follow\033[0m\n$ %s\n' "$name" "$*"
  ( t0=$SECONDS; rc=0; "$@" >"${bg_log[$name]}" 2>&1 || rc=$?
    echo "$name: exit status $rc, $((SECONDS - t0))s in all" >>"${bg_log[$name]}"; exit "$rc" ) &
  bg_pid[$name]=$!
}
joined() {
  local name=$1 rc=0
  wait "${bg_pid[$name]}" || rc=$?
  unset "bg_pid[$name]"
  cat "${bg_log[$name]}"
  return "$rc"
}

stop_tree() {  # a process and every process it started
  local child
  for child in $(pgrep -P "$1"); do stop_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

# The table, also when a step fails (then that step is the last line, marked FAILED).
summary() {
  local rc=$? i over total_budget=0
  for i in "${bg_pid[@]}"; do stop_tree "$i"; done  # a step failed while these ran
  for i in "${bg_log[@]}"; do rm -f "$i"; done
  printf '\n%-72s %7s %7s\n' "step" "budget" "took"
  for i in "${!names[@]}"; do
    over=""
    if [[ ${budgets[$i]} != - ]]; then
      [[ ${took[$i]} -gt ${budgets[$i]%s} ]] && over="  over budget"
      total_budget=$((total_budget + ${budgets[$i]%s}))
    fi
    printf '%-72s %7s %6ss%s\n' "${names[$i]:0:72}" "${budgets[$i]}" "${took[$i]}" "$over"
  done
  [ -n "$current" ] && printf '%-72s %7s %7s\n' "${current:0:72}" "" "FAILED"
  printf '%-72s %6ss %6ss\n' "total" "$total_budget" "$((SECONDS - start_all))"
  if [ "$rc" = 0 ]; then
    printf '\033[1mall checks passed in %ss\033[0m\n' "$((SECONDS - start_all))"
  fi
}
trap summary EXIT

# The site build, from the start: it waits on its labs' processes for part of its time, and the
# first steps and the unit tests use the cores it leaves.
$quick || beside "site build (mkdocs build --strict, notebooks executed)" timeout 600 mkdocs build --strict

step "GitHub workflows audit (zizmor, offline: pinned actions, no persisted credentials)" 2 \
  zizmor --offline --no-progress .github
step "lint (ruff check)" 2 \
  ruff check --no-cache .
step "format (ruff format --check; pyproject.toml says what is left as written, and why)" 2 \
  ruff format --check --no-cache .
step "compile gate: every Triton kernel configuration for sm_80 and sm_90a (table cached in docs/data/compiled)" 4 \
  python scripts/compile_gate.py

if $quick; then
  # the tests below on every core, without coverage and without the end-to-end runs marked slow
  step "unit tests but the slow ones (package, kernels under the interpreter, docs policy, quiz data)" 80 \
    pytest tests --ignore=tests/browser -p no:cacheprovider -q -n auto -m "not slow"
  exit 0
fi

# (the GPU tests change seldom: left to make test, out of the inner loop)
step "GPU tests collect with only the GPU machine's packages (every other package hidden)" 20 \
  env PYTHONPATH=scripts/gpu_env PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 \
  python -m pytest --collect-only -q -m gpu tests --ignore=tests/browser -p no:cacheprovider

# Unit tests on every core (pytest-xdist), each worker under coverage; pytest-cov combines the
# workers' data (and that of the processes they spawn) into .coverage for the gate.
rm -f .coverage .coverage.*
step "unit tests (package, kernels under the interpreter, docs policy, quiz data), with coverage" 140 \
  pytest tests --ignore=tests/browser -p no:cacheprovider -q -n auto --cov --cov-report=
step "site build: what is left of it after the unit tests (its own time ends its output)" 5 \
  joined "site build (mkdocs build --strict, notebooks executed)"
beside "paste test: every Python block of the lessons, topics and drills runs when copied, without longctx" \
  env LONGCTX_SITE_DIR=site pytest tests/test_paste.py -k every_page -p no:cacheprovider -q -s
step "coverage gate: every statement of every section a page shows was executed" 5 \
  python scripts/check_snippet_coverage.py
step "code blocks in docs/ (pytest-codeblocks)" 5 \
  pytest --codeblocks docs -p no:cacheprovider -q
step "links and anchors of the built site" 3 \
  python scripts/check_links.py site
step "paste test: what is left of it after the three steps above" 2 \
  joined "paste test: every Python block of the lessons, topics and drills runs when copied, without longctx"
step "browser tests (headless Chromium, offline)" 170 \
  pytest tests/browser -p no:cacheprovider -n 2
