"""FlashAttention in Triton: the tiled online-softmax forward and the recomputing backward.

Shape legend (as in :mod:`longctx.flash.reference`, which this file mirrors tile for tile):
    q     [B, H, T, D]       B batch, H query heads, T query positions, D head dim
    k     [B, H_kv, S, D]    H_kv key/value heads (H % H_kv == 0), S key positions
    v     [B, H_kv, S, Dv]
    out   [B, H, T, Dv]
    lse   [B, H, T]          float32, natural log: log sum_j exp(scale * q_i . k_j) over visible j
    delta [B, H, T]          float32, D_i = rowsum(dO * O), made by the backward's first kernel
    tile  [BLOCK_M, BLOCK_N] scores of BLOCK_M queries against BLOCK_N keys, in registers only
    g     = H // H_kv        query heads that share one key/value head (GQA group)

One program of the forward owns ``BLOCK_M`` query rows of one head (the reference's outer loop)
and streams the key tiles past them (its inner loop). The reference's Python ``if not
_tile_visible(...): continue`` becomes loop *bounds*: ``_key_range`` computes the first and
last key tile that any of the program's rows may see, so tiles that the causal mask or the
sliding window hide entirely are never loaded, and at a fixed window the work per program is
constant: the total grows linearly in the sequence length.

Choices, each explained where it stands:

* The softmax runs in base 2. ``exp(x) == exp2(x * log2(e))``, so the scale is folded with
  ``log2(e)`` once (``qk_scale2``) and every exponential is ``exp2``, the GPU's native
  instruction. The saved ``lse`` is converted back to the natural log, so it equals the
  reference's; the backward multiplies it by ``log2(e)`` again when it loads it.
* GQA without copies: query head ``h`` reads key/value head ``h // g`` through pointer
  arithmetic. The dK/dV kernel owns one *key/value* head and loops over its ``g`` query heads
  inside the program, so the sum over the group happens in registers: no per-query-head
  ``dk``/``dv`` buffers and no atomics. The dQ kernel is separate (one program per query block);
  every output element is written by exactly one program, so results are deterministic.
* Head dims are padded (``BLOCK_D``: 64, 128 or 256 on a GPU, ``max(D, Dv)`` rounded up to a
  power of two) with masked loads that read zeros, which add nothing to ``q . k``.
* The mask is a runtime band: query ``i`` sees keys ``i' - left <= j <= i' + right``, causal is
  ``right = 0``, an unbounded side is ``T + S``. One constexpr, ``MASKED``, removes the band
  tests from full attention, so every window compiles to one of two kernels.
* Accumulation is in float32. Half-precision probabilities are cast back to the input dtype
  for the ``P @ V`` product (as FlashAttention does), float32 inputs stay float32 and ask
  ``tl.dot`` for exact IEEE products instead of TF32 (``F32``). Triton's CPU interpreter
  multiplies bf16 wrongly in ``tl.dot`` (values near 1e8 come back), so there every product
  runs with ``F32`` on the loaded values, and bf16 results are written in float32 and rounded
  by PyTorch: on the CPU a bf16 result is float64-close.
* Tiles on a GPU come from a short list per kernel and head dim (``flash_configs``), timed
  once per key (head dim, dtype, causal, window sides, length bucket); ``CONFIGS`` lists every
  configuration a launcher can choose, which ``scripts/compile_gate.py`` compiles for sm_80 and
  sm_90a without a GPU.
* A query that sees no key gets ``out = 0`` and ``lse = -inf``; in the backward its ``lse``
  becomes ``+inf`` so that ``exp2(s - lse) = 0``: no NaN, zero gradient.
"""

from __future__ import annotations

import torch

from longctx import checks
from longctx._triton import (
    KernelConfig,
    Tuner,
    check_device,
    interpreting,
    length_bucket,
    tl,
    triton,
)

__all__ = ["CONFIGS", "HEAD_BLOCKS", "MAX_HEAD_DIM", "MIN_HEAD_DIM", "flash_attention", "flash_configs"]

#: Head dims the kernels take: tl.dot needs at least 16 on a GPU; 256 is FlashAttention-2's limit
#: (Gemma uses 256, DeepSeek's MLA 192 for q and k).
MIN_HEAD_DIM, MAX_HEAD_DIM = 16, 256
#: Padded head dims compiled for a GPU (smaller heads pad to 64: wasted lanes, one variant fewer).
HEAD_BLOCKS = (64, 128, 256)

