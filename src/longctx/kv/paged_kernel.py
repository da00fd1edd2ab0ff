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

import math
from dataclasses import dataclass

import torch

from longctx import checks
from longctx._triton import KernelConfig, check_device, interpreting, tl, triton
from longctx.kv.quant import QuantizedTensor, dequantize, quantize

__all__ = ["CONFIGS", "HEAD_BLOCKS", "MAX_AUTO_SPLITS", "MAX_GROUP", "MAX_HEAD_DIM", "MAX_SPLITS", "MIN_HEAD_DIM",
           "PagedDecodePlan", "auto_num_splits", "paged_configs", "paged_decode", "paged_decode_ref",
           "plan_paged_decode", "quantize_paged"]

#: Head dims the kernel takes (padded inside, with masks: 64, 128 or 256 on a GPU).
MIN_HEAD_DIM, MAX_HEAD_DIM = 16, 256
HEAD_BLOCKS = (64, 128, 256)
#: Most query heads per KV head: the GQA group is one tile of 16 rows (tl.dot's smallest), which
#: covers the models of this course (Llama 3 70B has 8); a larger group would need a second variant.
MAX_GROUP = 16
#: Auto split: each split holds at least this many tokens (fewer is all overhead) ...
MIN_SPLIT_TOKENS = 256
#: ... and splits are added until the grid has about this many programs (a few per SM on an H100).
TARGET_PROGRAMS = 512
#: Most splits the auto rule picks, and most a caller may ask for (the merge holds them in one tile).
MAX_AUTO_SPLITS = MAX_SPLITS = 64

# Scale layouts, passed to the kernel as a constexpr.
_NO_SCALE, _PER_TOKEN, _PER_CHANNEL = 0, 1, 2
_FLOATS = (torch.float16, torch.bfloat16, torch.float32)


# --8<-- [start:split-loop]
import triton
import triton.language as tl


@triton.jit
def _dot(a, b, F32: tl.constexpr):
    """``a @ b`` into float32: IEEE float32 products (F32), or ``a`` rounded to ``b``'s 16-bit dtype."""
    if F32:
        c = tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    else:
        c = tl.dot(a.to(b.dtype), b)
    return c


