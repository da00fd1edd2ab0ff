# %% [markdown]
# # Lab 3: linear against quadratic
#
# Lesson 3 claimed three things that this notebook checks on the machine that runs it:
#
# 1. causal linear attention gives the same numbers in its **parallel**, **recurrent** and
#    **chunked** forms;
# 2. its cost grows linearly in $n$ while softmax attention's grows as $n^2$, so past some
#    length it is faster: we time both **on the CPU** and find where they cross;
# 3. an S4-style state space model gives the same output run as a **convolution** and as a
#    **recurrence**.
#
# The timings below come from the CPU of the machine that built this page, in float32 with one
# thread. They show the shape of the curves and where they cross on *this* CPU; a GPU crosses
# elsewhere, and no GPU measurement has been committed to the site yet.

# %%
import platform
import time

import matplotlib.pyplot as plt
import torch

from longctx import costs
from longctx.attention import attention_ref
from longctx.bench import crossover, hardware_summary, loglog_slope
from longctx.linear import linear_attention_chunked_ref, linear_attention_recurrent_ref, linear_attention_ref
from longctx.linear.costs import crossover_seq_len, linear_attention_flops
from longctx.ssm import s4d_conv, s4d_recurrent

torch.manual_seed(0)
torch.set_num_threads(1)  # steadier timings on a shared machine; the shapes of the curves do not depend on it
print("hardware:", hardware_summary())
print("platform:", platform.platform())

# %% [markdown]
# ## 1. Three forms, one result
#
# Fresh random inputs in float64, a length that is not a multiple of the chunk size, and two
# feature maps. The largest difference between the forms should be at the level of float64
# rounding.

# %%
B, H, T, D = 2, 3, 77, 16
q, k, v = (torch.randn(B, H, T, D, dtype=torch.float64) for _ in range(3))
for feature_map in ("elu", "relu"):
    parallel = linear_attention_ref(q, k, v, causal=True, feature_map=feature_map)
    recurrent = linear_attention_recurrent_ref(q, k, v, causal=True, feature_map=feature_map)
    for chunk in (1, 16, 64, 200):
        chunked = linear_attention_chunked_ref(
            q, k, v, causal=True, feature_map=feature_map, chunk_size=chunk
        )
        err = (chunked - parallel).abs().max().item()
        print(f"{feature_map:>4}, chunk {chunk:>3}: max |chunked - parallel| = {err:.1e}")
        assert err < 1e-10, (feature_map, chunk, err)
    err = (recurrent - parallel).abs().max().item()
    print(f"{feature_map:>4}, recurrent:  max |recurrent - parallel| = {err:.1e}")
    assert err < 1e-10
print("ok: parallel == recurrent == chunked")

# %% [markdown]
# ## 2. Timing on the CPU: where does linear attention overtake softmax attention?
#
# Causal softmax attention is `attention_ref` (it builds the whole $n \times n$ score matrix).
# Causal linear attention is `linear_attention_chunked_ref` with elu+1 and chunks of 64. Shapes
# `[1, 1, n, 32]`, float32, the fastest of seven runs after a warm-up (the run least disturbed
# by whatever else the machine was doing). Beside each time, the FLOP
# ratio the lesson's formulas predict (`costs.attention_flops` over
# `linear.costs.linear_attention_flops`).

# %%
H, D, C = 1, 32, 64


