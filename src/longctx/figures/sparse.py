"""Lesson 2 (sparse and sliding-window attention, FlashAttention): figures and tables drawn at build time.

The pattern pictures are :func:`longctx.sparse.mask_svg` drawings of
:func:`longctx.sparse.example_patterns`; the plots are matplotlib (``longctx.figures.wall``'s
set-up). The two table functions feed ``{{ table ... }}`` expressions on the lesson page.
"""

from __future__ import annotations

import torch

from longctx import costs
from longctx.checks import positive_int
from longctx.figures.wall import pyplot, svg
from longctx.flash.reference import memory_model, tile_counts
from longctx.sparse import causal_mask, example_patterns, mask_svg, sliding_window_mask

__all__ = [
    "FIGURES",
    "axial_mask",
    "hbm_traffic_table",
    "pattern_picture",
    "tile_growth_table",
    "tiles_computed",
]

#: Side of the example masks drawn on the page, and of one cell, in pixels.
PICTURE_N, PICTURE_CELL = 32, 6

#: Axial example: a 6 x 6 grid of positions flattened row by row (36 tokens).
AXIAL_GRID = (6, 6)


def axial_mask(rows: int, cols: int) -> torch.Tensor:
    """Axial attention over a ``rows x cols`` grid flattened row by row: ``[n, n]`` with ``n = rows * cols``.

    Token ``p`` sits at ``(p // cols, p % cols)``. The Axial Transformer (Ho et al., 2019,
    arXiv:1912.12180) attends along one axis per layer; drawn as one mask, the union of the two
    axes: position ``p`` sees ``q`` when they share a row or a column of the grid. Each token
    sees ``rows + cols - 1`` positions, about ``2 sqrt(n)`` for a square grid.

    Args:
        rows: grid height, ``>= 1``.
        cols: grid width, ``>= 1``.

    Returns:
        ``[n, n]`` bool tensor, symmetric (not causal).
    """
    rows, cols = positive_int("rows", rows), positive_int("cols", cols)
    p = torch.arange(rows * cols)
    r, c = p // cols, p % cols  # [n] each: grid coordinates of every token
    return (r[:, None] == r[None, :]) | (c[:, None] == c[None, :])  # [n, n]


def pattern_picture(name: str) -> str:
    """One of :func:`longctx.sparse.example_patterns` (or ``"axial"``) as an SVG picture.

    Args:
        name: a key of ``example_patterns()``, or ``"axial"`` for :func:`axial_mask`.

    Returns:
        The SVG document from :func:`longctx.sparse.mask_svg`.
    """
    if name == "axial":
        mask = axial_mask(*AXIAL_GRID)
        cell = PICTURE_CELL * PICTURE_N // mask.shape[0]  # the same drawn size as the others
    else:
        patterns = example_patterns(PICTURE_N)
        if name not in patterns:
            raise ValueError(f"name must be 'axial' or one of {', '.join(patterns)}, got {name!r}")
        mask, cell = patterns[name], PICTURE_CELL
    return mask_svg(
        mask,
        cell,
        title=f"{name} attention mask, {mask.shape[0]} tokens: "
        "row = query, column = key, filled = may attend",
    )


def _tiles_picture(mask: torch.Tensor, title: str) -> str:
    return mask_svg(mask, PICTURE_CELL, title=title, tiles=(8, 8))


def tiles_causal() -> str:
    """The causal mask of 32 tokens with the 8 x 8 tiles a kernel computes outlined."""
    return _tiles_picture(
        causal_mask(PICTURE_N, PICTURE_N),
        "causal mask, 32 tokens, 8 x 8 tiles outlined where a kernel must compute",
    )


def tiles_window() -> str:
    """A causal sliding window of 32 tokens (w = 6) with the 8 x 8 tiles a kernel computes outlined."""
    return _tiles_picture(
        sliding_window_mask(PICTURE_N, PICTURE_N, (6, 0)),
        "causal sliding window (w = 6), 32 tokens, 8 x 8 tiles outlined where a kernel must compute",
    )


#: Lengths of the tile-growth plot and table.
TILE_NS = (1024, 2048, 4096, 8192, 16384, 32768)


def tiles_computed(
    n: int, *, causal: bool = False, window: tuple[int, int] | None = None, block: int = 128
) -> int:
    """Tiles of an ``n x n`` score matrix a FlashAttention forward computes (square tiles of ``block``).

    Args:
        n: sequence length (``T = S = n``).
        causal: the causal flag of :func:`longctx.flash.tile_counts`.
        window: its ``(left, right)`` window, or None.
        block: tile side.

    Returns:
        ``tile_counts(n, n, ...)["visited"]``; with neither mask, every tile of the grid.
    """
    return tile_counts(n, n, causal=causal, window=window, block_q=block, block_k=block)["visited"]


def tile_growth_table(ns: tuple[int, ...] = TILE_NS, *, window: int = 1024, block: int = 128) -> list[dict]:
    """Tiles a FlashAttention forward computes, full against causal against a causal window.

    Args:
        ns: sequence lengths (``T = S = n``).
        window: ``w`` of the causal window ``(w, 0)``.
        block: tile side (``block_q = block_k``).

    Returns:
        One dict per ``n``: ``n``, ``total`` (all tiles), ``causal`` and ``window`` (tiles
        visited, from :func:`longctx.flash.tile_counts`), and ``window_share`` (window / total).
    """
    rows = []
    for n in ns:
        total = tile_counts(n, n, block_q=block, block_k=block)["total"]
        causal = tile_counts(n, n, causal=True, block_q=block, block_k=block)["visited"]
        win = tile_counts(n, n, window=(window, 0), block_q=block, block_k=block)["visited"]
        rows.append({"n": n, "total": total, "causal": causal, "window": win, "window_share": win / total})
    return rows


