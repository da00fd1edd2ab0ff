"""Linear attention three ways: parallel (masked quadratic), recurrent, and chunked.

Shape legend (as in ``longctx.attention.reference``):
    q      [B, H, T, D]      B batch, H query heads, T query positions, D head dim
    k      [B, H_kv, S, D]   H_kv key/value heads (H % H_kv == 0), S key positions
    v      [B, H_kv, S, Dv]
    phi(q) [B, H, T, F]      F features of the feature map (F == D for elu/relu)
    A      [B, H, T, S]      weights phi(q_i) . phi(k_j) (parallel form only)
    state  [B, H, F, Dv]     running sum of phi(k_j) v_j^T;  z [B, H, F]: running sum of phi(k_j)
    out    [B, H, T, Dv]

With a feature map phi, attention's weight ``exp(q_i . k_j)`` becomes ``phi(q_i) . phi(k_j)``:

    out_i = sum_j (phi(q_i) . phi(k_j)) v_j / sum_j (phi(q_i) . phi(k_j))

summed over all j, or over ``j <= i`` when causal. The three forms compute the same numbers:

* ``linear_attention_ref`` builds A (T x S, quadratic like softmax attention) and masks it.
* ``linear_attention_recurrent`` walks the keys once, carrying ``state`` and ``z``: O(1) memory
  per step in the length, like an RNN (Katharopoulos et al., 2020, arXiv:2006.16236).
* ``linear_attention_chunked`` is quadratic inside chunks of C positions and carries the state
  between chunks: the form fast kernels use.

Non-causal, the recurrent and chunked forms reduce to the associative form
``phi(q) (phi(k)^T v)``: the state over all keys, read by every query.

Causal linear attention needs T == S here (one query per key, no bottom-right offset).
Half-precision inputs are computed in float32 and cast back.

Denominator guard (``normalize=True``): a query whose denominator ``d`` has ``|d| <= eps``
gets zeros instead of ``0/0``. The default ``eps = 0`` only catches exact zeros, which happen
with relu features when a query's features miss every key's (then the numerator is exactly 0
too); no eps is ever added to a denominator, so small positive denominators are used as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

import torch

from longctx.attention.reference import _check_qkv
from longctx.linear.feature_maps import resolve_feature_map

__all__ = ["linear_attention_chunked", "linear_attention_recurrent", "linear_attention_ref"]


def _check_options(T: int, S: int, causal: object, normalize: object, eps: object) -> None:
    """The checks every form of linear attention (and its kernel) makes beyond q, k, v themselves."""
    if T == 0 or S == 0:
        raise ValueError(f"q and k must hold at least one position, got T={T}, S={S}")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if causal and T != S:
        raise ValueError(f"causal linear attention needs T == S (q and k lengths), got T={T}, S={S}")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    if isinstance(eps, bool) or not isinstance(eps, Real):
        raise TypeError(f"eps must be a real number, got {type(eps).__name__}")
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps}")


def _prepare(q, k, v, causal, feature_map, normalize, eps):
    """Check the inputs; return ``phi(q) [B,H,T,F]``, ``phi(k) [B,H,S,F]``, ``v [B,H,S,Dv]``."""
    _check_qkv(q, k, v)
    B, H, T, D = q.shape
    H_kv, S = k.shape[1], k.shape[2]
    _check_options(T, S, causal, normalize, eps)
    phi = resolve_feature_map(feature_map)
    work = torch.promote_types(q.dtype, torch.float32)  # fp16/bf16 are computed in fp32

    group = H // H_kv
    k = k.to(work).repeat_interleave(group, dim=1)  # [B, H, S, D]
    v = v.to(work).repeat_interleave(group, dim=1)  # [B, H, S, Dv]
    phi_q, phi_k = phi(q.to(work)), phi(k)  # [B, H, T, F], [B, H, S, F]
    for name, got, want in (("q", phi_q, (B, H, T)), ("k", phi_k, (B, H, S))):
        if not isinstance(got, torch.Tensor) or got.dim() != 4 or tuple(got.shape[:3]) != want:
            raise ValueError(f"feature_map must map {name} [..., D] to [..., F] keeping the leading "
                             f"dims {want}, got {tuple(getattr(got, 'shape', ()))}")
        if not got.dtype.is_floating_point:
            raise TypeError(f"feature_map must return floating-point features, got {got.dtype}")
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(f"feature_map gave q {phi_q.shape[-1]} features but k {phi_k.shape[-1]}")
    return phi_q.to(work), phi_k.to(work), v


# --8<-- [start:readout]
def _readout(num: torch.Tensor, den: torch.Tensor, normalize: bool, eps: float) -> torch.Tensor:
    """``num [..., Dv] / den [..., 1]``; rows with ``|den| <= eps`` give zeros (no NaN)."""
    if not normalize:
        return num
    ok = den.abs() > eps  # [..., 1]
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))
# --8<-- [end:readout]


def _chunk_size(chunk_size: object) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral):
        raise TypeError(f"chunk_size must be a positive integer, got {type(chunk_size).__name__} {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    return int(chunk_size)


# --8<-- [start:linear-parallel]
def linear_attention_ref(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                         feature_map: str | Callable = "elu", normalize: bool = True, eps: float = 0.0) -> torch.Tensor:
    """Linear attention in its parallel form: build ``A = phi(q) phi(k)^T``, mask, multiply.

    Args:
        q: ``[B, H, T, D]`` floating queries.
        k: ``[B, H_kv, S, D]`` keys, same dtype; ``H % H_kv == 0`` (GQA as in attention_ref).
        v: ``[B, H_kv, S, Dv]`` values, same dtype.
        causal: query i sees keys ``j <= i`` (default True); needs ``T == S``.
        feature_map: ``"elu"`` (elu+1, default), ``"relu"``, or a callable mapping
            ``[..., D]`` to ``[..., F]`` (e.g. ``FavorFeatures``).
        normalize: divide by ``A 1`` (default True) or return ``A v`` as it is.
        eps: rows whose denominator has ``|den| <= eps`` give zeros (default 0.0).

    Returns:
        ``[B, H, T, Dv]`` in the input dtype.
    """
    phi_q, phi_k, v = _prepare(q, k, v, causal, feature_map, normalize, eps)
    a = phi_q @ phi_k.transpose(-2, -1)  # [B, H, T, S]: quadratic, like softmax scores
    if causal:
        a = torch.tril(a)  # keep j <= i (T == S)
    num = a @ v  # [B, H, T, Dv]
    den = a.sum(dim=-1, keepdim=True)  # [B, H, T, 1] = A 1
    return _readout(num, den, normalize, eps).to(q.dtype)
# --8<-- [end:linear-parallel]


def linear_attention_recurrent(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                               feature_map: str | Callable = "elu", normalize: bool = True, eps: float = 0.0) -> torch.Tensor:
    """Linear attention as a recurrence over positions, carrying ``state`` and ``z``.

    Causal: ``S_t = S_{t-1} + phi(k_t) v_t^T``, ``z_t = z_{t-1} + phi(k_t)``,
    ``out_t = phi(q_t) S_t / phi(q_t) . z_t``. Non-causal: the state after all S keys,
    read by every query (``phi(q) (phi(k)^T v)``). Arguments and result as in
    ``linear_attention_ref``; one Python step per position, so it is slow on purpose.

    Returns:
        ``[B, H, T, Dv]`` in the input dtype.
    """
    phi_q, phi_k, v = _prepare(q, k, v, causal, feature_map, normalize, eps)
    B, H, T, Fdim = phi_q.shape
    S, Dv = v.shape[2], v.shape[3]
    state = phi_q.new_zeros(B, H, Fdim, Dv)  # sum of phi(k_j) v_j^T so far
    z = phi_q.new_zeros(B, H, Fdim, 1)  # sum of phi(k_j) so far, as a column
    if not causal:
        for j in range(S):
            state = state + phi_k[:, :, j, :, None] * v[:, :, j, None, :]  # [B, H, F, Dv]
            z = z + phi_k[:, :, j, :, None]  # [B, H, F, 1]
        return _readout(phi_q @ state, phi_q @ z, normalize, eps).to(q.dtype)
    # --8<-- [start:linear-recurrent]
    outs = []
    for t in range(T):
        state = state + phi_k[:, :, t, :, None] * v[:, :, t, None, :]  # [B, H, F, Dv] rank-1 update
        z = z + phi_k[:, :, t, :, None]  # [B, H, F, 1]
        q_t = phi_q[:, :, t, None, :]  # [B, H, 1, F]
        num = q_t @ state  # [B, H, 1, Dv]
        den = q_t @ z  # [B, H, 1, 1]
        outs.append(_readout(num, den, normalize, eps))
    return torch.cat(outs, dim=2).to(q.dtype)  # [B, H, T, Dv]
    # --8<-- [end:linear-recurrent]


def linear_attention_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                             feature_map: str | Callable = "elu", normalize: bool = True, eps: float = 0.0,
                             chunk_size: int = 64) -> torch.Tensor:
    """Linear attention in chunks: quadratic inside a chunk, a carried state across chunks.

    For the chunk of positions ``[s, e)`` (the last one may be shorter than ``chunk_size``):
    ``out = phi(q_c) S + tril(phi(q_c) phi(k_c)^T) v_c`` (and the same for the denominator),
    then ``S += phi(k_c)^T v_c``, ``z += phi(k_c)^T 1``. Non-causal, the chunks only build
    the state over all keys, which every query then reads. Arguments and result as in
    ``linear_attention_ref``, plus:

    Args:
        chunk_size: C, positions per chunk, ``C >= 1`` (default 64). Any T works, including
            T not a multiple of C; C = 1 is the recurrent form, C >= T the parallel form.

    Returns:
        ``[B, H, T, Dv]`` in the input dtype.
    """
    C = _chunk_size(chunk_size)
    phi_q, phi_k, v = _prepare(q, k, v, causal, feature_map, normalize, eps)
    B, H, T, Fdim = phi_q.shape
    S, Dv = v.shape[2], v.shape[3]
    state = phi_q.new_zeros(B, H, Fdim, Dv)
    z = phi_q.new_zeros(B, H, Fdim, 1)
    if not causal:
        for s in range(0, S, C):
            k_c, v_c = phi_k[:, :, s:s + C], v[:, :, s:s + C]  # [B, H, c, F], [B, H, c, Dv]
            state = state + k_c.transpose(-2, -1) @ v_c  # [B, H, F, Dv]
            z = z + k_c.sum(dim=2)[..., None]  # [B, H, F, 1]
        return _readout(phi_q @ state, phi_q @ z, normalize, eps).to(q.dtype)
    # --8<-- [start:linear-chunked]
    outs = []
    for s in range(0, T, C):
        q_c, k_c, v_c = phi_q[:, :, s:s + C], phi_k[:, :, s:s + C], v[:, :, s:s + C]  # [B, H, c, *]
        a = torch.tril(q_c @ k_c.transpose(-2, -1))  # [B, H, c, c]: inside the chunk, j <= i
        num = q_c @ state + a @ v_c  # [B, H, c, Dv]: earlier chunks + this one
        den = q_c @ z + a.sum(dim=-1, keepdim=True)  # [B, H, c, 1]
        outs.append(_readout(num, den, normalize, eps))
        state = state + k_c.transpose(-2, -1) @ v_c  # [B, H, F, Dv]: add this chunk's keys
        z = z + k_c.sum(dim=2)[..., None]  # [B, H, F, 1]
    return torch.cat(outs, dim=2).to(q.dtype)  # [B, H, T, Dv]
    # --8<-- [end:linear-chunked]
