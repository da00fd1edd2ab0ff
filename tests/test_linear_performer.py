"""Feature maps and Performer (FAVOR+): positivity, the kernel estimate, seeds, error vs m."""

from __future__ import annotations

import math

import pytest
import torch

from longctx.attention import attention_ref
from longctx.linear import (
    FEATURE_MAPS,
    FavorFeatures,
    elu_feature,
    orthogonal_gaussian,
    performer_attention,
    performer_error_table,
    relative_error,
    relu_feature,
    resolve_feature_map,
)


def randn(*shape, seed, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


# ---------------------------------------------------------------- elu+1 and relu


def test_elu_and_relu_by_definition():
    x = randn(3, 7, 40, seed=1, scale=3.0)
    torch.testing.assert_close(elu_feature(x), torch.where(x > 0, x + 1, torch.exp(x)), rtol=1e-12, atol=0)
    assert (elu_feature(x) > 0).all()
    torch.testing.assert_close(relu_feature(x), x.clamp(min=0), rtol=0, atol=0)
    assert FEATURE_MAPS == {"elu": elu_feature, "relu": relu_feature}
    assert resolve_feature_map("elu") is elu_feature
    assert resolve_feature_map(relu_feature) is relu_feature


# ---------------------------------------------------------------- the random rows


@pytest.mark.parametrize("m, d", [(1, 1), (17, 5), (40, 40), (100, 16)])
def test_orthogonal_rows_within_each_block(m, d):
    w = orthogonal_gaussian(m, d, seed=3)
    assert w.shape == (m, d) and w.dtype == torch.float64
    unit = w / w.norm(dim=1, keepdim=True)
    for s in range(0, m, d):
        block = unit[s : s + d]  # [<=d, d]
        torch.testing.assert_close(
            block @ block.T, torch.eye(block.shape[0], dtype=torch.float64), rtol=0, atol=1e-12
        )


def test_row_lengths_are_chi_distributed():
    d = 8
    w = orthogonal_gaussian(8192, d, seed=4)
    sq = (w * w).sum(1)  # chi^2_d: mean d, variance 2d
    assert abs(sq.mean().item() - d) < 0.05 * d
    assert abs(sq.var().item() - 2 * d) < 0.15 * 2 * d
    # not all the same length: a plain orthogonal matrix would have unit rows
    assert sq.std() > 1.0


def test_iid_rows_are_not_orthogonal():
    w = orthogonal_gaussian(8, 8, seed=5, orthogonal=False)
    unit = w / w.norm(dim=1, keepdim=True)
    assert (unit @ unit.T - torch.eye(8, dtype=torch.float64)).abs().max() > 0.05


def test_seeds_reproducible_and_distinct():
    a, b = orthogonal_gaussian(20, 6, seed=7), orthogonal_gaussian(20, 6, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, orthogonal_gaussian(20, 6, seed=8))
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(orthogonal_gaussian(20, 6, generator=g1), orthogonal_gaussian(20, 6, generator=g2))
    # the generator advances: a second draw differs
    assert not torch.equal(orthogonal_gaussian(20, 6, generator=g1), orthogonal_gaussian(20, 6, seed=9))
    assert torch.equal(FavorFeatures(6, 20, seed=7).weights, a)
    q, k, v = (
        randn(1, 2, 9, 6, seed=1, scale=0.5),
        randn(1, 2, 9, 6, seed=2, scale=0.5),
        randn(1, 2, 9, 3, seed=3),
    )
    assert torch.equal(
        performer_attention(q, k, v, num_features=32, seed=7),
        performer_attention(q, k, v, num_features=32, seed=7),
    )
    assert not torch.equal(
        performer_attention(q, k, v, num_features=32, seed=7),
        performer_attention(q, k, v, num_features=32, seed=8),
    )


# ---------------------------------------------------------------- FAVOR+ features


def test_favor_features_positive_with_the_formula():
    f = FavorFeatures(40, 37, seed=11)
    x = randn(2, 3, 17, 40, seed=12)
    phi = f(x)
    assert phi.shape == (2, 3, 17, 37) and phi.dtype == torch.float64
    assert (phi > 0).all()
    i = (1, 2, 5)
    want = torch.tensor(
        [math.exp(float(f.weights[r] @ x[i]) - 0.5 * float(x[i] @ x[i])) / math.sqrt(37) for r in range(37)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(phi[i], want, rtol=1e-12, atol=0)
    assert f(x.float()).dtype == torch.float32
    assert repr(f) == "FavorFeatures(head_dim=40, num_features=37, orthogonal=True)"


@pytest.mark.parametrize("orthogonal", [True, False])
def test_favor_kernel_estimate_approximates_exp_dot(orthogonal):
    """phi(x).phi(y) is an unbiased estimate of exp(x.y); with 2**15 features it is close."""
    x, y = randn(6, 8, seed=21, scale=0.4), randn(6, 8, seed=22, scale=0.4)
    f = FavorFeatures(8, 2**15, seed=23, orthogonal=orthogonal)
    est = (f(x) * f(y)).sum(-1)  # [6]
    exact = torch.exp((x * y).sum(-1))
    # relative std per pair is sqrt((exp(|x+y|^2) - 1) / m), about 0.01 here: 0.06 is loose
    assert ((est - exact).abs() / exact).max() < 0.06


def test_favor_kernel_estimate_of_a_single_pair_is_unbiased():
    """Each block of d orthogonal features gives an independent unbiased estimate of exp(x.y)."""
    d, n_blocks = 5, 4000
    x, y = randn(d, seed=31, scale=0.5), randn(d, seed=32, scale=0.5)
    f = FavorFeatures(d, d * n_blocks, seed=33)
    terms = f(x) * f(y) * f.num_features  # [m]: m phi_i(x) phi_i(y), each with mean exp(x.y)
    ests = terms.reshape(n_blocks, d).mean(dim=1)  # [n_blocks], independent across blocks
    exact = math.exp(float(x @ y))
    # the mean of the block estimates sits within 5 standard errors of the truth
    assert abs(ests.mean().item() - exact) < 5 * ests.std().item() / math.sqrt(n_blocks)
    assert ests.std().item() > 0


# ---------------------------------------------------------------- Performer vs softmax attention


@pytest.mark.parametrize("causal", [False, True])
def test_performer_approximates_softmax_attention(causal):
    q, k, v = (
        randn(1, 2, 33, 16, seed=41, scale=0.5),
        randn(1, 2, 33, 16, seed=42, scale=0.5),
        randn(1, 2, 33, 8, seed=43),
    )
    exact = attention_ref(q, k, v, causal=causal)
    few = performer_attention(q, k, v, num_features=16, causal=causal, seed=0)
    many = performer_attention(q, k, v, num_features=8192, causal=causal, seed=0)
    assert relative_error(many, exact) < 0.1
    assert relative_error(many, exact) < relative_error(few, exact)


def test_performer_float32_and_gqa():
    q, k, v = (
        randn(1, 4, 20, 16, seed=51, scale=0.5),
        randn(1, 2, 20, 16, seed=52, scale=0.5),
        randn(1, 2, 20, 8, seed=53),
    )
    ref64 = performer_attention(q, k, v, num_features=64, seed=1, causal=True)
    got32 = performer_attention(q.float(), k.float(), v.float(), num_features=64, seed=1, causal=True)
    assert got32.dtype == torch.float32 and ref64.shape == (1, 4, 20, 8)
    torch.testing.assert_close(got32.double(), ref64, rtol=1e-4, atol=1e-5)


def test_error_table_shrinks_roughly_like_one_over_sqrt_m():
    rows = performer_error_table()
    ms = [r["num_features"] for r in rows]
    err = [r["mean_rel_error"] for r in rows]
    assert ms == [16, 32, 64, 128, 256, 512, 1024]
    assert all(
        r["seeds"] == 8 and r["min_rel_error"] <= r["mean_rel_error"] <= r["max_rel_error"] for r in rows
    )
    # loose: 1/sqrt(m) would divide the error by 8 from m = 16 to m = 1024; ask for 3
    assert err[-1] < err[0] / 3
    # quadrupling m always helps (doubling is allowed a little noise)
    assert all(err[i + 2] < err[i] for i in range(len(err) - 2))
    # the log-log slope is near -1/2 (honest bound: this input gives about -0.4)
    slope = math.log(err[-1] / err[0]) / math.log(ms[-1] / ms[0])
    assert -0.8 < slope < -0.3


def test_error_table_options():
    rows = performer_error_table((8, 64), seeds=[0, 1], seq_len=17, head_dim=5, causal=True, orthogonal=False)
    assert [r["num_features"] for r in rows] == [8, 64] and all(r["seeds"] == 2 for r in rows)
    assert all(0 < r["mean_rel_error"] < float("inf") for r in rows)


# ---------------------------------------------------------------- bad input


def test_bad_feature_arguments_name_the_argument():
    with pytest.raises(ValueError, match="num_features"):
        FavorFeatures(4, 0)
    with pytest.raises(TypeError, match="head_dim"):
        FavorFeatures(4.0, 8)
    with pytest.raises(TypeError, match="seed"):
        FavorFeatures(4, 8, seed="a")
    with pytest.raises(ValueError, match="seed must be None when a generator is given"):
        FavorFeatures(4, 8, seed=1, generator=torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        FavorFeatures(4, 8, generator=3)
    with pytest.raises(ValueError, match="head_dim"):
        FavorFeatures(4, 8)(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="x must be a floating"):
        FavorFeatures(4, 8)(torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="feature_map"):
        resolve_feature_map("favor")
    with pytest.raises(ValueError, match="m must be"):
        orthogonal_gaussian(0, 3)
    q = randn(1, 1, 4, 4, seed=0)
    with pytest.raises(ValueError, match="num_features"):
        performer_attention(q, q, q, num_features=-1)
    with pytest.raises(ValueError, match="q must have 4 dims"):
        performer_attention(q[0], q, q)
    with pytest.raises(ValueError, match="seeds"):
        performer_error_table(seeds=[])
    with pytest.raises(ValueError, match="input_std"):
        performer_error_table(input_std=0)
    with pytest.raises(ValueError, match="num_features"):
        performer_error_table(num_features=[])
