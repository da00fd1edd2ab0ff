"""The benchmark behind ``python -m longctx.bench``: the kernels against the card's own ceilings.

On a CUDA GPU it measures, in this order:

* **ceilings**: a large bf16 matmul (TFLOP/s) and a device-to-device copy (GB/s), so every
  kernel is compared with what this card really does, not with a datasheet;
* **flash**: :func:`longctx.flash.flash_attention` forward and backward against PyTorch's
  ``scaled_dot_product_attention`` restricted to its FlashAttention backend;
* **decode**: :func:`longctx.kv.paged_decode` in GB/s, as a share of the measured copy bandwidth;
* **window**: the sliding-window kernel's time as ``n`` grows at a fixed window (linear);
* **linear**: where :func:`longctx.linear.linear_attention` (chunked) overtakes causal SDPA;
* **scan**: the selective-scan kernel against its PyTorch reference, and the bandwidth it reaches.

Without CUDA it prints the measured peak memory of naive against tiled attention on the CPU
(:func:`longctx.flash.memory_table`) beside the formulas. Either way it writes a JSON file
stamped with the machine, the versions, the commit and the date, and the issue's goals with
pass or fail, as measured.

Timings are the median of a few repeats between CUDA events after warm-up calls (the first
call compiles each Triton kernel); before each timed call the L2 cache is overwritten and the
GPU spins for about a millisecond, so every call starts cold and the host's launch overhead
is hidden: the times are the GPU's work. FLOPs count a multiply-add as 2 and leave out the
softmax (:func:`longctx.costs.attention_flops`); a causal mask halves them; a backward pass
counts 2.5 forwards (five ``n x n x d`` matmuls against two). Bytes count what a kernel must read or
write at least once, from the tensors' shapes (:func:`decode_bytes`).

This module holds what needs no GPU (plans, formulas, timing, progress bar, tables, stamp,
goals, the CPU path and the command); :mod:`longctx.bench.gpu` holds the GPU benchmarks.
Nothing here imports ``torch`` or ``triton`` at module level: ``TRITON_INTERPRET`` is checked
first, because importing a kernel module without a GPU switches the interpreter on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from numbers import Integral
from pathlib import Path
from typing import Any, Protocol, TextIO

__all__ = [
    "BENCHES",
    "FULL",
    "QUICK",
    "Plan",
    "ProgressBar",
    "Row",
    "attention_pass_flops",
    "copy_bytes",
    "crossover",
    "decode_bytes",
    "evaluate_goals",
    "format_table",
    "interpret_requested",
    "loglog_slope",
    "main",
    "matmul_flops",
    "stamp",
    "time_median",
]

#: The GPU benchmarks ``--only`` can pick, in the order they run.
BENCHES = ("flash", "decode", "window", "linear", "scan")

#: Exit status when ``TRITON_INTERPRET`` is set (the same as a command-line error).
EXIT_REFUSED = 2


#: Decode shapes: a Llama-3-8B-like layer (32 query heads sharing 8 KV heads, d = 128).
DECODE_HEADS, DECODE_KV_HEADS, DECODE_HEAD_DIM, DECODE_BLOCK_SIZE = 32, 8, 128, 16

#: Goals of the issue. Ratios are ours over SDPA's flash backend; ``decode_share`` is of the
#: measured copy bandwidth, on every fp16 row with batch >= ``decode_min_batch`` and context >=
#: ``decode_min_context``; the sliding window's time must grow at most as ``n^window_max_exponent``
#: (1 is linear; the fit is over n >= 4 x the window).
GOALS = {"forward_ratio": 1.0, "backward_ratio": 0.8, "head_dim": 128, "min_n": 4096,
         "decode_share": 0.75, "decode_min_batch": 32, "decode_min_context": 8192,
         "window_max_exponent": 1.1}


@dataclass(frozen=True)
class Plan:
    """Sizes and repeats of one run.

    Attributes:
        flash_ns: sequence lengths of the flash benchmark.
        flash_shapes: ``(head dim, heads)`` pairs of the flash benchmark; ``heads * d`` is
            1024 in both defaults (16 heads of 64, 8 heads of 128).
        tokens_per_batch: ``B * n`` of the flash benchmark, kept constant: ``B = tokens // n``.
        decode_batches, decode_contexts: the decode grid (cached tokens per sequence).
        window_ns, window_left: the sliding-window benchmark: each query sees itself and the
            ``window_left`` keys before it.
        window_heads, window_dim: its heads and head dim (batch 1).
        linear_ns, linear_heads, linear_dim: the linear-attention benchmark (batch 1).
        scan_ns, scan_channels, scan_state: the selective-scan benchmark (batch 1): sequence
            lengths, channels D and state size N.
        dtype: ``"bf16"`` (or ``"fp16"``, ``"fp32"``) for flash, window, linear and scan (whose
            ``A``, ``D`` and bias stay float32, as Mamba keeps them); decode is fp16.
        warmup, repeats: untimed calls, then timed calls whose median is kept.
        cpu_ns: sequence lengths of the CPU memory table.
        matmul_size, copy_nbytes: the ceilings' bf16 ``[s, s] @ [s, s]`` matmul and copy size.
    """

    flash_ns: tuple[int, ...]
    decode_batches: tuple[int, ...]
    decode_contexts: tuple[int, ...]
    window_ns: tuple[int, ...]
    linear_ns: tuple[int, ...]
    cpu_ns: tuple[int, ...]
    flash_shapes: tuple[tuple[int, int], ...] = ((64, 16), (128, 8))
    tokens_per_batch: int = 16384
    window_left: int = 1024
    window_heads: int = 8
    window_dim: int = 128
    linear_heads: int = 16
    linear_dim: int = 64
    scan_ns: tuple[int, ...] = ()
    scan_channels: int = 2048
    scan_state: int = 16
    dtype: str = "bf16"
    warmup: int = 2
    repeats: int = 5
    matmul_size: int = 8192
    copy_nbytes: int = 2**30


#: The default run. Budget on one H100 (estimated, to be replaced by a measured wall time):
#: the largest flash configuration (n = 16k, d = 64, full) is about 1.1 TFLOP forward and
#: 2.7 TFLOP backward, milliseconds each, so 13 calls x 2 passes x 2 implementations x 20
#: configurations stay well under a minute; the largest decode reads 8.6 GB (about 3 ms);
#: the rest is Triton compiling one kernel per variant, seconds each. The slowest scan call is
#: the PyTorch reference at L = 16k: one Python step per position, a few launches each, about
#: half a second, so 13 calls take seconds. Well inside 6 minutes.
FULL = Plan(flash_ns=(1024, 2048, 4096, 8192, 16384),
            decode_batches=(1, 4, 16, 64), decode_contexts=(1024, 4096, 16384, 32768),
            window_ns=(2048, 4096, 8192, 16384, 32768, 65536),
            linear_ns=(1024, 2048, 4096, 8192, 16384, 32768), scan_ns=(1024, 4096, 16384),
            cpu_ns=(256, 512, 1024, 2048, 4096), warmup=3, repeats=10)

#: ``--quick``: fewer sizes, still reaching every goal's region (d = 128 at n >= 4k; a large decode).
QUICK = Plan(flash_ns=(2048, 8192), decode_batches=(1, 64), decode_contexts=(4096, 32768),
             window_ns=(4096, 16384, 65536), linear_ns=(2048, 8192, 32768), scan_ns=(2048, 8192),
             cpu_ns=(128, 256, 512, 1024), warmup=2, repeats=5)


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


# ---------------------------------------------------------------- argument checks


def _count(name: str, value: object, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < least:
        raise ValueError(f"{name} must be at least {least}, got {value}")
    return int(value)


# ---------------------------------------------------------------- formulas

# --8<-- [start:bench-formulas]
def attention_pass_flops(n: int, head_dim: int, *, batch: int = 1, heads: int = 1, causal: bool = False,
                         backward: bool = False) -> float:
    """FLOPs of one attention pass over ``batch * heads`` square ``n x n`` problems.

    The forward is :func:`longctx.costs.attention_flops` (``4 n^2 d`` per head, about half
    with a causal mask); the backward counts 2.5 forwards, FlashAttention's convention: it
    recomputes ``S = Q K^T`` and does four more ``n x n x d`` matmuls (``dV = P^T dO``,
    ``dP = dO V^T``, ``dQ = dS K``, ``dK = dS^T Q``), five against the forward's two.
    """
    from longctx.costs import attention_flops

    forward = _count("batch", batch) * attention_flops(n, head_dim, heads=heads, causal=causal)
    return 2.5 * forward if backward else float(forward)


def matmul_flops(m: int, n: int, k: int) -> int:
    """FLOPs of an ``[m, k] @ [k, n]`` matmul: ``2 m n k`` (a multiply-add is 2)."""
    return 2 * _count("m", m) * _count("n", n) * _count("k", k)


def copy_bytes(nbytes: int) -> int:
    """Memory traffic of copying ``nbytes`` from one buffer to another: each byte read once, written once."""
    return 2 * _count("nbytes", nbytes)


def decode_bytes(batch: int, context: int, *, heads: int, kv_heads: int, head_dim: int,
                 cache_bytes: float = 2, scale_bytes: float = 0, io_bytes: float = 2,
                 block_size: int = DECODE_BLOCK_SIZE, index_bytes: int = 4) -> float:
    """Least traffic of one paged decode step: every cached K and V read once, q read, out written.

    Args:
        batch: sequences decoded at once, each with ``context`` cached tokens.
        heads: query heads of the layer.
        kv_heads: K/V heads (GQA: ``heads`` queries read ``kv_heads`` K/V heads).
        head_dim: width of one head.
        cache_bytes: bytes per cached element (2 for fp16, 1 for int8).
        scale_bytes: bytes of quantization scale per cached token and KV head, for K and for
            V each (4 for one float32 scale; 0 for an fp16 cache).
        io_bytes: bytes per element of ``q`` and ``out``.
        block_size: tokens per page; ``index_bytes``: bytes per block-table entry and per
            sequence length (int32).

    Returns:
        ``K/V + scales + q + out + block table + sequence lengths`` in bytes: K/V is
        :func:`longctx.costs.kv_cache_bytes` for one layer.
    """
    from longctx.costs import kv_cache_bytes

    batch, context = _count("batch", batch), _count("context", context)
    kv = kv_cache_bytes(layers=1, kv_heads=kv_heads, head_dim=head_dim, tokens=context, batch=batch,
                        bytes_per_element=cache_bytes)
    scales = 2 * batch * context * kv_heads * scale_bytes
    q_and_out = 2 * batch * _count("heads", heads) * head_dim * io_bytes
    pages = batch * math.ceil(context / _count("block_size", block_size))
    return kv + scales + q_and_out + (pages + batch) * index_bytes
# --8<-- [end:bench-formulas]


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


# ---------------------------------------------------------------- timing


class Clock(Protocol):
    """What :func:`time_median` needs of a clock: timestamps, their difference, and a wait."""

    def mark(self) -> object: ...

    def seconds(self, start: object, end: object) -> float: ...

    def sync(self) -> None: ...


class CudaClock:
    """CUDA events as a clock for :func:`time_median` (the GPU's own timestamps, in its stream)."""

    def __init__(self) -> None:
        import torch

        self._torch = torch

    def mark(self):
        """Record an event in the current stream and return it."""
        event = self._torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self, start, end) -> float:
        """Seconds between two recorded events (valid after :meth:`sync`)."""
        return start.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds

    def sync(self) -> None:
        """Wait for all queued work on the device."""
        self._torch.cuda.synchronize()