LOG2E = 1.4426950408889634  # log2(e): exp(x) == exp2(x * log2(e))

_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


# ---------------------------------------------------------------- which tiles a block visits


# --8<-- [start:kernel-tile-range]
import triton
import triton.language as tl


@triton.jit
def _key_range(start_m, T, S, left, right, MASKED: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Key tiles ``[lo, hi)`` that rows ``[start_m, start_m + BLOCK_M)`` may see (reference: _key_range).

    Query ``i`` sits at key position ``i' = i + S - T`` and sees keys ``i' - left <= j <= i' + right``
    (causal is ``right = 0``; an unbounded side arrives as ``T + S``, past every key).
    """
    lo = start_m * 0  # a tensor zero: loop bounds stay runtime values
    hi = lo + S
    if MASKED:
        first = start_m + S - T  # aligned key position of the block's first query
        last = tl.minimum(start_m + BLOCK_M, T) - 1 + S - T  # ... and of its last real query
        lo = tl.maximum(lo, first - left)
        hi = tl.minimum(hi, last + right + 1)
    lo_tile = (lo // BLOCK_N) * BLOCK_N  # tiles start on multiples of BLOCK_N, as in the reference's grid
    hi = tl.where(hi > lo, hi, lo_tile)  # no visible key at all: an empty loop
    return lo_tile, hi


@triton.jit
def _query_range(start_n, T, S, left, right, MASKED: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Query tiles ``[lo, hi)`` with a row that sees a key of ``[start_n, start_n + BLOCK_N)``.

    ``j <= i' + right`` bounds the rows from below by the block's first key, ``j >= i' - left``
    from above by its last key.
    """
    lo = start_n * 0
    hi = lo + T
    if MASKED:
        last_n = tl.minimum(start_n + BLOCK_N, S) - 1
        lo = tl.maximum(lo, start_n - right - (S - T))
        hi = tl.minimum(hi, last_n + left - (S - T) + 1)
    lo_tile = (lo // BLOCK_M) * BLOCK_M
    hi = tl.where(hi > lo, hi, lo_tile)
    return lo_tile, hi


@triton.jit
def _keep(offs_m, offs_n, T, S, left, right, MASKED: tl.constexpr):
    """``[BLOCK_M, BLOCK_N]`` True where query ``offs_m`` may see key ``offs_n`` (reference: _tile_keep)."""
    pos = offs_m[:, None] + (S - T)  # [BLOCK_M, 1]: aligned bottom-right
    j = offs_n[None, :]  # [1, BLOCK_N]
    keep = (offs_m[:, None] < T) & (j < S)  # rows and keys past the end are padding
    if MASKED:
        keep = keep & (j >= pos - left) & (j <= pos + right)
    return keep
# --8<-- [end:kernel-tile-range]


# ---------------------------------------------------------------- forward


# --8<-- [start:kernel-online-step]
import triton
import triton.language as tl


@triton.jit
def _dot(a, b, F32: tl.constexpr):
    """``a @ b`` into float32. F32: both operands in float32 with IEEE products (no TF32);
    otherwise ``a`` is rounded to ``b``'s 16-bit dtype and the product runs on tensor cores."""
    if F32:
        c = tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    else:
        c = tl.dot(a.to(b.dtype), b)
    return c


@triton.jit
def _softmax_step(b_s, b_m, b_l, b_acc, b_v, F32: tl.constexpr):
    """One key tile of the online softmax (reference: online_softmax_update, with exp2 for exp)."""
    b_m_new = tl.maximum(b_m, tl.max(b_s, 1))
    b_m_safe = tl.where(b_m_new == float("-inf"), 0.0, b_m_new)  # a row with no key yet: 0
    b_alpha = tl.exp2(b_m - b_m_safe)  # re-bases the old sums on the new max; 0 while m == -inf
    b_p = tl.exp2(b_s - b_m_safe[:, None])  # every exponent <= 0; masked entries give 0
    b_l = b_alpha * b_l + tl.sum(b_p, 1)
    b_acc = b_acc * b_alpha[:, None] + _dot(b_p, b_v, F32)
    return b_m_new, b_l, b_acc
# --8<-- [end:kernel-online-step]


# --8<-- [start:kernel-forward-loop]
import triton
import triton.language as tl


@triton.jit
def _flash_fwd_kernel(p_q, p_k, p_v, p_o, p_lse,
                      stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_ks,
                      stride_vb, stride_vh, stride_vs, stride_ob, stride_oh, stride_ot,
                      H, T, S, D, DV, GROUP, qk_scale2, left, right,
                      MASKED: tl.constexpr, F32: tl.constexpr,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)  # a block of BLOCK_M queries of one (batch, head)
    pid_b, pid_h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)  # int64: large offsets
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n, offs_d = tl.arange(0, BLOCK_N), tl.arange(0, BLOCK_D)  # head dims padded: masks read zeros
    p_q += pid_b * stride_qb + pid_h * stride_qh
    p_k += pid_b * stride_kb + (pid_h // GROUP) * stride_kh  # GQA: the shared key/value head, no copy
    p_v += pid_b * stride_vb + (pid_h // GROUP) * stride_vh
    b_q = tl.load(p_q + offs_m[:, None] * stride_qt + offs_d[None, :],
                  mask=(offs_m < T)[:, None] & (offs_d < D)[None, :], other=0.0)  # stays resident

    b_m = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running max, in log2 units
    b_l = tl.zeros([BLOCK_M], tl.float32)  # running sum of exp2(s - m)
    b_acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)  # running sum of exp2(s - m) * v
    lo, hi = _key_range(pid_m * BLOCK_M, T, S, left, right, MASKED, BLOCK_M, BLOCK_N)
    for start_n in range(lo, hi, BLOCK_N):  # only the tiles the mask does not hide entirely
        offs_kn = start_n + offs_n
        b_k = tl.load(p_k + offs_kn[:, None] * stride_ks + offs_d[None, :],
                      mask=(offs_kn < S)[:, None] & (offs_d < D)[None, :], other=0.0)
        b_v = tl.load(p_v + offs_kn[:, None] * stride_vs + offs_d[None, :],
                      mask=(offs_kn < S)[:, None] & (offs_d < DV)[None, :], other=0.0)
        b_s = _dot(b_q, tl.trans(b_k), F32) * qk_scale2  # [BLOCK_M, BLOCK_N]: scores * log2(e)
        b_s = tl.where(_keep(offs_m, offs_kn, T, S, left, right, MASKED), b_s, float("-inf"))
        b_m, b_l, b_acc = _softmax_step(b_s, b_m, b_l, b_acc, b_v, F32)

    seen = b_l != 0  # a sum of exponentials: 0 only for a query that saw no key
    b_l = tl.where(seen, b_l, 1.0)
    b_o = tl.where(seen[:, None], b_acc / b_l[:, None], 0.0)  # normalise once, at the end
    # m + log2(l) is the log-sum-exp in base 2; ln(2) = 0.693...: log(x) == log2(x) * ln(2)
    b_lse = tl.where(seen, (b_m + tl.log2(b_l)) * 0.6931471805599453, float("-inf"))
    p_o += pid_b * stride_ob + pid_h * stride_oh
    tl.store(p_o + offs_m[:, None] * stride_ot + offs_d[None, :], b_o.to(p_o.dtype.element_ty),
             mask=(offs_m < T)[:, None] & (offs_d < DV)[None, :])
    tl.store(p_lse + pid_bh.to(tl.int64) * T + offs_m, b_lse, mask=offs_m < T)  # lse: contiguous [B, H, T]
# --8<-- [end:kernel-forward-loop]


# ---------------------------------------------------------------- backward


@triton.jit
def _flash_bwd_preprocess_kernel(p_o, p_do, p_delta, stride_ob, stride_oh, stride_ot,
                                 stride_dob, stride_doh, stride_dot, H, T, DV,
                                 BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr):
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)
    pid_b, pid_h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    mask = (offs_m < T)[:, None] & (offs_d < DV)[None, :]
    b_o = tl.load(p_o + pid_b * stride_ob + pid_h * stride_oh + offs_m[:, None] * stride_ot + offs_d[None, :],
                  mask=mask, other=0.0).to(tl.float32)
    b_do = tl.load(p_do + pid_b * stride_dob + pid_h * stride_doh + offs_m[:, None] * stride_dot
                   + offs_d[None, :], mask=mask, other=0.0).to(tl.float32)
    # D_i = rowsum(dO * O) = sum_j P_ij dP_ij: the softmax backward's per-row constant
    tl.store(p_delta + pid_bh.to(tl.int64) * T + offs_m, tl.sum(b_do * b_o, 1), mask=offs_m < T)


@triton.jit
def _bwd_tile(b_q, b_k, b_v, b_do, p_lse, p_delta, offs_m, offs_n, T, S, left, right, qk_scale2,
              MASKED: tl.constexpr, F32: tl.constexpr):
    """``(P, dS)`` of one ``[BLOCK_M, BLOCK_N]`` tile, recomputed from q, k and the saved lse."""
    b_lse = tl.load(p_lse + offs_m, mask=offs_m < T, other=float("inf"))
    # to base 2; a row that saw nothing (-inf) becomes +inf so that exp2(s - lse) = 0
    b_lse = tl.where(b_lse == float("-inf"), float("inf"), b_lse * 1.4426950408889634)
    b_delta = tl.load(p_delta + offs_m, mask=offs_m < T, other=0.0)
    b_s = _dot(b_q, tl.trans(b_k), F32) * qk_scale2  # recomputed, never stored
    b_s = tl.where(_keep(offs_m, offs_n, T, S, left, right, MASKED), b_s, float("-inf"))
    b_p = tl.exp2(b_s - b_lse[:, None])  # the exact softmax, from the saved lse
    b_dp = _dot(b_do, tl.trans(b_v), F32)  # dP = dO V^T
    return b_p, b_p * (b_dp - b_delta[:, None])  # dS = P * (dP - D_i), row by row


@triton.jit
def _flash_bwd_dkdv_kernel(p_q, p_k, p_v, p_do, p_lse, p_delta, p_dk, p_dv,
                           stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_ks,
                           stride_vb, stride_vh, stride_vs, stride_dob, stride_doh, stride_dot,
                           stride_dkb, stride_dkh, stride_dks, stride_dvb, stride_dvh, stride_dvs,
                           H, H_KV, T, S, D, DV, GROUP, scale, qk_scale2, left, right,
                           MASKED: tl.constexpr, F32: tl.constexpr,
                           BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    pid_n, pid_bhkv = tl.program_id(0), tl.program_id(1)  # a block of BLOCK_N keys of one (batch, kv head)
    pid_b, pid_hkv = (pid_bhkv // H_KV).to(tl.int64), (pid_bhkv % H_KV).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m, offs_d = tl.arange(0, BLOCK_M), tl.arange(0, BLOCK_D)
    b_k = tl.load(p_k + pid_b * stride_kb + pid_hkv * stride_kh + offs_n[:, None] * stride_ks + offs_d[None, :],
                  mask=(offs_n < S)[:, None] & (offs_d < D)[None, :], other=0.0)  # resident
    b_v = tl.load(p_v + pid_b * stride_vb + pid_hkv * stride_vh + offs_n[:, None] * stride_vs + offs_d[None, :],
                  mask=(offs_n < S)[:, None] & (offs_d < DV)[None, :], other=0.0)
    b_dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    b_dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)

    lo, hi = _query_range(pid_n * BLOCK_N, T, S, left, right, MASKED, BLOCK_M, BLOCK_N)
    for g in range(0, GROUP):  # the query heads sharing this key/value head: the GQA sum in registers
        pid_h = pid_hkv * GROUP + g
        row0 = (pid_b * H + pid_h) * T  # lse and delta are contiguous [B, H, T]
        p_q_h = p_q + pid_b * stride_qb + pid_h * stride_qh
        p_do_h = p_do + pid_b * stride_dob + pid_h * stride_doh
        for start_m in range(lo, hi, BLOCK_M):  # only the query tiles that see the resident keys
            offs_qm = start_m + offs_m
            b_q = tl.load(p_q_h + offs_qm[:, None] * stride_qt + offs_d[None, :],
                          mask=(offs_qm < T)[:, None] & (offs_d < D)[None, :], other=0.0)
            b_do = tl.load(p_do_h + offs_qm[:, None] * stride_dot + offs_d[None, :],
                           mask=(offs_qm < T)[:, None] & (offs_d < DV)[None, :], other=0.0)
            b_p, b_ds = _bwd_tile(b_q, b_k, b_v, b_do, p_lse + row0, p_delta + row0, offs_qm, offs_n,
                                  T, S, left, right, qk_scale2, MASKED, F32)
            b_dv += _dot(tl.trans(b_p), b_do, F32)  # dV = P^T dO
            b_dk += _dot(tl.trans(b_ds), b_q, F32)  # dK = dS^T Q (times scale, below)
    tl.store(p_dk + pid_b * stride_dkb + pid_hkv * stride_dkh + offs_n[:, None] * stride_dks + offs_d[None, :],
             (b_dk * scale).to(p_dk.dtype.element_ty), mask=(offs_n < S)[:, None] & (offs_d < D)[None, :])
    tl.store(p_dv + pid_b * stride_dvb + pid_hkv * stride_dvh + offs_n[:, None] * stride_dvs + offs_d[None, :],
             b_dv.to(p_dv.dtype.element_ty), mask=(offs_n < S)[:, None] & (offs_d < DV)[None, :])


@triton.jit
def _flash_bwd_dq_kernel(p_q, p_k, p_v, p_do, p_lse, p_delta, p_dq,
                         stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_ks,
                         stride_vb, stride_vh, stride_vs, stride_dob, stride_doh, stride_dot,
                         stride_dqb, stride_dqh, stride_dqt, H, T, S, D, DV, GROUP, scale, qk_scale2, left, right,
                         MASKED: tl.constexpr, F32: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)  # like the forward: a block of queries of one head
    pid_b, pid_h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n, offs_d = tl.arange(0, BLOCK_N), tl.arange(0, BLOCK_D)
    b_q = tl.load(p_q + pid_b * stride_qb + pid_h * stride_qh + offs_m[:, None] * stride_qt + offs_d[None, :], mask=(offs_m < T)[:, None] & (offs_d < D)[None, :], other=0.0)
    b_do = tl.load(p_do + pid_b * stride_dob + pid_h * stride_doh + offs_m[:, None] * stride_dot + offs_d[None, :],
                   mask=(offs_m < T)[:, None] & (offs_d < DV)[None, :], other=0.0)
    p_k += pid_b * stride_kb + (pid_h // GROUP) * stride_kh
    p_v += pid_b * stride_vb + (pid_h // GROUP) * stride_vh
    row0 = pid_bh.to(tl.int64) * T
    b_dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    lo, hi = _key_range(pid_m * BLOCK_M, T, S, left, right, MASKED, BLOCK_M, BLOCK_N)
    for start_n in range(lo, hi, BLOCK_N):
        offs_kn = start_n + offs_n
        b_k = tl.load(p_k + offs_kn[:, None] * stride_ks + offs_d[None, :],
                      mask=(offs_kn < S)[:, None] & (offs_d < D)[None, :], other=0.0)
        b_v = tl.load(p_v + offs_kn[:, None] * stride_vs + offs_d[None, :],
                      mask=(offs_kn < S)[:, None] & (offs_d < DV)[None, :], other=0.0)
        _, b_ds = _bwd_tile(b_q, b_k, b_v, b_do, p_lse + row0, p_delta + row0, offs_m, offs_kn,
                            T, S, left, right, qk_scale2, MASKED, F32)
        b_dq += _dot(b_ds, b_k, F32)  # dQ = dS K (times scale, below)
    tl.store(p_dq + pid_b * stride_dqb + pid_h * stride_dqh + offs_m[:, None] * stride_dqt + offs_d[None, :],
             (b_dq * scale).to(p_dq.dtype.element_ty), mask=(offs_m < T)[:, None] & (offs_d < D)[None, :])


# ---------------------------------------------------------------- configurations


# (BLOCK_M, BLOCK_N, num_warps, num_stages) a GPU may try, by kernel and padded head dim. The
# 16-bit lists keep those of the tutorial / FlashAttention-2 candidates (128 x 64, 128 x 128,
# 64 x 64; 4 or 8 warps; 2 to 4 stages) that compile without a spill for both sm_80 and sm_90a
# (the gate found 128 x 64 spilling at d = 64 on sm_90a and at d = 128 and 256 on both, 128 x 128
# spilling at d = 128; in the backward, dK/dV with 64 x 64 at d = 128 and dQ with 64 x 32 at
# d = 256 spilled on sm_90a); the backward holds two float32 accumulators per key block and takes
# narrower tiles. float32 runs its IEEE products on CUDA cores and gets small tiles; its spills
# are reported, not fatal (scripts/compile_gate.py checks them all).
_TILES_16 = {
    ("_flash_fwd_kernel", 64): ((128, 128, 8, 3), (64, 64, 4, 4)),
    ("_flash_fwd_kernel", 128): ((64, 64, 4, 3), (64, 64, 4, 2)),
    ("_flash_fwd_kernel", 256): ((64, 64, 8, 2),),
    ("_flash_bwd_dkdv_kernel", 64): ((32, 64, 4, 2), (64, 64, 8, 2)),
    ("_flash_bwd_dkdv_kernel", 128): ((32, 64, 8, 2),),
    ("_flash_bwd_dkdv_kernel", 256): ((32, 32, 8, 1), (16, 32, 8, 1)),
    ("_flash_bwd_dq_kernel", 64): ((64, 64, 4, 2), (64, 32, 4, 2)),
    ("_flash_bwd_dq_kernel", 128): ((64, 32, 8, 2), (64, 64, 8, 2)),
    ("_flash_bwd_dq_kernel", 256): ((32, 32, 8, 1),),
}
_TILES_32 = {
    ("_flash_fwd_kernel", 64): ((64, 64, 4, 2),),
    ("_flash_fwd_kernel", 128): ((64, 32, 8, 2),),
    ("_flash_fwd_kernel", 256): ((32, 32, 8, 1),),
    ("_flash_bwd_dkdv_kernel", 64): ((32, 64, 8, 1),),
    ("_flash_bwd_dkdv_kernel", 128): ((32, 32, 4, 1),),
    ("_flash_bwd_dkdv_kernel", 256): ((16, 32, 8, 1),),
    ("_flash_bwd_dq_kernel", 64): ((64, 64, 8, 1),),
    ("_flash_bwd_dq_kernel", 128): ((32, 32, 4, 1),),
    ("_flash_bwd_dq_kernel", 256): ((32, 32, 8, 1),),
}
_PREPROCESS_BLOCK_M = 16  # 64 rows spilled at d = 64 and 256: delta is one pass over O and dO anyway

KERNELS = {"_flash_fwd_kernel": _flash_fwd_kernel, "_flash_bwd_preprocess_kernel": _flash_bwd_preprocess_kernel,
           "_flash_bwd_dkdv_kernel": _flash_bwd_dkdv_kernel, "_flash_bwd_dq_kernel": _flash_bwd_dq_kernel}


def _head_block(dim: int) -> int:
    """The padded head dim on a GPU: 64, 128 or 256."""
    return max(64, triton.next_power_of_2(dim))


def flash_configs(kernel: str, head_dim: int, dtype: torch.dtype, *, masked: bool,
                  gpu: bool | None = None) -> list[KernelConfig]:
    """The configurations ``kernel`` may run with at ``head_dim`` (``max(D, Dv)``) and ``dtype``.

    On a GPU, the candidates of the tile table (the launcher times them once per key and keeps the
    fastest); under the interpreter, one config with 16 x 16 tiles and the head dim padded only to
    the next power of two, products in float32 (the interpreter's ``tl.dot`` mishandles bf16).
    ``gpu`` picks the list (default: where kernels run now).
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    if not (not interpreting() if gpu is None else gpu):
        block_d = max(16, triton.next_power_of_2(head_dim))
        if kernel == "_flash_bwd_preprocess_kernel":
            return [KernelConfig.make(kernel, dtype, BLOCK_M=16, BLOCK_D=block_d)]
        return [KernelConfig.make(kernel, dtype, MASKED=masked, F32=True, BLOCK_M=16, BLOCK_N=16, BLOCK_D=block_d)]
    hb = _head_block(head_dim)
    if kernel == "_flash_bwd_preprocess_kernel":
        return [KernelConfig.make(kernel, dtype, 4, 1, BLOCK_M=_PREPROCESS_BLOCK_M, BLOCK_D=hb)]
    f32 = dtype == torch.float32
    return [KernelConfig.make(kernel, dtype, w, st, MASKED=masked, F32=f32, BLOCK_M=bm, BLOCK_N=bn, BLOCK_D=hb)
            for bm, bn, w, st in (_TILES_32 if f32 else _TILES_16)[kernel, hb]]


def _gpu_configs() -> tuple[KernelConfig, ...]:
    configs = []
    for kernel in KERNELS:
        for dtype in _DTYPES:
            for hb in HEAD_BLOCKS:
                for masked in (False, True):
                    configs += flash_configs(kernel, hb, dtype, masked=masked, gpu=True)
    return tuple(dict.fromkeys(configs))


#: Every configuration the launchers can choose on a GPU: the compile gate's list.
CONFIGS = _gpu_configs()


# ---------------------------------------------------------------- host side


_TUNER = Tuner()


def _check_inputs(q, k, v, causal, window, scale):
    """Validate everything the kernels rely on; return ``(window, scale)`` normalised."""
    checks.qkv(q, k, v, nonempty=True)  # tensors, ranks, one dtype and device, B/H/S/D agreement, H % H_kv
    if q.dtype not in _DTYPES:
        raise TypeError(f"q, k and v must be float16, bfloat16 or float32 for the kernel, got {q.dtype}")
    for name, dim in (("q and k's head dim D", q.shape[3]), ("v's head dim Dv", v.shape[3])):
        if not MIN_HEAD_DIM <= dim <= MAX_HEAD_DIM:
            raise ValueError(f"{name} must be in {MIN_HEAD_DIM}..{MAX_HEAD_DIM} for the kernel, got {dim}")
    checks.flag("causal", causal)
    window, scale = checks.window_pair(window), checks.attention_scale(scale, q.shape[3])
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t)
    return window, scale


def _unit_stride(t: torch.Tensor) -> torch.Tensor:
    """The kernels index the last dim with stride 1; any other layout is copied once."""
    return t if t.stride(-1) == 1 else t.contiguous()


def _io_dtype(dtype: torch.dtype) -> torch.dtype:
    """Where results are written: bf16 in float32 under the interpreter, which casts to bf16 by
    truncation where a GPU rounds to nearest (PyTorch rounds the float32 result afterwards)."""
    return torch.float32 if dtype == torch.bfloat16 and interpreting() else dtype


def _band(T: int, S: int, causal: bool, window: tuple[int, int]) -> tuple[int, int, bool]:
    """``(left, right, masked)`` for the kernels: causal is ``right = 0``, an unbounded side ``T + S``."""
    left, right = window
    if causal:
        right = 0
    return (left if left >= 0 else T + S), (right if right >= 0 else T + S), left >= 0 or right >= 0


def _choose(kernel, q, k, v, causal, window, run) -> KernelConfig:
    """The configuration for this call: the tuner's pick among the candidates, per key."""
    head_dim = max(q.shape[3], v.shape[3])
    masked = _band(1, 1, causal, window)[2]
    key = (kernel, _head_block(head_dim), q.dtype, causal, window[0] >= 0, window[1] >= 0,
           length_bucket(q.shape[2]), length_bucket(k.shape[2]))
    return _TUNER.pick(key, flash_configs(kernel, head_dim, q.dtype, masked=masked), run)


def _flash_forward(q, k, v, causal, window, scale):
    """Launch the forward: one program per (query block, batch x head); returns ``(out, lse)``."""
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    out = torch.empty(B, H, T, Dv, dtype=_io_dtype(q.dtype), device=q.device)
    lse = torch.empty(B, H, T, dtype=torch.float32, device=q.device)  # natural log
    left, right, _ = _band(T, S, causal, window)

    def run(cfg):
        grid = (triton.cdiv(T, cfg.const("BLOCK_M")), B * H)
        _flash_fwd_kernel[grid](q, k, v, out, lse, *q.stride()[:3], *k.stride()[:3], *v.stride()[:3],
                                *out.stride()[:3], H, T, S, D, Dv, H // H_kv, scale * LOG2E, left, right,
                                **cfg.launch())

    if B * H:
        run(_choose("_flash_fwd_kernel", q, k, v, causal, window, run))
    return out.to(q.dtype), lse


def _flash_backward(q, k, v, out, lse, dout, causal, window, scale):
    """Launch the backward: ``delta``, then dK/dV per key block, then dQ per query block."""
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    dout = _unit_stride(dout)
    dq, dk, dv = (torch.empty(t.shape, dtype=_io_dtype(q.dtype), device=q.device) for t in (q, k, v))
    if B * H == 0:
        return dq.to(q.dtype), dk.to(q.dtype), dv.to(q.dtype)
    left, right, _ = _band(T, S, causal, window)
    delta = torch.empty_like(lse)  # [B, H, T] float32
    pre = flash_configs("_flash_bwd_preprocess_kernel", max(D, Dv), q.dtype, masked=False)[0]
    _flash_bwd_preprocess_kernel[(triton.cdiv(T, pre.const("BLOCK_M")), B * H)](
        out, dout, delta, *out.stride()[:3], *dout.stride()[:3], H, T, Dv, **pre.launch())
    strides = (*q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *dout.stride()[:3])

    def run_dkdv(cfg):
        _flash_bwd_dkdv_kernel[(triton.cdiv(S, cfg.const("BLOCK_N")), B * H_kv)](
            q, k, v, dout, lse, delta, dk, dv, *strides, *dk.stride()[:3], *dv.stride()[:3],
            H, H_kv, T, S, D, Dv, H // H_kv, scale, scale * LOG2E, left, right, **cfg.launch())

    def run_dq(cfg):
        _flash_bwd_dq_kernel[(triton.cdiv(T, cfg.const("BLOCK_M")), B * H)](
            q, k, v, dout, lse, delta, dq, *strides, *dq.stride()[:3],
            H, T, S, D, Dv, H // H_kv, scale, scale * LOG2E, left, right, **cfg.launch())

    run_dkdv(_choose("_flash_bwd_dkdv_kernel", q, k, v, causal, window, run_dkdv))
    run_dq(_choose("_flash_bwd_dq_kernel", q, k, v, causal, window, run_dq))
    return dq.to(q.dtype), dk.to(q.dtype), dv.to(q.dtype)


class _FlashAttention(torch.autograd.Function):
    """Autograd glue: saves ``q, k, v, out, lse`` (nothing of size ``T x S``) for the backward."""

    @staticmethod
    def forward(ctx, q, k, v, causal, window, scale):
        q, k, v = _unit_stride(q), _unit_stride(k), _unit_stride(v)
        out, lse = _flash_forward(q, k, v, causal, window, scale)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.args = (causal, window, scale)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, _dlse):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = _flash_backward(q, k, v, out, lse, dout, *ctx.args)
        return dq, dk, dv, None, None, None


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                    window: tuple[int, int] | None = None, scale: float | None = None,
                    return_lse: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Exact attention with the Triton FlashAttention kernels; differentiable in ``q``, ``k``, ``v``.

    A drop-in for ``torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)``
    when ``T == S``. Computes what :func:`longctx.flash.flash_attention_ref` computes, with the same
    masks, in fused kernels: the forward never writes the ``[T, S]`` score matrix, and the backward
    recomputes each tile of probabilities from ``q``, ``k`` and the saved ``lse``. Tiles that the
    causal mask or the window hide entirely are skipped by the loop bounds. Runs on a CUDA GPU
    (tiles tuned once per shape class from a short list), or on CPU tensors through Triton's
    interpreter (``TRITON_INTERPRET=1``, slow: for tests; float32 products there, so bf16 is right).

    Args:
        q: ``[B, H, T, D]`` queries; float16, bfloat16 or float32; ``16 <= D <= 256``
            (any value in between, e.g. 40, 80 or 192).
        k: ``[B, H_kv, S, D]`` keys, same dtype and device; ``H % H_kv == 0`` (GQA: query head
            ``h`` reads key/value head ``h // (H // H_kv)``, without copying ``k``).
        v: ``[B, H_kv, S, Dv]`` values, same dtype and device; ``16 <= Dv <= 256``.
        causal: keep keys ``j <= i + S - T``. For ``T == S`` this is SDPA's ``is_causal=True``;
            for ``T != S`` the mask is aligned bottom-right (the last query sees the last key, as
            in FlashAttention since 2.1), where SDPA aligns it top-left. Default False.
        window: ``(left, right)``, FlashAttention's ``window_size``: keep keys
            ``i' - left <= j <= i' + right`` where ``i' = i + S - T``; ``-1`` is unbounded on that
            side. Default None, the same as ``(-1, -1)``. Combines with ``causal``.
        scale: multiplies the scores; defaults to ``1 / sqrt(D)``.
        return_lse: also return the log-sum-exp of each row. Default False.

    Returns:
        ``out`` ``[B, H, T, Dv]`` in the input dtype; with ``return_lse=True``, ``(out, lse)`` with
        ``lse`` ``[B, H, T]`` float32, the natural-log log-sum-exp of each row's scaled, masked
        scores (not differentiable). A query that sees no key gets ``out = 0``, ``lse = -inf``
        and zero gradients. Gradients come back in the input dtypes; under GQA, ``dk`` and
        ``dv`` of a key/value head sum its query heads' contributions.

    Raises:
        TypeError: a tensor argument is not a tensor, dtypes differ or are not float16,
            bfloat16 or float32; ``causal``, ``return_lse``, ``window`` or ``scale`` have the
            wrong type.
        ValueError: wrong ranks, mismatched batch/heads/head dims, ``H % H_kv != 0``, an
            empty sequence, a head dim outside 16..256, a window side below -1, a scale that
            is not a positive finite number, tensors on different devices, or a device the
            kernels cannot read (a CPU tensor without the interpreter).
    """
    window, scale = _check_inputs(q, k, v, causal, window, scale)
    checks.flag("return_lse", return_lse)
    out, lse = _FlashAttention.apply(q, k, v, causal, window, scale)
    return (out, lse) if return_lse else out
