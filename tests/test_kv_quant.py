"""KV quantization: round-trip bound per element, packing, scales against a naive loop, attention error."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.kv.quant import dequantize, pack_int4, quantize, quantized_attention_error, unpack_int4


def naive_scales(x, bits, axis, g):
    """One group at a time, with Python loops: absmax / qmax."""
    qmax = 2 ** (bits - 1) - 1
    B, H, S, D = x.shape
    if axis == "token":
        out = torch.zeros(B, H, S, D // g, dtype=torch.float64)
        for b in range(B):
            for h in range(H):
                for s in range(S):
                    for j in range(D // g):
                        out[b, h, s, j] = x[b, h, s, j * g : (j + 1) * g].abs().max() / qmax
    else:
        out = torch.zeros(B, H, S // g, D, dtype=torch.float64)
        for b in range(B):
            for h in range(H):
                for i in range(S // g):
                    for d in range(D):
                        out[b, h, i, d] = x[b, h, i * g : (i + 1) * g, d].abs().max() / qmax
    return out


def expand_scale(scale, axis, g):
    return scale.repeat_interleave(g, dim=3 if axis == "token" else 2)


@settings(max_examples=30, deadline=None)
@given(
    bits=st.sampled_from([4, 8]),
    axis=st.sampled_from(["token", "channel"]),
    S=st.sampled_from([1, 3, 17]),
    D=st.sampled_from([1, 5, 40]),
    use_group=st.booleans(),
    seed=st.integers(0, 10**6),
    dtype=st.sampled_from([torch.float64, torch.float32]),
)
def test_round_trip_within_half_a_step(bits, axis, S, D, use_group, seed, dtype):
    along = D if axis == "token" else S
    g = next(d for d in (5, 1) if along % d == 0) if use_group else None
    x = torch.randn(2, 3, S, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)
    x[0, 0, 0] = 0  # an all-zero group (when the group is one token's slice)
    qt = quantize(x, bits, axis, g)
    g = along if g is None else g
    scale = expand_scale(qt.scale.double(), axis, g)  # [B, H_kv, S, D]
    torch.testing.assert_close(
        qt.scale.double(),
        naive_scales(x.double(), bits, axis, g),
        rtol=1e-6 if dtype == torch.float32 else 1e-15,
        atol=0,
    )
    deq = dequantize(qt)
    assert deq.shape == x.shape and deq.dtype == dtype
    codes = unpack_int4(qt.data, D) if bits == 4 else qt.data
    qmax = 2 ** (bits - 1) - 1
    assert codes.abs().max() <= qmax
    # every element: |x - q*scale| <= scale/2, up to the rounding of the division and product
    # (a few units in the last place of the working precision, float32 for float32 input)
    eps = torch.finfo(dtype).eps
    err = (x.double() - codes.double() * scale).abs()
    assert bool((err <= scale / 2 + 4 * eps * (x.double().abs() + scale)).all())
    # the codes are the nearest integers: re-deriving them by hand agrees
    want = torch.where(scale > 0, x.double() / torch.where(scale > 0, scale, 1), 0)
    assert bool(((codes.double() - want).abs() <= 0.5 + 4 * eps * qmax).all())


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 9), seed=st.integers(0, 10**6))
def test_int4_packing_round_trip(n, seed):
    q = torch.randint(-8, 8, (3, n), generator=torch.Generator().manual_seed(seed), dtype=torch.int8)
    p = pack_int4(q)
    assert p.dtype == torch.uint8 and p.shape == (3, (n + 1) // 2)
    assert torch.equal(unpack_int4(p, n), q)
    # element 2i in the low nibble, 2i+1 in the high one
    assert int(p[0, 0]) & 0xF == int(q[0, 0]) + 8
    if n > 1:
        assert int(p[0, 0]) >> 4 == int(q[0, 1]) + 8


def test_int4_uses_half_the_bytes_of_int8():
    x = torch.randn(1, 2, 16, 40)
    assert quantize(x, 4).data.numel() * 2 == quantize(x, 8).data.numel()


def test_attention_error_table():
    rows = quantized_attention_error(
        S=63,
        D=40,
        seed=1,
        settings=(
            (8, "token", "token", None),
            (8, "channel", "token", None),
            (4, "token", "token", None),
            (4, "channel", "token", None),
            (4, "token", "token", 8),
        ),
    )
    err = {(r["bits"], r["k_axis"], r["group_size"]): r["mean_abs_err"] for r in rows}
    assert all(e > 0 for e in err.values())
    assert err[(8, "token", None)] < err[(4, "token", None)]
    assert err[(8, "channel", None)] < err[(4, "channel", None)]
    assert err[(4, "token", 8)] < err[(4, "token", None)]  # smaller groups, finer scales
    assert err[(4, "channel", None)] < err[(4, "token", None)]  # outlier channels favour per-channel keys
    assert rows[0]["bytes_ratio"] > rows[2]["bytes_ratio"]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(bits=3), ValueError, "bits"),
        (dict(bits=16), ValueError, "bits"),
        (dict(axis="head"), ValueError, "axis"),
        (dict(group_size=0), ValueError, "group_size"),
        (dict(group_size=3), ValueError, "group_size"),
        (dict(group_size=2.0), TypeError, "group_size"),
    ],
)
def test_bad_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        quantize(torch.randn(1, 1, 4, 8), **kwargs)


def test_bad_tensors():
    with pytest.raises(TypeError, match="x must be a floating"):
        quantize(torch.ones(1, 1, 2, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="x must have 4 dims"):
        quantize(torch.ones(2, 2))
    with pytest.raises(ValueError, match="int4 range"):
        pack_int4(torch.tensor([9], dtype=torch.int8))
    with pytest.raises(TypeError, match="int8"):
        pack_int4(torch.tensor([1]))
