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

* half-split (the default here; GPT-NeoX and Llama code): pair i is ``(x[i], x[i + D/2])``;
* interleaved (the RoFormer paper's equations; GPT-J): pair i is ``(x[2i], x[2i + 1])``.

Both give the same relative-position property; weights trained with one do not work with the
other unless the rows of W_q and W_k are permuted to match.

Context extension (factor ``s = L'/L``, trained length L, new length L'):

* position interpolation (Chen et al., 2023, arXiv:2306.15595): positions m -> m * L/L',
  the same as ``theta_i -> theta_i / s`` for every pair;
* NTK-aware scaling: keep positions, raise the base to ``base * s^(D/(D-2))`` so the
  slowest pair is interpolated by exactly s and the fastest is left alone;
* YaRN (Peng et al., 2023, arXiv:2309.00071): interpolate pair i by an amount that depends
  on how many turns it makes over L (its wavelength ``2*pi/theta_i`` against L), and sharpen
  the softmax by a temperature.
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
    "interpolation_frequencies",
    "ntk_base",
    "rope_frequencies",
    "rope_wavelengths",
    "rotation_angles",
    "yarn_attention_factor",
    "yarn_frequencies",
    "yarn_ramp",
]

_KINDS = ("linear", "ntk", "yarn")


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
    """How to stretch RoPE to a longer context; pass it to :func:`rope_frequencies`."""

    kind: str  # "linear" (position interpolation), "ntk" (NTK-aware base) or "yarn"
    factor: float  # s = L'/L, new context length over the trained one; >= 1
    original_length: int | None = None  # L, the trained context length; "yarn" needs it
    alpha: float = 1.0  # yarn: pairs turning fewer than alpha times over L are interpolated fully
    beta: float = 32.0  # yarn: pairs turning more than beta times over L are left as trained

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        _check_number("factor", self.factor, low=1.0, inclusive=True)
        if self.original_length is not None:
            if isinstance(self.original_length, bool) or not isinstance(self.original_length, int):
                raise TypeError(f"original_length must be an int, got {type(self.original_length).__name__}")
            if self.original_length < 1:
                raise ValueError(f"original_length must be >= 1, got {self.original_length}")
        if self.kind == "yarn" and self.original_length is None:
            raise ValueError("original_length (the trained context length L) is required for kind='yarn'")
        _check_number("alpha", self.alpha, low=0.0)
        _check_number("beta", self.beta, low=0.0)
        if not self.alpha < self.beta:
            raise ValueError(f"alpha must be smaller than beta, got alpha={self.alpha}, beta={self.beta}")


