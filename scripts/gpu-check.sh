#!/usr/bin/env bash
# On a machine with a CUDA GPU: the GPU-marked tests, the benchmark, then the compile gate, in
# about 5 minutes (each step has its own time limit, so a failed first run leaves time for a second).
#   scripts/gpu-check.sh OUT_DIR [benchmark options]
# Writes OUT_DIR/gpu-tests.txt (pytest's output), OUT_DIR/gpu-tests.xml (JUnit), OUT_DIR/bench.json
# and bench.txt (python -m longctx.bench), and OUT_DIR/compiled/ (the compile gate's table for this
# machine's Triton). Runs the package from the tree (PYTHONPATH=src) with whatever torch and triton
# the machine has, so it needs no install: only torch, triton, numpy and pytest (test modules that
# need the site's packages, mkdocs or griffe, are skipped at collection, naming the package).
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT_DIR [benchmark options]}
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
unset TRITON_INTERPRET                 # real kernels, not the CPU interpreter
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-$HOME/.cache/longctx-triton}  # never inside the checkout
PY=${PYTHON:-python3}
start=$SECONDS

"$PY" - <<'PY' || { echo "no CUDA GPU visible: nothing to do" >&2; exit 2; }
import sys, torch, triton
print(f"torch {torch.__version__}, triton {triton.__version__}, cuda {torch.version.cuda}")
sys.exit(0 if torch.cuda.is_available() else 1)
PY
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

# The tests take each kernel's first tile candidate (no timing of candidates: it would compile
# every one of them); the benchmark below tunes, and records the configuration each row used.
printf '==> GPU tests (pytest -m gpu), limit 150 s\n'
LONGCTX_AUTOTUNE=0 timeout 150 "$PY" -m pytest -m gpu tests --ignore=tests/browser -p no:cacheprovider -q -rfEs \
  --junitxml="$out/gpu-tests.xml" 2>&1 | tee "$out/gpu-tests.txt"
tests_rc=${PIPESTATUS[0]}

printf '==> benchmark (python -m longctx.bench), limit 150 s\n'
timeout 150 "$PY" -m longctx.bench --out "$out/bench.json" "${@:2}" 2>&1 | tee "$out/bench.txt"
bench_rc=${PIPESTATUS[0]}

printf '==> compile gate (scripts/compile_gate.py) for this Triton, limit 60 s\n'
timeout 60 "$PY" scripts/compile_gate.py --out "$out/compiled" --jobs "$(nproc 2>/dev/null || echo 4)" \
  2>&1 | tail -n 60 | tee "$out/compiled-gate.txt"
gate_rc=${PIPESTATUS[0]}

printf '==> GPU tests exit %s, benchmark exit %s, compile gate exit %s, in %s s; results in %s\n' \
  "$tests_rc" "$bench_rc" "$gate_rc" "$((SECONDS - start))" "$out"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ]   # the gate's verdict on this Triton is reported, not fatal here
