"""FlashAttention in plain PyTorch: tiled online-softmax forward, recomputing backward.

Shape legend (as in every module of the package):
    q     [B, H, T, D]       B batch, H query heads, T query positions, D head dim
    k     [B, H_kv, S, D]    H_kv key/value heads (H % H_kv == 0), S key positions
    v     [B, H_kv, S, Dv]
    out   [B, H, T, Dv]
    lse   [B, H, T]          log-sum-exp of each query row's scaled, masked scores
    tile  [block_q, block_k] the only piece of the T x S score matrix that exists at a time
    g     = H // H_kv        query heads that share one key/value head (GQA group)

Inside, query heads are grouped by the key/value head they read: ``q`` is viewed as
``[B, H_kv, g, T, D]`` and ``k``/``v`` as ``[B, H_kv, 1, S, D]``, so broadcasting does what
``repeat_interleave`` does in :func:`longctx.attention.attention_ref`, without the copy.

Masks, both as in FlashAttention (>= 2.1) and :func:`longctx.attention.attention_ref`: queries
are aligned bottom-right, so query ``i`` sits at key position ``i' = i + S - T``. ``causal``
keeps keys ``j <= i'``; ``window = (left, right)`` keeps ``i' - left <= j <= i' + right`` with
``-1`` meaning unbounded on that side. Both may be given; a key must pass both, so ``causal``
is the window with its right side capped at 0. For ``T == S`` causal attention equals
``scaled_dot_product_attention(is_causal=True)``; for ``T != S`` SDPA aligns top-left.

This is the algorithm, not a fast implementation: Python loops over tiles, float32 for
half-precision inputs (float64 stays float64), readable over quick. The Triton kernel mirrors it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from longctx import checks
from longctx.attention.reference import attention_ref, position_keep

__all__ = [
    "flash_attention_ref",
    "flash_attention_ref_backward",
    "memory_model",
    "memory_table",
    "online_softmax_update",
    "tile_counts",
]

# ---------------------------------------------------------------- argument checks


def _check_inputs(q, k, v, causal, window, scale, block_q, block_k):
    """Validate everything; return ``(window, scale, block_q, block_k)`` with ``causal`` folded into the window."""
    checks.qkv(q, k, v, nonempty=True)
    left, right = checks.window_pair(window)
    if checks.flag("causal", causal):
        right = 0  # causal keeps keys j <= i': the window's right side capped at 0
    return (
        (left, right),
        checks.attention_scale(scale, q.shape[3]),
        checks.positive_int("block_q", block_q),
        checks.positive_int("block_k", block_k),
    )


# ---------------------------------------------------------------- masks and tiles


# --8<-- [start:tile-skip]
import torch


def key_range(i0: int, i1: int, T: int, S: int, window: tuple[int, int]) -> tuple[int, int]:
    """Keys ``[lo, hi)`` that at least one query of rows ``[i0, i1)`` may see.

    Query i sits at key position ``i + S - T`` (bottom-right) and sees the contiguous keys of
    ``window = (left, right)`` (-1: unbounded). Both ends of that run move right by one per
    query, so the union over the rows of a block is contiguous too.
    """
    left, right = window
    first, last = i0 + S - T, i1 - 1 + S - T  # aligned positions of the block's first and last query
    lo = 0 if left < 0 else max(0, first - left)
    hi = S if right < 0 else min(S, last + right + 1)
    return lo, max(lo, hi)


def tile_visible(i0: int, i1: int, j0: int, j1: int, T: int, S: int, window: tuple[int, int]) -> bool:
    """False when the mask hides every entry of the tile rows ``[i0, i1)`` x keys ``[j0, j1)``."""
    lo, hi = key_range(i0, i1, T, S, window)
    return j0 < hi and j1 > lo


def tile_keep(
    i0: int,
    i1: int,
    j0: int,
    j1: int,
    T: int,
    S: int,
    window: tuple[int, int],
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The ``[i1 - i0, j1 - j0]`` block of the mask, built without the rest of it."""
    q_pos = torch.arange(i0, i1, device=device) + (S - T)  # aligned bottom-right
    return position_keep(q_pos, torch.arange(j0, j1, device=device), window)


# --8<-- [end:tile-skip]


