"""Where Triton kernels run: on a CUDA GPU, or on the CPU through Triton's interpreter.

The interpreter (``TRITON_INTERPRET=1``) runs a kernel's Python body one program at a time on
CPU tensors. It must be switched on *before* ``triton`` is first imported, so this module is
imported ahead of any kernel module: with no GPU present it sets the variable itself, unless
the caller already chose.
"""

from __future__ import annotations

import os
import sys

import torch

if "triton" not in sys.modules and not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402  (must follow the environment set-up above)

__all__ = ["interpreting", "check_device", "triton"]


def interpreting() -> bool:
    """True when Triton kernels run in the CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def check_device(name: str, t: torch.Tensor) -> None:
    """Raise unless ``t`` lives where a kernel can read it (CUDA, or CPU under the interpreter)."""
    if t.is_cuda or (t.device.type == "cpu" and interpreting()):
        return
    raise ValueError(
        f"{name} is on {t.device}: Triton kernels need a CUDA tensor, or a CPU tensor with "
        "TRITON_INTERPRET=1 set before triton is imported"
    )
