"""Grouped-query and multi-query attention as weight transformations.

Shape legend:
    k/v            [B, H_kv, S, D]
    wk/wv          [d_model, H_kv * D]  (head h owns columns h*D .. (h+1)*D - 1)
    group          H // H_kv query heads share one key/value head; query head h reads h // group

GQA (Ainslie et al., 2023, arXiv:2305.13245) is MHA whose key/value heads are shared by groups
of query heads; MQA (Shazeer, 2019, arXiv:1911.02150) is the case H_kv = 1. So a GQA block is
*exactly* an MHA block whose K/V projections are duplicated across each group
(:func:`gqa_to_mha`); the converse direction, making GQA from a trained MHA checkpoint, is
the paper's mean-pooling of each group's heads (:func:`mha_to_gqa`).
"""

from __future__ import annotations

import dataclasses

import torch

from longctx.checks import float_tensor, positive_int
from longctx.kv.decoder import DecoderConfig

__all__ = ["gqa_to_mha", "kv_elements_per_token", "mha_to_gqa", "repeat_kv"]


# --8<-- [start:repeat-kv]
import torch


def repeat_kv_heads(k: torch.Tensor, group: int) -> torch.Tensor:
    """``[B, H_kv, S, D] -> [B, H_kv * group, S, D]``: query head h gets key/value head ``h // group``."""
    B, H_kv, S, D = k.shape
    k = k[:, :, None].expand(B, H_kv, group, S, D)  # [B, H_kv, group, S, D], no copy
    return k.reshape(B, H_kv * group, S, D)  # [B, H, S, D]


# --8<-- [end:repeat-kv]


def repeat_kv(k: torch.Tensor, group: int) -> torch.Tensor:
    """Give every query head its own copy of its key/value head.

    Args:
        k: ``[B, H_kv, S, D]``.
        group: query heads per key/value head (``H // H_kv``), >= 1.

    Returns:
        ``[B, H_kv * group, S, D]``; head h is ``k[:, h // group]``.
    """
    float_tensor("k", k, 4)
    return repeat_kv_heads(k, positive_int("group", group))


def _heads(w: torch.Tensor, n: int, D: int) -> torch.Tensor:
    return w.reshape(w.shape[0], n, D)  # [d_model, n*D] -> [d_model, n, D]


def gqa_to_mha(
    cfg: DecoderConfig, params: dict[str, torch.Tensor]
) -> tuple[DecoderConfig, dict[str, torch.Tensor]]:
    """The MHA block that computes exactly what the GQA block ``(cfg, params)`` computes.

    Each key/value head's projection columns are copied to the ``group`` query heads that read
    it. The cache of the result is ``group`` times bigger; its outputs are the same.

    Args:
        cfg: a GQA/MQA config (any ``n_kv_heads``).
        params: its weights.

    Returns:
        ``(mha_cfg, mha_params)`` with ``n_kv_heads == n_heads``.
    """
    H, H_kv, D = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    group = H // H_kv
    out = dict(params)
    for name in ("wk", "wv"):
        w = _heads(params[name], H_kv, D)  # [d_model, H_kv, D]
        out[name] = w.repeat_interleave(group, dim=1).reshape(w.shape[0], H * D)  # [d_model, H*D]
    return dataclasses.replace(cfg, n_kv_heads=H), out


def mha_to_gqa(
    cfg: DecoderConfig, params: dict[str, torch.Tensor], n_kv_heads: int
) -> tuple[DecoderConfig, dict[str, torch.Tensor]]:
    """Convert an MHA block to GQA by mean-pooling each group's K and V projections (Ainslie et al.).

    This is an approximation (the paper then uptrains); it is exact when the heads of a
    group already have equal K/V projections, e.g. after :func:`gqa_to_mha`.

    Args:
        cfg: an MHA config (``n_kv_heads == n_heads``).
        params: its weights.
        n_kv_heads: target key/value heads, dividing ``n_heads``.
    """
    H, D = cfg.n_heads, cfg.head_dim
    if cfg.n_kv_heads != H:
        raise ValueError(
            f"cfg must be MHA (n_kv_heads == n_heads), got n_kv_heads={cfg.n_kv_heads}, n_heads={H}"
        )
    n_kv_heads = positive_int("n_kv_heads", n_kv_heads)
    if H % n_kv_heads:
        raise ValueError(f"n_heads ({H}) must be a multiple of n_kv_heads ({n_kv_heads})")
    group = H // n_kv_heads
    out = dict(params)
    for name in ("wk", "wv"):
        w = params[name].reshape(-1, n_kv_heads, group, D)  # [d_model, H_kv, group, D]
        out[name] = w.mean(dim=2).reshape(-1, n_kv_heads * D)  # [d_model, H_kv*D]
    return dataclasses.replace(cfg, n_kv_heads=n_kv_heads), out


def kv_elements_per_token(cfg: DecoderConfig) -> int:
    """Cached elements per token for one block: ``2 * n_kv_heads * head_dim`` (one K, one V)."""
    return 2 * cfg.n_kv_heads * cfg.head_dim
