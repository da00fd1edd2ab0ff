"""Lesson 4 (the KV-cache economy): figures and tables computed at build time.

Figures are drawn with ``longctx.figures.wall.pyplot()`` and returned by
``longctx.figures.wall.svg(fig)``. The ``*_table`` functions return rows for the page's
``{{ table figures.kv.<name>(...) | ... }}`` expressions; :func:`ratio`, :func:`reduction`,
:func:`ms` and :func:`per_second` let a page combine two computed numbers without typing one.

The measurements (quantization error, eviction error) are computed once per process and shared
by the table and the figure that show them: the site build imports the package once.
"""

from __future__ import annotations

import functools

from longctx import costs, presets
from longctx.figures.wall import pyplot, svg

__all__ = [
    "FIGURES",
    "attention_kinds_table",
    "block_table_walkthrough",
    "eviction_error",
    "eviction_table",
    "kv_bytes_per_token_chart",
    "kv_cache_vs_context",
    "kv_sizing_table",
    "quant_error",
    "quant_error_table",
]


# --------------------------------------------------------------------- tables


def kv_sizing_table(
    preset: str = "llama-2-70b",
    contexts: tuple[int, ...] = (4096, 8192, 32768, 131072),
    bytes_per_element: str | float = "fp16",
) -> list[dict]:
    """One sequence's KV cache for ``preset`` at several lengths, and the same shape with MHA.

    Rows: ``tokens``, ``bytes`` (the model as released), ``mha_bytes`` (every query head with its
    own K and V head: ``n_kv_heads = n_heads``) and ``a100_80gb`` (``bytes`` as a fraction of an
    A100 80GB).
    """
    p = presets.get_preset(preset)
    if not contexts:
        raise ValueError("contexts must hold at least one length")
    rows = []
    for n in contexts:
        nbytes = presets.model_kv_cache_bytes(p, n, bytes_per_element=bytes_per_element)
        mha = costs.kv_cache_bytes(
            layers=p.layers,
            kv_heads=p.n_heads,
            head_dim=p.head_dim,
            tokens=n,
            bytes_per_element=bytes_per_element,
        )
        rows.append(
            {
                "tokens": n,
                "bytes": nbytes,
                "mha_bytes": mha,
                "a100_80gb": costs.gpu_memory_fraction(nbytes, gpu="A100 80GB"),
            }
        )
    return rows


def attention_kinds_table(
    n_heads: int = 128, head_dim: int = 128, latent_dim: int = 512, rope_dim: int = 64
) -> list[dict]:
    """Elements cached per token and layer by MHA, GQA, MQA and MLA for one layer shape.

    The default shape is DeepSeek-V2's (128 heads of width 128; latent 512, RoPE key 64), the
    comparison its paper makes. Rows: ``kind`` (text), ``kv_heads`` (text), ``elements`` and
    ``fraction`` of MHA's elements.
    """
    mha = costs.kv_cache_bytes_per_token(layers=1, kv_heads=n_heads, head_dim=head_dim, bytes_per_element=1)
    rows = []
    for kind, kv in (("MHA", n_heads), ("GQA-8", 8), ("MQA", 1)):
        el = costs.kv_cache_bytes_per_token(layers=1, kv_heads=kv, head_dim=head_dim, bytes_per_element=1)
        rows.append({"kind": kind, "kv_heads": str(kv), "elements": el, "fraction": el / mha})
    el = costs.mla_cache_bytes_per_token(
        layers=1, latent_dim=latent_dim, rope_dim=rope_dim, bytes_per_element=1
    )
    rows.append(
        {
            "kind": "MLA",
            "kv_heads": f"latent {latent_dim} + RoPE key {rope_dim}",
            "elements": el,
            "fraction": el / mha,
        }
    )
    return rows


