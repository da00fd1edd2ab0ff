"""Pictures of attention masks as SVG text (plain string building, no matplotlib).

Shape legend:
    mask [T, S]   bool, True where query i (row, top to bottom) may attend key j (column,
                  left to right); drawn as a filled square
    tiles         optional ``(block_q, block_k)``: outlines the tiles a kernel must compute

Each row's runs of allowed cells become one ``<rect class="on">`` each, so a banded mask costs
O(T) elements, not O(T * S). The picture carries a ``<title>`` and ``role="img"`` so screen
readers announce it.
"""

from __future__ import annotations

from html import escape

import torch

from longctx import checks
from longctx.sparse.blocks import _check_mask, block_mask
from longctx.sparse.masks import (
    bigbird_mask,
    causal_mask,
    dilated_window_mask,
    global_local_mask,
    sliding_window_mask,
    strided_mask,
)

__all__ = ["example_patterns", "mask_runs", "mask_svg"]


def mask_runs(mask: torch.Tensor) -> list[tuple[int, int, int]]:
    """Maximal horizontal runs of True in ``mask`` ``[T, S]`` (bool), row by row.

    Returns:
        ``(row, first_col, length)`` triples; their lengths sum to ``mask.sum()``.
    """
    _check_mask(mask)
    runs = []
    for i, row in enumerate(mask.cpu().tolist()):
        j = 0
        while j < len(row):
            if row[j]:
                start = j
                while j < len(row) and row[j]:
                    j += 1
                runs.append((i, start, j - start))
            else:
                j += 1
    return runs


def mask_svg(
    mask: torch.Tensor,
    cell: int = 8,
    *,
    title: str = "attention mask",
    tiles: tuple[int, int] | None = None,
    color: str = "#3f51b5",
) -> str:
    """Draw ``mask`` as an SVG document: one square of ``cell`` pixels per entry.

    Args:
        mask: ``[T, S]`` bool; True cells are filled with ``color``, False cells left light.
        cell: side of one cell in pixels, ``>= 1``. Default 8.
        title: the picture's accessible name (its ``<title>``).
        tiles: ``(block_q, block_k)`` to outline the tiles :func:`block_mask` keeps
            (``<rect class="tile">``); None (default) draws no tiles.
        color: fill of allowed cells, any SVG colour.

    Returns:
        The SVG document as a string, ``S * cell`` wide and ``T * cell`` high.
    """
    _check_mask(mask)
    cell = checks.positive_int("cell", cell)
    T, S = mask.shape
    w, h = S * cell, T * cell
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="#eeeeee"/>',
    ]
    for i, j, n in mask_runs(mask):
        parts.append(
            f'<rect class="on" x="{j * cell}" y="{i * cell}" width="{n * cell}" '
            f'height="{cell}" fill="{escape(color)}"/>'
        )
    if tiles is not None:
        if not isinstance(tiles, (tuple, list)) or len(tiles) != 2:
            raise TypeError(f"tiles must be a pair (block_q, block_k) or None, got {tiles!r}")
        bq, bk = tiles
        kept = block_mask(mask, bq, bk)  # [nq, nk]
        for r, c in kept.nonzero().tolist():
            x, y = c * bk * cell, r * bq * cell
            tw, th = min(bk * cell, w - x), min(bq * cell, h - y)  # edge tiles are cut to the mask
            parts.append(
                f'<rect class="tile" x="{x}" y="{y}" width="{tw}" height="{th}" '
                f'fill="none" stroke="#e53935" stroke-width="1"/>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def example_patterns(n: int = 32) -> dict[str, torch.Tensor]:
    """One small ``[n, n]`` example of each pattern, for pictures side by side.

    Args:
        n: sequence length, ``>= 8``. Default 32.

    Returns:
        Pattern name -> ``[n, n]`` bool mask. Parameters scale with n (window about n / 8,
        stride about sqrt(n)); the BigBird draw uses ``seed=0``.
    """
    n = checks.int_at_least("n", n, 8)
    w = max(1, n // 8)
    stride = max(2, round(n**0.5))
    glob = [0, n // 2]
    return {
        "causal": causal_mask(n, n),
        "sliding window": sliding_window_mask(n, n, (w, w)),
        "causal sliding window": sliding_window_mask(n, n, (2 * w, 0)),
        "dilated window": dilated_window_mask(n, n, (w, w), 2),
        "global + local": global_local_mask(n, n, glob, (w, w)),
        "BigBird": bigbird_mask(n, n, (w, w), glob, 2, seed=0),
        "strided": strided_mask(n, n, stride),
    }
