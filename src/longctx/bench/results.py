"""Committed GPU benchmark results: load them, check them, and turn them into tables and a plot.

``python -m longctx.bench --out FILE`` on a GPU writes one JSON file (see
:mod:`longctx.bench.report`); a copy committed under ``docs/data/benchmarks/`` is what the
site's benchmark page shows. Nothing here measures anything: a number on that page is exactly
a number in a committed file, with the card, versions, commit and date it was measured with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from longctx.bench.report import Row, gpu_tables

__all__ = ["REQUIRED_STAMP", "load_results", "measured_crossover", "result_figure", "result_tables"]

#: Fields of the stamp a result must carry to be shown.
REQUIRED_STAMP = ("card", "driver", "torch", "triton", "git_commit", "date")


def _check(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object written by python -m longctx.bench")
    if data.get("mode") != "gpu":
        raise ValueError(f"{where}: mode is {data.get('mode')!r}; only GPU runs ('gpu') are published")
    stamp = data.get("stamp")
    if not isinstance(stamp, dict):
        raise ValueError(f"{where}: no 'stamp' object (card, versions, commit, date)")
    missing = [k for k in REQUIRED_STAMP if not stamp.get(k)]
    if missing:
        raise ValueError(f"{where}: the stamp lacks {', '.join(missing)}")
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "bench" in r for r in rows):
        raise ValueError(f"{where}: 'rows' must be a list of measured rows")
    return data


def load_results(directory: str | Path) -> list[dict[str, Any]]:
    """Every ``*.json`` result in ``directory``, newest first (by the stamp's date).

    Args:
        directory: a folder of files written by ``python -m longctx.bench`` on a GPU. A
            missing folder holds no results.

    Returns:
        The parsed files, each with an added ``"file"`` key (its name).

    Raises:
        ValueError: a file that is not valid JSON or not a GPU result with a full stamp
            (named in the message): a page must not show numbers of unknown origin.
    """
    folder = Path(directory)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
        out.append({**_check(data, str(path)), "file": path.name})
    return sorted(out, key=lambda d: str(d["stamp"]["date"]), reverse=True)


def _rows(result: dict[str, Any]) -> list[Row]:
    return [
        Row(
            bench=r["bench"], params=r.get("params", {}), metrics=r.get("metrics", {}), note=r.get("note", "")
        )
        for r in result["rows"]
    ]


def result_tables(result: dict[str, Any]) -> list[str]:
    """The result's measurements as the fixed-width tables the command printed."""
    return gpu_tables(_rows(result))


def measured_crossover(results: list[dict[str, Any]]) -> str:
    """One sentence on where linear attention overtook SDPA on a GPU, from the newest result that measured it.

    Args:
        results: as :func:`load_results` returns them (newest first).

    Returns:
        Markdown text: the card, date, shape and crossover length of the newest result with a
        ``linear_crossover`` row, or a plain statement that no such measurement exists.
    """
    for result in results:
        rows = _rows(result)
        cross = next((r for r in rows if r.bench == "linear_crossover"), None)
        linear = [r for r in rows if r.bench == "linear"]
        if cross is None or not linear:
            continue
        st, first = result["stamp"], linear[0].params
        where = (
            f"{st['card']} ({str(st['date'])[:10]}, torch {st['torch']}, triton {st['triton']}), "
            f"{first['heads']} heads of d = {first['d']} in {first['dtype']}, batch 1"
        )
        n = cross.metrics.get("n")
        if n is None:
            longest = max(r.params["n"] for r in linear)
            return (
                f"Measured on {where}: the chunked kernel was not faster than causal SDPA at any length "
                f"up to n = {longest:,}."
            )
        return (
            f"Measured on {where}: the chunked kernel is faster than causal SDPA from n = {n:,} on, "
            f"at every longer length measured."
        )
    return (
        "No GPU measurement of the kernel has been committed to this site yet; when one is, the "
        "measured crossover appears here."
    )


def result_figure(result: dict[str, Any]) -> str:
    """SVG: FlashAttention forward TFLOP/s (ours and SDPA) against n, one panel per head dim.

    Only rows that were measured are drawn; a result without FlashAttention rows gets a
    figure that says so.
    """
    from longctx.figures.wall import pyplot, svg

    plt = pyplot()
    flash = [r for r in _rows(result) if r.bench == "flash" and r.params.get("pass") == "forward"]
    dims = sorted({r.params["d"] for r in flash})
    fig, axes = plt.subplots(1, max(1, len(dims)), figsize=(5 * max(1, len(dims)), 3.6), squeeze=False)
    if not dims:
        axes[0][0].text(0.5, 0.5, "no FlashAttention rows in this result", ha="center", va="center")
        axes[0][0].set_axis_off()
    for ax, d in zip(axes[0], dims):
        for causal, style in ((False, "-"), (True, "--")):
            rows = sorted(
                (r for r in flash if r.params["d"] == d and r.params["causal"] == causal),
                key=lambda r: r.params["n"],
            )
            ns = [r.params["n"] for r in rows]
            label = "causal" if causal else "full"
            ax.semilogx(
                ns,
                [r.metrics.get("ours_tflops") for r in rows],
                "o" + style,
                base=2,
                color="C0",
                label=f"longctx, {label}",
            )
            ax.semilogx(
                ns,
                [r.metrics.get("sdpa_tflops") for r in rows],
                "s" + style,
                base=2,
                color="C1",
                label=f"SDPA, {label}",
            )
        ax.set(xlabel="sequence length n", ylabel="TFLOP/s", title=f"forward, d = {d}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{result['stamp']['card']} ({result['stamp']['date']})", fontsize=10)
    return svg(fig)
