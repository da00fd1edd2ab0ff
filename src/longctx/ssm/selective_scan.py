"""Mamba's selective scan (S6): a diagonal SSM whose step delta and projections B, C depend on the input.

Shape legend (the argument convention of mamba's ``selective_scan_ref``; Gu & Dao, Mamba,
2023, arXiv:2312.00752, Algorithm 2):
    u       [B, D, L]   B batch, D channels, L sequence length
    delta   [B, D, L]   step per channel and position (input-dependent)
    A       [D, N]      real, input-independent; N state size per channel (usually negative)
    B, C    [B, N, L]   input-dependent projections, shared by all D channels
    D       [D]         optional skip term
    z       [B, D, L]   optional gate: out = y * silu(z)
    x       [B, D, N]   the state
    out     [B, D, L]

Discretisation (as in mamba's reference): ``deltaA = exp(delta A)`` per channel and state, and the
simplified input term ``deltaB_u = delta B u`` (Euler for B, ZOH for A). Then
``x_t = deltaA_t x_{t-1} + deltaB_u_t`` and ``y_t = sum_n C_t[n] x_t[:, n]``.

Two forms, tested equal: :func:`selective_scan_ref`, the sequential scan over L, and
:func:`selective_scan_chunked`, which processes chunks of ``chunk_size`` positions at once
(cumulative sums of log-decays inside a chunk, one carried state between chunks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from longctx.ssm import _checks

__all__ = ["selective_scan_chunked", "selective_scan_ref"]


def _check_args(u, delta, A, B, C, D, z, delta_bias, delta_softplus) -> None:
    """Check every argument's type and shape (the Triton kernel checks the same way)."""
    _checks.tensor("u", u, 3, "[B, D, L]")
    Bsz, Dch, L = u.shape
    if L == 0:
        raise ValueError("u must have a non-empty sequence (L >= 1)")
    _checks.tensor("delta", delta, 3, "[B, D, L]")
    _checks.same_shape("delta", delta, (Bsz, Dch, L), "[B, D, L] like u")
    _checks.tensor("A", A, 2, "[D, N]")
    if A.shape[0] != Dch:
        raise ValueError(f"A must have shape [D, N] with D = {Dch} channels like u, got {tuple(A.shape)}")
    if A.shape[1] == 0:
        raise ValueError("A must have a state size N >= 1")
    N = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        _checks.tensor(name, t, 3, "[B, N, L]")
        _checks.same_shape(name, t, (Bsz, N, L), "[B, N, L]")
    for name, t, shape, legend in (("D", D, (Dch,), "[D]"), ("z", z, (Bsz, Dch, L), "[B, D, L] like u"),
                                   ("delta_bias", delta_bias, (Dch,), "[D]")):
        if t is not None:
            _checks.tensor(name, t, len(shape), legend)
            _checks.same_shape(name, t, shape, legend)
    if not isinstance(delta_softplus, bool):
        raise TypeError(f"delta_softplus must be a bool, got {type(delta_softplus).__name__}")


def _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """Check every argument; return the work-dtype tensors with delta's bias and softplus applied."""
    _check_args(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    work = _checks.work_dtype(u, delta, A, B, C, D, z, delta_bias)
    delta = delta.to(work)
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]  # [B, D, L]
    if delta_softplus:
        delta = F.softplus(delta)
    cast = (lambda t: None if t is None else t.to(work))
    return u.to(work), delta, A.to(work), B.to(work), C.to(work), cast(D), cast(z)


def _finish(y, u, D, z, dtype):
    if D is not None:
        y = y + D[:, None] * u  # [B, D, L]
    if z is not None:
        y = y * F.silu(z)
    return y.to(dtype)


