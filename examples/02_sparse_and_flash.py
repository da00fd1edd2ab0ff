# %% [markdown]
# # Lab 2: masks and tiles
#
# Lesson 2 made three claims that can be checked on a laptop:
#
# 1. The tiled FlashAttention algorithm (`longctx.flash.flash_attention_ref`) computes
#    *exactly* the same attention as the naive reference (`longctx.attention.attention_ref`),
#    up to rounding, whatever the mask and tile sizes.
# 2. With a sliding window of fixed width, the number of tiles a kernel must compute grows
#    *linearly* with the sequence length; with a causal mask, quadratically.
# 3. The naive reference holds a few $n \times n$ matrices at once; the tiled one holds a
#    tile and some $O(n)$ statistics, so its peak memory barely moves as $n$ grows.
#
# This page was executed when the site was built; the measurements come from the build
# machine's CPU. Run the file yourself (`python examples/02_sparse_and_flash.py`) to see yours.

# %%
import matplotlib.pyplot as plt
import torch

from longctx import costs
from longctx.attention import attention_ref
from longctx.bench import hardware_summary
from longctx.flash import flash_attention_ref, memory_table, tile_counts
from longctx.sparse import block_stats, receptive_field, sliding_window_mask

torch.manual_seed(0)
torch.set_num_threads(1)  # steadier on a shared build machine; the shapes of the curves do not depend on it
print("hardware:", hardware_summary())

# %% [markdown]
# ## 1. Tiled equals naive
#
# Random float64 inputs with lengths that are not multiples of the tile sizes, queries and
# keys of different lengths ($T \ne S$, as when decoding against a cache), grouped-query heads,
# and four masks. The largest difference should be at the level of float64 rounding.

# %%
cases = [
    ("no mask", dict(causal=False, window=None)),
    ("causal", dict(causal=True, window=None)),
    ("causal window (7, 0)", dict(causal=True, window=(7, 0))),
    ("band (5, 3)", dict(causal=False, window=(5, 3))),
]
worst = 0.0
for T, S in [(37, 37), (23, 61), (64, 64)]:
    q = torch.randn(2, 4, T, 20, dtype=torch.float64)
    k, v = (torch.randn(2, 2, S, 20, dtype=torch.float64) for _ in range(2))  # 2 kv heads for 4 query heads
    for name, kw in cases:
        out = flash_attention_ref(q, k, v, block_q=16, block_k=12, **kw)
        expected = attention_ref(q, k, v, **kw)  # the whole score matrix, masked
        err = float((out - expected).abs().max())
        worst = max(worst, err)
        print(f"T={T:>3} S={S:>3} {name:<22} max |flash - naive| = {err:.1e}")
assert worst < 1e-12, worst
print(f"ok: the largest difference, {worst:.1e}, is float64 rounding")

# %% [markdown]
# ## 2. Tiles visited as $n$ grows
#
# `tile_counts` walks the same tile grid as the FlashAttention forward pass and counts the
# tiles it computes. A causal window of $w$ = 256 keys with $64 \times 64$ tiles meets only
# the few key tiles around the diagonal of each query block, so the count should grow in step
# with $n$, while the causal count grows with $n^2$.

# %%
W, BLOCK = 256, 64
ns = [512, 1024, 2048, 4096, 8192, 16384]
rows = []
for n in ns:
    rows.append(
        {
            "n": n,
            "total": tile_counts(n, n, block_q=BLOCK, block_k=BLOCK)["total"],
            "causal": tile_counts(n, n, causal=True, block_q=BLOCK, block_k=BLOCK)["visited"],
            "window": tile_counts(n, n, window=(W, 0), block_q=BLOCK, block_k=BLOCK)["visited"],
        }
    )
