"""ALiBi: attention with linear biases (Press, Smith, Lewis, *Train Short, Test Long*, 2021,
arXiv:2108.12409).

Shape legend:
    q      [B, H, T, D]      k/v [B, H_kv, S, D]
    slopes [H]               one slope per query head
    bias   [H, T, S]         added to the scores before the softmax

No position enters the embeddings. Head h adds ``-m_h * (i' - j)`` to the score of query
position i' and key position j: a penalty linear in the distance, steeper for heads with a
larger slope m_h. Queries are aligned bottom-right as in ``causal_mask``: with S keys and T
queries, query row i sits at position ``i' = i + S - T``.
"""

from __future__ import annotations

import math

import torch

from longctx import checks
from longctx.attention.reference import attention_ref

__all__ = [
    "alibi_attention",
    "alibi_bias",
    "alibi_bias_values",
    "alibi_slope_values",
    "alibi_slopes",
    "geometric_slopes",
]


# --8<-- [start:alibi-slopes]
import math

import torch


def geometric_slopes(n: int) -> list[float]:
    """Geometric sequence starting at ``2^(-8/n)`` with that same ratio: ``2^(-8i/n)``, i = 1..n."""
    return [2.0 ** (-8.0 * i / n) for i in range(1, n + 1)]


def alibi_slope_values(num_heads: int) -> torch.Tensor:
    """Head slopes m_h: ``2^(-8i/H)`` when H is a power of two; otherwise the slopes for n, the
    largest power of two below H, then every other slope of the 2n-head sequence until there are H."""
    n = 2 ** int(math.floor(math.log2(num_heads)))  # largest power of two <= H
    slopes = geometric_slopes(n)
    if n < num_heads:
        slopes += geometric_slopes(2 * n)[0::2][: num_heads - n]  # the in-between slopes
    return torch.tensor(slopes, dtype=torch.float64)  # [H]


# --8<-- [end:alibi-slopes]


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Head slopes m_h: ``2^(-8i/H)`` for i = 1..H when H is a power of two.

    Otherwise (the rule of the paper's code): take the slopes for n, the largest power of
    two below H, and add every other slope of the 2n-head sequence (the odd terms
    ``2^(-8(2k+1)/(2n))``) until there are H.

    Args:
        num_heads: H >= 1.

    Returns:
        ``[H]`` float64; for H = 8: 1/2, 1/4, ..., 1/256.
    """
    if isinstance(num_heads, bool) or not isinstance(num_heads, int):
        raise TypeError(f"num_heads must be an int, got {type(num_heads).__name__}")
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")
    return alibi_slope_values(num_heads)


# --8<-- [start:alibi-bias]
import torch


def alibi_bias_values(slopes: torch.Tensor, T: int, S: int) -> torch.Tensor:
    """``bias[h, i, j] = -slopes[h] * (i + S - T - j)``: queries are the last T of S positions.

    Keys after the query get a positive value: ALiBi is causal, so use it with a causal mask.
    """
    i = torch.arange(T, dtype=slopes.dtype, device=slopes.device)[:, None] + (S - T)  # [T, 1] query positions
    j = torch.arange(S, dtype=slopes.dtype, device=slopes.device)[None, :]  # [1, S] key positions
    return -slopes[:, None, None] * (i - j)  # [H, T, S]


# --8<-- [end:alibi-bias]


def alibi_bias(slopes: torch.Tensor, T: int, S: int | None = None) -> torch.Tensor:
    """The additive bias ``bias[h, i, j] = -slopes[h] * (i + S - T - j)``.

    Args:
        slopes: ``[H]`` from :func:`alibi_slopes`.
        T: number of queries (the last T of the S positions, as in decoding with a cache).
        S: number of keys; defaults to T.

    Returns:
        ``[H, T, S]`` in slopes' dtype. Keys after the query get a positive value here:
        ALiBi is causal, so use it with a causal mask (``alibi_attention`` does).
    """
    if not isinstance(slopes, torch.Tensor):
        raise TypeError(f"slopes must be a torch.Tensor, got {type(slopes).__name__}")
    if slopes.dim() != 1 or not slopes.dtype.is_floating_point:
        raise ValueError(
            f"slopes must be a 1-D floating tensor [H], got {tuple(slopes.shape)} {slopes.dtype}"
        )
    S = T if S is None else S
    checks.positive_int("T", T)
    checks.positive_int("S", S)
    return alibi_bias_values(slopes, T, S)


def alibi_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float | None = None, return_lse: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Causal attention with ALiBi: ``softmax(q k^T * scale + bias) v``.

    Args:
        q: ``[B, H, T, D]``; k: ``[B, H_kv, S, D]``; v: ``[B, H_kv, S, Dv]`` (GQA allowed;
            the bias is per query head).
        scale: defaults to ``1 / sqrt(D)``.
        return_lse: also return the log-sum-exp of each query's scores.

    Returns:
        ``out [B, H, T, Dv]`` in q's dtype; ``(out, lse [B, H, T])`` with ``return_lse=True``.
    """
    checks.qkv(q, k, v)
    H, T, S = q.shape[1], q.shape[2], k.shape[2]
    if T == 0 or S == 0:
        raise ValueError(f"q and k must hold at least one position, got T={T}, S={S}")
    work = torch.promote_types(q.dtype, torch.float32)
    bias = alibi_bias(alibi_slopes(H).to(device=q.device, dtype=work), T, S)  # [H, T, S]
    return attention_ref(
        q,
        k,
        v,
        causal=True,
        scale=scale,
        mask=bias[None],  # bias [1, H, T, S]
        return_lse=return_lse,
    )
