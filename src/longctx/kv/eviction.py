"""Cache eviction under a fixed budget: H2O heavy hitters and StreamingLLM attention sinks.

Shape legend:
    q        [B, H, T, D]      the queries of T decoding steps (query t is at position t)
    k/v      [B, H_kv, T, D]   the key/value written at each step
    kept     [B, H_kv, T, T]   bool: kept[b, g, t, j] = key j was in the cache at step t

Decoding is simulated one step at a time: step t appends key t, attends over the cache, then
evicts down to ``budget`` entries. Each key/value head keeps its own set.

* Attention sinks (StreamingLLM, Xiao et al., 2023, arXiv:2309.17453): keep the first
  ``n_sink`` tokens and the most recent ``budget - n_sink``.
* H2O (Zhang et al., 2023, arXiv:2306.14048): keep the ``recent`` most recent tokens plus the
  tokens with the largest attention mass accumulated so far (summed over the steps and over the
  query heads of the group), up to ``budget``.
"""

from __future__ import annotations

import math

import torch

from longctx import checks
from longctx.attention import attention_ref
from longctx.checks import float_tensor, nonneg_int, positive_int

__all__ = ["evicted_attention", "eviction_error_table", "h2o_keep", "sink_keep"]


# --8<-- [start:sink-keep]
def sink_keep(positions: torch.Tensor, budget: int, n_sink: int = 4) -> torch.Tensor:
    """Attention sinks: of the cached ``positions [n]`` (ascending), which to keep (bool ``[n]``).

    The first ``n_sink`` positions and the latest ``budget - n_sink``; everything when n <= budget.
    """
    n = positions.shape[0]
    keep = torch.zeros(n, dtype=torch.bool)
    keep[:n_sink] = True
    if budget > n_sink:
        keep[-(budget - n_sink) :] = True
    return keep if n > budget else torch.ones(n, dtype=torch.bool)


# --8<-- [end:sink-keep]


# --8<-- [start:h2o-keep]
def h2o_keep(scores: torch.Tensor, budget: int, recent: int) -> torch.Tensor:
    """Heavy hitters: from accumulated attention ``scores [n]`` (oldest first), which to keep (bool ``[n]``).

    The last ``recent`` entries always stay; the other ``budget - recent`` slots go to the
    highest scores among the rest (ties: the older token, by a stable sort).
    """
    n = scores.shape[0]
    if n <= budget:
        return torch.ones(n, dtype=torch.bool)
    keep = torch.zeros(n, dtype=torch.bool)
    if recent:
        keep[n - recent :] = True
    order = torch.sort(scores[: n - recent], descending=True, stable=True).indices  # [n - recent]
    keep[order[: budget - recent]] = True
    return keep


# --8<-- [end:h2o-keep]


def _check(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    policy: str,
    budget: int,
    n_sink: int,
    recent: int | None,
) -> tuple[int, int]:
    for name, t in (("q", q), ("k", k), ("v", v)):
        float_tensor(name, t, 4)
    if k.shape != v.shape or q.shape[0] != k.shape[0] or q.shape[2] != k.shape[2] or q.shape[3] != k.shape[3]:
        raise ValueError(
            f"q [B, H, T, D] and k, v [B, H_kv, T, D] disagree: {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[2] == 0:
        raise ValueError("q must hold at least one step (T >= 1)")
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"H ({q.shape[1]}) must be a multiple of H_kv ({k.shape[1]})")
    budget = positive_int("budget", budget)
    if policy == "sink":
        if nonneg_int("n_sink", n_sink) > budget:
            raise ValueError(f"n_sink ({n_sink}) must be at most budget ({budget})")
    elif policy == "h2o":
        recent = budget // 2 if recent is None else nonneg_int("recent", recent)
        if recent > budget:
            raise ValueError(f"recent ({recent}) must be at most budget ({budget})")
    else:
        raise ValueError(f"policy must be 'h2o' or 'sink', got {policy!r}")
    return budget, (recent or 0)


# --8<-- [start:evicted-attention]
import math

import torch


