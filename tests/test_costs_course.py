"""Tests of the course-wide formulas in ``longctx.costs``: backward FLOPs, HBM traffic, caches,
sliding windows, recurrent states, paging and the decode roofline.

Each formula is checked against an independent count: a FLOP counter on real autograd, an
algorithm that moves real tiles and tallies every HBM read and write, boolean masks counted
element by element, real caches and states from the sibling subpackages, explicit loops. The
claims ledger's numbers (/work/shared/claims.md, ids X6 ... X20) are reproduced from the
functions with the arithmetic written out beside them.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
import torch
from _helpers import random_qkv
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from longctx import costs
from longctx.attention import attention_ref
from longctx.kv import PagedKVCache
from longctx.sparse import sliding_window_mask
from longctx.ssm import selective_scan_ref, ssd_recurrent
from longctx.units import format_value

GB = 1e9


# ================================================================ backward / training FLOPs


def _counted_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("n, d, h", [(1, 8, 1), (17, 40, 3), (63, 16, 2), (33, 24, 4)])
def test_backward_without_recompute_matches_autograd_flop_count(n, d, h):
    # Naive attention through autograd: the backward of S = Q K^T and O = P V is four matmuls,
    # exactly the count with recompute=False. FlopCounterMode counts 2 FLOPs per multiply-add.
    q, k, v = random_qkv(1, h, h, n, n, d, seed=n * 100 + d, requires_grad=True)

    def forward():
        s = q @ k.transpose(-1, -2)
        return torch.softmax(s, dim=-1) @ v

    fwd = _counted_flops(forward)
    out = forward()
    bwd = _counted_flops(lambda: out.backward(torch.randn_like(out)))
    assert fwd == costs.attention_flops(n, d, heads=h)
    assert bwd == costs.attention_backward_flops(n, d, heads=h, recompute=False)
    # recomputing S = Q K^T costs one more forward-sized matmul
    assert costs.attention_backward_flops(n, d, heads=h) == bwd + fwd // 2
    assert costs.attention_train_flops(n, d, heads=h) == fwd + bwd + fwd // 2


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3000), d=st.integers(1, 512), h=st.integers(1, 128), causal=st.booleans())
def test_backward_counts_five_matmuls_over_the_kept_pairs(n, d, h, causal):
    pairs = n * (n + 1) // 2 if causal else n * n  # causal: query i sees keys 0..i
    one_matmul = 2 * pairs * d * h  # a multiply-add per kept (query, key, channel)
    # S (recomputed), dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q
    assert costs.attention_backward_flops(n, d, heads=h, causal=causal) == 5 * one_matmul
    assert costs.attention_backward_flops(n, d, heads=h, causal=causal, recompute=False) == 4 * one_matmul
    assert costs.attention_train_flops(n, d, heads=h, causal=causal) == 7 * one_matmul
    assert costs.attention_train_flops(n, d, heads=h, causal=causal, recompute=False) == 6 * one_matmul


def test_flashattention_benchmark_ratios():
    # FlashAttention's benchmarks count backward = 2.5 x forward and forward + backward = 3.5 x.
    fwd = costs.attention_flops(4096, 128, heads=32)
    assert costs.attention_backward_flops(4096, 128, heads=32) == Fraction(5, 2) * fwd
    assert costs.attention_train_flops(4096, 128, heads=32) == Fraction(7, 2) * fwd


def test_causal_backward_on_a_counted_mask():
    for n in (1, 2, 17, 63):
        kept = int(torch.ones(n, n, dtype=torch.bool).tril().sum())
        assert costs.attention_backward_flops(n, 8, causal=True) == 5 * 2 * kept * 8


# ================================================================ HBM traffic


class HBM:
    """Main memory that counts the elements read from it and written to it."""

    def __init__(self):
        self.read_elements = 0
        self.write_elements = 0
        self.read_stats = 0  # fp32 softmax statistics, counted apart
        self.write_stats = 0

    def read(self, t, stats=False):
        if stats:
            self.read_stats += t.numel()
        else:
            self.read_elements += t.numel()
        return t.clone()

    def write(self, t, stats=False):
        if stats:
            self.write_stats += t.numel()
        else:
            self.write_elements += t.numel()
        return t.clone()

    def bytes(self, bpe):
        return (self.read_elements + self.write_elements) * bpe + (self.read_stats + self.write_stats) * 4


def _qkv(n, d, seed):
    """q, k, v ``[n, d]``: one head of the shared builder's draws."""
    return tuple(t[0, 0] for t in random_qkv(1, 1, 1, n, n, d, seed=seed))


def _standard_attention(hbm, q, k, v):
    """Algorithm 0 of FlashAttention: three passes, S and P through HBM."""
    s = hbm.write(hbm.read(q) @ hbm.read(k).T / math.sqrt(q.shape[1]))
    p = hbm.write(torch.softmax(hbm.read(s), dim=-1))
    return hbm.write(hbm.read(p) @ hbm.read(v))


