"""Tests of the cost functions Lesson 1 and its calculator added to ``longctx.costs``.

Expectations are computed here from the formulas written out independently (exact integers
or ``fractions.Fraction``), never copied from the functions' output.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx import costs

DTYPE_BYTES = {
    "fp64": 8,
    "fp32": 4,
    "tf32": 4,
    "fp16": 2,
    "bf16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": Fraction(1, 2),
}


def _linear_flops(n: int, dm: int, ff: int) -> int:
    # Q, K, V, O projections: 4 matmuls [n, dm] x [dm, dm]; MLP: [n, dm] x [dm, ff] and back.
    return 2 * n * dm * dm * 4 + 2 * n * dm * ff * 2


def _attention_core_flops(n: int, dm: int, causal: bool) -> int:
    # Q K^T and P V, each one multiply-add (2 FLOPs) per (query, key, channel) kept.
    pairs = n * (n + 1) // 2 if causal else n * n  # causal: query i sees keys 0..i
    return 2 * 2 * pairs * dm


# ---------------------------------------------------------------- attention_cost_summary


@pytest.mark.parametrize("seed", range(6))
def test_summary_matches_formulas_on_random_shapes(seed):
    rng = random.Random(1000 + seed)
    for _ in range(25):
        n = rng.choice([1, 2, 3, 7, 511, 4097, rng.randint(1, 2_000_000), rng.randint(1, 10**9)])
        ref = rng.randint(1, 10**7)
        h, L, d = rng.randint(1, 256), rng.randint(1, 200), rng.randint(1, 512)
        dtype = rng.choice(list(DTYPE_BYTES))
        causal = rng.random() < 0.5
        got = costs.attention_cost_summary(
            n, reference_len=ref, heads=h, layers=L, head_dim=d, bytes_per_element=dtype, causal=causal
        )
        b = DTYPE_BYTES[dtype]
        pairs = n * (n + 1) // 2 if causal else n * n
        want = {
            "entries": n * n,
            "bytes_head": n * n * b,
            "bytes_layer": n * n * b * h,
            "bytes_model": n * n * b * h * L,
            "flops_head": 4 * pairs * d,
            "flops_layer": 4 * pairs * d * h,
            "flops_model": 4 * pairs * d * h * L,
            "multiplier": Fraction(n, ref) ** 2,
        }
        assert set(got) == set(want)
        for key, value in want.items():
            assert math.isclose(got[key], float(value), rel_tol=1e-14), (key, n, ref, h, L, d, dtype, causal)
        # The integer counts stay exact (Python ints), whatever their size.
        assert got["entries"] == n * n and got["flops_model"] == 4 * pairs * d * h * L


def test_summary_causal_keeps_the_whole_matrix_but_about_half_the_flops():
    full = costs.attention_cost_summary(4096, reference_len=4096, heads=1, layers=1, head_dim=64)
    causal = costs.attention_cost_summary(
        4096, reference_len=4096, heads=1, layers=1, head_dim=64, causal=True
    )
    assert causal["bytes_head"] == full["bytes_head"] == 4096 * 4096 * 2
    assert causal["flops_head"] == 4 * 64 * 4096 * 4097 // 2
    assert 0.5 < causal["flops_head"] / full["flops_head"] < 0.5002


def test_summary_accepts_a_number_of_bytes():
    s = costs.attention_cost_summary(
        10, reference_len=5, heads=3, layers=2, head_dim=4, bytes_per_element=0.5
    )
    assert s["bytes_model"] == 10 * 10 * 0.5 * 3 * 2
    assert s["multiplier"] == 4.0


@pytest.mark.parametrize(
    "bad, exc, name",
    [
        ({"seq_len": 0}, ValueError, "seq_len"),
        ({"seq_len": -5}, ValueError, "seq_len"),
        ({"seq_len": 4.0}, TypeError, "seq_len"),
        ({"reference_len": 0}, ValueError, "reference_len"),
        ({"reference_len": "4K"}, TypeError, "reference_len"),
        ({"heads": 0}, ValueError, "heads"),
        ({"layers": -1}, ValueError, "layers"),
        ({"layers": True}, TypeError, "layers"),
        ({"head_dim": 0}, ValueError, "head_dim"),
        ({"bytes_per_element": "fp12"}, ValueError, "fp12"),
        ({"bytes_per_element": -2}, ValueError, "bytes_per_element"),
        ({"causal": 1}, TypeError, "causal"),
    ],
)
def test_summary_rejects_bad_input_naming_the_argument(bad, exc, name):
    args = {
        "seq_len": 8,
        "reference_len": 4,
        "heads": 2,
        "layers": 2,
        "head_dim": 4,
        "bytes_per_element": "fp16",
        "causal": False,
    }
    args.update(bad)
    n = args.pop("seq_len")
    with pytest.raises(exc, match=name):
        costs.attention_cost_summary(n, **args)


# ---------------------------------------------------------------- attention_flop_share / crossover


@settings(max_examples=60, deadline=None)
@given(dm=st.integers(1, 20_000), ff=st.none() | st.integers(1, 80_000), causal=st.booleans())
def test_crossover_is_where_attention_overtakes_the_linear_terms(dm, ff, causal):
    n = costs.attention_crossover_len(d_model=dm, d_ff=ff, causal=causal)
    f = 4 * dm if ff is None else ff
    assert _attention_core_flops(n, dm, causal) == _linear_flops(n, dm, f)
    if n > 1:
        assert _attention_core_flops(n - 1, dm, causal) < _linear_flops(n - 1, dm, f)
    assert _attention_core_flops(n + 1, dm, causal) > _linear_flops(n + 1, dm, f)
    assert costs.attention_flop_share(n, d_model=dm, d_ff=ff, causal=causal) == 0.5


def test_crossover_is_six_widths_for_the_usual_mlp():
    for dm in (1, 768, 4096, 12288):
        assert costs.attention_crossover_len(d_model=dm) == 6 * dm
        assert costs.attention_crossover_len(d_model=dm, causal=True) == 12 * dm - 1


@pytest.mark.parametrize("seed", range(3))
def test_flop_share_matches_formula(seed):
    rng = random.Random(seed)
    for _ in range(30):
        n, dm = rng.randint(1, 3000), rng.randint(1, 9000)
        ff = rng.choice([None, rng.randint(1, 40_000)])
        causal = rng.random() < 0.5
        att = _attention_core_flops(n, dm, causal)
        lin = _linear_flops(n, dm, 4 * dm if ff is None else ff)
        got = costs.attention_flop_share(n, d_model=dm, d_ff=ff, causal=causal)
        assert math.isclose(got, att / (att + lin), rel_tol=1e-13)
        assert 0 < got < 1


def test_flop_share_grows_with_length():
    shares = [costs.attention_flop_share(2**k, d_model=4096) for k in range(8, 22)]
    assert all(a < b for a, b in zip(shares, shares[1:]))


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"d_model": 0}, ValueError, "d_model"),
        ({"d_model": 2.5}, TypeError, "d_model"),
        ({"d_model": 8, "d_ff": 0}, ValueError, "d_ff"),
        ({"d_model": 8, "causal": "yes"}, TypeError, "causal"),
    ],
)
def test_crossover_and_share_reject_bad_input(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        costs.attention_crossover_len(**kwargs)
    with pytest.raises(exc, match=name):
        costs.attention_flop_share(16, **kwargs)


def test_flop_share_rejects_bad_length():
    with pytest.raises(ValueError, match="seq_len"):
        costs.attention_flop_share(0, d_model=8)


# ---------------------------------------------------------------- gpu_memory_fraction


def test_gpu_memory_fraction_against_the_datasheet_sizes():
    # vendors' "40 GB" and "80 GB" cards hold 40 and 80 GiB
    assert costs.gpu_memory_fraction(20 * 2**30, gpu="A100 40GB") == 0.5
    assert costs.gpu_memory_fraction(20 * 2**30) == 0.25  # the default is the 80 GB card
    assert math.isclose(
        costs.gpu_memory_fraction(20e9, gpu="A100 40GB"), 20e9 / 42_949_672_960, rel_tol=1e-15
    )
    assert costs.gpu_memory_fraction(0) == 0.0
    assert math.isclose(
        costs.gpu_memory_fraction(6.6e12, gpu="A100 80GB"), 6.6e12 / (81920 * 2**20), rel_tol=1e-15
    )


@pytest.mark.parametrize(
    "nbytes, gpu, exc, name",
    [
        (-1, "A100 80GB", ValueError, "nbytes"),
        (float("inf"), "A100 80GB", ValueError, "nbytes"),
        (float("nan"), "A100 80GB", ValueError, "nbytes"),
        ("20 GB", "A100 80GB", TypeError, "nbytes"),
        (True, "A100 80GB", TypeError, "nbytes"),
        (1e9, "H100", ValueError, "gpu"),
    ],
)
def test_gpu_memory_fraction_rejects_bad_input(nbytes, gpu, exc, name):
    with pytest.raises(exc, match=name):
        costs.gpu_memory_fraction(nbytes, gpu=gpu)


def test_new_functions_are_public():
    for name in (
        "attention_cost_summary",
        "attention_crossover_len",
        "attention_flop_share",
        "gpu_memory_fraction",
    ):
        assert name in costs.__all__ and callable(getattr(costs, name))