def best_of(fn, repeats=7):
    """The fastest of a few runs after one warm-up: the least disturbed by other work on the machine."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


SEQ_LENS = [64, 128, 256, 512, 1024, 2048]
rows = []
for n in SEQ_LENS:
    q, k, v = (torch.randn(1, H, n, D) for _ in range(3))
    t_soft = best_of(lambda: attention_ref(q, k, v, causal=True))
    t_lin = best_of(lambda: linear_attention_chunked_ref(q, k, v, causal=True, chunk_size=C))
    flop_ratio = costs.attention_flops(n, D, causal=True) / linear_attention_flops(
        n, D, causal=True, chunk_size=C
    )
    rows.append({"n": n, "softmax_s": t_soft, "linear_s": t_lin, "flop_ratio": flop_ratio})

print("     n  softmax (ms)  linear (ms)  measured softmax/linear  FLOP ratio")
for r in rows:
    print(
        f"{r['n']:>6} {r['softmax_s'] * 1e3:>13.2f} {r['linear_s'] * 1e3:>12.2f}"
        f" {r['softmax_s'] / r['linear_s']:>24.2f} {r['flop_ratio']:>11.2f}"
    )

ns = [r["n"] for r in rows]
measured = crossover(ns, [r["linear_s"] for r in rows], [r["softmax_s"] for r in rows])
by_flops = crossover_seq_len(D, causal=True, chunk_size=C)
print(f"\nmeasured crossover on this CPU (first measured n from which linear is faster): {measured}")
print(f"FLOP crossover (crossover_seq_len({D}, causal=True, chunk_size={C})): {by_flops}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.loglog(ns, [r["softmax_s"] for r in rows], "o-", base=2, label="softmax attention (attention_ref)")
ax.loglog(ns, [r["linear_s"] for r in rows], "s-", base=2, label=f"linear attention, chunks of {C}")
if measured is not None:
    ax.axvline(
        measured, color="grey", linestyle="--", linewidth=1, label=f"measured crossover, n = {measured}"
    )
ax.axvline(by_flops, color="grey", linestyle=":", linewidth=1, label=f"FLOP crossover, n = {by_flops}")
ax.set(
    xlabel="sequence length n",
    ylabel="seconds (CPU)",
    title=f"CPU, float32, causal, H = {H}, d = {D}, 1 thread",
)
ax.grid(True, which="major", alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# What to check: at the largest lengths the softmax curve has slope about 2 on this log-log plot
# and the linear curve about 1, and linear attention is faster at the largest $n$. The measured
# crossover usually lies later than the FLOP crossover: at small $n$ the chunked form's Python
# loop over chunks and its many small matrix products cost more than their FLOPs say.

# %%
tail = [r for r in rows if r["n"] >= 256]  # past the fixed cost of a call
slope_soft = loglog_slope([r["n"] for r in tail], [r["softmax_s"] for r in tail])
slope_lin = loglog_slope([r["n"] for r in tail], [r["linear_s"] for r in tail])
print(f"log-log slope from n = 256 on: softmax {slope_soft:.2f}, linear {slope_lin:.2f}")
assert slope_soft > 1.5, "softmax attention should grow about as n^2 at these lengths"
assert slope_lin < 1.6, "linear attention should grow about as n"
assert slope_soft - slope_lin > 0.4, "softmax attention's time should grow clearly faster"
assert rows[-1]["linear_s"] < rows[-1]["softmax_s"], "linear attention should be faster at the largest n"
print("ok: quadratic against linear, and linear wins at the largest n")

# %% [markdown]
# ## 3. S4: convolution mode equals recurrent mode
#
# A diagonal SSM with complex $A$ (negative real part), run once as a causal convolution with
# the kernel $K_l = \mathrm{Re}(C \bar A^l \bar B)$ (by FFT) and once step by step.

# %%
channels, state, L = 4, 8, 300
A = torch.complex(
    -torch.rand(channels, state, dtype=torch.float64) - 0.1, torch.randn(channels, state, dtype=torch.float64)
)
Bm = torch.randn(channels, state, dtype=torch.complex128)
Cm = torch.randn(channels, state, dtype=torch.complex128)
delta = torch.rand(channels, dtype=torch.float64) * 0.1 + 0.01
u = torch.randn(2, channels, L, dtype=torch.float64)
y_conv = s4d_conv(u, A, Bm, Cm, delta)
y_rec = s4d_recurrent(u, A, Bm, Cm, delta)
err = (y_conv - y_rec).abs().max().item()
print(f"max |convolution - recurrence| = {err:.1e} over {L} steps")
assert err < 1e-9
print("ok: the same system, two ways to run it")

# %% [markdown]
# ## What to take away
#
# * The three forms of linear attention are one computation; the chunked one is what a kernel runs.
# * On this CPU, softmax attention's time grows as $n^2$ and linear attention's as $n$; they cross
#   at a length of the order the FLOP formula predicts, later because small chunked steps are
#   inefficient. On a GPU the same effect is stronger, which is why a measured GPU crossover
#   (still to be committed to this site) is the number to trust for a GPU.
# * A time-invariant SSM can be trained as a convolution and run as a recurrence.