def _flash_q_outer(hbm, q, k, v, B):
    """FlashAttention-2's loop order: one query tile at a time, K and V streamed past it."""
    n, d = q.shape
    out = torch.empty_like(q)
    for i in range(0, n, B):
        qi = hbm.read(q[i : i + B])
        m = torch.full((qi.shape[0], 1), -math.inf, dtype=q.dtype)
        l = torch.zeros(qi.shape[0], 1, dtype=q.dtype)
        acc = torch.zeros_like(qi)
        for j in range(0, n, B):
            kj, vj = hbm.read(k[j : j + B]), hbm.read(v[j : j + B])
            s = qi @ kj.T / math.sqrt(d)
            m_new = torch.maximum(m, s.max(dim=-1, keepdim=True).values)
            p = torch.exp(s - m_new)
            scale = torch.exp(m - m_new)
            l = l * scale + p.sum(dim=-1, keepdim=True)
            acc = acc * scale + p @ vj
            m = m_new
        out[i : i + B] = hbm.write(acc / l)
        hbm.write((m + torch.log(l)).squeeze(1), stats=True)  # log-sum-exp for the backward
    return out


def _flash_kv_outer(hbm, q, k, v, B):
    """FlashAttention's Algorithm 1: one key tile at a time; Q, O, m, l re-read per key tile."""
    n, d = q.shape
    o_hbm = hbm.write(torch.zeros_like(q))
    l_hbm = hbm.write(torch.zeros(n, dtype=q.dtype), stats=True)
    m_hbm = hbm.write(torch.full((n,), -math.inf, dtype=q.dtype), stats=True)
    for j in range(0, n, B):
        kj, vj = hbm.read(k[j : j + B]), hbm.read(v[j : j + B])
        for i in range(0, n, B):
            qi, oi = hbm.read(q[i : i + B]), hbm.read(o_hbm[i : i + B])
            li, mi = hbm.read(l_hbm[i : i + B], stats=True), hbm.read(m_hbm[i : i + B], stats=True)
            s = qi @ kj.T / math.sqrt(d)
            m_blk = s.max(dim=-1).values
            p = torch.exp(s - m_blk[:, None])
            m_new = torch.maximum(mi, m_blk)
            l_new = torch.exp(mi - m_new) * li + torch.exp(m_blk - m_new) * p.sum(dim=-1)
            scale_old, scale_new = torch.exp(mi - m_new), torch.exp(m_blk - m_new)
            o_new = ((li * scale_old)[:, None] * oi + scale_new[:, None] * (p @ vj)) / l_new[:, None]
            o_hbm[i : i + B] = hbm.write(o_new)
            l_hbm[i : i + B] = hbm.write(l_new, stats=True)
            m_hbm[i : i + B] = hbm.write(m_new, stats=True)
    return o_hbm


def _reference(q, k, v):
    return attention_ref(q[None, None], k[None, None], v[None, None])[0, 0]


@settings(max_examples=15, deadline=None)
@given(
    n=st.sampled_from([1, 2, 17, 40, 63]),
    d=st.sampled_from([1, 8, 40]),
    block=st.integers(1, 20),
    bpe=st.sampled_from([1, 2, 4]),
    extra=st.integers(0, 3),
)
def test_flash_hbm_bytes_equal_a_tiled_run_that_counts_its_traffic(n, d, block, bpe, extra):
    sram = (4 * d * block + extra) * bpe  # room for four B x d tiles and a little spare
    assert costs.flash_attention_block_size(d, sram_bytes=sram, bytes_per_element=bpe) == block
    q, k, v = _qkv(n, d, seed=n * 1000 + d * 10 + block)
    want = _reference(q, k, v)
    for order, run in (("q_outer", _flash_q_outer), ("kv_outer", _flash_kv_outer)):
        hbm = HBM()
        got = run(hbm, q, k, v, min(block, n))
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)  # the tiles really compute attention
        assert costs.flash_attention_hbm_bytes(
            n, d, sram_bytes=sram, bytes_per_element=bpe, loop_order=order
        ) == hbm.bytes(bpe), order


@pytest.mark.parametrize("n, d", [(1, 1), (17, 40), (63, 8), (64, 64)])
@pytest.mark.parametrize("dtype", ["fp16", "fp32", 1])
def test_standard_hbm_bytes_equal_a_three_pass_run_that_counts_its_traffic(n, d, dtype):
    q, k, v = _qkv(n, d, seed=n + d)
    hbm = HBM()
    torch.testing.assert_close(_standard_attention(hbm, q, k, v), _reference(q, k, v), rtol=1e-12, atol=1e-12)
    bpe = {"fp16": 2, "fp32": 4, 1: 1}[dtype]
    assert costs.standard_attention_hbm_bytes(n, d, bytes_per_element=dtype) == hbm.bytes(bpe)
    assert costs.standard_attention_hbm_bytes(n, d, heads=3, bytes_per_element=dtype) == 3 * hbm.bytes(bpe)
    # without Q, K, V and O, only S and P: each written once and read once
    assert (
        costs.standard_attention_hbm_bytes(n, d, bytes_per_element=dtype, include_qkvo=False)
        == 4 * n * n * bpe
    )


