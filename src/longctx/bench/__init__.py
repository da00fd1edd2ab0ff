"""Measurements on the machine at hand: wall time and peak resident memory of a call.

The labs use these to set what a computation really costs beside what ``longctx.costs``
predicts. CPU only: on a GPU the memory that matters is the device's, which
``torch.cuda.max_memory_allocated`` reports.
"""

from longctx.bench.memory import hardware_summary, peak_rss_bytes, time_call

__all__ = ["hardware_summary", "peak_rss_bytes", "time_call"]
