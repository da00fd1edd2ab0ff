"""The two topic pages' helpers: sinusoidal encodings, the ring's bookkeeping and CPU demo, and
the figures and tables of longctx.figures.position.

Expected values are computed here independently: sinusoids and RoPE frequencies from the
``math`` module in loops, the ring schedule replayed by passing blocks hand to hand, causal
work counted from the mask itself, byte counts written out from the shapes.
"""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from longctx.distributed.demo import (
    causal_blocks_per_rank,
    ring_memory_table,
    ring_schedule,
    ring_schedule_table,
    run_demo,
)
from longctx.figures import position as fpos
from longctx.position.rope import RopeScaling, rope_frequencies
from longctx.position.sinusoidal import sinusoidal_encoding, sinusoidal_shift
from longctx.units import resolve

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


# ----------------------------------------------------------------------------- sinusoids


@pytest.mark.parametrize("T, D, base", [(1, 2, 10000.0), (37, 10, 10000.0), (129, 64, 500.0), (5, 6, 2)])
def test_sinusoidal_encoding_matches_formula(T, D, base):
    pe = sinusoidal_encoding(T, D, base=base)
    assert pe.shape == (T, D) and pe.dtype == torch.float64
    for p in {0, min(1, T - 1), T // 2, T - 1}:
        for i in range(D // 2):
            w = 1.0 / base ** (2 * i / D)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(p * w), abs=1e-12)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(p * w), abs=1e-12)


def test_sinusoidal_shift_is_a_linear_map_independent_of_position():
    rng = random.Random(7)
    for _ in range(5):
        D = 2 * rng.randint(1, 40)
        T = rng.randint(2, 200)
        k = rng.randint(-T + 1, T - 1)
        pe = sinusoidal_encoding(T, D)
        M = sinusoidal_shift(k, D)
        assert M.shape == (D, D)
        lo, hi = max(0, -k), min(T, T - k)  # positions p with p + k inside 0 .. T-1
        torch.testing.assert_close(pe[lo:hi] @ M.T, pe[lo + k : hi + k], rtol=0, atol=1e-10)
        torch.testing.assert_close(
            M @ M.T, torch.eye(D, dtype=torch.float64), rtol=0, atol=1e-12
        )  # a rotation
    assert torch.equal(sinusoidal_shift(0, 8), torch.eye(8, dtype=torch.float64))


def test_sinusoidal_bad_input():
    cases = [
        (lambda: sinusoidal_encoding(0, 8), ValueError, "num_positions"),
        (lambda: sinusoidal_encoding(4.0, 8), TypeError, "num_positions"),
        (lambda: sinusoidal_encoding(4, 7), ValueError, "dim"),
        (lambda: sinusoidal_encoding(4, True), TypeError, "dim"),
        (lambda: sinusoidal_encoding(4, 8, base=1.0), ValueError, "base"),
        (lambda: sinusoidal_encoding(4, 8, base=float("nan")), ValueError, "base"),
        (lambda: sinusoidal_shift(1.5, 8), TypeError, "k"),
        (lambda: sinusoidal_shift(1, 0), ValueError, "dim"),
        (lambda: sinusoidal_shift(1, 8, base="big"), ValueError, "base"),
    ]
    for call, exc, name in cases:
        with pytest.raises(exc, match=name):
            call()


# ----------------------------------------------------------------------------- the ring


@pytest.mark.parametrize("W", [1, 2, 3, 5, 8])
def test_ring_schedule_is_blocks_passed_to_the_next_rank(W):
    held = list(range(W))  # step 0: every rank holds its own block
    sched = ring_schedule(W)
    assert len(sched) == W
    for s in range(W):
        assert sched[s] == held, s
        held = [held[(r - 1) % W] for r in range(W)]  # each rank receives from rank r - 1
    for r in range(W):  # every rank meets every block exactly once
        assert sorted(sched[s][r] for s in range(W)) == list(range(W))
    rows = ring_schedule_table(W)
    assert [row["step"] for row in rows] == list(range(W))
    assert all([row[f"rank{r}"] for r in range(W)] == sched[row["step"]] for row in rows)


