"""Lesson 3 (linear attention and state space models): figures drawn at build time.

* ``performer-error``: FAVOR+'s error against exact softmax attention as the random features
  grow, orthogonal against i.i.d. projections (``longctx.linear.performer_error_table``);
* ``linear-crossover``: forward FLOPs of one head, softmax against linear attention, with the
  crossover lengths of ``longctx.costs.crossover_seq_len`` marked;
* ``recall-gap``: ``longctx.recall.recall_figure``, associative recall against the number of
  stored pairs, when that module is present.
"""

from __future__ import annotations

from collections.abc import Sequence

from longctx import costs
from longctx.costs import crossover_seq_len, linear_attention_flops
from longctx.figures.wall import pyplot, svg

__all__ = ["FIGURES", "linear_crossover", "performer_error"]


def performer_error(
    num_features: Sequence[int] = (8, 16, 32, 64, 128, 256, 512), seeds: Sequence[int] = range(4)
) -> str:
    """Relative error of Performer attention against exact attention, log-log, against m.

    The shaded band is the range over ``seeds`` projections; the line is their mean. Inputs as in
    :func:`longctx.linear.performer_error_table` (``input_std`` 0.5, n = 128, d = 16, float64).
    A dotted line of slope -1/2 shows the Monte Carlo rate ``1 / sqrt(m)``.
    """
    from longctx.linear import performer_error_table

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, (orthogonal, label) in enumerate(((True, "orthogonal (FAVOR+)"), (False, "i.i.d. Gaussian"))):
        rows = performer_error_table(num_features, seeds=seeds, orthogonal=orthogonal)
        ms = [r["num_features"] for r in rows]
        ax.fill_between(
            ms,
            [r["min_rel_error"] for r in rows],
            [r["max_rel_error"] for r in rows],
            color=f"C{i}",
            alpha=0.2,
            linewidth=0,
        )
        ax.semilogx(
            ms,
            [r["mean_rel_error"] for r in rows],
            "o-" if orthogonal else "s--",
            base=2,
            color=f"C{i}",
            label=f"{label}: mean of {len(list(seeds))} draws, band = min to max",
        )
        if orthogonal:
            ref = rows[0]["mean_rel_error"] * (ms[0] ** 0.5)
            ax.semilogx(ms, [ref / m**0.5 for m in ms], ":", base=2, color="grey", label="∝ 1/√m")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:g}%")
    ax.set(
        xlabel="random features m",
        ylabel="relative error ‖Ô − O‖ / ‖O‖",
        title="Performer (positive random features) against exact softmax attention",
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return svg(fig)


def linear_crossover(head_dim: int = 128, chunk_size: int = 64) -> str:
    """Forward FLOPs of one head against n: softmax attention against linear attention (elu+1).

    Left: no mask. Right: causal, the recurrent and the chunked form. Diamonds mark
    :func:`longctx.costs.crossover_seq_len`.
    """
    plt = pyplot()
    ns = [2**k for k in range(4, 15)]
    d = head_dim
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, causal in zip(axes, (False, True)):
        ax.loglog(
            ns,
            [costs.attention_flops(n, d, causal=causal) for n in ns],
            "o-",
            base=2,
            color="C0",
            label="softmax attention",
        )
        forms = [(None, "C1", "s-", "linear attention (" + ("recurrent" if causal else "associative") + ")")]
        if causal:
            forms.append((chunk_size, "C2", "^--", f"linear attention (chunks of {chunk_size})"))
        for chunk, color, style, label in forms:
            ax.loglog(
                ns,
                [linear_attention_flops(n, d, causal=causal, chunk_size=chunk) for n in ns],
                style,
                base=2,
                color=color,
                label=label,
            )
            cross = crossover_seq_len(d, causal=causal, chunk_size=chunk)
            ax.plot(
                [cross],
                [costs.attention_flops(cross, d, causal=causal)],
                "D",
                color=color,
                markersize=8,
                markeredgecolor="black",
            )
            ax.annotate(
                f"crossover n = {cross:,}",
                (cross, costs.attention_flops(cross, d, causal=causal)),
                textcoords="offset points",
                xytext=(10, -16) if chunk else (-96 if causal else 10, 6),
                fontsize=8,
            )
        ax.set(
            xlabel="sequence length n (tokens)", title=("causal" if causal else "no mask") + f", d = F = {d}"
        )
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("forward FLOPs, one head")
    return svg(fig)


def _recall_gap() -> str:
    from longctx.recall import recall_figure

    return recall_figure()


def _has_recall() -> bool:
    try:
        import longctx.recall  # noqa: F401
    except ImportError:
        return False
    return True


#: This lesson's figures, by file name (``assets/figures/<name>.svg``).
FIGURES: dict = {
    "performer-error": performer_error,
    "linear-crossover": linear_crossover,
    **({"recall-gap": _recall_gap} if _has_recall() else {}),
}
