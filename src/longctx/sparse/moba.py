"""MoBA, mixture of block attention: each query picks which key blocks to attend to.

Lu et al., *MoBA: Mixture of Block Attention for Long-Context LLMs*, 2025, arXiv:2502.13189.
The keys are cut into blocks of ``block_size`` positions. A query always attends causally
inside its own block; among the blocks before it, it scores each block by the dot product of
the query with the block's mean-pooled key and attends to all tokens of the ``top_k - 1`` best
(its own block counts as one of the ``top_k``). Everything else is masked, so the attention
itself is ordinary softmax over the chosen keys: the gate is a top-k over block summaries, the
way a mixture of experts routes a token to experts.

Shape legend:
    q   [B, H, T, D]       queries
    k   [B, H_kv, S, D]    keys (S == T; GQA: H a multiple of H_kv, query head h uses key head
                           h // (H / H_kv) and chooses its own blocks)
    v   [B, H_kv, S, Dv]   values
    out [B, H, T, Dv]      in q's dtype
    lse [B, H, T]          log-sum-exp of each row's scaled, kept scores (float32 or float64)
"""

from __future__ import annotations

import torch

from longctx import checks

__all__ = [
    "moba_attention_flops",
    "moba_attention_ref",
    "moba_block_mask",
    "moba_core",
    "moba_flops_saved",
    "moba_mask",
]


# --8<-- [start:moba]
import torch