@triton.jit
def _decode_tile(b_q, b_m, b_l, b_acc, p_k, p_v, p_ks, p_vs, p_blocks, offs_t, end, offs_d, D, H_KV,
                 block_size, stride_kn, stride_kt, stride_vn, stride_vt, qk_scale,
                 K_SCALE: tl.constexpr, V_SCALE: tl.constexpr, F32: tl.constexpr):
    """One tile of tokens: find each in its page, then the online-softmax update (Lesson 2)."""
    mask_t = offs_t < end
    b_blk = tl.load(p_blocks + offs_t // block_size, mask=mask_t, other=0).to(tl.int64)  # physical block
    slot = offs_t % block_size  # ... and the slot inside it
    mask = mask_t[:, None] & (offs_d < D)[None, :]
    # int8 codes enter the products exactly as fp16/bf16 (|c| <= 127); a float cache is unchanged
    b_k = tl.load(p_k + b_blk[:, None] * stride_kn + slot[:, None] * stride_kt + offs_d[None, :], mask=mask, other=0)
    b_v = tl.load(p_v + b_blk[:, None] * stride_vn + slot[:, None] * stride_vt + offs_d[None, :], mask=mask, other=0)
    b_s = _dot(b_q, tl.trans(b_k.to(b_q.dtype)), F32)  # [BLOCK_G, BLOCK_N]
    if K_SCALE == 1:  # per token: column n of the scores times key n's scale
        b_s = b_s * tl.load(p_ks + (b_blk * block_size + slot) * H_KV, mask=mask_t, other=0.0)[None, :]
    b_s = tl.where(mask_t[None, :], b_s * qk_scale, float("-inf"))  # qk_scale holds log2(e): exp2 below
    b_m_new = tl.maximum(b_m, tl.max(b_s, axis=1))  # finite: every tile has a valid token
    b_alpha = tl.exp2(b_m - b_m_new)  # 2^(-inf) = 0 on the first tile
    b_p = tl.exp2(b_s - b_m_new[:, None])  # masked columns give 0
    b_l = b_l * b_alpha + tl.sum(b_p, axis=1)
    if V_SCALE == 1:  # per token: sum_n p_n (c_n * s_n) == sum_n (p_n * s_n) c_n
        b_p = b_p * tl.load(p_vs + (b_blk * block_size + slot) * H_KV, mask=mask_t, other=0.0)[None, :]
    b_acc = b_acc * b_alpha[:, None] + _dot(b_p, b_v.to(b_q.dtype), F32)
    return b_m_new, b_l, b_acc
# --8<-- [end:split-loop]


# --8<-- [start:split-kernel]
import triton
import triton.language as tl


@triton.jit
def _paged_decode_split_kernel(
    p_q, p_k, p_v, p_table, p_lens, p_ks, p_vs, p_lse, p_o,
    stride_kn, stride_kt, stride_kh, stride_vn, stride_vt, stride_vh,
    H, H_KV, D, GROUP, max_blocks, qk_scale, block_size, num_splits,
    K_SCALE: tl.constexpr, V_SCALE: tl.constexpr, F32: tl.constexpr,
    BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_b, pid_kvh, pid_split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    seq_len = tl.load(p_lens + pid_b)  # this split's tokens: whole blocks [start, end)
    split_tokens = tl.cdiv(tl.cdiv(seq_len, block_size), num_splits) * block_size
    start = pid_split * split_tokens
    end = tl.minimum(start + split_tokens, seq_len)
    offs_g, offs_n, offs_d = tl.arange(0, BLOCK_G), tl.arange(0, BLOCK_N), tl.arange(0, BLOCK_D)
    heads = pid_kvh * GROUP + offs_g  # the GROUP query heads of this KV head, one tile: K/V read once
    mask = (offs_g < GROUP)[:, None] & (offs_d < D)[None, :]
    b_q = tl.load(p_q + (pid_b * H + heads[:, None]) * D + offs_d[None, :], mask=mask, other=0.0)
    if K_SCALE == 2:  # per channel: q . (c * s) == (q * s) . c, so scale q once
        b_q = b_q.to(tl.float32) * tl.load(p_ks + pid_kvh * D + offs_d, mask=offs_d < D, other=0.0)[None, :]
    b_q = b_q.to(tl.float32) if F32 else b_q.to(p_q.dtype.element_ty)

    b_m = tl.full([BLOCK_G], float("-inf"), dtype=tl.float32)  # running max (log2 units)
    b_l = tl.zeros([BLOCK_G], dtype=tl.float32)  # running sum of 2^(s - m)
    b_acc = tl.zeros([BLOCK_G, BLOCK_D], dtype=tl.float32)  # running sum of 2^(s - m) v
    for tok in range(start, end, BLOCK_N):
        b_m, b_l, b_acc = _decode_tile(
            b_q, b_m, b_l, b_acc, p_k + pid_kvh * stride_kh, p_v + pid_kvh * stride_vh, p_ks + pid_kvh,
            p_vs + pid_kvh, p_table + pid_b * max_blocks, tok + offs_n, end, offs_d, D, H_KV, block_size,
            stride_kn, stride_kt, stride_vn, stride_vt, qk_scale, K_SCALE, V_SCALE, F32)

    # An empty split (past the end of a short sequence) has l = 0: lse = -inf and o = 0, weight 0.
    b_has = b_l > 0
    b_o = b_acc / tl.where(b_has, b_l, 1.0)[:, None]
    if V_SCALE == 2:  # per channel: sum_n p_n (c_n * s) == (sum_n p_n c_n) * s
        b_o = b_o * tl.load(p_vs + pid_kvh * D + offs_d, mask=offs_d < D, other=0.0)[None, :]
    row = (pid_b * H + heads) * num_splits + pid_split  # partials are contiguous [B, H, splits(, D)]
    tl.store(p_lse + row, tl.where(b_has, b_m + tl.log2(tl.where(b_has, b_l, 1.0)), float("-inf")),
             mask=offs_g < GROUP)
    tl.store(p_o + row[:, None] * D + offs_d[None, :], b_o, mask=mask)
# --8<-- [end:split-kernel]


# --8<-- [start:merge-kernel]
import triton
import triton.language as tl


@triton.jit
def _paged_decode_merge_kernel(p_lse, p_o, p_out, p_lse_out, num_splits, D,
                               BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr):
    row = tl.program_id(0)  # one program per (sequence, query head): b * H + h
    offs_s, offs_d = tl.arange(0, BLOCK_S), tl.arange(0, BLOCK_D)
    mask_s, mask_d = offs_s < num_splits, offs_d < D
    b_lse = tl.load(p_lse + row * num_splits + offs_s, mask=mask_s, other=float("-inf"))  # log2 units
    b_max = tl.max(b_lse, axis=0)
    b_max = tl.where(b_max == float("-inf"), 0.0, b_max)  # no key at all: every weight is 0
    # Log-sum-exp rule: split s holds o_s = sum_n 2^(s_n) v_n / 2^(lse_s), so the whole sequence's
    # output is sum_s 2^(lse_s) o_s / sum_s 2^(lse_s). Subtracting the largest lse keeps every power <= 1.
    b_w = tl.exp2(b_lse - b_max)  # [BLOCK_S]
    b_den = tl.sum(b_w, axis=0)
    b_o = tl.load(p_o + (row * num_splits + offs_s[:, None]) * D + offs_d[None, :],
                  mask=mask_s[:, None] & mask_d[None, :], other=0.0)  # [BLOCK_S, BLOCK_D]
    b_has = b_den > 0
    b_out = tl.sum(b_w[:, None] * b_o, axis=0) / tl.where(b_has, b_den, 1.0)  # [BLOCK_D]
    tl.store(p_out + row * D + offs_d, b_out.to(p_out.dtype.element_ty), mask=mask_d)
    # The whole sequence's log-sum-exp, back in natural-log units: ln(x) == log2(x) * ln(2).
    b_lse_all = (b_max + tl.log2(tl.where(b_has, b_den, 1.0))) * 0.6931471805599453
    tl.store(p_lse_out + row, tl.where(b_has, b_lse_all, float("-inf")))
# --8<-- [end:merge-kernel]


# ---------------------------------------------------------------- configurations


KERNELS = {"_paged_decode_split_kernel": _paged_decode_split_kernel,
           "_paged_decode_merge_kernel": _paged_decode_merge_kernel}
#: Scale layouts (k, v) the kernels take: none (float caches) or int8 codes with scales for both.
#: Keys per channel with values per token is KIVI's choice; values per channel with keys per token is not offered.
SCALE_MODES = ((_NO_SCALE, _NO_SCALE), (_PER_TOKEN, _PER_TOKEN), (_PER_CHANNEL, _PER_TOKEN),
               (_PER_CHANNEL, _PER_CHANNEL))


def paged_configs(kernel: str, *, head_dim: int, dtype: torch.dtype, group: int = 1, k_mode: int = 0,
                  v_mode: int = 0, num_splits: int = 1, gpu: bool | None = None) -> KernelConfig:
    """The configuration of ``kernel`` for a call: one per shape class, no tuning (decode is bound
    by memory traffic). ``gpu`` picks the GPU's (default: where kernels run now); under the
    interpreter the head dim pads only to a power of two and every product runs in float32."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    gpu = not interpreting() if gpu is None else gpu
    block_d = max(64, triton.next_power_of_2(head_dim)) if gpu else max(16, triton.next_power_of_2(head_dim))
    if kernel == "_paged_decode_merge_kernel":
        block_s = MAX_SPLITS if gpu else max(2, triton.next_power_of_2(num_splits))  # >= 2: no 1-wide tile
        return KernelConfig.make(kernel, dtype, 4, 1, BLOCK_S=block_s, BLOCK_D=block_d)
    block_g = MAX_GROUP  # the group's rows, padded to one 16-row tile
    block_n = {16: 64, 32: 64, 64: 64, 128: 32, 256: 16}[block_d]  # tokens per tile: fewer for wide heads
    # 8 warps past 16 x 128, and for both scales per channel at d = 64 (4 warps spilled there on sm_80)
    warps = 4 if block_g * block_d <= 16 * 128 and not (k_mode == v_mode == _PER_CHANNEL and block_d == 64) else 8
    return KernelConfig.make(kernel, dtype, warps, 2, K_SCALE=k_mode, V_SCALE=v_mode,
                             F32=dtype == torch.float32 or not gpu, BLOCK_G=block_g, BLOCK_N=block_n,
                             BLOCK_D=block_d)


def _gpu_configs() -> tuple[KernelConfig, ...]:
    configs = []
    for dtype in _FLOATS:
        for hb in HEAD_BLOCKS:
            configs.append(paged_configs("_paged_decode_merge_kernel", head_dim=hb, dtype=dtype, gpu=True))
            for k_mode, v_mode in SCALE_MODES:
                configs.append(paged_configs("_paged_decode_split_kernel", head_dim=hb, dtype=dtype,
                                             k_mode=k_mode, v_mode=v_mode, gpu=True))
    return tuple(dict.fromkeys(configs))


#: Every configuration the launcher can choose on a GPU: the compile gate's list.
CONFIGS = _gpu_configs()


# ---------------------------------------------------------------- host side


def _scale_layout(name: str, t: object, cache_name: str, cache: torch.Tensor) -> int:
    """Which scale layout ``t`` is (none, per token or per channel); raise if it does not fit the cache."""
    if t is None:
        if cache.dtype == torch.int8:
            raise TypeError(f"{cache_name} is int8: pass {name} (its dequantization scales)")
        return _NO_SCALE
    checks.tensor(name, t)
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
        checks.tensor(name, t)
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
    if (k_mode == _NO_SCALE) != (v_mode == _NO_SCALE):
        raise TypeError(f"k_cache and v_cache must both be int8 (with scales) or both float, got "
                        f"{k_cache.dtype} and {v_cache.dtype}")
    if (k_mode, v_mode) not in SCALE_MODES:
        raise ValueError("k_scale must be per channel ([H_kv, D]) when v_scale is: the layouts taken are "
                         "per token for both, per channel for both, or keys per channel with values per token")

    B, H, D = q.shape
    N, bs, H_kv, D_kv = k_cache.shape
    if D_kv != D:
        raise ValueError(f"k_cache's head dim must be q's {D}, got {D_kv}")
    if not MIN_HEAD_DIM <= D <= MAX_HEAD_DIM:
        raise ValueError(f"q's head dim D must be in {MIN_HEAD_DIM}..{MAX_HEAD_DIM} for the kernel, got D={D}")
    if H_kv == 0 or H % H_kv:
        raise ValueError(f"q's heads H={H} must be a multiple of the cache's KV heads H_kv={H_kv}")
    if H // H_kv > MAX_GROUP:
        raise ValueError(f"q's heads per KV head H // H_kv must be at most {MAX_GROUP}, got {H // H_kv}")
    if N == 0 or bs == 0:
        raise ValueError(f"k_cache must hold at least one slot, got shape {tuple(k_cache.shape)}: the cache holds no slots")
    if block_table.dtype != torch.int32:
        raise TypeError(f"block_table must be int32, got {block_table.dtype}")
    if block_table.dim() != 2 or block_table.shape[0] != B:
        raise ValueError(f"block_table must be [B={B}, max_blocks], got shape {tuple(block_table.shape)}")
    if seq_lens.dtype != torch.int32:
        raise TypeError(f"seq_lens must be int32, got {seq_lens.dtype}")
    if tuple(seq_lens.shape) != (B,):
        raise ValueError(f"seq_lens must be [B={B}], got shape {tuple(seq_lens.shape)}")
    named = dict(q=q, k_cache=k_cache, v_cache=v_cache, block_table=block_table, seq_lens=seq_lens)
    named.update({n: t for n, t in (("k_scale", k_scale), ("v_scale", v_scale)) if t is not None})
    for name, t in named.items():
        check_device(name, t)
    checks.same_device(**named)
    scale = checks.attention_scale(scale, D)
    if num_splits is not None and not 1 <= checks.positive_int("num_splits", num_splits) <= MAX_SPLITS:
        raise ValueError(f"num_splits must be an int in 1..{MAX_SPLITS} or None, got {num_splits}")
    return scale, k_mode, v_mode, _max_seq_len(block_table, seq_lens, N, bs)


def _max_seq_len(block_table, seq_lens, N, bs) -> int:
    """Value checks (one small device-to-host copy): lengths fit the table, used block ids fit the pool."""
    if seq_lens.numel() == 0:
        return 0
    lens = seq_lens.to(torch.int64)
    lo, hi = int(lens.min()), int(lens.max())
    capacity = block_table.shape[1] * bs
    if lo < 0:
        raise ValueError(f"seq_lens must be >= 0, got {lo}")
    if hi > capacity:
        raise ValueError(f"seq_lens holds {hi} tokens but block_table's {block_table.shape[1]} "
                         f"blocks of block_size {bs} hold at most {capacity}")
    used = torch.arange(block_table.shape[1], device=lens.device)[None, :] < ((lens + bs - 1) // bs)[:, None]
    ids = block_table[used]  # only the blocks the sequences use: the rest may hold padding
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= N):
        raise ValueError(f"block_table points outside the pool: ids must be in [0, {N}), "
                         f"got {int(ids.min())}..{int(ids.max())}")
    return hi


def _unit_stride(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


@dataclass(frozen=True)
class PagedDecodePlan:
    """A decode call with its inputs checked and its buffers and configurations chosen.

    ``run()`` launches the two kernels and nothing else, so a benchmark can time the kernels
    alone; :func:`paged_decode` is ``plan_paged_decode(...).run()``. Made by :func:`plan_paged_decode`.
    """

    tensors: tuple  # q, k_cache, v_cache, block_table, seq_lens, k_scale, v_scale (ready for the kernel)
    scale: float
    num_splits: int
    split: KernelConfig
    merge: KernelConfig

    def run(self, return_lse: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Launch the split and merge kernels; ``out [B, H, D]``, and ``lse [B, H]`` with ``return_lse``."""
        q, k_cache, v_cache, table, lens, ks, vs = self.tensors
        B, H, D = q.shape
        N, bs, H_kv, _ = k_cache.shape
        out_dtype = torch.float32 if q.dtype == torch.bfloat16 and interpreting() else q.dtype  # see below
        out = torch.empty(B, H, D, dtype=out_dtype, device=q.device)
        lse = torch.empty(B, H, dtype=torch.float32, device=q.device)
        if B > 0:
            part_lse = torch.empty(B, H, self.num_splits, dtype=torch.float32, device=q.device)  # log2 units
            part_o = torch.empty(B, H, self.num_splits, D, dtype=torch.float32, device=q.device)
            _paged_decode_split_kernel[(B, H_kv, self.num_splits)](
                q, k_cache, v_cache, table, lens, ks, vs, part_lse, part_o,
                *k_cache.stride()[:3], *v_cache.stride()[:3], H, H_kv, D, H // H_kv, table.shape[1],
                self.scale * 1.4426950408889634,  # log2(e): exp(x) == exp2(x * log2(e)), folded into the scale
                bs, self.num_splits, **self.split.launch())
            _paged_decode_merge_kernel[(B * H,)](part_lse, part_o, out, lse, self.num_splits, D, **self.merge.launch())
        # Triton's interpreter casts float32 to bfloat16 by truncation where a GPU rounds to nearest:
        # under the interpreter a bf16 result is written in float32 and PyTorch rounds it.
        out = out.to(q.dtype)
        return (out, lse) if return_lse else out


def plan_paged_decode(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                      seq_lens: torch.Tensor, *, scale: float | None = None, k_scale: torch.Tensor | None = None,
                      v_scale: torch.Tensor | None = None, num_splits: int | None = None) -> PagedDecodePlan:
    """Check the arguments of :func:`paged_decode` once and return the launch, ready to ``run()``.

    Same arguments as :func:`paged_decode` (without ``return_lse``, which ``run`` takes). The
    checks cost one small copy to the host (the lengths and used block ids); ``run`` has none,
    so timing ``plan.run`` measures the kernels alone.
    """
    scale, k_mode, v_mode, max_len = _check_inputs(q, k_cache, v_cache, block_table, seq_lens, scale,
                                                   k_scale, v_scale, num_splits)
    B, H, D = q.shape
    H_kv = k_cache.shape[2]
    splits = num_splits if num_splits is not None else auto_num_splits(B, H_kv, max_len)
    ks = k_scale.contiguous() if k_scale is not None else q  # a dummy pointer when unused (never read)
    vs = v_scale.contiguous() if v_scale is not None else q
    tensors = (q.contiguous(), _unit_stride(k_cache), _unit_stride(v_cache), block_table.contiguous(),
               seq_lens.contiguous(), ks, vs)
    split = paged_configs("_paged_decode_split_kernel", head_dim=D, dtype=q.dtype, group=H // H_kv,
                          k_mode=k_mode, v_mode=v_mode)
    merge = paged_configs("_paged_decode_merge_kernel", head_dim=D, dtype=q.dtype, num_splits=splits)
    return PagedDecodePlan(tensors, scale, splits, split, merge)


def paged_decode(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                 seq_lens: torch.Tensor, *, scale: float | None = None, k_scale: torch.Tensor | None = None,
                 v_scale: torch.Tensor | None = None, num_splits: int | None = None,
                 return_lse: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention of one new query token per sequence over its paged K/V cache (Triton).

    Sequence b attends to its first ``seq_lens[b]`` cached tokens, all of them (a decode step:
    the new token's own K/V are expected to be in the cache already). Query head h reads KV head
    ``h // (H // H_kv)``.

    Args:
        q: ``[B, H, D]`` float16, bfloat16 or float32; ``16 <= D <= 256`` (any D, padded inside);
            at most 16 query heads per KV head.
        k_cache: ``[num_blocks, block_size, H_kv, D]``, q's dtype, or int8 codes with ``k_scale``.
            Any ``block_size >= 1`` works (a power of two >= 16 is what a server would use).
        v_cache: like ``k_cache``, with ``v_scale`` when int8 (both caches int8, or neither).
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
        num_splits: ranges of whole blocks each sequence is cut into (flash-decoding), 1 to 64;
            default :func:`auto_num_splits`. Results agree for any value up to float32 rounding.
        return_lse: also return the natural-log log-sum-exp of each row's scaled scores.

    Returns:
        ``out [B, H, D]`` in q's dtype; with ``return_lse=True``, ``(out, lse)`` with ``lse [B, H]``
        float32.

    All tensors live on one CUDA device (or the CPU under ``TRITON_INTERPRET=1``, where every
    product runs in float32, so bf16 is float64-close). Checking the lengths and block ids costs
    one small copy to the host per call: :func:`plan_paged_decode` does it once for many runs.
    """
    checks.flag("return_lse", return_lse)
    plan = plan_paged_decode(q, k_cache, v_cache, block_table, seq_lens, scale=scale, k_scale=k_scale,
                             v_scale=v_scale, num_splits=num_splits)
    return plan.run(return_lse)


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
import torch


def paged_attention_f64(q: torch.Tensor, k_pool: torch.Tensor, v_pool: torch.Tensor, block_table: torch.Tensor,
                        seq_lens: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode attention in float64 by gathering each sequence's pages: what the kernel computes.

    ``q [B, H, D]``; float pools ``[num_blocks, block_size, H_kv, D]``; returns ``out [B, H, D]``
    and ``lse [B, H]``, float64 (zeros and -inf for a zero length).
    """
    B, H, D = q.shape
    bs, H_kv = k_pool.shape[1], k_pool.shape[2]
    out = torch.zeros(B, H, D, dtype=torch.float64, device=q.device)
    lse = torch.full((B, H), float("-inf"), dtype=torch.float64, device=q.device)
    for b in range(B):
        S = int(seq_lens[b])
        if S == 0:
            continue
        blocks = block_table[b, : (S + bs - 1) // bs].long()  # [n_blocks]: this sequence's pages
        k = k_pool[blocks].reshape(-1, H_kv, D)[:S].double()  # [n_blocks, bs, H_kv, D] -> [S, H_kv, D]
        v = v_pool[blocks].reshape(-1, H_kv, D)[:S].double()
        k = k.repeat_interleave(H // H_kv, dim=1)  # [S, H, D]: query head h reads KV head h // (H // H_kv)
        v = v.repeat_interleave(H // H_kv, dim=1)
        s = torch.einsum("hd,shd->hs", q[b].double(), k) * scale  # [H, S]
        out[b] = torch.einsum("hs,shd->hd", torch.softmax(s, dim=-1), v)
        lse[b] = torch.logsumexp(s, dim=-1)
    return out, lse
# --8<-- [end:paged-decode-ref]


def paged_decode_ref(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor,
                     seq_lens: torch.Tensor, *, scale: float | None = None, k_scale: torch.Tensor | None = None,
                     v_scale: torch.Tensor | None = None,
                     return_lse: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """What :func:`paged_decode` computes, in float64 (:func:`paged_attention_f64`).

    Dequantizes int8 pools with :func:`longctx.kv.quant.dequantize`, then gathers each sequence's
    tokens through its block table and attends with the query as a single position.
    Same arguments as :func:`paged_decode`; returns ``out [B, H, D]`` float64 (zeros for a zero
    length), and ``(out, lse [B, H])`` with ``return_lse=True`` (natural log, -inf for a zero length).
    """
    return_lse = checks.flag("return_lse", return_lse)
    scale = _check_inputs(q, k_cache, v_cache, block_table, seq_lens, scale, k_scale, v_scale, None)[0]
    k_pool = _dequantize_pool(k_cache, k_scale) if k_scale is not None else k_cache.double()
    v_pool = _dequantize_pool(v_cache, v_scale) if v_scale is not None else v_cache.double()
    out, lse = paged_attention_f64(q, k_pool, v_pool, block_table, seq_lens, scale)
    return (out, lse) if return_lse else out
