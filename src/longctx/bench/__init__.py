"""Measurements on the machine at hand, and the GPU benchmark ``python -m longctx.bench``.

* :mod:`~longctx.bench.memory`: wall time and peak resident memory of a call on the CPU (the labs
  set what a computation really costs beside what :mod:`longctx.costs` predicts);
* :mod:`~longctx.bench.plan`: the sizes of a benchmark run and the issue's goals;
* :mod:`~longctx.bench.timing`: ``triton.testing.do_bench`` on a GPU, a wall clock elsewhere;
* :mod:`~longctx.bench.runs`: the GPU benchmarks; :mod:`~longctx.bench.cpu`: the CPU memory table;
* :mod:`~longctx.bench.report`: rows, tables, goals and the stamp; :mod:`~longctx.bench.results`:
  the committed results the site shows.

Importing this package imports neither ``torch`` nor ``triton`` (the command checks
``TRITON_INTERPRET`` first).
"""

from longctx.bench.memory import hardware_summary, peak_rss_bytes, time_call
from longctx.bench.report import Row, crossover, format_table, loglog_slope

__all__ = [
    "Row",
    "crossover",
    "format_table",
    "hardware_summary",
    "loglog_slope",
    "peak_rss_bytes",
    "time_call",
]
