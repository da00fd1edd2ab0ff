"""A plain rotary position embedding (RoPE), enough for the decoder and MLA here.

Shape legend: x [..., T, D] with D even; positions [T] (absolute token positions).

The "rotate-half" layout: dims ``i`` and ``i + D/2`` form one rotating pair with frequency
``base ** (-2i / D)``. The ``longctx.position`` lessons treat RoPE properly; this copy exists
so that the cache tests check that decoding uses each token's *absolute* position.
"""

from __future__ import annotations

import torch


__all__ = ["apply_rope"]


# --8<-- [start:rope]
def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate each pair ``(x[..., i], x[..., i + D/2])`` by ``positions * base**(-2i/D)``.

    Args:
        x: ``[..., T, D]`` floating tensor, ``D`` even.
        positions: ``[T]`` integer positions of the ``T`` rows.
        base: frequency base, default 10000.

    Returns:
        Tensor shaped and typed like ``x``.
    """
    D = x.shape[-1]
    if D % 2:
        raise ValueError(f"x's last dim must be even for RoPE, got {D}")
    if positions.dim() != 1 or positions.shape[0] != x.shape[-2]:
        raise ValueError(f"positions must be [T] with T = {x.shape[-2]}, got {tuple(positions.shape)}")
    half = D // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float64) * 2 / D)  # [D/2]
    angle = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # [T, D/2]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)  # [T, D/2] each
    x1, x2 = x[..., :half], x[..., half:]  # [..., T, D/2] each
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # [..., T, D]
# --8<-- [end:rope]