def tile_growth() -> str:
    """Log-log plot: tiles computed against n for full, causal and causal-window attention."""
    plt = pyplot()
    rows = tile_growth_table()
    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.loglog(ns, [r["total"] for r in rows], "o-", base=2, label="full: every tile")
    ax.loglog(ns, [r["causal"] for r in rows], "s-", base=2, label="causal: about half")
    ax.loglog(ns, [r["window"] for r in rows], "D-", base=2, label="causal window w = 1,024: linear")
    ax.set(
        xlabel="sequence length n (tokens)",
        ylabel="128 x 128 tiles computed",
        title="Tiles a FlashAttention forward computes (longctx.flash.tile_counts)",
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left")
    return svg(fig)


#: Lengths of the HBM-traffic table.
HBM_NS = (1024, 4096, 16384, 65536)


def hbm_traffic_table(ns: tuple[int, ...] = HBM_NS, *, head_dim: int = 64, gpu: str = "A100") -> list[dict]:
    """HBM bytes of one head's forward pass in fp16: standard attention against FlashAttention.

    Args:
        ns: sequence lengths.
        head_dim: d.
        gpu: a key of :data:`longctx.costs.GPU_SRAM`; one SM's SRAM sets the tile size.

    Returns:
        One dict per ``n``: ``n``, ``standard`` (:func:`longctx.costs.standard_attention_hbm_bytes`),
        ``flash`` (:func:`longctx.costs.flash_attention_hbm_bytes`, ``q_outer``), ``ratio``
        (standard / flash) and ``block`` (rows per tile).
    """
    sram = costs.sram_bytes(gpu)
    block = costs.flash_attention_block_size(head_dim, sram_bytes=sram, bytes_per_element="fp16")
    rows = []
    for n in ns:
        standard = costs.standard_attention_hbm_bytes(n, head_dim, bytes_per_element="fp16")
        flash = costs.flash_attention_hbm_bytes(n, head_dim, sram_bytes=sram, bytes_per_element="fp16")
        rows.append({"n": n, "standard": standard, "flash": flash, "ratio": standard / flash, "block": block})
    return rows


def flash_memory() -> str:
    """Two log-log panels against n: the largest temporary (naive vs tiled), and HBM traffic."""
    plt = pyplot()
    ns = [2**k for k in range(10, 18)]
    model = [memory_model(n, head_dim=64, bytes_per_element=2) for n in ns]
    sram = costs.sram_bytes("A100")
    fig, (ax_mem, ax_io) = plt.subplots(1, 2, figsize=(10, 4))
    ax_mem.loglog(ns, [m["score_matrix_bytes"] for m in model], "o-", base=2, label="naive: n x n scores")
    ax_mem.loglog(
        ns,
        [m["tile_bytes"] + m["block_state_bytes"] for m in model],
        "s-",
        base=2,
        label="tiled: one 64 x 64 tile + block state",
    )
    ax_mem.loglog(ns, [m["lse_bytes"] for m in model], "D--", base=2, label="tiled: log-sum-exp kept (O(n))")
    ax_mem.set(
        xlabel="sequence length n (tokens)",
        ylabel="bytes (fp16, one head)",
        title="Largest temporaries (longctx.flash.memory_model)",
    )
    ax_io.loglog(
        ns,
        [costs.standard_attention_hbm_bytes(n, 64, bytes_per_element="fp16") for n in ns],
        "o-",
        base=2,
        label="standard: writes and reads S and P",
    )
    ax_io.loglog(
        ns,
        [costs.flash_attention_hbm_bytes(n, 64, sram_bytes=sram, bytes_per_element="fp16") for n in ns],
        "s-",
        base=2,
        label="FlashAttention (A100 SM, d = 64)",
    )
    ax_io.set(
        xlabel="sequence length n (tokens)",
        ylabel="HBM bytes moved (fp16, one head)",
        title="HBM traffic, forward (longctx.costs)",
    )
    for ax in (ax_mem, ax_io):
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return svg(fig)


def _picture(name: str):
    def draw() -> str:
        return pattern_picture(name)

    draw.__name__ = f"pattern_picture_{name.replace(' ', '_').replace('+', 'and')}"
    return draw


#: The pattern pictures, by file name.
PATTERN_FIGURES = {
    "mask-causal": "causal",
    "mask-sliding-window": "sliding window",
    "mask-causal-window": "causal sliding window",
    "mask-dilated": "dilated window",
    "mask-global-local": "global + local",
    "mask-bigbird": "BigBird",
    "mask-strided": "strided",
    "mask-axial": "axial",
}

#: This lesson's figures, by file name (``assets/figures/<name>.svg``).
FIGURES: dict = {
    **{file: _picture(name) for file, name in PATTERN_FIGURES.items()},
    "tiles-causal": tiles_causal,
    "tiles-window": tiles_window,
    "tile-growth": tile_growth,
    "flash-memory": flash_memory,
}
