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

Two forms, tested equal to each other and to the Triton kernel ``selective_scan_fn``:
:func:`selective_scan_ref`, the sequential scan over L, which mirrors mamba's
``selective_scan_ref`` exactly (its arguments, its name and ``return_last_state``), and
:func:`selective_scan_chunked_ref`, which processes chunks of ``chunk_size`` positions at once
(cumulative sums of log-decays inside a chunk, one carried state between chunks) and returns
``(out, final_state)`` with ``return_final_state=True``, as the package's other state forms do.
Both check their arguments (``longctx.checks``) and call a core that Lesson 3 shows:
:func:`selective_scan_sequential` and :func:`selective_scan_chunks` (with :func:`scan_chunk`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from longctx import checks

__all__ = [
    "scan_chunk",
    "selective_scan_chunked_ref",
    "selective_scan_chunks",
    "selective_scan_ref",
    "selective_scan_sequential",
]


def _check_args(u, delta, A, B, C, D, z, delta_bias, delta_softplus) -> None:
    """Check every argument's type and shape (the Triton kernel checks the same way)."""
    checks.float_tensor("u", u, 3)
    Bsz, Dch, L = u.shape
    if L == 0:
        raise ValueError("u must have a non-empty sequence (L >= 1)")
    checks.float_tensor("delta", delta, 3)
    checks.shape("delta", delta, (Bsz, Dch, L), "[B, D, L] like u")
    checks.float_tensor("A", A, 2)
    if A.shape[0] != Dch:
        raise ValueError(f"A must have shape [D, N] with D = {Dch} channels like u, got {tuple(A.shape)}")
    if A.shape[1] == 0:
        raise ValueError("A must have a state size N >= 1")
    N = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        checks.float_tensor(name, t, 3)
        checks.shape(name, t, (Bsz, N, L), "[B, N, L]")
    for name, t, shape, legend in (
        ("D", D, (Dch,), "[D]"),
        ("z", z, (Bsz, Dch, L), "[B, D, L] like u"),
        ("delta_bias", delta_bias, (Dch,), "[D]"),
    ):
        if t is not None:
            checks.float_tensor(name, t, len(shape))
            checks.shape(name, t, shape, legend)
    checks.flag("delta_softplus", delta_softplus)


def _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """Check every argument; return the work-dtype tensors with delta's bias and softplus applied.

    The work dtype is float64 if any input is float64, else float32.
    """
    _check_args(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    wide = any(t is not None and t.dtype == torch.float64 for t in (u, delta, A, B, C, D, z, delta_bias))
    work = torch.float64 if wide else torch.float32
    delta = delta.to(work)
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]  # [B, D, L]
    if delta_softplus:
        delta = F.softplus(delta)

    def cast(t):
        return None if t is None else t.to(work)

    return u.to(work), delta, A.to(work), B.to(work), C.to(work), cast(D), cast(z)


# --8<-- [start:selective-scan-ref]
import torch
import torch.nn.functional as F


def selective_scan_sequential(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The selective scan, one position at a time: ``x_t = exp(delta_t A) x_{t-1} + delta_t B_t u_t``.

    Args:
        u: ``[B, D, L]`` input.
        delta: ``[B, D, L]`` step sizes (bias and softplus already applied).
        A: ``[D, N]`` real state matrix (diagonal per channel; Mamba keeps it negative).
        B: ``[B, N, L]`` input projection per position.
        C: ``[B, N, L]`` output projection per position.
        D: optional ``[D]`` skip term, added as ``D u``.
        z: optional ``[B, D, L]`` gate; the output is multiplied by ``silu(z)``.

    Returns:
        ``out [B, D, L]`` and the last state ``x [B, D, N]``.
    """
    deltaA = torch.exp(delta[..., None] * A[:, None, :])  # [B, D, L, N]
    deltaB_u = (delta * u)[..., None] * B.transpose(1, 2)[:, None]  # [B, D, L, N]
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # [B, D, N]
    ys = []
    for t in range(u.shape[2]):
        x = deltaA[:, :, t] * x + deltaB_u[:, :, t]  # [B, D, N]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, t]))
    y = torch.stack(ys, dim=-1)  # [B, D, L]
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    return y, x


# --8<-- [end:selective-scan-ref]


# --8<-- [start:selective-scan-chunk]
import torch
import torch.nn.functional as F


def scan_chunk(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk of c positions at once, from the state ``x [B, D, N]`` carried in; ``(y [B, D, c], x)``.

    With ``a_t = delta_t A`` and ``S_t = a_s + ... + a_t`` (a cumulative sum inside the chunk),
    ``x_t = exp(S_t) x_in + sum_{j <= t} exp(S_t - S_j) delta_j B_j u_j``.
    """
    a = delta[..., None] * A[:, None, :]  # [B, D, c, N]: log-decay per position
    S = torch.cumsum(a, dim=2)  # [B, D, c, N]
    dBu = (delta * u)[..., None] * B.transpose(1, 2)[:, None]  # [B, D, c, N]: the input term
    c = u.shape[2]
    causal = torch.ones(c, c, dtype=torch.bool, device=u.device).tril()  # [c(t), c(j)], j <= t
    diff = S[:, :, :, None, :] - S[:, :, None, :, :]  # [B, D, c(t), c(j), N]: S_t - S_j
    decay = torch.exp(diff.masked_fill(~causal[:, :, None], -torch.inf))  # 0 where j > t
    xs = torch.einsum("bdtjn,bdjn->bdtn", decay, dBu)  # [B, D, c, N]: the chunk's own inputs
    xs = xs + torch.exp(S) * x[:, :, None, :]  # plus the carried state, decayed to each t
    return torch.einsum("bdtn,bnt->bdt", xs, C), xs[:, :, -1]  # y [B, D, c], the state leaving


def selective_scan_chunks(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    chunk_size: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The selective scan a chunk at a time (:func:`scan_chunk`); arguments and result as :func:`selective_scan_sequential`."""
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # [B, D, N], carried between chunks
    ys = []
    for s in range(0, u.shape[2], chunk_size):
        part = slice(s, s + chunk_size)  # the last chunk may be shorter
        y, x = scan_chunk(u[:, :, part], delta[:, :, part], A, B[:, :, part], C[:, :, part], x)
        ys.append(y)
    y = torch.cat(ys, dim=-1)  # [B, D, L]
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    return y, x


# --8<-- [end:selective-scan-chunk]


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    *,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan, one position at a time (:func:`selective_scan_sequential`).

    Mirrors mamba's ``selective_scan_ref`` (``mamba_ssm.ops.selective_scan_interface``): the same
    arguments, the same name and ``return_last_state``, so that code written for mamba runs.

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
    checks.flag("return_last_state", return_last_state)
    out, x = selective_scan_sequential(*_prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus))
    return (out.to(u.dtype), x) if return_last_state else out.to(u.dtype)


def selective_scan_chunked_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    *,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    chunk_size: int = 16,
    return_final_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan a chunk at a time (:func:`selective_scan_chunks`): closed form inside a chunk.

    ``L`` need not be a multiple of ``chunk_size`` (the last chunk is shorter).

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
        return_final_state: also return the final state, ``[B, D, N]``.

    Returns:
        Same as :func:`selective_scan_ref`: ``out [B, D, L]`` in ``u``'s dtype, and
        ``(out, final_state)`` with ``return_final_state``.
    """
    chunk_size = checks.positive_int("chunk_size", chunk_size)
    checks.flag("return_final_state", return_final_state)
    args = _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    out, x = selective_scan_chunks(*args, chunk_size=chunk_size)
    return (out.to(u.dtype), x) if return_final_state else out.to(u.dtype)
