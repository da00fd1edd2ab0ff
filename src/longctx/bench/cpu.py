"""Without a GPU: the measured peak memory of naive against tiled attention, beside the formulas.

What ``python -m longctx.bench`` prints on a machine without CUDA (kernel timings need a GPU).
"""

from __future__ import annotations

from collections.abc import Sequence

from longctx.bench.report import Row, fixed, format_table

__all__ = ["cpu_memory_rows", "memory_table_text"]


def cpu_memory_rows(ns: Sequence[int], *, head_dim: int = 64, block: int = 64, repeats: int = 2) -> list[Row]:
    """Measured peak memory of naive against tiled attention (float32, one head) beside the formulas.

    Uses :func:`longctx.flash.memory_table` (``repeats`` measurements per call, the smallest
    kept). The tiled model is what the tiled forward must hold: its output ``n * D`` and
    log-sum-exp ``n`` (both O(n)), one score tile and a query block's running state (both
    independent of ``n``).
    """
    from longctx.flash.reference import memory_table

    rows = []
    try:
        measured = memory_table(ns, head_dim=head_dim, block_q=block, block_k=block, repeats=repeats)
    except RuntimeError as exc:  # peak_rss_bytes cannot measure here (not Linux, no /proc access)
        from longctx.flash.reference import memory_model

        measured = [
            {
                "n": n,
                "naive_peak_bytes": None,
                "tiled_peak_bytes": None,
                **memory_model(n, head_dim=head_dim, block_q=block, block_k=block),
            }
            for n in ns
        ]
        note = f"not measured: {exc}"
    else:
        note = ""
    for m in measured:
        n = m["n"]
        tiled_model = 4 * n * head_dim + m["lse_bytes"] + m["tile_bytes"] + m["block_state_bytes"]
        naive, tiled = m["naive_peak_bytes"], m["tiled_peak_bytes"]
        rows.append(
            Row(
                "memory",
                {"n": n, "head_dim": head_dim, "block": block, "dtype": "float32"},
                {
                    "naive_peak_bytes": naive,
                    "score_matrix_bytes": m["score_matrix_bytes"],
                    "naive_over_score_matrix": None if naive is None else naive / m["score_matrix_bytes"],
                    "tiled_peak_bytes": tiled,
                    "tiled_model_bytes": tiled_model,
                    "tiled_over_model": None if tiled is None else tiled / tiled_model,
                },
                note,
            )
        )
    return rows


def memory_table_text(rows: Sequence[Row]) -> str:
    """The CPU memory rows as a table, with the formulas it compares against written out."""
    from longctx.units import format_value

    def mb(v):
        return None if v is None else format_value(v, "mb").replace(" MB", "")

    d = rows[0].params["head_dim"] if rows else 64
    b = rows[0].params["block"] if rows else 64
    cells = [
        [
            f"{r.params['n']:,}",
            mb(r.metrics["naive_peak_bytes"]),
            mb(r.metrics["score_matrix_bytes"]),
            fixed(r.metrics["naive_over_score_matrix"], 2, "x"),
            mb(r.metrics["tiled_peak_bytes"]),
            mb(r.metrics["tiled_model_bytes"]),
            fixed(r.metrics["tiled_over_model"], 2, "x"),
        ]
        for r in rows
    ]
    headers = [
        "n",
        "naive peak MB",
        "n²·4 B in MB",
        "naive / n²·4",
        "tiled peak MB",
        "model MB",
        "tiled / model",
    ]
    table = format_table(
        headers,
        cells,
        title=(
            f"Peak extra memory, float32, one head, d={d}: naive attention_ref against flash_attention_ref "
            f"(tiles of {b}x{b}), measured on this CPU"
        ),
    )
    return table + (
        f"\nn²·4 B: one n x n score matrix; naive attention holds a few at once."
        f"\nmodel: n·{d}·4 (output) + n·4 (lse) + {b}·{b}·4 (one score tile) + {b}·{d + 2}·4 "
        f"(a query block's m, l and accumulator): O(n), not O(n²)."
    )
