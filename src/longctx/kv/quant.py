"""Symmetric absmax quantization of K/V to int8 or int4, per token or per channel, with groups.

Shape legend:
    x        [B, H_kv, S, D]     keys or values
    scale    [B, H_kv, S, D/g]   per token, groups of g along D (g = D: one scale per token)
             [B, H_kv, S/g, D]   per channel, groups of g along S (g = S: one scale per channel)
    q        integer codes, same shape as x; int4 codes are packed two per byte

Symmetric absmax: ``scale = max|x| / qmax`` over a group, ``q = round(x / scale)``,
``x ~ q * scale``, with ``qmax = 2**(bits-1) - 1`` (127 for int8, 7 for int4). Codes lie in
[-qmax, qmax] (int4 never uses -8). Rounding to the nearest code gives
``|x - q*scale| <= scale / 2`` for every element.

int4 storage: the codes are shifted to [0, 15] (add 8) and packed two per ``uint8`` along the
last dim (element 2i in the low nibble, 2i+1 in the high one); an odd last dim gets one pad nibble.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from longctx.attention import attention_ref
from longctx.checks import float_tensor, positive_int

__all__ = [
    "QuantizedTensor",
    "dequantize",
    "pack_int4",
    "quantize",
    "quantized_attention_error",
    "unpack_int4",
]


@dataclass
class QuantizedTensor:
    """Integer codes plus scales; :func:`dequantize` turns it back into floats."""

    data: torch.Tensor  # int8 codes [B, H_kv, S, D], or uint8 [B, H_kv, S, ceil(D/2)] packed int4
    scale: torch.Tensor  # float, one per group (see the module legend)
    bits: int  # 8 or 4
    axis: str  # "token" (groups along D) or "channel" (groups along S)
    group_size: int  # g, elements per scale
    shape: tuple[int, ...]  # shape of the original tensor
    dtype: torch.dtype  # dtype of the original tensor

    def nbytes(self) -> int:
        """Bytes of the codes plus the scales as stored."""
        return self.data.numel() * self.data.element_size() + self.scale.numel() * self.scale.element_size()


# --8<-- [start:pack-int4]
import torch


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """Pack int4 codes in [-8, 7] (an int8 tensor ``[..., n]``) two per byte: ``uint8 [..., ceil(n/2)]``."""
    if q.dtype != torch.int8:
        raise TypeError(f"q must be int8 codes, got {q.dtype}")
    if q.numel() and (q.min() < -8 or q.max() > 7):
        raise ValueError("q holds codes outside the int4 range [-8, 7]")
    u = (q.to(torch.int16) + 8).to(torch.uint8)  # [..., n], values 0..15
    if u.shape[-1] % 2:
        u = torch.nn.functional.pad(u, (0, 1), value=8)  # [..., n + 1]: pad with code 0
    return u[..., 0::2] | (u[..., 1::2] << 4)  # [..., ceil(n/2)]


def unpack_int4(packed: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`pack_int4`: ``uint8 [..., ceil(n/2)]`` -> int8 codes ``[..., n]``."""
    lo = (packed & 0x0F).to(torch.int8) - 8  # [..., ceil(n/2)]
    hi = (packed >> 4).to(torch.int8) - 8
    return torch.stack([lo, hi], dim=-1).flatten(-2)[..., :n]  # [..., 2*ceil(n/2)] -> [..., n]


# --8<-- [end:pack-int4]


# --8<-- [start:quantize]
import torch