def test_flash_traffic_approaches_eight_n2_d2_over_m():
    # Thm 2 of arXiv:2205.14135: Theta(N^2 d^2 / M). With K/V re-read per query tile the
    # constant is 8 (elements): T = 4nd/M tiles, each streaming 2nd elements.
    d, bpe, block = 64, 2, 64
    sram = 4 * d * block * bpe
    m_elements = sram // bpe
    for n in (2**14, 2**16, 2**18):
        bound = n * n * d * d / m_elements * bpe  # bytes
        ratio = costs.flash_attention_hbm_bytes(n, d, sram_bytes=sram) / bound
        assert 8 < ratio < 8 * (1 + 1.5 / (n / block)), (n, ratio)


def test_whole_sequence_in_sram_reads_and_writes_everything_once():
    # one tile: Q, K, V read once, O written once, plus the log-sum-exp
    n, d = 100, 16
    got = costs.flash_attention_hbm_bytes(n, d, sram_bytes=10**9, bytes_per_element="fp16")
    assert got == 4 * n * d * 2 + n * 4


def test_ledger_x20_standard_attention_traffic_at_8k():
    # X20: writing and re-reading S and P at n = 8K in fp16 (4 n^2 elements, 2 bytes each)
    s_and_p = costs.standard_attention_hbm_bytes(8192, 128, bytes_per_element="fp16", include_qkvo=False)
    assert s_and_p == 4 * 8192**2 * 2 == 536_870_912
    assert format_value(s_and_p, "gb") == "0.54 GB"
    assert round(s_and_p * 32 * 32 / GB) == 550  # x 32 heads x 32 layers
    assert format_value(s_and_p * 96 * 96, "tb") == "4.95 TB"  # x 96 heads x 96 layers


def test_ledger_x19_a100_sram():
    # X19 / E7: 192 KB per SM x 108 SMs = 20,736 KiB = 20.25 MiB, about 21.2 MB
    assert costs.sram_bytes("A100") == 192 * 1024
    total = costs.sram_bytes("A100", per_sm=False)
    assert total == 192 * 1024 * 108 == 20_736 * 1024
    assert total / 2**20 == 20.25 and round(total / 1e6, 1) == 21.2


def test_flash_moves_several_times_fewer_bytes_than_standard_on_an_a100_sm():
    # E15: "up to 9x fewer" HBM accesses; at d = 64 and 8K the A100 SM gives more than that.
    sm = costs.sram_bytes("A100")
    for d, low in ((64, 9), (128, 2.5)):
        standard = costs.standard_attention_hbm_bytes(8192, d)
        flash = costs.flash_attention_hbm_bytes(8192, d, sram_bytes=sm)
        # B = floor(192 * 1024 / 2 / (4 d)); T = ceil(8192 / B); 2nd + T * 2nd elements + n fp32
        block = 192 * 1024 // 2 // (4 * d)
        tiles = -(-8192 // block)
        assert flash == (2 * 8192 * d + tiles * 2 * 8192 * d) * 2 + 8192 * 4
        assert standard / flash > low


# ================================================================ KV cache per token


@settings(max_examples=30, deadline=None)
@given(
    layers=st.integers(1, 128),
    kv=st.integers(1, 128),
    d=st.integers(1, 256),
    dtype=st.sampled_from(["fp32", "fp16", "bf16", "fp8", "int8", "int4"]),
)
def test_kv_bytes_per_token_counts_one_k_and_one_v_vector(layers, kv, d, dtype):
    bpe = Fraction(costs.BYTES_PER_ELEMENT[dtype])
    elements = 0
    for _ in range(layers):  # per layer, per KV head: one key and one value vector of width d
        elements += kv * (d + d)
    got = costs.kv_cache_bytes_per_token(layers=layers, kv_heads=kv, head_dim=d, bytes_per_element=dtype)
    assert got == elements * bpe
    assert got * 37 == costs.kv_cache_bytes(
        layers=layers, kv_heads=kv, head_dim=d, tokens=37, bytes_per_element=dtype
    )


def test_mla_cache_matches_real_latent_cache_tensors():
    # build the per-layer cache DeepSeek-V2 keeps for a few tokens and count its elements
    layers, d_c, d_rope, tokens = 3, 12, 4, 5
    cache = [(torch.zeros(tokens, d_c), torch.zeros(tokens, d_rope)) for _ in range(layers)]
    elements = sum(c.numel() + r.numel() for c, r in cache)
    assert (
        costs.mla_cache_bytes(
            layers=layers, latent_dim=d_c, rope_dim=d_rope, tokens=tokens, bytes_per_element=1
        )
        == elements
    )
    assert (
        costs.mla_cache_bytes_per_token(
            layers=layers, latent_dim=d_c, rope_dim=d_rope, bytes_per_element="fp16"
        )
        == 2 * elements / tokens
    )
    assert costs.mla_cache_bytes_per_token(layers=2, latent_dim=7, rope_dim=0, bytes_per_element=1) == 14


def test_ledger_x6_llama2_70b_kv_cache():
    per_token = costs.kv_cache_bytes_per_token(layers=80, kv_heads=8, head_dim=128, bytes_per_element="fp16")
    assert per_token == 2 * 80 * 8 * 128 * 2 == 327_680 == 320 * 1024
    at = {
        n: costs.kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, tokens=n, bytes_per_element="fp16")
        for n in (4096, 8192, 32768, 131072)
    }
    assert [format_value(at[n], "gb") for n in (4096, 8192, 32768, 131072)] == [
        "1.34 GB",
        "2.68 GB",
        "10.74 GB",
        "42.95 GB",
    ]
    assert at[131072] == 40 * 2**30  # 40 GiB
    mha = {
        n: costs.kv_cache_bytes(layers=80, kv_heads=64, head_dim=128, tokens=n) for n in (4096, 8192, 32768)
    }
    assert [format_value(mha[n], "gb") for n in (4096, 8192, 32768)] == ["10.74 GB", "21.47 GB", "85.90 GB"]
    users = costs.kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, tokens=32768, batch=100)
    assert format_value(users, "tb") == "1.07 TB"  # 100 users x 32K


