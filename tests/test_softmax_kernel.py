"""The fused Triton softmax (run by the CPU interpreter here) against softmax_ref in float64.

The interpreter runs one program per row, one after another: shapes stay small.
"""

from __future__ import annotations

import math

import pytest
import torch
from _helpers import rel_rms

from longctx.attention import softmax_ref
from longctx.attention.kernel import MAX_COLS, softmax

# Relative-RMS bounds: fp32 is exact up to rounding; fp16 loses ~3 decimal digits on the
# way in and the way out (computed in fp32 inside the kernel).
RMS_TOL = {torch.float32: 1e-6, torch.float16: 1e-3}


def randn(*shape, dtype=torch.float32, seed=0, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("cols", [1, 17, 63, 130, 1000])
def test_matches_float64_reference(dtype, cols):
    x = randn(5, cols, dtype=dtype, seed=cols)
    y = softmax(x)
    assert y.dtype == dtype and y.shape == x.shape
    want = softmax_ref(x.double())
    assert rel_rms(y, want) < RMS_TOL[dtype]
    assert (y.double() - want).abs().max() < 4 * torch.finfo(dtype).eps * max(1.0, float(want.max()))
    # Each output is within a few units of the last place (exp2, one division, one rounding),
    # and the outputs sum to 1: so does their error, relative to 1.
    torch.testing.assert_close(
        y.double().sum(-1), torch.ones(5, dtype=torch.float64), rtol=0, atol=4 * torch.finfo(dtype).eps
    )


def test_multi_dim_input():
    x = randn(2, 3, 4, 17, seed=1)
    y = softmax(x)
    assert y.shape == (2, 3, 4, 17)
    assert rel_rms(y, softmax_ref(x.double())) < RMS_TOL[torch.float32]


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.transpose(0, 1),  # rows strided: last dim not contiguous
        lambda x: x[:, ::2],  # every other column
        lambda x: x[::2],  # every other row: rows contiguous, row stride doubled
    ],
    ids=["transposed", "column-step", "row-step"],
)
def test_non_contiguous_input(make):
    x = make(randn(12, 34, seed=2))
    assert not x.is_contiguous()
    y = softmax(x)
    assert y.shape == x.shape
    assert rel_rms(y, softmax_ref(x.double())) < RMS_TOL[torch.float32]


def test_all_minus_inf_rows_give_zeros_and_partial_ones_are_right():
    x = randn(4, 17, seed=3)
    x[1] = -math.inf
    x[2, :10] = -math.inf
    y = softmax(x)
    assert torch.isfinite(y).all()
    assert (y[1] == 0).all()
    assert (y[2, :10] == 0).all()
    assert rel_rms(y, softmax_ref(x.double())) < RMS_TOL[torch.float32]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_huge_inputs_do_not_overflow(dtype):
    x = randn(4, 63, seed=4, scale=1.0) * 1e4  # exp(1e4) overflows any float format
    x = x.clamp(-6e4, 6e4).to(dtype)  # inside fp16's range
    y = softmax(x)
    assert torch.isfinite(y).all()
    assert rel_rms(y, softmax_ref(x.double())) < RMS_TOL[dtype]


def test_empty_batch_of_rows():
    y = softmax(torch.empty(0, 17))
    assert y.shape == (0, 17)


def test_deterministic():
    x = randn(6, 130, seed=5)
    assert torch.equal(softmax(x), softmax(x))


def test_lazy_export_from_the_package():
    import longctx.attention as attention

    assert attention.softmax is softmax
    with pytest.raises(AttributeError, match="nope"):
        attention.nope  # noqa: B018


@pytest.mark.parametrize(
    "x, error, match",
    [
        (torch.ones(3, 4, dtype=torch.int32), TypeError, "x must be float"),
        (torch.ones(3, 4, dtype=torch.float64), TypeError, "x must be float"),
        ([[1.0, 2.0]], TypeError, "x must be a torch.Tensor"),
        (torch.ones(3, 0), ValueError, "x must have a non-empty last dim"),
        (torch.tensor(1.0), ValueError, "x must have a non-empty last dim"),
    ],
)
def test_bad_input(x, error, match):
    with pytest.raises(error, match=match):
        softmax(x)


def test_too_wide_rows_are_refused():
    x = torch.zeros(1, MAX_COLS + 1)
    with pytest.raises(ValueError, match=f"at most {MAX_COLS}"):
        softmax(x)


def test_cpu_tensor_without_the_interpreter_is_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="x must be a CUDA tensor.*got a tensor on cpu"):
        softmax(torch.ones(2, 3))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("rows, cols", [(4096, 1000), (1024, 8192), (333, 16384)], ids=lambda v: str(v))
def test_gpu_low_precision_error_within_twice_pytorchs(dtype, rows, cols):
    # FlashAttention's rule: against a float64 reference, the kernel's error in a low precision
    # is at most twice the error of PyTorch's own computation in that precision.
    torch.manual_seed(rows + cols)
    x = (3 * torch.randn(rows, cols, device="cuda")).to(dtype)
    exact = softmax_ref(x.double())
    ours = (softmax(x).double() - exact).abs().max().item()
    theirs = (torch.softmax(x, dim=-1).double() - exact).abs().max().item()
    assert ours <= 2 * theirs + 1e-6, f"kernel error {ours:.3g} vs PyTorch's {theirs:.3g}"


def test_bf16_within_twice_pytorchs_error_on_the_cpu():
    # the interpreter truncates float32 to bf16 where a GPU rounds: bf16 rows are computed in
    # float32 there and rounded by PyTorch, so the 2x rule holds against PyTorch's bf16 softmax
    x = randn(6, 333, dtype=torch.bfloat16, seed=3)
    want = softmax_ref(x.double())
    ours = (softmax(x).double() - want).abs().max().item()
    theirs = (torch.softmax(x, dim=-1).double() - want).abs().max().item()
    assert softmax(x).dtype == torch.bfloat16 and 0 < ours <= 2 * theirs


def test_every_gpu_choice_is_a_listed_configuration():
    from longctx.attention.kernel import CONFIGS, softmax_config

    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for cols in list(range(1, 300)) + [1000, 4096, 4097, 9000, MAX_COLS]:
            cfg = softmax_config(cols, dtype, gpu=True)
            assert cfg in CONFIGS and cfg.const("BLOCK") >= cols
            assert cfg.const("BLOCK") // (32 * cfg.num_warps) <= 32  # at most 32 floats of a row per thread
