# %% [markdown]
# # Lab 1: measuring the quadratic wall
#
# Lesson 1 predicted the cost of attention with formulas from `longctx.costs`. Here we run
# the naive reference, `longctx.attention.attention_ref`, on this machine's CPU and measure
# two things for each sequence length $n$:
#
# * its **peak memory**: the most resident memory the call adds at any moment, read from the
#   kernel's high-water mark (`longctx.bench.peak_rss_bytes`);
# * its **wall time**: the median of a few runs (`longctx.bench.time_call`).
#
# Beside them we draw what the formulas say. One fp32 score matrix $S = QK^\top$ for $H$
# heads holds $H \cdot n^2 \cdot 4$ bytes (`costs.score_matrix_bytes`), and the two matmuls
# take $4 \cdot n^2 \cdot d \cdot H$ FLOPs (`costs.attention_flops`). If the reference really
# is quadratic, each doubling of $n$ should multiply both measurements by about four.
#
# This page was executed when the site was built, so the numbers below come from the build
# machine; run the file yourself (`python examples/01_quadratic_wall.py`, or open it as a
# notebook with jupytext) to see your own.

# %%
import platform

import matplotlib.pyplot as plt
import torch

from longctx import costs
from longctx.attention import attention_ref
from longctx.bench import hardware_summary, peak_rss_bytes, time_call

B, H, D = 1, 2, 64  # batch, heads, head dim
DTYPE = torch.float32
SEQ_LENS = [256, 512, 1024, 2048, 4096]  # n, doubling
torch.manual_seed(0)
# One thread: on a shared build machine its timings are steadier, and the shape
# of the curves (what this lab is about) does not depend on the thread count.
torch.set_num_threads(1)

print("hardware:", hardware_summary())
print("platform:", platform.platform())
print(f"shapes:   q, k, v [B={B}, H={H}, n, D={D}], {DTYPE}, no mask")

# %% [markdown]
# ## Measure
#
# For each $n$ we make fresh random `q`, `k`, `v` of shape `[B, H, n, D]` and call the
# reference on them. The peak is the smallest of two runs (the allocator can only add to a
# run's peak); the time is the median of three runs after one warm-up run.

# %%
rows = []
for n in SEQ_LENS:
    q, k, v = (torch.randn(B, H, n, D, dtype=DTYPE) for _ in range(3))

    def run():
        return attention_ref(q, k, v)

    # Memory first: its first call fixes the allocator's mode (see bench).
    peak = peak_rss_bytes(run, repeats=2)
    rows.append(
        {
            "n": n,
            "score_bytes": costs.score_matrix_bytes(n, heads=H, bytes_per_element="fp32"),
            "peak_bytes": peak,
            "flops": costs.attention_flops(n, D, heads=H),
            "seconds": time_call(run, repeats=3),
        }
    )

print("     n  one S (MB)  peak (MB)  peak / S  time (ms)  GFLOP/s")
for r in rows:
    print(
        f"{r['n']:>6} {r['score_bytes'] / 1e6:>11.1f}"
        f" {r['peak_bytes'] / 1e6:>10.1f}"
        f" {r['peak_bytes'] / r['score_bytes']:>9.2f}"
        f" {r['seconds'] * 1e3:>10.2f}"
        f" {r['flops'] / r['seconds'] / 1e9:>8.1f}"
    )

# %% [markdown]
# The column *peak / S* counts how many score-sized matrices were alive at the worst moment.
# Reading `attention_ref` explains it: the scores `s`, the shifted exponentials inside
# `softmax_ref` and the probabilities `p` are each $n \times n$ floats, and the boolean
# masks add a quarter of one each. At small $n$ the fixed costs of a call (small buffers,
# the inputs) weigh more, so the count drifts; at large $n$ it settles.

# %%
ns = [r["n"] for r in rows]
fig, (ax_mem, ax_time) = plt.subplots(1, 2, figsize=(9, 3.8))

ax_mem.loglog(ns, [r["peak_bytes"] for r in rows], "o-", base=2, label="measured peak (RSS)")
ax_mem.loglog(ns, [r["score_bytes"] for r in rows], "s--", base=2, label="one score matrix: H·n²·4 B")
ax_mem.set(xlabel="sequence length n", ylabel="bytes", title="Peak memory of attention_ref")

# The FLOP count fixes the shape of the time curve, not its height:
# it is drawn through the measurement at the largest n.
rate = rows[-1]["flops"] / rows[-1]["seconds"]  # FLOP/s reached there
ax_time.loglog(ns, [r["seconds"] for r in rows], "o-", base=2, label="measured (median of 3)")
ax_time.loglog(ns, [r["flops"] / rate for r in rows], "s--", base=2, label="4·n²·D·H FLOPs, scaled")
ax_time.set(xlabel="sequence length n", ylabel="seconds", title="Wall time of attention_ref")

for ax in (ax_mem, ax_time):
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
fig.suptitle(f"CPU, {DTYPE}, B={B}, H={H}, D={D}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Check: memory grows as $n^2$
#
# Doubling $n$ should multiply the peak by four. The last two doublings are checked, where
# the $n^2$ matrices dominate everything else; a regression that made the reference linear
# in memory (a factor near two) or worse than quadratic fails the build of this page.

# %%
peaks = [r["peak_bytes"] for r in rows]
growth = [b / a for a, b in zip(peaks, peaks[1:])]
for a, b, g in zip(ns, ns[1:], growth):
    want = costs.cost_multiplier(a, b)
    print(f"n {a:>4} -> {b:>4}: peak x{g:.2f} (n² says x{want:.0f})")
for g in growth[-2:]:
    assert 3.0 <= g <= 5.0, f"peak x{g:.2f} per doubling; n² says x4"
print("ok: the measured peak grows as n² at the largest sizes")

# %% [markdown]
# ## What to take away
#
# * The reference's memory is a handful of $n \times n$ matrices: the line of measured peaks
#   runs parallel to the one-matrix prediction on the log-log plot (same slope, two), a
#   constant factor above it.
# * Its time follows the $n^2$ line once $n$ is large enough that the matmuls and the
#   elementwise passes over $S$ outweigh the fixed cost of a call.
# * Nothing here is special to a CPU: a GPU has more FLOP/s, but its curves have the same
#   $n^2$ shape and its memory fills up the same way. The next lessons remove the
#   $n \times n$ matrix without changing the result.
