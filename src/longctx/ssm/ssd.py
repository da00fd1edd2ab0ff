"""Mamba-2's state space duality (SSD): a scalar-decay SSM per head, as a masked matrix and as chunks.

Shape legend (Dao & Gu, *Transformers are SSMs*, 2024, arXiv:2405.21060):
    x      [B, L, H, P]   B batch, L sequence length, H heads, P head dim
    dt     [B, L, H]      step per position and head (already positive, e.g. after softplus)
    A      [H]            one negative scalar per head: the state matrix is A * identity
    B, C   [B, L, G, N]   G groups of input/output projections (H % G == 0; G = 1 shares one
                          across all heads), N state size. Head h reads group h // (H // G)
    D      [H]            optional skip term
    h      [B, H, P, N]   the state of each head
    y      [B, L, H, P]

The recurrence, per head (the input is scaled by dt, X_t = dt_t x_t):
    h_t = exp(dt_t A) h_{t-1} + X_t B_t^T,     y_t = h_t C_t + D x_t

Unrolled, it is one masked matrix product over the whole sequence (the "dual", attention-like form):
    Y = (L o C B^T) X,   L_ij = exp(dt_{j+1} A + ... + dt_i A) for i >= j, else 0

The chunked form splits L into chunks of ``chunk_size``: the quadratic form inside each chunk,
and states passed from chunk to chunk. Three functions, tested equal: :func:`ssd_recurrent`,
:func:`ssd_quadratic`, :func:`ssd_chunked`. The last two check their arguments
(``longctx.checks``) and call the cores Lesson 3 shows: :func:`ssd_masked`, :func:`ssd_chunks`
and :func:`segment_sum`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from longctx import checks

__all__ = [
    "segment_sum",
    "segsum",
    "ssd_chunked",
    "ssd_chunks",
    "ssd_masked",
    "ssd_quadratic",
    "ssd_recurrent",
]


def _prepare(x, dt, A, B, C, D, initial_state=None):
    """Check every argument; return work-dtype tensors with B and C expanded to one group per head."""
    checks.float_tensor("x", x, 4)
    Bsz, L, H, P = x.shape
    if L == 0:
        raise ValueError("x must have a non-empty sequence (L >= 1)")
    if H == 0 or P == 0:
        raise ValueError(f"x must have at least one head and head dim, got shape {tuple(x.shape)}")
    checks.float_tensor("dt", dt, 3)
    checks.shape("dt", dt, (Bsz, L, H), "[B, L, H] like x")
    checks.float_tensor("A", A, 1)
    checks.shape("A", A, (H,), "[H]")
    if not bool((A < 0).all()):
        raise ValueError("A must be strictly negative (one decay rate per head)")
    checks.float_tensor("B", B, 4)
    checks.float_tensor("C", C, 4)
    if B.shape[:2] != (Bsz, L) or B.shape[2] == 0 or B.shape[3] == 0:
        raise ValueError(
            f"B must have shape [B, L, G, N] with B = {Bsz}, L = {L}, G, N >= 1, got {tuple(B.shape)}"
        )
    checks.shape("C", C, tuple(B.shape), "[B, L, G, N] like B")
    G, N = B.shape[2], B.shape[3]
    if H % G != 0:
        raise ValueError(f"B's groups G must divide the number of heads H = {H}, got G = {G}")
    if D is not None:
        checks.float_tensor("D", D, 1)
        checks.shape("D", D, (H,), "[H]")
    if initial_state is not None:
        checks.float_tensor("initial_state", initial_state, 4)
        checks.shape("initial_state", initial_state, (Bsz, H, P, N), "[B, H, P, N]")
    wide = any(t is not None and t.dtype == torch.float64 for t in (x, dt, A, B, C, D, initial_state))
    work = torch.float64 if wide else torch.float32
    B = B.to(work).repeat_interleave(H // G, dim=2)  # [B, L, H, N]
    C = C.to(work).repeat_interleave(H // G, dim=2)  # [B, L, H, N]

    def cast(t):
        return None if t is None else t.to(work)

    return x.to(work), dt.to(work), A.to(work), B, C, cast(D), cast(initial_state)


def _skip(y, x, D, dtype):
    if D is not None:
        y = y + D[:, None] * x  # [B, L, H, P]
    return y.to(dtype)


def ssd_recurrent(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    *,
    initial_state: Tensor | None = None,
    return_final_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """SSD as a recurrence: ``h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T``, ``y_t = h_t C_t + D x_t``.

    Args:
        x: ``[B, L, H, P]`` input.
        dt: ``[B, L, H]`` step sizes.
        A: ``[H]`` strictly negative decay rates.
        B: ``[B, L, G, N]`` input projections; ``H % G == 0``.
        C: ``[B, L, G, N]`` output projections, same shape as ``B``.
        D: optional ``[H]`` skip term.
        initial_state: optional ``[B, H, P, N]`` state before position 0 (default zeros).
        return_final_state: also return ``h_{L-1}``, shape ``[B, H, P, N]``.

    Returns:
        ``y [B, L, H, P]`` in ``x``'s dtype (and the final state if asked). Computed in
        float64 if any input is float64, else float32.
    """
    checks.flag("return_final_state", return_final_state)
    dtype = x.dtype
    x, dt, A, B, C, D, h = _prepare(x, dt, A, B, C, D, initial_state)
    Bsz, L, H, P = x.shape
    if h is None:
        h = x.new_zeros(Bsz, H, P, B.shape[-1])  # [B, H, P, N]
    ys = []
    for t in range(L):
        decay = torch.exp(dt[:, t] * A)  # [B, H]: a scalar per head
        X = dt[:, t, :, None] * x[:, t]  # [B, H, P]
        h = decay[:, :, None, None] * h + X[..., None] * B[:, t, :, None, :]  # [B, H, P, N]
        ys.append(torch.einsum("bhpn,bhn->bhp", h, C[:, t]))
    y = _skip(torch.stack(ys, dim=1), x, D, dtype)  # [B, L, H, P]
    return (y, h) if return_final_state else y


# --8<-- [start:segsum]
import torch


def segment_sum(a: torch.Tensor) -> torch.Tensor:
    """Segment sums of the last dim: ``out[..., i, j] = a[..., j+1] + ... + a[..., i]`` for ``i >= j``, else ``-inf``.

    ``exp(segment_sum(dt * A))`` is the decay matrix ``L`` of SSD: 1 on the diagonal, 0 above it.
    Taking differences of one cumulative sum keeps every exponent <= 0 when ``a <= 0``.
    """
    T = a.shape[-1]
    cs = torch.cumsum(a, dim=-1)  # [..., T]
    diff = cs[..., :, None] - cs[..., None, :]  # [..., T(i), T(j)]: a_{j+1} + ... + a_i
    keep = torch.ones(T, T, dtype=torch.bool, device=a.device).tril()
    return diff.masked_fill(~keep, float("-inf"))


# --8<-- [end:segsum]


def segsum(a: torch.Tensor) -> torch.Tensor:
    """:func:`segment_sum` with its argument checked.

    Args:
        a: ``[..., T]`` float, at least one dim.

    Returns:
        ``[..., T, T]`` in ``a``'s dtype.
    """
    checks.float_tensor("a", a)
    if a.dim() == 0:
        raise ValueError("a must have at least one dim [..., T], got a 0-dim tensor")
    return segment_sum(a)


# --8<-- [start:ssd-quadratic]
import torch


def ssd_masked(
    x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor
) -> torch.Tensor:
    """SSD as one masked matrix: ``Y = (L o C B^T) X`` with ``X = dt x`` and ``L = exp(segment_sum(dt A))``.

    Costs ``O(L^2)`` like attention, with the decay mask ``L`` in place of softmax.

    Args:
        x: ``[B, L, H, P]`` input.
        dt: ``[B, L, H]`` step sizes.
        A: ``[H]`` negative decay rates.
        B: ``[B, L, H, N]`` input projections, one per head.
        C: ``[B, L, H, N]`` output projections, one per head.

    Returns:
        ``y [B, L, H, P]`` without the skip term.
    """
    Lmask = torch.exp(segment_sum((dt * A).transpose(1, 2)))  # [B, H, L(i), L(j)]
    scores = torch.einsum("bihn,bjhn->bhij", C, B)  # [B, H, L, L]: C_i . B_j
    X = dt[..., None] * x  # [B, L, H, P]
    return torch.einsum("bhij,bjhp->bihp", Lmask * scores, X)  # [B, L, H, P]


# --8<-- [end:ssd-quadratic]


def ssd_quadratic(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None) -> Tensor:
    """SSD as one masked matrix (:func:`ssd_masked`), plus the skip term ``D x``.

    Args:
        x: ``[B, L, H, P]`` input.
        dt: ``[B, L, H]`` step sizes.
        A: ``[H]`` strictly negative decay rates.
        B: ``[B, L, G, N]`` input projections; ``H % G == 0``.
        C: ``[B, L, G, N]`` output projections, same shape as ``B``.
        D: optional ``[H]`` skip term.

    Returns:
        ``y [B, L, H, P]`` in ``x``'s dtype.
    """
    dtype = x.dtype
    x, dt, A, B, C, D, _ = _prepare(x, dt, A, B, C, D)
    return _skip(ssd_masked(x, dt, A, B, C), x, D, dtype)


# --8<-- [start:ssd-chunked]
import torch
import torch.nn.functional as F


def ssd_chunks(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    h: torch.Tensor,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SSD a chunk at a time from the state ``h [B, H, P, N]``; arguments as :func:`ssd_masked`.

    The tail is padded with ``dt = 0`` and ``x = 0`` (decay 1, no input), which changes neither
    the outputs kept nor the final state. Returns ``y [B, L, H, P]`` and the final state.
    """
    Bsz, L, H, P = x.shape
    N, c = B.shape[-1], chunk_size
    pad = (-L) % c
    X = F.pad(dt[..., None] * x, (0, 0, 0, 0, 0, pad))  # [B, L', H, P], L' = L + pad
    a = F.pad(dt * A, (0, 0, 0, pad))  # [B, L', H]: log-decay, 0 on the padding
    Bp, Cp = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (B, C))  # [B, L', H, N]
    nc = (L + pad) // c
    X = X.reshape(Bsz, nc, c, H, P)  # [B, nc, c, H, P]
    Bp, Cp = Bp.reshape(Bsz, nc, c, H, N), Cp.reshape(Bsz, nc, c, H, N)  # [B, nc, c, H, N]
    a = a.reshape(Bsz, nc, c, H).permute(0, 3, 1, 2)  # [B, H, nc, c]
    a_cs = torch.cumsum(a, dim=-1)  # [B, H, nc, c]

    # 1. inside each chunk: the quadratic (masked) form
    Lmask = torch.exp(segment_sum(a))  # [B, H, nc, c, c]
    y_diag = torch.einsum("bzihn,bzjhn,bhzij,bzjhp->bzihp", Cp, Bp, Lmask, X)  # [B, nc, c, H, P]

    # 2. the state each chunk leaves, from its own inputs only
    to_end = torch.exp(a_cs[..., -1:] - a_cs)  # [B, H, nc, c]: decay from position j to the chunk's end
    chunk_states = torch.einsum("bzjhn,bhzj,bzjhp->bzhpn", Bp, to_end, X)  # [B, nc, H, P, N]

    # 3. pass states from chunk to chunk: h_in[z] is the state entering chunk z
    chunk_decay = torch.exp(a_cs[..., -1])  # [B, H, nc]
    h_in = []
    for z in range(nc):
        h_in.append(h)
        h = chunk_decay[:, :, z, None, None] * h + chunk_states[:, z]  # [B, H, P, N]
    h_in = torch.stack(h_in, dim=1)  # [B, nc, H, P, N]

    # 4. what the carried-in state adds to each output of the chunk
    y_off = torch.einsum("bzihn,bzhpn,bhzi->bzihp", Cp, h_in, torch.exp(a_cs))  # [B, nc, c, H, P]
    return (y_diag + y_off).reshape(Bsz, nc * c, H, P)[:, :L], h  # [B, L, H, P]


