"""Tile views of masks against per-tile loops, block-sparse attention against attention_ref,
and the SVG pictures parsed back into masks."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
import torch
from _helpers import random_qkv
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.attention import attention_ref
from longctx.sparse import (
    bigbird_mask,
    block_mask,
    block_sparse_attention,
    block_stats,
    dilated_window_mask,
    example_patterns,
    flops_saved_fraction,
    mask_density,
    mask_runs,
    mask_svg,
    sliding_window_mask,
    strided_mask,
    tile_areas,
)

lengths = st.integers(1, 70)
blocks = st.integers(1, 20)


def random_mask(T, S, density, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(T, S, generator=gen) < density


def naive_tiles(mask, bq, bk):
    """Per tile: look at every entry it covers; also its real area."""
    T, S = mask.shape
    mask = mask.tolist()
    nq, nk = -(-T // bq), -(-S // bk)
    keep = [[False] * nk for _ in range(nq)]
    area = [[0] * nk for _ in range(nq)]
    for r in range(nq):
        for c in range(nk):
            for i in range(r * bq, min(T, (r + 1) * bq)):
                for j in range(c * bk, min(S, (c + 1) * bk)):
                    area[r][c] += 1
                    keep[r][c] = keep[r][c] or mask[i][j]
    return torch.tensor(keep, dtype=torch.bool), area


mask_kinds = st.sampled_from(["random", "window", "dilated", "strided"])


def make_mask(kind, T, S, seed):
    if kind == "random":
        return random_mask(T, S, 0.05 + (seed % 5) / 10, seed)
    if kind == "window":
        return sliding_window_mask(T, S, (seed % 7, seed % 3 - 1))
    if kind == "dilated":
        return dilated_window_mask(T, S, (seed % 5, seed % 4), 1 + seed % 3)
    return strided_mask(T, S, 1 + seed % 9)


@settings(max_examples=30, deadline=None)
@given(T=lengths, S=lengths, bq=blocks, bk=blocks, kind=mask_kinds, seed=st.integers(0, 1000))
def test_block_mask_and_flops_saved_match_per_tile_loop(T, S, bq, bk, kind, seed):
    mask = make_mask(kind, T, S, seed)
    want_keep, area = naive_tiles(mask, bq, bk)
    tiles = block_mask(mask, bq, bk)
    assert tiles.shape == (math.ceil(T / bq), math.ceil(S / bk)) and tiles.dtype == torch.bool
    assert torch.equal(tiles, want_keep)
    assert tile_areas(T, S, bq, bk).tolist() == area
    skipped = sum(area[r][c] for r in range(len(area)) for c in range(len(area[0])) if not want_keep[r][c])
    assert flops_saved_fraction(mask, bq, bk) == skipped / (T * S)
    allowed = sum(row.count(True) for row in mask.tolist())
    assert mask_density(mask) == allowed / (T * S)
    stats = block_stats(mask, bq, bk)
    assert torch.equal(stats.tiles, want_keep) and stats.kept_tiles == int(want_keep.sum())
    assert stats.total_tiles == want_keep.numel()
    assert stats.flops_saved == skipped / (T * S) and stats.density == allowed / (T * S)
    assert stats.flops_saved <= 1 - stats.density + 1e-12  # skipping can never beat the mask itself


def test_block_mask_by_hand():
    # Causal 5x5 with 2x2 tiles: the upper-right tiles are empty; edge tiles are 2x1, 1x2, 1x1.
    mask = sliding_window_mask(5, 5, (-1, 0))
    assert block_mask(mask, 2, 2).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert tile_areas(5, 5, 2, 2).tolist() == [[4, 4, 2], [4, 4, 2], [2, 2, 1]]
    assert flops_saved_fraction(mask, 2, 2) == (4 + 2 + 2) / 25
    assert mask_density(mask) == 15 / 25
    # One tile covering everything: nothing can be skipped unless the mask is empty.
    assert flops_saved_fraction(mask, 8, 8) == 0.0
    assert flops_saved_fraction(torch.zeros(3, 4, dtype=torch.bool), 8, 8) == 1.0


def test_finer_tiles_save_more_on_a_band():
    mask = sliding_window_mask(256, 256, (8, 8))
    saved = [flops_saved_fraction(mask, b, b) for b in (128, 64, 32, 16)]
    assert saved == sorted(saved) and saved[0] < saved[-1] < 1 - mask_density(mask)


# ---------------------------------------------------------------------------- block-sparse attention


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 40),
    S=st.integers(1, 40),
    bq=st.integers(1, 16),
    bk=st.integers(1, 16),
    kind=mask_kinds,
    seed=st.integers(0, 1000),
    gqa=st.sampled_from([(1, 1), (2, 1), (4, 2)]),
)
def test_block_sparse_attention_equals_attention_ref(T, S, bq, bk, kind, seed, gqa):
    H, H_kv = gqa
    mask = make_mask(kind, T, S, seed)
    q, k, v = random_qkv(1, H, H_kv, T, S, 8, 5, dtype=torch.float64, seed=seed)
    want = attention_ref(q, k, v, mask=mask)
    assert (block_sparse_attention(q, k, v, mask, block_q=bq, block_k=bk) - want).abs().max() < 1e-12
    out, lse = block_sparse_attention(q, k, v, mask, block_q=bq, block_k=bk, return_lse=True)
    want_out, want_lse = attention_ref(q, k, v, mask=mask, return_lse=True)
    assert (out - want_out).abs().max() < 1e-12
    assert torch.equal(lse.isinf(), want_lse.isinf())
    assert torch.allclose(lse[lse.isfinite()], want_lse[lse.isfinite()], rtol=0, atol=1e-12)
    got32 = block_sparse_attention(q.float(), k.float(), v.float(), mask, block_q=bq, block_k=bk)
    assert got32.dtype == torch.float32 and not got32.isnan().any()
    assert (got32.double() - want).abs().max() < 1e-5


def test_block_sparse_attention_odd_sizes_scale_and_empty_rows():
    T, S = 17, 63
    mask = bigbird_mask(T, S, (3, 0), [0], 2, seed=1) & sliding_window_mask(T, S, (-1, 0))
    mask[5] = False  # a query that sees nothing
    q, k, v = random_qkv(2, 2, 1, T, S, 40, 40, dtype=torch.float64, seed=3)
    out = block_sparse_attention(q, k, v, mask, block_q=4, block_k=16, scale=0.3)
    assert (out - attention_ref(q, k, v, mask=mask, scale=0.3)).abs().max() < 1e-12
    assert torch.equal(out[:, :, 5], torch.zeros_like(out[:, :, 5]))
    # T > S with a causal window: the first 14 queries see no key, so whole query blocks are skipped.
    wide = sliding_window_mask(23, 9, (2, 0))
    assert not block_mask(wide, 4, 4)[:3].any()
    q2, k2, v2 = random_qkv(1, 2, 2, 23, 9, 8, 8, dtype=torch.float64, seed=4)
    out2 = block_sparse_attention(q2, k2, v2, wide, block_q=4, block_k=4)
    assert torch.equal(out2[:, :, :14], torch.zeros_like(out2[:, :, :14]))
    assert (out2 - attention_ref(q2, k2, v2, mask=wide)).abs().max() < 1e-12
    q16, k16, v16 = (t.to(torch.bfloat16) for t in (q, k, v))
    out16 = block_sparse_attention(q16, k16, v16, mask, block_q=4, block_k=16)
    assert out16.dtype == torch.bfloat16
    assert (out16.double() - attention_ref(q, k, v, mask=mask)).abs().max() < 3e-2


BAD = [
    (lambda: block_mask(torch.ones(3, 3), 2, 2), TypeError, "mask"),
    (lambda: block_mask([[True]], 2, 2), TypeError, "mask"),
    (lambda: block_mask(torch.ones(3, dtype=torch.bool), 2, 2), ValueError, "mask"),
    (lambda: block_mask(torch.ones(0, 3, dtype=torch.bool), 2, 2), ValueError, "mask"),
    (lambda: block_mask(torch.ones(3, 3, dtype=torch.bool), 0, 2), ValueError, "block_q"),
    (lambda: block_mask(torch.ones(3, 3, dtype=torch.bool), 2, 1.0), TypeError, "block_k"),
    (lambda: flops_saved_fraction(torch.ones(3, 3, dtype=torch.bool), 2, -1), ValueError, "block_k"),
    (lambda: tile_areas(0, 3, 2, 2), ValueError, "T"),
    (lambda: mask_density(torch.ones(2, 2, dtype=torch.int64)), TypeError, "mask"),
    (
        lambda: block_sparse_attention(
            *random_qkv(1, 1, 1, 4, 5, 8, 8, dtype=torch.float32, seed=0),
            torch.ones(5, 4, dtype=torch.bool),
            block_q=2,
            block_k=2,
        ),
        ValueError,
        "mask",
    ),
    (
        lambda: block_sparse_attention(
            *random_qkv(1, 1, 1, 4, 5, 8, 8, dtype=torch.float32, seed=0),
            torch.ones(4, 5, dtype=torch.bool),
            block_q=0,
            block_k=2,
        ),
        ValueError,
        "block_q",
    ),
    (
        lambda: block_sparse_attention(
            *random_qkv(1, 1, 1, 4, 5, 8, 8, dtype=torch.float32, seed=0),
            torch.ones(4, 5, dtype=torch.bool),
            block_q=2,
            block_k=2,
            scale=math.inf,
        ),
        ValueError,
        "scale",
    ),
    (
        lambda: block_sparse_attention(
            *random_qkv(1, 3, 2, 4, 5, 8, 8, dtype=torch.float32, seed=0),
            torch.ones(4, 5, dtype=torch.bool),
            block_q=2,
            block_k=2,
        ),
        ValueError,
        "H_kv",
    ),
    (
        lambda: block_sparse_attention(
            *(t.int() for t in random_qkv(1, 1, 1, 4, 5, 8, 8, dtype=torch.float32, seed=0)),
            torch.ones(4, 5, dtype=torch.bool),
            block_q=2,
            block_k=2,
        ),
        TypeError,
        "floating",
    ),
    (lambda: mask_svg(torch.ones(2, 2, dtype=torch.bool), cell=0), ValueError, "cell"),
    (lambda: mask_svg(torch.ones(2, 2), cell=4), TypeError, "mask"),
    (lambda: mask_svg(torch.ones(2, 2, dtype=torch.bool), tiles=4), TypeError, "tiles"),
    (lambda: mask_svg(torch.ones(2, 2, dtype=torch.bool), tiles=(0, 1)), ValueError, "block_q"),
    (lambda: example_patterns(4), ValueError, "n"),
]


@pytest.mark.parametrize("call, error, name", BAD, ids=[f"{n}-{b[2]}" for n, b in enumerate(BAD)])
def test_bad_input_raises_naming_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ---------------------------------------------------------------------------- pictures

SVG = "{http://www.w3.org/2000/svg}"


def svg_to_mask(text, T, S, cell):
    """Read the filled cells back out of the drawing."""
    root = ET.fromstring(text)
    assert (
        root.tag == f"{SVG}svg" and root.get("width") == str(S * cell) and root.get("height") == str(T * cell)
    )
    got = torch.zeros(T, S, dtype=torch.bool)
    n_cells = 0
    for rect in root.iter(f"{SVG}rect"):
        if rect.get("class") != "on":
            continue
        x, y, w, h = (int(rect.get(a)) for a in ("x", "y", "width", "height"))
        assert x % cell == 0 and y % cell == 0 and w % cell == 0 and h == cell
        i, j, n = y // cell, x // cell, w // cell
        assert not got[i, j : j + n].any()  # runs never overlap
        got[i, j : j + n] = True
        n_cells += n
    return got, n_cells


@settings(max_examples=20, deadline=None)
@given(
    T=st.integers(1, 40),
    S=st.integers(1, 40),
    cell=st.integers(1, 12),
    kind=mask_kinds,
    seed=st.integers(0, 1000),
)
def test_svg_parses_and_draws_exactly_the_allowed_cells(T, S, cell, kind, seed):
    mask = make_mask(kind, T, S, seed)
    text = mask_svg(mask, cell=cell, title=f"pattern <{kind}> & co")
    got, n_cells = svg_to_mask(text, T, S, cell)
    assert n_cells == int(mask.sum())
    assert torch.equal(got, mask)
    assert ET.fromstring(text).find(f"{SVG}title").text == f"pattern <{kind}> & co"
    assert sum(n for _, _, n in mask_runs(mask)) == int(mask.sum())


def test_svg_tiles_outline_the_kept_tiles():
    mask = sliding_window_mask(10, 13, (2, 0))
    text = mask_svg(mask, cell=5, tiles=(4, 4))
    rects = [r for r in ET.fromstring(text).iter(f"{SVG}rect") if r.get("class") == "tile"]
    kept = block_mask(mask, 4, 4)
    assert len(rects) == int(kept.sum())
    for r in rects:
        x, y, w, h = (int(r.get(a)) for a in ("x", "y", "width", "height"))
        assert kept[y // 20, x // 20]
        assert x + w <= 13 * 5 and y + h <= 10 * 5  # edge tiles cut to the picture


def test_mask_runs_by_hand():
    mask = torch.tensor([[1, 1, 0, 1], [0, 0, 0, 0], [0, 1, 1, 1]], dtype=torch.bool)
    assert mask_runs(mask) == [(0, 0, 2), (0, 3, 1), (2, 1, 3)]


def test_example_patterns_draw():
    pats = example_patterns(24)
    assert {"causal", "sliding window", "dilated window", "global + local", "BigBird", "strided"} <= set(pats)
    for name, mask in pats.items():
        assert mask.shape == (24, 24) and mask.dtype == torch.bool and mask.any()
        assert svg_to_mask(mask_svg(mask, title=name), 24, 24, 8)[0].equal(mask)
