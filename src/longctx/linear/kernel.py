"""Chunked linear attention in Triton: quadratic inside a chunk, a carried state across chunks.

Shape legend (as in ``longctx.linear.reference``):
    q      [B, H, T, D]      B batch, H query heads, T query positions, D head dim
    k      [B, H_kv, S, D]   H_kv key/value heads (H % H_kv == 0), S key positions
    v      [B, H_kv, S, Dv]
    phi(q) [B, H, T, F]      features; F == D for "elu" and "relu"
    state  [F, Dv]           per program, fp32 registers: sum of phi(k_j) v_j^T so far
    z      [F]               per program, fp32 registers: sum of phi(k_j) so far
    out    [B, H, T, Dv]

One program per (batch, query head) walks the sequence in chunks of C positions. For the chunk
``c`` of queries and keys (causal, so T == S):

    A_c   = tril(phi(Q_c) phi(K_c)^T)                 [C, C], j <= i inside the chunk
    num_c = A_c V_c + phi(Q_c) state                  [C, Dv], this chunk + all earlier ones
    den_c = A_c 1   + phi(Q_c) z                      [C]
    out_c = num_c / den_c                             (zeros where |den_c| <= eps)
    state += phi(K_c)^T V_c,   z += phi(K_c)^T 1      after the chunk is read

which is ``linear_attention_chunked_ref`` of the reference, with the state held in registers instead
of written out. The work is ``O(T C (D + Dv) + T D Dv)`` per head: linear in T for a fixed C.
Non-causal, a first pass over the keys builds the full state and a second pass lets every query
chunk read it: ``out = phi(Q) (phi(K)^T V) / phi(Q) (phi(K)^T 1)``.

Precision: every tile is converted to float32 as it is loaded and every product runs in float32
with IEEE rounding (no TF32), for fp16 and bf16 inputs too; only the output is rounded to the
input dtype. That is the reference's own convention ("half-precision inputs are computed in
float32"), and it is needed here: ``z`` and the state are sums over all earlier keys, so they grow
with T and would overflow fp16's 65504 on long sequences. Running only the chunk-local products
on tensor cores (bf16 operands, float32 accumulation) was measured and breaks the 2x rule (about
4x the error of the reference in bf16 at T = 256, D = 64; ``scripts/compile_gate.py`` measures it
again and prints it beside the exception in its table), so the kernel keeps float32 products.

Options that only pick a branch (the feature map, ``normalize``, storing the final state) are
runtime arguments: the compiled variants differ only in the chunk ``BLOCK_C`` and the padded head
dim ``BLOCK_D`` (``CONFIGS`` lists them for the compile gate).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import triton.language as tl

from longctx import checks
from longctx._triton import KernelConfig, check_device, interpreting, triton
from longctx.linear.feature_maps import resolve_feature_map
from longctx.linear.reference import _check_options

__all__ = ["CONFIGS", "MAX_CHUNK", "MAX_HEAD_DIM", "MIN_BLOCK", "linear_attention", "linear_configs"]

#: Smallest block edge: ``tl.dot`` on a GPU needs every block dim >= 16; head dims and chunk
#: sizes below it are refused rather than padded.
MIN_BLOCK = 16
#: Largest head dim (D, Dv, or F for a callable feature map): the fp32 state ``[F, Dv]`` lives in
#: registers, and 128 x 128 floats is already 64 KiB spread over one program's threads.
MAX_HEAD_DIM = 128
#: Largest chunk. The ``[C, C]`` fp32 weight tile lives in registers, and the fp32 products
#: stage their operands in shared memory: compiled for sm_80/sm_90, C = 128 with D = Dv = 128
#: asks for 192 KiB of it, more than an A100 has; C = 64 stays under 100 KiB.
MAX_CHUNK = 64
#: Padded head dims (``max(F, Dv)``) compiled for a GPU, and the chunks.
HEAD_BLOCKS = (64, 128)
CHUNKS = (16, 32, 64)

#: Feature maps applied inside the kernel (the ``feature`` argument). Any other map (a callable
#: such as ``FavorFeatures``) is applied on the host, and the kernel runs with IDENTITY.
IDENTITY, ELU, RELU = 0, 1, 2
_IN_KERNEL = {"elu": ELU, "relu": RELU}

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


# --8<-- [start:linear-kernel-features]
import triton
import triton.language as tl


@triton.jit
def _load_features(p_x, offs_t, mask_t, offs_d, mask_d, stride_t, stride_d, feature):
    """Load a ``[BLOCK_C, BLOCK_D]`` tile of rows as float32 and map it through phi.

    ``feature``: 0 identity, 1 ELU (``elu(x) + 1``), 2 ReLU. Padding (rows past the sequence,
    columns past the head dim) must read as feature 0, not phi(0): elu(0) + 1 == 1 would add a
    phantom key, or a phantom feature, to every sum.
    """
    mask = mask_t[:, None] & mask_d[None, :]
    b_x = tl.load(p_x + offs_t[:, None] * stride_t + offs_d[None, :] * stride_d, mask=mask, other=0.0)
    b_x = b_x.to(tl.float32)
    if feature == 1:  # elu(x) + 1: x + 1 above zero, exp(x) at or below (both > 0)
        b_x = tl.where(b_x > 0, b_x + 1.0, tl.exp(tl.minimum(b_x, 0.0)))
    elif feature == 2:  # max(x, 0)
        b_x = tl.maximum(b_x, 0.0)
    return tl.where(mask, b_x, 0.0)


@triton.jit
def _dot(b_a, b_b):
    """float32 products with IEEE rounding (no TF32)."""
    return tl.dot(b_a, b_b, input_precision="ieee")


@triton.jit
def _readout(b_num, b_den, eps, normalize):
    """``num [C, Dv] / den [C]``; rows with ``|den| <= eps`` give zeros (as the reference)."""
    if normalize:
        mask_ok = tl.abs(b_den) > eps
        b_num = tl.where(mask_ok[:, None], b_num / tl.where(mask_ok, b_den, 1.0)[:, None], 0.0)
    return b_num
# --8<-- [end:linear-kernel-features]


# --8<-- [start:linear-kernel-causal]
import triton
import triton.language as tl


@triton.jit
def _linear_causal_kernel(
    p_q, p_k, p_v, p_o, p_state, p_z,
    stride_qb, stride_qh, stride_qt, stride_qd, stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd, stride_ob, stride_oh, stride_ot, stride_od,
    H, T, D, DV, GROUP, eps, feature, normalize, store_state,
    BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_bh = tl.program_id(0)  # one program per (batch, query head), walking all chunks
    pid_b, pid_h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)  # int64: large offsets
    p_q += pid_b * stride_qb + pid_h * stride_qh
    p_k += pid_b * stride_kb + (pid_h // GROUP) * stride_kh  # GQA: GROUP query heads read one k/v head
    p_v += pid_b * stride_vb + (pid_h // GROUP) * stride_vh
    p_o += pid_b * stride_ob + pid_h * stride_oh
    offs_c, offs_d = tl.arange(0, BLOCK_C), tl.arange(0, BLOCK_D)  # chunk positions; features / value dims
    mask_d, mask_e = offs_d < D, offs_d < DV
    b_state = tl.zeros([BLOCK_D, BLOCK_D], dtype=tl.float32)  # sum of phi(k_j) v_j^T, earlier chunks
    b_z = tl.zeros([BLOCK_D], dtype=tl.float32)  # sum of phi(k_j), earlier chunks
    for start in range(0, T, BLOCK_C):
        offs_t = (start + offs_c).to(tl.int64)
        mask_t = offs_t < T  # the last chunk may be short
        b_q = _load_features(p_q, offs_t, mask_t, offs_d, mask_d, stride_qt, stride_qd, feature)
        b_k = _load_features(p_k, offs_t, mask_t, offs_d, mask_d, stride_kt, stride_kd, feature)
        mask_v = mask_t[:, None] & mask_e[None, :]
        b_v = tl.load(p_v + offs_t[:, None] * stride_vt + offs_d[None, :] * stride_vd, mask=mask_v, other=0.0)
        b_v = b_v.to(tl.float32)
        # Inside the chunk: the quadratic form, masked lower-triangular (key j <= query i).
        b_a = tl.where(offs_c[:, None] >= offs_c[None, :], _dot(b_q, tl.trans(b_k)), 0.0)  # [C, C]
        # Earlier chunks: one read of the carried state instead of C x (start) weights.
        b_num = _dot(b_a, b_v) + _dot(b_q, b_state)  # [C, Dv]
        b_den = tl.sum(b_a, axis=1) + tl.sum(b_q * b_z[None, :], axis=1)  # [C]
        b_o = _readout(b_num, b_den, eps, normalize)
        tl.store(p_o + offs_t[:, None] * stride_ot + offs_d[None, :] * stride_od,
                 b_o.to(p_o.dtype.element_ty), mask=mask_v)
        b_state += _dot(tl.trans(b_k), b_v)  # only now this chunk's keys: its queries saw them through A
        b_z += tl.sum(b_k, axis=0)
    if store_state:  # the final state, contiguous [B, H, F, Dv] and [B, H, F]
        tl.store(p_state + pid_bh.to(tl.int64) * D * DV + offs_d[:, None] * DV + offs_d[None, :], b_state,
                 mask=mask_d[:, None] & mask_e[None, :])
        tl.store(p_z + pid_bh.to(tl.int64) * D + offs_d, b_z, mask=mask_d)
# --8<-- [end:linear-kernel-causal]


@triton.jit
def _linear_noncausal_kernel(
    p_q, p_k, p_v, p_o, p_state, p_z,
    stride_qb, stride_qh, stride_qt, stride_qd, stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd, stride_ob, stride_oh, stride_ot, stride_od,
    H, T, S, D, DV, GROUP, eps, feature, normalize, store_state,
    BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_bh = tl.program_id(0)  # one program per (batch, query head): two passes
    pid_b, pid_h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    p_q += pid_b * stride_qb + pid_h * stride_qh
    p_k += pid_b * stride_kb + (pid_h // GROUP) * stride_kh
    p_v += pid_b * stride_vb + (pid_h // GROUP) * stride_vh
    p_o += pid_b * stride_ob + pid_h * stride_oh
    offs_c, offs_d = tl.arange(0, BLOCK_C), tl.arange(0, BLOCK_D)
    mask_d, mask_e = offs_d < D, offs_d < DV

    # Pass 1, over the S keys: state = phi(K)^T V, z = phi(K)^T 1.
    b_state = tl.zeros([BLOCK_D, BLOCK_D], dtype=tl.float32)
    b_z = tl.zeros([BLOCK_D], dtype=tl.float32)
    for start in range(0, S, BLOCK_C):
        offs_s = (start + offs_c).to(tl.int64)
        mask_s = offs_s < S
        b_k = _load_features(p_k, offs_s, mask_s, offs_d, mask_d, stride_kt, stride_kd, feature)
        b_v = tl.load(p_v + offs_s[:, None] * stride_vt + offs_d[None, :] * stride_vd,
                      mask=mask_s[:, None] & mask_e[None, :], other=0.0).to(tl.float32)
        b_state += _dot(tl.trans(b_k), b_v)  # [D, Dv]
        b_z += tl.sum(b_k, axis=0)  # [D]

    # Pass 2, over the T queries: every query reads the same state.
    for start in range(0, T, BLOCK_C):
        offs_t = (start + offs_c).to(tl.int64)
        mask_t = offs_t < T
        b_q = _load_features(p_q, offs_t, mask_t, offs_d, mask_d, stride_qt, stride_qd, feature)
        b_o = _readout(_dot(b_q, b_state), tl.sum(b_q * b_z[None, :], axis=1), eps, normalize)
        tl.store(p_o + offs_t[:, None] * stride_ot + offs_d[None, :] * stride_od,
                 b_o.to(p_o.dtype.element_ty), mask=mask_t[:, None] & mask_e[None, :])
    if store_state:
        tl.store(p_state + pid_bh.to(tl.int64) * D * DV + offs_d[:, None] * DV + offs_d[None, :], b_state,
                 mask=mask_d[:, None] & mask_e[None, :])
        tl.store(p_z + pid_bh.to(tl.int64) * D + offs_d, b_z, mask=mask_d)


# ---------------------------------------------------------------- configurations


KERNELS = {"_linear_causal_kernel": _linear_causal_kernel, "_linear_noncausal_kernel": _linear_noncausal_kernel}


def linear_configs(*, causal: bool, head_dim: int, chunk_size: int, dtype: torch.dtype,
                   gpu: bool | None = None) -> KernelConfig:
    """The configuration for a call: the kernel, ``BLOCK_C = chunk_size`` and the padded head dim
    ``max(F, Dv)`` (64 or 128 on a GPU), with warps and stages by rule. ``gpu`` picks the GPU's
    (default: where kernels run now); the interpreter pads the head dim only to a power of two >= 16."""
    gpu = not interpreting() if gpu is None else gpu
    block_d = max(64 if gpu else MIN_BLOCK, triton.next_power_of_2(head_dim))
    # The fp32 state [BLOCK_D, BLOCK_D] and the [C, C] tile live in registers: more warps spread
    # them thinner past 64 x 64. Loads are double-buffered in shared memory only while one chunk's
    # q, k, v tiles (4 bytes an element) fit in 64 KiB.
    warps = 4 if block_d <= 64 else 8
    stages = 2 if chunk_size * 3 * block_d * 4 <= 64 * 1024 else 1
    kernel = "_linear_causal_kernel" if causal else "_linear_noncausal_kernel"
    return KernelConfig.make(kernel, dtype, warps, stages, BLOCK_C=chunk_size, BLOCK_D=block_d)


#: Every configuration the launcher can choose on a GPU: the compile gate's list.
CONFIGS = tuple(linear_configs(causal=c, head_dim=hb, chunk_size=ch, dtype=dt, gpu=True)
                for c in (True, False) for dt in _DTYPES for hb in HEAD_BLOCKS for ch in CHUNKS)


# ---------------------------------------------------------------- host side


def _check_dim(name: str, what: str, size: int) -> None:
    if not MIN_BLOCK <= size <= MAX_HEAD_DIM:
        raise ValueError(f"{name}'s {what} must be in {MIN_BLOCK}..{MAX_HEAD_DIM} for the kernel, got {size}")


def _check_chunk_size(chunk_size: object) -> int:
    c = checks.positive_int("chunk_size", chunk_size)
    if not (MIN_BLOCK <= c <= MAX_CHUNK and c & (c - 1) == 0):
        raise ValueError(f"chunk_size must be a power of two from {MIN_BLOCK} to {MAX_CHUNK} for the "
                         f"kernel, got {c} (linear_attention_chunked_ref takes any positive size)")
    return c


def _host_features(phi: Callable, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``phi(q)``, ``phi(k)`` computed in float32 on the host, checked like the reference checks them."""
    B, H, T, _ = q.shape
    H_kv, S = k.shape[1], k.shape[2]
    phi_q, phi_k = phi(q.float()), phi(k.float())  # k stays [B, H_kv, S, D]: phi acts row by row
    for name, got, want in (("q", phi_q, (B, H, T)), ("k", phi_k, (B, H_kv, S))):
        if not isinstance(got, torch.Tensor) or got.dim() != 4 or tuple(got.shape[:3]) != want:
            raise ValueError(f"feature_map must map {name} [..., D] to [..., F] keeping the leading "
                             f"dims {want}, got {tuple(getattr(got, 'shape', ()))}")
        if not got.dtype.is_floating_point:
            raise TypeError(f"feature_map must return floating-point features, got {got.dtype}")
        if got.device != q.device:
            raise ValueError(f"feature_map must return {name}'s features on {q.device}, got {got.device}")
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(f"feature_map must give q and k the same number of features, "
                         f"got {phi_q.shape[-1]} and {phi_k.shape[-1]}")
    _check_dim("feature_map", "number of features F", phi_q.shape[-1])
    return phi_q.float(), phi_k.float()