# --8<-- [start:time-median]
def time_median(fn: Callable[[], object], *, clock: Clock, warmup: int = 2, repeats: int = 5,
                before: Callable[[], object] | None = None) -> float:
    """Median time of ``fn()`` between two clock marks, over ``repeats`` runs after ``warmup``.

    The marks are recorded around each call and read only after one final ``clock.sync()``:
    with CUDA events the host queues the work and never waits in between, so the times are
    the GPU's, not Python's.

    Args:
        fn: the work, called with no arguments ``warmup + repeats`` times.
        clock: has ``mark()`` (a timestamp), ``seconds(a, b)`` and ``sync()``; :class:`CudaClock`
            on a GPU.
        warmup: untimed calls first (Triton compiles and autotunes on the first call).
        repeats: timed calls; the median resists one slowed by something else.
        before: called untimed before each timed call (e.g. to flush the L2 cache).

    Returns:
        The median, in seconds.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    warmup, repeats = _count("warmup", warmup, 0), _count("repeats", repeats)
    for _ in range(warmup):
        fn()
    clock.sync()
    marks = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = clock.mark()
        fn()
        marks.append((start, clock.mark()))
    clock.sync()
    return statistics.median(clock.seconds(a, b) for a, b in marks)
# --8<-- [end:time-median]


# ---------------------------------------------------------------- progress bar and tables


class ProgressBar:
    """A one-line text progress bar on a stream, stderr by default.

    On a terminal the line is redrawn in place (``\\r``); elsewhere (a log file, a pipe)
    each finished step prints a line of its own and nothing is redrawn.

    Args:
        total: steps planned (>= 1); advancing past it keeps the bar full.
        stream: where to draw; ``sys.stderr`` if None.
        width: characters of the bar itself.
        clock: seconds since some origin, for the elapsed time shown.
        inplace: redraw in place; default: whether ``stream`` is a terminal.
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, width: int = 24,
                 clock: Callable[[], float] = time.monotonic, inplace: bool | None = None) -> None:
        self.total = _count("total", total)
        self.width = _count("width", width)
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.inplace = bool(getattr(self.stream, "isatty", lambda: False)()) if inplace is None else inplace
        self.done = 0
        self._start = clock()
        self._last_len = 0

    def render(self, label: str = "") -> str:
        """The current line: bar, count, elapsed ``m:ss`` and ``label``."""
        done = min(self.done, self.total)
        filled = self.width * done // self.total
        secs = int(self.clock() - self._start)
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {done}/{self.total} {secs // 60}:{secs % 60:02d} {label}".rstrip()

    def advance(self, label: str = "", steps: int = 1) -> None:
        """Count ``steps`` more done and draw, showing ``label``."""
        self.done += _count("steps", steps, 0)
        if self.inplace:
            self.show(label)
        else:
            self.stream.write(self.render(label) + "\n")
            self.stream.flush()

    def show(self, label: str = "") -> None:
        """Redraw without counting, to name the step about to start (only in place)."""
        if not self.inplace:
            return
        line = self.render(label)
        pad = " " * max(0, self._last_len - len(line))  # erase the tail of a longer previous line
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._last_len = len(line)

    def close(self) -> None:
        """End the redrawn line, so what is printed next starts on a fresh one."""
        if self.inplace:
            self.stream.write("\n")
            self.stream.flush()


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("x%×"))
        return True
    except ValueError:
        return False


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, title: str | None = None) -> str:
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


