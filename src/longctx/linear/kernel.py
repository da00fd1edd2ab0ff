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

which is ``linear_attention_chunked`` of the reference, with the state held in registers instead
of written out. The work is ``O(T C (D + Dv) + T D Dv)`` per head: linear in T for a fixed C.
Non-causal, a first pass over the keys builds the full state and a second pass lets every query
chunk read it: ``out = phi(Q) (phi(K)^T V) / phi(Q) (phi(K)^T 1)``.

Precision: every tile is converted to float32 as it is loaded and every product runs in float32
with IEEE rounding (no TF32), for fp16 and bf16 inputs too; only the output is rounded to the
input dtype. That is the reference's own convention ("half-precision inputs are computed in
float32"), and it is needed here: ``z`` and the state are sums over all earlier keys, so they grow
with T and would overflow fp16's 65504 on long sequences. A faster kernel would run the chunk-local
products on tensor cores in the input precision and keep only the state products in float32.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from numbers import Integral

import torch

from longctx._triton import check_device, interpreting, triton
from longctx.attention.reference import _check_qkv
from longctx.linear.feature_maps import resolve_feature_map
from longctx.linear.reference import _check_options

import triton.language as tl  # noqa: E402  (after longctx._triton chose where kernels run)

__all__ = ["MAX_HEAD_DIM", "MAX_CHUNK", "MIN_BLOCK", "linear_attention"]

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

#: Feature maps applied inside the kernel (the ``FEATURE`` constexpr). Any other map (a callable
#: such as ``FavorFeatures``) is applied on the host, and the kernel runs with IDENTITY.
IDENTITY, ELU, RELU = 0, 1, 2
_IN_KERNEL = {"elu": ELU, "relu": RELU}

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


# float32 products with IEEE rounding (no TF32): recent Triton spells it input_precision="ieee",
# older releases allow_tf32=False. Pick by the signature of the installed tl.dot, once, at import.
if "input_precision" in inspect.signature(tl.dot).parameters:
    @triton.jit
    def _dot(b_a, b_b):
        return tl.dot(b_a, b_b, input_precision="ieee")
else:  # pragma: no cover - only on Triton releases before input_precision existed
    @triton.jit
    def _dot(b_a, b_b):
        return tl.dot(b_a, b_b, allow_tf32=False)


# --8<-- [start:linear-kernel-features]
@triton.jit
def _load_features(p_x, offs_t, mask_t, offs_d, mask_d, stride_t, stride_d, FEATURE: tl.constexpr):
    """Load a ``[BLOCK_C, BLOCK_D]`` tile of rows as float32 and map it through phi.

    Padding (rows past the sequence, columns past the head dim) must read as feature 0, not
    phi(0): elu(0) + 1 == 1 would add a phantom key, or a phantom feature, to every sum.
    """
    mask = mask_t[:, None] & mask_d[None, :]
    b_x = tl.load(p_x + offs_t[:, None] * stride_t + offs_d[None, :] * stride_d, mask=mask, other=0.0)
    b_x = b_x.to(tl.float32)
    if FEATURE == 1:  # ELU, elu(x) + 1: x + 1 above zero, exp(x) at or below (both > 0)
        b_x = tl.where(b_x > 0, b_x + 1.0, tl.exp(tl.minimum(b_x, 0.0)))
    elif FEATURE == 2:  # RELU, max(x, 0)
        b_x = tl.maximum(b_x, 0.0)
    return tl.where(mask, b_x, 0.0)
# --8<-- [end:linear-kernel-features]


# --8<-- [start:linear-kernel-readout]
@triton.jit
def _readout(b_num, b_den, eps, NORMALIZE: tl.constexpr):
    """``num [C, Dv] / den [C]``; rows with ``|den| <= eps`` give zeros (as the reference)."""
    if NORMALIZE:
        mask_ok = tl.abs(b_den) > eps
        b_den = tl.where(mask_ok, b_den, 1.0)  # no 0/0 is ever computed
        b_num = tl.where(mask_ok[:, None], b_num / b_den[:, None], 0.0)
    return b_num
