# %% [markdown]
# # Lab 5: positions in numbers
#
# The [positions page](../../topics/positions/) made three claims about RoPE. This notebook
# checks them on random vectors with `longctx.position`:
#
# 1. **Relative positions.** The score of a rotated query and key depends on their positions
#    only through the distance $m - n$; the rotation written with real pairs and written as
#    complex multiplication agree.
# 2. **Scalings.** Position interpolation slows every pair by $s$; NTK-aware scaling slows the
#    slowest pair by exactly $s$ and leaves the fastest alone; YaRN leaves pairs that turn many
#    times over the trained length untouched and interpolates those that turn less than once.
#    Between, the YaRN code that checkpoints were trained with ramps over the pair index, not
#    over the turns as the paper's equation does, and the two differ by up to a factor of 3;
#    Llama 3's scaling is the per-turn ramp between 1 and 4 turns.
# 3. **Extrapolation.** Pairs that never turn fully in training see angles beyond their
#    trained range at a longer length, unless the frequencies are scaled.

# %%
import math

import matplotlib.pyplot as plt
import torch

from longctx.position import (
    RopeScaling,
    alibi_slopes,
    apply_rope,
    apply_rope_complex,
    ntk_base,
    rope_frequencies,
    rotation_angles,
)

torch.manual_seed(0)
D, BASE, L, S = 128, 10000.0, 4096, 8  # head dim, RoPE base, trained length, stretch factor

# %% [markdown]
# ## 1. The score depends on $m - n$ only
#
# One query and one key, rotated at many pairs of positions $(m, n)$ with the same distance,
# give the same score up to rounding; a different distance gives a different score.

# %%
q = torch.randn(1, 1, 1, D, dtype=torch.float64)
k = torch.randn(1, 1, 1, D, dtype=torch.float64)
freqs = rope_frequencies(D, base=BASE)


def score(m: int, n: int, interleaved: bool = False) -> float:
    qm = apply_rope(q, torch.tensor([m]), freqs, interleaved=interleaved)
    kn = apply_rope(k, torch.tensor([n]), freqs, interleaved=interleaved)
    return (qm * kn).sum().item()


for distance in (0, 3, 50, 1000):
    scores = [score(n + distance, n) for n in (0, 17, 999, 20_000)]
    spread = max(scores) - min(scores)
    print(f"m - n = {distance:>5}: score {scores[0]:+.6f}, spread over 4 offsets {spread:.1e}")
    assert spread < 1e-9

assert abs(score(3, 0) - score(50, 0)) > 1e-3  # another distance, another score

x = torch.randn(2, 3, 40, D, dtype=torch.float64)
pos = torch.arange(40) * 7
for interleaved in (False, True):
    err = (
        (
            apply_rope(x, pos, freqs, interleaved=interleaved)
            - apply_rope_complex(x, pos, freqs, interleaved=interleaved)
        )
        .abs()
        .max()
        .item()
    )
    print(f"real pairs vs complex form (interleaved={interleaved}): max difference {err:.1e}")
    assert err < 1e-12

# %% [markdown]
# ## 2. What each scaling does to the frequencies
#
# The slow-down $\theta_i / \theta'_i$ of a few pairs at $s$ = 8, with the number of turns
# each pair makes over the trained length $L$.

# %%
scalings = {"PI": RopeScaling("linear", S), "NTK": RopeScaling("ntk", S), "YaRN": RopeScaling("yarn", S, L)}
scaled = {name: rope_frequencies(D, base=BASE, scaling=sc) for name, sc in scalings.items()}
print(f"NTK-aware base: {ntk_base(BASE, S, D):,.0f}")
print("pair  turns over L   PI    NTK   YaRN")
for i in (0, 16, 32, 40, 48, 63):
    turns = L * freqs[i].item() / (2 * math.pi)
    slow = [freqs[i].item() / f[i].item() for f in scaled.values()]
    print(f"{i:>4} {turns:>13.2f}" + "".join(f" {x:>5.2f}" for x in slow))

slow = {name: freqs / f for name, f in scaled.items()}
assert torch.allclose(slow["PI"], torch.full_like(freqs, S))
assert math.isclose(slow["NTK"][0].item(), 1.0) and math.isclose(slow["NTK"][-1].item(), S)
turns = L * freqs / (2 * math.pi)
assert torch.allclose(slow["YaRN"][turns > 32], torch.ones(int((turns > 32).sum()), dtype=torch.float64))
assert torch.allclose(
    slow["YaRN"][turns < 1], torch.full((int((turns < 1).sum()),), float(S), dtype=torch.float64)
)

