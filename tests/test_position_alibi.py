"""ALiBi slopes and bias against the paper's rule written out here, attention against a float64 loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _helpers import random_qkv
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.position import alibi_attention, alibi_bias, alibi_slopes


def np_slopes(H):
    """Powers of two: 2^(-8i/H). Otherwise the 2^k slopes, then odd terms of the 2^(k+1) sequence."""
    n = 1
    while n * 2 <= H:
        n *= 2
    first = [2.0 ** (-8.0 * i / n) for i in range(1, n + 1)]
    extra = [2.0 ** (-8.0 * (2 * j + 1) / (2 * n)) for j in range(H - n)]
    return np.array(first + extra)


def test_eight_heads_are_halves():
    # the paper: for 8 heads the slopes are 1/2^1, 1/2^2, ..., 1/2^8
    np.testing.assert_array_equal(alibi_slopes(8).numpy(), [1 / 2**i for i in range(1, 9)])
    np.testing.assert_array_equal(alibi_slopes(1).numpy(), [1 / 256])


@pytest.mark.parametrize("H", [1, 2, 3, 5, 6, 7, 12, 16, 20, 24, 32, 40, 96])
def test_slopes_match_rule(H):
    got = alibi_slopes(H)
    assert got.shape == (H,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), np_slopes(H), rtol=1e-15)
    assert len(set(got.tolist())) == H  # every head its own slope
    if H & (H - 1) == 0:  # power of two: a geometric sequence with ratio 2^(-8/H)
        np.testing.assert_allclose(got[1:] / got[:-1], 2 ** (-8 / H), rtol=1e-14)


@pytest.mark.parametrize("T, S", [(1, 1), (17, 17), (5, 63), (1, 40)])
def test_bias_matches_formula(T, S):
    slopes = alibi_slopes(6)
    got = alibi_bias(slopes, T, S)
    assert got.shape == (6, T, S)
    want = np.zeros((6, T, S))
    for h in range(6):
        for i in range(T):
            for j in range(S):
                want[h, i, j] = -slopes[h].item() * ((i + S - T) - j)  # query i is position i + S - T
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-15)
    torch.testing.assert_close(alibi_bias(slopes, T), alibi_bias(slopes, T, T))


def naive_alibi(q, k, v):
    q, k, v = q.double(), k.double(), v.double()
    B, H, T, D = q.shape
    H_kv, S = k.shape[1], k.shape[2]
    m = np_slopes(H)
    out = torch.zeros(B, H, T, v.shape[3], dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            hk = h // (H // H_kv)
            for i in range(T):
                pos = i + S - T
                js = list(range(pos + 1))  # causal: keys at or before the query
                s = torch.stack([q[b, h, i] @ k[b, hk, j] / math.sqrt(D) - m[h] * (pos - j) for j in js])
                w = torch.softmax(s, 0)
                out[b, h, i] = w @ v[b, hk, js]
    return out


@settings(max_examples=20, deadline=None)
@given(
    B=st.integers(1, 2),
    H_kv=st.sampled_from([1, 2]),
    group=st.sampled_from([1, 3]),
    T=st.integers(1, 17),
    extra=st.integers(0, 9),
    D=st.sampled_from([1, 8, 40]),
    seed=st.integers(0, 2**16),
)
def test_attention_matches_loop(B, H_kv, group, T, extra, D, seed):
    H, S = H_kv * group, T + extra
    q, k, v = random_qkv(B, H, H_kv, T, S, D, 5, seed=seed)
    torch.testing.assert_close(alibi_attention(q, k, v), naive_alibi(q, k, v), rtol=1e-10, atol=1e-12)


def test_float32_close_to_float64():
    q, k, v = random_qkv(2, 4, 4, 63, 63, 40, seed=1)
    got = alibi_attention(q.float(), k.float(), v.float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), naive_alibi(q, k, v), rtol=1e-5, atol=2e-6)


def test_bias_changes_the_output():
    """The test above would not notice a bias of zero unless attention differs without it."""
    from longctx.attention import attention_ref

    q, k, v = random_qkv(1, 2, 2, 17, 17, 8, seed=2)
    assert (alibi_attention(q, k, v) - attention_ref(q, k, v, causal=True)).abs().max() > 1e-2


def test_bad_input_names_the_argument():
    s = alibi_slopes(4)
    q = torch.randn(1, 4, 3, 8)
    cases = [
        (lambda: alibi_slopes(0), ValueError, "num_heads"),
        (lambda: alibi_slopes(4.0), TypeError, "num_heads"),
        (lambda: alibi_bias(s.numpy(), 3), TypeError, "slopes"),
        (lambda: alibi_bias(s[None], 3), ValueError, "slopes"),
        (lambda: alibi_bias(s, 0), ValueError, "T"),
        (lambda: alibi_bias(s, 3, 2.0), TypeError, "S"),
        (lambda: alibi_attention(q[0], q, q), ValueError, "q must have 4 dims"),
        (lambda: alibi_attention(q, q[0], q), ValueError, "k must have 4 dims"),
        (lambda: alibi_attention(q.numpy(), q, q), TypeError, "q must be a torch.Tensor"),
        (lambda: alibi_attention(q, q[:, :, :0], q[:, :, :0]), ValueError, "q and k"),
        (lambda: alibi_attention(q, torch.randn(1, 3, 3, 8), torch.randn(1, 3, 3, 8)), ValueError, "H_kv"),
        (lambda: alibi_attention(q.long(), q.long(), q.long()), TypeError, "q must be a floating"),
    ]
    for call, exc, name in cases:
        with pytest.raises(exc, match=name):
            call()


def test_return_lse_is_the_log_sum_exp_of_the_biased_scores():
    torch.manual_seed(7)
    q, k, v = (torch.randn(2, 3, 9, 5, dtype=torch.float64) for _ in range(3))
    out, lse = alibi_attention(q, k, v, return_lse=True)
    assert torch.equal(out, alibi_attention(q, k, v))
    # written out here: the scaled scores, the slope * (j - i) bias, causal, then logsumexp
    slopes = alibi_slopes(3).to(torch.float64)
    i = torch.arange(9)[:, None]
    j = torch.arange(9)[None, :]
    scores = q @ k.transpose(-1, -2) / 5**0.5 + slopes[:, None, None] * (j - i)
    scores = scores.masked_fill(j > i, float("-inf"))
    torch.testing.assert_close(lse, torch.logsumexp(scores, dim=-1), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="return_lse"):
        alibi_attention(q, k, v, return_lse=1)
