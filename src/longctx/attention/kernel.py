"""Fused row softmax in Triton: one read of each row from memory, one write of the result.

Shape legend: x [R, C] (any leading dims are flattened into R rows), y like x.

Unfused, ``softmax(x)`` in PyTorch is several kernels (max, subtract, exp, sum, divide), each
reading and writing the whole tensor through GPU memory. Here each program loads one row into
registers, does every step there and writes once: about 2 * R * C elements of traffic instead
of roughly five times that.
"""

from __future__ import annotations

import torch

from longctx._triton import KernelConfig, check_device, interpreting, tl, triton

__all__ = ["CONFIGS", "MAX_COLS", "softmax", "softmax_config"]

#: Widest row one program holds in registers (a power of two).
MAX_COLS = 16384


# --8<-- [start:softmax-kernel]
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(p_x, p_y, stride_x, stride_y, n_cols, BLOCK: tl.constexpr):
    pid_row = tl.program_id(0)  # one program per row
    offs = tl.arange(0, BLOCK)
    mask_col = offs < n_cols  # BLOCK is a power of two >= n_cols: mask the tail
    b_x = tl.load(p_x + pid_row * stride_x + offs, mask=mask_col, other=-float("inf")).to(tl.float32)

    b_max = tl.max(b_x, axis=0)
    b_max = tl.where(b_max == -float("inf"), 0.0, b_max)  # an all -inf row gives zeros
    # log2(e): exp(x) == exp2(x * log2(e)), and exp2 is the GPU's native instruction
    b_num = tl.exp2((b_x - b_max) * 1.4426950408889634)
    b_den = tl.sum(b_num, axis=0)
    b_y = b_num / tl.where(b_den > 0, b_den, 1.0)

    tl.store(p_y + pid_row * stride_y + offs, b_y.to(p_y.dtype.element_ty), mask=mask_col)


# --8<-- [end:softmax-kernel]


def softmax_config(n_cols: int, dtype: torch.dtype, gpu: bool | None = None) -> KernelConfig:
    """``BLOCK``, the row padded to a power of two (at least 1024 on a GPU: masked lanes cost no
    memory traffic), and warps enough to keep a row at most 32 floats a thread (4 warps up to 4096
    columns, 8, then 16)."""
    gpu = not interpreting() if gpu is None else gpu
    block = max(1024 if gpu else 1, triton.next_power_of_2(n_cols))
    return KernelConfig.make("_softmax_kernel", dtype, min(16, max(4, block // 1024)), 1, BLOCK=block)


#: Every configuration the launcher can choose on a GPU: the compile gate's list.
CONFIGS = tuple(
    softmax_config(1 << p, dt, gpu=True)
    for dt in (torch.float16, torch.bfloat16, torch.float32)
    for p in range(10, 15)
)
KERNELS = {"_softmax_kernel": _softmax_kernel}


# --8<-- [start:softmax-launch]
import torch
import triton


def softmax_rows(x2: torch.Tensor, block: int, num_warps: int = 4) -> torch.Tensor:
    """Softmax of each row of ``x2 [R, C]`` (last dim at stride 1): one program per row, ``block >= C``."""
    y2 = torch.empty_like(x2)
    if x2.shape[0] > 0:
        _softmax_kernel[(x2.shape[0],)](
            x2, y2, x2.stride(0), y2.stride(0), x2.shape[1], BLOCK=block, num_warps=num_warps
        )
    return y2


# --8<-- [end:softmax-launch]


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim with the fused Triton kernel.

    Args:
        x: float32, float16 or bfloat16 tensor with at least one dim; its last dim (the row)
            holds 1 to ``MAX_COLS`` elements. CUDA, or CPU under ``TRITON_INTERPRET=1``.

    Returns:
        A tensor like ``x``. Rows that are all ``-inf`` give zeros (as ``softmax_ref``).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise TypeError(f"x must be float32, float16 or bfloat16, got {x.dtype}")
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last dim, got shape {tuple(x.shape)}")
    if x.shape[-1] > MAX_COLS:
        raise ValueError(f"x's rows must hold at most {MAX_COLS} elements for this kernel, got {x.shape[-1]}")
    check_device("x", x)
    x2 = x.reshape(-1, x.shape[-1])  # [R, C]
    x2 = x2 if x2.stride(-1) == 1 else x2.contiguous()
    cfg = softmax_config(x2.shape[1], x.dtype)
    cfg.launch()  # recorded for benchmark records
    # Triton's interpreter casts float32 to bfloat16 by truncation, where a GPU rounds to nearest:
    # under the interpreter a bf16 row is computed from, and written to, float32 and PyTorch rounds it.
    if x.dtype == torch.bfloat16 and interpreting():
        return softmax_rows(x2.float(), cfg.const("BLOCK")).to(x.dtype).reshape(x.shape)
    return softmax_rows(x2, cfg.const("BLOCK"), cfg.num_warps).reshape(x.shape)
