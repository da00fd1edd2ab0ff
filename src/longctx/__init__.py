"""longctx: the tested package behind the course *Long Context & Efficient Attention*.

Subpackages are named by technique: ``costs`` (what attention costs), ``attention`` (the
naive reference and a fused softmax kernel), ``bench`` (measurements), ``figures`` (the
site's plots). Every code block on the course site is included from here.

At the top level, :func:`last_configs` says which launch configuration each Triton kernel last
ran with; ``import longctx`` itself needs neither torch nor Triton.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from longctx._triton import KernelConfig

__version__ = "0.1.0"
__all__ = ["last_configs"]


def last_configs() -> dict[str, KernelConfig]:
    """The configuration each Triton kernel was last launched with in this process, by kernel name.

    A configuration holds the kernel's compile-time constants (tiles and flags), warps and
    pipeline stages for one dtype; ``cfg.describe()`` writes the constants as ``BLOCK_M=128 ...``.
    The benchmarks record it beside each timing. Empty until a kernel has run.

    Raises:
        ImportError: Triton is not installed (no kernel can have run).
    """
    from longctx._triton import last_configs as recorded

    return recorded()
