"""Where Triton kernels run (a CUDA GPU, or the CPU through Triton's interpreter), and how they are launched.

The interpreter (``TRITON_INTERPRET=1``) runs a kernel's Python body one program at a time on
CPU tensors. It must be switched on before a kernel is defined (``@triton.jit`` reads it then),
so every kernel module imports this one first: with no GPU present it sets the variable itself,
unless the caller already chose.

Launch configurations. Every kernel module lists, in ``CONFIGS``, the finite set of
:class:`KernelConfig` its launcher can choose on a GPU: the tiles, warps and pipeline stages and
every compile-time constant that changes the code. ``scripts/compile_gate.py`` compiles each of
them for sm_80 and sm_90a without a GPU and fails on spills, shared memory past the card's limit
or missing tensor-core instructions; a test checks that every choice a launcher makes is listed.
Where a launcher has several candidates for one call, :class:`Tuner` times them once on the GPU
and keeps the fastest per key (the interpreter always takes the first, small, candidate).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402  (must follow the environment set-up above)
import triton.language as tl  # noqa: E402

__all__ = [
    "DTYPE_NAMES",
    "KernelConfig",
    "Tuner",
    "check_device",
    "interpreting",
    "last_configs",
    "tl",
    "triton",
]

#: The dtypes the kernels take, by the names the configuration lists use.
DTYPE_NAMES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}

_LAST: dict[str, KernelConfig] = {}


def interpreting() -> bool:
    """True when Triton kernels run in the CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _patch_language_once_per_launch() -> None:
    """Make Triton's interpreter swap in its ``triton.language`` once per launch, not at every helper call.

    A launch swaps the module's functions for the interpreter's own and puts them back when the grid
    is done; every call of a ``@triton.jit`` helper inside the kernel (``InterpretedFunction.__call__``)
    swaps them again, walking the whole module each time (about a millisecond), although the launch
    has done it already. Inside a launch, a helper whose modules are swapped already now skips that
    walk; a launch, and a helper that sees another module (``triton.language.standard``'s see
    ``tl.core``), go through Triton's own code. The kernel tests under the interpreter: 96 core-seconds
    before, 70 after. Left as it is where the interpreter has no ``_patch_lang`` (another version).
    """
    from triton.runtime import interpreter

    patch = getattr(interpreter, "_patch_lang", None)
    if patch is None or getattr(patch, "once_per_launch", False):
        return
    swapped: set[int] = set()  # ids of the modules swapped in the running launch; empty between launches

    def modules(fn) -> set[int]:
        return {id(v) for v in fn.__globals__.values() if v is tl or v is tl.core}

    def patch_once(fn):
        mine = modules(fn)
        if swapped:  # a helper called inside the running launch (Triton drops what it returns)
            if not mine <= swapped:  # triton.language.standard's helpers see tl.core
                patch(fn)
                swapped.update(mine)
            return None
        scope = patch(fn)  # a launch (it sees tl or tl.core, Triton asserts): restored when the grid is done
        swapped.update(mine)
        restore = scope.restore

        def restore_and_forget() -> None:
            swapped.clear()
            restore()

        scope.restore = restore_and_forget
        return scope

    patch_once.once_per_launch = True
    interpreter._patch_lang = patch_once


if interpreting():
    _patch_language_once_per_launch()


def check_device(name: str, t: torch.Tensor) -> None:
    """Raise unless ``t`` lives where a kernel can read it (CUDA, or CPU under the interpreter)."""
    if t.is_cuda or (t.device.type == "cpu" and interpreting()):
        return
    raise ValueError(
        f"{name} must be a CUDA tensor, or a CPU tensor with TRITON_INTERPRET=1 set before triton "
        f"is imported, got a tensor on {t.device}"
    )


@dataclass(frozen=True)
class KernelConfig:
    """One compiled variant of a kernel: its constants, warps and pipeline stages, for one dtype.

    ``dtype`` is the data dtype (``"float16"``, ``"bfloat16"`` or ``"float32"``); ``constexprs``
    holds ``(name, value)`` pairs sorted by name, every ``tl.constexpr`` argument of the kernel.
    """

    kernel: str
    dtype: str
    constexprs: tuple[tuple[str, object], ...]
    num_warps: int = 4
    num_stages: int = 1

    @classmethod
    def make(
        cls,
        kernel: str,
        dtype: torch.dtype | str,
        num_warps: int = 4,
        num_stages: int = 1,
        **constexprs: object,
    ) -> KernelConfig:
        name = DTYPE_NAMES.get(dtype, dtype) if isinstance(dtype, torch.dtype) else dtype
        return cls(kernel, name, tuple(sorted(constexprs.items())), num_warps, num_stages)

    def const(self, name: str) -> object:
        """The value of one constant."""
        return dict(self.constexprs)[name]

    def launch(self) -> dict[str, object]:
        """Keyword arguments of the launch; warps and stages mean nothing to the interpreter."""
        _LAST[self.kernel] = self
        gpu = {} if interpreting() else {"num_warps": self.num_warps, "num_stages": self.num_stages}
        return {**dict(self.constexprs), **gpu}

    def describe(self) -> str:
        """``BLOCK_M=128 BLOCK_N=64 ...`` of the constants, for tables and benchmark records."""
        return " ".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in self.constexprs)


def last_configs() -> dict[str, KernelConfig]:
    """The configuration each kernel was last launched with, by kernel name (for benchmark records)."""
    return dict(_LAST)


class Tuner:
    """Pick the fastest of a short candidate list once per key, by timing each on the GPU.

    Under the interpreter, or with ``LONGCTX_AUTOTUNE=0`` in the environment, the first candidate
    is taken without timing. A candidate that fails to launch (out of resources) is skipped.
    """

    def __init__(self) -> None:
        self.chosen: dict[Hashable, KernelConfig] = {}

    def pick(
        self, key: Hashable, candidates: Sequence[KernelConfig], run: Callable[[KernelConfig], object]
    ) -> KernelConfig:
        if len(candidates) == 1 or interpreting() or os.environ.get("LONGCTX_AUTOTUNE", "1") == "0":
            return candidates[0]
        if key not in self.chosen:
            from triton.testing import do_bench

            times = []
            for cfg in candidates:
                try:
                    times.append((do_bench(lambda c=cfg: run(c), warmup=5, rep=20), len(times), cfg))
                except Exception:  # noqa: BLE001 - a candidate the card cannot run is not chosen
                    times.append((float("inf"), len(times), cfg))
            self.chosen[key] = min(times)[2]
        return self.chosen[key]


def length_bucket(n: int) -> int:
    """The power of two at or above ``n`` (at most 2**16): the tuners' key for a sequence length."""
    return min(triton.next_power_of_2(max(int(n), 1)), 1 << 16)