def _f(value: float | None, digits: int = 1, suffix: str = "") -> str | None:
    """A number with ``digits`` decimals and a suffix, or None (shown as ``-``)."""
    return None if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f}%"


# ---------------------------------------------------------------- the stamp


def interpret_requested(environ: Mapping[str, str]) -> bool:
    """True when ``TRITON_INTERPRET`` asks for the interpreter (set, and neither empty nor ``0``).

    The same reading as :func:`longctx._triton.interpreting`, without importing it.
    """
    return environ.get("TRITON_INTERPRET", "0") not in ("", "0")


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


# ---------------------------------------------------------------- goals


def _goal(name: str, target: str, values: list[tuple[dict, float | None]], *, least: float | None = None,
          most: float | None = None) -> dict[str, Any]:
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
    return {"name": name, "target": target, "worst": None if worst is None else worst[1],
            "worst_at": None if worst is None else worst[0], "configurations": len(values),
            "passed": passed, "note": note}


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
        values = [(r.params, r.metrics.get("ratio")) for r in rows
                  if r.bench == "flash" and r.params.get("pass") == pass_
                  and r.params.get("d") == goals["head_dim"] and r.params.get("n", 0) >= goals["min_n"]]
        goal = _goal(f"flash {pass_} vs SDPA flash, d={goals['head_dim']}, n>={goals['min_n']}, causal and not",
                     f">= {goals[key]:.2f}x", values, least=goals[key])
        other = sorted({str(p.get("sdpa_backend")) for p, _ in values} - {"flash"})
        if other:  # measured against another baseline than the goal names: no verdict
            goal.update(passed=None, note=f"SDPA ran without its flash backend ({'; '.join(other)})")
        out.append(goal)
    values = [(r.params, r.metrics.get("share_of_copy")) for r in rows
              if r.bench == "decode" and r.params.get("cache") == "fp16"
              and r.params.get("batch", 0) >= goals["decode_min_batch"]
              and r.params.get("context", 0) >= goals["decode_min_context"]]
    out.append(_goal(f"paged decode (fp16 cache), batch >= {goals['decode_min_batch']}, "
                     f"context >= {goals['decode_min_context']}",
                     f">= {100 * goals['decode_share']:.0f}% of measured copy bandwidth", values,
                     least=goals["decode_share"]))
    values = [(r.params, r.metrics.get("exponent")) for r in rows
              if r.bench == "window_fit" and r.metrics.get("exponent") is not None]
    out.append(_goal("sliding-window time ~ n^p at a fixed window (fit over n >= 4 x window)",
                     f"p <= {goals['window_max_exponent']:.2f} (linear in n)", values,
                     most=goals["window_max_exponent"]))
    return out


