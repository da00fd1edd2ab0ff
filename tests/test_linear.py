"""Linear attention: parallel == recurrent == chunked, each against a float64 loop written here."""

from __future__ import annotations

import math

import pytest
import torch
from _helpers import random_qkv as qkv
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.linear import (
    FavorFeatures,
    linear_attention_chunked_ref,
    linear_attention_recurrent_ref,
    linear_attention_ref,
)

FORMS = {
    "parallel": linear_attention_ref,
    "recurrent": linear_attention_recurrent_ref,
    "chunked": linear_attention_chunked_ref,
}


# ---------------------------------------------------------------- an independent float64 loop


def elu_plus_one(x):
    return torch.where(x > 0, x + 1.0, torch.exp(x))


def relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def favor_by_hand(favor):
    """The FAVOR+ map written out from the package's random rows: exp(w.x - |x|^2/2) / sqrt(m)."""
    w = favor.weights  # [m, D] float64

    def phi(x):
        out = torch.empty(*x.shape[:-1], w.shape[0], dtype=torch.float64)
        for i in range(w.shape[0]):
            out[..., i] = torch.exp((x * w[i]).sum(-1) - 0.5 * (x * x).sum(-1))
        return out / math.sqrt(w.shape[0])

    return phi


def naive_linear(q, k, v, *, causal, phi, normalize):
    """One query at a time: weights phi(q_i).phi(k_j) over the keys it may see, in float64."""
    q, k, v = q.double(), k.double(), v.double()
    B, H, T, _ = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    fq, fk = phi(q), phi(k)  # [B, H, T, F], [B, H_kv, S, F]
    out = torch.zeros(B, H, T, Dv, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            hk = h // (H // H_kv)
            for i in range(T):
                n = i + 1 if causal else S
                w = fk[b, hk, :n] @ fq[b, h, i]  # [n]
                num = w @ v[b, hk, :n]  # [Dv]
                den = w.sum()
                if not normalize:
                    out[b, h, i] = num
                elif den != 0:
                    out[b, h, i] = num / den
    return out


def maps(name, D, seed):
    """(what the package is given, the test's own phi) for a feature-map name."""
    if name == "elu":
        return "elu", elu_plus_one
    if name == "relu":
        return "relu", relu
    favor = FavorFeatures(D, 3 + seed % 29, seed=seed)
    return favor, favor_by_hand(favor)


# ---------------------------------------------------------------- equivalence, float64


@settings(max_examples=30, deadline=None)
@given(
    T=st.integers(1, 70),
    S=st.integers(1, 70),
    C=st.integers(1, 70),
    D=st.integers(1, 12),
    Dv=st.integers(1, 9),
    group=st.sampled_from([1, 2]),
    causal=st.booleans(),
    normalize=st.booleans(),
    fmap=st.sampled_from(["elu", "relu", "favor"]),
    seed=st.integers(0, 2**20),
)
def test_forms_match_naive_float64(T, S, C, D, Dv, group, causal, normalize, fmap, seed):
    S = T if causal else S  # causal linear attention is defined for T == S
    # FAVOR+ inputs at the scale performer_attention uses; its features are sums of exponentials
    q, k, v = qkv(1, 2 * group, 2, T, S, D, Dv, seed=seed, mult=D**-0.25 if fmap == "favor" else 1.0)
    given_map, phi = maps(fmap, D, seed)
    want = naive_linear(q, k, v, causal=causal, phi=phi, normalize=normalize)
    kw = dict(causal=causal, feature_map=given_map, normalize=normalize)
    for name, form in FORMS.items():
        got = form(q, k, v, chunk_size=C, **kw) if name == "chunked" else form(q, k, v, **kw)
        assert got.shape == (1, 2 * group, T, Dv) and got.dtype == torch.float64, name
        assert torch.isfinite(got).all(), name
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("T", [1, 17, 63])
@pytest.mark.parametrize("C", [1, 5, 16, 64, 100])
def test_chunked_odd_sizes_head_dim_40(T, C):
    """Lengths that are multiples of no chunk size, head dim 40, Dv != D."""
    q, k, v = qkv(2, 2, 1, T, T, 40, 24, seed=T * 7 + C, mult=0.3)
    want = naive_linear(q, k, v, causal=True, phi=elu_plus_one, normalize=True)
    torch.testing.assert_close(
        linear_attention_chunked_ref(q, k, v, chunk_size=C), want, rtol=1e-10, atol=1e-12
    )
    torch.testing.assert_close(linear_attention_ref(q, k, v), want, rtol=1e-10, atol=1e-12)


def test_non_causal_t_differs_from_s():
    q, k, v = qkv(1, 3, 3, 17, 63, 40, 8, seed=5, mult=0.3)
    want = naive_linear(q, k, v, causal=False, phi=elu_plus_one, normalize=True)
    for name, form in FORMS.items():
        torch.testing.assert_close(
            form(q, k, v, causal=False), want, rtol=1e-10, atol=1e-12, msg=lambda m: f"{name}: {m}"
        )


def test_default_is_causal_elu_normalized():
    q, k, v = qkv(1, 1, 1, 9, 9, 4, 4, seed=2)
    want = naive_linear(q, k, v, causal=True, phi=elu_plus_one, normalize=True)
    torch.testing.assert_close(linear_attention_ref(q, k, v), want, rtol=1e-10, atol=1e-12)
    # the first query sees only the first key: its output is v_0 exactly
    torch.testing.assert_close(linear_attention_ref(q, k, v)[0, 0, 0], v[0, 0, 0], rtol=1e-12, atol=1e-12)


def test_callable_feature_map_is_used():
    q, k, v = qkv(1, 2, 2, 11, 11, 6, 5, seed=3)
    square = lambda x: x * x  # noqa: E731 - non-negative, D features
    want = naive_linear(q, k, v, causal=True, phi=square, normalize=True)
    for form in FORMS.values():
        torch.testing.assert_close(form(q, k, v, feature_map=square), want, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------- float32 / half


@pytest.mark.parametrize("fmap", ["elu", "relu"])
@pytest.mark.parametrize("causal", [True, False])
def test_float32_within_tolerance(fmap, causal):
    q, k, v = qkv(1, 2, 2, 63, 63, 40, 24, dtype=torch.float32, seed=11, mult=0.5)
    phi = elu_plus_one if fmap == "elu" else relu
    want = naive_linear(q, k, v, causal=causal, phi=phi, normalize=True)
    for name, form in FORMS.items():
        got = form(q, k, v, causal=causal, feature_map=fmap)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=2e-5, msg=lambda m: f"{name}: {m}")
    # chunked with a chunk size that does not divide 63
    got = linear_attention_chunked_ref(q, k, v, causal=causal, feature_map=fmap, chunk_size=10)
    torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=2e-5)


