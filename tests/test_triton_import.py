"""Triton is imported only through ``longctx._triton``, which first picks where kernels run.

On a machine without CUDA, ``longctx._triton`` sets ``TRITON_INTERPRET=1`` before it imports
triton, so that an engineer can call a kernel on CPU tensors without setting anything. A module
that imported ``triton`` (or ``triton.language``) itself, ahead of it (import sorting puts
third-party imports first), would load triton with the interpreter off, and the first call
failed with "Cannot call @triton.jit'd outside of the scope of a kernel".
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from longctx._triton import interpreting, tl, triton

SRC = Path(__file__).resolve().parents[1] / "src" / "longctx"


@triton.jit
def _twice(x):
    return x * 2


@triton.jit
def _kernel(x_ptr, out_ptr, N: tl.constexpr, STEPS: tl.constexpr, FAIL: tl.constexpr):
    offs = tl.arange(0, N)
    acc = tl.zeros([N], dtype=tl.float32)
    for _ in range(STEPS):  # a helper of ours and one of the standard library, at every step
        x = tl.load(x_ptr + offs)
        acc += _twice(x) - tl.max(x, axis=0)
    tl.static_assert(not FAIL, "asked to fail")
    tl.store(out_ptr + offs, acc)


def test_no_module_imports_triton_before_longctx_triton():
    """The sections a page shows may import triton themselves (a reader pastes them), after the
    module has imported longctx._triton."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "_triton.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module == "longctx._triton":
                break
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n == "triton" or n.startswith("triton.") for n in names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, f"import triton and tl from longctx._triton, before any triton import: {offenders}"


def test_a_kernel_runs_on_the_cpu_without_triton_interpret_set():
    if torch.cuda.is_available():
        pytest.skip("longctx._triton sets TRITON_INTERPRET only where no CUDA GPU is")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    code = (
        "import torch\n"
        "from longctx.attention import attention_ref\n"
        "from longctx.flash import flash_attention\n"
        "q, k, v = (torch.randn(1, 2, 9, 16) for _ in range(3))\n"
        "out = flash_attention(q, k, v, causal=True)\n"
        "ref = attention_ref(q.double(), k.double(), v.double(), causal=True)\n"
        "print(float((out.double() - ref).abs().max()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout) < 1e-5


def test_the_interpreter_swaps_triton_language_once_per_launch_and_puts_it_back(monkeypatch):
    """``longctx._triton`` spares the interpreter its walk over ``triton.language`` at each helper call
    (``_patch_language_once_per_launch``): a launch whose loop calls helpers walks the modules a few
    times (``tl`` at the launch, then those the standard library's ``tl.max`` sees), as often for 1 loop
    step as for 6, puts every function back when the grid is done, also after a kernel that failed,
    and computes what it did before."""
    if not interpreting():
        pytest.skip("the interpreter runs only where no CUDA GPU is")
    from triton.runtime import interpreter

    assert getattr(interpreter._patch_lang, "once_per_launch", False)

    walks = []
    walk = interpreter._patch_builtin
    monkeypatch.setattr(interpreter, "_patch_builtin", lambda *a: (walks.append(a[0]), walk(*a))[1])
    builtins = {name: getattr(tl, name) for name in ("load", "store", "max", "zeros", "arange")}
    x = torch.randn(16, dtype=torch.float32)
    out = torch.empty_like(x)
    with pytest.raises(Exception, match="asked to fail"):
        _kernel[(1,)](x, out, N=16, STEPS=2, FAIL=True)
    assert {name: getattr(tl, name) for name in builtins} == builtins
    per_launch = []
    for steps in (1, 6):
        walks.clear()
        _kernel[(1,)](x, out, N=16, STEPS=steps, FAIL=False)
        per_launch.append(len(walks))
        assert {name: getattr(tl, name) for name in builtins} == builtins
    # a walk is 3 or 4 calls of _patch_builtin (a module, its tensor class, ...); walking again at each
    # helper call, as Triton alone does, the 10 more helper calls of 6 steps would add dozens
    assert per_launch[0] == per_launch[1] <= 12, f"walks over triton.language for 1 and 6 steps: {per_launch}"
    torch.testing.assert_close(out, 6 * (2 * x - x.max()), rtol=0, atol=1e-5)
