"""Block (tile) views of a mask: which tiles a kernel must compute, and what skipping saves.

Shape legend:
    mask  [T, S]          bool, True where query i may attend key j
    tiles [nq, nk]        bool, nq = ceil(T / block_q), nk = ceil(S / block_k); True where the
                          tile holds at least one allowed entry (a kernel may NOT skip it)
    q [B, H, T, D], k/v [B, H_kv, S, D] / [B, H_kv, S, Dv], out [B, H, T, Dv]

A tiled kernel works on ``block_q x block_k`` tiles of the score matrix. A tile with no
allowed entry contributes nothing and can be skipped whole; a tile with even one allowed entry
must be computed in full (then masked). So the work a kernel saves is the area of the empty
tiles, which is never more than the mask's empty fraction ``1 - density``. The last row and
column of tiles may be partial (when ``block_q`` does not divide T, or ``block_k`` S); they are
counted by their real size.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from longctx import checks
from longctx.attention.reference import softmax_ref

__all__ = [
    "BlockStats",
    "block_mask",
    "block_sparse_attention",
    "block_stats",
    "flops_saved_fraction",
    "mask_density",
    "tile_areas",
]


def _check_mask(mask: object, name: str = "mask") -> torch.Tensor:
    checks.tensor(name, mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a boolean tensor (True = may attend), got {mask.dtype}")
    if mask.dim() != 2 or mask.shape[0] == 0 or mask.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D [T, S] tensor, got shape {tuple(mask.shape)}")
    return mask


# --8<-- [start:block-mask]
import math

import torch


def tiles_in_use(mask: torch.Tensor, block_q: int, block_k: int) -> torch.Tensor:
    """Bool ``[ceil(T / block_q), ceil(S / block_k)]``: True where a tile of ``mask [T, S]`` holds an allowed entry."""
    T, S = mask.shape
    nq, nk = math.ceil(T / block_q), math.ceil(S / block_k)
    padded = torch.zeros(nq * block_q, nk * block_k, dtype=torch.bool, device=mask.device)
    padded[:T, :S] = mask  # padding is False: it never makes a tile count
    tiles = padded.view(nq, block_q, nk, block_k)  # [nq, bq, nk, bk]: tile (r, c) is [r, :, c, :]
    return tiles.any(dim=3).any(dim=1)  # [nq, nk]


# --8<-- [end:block-mask]


def block_mask(mask: torch.Tensor, block_q: int, block_k: int) -> torch.Tensor:
    """Tiles of ``mask`` that hold any allowed entry: the tiles a kernel must compute.

    Args:
        mask: ``[T, S]`` bool.
        block_q: tile height (queries per tile), ``>= 1``.
        block_k: tile width (keys per tile), ``>= 1``.

    Returns:
        ``[ceil(T / block_q), ceil(S / block_k)]`` bool; True = the tile has an allowed entry.
    """
    _check_mask(mask)
    return tiles_in_use(
        mask, checks.positive_int("block_q", block_q), checks.positive_int("block_k", block_k)
    )


def tile_areas(T: int, S: int, block_q: int, block_k: int) -> torch.Tensor:
    """Number of score entries in each tile, edge tiles counted by their real size.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        block_q: tile height, ``>= 1``.
        block_k: tile width, ``>= 1``.

    Returns:
        ``[ceil(T / block_q), ceil(S / block_k)]`` int64; sums to ``T * S``.
    """
    T, S = checks.positive_int("T", T), checks.positive_int("S", S)
    return tile_sizes(T, S, checks.positive_int("block_q", block_q), checks.positive_int("block_k", block_k))


def mask_density(mask: torch.Tensor) -> float:
    """Fraction of allowed entries in ``mask`` ``[T, S]`` (bool): ``mask.sum() / (T * S)``."""
    _check_mask(mask)
    return int(mask.sum()) / mask.numel()


# --8<-- [start:flops-saved]
import torch


def tile_sizes(T: int, S: int, block_q: int, block_k: int) -> torch.Tensor:
    """Int64 ``[nq, nk]``: score entries in each tile of a ``[T, S]`` grid, edge tiles by their real size."""
    rows = (T - torch.arange(0, T, block_q)).clamp(max=block_q)  # [nq]: block_q except maybe the last
    cols = (S - torch.arange(0, S, block_k)).clamp(max=block_k)  # [nk]
    return rows[:, None] * cols[None, :]  # [nq, nk]


def skipped_share(mask: torch.Tensor, block_q: int, block_k: int) -> float:
    """Share of the ``T * S`` score entries that lie in tiles with no allowed entry: what skipping saves.

    Both matmuls cost the same per score entry (``2D`` FLOPs for ``q k^T``, ``2Dv`` for ``P v``),
    so the FLOP share is the area share.
    """
    tiles = tiles_in_use(mask, block_q, block_k)  # [nq, nk]
    area = tile_sizes(*mask.shape, block_q, block_k).to(tiles.device)  # [nq, nk]
    return int(area[~tiles].sum()) / mask.numel()


# --8<-- [end:flops-saved]


def flops_saved_fraction(mask: torch.Tensor, block_q: int, block_k: int) -> float:
    """Share of the dense attention FLOPs a tile-skipping kernel saves on ``mask``.

    Both matmuls cost the same per score entry (``2D`` FLOPs for ``q k^T``, ``2Dv`` for ``P v``),
    so the FLOP share is the area share: the entries in skipped (all-False) tiles over ``T * S``.

    Args:
        mask: ``[T, S]`` bool.
        block_q: tile height, ``>= 1``.
        block_k: tile width, ``>= 1``.

    Returns:
        A float in ``[0, 1]``; at most ``1 - mask_density(mask)``.
    """
    _check_mask(mask)
    return skipped_share(
        mask, checks.positive_int("block_q", block_q), checks.positive_int("block_k", block_k)
    )


class BlockStats(NamedTuple):
    """What :func:`block_stats` reports about a mask and a tile size."""

    tiles: torch.Tensor  #: ``[nq, nk]`` bool, from :func:`block_mask`
    kept_tiles: int  #: tiles that must be computed
    total_tiles: int  #: ``nq * nk``
    flops_saved: float  #: from :func:`flops_saved_fraction`
    density: float  #: from :func:`mask_density`


def block_stats(mask: torch.Tensor, block_q: int, block_k: int) -> BlockStats:
    """:func:`block_mask`, :func:`flops_saved_fraction` and :func:`mask_density` together.

    Args:
        mask: ``[T, S]`` bool.
        block_q: tile height, ``>= 1``.
        block_k: tile width, ``>= 1``.

    Returns:
        A :class:`BlockStats`. ``1 - density - flops_saved`` is the work spent on masked-out
        entries inside kept tiles: what a finer tile would save.
    """
    tiles = block_mask(mask, block_q, block_k)
    return BlockStats(
        tiles=tiles,
        kept_tiles=int(tiles.sum()),
        total_tiles=tiles.numel(),
        flops_saved=flops_saved_fraction(mask, block_q, block_k),
        density=mask_density(mask),
    )


def _block_sparse_forward(q, k, v, mask, block_q, block_k, scale):
    """The tile-skipping loop: ``(out [B, H, T, Dv], lse [B, H, T])``."""
    B, H, T, _ = q.shape
    H_kv, S = k.shape[1], k.shape[2]
    tiles = tiles_in_use(mask, block_q, block_k)  # [nq, nk]
    work = torch.promote_types(q.dtype, torch.float32)  # fp16/bf16 are computed in fp32
    k = k.to(work).repeat_interleave(H // H_kv, dim=1)  # [B, H, S, D]
    v = v.to(work).repeat_interleave(H // H_kv, dim=1)  # [B, H, S, Dv]
    out = torch.zeros(B, H, T, v.shape[-1], dtype=work, device=q.device)  # [B, H, T, Dv]
    lse = torch.full((B, H, T), -math.inf, dtype=work, device=q.device)  # [B, H, T]
    for r in range(tiles.shape[0]):
        rows = slice(r * block_q, min((r + 1) * block_q, T))
        kept = tiles[r].nonzero().flatten().tolist()  # the key tiles this query block must visit
        if not kept:
            continue  # every tile skipped: these queries see no key and keep zeros
        cols = torch.cat(
            [torch.arange(c * block_k, min((c + 1) * block_k, S), device=q.device) for c in kept]
        )  # [n_cols]: the keys of the kept tiles
        s = q[:, :, rows].to(work) @ k[:, :, cols].transpose(-2, -1) * scale  # [B, H, bq, n_cols]
        s = s.masked_fill(~mask[rows][:, cols], -math.inf)  # mask inside the kept tiles
        out[:, :, rows] = softmax_ref(s) @ v[:, :, cols]  # [B, H, bq, Dv]
        lse[:, :, rows] = torch.logsumexp(s, dim=-1)
    return out.to(q.dtype), lse


def block_sparse_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor,
    *,
    block_q: int,
    block_k: int,
    scale: float | None = None,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Masked attention that never touches a skipped tile; equals ``attention_ref(..., mask=mask)``.

    For each block of ``block_q`` queries, only the key tiles that :func:`block_mask` keeps are
    gathered; scores are computed for those keys alone, masked inside the tiles, and
    normalised. Keys in skipped tiles have weight zero in the full softmax, so leaving them out
    changes nothing: skipping is exact, not an approximation.

    Args:
        q: ``[B, H, T, D]`` queries (floating point).
        k: ``[B, H_kv, S, D]`` keys, ``H % H_kv == 0``.
        v: ``[B, H_kv, S, Dv]`` values.
        mask: ``[T, S]`` bool, shared by every batch and head.
        block_q: query tile size, ``>= 1``.
        block_k: key tile size, ``>= 1``.
        scale: multiplies the scores, a positive finite number; defaults to ``1 / sqrt(D)``.
        return_lse: also return the log-sum-exp of each row.

    Returns:
        ``out [B, H, T, Dv]`` in the input dtype (a query that sees no key gets zeros); with
        ``return_lse=True``, ``(out, lse)``, ``lse [B, H, T]`` (``-inf`` for such a query).
    """
    checks.qkv(q, k, v)
    _check_mask(mask)
    T, S = q.shape[2], k.shape[2]
    if tuple(mask.shape) != (T, S):
        raise ValueError(f"mask must have shape [T, S] = {(T, S)}, got {tuple(mask.shape)}")
    block_q, block_k = checks.positive_int("block_q", block_q), checks.positive_int("block_k", block_k)
    scale = checks.attention_scale(scale, q.shape[3])
    out, lse = _block_sparse_forward(q, k, v, mask, block_q, block_k, scale)
    return (out, lse) if checks.flag("return_lse", return_lse) else out
