"""The toy needle in a haystack (longctx.evaluation.needle), against independent float64 references."""

from __future__ import annotations

import math
import random

import pytest
import torch

from longctx.evaluation import needle as N
from longctx.recall import KVTask
from longctx.ssm.selective_scan import selective_scan_ref


def _fresh_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def _reference_readout(model: str, hay: KVTask, cfg: N.NeedleConfig) -> torch.Tensor:
    """Loops over positions in float64: which keys a question at the last position may read, then read them."""
    n = hay.num_pairs
    keys, values = hay.keys.double(), hay.values.double()
    out = []
    for q in hay.queries.double():
        if model in ("full", "window", "sinks"):
            seen = []
            for j in range(n):
                in_window = j >= n - cfg.window
                in_sinks = j < cfg.sinks
                if model == "full" or in_window or (model == "sinks" and in_sinks):
                    seen.append(j)
            scores = torch.stack([cfg.scale * (q @ keys[j]) for j in seen])
            w = torch.exp(scores - scores.max())
            w = w / w.sum()
            out.append(sum(w[i] * values[j] for i, j in enumerate(seen)))
        else:
            gamma = cfg.decay if model == "decay" else 1.0
            state = torch.zeros(keys.shape[1], values.shape[1], dtype=torch.float64)
            for j in range(n):  # one write per position: S = gamma S + k_j v_j^T
                state = gamma * state + torch.outer(keys[j], values[j])
            out.append(q @ state)
    return torch.stack(out)


@pytest.mark.parametrize("model", N.MODELS)
@pytest.mark.parametrize(
    "length,depths",
    [(1, [0.0]), (37, [0.0, 0.5, 1.0]), (301, [0.13, 0.77]), (70, 0.999)],
    ids=["n1", "n37-three", "n301-two", "n70-one"],
)
def test_readout_matches_float64_loops(model, length, depths):
    cfg = N.NeedleConfig(dim=12, value_dim=7, scale=9.0, window=20, sinks=5, decay=0.9)
    hay = N.make_haystack(length, depths, dim=12, value_dim=7, seed=_fresh_seed())
    got = N.needle_readout(model, hay, cfg)
    want = _reference_readout(model, hay, cfg)
    assert got.shape == (hay.index.shape[0], 7)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_decay_state_is_the_selective_scan_state():
    """The decaying state equals a selective scan writing every position with exp(A) = gamma."""
    n, d, dv, gamma = 45, 6, 5, 0.93
    hay = N.make_haystack(n, [0.2, 0.9], dim=d, value_dim=dv, seed=_fresh_seed())
    cfg = N.NeedleConfig(dim=d, value_dim=dv, decay=gamma)
    u = hay.values.T[None]  # [1, d_v, n]
    delta = torch.ones(1, dv, n, dtype=torch.float64)
    A = torch.full((dv, d), math.log(gamma), dtype=torch.float64)
    B = hay.keys.T[None]  # [1, d, n]
    C = torch.zeros(1, d, n, dtype=torch.float64)
    _, x = selective_scan_ref(u, delta, A, B, C, return_last_state=True)  # x [1, d_v, d]
    want = hay.queries @ x[0].T  # [m, d_v]
    torch.testing.assert_close(N.needle_readout("decay", hay, cfg), want, rtol=1e-10, atol=1e-12)


def test_haystack_is_unit_random_and_needles_where_asked():
    seed = _fresh_seed()
    hay = N.make_haystack(101, [0.0, 0.25, 1.0], dim=9, value_dim=4, seed=seed)
    assert hay.index.tolist() == [0, 25, 100]
    torch.testing.assert_close(hay.keys.norm(dim=1), torch.ones(101, dtype=torch.float64))
    torch.testing.assert_close(hay.values.norm(dim=1), torch.ones(101, dtype=torch.float64))
    assert torch.equal(hay.queries, hay.keys[[0, 25, 100]])
    again = N.make_haystack(101, [0.5], dim=9, value_dim=4, seed=seed)
    assert torch.equal(again.keys, hay.keys)  # the hay depends on the seed, not on the needles
    other = N.make_haystack(101, [0.5], dim=9, value_dim=4, seed=seed + 1)
    assert not torch.equal(other.keys, hay.keys)
    assert N.make_haystack(8, 0.5, dtype=torch.float32).keys.dtype == torch.float32