def group_view(x: torch.Tensor, axis: str, g: int) -> torch.Tensor:
    """View ``x [B, H, S, D]`` with each group of ``g`` elements that share a scale as the last dim."""
    B, H, S, D = x.shape
    if axis == "token":
        return x.reshape(B, H, S, D // g, g)  # [B, H, S, D/g, g]: groups along D
    return x.reshape(B, H, S // g, g, D).transpose(-1, -2)  # [B, H, S/g, D, g]: groups along S


def ungroup(x: torch.Tensor, axis: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`group_view`: back to ``shape`` ``[B, H, S, D]``."""
    return x.reshape(shape) if axis == "token" else x.transpose(-1, -2).reshape(shape)


def absmax_quantize(x: torch.Tensor, bits: int, axis: str, g: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric absmax codes: ``(q int8 [B, H, S, D], scale [..., n_groups])``, ``x ~ q * scale``."""
    qmax = 2 ** (bits - 1) - 1  # 127 for int8, 7 for int4
    xg = group_view(x.to(torch.promote_types(x.dtype, torch.float32)), axis, g)  # [..., g]
    scale = xg.abs().amax(dim=-1, keepdim=True) / qmax  # [..., 1]: the largest |x| maps to qmax
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group: codes 0
    q = torch.round(xg / safe).clamp(-qmax, qmax).to(torch.int8)  # [..., g]
    return ungroup(q, axis, tuple(x.shape)), scale.squeeze(-1)


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor, axis: str, g: int) -> torch.Tensor:
    """Back to floats, ``q * scale`` group by group, in the scale's dtype."""
    qg = group_view(q.to(scale.dtype), axis, g)  # [..., g]
    return ungroup(qg * scale[..., None], axis, tuple(q.shape))


# --8<-- [end:quantize]


def quantize(
    x: torch.Tensor, bits: int = 8, axis: str = "token", group_size: int | None = None
) -> QuantizedTensor:
    """Symmetric absmax quantization of ``x [B, H_kv, S, D]``.

    Args:
        x: keys or values, floating.
        bits: 8 or 4.
        axis: ``"token"`` (a scale per token, shared along D; good for V) or ``"channel"``
            (a scale per channel, shared along S; good for K, whose outliers sit in channels).
        group_size: elements per scale along the shared dim; default the whole dim. Must divide it.

    Returns:
        A :class:`QuantizedTensor`. Scales are kept in float32 (float64 for float64 input).
    """
    float_tensor("x", x, 4)
    if bits not in (4, 8) or isinstance(bits, bool):
        raise ValueError(f"bits must be 4 or 8, got {bits!r}")
    if axis not in ("token", "channel"):
        raise ValueError(f"axis must be 'token' or 'channel', got {axis!r}")
    along = x.shape[3] if axis == "token" else x.shape[2]
    g = along if group_size is None else positive_int("group_size", group_size)
    if along % g:
        raise ValueError(
            f"group_size must divide the {'head dim D' if axis == 'token' else 'length S'} ({along}), got {g}"
        )
    q, scale = absmax_quantize(x, bits, axis, g)
    data = pack_int4(q) if bits == 4 else q
    return QuantizedTensor(data, scale, bits, axis, g, tuple(x.shape), x.dtype)


def dequantize(qt: QuantizedTensor) -> torch.Tensor:
    """Back to floats: ``q * scale``, shape and dtype of the original tensor."""
    if not isinstance(qt, QuantizedTensor):
        raise TypeError(f"qt must be a QuantizedTensor, got {type(qt).__name__}")
    q = unpack_int4(qt.data, qt.shape[3]) if qt.bits == 4 else qt.data  # [B, H_kv, S, D]
    return absmax_dequantize(q, qt.scale, qt.axis, qt.group_size).to(qt.dtype)


def quantized_attention_error(
    *,
    B: int = 1,
    H: int = 8,
    H_kv: int = 2,
    T: int = 1,
    S: int = 256,
    D: int = 64,
    outlier_channels: int = 4,
    outlier_scale: float = 10.0,
    seed: int = 0,
    settings: tuple[tuple[int, str, str, int | None], ...] = (
        (8, "token", "token", None),
        (8, "channel", "token", None),
        (4, "token", "token", None),
        (4, "channel", "token", None),
        (4, "token", "token", 16),
        (4, "channel", "token", 32),
    ),
) -> list[dict[str, object]]:
    """Attention output error of quantized K/V against full precision, one row per setting.

    Random float64 q, k, v (N(0, 1)); ``outlier_channels`` channels of K are multiplied by
    ``outlier_scale``, as in real keys. Each setting is ``(bits, k_axis, v_axis, group_size)``;
    the group size applies to both K and V along their shared dims.

    Returns:
        Rows ``{"bits", "k_axis", "v_axis", "group_size", "max_abs_err", "mean_abs_err",
        "bytes_ratio"}``; ``bytes_ratio`` is quantized K+V bytes (codes + float32 scales) over
        fp16 K+V bytes.
    """
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, D, generator=gen, dtype=torch.float64)
    k = torch.randn(B, H_kv, S, D, generator=gen, dtype=torch.float64)
    v = torch.randn(B, H_kv, S, D, generator=gen, dtype=torch.float64)
    k[..., :outlier_channels] *= outlier_scale
    ref = attention_ref(q, k, v, causal=True)
    rows = []
    for bits, k_axis, v_axis, g in settings:
        qk, qv = quantize(k, bits, k_axis, g), quantize(v, bits, v_axis, g)
        out = attention_ref(q, dequantize(qk), dequantize(qv), causal=True)
        err = (out - ref).abs()
        stored = qk.nbytes() + qv.nbytes() - (qk.scale.numel() + qv.scale.numel()) * 4  # float32 scales
        rows.append(
            {
                "bits": bits,
                "k_axis": k_axis,
                "v_axis": v_axis,
                "group_size": g,
                "max_abs_err": err.max().item(),
                "mean_abs_err": err.mean().item(),
                "bytes_ratio": stored / (2 * k.numel() * 2),
            }
        )
    return rows
