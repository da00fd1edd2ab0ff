"""Decoder with a KV cache / rolling buffer / GQA against a float64 loop written here."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.attention import position_mask
from longctx.kv import (
    DecoderConfig,
    KVCache,
    RollingKVCache,
    decode,
    decoder_forward,
    gqa_to_mha,
    init_decoder,
    kv_elements_per_token,
    mha_to_gqa,
    repeat_kv,
)


def naive_rope(x, pos, base=10000.0):
    """x [D] at position pos, pair (i, i + D/2) rotated by pos * base**(-2i/D)."""
    D = x.shape[0]
    out = x.clone()
    for i in range(D // 2):
        a = pos * base ** (-2 * i / D)
        c, s = math.cos(a), math.sin(a)
        out[i] = x[i] * c - x[i + D // 2] * s
        out[i + D // 2] = x[i] * s + x[i + D // 2] * c
    return out


def naive_block(cfg, p, x):
    """Token by token, head by head: with window (left, 0), token t's head h reads keys j in [t - left, t]."""
    p = {n: w.double() for n, w in p.items()}
    x = x.double()
    B, T, _ = x.shape
    H, H_kv, D = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    out = x.clone()
    for b in range(B):
        hs = [x[b, t] / torch.sqrt((x[b, t] ** 2).mean() + 1e-6) * p["attn_norm"] for t in range(T)]
        qs = [(h @ p["wq"]).reshape(H, D) for h in hs]
        ks = [(h @ p["wk"]).reshape(H_kv, D) for h in hs]
        vs = [(h @ p["wv"]).reshape(H_kv, D) for h in hs]
        for t in range(T):
            lo = 0 if cfg.window is None else max(0, t - cfg.window[0])
            heads = []
            for h in range(H):
                g = h // (H // H_kv)
                qv = naive_rope(qs[t][h], t) if cfg.rope else qs[t][h]
                keys = [naive_rope(ks[j][g], j) if cfg.rope else ks[j][g] for j in range(lo, t + 1)]
                s = torch.stack([qv @ kj for kj in keys]) / math.sqrt(D)
                w = torch.softmax(s, dim=0)
                heads.append(sum(w[i] * vs[lo + i][g] for i in range(len(keys))))
            y = x[b, t] + torch.cat(heads) @ p["wo"]
            if cfg.d_ff:
                hm = y / torch.sqrt((y**2).mean() + 1e-6) * p["mlp_norm"]
                y = y + torch.nn.functional.silu(hm @ p["w_up"]) @ p["w_down"]
            out[b, t] = y
    return out