# --8<-- [end:linear-kernel-readout]


@triton.jit
def _linear_causal_kernel(
    p_q, p_k, p_v, p_o,
    stride_qb, stride_qh, stride_qt, stride_qd,
    stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd,
    stride_ob, stride_oh, stride_ot, stride_od,
    H, T, D, DV, GROUP, eps,
    FEATURE: tl.constexpr, NORMALIZE: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    # --8<-- [start:linear-kernel-causal]
    pid_bh = tl.program_id(0)  # one program per (batch, query head), walking all chunks
    pid_b = (pid_bh // H).to(tl.int64)  # int64: batch * stride can pass 2**31 elements
    pid_h = pid_bh % H
    pid_hkv = (pid_h // GROUP).to(tl.int64)  # GQA: GROUP query heads read one key/value head
    p_q += pid_b * stride_qb + pid_h.to(tl.int64) * stride_qh
    p_k += pid_b * stride_kb + pid_hkv * stride_kh
    p_v += pid_b * stride_vb + pid_hkv * stride_vh
    p_o += pid_b * stride_ob + pid_h.to(tl.int64) * stride_oh

    offs_c = tl.arange(0, BLOCK_C)  # positions inside a chunk
    offs_d = tl.arange(0, BLOCK_D)  # features (head dim padded to a power of two)
    offs_e = tl.arange(0, BLOCK_DV)  # value dims
    mask_d = offs_d < D
    mask_e = offs_e < DV
    mask_causal = offs_c[:, None] >= offs_c[None, :]  # inside the chunk, key j <= query i

    b_state = tl.zeros([BLOCK_D, BLOCK_DV], dtype=tl.float32)  # sum of phi(k_j) v_j^T, earlier chunks
    b_z = tl.zeros([BLOCK_D], dtype=tl.float32)  # sum of phi(k_j), earlier chunks

    for start in range(0, T, BLOCK_C):
        offs_t = (start + offs_c).to(tl.int64)  # int64: position * stride can pass 2**31 too
        mask_t = offs_t < T  # the last chunk may be short
        b_q = _load_features(p_q, offs_t, mask_t, offs_d, mask_d, stride_qt, stride_qd, FEATURE)
        b_k = _load_features(p_k, offs_t, mask_t, offs_d, mask_d, stride_kt, stride_kd, FEATURE)
        mask_v = mask_t[:, None] & mask_e[None, :]
        b_v = tl.load(p_v + offs_t[:, None] * stride_vt + offs_e[None, :] * stride_vd,
                      mask=mask_v, other=0.0).to(tl.float32)

        # Inside the chunk: the quadratic form, masked lower-triangular.
        b_a = tl.where(mask_causal, _dot(b_q, tl.trans(b_k)), 0.0)  # [C, C]
        # Earlier chunks: one read of the carried state instead of C x (start) weights.
        b_num = _dot(b_a, b_v) + _dot(b_q, b_state)  # [C, Dv]
        b_den = tl.sum(b_a, axis=1) + tl.sum(b_q * b_z[None, :], axis=1)  # [C]
        b_o = _readout(b_num, b_den, eps, NORMALIZE)
        tl.store(p_o + offs_t[:, None] * stride_ot + offs_e[None, :] * stride_od,
                 b_o.to(p_o.dtype.element_ty), mask=mask_v)

        # Only now add this chunk's keys: its queries already saw them through A.
        b_state += _dot(tl.trans(b_k), b_v)  # [D, Dv]
        b_z += tl.sum(b_k, axis=0)  # [D]
    # --8<-- [end:linear-kernel-causal]


@triton.jit
def _linear_noncausal_kernel(
    p_q, p_k, p_v, p_o,
    stride_qb, stride_qh, stride_qt, stride_qd,
    stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd,
    stride_ob, stride_oh, stride_ot, stride_od,
    H, T, S, D, DV, GROUP, eps,
    FEATURE: tl.constexpr, NORMALIZE: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    # --8<-- [start:linear-kernel-noncausal]
    pid_bh = tl.program_id(0)  # one program per (batch, query head): two passes
    pid_b = (pid_bh // H).to(tl.int64)
    pid_h = pid_bh % H
    pid_hkv = (pid_h // GROUP).to(tl.int64)
    p_q += pid_b * stride_qb + pid_h.to(tl.int64) * stride_qh
    p_k += pid_b * stride_kb + pid_hkv * stride_kh
    p_v += pid_b * stride_vb + pid_hkv * stride_vh
    p_o += pid_b * stride_ob + pid_h.to(tl.int64) * stride_oh

    offs_c = tl.arange(0, BLOCK_C)
    offs_d = tl.arange(0, BLOCK_D)
    offs_e = tl.arange(0, BLOCK_DV)
    mask_d = offs_d < D
    mask_e = offs_e < DV

    # Pass 1, over the S keys: state = phi(K)^T V, z = phi(K)^T 1.
    b_state = tl.zeros([BLOCK_D, BLOCK_DV], dtype=tl.float32)
    b_z = tl.zeros([BLOCK_D], dtype=tl.float32)
    for start in range(0, S, BLOCK_C):
        offs_s = (start + offs_c).to(tl.int64)
        mask_s = offs_s < S
        b_k = _load_features(p_k, offs_s, mask_s, offs_d, mask_d, stride_kt, stride_kd, FEATURE)
        b_v = tl.load(p_v + offs_s[:, None] * stride_vt + offs_e[None, :] * stride_vd,
                      mask=mask_s[:, None] & mask_e[None, :], other=0.0).to(tl.float32)
        b_state += _dot(tl.trans(b_k), b_v)  # [D, Dv]
        b_z += tl.sum(b_k, axis=0)  # [D]

    # Pass 2, over the T queries: every query reads the same state.
    for start in range(0, T, BLOCK_C):
        offs_t = (start + offs_c).to(tl.int64)
        mask_t = offs_t < T
        b_q = _load_features(p_q, offs_t, mask_t, offs_d, mask_d, stride_qt, stride_qd, FEATURE)
        b_num = _dot(b_q, b_state)  # [C, Dv]
        b_den = tl.sum(b_q * b_z[None, :], axis=1)  # [C]
        b_o = _readout(b_num, b_den, eps, NORMALIZE)
        tl.store(p_o + offs_t[:, None] * stride_ot + offs_e[None, :] * stride_od,
                 b_o.to(p_o.dtype.element_ty), mask=mask_t[:, None] & mask_e[None, :])
    # --8<-- [end:linear-kernel-noncausal]


def _check_dim(name: str, what: str, size: int) -> None:
    if not MIN_BLOCK <= size <= MAX_HEAD_DIM:
        raise ValueError(f"{name}'s {what} is {size}; the kernel takes {MIN_BLOCK} to {MAX_HEAD_DIM}")


def _check_chunk_size(chunk_size: object) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral):
        raise TypeError(f"chunk_size must be an integer, got {type(chunk_size).__name__} {chunk_size!r}")
    c = int(chunk_size)
    if not (MIN_BLOCK <= c <= MAX_CHUNK and c & (c - 1) == 0):
        raise ValueError(f"chunk_size must be a power of two from {MIN_BLOCK} to {MAX_CHUNK} for the "
                         f"kernel, got {c} (linear_attention_chunked takes any positive size)")
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
            raise ValueError(f"feature_map returned {name} features on {got.device}, inputs are on {q.device}")
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(f"feature_map gave q {phi_q.shape[-1]} features but k {phi_k.shape[-1]}")
    _check_dim("feature_map", "number of features F", phi_q.shape[-1])
    return phi_q.float(), phi_k.float()


def _check_args(q, k, v, causal, normalize, eps, chunk_size) -> int:
    """Everything ``linear_attention`` checks before it looks at the feature map; returns C."""
    _check_qkv(q, k, v)
    if q.dtype not in _DTYPES:
        raise TypeError(f"q, k and v must be float32, float16 or bfloat16 for the kernel, got {q.dtype}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t)
    if not q.device == k.device == v.device:  # pragma: no cover - needs two GPUs to reach
        raise ValueError(f"q, k and v must be on one device, got {q.device}, {k.device}, {v.device}")
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    _check_options(T, S, causal, normalize, eps)
    _check_dim("v", "head dim Dv", Dv)
    return _check_chunk_size(chunk_size)


# --8<-- [start:linear-launch]
def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                     feature_map: str | Callable = "elu", normalize: bool = True, eps: float = 0.0,
                     chunk_size: int = 64) -> torch.Tensor:
    """Linear attention with the chunked Triton kernel (forward only, no autograd).

    Computes what ``linear_attention_ref`` computes,
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

    Returns:
        ``[B, H, T, Dv]`` in the input dtype, contiguous. Computed in float32 throughout.

    Raises:
        TypeError: a non-tensor, non-float or float64 input, mismatched dtypes, or a wrong type
            for an option.
        ValueError: shapes the kernel cannot take (dims outside 16..128, empty sequences,
            ``T != S`` when causal, a bad chunk size, an unknown feature map), or a device
            the kernel cannot read.
    """
    C = _check_args(q, k, v, causal, normalize, eps, chunk_size)
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]

    if isinstance(feature_map, str) and feature_map in _IN_KERNEL:
        _check_dim("q", "head dim D", D)
        feature, q_in, k_in = _IN_KERNEL[feature_map], q, k
    else:  # a callable (or an unknown name, which resolve_feature_map rejects)
        phi = resolve_feature_map(feature_map)
        feature = IDENTITY
        q_in, k_in = _host_features(phi, q, k)

    # Triton's interpreter casts float32 to bfloat16 by truncation, where a GPU rounds to
    # nearest: under the interpreter a bf16 result is written in float32 and PyTorch rounds it.
    store_dtype = torch.float32 if q.dtype == torch.bfloat16 and interpreting() else q.dtype
    out = torch.empty(B, H, T, Dv, dtype=store_dtype, device=q.device)
    if B * H == 0:
        return out.to(q.dtype)
    F = q_in.shape[3]
    block_d, block_dv = triton.next_power_of_2(F), triton.next_power_of_2(Dv)
    # Launch settings by rule, not tuned on a GPU. The fp32 state [F, Dv] and the [C, C] tile
    # live in registers: more warps spread them thinner once the state passes 64 x 64. Loads
    # are double-buffered in shared memory only while one chunk's q, k, v tiles (counted at
    # 4 bytes an element) fit in 64 KiB.
    num_warps = 4 if block_d * block_dv <= 64 * 64 else 8
    num_stages = 2 if C * (2 * block_d + block_dv) * 4 <= 64 * 1024 else 1
    strides = (*q_in.stride(), *k_in.stride(), *v.stride(), *out.stride())
    meta = dict(FEATURE=feature, NORMALIZE=normalize, BLOCK_C=C, BLOCK_D=block_d,
                BLOCK_DV=block_dv, num_warps=num_warps, num_stages=num_stages)
    grid = (B * H,)
    if causal:
        _linear_causal_kernel[grid](q_in, k_in, v, out, *strides, H, T, F, Dv, H // H_kv,
                                    float(eps), **meta)
    else:
        _linear_noncausal_kernel[grid](q_in, k_in, v, out, *strides, H, T, S, F, Dv, H // H_kv,
                                       float(eps), **meta)
    return out.to(q.dtype)
# --8<-- [end:linear-launch]
