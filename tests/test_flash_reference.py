"""longctx.flash.reference against attention_ref (the materialised [T, S] ground truth).

Masks are rebuilt here from their definition, one (i, j) at a time, and passed to attention_ref
as a boolean mask; lse is checked against torch.logsumexp of the masked score matrix; gradients
against torch.autograd through attention_ref, all in float64 on fresh random inputs.
"""

from __future__ import annotations

import functools
import math
import sys

import pytest
import torch
from _helpers import random_qkv as qkv
from hypothesis import given, settings
from hypothesis import strategies as st

import longctx.flash.reference as fr
from longctx.attention import attention_ref, sliding_window_mask
from longctx.flash import (
    flash_attention_ref,
    flash_attention_ref_backward,
    memory_model,
    memory_table,
    online_softmax_update,
    tile_counts,
)

# (causal, window): every kind of band, alone and with causal.
MASKS = [
    (False, None),
    (True, None),
    (False, (0, 0)),
    (True, (0, 0)),
    (False, (3, -1)),
    (True, (3, -1)),
    (False, (-1, 5)),
    (True, (-1, 5)),
    (False, (2, 1)),
    (False, (-1, -1)),
]


def loop_mask(T, S, causal, window):
    """The mask from its definition, one (i, j) at a time: query i sits at key position i + S - T."""
    return torch.tensor(_loop_mask(T, S, causal, window), dtype=torch.bool).reshape(T, S)


@functools.cache
def _loop_mask(T, S, causal, window):
    left, right = window if window is not None else (-1, -1)
    keep = []
    for i in range(T):
        pos = i + S - T
        keep.append(
            [
                (not causal or j <= pos)
                and (left == -1 or j >= pos - left)
                and (right == -1 or j <= pos + right)
                for j in range(S)
            ]
        )
    return keep


def masked_lse(q, k, keep, scale=None):
    """log-sum-exp of every row of the masked scores, from the whole [T, S] matrix."""
    g = q.shape[1] // k.shape[1]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q.double() @ k.double().repeat_interleave(g, dim=1).transpose(-2, -1) * scale  # [B, H, T, S]
    return torch.logsumexp(s.masked_fill(~keep, -math.inf), dim=-1)


def check_forward(T, S, D, H, H_kv, block_q, block_k, causal, window, seed, Dv=None):
    q, k, v = qkv(2, H, H_kv, T, S, D, Dv, seed=seed)
    keep = loop_mask(T, S, causal, window)
    out, lse = flash_attention_ref(
        q, k, v, causal=causal, window=window, block_q=block_q, block_k=block_k, return_lse=True
    )
    assert out.shape == (2, H, T, v.shape[-1]) and out.dtype == torch.float64
    assert lse.shape == (2, H, T) and lse.dtype == torch.float64
    want = attention_ref(q, k, v, mask=keep)
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(lse, masked_lse(q, k, keep), rtol=1e-10, atol=1e-12)
    return (out - want).abs().max().item()


# ---------------------------------------------------------------- masks and tiles


@pytest.mark.parametrize("T, S", [(1, 1), (1, 17), (17, 1), (17, 17), (9, 30), (30, 9)])
def test_sliding_window_mask_matches_definition(T, S):
    for causal, window in MASKS + [(True, (0, 7)), (False, (12, 0))]:
        left, right = window if window is not None else (-1, -1)
        merged = (left, 0) if causal else (left, right)  # causal caps the right side at 0
        assert torch.equal(sliding_window_mask(T, S, merged), loop_mask(T, S, causal, window))


