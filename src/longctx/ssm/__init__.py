"""State space models: S4D (convolution == recurrence), Mamba's selective scan, Mamba-2's SSD.

Each algorithm is written at least twice and tested equal:

* ``s4``: a diagonal S4 layer, :func:`s4d_conv` (kernel then FFT or direct convolution) and
  :func:`s4d_recurrent` (one step at a time).
* ``selective_scan``: :func:`selective_scan_ref` (sequential, mamba's argument convention) and
  :func:`selective_scan_chunked`.
* ``ssd``: :func:`ssd_recurrent`, :func:`ssd_quadratic` (one masked matrix) and :func:`ssd_chunked`.

Plain PyTorch, float32 or float64. ``selective_scan_fn`` (the Triton kernel of ``ssm.kernel``,
tested equal to :func:`selective_scan_ref`) is imported lazily so that ``import longctx.ssm``
needs no Triton.
"""

from longctx.ssm.s4 import s4d_conv, s4d_discretize, s4d_kernel, s4d_recurrent
from longctx.ssm.selective_scan import selective_scan_chunked, selective_scan_ref
from longctx.ssm.ssd import segsum, ssd_chunked, ssd_quadratic, ssd_recurrent

__all__ = [
    "s4d_conv",
    "s4d_discretize",
    "s4d_kernel",
    "s4d_recurrent",
    "segsum",
    "selective_scan_fn",
    "selective_scan_chunked",
    "selective_scan_ref",
    "ssd_chunked",
    "ssd_quadratic",
    "ssd_recurrent",
]


def __getattr__(name: str):
    if name == "selective_scan_fn":
        from longctx.ssm.kernel import selective_scan_fn

        return selective_scan_fn
    raise AttributeError(f"module 'longctx.ssm' has no attribute {name!r}")