def block_table_walkthrough(block_size: int = 4, num_blocks: int = 8) -> list[dict]:
    """Three sequences written into a small :class:`longctx.kv.PagedKVCache`, then one freed.

    Steps: A writes 6 tokens, B 3, A 3 more, C 5; then B finishes and its block goes back to the
    free list; D then writes 2 tokens and gets it. One row per step: ``step`` (text), ``tables``
    (every live sequence's block table, text), ``free`` (the free list, text) and
    ``empty_slots`` (allocated slots holding no token).
    """
    import torch

    from longctx.kv import PagedKVCache

    cache = PagedKVCache(num_blocks, block_size, n_kv_heads=1, head_dim=2)
    rows = []

    def tokens(n: int):
        return torch.zeros(1, n, 2, dtype=torch.float64)

    def record(step: str) -> None:
        tables = "; ".join(f"{s}: {t} ({cache.lengths[s]} tok)" for s, t in cache.block_tables.items())
        slots = sum(len(t) for t in cache.block_tables.values()) * block_size
        rows.append(
            {
                "step": step,
                "tables": tables,
                "free": str(sorted(cache.allocator.free_list)),
                "empty_slots": slots - sum(cache.lengths.values()),
            }
        )

    for seq, n in (("A", 6), ("B", 3), ("A", 3), ("C", 5)):
        cache.append(seq, tokens(n), tokens(n))
        record(f"{seq} writes {n}")
    cache.free("B")
    record("B finishes")
    cache.append("D", tokens(2), tokens(2))
    record("D writes 2")
    return rows


@functools.lru_cache(maxsize=4)
def _quant_rows(seed: int) -> tuple:
    from longctx.kv import quantized_attention_error

    return tuple(quantized_attention_error(seed=seed))


def quant_error_table(seed: int = 0) -> list[dict]:
    """:func:`longctx.kv.quantized_attention_error`'s rows with readable labels.

    Adds ``k_scales`` and ``v_scales`` (text: which axis shares a scale, and the group size).
    """

    def label(axis: str, g) -> str:
        where = "per token" if axis == "token" else "per channel"
        return where if g is None else f"{where}, groups of {g}"

    return [
        {
            **r,
            "codes": f"int{r['bits']}",
            "k_scales": label(r["k_axis"], r["group_size"]),
            "v_scales": label(r["v_axis"], r["group_size"]),
        }
        for r in _quant_rows(seed)
    ]


#: The eviction experiment's size: small enough for the site build (each step is a Python loop).
EVICTION_SETTINGS = {"H": 2, "H_kv": 1, "T": 48, "budgets": (48, 32, 24, 16, 8, 4)}


@functools.lru_cache(maxsize=4)
def _eviction_rows(seed: int) -> tuple:
    from longctx.kv import eviction_error_table

    return tuple(eviction_error_table(seed=seed, **EVICTION_SETTINGS))


def eviction_table(seed: int = 0) -> list[dict]:
    """:func:`longctx.kv.eviction_error_table` at :data:`EVICTION_SETTINGS`, plus ``kept`` (budget / T)."""
    T = EVICTION_SETTINGS["T"]
    return [{**r, "kept": r["budget"] / T} for r in _eviction_rows(seed)]


# --------------------------------------------------------------------- figures

_KIND_COLOR = {"mha": "C3", "gqa": "C0", "mqa": "C2", "mla": "C1"}


