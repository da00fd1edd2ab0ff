"""Rotary position embedding (RoPE) and three ways to stretch it past the trained length.

Shape legend:
    x         [B, H, T, D]   queries or keys; D (head dim) even
    positions [T] or [B, T]  integer or fractional token positions
    freqs     [D/2]          rotation frequency theta_i of pair i (radians per position)

RoPE (Su et al., *RoFormer*, 2021, arXiv:2104.09864) rotates pair i of a query or key at
position m by the angle ``m * theta_i`` with ``theta_i = base^(-2i/D)``, i = 0 .. D/2-1. A
rotation by m times the transpose of a rotation by n is a rotation by m - n, so the score
``<R_m q, R_n k>`` depends on the positions only through m - n.

Which coordinates form a pair is a convention, and checkpoints differ:

* half-split (the default here; GPT-NeoX and Hugging Face's Llama): pair i is ``(x[i], x[i + D/2])``;
* interleaved (the RoFormer paper's equations; GPT-J; Meta's original Llama code): pair i is
  ``(x[2i], x[2i + 1])``.

Both give the same relative-position property; weights trained in one layout work in the other
once the rows of W_q and W_k are permuted to match (Hugging Face's Llama conversion does this).

Context extension (factor ``s = L'/L``, trained length L, new length L'):

* position interpolation (Chen et al., 2023, arXiv:2306.15595): positions m -> m * L/L',
  the same as ``theta_i -> theta_i / s`` for every pair;
* NTK-aware scaling: keep positions, raise the base to ``base * s^(D/(D-2))`` so the
  slowest pair is interpolated by exactly s and the fastest is left alone;
* YaRN (Peng et al., 2023, arXiv:2309.00071): interpolate pair i by an amount that depends
  on how many turns it makes over L (its wavelength ``2*pi/theta_i`` against L), and sharpen
  the softmax by a temperature. By default the ramp is the one of the authors' released code
  and of Hugging Face (over the pair index), which checkpoints use; the paper's per-turn ramp
  is ``ramp="turns"``;
* Llama 3.1's ``llama3`` scaling: the per-turn ramp between 1 and 4 turns, no temperature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "RopeScaling",
    "RotationAngles",
    "apply_rope",
    "apply_rope_complex",
    "interpolate_positions",
    "interpolation_frequencies",
    "llama3_frequencies",
    "llama3_scale",
    "ntk_base",
    "ntk_scaled_base",
    "rope_angle_ranges",
    "rope_attention_factor",
    "rope_frequencies",
    "rope_rotate",
    "rope_theta",
    "rope_wavelengths",
    "rotate_half",
    "rotation_angles",
    "yarn_attention_factor",
    "yarn_blend",
    "yarn_frequencies",
    "yarn_frequencies_differ",
    "yarn_keep_by_index",
    "yarn_mscale",
    "yarn_pair_index",
    "yarn_ramp",
    "yarn_ramp_gap",
]

_KINDS = ("linear", "ntk", "yarn", "llama3")
_RAMPS = ("index", "turns")


def _check_head_dim(head_dim: object) -> int:
    if isinstance(head_dim, bool) or not isinstance(head_dim, int):
        raise TypeError(f"head_dim must be an int, got {type(head_dim).__name__}")
    if head_dim < 2 or head_dim % 2:
        raise ValueError(f"head_dim must be a positive even number (RoPE rotates pairs), got {head_dim}")
    return head_dim


def _check_number(name: str, value: object, *, low: float, inclusive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = value >= low if inclusive else value > low
    if not (math.isfinite(value) and ok):
        raise ValueError(f"{name} must be finite and {'>=' if inclusive else '>'} {low}, got {value}")
    return value


@dataclass(frozen=True)
class RopeScaling:
    """How to stretch RoPE to a longer context; pass it to :func:`rope_frequencies`.

    ``kind``:

    * ``"linear"``: position interpolation, every frequency divided by ``factor``;
    * ``"ntk"``: NTK-aware scaling, a larger base;
    * ``"yarn"``: YaRN. By default (``ramp="index"``) the frequencies are those of the YaRN
      authors' code and of Hugging Face's ``rope_type="yarn"``, which every YaRN checkpoint
      (Qwen2.5/Qwen3, DeepSeek-V2/V3, YaRN-Llama) was trained with: the blend runs linearly
      over the pair index between the pairs that turn ``beta`` and ``alpha`` times over L, with
      those bounds rounded outwards when ``truncate`` is True (Hugging Face's default).
      ``ramp="turns"`` is the paper's equation, linear in the number of turns; inside the ramp
      it differs from the released code by tens of percent.
    * ``"llama3"``: Llama 3.1's scaling (Hugging Face ``rope_type="llama3"``): pairs with fewer
      than ``low_freq_factor`` turns over L are divided by ``factor``, pairs with more than
      ``high_freq_factor`` are kept, linear in turns between, and no temperature.

    Config names: Hugging Face's ``beta_fast`` is ``beta`` here, ``beta_slow`` is ``alpha``,
    ``original_max_position_embeddings`` is ``original_length``.
    """

    kind: str  # "linear", "ntk", "yarn" or "llama3"
    factor: float  # s = L'/L, new context length over the trained one; >= 1
    original_length: int | None = None  # L, the trained context length; "yarn" and "llama3" need it
    alpha: float = 1.0  # yarn (beta_slow): pairs turning fewer than alpha times over L are interpolated fully
    beta: float = 32.0  # yarn (beta_fast): pairs turning more than beta times over L are left as trained
    ramp: str = "index"  # yarn: "index" (released code, Hugging Face) or "turns" (the paper's equation)
    truncate: bool = True  # yarn, ramp="index": round the ramp's ends outwards, as Hugging Face's default
    mscale: float | None = None  # yarn, DeepSeek-style configs: see yarn_attention_factor
    mscale_all_dim: float | None = None  # yarn, DeepSeek-style configs: see yarn_attention_factor
    attention_factor: float | None = None  # yarn: an explicit cos/sin multiplier, as in Hugging Face configs
    low_freq_factor: float = 1.0  # llama3: below this many turns over L, fully interpolated
    high_freq_factor: float = 4.0  # llama3: above this many turns over L, kept

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        _check_number("factor", self.factor, low=1.0, inclusive=True)
        if self.original_length is not None:
            if isinstance(self.original_length, bool) or not isinstance(self.original_length, int):
                raise TypeError(f"original_length must be an int, got {type(self.original_length).__name__}")
            if self.original_length < 1:
                raise ValueError(f"original_length must be >= 1, got {self.original_length}")
        if self.kind in ("yarn", "llama3") and self.original_length is None:
            raise ValueError(
                f"original_length (the trained context length L) is required for kind={self.kind!r}"
            )
        _check_number("alpha", self.alpha, low=0.0)
        _check_number("beta", self.beta, low=0.0)
        if not self.alpha < self.beta:
            raise ValueError(f"alpha must be smaller than beta, got alpha={self.alpha}, beta={self.beta}")
        if self.ramp not in _RAMPS:
            raise ValueError(f"ramp must be one of {_RAMPS}, got {self.ramp!r}")
        if not isinstance(self.truncate, bool):
            raise TypeError(f"truncate must be a bool, got {type(self.truncate).__name__}")
        for name in ("mscale", "mscale_all_dim", "attention_factor"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), low=0.0)
        _check_number("low_freq_factor", self.low_freq_factor, low=0.0)
        _check_number("high_freq_factor", self.high_freq_factor, low=0.0)
        if not self.low_freq_factor < self.high_freq_factor:
            raise ValueError(
                "low_freq_factor must be smaller than high_freq_factor, got "
                f"{self.low_freq_factor} and {self.high_freq_factor}"
            )


# --8<-- [start:rope-frequencies]
import torch


def rope_theta(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """Plain RoPE: ``theta_i = base^(-2i/D)`` for the D/2 pairs, float64, radians per position."""
    i = torch.arange(head_dim // 2, dtype=torch.float64)  # [D/2]
    return base ** (-2.0 * i / head_dim)  # [D/2], from 1 (pair 0) down towards 1/base


# --8<-- [end:rope-frequencies]


def rope_frequencies(
    head_dim: int, *, base: float = 10000.0, scaling: RopeScaling | None = None
) -> torch.Tensor:
    """Rotation frequency of each pair, ``theta_i = base^(-2i/D)``, optionally rescaled.

    Args:
        head_dim: D, even.
        base: the RoPE base b (10000 in RoFormer and Llama 1/2, 500000 in Llama 3).
        scaling: None for plain RoPE, or a :class:`RopeScaling` (linear, ntk, yarn, llama3).

    Returns:
        ``[D/2]`` float64, radians per position, from 1 (pair 0) down towards 1/base.
    """
    D = _check_head_dim(head_dim)
    base = _check_number("base", base, low=1.0)
    if scaling is not None and not isinstance(scaling, RopeScaling):
        raise TypeError(f"scaling must be a RopeScaling or None, got {type(scaling).__name__}")
    if scaling is None:
        return rope_theta(D, base)
    if scaling.kind == "ntk":
        return rope_theta(D, ntk_base(base, scaling.factor, D))  # NTK-aware: a larger base, same formula
    freqs = rope_theta(D, base)  # [D/2]
    if scaling.kind == "linear":
        return interpolation_frequencies(freqs, scaling.factor)
    if scaling.kind == "llama3":
        return llama3_frequencies(
            freqs,
            scaling.factor,
            scaling.original_length,
            low_freq_factor=scaling.low_freq_factor,
            high_freq_factor=scaling.high_freq_factor,
        )
    return yarn_frequencies(
        D,
        scaling.factor,
        scaling.original_length,
        base=base,
        alpha=scaling.alpha,
        beta=scaling.beta,
        ramp=scaling.ramp,
        truncate=scaling.truncate,
    )


def rope_attention_factor(scaling: RopeScaling | None) -> float:
    """What a scaling multiplies cos and sin (equivalently q and k) by: YaRN's temperature, else 1.

    For ``kind="yarn"``: ``scaling.attention_factor`` when given, else
    :func:`yarn_attention_factor` with the config's ``mscale`` and ``mscale_all_dim``.
    """
    if scaling is None:
        return 1.0
    if not isinstance(scaling, RopeScaling):
        raise TypeError(f"scaling must be a RopeScaling or None, got {type(scaling).__name__}")
    if scaling.kind != "yarn":
        return 1.0
    if scaling.attention_factor is not None:
        return float(scaling.attention_factor)
    return yarn_attention_factor(scaling.factor, mscale=scaling.mscale, mscale_all_dim=scaling.mscale_all_dim)


def rope_wavelengths(freqs: torch.Tensor) -> torch.Tensor:
    """Positions per full turn of each pair, ``2*pi / theta_i``; ``[D/2]`` in, ``[D/2]`` out."""
    freqs = _check_freqs(freqs)
    return 2 * math.pi / freqs


def _check_freqs(freqs: object) -> torch.Tensor:
    if not isinstance(freqs, torch.Tensor):
        raise TypeError(f"freqs must be a torch.Tensor, got {type(freqs).__name__}")
    if freqs.dim() != 1 or freqs.numel() == 0:
        raise ValueError(f"freqs must have shape [D/2] with D/2 >= 1, got {tuple(freqs.shape)}")
    if not freqs.dtype.is_floating_point:
        raise TypeError(f"freqs must be floating point, got {freqs.dtype}")
    if not bool((freqs > 0).all()) or not bool(torch.isfinite(freqs).all()):
        raise ValueError("freqs must be finite and positive")
    return freqs


# --8<-- [start:apply-rope]
import torch


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Half-split pairs: (x1, x2) -> (-x2, x1), the 90-degree turn of every pair at once."""
    x1, x2 = x.chunk(2, dim=-1)  # each [..., D/2]
    return torch.cat((-x2, x1), dim=-1)  # [..., D]


def rope_rotate(
    x: torch.Tensor, positions: torch.Tensor, freqs: torch.Tensor, interleaved: bool = False
) -> torch.Tensor:
    """Rotate pair i of x at position m by ``m * theta_i``: ``(a, b) -> (a cos - b sin, a sin + b cos)``.

    x ``[B, H, T, D]``, positions ``[T]`` or ``[B, T]``, freqs ``[D/2]``. Angles in float64.
    """
    work = torch.promote_types(x.dtype, torch.float32)
    angles = positions.to(torch.float64)[..., None] * freqs.to(torch.float64)  # [T, D/2] or [B, T, D/2]
    if angles.dim() == 3:
        angles = angles[:, None]  # [B, 1, T, D/2]: same positions for every head
    xw = x.to(work)
    if interleaved:
        angles = angles.repeat_interleave(2, dim=-1)  # [.., D]: theta_0, theta_0, theta_1, ...
        x_even, x_odd = xw[..., 0::2], xw[..., 1::2]  # each [B, H, T, D/2]
        turned = torch.stack((-x_odd, x_even), dim=-1).flatten(-2)  # [B, H, T, D]: (-x1, x0, -x3, x2, ...)
    else:
        angles = torch.cat((angles, angles), dim=-1)  # [.., D]: theta_0 .. theta_{D/2-1} twice
        turned = rotate_half(xw)  # [B, H, T, D]
    cos, sin = angles.cos().to(work), angles.sin().to(work)
    return (xw * cos + turned * sin).to(x.dtype)


# --8<-- [end:apply-rope]


def apply_rope(
    x: torch.Tensor, positions: torch.Tensor, freqs: torch.Tensor, *, interleaved: bool = False
) -> torch.Tensor:
    """Rotate pair i of the vector at position m by the angle ``m * theta_i``.

    Args:
        x: ``[B, H, T, D]`` queries or keys, floating point, D even.
        positions: ``[T]`` or ``[B, T]`` positions, integer or fractional (position
            interpolation uses fractions).
        freqs: ``[D/2]`` frequencies from :func:`rope_frequencies`.
        interleaved: False (default) pairs ``(x[i], x[i + D/2])``, the GPT-NeoX / Hugging Face
            Llama layout; True pairs ``(x[2i], x[2i + 1])``, the layout of the RoFormer paper and
            of Meta's original Llama code.

    Returns:
        ``[B, H, T, D]`` in x's dtype. Angles are formed in float64 (``m * theta`` loses
        digits in float32 at long positions); half precision is rotated in float32.
    """
    x, positions, freqs = _check_rope_args(x, positions, freqs)
    if not isinstance(interleaved, bool):
        raise TypeError(f"interleaved must be a bool, got {type(interleaved).__name__}")
    return rope_rotate(x, positions, freqs, interleaved)


def apply_rope_complex(
    x: torch.Tensor, positions: torch.Tensor, freqs: torch.Tensor, *, interleaved: bool = False
) -> torch.Tensor:
    """The same rotation written as complex multiplication, ``z_i * exp(1j * m * theta_i)``.

    Same arguments and result as :func:`apply_rope`; the second form of the algorithm,
    kept to check the first (computed in complex128).
    """
    x, positions, freqs = _check_rope_args(x, positions, freqs)
    B, H, T, D = x.shape
    xd = x.to(torch.float64)
    if interleaved:
        pairs = xd.reshape(B, H, T, D // 2, 2)  # [B, H, T, D/2, 2]: (x[2i], x[2i+1])
    else:
        pairs = torch.stack(xd.chunk(2, dim=-1), dim=-1)  # [B, H, T, D/2, 2]: (x[i], x[i+D/2])
    z = torch.view_as_complex(pairs.contiguous())  # [B, H, T, D/2]
    angles = positions.to(torch.float64)[..., None] * freqs.to(torch.float64)  # [T, D/2] or [B, T, D/2]
    if angles.dim() == 3:
        angles = angles[:, None]  # [B, 1, T, D/2]
    rotated = torch.view_as_real(z * torch.polar(torch.ones_like(angles), angles))  # [B, H, T, D/2, 2]
    if interleaved:
        out = rotated.reshape(B, H, T, D)  # [B, H, T, D]
    else:
        out = torch.cat((rotated[..., 0], rotated[..., 1]), dim=-1)  # [B, H, T, D]
    return out.to(x.dtype)


def _check_rope_args(x: object, positions: object, freqs: object):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must have 4 dims [B, H, T, D], got shape {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    B, H, T, D = x.shape
    if D % 2:
        raise ValueError(f"x's head dim D must be even (RoPE rotates pairs), got {D}")
    if not isinstance(positions, torch.Tensor):
        raise TypeError(f"positions must be a torch.Tensor, got {type(positions).__name__}")
    if positions.dtype == torch.bool or positions.is_complex():
        raise TypeError(f"positions must be integer or real floating point, got {positions.dtype}")
    if positions.shape not in (torch.Size([T]), torch.Size([B, T])):
        raise ValueError(
            f"positions must have shape [T] = [{T}] or [B, T] = [{B}, {T}], got {tuple(positions.shape)}"
        )
    freqs = _check_freqs(freqs)
    if freqs.shape[0] != D // 2:
        raise ValueError(f"freqs must have D/2 = {D // 2} entries for head dim {D}, got {freqs.shape[0]}")
    return x, positions, freqs


# ----------------------------------------------------------------------------- context extension

# --8<-- [start:position-interpolation]
import torch


def interpolate_positions(freqs: torch.Tensor, factor: float) -> torch.Tensor:
    """Position interpolation: ``theta_i / s``, the same as positions ``m -> m * L/L'``."""
    return freqs / factor  # [D/2]: every pair turns s times slower


# --8<-- [end:position-interpolation]


def interpolation_frequencies(freqs: torch.Tensor, factor: float) -> torch.Tensor:
    """Position interpolation: ``theta_i / s``, the same as positions ``m -> m * L/L'``.

    Args:
        freqs: ``[D/2]`` trained frequencies.
        factor: s = L'/L >= 1.

    Returns:
        ``[D/2]``: every pair turns s times slower, so L' positions span the angles L did.
    """
    freqs = _check_freqs(freqs)
    s = _check_number("factor", factor, low=1.0, inclusive=True)
    return interpolate_positions(freqs, s)


# --8<-- [start:ntk-base]
def ntk_scaled_base(base: float, factor: float, head_dim: int) -> float:
    """NTK-aware scaling: ``b' = b * s^(D/(D-2))``; pair 0 keeps theta_0 = 1, the last gets theta/s."""
    return base * factor ** (head_dim / (head_dim - 2))


# --8<-- [end:ntk-base]


def ntk_base(base: float, factor: float, head_dim: int) -> float:
    """NTK-aware scaling: the new base ``b' = b * s^(D/(D-2))``.

    With ``theta_i = b'^(-2i/D)`` the fastest pair (i = 0) keeps theta_0 = 1 and the
    slowest (i = D/2 - 1) gets exactly ``theta / s``: high frequencies extrapolate,
    low ones interpolate, the ones between something in between.

    Args:
        base: the trained base b > 1.
        factor: s = L'/L >= 1.
        head_dim: D, even and at least 4 (D = 2 would divide by zero).
    """
    base = _check_number("base", base, low=1.0)
    s = _check_number("factor", factor, low=1.0, inclusive=True)
    D = _check_head_dim(head_dim)
    if D < 4:
        raise ValueError(f"head_dim must be >= 4 for NTK-aware scaling (exponent D/(D-2)), got {D}")
    return ntk_scaled_base(base, s, D)


# --8<-- [start:yarn]
import math

import torch


def yarn_pair_index(turns: float, head_dim: int, base: float, original_length: int) -> float:
    """The fractional pair index i at which pair i makes ``turns`` turns over L (solves r_i = turns)."""
    return head_dim * math.log(original_length / (2 * math.pi * turns)) / (2 * math.log(base))


def yarn_keep_by_index(
    head_dim: int,
    base: float,
    original_length: int,
    alpha: float = 1.0,
    beta: float = 32.0,
    truncate: bool = True,
) -> torch.Tensor:
    """gamma_i, the share of theta_i kept: 1 up to the pair turning beta times over L, 0 from
    the pair turning alpha times, linear in the pair index between (the released code's ramp)."""
    low = yarn_pair_index(beta, head_dim, base, original_length)  # fast end of the ramp
    high = yarn_pair_index(alpha, head_dim, base, original_length)  # slow end of the ramp
    if truncate:
        low, high = math.floor(low), math.ceil(high)  # rounded outwards
    low, high = max(low, 0), min(high, head_dim - 1)  # clipped as the released code clips them
    if low == high:
        high += 0.001  # a one-pair ramp would divide by zero
    i = torch.arange(head_dim // 2, dtype=torch.float64)  # [D/2]
    return 1.0 - ((i - low) / (high - low)).clamp(0.0, 1.0)  # [D/2]


def yarn_ramp(r: torch.Tensor, alpha: float = 1.0, beta: float = 32.0) -> torch.Tensor:
    """gamma(r) of the paper's equation: 0 below alpha turns, 1 above beta, linear in r between."""
    return ((r - alpha) / (beta - alpha)).clamp(0.0, 1.0)


def yarn_blend(freqs: torch.Tensor, factor: float, keep: torch.Tensor) -> torch.Tensor:
    """``(1 - gamma) * theta / s + gamma * theta``: interpolate what is not kept."""
    return (1.0 - keep) * freqs / factor + keep * freqs  # [D/2]


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    """YaRN's temperature term ``0.1 * mscale * ln(s) + 1`` (1 at s <= 1); sqrt(1/t) with mscale 1."""
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


# --8<-- [end:yarn]


# --8<-- [start:llama3]
import math

import torch


def llama3_scale(
    freqs: torch.Tensor,
    factor: float,
    original_length: int,
    low_freq_factor: float = 1.0,
    high_freq_factor: float = 4.0,
) -> torch.Tensor:
    """Llama 3.1: pairs turning fewer than low_freq_factor times over L are divided by s, pairs
    turning more than high_freq_factor times are kept, linear in the turns between."""
    turns = original_length * freqs / (2 * math.pi)  # [D/2] turns over L = L / wavelength
    keep = ((turns - low_freq_factor) / (high_freq_factor - low_freq_factor)).clamp(0.0, 1.0)
    return (1.0 - keep) * freqs / factor + keep * freqs  # [D/2]


# --8<-- [end:llama3]


def yarn_frequencies(
    head_dim: int,
    factor: float,
    original_length: int,
    *,
    base: float = 10000.0,
    alpha: float = 1.0,
    beta: float = 32.0,
    ramp: str = "index",
    truncate: bool = True,
) -> torch.Tensor:
    """YaRN's "NTK-by-parts" frequencies, ``(1 - gamma_i) * theta_i / s + gamma_i * theta_i``.

    Args:
        head_dim: D, even.
        factor: s = L'/L >= 1.
        original_length: L, the trained context length.
        base: the RoPE base.
        alpha: the ramp's slow end, in turns over L (``beta_slow``; 1 for Llama and in every
            released config we know).
        beta: the ramp's fast end, in turns over L (``beta_fast``; 32).
        ramp: ``"index"`` (default): gamma linear in the pair index between the pairs that turn
            beta and alpha times, as the YaRN authors' code and Hugging Face compute it, so as
            every YaRN checkpoint was trained; ``"turns"``: gamma linear in the turns r_i, the
            paper's equation. Outside the ramp the two agree; inside, they differ by up to a
            factor 3 (Llama 2's head at s = 16, pair 38: 1.48e-3 against 4.87e-4).
        truncate: for ``ramp="index"``, round the ramp's ends outwards to whole pairs
            (Hugging Face's default; the authors' code always does).

    Returns:
        ``[D/2]`` float64: pairs with many turns over L (short wavelength, local detail) keep
        theta; pairs with under one turn are interpolated by s; a blend between.
    """
    scaling = RopeScaling("yarn", factor, original_length, alpha, beta, ramp, truncate)  # validates
    D = _check_head_dim(head_dim)
    base = _check_number("base", base, low=1.0)
    freqs = rope_theta(D, base)  # [D/2]
    if scaling.ramp == "turns":
        keep = yarn_ramp(original_length * freqs / (2 * math.pi), scaling.alpha, scaling.beta)
    else:
        keep = yarn_keep_by_index(D, base, original_length, scaling.alpha, scaling.beta, truncate)
    return yarn_blend(freqs, scaling.factor, keep)


def yarn_frequencies_differ(
    head_dim: int, factor: float, original_length: int, *, base: float = 10000.0
) -> int:
    """How many pairs get a different frequency from the released code's ramp and the paper's."""
    code = yarn_frequencies(head_dim, factor, original_length, base=base)
    paper = yarn_frequencies(head_dim, factor, original_length, base=base, ramp="turns")
    return int((~torch.isclose(code, paper, rtol=1e-12, atol=0.0)).sum())


def yarn_ramp_gap(head_dim: int, factor: float, original_length: int, *, base: float = 10000.0) -> float:
    """The largest ratio, either way round, between the code's and the paper's frequency of a pair."""
    code = yarn_frequencies(head_dim, factor, original_length, base=base)
    paper = yarn_frequencies(head_dim, factor, original_length, base=base, ramp="turns")
    return float(torch.maximum(code / paper, paper / code).max())


def llama3_frequencies(
    freqs: torch.Tensor,
    factor: float,
    original_length: int,
    *,
    low_freq_factor: float = 1.0,
    high_freq_factor: float = 4.0,
) -> torch.Tensor:
    """Llama 3.1's frequency scaling (Hugging Face ``rope_type="llama3"``, Meta's ``apply_scaling``).

    Its rule is the YaRN paper's per-turn ramp with ``alpha = low_freq_factor`` and
    ``beta = high_freq_factor``, and no temperature. Llama 3.1 uses factor 8, low 1, high 4,
    L = 8192 on base 500000.

    Args:
        freqs: ``[D/2]`` trained frequencies theta_i.
        factor: s >= 1.
        original_length: L, the trained context length (``original_max_position_embeddings``).
        low_freq_factor: pairs turning fewer times than this over L are divided by s.
        high_freq_factor: pairs turning more times than this over L are kept.

    Returns:
        ``[D/2]`` float64.
    """
    freqs = _check_freqs(freqs)
    scaling = RopeScaling(
        "llama3", factor, original_length, low_freq_factor=low_freq_factor, high_freq_factor=high_freq_factor
    )
    return llama3_scale(
        freqs.to(torch.float64),
        scaling.factor,
        original_length,
        scaling.low_freq_factor,
        scaling.high_freq_factor,
    )


def yarn_attention_factor(
    factor: float, *, mscale: float | None = None, mscale_all_dim: float | None = None
) -> float:
    """YaRN's ``sqrt(1/t) = 0.1 * ln(s) + 1``: multiply q and k (both), or cos and sin, by it.

    The logits are then multiplied by 1/t, a sharper softmax that offsets the entropy
    rise of interpolated positions. 1 at s = 1.

    DeepSeek-style configs give ``mscale`` and ``mscale_all_dim``; when both are given and
    non-zero the factor is ``yarn_mscale(s, mscale) / yarn_mscale(s, mscale_all_dim)``, as in
    Hugging Face (1 when they are equal, as in DeepSeek-V2 and V3, whose attention instead
    multiplies its softmax scale by ``yarn_mscale(s, mscale_all_dim) ** 2``).
    """
    s = _check_number("factor", factor, low=1.0, inclusive=True)
    for name, value in (("mscale", mscale), ("mscale_all_dim", mscale_all_dim)):
        if value is not None:
            _check_number(name, value, low=0.0, inclusive=True)
    if mscale and mscale_all_dim:
        return yarn_mscale(s, mscale) / yarn_mscale(s, mscale_all_dim)
    return yarn_mscale(s)


@dataclass(frozen=True)
class RotationAngles:
    """Per-pair data on what RoPE angles a model saw in training and sees at a new length."""

    freqs_train: torch.Tensor  # [D/2] theta_i as trained (radians per position)
    freqs_new: torch.Tensor  # [D/2] theta_i after the scaling (equal to freqs_train without one)
    wavelength: torch.Tensor  # [D/2] 2*pi / theta_i, trained, in positions
    max_angle_train: torch.Tensor  # [D/2] theta_i * (L - 1): largest angle seen in training
    max_angle_new: torch.Tensor  # [D/2] theta'_i * (L' - 1): largest angle at the new length
    full_turn_in_training: torch.Tensor  # [D/2] bool: theta_i * (L - 1) >= 2*pi, every angle seen


# --8<-- [start:rotation-angles]
import math

import torch


def rope_angle_ranges(
    freqs_train: torch.Tensor, freqs_new: torch.Tensor, train_length: int, new_length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pair: largest angle in training ``theta_i (L-1)``, largest at the new length
    ``theta'_i (L'-1)``, and whether the pair made a full turn in training (then it saw every angle)."""
    max_train = freqs_train * (train_length - 1)  # [D/2]
    max_new = freqs_new * (new_length - 1)  # [D/2]
    return max_train, max_new, max_train >= 2 * math.pi


# --8<-- [end:rotation-angles]


def rotation_angles(
    head_dim: int,
    train_length: int,
    new_length: int,
    *,
    base: float = 10000.0,
    scaling: RopeScaling | None = None,
) -> RotationAngles:
    """The extrapolation problem in numbers: per pair, trained vs new largest angle.

    A pair that turned fully during training has seen every angle (mod 2*pi); a slow
    pair that did not, sees angles at the new length it never saw when
    ``max_angle_new > max_angle_train``. Plain RoPE exceeds the trained range in every
    slow pair; position interpolation keeps all pairs (almost) inside it.

    Args:
        head_dim: D, even.
        train_length: L, positions 0 .. L-1 were seen in training.
        new_length: L', positions 0 .. L'-1 are used now.
        base: RoPE base.
        scaling: the extension applied at the new length, or None (plain extrapolation).

    Returns:
        A :class:`RotationAngles` of ``[D/2]`` float64 tensors (and one bool tensor).
    """
    for name, value in (("train_length", train_length), ("new_length", new_length)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    trained = rope_frequencies(head_dim, base=base)  # [D/2]
    new = rope_frequencies(head_dim, base=base, scaling=scaling)  # [D/2]
    max_train, max_new, full = rope_angle_ranges(trained, new, train_length, new_length)
    return RotationAngles(
        freqs_train=trained,
        freqs_new=new,
        wavelength=2 * math.pi / trained,
        max_angle_train=max_train,
        max_angle_new=max_new,
        full_turn_in_training=full,
    )
