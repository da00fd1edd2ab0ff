"""Lesson 1's figures (the quadratic wall), and the SVG set-up every figure module shares."""

from __future__ import annotations

import io

from longctx import costs

__all__ = ["FIGURES", "attention_share", "pyplot", "quadratic_wall", "svg"]


def pyplot():
    """matplotlib.pyplot, set up for the site's SVG figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "longctx"  # stable ids, so rebuilding gives the same file
    plt.rcParams["svg.fonttype"] = "none"  # labels stay <text>: selectable, searchable, read aloud
    return plt


def svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # no date: reproducible
    plt.close(fig)
    return buf.getvalue()


def quadratic_wall(heads: int = 32, head_dim: int = 128) -> str:
    """Log-log plot: score-matrix memory (fp16) and forward FLOPs of one layer against n.

    Memory is shown for one head and for ``heads`` heads of a layer, with the memory of the
    GPUs in ``costs.GPU_MEMORY_BYTES`` drawn across.
    """
    plt = pyplot()
    ns = [2**k for k in range(9, 21)]
    one = [costs.score_matrix_bytes(n, bytes_per_element="fp16") for n in ns]
    layer = [costs.score_matrix_bytes(n, heads=heads, bytes_per_element="fp16") for n in ns]
    flops = [costs.attention_flops(n, head_dim, heads=heads) for n in ns]

    fig, (ax_mem, ax_flop) = plt.subplots(1, 2, figsize=(10, 4))
    ax_mem.loglog(ns, one, "o-", base=2, label="1 head")
    ax_mem.loglog(ns, layer, "s-", base=2, label=f"{heads} heads (one layer)")
    for i, (name, (size, _)) in enumerate(costs.GPU_MEMORY_BYTES.items()):
        ax_mem.axhline(size, color="grey", linestyle="--" if i else ":", linewidth=1)
        ax_mem.annotate(
            name, (ns[0], size), textcoords="offset points", xytext=(2, 3 if i else -10), fontsize=8
        )
    ax_mem.set(
        xlabel="sequence length n (tokens)", ylabel="bytes (fp16)", title="Score-matrix memory, one layer"
    )
    ax_mem.legend(loc="lower right")

    ax_flop.loglog(ns, flops, "o-", base=2, color="C2")
    ax_flop.set(
        xlabel="sequence length n (tokens)",
        ylabel="FLOPs",
        title=f"Attention FLOPs, one layer ({heads} heads, d = {head_dim})",
    )
    for ax in (ax_mem, ax_flop):
        ax.grid(True, which="major", alpha=0.3)
    return svg(fig)


def attention_share(d_models: tuple[int, ...] = (2048, 4096, 12288)) -> str:
    """Share of one layer's forward FLOPs spent in the attention core, against n.

    One curve per model width (``d_ff = 4 d_model``, no causal mask), with the crossover
    length of :func:`longctx.costs.attention_crossover_len` marked where the share is 50%.
    """
    plt = pyplot()
    ns = [2**k for k in range(9, 21)]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, dm in enumerate(d_models):
        share = [costs.attention_flop_share(n, d_model=dm) for n in ns]
        ax.semilogx(ns, share, "o-", base=2, color=f"C{i}", label=f"d_model = {dm:,}")
        cross = costs.attention_crossover_len(d_model=dm)
        ax.plot(
            [cross],
            [costs.attention_flop_share(cross, d_model=dm)],
            "D",
            color=f"C{i}",
            markersize=8,
            markeredgecolor="black",
        )
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(
        xlabel="sequence length n (tokens)",
        ylabel="share of layer FLOPs",
        ylim=(0, 1),
        title="Attention core's share of one layer's forward FLOPs",
    )
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left")
    return svg(fig)


#: Figures the site draws, by file name.
FIGURES = {"quadratic-wall": quadratic_wall, "attention-share": attention_share}
