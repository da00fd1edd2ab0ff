"""longctx.bench: the measured peak memory and time of a call are what the call really did."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from longctx.bench import hardware_summary, memory, peak_rss_bytes, time_call

MB = 10**6
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="peak_rss_bytes reads Linux's /proc"
)


def _filled(n_bytes: int) -> torch.Tensor:
    """A float32 tensor of ``n_bytes`` bytes whose every page has been written (so is resident)."""
    return torch.full((n_bytes // 4,), 1.5, dtype=torch.float32)


@linux_only
@pytest.mark.parametrize("n_bytes", [24 * MB, 96 * MB])
def test_peak_counts_a_tensor_made_inside(n_bytes):
    peak = peak_rss_bytes(lambda: _filled(n_bytes))
    assert 0.9 * n_bytes <= peak <= 1.1 * n_bytes + 8 * MB


@linux_only
def test_peak_is_the_high_water_mark_not_the_sum():
    size = 64 * MB

    def live_together():
        a, b, c = _filled(size), _filled(size), _filled(size)
        return a, b, c

    def one_after_another():
        for _ in range(3):
            t = _filled(size)
            del t

    together = peak_rss_bytes(live_together)
    serial = peak_rss_bytes(one_after_another)
    assert 0.9 * 3 * size <= together <= 1.1 * 3 * size + 8 * MB
    assert 0.9 * size <= serial <= 1.1 * size + 8 * MB


@linux_only
def test_an_earlier_peak_does_not_leak_into_the_next_measurement():
    big = _filled(256 * MB)
    del big  # the process's high-water mark is now at least 256 MB above where it sits
    assert peak_rss_bytes(lambda: None) < 8 * MB


@linux_only
def test_freed_heap_does_not_hide_new_allocations():
    # Small blocks come from glibc's heap; after they are freed, a block allocated later
    # (here `pin`) keeps the heap from shrinking, so the freed pages stay resident unless
    # malloc_trim hands them back. Without the trim the call below would measure ~0.
    def small_blocks():
        return [bytearray(b"\x01") * 2000 for _ in range(30_000)]  # 60 MB, every byte written

    blocks, pin = small_blocks(), bytearray(b"\x01") * 2000
    del blocks
    peak = peak_rss_bytes(small_blocks)
    assert peak >= 0.8 * 60 * MB, peak
    del pin


@linux_only
def test_attention_ref_memory_grows_as_n_squared():
    # attention_ref materialises n x n matrices: each doubling of n should multiply its peak
    # by 4 (a linear-memory implementation would give 2, a cubic one 8). Measured in a fresh
    # Python: in a test process the heap that earlier tests left (whichever ones pytest-xdist ran
    # there) added megabytes to some sizes and not to others, and a ratio fell to 3.
    code = (
        "import json, torch\n"
        "from longctx.attention import attention_ref\n"
        "from longctx.bench import peak_rss_bytes\n"
        "qs = [torch.randn(1, 1, n, 64) for n in (512, 1024, 2048)]\n"
        "print(json.dumps([peak_rss_bytes(lambda: attention_ref(q, q, q), repeats=2) for q in qs]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    peaks = json.loads(done.stdout)
    for small, large in zip(peaks, peaks[1:]):
        assert 3.5 <= large / small <= 4.5, peaks
    # At least the one n x n float32 score matrix it returns from.
    assert peaks[-1] >= 2048 * 2048 * 4


@linux_only
def test_repeats_returns_the_smallest_run(monkeypatch):
    runs = iter([30, 10, 20])
    monkeypatch.setattr(memory, "_peak_once", lambda fn: next(runs))
    assert peak_rss_bytes(lambda: None, repeats=3) == 10


def test_peak_refuses_where_unsupported(monkeypatch):
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    with pytest.raises(RuntimeError, match="Linux"):
        peak_rss_bytes(lambda: None)


@linux_only
def test_peak_refuses_without_clear_refs(monkeypatch):
    monkeypatch.setattr(memory, "_CLEAR_REFS", "/nonexistent/clear_refs")
    with pytest.raises(RuntimeError, match="clear_refs"):
        peak_rss_bytes(lambda: None)


@pytest.mark.parametrize("func", [peak_rss_bytes, time_call])
def test_bad_arguments_are_refused(func):
    with pytest.raises(TypeError, match="fn"):
        func(42)
    with pytest.raises(TypeError, match="repeats"):
        func(lambda: None, repeats=2.0)
    with pytest.raises(TypeError, match="repeats"):
        func(lambda: None, repeats=True)
    with pytest.raises(ValueError, match="repeats"):
        func(lambda: None, repeats=0)


def test_time_call_bad_warmup():
    with pytest.raises(ValueError, match="warmup"):
        time_call(lambda: None, warmup=-1)
    with pytest.raises(TypeError, match="warmup"):
        time_call(lambda: None, warmup="1")


def test_time_call_runs_warmup_plus_repeats_and_measures_sleep():
    calls = []
    seconds = time_call(lambda: (calls.append(1), time.sleep(0.02)), repeats=3, warmup=2)
    assert len(calls) == 5
    assert 0.02 <= seconds < 0.2


def test_time_call_returns_the_median(monkeypatch):
    # perf_counter is read twice per timed run: durations 5, 1, 3 -> median 3.
    ticks = iter([0.0, 5.0, 10.0, 11.0, 20.0, 23.0])
    monkeypatch.setattr(memory.time, "perf_counter", lambda: next(ticks))
    assert time_call(lambda: None, repeats=3, warmup=0) == 3.0


def test_hardware_summary_names_threads():
    line = hardware_summary()
    assert f"using {torch.get_num_threads()} threads" in line
    assert torch.__version__ in line