@pytest.mark.parametrize("W", [1, 2, 3, 4, 7])
def test_causal_blocks_counted_from_the_mask(W):
    T_local = 3
    q_pos = torch.arange(W * T_local).reshape(W, T_local)  # rank r's query positions
    want = []
    for r in range(W):
        visible = 0
        for src in range(W):  # a block counts if any of its keys is at or before any local query
            k_pos = q_pos[src]
            visible += bool((k_pos[None, :] <= q_pos[r][:, None]).any())
        want.append(visible)
    assert causal_blocks_per_rank(W) == want


def test_ring_memory_table_by_hand():
    rows = ring_memory_table(
        1 << 20, (1, 4, 16), heads=32, kv_heads=8, head_dim=128, bytes_per_element="bf16"
    )
    assert [r["world_size"] for r in rows] == [1, 4, 16]
    for r in rows:
        W, t = r["world_size"], (1 << 20) // r["world_size"]
        assert r["tokens_per_device"] == t
        assert r["shard_bytes"] == t * 128 * (32 + 32 + 8 + 8) * 2  # q, out: 32 heads; k, v: 8 heads; 2 bytes
        assert r["in_flight_bytes"] == (0 if W == 1 else t * 128 * (8 + 8) * 2)
        assert r["total_bytes"] == r["shard_bytes"] + r["in_flight_bytes"]
        assert r["causal_imbalance"] == pytest.approx(2 * W / (W + 1), rel=1e-12)  # W / ((W + 1) / 2)
    # memory per device falls as 1/W: 16 devices hold a sixteenth of the shard each
    assert rows[2]["shard_bytes"] * 16 == rows[0]["shard_bytes"]


def test_ring_helpers_bad_input():
    cases = [
        (lambda: ring_schedule(0), ValueError, "world_size"),
        (lambda: ring_schedule(2.0), TypeError, "world_size"),
        (lambda: causal_blocks_per_rank(-1), ValueError, "world_size"),
        (lambda: ring_memory_table(100, (3,)), ValueError, "multiple"),
        (lambda: ring_memory_table(0), ValueError, "seq_len"),
        (lambda: ring_memory_table(64, (0,)), ValueError, "world_size"),
        (lambda: ring_memory_table(64, (2,), bytes_per_element="fp7"), ValueError, "fp7"),
        (lambda: run_demo(2, 7), ValueError, "multiple of world_size"),
        (lambda: run_demo(2, 8, heads=3, kv_heads=2), ValueError, "kv_heads"),
        (lambda: run_demo(0, 8), ValueError, "world_size"),
        (lambda: run_demo(2, 8, head_dim=None), TypeError, "head_dim"),
    ]
    for call, exc, name in cases:
        with pytest.raises(exc, match=name):
            call()


@pytest.mark.slow
def test_run_demo_in_two_processes():
    """Two real gloo processes: the gathered ring output equals full attention (float64)."""
    result = run_demo(2, 14, heads=4, kv_heads=2, head_dim=8, causal=False, seed=5)
    assert result["world_size"] == 2 and result["seq_len"] == 14
    assert result["shard_shape"] == [1, 4, 7, 8]
    assert 0 <= result["max_abs_error"] < 1e-12
    assert result["rank0_seconds"] > 0


# ----------------------------------------------------------------------------- positions page


def _theta(i: int, D: int = 128, base: float = 10000.0) -> float:
    return base ** (-2 * i / D)


def test_frequency_table_against_formulas():
    rows = fpos.frequency_table(pairs=(0, 5, 33, 63))
    assert [r["pair"] for r in rows] == [0, 5, 33, 63]
    for r in rows:
        theta = _theta(r["pair"])
        assert r["theta"] == pytest.approx(theta, rel=1e-12)
        assert r["wavelength"] == pytest.approx(2 * math.pi / theta, rel=1e-12)
        assert r["turns"] == pytest.approx(4096 * theta / (2 * math.pi), rel=1e-12)
        assert r["pi"] == pytest.approx(8.0, rel=1e-12)
        # NTK-aware: base * 8^(128/126), independently
        assert r["ntk"] == pytest.approx(
            theta / (10000 * 8 ** (128 / 126)) ** (-2 * r["pair"] / 128), rel=1e-9
        )
        # YaRN: >= 32 turns untouched, < 1 turn fully interpolated
        if r["turns"] >= 32:
            assert r["yarn"] == pytest.approx(1.0, rel=1e-12)
        if r["turns"] <= 1:
            assert r["yarn"] == pytest.approx(8.0, rel=1e-12)
    with pytest.raises(ValueError, match="pairs"):
        fpos.frequency_table(pairs=(64,))