@pytest.mark.parametrize("causal, window", MASKS)
def test_attention_refs_causal_and_window_are_the_mask_from_its_definition(causal, window):
    q, k, v = qkv(1, 2, 2, 17, 40, 16)
    keep = loop_mask(17, 40, causal, window)
    torch.testing.assert_close(
        attention_ref(q, k, v, causal=causal, window=window),
        attention_ref(q, k, v, mask=keep),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("T, S", [(1, 1), (17, 63), (63, 17), (64, 64), (130, 63), (5, 130)])
@pytest.mark.parametrize("block_q, block_k", [(1, 16), (16, 17), (17, 1), (64, 64)])
def test_tile_counts_visit_exactly_the_tiles_with_a_visible_entry(T, S, block_q, block_k):
    for causal, window in MASKS:
        keep = loop_mask(T, S, causal, window)
        total = visited = 0
        for i0 in range(0, T, block_q):
            for j0 in range(0, S, block_k):
                total += 1
                visited += bool(keep[i0 : i0 + block_q, j0 : j0 + block_k].any())
        got = tile_counts(T, S, causal=causal, window=window, block_q=block_q, block_k=block_k)
        assert got == {"total": total, "visited": visited, "skipped": total - visited}


def test_causal_square_visits_the_lower_triangle_of_tiles():
    nb = 5  # T = S = 5 blocks of 16: blocks on and below the diagonal, 5 * 6 / 2
    assert tile_counts(80, 80, causal=True, block_q=16, block_k=16) == {
        "total": 25,
        "visited": 15,
        "skipped": 10,
    }
    # a band of one block either side of the diagonal visits the 3 diagonals of tiles
    banded = tile_counts(80, 80, window=(16, 16), block_q=16, block_k=16)
    assert banded["visited"] == nb + 2 * (nb - 1)


def test_forward_computes_only_the_visited_tiles(monkeypatch):
    calls = []

    def counting(*args):
        calls.append(1)
        return online_softmax_update(*args)

    monkeypatch.setattr(fr, "online_softmax_update", counting)
    q, k, v = qkv(1, 2, 1, 63, 130, 16)
    for causal, window in [(True, None), (False, (3, 10)), (True, (-1, 5))]:
        calls.clear()
        flash_attention_ref(q, k, v, causal=causal, window=window, block_q=16, block_k=17)
        want = tile_counts(63, 130, causal=causal, window=window, block_q=16, block_k=17)["visited"]
        assert len(calls) == want
        assert want < tile_counts(63, 130, block_q=16, block_k=17)["total"]


# ---------------------------------------------------------------- online softmax


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    cuts=st.lists(st.integers(1, 39), max_size=5),
    seed=st.integers(0, 2**31 - 1),
    masked=st.floats(0.0, 0.9),
)
def test_online_softmax_update_over_chunks_equals_one_softmax(n, cuts, seed, masked):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(3, n, generator=gen, dtype=torch.float64) * 5
    s[torch.rand(3, n, generator=gen) < masked] = -math.inf
    s[1] = -math.inf  # one row sees nothing
    v = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    m = torch.full((3,), -math.inf, dtype=torch.float64)  # the state before any key
    l, acc = torch.zeros(3, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64)
    bounds = sorted({0, n, *[c for c in cuts if c < n]})
    for a, b in zip(bounds, bounds[1:]):
        m, l, acc = online_softmax_update(m, l, acc, s[:, a:b], v[a:b])
    assert not torch.isnan(m).any() and not torch.isnan(acc).any()
    for r in range(3):
        seen = torch.isfinite(s[r])
        if not seen.any():
            assert l[r] == 0 and (acc[r] == 0).all()
            continue
        w = torch.softmax(s[r, seen], dim=0)
        torch.testing.assert_close(acc[r] / l[r], w @ v[seen], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(m[r] + torch.log(l[r]), torch.logsumexp(s[r], 0), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- forward in float64


def forward_cases():
    """Lengths x tiles, with D (16, 40, 64), the GQA ratio (1, 2, H = 4) and half of the masks
    rotating with the case, so that every pairing appears somewhere without a full product."""
    lengths = [(1, 17), (17, 1), (17, 63), (63, 17), (130, 63), (63, 130)]
    tiles = [(16, 16), (17, 64), (64, 17)]
    cases = [(T, S, bq, bk) for T, S in lengths for bq, bk in tiles] + [
        (130, 130, 64, 64),
        (130, 130, 16, 17),
    ]
    return [
        pytest.param(
            T, S, bq, bk, (16, 40, 64)[n % 3], (4, 2, 1)[(n // 3) % 3], n % 2, id=f"{T}x{S}-{bq}x{bk}"
        )
        for n, (T, S, bq, bk) in enumerate(cases)
    ]


@pytest.mark.parametrize("T, S, block_q, block_k, D, H_kv, half", forward_cases())
def test_forward_matches_attention_ref_float64(T, S, block_q, block_k, D, H_kv, half):
    for n, (causal, window) in enumerate(MASKS[half::2]):
        check_forward(T, S, D, 4, H_kv, block_q, block_k, causal, window, seed=T * 1000 + S * 10 + n)


@pytest.mark.parametrize("T, S", [(1, 1), (1, 17), (17, 1), (17, 17)])
@pytest.mark.parametrize("block_q, block_k", [(1, 1), (1, 17), (17, 1), (64, 64)])
def test_forward_block_size_one_and_larger_than_the_sequence(T, S, block_q, block_k):
    for n, (causal, window) in enumerate(MASKS[:8]):
        check_forward(T, S, 40, 2, 1, block_q, block_k, causal, window, seed=T * 1000 + S + n)


def test_value_dim_differs_from_key_dim_and_explicit_scale():
    q, k, v = qkv(2, 4, 2, 33, 50, 40, 24, seed=3)
    keep = loop_mask(33, 50, True, (7, -1))
    for scale in (0.05, 1.0, 3.0):
        out, lse = flash_attention_ref(
            q, k, v, causal=True, window=(7, -1), scale=scale, block_q=16, block_k=17, return_lse=True
        )
        torch.testing.assert_close(
            out, attention_ref(q, k, v, mask=keep, scale=scale), rtol=1e-10, atol=1e-12
        )
        torch.testing.assert_close(lse, masked_lse(q, k, keep, scale), rtol=1e-10, atol=1e-12)


def test_gqa_equals_mha_with_repeated_heads():
    q, k, v = qkv(2, 6, 2, 17, 30, 16, seed=4)
    rep = [h // 3 for h in range(6)]  # query head h reads kv head h // (H // H_kv)
    a = flash_attention_ref(q, k, v, causal=True, block_q=8, block_k=8)
    b = flash_attention_ref(q, k[:, rep], v[:, rep], causal=True, block_q=8, block_k=8)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_return_lse_adds_the_lse_and_leaves_the_output_alone():
    q, k, v = qkv(1, 4, 2, 20, 30, 16, seed=5)
    out = flash_attention_ref(q, k, v, window=(4, 2), block_q=7, block_k=9)
    assert isinstance(out, torch.Tensor)
    pair = flash_attention_ref(q, k, v, window=(4, 2), block_q=7, block_k=9, return_lse=True)
    assert isinstance(pair, tuple) and len(pair) == 2
    torch.testing.assert_close(pair[0], out, rtol=0, atol=0)
    torch.testing.assert_close(
        pair[1], masked_lse(q, k, loop_mask(20, 30, False, (4, 2))), rtol=1e-10, atol=1e-12
    )
    with pytest.raises(TypeError, match="return_lse"):
        flash_attention_ref(q, k, v, return_lse=1)


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 40),
    S=st.integers(1, 40),
    D=st.sampled_from([8, 16, 40]),
    heads=st.sampled_from([(1, 1), (2, 1), (4, 2), (3, 3), (3, 1)]),
    block_q=st.integers(1, 48),
    block_k=st.integers(1, 48),
    causal=st.booleans(),
    window=st.one_of(st.none(), st.tuples(st.integers(-1, 12), st.integers(-1, 12))),
    seed=st.integers(0, 2**31 - 1),
)
def test_forward_property(T, S, D, heads, block_q, block_k, causal, window, seed):
    # keep the tile count small: block size 1 with long sequences is slow in Python
    block_q, block_k = max(block_q, T // 8), max(block_k, S // 8)
    check_forward(T, S, D, heads[0], heads[1], block_q, block_k, causal, window, seed)


# ---------------------------------------------------------------- backward in float64


def autograd_grads(q, k, v, keep, dout, scale=None):
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    out = attention_ref(q, k, v, mask=keep, scale=scale)
    return torch.autograd.grad(out, (q, k, v), dout)


@pytest.mark.parametrize(
    "T, S, D, H_kv, block_q, block_k",
    [
        (17, 63, 40, 4, 16, 16),
        (63, 17, 16, 2, 17, 64),
        (1, 17, 64, 1, 64, 17),
        (18, 1, 40, 2, 1, 1),
        (130, 63, 16, 1, 64, 17),
        (63, 130, 40, 4, 17, 64),
    ],
)
def test_backward_matches_autograd_of_attention_ref(T, S, D, H_kv, block_q, block_k):
    for n, (causal, window) in enumerate(MASKS[(T + S) % 2 :: 2]):
        q, k, v = qkv(2, 4, H_kv, T, S, D, seed=T * 7 + S * 13 + n, requires_grad=True)
        keep = loop_mask(T, S, causal, window)
        out, _ = flash_attention_ref(
            q, k, v, causal=causal, window=window, block_q=block_q, block_k=block_k, return_lse=True
        )
        dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
        got = torch.autograd.grad(out, (q, k, v), dout)
        want = autograd_grads(q, k, v, keep, dout)
        for name, a, b in zip(("dq", "dk", "dv"), got, want):
            assert a.shape == b.shape, name
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11, msg=lambda m, name=name: f"{name}: {m}")


def test_backward_function_with_other_tiles_than_the_forward():
    q, k, v = qkv(1, 6, 3, 40, 33, 24, 16, seed=8)
    keep = loop_mask(40, 33, True, (5, -1))
    out, lse = flash_attention_ref(
        q, k, v, causal=True, window=(5, -1), block_q=64, block_k=64, return_lse=True
    )
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = flash_attention_ref_backward(
        q, k, v, out, lse, dout, causal=True, window=(5, -1), block_q=7, block_k=10
    )
    for a, b in zip(got, autograd_grads(q, k, v, keep, dout)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


@settings(max_examples=15, deadline=None)
@given(
    T=st.integers(1, 30),
    S=st.integers(1, 30),
    heads=st.sampled_from([(1, 1), (2, 1), (4, 2), (3, 3)]),
    block_q=st.integers(2, 32),
    block_k=st.integers(2, 32),
    causal=st.booleans(),
    window=st.one_of(st.none(), st.tuples(st.integers(-1, 8), st.integers(-1, 8))),
    seed=st.integers(0, 2**31 - 1),
)
def test_backward_property(T, S, heads, block_q, block_k, causal, window, seed):
    q, k, v = qkv(1, heads[0], heads[1], T, S, 16, 8, seed=seed, requires_grad=True)
    out, _ = flash_attention_ref(
        q, k, v, causal=causal, window=window, block_q=block_q, block_k=block_k, return_lse=True
    )
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = torch.autograd.grad(out, (q, k, v), dout)
    for a, b in zip(got, autograd_grads(q, k, v, loop_mask(T, S, causal, window), dout)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


# ---------------------------------------------------------------- float32 and half precision


@pytest.mark.parametrize("causal, window", [(False, None), (True, None), (True, (9, -1)), (False, (-1, 5))])
def test_float32_forward_and_backward_against_float64(causal, window):
    q, k, v = qkv(2, 4, 2, 63, 130, 40, seed=9, dtype=torch.float32, requires_grad=True)
    keep = loop_mask(63, 130, causal, window)
    out, lse = flash_attention_ref(
        q, k, v, causal=causal, window=window, block_q=16, block_k=17, return_lse=True
    )
    assert out.dtype == torch.float32 and lse.dtype == torch.float32
    q64, k64, v64 = (t.detach().double() for t in (q, k, v))
    torch.testing.assert_close(out.double(), attention_ref(q64, k64, v64, mask=keep), rtol=1e-5, atol=2e-6)
    torch.testing.assert_close(lse.double(), masked_lse(q64, k64, keep), rtol=1e-5, atol=2e-6)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    got = torch.autograd.grad(out, (q, k, v), dout)
    assert all(g.dtype == torch.float32 for g in got)
    for a, b in zip(got, autograd_grads(q64, k64, v64, keep, dout.double())):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    q, k, v = qkv(1, 2, 1, 17, 40, 16, seed=10, dtype=dtype)
    out, lse = flash_attention_ref(q, k, v, causal=True, block_q=8, block_k=16, return_lse=True)
    assert out.dtype == dtype and lse.dtype == torch.float32
    want = attention_ref(q.float(), k.float(), v.float(), causal=True)
    torch.testing.assert_close(out.float(), want, rtol=0, atol=float(torch.finfo(dtype).eps))


# ---------------------------------------------------------------- queries that see nothing


@pytest.mark.parametrize(
    "T, S, causal, window, empty_rows",
    [
        (20, 7, True, None, range(13)),  # query i sees keys j <= i - 13
        (10, 30, False, (2, 2), []),  # band: every query sees something
        (10, 30, True, (0, 0), []),  # only the diagonal
    ],
)
def test_rows_that_see_nothing_give_zeros_and_no_nan(T, S, causal, window, empty_rows):
    q, k, v = qkv(1, 2, 1, T, S, 16, seed=11, requires_grad=True)
    out, lse = flash_attention_ref(
        q, k, v, causal=causal, window=window, block_q=4, block_k=3, return_lse=True
    )
    empty = torch.zeros(T, dtype=torch.bool)
    empty[list(empty_rows)] = True
    assert torch.isfinite(out).all()
    assert (out[:, :, empty] == 0).all() and (out[:, :, ~empty].abs().sum(-1) > 0).all()
    assert torch.isneginf(lse[:, :, empty]).all() and torch.isfinite(lse[:, :, ~empty]).all()
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
    assert all(torch.isfinite(g).all() for g in (dq, dk, dv))
    assert (dq[:, :, empty] == 0).all()


def test_causal_diagonal_with_more_queries_than_keys():
    # T = 15, S = 5, causal with window (0, 0): query i sits at position i - 10 and sees that
    # key alone, so queries 0..9 see nothing and query 10 + j returns v[j] exactly.
    q, k, v = qkv(1, 2, 1, 15, 5, 8, seed=12, requires_grad=True)
    out, lse = flash_attention_ref(q, k, v, causal=True, window=(0, 0), block_q=3, block_k=2, return_lse=True)
    assert (out[:, :, :10] == 0).all() and torch.isneginf(lse[:, :, :10]).all()
    torch.testing.assert_close(out[:, :, 10:], v.expand(1, 2, 5, 8), rtol=0, atol=0)
    scale = 1 / math.sqrt(8)
    torch.testing.assert_close(lse[:, :, 10:], (q[:, :, 10:] * k).sum(-1) * scale, rtol=1e-12, atol=1e-12)
    dq, dk, dv = torch.autograd.grad(out.sum(), (q, k, v))
    # one visible key per row: the softmax is the constant 1, so only v gets a gradient
    torch.testing.assert_close(dq, torch.zeros_like(dq), rtol=0, atol=1e-12)
    torch.testing.assert_close(dk, torch.zeros_like(dk), rtol=0, atol=1e-12)
    torch.testing.assert_close(
        dv, torch.full_like(dv, 2.0), rtol=0, atol=0
    )  # two query heads read each value


def test_lse_is_not_differentiable_and_out_is():
    q, k, v = qkv(1, 1, 1, 5, 5, 8, seed=13, requires_grad=True)
    out, lse = flash_attention_ref(q, k, v, return_lse=True)
    assert out.requires_grad and not lse.requires_grad


# ---------------------------------------------------------------- bad input


def test_bad_input_raises_naming_the_argument():
    q, k, v = qkv(1, 4, 2, 8, 8, 16)
    cases = [
        (dict(block_q=0), ValueError, "block_q"),
        (dict(block_k=-3), ValueError, "block_k"),
        (dict(block_q=2.0), TypeError, "block_q"),
        (dict(block_k=True), TypeError, "block_k"),
        (dict(window=(-2, 3)), ValueError, "window left"),
        (dict(window=(3, -5)), ValueError, "window right"),
        (dict(window=(1, 2, 3)), TypeError, "window"),
        (dict(window=3), TypeError, "window"),
        (dict(window=(1.5, 2)), TypeError, "window left"),
        (dict(scale=float("nan")), ValueError, "scale"),
        (dict(scale="0.1"), TypeError, "scale"),
        (dict(causal=1), TypeError, "causal"),
    ]
    for kwargs, exc, name in cases:
        with pytest.raises(exc, match=name):
            flash_attention_ref(q, k, v, **kwargs)
    tensors = [
        ((q[0], k, v), ValueError, "q must have 4 dims"),
        ((q, k[0], v), ValueError, "k must have 4 dims"),
        ((q, k, v[..., 0]), ValueError, "v must have 4 dims"),
        ((q[:, :3], k, v), ValueError, "H_kv"),  # 3 query heads, 2 kv heads
        ((q, k[..., :8], v), ValueError, "head dim"),
        ((q[:, :, :0], k, v), ValueError, "q must hold"),
        ((q, k[:, :, :0], v[:, :, :0]), ValueError, "k and v must hold"),
        ((q[..., :0], k[..., :0], v), ValueError, "head dim D"),
        ((q.long(), k.long(), v.long()), TypeError, "q must be a floating-point"),
        ((q.float(), k, v), TypeError, "share a dtype"),
        ((q.numpy(), k, v), TypeError, "q must be a torch.Tensor"),
    ]
    for args, exc, msg in tensors:
        with pytest.raises(exc, match=msg):
            flash_attention_ref(*args)


def test_backward_bad_input_raises_naming_the_argument():
    q, k, v = qkv(1, 2, 1, 6, 7, 8)
    out, lse = flash_attention_ref(q, k, v, return_lse=True)
    with pytest.raises(ValueError, match="lse"):
        flash_attention_ref_backward(q, k, v, out, lse[..., :-1], out)
    with pytest.raises(ValueError, match="dout"):
        flash_attention_ref_backward(q, k, v, out, lse, out[:, :1])
    with pytest.raises(TypeError, match="out"):
        flash_attention_ref_backward(q, k, v, out.long(), lse, out)
    with pytest.raises(TypeError, match="dout must be a torch.Tensor"):
        flash_attention_ref_backward(q, k, v, out, lse, out.tolist())
    with pytest.raises(ValueError, match="block_k"):
        flash_attention_ref_backward(q, k, v, out, lse, out, block_k=0)


def test_tile_counts_and_memory_model_bad_input():
    with pytest.raises(ValueError, match="block_q"):
        tile_counts(8, 8, block_q=0)
    with pytest.raises(ValueError, match="S"):
        tile_counts(8, 0)
    with pytest.raises(ValueError, match="window right"):
        tile_counts(8, 8, window=(0, -2))
    with pytest.raises(TypeError, match="n"):
        memory_model(10.0)
    with pytest.raises(ValueError, match="n"):
        memory_table([0])


# ---------------------------------------------------------------- memory: naive against tiled


def test_memory_model():
    m = memory_model(1000, head_dim=40, block_q=32, block_k=16, bytes_per_element=2)
    assert m == {
        "score_matrix_bytes": 1000 * 1000 * 2,
        "tile_bytes": 32 * 16 * 2,
        "block_state_bytes": 32 * 42 * 2,
        "lse_bytes": 2000,
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak_rss_bytes reads Linux's /proc")
def test_memory_table_tiled_stays_below_one_score_matrix():
    (row,) = memory_table([768], repeats=2)
    assert row["n"] == 768 and row["score_matrix_bytes"] == 768 * 768 * 4
    assert row["naive_peak_bytes"] >= row["score_matrix_bytes"]  # attention_ref holds [n, n] scores
    # the tiled forward holds its output (n * 64 floats = 192 KiB) and small tiles, not [n, n]
    assert row["tiled_peak_bytes"] < row["score_matrix_bytes"] / 2
