"""Reference attention: materialises the full score matrix, the ground truth for everything else.

Shape legend (used in every module of the package):
    q   [B, H, T, D]      B batch, H query heads, T query positions, D head dim
    k   [B, H_kv, S, D]   H_kv key/value heads (H % H_kv == 0), S key positions
    v   [B, H_kv, S, Dv]
    out [B, H, T, Dv]
    S, P (scores, probabilities) [B, H, T, S]

Slow and plain on purpose: it allocates the whole T x S matrix, which is exactly the cost
Lesson 1 measures. Half-precision inputs are computed in float32 and cast back.

Masks are aligned bottom-right, as in FlashAttention (>= 2.1): query ``i`` sits at key position
``i' = i + S - T``, so the last query is level with the last key. ``causal`` keeps keys
``j <= i'``; ``window = (left, right)`` (FlashAttention's ``window_size``) keeps
``i' - left <= j <= i' + right``, ``-1`` leaving a side unbounded. For ``T == S`` causal
attention equals ``torch.nn.functional.scaled_dot_product_attention(..., is_causal=True)``;
for ``T != S`` SDPA aligns its causal mask top-left (query ``i`` sees ``j <= i``) instead.

Each page shows a section that is whole functions with their own imports (the teaching core);
the public function beside it checks its arguments with :mod:`longctx.checks`, then calls it.
"""

from __future__ import annotations

import torch

from longctx import checks

__all__ = ["attention_ref", "causal_mask", "position_mask", "sliding_window_mask", "softmax_ref"]


# --8<-- [start:position-mask]
import torch


