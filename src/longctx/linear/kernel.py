"""Chunked linear attention in Triton: quadratic inside a chunk, a state carried across chunks.

Shape legend (as in ``longctx.linear.reference``):
    q      [B, H, T, D]             B batch, H query heads, T query positions, D head dim
    k      [B, H_kv, S, D]          H_kv key/value heads (H % H_kv == 0), S key positions
    v      [B, H_kv, S, Dv]
    phi(q) [B, H, T, F]             features; F == D for "elu" and "relu"
    states [B * H_kv, slots, F, Dv] float32, in memory: sum of phi(k_j) v_j^T before each chunk, then all
    zs     [B * H_kv, slots, F]     float32, in memory: sum of phi(k_j), the same slots
    out    [B, H, T, Dv]

Two kernels split the work, as flash-linear-attention's chunk kernels do: one writes the states,
the other reads them.

``_linear_state_kernel``: one program per ``[BLOCK_K, BLOCK_V]`` tile of one key/value head's
state (the tiles of ``S = sum_j phi(k_j) v_j^T`` do not depend on each other) walks the keys
``BLOCK_S`` at a time and, causal, writes the state at the start of every chunk of C keys:

    S_0 = 0,   S_{c+1} = S_c + phi(K_c)^T V_c,   z_{c+1} = z_c + phi(K_c)^T 1

and last, in every case, the state over all keys (``return_final_state``). GQA query heads
share their key head's states: they are built once per key/value head.

``_linear_chunk_kernel``: one program per (chunk ``c``, block of ``BLOCK_V`` value dims, query
head) reads the state its chunk starts with and its own keys; the chunks run in parallel:

    A_c   = tril(phi(Q_c) phi(K_c)^T)                 [C, C], j <= i inside the chunk
    num_c = phi(Q_c) S_c + A_c V_c                    [C, Dv], all earlier chunks + this one
    den_c = phi(Q_c) z_c + A_c 1                      [C]
    out_c = num_c / den_c                             (zeros where |den_c| <= eps)

which is ``linear_attention_chunked_ref`` of the reference. Non-causal there is one slot, the
state over all S keys, and no ``A`` term: ``out = phi(Q) (phi(K)^T V) / phi(Q) (phi(K)^T 1)``.

Why two kernels and small tiles. float32 IEEE products run on CUDA cores (FMA), and for those
Triton gives each thread, in registers, its rows of one operand and its columns of the other along
the whole reduction dim. The first form of this kernel, one program per head holding the state
``[F, Dv]`` and the ``[C, C]`` tile in registers, spilled in every configuration (11 KB at
F = Dv = 64, C = 16) and took minutes to compile. Here every product reduces over 16: ``BLOCK_K``
features, ``BLOCK_S`` keys, or one 16-key block of the chunk, so no configuration spills
(``scripts/compile_gate.py`` checks it for sm_80 and sm_90a). The costs: the states go through
memory, ``F Dv`` floats per key/value head and chunk (causal, at F = Dv = 128 and C = 64: 1 KiB
per position, twice what fp16 keys and values take), and each value block computes the chunk's
scores ``A_c`` again. The work is ``O(T C D ceil(Dv / BLOCK_V) + T C Dv + T D Dv)`` per head:
linear in T for a fixed C.

Precision: every tile is converted to float32 as it is loaded and every product runs in float32
with IEEE rounding (no TF32), for fp16 and bf16 inputs too; only the output is rounded to the
input dtype. That is the reference's own convention ("half-precision inputs are computed in
float32"), and it is needed here: ``z`` and the state are sums over all earlier keys, so they grow
with T and would overflow fp16's 65504 on long sequences. Running only the chunk-local products
on tensor cores (bf16 operands, float32 accumulation) was measured and breaks the 2x rule (about
4x the error of the reference in bf16 at T = 256, D = 64; ``scripts/compile_gate.py`` measures it
again and prints it beside the exception in its table), so the kernels keep float32 products.

Options that only pick a branch (the feature map, ``normalize``, ``causal``) and the sizes are
runtime arguments: the compiled variants differ only in the chunk ``BLOCK_C`` (``CONFIGS`` lists
them for the compile gate).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from longctx import checks
from longctx._triton import KernelConfig, check_device, interpreting, tl, triton
from longctx.linear.feature_maps import resolve_feature_map
from longctx.linear.reference import _check_options

__all__ = ["CONFIGS", "MAX_CHUNK", "MAX_HEAD_DIM", "MIN_BLOCK", "linear_attention", "linear_configs"]

#: Smallest head dim and chunk size the kernels take (smaller ones are refused): ``tl.dot`` on a
#: GPU needs every block dim >= 16, and the tiles that reduce over features and keys are this wide.
MIN_BLOCK = 16
#: Largest head dim (D, Dv, or F for a callable feature map). The kernels tile any size, but each
#: chunk's state ``[F, Dv]`` is written to memory in float32: 64 KiB per chunk and key head at 128.
MAX_HEAD_DIM = 128
#: Largest chunk, and the chunks compiled for a GPU. The chunk kernel holds ``[C, BLOCK_V]`` sums
#: and ``[C, 16]`` scores in registers, so the chunk sets its register use: 64 is the largest
#: size compiled and gated.
MAX_CHUNK = 64
CHUNKS = (16, 32, 64)
#: Tiles: the state kernel's ``BLOCK_K x BLOCK_V`` (a 64 x 32 tile spilled at 4 warps), and the
#: chunk kernel's ``BLOCK_V``. Larger head dims run as more programs, a ragged last block masked.
STATE_BLOCK = 32
VALUE_BLOCK = 32

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
    """Load a ``[rows, cols]`` tile as float32 and map it through phi.

    ``feature``: 0 identity (values and states are loaded so too), 1 ELU (``elu(x) + 1``), 2 ReLU.
    Padding (rows past the sequence, columns past the head dim) must read as feature 0, not
    phi(0): elu(0) + 1 == 1 would add a phantom key, or a phantom feature, to every sum.
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
def _chunk_scores(p_q, p_k, offs_t, mask_t, offs_j, mask_j, stride_qt, stride_qd, stride_kt, stride_kd,
                  D, feature, BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr):
    """``phi(q_i) . phi(k_j)`` of the queries ``offs_t`` and the keys ``offs_j``, ``[BLOCK_C, BLOCK_K]``
    in float32, summed over the head dim ``BLOCK_K`` features at a time."""
    b_a = tl.zeros([BLOCK_C, BLOCK_K], dtype=tl.float32)
    for d0 in range(0, D, BLOCK_K):
        offs_d = d0 + tl.arange(0, BLOCK_K)
        b_q = _load_features(p_q, offs_t, mask_t, offs_d, offs_d < D, stride_qt, stride_qd, feature)
        b_k = _load_features(p_k, offs_j, mask_j, offs_d, offs_d < D, stride_kt, stride_kd, feature)
        b_a += _dot(b_q, tl.trans(b_k))
    return b_a


