"""How the benchmark times a call: ``triton.testing.do_bench`` on a GPU, a wall clock elsewhere.

A *timer* takes a call with no arguments and returns a :class:`Timing`. On a GPU that is
:func:`gpu_timer`: Triton's ``do_bench`` (warm-up and repeats budgeted in milliseconds, the L2
cache flushed before every timed call, CUDA events in the stream). :func:`wall_timer` is the
same contract on the host's clock, for walking the benchmarks through on a CPU.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Timer", "Timing", "error_note", "gpu_timer", "try_time", "wall_timer"]


@dataclass(frozen=True)
class Timing:
    """Seconds of one call: the median and the 20th and 80th percentiles of the timed repeats."""

    median: float
    q20: float
    q80: float


Timer = Callable[[Callable[[], object]], Timing]


def gpu_timer(*, warmup_ms: int = 25, rep_ms: int = 100) -> Timer:
    """A timer on the GPU: ``triton.testing.do_bench`` with quantiles, in seconds."""
    from triton.testing import do_bench

    def timer(fn: Callable[[], object]) -> Timing:
        median, q20, q80 = do_bench(fn, warmup=warmup_ms, rep=rep_ms, quantiles=[0.5, 0.2, 0.8])
        return Timing(median / 1e3, q20 / 1e3, q80 / 1e3)

    return timer


def wall_timer(*, warmup: int = 1, repeats: int = 3, clock: Callable[[], float] = time.perf_counter) -> Timer:
    """A timer on the host's clock: ``warmup`` untimed calls, then ``repeats`` timed ones.

    do_bench needs a GPU; this keeps the benchmarks' code runnable (and tested) without one.
    """

    def timer(fn: Callable[[], object]) -> Timing:
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            start = clock()
            fn()
            times.append(clock() - start)
        if len(times) == 1:
            return Timing(times[0], times[0], times[0])
        q = statistics.quantiles(times, n=5, method="inclusive")  # 20th, 40th, 60th, 80th
        return Timing(statistics.median(times), q[0], q[3])

    return timer


def error_note(exc: BaseException) -> str:
    """``Type: message``, first line only, at most 200 characters: what a row's note says."""
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:200]


def try_time(measure: Callable[[], Timing]) -> tuple[Timing | None, str]:
    """``(timing, "")`` from ``measure()``, or ``(None, why)`` if it raises or reads no time.

    One failed configuration (a kernel refusing a shape, memory running out) must not end a
    six-minute run: it becomes a row's note. Whatever ``measure`` builds (an autograd graph)
    lives only inside it, so its memory is free when it returns.
    """
    try:
        timing = measure()
    except Exception as exc:  # noqa: BLE001 - any failure of one configuration is recorded, not raised
        return None, error_note(exc)
    if timing.median > 0:
        return timing, ""
    return None, f"measured {timing.median} s: below the clock's resolution"