def test_float32_unnormalized_relative():
    q, k, v = qkv(1, 2, 2, 40, 40, 16, 16, dtype=torch.float32, seed=12)
    want = naive_linear(q, k, v, causal=True, phi=elu_plus_one, normalize=False)
    for form in FORMS.values():
        got = form(q, k, v, normalize=False).double()
        assert ((got - want).norm() / want.norm()) < 1e-5


def test_half_inputs_computed_in_float32_and_cast_back():
    q, k, v = qkv(1, 2, 1, 17, 17, 8, 8, dtype=torch.bfloat16, seed=13)
    want = naive_linear(q, k, v, causal=True, phi=elu_plus_one, normalize=True)
    for form in FORMS.values():
        got = form(q, k, v)
        assert got.dtype == torch.bfloat16
        torch.testing.assert_close(got.double(), want, rtol=1e-2, atol=1e-2)


# ---------------------------------------------------------------- zero denominators


@pytest.mark.parametrize("causal", [True, False])
def test_relu_query_that_misses_every_key_gives_zeros(causal):
    q, k, v = qkv(1, 1, 1, 8, 8, 4, 3, seed=14)
    q[0, 0, 2] = -1.0  # relu(q_2) == 0: weight 0 for every key
    q[0, 0, 5] = -torch.rand(4, dtype=torch.float64) - 0.1
    for name, form in FORMS.items():
        got = form(q, k, v, causal=causal, feature_map="relu")
        assert torch.isfinite(got).all(), name
        assert torch.equal(got[0, 0, 2], torch.zeros(3, dtype=torch.float64)), name
        assert torch.equal(got[0, 0, 5], torch.zeros(3, dtype=torch.float64)), name
        assert got[0, 0, [0, 1, 3, 4, 6, 7]].abs().sum() > 0, name


