"""Decode attention over a paged KV cache in Triton, split along the keys (flash-decoding).

Shape legend:
    q                   [B, H, D]                       one new query token per sequence
    k_cache / v_cache   [num_blocks, block_size, H_kv, D]   the shared pool of :class:`PagedKVCache`
    block_table         [B, max_blocks] int32           token t of sequence b lives in block
                                                        block_table[b, t // block_size], slot t % block_size
    seq_lens            [B] int32                       cached tokens per sequence (0 gives zeros)
    k_scale / v_scale   [num_blocks, block_size, H_kv]  int8 cache, one scale per token and head, or
                        [H_kv, D]                       int8 cache, one scale per channel (whole pool)
    lse (partial)       [B, H, num_splits]              float32, log2 of each split's softmax sum
    o (partial)         [B, H, num_splits, D]           float32, each split's normalised output
    out                 [B, H, D]                       in q's dtype

Decoding reads every cached key and value once for a single query row, so it is bound by memory
traffic, not arithmetic. Two things keep the GPU busy anyway:

* **GQA in one program.** The ``G = H // H_kv`` query heads that share a KV head are processed
  together (a ``[G, D]`` query tile), so each K/V tile is read from memory once, not G times.
* **Splitting the keys (flash-decoding).** With B * H_kv programs only, a long context would run on
  a few SMs. The sequence is cut into ``num_splits`` ranges of whole blocks; a first kernel
  computes each range's softmax-weighted output and its log-sum-exp, a second merges them:
  ``out = sum_s 2^(lse_s - L) o_s`` with ``L = log2 sum_s 2^lse_s``.

int8 caches are dequantized inside the kernel with symmetric absmax scales laid out as the pool
(the same codes and scales :func:`longctx.kv.quant.quantize` gives; :func:`quantize_paged` makes
them). A per-token scale multiplies a column of the score tile (K) or of the probability tile (V);
a per-channel scale multiplies the query (K) or the output (V). Either way the codes enter the
dot product unchanged.
"""

from __future__ import annotations

import inspect
import math

import torch

from longctx._triton import check_device, triton

import triton.language as tl  # noqa: E402  (after longctx._triton chose where kernels run)

from longctx.attention import attention_ref  # noqa: E402
from longctx.kv.quant import QuantizedTensor, dequantize, quantize  # noqa: E402

__all__ = ["MAX_HEAD_DIM", "MIN_HEAD_DIM", "auto_num_splits", "paged_decode", "paged_decode_ref", "quantize_paged"]

#: Head dims the kernel takes (padded up to a power of two inside, with masks).
MIN_HEAD_DIM, MAX_HEAD_DIM = 16, 128
#: Auto split: each split holds at least this many tokens (fewer is all overhead) ...
MIN_SPLIT_TOKENS = 256
#: ... and splits are added until the grid has about this many programs (a few per SM on an H100).
TARGET_PROGRAMS = 512
#: Most splits the auto rule picks (the merge kernel holds all of a head's splits at once).
MAX_AUTO_SPLITS = 64

# Scale layouts, passed to the kernel as a constexpr.
_NO_SCALE, _PER_TOKEN, _PER_CHANNEL = 0, 1, 2

# fp32 operands: ask for exact fp32 products, not TF32. The keyword changed across Triton versions,
# so both forms are written and the one this Triton knows is picked once, here.
@triton.jit
def _dot_f32_ieee(a, b):
    return tl.dot(a, b, input_precision="ieee")


@triton.jit
def _dot_f32_no_tf32(a, b):  # pragma: no cover - Triton before input_precision existed
    return tl.dot(a, b, allow_tf32=False)


_dot_f32 = _dot_f32_ieee if "input_precision" in inspect.signature(tl.dot).parameters else _dot_f32_no_tf32


