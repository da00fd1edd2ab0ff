"""Eviction: keep rules against brute force; evicted decode == masked attention_ref; error vs budget."""

from __future__ import annotations

import pytest
import torch
from _helpers import random_qkv
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.attention import attention_ref
from longctx.kv.eviction import evicted_attention, eviction_error_table, h2o_keep, sink_keep


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 20), budget=st.integers(1, 20), data=st.data())
def test_sink_keep_brute_force(n, budget, data):
    n_sink = data.draw(st.integers(0, budget))
    keep = sink_keep(torch.arange(n), budget, n_sink)
    want = set(range(n)) if n <= budget else set(range(n_sink)) | set(range(n - (budget - n_sink), n))
    assert set(torch.nonzero(keep).flatten().tolist()) == want
    assert int(keep.sum()) == min(n, budget)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 20), budget=st.integers(1, 20), data=st.data())
def test_h2o_keep_brute_force(n, budget, data):
    recent = data.draw(st.integers(0, budget))
    scores = torch.tensor(data.draw(st.permutations(list(range(n)))), dtype=torch.float64)  # distinct scores
    keep = h2o_keep(scores, budget, recent)
    if n <= budget:
        want = set(range(n))
    else:
        old = sorted(range(n - recent), key=lambda j: -scores[j].item())[: budget - recent]
        want = set(old) | set(range(n - recent, n))
    assert set(torch.nonzero(keep).flatten().tolist()) == want
    assert int(keep.sum()) == min(n, budget)


@settings(max_examples=12, deadline=None)
@given(
    H_kv=st.integers(1, 2),
    group=st.integers(1, 2),
    T=st.integers(1, 13),
    D=st.sampled_from([3, 8]),
    budget=st.integers(1, 18),
    policy=st.sampled_from(["h2o", "sink"]),
    seed=st.integers(0, 10**6),
    data=st.data(),
)
def test_evicted_decode_is_masked_attention(H_kv, group, T, D, budget, policy, seed, data):
    q, k, v = random_qkv(1, H_kv * group, H_kv, T, T, D, seed=seed)
    n_sink = data.draw(st.integers(0, budget))
    out, kept = evicted_attention(q, k, v, policy=policy, budget=budget, n_sink=n_sink, return_kept=True)
    assert kept.shape == (1, H_kv, T, T)
    # each step reads itself and at most budget + 1 keys (budget kept + the new one), none from the future
    assert bool(kept.diagonal(dim1=-2, dim2=-1).all())
    assert bool((kept & ~torch.ones(T, T, dtype=torch.bool).tril()).sum() == 0)
    assert int(kept.sum(-1).max()) <= budget + 1
    mask = kept.repeat_interleave(group, dim=1)  # [B, H, T, T]
    torch.testing.assert_close(out, attention_ref(q, k, v, mask=mask), rtol=0, atol=1e-12)
    if budget >= T:  # nothing evicted: the full cache
        torch.testing.assert_close(out, attention_ref(q, k, v, causal=True), rtol=0, atol=1e-12)


def test_float32():
    q, k, v = random_qkv(1, 4, 2, 17, 17, 40, seed=3, dtype=torch.float32)
    out, kept = evicted_attention(q, k, v, budget=6, return_kept=True)
    assert out.dtype == torch.float32
    mask = kept.repeat_interleave(2, dim=1)
    want = attention_ref(q.double(), k.double(), v.double(), mask=mask)
    torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-5)


def test_error_zero_at_full_budget_and_grows_as_budget_shrinks():
    budgets = (16, 8, 2)
    tables = [
        eviction_error_table(T=16, D=8, H=2, H_kv=1, budgets=budgets, seed=s, n_sink=2) for s in range(2)
    ]
    for policy in ("h2o", "sink"):
        assert all(t[0][f"{policy}_max_err"] < 1e-12 for t in tables)
        mean = [sum(t[i][f"{policy}_mean_err"] for t in tables) / 2 for i in range(len(budgets))]
        assert mean[-1] > 10 * max(mean[0], 1e-15) and mean[-1] > 0.01
        assert all(b >= 0.9 * a for a, b in zip(mean, mean[1:]))  # non-strict and loose


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(budget=0), ValueError, "budget"),
        (dict(budget=-2), ValueError, "budget"),
        (dict(budget=1.5), TypeError, "budget"),
        (dict(budget=4, policy="lru"), ValueError, "policy"),
        (dict(budget=4, policy="sink", n_sink=5), ValueError, "n_sink"),
        (dict(budget=4, recent=5), ValueError, "recent"),
        (dict(budget=4, recent=-1), ValueError, "recent"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    q, k, v = random_qkv(1, 2, 1, 5, 5, 4, seed=0)
    with pytest.raises(exc, match=match):
        evicted_attention(q, k, v, **kwargs)


def test_bad_tensors():
    q, k, v = random_qkv(1, 3, 2, 5, 5, 4, seed=0)
    with pytest.raises(ValueError, match="multiple of H_kv"):
        evicted_attention(q, k, v, budget=2)
    q, k, v = random_qkv(1, 2, 1, 5, 5, 4, seed=0)
    with pytest.raises(ValueError, match="disagree"):
        evicted_attention(q, k[:, :, :3], v[:, :, :3], budget=2)
    with pytest.raises(ValueError, match="T >= 1"):
        evicted_attention(q[:, :, :0], k[:, :, :0], v[:, :, :0], budget=2)
    with pytest.raises(TypeError, match="k must be a floating"):
        evicted_attention(q, k.long(), v, budget=2)


def test_returns_the_output_alone_unless_kept_is_asked_for():
    q, k, v = random_qkv(1, 2, 1, 9, 9, 4, seed=7)
    out = evicted_attention(q, k, v, budget=4)
    assert isinstance(out, torch.Tensor)
    pair = evicted_attention(q, k, v, budget=4, return_kept=True)
    assert torch.equal(pair[0], out) and pair[1].shape == (1, 1, 9, 9)
    with pytest.raises(TypeError, match="return_kept"):
        evicted_attention(q, k, v, budget=4, return_kept=1)
