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
* Head dims are padded to the next power of two (``BLOCK_D``, at least 16, the smallest
  ``tl.dot`` the GPU takes) with masked loads that read zeros, which add nothing to ``q . k``.
* Accumulation is in float32. Half-precision probabilities are cast back to the input dtype
  for the ``P @ V`` product (as FlashAttention does), float32 inputs stay float32 and ask
  ``tl.dot`` for exact IEEE products instead of TF32.
* A query that sees no key gets ``out = 0`` and ``lse = -inf``; in the backward its ``lse``
  becomes ``+inf`` so that ``exp2(s - lse) = 0``: no NaN, zero gradient.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from longctx._triton import check_device, interpreting, triton

import triton.language as tl  # noqa: E402  (after longctx._triton chose where kernels run)

from longctx.attention.reference import _check_qkv  # noqa: E402
from longctx.flash.reference import _check_scale, _check_window  # noqa: E402

__all__ = ["flash_attention", "MIN_HEAD_DIM", "MAX_HEAD_DIM"]

#: Head dims the kernels take: tl.dot needs at least 16 on a GPU; 128 keeps a tile's rows,
#: its accumulators and the pipelined loads inside an H100's registers and shared memory.
MIN_HEAD_DIM, MAX_HEAD_DIM = 16, 128

LOG2E = 1.4426950408889634  # log2(e): exp(x) == exp2(x * log2(e))

_DTYPES = (torch.float16, torch.bfloat16, torch.float32)

# tl.dot took ``allow_tf32`` first, then ``input_precision`` (Triton 2.2+/3.x); pick what this
# Triton has, so float32 products are exact IEEE on the GPU rather than TF32 (10-bit mantissa).
_DOT_HAS_INPUT_PRECISION = "input_precision" in inspect.signature(tl.dot).parameters

if _DOT_HAS_INPUT_PRECISION:

    @triton.jit
    def _dot(a, b, IEEE: tl.constexpr):
        if IEEE:
            c = tl.dot(a, b, input_precision="ieee")
        else:
            c = tl.dot(a, b)
        return c

else:  # pragma: no cover - Triton without input_precision (older than this project's pin)

    @triton.jit
    def _dot(a, b, IEEE: tl.constexpr):
        if IEEE:
            c = tl.dot(a, b, allow_tf32=False)
        else:
            c = tl.dot(a, b)
        return c


# ---------------------------------------------------------------- which tiles a block visits


