"""Figures and tables of the two "beyond the lessons" pages on positions and on Ring Attention.

Positions and context extension: RoPE's per-pair frequencies and wavelengths under position
interpolation, NTK-aware scaling and YaRN; the extrapolation problem as numbers (which pairs
see angles at a new length that training never showed them); ALiBi's biases.

Ring Attention: which key/value block each rank holds at each step, with the blocks a causal
mask lets a rank skip.

Every number comes from :mod:`longctx.position` and :mod:`longctx.distributed`; the defaults
describe a Llama-2-like head (D = 128, base 10000, trained on L = 4096) stretched 8-fold.
"""

from __future__ import annotations

import math

from longctx.distributed.demo import causal_blocks_per_rank, ring_schedule
from longctx.figures.wall import pyplot, svg
from longctx.position.alibi import alibi_slopes
from longctx.position.rope import RopeScaling, rope_frequencies, rotation_angles

__all__ = [
    "FIGURES",
    "alibi_penalties",
    "extrapolation_table",
    "frequency_table",
    "largest_overshoot",
    "pairs_beyond_training",
    "pairs_without_full_turn",
    "ring_schedule_figure",
    "rope_extrapolation",
    "rope_frequency_plot",
]

HEAD_DIM, BASE, TRAIN_LEN, FACTOR = 128, 10000.0, 4096, 8
#: Shared tolerance: a new largest angle within 0.1% of the trained one counts as seen.
TOLERANCE = 1e-3


def _scalings(factor: float, train_length: int) -> dict[str, RopeScaling | None]:
    return {
        "plain RoPE (extrapolate)": None,
        "position interpolation": RopeScaling("linear", factor),
        "NTK-aware": RopeScaling("ntk", factor),
        "YaRN": RopeScaling("yarn", factor, train_length),
    }


def pairs_without_full_turn(
    head_dim: int = HEAD_DIM, train_length: int = TRAIN_LEN, base: float = BASE
) -> int:
    """How many of the D/2 pairs never completed a full turn over positions 0 .. L-1."""
    a = rotation_angles(head_dim, train_length, train_length, base=base)
    return int((~a.full_turn_in_training).sum())


def _angles(kind: str | None, head_dim: int, train_length: int, factor: float, base: float):
    if kind is None:
        scaling = None
    else:
        scaling = RopeScaling(kind, factor, train_length if kind == "yarn" else None)
    return rotation_angles(head_dim, train_length, round(factor * train_length), base=base, scaling=scaling)


def pairs_beyond_training(
    kind: str | None = None,
    *,
    head_dim: int = HEAD_DIM,
    train_length: int = TRAIN_LEN,
    factor: float = FACTOR,
    base: float = BASE,
) -> int:
    """Pairs that never turned fully in training and whose largest angle at ``L' = s L``
    exceeds the trained one by more than :data:`TOLERANCE`: angles the model never saw.

    ``kind``: None (plain RoPE), ``"linear"``, ``"ntk"`` or ``"yarn"``.
    """
    a = _angles(kind, head_dim, train_length, factor, base)
    beyond = a.max_angle_new > a.max_angle_train * (1 + TOLERANCE)
    return int((beyond & ~a.full_turn_in_training).sum())


def largest_overshoot(
    kind: str | None = None,
    *,
    head_dim: int = HEAD_DIM,
    train_length: int = TRAIN_LEN,
    factor: float = FACTOR,
    base: float = BASE,
) -> float:
    """Among pairs that never turned fully in training, the largest ``max_angle_new /
    max_angle_train`` at ``L' = s L`` (1.0 when every pair turned fully)."""
    a = _angles(kind, head_dim, train_length, factor, base)
    slow = ~a.full_turn_in_training
    if not bool(slow.any()):
        return 1.0
    return (a.max_angle_new / a.max_angle_train)[slow].max().item()


