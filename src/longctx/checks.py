"""Argument checks for every public ``longctx`` function, with one message style.

Each check either returns the value in its normal form or raises ``TypeError`` (wrong kind of
thing) or ``ValueError`` (right kind, wrong value) with the message
``"<arg> must be <expected>, got <what was passed>"``. Plain Python and ``torch`` only: no other
``longctx`` import, so any module may use it.

Numbers and flags:
    positive_int(name, value) -> int           an int >= 1 (bool refused)
    nonneg_int(name, value) -> int             an int >= 0 (bool refused)
    int_at_least(name, value, minimum) -> int  an int >= minimum (bool refused)
    power_of_two(name, value, low, high) -> int  a power of two in [low, high]
    positive_real(name, value) -> float        a finite real > 0 (str and bool refused)
    finite_real(name, value) -> float          a finite real (str and bool refused)
    flag(name, value) -> bool                  exactly True or False (1, 0 and None refused)

Attention arguments:
    attention_scale(scale, head_dim) -> float  None -> 1 / sqrt(head_dim), else positive_real
    window_pair(window, name="window") -> (left, right)
        None -> (-1, -1); else a pair of ints, each >= 0 or -1 for unbounded on that side.
        FlashAttention's ``window_size``: query i (at key position i' = i + S - T) sees keys
        ``i' - left <= j <= i' + right``.
    qkv(q, k, v, *, nonempty=False) -> None
        q [B, H, T, D], k [B, H_kv, S, D], v [B, H_kv, S, Dv]: tensors of one floating dtype
        on one device, H a multiple of H_kv; ``nonempty`` also requires T, S, D >= 1.
    attention_mask(mask, shape) -> Tensor      bool (True = keep) or float, broadcastable to shape

Tensors:
    tensor(name, t, *, dims=None) -> Tensor    a torch.Tensor, with ``dims`` dimensions if given
    float_tensor(name, t, dims=None) -> Tensor a floating-point tensor (any float dtype)
    tensor_dtype(name, t, allowed) -> Tensor   its dtype is one of ``allowed``
    complex_or_float_tensor(name, t, dims=None) -> Tensor  a floating-point or complex tensor
    shape(name, t, expected, legend="") -> Tensor  exactly the shape ``expected``

Decorator:
    arguments(**checkers)  check named arguments before the call: ``checker(name, value)``
        returns the value in its normal form (or raises), and the function gets that form.
        Lets a formula shown on a page stay free of checks (the decorator sits above the
        page's section), while the package's function still checks every call.
    optional(check)        a checker that lets None through and checks anything else
    same_device(**tensors) -> torch.device     all on one device
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real

import torch

__all__ = [
    "arguments",
    "optional",
    "attention_mask",
    "attention_scale",
    "complex_or_float_tensor",
    "finite_real",
    "flag",
    "float_tensor",
    "int_at_least",
    "nonneg_int",
    "positive_int",
    "positive_real",
    "power_of_two",
    "qkv",
    "same_device",
    "shape",
    "tensor",
    "tensor_dtype",
    "window_pair",
]


def _what(value: object) -> str:
    """How a message names a wrong-type value: its type and its repr, kept short."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


# ---------------------------------------------------------------- numbers and flags


