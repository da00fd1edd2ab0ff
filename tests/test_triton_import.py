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

SRC = Path(__file__).resolve().parents[1] / "src" / "longctx"


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
