"""Paged KV cache: gather equals a contiguous cache exactly; allocator; waste measurement."""

from __future__ import annotations

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.attention import attention_ref
from longctx.kv import KVCache
from longctx.kv.paged import BlockAllocator, OutOfBlocksError, PagedKVCache, paging_waste, paging_waste_table


@settings(max_examples=25, deadline=None)
@given(
    block_size=st.integers(1, 7),
    n_seqs=st.integers(1, 4),
    H_kv=st.integers(1, 3),
    D=st.sampled_from([1, 5, 40]),
    seed=st.integers(0, 10**6),
)
def test_interleaved_sequences_gather_exactly(block_size, n_seqs, H_kv, D, seed):
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    lengths = [rng.choice([1, 17, rng.randint(1, 30)]) for _ in range(n_seqs)]
    blocks = sum(math.ceil(L / block_size) for L in lengths)
    paged = PagedKVCache(blocks + 2, block_size, H_kv, D)
    contiguous = {s: KVCache() for s in range(n_seqs)}
    written = [0] * n_seqs
    while any(w < L for w, L in zip(written, lengths)):  # random interleaving, random chunk sizes
        s = rng.choice([i for i in range(n_seqs) if written[i] < lengths[i]])
        T = rng.randint(1, lengths[s] - written[s])
        k = torch.randn(H_kv, T, D, generator=gen, dtype=torch.float64)
        v = torch.randn(H_kv, T, D, generator=gen, dtype=torch.float64)
        paged.append(s, k, v)
        contiguous[s].extend(k[None], v[None])
        written[s] += T
    for s in range(n_seqs):
        k, v = paged.gather(s)
        assert torch.equal(k, contiguous[s].k[0]) and torch.equal(v, contiguous[s].v[0])
        kl, vl = paged.gather_loop(s)
        assert torch.equal(kl, k) and torch.equal(vl, v)
        assert len(paged.block_tables[s]) == math.ceil(lengths[s] / block_size)
        q = torch.randn(2 * H_kv, 1, D, generator=gen, dtype=torch.float64)
        assert torch.equal(
            paged.attend(s, q), attention_ref(q[None], contiguous[s].k, contiguous[s].v, causal=True)[0]
        )
    assert paged.allocator.num_free == 2
    used = sorted(b for t in paged.block_tables.values() for b in t)
    assert used == sorted(set(used))  # no block shared by two sequences


def test_float32_storage():
    paged = PagedKVCache(4, 3, 2, 40, dtype=torch.float32)
    k = torch.randn(2, 7, 40)
    paged.append("a", k, k)
    assert torch.equal(paged.gather("a")[0], k)


def test_allocator_runs_out_and_free_returns_blocks():
    a = BlockAllocator(3)
    got = [a.allocate() for _ in range(3)]
    assert sorted(got) == [0, 1, 2] and a.num_free == 0
    with pytest.raises(OutOfBlocksError, match="out of KV cache blocks"):
        a.allocate()
    a.free(got[1])
    assert a.allocate() == got[1]
    with pytest.raises(ValueError, match="double free"):
        a.free(got[0])
        a.free(got[0])
    with pytest.raises(ValueError, match="block must be"):
        a.free(3)


def test_paged_cache_out_of_blocks_leaves_cache_unchanged_and_free_recycles():
    paged = PagedKVCache(3, 4, 1, 2)
    paged.append("a", torch.ones(1, 9, 2), torch.ones(1, 9, 2))  # 3 blocks
    with pytest.raises(OutOfBlocksError, match="needs 1 more blocks"):
        paged.append("b", torch.ones(1, 1, 2), torch.ones(1, 1, 2))
    assert "b" not in paged.block_tables
    with pytest.raises(OutOfBlocksError):
        paged.append("a", torch.ones(1, 4, 2), torch.ones(1, 4, 2))
    assert paged.lengths["a"] == 9
    paged.append("a", torch.ones(1, 3, 2), torch.ones(1, 3, 2))  # fills the last block: no new one
    paged.free("a")
    assert paged.allocator.num_free == 3 and "a" not in paged.lengths
    paged.append("b", 2 * torch.ones(1, 12, 2), torch.ones(1, 12, 2))
    assert torch.equal(paged.gather("b")[0], 2 * torch.ones(1, 12, 2))
    with pytest.raises(KeyError, match="seq_id"):
        paged.free("zzz")


def test_bad_inputs():
    with pytest.raises(ValueError, match="block_size"):
        PagedKVCache(4, 0, 1, 2)
    with pytest.raises(ValueError, match="num_blocks"):
        PagedKVCache(0, 4, 1, 2)
    with pytest.raises(TypeError, match="dtype"):
        PagedKVCache(1, 4, 1, 2, dtype=torch.int8)
    p = PagedKVCache(2, 4, 2, 3)
    with pytest.raises(ValueError, match="H_kv=2"):
        p.append(0, torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="k must have 3 dims"):
        p.append(0, torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="k must be a floating"):
        p.append(0, torch.zeros(2, 1, 3, dtype=torch.long), torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="block_size"):
        paging_waste(block_size=0)
    with pytest.raises(ValueError, match="max_len"):
        paging_waste(max_len=1)
    with pytest.raises(ValueError, match="bytes_per_token"):
        paging_waste(bytes_per_token=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paging_waste_against_a_direct_count(seed):
    r = paging_waste(num_requests=37, max_len=63, block_size=5, bytes_per_token=3, seed=seed)
    # recount the same seeded mix directly
    rng = random.Random(seed)
    used = paged = 0
    for _ in range(37):
        p = rng.randint(1, 62)
        L = p + rng.randint(1, 63 - p)
        assert 2 <= L <= 63
        used += L
        paged += -(-L // 5) * 5
    assert (
        r["used_bytes"] == 3 * used and r["paged_bytes"] == 3 * paged and r["contiguous_bytes"] == 3 * 37 * 63
    )
    # paging wastes at most block_size - 1 slots per request; contiguous wastes more here
    assert 0 <= r["paged_bytes"] - r["used_bytes"] <= 3 * 37 * 4
    assert r["paged_waste"] < r["contiguous_waste"]


def test_waste_table_grows_with_block_size():
    rows = paging_waste_table((1, 4, 16, 64), num_requests=50, max_len=512, seed=3)
    assert [r["block_size"] for r in rows] == [1, 4, 16, 64]
    assert rows[0]["paged_waste"] == 0
    assert all(a["paged_bytes"] <= b["paged_bytes"] for a, b in zip(rows, rows[1:]))  # block sizes divide
    assert len({r["contiguous_bytes"] for r in rows}) == 1


@pytest.mark.parametrize(
    "num_blocks, error",
    [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError), ("4", TypeError)],
)
def test_allocator_refuses_a_bad_pool_size(num_blocks, error):
    with pytest.raises(error, match="^num_blocks must be a positive integer, got"):
        BlockAllocator(num_blocks)