print("     n   all tiles   causal   window   window / n")
for r in rows:
    print(f"{r['n']:>6} {r['total']:>11,} {r['causal']:>8,} {r['window']:>8,} {r['window'] / r['n']:>12.4f}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.loglog(ns, [r["total"] for r in rows], "o-", base=2, label="all tiles")
ax.loglog(ns, [r["causal"] for r in rows], "s-", base=2, label="causal")
ax.loglog(ns, [r["window"] for r in rows], "D-", base=2, label=f"causal window w = {W}")
ax.set(
    xlabel="sequence length n",
    ylabel=f"{BLOCK} x {BLOCK} tiles computed",
    title="Tiles a forward pass computes",
)
ax.grid(True, alpha=0.3)
ax.legend()
plt.show()

# Doubling n (past the first rows) should double the window's tiles and quadruple the causal ones.
for a, b in zip(rows[-3:], rows[-2:]):
    assert 1.9 < b["window"] / a["window"] < 2.1, (a, b)
    assert 3.8 < b["causal"] / a["causal"] < 4.2, (a, b)
print("ok: window tiles grow linearly, causal tiles quadratically")

# %% [markdown]
# The same mask at the level of single entries: `block_stats` reports the density and the
# share of dense FLOPs that skipping empty tiles saves. The saving is always a little below
# $1 - \text{density}$, because tiles on the edge of the band are computed whole.

# %%
for n in (1024, 4096):
    st = block_stats(sliding_window_mask(n, n, (W, 0)), BLOCK, BLOCK)
    print(
        f"n={n:>5}: density {st.density:.3f}, tiles kept {st.kept_tiles}/{st.total_tiles}, "
        f"FLOPs saved {st.flops_saved:.3f} (at most {1 - st.density:.3f})"
    )
    assert st.flops_saved <= 1 - st.density

# %% [markdown]
# And the reach: after $L$ window layers the last position depends on the $L \cdot w$
# positions before it (`receptive_field` is the boolean matrix power of the mask plus the
# residual connection).

# %%
n, w = 200, 9
for layers in (1, 5, 15):
    last = receptive_field(sliding_window_mask(n, n, (w, 0)), layers)[n - 1]
    back = (n - 1) - int(last.nonzero().min())
    print(
        f"L={layers:>2}: reaches {back} positions back; L * w = "
        f"{costs.sliding_window_receptive_field(layers=layers, window=w)}"
    )
    assert back == min(n - 1, costs.sliding_window_receptive_field(layers=layers, window=w))

# %% [markdown]
# ## 3. Peak memory: naive against tiled
#
# `memory_table` makes float32 `q`, `k`, `v` of shape `[1, 1, n, 64]` and measures the most
# resident memory each implementation adds while it runs (`longctx.bench.peak_rss_bytes`).
# Beside it, the size of one $n \times n$ float32 matrix.

# %%
table = memory_table([256, 512, 1024, 2048], block_q=128, block_k=128)
print("     n   one n x n (MB)   naive peak (MB)   tiled peak (MB)")
for r in table:
    print(
        f"{r['n']:>6} {r['score_matrix_bytes'] / 1e6:>16.2f} {r['naive_peak_bytes'] / 1e6:>17.2f}"
        f" {r['tiled_peak_bytes'] / 1e6:>17.2f}"
    )

fig, ax = plt.subplots(figsize=(6.5, 3.8))
tn = [r["n"] for r in table]
ax.loglog(tn, [r["naive_peak_bytes"] for r in table], "o-", base=2, label="attention_ref (naive)")
ax.loglog(tn, [r["tiled_peak_bytes"] for r in table], "s-", base=2, label="flash_attention_ref (tiled)")
ax.loglog(tn, [r["score_matrix_bytes"] for r in table], "k--", base=2, label="one n x n float32 matrix")
ax.set(xlabel="sequence length n", ylabel="peak bytes added", title="Peak memory on this CPU")
ax.grid(True, alpha=0.3)
ax.legend()
plt.show()

big = table[-1]
assert big["naive_peak_bytes"] >= big["score_matrix_bytes"], (
    "the naive reference holds at least one n x n matrix"
)
assert big["tiled_peak_bytes"] < big["score_matrix_bytes"] / 4, "the tiled reference holds far less than one"
print(
    "ok: at n = 2048 the naive peak is at least one score matrix, the tiled peak well under a quarter of one"
)

# %% [markdown]
# ## What to take away
#
# * Tiling with an online softmax is not an approximation: the outputs agree to rounding.
# * At a fixed window, the tiles a kernel must compute grow linearly with $n$; the saving is a
#   little less than the mask's empty share, because edge tiles are computed whole.
# * The memory win is real even on a CPU: the naive peak follows $n^2$, the tiled peak does not.
#   What a CPU cannot show is the other half of FlashAttention's win, the HBM traffic of a GPU,
#   which Lesson 2 counts with `costs.flash_attention_hbm_bytes`.
