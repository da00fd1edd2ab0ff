"""longctx.checks: every check accepts what it should, returns the normal form, and refuses the rest
with TypeError (wrong kind) or ValueError (wrong value) and a message "<arg> must be ..., got ..."."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from longctx import checks


@pytest.mark.parametrize(
    "check, good, bad_type, bad_value",
    [
        (checks.positive_int, [(1, 1), (7, 7), (np.int64(3), 3)], [True, 1.0, "2", None], [0, -4]),
        (checks.nonneg_int, [(0, 0), (5, 5)], [False, 0.0, "0"], [-1]),
    ],
)
def test_integer_checks(check, good, bad_type, bad_value):
    for value, want in good:
        got = check("n", value)
        assert got == want and type(got) is int
    for value in bad_type:
        with pytest.raises(TypeError, match=r"^n must be .* integer, got "):
            check("n", value)
    for value in bad_value:
        with pytest.raises(ValueError, match=rf"^n must be .* integer, got {value}$"):
            check("n", value)


def test_int_at_least_and_power_of_two():
    assert checks.int_at_least("w", -1, -1) == -1
    with pytest.raises(ValueError, match=r"^w must be an integer >= -1, got -2$"):
        checks.int_at_least("w", -2, -1)
    with pytest.raises(TypeError, match="^w must be"):
        checks.int_at_least("w", True, 0)
    assert [checks.power_of_two("c", v, 16, 64) for v in (16, 32, 64)] == [16, 32, 64]
    for v in (8, 48, 128, 0):
        with pytest.raises(ValueError, match=r"^c must be a power of two from 16 to 64, got"):
            checks.power_of_two("c", v, 16, 64)
    with pytest.raises(TypeError, match="^c must be a power of two"):
        checks.power_of_two("c", 32.0, 16, 64)


def test_reals_and_flags():
    assert checks.finite_real("x", -2) == -2.0 and checks.finite_real("x", Fraction(1, 4)) == 0.25
    assert checks.positive_real("x", np.float32(0.5)) == 0.5
    for value in ("0.5", True, None, 1j):
        with pytest.raises(TypeError, match="^x must be a"):
            checks.positive_real("x", value)
    for value in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="^x must be a positive finite number, got"):
            checks.positive_real("x", value)
    with pytest.raises(ValueError, match="^x must be a finite number"):
        checks.finite_real("x", -math.inf)
    assert checks.flag("causal", True) is True and checks.flag("causal", False) is False
    for value in (1, 0, None, "True", np.bool_(True)):
        with pytest.raises(TypeError, match=r"^causal must be a bool \(True or False\), got"):
            checks.flag("causal", value)


def test_attention_scale():
    assert checks.attention_scale(None, 64) == 1 / 8
    assert checks.attention_scale(None, 7) == pytest.approx(7**-0.5, rel=1e-15)
    assert checks.attention_scale(0.3, 64) == 0.3
    for value, error in (
        ("0.5", TypeError),
        (True, TypeError),
        (0, ValueError),
        (-0.1, ValueError),
        (math.nan, ValueError),
    ):
        with pytest.raises(error, match="^scale must be"):
            checks.attention_scale(value, 64)


def test_window_pair_is_flash_attentions_window_size():
    assert checks.window_pair(None) == (-1, -1)
    assert checks.window_pair((4095, 0)) == (4095, 0)
    assert checks.window_pair([-1, 3]) == (-1, 3)
    assert checks.window_pair((np.int32(2), 1)) == (2, 1)
    for value in (4, "ab", (1,), (1, 2, 3), {1, 2}):
        with pytest.raises(TypeError, match=r"^window must be None or a pair \(left, right\) of ints, got"):
            checks.window_pair(value)
    with pytest.raises(TypeError, match="^window left must be an int"):
        checks.window_pair((1.0, 0))
    with pytest.raises(TypeError, match="^window right must be an int"):
        checks.window_pair((1, True))
    with pytest.raises(ValueError, match=r"^window right must be an int >= 0, or -1 for unbounded, got -2$"):
        checks.window_pair((1, -2))
    with pytest.raises(ValueError, match="^band left must be"):
        checks.window_pair((-3, 0), name="band")


def make(B=2, H=4, H_kv=2, T=5, S=7, D=3, Dv=6, dtype=torch.float64):
    return (
        torch.zeros(B, H, T, D, dtype=dtype),
        torch.zeros(B, H_kv, S, D, dtype=dtype),
        torch.zeros(B, H_kv, S, Dv, dtype=dtype),
    )


def test_qkv_accepts_gqa_float64_any_head_dim_and_empty_unless_asked():
    checks.qkv(*make())
    checks.qkv(*make(H=6, H_kv=1, D=161, Dv=1, dtype=torch.float16))
    checks.qkv(*make(T=0))
    with pytest.raises(ValueError, match=r"T >= 1"):
        checks.qkv(*make(T=0), nonempty=True)
    with pytest.raises(ValueError, match=r"S >= 1"):
        checks.qkv(*make(S=0), nonempty=True)
    with pytest.raises(ValueError, match=r"D >= 1"):
        checks.qkv(*make(D=0), nonempty=True)


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda q, k, v: (q.numpy(), k, v), TypeError, "^q must be a torch.Tensor, got ndarray"),
        (lambda q, k, v: (q[0], k, v), ValueError, r"^q must have 4 dims, got shape \(4, 5, 3\)"),
        (lambda q, k, v: (q, k.long(), v), TypeError, "^k must be a floating-point tensor"),
        (lambda q, k, v: (q, k, v.float()), TypeError, "^q, k and v must share a dtype"),
        (lambda q, k, v: (q, k[:1], v[:1]), ValueError, "^k and v must have q's batch size 2"),
        (lambda q, k, v: (q, k, v[:, :, :3]), ValueError, r"^k and v must agree on \[B, H_kv, S\]"),
        (lambda q, k, v: (q, k[..., :2], v), ValueError, "^k must have q's head dim 3, got 2"),
        (
            lambda q, k, v: (q[:, :3], k, v),
            ValueError,
            "^k's heads H_kv must divide q's heads H=3, got H_kv=2",
        ),
        (
            lambda q, k, v: (q, k.to("meta"), v.to("meta")),
            ValueError,
            "^k must be on q's device cpu, got meta",
        ),
    ],
)
def test_qkv_refuses_naming_the_argument(edit, error, match):
    with pytest.raises(error, match=match):
        checks.qkv(*edit(*make()))


def test_masks_and_tensors():
    shape = (2, 4, 5, 7)
    for mask in (
        torch.ones(5, 7, dtype=torch.bool),
        torch.zeros(1, 4, 1, 7),
        torch.ones(shape, dtype=torch.bool),
    ):
        assert checks.attention_mask(mask, shape) is mask
    with pytest.raises(ValueError, match=r"^mask must broadcast to \(2, 4, 5, 7\), got shape \(7, 5\)"):
        checks.attention_mask(torch.ones(7, 5, dtype=torch.bool), shape)
    with pytest.raises(TypeError, match="^mask must be boolean"):
        checks.attention_mask(torch.ones(5, 7, dtype=torch.int64), shape)
    with pytest.raises(TypeError, match="^mask must be a torch.Tensor, got list"):
        checks.attention_mask([[True]], shape)
    x = torch.zeros(2, 3)
    assert checks.tensor("x", x, dims=2) is x and checks.float_tensor("x", x) is x
    with pytest.raises(ValueError, match=r"^x must have 3 dims, got shape \(2, 3\)"):
        checks.float_tensor("x", x, 3)
    with pytest.raises(TypeError, match="^x must be a floating-point tensor, got torch.int32"):
        checks.float_tensor("x", x.int())
    assert checks.tensor_dtype("x", x, (torch.float16, torch.float32)) is x
    with pytest.raises(TypeError, match="^x must have dtype float16, bfloat16, got torch.float32"):
        checks.tensor_dtype("x", x, (torch.float16, torch.bfloat16))
    assert checks.same_device(a=x, b=x) == torch.device("cpu")
    with pytest.raises(ValueError, match="^b must be on a's device cpu, got meta"):
        checks.same_device(a=x, b=x.to("meta"))