@triton.jit
def _readout(b_num, b_den, eps, normalize):
    """``num [C, Dv] / den [C]``; rows with ``|den| <= eps`` give zeros (as the reference)."""
    if normalize:
        mask_ok = tl.abs(b_den) > eps
        b_num = tl.where(mask_ok[:, None], b_num / tl.where(mask_ok, b_den, 1.0)[:, None], 0.0)
    return b_num
# --8<-- [end:linear-kernel-features]


# --8<-- [start:linear-kernel-state]
import triton
import triton.language as tl


@triton.jit
def _store_state(p_s, p_z, slot, b_s, b_z, offs_d, mask_d, offs_e, mask_e, D, DV, pid_v):
    """A state tile into ``slot`` of this head's ``[slots, F, Dv]``, its rows of ``z`` into
    ``[slots, F]``: every value block has the same ``z``, so only block 0 writes it."""
    mask = mask_d[:, None] & mask_e[None, :]
    tl.store(p_s + slot * D * DV + offs_d[:, None] * DV + offs_e[None, :], b_s, mask=mask)
    if pid_v == 0:
        tl.store(p_z + slot * D + offs_d, b_z, mask=mask_d)


@triton.jit
def _linear_state_kernel(
    p_k, p_v, p_s, p_z,
    stride_kb, stride_kh, stride_kt, stride_kd, stride_vb, stride_vh, stride_vt, stride_vd,
    H_KV, S, D, DV, CHUNK, N_SLOTS, feature, causal,
    BLOCK_S: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_V: tl.constexpr,
):
    pid_d, pid_v, pid_bh = tl.program_id(0), tl.program_id(1), tl.program_id(2)  # a tile of one head's state
    pid_b, pid_h = (pid_bh // H_KV).to(tl.int64), (pid_bh % H_KV).to(tl.int64)  # int64: large offsets
    p_k += pid_b * stride_kb + pid_h * stride_kh
    p_v += pid_b * stride_vb + pid_h * stride_vh
    p_s += pid_bh.to(tl.int64) * N_SLOTS * D * DV  # this key/value head's [N_SLOTS, F, Dv]
    p_z += pid_bh.to(tl.int64) * N_SLOTS * D
    offs_d, offs_e = pid_d * BLOCK_K + tl.arange(0, BLOCK_K), pid_v * BLOCK_V + tl.arange(0, BLOCK_V)
    mask_d, mask_e = offs_d < D, offs_e < DV  # features, value dims of this tile
    b_s = tl.zeros([BLOCK_K, BLOCK_V], dtype=tl.float32)  # sum of phi(k_j) v_j^T over the keys so far
    b_z = tl.zeros([BLOCK_K], dtype=tl.float32)  # sum of phi(k_j)
    for start in range(0, S, BLOCK_S):
        if (causal == 1) & (start % CHUNK == 0):  # the state chunk start // CHUNK begins with
            _store_state(p_s, p_z, start // CHUNK, b_s, b_z, offs_d, mask_d, offs_e, mask_e, D, DV, pid_v)
        offs_s = (start + tl.arange(0, BLOCK_S)).to(tl.int64)
        mask_s = offs_s < S  # the last step may be short
        b_k = _load_features(p_k, offs_s, mask_s, offs_d, mask_d, stride_kt, stride_kd, feature)
        b_v = _load_features(p_v, offs_s, mask_s, offs_e, mask_e, stride_vt, stride_vd, 0)
        b_s += _dot(tl.trans(b_k), b_v)  # [BLOCK_K, BLOCK_V]
        b_z += tl.sum(b_k, axis=0)
    _store_state(p_s, p_z, N_SLOTS - 1, b_s, b_z, offs_d, mask_d, offs_e, mask_e, D, DV, pid_v)  # all keys
# --8<-- [end:linear-kernel-state]


# --8<-- [start:linear-kernel-causal]
import triton
import triton.language as tl


@triton.jit
def _linear_chunk_kernel(
    p_q, p_k, p_v, p_s, p_z, p_o,
    stride_qb, stride_qh, stride_qt, stride_qd, stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd, stride_ob, stride_oh, stride_ot, stride_od,
    H, T, D, DV, GROUP, N_SLOTS, eps, feature, normalize, causal,
    BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_V: tl.constexpr,
):
    pid_c, pid_v, pid_bh = tl.program_id(0), tl.program_id(1), tl.program_id(2)  # chunk, value block, head
    pid_b, pid_h = (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)  # int64: large offsets
    p_q += pid_b * stride_qb + pid_h * stride_qh
    p_k += pid_b * stride_kb + (pid_h // GROUP) * stride_kh  # GQA: GROUP query heads read one k/v head
    p_v += pid_b * stride_vb + (pid_h // GROUP) * stride_vh
    p_o += pid_b * stride_ob + pid_h * stride_oh
    slot = (pid_b * (H // GROUP) + pid_h // GROUP) * N_SLOTS + pid_c * causal  # else the only slot
    p_s, p_z = p_s + slot * D * DV, p_z + slot * D  # S_c [F, Dv], z_c [F]: the keys before chunk c
    offs_t = (pid_c * BLOCK_C + tl.arange(0, BLOCK_C)).to(tl.int64)  # this chunk's queries
    offs_e = pid_v * BLOCK_V + tl.arange(0, BLOCK_V)  # this program's value dims
    mask_t, mask_e = offs_t < T, offs_e < DV
    b_num = tl.zeros([BLOCK_C, BLOCK_V], dtype=tl.float32)
    b_den = tl.zeros([BLOCK_C], dtype=tl.float32)
    for d0 in range(0, D, BLOCK_K):  # earlier chunks: phi(Q_c) S_c and phi(Q_c) z_c, BLOCK_K features at once
        offs_d = d0 + tl.arange(0, BLOCK_K)
        mask_d = offs_d < D
        b_q = _load_features(p_q, offs_t, mask_t, offs_d, mask_d, stride_qt, stride_qd, feature)
        b_s = _load_features(p_s, offs_d, mask_d, offs_e, mask_e, DV, 1, 0)  # [BLOCK_K, BLOCK_V] of S_c
        b_num += _dot(b_q, b_s)
        b_den += tl.sum(b_q * tl.load(p_z + offs_d, mask=mask_d, other=0.0)[None, :], axis=1)
    for j0 in range(0, BLOCK_C * causal, BLOCK_K):  # this chunk, BLOCK_K keys at a time
        offs_j = (pid_c * BLOCK_C + j0 + tl.arange(0, BLOCK_K)).to(tl.int64)
        b_a = _chunk_scores(p_q, p_k, offs_t, mask_t, offs_j, offs_j < T, stride_qt, stride_qd,
                            stride_kt, stride_kd, D, feature, BLOCK_C, BLOCK_K)
        b_a = tl.where(offs_t[:, None] >= offs_j[None, :], b_a, 0.0)  # tril: key j <= query i
        b_num += _dot(b_a, _load_features(p_v, offs_j, offs_j < T, offs_e, mask_e, stride_vt, stride_vd, 0))
        b_den += tl.sum(b_a, axis=1)
    b_o = _readout(b_num, b_den, eps, normalize)
    tl.store(p_o + offs_t[:, None] * stride_ot + offs_e[None, :] * stride_od, b_o.to(p_o.dtype.element_ty),
             mask=mask_t[:, None] & mask_e[None, :])
# --8<-- [end:linear-kernel-causal]


# ---------------------------------------------------------------- configurations


KERNELS = {"_linear_state_kernel": _linear_state_kernel, "_linear_chunk_kernel": _linear_chunk_kernel}


def linear_configs(*, chunk_size: int, dtype: torch.dtype) -> tuple[KernelConfig, KernelConfig]:
    """The two kernels' configurations for a call: the state kernel's (steps of ``BLOCK_S``
    keys, state tiles ``BLOCK_K x BLOCK_V``) and the chunk kernel's (``BLOCK_C = chunk_size``
    queries, ``BLOCK_K`` features and keys at a time, ``BLOCK_V`` value dims)."""
    state = KernelConfig.make("_linear_state_kernel", dtype, 4, 1, BLOCK_S=MIN_BLOCK, BLOCK_K=STATE_BLOCK,
                              BLOCK_V=STATE_BLOCK)
    warps = 4 if chunk_size <= 32 else 8  # C = 64: 215 registers a thread at 4 warps, 150 at 8 (sm_80)
    chunk = KernelConfig.make("_linear_chunk_kernel", dtype, warps, 1, BLOCK_C=chunk_size, BLOCK_K=MIN_BLOCK,
                              BLOCK_V=VALUE_BLOCK)
    return state, chunk


#: Every configuration the launcher can choose on a GPU: the compile gate's list.
CONFIGS = tuple(dict.fromkeys(cfg for dt in _DTYPES for ch in CHUNKS
                              for cfg in linear_configs(chunk_size=ch, dtype=dt)))


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
            ``16 <= D <= 128`` (any D in that range, e.g. 40: the last tile of features is
            masked). CUDA, or CPU under ``TRITON_INTERPRET=1``. Any strides.
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
    # Per key/value head, the state each chunk starts with and, last, the state over every key
    # (not causal: that one only): [slots, F, Dv] and [slots, F], float32.
    n_slots = triton.cdiv(S, C) + 1 if causal else 1
    states = torch.empty(B * H_kv, n_slots, F, Dv, dtype=torch.float32, device=q.device)
    zs = torch.empty(B * H_kv, n_slots, F, dtype=torch.float32, device=q.device)
    if B * H:
        state_cfg, chunk_cfg = linear_configs(chunk_size=C, dtype=q.dtype)
        tile_k, tile_v = state_cfg.const("BLOCK_K"), state_cfg.const("BLOCK_V")
        _linear_state_kernel[(triton.cdiv(F, tile_k), triton.cdiv(Dv, tile_v), B * H_kv)](
            k_in, v, states, zs, *k_in.stride(), *v.stride(), H_kv, S, F, Dv, C, n_slots, feature,
            int(causal), **state_cfg.launch())
        _linear_chunk_kernel[(triton.cdiv(T, C), triton.cdiv(Dv, chunk_cfg.const("BLOCK_V")), B * H)](
            q_in, k_in, v, states, zs, out, *q_in.stride(), *k_in.stride(), *v.stride(), *out.stride(),
            H, T, F, Dv, H // H_kv, n_slots, float(eps), feature, int(normalize), int(causal),
            **chunk_cfg.launch())
    out = out.to(q.dtype)
    if not return_final_state:
        return out
    # GQA: the query heads of a group share their key head's sums
    state = states[:, -1].reshape(B, H_kv, F, Dv).repeat_interleave(H // H_kv, dim=1)
    return out, (state, zs[:, -1].reshape(B, H_kv, F).repeat_interleave(H // H_kv, dim=1))
