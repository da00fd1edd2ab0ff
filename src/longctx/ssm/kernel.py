"""Mamba's selective scan in Triton: the recurrence with its state held in registers.

Shape legend (as in ``longctx.ssm.selective_scan``, mamba's ``selective_scan_ref`` convention):
    u, delta, z   [B, D, L]   B batch, D channels, L sequence length
    A             [D, N]      real; N state size per channel
    B, C          [B, N, L]   input-dependent projections, shared by all channels
    D, delta_bias [D]
    x             [BLOCK_D, BLOCK_N]   per program, fp32 registers: the state of BLOCK_D channels
    out           [B, D, L]

One program per (batch, block of BLOCK_D channels) walks the sequence one position at a time,
as :func:`~longctx.ssm.selective_scan_ref` does:

    dt_t  = softplus(delta_t + delta_bias)             (each optional)
    x_t   = exp(dt_t A) * x_{t-1} + (dt_t u_t) B_t     [BLOCK_D, N], elementwise
    y_t   = x_t C_t  (+ D u_t)  (* silu(z_t))          [BLOCK_D]

The expanded state ``[B, D, L, N]`` that the reference materialises (``deltaA`` and
``deltaB_u``) never exists here: each step's ``exp(dt A)`` is formed in registers and
used at once, and only ``out`` (and, if asked, the last state) is written. That is the point of
Mamba's hardware-aware scan: memory traffic of ``O(B D L + B N L)`` instead of ``O(B D L N)``.

What this kernel does not do, and Mamba's CUDA kernel does: it reads one position per step
instead of loading a chunk of positions and running a parallel (associative) scan over it, so
its time is a chain of L dependent steps per program; and it has no backward pass. Every value
is converted to float32 on load and the state is kept in float32; only ``out`` is rounded to
``u``'s dtype. There is no ``tl.dot``: the scan is elementwise work on CUDA cores, so bf16 is
right under the interpreter too.

The optional terms (``D``, ``z``, ``delta_bias``, the softplus, the last state) are runtime flags,
so the compiled variants differ only in the state tile ``BLOCK_D x BLOCK_N`` (``CONFIGS``).
"""

from __future__ import annotations

import torch

from longctx._triton import KernelConfig, check_device, interpreting, tl, triton
from longctx.ssm.selective_scan import _check_args

__all__ = ["CONFIGS", "MAX_STATE", "scan_configs", "selective_scan_fn"]

#: Largest state size N: the fp32 state ``[BLOCK_D, N]`` of a program lives in registers
#: (Mamba uses N = 16; Mamba-2's SSD, not this scan, is the form meant for larger states).
MAX_STATE = 256
#: Elements of one program's state tile ``BLOCK_D x BLOCK_N``: 4096 floats, 16 KiB of registers
#: spread over the program's warps.
_STATE_TILE = 4096
#: Padded state sizes compiled for a GPU (``N`` rounds up to one of them).
STATE_BLOCKS = (16, 32, 64, 128, 256)
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


# --8<-- [start:selective-scan-kernel]
import triton
import triton.language as tl


@triton.jit
def _scan_step(x, b_A, u_t, dt, B_t, C_t, z_t, b_D, b_bias, has_d, has_z, has_bias, softplus):
    """One position: ``x = exp(dt A) x + dt u B``, then ``y = x C (+ D u) (* silu(z))``."""
    if has_bias:
        dt += b_bias
    if softplus:  # log(1 + e^dt), and dt itself above 20 (as torch's softplus and Mamba)
        dt = tl.where(dt <= 20.0, tl.log(1.0 + tl.exp(tl.minimum(dt, 20.0))), dt)
    x = tl.exp(dt[:, None] * b_A) * x + (dt * u_t)[:, None] * B_t[None, :]  # [BLOCK_D, BLOCK_N]
    y = tl.sum(x * C_t[None, :], axis=1)  # [BLOCK_D]
    if has_d:
        y += b_D * u_t
    if has_z:
        y *= z_t * tl.sigmoid(z_t)  # silu(z)
    return x, y


