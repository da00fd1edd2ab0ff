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
* ``linear_attention_recurrent_ref`` walks the keys once, carrying ``state`` and ``z``: O(1)
  memory per step in the length, like an RNN (Katharopoulos et al., 2020, arXiv:2006.16236).
* ``linear_attention_chunked_ref`` is quadratic inside chunks of C positions and carries the
  state between chunks: the form the Triton kernel ``linear_attention`` runs.

Each public function checks its arguments (``longctx.checks``), applies the feature map, gives
every query head its key/value head (GQA) and the float32-or-wider working dtype, then calls a
core that works on features alone: :func:`linear_parallel`, :func:`linear_recurrent`,
:func:`linear_chunked` (with :func:`readout`). The cores are what Lesson 3 shows; they need only
torch, so they paste into any model.

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

from collections.abc import Callable

import torch

from longctx import checks
from longctx.linear.feature_maps import resolve_feature_map

__all__ = [
    "linear_attention_chunked_ref",
    "linear_attention_recurrent_ref",
    "linear_attention_ref",
    "linear_chunked",
    "linear_parallel",
    "linear_recurrent",
    "readout",
]


def _check_options(T: int, S: int, causal: object, normalize: object, eps: object) -> None:
    """The checks every form of linear attention (and its kernel) makes beyond q, k, v themselves."""
    if T == 0 or S == 0:
        raise ValueError(f"q and k must hold at least one position, got T={T}, S={S}")
    checks.flag("causal", causal)
    if causal and T != S:
        raise ValueError(
            f"q and k must have the same length for causal linear attention (T == S), got T={T}, S={S}"
        )
    checks.flag("normalize", normalize)
    if checks.finite_real("eps", eps) < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def _prepare(q, k, v, causal, feature_map, normalize, eps):
    """Check the inputs; return ``phi(q) [B,H,T,F]``, ``phi(k) [B,H,S,F]``, ``v [B,H,S,Dv]`` in the work dtype."""
    checks.qkv(q, k, v)
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
            raise ValueError(
                f"feature_map must map {name} [..., D] to [..., F] keeping the leading "
                f"dims {want}, got {tuple(getattr(got, 'shape', ()))}"
            )
        if not got.dtype.is_floating_point:
            raise TypeError(f"feature_map must return floating-point features, got {got.dtype}")
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(
            f"feature_map must give q and k the same number of features, "
            f"got {phi_q.shape[-1]} and {phi_k.shape[-1]}"
        )
    return phi_q.to(work), phi_k.to(work), v


def _finish(result, dtype: torch.dtype, return_final_state: bool):
    """Cast the output back to the input dtype; keep the (float32 or wider) final state if asked."""
    out, state, z = result
    out = out.to(dtype)
    return (out, (state, z[..., 0])) if return_final_state else out


# --8<-- [start:readout]
import torch


def readout(num: torch.Tensor, den: torch.Tensor, normalize: bool = True, eps: float = 0.0) -> torch.Tensor:
    """``num [..., Dv] / den [..., 1]``; rows with ``|den| <= eps`` give zeros (no NaN)."""
    if not normalize:
        return num
    ok = den.abs() > eps  # [..., 1]
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


# --8<-- [end:readout]


# --8<-- [start:linear-parallel]
import torch


def linear_parallel(
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    normalize: bool = True,
    eps: float = 0.0,
) -> torch.Tensor:
    """Linear attention on features, parallel form: build ``A = phi(q) phi(k)^T``, mask, multiply.

    Args:
        phi_q: ``[B, H, T, F]`` query features, e.g. ``elu_feature(q)``.
        phi_k: ``[B, H, S, F]`` key features (``T == S`` when causal).
        v: ``[B, H, S, Dv]`` values.
        causal: query i sees keys ``j <= i``.
        normalize: divide by ``A 1`` (see :func:`readout`), or return ``A v``.
        eps: rows whose denominator has ``|den| <= eps`` give zeros.

    Returns:
        ``[B, H, T, Dv]``.
    """
    a = phi_q @ phi_k.transpose(-2, -1)  # [B, H, T, S]: quadratic, like softmax scores
    if causal:
        a = torch.tril(a)  # keep j <= i
    num = a @ v  # [B, H, T, Dv]
    den = a.sum(dim=-1, keepdim=True)  # [B, H, T, 1] = A 1
    return readout(num, den, normalize, eps)


# --8<-- [end:linear-parallel]


# --8<-- [start:linear-recurrent]
import torch


