"""Peak resident memory and median wall time of one call, measured on the CPU (Linux).

How the peak is measured: the kernel keeps, per process, the high-water mark of its resident
set (``VmHWM`` in ``/proc/self/status``). Writing ``5`` to ``/proc/self/clear_refs`` resets
that mark to the current resident size (``VmRSS``), so after the call ``VmHWM - VmRSS(before)``
is the most memory the call held at any moment beyond what was already resident.

Two things could hide an allocation, and both are dealt with before the mark is reset:

* memory the process freed earlier but glibc's ``malloc`` kept mapped (it would be reused
  without growing the resident set): ``malloc_trim(0)`` hands it back to the kernel;
* garbage waiting for Python's cycle collector: ``gc.collect()``.

One thing could inflate the peak: glibc raises its mmap threshold each time a large mapped
block is freed (up to 32 MiB), after which blocks below it come from the heap and are kept
there when freed, so the resident set can hold more than was ever in use at once (the peak of
attention could differ by whole score matrices from one run to the next). The first
measurement therefore pins the threshold at glibc's documented default of 128 KiB with
``mallopt``, which also stops the adjustment: from then on, in this process, every block of
128 KiB or more is mapped when allocated and unmapped when freed, and the peak is the memory
in use. The cost is a page fault per fresh page of a large allocation, a few percent on small
CPU calls.

What it cannot see: memory allocated but never touched (a bare ``torch.empty`` is not
resident until written), and the granularity is one page (4 KiB) as the kernel counts it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from numbers import Integral

__all__ = ["hardware_summary", "peak_rss_bytes", "time_call"]

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_RESET_HIGH_WATER = "5"  # clear_refs code that resets VmHWM to VmRSS (Linux >= 4.0)
_M_MMAP_THRESHOLD = -3  # mallopt parameter number, from glibc's malloc.h
_MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default threshold, before dynamic adjustment


def _status_bytes(field: str) -> int:
    """One ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in bytes."""
    with open(_STATUS) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # the kernel writes "kB" and means KiB
    raise RuntimeError(f"{_STATUS} has no {field} line: cannot measure resident memory here")


def _libc_function(name: str):
    """A function of the C library, or None where it has none (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def _malloc_trim() -> None:
    """Return glibc's free heap pages to the kernel; a no-op where libc has no malloc_trim."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim(0)


def _pin_mmap_threshold() -> None:
    """Fix glibc's mmap threshold at 128 KiB so freed large blocks leave the resident set."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _check_supported() -> None:
    if not sys.platform.startswith("linux"):
        raise RuntimeError(f"peak_rss_bytes needs Linux's /proc (running on {sys.platform})")
    if not os.access(_CLEAR_REFS, os.W_OK):
        raise RuntimeError(f"peak_rss_bytes needs write access to {_CLEAR_REFS} to reset the high-water mark")


def _check_callable(fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable with no arguments, got {type(fn).__name__}")


def _check_count(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < least:
        raise ValueError(f"{name} must be at least {least}, got {value}")


def _peak_once(fn: Callable[[], object]) -> int:
    _pin_mmap_threshold()  # large blocks freed inside fn leave the resident set at once
    gc.collect()
    _malloc_trim()  # freed-but-mapped heap would absorb fn's allocations unseen
    before_bytes = _status_bytes("VmRSS")
    with open(_CLEAR_REFS, "w") as f:
        f.write(_RESET_HIGH_WATER)  # VmHWM := VmRSS
    result = fn()
    peak_bytes = _status_bytes("VmHWM")
    del result
    return max(0, peak_bytes - before_bytes)


def peak_rss_bytes(fn: Callable[[], object], repeats: int = 1) -> int:
    """Most resident memory ``fn()`` adds at any moment of its run, in bytes.

    Args:
        fn: called ``repeats`` times with no arguments (wrap arguments with a lambda or
            ``functools.partial``). Its return value is dropped after each measurement, so
            memory it returns counts towards the peak.
        repeats: runs measured; the smallest peak is returned. The allocator can only add
            to a run's peak (a freed block it kept instead of returning to the kernel),
            never hide memory that was in use, so the minimum is the closest estimate of
            what ``fn`` itself held.

    Returns:
        ``VmHWM`` after the call minus ``VmRSS`` before it, in bytes (at least 0), the
        smallest over the runs.

    Raises:
        TypeError: ``fn`` is not callable, or ``repeats`` is not an int.
        ValueError: ``repeats < 1``.
        RuntimeError: not Linux, or ``/proc/self/clear_refs`` cannot be written.

    Note:
        The first call fixes glibc's mmap threshold for the rest of the process (see the
        module's docstring).
    """
    _check_callable(fn)
    _check_count("repeats", repeats, 1)
    _check_supported()
    return min(_peak_once(fn) for _ in range(repeats))


def time_call(fn: Callable[[], object], repeats: int = 5, *, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, in seconds.

    Args:
        fn: called with no arguments, ``warmup + repeats`` times.
        repeats: timed runs; the median resists a run slowed by the rest of the machine.
        warmup: untimed runs first (first-call costs: lazy imports, thread pools, caches).

    Returns:
        The median of ``time.perf_counter`` differences, in seconds.

    Raises:
        TypeError: ``fn`` is not callable, or a count is not an int.
        ValueError: ``repeats < 1`` or ``warmup < 0``.
    """
    _check_callable(fn)
    _check_count("repeats", repeats, 1)
    _check_count("warmup", warmup, 0)
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def hardware_summary() -> str:
    """One line naming the CPU, its logical cores and the threads PyTorch uses.

    ``platform.processor()`` is empty on most Linux systems, so the model name is read from
    ``/proc/cpuinfo`` where it exists.
    """
    import torch

    cpu = platform.processor() or platform.machine() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        if m:
            cpu = m.group(1).strip()
    except OSError:
        pass
    return (
        f"{cpu}; {os.cpu_count()} logical cores; torch {torch.__version__} "
        f"using {torch.get_num_threads()} threads"
    )
