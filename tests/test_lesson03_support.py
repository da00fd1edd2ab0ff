"""Lesson 3's support code: the linear-attention FLOP model and its crossover, the lesson's figures.

``longctx.linear.costs`` is checked against counts made another way: position by position in
plain loops, and with PyTorch's own FLOP counter running the package's linear attention.
"""

from __future__ import annotations

import random

import pytest
from _helpers import random_qkv
from torch.utils.flop_counter import FlopCounterMode

from longctx import costs
from longctx.linear import linear_attention_chunked_ref
from longctx.linear.costs import (
    chunk_pairs,
    crossover_seq_len,
    linear_attention_flops,
    softmax_over_linear_flops,
)


def _loop_flops(n: int, d: int, f: int, causal: bool, chunk: int | None, projection: bool) -> int:
    """One position at a time: what each token adds to the count."""
    total = 0
    for i in range(n):
        total += 2 * f * d  # rank-1 write phi(k_i) v_i^T into the state
        total += 2 * f * d  # read: phi(q_i) S
        if causal and chunk is not None:
            inside = i % chunk + 1  # keys j <= i in i's own chunk
            total += inside * (2 * f + 2 * d)  # phi(q_i) . phi(k_j), then times v_j
        if projection:
            total += 2 * (2 * d * f)  # W q_i and W k_i
    return total


def _brute_crossover(d: int, f: int, causal: bool, chunk: int | None, projection: bool, upto: int) -> int:
    """Scan down from ``upto``: the start of the last run of lengths where linear costs no more."""
    n = upto
    while n > 1 and (
        linear_attention_flops(
            n - 1, d, feature_dim=f, causal=causal, chunk_size=chunk, projection=projection
        )
        <= costs.attention_flops(n - 1, d, causal=causal)
    ):
        n -= 1
    return n


def _cases(seed: int, count: int):
    rng = random.Random(seed)
    for _ in range(count):
        d = rng.choice([1, 2, 3, 7, 16, 40, 64, 128])
        f = rng.choice([None, 1, 5, d, 2 * d, rng.randint(1, 300)])
        causal = rng.random() < 0.6
        chunk = rng.choice([None, 1, 3, 16, 64, rng.randint(1, 100)])
        projection = rng.random() < 0.3
        yield d, f, causal, chunk, projection


@pytest.mark.parametrize("seed", [3, 17, 2024])
def test_flops_match_a_position_by_position_count(seed):
    rng = random.Random(seed)
    for d, f, causal, chunk, projection in _cases(seed, 40):
        n = rng.choice([1, 2, rng.randint(1, 50), rng.randint(50, 400)])
        heads = rng.randint(1, 5)
        want = heads * _loop_flops(n, d, f or d, causal, chunk, projection)
        got = linear_attention_flops(
            n, d, feature_dim=f, heads=heads, causal=causal, chunk_size=chunk, projection=projection
        )
        assert got == want, (n, d, f, causal, chunk, projection, heads)


def test_ratio_is_softmax_over_linear():
    rng = random.Random(5)
    for d, f, causal, chunk, projection in _cases(5, 20):
        n = rng.randint(1, 5000)
        ratio = softmax_over_linear_flops(
            n, d, feature_dim=f, causal=causal, chunk_size=chunk, projection=projection
        )
        lin = _loop_flops(n, d, f or d, causal, chunk, projection)
        soft = sum(4 * d * ((i + 1) if causal else n) for i in range(n))  # each query: 4 d per key it sees
        assert ratio == pytest.approx(soft / lin, rel=1e-12)
        if n >= crossover_seq_len(d, feature_dim=f, causal=causal, chunk_size=chunk, projection=projection):
            assert ratio >= 1, (n, d, f, causal, chunk, projection)