def frequency_table(
    head_dim: int = HEAD_DIM,
    base: float = BASE,
    train_length: int = TRAIN_LEN,
    factor: float = FACTOR,
    pairs: tuple[int, ...] = (0, 8, 16, 24, 32, 40, 44, 48, 56, 63),
) -> list[dict]:
    """Rows per pair i: theta_i, wavelength, turns over L, and per method the slow-down
    ``theta_i / theta'_i`` (1: the pair is left as trained; s: fully interpolated)."""
    plain = rope_frequencies(head_dim, base=base)  # [D/2]
    scaled = {
        name: rope_frequencies(head_dim, base=base, scaling=s)
        for name, s in _scalings(factor, train_length).items()
        if s is not None
    }
    rows = []
    for i in pairs:
        if not 0 <= i < head_dim // 2:
            raise ValueError(f"pairs must lie in 0 .. {head_dim // 2 - 1}, got {i}")
        theta = plain[i].item()
        wavelength = 2 * math.pi / theta
        slowdown = [theta / f[i].item() for f in scaled.values()]  # PI, NTK, YaRN
        rows.append(
            {
                "pair": i,
                "theta": theta,
                "wavelength": wavelength,
                "turns": train_length / wavelength,
                "pi": slowdown[0],
                "ntk": slowdown[1],
                "yarn": slowdown[2],
            }
        )
    return rows


def extrapolation_table(
    head_dim: int = HEAD_DIM, base: float = BASE, train_length: int = TRAIN_LEN, factor: float = FACTOR
) -> list[dict]:
    """One row per method at ``L' = s L``.

    ``beyond``: pairs that see angles never seen in training (see :func:`pairs_beyond_training`);
    ``worst``: the largest ratio of new to trained largest angle among pairs without a full turn;
    ``fastest``: theta_0 / theta'_0, how much the fastest pair (local word order) is slowed.
    """
    rows = []
    for name, scaling in _scalings(factor, train_length).items():
        kind = scaling.kind if scaling else None
        a = _angles(kind, head_dim, train_length, factor, base)
        common = {"head_dim": head_dim, "train_length": train_length, "factor": factor, "base": base}
        rows.append(
            {
                "method": name,
                "beyond": pairs_beyond_training(kind, **common),
                "worst": largest_overshoot(kind, **common),
                "fastest": (a.freqs_train[0] / a.freqs_new[0]).item(),
            }
        )
    return rows