def test_ledger_x7_batch_for_128_gb_of_mha_cache():
    mha_8k = costs.kv_cache_bytes(layers=80, kv_heads=64, head_dim=128, tokens=8192, bytes_per_element="fp16")
    assert mha_8k == 2 * 80 * 64 * 128 * 8192 * 2
    assert round(128e9 / mha_8k, 1) == 6.0


def test_ledger_x8_gpt4_scale_guess():
    per_token = costs.kv_cache_bytes_per_token(layers=96, kv_heads=128, head_dim=128)
    assert per_token == 2 * 96 * 128 * 128 * 2 == 6_291_456
    assert format_value(per_token * 1000, "gb") == "6.29 GB"


def test_ledger_x9_gpt3():
    kv = costs.kv_cache_bytes(layers=96, kv_heads=96, head_dim=128, tokens=2048, bytes_per_element="fp16")
    assert kv == 2 * 96 * 96 * 128 * 2048 * 2 == 9_663_676_416
    assert format_value(kv, "gb") == "9.66 GB"
    assert format_value(costs.score_matrix_bytes(2048, heads=96), "gb") == "0.81 GB"  # one layer's scores
    assert costs.parameter_bytes(175e9, bytes_per_element="fp16") == 350e9


def test_ledger_x12_drill_d2_and_what_fits_in_24_gb():
    sizes = {kv: costs.kv_cache_bytes(layers=32, kv_heads=kv, head_dim=128, tokens=4096) for kv in (32, 4, 1)}
    assert sizes == {
        32: 2 * 32 * 32 * 128 * 4096 * 2,
        4: 2 * 32 * 4 * 128 * 4096 * 2,
        1: 2 * 32 * 1 * 128 * 4096 * 2,
    }
    assert (sizes[32], sizes[4], sizes[1]) == (2 * 2**30, 256 * 2**20, 64 * 2**20)
    fit = [costs.sequences_that_fit(memory_bytes=24e9, bytes_per_sequence=sizes[kv]) for kv in (32, 4, 1)]
    assert fit == [11, 89, 357]
    after_weights = [
        costs.sequences_that_fit(memory_bytes=24e9, bytes_per_sequence=sizes[kv], reserved_bytes=13.5e9)
        for kv in (32, 4, 1)
    ]
    assert after_weights == [4, 39, 156]


def test_ledger_x17_mla():
    elements = costs.mla_cache_bytes_per_token(layers=60, latent_dim=512, rope_dim=64, bytes_per_element=1)
    assert elements == 60 * (512 + 64) == 34_560
    mha_layer = costs.kv_cache_bytes_per_token(layers=1, kv_heads=128, head_dim=128, bytes_per_element=1)
    assert mha_layer == 2 * 128 * 128 == 32_768
    assert round(mha_layer / (512 + 64), 1) == 56.9
    dense_67b = costs.kv_cache_bytes_per_token(layers=95, kv_heads=8, head_dim=128, bytes_per_element=1)
    assert dense_67b == 2 * 95 * 8 * 128 == 194_560
    assert round(100 * (1 - elements / dense_67b), 1) == 82.2
    six_bit = costs.mla_cache_bytes_per_token(layers=60, latent_dim=512, rope_dim=64, bytes_per_element=6 / 8)
    sixteen = costs.kv_cache_bytes_per_token(layers=95, kv_heads=8, head_dim=128, bytes_per_element="bf16")
    assert round(100 * (1 - six_bit / sixteen), 2) == 93.34
    at_128k = costs.mla_cache_bytes(
        layers=60, latent_dim=512, rope_dim=64, tokens=131072, bytes_per_element="bf16"
    )
    assert at_128k == 34_560 * 131072 * 2 and format_value(at_128k, "gb") == "9.06 GB"


# ================================================================ sliding window


@pytest.mark.parametrize("n", [1, 2, 3, 17, 40, 63])
def test_window_pairs_equal_a_counted_boolean_band(n):
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    for w in range(0, n + 3):
        band = (i - j >= 0) & (i - j <= w)  # query i keeps keys i-w .. i
        assert costs.sliding_window_pairs(n, w) == int(band.sum()), (n, w)
        assert costs.sliding_window_pairs(n, w) == int(sliding_window_mask(n, n, (w, 0)).sum())


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 20_000), w=st.integers(0, 25_000), d=st.integers(1, 256), h=st.integers(1, 64))
def test_window_pairs_equal_a_loop_over_queries(n, w, d, h):
    pairs = sum(min(i, w) + 1 for i in range(n))
    assert costs.sliding_window_pairs(n, w) == pairs
    assert costs.sliding_window_flops(n, d, w, heads=h) == 4 * pairs * d * h
    assert pairs <= n * (w + 1)


