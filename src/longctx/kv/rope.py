"""RoPE for the decoder and MLA of this package, on ``[B, T, D]`` or ``[B, H, T, D]`` tensors.

A thin adapter over :mod:`longctx.position.rope` (half-split layout, ``base ** (-2i / D)``):
the cache tests use it to check that decoding rotates each token by its *absolute* position.
"""

from __future__ import annotations

import torch

from longctx.position.rope import apply_rope as _apply_rope
from longctx.position.rope import rope_frequencies

__all__ = ["apply_rope"]


def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate ``x`` (``[B, T, D]`` or ``[B, H, T, D]``, D even) at integer ``positions [T]``.

    Returns a tensor shaped and typed like ``x``.
    """
    if x.dim() == 3:  # [B, T, D]: one shared head, as MLA's decoupled key
        return _apply_rope(x.unsqueeze(1), positions, rope_frequencies(x.shape[-1], base=base)).squeeze(1)
    return _apply_rope(x, positions, rope_frequencies(x.shape[-1], base=base))
