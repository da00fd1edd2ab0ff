"""FP8 e4m3 KV cache: the cast against an e4m3 grid decoded here from its bit layout."""

from __future__ import annotations

import math

import pytest
import torch

from longctx.kv.fp8 import FP8_E4M3_MAX, fp8_attention_error, fp8_roundtrip, kv_precision_table
from longctx.kv.quant import quantized_attention_error


def e4m3_values():
    """Every finite e4m3fn value: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 15
    with mantissa 7 is NaN, there is no infinity; exponent 0 is subnormal."""
    vals = set()
    for e in range(16):
        for m in range(8):
            if e == 15 and m == 7:
                continue
            mag = (m / 8) * 2.0**-6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7)
            vals.update({mag, -mag})
    return torch.tensor(sorted(vals), dtype=torch.float64)


GRID = e4m3_values()


def round_e4m3(x):
    """Nearest grid value (x within range); an exact tie goes to the even mantissa."""
    idx = torch.searchsorted(GRID, x).clamp(1, len(GRID) - 1)
    lo, hi = GRID[idx - 1], GRID[idx]
    pick_hi = (hi - x) < (x - lo)
    tie = (hi - x) == (x - lo)
    even_hi = ((hi.abs() / 2.0 ** torch.floor(torch.log2(hi.abs().clamp_min(1e-30)))) * 8).round() % 2 == 0
    return torch.where(pick_hi | (tie & even_hi), hi, lo)


def test_grid():
    assert GRID.max().item() == FP8_E4M3_MAX == 448.0 and len(GRID) == 253  # 126 magnitudes, two zeros as one


@pytest.mark.parametrize("axis", ["tensor", "token", "channel"])
def test_roundtrip_against_the_grid(axis):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 37, 11, generator=g, dtype=torch.float64) * 5
    x[..., 2] *= 40  # an outlier channel
    dims = {"tensor": (-2, -1), "token": (-1,), "channel": (-2,)}[axis]
    scale = x.abs().amax(dim=dims, keepdim=True).float().double() / 448.0
    want = round_e4m3(x / scale) * scale
    got = fp8_roundtrip(x, axis)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
    # relative error of a normal e4m3 value is at most 2^-4
    normal = (x / scale).abs() >= 2.0**-6
    assert ((got - x).abs()[normal] <= x.abs()[normal] * 2.0**-4 * (1 + 1e-9)).all()


def test_attention_error_rows_against_an_independent_recomputation():
    rows = fp8_attention_error()
    gen = torch.Generator().manual_seed(0)  # the data of quantized_attention_error
    q = torch.randn(1, 8, 1, 64, generator=gen, dtype=torch.float64)
    k = torch.randn(1, 2, 256, 64, generator=gen, dtype=torch.float64)
    v = torch.randn(1, 2, 256, 64, generator=gen, dtype=torch.float64)
    k[..., :4] *= 10.0

    def attend(kk, vv):  # one query at the end: every key visible
        kk, vv = kk.repeat_interleave(4, dim=1), vv.repeat_interleave(4, dim=1)
        return torch.softmax(q @ kk.transpose(-1, -2) / math.sqrt(64), dim=-1) @ vv

    ref = attend(k, v)
    for row in rows:
        kq, vq = fp8_roundtrip(k, row["k_axis"]), fp8_roundtrip(v, row["v_axis"])
        err = (attend(kq, vq) - ref).abs()
        assert row["mean_abs_err"] == pytest.approx(err.mean().item(), rel=1e-9)
        assert row["max_abs_err"] == pytest.approx(err.max().item(), rel=1e-9)
    per_tensor = next(r for r in rows if r["k_axis"] == "tensor")
    assert per_tensor["bytes_ratio"] == pytest.approx((2 * 2 * 256 * 64 + 4 * 2 * 2) / (2 * 2 * 2 * 256 * 64))
    table = kv_precision_table()
    assert len(table) == len(quantized_attention_error()) + len(rows)
    assert [r["codes"] for r in table][-len(rows) :] == ["fp8 e4m3"] * len(rows)


def test_bad_input_names_the_argument():
    for call, exc, name in [
        (lambda: fp8_roundtrip(torch.ones(3), "tensor"), ValueError, "x"),
        (lambda: fp8_roundtrip(torch.ones(2, 3), "row"), ValueError, "axis"),
        (lambda: fp8_roundtrip(torch.ones(2, 3, dtype=torch.long)), TypeError, "x"),
        (lambda: fp8_roundtrip(torch.full((2, 3), float("inf"))), ValueError, "x"),
        (lambda: fp8_attention_error(S=0), ValueError, "S"),
        (lambda: fp8_attention_error(settings=(("row", "token"),)), ValueError, "settings"),
    ]:
        with pytest.raises(exc, match=name):
            call()