def rand(*shape, seed, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


configs = st.builds(
    lambda H_kv, group, D, window, d_ff, rope: DecoderConfig(
        d_model=12, n_heads=H_kv * group, n_kv_heads=H_kv, head_dim=D, window=window, d_ff=d_ff, rope=rope
    ),
    H_kv=st.integers(1, 3),
    group=st.integers(1, 3),
    D=st.sampled_from([2, 6, 10]),
    window=st.one_of(st.none(), st.integers(1, 9).map(lambda W: (W - 1, 0))),
    d_ff=st.sampled_from([0, 7]),
    rope=st.booleans(),
)


@settings(max_examples=20, deadline=None)
@given(cfg=configs, T=st.integers(1, 17), B=st.integers(1, 2), seed=st.integers(0, 10**6))
def test_forward_matches_naive_loop(cfg, T, B, seed):
    p = init_decoder(cfg, seed=seed)
    x = rand(B, T, cfg.d_model, seed=seed + 1)
    torch.testing.assert_close(decoder_forward(cfg, p, x), naive_block(cfg, p, x), rtol=0, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(cfg=configs, T=st.integers(1, 17), data=st.data(), seed=st.integers(0, 10**6))
def test_cached_decode_equals_full_forward(cfg, T, data, seed):
    prefill = data.draw(st.integers(1, T), label="prefill")
    rolling = cfg.window is not None and data.draw(st.booleans(), label="rolling")
    p = init_decoder(cfg, seed=seed)
    x = rand(2, T, cfg.d_model, seed=seed + 1)
    out, cache = decode(cfg, p, x, prefill=prefill, rolling=rolling)
    torch.testing.assert_close(out, decoder_forward(cfg, p, x), rtol=0, atol=1e-12)
    if rolling:
        W = cfg.window[0] + 1  # keys a query reads, itself included
        assert cfg.slots == W and cache.slots == W
        assert cache.k.shape == (2, cfg.n_kv_heads, W, cfg.head_dim)  # capped at W slots
        # slot i mod W holds token i, for the last min(T, W) tokens
        held = sorted(cache.slot_pos[cache.slot_pos >= 0].tolist())
        assert held == list(range(max(0, T - W), T))
        assert all(cache.slot_pos[t % W] == t for t in held)
    else:
        assert cache.k.shape == (2, cfg.n_kv_heads, T, cfg.head_dim)


def test_decode_float32_close_to_float64():
    cfg = DecoderConfig(d_model=40, n_heads=4, n_kv_heads=1, head_dim=10, window=(6, 0), d_ff=24)
    p64 = init_decoder(cfg, seed=3)
    p32 = {n: w.float() for n, w in p64.items()}
    x = rand(1, 21, 40, seed=4)
    want = naive_block(cfg, p64, x)
    for rolling in (False, True):
        out, _ = decode(cfg, p32, x.float(), prefill=5, rolling=rolling)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-5)


def test_rolling_buffer_memory_is_capped():
    cfg = DecoderConfig(d_model=8, n_heads=2, n_kv_heads=1, head_dim=4, window=(3, 0))  # 4 keys: 4 slots
    p = init_decoder(cfg)
    _, cache = decode(cfg, p, rand(1, 63, 8, seed=0), rolling=True)
    _, full = decode(cfg, p, rand(1, 63, 8, seed=0))
    assert cache.k.numel() * 63 == full.k.numel() * 4


@settings(max_examples=20, deadline=None)
@given(
    H_kv=st.integers(1, 3),
    group=st.integers(1, 4),
    T=st.integers(1, 17),
    seed=st.integers(0, 10**6),
    window=st.one_of(st.none(), st.integers(1, 5).map(lambda W: (W - 1, 0))),
)
def test_gqa_equals_mha_with_duplicated_kv_heads(H_kv, group, T, seed, window):
    cfg = DecoderConfig(d_model=16, n_heads=H_kv * group, n_kv_heads=H_kv, head_dim=4, window=window, d_ff=8)
    p = init_decoder(cfg, seed=seed)
    mha_cfg, mha_p = gqa_to_mha(cfg, p)
    assert mha_cfg.n_kv_heads == mha_cfg.n_heads == H_kv * group
    # the MHA weights, built by hand: key head h is GQA key head h // group
    for name in ("wk", "wv"):
        for h in range(cfg.n_heads):
            g = h // group
            assert torch.equal(mha_p[name][:, h * 4 : (h + 1) * 4], p[name][:, g * 4 : (g + 1) * 4])
    x = rand(2, T, 16, seed=seed + 1)
    torch.testing.assert_close(
        decoder_forward(cfg, p, x), decoder_forward(mha_cfg, mha_p, x), rtol=0, atol=1e-12
    )
    # mean-pooling the duplicated heads gives the GQA weights back
    back_cfg, back = mha_to_gqa(mha_cfg, mha_p, H_kv)
    assert back_cfg == cfg
    torch.testing.assert_close(back["wk"], p["wk"], rtol=0, atol=1e-15)
    assert kv_elements_per_token(mha_cfg) == group * kv_elements_per_token(cfg)


def test_mha_to_gqa_mean_pools():
    cfg = DecoderConfig(d_model=6, n_heads=4, n_kv_heads=4, head_dim=2)
    p = init_decoder(cfg, seed=5)
    _, g = mha_to_gqa(cfg, p, 2)
    want = (p["wk"][:, 0:2] + p["wk"][:, 2:4]) / 2  # heads 0 and 1 form group 0
    torch.testing.assert_close(g["wk"][:, 0:2], want, rtol=0, atol=1e-15)
    _, mqa = mha_to_gqa(cfg, p, 1)
    torch.testing.assert_close(
        mqa["wv"], sum(p["wv"][:, i : i + 2] for i in (0, 2, 4, 6)) / 4, rtol=0, atol=1e-15
    )


def test_repeat_kv():
    k = rand(2, 3, 5, 7, seed=0)
    r = repeat_kv(k, 4)
    assert r.shape == (2, 12, 5, 7)
    for h in range(12):
        assert torch.equal(r[:, h], k[:, h // 4])


def test_position_mask_naive():
    q_pos = torch.tensor([3, 7, 8])
    k_pos = torch.tensor([-1, 0, 5, 6, 7, 8, 2, 9])
    for W in (None, 1, 2, 4):  # W keys, the query itself included: window (W - 1, 0)
        m = position_mask(q_pos, k_pos, causal=True, window=None if W is None else (W - 1, 0))
        for i, qp in enumerate(q_pos.tolist()):
            for j, kp in enumerate(k_pos.tolist()):
                assert m[i, j] == (0 <= kp <= qp and (W is None or kp > qp - W))
    for left, right in ((-1, -1), (2, 1), (0, -1), (-1, 0)):  # not causal: any (left, right)
        m = position_mask(q_pos, k_pos, window=(left, right))
        for i, qp in enumerate(q_pos.tolist()):
            for j, kp in enumerate(k_pos.tolist()):
                assert m[i, j] == (
                    kp >= 0 and (left == -1 or kp >= qp - left) and (right == -1 or kp <= qp + right)
                )
    with pytest.raises(TypeError, match="q_pos"):
        position_mask(q_pos.double(), k_pos)
    with pytest.raises(TypeError, match="causal"):
        position_mask(q_pos, k_pos, causal=1)
    with pytest.raises(TypeError, match="window"):
        position_mask(q_pos, k_pos, window=4)


def test_kv_cache_grows():
    c = KVCache()
    k1, k2 = rand(1, 2, 3, 4, seed=1), rand(1, 2, 1, 4, seed=2)
    c.extend(k1, k1)
    k, v, pos = c.extend(k2, k2)
    assert torch.equal(k, torch.cat([k1, k2], 2)) and pos.tolist() == [0, 1, 2, 3] and c.length == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_heads=6, n_kv_heads=4), "n_kv_heads"),
        (dict(n_heads=0), "n_heads"),
        (dict(window=(-2, 0)), "window"),
        (dict(window=(3, -3)), "window"),
        (dict(head_dim=5), "head_dim"),
        (dict(d_ff=-1), "d_ff"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DecoderConfig(**kwargs)
    with pytest.raises(TypeError, match="d_model"):
        DecoderConfig(d_model=2.5)


def test_bad_inputs():
    cfg = DecoderConfig(d_model=8, n_heads=2, n_kv_heads=1, head_dim=4)
    p = init_decoder(cfg)
    with pytest.raises(ValueError, match="x must have 3 dims"):
        decoder_forward(cfg, p, torch.zeros(8, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a floating"):
        decoder_forward(cfg, p, torch.zeros(1, 2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="d_model"):
        decoder_forward(cfg, p, torch.zeros(1, 2, 9, dtype=torch.float64))
    with pytest.raises(ValueError, match="T >= 1"):
        decoder_forward(cfg, p, torch.zeros(1, 0, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="dtype"):
        decoder_forward(cfg, p, torch.zeros(1, 2, 8, dtype=torch.float32))
    with pytest.raises(ValueError, match="prefill"):
        decode(cfg, p, torch.zeros(1, 2, 8, dtype=torch.float64), prefill=3)
    with pytest.raises(ValueError, match="window"):
        decode(cfg, p, torch.zeros(1, 2, 8, dtype=torch.float64), rolling=True)
    with pytest.raises(ValueError, match="slots"):
        RollingKVCache(0)
    with pytest.raises(TypeError, match="slots"):
        RollingKVCache(4.0)
    with pytest.raises(ValueError, match="window"):
        decode(
            DecoderConfig(d_model=8, n_heads=2, n_kv_heads=1, head_dim=4, window=(-1, 0)),
            p,
            torch.zeros(1, 2, 8, dtype=torch.float64),
            rolling=True,
        )
    with pytest.raises(ValueError, match="group"):
        repeat_kv(torch.zeros(1, 1, 1, 1), 0)
    with pytest.raises(ValueError, match="n_kv_heads"):
        mha_to_gqa(DecoderConfig(d_model=8, n_heads=4, n_kv_heads=4, head_dim=2), p, 3)
    with pytest.raises(ValueError, match="MHA"):
        mha_to_gqa(cfg, p, 1)
    c = KVCache()
    with pytest.raises(ValueError, match="T >= 1"):
        c.extend(torch.zeros(1, 1, 0, 2), torch.zeros(1, 1, 0, 2))
    c.extend(torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 1, 2))
    with pytest.raises(ValueError, match="must match"):
        c.extend(torch.zeros(1, 2, 1, 2), torch.zeros(1, 2, 1, 2))
    with pytest.raises(TypeError, match="cfg"):
        init_decoder({"d_model": 8})


@pytest.mark.parametrize("cache", [KVCache, lambda: RollingKVCache(3)], ids=["contiguous", "rolling"])
def test_caches_refuse_chunks_they_cannot_hold(cache):
    c = cache()
    good = torch.zeros(1, 2, 2, 4, dtype=torch.float64)
    for bad in (good.tolist(), good.long(), good[0]):
        with pytest.raises(TypeError, match=r"k_new must be a 4-D floating-point torch.Tensor"):
            c.extend(bad, good)
        with pytest.raises(TypeError, match=r"v_new must be a 4-D floating-point torch.Tensor"):
            c.extend(good, bad)
    with pytest.raises(ValueError, match=r"k_new and v_new must agree on \[B, H_kv, T\] and dtype"):
        c.extend(good, good[:, :1])
    with pytest.raises(ValueError, match=r"k_new and v_new must agree"):
        c.extend(good, good.float())
    c.extend(good, good)
    with pytest.raises(ValueError, match="k_new must match the"):
        c.extend(torch.zeros(1, 2, 1, 5, dtype=torch.float64), torch.zeros(1, 2, 1, 5, dtype=torch.float64))
