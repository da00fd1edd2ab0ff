"""The benchmark's counts in longctx.costs: FLOPs and bytes of the calls it times, by hand and by tensors."""

from __future__ import annotations

import pytest
import torch

from longctx import costs


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n, d, batch, heads", [(1024, 64, 16, 16), (16384, 128, 1, 8), (1000, 80, 3, 5)])
def test_the_backward_counts_two_and_a_half_forwards(n, d, batch, heads, causal):
    forward = costs.attention_flops(n, d, heads=heads, causal=causal)
    # five n x n x d matmuls against the forward's two; attention_flops is a multiple of 4, so exact
    assert costs.attention_backward_flops(n, d, heads=heads, causal=causal) == 2.5 * forward


def test_attention_flops_by_hand():
    # n=1024, d=64, H=16: two matmuls of 2*n*n*d each, per head: 4 * 1024^2 * 64 = 268,435,456.
    assert costs.attention_flops(1024, 64, heads=16) == 268_435_456 * 16
    # causal keeps n(n+1)/2 = 524,800 pairs: 4 * 524,800 * 64 = 134,348,800 per head, about half.
    assert costs.attention_flops(1024, 64, causal=True) == 134_348_800
    assert costs.attention_backward_flops(1024, 64, causal=True) == 335_872_000


def test_matmul_and_copy_by_hand():
    assert costs.matmul_flops(8192, 8192, 8192) == 2 * 8192**3 == 1_099_511_627_776
    assert costs.matmul_flops(2, 3, 5) == 60
    assert costs.copy_bytes(2**30) == 2_147_483_648  # 1 GiB read plus 1 GiB written


def test_decode_bytes_by_hand():
    # B=2, context 48, H=4, H_kv=2, D=16, pages of 16 (3 per sequence):
    #   K and V  2 * 2 * 48 * 2 * 16 * 2 B = 12,288;  q and out  2 * 2 * 4 * 16 * 2 B = 512;
    #   block table 2 * 3 * 4 B = 24 and lengths 2 * 4 B = 8: 12,832 in all.
    assert costs.paged_decode_bytes(2, 48, heads=4, kv_heads=2, head_dim=16, block_size=16) == 12_832
    # int8 codes halve K/V to 6,144 and add one float32 scale per token and head for K and V: 1,536.
    assert (
        costs.paged_decode_bytes(
            2, 48, heads=4, kv_heads=2, head_dim=16, block_size=16, cache_bytes=1, scale_bytes=4
        )
        == 6_144 + 1_536 + 512 + 32
    )


@pytest.mark.parametrize("cache", ["fp16", "int8"])
@pytest.mark.parametrize("batch, context, block", [(1, 16, 16), (3, 48, 16), (2, 64, 8)])
def test_decode_bytes_equals_the_tensors_a_decode_step_touches(batch, context, block, cache):
    H, H_kv, D = 4, 2, 32
    per_seq = -(-context // block)
    pool = (batch * per_seq, block, H_kv, D)
    dtype = torch.float16 if cache == "fp16" else torch.int8
    tensors = [torch.zeros(batch, H, D, dtype=torch.float16)] * 2  # q, and out like it
    tensors += [torch.zeros(pool, dtype=dtype) for _ in range(2)]  # k_cache, v_cache
    tensors += [torch.zeros(batch, per_seq, dtype=torch.int32), torch.zeros(batch, dtype=torch.int32)]
    if cache == "int8":
        tensors += [torch.zeros(pool[:3], dtype=torch.float32) for _ in range(2)]  # k_scale, v_scale
    expected = sum(t.numel() * t.element_size() for t in tensors)
    got = costs.paged_decode_bytes(
        batch,
        context,
        heads=H,
        kv_heads=H_kv,
        head_dim=D,
        block_size=block,
        cache_bytes=2 if cache == "fp16" else 1,
        scale_bytes=0 if cache == "fp16" else 4,
    )
    assert got == expected
    assert costs.paged_decode_bytes(batch, context, heads=H, kv_heads=H_kv, head_dim=D, block_size=block) >= (
        costs.kv_cache_bytes(layers=1, kv_heads=H_kv, head_dim=D, tokens=context, batch=batch)
    )


def test_formulas_reject_bad_sizes_by_name():
    with pytest.raises(ValueError, match="batch"):
        costs.paged_decode_bytes(0, 16, heads=1, kv_heads=1, head_dim=16)
    with pytest.raises(ValueError, match="length"):
        costs.selective_scan_bytes(1, 2, 0, 4, itemsize=2)
    with pytest.raises(ValueError, match="context"):
        costs.paged_decode_bytes(1, 0, heads=1, kv_heads=1, head_dim=16)
    with pytest.raises(TypeError, match="nbytes"):
        costs.copy_bytes(True)
    with pytest.raises(ValueError, match="k "):
        costs.matmul_flops(1, 1, 0)


def test_selective_scan_bytes_by_hand():
    # D=3, N=4, L=16, fp32: u, delta, z, out [1, 3, 16] and B, C [1, 4, 16] at 4 B = 4 * 16 * (4*3 + 2*4) = 1,280;
    # A [3, 4], D and delta_bias [3] in float32: 4 * 3 * (4 + 2) = 72.
    assert costs.selective_scan_bytes(1, 3, 16, 4, itemsize=4) == 1_280 + 72


def test_selective_scan_bytes_equals_the_tensors_a_scan_touches():
    B, D, L, N = 2, 5, 33, 3
    io = [torch.zeros(B, D, L, dtype=torch.bfloat16) for _ in range(4)]  # u, delta, z, out
    io += [torch.zeros(B, N, L, dtype=torch.bfloat16) for _ in range(2)]  # B, C
    params = [torch.zeros(D, N), torch.zeros(D), torch.zeros(D)]  # A, D, delta_bias in float32
    expected = sum(t.numel() * t.element_size() for t in io + params)
    assert costs.selective_scan_bytes(B, D, L, N, itemsize=2) == expected
