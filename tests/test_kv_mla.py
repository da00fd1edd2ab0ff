"""MLA: naive == absorbed == a per-head loop written here; cached decode == full forward; cache size."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.kv.mla import (
    MLACache,
    MLAConfig,
    init_mla,
    mla_absorbed,
    mla_cache_elements_per_token,
    mla_naive,
)


def rope_vec(x, pos, base=10000.0):
    D = x.shape[0]
    out = x.clone()
    for i in range(D // 2):
        a = pos * base ** (-2 * i / D)
        out[i] = x[i] * math.cos(a) - x[i + D // 2] * math.sin(a)
        out[i + D // 2] = x[i] * math.sin(a) + x[i + D // 2] * math.cos(a)
    return out


def loop_mla(cfg, p, x):
    """Per batch, head and query, in float64, straight from the paper's equations."""
    p = {n: w.double() for n, w in p.items()}
    x = x.double()
    B, T, _ = x.shape
    H, dn, dr, dv = cfg.n_heads, cfg.d_nope, cfg.d_rope, cfg.d_v
    out = torch.zeros(B, T, cfg.d_model, dtype=torch.float64)
    for b in range(B):
        c = [x[b, j] @ p["w_dkv"] for j in range(T)]
        kr = [rope_vec(x[b, j] @ p["w_kr"], j) for j in range(T)]
        kn = [c[j] @ p["w_uk"] for j in range(T)]  # all heads' keys without RoPE, [H*dn]
        vals = [c[j] @ p["w_uv"] for j in range(T)]  # [H*dv]
        for t in range(T):
            heads = []
            for h in range(H):
                qn = (x[b, t] @ p["w_q"])[h * dn : (h + 1) * dn]
                qr = rope_vec((x[b, t] @ p["w_qr"])[h * dr : (h + 1) * dr], t)
                s = torch.stack(
                    [
                        (qn @ kn[j][h * dn : (h + 1) * dn] + qr @ kr[j]) / math.sqrt(dn + dr)
                        for j in range(t + 1)
                    ]
                )
                w = torch.softmax(s, 0)
                heads.append(sum(w[j] * vals[j][h * dv : (h + 1) * dv] for j in range(t + 1)))
            out[b, t] = torch.cat(heads) @ p["w_o"]
    return out


cfgs = st.builds(
    MLAConfig,
    d_model=st.sampled_from([7, 16]),
    n_heads=st.integers(1, 3),
    d_c=st.sampled_from([1, 5, 12]),
    d_rope=st.sampled_from([2, 4]),
    d_nope=st.sampled_from([1, 3, 8]),
    d_v=st.sampled_from([1, 5]),
)


@settings(max_examples=15, deadline=None)
@given(cfg=cfgs, T=st.integers(1, 13), seed=st.integers(0, 10**6))
def test_naive_and_absorbed_match_loop(cfg, T, seed):
    p = init_mla(cfg, seed=seed)
    x = torch.randn(2, T, cfg.d_model, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    want = loop_mla(cfg, p, x)
    torch.testing.assert_close(mla_naive(cfg, p, x), want, rtol=0, atol=1e-10)
    torch.testing.assert_close(mla_absorbed(cfg, p, x), mla_naive(cfg, p, x), rtol=0, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(cfg=cfgs, T=st.integers(1, 17), data=st.data(), seed=st.integers(0, 10**6))
def test_cached_decode_equals_full_forward(cfg, T, data, seed):
    prefill = data.draw(st.integers(1, T))
    p = init_mla(cfg, seed=seed)
    x = torch.randn(1, T, cfg.d_model, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    full = mla_naive(cfg, p, x)
    for fn in (mla_naive, mla_absorbed):
        cache = MLACache()
        outs = [fn(cfg, p, x[:, :prefill], cache)] + [
            fn(cfg, p, x[:, t : t + 1], cache) for t in range(prefill, T)
        ]
        torch.testing.assert_close(torch.cat(outs, 1), full, rtol=0, atol=1e-10)
        assert cache.c_kv.shape == (1, T, cfg.d_c) and cache.k_rope.shape == (1, T, cfg.d_rope)
        assert cache.c_kv[0].numel() + cache.k_rope[0].numel() == T * mla_cache_elements_per_token(cfg)


def test_float32():
    cfg = MLAConfig(d_model=40, n_heads=3, d_c=17, d_rope=4, d_nope=40, d_v=24)
    p = init_mla(cfg, seed=2)
    x = torch.randn(2, 17, 40, dtype=torch.float64)
    want = loop_mla(cfg, p, x)
    p32 = {n: w.float() for n, w in p.items()}
    for fn in (mla_naive, mla_absorbed):
        got = fn(cfg, p32, x.float())
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


def test_deepseek_v2_cache_size():
    # DeepSeek-V2: kv_lora_rank 512, qk_rope_head_dim 64, 128 heads of 128 (arXiv:2405.04434)
    cfg = MLAConfig(d_model=5120, n_heads=128, d_c=512, d_rope=64, d_nope=128, d_v=128)
    assert mla_cache_elements_per_token(cfg) == 576
    mha = 2 * 128 * 128
    assert mha == 32768 and round(mha / 576, 1) == 56.9


def test_bad_inputs():
    with pytest.raises(ValueError, match="d_rope"):
        MLAConfig(d_rope=3)
    with pytest.raises(ValueError, match="d_c"):
        MLAConfig(d_c=0)
    cfg = MLAConfig()
    p = init_mla(cfg)
    with pytest.raises(ValueError, match="d_model"):
        mla_naive(cfg, p, torch.zeros(1, 2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must have 3 dims"):
        mla_absorbed(cfg, p, torch.zeros(2, 32, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a floating"):
        mla_naive(cfg, p, torch.zeros(1, 2, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="T >= 1"):
        mla_naive(cfg, p, torch.zeros(1, 0, 32, dtype=torch.float64))