def _goal_lines(goals: list[dict[str, Any]]) -> str:
    cells = []
    for g in goals:
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[g["passed"]]
        worst = g["worst"]
        if worst is None:
            shown = None
        elif "%" in g["target"]:
            shown = _pct(worst)
        else:
            shown = f"p = {worst:.2f}" if g["target"].startswith("p ") else f"{worst:.2f}x"
        cells.append([g["name"], g["target"], shown, verdict, g["note"]])
    return format_table(["goal", "target", "worst", "result", "note"], cells, title="Goals")


# ---------------------------------------------------------------- CPU: naive against tiled memory


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

        measured = [{"n": n, "naive_peak_bytes": None, "tiled_peak_bytes": None,
                     **memory_model(n, head_dim=head_dim, block_q=block, block_k=block)} for n in ns]
        note = f"not measured: {exc}"
    else:
        note = ""
    for m in measured:
        n = m["n"]
        tiled_model = 4 * n * head_dim + m["lse_bytes"] + m["tile_bytes"] + m["block_state_bytes"]
        naive, tiled = m["naive_peak_bytes"], m["tiled_peak_bytes"]
        rows.append(Row("memory", {"n": n, "head_dim": head_dim, "block": block, "dtype": "float32"}, {
            "naive_peak_bytes": naive,
            "score_matrix_bytes": m["score_matrix_bytes"],
            "naive_over_score_matrix": None if naive is None else naive / m["score_matrix_bytes"],
            "tiled_peak_bytes": tiled,
            "tiled_model_bytes": tiled_model,
            "tiled_over_model": None if tiled is None else tiled / tiled_model,
        }, note))
    return rows