# --8<-- [start:kernel-tile-range]
@triton.jit
def _key_range(start_m, T, S, IS_CAUSAL: tl.constexpr, WINDOW_LEFT: tl.constexpr,
               WINDOW_RIGHT: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Key tiles ``[lo, hi)`` that rows ``[start_m, start_m + BLOCK_M)`` may see (reference: _key_range)."""
    first = start_m + S - T  # aligned key position of the block's first query
    last = tl.minimum(start_m + BLOCK_M, T) - 1 + S - T  # ... and of its last real query
    lo = start_m * 0  # a tensor zero: loop bounds stay runtime values
    hi = lo + S
    if WINDOW_LEFT >= 0:
        lo = tl.maximum(lo, first - WINDOW_LEFT)
    if WINDOW_RIGHT >= 0:
        hi = tl.minimum(hi, last + WINDOW_RIGHT + 1)
    if IS_CAUSAL:
        hi = tl.minimum(hi, last + 1)
    lo_tile = (lo // BLOCK_N) * BLOCK_N  # tiles start on multiples of BLOCK_N, as in the reference's grid
    hi = tl.where(hi > lo, hi, lo_tile)  # no visible key at all: an empty loop
    return lo_tile, hi


@triton.jit
def _query_range(start_n, T, S, IS_CAUSAL: tl.constexpr, WINDOW_LEFT: tl.constexpr,
                 WINDOW_RIGHT: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Query tiles ``[lo, hi)`` with a row that sees a key of ``[start_n, start_n + BLOCK_N)``.

    Query ``i`` sits at ``i' = i + S - T``. Causal (``j <= i'``) and the right side of the
    window (``j <= i' + right``) bound the rows from below by the block's first key; the left
    side (``j >= i' - left``) bounds them from above by its last key.
    """
    last_n = tl.minimum(start_n + BLOCK_N, S) - 1
    lo = start_n * 0
    hi = lo + T
    if IS_CAUSAL:
        lo = tl.maximum(lo, start_n - (S - T))
    if WINDOW_RIGHT >= 0:
        lo = tl.maximum(lo, start_n - WINDOW_RIGHT - (S - T))
    if WINDOW_LEFT >= 0:
        hi = tl.minimum(hi, last_n + WINDOW_LEFT - (S - T) + 1)
    lo_tile = (lo // BLOCK_M) * BLOCK_M
    hi = tl.where(hi > lo, hi, lo_tile)
    return lo_tile, hi


@triton.jit
def _keep(offs_m, offs_n, T, S, IS_CAUSAL: tl.constexpr, WINDOW_LEFT: tl.constexpr,
          WINDOW_RIGHT: tl.constexpr):
    """``[BLOCK_M, BLOCK_N]`` True where query ``offs_m`` may see key ``offs_n`` (reference: _tile_keep)."""
    pos = offs_m[:, None] + (S - T)  # [BLOCK_M, 1]: aligned bottom-right
    j = offs_n[None, :]  # [1, BLOCK_N]
    keep = (offs_m[:, None] < T) & (j < S)  # rows and keys past the end are padding
    if IS_CAUSAL:
        keep = keep & (j <= pos)
    if WINDOW_LEFT >= 0:
        keep = keep & (j >= pos - WINDOW_LEFT)
    if WINDOW_RIGHT >= 0:
        keep = keep & (j <= pos + WINDOW_RIGHT)
    return keep
# --8<-- [end:kernel-tile-range]


# ---------------------------------------------------------------- forward


@triton.jit
def _flash_fwd_kernel(p_q, p_k, p_v, p_o, p_lse,
                      stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_ks,
                      stride_vb, stride_vh, stride_vs, stride_ob, stride_oh, stride_ot,
                      H, T, S, D, DV, GROUP, qk_scale2,
                      IS_CAUSAL: tl.constexpr, WINDOW_LEFT: tl.constexpr, WINDOW_RIGHT: tl.constexpr,
                      IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                      BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    pid_m = tl.program_id(0)  # one block of BLOCK_M queries ...
    pid_bh = tl.program_id(1)  # ... of one (batch, query head)
    pid_b = (pid_bh // H).to(tl.int64)  # int64: offsets of large tensors overflow int32
    pid_h = (pid_bh % H).to(tl.int64)
    pid_hkv = pid_h // GROUP  # GQA: the key/value head this query head reads, no copy

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_m = offs_m < T
    mask_d = offs_d < D  # the head dim is padded to a power of two: padding reads zeros
    mask_dv = offs_dv < DV

    p_q_head = p_q + pid_b * stride_qb + pid_h * stride_qh
    p_k_head = p_k + pid_b * stride_kb + pid_hkv * stride_kh
    p_v_head = p_v + pid_b * stride_vb + pid_hkv * stride_vh
    b_q = tl.load(p_q_head + offs_m[:, None] * stride_qt + offs_d[None, :],
                  mask=mask_m[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_M, BLOCK_D], stays resident

    # --8<-- [start:kernel-forward-loop]
    b_m = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running max, in log2 units
    b_l = tl.zeros([BLOCK_M], tl.float32)  # running sum of exp2(s - m)
    b_acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)  # running sum of exp2(s - m) * v
    lo, hi = _key_range(pid_m * BLOCK_M, T, S, IS_CAUSAL, WINDOW_LEFT, WINDOW_RIGHT, BLOCK_M, BLOCK_N)
    for start_n in range(lo, hi, BLOCK_N):  # only the tiles the mask does not hide entirely
        offs_kn = start_n + offs_n
        mask_n = offs_kn < S
        b_k = tl.load(p_k_head + offs_kn[:, None] * stride_ks + offs_d[None, :],
                      mask=mask_n[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_N, BLOCK_D]
        b_v = tl.load(p_v_head + offs_kn[:, None] * stride_vs + offs_dv[None, :],
                      mask=mask_n[:, None] & mask_dv[None, :], other=0.0)  # [BLOCK_N, BLOCK_DV]
        b_s = _dot(b_q, tl.trans(b_k), IEEE) * qk_scale2  # [BLOCK_M, BLOCK_N]: scores * log2(e)
        b_s = tl.where(_keep(offs_m, offs_kn, T, S, IS_CAUSAL, WINDOW_LEFT, WINDOW_RIGHT), b_s, float("-inf"))
        # online softmax, the reference's online_softmax_update with exp2 for exp
        b_m_new = tl.maximum(b_m, tl.max(b_s, 1))
        b_m_safe = tl.where(b_m_new == float("-inf"), 0.0, b_m_new)  # a row with no key yet: 0
        b_alpha = tl.exp2(b_m - b_m_safe)  # re-bases the old sums on the new max; 0 while m == -inf
        b_p = tl.exp2(b_s - b_m_safe[:, None])  # every exponent <= 0; masked entries give 0
        b_l = b_alpha * b_l + tl.sum(b_p, 1)
        b_acc = b_acc * b_alpha[:, None] + _dot(b_p.to(b_v.dtype), b_v, IEEE)
        b_m = b_m_new
    seen = b_l != 0  # a sum of exponentials: 0 only for a query that saw no key (NaN stays NaN)
    b_l_safe = tl.where(seen, b_l, 1.0)
    b_o = tl.where(seen[:, None], b_acc / b_l_safe[:, None], 0.0)  # normalise once, at the end
    # m + log2(l) is the log-sum-exp in base 2; ln(2) = 0.693...: log(x) == log2(x) * ln(2)
    b_lse = tl.where(seen, (b_m + tl.log2(b_l_safe)) * 0.6931471805599453, float("-inf"))
    # --8<-- [end:kernel-forward-loop]

    p_o_head = p_o + pid_b * stride_ob + pid_h * stride_oh
    tl.store(p_o_head + offs_m[:, None] * stride_ot + offs_dv[None, :], b_o.to(p_o.dtype.element_ty),
             mask=mask_m[:, None] & mask_dv[None, :])
    tl.store(p_lse + pid_bh.to(tl.int64) * T + offs_m, b_lse, mask=mask_m)  # lse is contiguous [B, H, T]


# ---------------------------------------------------------------- backward


@triton.jit
def _flash_bwd_preprocess_kernel(p_o, p_do, p_delta, stride_ob, stride_oh, stride_ot,
                                 stride_dob, stride_doh, stride_dot, H, T, DV,
                                 BLOCK_M: tl.constexpr, BLOCK_DV: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    pid_b = (pid_bh // H).to(tl.int64)
    pid_h = (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask = (offs_m < T)[:, None] & (offs_dv < DV)[None, :]
    b_o = tl.load(p_o + pid_b * stride_ob + pid_h * stride_oh + offs_m[:, None] * stride_ot + offs_dv[None, :],
                  mask=mask, other=0.0).to(tl.float32)
    b_do = tl.load(p_do + pid_b * stride_dob + pid_h * stride_doh + offs_m[:, None] * stride_dot
                   + offs_dv[None, :], mask=mask, other=0.0).to(tl.float32)
    # D_i = rowsum(dO * O) = sum_j P_ij dP_ij: the softmax backward's per-row constant
    tl.store(p_delta + pid_bh.to(tl.int64) * T + offs_m, tl.sum(b_do * b_o, 1), mask=offs_m < T)


# --8<-- [start:kernel-backward-dkdv]
@triton.jit
def _flash_bwd_dkdv_kernel(p_q, p_k, p_v, p_do, p_lse, p_delta, p_dk, p_dv,
                           stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_ks,
                           stride_vb, stride_vh, stride_vs, stride_dob, stride_doh, stride_dot,
                           stride_dkb, stride_dkh, stride_dks, stride_dvb, stride_dvh, stride_dvs,
                           H, H_KV, T, S, D, DV, GROUP, scale, qk_scale2,
                           IS_CAUSAL: tl.constexpr, WINDOW_LEFT: tl.constexpr, WINDOW_RIGHT: tl.constexpr,
                           IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                           BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    pid_n = tl.program_id(0)  # one block of BLOCK_N keys ...
    pid_bhkv = tl.program_id(1)  # ... of one (batch, key/value head)
    pid_b = (pid_bhkv // H_KV).to(tl.int64)
    pid_hkv = (pid_bhkv % H_KV).to(tl.int64)

    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_n = offs_n < S
    mask_d = offs_d < D
    mask_dv = offs_dv < DV
    b_k = tl.load(p_k + pid_b * stride_kb + pid_hkv * stride_kh + offs_n[:, None] * stride_ks + offs_d[None, :],
                  mask=mask_n[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_N, BLOCK_D], resident
    b_v = tl.load(p_v + pid_b * stride_vb + pid_hkv * stride_vh + offs_n[:, None] * stride_vs + offs_dv[None, :],
                  mask=mask_n[:, None] & mask_dv[None, :], other=0.0)  # [BLOCK_N, BLOCK_DV], resident
    b_dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    b_dv = tl.zeros([BLOCK_N, BLOCK_DV], tl.float32)

    lo, hi = _query_range(pid_n * BLOCK_N, T, S, IS_CAUSAL, WINDOW_LEFT, WINDOW_RIGHT, BLOCK_M, BLOCK_N)
    for g in range(0, GROUP):  # GQA: every query head that reads this key/value head adds in here
        pid_h = pid_hkv * GROUP + g
        p_q_head = p_q + pid_b * stride_qb + pid_h * stride_qh
        p_do_head = p_do + pid_b * stride_dob + pid_h * stride_doh
        row0 = (pid_b * H + pid_h) * T  # lse and delta are contiguous [B, H, T]
        for start_m in range(lo, hi, BLOCK_M):  # the queries stream past the resident keys
            offs_qm = start_m + offs_m
            mask_qm = offs_qm < T
            b_q = tl.load(p_q_head + offs_qm[:, None] * stride_qt + offs_d[None, :],
                          mask=mask_qm[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_M, BLOCK_D]
            b_do = tl.load(p_do_head + offs_qm[:, None] * stride_dot + offs_dv[None, :],
                           mask=mask_qm[:, None] & mask_dv[None, :], other=0.0)  # [BLOCK_M, BLOCK_DV]
            b_lse = tl.load(p_lse + row0 + offs_qm, mask=mask_qm, other=float("inf"))
            # to base 2; a row that saw nothing (-inf) becomes +inf so that exp2(s - lse) = 0
            b_lse2 = tl.where(b_lse == float("-inf"), float("inf"), b_lse * 1.4426950408889634)
            b_delta = tl.load(p_delta + row0 + offs_qm, mask=mask_qm, other=0.0)
            b_s = _dot(b_q, tl.trans(b_k), IEEE) * qk_scale2  # [BLOCK_M, BLOCK_N]: recomputed, never stored
            b_s = tl.where(_keep(offs_qm, offs_n, T, S, IS_CAUSAL, WINDOW_LEFT, WINDOW_RIGHT), b_s, float("-inf"))
            b_p = tl.exp2(b_s - b_lse2[:, None])  # the exact softmax, from the saved lse
            b_dv += _dot(tl.trans(b_p.to(b_do.dtype)), b_do, IEEE)  # dV = P^T dO
            b_dp = _dot(b_do, tl.trans(b_v), IEEE)  # dP = dO V^T
            b_ds = b_p * (b_dp - b_delta[:, None])  # dS = P * (dP - D_i), row by row
            b_dk += _dot(tl.trans(b_ds.to(b_q.dtype)), b_q, IEEE)  # dK = dS^T Q (times scale, below)
    b_dk = b_dk * scale

    tl.store(p_dk + pid_b * stride_dkb + pid_hkv * stride_dkh + offs_n[:, None] * stride_dks + offs_d[None, :],
             b_dk.to(p_dk.dtype.element_ty), mask=mask_n[:, None] & mask_d[None, :])
    tl.store(p_dv + pid_b * stride_dvb + pid_hkv * stride_dvh + offs_n[:, None] * stride_dvs + offs_dv[None, :],
             b_dv.to(p_dv.dtype.element_ty), mask=mask_n[:, None] & mask_dv[None, :])
# --8<-- [end:kernel-backward-dkdv]


# --8<-- [start:kernel-backward-dq]
@triton.jit
def _flash_bwd_dq_kernel(p_q, p_k, p_v, p_do, p_lse, p_delta, p_dq,
                         stride_qb, stride_qh, stride_qt, stride_kb, stride_kh, stride_ks,
                         stride_vb, stride_vh, stride_vs, stride_dob, stride_doh, stride_dot,
                         stride_dqb, stride_dqh, stride_dqt,
                         H, T, S, D, DV, GROUP, scale, qk_scale2,
                         IS_CAUSAL: tl.constexpr, WINDOW_LEFT: tl.constexpr, WINDOW_RIGHT: tl.constexpr,
                         IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                         BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    pid_m = tl.program_id(0)  # one block of BLOCK_M queries of one (batch, query head), like the forward
    pid_bh = tl.program_id(1)
    pid_b = (pid_bh // H).to(tl.int64)
    pid_h = (pid_bh % H).to(tl.int64)
    pid_hkv = pid_h // GROUP

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask_m = offs_m < T
    mask_d = offs_d < D
    mask_dv = offs_dv < DV
    b_q = tl.load(p_q + pid_b * stride_qb + pid_h * stride_qh + offs_m[:, None] * stride_qt + offs_d[None, :],
                  mask=mask_m[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_M, BLOCK_D]
    b_do = tl.load(p_do + pid_b * stride_dob + pid_h * stride_doh + offs_m[:, None] * stride_dot
                   + offs_dv[None, :], mask=mask_m[:, None] & mask_dv[None, :], other=0.0)  # [BLOCK_M, BLOCK_DV]
    b_lse = tl.load(p_lse + pid_bh.to(tl.int64) * T + offs_m, mask=mask_m, other=float("inf"))
    b_lse2 = tl.where(b_lse == float("-inf"), float("inf"), b_lse * 1.4426950408889634)  # log2(e), as above
    b_delta = tl.load(p_delta + pid_bh.to(tl.int64) * T + offs_m, mask=mask_m, other=0.0)
    b_dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)

    p_k_head = p_k + pid_b * stride_kb + pid_hkv * stride_kh
    p_v_head = p_v + pid_b * stride_vb + pid_hkv * stride_vh
    lo, hi = _key_range(pid_m * BLOCK_M, T, S, IS_CAUSAL, WINDOW_LEFT, WINDOW_RIGHT, BLOCK_M, BLOCK_N)
    for start_n in range(lo, hi, BLOCK_N):
        offs_kn = start_n + offs_n
        mask_n = offs_kn < S
        b_k = tl.load(p_k_head + offs_kn[:, None] * stride_ks + offs_d[None, :],
                      mask=mask_n[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_N, BLOCK_D]
        b_v = tl.load(p_v_head + offs_kn[:, None] * stride_vs + offs_dv[None, :],
                      mask=mask_n[:, None] & mask_dv[None, :], other=0.0)  # [BLOCK_N, BLOCK_DV]
        b_s = _dot(b_q, tl.trans(b_k), IEEE) * qk_scale2
        b_s = tl.where(_keep(offs_m, offs_kn, T, S, IS_CAUSAL, WINDOW_LEFT, WINDOW_RIGHT), b_s, float("-inf"))
        b_p = tl.exp2(b_s - b_lse2[:, None])  # [BLOCK_M, BLOCK_N]
        b_dp = _dot(b_do, tl.trans(b_v), IEEE)
        b_ds = b_p * (b_dp - b_delta[:, None])
        b_dq += _dot(b_ds.to(b_k.dtype), b_k, IEEE)  # dQ = dS K (times scale, below)
    b_dq = b_dq * scale

    tl.store(p_dq + pid_b * stride_dqb + pid_h * stride_dqh + offs_m[:, None] * stride_dqt + offs_d[None, :],
             b_dq.to(p_dq.dtype.element_ty), mask=mask_m[:, None] & mask_d[None, :])
# --8<-- [end:kernel-backward-dq]


# ---------------------------------------------------------------- block sizes


@dataclass(frozen=True)
class BlockConfig:
    """Tile sizes and launch settings of one kernel."""

    block_m: int  # queries per tile
    block_n: int  # keys per tile
    num_warps: int = 4
    num_stages: int = 1

    def launch(self) -> dict[str, int]:
        """Keyword arguments for the launch: warps and pipeline stages mean nothing to the interpreter."""
        return {} if interpreting() else {"num_warps": self.num_warps, "num_stages": self.num_stages}


def block_config(stage: str, head_dim: int, dtype: torch.dtype) -> BlockConfig:
    """Tile sizes for ``stage`` (``"forward"`` or ``"backward"``) at a padded head dim.

    The interpreter runs programs one after another, so it gets small 16 x 16 tiles (the
    smallest a GPU's ``tl.dot`` takes, so the same shapes are valid there). On a GPU the
    forward keeps a 128-row query block for head dims up to 64; the backward holds two
    ``[BLOCK_N, D]`` float32 accumulators per program and loads ``q`` and ``dO`` tiles in a
    pipeline, so it uses 64 x 64 (32 x 32 for float32 at ``D = 128``) to stay within an
    H100's registers and 228 KB of shared memory per SM.
    """
    if interpreting():
        return BlockConfig(16, 16)
    wide = head_dim > 64  # the GPU from here on
    fp32 = dtype == torch.float32
    if stage == "forward":
        if fp32:
            return BlockConfig(64, 32 if wide else 64, num_warps=4 if not wide else 8, num_stages=2)
        return BlockConfig(128 if not wide else 64, 64, num_warps=4, num_stages=3 if not wide else 2)
    if fp32 and wide:
        return BlockConfig(32, 32, num_warps=4, num_stages=1)
    return BlockConfig(64, 64, num_warps=4 if not wide else 8, num_stages=2 if not wide else 1)


# ---------------------------------------------------------------- host side


def _check_inputs(q, k, v, causal, window, scale):
    """Validate everything the kernels rely on; return ``(window, scale)`` normalised."""
    _check_qkv(q, k, v)  # tensors, ranks, float dtypes that match, B/H/S/D agreement, H % H_kv
    if q.dtype not in _DTYPES:
        raise TypeError(f"q, k and v must be float16, bfloat16 or float32 for the kernel, got {q.dtype}")
    if q.shape[2] == 0:
        raise ValueError(f"q must hold at least one query position (T >= 1), got shape {tuple(q.shape)}")
    if k.shape[2] == 0:
        raise ValueError(f"k and v must hold at least one key position (S >= 1), got shape {tuple(k.shape)}")
    for name, dim in (("q and k", q.shape[3]), ("v", v.shape[3])):
        if not MIN_HEAD_DIM <= dim <= MAX_HEAD_DIM:
            raise ValueError(f"{name} head dim {dim} is outside the kernel's {MIN_HEAD_DIM}..{MAX_HEAD_DIM}")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    window, scale = _check_window(window), _check_scale(scale, q.shape[3])
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t)
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k and v must be on one device, got {q.device}, {k.device}, {v.device}")
    return window, scale


def _unit_stride(t: torch.Tensor) -> torch.Tensor:
    """The kernels index the last dim with stride 1; any other layout is copied once."""
    return t if t.stride(-1) == 1 else t.contiguous()


def _head_block(dim: int) -> int:
    return max(16, triton.next_power_of_2(dim))  # padded head dim: a power of two, at least tl.dot's 16


# --8<-- [start:kernel-launch]
def _flash_forward(q, k, v, causal, window, scale):
    """Launch the forward: one program per (query block, batch x head); returns ``(out, lse)``."""
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    out = torch.empty(B, H, T, Dv, dtype=q.dtype, device=q.device)
    lse = torch.empty(B, H, T, dtype=torch.float32, device=q.device)  # natural log
    if B * H == 0:
        return out, lse
    cfg = block_config("forward", _head_block(max(D, Dv)), q.dtype)
    grid = (triton.cdiv(T, cfg.block_m), B * H)
    _flash_fwd_kernel[grid](
        q, k, v, out, lse, *q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *out.stride()[:3],
        H, T, S, D, Dv, H // H_kv, scale * LOG2E,  # the scale folded with log2(e): scores come out in base 2
        IS_CAUSAL=causal, WINDOW_LEFT=window[0], WINDOW_RIGHT=window[1], IEEE=q.dtype == torch.float32,
        BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_D=_head_block(D), BLOCK_DV=_head_block(Dv),
        **cfg.launch())
    return out, lse


def _flash_backward(q, k, v, out, lse, dout, causal, window, scale):
    """Launch the backward: ``delta``, then dK/dV per key block, then dQ per query block."""
    B, H, T, D = q.shape
    H_kv, S, Dv = k.shape[1], k.shape[2], v.shape[3]
    dout = _unit_stride(dout)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    if B * H == 0:
        return dq, dk, dv
    cfg = block_config("backward", _head_block(max(D, Dv)), q.dtype)
    consts = dict(IS_CAUSAL=causal, WINDOW_LEFT=window[0], WINDOW_RIGHT=window[1], IEEE=q.dtype == torch.float32,
                  BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_D=_head_block(D), BLOCK_DV=_head_block(Dv),
                  **cfg.launch())
    delta = torch.empty_like(lse)  # [B, H, T] float32
    _flash_bwd_preprocess_kernel[(triton.cdiv(T, cfg.block_m), B * H)](
        out, dout, delta, *out.stride()[:3], *dout.stride()[:3], H, T, Dv,
        BLOCK_M=cfg.block_m, BLOCK_DV=_head_block(Dv))
    _flash_bwd_dkdv_kernel[(triton.cdiv(S, cfg.block_n), B * H_kv)](
        q, k, v, dout, lse, delta, dk, dv, *q.stride()[:3], *k.stride()[:3], *v.stride()[:3],
        *dout.stride()[:3], *dk.stride()[:3], *dv.stride()[:3],
        H, H_kv, T, S, D, Dv, H // H_kv, scale, scale * LOG2E, **consts)
    _flash_bwd_dq_kernel[(triton.cdiv(T, cfg.block_m), B * H)](
        q, k, v, dout, lse, delta, dq, *q.stride()[:3], *k.stride()[:3], *v.stride()[:3],
        *dout.stride()[:3], *dq.stride()[:3],
        H, T, S, D, Dv, H // H_kv, scale, scale * LOG2E, **consts)
    return dq, dk, dv
# --8<-- [end:kernel-launch]


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
                    window: tuple[int, int] | None = None,
                    scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention with the Triton FlashAttention kernels; differentiable in ``q``, ``k``, ``v``.

    Computes what :func:`longctx.flash.flash_attention_ref` computes, with the same masks and
    results, in fused kernels: the forward never writes the ``[T, S]`` score matrix, and the
    backward recomputes each tile of probabilities from ``q``, ``k`` and the saved ``lse``.
    Tiles that the causal mask or the window hide entirely are skipped by the loop bounds.
    Runs on a CUDA GPU, or on CPU tensors through Triton's interpreter (``TRITON_INTERPRET=1``,
    slow: for tests).

    Args:
        q: ``[B, H, T, D]`` queries; float16, bfloat16 or float32; ``16 <= D <= 128``
            (any value in between, e.g. 40 or 80).
        k: ``[B, H_kv, S, D]`` keys, same dtype and device; ``H % H_kv == 0`` (GQA: query head
            ``h`` reads key/value head ``h // (H // H_kv)``, without copying ``k``).
        v: ``[B, H_kv, S, Dv]`` values, same dtype and device; ``16 <= Dv <= 128``.
        causal: keep keys ``j <= i + S - T`` (aligned bottom-right). Default False.
        window: ``(left, right)``: keep keys ``i' - left <= j <= i' + right`` where
            ``i' = i + S - T``; ``-1`` is unbounded on that side. Default None, the same as
            ``(-1, -1)``. Combines with ``causal``. Each distinct window compiles its own
            kernel on a GPU (the sides are compile-time constants).
        scale: multiplies the scores; defaults to ``1 / sqrt(D)``.

    Returns:
        ``(out, lse)``: ``out`` ``[B, H, T, Dv]`` in the input dtype; ``lse`` ``[B, H, T]``
        float32, the natural-log log-sum-exp of each row's scaled, masked scores (not
        differentiable). A query that sees no key gets ``out = 0``, ``lse = -inf`` and zero
        gradients. Gradients come back in the input dtypes; under GQA, ``dk`` and ``dv`` of a
        key/value head sum its query heads' contributions.

    Raises:
        TypeError: a tensor argument is not a tensor, dtypes differ or are not float16,
            bfloat16 or float32; ``causal``, ``window`` or ``scale`` have the wrong type.
        ValueError: wrong ranks, mismatched batch/heads/head dims, ``H % H_kv != 0``, an
            empty sequence, a head dim outside 16..128, a window side below -1, a
            non-finite scale, tensors on different devices, or a device the kernels cannot
            read (a CPU tensor without the interpreter).
    """
    window, scale = _check_inputs(q, k, v, causal, window, scale)
    return _FlashAttention.apply(q, k, v, causal, window, scale)