def tile_counts(
    T: int,
    S: int,
    *,
    causal: bool = False,
    window: tuple[int, int] | None = None,
    block_q: int = 64,
    block_k: int = 64,
) -> dict[str, int]:
    """How many tiles of the ``[T, S]`` score matrix the forward pass computes.

    Args:
        T: query positions (a positive int).
        S: key positions (a positive int).
        causal: the causal flag, as in :func:`flash_attention_ref`.
        window: the ``(left, right)`` window, as in :func:`flash_attention_ref`.
        block_q: rows of a tile; the grid starts at (0, 0) and the last row of tiles may be short.
        block_k: columns of a tile; the last column of tiles may be short.

    Returns:
        ``{"total": ..., "visited": ..., "skipped": ...}``: all tiles of the grid, those
        that hold at least one visible entry (computed), and those the mask hides entirely
        (never computed).
    """
    T, S = checks.positive_int("T", T), checks.positive_int("S", S)
    block_q, block_k = checks.positive_int("block_q", block_q), checks.positive_int("block_k", block_k)
    left, right = checks.window_pair(window)
    window = (left, 0) if checks.flag("causal", causal) else (left, right)
    total = visited = 0
    for i0 in range(0, T, block_q):
        for j0 in range(0, S, block_k):
            total += 1
            visited += tile_visible(i0, min(i0 + block_q, T), j0, min(j0 + block_k, S), T, S, window)
    return {"total": total, "visited": visited, "skipped": total - visited}


# ---------------------------------------------------------------- forward


