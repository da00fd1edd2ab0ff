"""An FP8 (e4m3) KV cache, measured beside the int8 and int4 caches of :mod:`longctx.kv.quant`.

FP8 e4m3 has 1 sign bit, 4 exponent bits and 3 mantissa bits, largest finite value 448
(``torch.float8_e4m3fn``; Micikevicius et al., *FP8 Formats for Deep Learning*, 2022,
arXiv:2209.05433). It is the low-precision KV-cache format vLLM and TensorRT-LLM offer
(``kv_cache_dtype="fp8"``): one byte per element like int8, but with a floating-point spacing, so
that small values keep their relative precision and a per-tensor scale is often enough. Here the
scale maps the group's absolute maximum to 448; the codes are a plain cast.
"""

from __future__ import annotations

import torch

from longctx import checks
from longctx.attention.reference import attention_ref
from longctx.kv.quant import quantized_attention_error

__all__ = ["FP8_E4M3_MAX", "fp8_attention_error", "fp8_e4m3_roundtrip", "fp8_roundtrip", "kv_precision_table"]

#: Largest finite float8_e4m3fn value.
FP8_E4M3_MAX = 448.0
_AXES = ("tensor", "token", "channel")


# --8<-- [start:fp8-kv]
import torch


def fp8_e4m3_roundtrip(x: torch.Tensor, axis: str = "tensor") -> tuple[torch.Tensor, torch.Tensor]:
    """Store x ``[..., S, D]`` as float8 e4m3 codes with one float32 scale per tensor, token
    (row) or channel (column), and read it back: ``(x as read back, codes)``."""
    dims = {"tensor": (-2, -1), "token": (-1,), "channel": (-2,)}[axis]
    amax = x.abs().amax(dim=dims, keepdim=True).to(torch.float32)
    scale = torch.where(amax > 0, amax / 448.0, torch.ones_like(amax))  # 448: e4m3's largest value
    codes = (x / scale).to(torch.float8_e4m3fn)  # 1 byte per element, rounded to nearest
    return codes.to(x.dtype) * scale.to(x.dtype), codes


# --8<-- [end:fp8-kv]


def fp8_roundtrip(x: torch.Tensor, axis: str = "tensor") -> torch.Tensor:
    """``x`` stored as float8 e4m3 with per-``axis`` scales and read back (see the module doc).

    Args:
        x: ``[..., S, D]`` floating point, at least 2 dims.
        axis: ``"tensor"`` (one scale), ``"token"`` (one per row) or ``"channel"`` (one per column).

    Returns:
        ``x``'s shape and dtype.
    """
    checks.float_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must have at least 2 dims [..., S, D], got shape {list(x.shape)}")
    if axis not in _AXES:
        raise ValueError(f"axis must be one of {_AXES}, got {axis!r}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite")
    return fp8_e4m3_roundtrip(x, axis)[0]


def fp8_attention_error(
    *,
    S: int = 256,
    seed: int = 0,
    settings: tuple[tuple[str, str], ...] = (("tensor", "tensor"), ("token", "token"), ("channel", "token")),
) -> list[dict]:
    """Attention output error of an FP8 e4m3 K/V cache, on the data of
    :func:`longctx.kv.quant.quantized_attention_error` (same shapes, seed and outlier channels).

    Returns:
        Rows ``{"k_axis", "v_axis", "max_abs_err", "mean_abs_err", "bytes_ratio"}``;
        ``bytes_ratio`` is FP8 K+V bytes (1 per element plus float32 scales) over fp16 K+V bytes.
    """
    S = checks.positive_int("S", S)
    B, H, H_kv, T, D, outliers = 1, 8, 2, 1, 64, 4
    gen = torch.Generator().manual_seed(checks.nonneg_int("seed", seed))
    q = torch.randn(B, H, T, D, generator=gen, dtype=torch.float64)
    k = torch.randn(B, H_kv, S, D, generator=gen, dtype=torch.float64)
    v = torch.randn(B, H_kv, S, D, generator=gen, dtype=torch.float64)
    k[..., :outliers] *= 10.0
    ref = attention_ref(q, k, v, causal=True)
    n_scales = {
        "tensor": lambda t: t.shape[0] * t.shape[1],
        "token": lambda t: t.numel() // t.shape[-1],
        "channel": lambda t: t.numel() // t.shape[-2],
    }
    rows = []
    for k_axis, v_axis in settings:
        if k_axis not in _AXES or v_axis not in _AXES:
            raise ValueError(f"settings must pair axes from {_AXES}, got {(k_axis, v_axis)!r}")
        kq, vq = fp8_e4m3_roundtrip(k, k_axis)[0], fp8_e4m3_roundtrip(v, v_axis)[0]
        err = (attention_ref(q, kq, vq, causal=True) - ref).abs()
        stored = k.numel() + v.numel() + 4 * (n_scales[k_axis](k) + n_scales[v_axis](v))
        rows.append(
            {
                "k_axis": k_axis,
                "v_axis": v_axis,
                "max_abs_err": err.max().item(),
                "mean_abs_err": err.mean().item(),
                "bytes_ratio": stored / (2 * (k.numel() + v.numel())),
            }
        )
    return rows


def kv_precision_table() -> list[dict]:
    """Lesson 4's quantization table with FP8 rows: int8 and int4 absmax from
    :func:`longctx.kv.quant.quantized_attention_error`, FP8 e4m3 from :func:`fp8_attention_error`,
    on the same data. Columns: ``codes``, ``k_scales``, ``v_scales``, ``bytes_ratio``,
    ``mean_abs_err``, ``max_abs_err``."""
    rows = []
    for r in quantized_attention_error():
        group = f", groups of {r['group_size']}" if r["group_size"] else ""
        rows.append(
            {
                "codes": f"int{r['bits']}",
                "k_scales": f"per {r['k_axis']}{group}",
                "v_scales": f"per {r['v_axis']}{group}",
                "bytes_ratio": r["bytes_ratio"],
                "mean_abs_err": r["mean_abs_err"],
                "max_abs_err": r["max_abs_err"],
            }
        )
    for r in fp8_attention_error():
        rows.append(
            {
                "codes": "fp8 e4m3",
                "k_scales": f"per {r['k_axis']}",
                "v_scales": f"per {r['v_axis']}",
                "bytes_ratio": r["bytes_ratio"],
                "mean_abs_err": r["mean_abs_err"],
                "max_abs_err": r["max_abs_err"],
            }
        )
    return rows