# --8<-- [start:rope-frequencies]
def rope_frequencies(head_dim: int, *, base: float = 10000.0,
                     scaling: RopeScaling | None = None) -> torch.Tensor:
    """Rotation frequency of each pair, ``theta_i = base^(-2i/D)``, optionally rescaled.

    Args:
        head_dim: D, even.
        base: the RoPE base b (10000 in RoFormer and Llama 1/2).
        scaling: None for plain RoPE, or a :class:`RopeScaling` (linear, ntk, yarn).

    Returns:
        ``[D/2]`` float64, radians per position, from 1 (pair 0) down towards 1/base.
    """
    D = _check_head_dim(head_dim)
    base = _check_number("base", base, low=1.0)
    if scaling is not None and not isinstance(scaling, RopeScaling):
        raise TypeError(f"scaling must be a RopeScaling or None, got {type(scaling).__name__}")
    if scaling is not None and scaling.kind == "ntk":
        base = ntk_base(base, scaling.factor, D)  # NTK-aware: a larger base, same formula
    i = torch.arange(D // 2, dtype=torch.float64)  # [D/2]
    freqs = base ** (-2.0 * i / D)  # [D/2]
    if scaling is not None and scaling.kind == "linear":
        freqs = interpolation_frequencies(freqs, scaling.factor)
    if scaling is not None and scaling.kind == "yarn":
        freqs = yarn_frequencies(freqs, scaling.factor, scaling.original_length,
                                 alpha=scaling.alpha, beta=scaling.beta)
    return freqs
# --8<-- [end:rope-frequencies]


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
def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Half-split pairs: (x1, x2) -> (-x2, x1), the 90-degree turn of every pair at once."""
    x1, x2 = x.chunk(2, dim=-1)  # each [..., D/2]
    return torch.cat((-x2, x1), dim=-1)  # [..., D]


def apply_rope(x: torch.Tensor, positions: torch.Tensor, freqs: torch.Tensor, *,
               interleaved: bool = False) -> torch.Tensor:
    """Rotate pair i of the vector at position m by the angle ``m * theta_i``.

    Args:
        x: ``[B, H, T, D]`` queries or keys, floating point, D even.
        positions: ``[T]`` or ``[B, T]`` positions, integer or fractional (position
            interpolation uses fractions).
        freqs: ``[D/2]`` frequencies from :func:`rope_frequencies`.
        interleaved: False (default) pairs ``(x[i], x[i + D/2])``, the GPT-NeoX / Llama
            layout; True pairs ``(x[2i], x[2i + 1])``, the layout of the RoFormer paper.

    Returns:
        ``[B, H, T, D]`` in x's dtype. Angles are formed in float64 (``m * theta`` loses
        digits in float32 at long positions); half precision is rotated in float32.
    """
    x, positions, freqs = _check_rope_args(x, positions, freqs)
    B, H, T, D = x.shape
    work = torch.promote_types(x.dtype, torch.float32)
    angles = positions.to(torch.float64)[..., None] * freqs.to(torch.float64)  # [T, D/2] or [B, T, D/2]
    if angles.dim() == 3:
        angles = angles[:, None]  # [B, 1, T, D/2]: same positions for every head
    if interleaved:
        angles = angles.repeat_interleave(2, dim=-1)  # [.., D]: theta_0, theta_0, theta_1, ...
        xw = x.to(work)
        x_even, x_odd = xw[..., 0::2], xw[..., 1::2]  # each [B, H, T, D/2]
        turned = torch.stack((-x_odd, x_even), dim=-1).flatten(-2)  # [B, H, T, D]: (-x1, x0, -x3, x2, ...)
    else:
        angles = torch.cat((angles, angles), dim=-1)  # [.., D]: theta_0 .. theta_{D/2-1} twice
        xw = x.to(work)
        turned = _rotate_half(xw)  # [B, H, T, D]
    cos, sin = angles.cos().to(work), angles.sin().to(work)
    return (xw * cos + turned * sin).to(x.dtype)  # (a, b) -> (a cos - b sin, a sin + b cos)
# --8<-- [end:apply-rope]


# --8<-- [start:apply-rope-complex]
def apply_rope_complex(x: torch.Tensor, positions: torch.Tensor, freqs: torch.Tensor, *,
                       interleaved: bool = False) -> torch.Tensor:
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
# --8<-- [end:apply-rope-complex]


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
        raise ValueError(f"positions must have shape [T] = [{T}] or [B, T] = [{B}, {T}], "
                         f"got {tuple(positions.shape)}")
    freqs = _check_freqs(freqs)
    if freqs.shape[0] != D // 2:
        raise ValueError(f"freqs must have D/2 = {D // 2} entries for head dim {D}, got {freqs.shape[0]}")
    return x, positions, freqs


# ----------------------------------------------------------------------------- context extension

# --8<-- [start:position-interpolation]
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
    return freqs / s
# --8<-- [end:position-interpolation]


# --8<-- [start:ntk-base]
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
    return base * s ** (D / (D - 2))
# --8<-- [end:ntk-base]


# --8<-- [start:yarn]
def yarn_ramp(r: torch.Tensor, alpha: float = 1.0, beta: float = 32.0) -> torch.Tensor:
    """YaRN's gamma(r): 0 below alpha, 1 above beta, linear in r between.

    r is the number of turns a pair makes over the trained length, ``L / wavelength``.
    """
    return ((r - alpha) / (beta - alpha)).clamp(0.0, 1.0)


def yarn_frequencies(freqs: torch.Tensor, factor: float, original_length: int, *,
                     alpha: float = 1.0, beta: float = 32.0) -> torch.Tensor:
    """YaRN's "NTK-by-parts" frequencies, ``(1 - gamma) * theta / s + gamma * theta``.

    Args:
        freqs: ``[D/2]`` trained frequencies theta_i.
        factor: s = L'/L >= 1.
        original_length: L, the trained context length.
        alpha: lower ramp end, in turns over L (the paper's default for Llama: 1).
        beta: upper ramp end, in turns over L (the paper's default for Llama: 32).

    Returns:
        ``[D/2]``: pairs with many turns over L (short wavelength, local detail) keep theta;
        pairs with under one turn are interpolated by s; a linear ramp in r between. The
        paper's released code ramps over the pair index between rounded bounds instead,
        which gives slightly different values in the ramp.
    """
    freqs = _check_freqs(freqs)
    scaling = RopeScaling("yarn", factor, original_length, alpha, beta)  # validates the numbers
    r = scaling.original_length / (2 * math.pi / freqs.to(torch.float64))  # [D/2] turns over L
    gamma = yarn_ramp(r, scaling.alpha, scaling.beta)  # [D/2]
    return (1 - gamma) * freqs / scaling.factor + gamma * freqs


def yarn_attention_factor(factor: float) -> float:
    """YaRN's ``sqrt(1/t) = 0.1 * ln(s) + 1``: multiply q and k (both) by it.

    The logits are then multiplied by 1/t, a sharper softmax that offsets the entropy
    rise of interpolated positions. 1 at s = 1.
    """
    s = _check_number("factor", factor, low=1.0, inclusive=True)
    return 0.1 * math.log(s) + 1.0
# --8<-- [end:yarn]


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
def rotation_angles(head_dim: int, train_length: int, new_length: int, *, base: float = 10000.0,
                    scaling: RopeScaling | None = None) -> RotationAngles:
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
    max_train = trained * (train_length - 1)  # [D/2]
    return RotationAngles(freqs_train=trained, freqs_new=new, wavelength=2 * math.pi / trained,
                          max_angle_train=max_train, max_angle_new=new * (new_length - 1),
                          full_turn_in_training=max_train >= 2 * math.pi)
# --8<-- [end:rotation-angles]