def memory_table_text(rows: Sequence[Row]) -> str:
    """The CPU memory rows as a table, with the formulas it compares against written out."""
    from longctx.units import format_value

    def mb(v):
        return None if v is None else format_value(v, "mb").replace(" MB", "")

    d = rows[0].params["head_dim"] if rows else 64
    b = rows[0].params["block"] if rows else 64
    cells = [[f"{r.params['n']:,}", mb(r.metrics["naive_peak_bytes"]), mb(r.metrics["score_matrix_bytes"]),
              _f(r.metrics["naive_over_score_matrix"], 2, "x"), mb(r.metrics["tiled_peak_bytes"]),
              mb(r.metrics["tiled_model_bytes"]), _f(r.metrics["tiled_over_model"], 2, "x")] for r in rows]
    headers = ["n", "naive peak MB", "n²·4 B in MB", "naive / n²·4", "tiled peak MB", "model MB", "tiled / model"]
    table = format_table(headers, cells, title=(
        f"Peak extra memory, float32, one head, d={d}: naive attention_ref against flash_attention_ref "
        f"(tiles of {b}x{b}), measured on this CPU"))
    return table + (f"\nn²·4 B: one n x n score matrix; naive attention holds a few at once."
                    f"\nmodel: n·{d}·4 (output) + n·4 (lse) + {b}·{b}·4 (one score tile) + {b}·{d + 2}·4 "
                    f"(a query block's m, l and accumulator): O(n), not O(n²).")


# ---------------------------------------------------------------- the command


def _parse_only(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in names if s not in BENCHES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"--only takes a comma-separated subset of {','.join(BENCHES)}, got {text!r}")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m longctx.bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m longctx.bench",
        description=("Benchmark longctx's Triton kernels on a CUDA GPU against PyTorch's SDPA and the card's "
                     "measured matmul and copy ceilings; without CUDA, print the measured peak memory of naive "
                     "against tiled attention. Refuses to run with TRITON_INTERPRET set."))
    parser.add_argument("--quick", action="store_true",
                        help="fewer sizes: a few minutes on one H100 (on a CPU: n up to 1024)")
    parser.add_argument("--out", default="results.json", metavar="PATH",
                        help="where to write the JSON results (default: results.json)")
    parser.add_argument("--only", type=_parse_only, default=BENCHES, metavar="LIST",
                        help=f"GPU benchmarks to run, comma-separated from {','.join(BENCHES)} (default: all)")
    return parser


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write(path: str, payload: dict[str, Any]) -> None:
    out = Path(path)
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n")