def evict_and_attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, policy: str, budget: int, n_sink: int, recent: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode T steps with a cache capped at ``budget`` entries per key/value head: ``(out, kept)``.

    Step t writes key t, attends over the cache, then evicts down to ``budget`` entries with
    :func:`h2o_keep` (``policy="h2o"``) or :func:`sink_keep` (``"sink"``).
    """
    B, H, T, D = q.shape
    H_kv = k.shape[1]
    group = H // H_kv
    out = torch.zeros_like(q)
    kept = torch.zeros(B, H_kv, T, T, dtype=torch.bool)
    for b in range(B):
        for g in range(H_kv):
            idx = torch.zeros(0, dtype=torch.long)  # positions in the cache, ascending
            acc = torch.zeros(0, dtype=torch.float64)  # accumulated attention of each
            heads = slice(g * group, (g + 1) * group)
            for t in range(T):
                idx = torch.cat([idx, torch.tensor([t])])
                acc = torch.cat([acc, torch.zeros(1, dtype=torch.float64)])
                kept[b, g, t, idx] = True
                s = q[b, heads, t] @ k[b, g, idx].T / math.sqrt(D)  # [group, n]
                p = torch.softmax(s.double(), dim=-1)  # [group, n]
                out[b, heads, t] = (p @ v[b, g, idx].double()).to(q.dtype)  # [group, D]
                acc = acc + p.sum(dim=0)  # [n]
                keep = h2o_keep(acc, budget, recent) if policy == "h2o" else sink_keep(idx, budget, n_sink)
                idx, acc = idx[keep], acc[keep]
    return out, kept


# --8<-- [end:evicted-attention]


def evicted_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    policy: str = "h2o",
    budget: int,
    n_sink: int = 4,
    recent: int | None = None,
    return_kept: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Decode T steps with a cache capped at ``budget`` entries per key/value head.

    Args:
        q: ``[B, H, T, D]``; k, v: ``[B, H_kv, T, D]`` (step t writes key t, then reads).
        policy: ``"h2o"`` or ``"sink"``.
        budget: cache entries kept after each step, >= 1.
        n_sink: first tokens kept by ``"sink"`` (<= budget), default 4.
        recent: recent tokens always kept by ``"h2o"`` (<= budget), default ``budget // 2``.
        return_kept: also return which keys each step attended to.

    Returns:
        ``out [B, H, T, D]``; with ``return_kept=True``, ``(out, kept)`` with
        ``kept [B, H_kv, T, T]`` bool, ``kept[b, g, t]`` marking the keys step t attended to.
        With ``budget >= T`` nothing is evicted: full causal attention.
    """
    budget, recent = _check(q, k, v, policy, budget, n_sink, recent)
    out, kept = evict_and_attend(q, k, v, policy, budget, n_sink, recent)
    return (out, kept) if checks.flag("return_kept", return_kept) else out


def eviction_error_table(
    *,
    B: int = 1,
    H: int = 4,
    H_kv: int = 2,
    T: int = 64,
    D: int = 16,
    budgets: tuple[int, ...] = (64, 48, 32, 16, 8, 4),
    seed: int = 0,
    n_sink: int = 4,
    temperature: float = 2.0,
) -> list[dict[str, float]]:
    """Output error of each policy against the full cache as the budget shrinks, one row per budget.

    Random float64 q, k, v; queries are scaled by ``temperature`` so attention is peaked, as in
    trained models (with flat attention no token is a heavy hitter).

    Returns:
        Rows ``{"budget", "h2o_max_err", "h2o_mean_err", "sink_max_err", "sink_mean_err"}``.
    """
    gen = torch.Generator().manual_seed(seed)
    q = temperature * torch.randn(B, H, T, D, generator=gen, dtype=torch.float64)
    k = torch.randn(B, H_kv, T, D, generator=gen, dtype=torch.float64)
    v = torch.randn(B, H_kv, T, D, generator=gen, dtype=torch.float64)
    ref = attention_ref(q, k, v, causal=True)
    rows = []
    for budget in budgets:
        row: dict[str, float] = {"budget": budget}
        for policy in ("h2o", "sink"):
            out = evicted_attention(q, k, v, policy=policy, budget=budget, n_sink=min(n_sink, budget))
            err = (out - ref).abs()
            row[f"{policy}_max_err"], row[f"{policy}_mean_err"] = err.max().item(), err.mean().item()
        rows.append(row)
    return rows