def linear_recurrent(
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    normalize: bool = True,
    eps: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear attention on features as a recurrence: one rank-1 state update per position.

    ``S_t = S_{t-1} + phi(k_t) v_t^T``, ``z_t = z_{t-1} + phi(k_t)``, ``out_t = phi(q_t) S_t /
    phi(q_t) . z_t``. Not causal: the state after all keys, read by every query. Arguments as
    in :func:`linear_parallel`.

    Returns:
        ``out [B, H, T, Dv]``, the final ``state [B, H, F, Dv]`` and ``z [B, H, F, 1]``.
    """
    B, H, T, Fdim = phi_q.shape
    state = phi_q.new_zeros(B, H, Fdim, v.shape[-1])  # sum of phi(k_j) v_j^T so far
    z = phi_q.new_zeros(B, H, Fdim, 1)  # sum of phi(k_j) so far, as a column
    outs = []
    for t in range(phi_k.shape[2]):
        state = state + phi_k[:, :, t, :, None] * v[:, :, t, None, :]  # [B, H, F, Dv] rank-1 update
        z = z + phi_k[:, :, t, :, None]  # [B, H, F, 1]
        if causal:
            q_t = phi_q[:, :, t, None, :]  # [B, H, 1, F]
            outs.append(readout(q_t @ state, q_t @ z, normalize, eps))  # [B, H, 1, Dv]
    if not causal:
        return readout(phi_q @ state, phi_q @ z, normalize, eps), state, z
    return torch.cat(outs, dim=2), state, z  # [B, H, T, Dv]


# --8<-- [end:linear-recurrent]


# --8<-- [start:linear-chunked]
import torch


def linear_chunked(
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    normalize: bool = True,
    eps: float = 0.0,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear attention on features in chunks: quadratic inside a chunk, a carried state across them.

    For the chunk ``[s, s + C)``: ``out = phi(q_c) S + tril(phi(q_c) phi(k_c)^T) v_c`` (and the
    same for the denominator), then ``S += phi(k_c)^T v_c``, ``z += phi(k_c)^T 1``. Not causal,
    the chunks only build the state over all keys, which every query then reads. Any length
    works (the last chunk may be shorter). Arguments as in :func:`linear_parallel`.

    Returns:
        ``out [B, H, T, Dv]``, the final ``state [B, H, F, Dv]`` and ``z [B, H, F, 1]``.
    """
    B, H, T, Fdim = phi_q.shape
    C = chunk_size
    state = phi_q.new_zeros(B, H, Fdim, v.shape[-1])  # [B, H, F, Dv]
    z = phi_q.new_zeros(B, H, Fdim, 1)  # [B, H, F, 1]
    outs = []
    for s in range(0, phi_k.shape[2], C):
        q_c, k_c, v_c = phi_q[:, :, s : s + C], phi_k[:, :, s : s + C], v[:, :, s : s + C]  # [B, H, c, *]
        if causal:
            a = torch.tril(q_c @ k_c.transpose(-2, -1))  # [B, H, c, c]: inside the chunk, j <= i
            num = q_c @ state + a @ v_c  # [B, H, c, Dv]: earlier chunks + this one
            den = q_c @ z + a.sum(dim=-1, keepdim=True)  # [B, H, c, 1]
            outs.append(readout(num, den, normalize, eps))
        state = state + k_c.transpose(-2, -1) @ v_c  # [B, H, F, Dv]: add this chunk's keys
        z = z + k_c.sum(dim=2)[..., None]  # [B, H, F, 1]
    if not causal:
        return readout(phi_q @ state, phi_q @ z, normalize, eps), state, z
    return torch.cat(outs, dim=2), state, z  # [B, H, T, Dv]


# --8<-- [end:linear-chunked]


def linear_attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    feature_map: str | Callable = "elu",
    normalize: bool = True,
    eps: float = 0.0,
) -> torch.Tensor:
    """Linear attention in its parallel form (:func:`linear_parallel`): quadratic, the plain definition.

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
    return linear_parallel(phi_q, phi_k, v, causal=causal, normalize=normalize, eps=eps).to(q.dtype)


def linear_attention_recurrent_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    feature_map: str | Callable = "elu",
    normalize: bool = True,
    eps: float = 0.0,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Linear attention as a recurrence over positions (:func:`linear_recurrent`), slow on purpose.

    Arguments as in :func:`linear_attention_ref`, plus:

    Args:
        return_final_state: also return ``(state, z)``, the sums over every key:
            ``state [B, H, F, Dv]`` of ``phi(k_j) v_j^T`` and ``z [B, H, F]`` of ``phi(k_j)``,
            in float32 (float64 for float64 inputs).

    Returns:
        ``out [B, H, T, Dv]`` in the input dtype; ``(out, (state, z))`` with ``return_final_state``.
    """
    checks.flag("return_final_state", return_final_state)
    phi_q, phi_k, v = _prepare(q, k, v, causal, feature_map, normalize, eps)
    result = linear_recurrent(phi_q, phi_k, v, causal=causal, normalize=normalize, eps=eps)
    return _finish(result, q.dtype, return_final_state)


def linear_attention_chunked_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    feature_map: str | Callable = "elu",
    normalize: bool = True,
    eps: float = 0.0,
    chunk_size: int = 64,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Linear attention in chunks (:func:`linear_chunked`): the form the Triton kernel ``linear_attention`` runs.

    Arguments as in :func:`linear_attention_ref`, plus:

    Args:
        chunk_size: C, positions per chunk, ``C >= 1`` (default 64). Any T works, including
            T not a multiple of C; C = 1 is the recurrent form, C >= T the parallel form.
        return_final_state: also return ``(state, z)``, as :func:`linear_attention_recurrent_ref`.

    Returns:
        ``out [B, H, T, Dv]`` in the input dtype; ``(out, (state, z))`` with ``return_final_state``.
    """
    C = checks.positive_int("chunk_size", chunk_size)
    checks.flag("return_final_state", return_final_state)
    phi_q, phi_k, v = _prepare(q, k, v, causal, feature_map, normalize, eps)
    result = linear_chunked(phi_q, phi_k, v, causal=causal, normalize=normalize, eps=eps, chunk_size=C)
    return _finish(result, q.dtype, return_final_state)
