"""Measurements on the machine at hand: wall time and peak resident memory of a call.

The labs use these to set what a computation really costs beside what ``longctx.costs``
predicts. CPU only: on a GPU the memory that matters is the device's, which
``torch.cuda.max_memory_allocated`` reports.

``python -m longctx.bench`` is the GPU benchmark (:mod:`longctx.bench.harness`); its pieces
that need no GPU (formulas, timing, table, progress bar) are exported here too.
"""

from longctx.bench.harness import (
    ProgressBar,
    Row,
    attention_pass_flops,
    copy_bytes,
    decode_bytes,
    format_table,
    matmul_flops,
    time_median,
)
from longctx.bench.memory import hardware_summary, peak_rss_bytes, time_call

__all__ = [
    "ProgressBar",
    "Row",
    "attention_pass_flops",
    "copy_bytes",
    "decode_bytes",
    "format_table",
    "hardware_summary",
    "matmul_flops",
    "peak_rss_bytes",
    "time_call",
    "time_median",
]