# --8<-- [start:online-softmax-update]
def online_softmax_update(
    m: torch.Tensor, l: torch.Tensor, acc: torch.Tensor, s: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fold one tile of scores into the running softmax state of its query rows.

    Args:
        m: ``[..., bq]`` running max of the scores seen so far (``-inf`` before any).
        l: ``[..., bq]`` running sum of ``exp(score - m)``.
        acc: ``[..., bq, Dv]`` running sum of ``exp(score - m) * v``, not yet divided by ``l``.
        s: ``[..., bq, bk]`` the new tile of scaled scores; ``-inf`` where masked.
        v: ``[..., bk, Dv]`` the values of the tile's keys.

    Returns:
        The new ``(m, l, acc)``. Once every tile is in, ``acc / l`` is the softmax-weighted
        sum of values and ``m + log(l)`` the row's log-sum-exp.
    """
    m_new = torch.maximum(m, s.amax(dim=-1))  # [..., bq]
    m_safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))  # a row with no key yet: 0
    alpha = torch.exp(m - m_safe)  # re-bases what was summed against the old max; 0 while m == -inf
    p = torch.exp(s - m_safe[..., None])  # [..., bq, bk]: every exponent <= 0, masked entries give 0
    l = alpha * l + p.sum(dim=-1)
    acc = alpha[..., None] * acc + p @ v  # [..., bq, Dv]
    return m_new, l, acc


# --8<-- [end:online-softmax-update]


# --8<-- [start:forward-loop]
import math

import torch


def flash_forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: tuple[int, int],
    scale: float,
    block_q: int,
    block_k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention tile by tile with an online softmax: ``(out [B, H, T, Dv], lse [B, H, T])``.

    Query heads are grouped by the key/value head they read (``[B, H_kv, g, T, D]``), so
    broadcasting does GQA's ``repeat_interleave`` without the copy. No ``[T, S]`` matrix exists.
    """
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    work = torch.promote_types(q.dtype, torch.float32)  # fp16/bf16 are computed in fp32
    q5 = q.to(work).reshape(B, H_kv, H // H_kv, T, D)  # [B, H_kv, g, T, D]
    k5, v5 = k.to(work)[:, :, None], v.to(work)[:, :, None]  # [B, H_kv, 1, S, D]: broadcast over the group
    out = torch.zeros(*q5.shape[:-1], Dv, dtype=work, device=q.device)  # [B, H_kv, g, T, Dv]
    lse = torch.full(q5.shape[:-1], -math.inf, dtype=work, device=q.device)  # [B, H_kv, g, T]
    for i0 in range(0, T, block_q):  # one query block: a kernel's program instance
        i1 = min(i0 + block_q, T)
        q_i = q5[..., i0:i1, :]  # [B, H_kv, g, bq, D]
        m = torch.full(q_i.shape[:-1], -math.inf, dtype=work, device=q.device)  # running max
        l = torch.zeros_like(m)  # running sum of exp(s - m)
        acc = torch.zeros(*q_i.shape[:-1], Dv, dtype=work, device=q.device)  # unnormalised output
        for j0 in range(0, S, block_k):  # stream the keys past the resident query block
            j1 = min(j0 + block_k, S)
            if not tile_visible(i0, i1, j0, j1, T, S, window):
                continue  # the mask hides the whole tile: never computed
            s = q_i @ k5[..., j0:j1, :].transpose(-2, -1) * scale  # [B, H_kv, g, bq, bk]
            s = s.masked_fill(~tile_keep(i0, i1, j0, j1, T, S, window, q.device), -math.inf)
            m, l, acc = online_softmax_update(m, l, acc, s, v5[..., j0:j1, :])
        seen = l > 0  # False for a query that sees no key at all
        l_safe = torch.where(seen, l, torch.ones_like(l))
        out[..., i0:i1, :] = torch.where(seen[..., None], acc / l_safe[..., None], 0.0)  # normalise once
        lse[..., i0:i1] = torch.where(seen, m + torch.log(l_safe), -math.inf)
    return out.reshape(B, H, T, Dv).to(q.dtype), lse.reshape(B, H, T)  # lse in the working dtype


# --8<-- [end:forward-loop]


# ---------------------------------------------------------------- backward


def flash_backward(q, k, v, out, lse, dout, window, scale, block_q, block_k):
    """Gradients ``(dq, dk, dv)`` tile by tile from the forward's ``out`` and ``lse`` (see :func:`flash_attention_ref_backward`)."""
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    g = H // H_kv
    work = torch.promote_types(q.dtype, torch.float32)
    q5 = q.to(work).reshape(B, H_kv, g, T, D)  # [B, H_kv, g, T, D]
    k5 = k.to(work)[:, :, None]  # [B, H_kv, 1, S, D]
    v5 = v.to(work)[:, :, None]  # [B, H_kv, 1, S, Dv]
    do5 = dout.to(work).reshape(B, H_kv, g, T, Dv)  # [B, H_kv, g, T, Dv]
    o5 = out.to(work).reshape(B, H_kv, g, T, Dv)  # [B, H_kv, g, T, Dv]
    lse5 = lse.to(work).reshape(B, H_kv, g, T)  # [B, H_kv, g, T]
    lse5 = torch.where(torch.isfinite(lse5), lse5, math.inf)  # a row that saw nothing: exp(s - inf) = 0
    dq = torch.zeros_like(q5)  # [B, H_kv, g, T, D]
    dk = torch.zeros(B, H_kv, S, D, dtype=work, device=q.device)
    dv = torch.zeros(B, H_kv, S, Dv, dtype=work, device=q.device)

    delta = (do5 * o5).sum(dim=-1)  # [B, H_kv, g, T]: D_i = rowsum(dO * O) = sum_j P_ij dP_ij
    for j0 in range(0, S, block_k):  # one key block: its dk, dv stay resident while queries stream past
        j1 = min(j0 + block_k, S)
        k_j, v_j = k5[..., j0:j1, :], v5[..., j0:j1, :]  # [B, H_kv, 1, bk, D], [B, H_kv, 1, bk, Dv]
        for i0 in range(0, T, block_q):
            i1 = min(i0 + block_q, T)
            if not tile_visible(i0, i1, j0, j1, T, S, window):
                continue  # P is zero on the whole tile: nothing flows back through it
            q_i, do_i = q5[..., i0:i1, :], do5[..., i0:i1, :]  # [B, H_kv, g, bq, D], [..., bq, Dv]
            s = q_i @ k_j.transpose(-2, -1) * scale  # [B, H_kv, g, bq, bk]: recomputed, never stored
            s = s.masked_fill(~tile_keep(i0, i1, j0, j1, T, S, window, q.device), -math.inf)
            p = torch.exp(
                s - lse5[..., i0:i1, None]
            )  # [B, H_kv, g, bq, bk]: exact softmax, from the saved lse
            dv[..., j0:j1, :] += (p.transpose(-2, -1) @ do_i).sum(
                dim=2
            )  # [B, H_kv, bk, Dv]: sum over the group
            dp = do_i @ v_j.transpose(-2, -1)  # [B, H_kv, g, bq, bk]
            ds = p * (dp - delta[..., i0:i1, None])  # softmax backward, row by row
            dq[..., i0:i1, :] += ds @ k_j * scale  # [B, H_kv, g, bq, D]
            dk[..., j0:j1, :] += (ds.transpose(-2, -1) @ q_i).sum(dim=2) * scale  # [B, H_kv, bk, D]

    dq = dq.reshape(B, H, T, D).to(q.dtype)  # [B, H, T, D]
    return dq, dk.to(k.dtype), dv.to(v.dtype)


def flash_attention_ref_backward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    dout: torch.Tensor,
    *,
    causal: bool = False,
    window: tuple[int, int] | None = None,
    scale: float | None = None,
    block_q: int = 64,
    block_k: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of attention from the forward's output and log-sum-exp, tile by tile.

    P is never stored: each tile's probabilities are recomputed as ``exp(q k^T * scale - lse)``.
    With ``D_i = rowsum(dO * O)``, the softmax backward is ``dS = P * (dP - D_i)`` where
    ``dP = dO v^T``; then ``dq = dS k * scale``, ``dk = dS^T q * scale``, ``dv = P^T dO``.

    Args:
        q: as for :func:`flash_attention_ref`.
        k: as for :func:`flash_attention_ref`.
        v: as for :func:`flash_attention_ref`.
        out: ``[B, H, T, Dv]`` the forward's output.
        lse: ``[B, H, T]`` the forward's log-sum-exp (``-inf`` for a query that sees no key).
        dout: ``[B, H, T, Dv]`` gradient of the loss with respect to ``out``.
        causal: the forward's value.
        window: the forward's value.
        scale: the forward's value.
        block_q: query tile size (need not match the forward's).
        block_k: key tile size (need not match the forward's).

    Returns:
        ``(dq, dk, dv)`` shaped and typed like ``q``, ``k``, ``v``. Under GQA, ``dk`` and
        ``dv`` of a key/value head sum the contributions of the ``H // H_kv`` query heads
        that read it.

    Raises:
        TypeError, ValueError: as :func:`flash_attention_ref`, and when ``out``, ``lse`` or
            ``dout`` do not have the shapes above.
    """
    window, scale, block_q, block_k = _check_inputs(q, k, v, causal, window, scale, block_q, block_k)
    B, H, T, _ = q.shape
    Dv = v.shape[3]
    for name, t, shape in (
        ("out", out, (B, H, T, Dv)),
        ("lse", lse, (B, H, T)),
        ("dout", dout, (B, H, T, Dv)),
    ):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    with torch.no_grad():
        return flash_backward(q, k, v, out, lse, dout, window, scale, block_q, block_k)


class _FlashAttentionRef(torch.autograd.Function):
    """Autograd glue: saves ``q, k, v, out, lse`` (no ``[T, S]`` matrix) for the tiled backward."""

    @staticmethod
    def forward(ctx, q, k, v, window, scale, block_q, block_k):
        out, lse = flash_forward(q, k, v, window, scale, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.args = (window, scale, block_q, block_k)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, _dlse):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = flash_backward(q, k, v, out, lse, dout, *ctx.args)
        return dq, dk, dv, None, None, None, None


def flash_attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    window: tuple[int, int] | None = None,
    scale: float | None = None,
    block_q: int = 64,
    block_k: int = 64,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Exact attention computed the FlashAttention way: tiles and an online softmax.

    Equal (up to rounding) to :func:`longctx.attention.attention_ref` with the same mask, but
    no ``[T, S]`` matrix ever exists: each block of ``block_q`` queries meets the keys
    ``block_k`` at a time, keeping a running max ``m``, running sum ``l`` and unnormalised
    output, rescaled by ``exp(m_old - m_new)`` whenever the max grows. Tiles that the mask
    hides entirely are skipped. The output can be backpropagated (through
    :func:`flash_attention_ref_backward`); ``lse`` cannot.

    Args:
        q: ``[B, H, T, D]`` queries, floating point.
        k: ``[B, H_kv, S, D]`` keys, same dtype; ``H % H_kv == 0`` (GQA: query head ``h``
            reads key/value head ``h // (H // H_kv)``).
        v: ``[B, H_kv, S, Dv]`` values, same dtype.
        causal: keep keys ``j <= i + S - T`` (aligned bottom-right, as FlashAttention >= 2.1).
            For ``T == S`` this equals ``scaled_dot_product_attention(is_causal=True)``; for
            ``T != S`` SDPA aligns top-left and differs. Default False.
        window: ``(left, right)``, FlashAttention's ``window_size``: keep keys
            ``i' - left <= j <= i' + right`` where ``i' = i + S - T``; ``-1`` is unbounded.
            Default None, the same as ``(-1, -1)``. Combines with ``causal``.
        scale: multiplies the scores, a positive finite number; defaults to ``1 / sqrt(D)``.
        block_q: queries per tile, default 64. Need not divide ``T``.
        block_k: keys per tile, default 64. Need not divide ``S``.
        return_lse: also return the log-sum-exp of each row.

    Returns:
        ``out`` ``[B, H, T, Dv]`` in the input dtype; with ``return_lse=True``,
        ``(out, lse)`` with ``lse`` ``[B, H, T]``, the log-sum-exp of each row's scaled,
        masked scores, in float32 (float64 for float64 inputs). A query that sees no key
        gets ``out = 0`` and ``lse = -inf``.

    Raises:
        TypeError: a tensor argument is not a floating-point tensor, dtypes differ, or
            ``causal``, ``window``, ``scale``, ``block_q``, ``block_k`` have the wrong type.
        ValueError: wrong ranks, mismatched batch/heads/head dims, ``H % H_kv != 0``, an
            empty sequence, ``block_q``/``block_k`` < 1, a window side below -1, a
            non-finite scale.
    """
    window, scale, block_q, block_k = _check_inputs(q, k, v, causal, window, scale, block_q, block_k)
    out, lse = _FlashAttentionRef.apply(q, k, v, window, scale, block_q, block_k)
    return (out, lse) if checks.flag("return_lse", return_lse) else out


# ---------------------------------------------------------------- memory: naive against tiled


def memory_model(
    n: int, *, head_dim: int = 64, block_q: int = 64, block_k: int = 64, bytes_per_element: int = 4
) -> dict[str, int]:
    """Bytes of the largest temporaries of naive and tiled attention, one head, ``T = S = n``.

    Args:
        n: sequence length.
        head_dim: ``Dv``, the width of the running output of a query block.
        block_q: query tile size.
        block_k: key tile size.
        bytes_per_element: 4 for float32.

    Returns:
        ``score_matrix_bytes``: one ``[n, n]`` score matrix, which naive attention holds
        (several of them, in fact: scores, exponentials, probabilities).
        ``tile_bytes``: one ``[block_q, block_k]`` tile of scores, the tiled forward's
        largest temporary, whatever ``n`` is.
        ``block_state_bytes``: a query block's running ``m``, ``l`` and output
        ``[block_q, head_dim]``, also independent of ``n``.
        ``lse_bytes``: the ``[n]`` log-sum-exp the tiled forward keeps for its backward,
        the O(n) part.
    """
    n, head_dim = checks.positive_int("n", n), checks.positive_int("head_dim", head_dim)
    block_q, block_k = checks.positive_int("block_q", block_q), checks.positive_int("block_k", block_k)
    e = checks.positive_int("bytes_per_element", bytes_per_element)
    return {
        "score_matrix_bytes": n * n * e,
        "tile_bytes": block_q * block_k * e,
        "block_state_bytes": block_q * (2 + head_dim) * e,
        "lse_bytes": n * e,
    }


def memory_table(
    ns: Iterable[int],
    *,
    head_dim: int = 64,
    block_q: int = 64,
    block_k: int = 64,
    causal: bool = False,
    repeats: int = 1,
    seed: int = 0,
) -> list[dict[str, int]]:
    """Measured peak extra memory of naive against tiled attention as ``n`` grows (CPU, Linux).

    For each ``n``, float32 ``q, k, v`` of shape ``[1, 1, n, head_dim]`` are made first, then
    :func:`longctx.bench.peak_rss_bytes` measures what :func:`longctx.attention.attention_ref`
    and :func:`flash_attention_ref` add to the resident set while they run (their output,
    ``n * head_dim`` floats, included).

    Args:
        ns: sequence lengths (positive ints).
        head_dim: ``D``. Default 64.
        block_q: query tile size of the tiled version. Default 64.
        block_k: key tile size of the tiled version. Default 64.
        causal: pass the causal mask to both. Default False.
        repeats: measurements per call; the smallest is kept.
        seed: seeds the random inputs.

    Returns:
        One dict per ``n``, in order: ``n``, ``naive_peak_bytes``, ``tiled_peak_bytes`` and the
        entries of :func:`memory_model` (``score_matrix_bytes``, ``tile_bytes``,
        ``block_state_bytes``, ``lse_bytes``).

    Raises:
        RuntimeError: where :func:`longctx.bench.peak_rss_bytes` cannot measure (not Linux).
    """
    from longctx.bench.memory import peak_rss_bytes

    ns = [checks.positive_int("n", n) for n in ns]
    rows = []
    for n in ns:
        gen = torch.Generator().manual_seed(seed + n)
        q, k, v = (torch.randn(1, 1, n, head_dim, generator=gen) for _ in range(3))  # each [1, 1, n, D]
        naive = peak_rss_bytes(lambda: attention_ref(q, k, v, causal=causal), repeats=repeats)
        tiled = peak_rss_bytes(
            lambda: flash_attention_ref(q, k, v, causal=causal, block_q=block_q, block_k=block_k),
            repeats=repeats,
        )
        rows.append(
            {
                "n": n,
                "naive_peak_bytes": naive,
                "tiled_peak_bytes": tiled,
                **memory_model(n, head_dim=head_dim, block_q=block_q, block_k=block_k),
            }
        )
    return rows