@triton.jit
def _selective_scan_kernel(
    p_u, p_delta, p_A, p_B, p_C, p_D, p_z, p_bias, p_out, p_state,
    stride_ub, stride_ud, stride_ul, stride_tb, stride_td, stride_tl, stride_ad, stride_an,
    stride_bb, stride_bn, stride_bl, stride_cb, stride_cn, stride_cl, stride_zb, stride_zd, stride_zl,
    DCH, N, L, has_d, has_z, has_bias, softplus,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
):
    pid_b, pid_d = tl.program_id(0), tl.program_id(1)  # a batch row, a block of BLOCK_D channels
    offs_d, offs_n = pid_d * BLOCK_D + tl.arange(0, BLOCK_D), tl.arange(0, BLOCK_N)
    mask_d, mask_n = offs_d < DCH, offs_n < N
    # Padding reads as A = 0, B = C = 0: a padded state lane decays by exp(0) = 1 and gets no
    # input, so it stays 0 and adds nothing to y.
    mask_dn = mask_d[:, None] & mask_n[None, :]
    b_A = tl.load(p_A + offs_d[:, None] * stride_ad + offs_n[None, :] * stride_an, mask=mask_dn, other=0.0).to(tl.float32)
    # Absent D, z and bias are stand-ins (A, u) the flags ignore: loading them is in bounds and harmless.
    b_D = tl.load(p_D + offs_d, mask=mask_d, other=0.0).to(tl.float32)  # D and bias: stride 1
    b_bias = tl.load(p_bias + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    x = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    for t in range(0, L):
        u_t = tl.load(p_u + pid_b * stride_ub + offs_d * stride_ud + t * stride_ul, mask=mask_d, other=0.0)
        dt = tl.load(p_delta + pid_b * stride_tb + offs_d * stride_td + t * stride_tl, mask=mask_d, other=0.0)
        z_t = tl.load(p_z + pid_b * stride_zb + offs_d * stride_zd + t * stride_zl, mask=mask_d, other=0.0)
        B_t = tl.load(p_B + pid_b * stride_bb + offs_n * stride_bn + t * stride_bl, mask=mask_n, other=0.0)
        C_t = tl.load(p_C + pid_b * stride_cb + offs_n * stride_cn + t * stride_cl, mask=mask_n, other=0.0)
        x, y = _scan_step(x, b_A, u_t.to(tl.float32), dt.to(tl.float32), B_t.to(tl.float32), C_t.to(tl.float32), z_t.to(tl.float32), b_D, b_bias, has_d, has_z, has_bias, softplus)
        tl.store(p_out + (pid_b * DCH + offs_d) * L + t, y.to(p_out.dtype.element_ty), mask=mask_d)  # contiguous
    tl.store(p_state + (pid_b * DCH + offs_d[:, None]) * N + offs_n[None, :], x, mask=mask_dn)  # last state [B, D, N]
# --8<-- [end:selective-scan-kernel]


def scan_configs(state_size: int, dtype: torch.dtype, gpu: bool | None = None) -> KernelConfig:
    """The state tile for ``N = state_size``: ``BLOCK_N`` the next power of two (at least 16 on a
    GPU), ``BLOCK_D`` as many channels as fit 4096 floats (at most 64), 4 warps, 8 past 2048."""
    gpu = not interpreting() if gpu is None else gpu
    block_n = max(16 if gpu else 1, triton.next_power_of_2(state_size))
    block_d = min(max(1, _STATE_TILE // block_n), 64)
    return KernelConfig.make("_selective_scan_kernel", dtype, 4 if block_d * block_n <= 2048 else 8, 1,
                             BLOCK_D=block_d, BLOCK_N=block_n)


#: Every configuration the launcher can choose on a GPU: the compile gate's list.
CONFIGS = tuple(scan_configs(n, dt, gpu=True) for dt in _DTYPES for n in STATE_BLOCKS)
KERNELS = {"_selective_scan_kernel": _selective_scan_kernel}


def _check_kernel_inputs(named: dict[str, torch.Tensor | None]) -> None:
    """Dtypes and devices the kernel can read (the shapes were checked like the reference's)."""
    given = {name: t for name, t in named.items() if t is not None}
    for name, t in given.items():
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name} must be float32, float16 or bfloat16 for the kernel, got {t.dtype} "
                            "(selective_scan_ref computes in float64)")
        check_device(name, t)
    devices = {t.device for t in given.values()}
    if len(devices) > 1:
        raise ValueError("u, delta, A, B, C (and D, z, delta_bias) must be on one device, got "
                         + ", ".join(f"{name} on {t.device}" for name, t in given.items()))


# --8<-- [start:selective-scan-launch]
import torch
import triton


def launch_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, out, state, block_d, block_n):
    """Run ``_selective_scan_kernel`` over ``out [B, D, L]`` and ``state [B, D, N]`` (both contiguous).

    One program per (batch row, ``block_d`` channels). Absent optional tensors are passed as
    stand-in pointers (``u``, ``A``) that the runtime flags keep the kernel from reading.
    """
    Bsz, Dch, L = u.shape
    N = A.shape[1]
    z_or_u = z if z is not None else u
    grid = (Bsz, triton.cdiv(Dch, block_d))
    _selective_scan_kernel[grid](
        u, delta, A, B, C, D if D is not None else A, z_or_u, delta_bias if delta_bias is not None else A,
        out, state, *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *z_or_u.stride(),
        Dch, N, L, int(D is not None), int(z is not None), int(delta_bias is not None), int(delta_softplus),
        BLOCK_D=block_d, BLOCK_N=block_n, num_warps=4 if block_d * block_n <= 2048 else 8)
    return out, state
