"""Integer argument checks shared across the package: each error names the argument and what was expected.

Plain Python (no torch), so that :mod:`longctx.costs` and the other formula modules can use it.
"""

from __future__ import annotations

from numbers import Integral

__all__ = ["nonneg_int", "positive_int"]


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int >= 1, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def nonneg_int(name: str, value: object) -> int:
    """Return ``value`` as an int >= 0, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)
