"""attention_ref against a float64 loop written here, and against PyTorch's own SDPA."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from _helpers import random_qkv

from longctx.attention import attention_ref, causal_mask, softmax_ref


def naive_attention(q, k, v, *, causal=False, scale=None, mask=None):
    """One query row at a time, in float64; keys a query may not see are simply left out."""
    q, k, v = q.double(), k.double(), v.double()
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    if mask is not None:
        mask = mask.expand(B, H, T, S)
    out = torch.zeros(B, H, T, Dv, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            h_kv = h // (H // H_kv)  # GQA: consecutive query heads share one key/value head
            for i in range(T):
                scores = (k[b, h_kv] @ q[b, h, i]) * scale  # [S]
                visible = torch.ones(S, dtype=torch.bool)
                if causal:
                    visible &= torch.arange(S) <= i + (S - T)  # bottom-right alignment
                if mask is not None and mask.dtype == torch.bool:
                    visible &= mask[b, h, i]
                elif mask is not None:
                    scores = scores + mask[b, h, i].double()
                visible &= scores > -math.inf
                if not visible.any():
                    continue  # a query that sees nothing outputs zeros
                s = scores[visible]
                w = torch.exp(s - s.max())
                out[b, h, i] = (w / w.sum()) @ v[b, h_kv][visible]
    return out


qkv = partial(random_qkv, dtype=torch.float32)  # float32 unless a test names another dtype


def bottom_right(T, S):
    return torch.tensor([[j <= i + S - T for j in range(S)] for i in range(T)])


# ---------------------------------------------------------------- against the float64 loop


@pytest.mark.parametrize("T", [1, 17, 63])
@pytest.mark.parametrize("S", [1, 17, 63])
@pytest.mark.parametrize("H_kv", [4, 2, 1], ids=["mha", "gqa2", "mqa"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_matches_naive_float64(T, S, H_kv, causal):
    q, k, v = qkv(2, 4, H_kv, T, S, 40, 24, dtype=torch.float64, seed=T * 100 + S + H_kv)
    got = attention_ref(q, k, v, causal=causal)
    assert got.shape == (2, 4, T, 24) and got.dtype == torch.float64
    torch.testing.assert_close(got, naive_attention(q, k, v, causal=causal), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("T, S", [(17, 63), (63, 17), (40, 40)])
def test_float32_matches_naive_float64(T, S):
    q, k, v = qkv(1, 2, 1, T, S, 40, 40, seed=7)
    got = attention_ref(q, k, v, causal=True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), naive_attention(q, k, v, causal=True), rtol=1e-5, atol=1e-6)


def test_explicit_scale():
    q, k, v = qkv(1, 2, 2, 17, 33, 40, 40, dtype=torch.float64, seed=3)
    for scale in (0.05, 1.0, 3.0):
        torch.testing.assert_close(attention_ref(q, k, v, scale=scale), naive_attention(q, k, v, scale=scale))


@pytest.mark.parametrize("shape", [(17, 63), (1, 17, 63), (2, 1, 17, 63), (2, 4, 17, 63)])
def test_boolean_mask(shape):
    q, k, v = qkv(2, 4, 2, 17, 63, 40, 40, dtype=torch.float64, seed=11)
    gen = torch.Generator().manual_seed(5)
    mask = torch.rand(shape, generator=gen) > 0.4
    for causal in (False, True):
        want = naive_attention(q, k, v, causal=causal, mask=mask)
        torch.testing.assert_close(attention_ref(q, k, v, causal=causal, mask=mask), want)


def test_additive_mask():
    q, k, v = qkv(2, 4, 4, 17, 30, 40, 40, dtype=torch.float64, seed=12)
    gen = torch.Generator().manual_seed(6)
    bias = torch.randn(2, 1, 17, 30, generator=gen, dtype=torch.float64)
    bias[torch.rand(2, 1, 17, 30, generator=gen) < 0.3] = -math.inf
    torch.testing.assert_close(attention_ref(q, k, v, mask=bias), naive_attention(q, k, v, mask=bias))
    # An additive mask in float32 on float64 inputs is promoted, not rejected.
    torch.testing.assert_close(
        attention_ref(q, k, v, mask=bias.float()), naive_attention(q, k, v, mask=bias.float())
    )


def test_fully_masked_rows_give_zeros():
    q, k, v = qkv(1, 2, 1, 9, 12, 40, 40, dtype=torch.float64, seed=13)
    mask = torch.ones(9, 12, dtype=torch.bool)
    mask[3] = False
    bias = torch.zeros(9, 12, dtype=torch.float64)
    bias[5] = -math.inf
    for out in (attention_ref(q, k, v, mask=mask), attention_ref(q, k, v, mask=bias)):
        assert torch.isfinite(out).all()
    assert (attention_ref(q, k, v, mask=mask)[:, :, 3] == 0).all()
    assert (attention_ref(q, k, v, mask=bias)[:, :, 5] == 0).all()
    assert attention_ref(q, k, v, mask=mask)[:, :, 4].abs().sum() > 0


def test_causal_with_more_queries_than_keys_zeros_the_first_rows():
    T, S = 20, 7  # query i sees keys j <= i - 13: the first 13 queries see none
    q, k, v = qkv(1, 2, 2, T, S, 40, 40, seed=14)
    out = attention_ref(q, k, v, causal=True)
    assert torch.isfinite(out).all()
    assert (out[:, :, : T - S] == 0).all()
    assert (out[:, :, T - S :].abs().sum(-1) > 0).all()


def test_causal_last_query_sees_every_key():
    q, k, v = qkv(1, 1, 1, 5, 17, 40, 40, dtype=torch.float64, seed=15)
    last = attention_ref(q, k, v, causal=True)[:, :, -1]
    torch.testing.assert_close(last, attention_ref(q[:, :, -1:], k, v)[:, :, 0])


def test_gqa_equals_mha_with_repeated_heads():
    q, k, v = qkv(2, 6, 2, 17, 17, 40, 40, dtype=torch.float64, seed=16)
    k_rep = k[:, [h // 3 for h in range(6)]]  # query head h reads kv head h // (H // H_kv)
    v_rep = v[:, [h // 3 for h in range(6)]]
    torch.testing.assert_close(
        attention_ref(q, k, v, causal=True), attention_ref(q, k_rep, v_rep, causal=True)
    )


# ---------------------------------------------------------------- against torch SDPA


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("H_kv", [4, 2, 1])
def test_matches_sdpa_causal_square(dtype, tol, H_kv):
    q, k, v = qkv(2, 4, H_kv, 63, 63, 40, 40, dtype=dtype, seed=20 + H_kv)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=H_kv != 4)
    torch.testing.assert_close(attention_ref(q, k, v, causal=True), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("T, S", [(1, 63), (17, 63), (17, 17), (40, 41)])
def test_matches_sdpa_bottom_right_causal(dtype, tol, T, S):
    # SDPA's is_causal is top-left aligned when T != S, so the mask is passed explicitly
    # (T <= S: every query sees at least one key, where SDPA is defined).
    q, k, v = qkv(1, 4, 2, T, S, 40, 24, dtype=dtype, seed=T + S)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=bottom_right(T, S), enable_gqa=True)
    torch.testing.assert_close(attention_ref(q, k, v, causal=True), want, rtol=tol, atol=tol)


def test_matches_sdpa_fp16_within_tolerance():
    q, k, v = qkv(2, 4, 4, 63, 63, 40, 40, dtype=torch.float16, seed=30)
    got = attention_ref(q, k, v, causal=True)
    assert got.dtype == torch.float16
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    exact = naive_attention(q, k, v, causal=True)
    err_ref = (got.double() - exact).abs().max()
    err_sdpa = (want.double() - exact).abs().max()
    assert err_ref <= 2 * err_sdpa + 1e-3  # no worse than PyTorch's own fp16 result
    torch.testing.assert_close(got, want, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_dtype_is_preserved(dtype):
    q, k, v = qkv(1, 2, 1, 17, 33, 40, 24, dtype=dtype, seed=31)
    got = attention_ref(q, k, v, causal=True)
    assert got.dtype == dtype and got.shape == (1, 2, 17, 24)
    exact = naive_attention(q, k, v, causal=True)
    # Computed in float32, rounded once at the end: within a unit or two of the last place.
    eps = torch.finfo(dtype).eps
    assert (got.double() - exact).abs().max() <= 2 * eps * exact.abs().max()


# ---------------------------------------------------------------- pieces


@pytest.mark.parametrize("T, S", [(1, 1), (1, 9), (9, 1), (5, 5), (7, 12), (12, 7)])
def test_causal_mask_is_bottom_right(T, S):
    assert torch.equal(causal_mask(T, S), bottom_right(T, S))


@pytest.mark.parametrize("n", [1, 17, 63])
def test_softmax_ref_matches_float64_definition(n):
    gen = torch.Generator().manual_seed(n)
    x = torch.randn(3, 5, n, generator=gen, dtype=torch.float64) * 10
    e = torch.exp(x)
    torch.testing.assert_close(softmax_ref(x), e / e.sum(-1, keepdim=True))


def test_softmax_ref_all_minus_inf_rows_and_huge_values():
    x = torch.tensor([[-math.inf, -math.inf], [1e30, 1e30], [-1e30, 0.0]])
    y = softmax_ref(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, torch.tensor([[0.0, 0.0], [0.5, 0.5], [0.0, 1.0]]))


# ---------------------------------------------------------------- bad input


def good():
    return qkv(2, 4, 2, 5, 6, 8, 8, seed=40)


@pytest.mark.parametrize(
    "make, error, name",
    [
        (lambda q, k, v: (q[0], k, v), ValueError, "q"),
        (lambda q, k, v: (q, k[0], v), ValueError, "k"),
        (lambda q, k, v: (q, k, v[..., None]), ValueError, "v"),
        (lambda q, k, v: (q.numpy(), k, v), TypeError, "q"),
        (lambda q, k, v: (q, k.double(), v), TypeError, "dtype"),
        (lambda q, k, v: (q, k, v.half()), TypeError, "dtype"),
        (lambda q, k, v: (q.int(), k.int(), v.int()), TypeError, "q"),
        (lambda q, k, v: (q, k.to(torch.int64), v), TypeError, "k"),
        (lambda q, k, v: (q[:, :3], k, v), ValueError, "H_kv"),
        (lambda q, k, v: (q, k[:, :0], v[:, :0]), ValueError, "H_kv"),
        (lambda q, k, v: (q[:1], k, v), ValueError, "batch"),
        (lambda q, k, v: (q, k, v[:, :, :4]), ValueError, "k and v"),
        (lambda q, k, v: (q, k[:, :1], v), ValueError, "k and v"),
        (lambda q, k, v: (q, k[..., :4], v), ValueError, "head dim"),
    ],
)
def test_bad_tensors_are_refused(make, error, name):
    with pytest.raises(error, match=name):
        attention_ref(*make(*good()))


@pytest.mark.parametrize(
    "mask, error",
    [
        (torch.ones(5, 5, dtype=torch.bool), ValueError),
        (torch.ones(3, 4, 5, 6, dtype=torch.bool), ValueError),
        (torch.ones(6, 5, dtype=torch.bool), ValueError),
        (torch.ones(5, 6, dtype=torch.int64), TypeError),
        (torch.ones(5, 6, dtype=torch.uint8), TypeError),
        ([[True] * 6] * 5, TypeError),
    ],
)
def test_bad_masks_are_refused(mask, error):
    with pytest.raises(error, match="mask"):
        attention_ref(*good(), mask=mask)


@pytest.mark.parametrize("scale", [math.nan, math.inf, -math.inf])
def test_non_finite_scale_is_refused(scale):
    with pytest.raises(ValueError, match="scale"):
        attention_ref(*good(), scale=scale)


# ---------------------------------------------------------------- the calling convention


def loop_lse(q, k, keep, scale=None):
    """log-sum-exp of each row over the kept keys, one (i, j) at a time in float64."""
    q, k = q.double(), k.double()
    B, H, T, D = q.shape
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    out = torch.full((B, H, T), -math.inf, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            kv = h // (H // k.shape[1])
            for i in range(T):
                s = [float(q[b, h, i] @ k[b, kv, j]) * scale for j in range(k.shape[2]) if keep[i, j]]
                if s:
                    m = max(s)
                    out[b, h, i] = m + math.log(sum(math.exp(x - m) for x in s))
    return out


def window_loop(T, S, causal, window):
    left, right = window
    return torch.tensor(
        [
            [
                (left == -1 or j >= i + S - T - left)
                and (right == -1 or j <= i + S - T + right)
                and (not causal or j <= i + S - T)
                for j in range(S)
            ]
            for i in range(T)
        ]
    )


@pytest.mark.parametrize("T, S", [(1, 1), (13, 29), (29, 13), (17, 17)])
@pytest.mark.parametrize(
    "causal, window", [(False, (3, 2)), (True, (4, -1)), (False, (0, -1)), (True, (-1, 5)), (False, (-1, -1))]
)
def test_window_and_return_lse_match_the_definitions(T, S, causal, window):
    q, k, v = qkv(2, 4, 2, T, S, 11, 7, dtype=torch.float64, seed=T * S)
    keep = window_loop(T, S, causal, window)
    out, lse = attention_ref(q, k, v, causal=causal, window=window, return_lse=True)
    torch.testing.assert_close(out, naive_attention(q, k, v, mask=keep), rtol=1e-10, atol=1e-12)
    want = loop_lse(q, k, keep)
    assert torch.equal(lse.isinf(), want.isinf())
    torch.testing.assert_close(lse[want.isfinite()], want[want.isfinite()], rtol=1e-10, atol=1e-12)
    assert torch.equal(attention_ref(q, k, v, causal=causal, window=window), out)


@pytest.mark.parametrize("T, D", [(1, 5), (37, 19), (63, 40)])
def test_causal_equals_sdpa_is_causal_for_odd_square_sizes(T, D):
    q, k, v = qkv(3, 5, 5, T, T, D, D + 2, dtype=torch.float64, seed=T + D)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(attention_ref(q, k, v, causal=True), want, rtol=1e-12, atol=1e-12)


def test_sdpa_aligns_top_left_where_ours_aligns_bottom_right():
    q, k, v = qkv(1, 2, 2, 5, 9, 8, 8, dtype=torch.float64, seed=3)
    ours = attention_ref(q, k, v, causal=True)
    sdpa = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # query i sees keys j <= i
    top_left = torch.tensor([[j <= i for j in range(9)] for i in range(5)])
    torch.testing.assert_close(sdpa, attention_ref(q, k, v, mask=top_left), rtol=1e-12, atol=1e-12)
    assert (ours - sdpa).abs().max() > 1e-3  # the two conventions really differ for T != S


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(scale="0.5"), TypeError, "scale"),
        (dict(scale=True), TypeError, "scale"),
        (dict(scale=0.0), ValueError, "scale"),
        (dict(scale=-2.0), ValueError, "scale"),
        (dict(causal=1), TypeError, "causal"),
        (dict(causal=None), TypeError, "causal"),
        (dict(return_lse=1), TypeError, "return_lse"),
        (dict(window=4), TypeError, "window"),
        (dict(window=(3,)), TypeError, "window"),
        (dict(window=(2, -2)), ValueError, "window right"),
        (dict(window=(1.5, 0)), TypeError, "window left"),
    ],
)
def test_bad_options_are_refused_naming_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        attention_ref(*good(), **kwargs)
