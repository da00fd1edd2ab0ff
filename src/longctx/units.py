"""Formatting numbers for people: the one place the site turns a value into text.

The build hooks format every computed number on the site through :func:`format_value`, so a
page, a drill and a quiz say "20.00 GB" the same way. Decimal units (1 GB = 1e9 bytes)
unless the name says binary (GiB).
"""

from __future__ import annotations

import math
from numbers import Real

__all__ = ["FORMATS", "format_value", "resolve"]

_DECIMAL = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
_BINARY = [(2**60, "Ei"), (2**50, "Pi"), (2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")]


def _scaled(value: float, steps: list[tuple[float, str]], unit: str, digits: int) -> str:
    """``value`` with the largest prefix of ``steps`` (largest first) that it reaches.

    A value just under a prefix, which would round up to a full step of the prefix below
    ("1,000.00 GB", "1,024.00 KiB"), is written with the prefix above ("1.00 TB", "1.00 MiB").
    """
    magnitude = abs(value)
    sizes = [size for size, _ in steps] + [1]
    i = next(i for i, size in enumerate(sizes) if magnitude >= size or size == 1)
    if i > 0 and round(magnitude / sizes[i], digits) >= sizes[i - 1] / sizes[i]:
        i -= 1
    if i < len(steps):
        return f"{value / sizes[i]:,.{digits}f} {steps[i][1]}{unit}"
    return f"{value:,.{digits}f} {unit}" if value != int(value) else f"{int(value):,} {unit}"


def _fixed(size: float, unit: str, digits: int):
    return lambda v: f"{v / size:,.{digits}f} {unit}"


#: Named formats, usable from the pages as ``{{ call(...) | name }}``.
FORMATS = {
    "int": lambda v: f"{round(v):,}",
    "float": lambda v: f"{v:,.2f}",
    "x": lambda v: f"{v:,.0f}×" if v == round(v) else f"{v:,.2f}×",
    "pct": lambda v: f"{100 * v:.1f}%",
    "sci": lambda v: f"{v:.2e}",
    "bytes": lambda v: _scaled(v, _DECIMAL, "B", 2),
    "ibytes": lambda v: _scaled(v, _BINARY, "B", 2),
    "flops": lambda v: _scaled(v, _DECIMAL, "FLOP", 2),
    "kb": _fixed(1e3, "kB", 1),
    "mb": _fixed(1e6, "MB", 1),
    "gb": _fixed(1e9, "GB", 2),
    "tb": _fixed(1e12, "TB", 2),
    "mib": _fixed(2**20, "MiB", 0),
    "gib": _fixed(2**30, "GiB", 2),
}


def format_value(value: float, fmt: str) -> str:
    """Format ``value`` with one of :data:`FORMATS`.

    Raises:
        ValueError: an unknown format name, or a value that is not a finite number.
        TypeError: a value that is not a real number.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"value must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    if not isinstance(value, (int, float)):  # numpy scalars, Fraction: format as a float
        value = float(value)
    return FORMATS[fmt](value)


def resolve(name: str):
    """The public function ``longctx.<module>.<function>`` named by ``name``, e.g. ``"costs.kv_cache_bytes"``.

    The site's pages and quizzes name the function that computes each of their numbers; this
    is how the build finds it.

    Raises:
        ValueError: ``name`` is not ``module.function``, or names nothing public and callable.
    """
    import importlib

    module_name, _, func_name = name.rpartition(".")
    if not module_name or func_name.startswith("_"):
        raise ValueError(f"unknown function {name!r}: expected 'module.function' inside longctx")
    try:
        module = importlib.import_module(f"longctx.{module_name}")
    except ImportError:
        raise ValueError(f"unknown function {name!r}: there is no module longctx.{module_name}") from None
    func = getattr(module, func_name, None)
    if not callable(func) or func_name not in getattr(module, "__all__", ()):
        raise ValueError(f"unknown function {name!r}: longctx.{module_name} exports no {func_name}")
    return func