def run_cpu(args: argparse.Namespace, plan: Plan) -> int:
    """No CUDA: the naive-against-tiled memory table, printed and written."""
    ns = plan.cpu_ns
    print("No CUDA device: measuring peak memory of naive against tiled attention on the CPU instead "
          "(kernel timings need a GPU).", file=sys.stderr)
    if tuple(args.only) != BENCHES:
        print(f"--only {','.join(args.only)} picks GPU benchmarks: ignored here.", file=sys.stderr)
    progress = ProgressBar(len(ns))
    progress.show("warm-up")
    cpu_memory_rows([min(ns)], repeats=1)  # discarded: torch's one-time allocations would land in the first row
    rows = []
    for n in ns:
        progress.show(f"memory n={n}")
        rows.extend(cpu_memory_rows([n], repeats=1 if args.quick else 2))
        progress.advance()
    progress.close()
    print(memory_table_text(rows))
    notes = sorted({r.note for r in rows if r.note})
    for note in notes:
        print(note)
    payload = {"stamp": stamp(cuda=False), "mode": "cpu-memory", "quick": args.quick, "plan": asdict(plan),
               "rows": [r.to_dict() for r in rows], "goals": evaluate_goals(rows)}
    _write(args.out, payload)
    print(f"wrote {args.out}")
    return 0


def run_gpu(args: argparse.Namespace, plan: Plan) -> int:
    """CUDA: ceilings first, then the chosen benchmarks; tables, goals and the JSON file.

    The file is rewritten after each benchmark (``"complete": false`` until the end), so a
    run cut short keeps what it measured.
    """
    from longctx.bench.gpu import (
        bench_decode,
        bench_flash,
        bench_linear,
        bench_scan,
        bench_window,
        gpu_tables,
        measure_ceilings,
    )

    clock = CudaClock()
    only = args.only
    steps = {"flash": len(plan.flash_shapes) * 2 * len(plan.flash_ns),
             "decode": 2 * len(plan.decode_batches) * len(plan.decode_contexts),
             "window": len(plan.window_ns), "linear": len(plan.linear_ns), "scan": len(plan.scan_ns)}
    progress = ProgressBar(1 + sum(steps[b] for b in only))
    started = time.monotonic()
    payload = {"stamp": stamp(cuda=True), "mode": "gpu", "complete": False, "quick": args.quick,
               "only": list(only), "plan": asdict(plan), "ceilings": None, "wall_s": {}, "rows": [], "goals": []}
    rows: list[Row] = []

    def save(complete: bool = False) -> None:
        payload.update(complete=complete, rows=[r.to_dict() for r in rows], goals=evaluate_goals(rows))
        payload["wall_s"]["total"] = time.monotonic() - started
        _write(args.out, payload)

    progress.show("ceilings")
    rows += measure_ceilings(plan, clock, matmul_size=plan.matmul_size, copy_nbytes=plan.copy_nbytes)
    ceilings = {"tflops": rows[0].metrics["tflops"], "gbps": rows[1].metrics["gbps"]}
    payload["ceilings"] = ceilings
    progress.advance()
    save()
    runners = {"flash": bench_flash, "decode": bench_decode, "window": bench_window, "linear": bench_linear,
               "scan": bench_scan}
    for name in BENCHES:
        if name in only:
            t0 = time.monotonic()
            rows += runners[name](plan, clock, ceilings, progress)
            payload["wall_s"][name] = time.monotonic() - t0
            save()
    progress.close()
    save(complete=True)
    for table in gpu_tables(rows):
        print(table + "\n")
    print(_goal_lines(payload["goals"]))
    print(f"wrote {args.out} ({payload['wall_s']['total']:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (2 when ``TRITON_INTERPRET`` is set).

    ``TRITON_INTERPRET`` is checked before anything imports Triton or a kernel module:
    interpreted kernels run one program at a time on the CPU, so their timings would mean
    nothing, and :mod:`longctx._triton` switches the interpreter on by itself without a GPU.
    """
    args = build_parser().parse_args(argv)
    if interpret_requested(os.environ):
        print(f"longctx.bench: refusing to run with TRITON_INTERPRET={os.environ['TRITON_INTERPRET']!r}: "
              "Triton would interpret the kernels on the CPU and every timing would be meaningless. "
              "Unset it, e.g. `env -u TRITON_INTERPRET python -m longctx.bench`.", file=sys.stderr)
        return EXIT_REFUSED
    import torch

    plan = QUICK if args.quick else FULL
    if not torch.cuda.is_available():
        return run_cpu(args, plan)
    return run_gpu(args, plan)