# --8<-- [end:ssd-chunked]


def ssd_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    *,
    chunk_size: int = 64,
    initial_state: Tensor | None = None,
    return_final_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """SSD a chunk at a time (:func:`ssd_chunks`): the quadratic form inside chunks, states passed between them.

    Four steps: (1) each chunk's own output with the masked matrix; (2) the state each chunk
    leaves, from its own inputs; (3) a short recurrence over chunks that carries the state in;
    (4) the carried-in state's contribution to each output. ``L`` need not be a multiple of
    ``chunk_size``.

    Args:
        x: ``[B, L, H, P]`` input.
        dt: ``[B, L, H]`` step sizes.
        A: ``[H]`` strictly negative decay rates.
        B: ``[B, L, G, N]`` input projections; ``H % G == 0``.
        C: ``[B, L, G, N]`` output projections, same shape as ``B``.
        D: optional ``[H]`` skip term.
        chunk_size: positions per chunk, a positive int (default 64).
        initial_state: optional ``[B, H, P, N]`` state before position 0 (default zeros).
        return_final_state: also return the final state, ``[B, H, P, N]``.

    Returns:
        Same as :func:`ssd_recurrent`.
    """
    chunk_size = checks.positive_int("chunk_size", chunk_size)
    checks.flag("return_final_state", return_final_state)
    dtype = x.dtype
    x, dt, A, B, C, D, h = _prepare(x, dt, A, B, C, D, initial_state)
    if h is None:
        h = x.new_zeros(x.shape[0], x.shape[2], x.shape[3], B.shape[-1])  # [B, H, P, N]
    y, h = ssd_chunks(x, dt, A, B, C, h, chunk_size)
    y = _skip(y, x, D, dtype)
    return (y, h) if return_final_state else y