# --8<-- [end:selective-scan-launch]


def selective_scan_fn(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                      D: torch.Tensor | None = None, z: torch.Tensor | None = None, *,
                      delta_bias: torch.Tensor | None = None, delta_softplus: bool = False,
                      return_last_state: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Mamba's selective scan with the Triton kernel (forward only, no autograd).

    Computes what :func:`~longctx.ssm.selective_scan_ref` computes, with the same arguments,
    without materialising the ``[B, D, L, N]`` discretised tensors. The names follow mamba's
    ``selective_scan_fn`` (``return_last_state``, not ``return_final_state``).

    Args:
        u: ``[B, D, L]`` input; float32, float16 or bfloat16. CUDA, or CPU under
            ``TRITON_INTERPRET=1``. Any strides.
        delta: ``[B, D, L]`` step sizes (before ``delta_bias`` and softplus).
        A: ``[D, N]`` real state matrix, ``1 <= N <= 256`` (Mamba keeps it negative).
        B: ``[B, N, L]`` input projection per position.
        C: ``[B, N, L]`` output projection per position.
        D: optional ``[D]`` skip term, added as ``D u``.
        z: optional ``[B, D, L]`` gate; the output is multiplied by ``silu(z)``.
        delta_bias: optional ``[D]`` added to delta before the softplus.
        delta_softplus: apply ``softplus`` to delta (default ``False``).
        return_last_state: also return the final state, ``[B, D, N]`` float32.

    Each tensor may have its own dtype among float32, float16 and bfloat16 (e.g. ``A`` in
    float32 beside bf16 activations, as Mamba keeps it); all are read as float32.

    Returns:
        ``out [B, D, L]`` in ``u``'s dtype, contiguous (and the last state if asked).

    Raises:
        TypeError: a non-tensor or float64 input, or a non-bool ``delta_softplus``.
        ValueError: wrong shapes (as :func:`~longctx.ssm.selective_scan_ref` reports them),
            ``N > 256``, inputs on different devices or on one the kernel cannot read.
    """
    _check_args(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    _check_kernel_inputs({"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z,
                          "delta_bias": delta_bias})
    Bsz, Dch, L = u.shape
    N = A.shape[1]
    if N > MAX_STATE:
        raise ValueError(f"A must have a state size N <= {MAX_STATE} for the kernel, got {N} "
                         "(selective_scan_ref and selective_scan_chunked_ref take any N)")
    # Triton's interpreter casts float32 to bfloat16 by truncation, where a GPU rounds to
    # nearest: under the interpreter a bf16 result is written in float32 and PyTorch rounds it.
    store_dtype = torch.float32 if u.dtype == torch.bfloat16 and interpreting() else u.dtype
    out = torch.empty(Bsz, Dch, L, dtype=store_dtype, device=u.device)
    state = torch.empty(Bsz, Dch, N, dtype=torch.float32, device=u.device)
    if Bsz * Dch > 0:
        cfg = scan_configs(N, u.dtype)
        cfg.launch()  # recorded for benchmark records; the launch below passes the same tiles
        D, delta_bias = (None if t is None else t.contiguous() for t in (D, delta_bias))  # read at stride 1
        launch_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, out, state,
                              cfg.const("BLOCK_D"), cfg.const("BLOCK_N"))
    out = out.to(u.dtype)
    return (out, state) if return_last_state else out