@pytest.mark.parametrize(
    "length,depth,want",
    [(1, 0.7, 0), (11, 0.5, 5), (10, 0.5, 4), (100, 1.0, 99), (100, 0.0, 0), (1000, 0.333, 333)],
)
def test_needle_position(length, depth, want):
    assert N.needle_position(length, depth) == round(depth * (length - 1)) == want


def test_needle_depths():
    assert N.needle_depths(1) == (0.5,)
    assert N.needle_depths(5) == (0.0, 0.25, 0.5, 0.75, 1.0)


def test_grid_cells_equal_single_needle_recall():
    """The batched grid gives, cell by cell, what one needle per haystack gives."""
    seed = _fresh_seed()
    cfg = N.NeedleConfig(dim=8, value_dim=8, window=24, sinks=4, decay=0.9)
    lengths, depths = (17, 40, 96), (0.0, 0.3, 0.65, 1.0)
    for model in N.MODELS:
        grid = N.needle_grid(model, lengths, depths, trials=2, seed=seed, config=cfg)
        for i, x in enumerate(depths):
            for j, n in enumerate(lengths):
                assert grid[i][j] == N.needle_recall(model, n, x, trials=2, seed=seed, config=cfg), (
                    model,
                    x,
                    n,
                )


def test_what_each_memory_can_reach():
    """Window and sinks find exactly the needles in their reach; full attention finds them all."""
    cfg = N.NeedleConfig(window=50, sinks=10)
    n, depths = 400, (0.0, 0.02, 0.03, 0.5, 0.87, 0.88, 1.0)
    positions = [N.needle_position(n, x) for x in depths]  # 0, 8, 12, 200, 347, 351, 399
    seed = _fresh_seed()
    for model, reach in (
        ("full", lambda p: True),
        ("window", lambda p: p >= n - 50),
        ("sinks", lambda p: p >= n - 50 or p < 10),
    ):
        grid = N.needle_grid(model, (n,), depths, trials=3, seed=seed, config=cfg)
        got = [row[0] for row in grid]
        want = [1.0 if reach(p) else 0.0 for p in positions]
        assert got == want, (model, got, want)


def test_fixed_state_blurs_with_length():
    """With orthogonal-ish room (n << d) the linear state recalls; with n >> d it does not."""
    cfg = N.NeedleConfig(dim=64, value_dim=64)
    seed = _fresh_seed()
    short = N.needle_recall("linear", 4, [0.0, 1.0], trials=4, seed=seed, config=cfg)
    long = N.needle_recall("linear", 2048, [0.0, 0.5, 1.0], trials=4, seed=seed, config=cfg)
    assert short == 1.0
    assert long < 0.5


def test_decay_favours_the_end():
    cfg = N.NeedleConfig(decay=0.8)
    seed = _fresh_seed()
    end = N.needle_recall("decay", 500, 1.0, trials=4, seed=seed, config=cfg)
    start = N.needle_recall("decay", 500, 0.0, trials=4, seed=seed, config=cfg)
    assert end == 1.0 and start < 0.5


def test_memory_elements():
    cfg = N.NeedleConfig(dim=16, value_dim=8, window=100, sinks=20)
    assert N.memory_elements("full", 1000, cfg) == 1000 * 24
    assert N.memory_elements("window", 1000, cfg) == 100 * 24
    assert N.memory_elements("window", 30, cfg) == 30 * 24
    assert N.memory_elements("sinks", 1000, cfg) == 120 * 24
    assert N.memory_elements("sinks", 110, cfg) == 110 * 24
    assert N.memory_elements("linear", 10**6, cfg) == N.memory_elements("decay", 7, cfg) == 128


