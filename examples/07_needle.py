# %% [markdown]
# # Lab 7: needle in a haystack, in miniature
#
# The [long-context evaluation page](../../topics/evaluation/) describes the needle-in-a-haystack
# test: plant one fact at a chosen depth of a long context, ask for it, and map the answers over
# depth and context length. No language model runs here. Instead, each "model" is a memory
# written by hand from the lessons (full softmax attention, a sliding window, sinks + window, a
# linear-attention state, a decaying state), the haystack is random key/value pairs, and the
# question is the needle's own key, asked from the last position.
#
# This notebook builds the maps, checks what each memory can and cannot find, and states what
# that does and does not say about trained models. Everything runs in float64 on the CPU.

# %%
import time

import matplotlib.pyplot as plt

from longctx.evaluation import (
    GRID_DEPTHS,
    GRID_LENGTHS,
    MODEL_LABELS,
    MODELS,
    NeedleConfig,
    make_haystack,
    memory_elements,
    multi_needle_table,
    needle_grid,
    needle_position,
    needle_readout,
)
from longctx.recall import decode

start = time.perf_counter()
cfg = NeedleConfig()
print(cfg)

# %% [markdown]
# ## 1. One haystack, one needle
#
# A context of 1,000 positions with the needle at 37% depth. Each model answers; the answer is
# decoded to the nearest stored value and counts when that is the needle's value.

# %%
hay = make_haystack(1000, 0.37, dim=cfg.dim, value_dim=cfg.value_dim, seed=7)
pos = needle_position(1000, 0.37)
print(f"needle at position {pos} of {hay.num_pairs}")
for model in MODELS:
    answer = decode(needle_readout(model, hay, cfg), hay.values).item()
    verdict = "found" if answer == pos else f"answered position {answer}"
    print(f"{MODEL_LABELS[model]:>28}: {verdict:<24} keeps {memory_elements(model, 1000, cfg):>7,} numbers")
assert decode(needle_readout("full", hay, cfg), hay.values).item() == pos
assert decode(needle_readout("window", hay, cfg), hay.values).item() != pos  # 370 < 1000 - 256

# %% [markdown]
# ## 2. The depth × length maps
#
# Four haystacks per cell; the same haystacks for every model.

# %%
grids = {m: needle_grid(m, GRID_LENGTHS, GRID_DEPTHS, trials=4, config=cfg) for m in MODELS}

fig, axes = plt.subplots(1, len(MODELS), figsize=(14, 3.4), sharey=True)
for ax, model in zip(axes, MODELS):
    ax.imshow(grids[model], cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(GRID_LENGTHS)), [str(n) for n in GRID_LENGTHS], fontsize=7, rotation=45)
    ax.set_yticks(range(len(GRID_DEPTHS)), [f"{round(100 * x)}%" for x in GRID_DEPTHS], fontsize=7)
    ax.set_title(MODEL_LABELS[model], fontsize=9)
    ax.set_xlabel("context length")
axes[0].set_ylabel("needle depth")
plt.show()

print("depth  " + " ".join(f"{n:>6}" for n in GRID_LENGTHS) + "   (sinks + window)")
for x, row in zip(GRID_DEPTHS, grids["sinks"]):
    print(f"{x:5.0%}  " + " ".join(f"{v:6.0%}" for v in row))

# %% [markdown]
# ## 3. What the maps must show
#
# Full attention finds everything. The window finds a needle exactly when it lies in the last
# `window` positions; sinks + window also when it lies in the first `sinks`. The fixed-size
# linear state recalls at the shortest length but not at the longest, at any depth.

# %%
assert all(v == 1.0 for row in grids["full"] for v in row)
for model in ("window", "sinks"):
    for i, x in enumerate(GRID_DEPTHS):
        for j, n in enumerate(GRID_LENGTHS):
            p = needle_position(n, x)
            reach = p >= n - cfg.window or (model == "sinks" and p < cfg.sinks)
            assert grids[model][i][j] == (1.0 if reach else 0.0), (model, x, n)
linear_short = sum(row[0] for row in grids["linear"]) / len(GRID_DEPTHS)
linear_long = sum(row[-1] for row in grids["linear"]) / len(GRID_DEPTHS)
print(
    f"linear state: {linear_short:.0%} found at n = {GRID_LENGTHS[0]}, {linear_long:.0%} at n = {GRID_LENGTHS[-1]}"
)
assert linear_short > linear_long
decay_end = grids["decay"][-1][-1]
decay_start = grids["decay"][0][-1]
print(f"decaying state at n = {GRID_LENGTHS[-1]}: end {decay_end:.0%}, start {decay_start:.0%}")
assert decay_end > decay_start

# %% [markdown]
# ## 4. Several needles at once
#
# Eight needles spread from the start to the end of one haystack, all asked for. "All found" is
# what a task needing every fact would get.

# %%
for row in multi_needle_table(8, (512, 2048), trials=4):
    print(
        f"n = {row['length']:>5,}  {row['model']:>28}: {row['recall']:6.1%} of needles, all eight in "
        f"{row['all_found']:5.0%} of haystacks"
    )
    assert row["all_found"] <= row["recall"]

# %% [markdown]
# ## What this does not show
#
# These memories are written by hand and queried with the needle's exact key. Trained models
# learn what to keep and how to ask, read text, and meet distractors that look like the needle:
# their maps are measured, not derived from a toy. What carries over is the point of the test:
# it probes what a model's memory kept, and a memory of fixed size, or of limited reach, cannot
# keep everything.

# %%
elapsed = time.perf_counter() - start
print(f"ran in {elapsed:.1f} s")