@pytest.mark.parametrize("D, L, base", [(128, 4096, 10000.0), (64, 2048, 10000.0), (96, 1000, 500000.0)])
def test_extrapolation_numbers(D, L, base):
    slow = sum(1 for i in range(D // 2) if _theta(i, D, base) * (L - 1) < 2 * math.pi)
    assert fpos.pairs_without_full_turn(D, L, base) == slow
    common = {"head_dim": D, "train_length": L, "factor": 8, "base": base}
    rows = {r["method"]: r for r in fpos.extrapolation_table(D, base, L, 8)}
    # plain RoPE: every slow pair goes (8L - 1)/(L - 1) times past its trained angle
    assert rows["plain RoPE (extrapolate)"]["beyond"] == slow == fpos.pairs_beyond_training(None, **common)
    assert rows["plain RoPE (extrapolate)"]["worst"] == pytest.approx((8 * L - 1) / (L - 1), rel=1e-12)
    # interpolation: inside up to the 1/s of a position gained at the end
    assert rows["position interpolation"]["beyond"] == 0
    assert rows["position interpolation"]["worst"] == pytest.approx((8 * L - 1) / (8 * (L - 1)), rel=1e-12)
    assert rows["position interpolation"]["fastest"] == pytest.approx(8.0)
    # NTK-aware: slowest pair exactly interpolated, faster slow pairs pushed past
    ntk_theta = lambda i: (base * 8 ** (D / (D - 2))) ** (-2 * i / D)  # noqa: E731
    worst = max(
        ntk_theta(i) * (8 * L - 1) / (_theta(i, D, base) * (L - 1))
        for i in range(D // 2)
        if _theta(i, D, base) * (L - 1) < 2 * math.pi
    )
    assert fpos.largest_overshoot("ntk", **common) == pytest.approx(worst, rel=1e-9)
    assert rows["NTK-aware"]["fastest"] == pytest.approx(1.0)
    assert rows["YaRN"]["beyond"] == 0 and rows["YaRN"]["fastest"] == pytest.approx(1.0)


def test_overshoot_is_one_when_every_pair_turned():
    assert fpos.pairs_without_full_turn(8, 100_000) == 0
    assert fpos.largest_overshoot(None, head_dim=8, train_length=100_000) == 1.0


def test_figures_draw():
    for name, draw in fpos.FIGURES.items():
        root = ET.fromstring(draw())
        labels = " ".join("".join(el.itertext()) for el in root.iter(f"{SVG}text"))
        assert root.tag == f"{SVG}svg" and labels, name
    ring = " ".join(
        "".join(el.itertext()) for el in ET.fromstring(fpos.ring_schedule_figure(3)).iter(f"{SVG}text")
    )
    assert "skipped" in ring and "3 of 3" in ring and "1 of 3" in ring


def test_page_expressions_resolve():
    """Every function the two pages call is public and found by the build's resolver."""
    import re

    for page in ("docs/topics/positions.md", "docs/topics/ring-attention.md"):
        text = (ROOT / page).read_text()
        names = set(re.findall(r"\{\{\s*(?:table\s+)?([a-z_.]+)\(", text))
        assert names, page
        for name in names:
            assert callable(resolve(name)), name


def test_scaled_frequencies_used_by_the_figures_match_the_package():
    f = rope_frequencies(128, scaling=RopeScaling("yarn", 8, 4096))
    rows = fpos.frequency_table(pairs=tuple(range(64)))
    for i, r in enumerate(rows):
        assert r["yarn"] == pytest.approx(_theta(i) / f[i].item(), rel=1e-12)