def moba_block_mask(q: torch.Tensor, k: torch.Tensor, block_size: int, top_k: int) -> torch.Tensor:
    """Which key blocks each query attends to: ``[B, H, T, n_blocks]`` bool, own block included.

    The gate scores block c by ``q . mean(k in c)`` for the blocks before the query's own;
    the best ``top_k - 1`` win, ties going to the more recent block.
    """
    B, H, T, D = q.shape
    n_blocks = -(-k.shape[2] // block_size)  # ceil(S / block_size)
    k = k.repeat_interleave(H // k.shape[1], dim=1)  # [B, H, S, D]: each query head's keys
    pad = n_blocks * block_size - k.shape[2]
    sums = torch.nn.functional.pad(k, (0, 0, 0, pad)).reshape(B, H, n_blocks, block_size, D).sum(3)
    counts = torch.full((n_blocks,), block_size, dtype=q.dtype, device=q.device)
    counts[-1] = block_size - pad  # the last block may be shorter
    gate = q @ (sums / counts[:, None]).transpose(-1, -2)  # [B, H, T, n_blocks]
    own = torch.arange(T, device=q.device) // block_size  # [T] each query's block
    before = torch.arange(n_blocks, device=q.device)[None, :] < own[:, None]  # [T, n_blocks]
    gate = gate.masked_fill(~before, float("-inf")).flip(-1)  # most recent block first
    order = gate.sort(dim=-1, descending=True, stable=True).indices  # ties: more recent first
    chosen = torch.zeros_like(gate, dtype=torch.bool)
    chosen.scatter_(-1, order[..., : top_k - 1], True)
    chosen &= gate > float("-inf")  # fewer blocks than top_k - 1 before this query
    chosen = chosen.flip(-1)  # back to block order
    return chosen | (torch.arange(n_blocks, device=q.device)[None, :] == own[:, None])


def moba_core(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int, top_k: int, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal softmax attention over the blocks :func:`moba_block_mask` chooses: ``(out, lse)``."""
    H, T, S = q.shape[1], q.shape[2], k.shape[2]
    blocks = moba_block_mask(q, k, block_size, top_k)  # [B, H, T, n_blocks]
    keep = blocks.repeat_interleave(block_size, dim=-1)[..., :S]  # [B, H, T, S]
    keep &= torch.ones(T, S, dtype=torch.bool, device=q.device).tril()  # causal in the own block
    k, v = (t.repeat_interleave(H // t.shape[1], dim=1) for t in (k, v))  # [B, H, S, *]
    scores = (q @ k.transpose(-1, -2) * scale).masked_fill(~keep, float("-inf"))  # [B, H, T, S]
    lse = torch.logsumexp(scores, dim=-1)  # [B, H, T]; finite: every query keeps itself
    return torch.exp(scores - lse[..., None]) @ v, lse  # [B, H, T, Dv]


# --8<-- [end:moba]


def moba_attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    block_size: int,
    top_k: int,
    scale: float | None = None,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Causal MoBA (mixture of block attention), a PyTorch reference.

    Args:
        q: ``[B, H, T, D]`` queries.
        k: ``[B, H_kv, S, D]`` keys, S == T (causal self-attention); H a multiple of H_kv.
        v: ``[B, H_kv, S, Dv]`` values.
        block_size: key positions per block, >= 1; the last block may be shorter.
        top_k: blocks each query attends to, >= 1, its own block included: the own block
            (causally) plus the ``top_k - 1`` earlier blocks whose mean-pooled key has the
            largest dot product with the query (fewer when fewer exist; ties go to the more
            recent block). ``top_k >= ceil(T / block_size)`` is full causal attention.
        scale: softmax scale, ``1 / sqrt(D)`` by default.
        return_lse: also return the log-sum-exp of each row's scaled, kept scores.

    Returns:
        ``out [B, H, T, Dv]`` in q's dtype (computed in float32, or float64 for float64
        inputs); with ``return_lse=True``, ``(out, lse)`` with ``lse [B, H, T]``.
    """
    checks.qkv(q, k, v, nonempty=True)
    if k.shape[2] != q.shape[2]:
        raise ValueError(
            f"k must have as many positions as q (causal self-attention, S == T), "
            f"got T={q.shape[2]}, S={k.shape[2]}"
        )
    block_size = checks.positive_int("block_size", block_size)
    top_k = checks.positive_int("top_k", top_k)
    scale = checks.attention_scale(scale, q.shape[-1])
    return_lse = checks.flag("return_lse", return_lse)
    work = torch.promote_types(q.dtype, torch.float32)
    out, lse = moba_core(q.to(work), k.to(work), v.to(work), block_size, top_k, scale)
    out = out.to(q.dtype)
    return (out, lse) if return_lse else out


def moba_mask(
    seq_len: int, *, block_size: int, top_k: int, head_dim: int = 16, seed: int = 0
) -> torch.Tensor:
    """The ``[T, T]`` bool mask MoBA keeps for one head on random queries and keys: a picture.

    Which blocks win depends on the data; this draws ``q`` and ``k`` from a seeded normal
    distribution, with the keys of each block shifted by a common random vector so that the
    block means differ as they do in a trained model.
    """
    T = checks.positive_int("seq_len", seq_len)
    block_size = checks.positive_int("block_size", block_size)
    top_k = checks.positive_int("top_k", top_k)
    D = checks.positive_int("head_dim", head_dim)
    g = torch.Generator().manual_seed(checks.nonneg_int("seed", seed))
    q = torch.randn(1, 1, T, D, generator=g, dtype=torch.float64)
    shift = torch.randn(-(-T // block_size), D, generator=g, dtype=torch.float64)
    k = torch.randn(1, 1, T, D, generator=g, dtype=torch.float64) + shift.repeat_interleave(block_size, 0)[:T]
    blocks = moba_block_mask(q, k, block_size, top_k)[0, 0]  # [T, n_blocks]
    keep = blocks.repeat_interleave(block_size, dim=-1)[:, :T]
    return keep & torch.ones(T, T, dtype=torch.bool).tril()


def moba_attention_flops(seq_len: int, head_dim: int, *, block_size: int, top_k: int, heads: int = 1) -> dict:
    """FLOPs of causal MoBA against full causal attention, counting a multiply-add as 2.

    Attention: ``4 d`` per kept (query, key) pair (``q.k`` and ``p v``). Every query keeps its
    own block causally and ``min(top_k - 1, c)`` whole earlier blocks, c the number of blocks
    before its own. The gate: ``2 d`` per query and earlier block (``q`` against the block's mean
    key), and ``d`` per key to pool the means. Full causal attention keeps ``n(n+1)/2`` pairs.

    Returns:
        dict with ``moba_pairs``, ``causal_pairs``, ``attention`` (MoBA's attention FLOPs),
        ``gate`` (gating FLOPs), ``moba`` (their sum), ``causal`` (full causal attention's
        FLOPs) and ``saved`` (``1 - moba / causal``), all for ``heads`` heads.
    """
    n = checks.positive_int("seq_len", seq_len)
    d = checks.positive_int("head_dim", head_dim)
    block_size = checks.positive_int("block_size", block_size)
    top_k = checks.positive_int("top_k", top_k)
    h = checks.positive_int("heads", heads)
    pairs = gate_pairs = 0
    for i in range(n):
        c = i // block_size  # blocks before the query's own
        pairs += (i - c * block_size + 1) + min(top_k - 1, c) * block_size
        gate_pairs += c
    causal_pairs = n * (n + 1) // 2
    attention = 4 * d * pairs * h
    gate = (2 * d * gate_pairs + d * n) * h
    causal = 4 * d * causal_pairs * h
    return {
        "moba_pairs": pairs * h,
        "causal_pairs": causal_pairs * h,
        "attention": attention,
        "gate": gate,
        "moba": attention + gate,
        "causal": causal,
        "saved": 1 - (attention + gate) / causal,
    }


def moba_flops_saved(seq_len: int, head_dim: int, *, block_size: int, top_k: int) -> float:
    """The share of full causal attention's FLOPs that MoBA does not do, gate included."""
    return moba_attention_flops(seq_len, head_dim, block_size=block_size, top_k=top_k)["saved"]