def rope_frequency_plot(
    head_dim: int = HEAD_DIM, base: float = BASE, train_length: int = TRAIN_LEN, factor: float = FACTOR
) -> str:
    """Two log-scale panels over the pair index i: theta_i and the wavelength 2*pi/theta_i,
    for plain RoPE and the three scalings, with L and L' = s L drawn across the wavelengths."""
    plt = pyplot()
    i = list(range(head_dim // 2))
    fig, (ax_f, ax_w) = plt.subplots(1, 2, figsize=(10, 4))
    styles = ["-", "--", "-.", ":"]
    for (name, scaling), style in zip(_scalings(factor, train_length).items(), styles):
        f = rope_frequencies(head_dim, base=base, scaling=scaling)
        label = "plain RoPE" if scaling is None else name
        ax_f.semilogy(i, f.tolist(), style, linewidth=2, label=label)
        ax_w.semilogy(i, (2 * math.pi / f).tolist(), style, linewidth=2, label=label)
    new_length = round(factor * train_length)
    for length, text in ((train_length, f"L = {train_length:,}"), (new_length, f"L' = {new_length:,}")):
        ax_w.axhline(length, color="grey", linewidth=1, linestyle=":")
        ax_w.annotate(text, (0, length), textcoords="offset points", xytext=(2, 3), fontsize=8)
    ax_f.set(
        xlabel="pair i",
        ylabel="θ_i (radians per position)",
        title=f"Frequencies (D = {head_dim}, base {base:g})",
    )
    ax_w.set(
        xlabel="pair i",
        ylabel="2π / θ_i (positions per turn)",
        title=f"Wavelengths, scaled by s = {factor:g}",
    )
    for ax in (ax_f, ax_w):
        ax.grid(True, which="major", alpha=0.3)
    ax_f.legend(loc="lower left", fontsize=8)
    return svg(fig)


def rope_extrapolation(
    head_dim: int = HEAD_DIM, base: float = BASE, train_length: int = TRAIN_LEN, factor: float = FACTOR
) -> str:
    """Largest angle per pair: seen in training (filled) against used at ``L' = s L`` per method;
    pairs left of the marker never completed a turn in training."""
    plt = pyplot()
    new_length = round(factor * train_length)
    i = list(range(head_dim // 2))
    fig, ax = plt.subplots(figsize=(8, 4))
    trained = rotation_angles(head_dim, train_length, train_length, base=base)
    ax.fill_between(
        i,
        trained.max_angle_train.tolist(),
        1e-4,
        color="grey",
        alpha=0.25,
        label=f"seen in training (positions < {train_length:,})",
    )
    styles = ["-", "--", "-.", ":"]
    for (name, scaling), style in zip(_scalings(factor, train_length).items(), styles):
        a = rotation_angles(head_dim, train_length, new_length, base=base, scaling=scaling)
        ax.semilogy(i, a.max_angle_new.tolist(), style, linewidth=2, label=f"{name} at {new_length:,}")
    first_slow = int(trained.full_turn_in_training.sum())  # pairs 0 .. first_slow-1 turned fully
    ax.axhline(2 * math.pi, color="black", linewidth=1, linestyle=":")
    ax.annotate("one full turn (2π)", (0, 2 * math.pi), textcoords="offset points", xytext=(2, 3), fontsize=8)
    ax.axvline(first_slow - 0.5, color="C3", linewidth=1)
    ax.annotate(
        "never a full turn →",
        (first_slow - 0.5, 1e-3),
        textcoords="offset points",
        xytext=(4, 0),
        fontsize=8,
        color="C3",
    )
    ax.set(
        xlabel="pair i",
        ylabel="largest angle θ_i (n − 1), radians",
        ylim=(1e-4, None),
        title=f"Angles seen in training vs used at {factor:g}× the length (D = {head_dim})",
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    return svg(fig)


def alibi_penalties(num_heads: int = 8, max_distance: int = 64) -> str:
    """ALiBi: the bias each head adds against the distance to the key, ``-m_h * distance``."""
    plt = pyplot()
    slopes = alibi_slopes(num_heads).tolist()
    dist = list(range(max_distance + 1))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for h, m in enumerate(slopes):
        ax.plot(dist, [-m * j for j in dist], color=f"C{h % 10}", label=f"head {h + 1}: m = {m:.4g}")
    ax.set(
        xlabel="distance from the query, i − j (positions)",
        ylabel="bias added to the score",
        title=f"ALiBi biases of {num_heads} heads",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=7, ncol=2)
    return svg(fig)


def ring_schedule_figure(world_size: int = 4) -> str:
    """A W x W grid: at step s, rank r holds the K/V block of rank (r - s) mod W; blocks a causal
    mask skips (they start on a later rank) are hatched, the diagonal blocks are half masked."""
    plt = pyplot()
    from matplotlib.patches import Rectangle

    W = world_size
    sched = ring_schedule(W)
    fig, ax = plt.subplots(figsize=(1.3 * W + 2.4, 1.0 * W + 1.2))
    for s, row in enumerate(sched):
        for r, src in enumerate(row):
            skipped, diagonal = src > r, src == r
            ax.add_patch(
                Rectangle(
                    (s, r),
                    1,
                    1,
                    facecolor=f"C{src}",
                    alpha=0.15 if skipped else 0.55,
                    hatch="///" if skipped else None,
                    edgecolor="white",
                    linewidth=2,
                )
            )
            label = f"K/V {src}" + ("\nskipped" if skipped else "\ndiagonal" if diagonal else "")
            ax.text(s + 0.5, r + 0.5, label, ha="center", va="center", fontsize=8)
    blocks = causal_blocks_per_rank(W)
    for r in range(W):
        ax.text(W + 0.1, r + 0.5, f"{blocks[r]} of {W}", va="center", fontsize=8)
    ax.text(W + 0.1, -0.25, "causal work", fontsize=8)
    ax.set_xlim(0, W + 1.1)
    ax.set_ylim(W, -0.5)
    ax.set_xticks([s + 0.5 for s in range(W)], [f"step {s}" for s in range(W)])
    ax.set_yticks([r + 0.5 for r in range(W)], [f"rank {r}" for r in range(W)])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"Ring Attention, {W} ranks: which K/V block each rank holds", fontsize=10)
    return svg(fig)


#: Figures of the positions page and the Ring Attention page, by file name.
FIGURES = {
    "rope-frequencies": rope_frequency_plot,
    "rope-extrapolation": rope_extrapolation,
    "alibi-penalties": alibi_penalties,
    "ring-schedule": ring_schedule_figure,
}