def test_eps_zeroes_rows_with_small_denominators():
    q, k, v = qkv(1, 1, 1, 6, 6, 3, 2, seed=15)
    full = linear_attention_ref(q, k, v)
    den = torch.tril(elu_plus_one(q[0, 0]) @ elu_plus_one(k[0, 0]).T).sum(-1)  # [T]
    eps = float(den.sort().values[2])  # the three smallest denominators fall under eps
    small = den <= eps
    for form in FORMS.values():
        got = form(q, k, v, eps=eps)[0, 0]
        assert torch.equal(got[small], torch.zeros_like(got[small]))
        torch.testing.assert_close(got[~small], full[0, 0][~small], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- bad input


def good():
    return qkv(1, 2, 1, 5, 5, 4, 3, seed=0)


@pytest.mark.parametrize("form", list(FORMS.values()), ids=list(FORMS))
def test_bad_inputs_name_the_argument(form):
    q, k, v = good()
    with pytest.raises(ValueError, match="feature_map"):
        form(q, k, v, feature_map="softmax")
    with pytest.raises(TypeError, match="feature_map"):
        form(q, k, v, feature_map=3)
    with pytest.raises(ValueError, match="feature_map"):
        form(q, k, v, feature_map=lambda x: x.sum(-1))  # drops the feature dim
    with pytest.raises(ValueError, match="same length for causal"):
        form(q, k[:, :, :4], v[:, :, :4], causal=True)
    with pytest.raises(TypeError, match="causal"):
        form(q, k, v, causal=1)
    with pytest.raises(TypeError, match="normalize"):
        form(q, k, v, normalize="yes")
    with pytest.raises(ValueError, match="eps"):
        form(q, k, v, eps=-1e-3)
    with pytest.raises(TypeError, match="eps"):
        form(q, k, v, eps="0")
    with pytest.raises(TypeError, match="feature_map"):
        form(q, k, v, feature_map=lambda x: (x > 0).long())
    calls = []

    def widening(x):  # D features on its first call, 2 D on its second
        calls.append(x)
        return torch.cat([x] * len(calls), dim=-1)

    with pytest.raises(
        ValueError, match=r"feature_map must give q and k the same number of features, got \d+ and \d+"
    ):
        form(q, k, v, feature_map=widening)
    with pytest.raises(ValueError, match="q must have 4 dims"):
        form(q[0], k, v)
    with pytest.raises(ValueError, match="v must have 4 dims"):
        form(q, k, v[0])
    with pytest.raises(TypeError, match="q must be a floating-point"):
        form(q.long(), k, v)
    with pytest.raises(TypeError, match="k must be a floating-point"):
        form(q, k.int(), v)
    with pytest.raises(TypeError, match="share a dtype"):
        form(q.float(), k, v)
    with pytest.raises(ValueError, match="head dim"):
        form(q, k[..., :3], v)
    with pytest.raises(ValueError, match="H_kv must divide q's heads"):
        form(q[:, :1], torch.cat([k, k], 1), torch.cat([v, v], 1))
    with pytest.raises(ValueError, match="at least one position"):
        form(q[:, :, :0], k[:, :, :0], v[:, :, :0], causal=False)


@pytest.mark.parametrize(
    "bad, err", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError), ("8", TypeError)]
)
def test_bad_chunk_size(bad, err):
    q, k, v = good()
    with pytest.raises(err, match="chunk_size"):
        linear_attention_chunked_ref(q, k, v, chunk_size=bad)
