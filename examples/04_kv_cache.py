# %% [markdown]
# # Lab 4: sizing a KV cache
#
# Lesson 4 priced the KV cache with formulas. Here we run the package's pieces on this machine's
# CPU and check three things the lesson relies on:
#
# 1. **A cache changes nothing but the cost.** Decoding token by token with a KV cache gives the
#    same output as running the whole sequence through the block again at every step, and is
#    much faster, because each step projects one token instead of all of them.
# 2. **Paging wastes less than one block per sequence.** We serve a random mix of requests from a
#    `PagedKVCache` pool and count the empty slots its block tables actually hold.
# 3. **Quantization has a bounded round-trip error.** int8 and int4 codes come back within half a
#    scale step of the original values, and where the large values sit decides how big that step is.
#
# This page was executed when the site was built; run the file yourself
# (`python examples/04_kv_cache.py`) to see your own timings.

# %%
import math
import random
import time

import matplotlib.pyplot as plt
import torch

from longctx import costs
from longctx.bench import hardware_summary
from longctx.kv import (
    DecoderConfig,
    PagedKVCache,
    decode,
    decoder_forward,
    dequantize,
    init_decoder,
    quantize,
)

torch.manual_seed(0)
torch.set_num_threads(1)  # steadier timings on a shared build machine
print("hardware:", hardware_summary())

# %% [markdown]
# ## 1. Cached against uncached decoding
#
# One decoder block (grouped-query attention, 8 query heads sharing 2 KV heads, an MLP) in
# float64. *Uncached* decoding recomputes the block over the whole prefix at every step and keeps
# the last position's output, which is what a decoder without a cache must do. *Cached* decoding
# is `longctx.kv.decode`: one token per step, its key and value appended to the cache.

# %%
cfg = DecoderConfig(d_model=128, n_heads=8, n_kv_heads=2, head_dim=16, d_ff=256)
params = init_decoder(cfg, seed=0)
T = 128
x = torch.randn(1, T, cfg.d_model, dtype=torch.float64)


def uncached():
    return torch.cat([decoder_forward(cfg, params, x[:, : t + 1])[:, -1:] for t in range(T)], dim=1)


def cached():
    return decode(cfg, params, x, prefill=1)[0]


def best_of(fn, repeats=2):
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


out_uncached, t_uncached = best_of(uncached)
out_cached, t_cached = best_of(cached)
full = decoder_forward(cfg, params, x)
err = (out_cached - full).abs().max().item()
print(f"max |cached - full forward|   = {err:.2e}")
print(f"max |uncached - full forward| = {(out_uncached - full).abs().max().item():.2e}")
print(f"uncached: {t_uncached * 1e3:7.1f} ms for {T} tokens")
print(f"cached:   {t_cached * 1e3:7.1f} ms for {T} tokens  ({t_uncached / t_cached:.1f}x faster)")
tokens_projected = T * (T + 1) // 2
print(f"tokens pushed through the projections: uncached {tokens_projected:,}, cached {T}")
assert torch.allclose(out_cached, full, atol=1e-12) and torch.allclose(out_uncached, full, atol=1e-12)
assert t_uncached > t_cached, "recomputing every prefix should cost more than reading a cache"

# %% [markdown]
# Both ways give the full forward's output to rounding (float64). The uncached decoder pushes
# $T(T+1)/2$ token positions through the projections instead of $T$, and its attention at step $t$
# builds a $t \times t$ score matrix instead of $1 \times t$; the measured gap grows with $T$.
# The cache's price is memory: for this block, `costs.kv_cache_bytes` says the cache of one
# sequence holds:

# %%
cache_bytes = costs.kv_cache_bytes(
    layers=1, kv_heads=cfg.n_kv_heads, head_dim=cfg.head_dim, tokens=T, bytes_per_element="fp64"
)
_, cache = decode(cfg, params, x[:, :T], prefill=T)
measured = cache.k.numel() * cache.k.element_size() + cache.v.numel() * cache.v.element_size()
print(f"formula {cache_bytes:,.0f} bytes, tensors in the cache {measured:,} bytes")
assert measured == cache_bytes

# %% [markdown]
# ## 2. Paging a random mix of requests
#
# 60 requests of random length (1 to 1,000 tokens) are written into one `PagedKVCache` pool of
# blocks. For each block size we count the slots the block tables hold and compare with the
# tokens actually written, and with what a contiguous cache reserving 1,000 slots per request would
# hold. The cache itself has one tiny KV head: the block bookkeeping does not depend on the width.

