"""Sinusoidal position encodings (Vaswani et al., *Attention Is All You Need*, 2017,
arXiv:1706.03762, section 3.5).

Shape legend:
    pe  [T, D]   one encoding per position, added to the token embeddings; D even

Pair i (coordinates 2i and 2i + 1) of position p holds ``sin(p * w_i)`` and ``cos(p * w_i)``
with ``w_i = base^(-2i/D)``: the same frequencies RoPE uses for its rotations. Shifting every
position by k turns each pair by the angle ``k * w_i``, so ``pe[p + k]`` is a fixed linear map
(a block-diagonal rotation that depends on k only) applied to ``pe[p]``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["sinusoidal_encoding", "sinusoidal_shift", "sinusoidal_shift_matrix", "sinusoidal_table"]


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def _check_dim(dim: object) -> int:
    dim = _check_int("dim", dim, 2)
    if dim % 2:
        raise ValueError(f"dim must be even (sin and cos come in pairs), got {dim}")
    return dim


def _check_base(base: object) -> float:
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not math.isfinite(base) or base <= 1:
        raise ValueError(f"base must be a finite number > 1, got {base!r}")
    return float(base)


# --8<-- [start:sinusoidal]
import torch


def sinusoidal_table(num_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """``pe[p, 2i] = sin(p * w_i)``, ``pe[p, 2i + 1] = cos(p * w_i)``, ``w_i = base^(-2i/D)``; [T, D]."""
    w = base ** (-2.0 * torch.arange(dim // 2, dtype=torch.float64) / dim)  # [D/2] radians per position
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * w  # [T, D/2]
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)  # [T, D]: sin, cos, sin, ...


# --8<-- [end:sinusoidal]


def sinusoidal_encoding(num_positions: int, dim: int, *, base: float = 10000.0) -> torch.Tensor:
    """The fixed encodings ``pe[p, 2i] = sin(p * w_i)``, ``pe[p, 2i + 1] = cos(p * w_i)``.

    Args:
        num_positions: T, positions 0 .. T-1.
        dim: D, the model width (even).
        base: 10000 in the Transformer paper; ``w_i = base^(-2i/D)``.

    Returns:
        ``[T, D]`` float64.
    """
    T, D = _check_int("num_positions", num_positions, 1), _check_dim(dim)
    return sinusoidal_table(T, D, _check_base(base))


# --8<-- [start:sinusoidal-shift]
import torch


def sinusoidal_shift_matrix(k: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """M_k with ``pe[p + k] = M_k @ pe[p]``: pair i turned by ``k * w_i``, whatever p is."""
    w = base ** (-2.0 * torch.arange(dim // 2, dtype=torch.float64) / dim)  # [D/2]
    c, s = torch.cos(k * w), torch.sin(k * w)  # [D/2] each
    blocks = torch.stack((torch.stack((c, s), -1), torch.stack((-s, c), -1)), -2)  # [D/2, 2, 2]
    return torch.block_diag(*blocks)  # [D, D]: (sin, cos) of p -> (sin, cos) of p + k


# --8<-- [end:sinusoidal-shift]


def sinusoidal_shift(k: int, dim: int, *, base: float = 10000.0) -> torch.Tensor:
    """The ``[D, D]`` matrix M_k with ``pe[p + k] = M_k @ pe[p]`` for every position p.

    Block-diagonal: pair i is turned by the angle ``k * w_i`` (the sum formulas for sin and
    cos). It depends on the offset k, not on p: the reason the Transformer paper gives for
    hoping the model could attend by relative position.
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    D, base = _check_dim(dim), _check_base(base)
    return sinusoidal_shift_matrix(k, D, base)
