"""Ring Attention (Liu, Zaharia, Abbeel, 2023, arXiv:2310.01889): exact attention over a
sequence split across devices, built on blockwise (Blockwise Parallel Transformer) attention.

Shape legend (per rank; W ranks, rank r holds positions [r*T_local, (r+1)*T_local)):
    q    [B, H, T_local, D]        this rank's queries, never moved
    k/v  [B, H_kv, T_local, D|Dv]  a key/value block; blocks travel around the ring
    out  [B, H, T_local, Dv]       this rank's share of the output
    lse  [B, H, T_local]           log-sum-exp of the scores seen so far (-inf: none yet)

Each of the W steps attends the local queries to the key/value block currently held, folds
the result into the running output with a log-sum-exp merge, and passes the block on to
rank r+1 while receiving the next one from rank r-1. After W steps every query has seen
every key, and no rank ever held more than two blocks: memory per rank is set by T_local,
not by the full length. Key/value blocks travel with H_kv heads (GQA shrinks the traffic).

The sequence is cut into contiguous shards, so with ``causal=True`` rank r skips the blocks
of ranks after it and the last rank does the most work; load-balanced orders (striped or
zig-zag shards) are left out of this reference. Forward only: gradients do not flow through
the point-to-point sends.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from longctx import checks
from longctx.attention.reference import position_keep

__all__ = ["block_attention", "merge_partials", "ring_attention", "ring_attention_simulated"]


# --8<-- [start:block-attention]
import torch


def block_attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    q_offset: int = 0,
    k_offset: int = 0,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of one query block on one key/value block: ``(out, lse)``.

    ``q [B, H, Tq, D]``, ``k [B, H_kv, Tk, D]``, ``v [B, H_kv, Tk, Dv]``; the blocks start at
    global positions ``q_offset`` and ``k_offset``. ``out [B, H, Tq, Dv]`` is normalised over
    this block only and ``lse [B, H, Tq]`` is the log of its softmax denominator (``-inf`` and
    zeros for a query that sees no key here), both in float32 or wider.
    """
    work = torch.promote_types(q.dtype, torch.float32)
    group = q.shape[1] // k.shape[1]
    k = k.to(work).repeat_interleave(group, dim=1)  # [B, H, Tk, D]
    v = v.to(work).repeat_interleave(group, dim=1)  # [B, H, Tk, Dv]
    s = q.to(work) @ k.transpose(-2, -1) * scale  # [B, H, Tq, Tk]
    if causal:  # global positions: a key after the query is hidden
        q_pos = torch.arange(q.shape[2], device=q.device) + q_offset  # [Tq]
        k_pos = torch.arange(k.shape[2], device=q.device) + k_offset  # [Tk]
        s = s.masked_fill(~position_keep(q_pos, k_pos, (-1, 0)), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)  # [B, H, Tq]; -inf for a row with no visible key
    p = torch.exp(s - torch.where(torch.isfinite(lse), lse, 0.0)[..., None])  # [B, H, Tq, Tk]
    return p @ v, lse


# --8<-- [end:block-attention]


def block_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    q_offset: int = 0,
    k_offset: int = 0,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention of one query block on one key/value block, the building block of Ring Attention.

    Args:
        q: ``[B, H, Tq, D]``; k: ``[B, H_kv, Tk, D]``; v: ``[B, H_kv, Tk, Dv]``.
        causal: hide keys whose global position is after the query's.
        scale: multiplies the scores, a positive finite number; defaults to ``1 / sqrt(D)``.
        q_offset: global position of the first query of the block.
        k_offset: global position of the first key of the block.
        return_lse: also return the block's log-sum-exp, which :func:`merge_partials` needs.

    Returns:
        ``out [B, H, Tq, Dv]`` (normalised over this block only), in float32 or wider; with
        ``return_lse=True``, ``(out, lse)`` with ``lse [B, H, Tq]``. A query that sees no key
        here gets zeros and ``lse = -inf``.
    """
    checks.qkv(q, k, v)
    out, lse = block_attend(
        q,
        k,
        v,
        checks.attention_scale(scale, q.shape[3]),
        checks.nonneg_int("q_offset", q_offset),
        checks.nonneg_int("k_offset", k_offset),
        checks.flag("causal", causal),
    )
    return (out, lse) if checks.flag("return_lse", return_lse) else out


# --8<-- [start:lse-merge]
import torch


def merge_partials(
    out_a: torch.Tensor, lse_a: torch.Tensor, out_b: torch.Tensor, lse_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge two partial attentions over disjoint key sets into one.

    Each ``out`` is softmax-weighted over its own keys, ``lse`` the log of its softmax
    denominator. The merged denominator is ``exp(lse_a) + exp(lse_b)``, so each part is
    re-weighted by its share of it. Shapes: ``out [B, H, T, Dv]``, ``lse [B, H, T]``.
    """
    lse = torch.logaddexp(lse_a, lse_b)  # [B, H, T]; stays -inf where neither part saw a key
    base = torch.where(torch.isfinite(lse), lse, 0.0)  # avoids -inf - (-inf) = nan
    w_a = torch.exp(lse_a - base)[..., None]  # [B, H, T, 1] share of part a
    w_b = torch.exp(lse_b - base)[..., None]  # [B, H, T, 1] share of part b
    return w_a * out_a + w_b * out_b, lse


