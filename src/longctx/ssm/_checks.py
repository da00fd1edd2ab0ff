"""Argument checks shared by the SSM references: each error names the offending argument."""

from __future__ import annotations

import torch


def tensor(name: str, t: object, ndim: int, legend: str, *, allow_complex: bool = False) -> torch.Tensor:
    """``t`` must be a floating (or, if allowed, complex) tensor with ``ndim`` dims."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    ok = t.dtype.is_floating_point or (allow_complex and t.dtype.is_complex)
    if not ok:
        kind = "floating-point or complex" if allow_complex else "floating-point"
        raise TypeError(f"{name} must be a {kind} tensor, got {t.dtype}")
    if t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dims {legend}, got shape {tuple(t.shape)}")
    return t


def same_shape(name: str, t: torch.Tensor, shape: tuple[int, ...], legend: str) -> None:
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {legend} = {tuple(shape)}, got {tuple(t.shape)}")


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def work_dtype(*ts: torch.Tensor | None) -> torch.dtype:
    """float64 if any input is double precision, else float32 (half inputs are computed in float32)."""
    wide = any(t is not None and t.dtype in (torch.float64, torch.complex128) for t in ts)
    return torch.float64 if wide else torch.float32


def complex_of(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64
