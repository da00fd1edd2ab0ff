"""Argument checks shared by the ``longctx.kv`` modules; each error names the argument."""

from __future__ import annotations

import torch

from longctx._checks import nonneg_int, positive_int  # noqa: F401  (re-exported to kv/)


def float_tensor(name: str, t: object, dims: int) -> torch.Tensor:
    """Check that ``t`` is a floating-point tensor with ``dims`` dimensions."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if t.dim() != dims:
        raise ValueError(f"{name} must have {dims} dims, got shape {tuple(t.shape)}")
    return t
