"""Figures and tables of the frontier page (2024 to 2026): MoBA's mask, the FLOPs it saves, the
delta rule's recall, and the prefix cache's hit rate.

Every number comes from :mod:`longctx.sparse.moba`, :mod:`longctx.linear.delta` and
:mod:`longctx.kv.prefix`.
"""

from __future__ import annotations

from longctx.figures.wall import pyplot, svg
from longctx.sparse.moba import moba_attention_flops, moba_mask

__all__ = ["FIGURES", "moba_flops_table", "moba_mask_figure"]


def moba_mask_figure(seq_len: int = 48, block_size: int = 8, top_k: int = 3) -> str:
    """MoBA's mask for one head on random data, beside the causal mask it replaces."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    mask = moba_mask(seq_len, block_size=block_size, top_k=top_k).double()
    causal = mask.new_ones(seq_len, seq_len).tril()
    cmap = ListedColormap(["#f4f4f8", "#3f51b5"])
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.9))
    for ax, m, title in (
        (axes[0], causal, "causal: every earlier key"),
        (axes[1], mask, f"MoBA: own block + {top_k - 1} chosen of {block_size}"),
    ):
        ax.imshow(m.numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        for edge in range(block_size, seq_len, block_size):
            ax.axvline(edge - 0.5, color="#9e9e9e", linewidth=0.6)
            ax.axhline(edge - 0.5, color="#9e9e9e", linewidth=0.6)
        ax.set(xlabel="key position j", ylabel="query position i")
        ax.set_title(
            f"{title}\n{int(m.sum())} of {seq_len * (seq_len + 1) // 2} causal pairs kept", fontsize=9
        )
    return svg(fig)


def moba_flops_table(
    seq_lens: tuple[int, ...] = (8192, 32768, 131072),
    *,
    head_dim: int = 128,
    block_size: int = 512,
    top_k: int = 3,
) -> list[dict]:
    """Attention FLOPs of one head with MoBA against full causal attention, gate included."""
    rows = []
    for n in seq_lens:
        f = moba_attention_flops(n, head_dim, block_size=block_size, top_k=top_k)
        rows.append(
            {
                "n": n,
                "causal": f["causal"],
                "moba": f["moba"],
                "gate": f["gate"],
                "saved": f["saved"],
                "ratio": f["causal"] / f["moba"],
            }
        )
    return rows


FIGURES = {"moba-mask": moba_mask_figure}