def test_chunk_pairs_counts_the_lower_triangles():
    rng = random.Random(7)
    for _ in range(60):
        n, c = rng.randint(1, 300), rng.randint(1, 90)
        want = sum(1 for i in range(n) for j in range(n) if j <= i and i // c == j // c)
        assert chunk_pairs(n, c) == want, (n, c)
    assert chunk_pairs(10, 1) == 10  # C = 1: only the diagonal, the recurrent form
    assert chunk_pairs(10, 10) == chunk_pairs(10, 64) == 55  # one chunk: the whole causal triangle


@pytest.mark.parametrize("causal", [False, True])
def test_state_terms_match_torch_flop_counter(causal):
    """PyTorch counts the matmuls of linear_attention_chunked_ref; take away what the model leaves out."""
    B, H, T, D, C = 1, 3, 45, 8, 16  # T not a multiple of C
    q, k, v = random_qkv(B, H, H, T, T, D, seed=11)
    with FlopCounterMode(display=False) as counter:
        linear_attention_chunked_ref(q, k, v, causal=causal, chunk_size=C)
    counted = counter.get_total_flops()
    normaliser = 2 * T * D * H  # phi(q) @ z, one column more than the values: left out by the model
    if not causal:
        assert counted - normaliser == linear_attention_flops(T, D, heads=H)
    else:
        full_tiles = sum(2 * c * c * D * 2 for c in (16, 16, 13)) * H  # q_c k_c^T and a v_c, unmasked
        triangles = 2 * (D + D) * chunk_pairs(T, C) * H
        model = linear_attention_flops(T, D, heads=H, causal=True, chunk_size=C)
        assert counted - normaliser - full_tiles + triangles == model


@pytest.mark.no_cover  # tens of thousands of cost calls: three times slower traced; the tests above cover them
@pytest.mark.parametrize("seed", [1, 99])
def test_crossover_is_where_linear_stops_costing_more(seed):
    for d, f, causal, chunk, projection in _cases(seed, 30):
        fd = f or d
        got = crossover_seq_len(d, feature_dim=f, causal=causal, chunk_size=chunk, projection=projection)
        upto = 4 * fd + 2 * (chunk or 0) + 8 + (4 * fd if projection else 0)
        upto += (fd + d) * ((chunk or 0) + 1) // d
        assert got == _brute_crossover(d, fd, causal, chunk, projection, upto), (
            d,
            f,
            causal,
            chunk,
            projection,
        )
        # and linear attention really is no dearer from there on, for a long stretch
        for m in range(got, got + 300):
            lin = linear_attention_flops(
                m, d, feature_dim=f, causal=causal, chunk_size=chunk, projection=projection
            )
            assert lin <= costs.attention_flops(m, d, causal=causal), (m, d, f, causal, chunk, projection)
        if got > 1:
            lin = linear_attention_flops(
                got - 1, d, feature_dim=f, causal=causal, chunk_size=chunk, projection=projection
            )
            assert lin > costs.attention_flops(got - 1, d, causal=causal)


def test_crossover_closed_forms():
    for d in (16, 64, 128):
        assert crossover_seq_len(d) == d  # 4 n^2 d = 4 n d^2 at n = d
        assert crossover_seq_len(d, feature_dim=256, projection=True) == 512
        assert crossover_seq_len(d, causal=True) == 2 * d - 1  # 2 n (n + 1) d = 4 n d^2
    # chunks move the causal crossover up by about (C + 1)(F + d) / (2 d) = C + 1 when F = d
    assert crossover_seq_len(128, causal=True, chunk_size=64) > crossover_seq_len(128, causal=True)
    assert crossover_seq_len(128, causal=True, chunk_size=64) <= 2 * 128 - 1 + 65


@pytest.mark.parametrize(
    "call, name, exc",
    [
        (lambda: linear_attention_flops(0, 64), "seq_len", ValueError),
        (lambda: linear_attention_flops(8, 0), "head_dim", ValueError),
        (lambda: linear_attention_flops(8, 64.0), "head_dim", TypeError),
        (lambda: linear_attention_flops(8, 64, feature_dim=-1), "feature_dim", ValueError),
        (lambda: linear_attention_flops(8, 64, heads=True), "heads", TypeError),
        (lambda: linear_attention_flops(8, 64, causal=1), "causal", TypeError),
        (lambda: linear_attention_flops(8, 64, causal=True, chunk_size=0), "chunk_size", ValueError),
        (lambda: linear_attention_flops(8, 64, projection="yes"), "projection", TypeError),
        (lambda: crossover_seq_len(0), "head_dim", ValueError),
        (lambda: crossover_seq_len(64, feature_dim="64"), "feature_dim", TypeError),
        (lambda: crossover_seq_len(64, causal=None), "causal", TypeError),
        (lambda: chunk_pairs(5, 0), "chunk_size", ValueError),
    ],
)
def test_bad_arguments_are_named(call, name, exc):
    with pytest.raises(exc, match=name):
        call()


def test_lesson_figures_are_svg_with_text_labels():
    from longctx.figures import FIGURES
    from longctx.figures import linear as lesson

    for name in ("performer-error", "linear-crossover"):
        assert FIGURES[name] is lesson.FIGURES[name]
    out = lesson.linear_crossover()
    assert out.lstrip().startswith("<?xml") and "<svg" in out and "<text" in out
    assert "crossover" in out


def test_performer_figure_small_run():
    from longctx.figures.linear import performer_error

    out = performer_error(num_features=(8, 32), seeds=range(2))
    assert "<svg" in out and "<text" in out
