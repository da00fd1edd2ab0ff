"""State space models: S4D (convolution == recurrence), Mamba's selective scan, Mamba-2's SSD.

Each algorithm is written at least twice and tested equal:

* ``s4``: a diagonal S4 layer, :func:`s4d_conv` (kernel then FFT or direct convolution) and
  :func:`s4d_recurrent` (one step at a time).
* ``selective_scan``: :func:`selective_scan_ref` (sequential; mamba's function, name and
  ``return_last_state``) and :func:`selective_scan_chunked_ref` (``return_final_state``).
* ``ssd``: :func:`ssd_recurrent`, :func:`ssd_quadratic` (one masked matrix) and :func:`ssd_chunked`.

The public functions check their arguments and call the cores Lesson 3 shows (``zoh_discretize``,
``conv_kernel``, ``conv_mode``, ``recurrent_mode``, ``selective_scan_sequential``,
``selective_scan_chunks``, ``scan_chunk``, ``ssd_masked``, ``ssd_chunks``, ``segment_sum``), which
need only torch. Plain PyTorch, float32 or float64. ``selective_scan_fn`` (the Triton kernel of
``ssm.kernel``, tested equal to :func:`selective_scan_ref`) is imported lazily so that
``import longctx.ssm`` needs no Triton.
"""

from longctx.ssm.s4 import (
    conv_kernel,
    conv_mode,
    recurrent_mode,
    s4d_conv,
    s4d_discretize,
    s4d_kernel,
    s4d_recurrent,
    zoh_discretize,
)
from longctx.ssm.selective_scan import (
    scan_chunk,
    selective_scan_chunked_ref,
    selective_scan_chunks,
    selective_scan_ref,
    selective_scan_sequential,
)
from longctx.ssm.ssd import (
    segment_sum,
    segsum,
    ssd_chunked,
    ssd_chunks,
    ssd_masked,
    ssd_quadratic,
    ssd_recurrent,
)

__all__ = [
    "conv_kernel",
    "conv_mode",
    "recurrent_mode",
    "s4d_conv",
    "s4d_discretize",
    "s4d_kernel",
    "s4d_recurrent",
    "scan_chunk",
    "segment_sum",
    "segsum",
    "selective_scan_chunked_ref",
    "selective_scan_chunks",
    "selective_scan_fn",
    "selective_scan_ref",
    "selective_scan_sequential",
    "ssd_chunked",
    "ssd_chunks",
    "ssd_masked",
    "ssd_quadratic",
    "ssd_recurrent",
    "zoh_discretize",
]


def __getattr__(name: str):
    if name == "selective_scan_fn":
        from longctx.ssm.kernel import selective_scan_fn

        return selective_scan_fn
    raise AttributeError(f"module 'longctx.ssm' has no attribute {name!r}")