# --8<-- [start:selective-scan-ref]
def selective_scan_ref(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                       z: Tensor | None = None, *, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                       return_last_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan, one position at a time.

    Args:
        u: ``[B, D, L]`` input (float).
        delta: ``[B, D, L]`` step sizes (before ``delta_bias`` and softplus).
        A: ``[D, N]`` real state matrix (diagonal per channel; Mamba keeps it negative).
        B: ``[B, N, L]`` input projection per position.
        C: ``[B, N, L]`` output projection per position.
        D: optional ``[D]`` skip term, added as ``D u``.
        z: optional ``[B, D, L]`` gate; the output is multiplied by ``silu(z)``.
        delta_bias: optional ``[D]`` added to delta before the softplus.
        delta_softplus: apply ``softplus`` to delta (default ``False``).
        return_last_state: also return the final state ``x_{L-1}`` of shape ``[B, D, N]``.

    Returns:
        ``out [B, D, L]`` in ``u``'s dtype (and the float32/float64 last state if asked).
        Computed in float64 if any input is float64, else float32.
    """
    dtype = u.dtype
    u, delta, A, B, C, D, z = _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    deltaA = torch.exp(delta[..., None] * A[:, None, :])  # [B, D, L, N]
    deltaB_u = (delta * u)[..., None] * B.transpose(1, 2)[:, None]  # [B, D, L, N]
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # [B, D, N]
    ys = []
    for t in range(u.shape[2]):
        x = deltaA[:, :, t] * x + deltaB_u[:, :, t]  # [B, D, N]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, t]))
    out = _finish(torch.stack(ys, dim=-1), u, D, z, dtype)  # [B, D, L]
    return (out, x) if return_last_state else out
# --8<-- [end:selective-scan-ref]


def selective_scan_chunked(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                           z: Tensor | None = None, *, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                           chunk_size: int = 16, return_last_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan a chunk at a time: closed form inside a chunk, a carried state between chunks.

    Inside a chunk of positions ``s..e-1`` write ``a_t = delta_t A`` (the log of the decay) and
    ``S_t = a_s + ... + a_t`` (a cumulative sum). Then, for ``t`` in the chunk,
    ``x_t = exp(S_t) x_{s-1} + sum_{s <= j <= t} exp(S_t - S_j) deltaB_u_j``: every position of the
    chunk at once, from the state carried in. ``L`` need not be a multiple of ``chunk_size``
    (the last chunk is shorter).

    Args:
        u: ``[B, D, L]`` input.
        delta: ``[B, D, L]`` step sizes (before ``delta_bias`` and softplus).
        A: ``[D, N]`` real state matrix.
        B: ``[B, N, L]`` input projection per position.
        C: ``[B, N, L]`` output projection per position.
        D: optional ``[D]`` skip term.
        z: optional ``[B, D, L]`` gate (``out * silu(z)``).
        delta_bias: optional ``[D]`` added to delta before the softplus.
        delta_softplus: apply ``softplus`` to delta (default ``False``).
        chunk_size: positions per chunk, a positive int (default 16).
        return_last_state: also return the final state, ``[B, D, N]``.

    Returns:
        Same as :func:`selective_scan_ref`.
    """
    chunk_size = _checks.positive_int("chunk_size", chunk_size)
    dtype = u.dtype
    u, delta, A, B, C, D, z = _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    Bsz, Dch, L = u.shape
    x = u.new_zeros(Bsz, Dch, A.shape[1])  # [B, D, N], the state carried between chunks
    ys = []
    for s in range(0, L, chunk_size):
        e = min(s + chunk_size, L)
        # --8<-- [start:selective-scan-chunk]
        a = delta[:, :, s:e, None] * A[:, None, :]  # [B, D, c, N]: log-decay per position
        S = torch.cumsum(a, dim=2)  # [B, D, c, N]
        Bt = B[:, :, s:e].transpose(1, 2)[:, None]  # [B, 1, c, N]
        dBu = (delta[:, :, s:e] * u[:, :, s:e])[..., None] * Bt  # [B, D, c, N]: the input term
        c = e - s
        causal = torch.ones(c, c, dtype=torch.bool, device=u.device).tril()  # [c(t), c(j)], j <= t
        diff = S[:, :, :, None, :] - S[:, :, None, :, :]  # [B, D, c(t), c(j), N]: S_t - S_j
        decay = torch.exp(diff.masked_fill(~causal[:, :, None], -torch.inf))  # 0 where j > t
        xs = torch.einsum("bdtjn,bdjn->bdtn", decay, dBu)  # [B, D, c, N]: the chunk's own inputs
        xs = xs + torch.exp(S) * x[:, :, None, :]  # plus the carried state, decayed to each t
        ys.append(torch.einsum("bdtn,bnt->bdt", xs, C[:, :, s:e]))  # [B, D, c]
        x = xs[:, :, -1]  # [B, D, N]: the state leaving the chunk
        # --8<-- [end:selective-scan-chunk]
    out = _finish(torch.cat(ys, dim=-1), u, D, z, dtype)  # [B, D, L]
    return (out, x) if return_last_state else out