def test_full_window_is_causal_attention_and_zero_window_is_the_diagonal():
    for n in (1, 5, 64, 1000):
        assert costs.sliding_window_flops(n, 32, n - 1, heads=3) == costs.attention_flops(
            n, 32, heads=3, causal=True
        )
        assert costs.sliding_window_flops(n, 32, 10 * n, heads=3) == costs.attention_flops(
            n, 32, heads=3, causal=True
        )
        assert costs.sliding_window_pairs(n, 0) == n


@pytest.mark.parametrize("layers, w", [(1, 1), (2, 3), (3, 2), (5, 3), (4, 0)])
def test_receptive_field_equals_the_reach_of_stacked_band_masks(layers, w):
    n = layers * w + 8
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    band = ((i - j >= 0) & (i - j <= w)).double()
    reach = torch.linalg.matrix_power(band, layers) > 0  # who the last layer's output depends on
    last = n - 1
    farthest_back = last - int(torch.nonzero(reach[last]).min())
    assert costs.sliding_window_receptive_field(layers=layers, window=w) == farthest_back == layers * w


def test_ledger_x13_receptive_fields_and_rolling_buffer():
    assert costs.sliding_window_receptive_field(layers=12, window=128) == 12 * 128 == 1536
    assert costs.sliding_window_receptive_field(layers=32, window=4095) == 32 * 4095 == 131_040
    full = costs.kv_cache_bytes(layers=32, kv_heads=8, head_dim=128, tokens=32768)
    rolling = costs.rolling_buffer_kv_bytes(slots=4096, layers=32, kv_heads=8, head_dim=128)
    assert rolling == 2 * 4096 * 32 * 8 * 128 * 2
    assert full / rolling == 32768 / 4096 == 8


def test_rolling_buffer_bytes_match_a_rolling_cache_of_real_tensors():
    from longctx.kv import RollingKVCache

    W, H_kv, D = 5, 2, 3
    cache = RollingKVCache(W)
    g = torch.Generator().manual_seed(0)
    for _ in range(13):  # more tokens than slots: the buffer stops growing at W
        cache.extend(torch.randn(1, H_kv, 1, D, generator=g), torch.randn(1, H_kv, 1, D, generator=g))
    k, v = cache.k, cache.v
    elements = k.numel() + v.numel()
    assert (
        costs.rolling_buffer_kv_bytes(slots=W, layers=1, kv_heads=H_kv, head_dim=D, bytes_per_element=1)
        == elements
    )


# ================================================================ recurrent states


@pytest.mark.parametrize("dk, dv, h, layers", [(1, 1, 1, 1), (16, 40, 3, 2), (7, 5, 4, 3)])
def test_linear_attention_state_matches_real_state_tensors(dk, dv, h, layers):
    g = torch.Generator().manual_seed(dk * dv)
    total_norm = total_plain = 0
    for _ in range(layers):
        phi_k = torch.rand(1, h, 9, dk, generator=g)  # [B, H, S, F]
        v = torch.randn(1, h, 9, dv, generator=g)  # [B, H, S, Dv]
        state = phi_k.transpose(-1, -2) @ v  # [B, H, F, Dv]
        z = phi_k.sum(dim=2)  # [B, H, F]
        total_norm += state.numel() + z.numel()
        total_plain += state.numel()
    assert (
        costs.linear_attention_state_elements(key_dim=dk, value_dim=dv, heads=h, layers=layers) == total_norm
    )
    assert (
        costs.linear_attention_state_elements(
            key_dim=dk, value_dim=dv, heads=h, layers=layers, normalizer=False
        )
        == total_plain
    )


@pytest.mark.parametrize("d_inner, N, L", [(1, 1, 1), (6, 4, 17), (5, 16, 3)])
def test_mamba_state_matches_the_selective_scan_state(d_inner, N, L):
    g = torch.Generator().manual_seed(d_inner * N)
    u = torch.randn(2, d_inner, L, generator=g)
    delta = torch.rand(2, d_inner, L, generator=g)
    A = -torch.rand(d_inner, N, generator=g)
    B, C = torch.randn(2, N, L, generator=g), torch.randn(2, N, L, generator=g)
    _, state = selective_scan_ref(u, delta, A, B, C, return_last_state=True)
    per_sequence = state.numel() // 2  # batch of 2
    assert costs.mamba_state_elements(d_inner=d_inner, state_dim=N) == per_sequence
    assert costs.mamba_state_elements(d_inner=d_inner, state_dim=N, layers=4) == 4 * per_sequence
    assert costs.state_bytes(per_sequence, batch=2) == state.numel() * 4  # fp32 by default


