"""Lesson 2's own helpers (longctx.figures.sparse): masks, tables and figures against independent definitions."""

from __future__ import annotations

import math
import re

import pytest
import torch

from longctx import costs
from longctx.figures import FIGURES
from longctx.figures import sparse as fs
from longctx.flash import tile_counts
from longctx.sparse import causal_mask, receptive_field, sliding_window_mask


@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 7), (5, 1), (3, 4), (6, 6), (7, 5)])
def test_axial_mask_is_same_row_or_same_column(rows, cols):
    m = fs.axial_mask(rows, cols)
    n = rows * cols
    assert m.shape == (n, n) and m.dtype == torch.bool
    for p in range(n):
        for q in range(n):
            same = (p // cols == q // cols) or (p % cols == q % cols)
            assert bool(m[p, q]) == same, (p, q)
    assert torch.equal(m.sum(dim=1), torch.full((n,), rows + cols - 1))  # its row and column, itself once


def test_axial_mask_connects_everything_in_two_layers():
    m = fs.axial_mask(5, 7)
    assert not bool(m.all())
    assert bool(receptive_field(m, 2).all())  # row hop, then column hop


@pytest.mark.parametrize("bad, err", [((0, 3), ValueError), ((3, 2.0), TypeError), ((True, 3), TypeError)])
def test_axial_mask_rejects_bad_sizes(bad, err):
    with pytest.raises(err, match="rows|cols"):
        fs.axial_mask(*bad)


def _visited_by_brute_force(n: int, block: int, mask: torch.Tensor) -> int:
    """Tiles with at least one allowed entry, by looking at every tile."""
    count = 0
    for i0 in range(0, n, block):
        for j0 in range(0, n, block):
            count += bool(mask[i0 : i0 + block, j0 : j0 + block].any())
    return count


@pytest.mark.parametrize("n, block, w", [(100, 16, 7), (64, 8, 20), (129, 32, 40), (50, 50, 3)])
def test_tiles_computed_counts_nonempty_tiles(n, block, w):
    assert fs.tiles_computed(n, block=block) == math.ceil(n / block) ** 2
    assert fs.tiles_computed(n, causal=True, block=block) == _visited_by_brute_force(
        n, block, causal_mask(n, n)
    )
    window = sliding_window_mask(n, n, (w, 0))
    assert fs.tiles_computed(n, window=(w, 0), block=block) == _visited_by_brute_force(n, block, window)


def test_tile_growth_table_window_is_linear_and_causal_quadratic():
    rows = fs.tile_growth_table((4096, 8192, 16384), window=512, block=128)
    assert [r["n"] for r in rows] == [4096, 8192, 16384]
    for r in rows:
        assert r["total"] == (r["n"] // 128) ** 2
        assert r["causal"] == (r["n"] // 128) * (r["n"] // 128 + 1) // 2  # tiles on or below the diagonal
        assert (
            r["window"] == tile_counts(r["n"], r["n"], window=(512, 0), block_q=128, block_k=128)["visited"]
        )
        assert r["window_share"] == r["window"] / r["total"]
    # once the window is full, each doubling of n adds the same number of tiles per query block
    assert rows[2]["window"] - rows[1]["window"] == 2 * (rows[1]["window"] - rows[0]["window"])


def test_hbm_traffic_table_against_the_paper_formulas():
    d, e = 64, 2  # head dim, fp16 bytes
    sram = 192 * 1024  # one A100 SM (Dao et al. 2022, section 2.1)
    block = sram // e // (4 * d)  # four B x d tiles in SRAM
    for row in fs.hbm_traffic_table((1000, 4096), head_dim=d):
        n = row["n"]
        assert row["block"] == block
        assert row["standard"] == (4 * n * d + 4 * n * n) * e  # Q, K, V, O once; S and P written and read
        tiles = math.ceil(n / min(block, n))
        assert row["flash"] == (2 * n * d + tiles * 2 * n * d) * e + 4 * n  # q-outer, fp32 lse
        assert row["ratio"] == row["standard"] / row["flash"] > 1
    with pytest.raises(ValueError, match="gpu"):
        fs.hbm_traffic_table(gpu="A200")


def test_pattern_pictures_are_svg_of_the_named_mask():
    for file, name in fs.PATTERN_FIGURES.items():
        assert FIGURES[file] is fs.FIGURES[file]
        svg = FIGURES[file]()
        assert svg.startswith("<svg") and "</svg>" in svg and 'role="img"' in svg
        assert f"<title>{name.replace('+', '&#x2B;')}" in svg or f"<title>{name}" in svg
    axial = fs.pattern_picture("axial")
    cells = 6 * 6
    assert f'width="{cells * (fs.PICTURE_CELL * fs.PICTURE_N // cells)}"' in axial
    with pytest.raises(ValueError, match="name"):
        fs.pattern_picture("diagonal")


def test_tile_pictures_outline_exactly_the_kept_tiles():
    causal = fs.tiles_causal()
    assert causal.count('class="tile"') == 4 * 5 // 2  # 4 x 4 tiles of 8, on or below the diagonal
    window = fs.tiles_window()
    want = _visited_by_brute_force(32, 8, sliding_window_mask(32, 32, (6, 0)))
    assert window.count('class="tile"') == want


@pytest.mark.parametrize("draw", [fs.tile_growth, fs.flash_memory])
def test_plots_are_deterministic_svg_with_text_labels(draw):
    svg = draw()
    assert svg.startswith("<?xml") and "<svg" in svg
    assert "sequence length n" in svg  # labels stay text
    assert svg == draw()


def test_registry_names():
    for name, func in fs.FIGURES.items():
        assert re.fullmatch(r"[a-z0-9-]+", name) and callable(func)
        assert FIGURES[name] is func


def test_mistral_numbers_used_by_the_page():
    # 32 layers of W = 4096 reach 131,072 positions; the rolling buffer is 8x smaller at 32K.
    assert costs.sliding_window_receptive_field(layers=32, window=4096) == 2**17
    full = costs.kv_cache_bytes(layers=32, kv_heads=8, head_dim=128, tokens=32768)
    rolling = costs.rolling_buffer_kv_bytes(slots=4096, layers=32, kv_heads=8, head_dim=128)
    assert full / rolling == 8.0
    assert rolling == 2 * 32 * 8 * 128 * 4096 * 2
