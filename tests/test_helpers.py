"""tests/_helpers.py: the shared comparison fails when it should, the q/k/v builder is what it says, and a
file loaded by path runs once."""

from __future__ import annotations

import sys

import pytest
import torch
from _helpers import assert_close, load_module, random_qkv, rel_rms


def test_rel_rms_by_hand():
    want = torch.tensor([3.0, 4.0])  # rms 5 / sqrt(2)
    assert rel_rms(want + torch.tensor([0.3, -0.4]), want) == pytest.approx(0.1)  # rms 0.5 / sqrt(2)
    assert rel_rms(torch.zeros(3), torch.zeros(3)) == 0.0


def test_assert_close_names_what_failed():
    want = torch.ones(2, 3, dtype=torch.float64)
    assert_close("out", want, want.float() + 1e-7, tol=1e-6)
    with pytest.raises(AssertionError, match="out: relative RMS error 0.1"):
        assert_close("out", want, want * 1.1, tol=1e-3)
    with pytest.raises(AssertionError, match="lse: shape"):
        assert_close("lse", want, want[0], tol=1.0)
    with pytest.raises(AssertionError, match="dq: non-finite"):
        assert_close("dq", want, torch.full_like(want, float("nan")), tol=1.0)


def test_random_qkv_shapes_order_and_rounding():
    q, k, v = random_qkv(2, 4, 2, 5, 7, 3, 6, seed=11, mult=2.0)
    assert (q.shape, k.shape, v.shape) == ((2, 4, 5, 3), (2, 2, 7, 3), (2, 2, 7, 6))
    gen = torch.Generator().manual_seed(11)
    torch.testing.assert_close(q, torch.randn(2, 4, 5, 3, generator=gen, dtype=torch.float64) * 2.0)
    torch.testing.assert_close(k, torch.randn(2, 2, 7, 3, generator=gen, dtype=torch.float64) * 2.0)
    torch.testing.assert_close(v, torch.randn(2, 2, 7, 6, generator=gen, dtype=torch.float64))
    q16, _, v16 = random_qkv(2, 4, 2, 5, 7, 3, 6, seed=11, mult=2.0, dtype=torch.float16, requires_grad=True)
    assert q16.dtype == torch.float16 and q16.requires_grad and torch.equal(q16, q.half())
    assert v16.shape[-1] == 6 and random_qkv(1, 1, 1, 2, 2, 4)[2].shape[-1] == 4  # Dv defaults to D


def test_load_module_runs_a_file_once_under_its_name(tmp_path):
    script = tmp_path / "counted.py"
    script.write_text("FIRST = 1\n")
    name = "_helpers_test_counted"
    try:
        first = load_module(name, script)
        assert sys.modules[name] is first and first.FIRST == 1
        script.write_text("FIRST = 2\n")  # not read again: the module is kept
        assert load_module(name, script) is first and first.FIRST == 1
    finally:
        sys.modules.pop(name, None)