def test_tables_for_the_page():
    rows = N.needle_grid_rows("window", (64, 512), (0.0, 1.0), trials=1)
    assert rows == [{"depth": 0.0, "n64": 1.0, "n512": 0.0}, {"depth": 1.0, "n64": 1.0, "n512": 1.0}]
    summary = N.needle_summary(300, trials=1)
    assert [r["model"] for r in summary] == [N.MODEL_LABELS[m] for m in N.MODELS]
    full = summary[0]
    assert full["start"] == full["middle"] == full["end"] == full["mean"] == 1.0
    assert summary[1]["start"] == 0.0 and summary[1]["end"] == 1.0  # window 256 < 300 positions
    multi = N.multi_needle_table(3, (40, 600), trials=2)
    assert len(multi) == 2 * len(N.MODELS)
    for r in multi:
        assert 0.0 <= r["all_found"] <= r["recall"] <= 1.0
        if r["model"] == N.MODEL_LABELS["full"]:
            assert r["recall"] == r["all_found"] == 1.0
    window600 = next(r for r in multi if r["length"] == 600 and r["model"] == N.MODEL_LABELS["window"])
    assert (
        window600["recall"] == pytest.approx(1 / 3) and window600["all_found"] == 0.0
    )  # only the last needle


def test_figure_is_an_svg_with_every_panel():
    svg = N.needle_figure((64, 128), (0.0, 1.0), trials=1)
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for model in N.MODELS:
        assert N.MODEL_LABELS[model] in svg
    from longctx.figures.evaluation import FIGURES

    assert FIGURES["needle-grid"] is N.needle_figure


@pytest.mark.parametrize(
    "call,exc,word",
    [
        (lambda: N.make_haystack(0, 0.5), ValueError, "length"),
        (lambda: N.make_haystack(10.0, 0.5), TypeError, "length"),
        (lambda: N.make_haystack(10, 1.5), ValueError, "depth"),
        (lambda: N.make_haystack(10, "0.5"), TypeError, "depths"),
        (lambda: N.make_haystack(10, []), TypeError, "depths"),
        (lambda: N.make_haystack(3, [0.0, 0.1]), ValueError, "depths"),
        (lambda: N.make_haystack(10, 0.5, dim=0), ValueError, "dim"),
        (lambda: N.make_haystack(10, 0.5, dtype=torch.int64), TypeError, "dtype"),
        (lambda: N.make_haystack(10, 0.5, seed=-1), ValueError, "seed"),
        (lambda: N.needle_readout("gpt", N.make_haystack(5, 0.5)), ValueError, "model"),
        (lambda: N.needle_readout("full", "hay"), TypeError, "hay"),
        (lambda: N.needle_readout("full", N.make_haystack(5, 0.5), {"scale": 1}), TypeError, "config"),
        (lambda: N.NeedleConfig(scale=0), ValueError, "scale"),
        (lambda: N.NeedleConfig(scale=float("nan")), ValueError, "scale"),
        (lambda: N.NeedleConfig(scale="50"), TypeError, "scale"),
        (lambda: N.NeedleConfig(decay=float("inf")), ValueError, "decay"),
        (lambda: N.NeedleConfig(decay=1.5), ValueError, "decay"),
        (lambda: N.NeedleConfig(window=0), ValueError, "window"),
        (lambda: N.NeedleConfig(sinks=-1), ValueError, "sinks"),
        (lambda: N.needle_recall("full", 10, 0.5, trials=0), ValueError, "trials"),
        (lambda: N.needle_grid("full", [], (0.5,)), TypeError, "lengths"),
        (lambda: N.needle_grid("full", (10,), (2.0,)), ValueError, "depths"),
        (lambda: N.needle_depths(0), ValueError, "count"),
        (lambda: N.memory_elements("full", 0), ValueError, "length"),
        (lambda: N.needle_position(10, True), TypeError, "depth"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_bad_input_is_refused_by_name(call, exc, word):
    with pytest.raises(exc, match=word):
        call()
