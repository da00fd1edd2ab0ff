"""The 16-bit branch of the kernels' ``_dot`` helper (``F32=False``), run in the interpreter.

On a GPU that branch carries every 16-bit product (tensor cores); under the interpreter the
launchers pick ``F32=True``, because its ``tl.dot`` is wrong for bf16. fp16 is right there, so
this test drives the branch directly with fp16 tiles and compares it with a float64 product.
"""

from __future__ import annotations

import pytest
import torch

from longctx._triton import interpreting, triton

tl = pytest.importorskip("triton.language")

from longctx.flash import kernel as flash_kernel  # noqa: E402
from longctx.kv import paged_kernel  # noqa: E402

pytestmark = pytest.mark.skipif(
    not interpreting(), reason="drives the fp16 branch through the CPU interpreter"
)


flash_dot = flash_kernel._dot  # a jitted kernel calls globals, not closure variables
paged_dot = paged_kernel._dot


@triton.jit
def _load_tiles(p_a, p_b, M: tl.constexpr, K: tl.constexpr, N: tl.constexpr):
    offs_m, offs_k, offs_n = tl.arange(0, M), tl.arange(0, K), tl.arange(0, N)
    a = tl.load(p_a + offs_m[:, None] * K + offs_k[None, :])  # float32 [M, K]
    b = tl.load(p_b + offs_k[:, None] * N + offs_n[None, :])  # float16 [K, N]
    return a, b


@triton.jit
def _flash_product(p_a, p_b, p_c, M: tl.constexpr, K: tl.constexpr, N: tl.constexpr):
    a, b = _load_tiles(p_a, p_b, M, K, N)
    tl.store(p_c + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :], flash_dot(a, b, False))


@triton.jit
def _paged_product(p_a, p_b, p_c, M: tl.constexpr, K: tl.constexpr, N: tl.constexpr):
    a, b = _load_tiles(p_a, p_b, M, K, N)
    tl.store(p_c + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :], paged_dot(a, b, False))


@pytest.mark.parametrize("kernel", [_flash_product, _paged_product], ids=["flash", "paged"])
def test_16_bit_branch_rounds_a_to_bs_dtype_and_accumulates_in_float32(kernel):
    torch.manual_seed(0)
    M, K, N = 16, 32, 16
    a = torch.randn(M, K)
    b = torch.randn(K, N).half()
    c = torch.empty(M, N)
    kernel[(1,)](a, b, c, M=M, K=K, N=N)
    want = a.half().double() @ b.double()  # a rounded to fp16, exact products, then float32
    torch.testing.assert_close(c.double(), want, rtol=1e-5, atol=1e-5)
    # and not the float32 product of the unrounded a (the F32 branch): the rounding is visible
    assert (c.double() - a.double() @ b.double()).abs().max() > 1e-4