# --8<-- [end:lse-merge]


def _check_shard(q: object, k: object, v: object, scale: object) -> float:
    checks.qkv(q, k, v)
    if q.shape[2] == 0:
        raise ValueError("q must hold at least one position per shard, got T_local=0")
    if k.shape[2] != q.shape[2]:
        raise ValueError(f"k must cover the same positions as q (T_local={q.shape[2]}), got {k.shape[2]}")
    return checks.attention_scale(scale, q.shape[3])


# --8<-- [start:ring-step]
import torch


def ring_step(out, lse, q, k_blk, v_blk, rank: int, src: int, T_local: int, causal: bool, scale: float):
    """Fold the key/value block that started on rank ``src`` into rank ``rank``'s output."""
    if causal and src > rank:
        return out, lse  # every key of that block comes after every local query
    out_b, lse_b = block_attend(q, k_blk, v_blk, scale, rank * T_local, src * T_local, causal)
    return merge_partials(out, lse, out_b, lse_b)


def empty_partial(q: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The output and lse of a rank that has seen no key yet: zeros and ``-inf``."""
    B, H, T_local, _ = q.shape
    work = torch.promote_types(q.dtype, torch.float32)
    out = torch.zeros(B, H, T_local, v.shape[3], dtype=work, device=q.device)  # [B, H, T_local, Dv]
    lse = torch.full((B, H, T_local), float("-inf"), dtype=work, device=q.device)  # [B, H, T_local]
    return out, lse


# --8<-- [end:ring-step]


# --8<-- [start:ring-simulated]
import torch


def simulate_ring(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, world_size: int, causal: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ring Attention on one process: the W ranks and their W steps, one after another: ``(out, lse)``."""
    T_local = q.shape[2] // world_size
    q_shards = q.split(T_local, dim=2)  # W x [B, H, T_local, D]
    k_shards = k.split(T_local, dim=2)  # W x [B, H_kv, T_local, D]
    v_shards = v.split(T_local, dim=2)  # W x [B, H_kv, T_local, Dv]
    outs, lses = [], []
    for rank in range(world_size):
        out, lse = empty_partial(q_shards[rank], v)
        for step in range(world_size):
            src = (rank - step) % world_size  # after `step` hops rank r holds the block of r - step
            out, lse = ring_step(
                out, lse, q_shards[rank], k_shards[src], v_shards[src], rank, src, T_local, causal, scale
            )
        outs.append(out)
        lses.append(lse)
    return torch.cat(outs, dim=2).to(q.dtype), torch.cat(lses, dim=2)  # [B, H, T, Dv], [B, H, T]


# --8<-- [end:ring-simulated]


def ring_attention_simulated(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    world_size: int,
    causal: bool = False,
    scale: float | None = None,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Ring Attention on one process: the W ranks and their W steps, run one after another.

    Args:
        q: ``[B, H, T, D]``, the full sequence; T must be a multiple of ``world_size``.
        k: ``[B, H_kv, T, D]``; v: ``[B, H_kv, T, Dv]``.
        world_size: W >= 1, the number of simulated ranks.
        causal: each query sees keys at its own position or before (``T == S``, so this is
            ``scaled_dot_product_attention(is_causal=True)``).
        scale: a positive finite number; defaults to ``1 / sqrt(D)``.
        return_lse: also return the log-sum-exp of each row.

    Returns:
        ``[B, H, T, Dv]`` in q's dtype, equal to ``attention_ref(q, k, v, causal=causal)``;
        with ``return_lse=True``, ``(out, lse)``, ``lse [B, H, T]``.
    """
    scale = _check_shard(q, k, v, scale)
    world_size = checks.positive_int("world_size", world_size)
    T = q.shape[2]
    if T % world_size:
        raise ValueError(f"world_size must divide the sequence length T={T} (equal shards), got {world_size}")
    out, lse = simulate_ring(q, k, v, world_size, checks.flag("causal", causal), scale)
    return (out, lse) if checks.flag("return_lse", return_lse) else out


_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_everywhere(q, k, v, scale, group) -> float:
    """Check the local shards, then agree across ranks, so that bad input raises on every rank.

    A rank that raised alone would leave the others waiting in the ring; instead each rank
    shares ``[B, H, H_kv, T_local, D, Dv, dtype]`` (or -1s when its own check failed).
    """
    error = None
    try:
        scale = _check_shard(q, k, v, scale)
        if q.dtype not in _DTYPES:
            raise TypeError(f"q's dtype {q.dtype} is not supported; use one of {_DTYPES}")
        meta = [*q.shape[:2], k.shape[1], q.shape[2], q.shape[3], v.shape[3], _DTYPES.index(q.dtype)]
    except (TypeError, ValueError) as err:
        error, meta = err, [-1] * 7
    device = q.device if isinstance(q, torch.Tensor) else torch.device("cpu")
    mine = torch.tensor(meta, dtype=torch.int64, device=device)  # [7]
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(every, mine, group=group)
    if error is not None:
        raise error
    failed = [r for r, theirs in enumerate(every) if int(theirs[0]) < 0]
    if failed:
        raise ValueError(f"ranks {failed} were given invalid q, k, v or scale (see the error raised there)")
    for r, theirs in enumerate(every):
        if not torch.equal(theirs, every[0]):
            raise ValueError(
                "every rank must hold shards of equal shape and dtype [B, H, H_kv, T_local, D, Dv, dtype]: "
                f"rank 0 has {every[0].tolist()}, rank {r} has {theirs.tolist()} (uneven shards are not supported)"
            )
    return scale


# --8<-- [start:ring-attention]
import torch
import torch.distributed as dist


def ring_loop(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float, group=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's ``(out, lse)``: W steps, each passing the key/value block on while computing with it."""
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    to_global = (lambda r: r) if group is None else (lambda r: dist.get_global_rank(group, r))
    send_to, recv_from = to_global((rank + 1) % world), to_global((rank - 1) % world)
    out, lse = empty_partial(q, v)
    k_blk, v_blk = k.contiguous(), v.contiguous()
    for step in range(world):
        src = (rank - step) % world  # the rank this block started on
        if step < world - 1:  # start passing the block on before computing with it
            k_next, v_next = torch.empty_like(k_blk), torch.empty_like(v_blk)
            requests = dist.batch_isend_irecv(
                [
                    dist.P2POp(dist.isend, k_blk, send_to, group),
                    dist.P2POp(dist.isend, v_blk, send_to, group),
                    dist.P2POp(dist.irecv, k_next, recv_from, group),
                    dist.P2POp(dist.irecv, v_next, recv_from, group),
                ]
            )
        out, lse = ring_step(out, lse, q, k_blk, v_blk, rank, src, q.shape[2], causal, scale)
        if step < world - 1:
            for request in requests:
                request.wait()
            k_blk, v_blk = k_next, v_next
    return out.to(q.dtype), lse


# --8<-- [end:ring-attention]


def ring_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    group: dist.ProcessGroup | None = None,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Exact attention over a sequence sharded across the ranks of a process group.

    Args:
        q: ``[B, H, T_local, D]``, this rank's queries: positions
            ``[rank * T_local, (rank + 1) * T_local)``.
        k: ``[B, H_kv, T_local, D]``, this rank's keys (same positions).
        v: ``[B, H_kv, T_local, Dv]``.
        causal: each query sees keys at its own global position or before.
        scale: a positive finite number; defaults to ``1 / sqrt(D)``.
        group: the process group (default: the world). Any backend with point-to-point
            sends (gloo on CPU, NCCL on GPUs).
        return_lse: also return the log-sum-exp of this rank's rows.

    Returns:
        ``[B, H, T_local, Dv]`` in q's dtype: this rank's rows of the full attention output;
        with ``return_lse=True``, ``(out, lse)``, ``lse [B, H, T_local]``.

    Raises:
        RuntimeError: torch.distributed is not initialised.
        ValueError, TypeError: bad input on any rank, or shards that differ in shape or
            dtype across ranks; raised on every rank, so none is left waiting.
    """
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("ring_attention needs torch.distributed initialised (dist.init_process_group)")
    causal, return_lse = checks.flag("causal", causal), checks.flag("return_lse", return_lse)
    scale = _check_everywhere(q, k, v, scale, group)
    out, lse = ring_loop(q, k, v, causal, scale, group)
    return (out, lse) if return_lse else out