# %%
rng = random.Random(4)
lengths = [rng.randint(1, 1000) for _ in range(60)]
MAX_LEN = 1000
rows = []
for block_size in (1, 4, 16, 64, 256):
    num_blocks = sum(math.ceil(n / block_size) for n in lengths)
    pool = PagedKVCache(num_blocks, block_size, n_kv_heads=1, head_dim=1)
    for seq, n in enumerate(lengths):
        kv = torch.zeros(1, n, 1, dtype=torch.float64)
        pool.append(seq, kv, kv)
    slots = sum(len(t) for t in pool.block_tables.values()) * block_size
    want = costs.kv_allocation_waste(lengths, max_len=MAX_LEN, block_size=block_size)
    assert slots == want["paged_slots"] and pool.allocator.num_free == 0
    rows.append(
        {
            "block_size": block_size,
            "paged_waste": 1 - sum(lengths) / slots,
            "contiguous_waste": want["contiguous_waste"],
            "empty_per_seq": (slots - sum(lengths)) / len(lengths),
        }
    )

print("block size  empty slots/seq  (B-1)/2  paged waste  contiguous waste")
for r in rows:
    bs = r["block_size"]
    print(
        f"{bs:>10} {r['empty_per_seq']:>16.1f} {costs.paged_expected_waste_slots(bs):>8.1f}"
        f" {r['paged_waste']:>12.1%} {r['contiguous_waste']:>17.1%}"
    )
    assert r["empty_per_seq"] < bs  # never a whole block wasted per sequence

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot([r["block_size"] for r in rows], [100 * r["paged_waste"] for r in rows], "o-", label="paged")
ax.axhline(
    100 * rows[0]["contiguous_waste"], color="C3", linestyle="--", label="contiguous, max length reserved"
)
ax.set_xscale("log", base=2)
ax.set(
    xlabel="block size (tokens)",
    ylabel="% of reserved slots empty",
    title=f"{len(lengths)} random requests, max length {MAX_LEN}",
)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The empty slots per sequence stay near $(B - 1)/2$ for block size $B$
# (`costs.paged_expected_waste_slots`), because a request's length is equally likely to end
# anywhere in its last block. Small blocks waste least, but every block is one more entry in a
# block table and one more scattered read for the kernel; servers settle on 16 or 32 tokens.

# %% [markdown]
# ## 3. Quantization round trip
#
# Random keys with four outlier channels (ten times larger), quantized to int8 and int4 with one
# scale per token or one per channel (`longctx.kv.quantize`). Rounding to the nearest code
# bounds every element's error by half its scale; we check the bound and report the typical error.

# %%
gen = torch.Generator().manual_seed(1)
k = torch.randn(1, 2, 256, 64, generator=gen, dtype=torch.float32)  # float32 keys: float32 scales
k[..., :4] *= 10.0
print("bits  scales        mean |error|  max |error|  max error / (scale/2)  bytes vs fp16")
for bits in (8, 4):
    for axis in ("token", "channel"):
        qt = quantize(k, bits=bits, axis=axis)
        err = (dequantize(qt) - k).abs()
        # the scale each element was coded with: [1, 2, 256, 1] per token, [1, 2, 1, 64] per channel
        scale = qt.scale.expand_as(k)
        worst = (err / (scale / 2)).max().item()
        ratio = qt.nbytes() / (k.numel() * 2)
        print(
            f"{bits:>4}  per {axis:<9} {err.mean().item():>13.2e} {err.max().item():>12.2e}"
            f" {worst:>22.3f} {ratio:>14.1%}"
        )
        assert worst <= 1 + 1e-4  # float32 rounding of the division and the product

# %% [markdown]
# Per-channel scales give the outlier channels their own step size, so the other channels are
# coded finely: the mean error drops several-fold at the same number of bits. The byte ratios
# include the float32 scales; per token they add 4 bytes to every 64 codes.
#
# ## What to take away
#
# * A KV cache gives exactly the output of recomputation at a fraction of the work; its cost is
#   memory, and `costs.kv_cache_bytes` counts it to the byte.
# * Paging leaves less than one block empty per sequence, where a contiguous reservation wastes
#   whatever the request did not use.
# * Quantized codes come back within half a scale step; choosing the axis of the scales to match
#   where the outliers are is what makes 4 bits usable.