@pytest.mark.parametrize("H, P, N, L", [(1, 1, 1, 1), (4, 8, 16, 17), (2, 40, 3, 5)])
def test_mamba2_state_matches_the_ssd_state(H, P, N, L):
    g = torch.Generator().manual_seed(H * P * N)
    x = torch.randn(1, L, H, P, generator=g)
    dt = torch.rand(1, L, H, generator=g)
    A = -torch.rand(H, generator=g) - 0.1
    B, C = torch.randn(1, L, 1, N, generator=g), torch.randn(1, L, 1, N, generator=g)
    _, state = ssd_recurrent(x, dt, A, B, C, return_final_state=True)
    assert costs.mamba2_state_elements(heads=H, head_dim=P, state_dim=N) == state.numel()
    assert costs.mamba2_state_elements(heads=H, head_dim=P, state_dim=N, layers=3) == 3 * state.numel()
    assert costs.state_bytes(state.numel(), bytes_per_element="bf16") == 2 * state.numel()


# ================================================================ paged KV cache


@settings(max_examples=20, deadline=None)
@given(lengths=st.lists(st.integers(1, 50), min_size=1, max_size=8), block=st.integers(1, 12))
def test_paged_slots_equal_the_blocks_a_real_paged_cache_takes(lengths, block):
    cache = PagedKVCache(
        num_blocks=sum(-(-n // block) for n in lengths) + 2,
        block_size=block,
        n_kv_heads=1,
        head_dim=1,
        dtype=torch.float32,
    )
    for seq, n in enumerate(lengths):
        cache.append(seq, torch.zeros(1, n, 1), torch.zeros(1, n, 1))
    taken = sum(len(t) for t in cache.block_tables.values())
    assert costs.paged_kv_slots(lengths, block_size=block) == taken * block
    max_len = max(lengths) + 3
    waste = costs.kv_allocation_waste(lengths, max_len=max_len, block_size=block)
    used = sum(lengths)
    assert waste["used"] == used
    assert waste["contiguous_slots"] == len(lengths) * max_len
    assert waste["paged_slots"] == taken * block
    assert math.isclose(waste["contiguous_waste"], 1 - used / (len(lengths) * max_len), rel_tol=1e-15)
    assert math.isclose(waste["paged_waste"], 1 - used / (taken * block), rel_tol=1e-15, abs_tol=1e-15)
    assert waste["paged_slots"] - used < len(lengths) * block  # each request wastes less than one block


@pytest.mark.parametrize("block", [1, 2, 7, 16])
def test_expected_paged_waste_is_the_mean_over_a_full_period_of_lengths(block):
    lengths = range(1, 3 * block + 1)  # every remainder equally often
    empty = [-(-n // block) * block - n for n in lengths]
    assert costs.paged_expected_waste_slots(block) == Fraction(sum(empty), len(empty))
    assert max(empty) == block - 1


# ================================================================ roofline and decode


@settings(max_examples=30, deadline=None)
@given(
    flops=st.floats(0, 1e18), nbytes=st.floats(0, 1e13), peak=st.floats(1e9, 1e16), bw=st.floats(1e9, 1e13)
)
def test_roofline_is_the_slower_of_compute_and_memory(flops, nbytes, peak, bw):
    t = costs.roofline_time_s(flops, nbytes, peak, bw)
    assert t == max(flops / peak, nbytes / bw)
    if nbytes > 0:
        intensity = costs.arithmetic_intensity_flops_per_byte(flops, nbytes)
        if intensity < costs.ridge_point_flops_per_byte(peak, bw):  # memory-bound
            assert t == nbytes / bw


def test_decode_time_per_token_is_bytes_over_bandwidth():
    rng = random.Random(7)
    for _ in range(50):
        w, kv, bw = rng.uniform(1e9, 4e11), rng.uniform(0, 1e11), rng.uniform(1e11, 5e12)
        assert (
            costs.decode_time_per_token_s(weight_bytes=w, kv_bytes=kv, bandwidth_bytes_per_s=bw)
            == (w + kv) / bw
        )
    # Llama-2-70B on an A100 80GB: weights (70e9 fp16) plus a 4K cache, memory-bound
    weights = costs.parameter_bytes(70e9)
    kv = costs.kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, tokens=4096)
    bw = costs.hbm_bandwidth_bytes_per_s("A100 80GB")
    t = costs.decode_time_per_token_s(weight_bytes=weights, kv_bytes=kv, bandwidth_bytes_per_s=bw)
    assert t == (70e9 * 2 + 2 * 80 * 8 * 128 * 4096 * 2) / 2.039e12
    flops = 2 * 70e9  # about 2 FLOPs per weight per token
    assert costs.roofline_time_s(flops, weights + kv, costs.peak_flops_per_s("A100"), bw) == t


def test_gpu_tables_are_sourced():
    assert (
        costs.ridge_point_flops_per_byte(costs.peak_flops_per_s("A100"), costs.hbm_bandwidth_bytes_per_s())
        == 312e12 / 2.039e12
    )
    for table in (costs.GPU_HBM_BANDWIDTH_BYTES_PER_S, costs.GPU_PEAK_FLOPS_PER_S):
        for name, (value, source) in table.items():
            assert value > 0 and name.split()[0] in source
    for per_sm, count, source in costs.GPU_SRAM.values():
        assert per_sm > 0 and count > 0 and "arXiv:" in source


@pytest.mark.parametrize(
    "mem, per, reserved", [(24e9, 1e9, 0), (10, 3, 1), (5, 7, 0), (5, 1, 9), (100, 0.5, 1.5)]
)
def test_sequences_that_fit_by_counting(mem, per, reserved):
    count = 0
    while reserved + (count + 1) * per <= mem:
        count += 1
    assert (
        costs.sequences_that_fit(memory_bytes=mem, bytes_per_sequence=per, reserved_bytes=reserved) == count
    )


# ================================================================ bad input

BAD = [
    (lambda v: costs.attention_backward_flops(v, 8), 0, ValueError, "seq_len"),
    (lambda v: costs.attention_backward_flops(8, v), 2.0, TypeError, "head_dim"),
    (lambda v: costs.attention_backward_flops(8, 8, recompute=v), 1, TypeError, "recompute"),
    (lambda v: costs.attention_train_flops(8, 8, heads=v), -1, ValueError, "heads"),
    (lambda v: costs.attention_train_flops(8, 8, causal=v), "yes", TypeError, "causal"),
    (lambda v: costs.standard_attention_hbm_bytes(v, 8), 0, ValueError, "seq_len"),
    (lambda v: costs.standard_attention_hbm_bytes(8, 8, include_qkvo=v), None, TypeError, "include_qkvo"),
    (
        lambda v: costs.standard_attention_hbm_bytes(8, 8, bytes_per_element=v),
        "fp12",
        ValueError,
        "bytes_per_element",
    ),
    (lambda v: costs.flash_attention_hbm_bytes(8, 8, sram_bytes=v), 0, ValueError, "sram_bytes"),
    (lambda v: costs.flash_attention_hbm_bytes(8, 8, sram_bytes=v), 4 * 8 * 2 - 1, ValueError, "sram_bytes"),
    (lambda v: costs.flash_attention_hbm_bytes(8, 8, sram_bytes=v), "192KB", TypeError, "sram_bytes"),
    (lambda v: costs.flash_attention_hbm_bytes(8, 8, sram_bytes=v), float("inf"), ValueError, "sram_bytes"),
    (
        lambda v: costs.flash_attention_hbm_bytes(8, 8, sram_bytes=4096, loop_order=v),
        "kv",
        ValueError,
        "loop_order",
    ),
    (lambda v: costs.flash_attention_block_size(v, sram_bytes=4096), 0, ValueError, "head_dim"),
    (lambda v: costs.sram_bytes(v), "H100", ValueError, "gpu"),
    (lambda v: costs.sram_bytes(per_sm=v), 0, TypeError, "per_sm"),
    (lambda v: costs.hbm_bandwidth_bytes_per_s(v), "A100", ValueError, "gpu"),
    (lambda v: costs.peak_flops_per_s(v), None, ValueError, "gpu"),
    (lambda v: costs.kv_cache_bytes_per_token(layers=v, kv_heads=1, head_dim=1), 0, ValueError, "layers"),
    (lambda v: costs.kv_cache_bytes_per_token(layers=1, kv_heads=v, head_dim=1), True, TypeError, "kv_heads"),
    (
        lambda v: costs.mla_cache_bytes_per_token(layers=1, latent_dim=v, rope_dim=1),
        0,
        ValueError,
        "latent_dim",
    ),
    (
        lambda v: costs.mla_cache_bytes_per_token(layers=1, latent_dim=1, rope_dim=v),
        -1,
        ValueError,
        "rope_dim",
    ),
    (
        lambda v: costs.mla_cache_bytes_per_token(layers=1, latent_dim=1, rope_dim=v),
        1.5,
        TypeError,
        "rope_dim",
    ),
    (lambda v: costs.mla_cache_bytes(layers=1, latent_dim=1, rope_dim=1, tokens=v), 0, ValueError, "tokens"),
    (lambda v: costs.sliding_window_pairs(8, v), -1, ValueError, "window"),
    (lambda v: costs.sliding_window_pairs(8, v), 2.5, TypeError, "window"),
    (lambda v: costs.sliding_window_pairs(v, 2), 0, ValueError, "seq_len"),
    (lambda v: costs.sliding_window_flops(8, v, 2), 0, ValueError, "head_dim"),
    (lambda v: costs.sliding_window_receptive_field(layers=v, window=4), 0, ValueError, "layers"),
    (lambda v: costs.sliding_window_receptive_field(layers=2, window=v), -4, ValueError, "window"),
    (
        lambda v: costs.rolling_buffer_kv_bytes(slots=v, layers=1, kv_heads=1, head_dim=1),
        0,
        ValueError,
        "slots",
    ),
    (lambda v: costs.linear_attention_state_elements(key_dim=v, value_dim=1), 0, ValueError, "key_dim"),
    (lambda v: costs.linear_attention_state_elements(key_dim=1, value_dim=v), None, TypeError, "value_dim"),
    (
        lambda v: costs.linear_attention_state_elements(key_dim=1, value_dim=1, normalizer=v),
        1,
        TypeError,
        "normalizer",
    ),
    (lambda v: costs.mamba_state_elements(d_inner=v, state_dim=16), 0, ValueError, "d_inner"),
    (lambda v: costs.mamba_state_elements(d_inner=4, state_dim=v), -16, ValueError, "state_dim"),
    (lambda v: costs.mamba2_state_elements(heads=v, head_dim=64, state_dim=16), 0, ValueError, "heads"),
    (lambda v: costs.state_bytes(v), 0, ValueError, "elements"),
    (lambda v: costs.contiguous_kv_slots([3, 9], max_len=v), 8, ValueError, "lengths"),
    (lambda v: costs.contiguous_kv_slots(v, max_len=8), [], ValueError, "lengths"),
    (lambda v: costs.contiguous_kv_slots(v, max_len=8), "123", TypeError, "lengths"),
    (lambda v: costs.contiguous_kv_slots(v, max_len=8), [3, 0], ValueError, r"lengths\[1\]"),
    (lambda v: costs.paged_kv_slots(v, block_size=4), [3, 2.0], TypeError, r"lengths\[1\]"),
    (lambda v: costs.paged_kv_slots(v, block_size=4), 12, TypeError, "lengths"),
    (lambda v: costs.paged_kv_slots([3], block_size=v), 0, ValueError, "block_size"),
    (lambda v: costs.kv_allocation_waste([3], max_len=v, block_size=2), 0, ValueError, "max_len"),
    (lambda v: costs.paged_expected_waste_slots(v), 0, ValueError, "block_size"),
    (lambda v: costs.roofline_time_s(v, 1, 1, 1), -1, ValueError, "flops"),
    (lambda v: costs.roofline_time_s(1, v, 1, 1), float("nan"), ValueError, "bytes_moved"),
    (lambda v: costs.roofline_time_s(1, 1, v, 1), 0, ValueError, "peak_flops_per_s"),
    (lambda v: costs.roofline_time_s(1, 1, 1, v), "2TB/s", TypeError, "bandwidth_bytes_per_s"),
    (lambda v: costs.arithmetic_intensity_flops_per_byte(1, v), 0, ValueError, "bytes_moved"),
    (lambda v: costs.ridge_point_flops_per_byte(v, 1), True, TypeError, "peak_flops_per_s"),
    (
        lambda v: costs.decode_time_per_token_s(weight_bytes=v, kv_bytes=0, bandwidth_bytes_per_s=1),
        -1.0,
        ValueError,
        "weight_bytes",
    ),
    (
        lambda v: costs.decode_time_per_token_s(weight_bytes=1, kv_bytes=v, bandwidth_bytes_per_s=1),
        None,
        TypeError,
        "kv_bytes",
    ),
    (
        lambda v: costs.decode_time_per_token_s(weight_bytes=1, kv_bytes=1, bandwidth_bytes_per_s=v),
        0,
        ValueError,
        "bandwidth_bytes_per_s",
    ),
    (lambda v: costs.parameter_bytes(v), 0, ValueError, "params"),
    (lambda v: costs.sequences_that_fit(memory_bytes=v, bytes_per_sequence=1), 0, ValueError, "memory_bytes"),
    (
        lambda v: costs.sequences_that_fit(memory_bytes=1, bytes_per_sequence=v),
        0,
        ValueError,
        "bytes_per_sequence",
    ),
    (
        lambda v: costs.sequences_that_fit(memory_bytes=1, bytes_per_sequence=1, reserved_bytes=v),
        -1,
        ValueError,
        "reserved_bytes",
    ),
]


@pytest.mark.parametrize("call, value, error, name", BAD, ids=[f"{i}-{b[3]}" for i, b in enumerate(BAD)])
def test_bad_input_is_refused_naming_the_argument(call, value, error, name):
    with pytest.raises(error, match=rf"{name}(?!\w)"):
        call(value)


def test_new_functions_are_public_and_documented():
    names = [
        "attention_backward_flops",
        "attention_train_flops",
        "standard_attention_hbm_bytes",
        "flash_attention_hbm_bytes",
        "flash_attention_block_size",
        "kv_cache_bytes_per_token",
        "mla_cache_bytes_per_token",
        "mla_cache_bytes",
        "sliding_window_pairs",
        "sliding_window_flops",
        "sliding_window_receptive_field",
        "rolling_buffer_kv_bytes",
        "linear_attention_state_elements",
        "mamba_state_elements",
        "mamba2_state_elements",
        "state_bytes",
        "contiguous_kv_slots",
        "paged_kv_slots",
        "kv_allocation_waste",
        "paged_expected_waste_slots",
        "roofline_time_s",
        "arithmetic_intensity_flops_per_byte",
        "ridge_point_flops_per_byte",
        "decode_time_per_token_s",
        "parameter_bytes",
        "sequences_that_fit",
        "sram_bytes",
        "hbm_bandwidth_bytes_per_s",
        "peak_flops_per_s",
    ]
    for name in names:
        func = getattr(costs, name)
        assert name in costs.__all__ and callable(func) and func.__doc__.strip(), name


def test_allocation_waste_accepts_a_one_shot_iterator():
    got = costs.kv_allocation_waste(iter([5, 12, 1]), max_len=16, block_size=4)
    assert (got["used"], got["contiguous_slots"], got["paged_slots"]) == (5 + 12 + 1, 3 * 16, 8 + 12 + 4)
