"""What a benchmark run reports: its rows, the tables printed from them, the goals and the stamp.

Nothing here measures or imports a kernel: :mod:`longctx.bench.results` (the site's benchmark
page) reads committed JSON files through it.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from longctx.bench.plan import DECODE_BLOCK_SIZE, DECODE_HEAD_DIM, DECODE_HEADS, DECODE_KV_HEADS, GOALS

__all__ = [
    "Row",
    "crossover",
    "evaluate_goals",
    "fixed",
    "format_table",
    "goal_table",
    "gpu_tables",
    "loglog_slope",
    "percent",
    "stamp",
    "write_json",
]


@dataclass
class Row:
    """One measured configuration, as it goes into the JSON file.

    Attributes:
        bench: which benchmark (``"ceiling"``, ``"flash"``, ``"decode"``, ``"window"``,
            ``"linear"``, ``"scan"``, ``"memory"``).
        params: what was run (sizes, dtype, pass).
        metrics: what was measured and derived from it (``*_ms``, ``*_tflops``, ``*_gbps``,
            ratios, shares); ``None`` where a measurement failed.
        note: why a value is missing, or what differs from the plan.
    """

    bench: str
    params: dict[str, Any]
    metrics: dict[str, float | None] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON-ready data."""
        return asdict(self)


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: ``p`` when ``y = c x^p``.

    Raises:
        ValueError: fewer than two points, lengths that differ, a value that is not
            positive, or all ``x`` equal.
    """
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys must have the same length, got {len(xs)} and {len(ys)}")
    if len(xs) < 2:
        raise ValueError(f"need at least two points for a slope, got {len(xs)}")
    if any(not (v > 0) for v in (*xs, *ys)):
        raise ValueError("xs and ys must be positive (their logs are taken)")
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    if sxx == 0:
        raise ValueError("xs are all equal: no slope")
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sxx


def crossover(ns: Sequence[int], ours: Sequence[float | None], theirs: Sequence[float | None]) -> int | None:
    """Smallest ``n`` from which ``ours`` is faster than ``theirs`` at every larger measured ``n``.

    Args:
        ns: increasing sizes.
        ours: our times at those sizes (``None`` where not measured; a missing time breaks
            the run of wins).
        theirs: the other side's times, the same way.

    Returns:
        That ``n``, or ``None`` if ours is not faster at the largest ``n``.
    """
    if not (len(ns) == len(ours) == len(theirs)):
        raise ValueError("ns, ours and theirs must have the same length")
    if any(b <= a for a, b in zip(ns, ns[1:])):
        raise ValueError(f"ns must be strictly increasing, got {list(ns)}")
    found = None
    for n, a, b in zip(reversed(ns), reversed(ours), reversed(theirs)):
        if a is None or b is None or not a < b:
            break
        found = n
    return found


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("x%×"))
        return True
    except ValueError:
        return False


def format_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, title: str | None = None
) -> str:
    """A plain-text table: columns as wide as their widest cell, numbers right-aligned.

    Args:
        headers: column names.
        rows: cells, one sequence per row, as many as ``headers``; ``None`` shows as ``-``,
            anything else through ``str``. A cell that reads as a number (``"1,024"``,
            ``"0.93x"``, ``"75.0%"``) is right-aligned, text left-aligned.
        title: a line above the table.

    Returns:
        The table's lines joined by newlines, without a trailing newline.

    Raises:
        ValueError: a row with a different number of cells than ``headers``.
    """
    headers = [str(h) for h in headers]
    cells = []
    for i, row in enumerate(rows):
        row = ["-" if c is None else str(c) for c in row]
        if len(row) != len(headers):
            raise ValueError(f"row {i} has {len(row)} cells, the headers {len(headers)}")
        cells.append(row)
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(headers)]
    right = [all(_is_number(r[j]) or r[j] == "-" for r in cells) and bool(cells) for j in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)).rstrip()

    out = [title] if title else []
    out += [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def fixed(value: float | None, digits: int = 1, suffix: str = "") -> str | None:
    """A table cell: ``value`` with ``digits`` decimals and a suffix, or None (shown as ``-``)."""
    return None if value is None else f"{value:,.{digits}f}{suffix}"


def percent(value: float | None) -> str | None:
    """A table cell: a share as ``12.3%``, or None."""
    return None if value is None else f"{100 * value:.1f}%"


def _run_text(cmd: Sequence[str], cwd: str | Path | None = None) -> str | None:
    """Stripped stdout of a command, or None if it is missing, fails or hangs."""
    try:
        done = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def _git_commit(where: Path) -> tuple[str, bool | None]:
    """``(commit, dirty)`` of the checkout holding ``where``; ``("unknown", None)`` outside git."""
    commit = _run_text(["git", "rev-parse", "HEAD"], cwd=where)
    if commit is None:
        return "unknown", None
    status = _run_text(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where)
    return commit, status is not None


def _version(package: str) -> str | None:
    """Installed version of a distribution, read from its metadata (the package is not imported)."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def stamp(*, cuda: bool) -> dict[str, Any]:
    """Where and when the numbers were measured.

    Args:
        cuda: describe the CUDA card (True) or the CPU (False).

    Returns:
        ``card`` (``torch.cuda.get_device_name``, or the CPU's model line), ``driver``
        (``nvidia-smi``'s driver version, else the CUDA runtime torch was built with; None on
        a CPU-only build), ``cuda_runtime``, ``torch``, ``triton``, ``python``, ``git_commit``
        (``"unknown"`` outside a checkout), ``git_dirty`` (tracked files modified), ``date``
        (UTC, ISO 8601) and ``device`` (``"cuda"`` or ``"cpu"``).
    """
    import platform

    import torch

    from longctx.bench.memory import hardware_summary

    commit, dirty = _git_commit(Path(__file__).resolve().parent)
    if cuda:
        card = torch.cuda.get_device_name(0)
        smi = _run_text(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
        driver = smi.splitlines()[0].strip() if smi else torch.version.cuda
    else:
        card, driver = hardware_summary(), torch.version.cuda
    return {
        "device": "cuda" if cuda else "cpu",
        "card": card,
        "driver": driver,
        "cuda_runtime": torch.version.cuda,
        "torch": torch.__version__,
        "triton": _version("triton"),
        "python": platform.python_version(),
        "git_commit": commit,
        "git_dirty": dirty,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _goal(
    name: str,
    target: str,
    values: list[tuple[dict, float | None]],
    *,
    least: float | None = None,
    most: float | None = None,
) -> dict[str, Any]:
    """Pass when every qualifying configuration ran and reached ``least`` (or stayed at or under
    ``most``); None when none qualified. ``worst`` is the lowest value (the highest with ``most``)."""
    measured = [(p, v) for p, v in values if v is not None]
    failed = len(values) - len(measured)
    pick = max if most is not None else min
    worst = pick(measured, key=lambda pv: pv[1]) if measured else None
    if not values:
        passed, note = None, "not measured: no configuration of this run qualifies"
    elif failed:
        passed, note = False, f"{failed} of {len(values)} qualifying configurations did not run"
    else:
        passed, note = (worst[1] <= most) if most is not None else (worst[1] >= least), ""
    return {
        "name": name,
        "target": target,
        "worst": None if worst is None else worst[1],
        "worst_at": None if worst is None else worst[0],
        "configurations": len(values),
        "passed": passed,
        "note": note,
    }


def evaluate_goals(rows: Sequence[Row], goals: dict[str, Any] = GOALS) -> list[dict[str, Any]]:
    """The issue's goals against the measured rows; each goal holds for its worst configuration.

    * forward >= ``forward_ratio`` x SDPA flash at ``d = head_dim``, ``n >= min_n``, causal and not;
    * backward >= ``backward_ratio`` x, same configurations;
    * paged decode >= ``decode_share`` of the measured copy bandwidth on every fp16 row with
      ``batch >= decode_min_batch`` and ``context >= decode_min_context``;
    * sliding window: the fitted exponent of ``time ~ n^p`` at most ``window_max_exponent``.

    Returns:
        One dict per goal: ``name``, ``target``, ``worst`` (the lowest measured value),
        ``worst_at`` (its parameters), ``configurations`` (how many qualify), ``passed``
        (True, False, or None when no configuration of the run qualifies, or SDPA could not
        be pinned to its flash backend) and ``note``. A qualifying configuration that failed
        to run fails its goal; a window fit without two measured sizes has no verdict.
    """
    out = []
    for pass_, key in (("forward", "forward_ratio"), ("backward", "backward_ratio")):
        values = [
            (r.params, r.metrics.get("ratio"))
            for r in rows
            if r.bench == "flash"
            and r.params.get("pass") == pass_
            and r.params.get("d") == goals["head_dim"]
            and r.params.get("n", 0) >= goals["min_n"]
        ]
        goal = _goal(
            f"flash {pass_} vs SDPA flash, d={goals['head_dim']}, n>={goals['min_n']}, causal and not",
            f">= {goals[key]:.2f}x",
            values,
            least=goals[key],
        )
        other = sorted({str(p.get("sdpa_backend")) for p, _ in values} - {"flash"})
        if other:  # measured against another baseline than the goal names: no verdict
            goal.update(passed=None, note=f"SDPA ran without its flash backend ({'; '.join(other)})")
        out.append(goal)
    values = [
        (r.params, r.metrics.get("share_of_copy"))
        for r in rows
        if r.bench == "decode"
        and r.params.get("cache") == "fp16"
        and r.params.get("batch", 0) >= goals["decode_min_batch"]
        and r.params.get("context", 0) >= goals["decode_min_context"]
    ]
    out.append(
        _goal(
            f"paged decode (fp16 cache), batch >= {goals['decode_min_batch']}, "
            f"context >= {goals['decode_min_context']}",
            f">= {100 * goals['decode_share']:.0f}% of measured copy bandwidth",
            values,
            least=goals["decode_share"],
        )
    )
    values = [
        (r.params, r.metrics.get("exponent"))
        for r in rows
        if r.bench == "window_fit" and r.metrics.get("exponent") is not None
    ]
    out.append(
        _goal(
            "sliding-window time ~ n^p at a fixed window (fit over n >= 4 x window)",
            f"p <= {goals['window_max_exponent']:.2f} (linear in n)",
            values,
            most=goals["window_max_exponent"],
        )
    )
    return out


def goal_table(goals: list[dict[str, Any]]) -> str:
    """The goals as a table: target, worst value, PASS/FAIL, note."""
    cells = []
    for g in goals:
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[g["passed"]]
        worst = g["worst"]
        if worst is None:
            shown = None
        elif "%" in g["target"]:
            shown = percent(worst)
        else:
            shown = f"p = {worst:.2f}" if g["target"].startswith("p ") else f"{worst:.2f}x"
        cells.append([g["name"], g["target"], shown, verdict, g["note"]])
    return format_table(["goal", "target", "worst", "result", "note"], cells, title="Goals")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON (non-finite floats as null), creating the folder."""
    out = Path(path)
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n")


def gpu_tables(rows: Sequence[Row]) -> list[str]:
    """The GPU rows as printable tables, one per benchmark that ran."""
    by = {}
    for r in rows:
        by.setdefault(r.bench, []).append(r)
    out = []
    if "ceiling" in by:
        cells = [
            [
                r.params["kind"],
                fixed(r.metrics["ms"], 3),
                fixed(r.metrics.get("tflops"), 1),
                fixed(r.metrics.get("gbps"), 0),
            ]
            for r in by["ceiling"]
        ]
        out.append(
            format_table(
                ["ceiling", "ms", "TFLOP/s", "GB/s"],
                cells,
                title=(
                    "Measured ceilings: a bf16 matmul (2mnk FLOPs) and a device-to-device copy (bytes read + written)"
                ),
            )
        )
    for pass_ in ("forward", "backward"):
        fl = [r for r in by.get("flash", []) if r.params["pass"] == pass_]
        if fl:
            cells = [
                [
                    f"{r.params['n']:,}",
                    r.params["d"],
                    "yes" if r.params["causal"] else "no",
                    f"{r.params['batch']}x{r.params['heads']}",
                    fixed(r.metrics["ours_ms"], 3),
                    fixed(r.metrics["ours_tflops"]),
                    fixed(r.metrics["sdpa_ms"], 3),
                    fixed(r.metrics["sdpa_tflops"]),
                    fixed(r.metrics["ratio"], 2, "x"),
                    percent(r.metrics["share_of_matmul"]),
                    r.note,
                ]
                for r in fl
            ]
            extra = " (2.5x forward FLOPs)" if pass_ == "backward" else ""
            out.append(
                format_table(
                    [
                        "n",
                        "d",
                        "causal",
                        "BxH",
                        "ours ms",
                        "ours TFLOP/s",
                        "SDPA ms",
                        "SDPA TFLOP/s",
                        "ours/SDPA",
                        "of matmul",
                        "note",
                    ],
                    cells,
                    title=(
                        f"FlashAttention {pass_}{extra}, {fl[0].params['dtype']}, B*n = const, "
                        f"SDPA backend: {fl[0].params['sdpa_backend']}"
                    ),
                )
            )
    if "decode" in by:
        cells = [
            [
                r.params["cache"],
                r.params["batch"],
                f"{r.params['context']:,}",
                fixed(r.metrics["bytes"] / 1e6 if r.metrics.get("bytes") else None, 1),
                fixed(r.metrics.get("us"), 1),
                fixed(r.metrics.get("api_us"), 1),
                fixed(r.metrics.get("gbps"), 0),
                percent(r.metrics.get("share_of_copy")),
                r.note,
            ]
            for r in by["decode"]
        ]
        out.append(
            format_table(
                [
                    "cache",
                    "batch",
                    "context",
                    "MB read+written",
                    "kernels us",
                    "API us",
                    "GB/s",
                    "of copy",
                    "note",
                ],
                cells,
                title=(
                    f"Paged decode, H={DECODE_HEADS}, H_kv={DECODE_KV_HEADS}, "
                    f"d={DECODE_HEAD_DIM}, pages of {DECODE_BLOCK_SIZE}, L2 flushed"
                ),
            )
        )
    if "window" in by:
        cells = [
            [
                f"{r.params['n']:,}",
                fixed(r.metrics.get("ms"), 3),
                fixed(r.metrics.get("ns_per_token"), 1),
                fixed(r.metrics.get("tflops")),
                percent(r.metrics.get("share_of_matmul")),
                r.note,
            ]
            for r in by["window"]
        ]
        fit = by.get("window_fit", [Row("window_fit", {}, {"exponent": None})])[0]
        left = by["window"][0].params["left"]
        out.append(
            format_table(
                ["n", "ms", "ns/token", "TFLOP/s", "of matmul", "note"],
                cells,
                title=(
                    f"Sliding window, causal, each query sees itself and {left} keys before; "
                    f"time ~ n^p with p = {fixed(fit.metrics['exponent'], 2) or 'unmeasured'} (1 is linear)"
                ),
            )
        )
    if "linear" in by:
        cells = [
            [
                f"{r.params['n']:,}",
                fixed(r.metrics["linear_ms"], 3),
                fixed(r.metrics["sdpa_ms"], 3),
                fixed(r.metrics["sdpa_over_linear"], 2, "x"),
                r.note,
            ]
            for r in by["linear"]
        ]
        cross = by.get("linear_crossover", [Row("linear_crossover", {}, {"n": None})])[0].metrics["n"]
        out.append(
            format_table(
                ["n", "linear ms", "SDPA ms", "SDPA/linear", "note"],
                cells,
                title=(
                    "Linear attention (chunked, elu+1, causal) against causal SDPA; linear is faster from n = "
                    + (f"{cross:,}" if cross else "(not within the sizes measured)")
                ),
            )
        )
    if "scan" in by:
        first = by["scan"][0].params
        cells = [
            [
                f"{r.params['n']:,}",
                fixed(r.metrics.get("ours_ms"), 3),
                fixed(r.metrics.get("ref_ms"), 1),
                fixed(r.metrics.get("ref_over_ours"), 0, "x"),
                fixed(r.metrics.get("ns_per_position"), 1),
                fixed(r.metrics.get("gbps"), 0),
                percent(r.metrics.get("share_of_copy")),
                r.note,
            ]
            for r in by["scan"]
        ]
        out.append(
            format_table(
                ["L", "kernel ms", "PyTorch ref ms", "ref/kernel", "ns/position", "GB/s", "of copy", "note"],
                cells,
                title=(
                    f"Selective scan (Mamba block: softplus, D, silu gate), D = {first['channels']}, "
                    f"N = {first['state']}, batch 1, {first['dtype']}; against selective_scan_ref"
                ),
            )
        )
    return out