# %% [markdown]
# ### YaRN as released against YaRN as written
#
# `RopeScaling("yarn", ...)` gives by default the frequencies of the authors' code and of
# Hugging Face (a ramp over the pair index, its ends rounded outwards); `ramp="turns"` gives the
# paper's equation. Outside the ramp they agree exactly; inside, pair by pair:

# %%
for factor in (4, 16):
    code = rope_frequencies(D, base=BASE, scaling=RopeScaling("yarn", factor, L))
    paper = rope_frequencies(D, base=BASE, scaling=RopeScaling("yarn", factor, L, ramp="turns"))
    differ = ~torch.isclose(code, paper, rtol=1e-12, atol=0.0)
    ratio = torch.maximum(code / paper, paper / code)
    print(
        f"s = {factor:>2}: {int(differ.sum())} of {D // 2} pairs differ, largest ratio {ratio.max().item():.2f} "
        f"(pair {int(ratio.argmax())})"
    )
    assert ratio.max().item() > 1.5  # far from a rounding difference

# %% [markdown]
# Llama 3.1's scaling (factor 8, ramp between 1 and 4 turns over $L$ = 8,192, base 500,000):
# the fastest pairs keep their frequency, the slowest are divided by 8, and nothing multiplies
# the logits.

# %%
llama = RopeScaling("llama3", 8.0, 8192, low_freq_factor=1.0, high_freq_factor=4.0)
plain3 = rope_frequencies(D, base=500_000.0)
scaled3 = rope_frequencies(D, base=500_000.0, scaling=llama)
turns3 = 8192 * plain3 / (2 * math.pi)
for i in (0, 20, 29, 32, 34, 63):
    print(
        f"pair {i:>2}: {turns3[i].item():>9.2f} turns over 8,192, slowed by {(plain3[i] / scaled3[i]).item():.2f}"
    )
assert torch.allclose(scaled3[turns3 > 4], plain3[turns3 > 4])
assert torch.allclose(scaled3[turns3 < 1], plain3[turns3 < 1] / 8)

# %% [markdown]
# ## 3. The extrapolation problem, for several lengths
#
# For each new length $L'$: how many pairs never turned fully in training, and how many of
# them reach angles beyond their trained range (by more than 0.1%) with each method.


# %%
def beyond(scaling, new_length):
    a = rotation_angles(D, L, new_length, base=BASE, scaling=scaling)
    over = a.max_angle_new > a.max_angle_train * 1.001
    return int((over & ~a.full_turn_in_training).sum()), int((~a.full_turn_in_training).sum())


print("  L'      slow pairs  plain  PI  NTK  YaRN")
rows = []
for factor in (2, 4, 8, 16, 32):
    new = factor * L
    counts = {"plain": beyond(None, new)[0]}
    counts.update(
        {
            name: beyond(RopeScaling(sc.kind, factor, L if sc.kind == "yarn" else None), new)[0]
            for name, sc in scalings.items()
        }
    )
    n_slow = beyond(None, new)[1]
    rows.append((factor, counts))
    print(
        f"{new:>7,} {n_slow:>11} {counts['plain']:>6} {counts['PI']:>3} {counts['NTK']:>4} {counts['YaRN']:>5}"
    )
    assert counts["plain"] == n_slow and counts["PI"] == 0 and counts["YaRN"] == 0

# %% [markdown]
# Plain RoPE sends every slow pair past its trained range; interpolation (PI) and YaRN keep them
# inside; NTK-aware scaling leaves many of the middle pairs slightly outside. The plot shows, per
# pair, how far the largest angle at 8× the length exceeds the trained one.

# %%
fig, ax = plt.subplots(figsize=(7, 3.4))
trained = rotation_angles(D, L, L, base=BASE)
for name, sc in [("plain", None), *scalings.items()]:
    a = rotation_angles(D, L, S * L, base=BASE, scaling=sc)
    ax.semilogy((a.max_angle_new / trained.max_angle_train).tolist(), label=name)
ax.axvline(int(trained.full_turn_in_training.sum()) - 0.5, color="grey", linestyle=":")
ax.set(xlabel="pair i", ylabel="new largest angle ÷ trained", title=f"Angles at {S}× the trained length")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## ALiBi, for comparison
#
# ALiBi has no frequencies: each head subtracts a slope times the distance. The slopes form a
# geometric sequence starting at $2^{-8/H}$.

# %%
for H in (8, 12):
    slopes = alibi_slopes(H)
    print(f"H = {H:>2}: " + ", ".join(f"{m:.4g}" for m in slopes.tolist()))
assert torch.allclose(alibi_slopes(8), torch.tensor([2.0 ** (-i) for i in range(1, 9)], dtype=torch.float64))
