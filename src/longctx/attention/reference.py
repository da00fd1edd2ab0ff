"""Reference attention: materialises the full score matrix, the ground truth for everything else.

Shape legend (used in every module of the package):
    q   [B, H, T, D]      B batch, H query heads, T query positions, D head dim
    k   [B, H_kv, S, D]   H_kv key/value heads (H % H_kv == 0), S key positions
    v   [B, H_kv, S, Dv]
    out [B, H, T, Dv]
    S, P (scores, probabilities) [B, H, T, S]

Slow and plain on purpose: it allocates the whole T x S matrix, which is exactly the cost
Lesson 1 measures. Half-precision inputs are computed in float32 and cast back.
"""

from __future__ import annotations

import torch

from longctx import checks
from longctx.checks import qkv as _check_qkv  # noqa: F401  (transitional: kernels still import this name)

__all__ = ["attention_ref", "causal_mask", "softmax_ref"]


# --8<-- [start:causal-mask]
def causal_mask(T: int, S: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``[T, S]`` mask, True where query i may see key j.

    Aligned bottom-right: the last query sees every key, so query i sees keys
    ``j <= i + S - T``. With a KV cache of S tokens and T new queries, that is decoding.
    """
    i = torch.arange(T, device=device)[:, None]  # [T, 1]
    j = torch.arange(S, device=device)[None, :]  # [1, S]
    return j <= i + (S - T)
# --8<-- [end:causal-mask]


# --8<-- [start:softmax-ref]
def softmax_ref(x: torch.Tensor) -> torch.Tensor:
    """Row softmax over the last dim; a row that is all ``-inf`` gives zeros, not NaN."""
    m = x.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # an all -inf row keeps m = 0
    num = torch.exp(x - m)  # subtracting the max makes every exponent <= 0: no overflow
    den = num.sum(dim=-1, keepdim=True)
    return num / torch.where(den > 0, den, torch.ones_like(den))
# --8<-- [end:softmax-ref]


# --8<-- [start:attention-ref]
def attention_ref(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                  scale: float | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention, ``softmax(q k^T * scale + mask) v``, computed naively.

    Args:
        q: ``[B, H, T, D]`` queries.
        k: ``[B, H_kv, S, D]`` keys; ``H % H_kv == 0`` (GQA: query head h reads key/value
            head ``h // (H // H_kv)``).
        v: ``[B, H_kv, S, Dv]`` values.
        causal: mask out keys after each query, aligned bottom-right when ``T != S``
            (query i sees keys ``j <= i + S - T``).
        scale: multiplies the scores; defaults to ``1 / sqrt(D)``.
        mask: broadcastable to ``[B, H, T, S]``; boolean (True = keep) or additive float.

    Returns:
        ``[B, H, T, Dv]`` in the input dtype. A query that sees no key gets zeros.
    """
    checks.qkv(q, k, v)
    B, H, T, D = q.shape
    H_kv, S = k.shape[1], k.shape[2]
    causal = checks.flag("causal", causal)
    scale = checks.attention_scale(scale, D)
    if mask is not None:
        checks.attention_mask(mask, (B, H, T, S))
    work = torch.promote_types(q.dtype, torch.float32)  # fp16/bf16 are computed in fp32

    group = H // H_kv
    k = k.to(work).repeat_interleave(group, dim=1)  # [B, H, S, D]
    v = v.to(work).repeat_interleave(group, dim=1)  # [B, H, S, Dv]
    s = q.to(work) @ k.transpose(-2, -1) * scale  # [B, H, T, S]: the n^2 matrix

    keep = torch.ones(T, S, dtype=torch.bool, device=q.device)
    if causal:
        keep = causal_mask(T, S, q.device)
    if mask is not None:
        if mask.dtype == torch.bool:
            keep = keep & mask
        else:
            s = s + mask.to(work)
    s = s.masked_fill(~keep, float("-inf"))

    p = softmax_ref(s)  # [B, H, T, S]
    return (p @ v).to(q.dtype)
# --8<-- [end:attention-ref]