def kv_bytes_per_token_chart(bytes_per_element: str | float = "fp16") -> str:
    """Horizontal bars: KV-cache bytes one token adds, every preset, coloured by attention kind."""
    plt = pyplot()
    rows = sorted(presets.presets_table(bytes_per_element), key=lambda r: r["kv_bytes_per_token"])
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.2))
    ys = range(len(rows))
    kib = [r["kv_bytes_per_token"] / 1024 for r in rows]
    ax.barh(ys, kib, color=[_KIND_COLOR[r["attention"]] for r in rows])
    for y, r, v in zip(ys, rows, kib):
        kv = "MLA" if r["attention"] == "mla" else f"{r['attention'].upper()}, {r['n_kv_heads']} KV heads"
        ax.annotate(
            f"{v:,.0f} KiB  ({kv}, {r['layers']} layers)",
            (v, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(list(ys), [r["name"] for r in rows])
    ax.set_xlim(0, max(kib) * 1.6)
    ax.set(
        xlabel=f"KV-cache KiB per token, all layers ({bytes_per_element})",
        title="What one token costs in the cache",
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _KIND_COLOR.values()]
    ax.legend(handles, [k.upper() for k in _KIND_COLOR], loc="lower right", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    return svg(fig)


def kv_cache_vs_context(
    keys: tuple[str, ...] = ("gpt-3-175b", "llama-2-7b", "llama-2-70b", "llama-3-8b", "deepseek-v2"),
    bytes_per_element: str | float = "fp16",
) -> str:
    """Log-log: one sequence's KV cache against its length for a few presets, with GPU memory lines.

    A marker on each line shows the model's released context length.
    """
    plt = pyplot()
    ns = [2**k for k in range(10, 21)]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, key in enumerate(keys):
        p = presets.get_preset(key)
        sizes = [presets.model_kv_cache_bytes(p, n, bytes_per_element=bytes_per_element) / 1e9 for n in ns]
        ax.plot(ns, sizes, "-", color=f"C{i}", label=f"{p.name} ({p.attention.upper()})")
        ctx = p.context_length
        ax.plot(
            [ctx],
            [presets.model_kv_cache_bytes(p, ctx, bytes_per_element=bytes_per_element) / 1e9],
            "o",
            color=f"C{i}",
            markeredgecolor="black",
        )
    for j, (name, (size, _)) in enumerate(costs.GPU_MEMORY_BYTES.items()):
        ax.axhline(size / 1e9, color="grey", linestyle=":" if j == 0 else "--", linewidth=1)
        ax.annotate(name, (ns[0], size / 1e9), textcoords="offset points", xytext=(2, 3), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(ns[::2], [f"{n // 1024:,}K" for n in ns[::2]])
    ax.set(
        xlabel="tokens in the sequence",
        ylabel=f"GB of KV cache, one sequence ({bytes_per_element})",
        title="KV cache against context (dots: the released context length)",
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return svg(fig)


def quant_error(seed: int = 0) -> str:
    """Mean attention-output error against bytes kept, one point per quantization setting."""
    plt = pyplot()
    rows = quant_error_table(seed)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for r in rows:
        color = "C0" if r["bits"] == 8 else "C3"
        marker = "o" if r["k_axis"] == "channel" else "s"
        ax.plot([r["bytes_ratio"]], [r["mean_abs_err"]], marker, color=color, markersize=8)
        ax.annotate(
            f"{r['codes']}, K {r['k_scales']}",
            (r["bytes_ratio"], r["mean_abs_err"]),
            textcoords="offset points",
            xytext=(6, 3),
            fontsize=7,
        )
    ax.set_yscale("log")
    ax.set_xlim(0.2, 0.8)
    ax.set(
        xlabel="bytes of K and V (codes + scales) / fp16 bytes",
        ylabel="mean |error| of the attention output",
        title="Quantized K/V: memory against error (squares: K per token, dots: per channel)",
    )
    ax.grid(True, which="both", alpha=0.3)
    return svg(fig)


def eviction_error(seed: int = 0) -> str:
    """Mean attention-output error against the cache budget for H2O and attention sinks."""
    plt = pyplot()
    rows = [r for r in eviction_table(seed) if r["budget"] < EVICTION_SETTINGS["T"]]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    kept = [r["budget"] for r in rows]
    ax.plot(kept, [r["h2o_mean_err"] for r in rows], "o-", color="C0", label="H2O (heavy hitters + recent)")
    ax.plot(
        kept,
        [r["sink_mean_err"] for r in rows],
        "s--",
        color="C1",
        label="attention sinks (first 4 + recent)",
    )
    ax.set(
        xlabel=f"cache budget (entries kept, of {EVICTION_SETTINGS['T']} tokens)",
        ylabel="mean |error| of the output",
        title="Evicting keys: error as the budget shrinks",
    )
    ax.invert_xaxis()
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return svg(fig)


#: This lesson's figures, by file name (``assets/figures/<name>.svg``).
FIGURES: dict = {
    "kv-bytes-per-token": kv_bytes_per_token_chart,
    "kv-cache-vs-context": kv_cache_vs_context,
    "kv-quant-error": quant_error,
    "kv-eviction-error": eviction_error,
}
