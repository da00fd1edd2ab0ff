#!/usr/bin/env bash
# On a machine with a CUDA GPU: the GPU-marked tests, then the benchmark, in under 8 minutes.
#   scripts/gpu-check.sh OUT_DIR
# Writes OUT_DIR/gpu-tests.txt (pytest's output), OUT_DIR/gpu-tests.xml (JUnit) and
# OUT_DIR/bench.json (python -m longctx.bench). Runs the package from the tree (PYTHONPATH=src)
# with whatever torch and triton the machine has, so it needs no install.
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
unset TRITON_INTERPRET                 # real kernels, not the CPU interpreter
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}

"$PY" - <<'PY' || { echo "no CUDA GPU visible: nothing to do" >&2; exit 2; }
import sys, torch, triton
print(f"torch {torch.__version__}, triton {triton.__version__}, cuda {torch.version.cuda}")
sys.exit(0 if torch.cuda.is_available() else 1)
PY
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

printf '==> GPU tests (pytest -m gpu)\n'
timeout 240 "$PY" -m pytest -m gpu tests --ignore=tests/browser -p no:cacheprovider -q -rfEs \
  --junitxml="$out/gpu-tests.xml" 2>&1 | tee "$out/gpu-tests.txt"
tests_rc=${PIPESTATUS[0]}

printf '==> benchmark (python -m longctx.bench)\n'
timeout 220 "$PY" -m longctx.bench --out "$out/bench.json" "${@:2}" 2>&1 | tee "$out/bench.txt"
bench_rc=${PIPESTATUS[0]}

printf '==> GPU tests exit %s, benchmark exit %s; results in %s\n' "$tests_rc" "$bench_rc" "$out"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ]