def position_keep(q_pos: torch.Tensor, k_pos: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """Boolean ``[len(q_pos), len(k_pos)]``, True where a query may read a key, by positions.

    The query at position p reads the key at position j when ``p - left <= j <= p + right``
    (``window = (left, right)``, FlashAttention's ``window_size``; ``-1`` = no limit on that
    side). ``(-1, 0)`` is causal, ``(W - 1, 0)`` a causal window of W keys (itself and the
    W - 1 before it), ``(-1, -1)`` full attention. A key at a negative position is an empty
    cache slot: never read.
    """
    left, right = window
    p, j = q_pos[:, None], k_pos[None, :]  # [T, 1], [1, S]
    keep = (j >= 0).repeat(len(q_pos), 1)  # [T, S]; an empty slot (j < 0) is never read
    if left >= 0:
        keep = keep & (j >= p - left)
    if right >= 0:
        keep = keep & (j <= p + right)
    return keep


# --8<-- [end:position-mask]


def _aligned(T: int, S: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Query positions ``i + S - T`` (bottom-right alignment) and key positions ``0 .. S-1``."""
    return torch.arange(T, device=device) + (S - T), torch.arange(S, device=device)


def _causal_window(causal: bool, window: tuple[int, int]) -> tuple[int, int]:
    """``causal`` folded into the window: it caps the right side at 0."""
    return (window[0], 0) if causal else window


def position_mask(
    q_pos: torch.Tensor, k_pos: torch.Tensor, *, causal: bool = False, window: tuple[int, int] | None = None
) -> torch.Tensor:
    """Boolean ``[T, S]`` mask from absolute positions: True where query i may read key j.

    Args:
        q_pos: ``[T]`` integer positions of the queries.
        k_pos: ``[S]`` integer positions of the keys; a negative position marks an empty
            cache slot, never read (a rolling buffer before it fills).
        causal: keep only keys at or before the query's position.
        window: ``(left, right)``: keep keys ``q_pos - left <= k_pos <= q_pos + right``;
            ``-1`` is unbounded. A causal sliding window of W tokens (the query included) is
            ``window=(W - 1, 0)``; Mistral 7B's W = 4,096 is ``(4095, 0)``.
    """
    for name, t in (("q_pos", q_pos), ("k_pos", k_pos)):
        checks.tensor(name, t, dims=1)
        if t.dtype.is_floating_point or t.dtype == torch.bool or t.dtype.is_complex:
            raise TypeError(f"{name} must be an integer tensor, got {t.dtype}")
    window = _causal_window(checks.flag("causal", causal), checks.window_pair(window))
    return position_keep(q_pos, k_pos, window)


def causal_mask(T: int, S: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Causal mask ``[T, S]`` (bool, True = may attend), aligned bottom-right.

    Query ``i`` sees keys ``j <= i + S - T``: ``sliding_window_mask(T, S, (-1, 0))``. For
    ``T == S`` it is the lower triangle that ``scaled_dot_product_attention(is_causal=True)``
    uses; for ``T > S`` the first ``T - S`` rows are all False.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        device: where to build it (default: the CPU).
    """
    T, S = checks.positive_int("T", T), checks.positive_int("S", S)
    return position_keep(*_aligned(T, S, device), (-1, 0))


def sliding_window_mask(
    T: int, S: int, window: tuple[int, int], *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Sliding-window (local) mask ``[T, S]`` (bool, True = may attend), aligned bottom-right.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        window: ``(left, right)``, FlashAttention's ``window_size``: query ``p = i + S - T``
            sees keys ``p - left <= j <= p + right``; ``-1`` means no limit on that side.
            ``(w, w)`` is a band of ``2w + 1`` keys; ``(W - 1, 0)`` a causal window of W keys,
            so Mistral 7B's W = 4,096 is ``(4095, 0)``.
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor.
    """
    T, S = checks.positive_int("T", T), checks.positive_int("S", S)
    return position_keep(*_aligned(T, S, device), checks.window_pair(window))


# --8<-- [start:softmax-ref]
import torch


def softmax_ref(x: torch.Tensor) -> torch.Tensor:
    """Row softmax over the last dim; a row that is all ``-inf`` gives zeros, not NaN."""
    m = x.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # an all -inf row keeps m = 0
    num = torch.exp(x - m)  # subtracting the max makes every exponent <= 0: no overflow
    den = num.sum(dim=-1, keepdim=True)
    return num / torch.where(den > 0, den, torch.ones_like(den))


# --8<-- [end:softmax-ref]


# --8<-- [start:attention-ref]
import torch


def masked_scores(
    q: torch.Tensor, k: torch.Tensor, keep: torch.Tensor, scale: float, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """The full ``[B, H, T, S]`` matrix ``q k^T * scale + bias``, ``-inf`` where ``keep`` is False.

    ``q [B, H, T, D]``, ``k [B, H_kv, S, D]``: query head h reads key head ``h // (H // H_kv)``
    (grouped-query attention). fp16/bf16 are computed in fp32.
    """
    work = torch.promote_types(q.dtype, torch.float32)
    k = k.to(work).repeat_interleave(q.shape[1] // k.shape[1], dim=1)  # [B, H, S, D]
    s = q.to(work) @ k.transpose(-2, -1) * scale  # [B, H, T, S]: the n^2 matrix
    if bias is not None:
        s = s + bias.to(work)
    return s.masked_fill(~keep, float("-inf"))


def naive_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    keep: torch.Tensor,
    scale: float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``softmax(q k^T * scale + bias)`` over the kept keys, times ``v``: ``out [B, H, T, Dv]``.

    ``v [B, H_kv, S, Dv]``; ``keep`` is a bool mask that broadcasts to ``[B, H, T, S]`` (True =
    may attend). A row that keeps no key outputs zeros. The result has q's dtype.
    """
    p = softmax_ref(masked_scores(q, k, keep, scale, bias))  # [B, H, T, S]
    v = v.to(p.dtype).repeat_interleave(q.shape[1] // v.shape[1], dim=1)  # [B, H, S, Dv]
    return (p @ v).to(q.dtype)


# --8<-- [end:attention-ref]


def attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    window: tuple[int, int] | None = None,
    scale: float | None = None,
    mask: torch.Tensor | None = None,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, ``softmax(q k^T * scale + mask) v``, computed naively.

    The ground truth of the package: float64 in, float64 out; any head dim.

    Args:
        q: ``[B, H, T, D]`` queries.
        k: ``[B, H_kv, S, D]`` keys; ``H % H_kv == 0`` (GQA: query head h reads key/value
            head ``h // (H // H_kv)``).
        v: ``[B, H_kv, S, Dv]`` values.
        causal: mask out keys after each query, aligned bottom-right (query i sees keys
            ``j <= i + S - T``, as FlashAttention >= 2.1). For ``T == S`` this equals
            ``scaled_dot_product_attention(is_causal=True)``; for ``T != S`` SDPA aligns
            top-left and differs.
        window: ``(left, right)``, FlashAttention's ``window_size``: query ``i' = i + S - T``
            sees keys ``i' - left <= j <= i' + right``; ``-1`` leaves a side unbounded.
        scale: multiplies the scores, a positive finite number; defaults to ``1 / sqrt(D)``.
        mask: broadcastable to ``[B, H, T, S]``; boolean (True = keep) or additive float.
        return_lse: also return the log-sum-exp of each row's scaled, masked scores.

    Returns:
        ``out [B, H, T, Dv]`` in the input dtype (a query that sees no key gets zeros); with
        ``return_lse=True``, ``(out, lse)`` with ``lse [B, H, T]`` in float32 or float64.
    """
    checks.qkv(q, k, v)
    B, H, T, D = q.shape
    S = k.shape[2]
    causal, return_lse = checks.flag("causal", causal), checks.flag("return_lse", return_lse)
    left, right = checks.window_pair(window)
    scale = checks.attention_scale(scale, D)
    if mask is not None:
        checks.attention_mask(mask, (B, H, T, S))
    keep = position_keep(*_aligned(T, S, q.device), _causal_window(causal, (left, right)))
    bias = None
    if mask is not None and mask.dtype == torch.bool:
        keep = keep & mask
    elif mask is not None:
        bias = mask
    out = naive_attention(q, k, v, keep, scale, bias)
    if not return_lse:
        return out
    return out, torch.logsumexp(masked_scores(q, k, keep, scale, bias), dim=-1)  # recomputed: asked for
