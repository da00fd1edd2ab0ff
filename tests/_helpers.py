"""What the tests share: a relative error, a comparison that names what it compares, q/k/v, and a
loader of the scripts and hooks that live in no package.

Import as ``from _helpers import assert_close, random_qkv, rel_rms`` (pytest puts ``tests/`` on
the path). Layout ``[B, H, T, D]`` for q and ``[B, H_kv, S, D]`` / ``[B, H_kv, S, Dv]`` for k, v.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import torch

__all__ = ["assert_close", "load_module", "random_qkv", "rel_rms"]


def load_module(name: str, path: Path) -> ModuleType:
    """The file ``path`` (a script, hook or conftest: none is in a package) imported as ``name``, once.

    The module is kept in ``sys.modules`` under ``name`` (dataclasses look their module up there),
    and a later call with the same name returns it without running the file again.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def rel_rms(got: torch.Tensor, want: torch.Tensor) -> float:
    """``rms(got - want) / rms(want)``, in float64 (0 when both are zero)."""
    diff = got.double() - want.double()
    scale = want.double().pow(2).mean().sqrt().clamp_min(1e-300)
    return float(diff.pow(2).mean().sqrt() / scale)


def assert_close(name: str, want: torch.Tensor, got: torch.Tensor, tol: float) -> None:
    """Fail, naming ``name`` and the measured error, unless ``rel_rms(got, want) <= tol``.

    Shapes must match exactly; NaN or infinity in ``got`` where ``want`` is finite fails.
    """
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    finite = torch.isfinite(want)
    assert torch.isfinite(got[finite]).all(), f"{name}: non-finite values where the reference is finite"
    err = rel_rms(got[finite], want[finite])
    assert err <= tol, f"{name}: relative RMS error {err:.3g} > {tol:.3g}"


def random_qkv(
    B: int,
    H: int,
    H_kv: int,
    T: int,
    S: int,
    D: int,
    Dv: int | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    mult: float = 1.0,
    device: str = "cpu",
    requires_grad: bool = False,
) -> list[torch.Tensor]:
    """q ``[B, H, T, D]``, k ``[B, H_kv, S, D]``, v ``[B, H_kv, S, Dv]``: standard normal, drawn in
    float64 in that order from one generator seeded with ``seed``, q and k times ``mult``, then
    rounded to ``dtype`` (so every dtype sees the same numbers)."""
    gen = torch.Generator().manual_seed(seed)
    Dv = D if Dv is None else Dv
    q = torch.randn(B, H, T, D, generator=gen, dtype=torch.float64) * mult
    k = torch.randn(B, H_kv, S, D, generator=gen, dtype=torch.float64) * mult
    v = torch.randn(B, H_kv, S, Dv, generator=gen, dtype=torch.float64)
    return [t.to(device=device, dtype=dtype).requires_grad_(requires_grad) for t in (q, k, v)]