# --8<-- [start:split-kernel]
@triton.jit
def _paged_decode_split_kernel(
    p_q, p_k, p_v, p_table, p_lens, p_ks, p_vs, p_lse, p_o,
    stride_qb, stride_qh, stride_qd,
    stride_kn, stride_kt, stride_kh, stride_kd,
    stride_vn, stride_vt, stride_vh, stride_vd,
    stride_tb, stride_tm,
    stride_ks0, stride_ks1, stride_ks2,
    stride_vs0, stride_vs1, stride_vs2,
    stride_lb, stride_lh, stride_ls,
    stride_ob, stride_oh, stride_os, stride_od,
    qk_scale, block_size, num_splits,
    GROUP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    K_SCALE: tl.constexpr, V_SCALE: tl.constexpr, DOT_F32: tl.constexpr,
):
    pid_b = tl.program_id(0)  # sequence
    pid_kvh = tl.program_id(1)  # KV head: serves query heads pid_kvh * GROUP .. + GROUP - 1
    pid_split = tl.program_id(2)  # which range of blocks

    # This split's tokens: whole blocks, [start, end), clipped to the sequence.
    seq_len = tl.load(p_lens + pid_b)
    n_blocks = tl.cdiv(seq_len, block_size)
    split_tokens = tl.cdiv(n_blocks, num_splits) * block_size
    start = pid_split * split_tokens
    end = tl.minimum(start + split_tokens, seq_len)

    offs_g = tl.arange(0, BLOCK_G)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    mask_g = offs_g < GROUP  # BLOCK_G >= 16 rows for tl.dot; rows past GROUP are padding
    mask_d = offs_d < HEAD_DIM  # BLOCK_D is a power of two >= HEAD_DIM (40 -> 64)
    heads = pid_kvh * GROUP + offs_g

    p_qt = p_q + pid_b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :] * stride_qd
    b_q = tl.load(p_qt, mask=mask_g[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_G, BLOCK_D]
    if K_SCALE == 2:  # per channel: q . (c * s) == (q * s) . c, so scale q once
        b_ks = tl.load(p_ks + pid_kvh * stride_ks0 + offs_d * stride_ks1, mask=mask_d, other=0.0)
        b_q = b_q.to(tl.float32) * b_ks.to(tl.float32)[None, :]
    if DOT_F32:
        b_q = b_q.to(tl.float32)

    b_m = tl.full([BLOCK_G], -float("inf"), dtype=tl.float32)  # running max (log2 units)
    b_l = tl.zeros([BLOCK_G], dtype=tl.float32)  # running sum of 2^(s - m)
    b_acc = tl.zeros([BLOCK_G, BLOCK_D], dtype=tl.float32)  # running sum of 2^(s - m) v
    # --8<-- [end:split-kernel]

    # --8<-- [start:split-loop]
    for tok in range(start, end, BLOCK_N):
        offs_t = tok + offs_n  # token positions in the sequence
        mask_t = offs_t < end
        # Paging: look up each token's physical block, then its slot inside the block.
        b_blk = tl.load(p_table + pid_b * stride_tb + (offs_t // block_size) * stride_tm,
                        mask=mask_t, other=0).to(tl.int64)  # int64: block * stride can pass 2^31
        offs_slot = offs_t % block_size
        p_kt = (p_k + b_blk[None, :] * stride_kn + offs_slot[None, :] * stride_kt
                + pid_kvh * stride_kh + offs_d[:, None] * stride_kd)
        b_kt = tl.load(p_kt, mask=mask_d[:, None] & mask_t[None, :], other=0.0)  # K^T [BLOCK_D, BLOCK_N]
        p_vt = (p_v + b_blk[:, None] * stride_vn + offs_slot[:, None] * stride_vt
                + pid_kvh * stride_vh + offs_d[None, :] * stride_vd)
        b_v = tl.load(p_vt, mask=mask_t[:, None] & mask_d[None, :], other=0.0)  # V [BLOCK_N, BLOCK_D]

        if DOT_F32:
            b_s = _dot_f32(b_q, b_kt.to(tl.float32))  # [BLOCK_G, BLOCK_N]
        else:
            b_s = tl.dot(b_q, b_kt)  # fp16/bf16 operands, fp32 accumulator
        if K_SCALE == 1:  # per token: column n of the scores times key n's scale
            b_ks = tl.load(p_ks + b_blk * stride_ks0 + offs_slot * stride_ks1 + pid_kvh * stride_ks2,
                           mask=mask_t, other=0.0)
            b_s = b_s * b_ks.to(tl.float32)[None, :]
        b_s = b_s * qk_scale  # qk_scale = scale * log2(e): scores in log2 units, for exp2
        b_s = tl.where(mask_t[None, :], b_s, -float("inf"))

        # Online softmax: re-base what was summed so far on the new running max.
        b_m_new = tl.maximum(b_m, tl.max(b_s, axis=1))  # finite: every tile has a valid token
        b_alpha = tl.exp2(b_m - b_m_new)  # 2^(-inf) = 0 on the first tile
        b_p = tl.exp2(b_s - b_m_new[:, None])  # [BLOCK_G, BLOCK_N], masked columns give 0
        b_l = b_l * b_alpha + tl.sum(b_p, axis=1)
        if V_SCALE == 1:  # per token: sum_n p_n (c_n * s_n) == sum_n (p_n * s_n) c_n
            b_vs = tl.load(p_vs + b_blk * stride_vs0 + offs_slot * stride_vs1 + pid_kvh * stride_vs2,
                           mask=mask_t, other=0.0)
            b_p = b_p * b_vs.to(tl.float32)[None, :]
        if DOT_F32:
            b_pv = _dot_f32(b_p, b_v.to(tl.float32))
        else:
            b_pv = tl.dot(b_p.to(b_v.dtype), b_v)  # p rounded to the cache's dtype, as FlashAttention
        b_acc = b_acc * b_alpha[:, None] + b_pv
        b_m = b_m_new
    # --8<-- [end:split-loop]

    # --8<-- [start:split-store]
    # An empty split (past the end of a short sequence, or a zero-length one) has l = 0:
    # it stores lse = -inf and o = 0, and the merge gives it weight 2^-inf = 0.
    b_has = b_l > 0
    b_o = b_acc / tl.where(b_has, b_l, 1.0)[:, None]
    if V_SCALE == 2:  # per channel: sum_n p_n (c_n * s) == (sum_n p_n c_n) * s
        b_vs = tl.load(p_vs + pid_kvh * stride_vs0 + offs_d * stride_vs1, mask=mask_d, other=0.0)
        b_o = b_o * b_vs.to(tl.float32)[None, :]
    b_lse = tl.where(b_has, b_m + tl.log2(tl.where(b_has, b_l, 1.0)), -float("inf"))

    tl.store(p_lse + pid_b * stride_lb + heads * stride_lh + pid_split * stride_ls, b_lse, mask=mask_g)
    p_ot = p_o + pid_b * stride_ob + heads[:, None] * stride_oh + pid_split * stride_os + offs_d[None, :] * stride_od
    tl.store(p_ot, b_o, mask=mask_g[:, None] & mask_d[None, :])
# --8<-- [end:split-store]


# --8<-- [start:merge-kernel]
@triton.jit
def _paged_decode_merge_kernel(
    p_lse, p_o, p_out, p_lse_out,
    stride_lb, stride_lh, stride_ls,
    stride_ob, stride_oh, stride_os, stride_od,
    stride_outb, stride_outh, stride_outd,
    stride_lob, stride_loh,
    num_splits,
    HEAD_DIM: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_h = tl.program_id(1)  # one program per (sequence, query head)
    offs_s = tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, BLOCK_D)
    mask_s = offs_s < num_splits
    mask_d = offs_d < HEAD_DIM

    b_lse = tl.load(p_lse + pid_b * stride_lb + pid_h * stride_lh + offs_s * stride_ls,
                    mask=mask_s, other=-float("inf"))  # [BLOCK_S], log2 units
    b_max = tl.max(b_lse, axis=0)
    b_max = tl.where(b_max == -float("inf"), 0.0, b_max)  # no key at all: every weight is 0
    # Log-sum-exp rule: split s holds o_s = sum_n 2^(s_n) v_n / 2^(lse_s), so the whole
    # sequence's output is sum_s 2^(lse_s) o_s / sum_s 2^(lse_s). Subtracting the largest
    # lse keeps every power <= 1.
    b_w = tl.exp2(b_lse - b_max)  # [BLOCK_S]
    b_den = tl.sum(b_w, axis=0)
    p_ot = (p_o + pid_b * stride_ob + pid_h * stride_oh + offs_s[:, None] * stride_os
            + offs_d[None, :] * stride_od)
    b_o = tl.load(p_ot, mask=mask_s[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_S, BLOCK_D]
    b_has = b_den > 0
    b_out = tl.sum(b_w[:, None] * b_o, axis=0) / tl.where(b_has, b_den, 1.0)  # [BLOCK_D]
    tl.store(p_out + pid_b * stride_outb + pid_h * stride_outh + offs_d * stride_outd,
             b_out.to(p_out.dtype.element_ty), mask=mask_d)

    # The whole sequence's log-sum-exp, back in natural-log units: ln(x) == log2(x) * ln(2).
    b_lse_all = tl.where(b_has, (b_max + tl.log2(tl.where(b_has, b_den, 1.0))) * 0.6931471805599453,
                         -float("inf"))
    tl.store(p_lse_out + pid_b * stride_lob + pid_h * stride_loh, b_lse_all)
# --8<-- [end:merge-kernel]


_FLOATS = (torch.float16, torch.bfloat16, torch.float32)


def _scale_layout(name: str, t: object, cache_name: str, cache: torch.Tensor) -> int:
    """Which scale layout ``t`` is (none, per token or per channel); raise if it does not fit the cache."""
    if t is None:
        if cache.dtype == torch.int8:
            raise TypeError(f"{cache_name} is int8: pass {name} (its dequantization scales)")
        return _NO_SCALE
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(t).__name__}")
    if cache.dtype != torch.int8:
        raise TypeError(f"{name} is given, so {cache_name} must hold int8 codes, got {cache.dtype}")
    if not t.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    N, bs, H_kv, D = cache.shape
    if t.dim() == 3 and tuple(t.shape) == (N, bs, H_kv):
        return _PER_TOKEN
    if t.dim() == 2 and tuple(t.shape) == (H_kv, D):
        return _PER_CHANNEL
    raise ValueError(f"{name} must be [num_blocks, block_size, H_kv] = {[N, bs, H_kv]} (per token) or "
                     f"[H_kv, D] = {[H_kv, D]} (per channel), got {tuple(t.shape)}")


def auto_num_splits(batch: int, n_kv_heads: int, max_seq_len: int) -> int:
    """Splits per sequence when ``num_splits=None``.

    Enough splits for about ``TARGET_PROGRAMS`` programs in the grid, but no split shorter than
    ``MIN_SPLIT_TOKENS`` tokens and at most ``MAX_AUTO_SPLITS``: a short batch gets 1 split (no
    merge work worth paying for), one long sequence gets many.
    """
    by_length = math.ceil(max(max_seq_len, 1) / MIN_SPLIT_TOKENS)
    by_grid = math.ceil(TARGET_PROGRAMS / max(batch * n_kv_heads, 1))
    return max(1, min(by_length, by_grid, MAX_AUTO_SPLITS))


def _check_inputs(q, k_cache, v_cache, block_table, seq_lens, scale, k_scale, v_scale, num_splits):
    """Validate everything the kernels rely on; return ``(scale, k_mode, v_mode, max_seq_len)``."""
    for name, t in (("q", q), ("k_cache", k_cache), ("v_cache", v_cache),
                    ("block_table", block_table), ("seq_lens", seq_lens)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if q.dtype not in _FLOATS:
        raise TypeError(f"q must be float16, bfloat16 or float32, got {q.dtype}")
    if q.dim() != 3:
        raise ValueError(f"q must be [B, H, D] (one query token per sequence), got shape {tuple(q.shape)}")
    for name, c in (("k_cache", k_cache), ("v_cache", v_cache)):
        if c.dim() != 4:
            raise ValueError(f"{name} must be [num_blocks, block_size, H_kv, D], got shape {tuple(c.shape)}")
        if c.dtype != torch.int8 and c.dtype != q.dtype:
            raise TypeError(f"{name} must have q's dtype {q.dtype} (or be int8 with scales), got {c.dtype}")
    if k_cache.shape != v_cache.shape:
        raise ValueError(f"k_cache and v_cache shapes differ: {tuple(k_cache.shape)} vs {tuple(v_cache.shape)}")
    k_mode = _scale_layout("k_scale", k_scale, "k_cache", k_cache)
    v_mode = _scale_layout("v_scale", v_scale, "v_cache", v_cache)

    B, H, D = q.shape
    N, bs, H_kv, D_kv = k_cache.shape
    if D_kv != D:
        raise ValueError(f"q's head dim {D} differs from the cache's {D_kv}")
    if not MIN_HEAD_DIM <= D <= MAX_HEAD_DIM:
        raise ValueError(f"head dim D={D} is outside what this kernel takes ({MIN_HEAD_DIM}..{MAX_HEAD_DIM})")
    if H_kv == 0 or H % H_kv:
        raise ValueError(f"q's heads H={H} must be a multiple of the cache's KV heads H_kv={H_kv}")
    if N == 0 or bs == 0:
        raise ValueError(f"the cache holds no slots: shape {tuple(k_cache.shape)}")
    if block_table.dtype != torch.int32:
        raise TypeError(f"block_table must be int32, got {block_table.dtype}")
    if block_table.dim() != 2 or block_table.shape[0] != B:
        raise ValueError(f"block_table must be [B={B}, max_blocks], got shape {tuple(block_table.shape)}")
    if seq_lens.dtype != torch.int32:
        raise TypeError(f"seq_lens must be int32, got {seq_lens.dtype}")
    if tuple(seq_lens.shape) != (B,):
        raise ValueError(f"seq_lens must be [B={B}], got shape {tuple(seq_lens.shape)}")

    named = [("q", q), ("k_cache", k_cache), ("v_cache", v_cache), ("block_table", block_table),
             ("seq_lens", seq_lens), ("k_scale", k_scale), ("v_scale", v_scale)]
    for name, t in named:
        if t is not None:
            check_device(name, t)
            if t.device != q.device:
                raise ValueError(f"{name} is on {t.device} but q is on {q.device}")

    if scale is None:
        scale = 1.0 / math.sqrt(D)
    elif isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a number or None, got {type(scale).__name__}")
    scale = float(scale)
    if not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale}")
    if num_splits is not None and (isinstance(num_splits, bool) or not isinstance(num_splits, int)):
        raise TypeError(f"num_splits must be a positive integer or None, got {type(num_splits).__name__}")
    if num_splits is not None and num_splits < 1:
        raise ValueError(f"num_splits must be a positive integer or None, got {num_splits}")

    # Value checks (one small device-to-host copy): lengths fit the table, used block ids fit the pool.
    max_seq_len = 0
    if B > 0:
        lens = seq_lens.to(torch.int64)
        lo, max_seq_len = int(lens.min()), int(lens.max())
        capacity = block_table.shape[1] * bs
        if lo < 0:
            raise ValueError(f"seq_lens must be >= 0, got {lo}")
        if max_seq_len > capacity:
            raise ValueError(f"seq_lens holds {max_seq_len} tokens but block_table's {block_table.shape[1]} "
                             f"blocks of block_size {bs} hold at most {capacity}")
        used = torch.arange(block_table.shape[1], device=lens.device)[None, :] < ((lens + bs - 1) // bs)[:, None]
        ids = block_table[used]  # only the blocks the sequences use: the rest may hold padding
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= N):
            raise ValueError(f"block_table points outside the pool: ids must be in [0, {N}), "
                             f"got {int(ids.min())}..{int(ids.max())}")
    return scale, k_mode, v_mode, max_seq_len


# --8<-- [start:launch]
def _launch(q, k_cache, v_cache, block_table, seq_lens, scale, k_scale, v_scale, k_mode, v_mode, num_splits):
    B, H, D = q.shape
    H_kv = k_cache.shape[2]
    group = H // H_kv
    dev = q.device
    # Partial results of every split, in float32: lse [B, H, S] (log2 units), o [B, H, S, D].
    part_lse = torch.empty(B, H, num_splits, dtype=torch.float32, device=dev)
    part_o = torch.empty(B, H, num_splits, D, dtype=torch.float32, device=dev)
    out = torch.empty(B, H, D, dtype=q.dtype, device=dev)
    lse = torch.empty(B, H, dtype=torch.float32, device=dev)

    BLOCK_D = max(16, triton.next_power_of_2(D))  # 40 -> 64, masked
    BLOCK_G = max(16, triton.next_power_of_2(group))  # tl.dot needs >= 16 rows on a GPU
    BLOCK_N = 64 if BLOCK_D <= 64 else 32  # tokens per tile; smaller for wide heads (registers)
    ks = k_scale if k_scale is not None else q  # a dummy pointer when unused (never read)
    vs = v_scale if v_scale is not None else q
    ks_strides = tuple(ks.stride()) + (0,) * (3 - ks.dim()) if k_scale is not None else (0, 0, 0)
    vs_strides = tuple(vs.stride()) + (0,) * (3 - vs.dim()) if v_scale is not None else (0, 0, 0)
    dot_f32 = q.dtype == torch.float32 or k_cache.dtype == torch.int8 or v_cache.dtype == torch.int8

    grid = (B, H_kv, num_splits)
    _paged_decode_split_kernel[grid](
        q, k_cache, v_cache, block_table, seq_lens, ks, vs, part_lse, part_o,
        *q.stride(), *k_cache.stride(), *v_cache.stride(), *block_table.stride(),
        *ks_strides, *vs_strides, *part_lse.stride(), *part_o.stride(),
        scale * 1.4426950408889634,  # log2(e): exp(x) == exp2(x * log2(e)), folded into the scale
        k_cache.shape[1], num_splits,
        GROUP=group, HEAD_DIM=D, BLOCK_G=BLOCK_G, BLOCK_N=BLOCK_N, BLOCK_D=BLOCK_D,
        K_SCALE=k_mode, V_SCALE=v_mode, DOT_F32=dot_f32,
    )
    _paged_decode_merge_kernel[(B, H)](
        part_lse, part_o, out, lse,
        *part_lse.stride(), *part_o.stride(), *out.stride(), *lse.stride(),
        num_splits,
        HEAD_DIM=D, BLOCK_S=max(2, triton.next_power_of_2(num_splits)), BLOCK_D=BLOCK_D,  # >= 2: no 1-wide tile
    )
    return out, lse
# --8<-- [end:launch]


def paged_decode(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                 seq_lens: torch.Tensor, *, scale: float | None = None, k_scale: torch.Tensor | None = None,
                 v_scale: torch.Tensor | None = None, num_splits: int | None = None,
                 return_lse: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention of one new query token per sequence over its paged K/V cache (Triton).

    Sequence b attends to its first ``seq_lens[b]`` cached tokens, all of them (a decode step:
    the new token's own K/V are expected to be in the cache already). Query head h reads KV head
    ``h // (H // H_kv)``.

    Args:
        q: ``[B, H, D]`` float16, bfloat16 or float32; ``16 <= D <= 128`` (any D, padded inside).
        k_cache: ``[num_blocks, block_size, H_kv, D]``, q's dtype, or int8 codes with ``k_scale``.
            Any ``block_size >= 1`` works (a power of two >= 16 is what a server would use).
        v_cache: like ``k_cache``, with ``v_scale`` when int8.
        block_table: ``[B, max_blocks]`` int32; entry ``[b, i]`` is the pool block holding tokens
            ``i * block_size ..`` of sequence b. Entries past a sequence's last block are ignored
            (they may hold padding such as -1); the used ones must lie in ``[0, num_blocks)``.
        seq_lens: ``[B]`` int32, ``0 <= seq_lens[b] <= max_blocks * block_size``. A zero length
            gives a zero output row (and ``lse = -inf``).
        scale: multiplies the scores; default ``1 / sqrt(D)``.
        k_scale: symmetric int8 scales for ``k_cache`` (key ~ code * scale), float:
            ``[num_blocks, block_size, H_kv]`` one per token and head (``quantize(..., axis="token")``),
            or ``[H_kv, D]`` one per channel for the whole pool (``axis="channel"``).
            :func:`quantize_paged` makes either from a float cache.
        v_scale: the same for ``v_cache``.
        num_splits: ranges of whole blocks each sequence is cut into (flash-decoding); default
            :func:`auto_num_splits`. Results agree for any value up to float32 rounding.
        return_lse: also return the natural-log log-sum-exp of each row's scaled scores.

    Returns:
        ``out [B, H, D]`` in q's dtype; with ``return_lse``, ``(out, lse)`` with ``lse [B, H]`` float32.

    All tensors live on one CUDA device (or the CPU under ``TRITON_INTERPRET=1``). Checking the
    lengths and block ids costs one small copy to the host per call.
    """
    scale, k_mode, v_mode, max_seq_len = _check_inputs(q, k_cache, v_cache, block_table, seq_lens, scale,
                                                       k_scale, v_scale, num_splits)
    B, H, D = q.shape
    if B == 0:
        out = torch.empty(0, H, D, dtype=q.dtype, device=q.device)
        lse = torch.empty(0, H, dtype=torch.float32, device=q.device)
    else:
        if num_splits is None:
            num_splits = auto_num_splits(B, k_cache.shape[2], max_seq_len)
        out, lse = _launch(q, k_cache, v_cache, block_table, seq_lens, scale, k_scale, v_scale,
                           k_mode, v_mode, num_splits)
    return (out, lse) if return_lse else out


# --8<-- [start:quantize-paged]
def quantize_paged(cache: torch.Tensor, axis: str = "token") -> tuple[torch.Tensor, torch.Tensor]:
    """int8 codes and scales for a float pool ``[num_blocks, block_size, H_kv, D]``, in the kernel's layout.

    The pool is viewed as one sequence of ``num_blocks * block_size`` slots per KV head and
    quantized with :func:`longctx.kv.quant.quantize` (symmetric absmax, 8 bits).

    Args:
        cache: float pool.
        axis: ``"token"``: scales ``[num_blocks, block_size, H_kv]``, one per slot and head;
            ``"channel"``: scales ``[H_kv, D]``, one per channel over the whole pool (a static,
            calibrated scale: a server cannot rescale old tokens when new ones arrive).

    Returns:
        ``(codes, scale)``: int8 ``[num_blocks, block_size, H_kv, D]`` and float32 scales
        (float64 for a float64 pool).
    """
    if not isinstance(cache, torch.Tensor) or not cache.dtype.is_floating_point:
        raise TypeError(f"cache must be a floating-point torch.Tensor, got {getattr(cache, 'dtype', type(cache).__name__)}")
    if cache.dim() != 4:
        raise ValueError(f"cache must be [num_blocks, block_size, H_kv, D], got shape {tuple(cache.shape)}")
    N, bs, H_kv, D = cache.shape
    x = cache.reshape(N * bs, H_kv, D).permute(1, 0, 2)[None]  # [1, H_kv, N*bs, D]
    qt = quantize(x, bits=8, axis=axis)
    codes = qt.data[0].permute(1, 0, 2).reshape(N, bs, H_kv, D)  # [N, bs, H_kv, D]
    if axis == "token":
        return codes.contiguous(), qt.scale[0, :, :, 0].T.reshape(N, bs, H_kv).contiguous()  # [H_kv, N*bs] -> [N, bs, H_kv]
    return codes.contiguous(), qt.scale[0, :, 0, :].contiguous()  # [1, H_kv, 1, D] -> [H_kv, D]
# --8<-- [end:quantize-paged]


def _dequantize_pool(codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float64 pool from int8 codes and kernel-layout scales, through :func:`longctx.kv.quant.dequantize`."""
    N, bs, H_kv, D = codes.shape
    data = codes.reshape(N * bs, H_kv, D).permute(1, 0, 2)[None]  # [1, H_kv, N*bs, D]
    if scale.dim() == 3:  # per token: [N, bs, H_kv] -> [1, H_kv, N*bs, 1]
        qt = QuantizedTensor(data, scale.reshape(N * bs, H_kv).T[None, :, :, None].double(), 8, "token", D,
                             tuple(data.shape), torch.float64)
    else:  # per channel: [H_kv, D] -> [1, H_kv, 1, D]
        qt = QuantizedTensor(data, scale[None, :, None, :].double(), 8, "channel", N * bs,
                             tuple(data.shape), torch.float64)
    return dequantize(qt)[0].permute(1, 0, 2).reshape(N, bs, H_kv, D)  # [N, bs, H_kv, D]


# --8<-- [start:paged-decode-ref]
def paged_decode_ref(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                     seq_lens: torch.Tensor, *, scale: float | None = None, k_scale: torch.Tensor | None = None,
                     v_scale: torch.Tensor | None = None) -> torch.Tensor:
    """What :func:`paged_decode` computes, in float64 with :func:`~longctx.attention.attention_ref`.

    Dequantizes int8 pools with :func:`longctx.kv.quant.dequantize`, gathers each sequence's
    tokens through its block table and attends with the query as a single position.
    Same arguments as :func:`paged_decode`; returns ``[B, H, D]`` float64 (zeros for a zero length).
    """
    _check_inputs(q, k_cache, v_cache, block_table, seq_lens, scale, k_scale, v_scale, None)
    k_pool = _dequantize_pool(k_cache, k_scale) if k_scale is not None else k_cache.double()
    v_pool = _dequantize_pool(v_cache, v_scale) if v_scale is not None else v_cache.double()
    B, H, D = q.shape
    bs = k_cache.shape[1]
    out = torch.zeros(B, H, D, dtype=torch.float64, device=q.device)
    for b in range(B):
        S = int(seq_lens[b])
        if S == 0:
            continue
        blocks = block_table[b, : (S + bs - 1) // bs].long()  # [n_blocks]
        k = k_pool[blocks].reshape(-1, *k_pool.shape[2:])[:S]  # [n_blocks, bs, H_kv, D] -> [S, H_kv, D]
        v = v_pool[blocks].reshape(-1, *v_pool.shape[2:])[:S]
        qb = q[b].double()[None, :, None, :]  # [1, H, 1, D]
        out[b] = attention_ref(qb, k.transpose(0, 1)[None], v.transpose(0, 1)[None], scale=scale)[0, :, 0]
    return out
# --8<-- [end:paged-decode-ref]