def int_at_least(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int ``>= minimum``, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {_what(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int ``>= 1``, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive integer, got {_what(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def nonneg_int(name: str, value: object) -> int:
    """Return ``value`` as an int ``>= 0``, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {_what(value)}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def power_of_two(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` as an int that is a power of two in ``[low, high]``."""
    bound = f"from {low} to {high}" if high is not None else f">= {low}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a power of two {bound}, got {_what(value)}")
    v = int(value)
    if v < low or (high is not None and v > high) or v & (v - 1):
        raise ValueError(f"{name} must be a power of two {bound}, got {v}")
    return v


def finite_real(name: str, value: object) -> float:
    """Return ``value`` as a finite float; ``str`` and ``bool`` are refused."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {_what(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v}")
    return v


def positive_real(name: str, value: object) -> float:
    """Return ``value`` as a finite float ``> 0``; ``str`` and ``bool`` are refused."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a positive real number, got {_what(value)}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number, got {v}")
    return v


def flag(name: str, value: object) -> bool:
    """Return ``value`` if it is exactly ``True`` or ``False`` (``1``, ``0``, ``None`` refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False), got {_what(value)}")
    return value


# ---------------------------------------------------------------- attention arguments


def attention_scale(scale: object, head_dim: int) -> float:
    """``None`` -> ``1 / sqrt(head_dim)``; otherwise ``scale`` as a positive finite float."""
    if scale is None:
        return 1.0 / math.sqrt(head_dim) if head_dim > 0 else 1.0
    return positive_real("scale", scale)


def window_pair(window: object, name: str = "window") -> tuple[int, int]:
    """``None`` -> ``(-1, -1)``; otherwise ``(left, right)``, each an int ``>= 0`` or ``-1``.

    FlashAttention's ``window_size``: query ``i`` at key position ``i'`` sees keys
    ``i' - left <= j <= i' + right``; ``-1`` leaves that side unbounded.
    """
    if window is None:
        return (-1, -1)
    if isinstance(window, (str, bytes)) or not isinstance(window, Sequence) or len(window) != 2:
        raise TypeError(f"{name} must be None or a pair (left, right) of ints, got {_what(window)}")
    sides = []
    for side, w in zip(("left", "right"), window):
        if isinstance(w, bool) or not isinstance(w, Integral):
            raise TypeError(f"{name} {side} must be an int >= 0, or -1 for unbounded, got {_what(w)}")
        if w < -1:
            raise ValueError(f"{name} {side} must be an int >= 0, or -1 for unbounded, got {w}")
        sides.append(int(w))
    return sides[0], sides[1]


def qkv(q: object, k: object, v: object, *, nonempty: bool = False) -> None:
    """Check ``q [B, H, T, D]``, ``k [B, H_kv, S, D]``, ``v [B, H_kv, S, Dv]`` (GQA: ``H % H_kv == 0``).

    Any floating dtype (float64 included) and any head dim; one dtype and one device for all
    three. With ``nonempty=True``, ``T``, ``S`` and ``D`` must also be at least 1.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        tensor(name, t, dims=4)
        if not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    same_device(q=q, k=k, v=v)
    B, H, T, D = q.shape
    if k.shape[0] != B or v.shape[0] != B:
        raise ValueError(f"k and v must have q's batch size {B}, got batch {k.shape[0]} and {v.shape[0]}")
    if k.shape[1] != v.shape[1] or k.shape[2] != v.shape[2]:
        raise ValueError(f"k and v must agree on [B, H_kv, S], got {tuple(k.shape)} and {tuple(v.shape)}")
    if k.shape[3] != D:
        raise ValueError(f"k must have q's head dim {D}, got {k.shape[3]}")
    if k.shape[1] == 0 or H % k.shape[1] != 0:
        raise ValueError(f"k's heads H_kv must divide q's heads H={H}, got H_kv={k.shape[1]}")
    if nonempty:
        if T == 0:
            raise ValueError(f"q must hold at least one query position (T >= 1), got shape {tuple(q.shape)}")
        if k.shape[2] == 0:
            raise ValueError(
                f"k and v must hold at least one key position (S >= 1), got shape {tuple(k.shape)}"
            )
        if D == 0:
            raise ValueError(f"q and k must have a head dim D >= 1, got shape {tuple(q.shape)}")


def attention_mask(mask: object, shape: tuple[int, ...]) -> torch.Tensor:
    """Check a mask: bool (True = keep) or additive float, broadcastable to ``shape``."""
    tensor("mask", mask)
    if mask.dtype != torch.bool and not mask.dtype.is_floating_point:
        raise TypeError(f"mask must be boolean (True = keep) or an additive float tensor, got {mask.dtype}")
    try:
        ok = torch.broadcast_shapes(mask.shape, shape) == torch.Size(shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"mask must broadcast to {tuple(shape)}, got shape {tuple(mask.shape)}")
    return mask


# ---------------------------------------------------------------- tensors


def tensor(name: str, t: object, *, dims: int | None = None) -> torch.Tensor:
    """Check that ``t`` is a ``torch.Tensor`` (with ``dims`` dimensions when given)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if dims is not None and t.dim() != dims:
        raise ValueError(f"{name} must have {dims} dims, got shape {tuple(t.shape)}")
    return t


def float_tensor(name: str, t: object, dims: int | None = None) -> torch.Tensor:
    """Check that ``t`` is a floating-point tensor (with ``dims`` dimensions when given)."""
    tensor(name, t, dims=dims)
    if not t.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    return t


def complex_or_float_tensor(name: str, t: object, dims: int | None = None) -> torch.Tensor:
    """Check that ``t`` is a floating-point or complex tensor (with ``dims`` dimensions when given)."""
    tensor(name, t, dims=dims)
    if not (t.dtype.is_floating_point or t.dtype.is_complex):
        raise TypeError(f"{name} must be a floating-point or complex tensor, got {t.dtype}")
    return t


def shape(name: str, t: torch.Tensor, expected: Sequence[int], legend: str = "") -> torch.Tensor:
    """Check that tensor ``t`` has exactly the shape ``expected`` (``legend`` names its dims, e.g. ``"[B, D, L]"``)."""
    if tuple(t.shape) != tuple(expected):
        what = f"{legend} = {tuple(expected)}" if legend else f"{tuple(expected)}"
        raise ValueError(f"{name} must have shape {what}, got {tuple(t.shape)}")
    return t


def tensor_dtype(name: str, t: object, allowed: Sequence[torch.dtype]) -> torch.Tensor:
    """Check that ``t`` is a tensor whose dtype is one of ``allowed``."""
    tensor(name, t)
    if t.dtype not in tuple(allowed):
        names = ", ".join(str(d).removeprefix("torch.") for d in allowed)
        raise TypeError(f"{name} must have dtype {names}, got {t.dtype}")
    return t


def same_device(**tensors: torch.Tensor) -> torch.device:
    """Check that the given tensors live on one device; return it."""
    items = list(tensors.items())
    first_name, first = items[0]
    for name, t in items[1:]:
        if t.device != first.device:
            raise ValueError(f"{name} must be on {first_name}'s device {first.device}, got {t.device}")
    return first.device


# ---------------------------------------------------------------- decorator


def arguments(**checkers: Callable[[str, object], object]) -> Callable:
    """Check the named arguments of every call with ``checker(name, value)``, passing on what it returns.

    Example: ``@arguments(seq_len=positive_int, causal=flag)`` above ``def f(seq_len, *, causal=False)``.
    Arguments left at their defaults are checked too. A name that is not a parameter of the
    decorated function is a programming error, reported when the module is imported.
    """

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        unknown = set(checkers) - set(signature.parameters)
        if unknown:
            raise TypeError(f"arguments: {fn.__qualname__} has no parameter {', '.join(sorted(unknown))}")

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, check in checkers.items():
                bound.arguments[name] = check(name, bound.arguments[name])
            return fn(*bound.args, **bound.kwargs)

        return checked

    return decorate


def optional(check: Callable[[str, object], object]) -> Callable[[str, object], object]:
    """A checker for :func:`arguments` that passes ``None`` through and applies ``check`` to anything else."""

    def check_unless_none(name: str, value: object) -> object:
        return None if value is None else check(name, value)

    return check_unless_none
