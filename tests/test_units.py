"""longctx.units: how the site writes numbers, and how pages name the functions behind them."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from longctx import costs
from longctx.units import FORMATS, format_value, resolve

DECIMAL = [("k", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12), ("P", 10**15), ("E", 10**18)]
BINARY = [("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40), ("Pi", 2**50), ("Ei", 2**60)]


@pytest.mark.parametrize(
    "fmt, unit, steps", [("bytes", "B", DECIMAL), ("flops", "FLOP", DECIMAL), ("ibytes", "B", BINARY)]
)
def test_scaled_formats_pick_the_largest_prefix(fmt, unit, steps):
    for prefix, size in steps:
        assert format_value(1.5 * size, fmt) == f"1.50 {prefix}{unit}"
        assert format_value(-1.5 * size, fmt) == f"-1.50 {prefix}{unit}"
        assert format_value(999.25 * size, fmt) == f"999.25 {prefix}{unit}"
    top_prefix, top = steps[-1]
    assert format_value(4321 * top, fmt) == f"4,321.00 {top_prefix}{unit}"  # no prefix past the last


@pytest.mark.parametrize("fmt, unit", [("bytes", "B"), ("ibytes", "B"), ("flops", "FLOP")])
def test_scaled_formats_below_the_first_prefix(fmt, unit):
    assert format_value(0, fmt) == f"0 {unit}"
    assert format_value(999, fmt) == f"999 {unit}"
    assert format_value(12.5, fmt) == f"12.50 {unit}"


@pytest.mark.parametrize(
    "fmt, unit, steps", [("bytes", "B", DECIMAL), ("flops", "FLOP", DECIMAL), ("ibytes", "B", BINARY)]
)
def test_a_value_that_rounds_up_to_the_next_prefix_takes_it(fmt, unit, steps):
    base = steps[0][1]  # 1000 or 1024
    names = [""] + [prefix for prefix, _ in steps]
    sizes = [1] + [size for _, size in steps]
    for below, above, size in zip(names, names[1:], sizes):
        assert format_value(size * (base - 0.001), fmt) == f"1.00 {above}{unit}"
        assert format_value(-size * (base - 0.001), fmt) == f"-1.00 {above}{unit}"
        just_under = size * (base - 0.01)  # still shows as itself, two decimals
        assert format_value(just_under, fmt) == f"{base - 0.01:,.2f} {below}{unit}"


@pytest.mark.parametrize(
    "fmt, size, unit, digits",
    [
        ("kb", 10**3, "kB", 1),
        ("mb", 10**6, "MB", 1),
        ("gb", 10**9, "GB", 2),
        ("tb", 10**12, "TB", 2),
        ("mib", 2**20, "MiB", 0),
        ("gib", 2**30, "GiB", 2),
    ],
)
def test_fixed_unit_formats(fmt, size, unit, digits):
    assert format_value(20 * size, fmt) == f"{20:.{digits}f} {unit}"
    assert format_value(12_345 * size, fmt) == f"12,345{'.' + '0' * digits if digits else ''} {unit}"
    quarter = format_value(size // 4, fmt)  # 0.25 of the unit, at the format's digits
    assert quarter == f"{0.25:.{digits}f} {unit}"


def test_gb_of_a_score_matrix():
    # 100k tokens, one fp16 head: n^2 * 2 bytes, 1 GB = 1e9 bytes.
    n = 100_000
    assert (
        format_value(costs.score_matrix_bytes(n, bytes_per_element="fp16"), "gb")
        == f"{n * n * 2 / 1e9:.2f} GB"
    )


@pytest.mark.parametrize("value, want", [(7, "7"), (1234567.4, "1,234,567"), (-2500.2, "-2,500"), (0.0, "0")])
def test_int(value, want):
    assert format_value(value, "int") == want


def test_float_pct_sci():
    assert format_value(1234.5678, "float") == "1,234.57"
    assert format_value(Fraction(1, 8), "pct") == "12.5%"
    assert format_value(0.5, "pct") == "50.0%"
    assert format_value(6.02214076e23, "sci") == "6.02e+23"
    assert format_value(-0.000123, "sci") == "-1.23e-04"


def test_x_drops_decimals_only_for_whole_multipliers():
    assert format_value(costs.cost_multiplier(4096, 4 * 4096), "x") == f"{4 * 4:,}×"
    assert format_value(costs.cost_multiplier(1000, 256_000), "x") == f"{256**2:,}×"
    assert format_value(costs.cost_multiplier(4, 6), "x") == f"{(6 / 4) ** 2:.2f}×"


def test_numpy_scalars_are_numbers():
    assert format_value(np.float64(2.5e9), "gb") == "2.50 GB"
    assert format_value(np.int64(3 * 2**30), "gib") == "3.00 GiB"


def test_every_format_is_covered_and_gives_text():
    for fmt in FORMATS:
        assert isinstance(format_value(123456.0, fmt), str)


@pytest.mark.parametrize("fmt", ["", "GB", "megabytes", "x "])
def test_unknown_format(fmt):
    with pytest.raises(ValueError, match="fmt"):
        format_value(1.0, fmt)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_non_finite_values(value):
    with pytest.raises(ValueError, match="value must be finite"):
        format_value(value, "gb")


@pytest.mark.parametrize("value", ["1.0", None, True, 1 + 2j, [1]])
def test_non_numbers(value):
    with pytest.raises(TypeError, match="value must be a real number"):
        format_value(value, "float")


def test_resolve_finds_public_functions():
    assert resolve("costs.attention_flops") is costs.attention_flops
    assert resolve("costs.kv_cache_bytes") is costs.kv_cache_bytes


@pytest.mark.parametrize(
    "name, words",
    [
        ("costs._positive_int", "expected 'module.function'"),
        ("nope.x", "no module longctx.nope"),
        ("costs.nope", "exports no nope"),
        ("x", "expected 'module.function'"),
        ("", "expected 'module.function'"),
        ("costs.math", "exports no math"),  # imported by costs, not part of it
        ("costs.Integral", "exports no Integral"),  # callable, but not exported
        ("costs.BYTES_PER_ELEMENT", "exports no BYTES_PER_ELEMENT"),  # exported, but not a function
    ],
)
def test_resolve_rejects(name, words):
    with pytest.raises(ValueError, match=f"unknown function {name!r}") as info:
        resolve(name)
    assert words in str(info.value)