def _check_args(q, k, v, causal, normalize, eps, chunk_size, return_final_state) -> int:
    """Everything ``linear_attention`` checks before it looks at the feature map; returns C."""
    checks.qkv(q, k, v)
    if q.dtype not in _DTYPES:
        raise TypeError(f"q, k and v must be float32, float16 or bfloat16 for the kernel, got {q.dtype}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t)
    _check_options(q.shape[2], k.shape[2], causal, normalize, eps)
    checks.flag("return_final_state", return_final_state)
    _check_dim("v", "head dim Dv", v.shape[3])
    return _check_chunk_size(chunk_size)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                     feature_map: str | Callable = "elu", normalize: bool = True, eps: float = 0.0,
                     chunk_size: int = 64, return_final_state: bool = False,
                     ) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Linear attention with the chunked Triton kernel (forward only, no autograd).

    Computes what :func:`~longctx.linear.linear_attention_ref` computes,
    ``out_i = sum_j (phi(q_i) . phi(k_j)) v_j / sum_j (phi(q_i) . phi(k_j))`` over ``j <= i``
    (causal) or all j, in O(T) time and memory per head instead of O(T^2).

    Args:
        q: ``[B, H, T, D]`` queries, float32, float16 or bfloat16; with a named feature map
            ``16 <= D <= 128`` (any D in that range, e.g. 40: blocks are padded to a power of
            two). CUDA, or CPU under ``TRITON_INTERPRET=1``. Any strides.
        k: ``[B, H_kv, S, D]`` keys, same dtype and device; ``H % H_kv == 0`` (GQA: query head h
            reads key/value head ``h // (H // H_kv)``, no copies).
        v: ``[B, H_kv, S, Dv]`` values, same dtype and device; ``16 <= Dv <= 128``.
        causal: query i sees keys ``j <= i`` (default True); needs ``T == S``.
        feature_map: ``"elu"`` (elu + 1, default) or ``"relu"``, applied inside the kernel; or a
            callable mapping ``[..., D]`` to ``[..., F]`` row by row (e.g. ``FavorFeatures``),
            applied on the host in float32 before the kernel runs with identity features
            (``16 <= F <= 128``; the features then make one extra round trip through memory).
        normalize: divide by the denominator ``sum_j phi(q_i) . phi(k_j)`` (default True) or
            return the numerator as it is.
        eps: with ``normalize``, rows whose denominator has ``|den| <= eps`` give zeros
            (default 0.0: only exact zeros, as the reference).
        chunk_size: C, positions per chunk: a power of two, ``16 <= C <= 64`` (default 64).
            Any T works: the last chunk is masked.
        return_final_state: also return ``(state, z)``, the sums over every key, as
            :func:`~longctx.linear.linear_attention_recurrent_ref` does: ``state [B, H, F, Dv]``
            of ``phi(k_j) v_j^T`` and ``z [B, H, F]`` of ``phi(k_j)``, float32. Default False.

    Returns:
        ``out [B, H, T, Dv]`` in the input dtype, contiguous, computed in float32 throughout;
        ``(out, (state, z))`` with ``return_final_state=True``.

    Raises:
        TypeError: a non-tensor, non-float or float64 input, mismatched dtypes, or a wrong type
            for an option.
        ValueError: shapes the kernel cannot take (dims outside 16..128, empty sequences,
            ``T != S`` when causal, a bad chunk size, an unknown feature map), or a device
            the kernel cannot read.
    """
    C = _check_args(q, k, v, causal, normalize, eps, chunk_size, return_final_state)
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    if isinstance(feature_map, str) and feature_map in _IN_KERNEL:
        _check_dim("q", "head dim D", D)
        feature, q_in, k_in = _IN_KERNEL[feature_map], q, k
    else:  # a callable (or an unknown name, which resolve_feature_map rejects)
        feature = IDENTITY
        q_in, k_in = _host_features(resolve_feature_map(feature_map), q, k)
    F = q_in.shape[3]

    # Triton's interpreter casts float32 to bfloat16 by truncation, where a GPU rounds to
    # nearest: under the interpreter a bf16 result is written in float32 and PyTorch rounds it.
    store_dtype = torch.float32 if q.dtype == torch.bfloat16 and interpreting() else q.dtype
    out = torch.empty(B, H, T, Dv, dtype=store_dtype, device=q.device)
    state = torch.zeros(B, H, F, Dv, dtype=torch.float32, device=q.device)
    z = torch.zeros(B, H, F, dtype=torch.float32, device=q.device)
    if B * H:
        cfg = linear_configs(causal=causal, head_dim=max(F, Dv), chunk_size=C, dtype=q.dtype)
        lengths = (T,) if causal else (T, S)
        KERNELS[cfg.kernel][(B * H,)](
            q_in, k_in, v, out, state, z, *q_in.stride(), *k_in.stride(), *v.stride(), *out.stride(),
            H, *lengths, F, Dv, H // H_kv, float(eps), feature, int(normalize), int(return_final_state),
            **cfg.launch())
    out = out.to(q.dtype)
    return (out, (state, z)) if return_final_state else out
