"""Feature maps phi for linear attention: elu+1, relu, and Performer's positive random features.

Shape legend (as in ``longctx.attention.reference``):
    x     [..., D]        any leading dims (usually [B, H, len, D]), D head dim
    phi(x) [..., F]       F features; F == D for elu+1 and relu, F == m for FAVOR+
    W     [m, D]          FAVOR+ projection rows

Linear attention replaces the softmax weight ``exp(q . k)`` by a kernel ``phi(q) . phi(k)``.
Once the weight factorises, ``phi(q) (phi(k)^T v)`` can be computed without the T x S matrix.

* ``elu_feature``: ``elu(x) + 1`` (Katharopoulos et al., 2020, arXiv:2006.16236), positive.
* ``relu_feature``: ``max(x, 0)``, non-negative; a query can miss every key (weight 0).
* ``FavorFeatures``: FAVOR+ (Choromanski et al., 2020/ICLR 2021, arXiv:2009.14794),
  ``phi(x) = exp(W x - |x|^2 / 2) / sqrt(m)``. Its features are positive exponentials, not
  sines and cosines: ``E[phi(x) . phi(y)] = exp(x . y)`` exactly, and every estimate of a
  softmax weight is positive, which trigonometric features do not guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral

import torch
import torch.nn.functional as F

from longctx import checks

__all__ = [
    "FEATURE_MAPS",
    "FavorFeatures",
    "elu_feature",
    "favor_features",
    "gaussian_rows",
    "orthogonal_gaussian",
    "relu_feature",
    "resolve_feature_map",
]


# --8<-- [start:elu-feature]
import torch
import torch.nn.functional as F


def elu_feature(x: torch.Tensor) -> torch.Tensor:
    """``elu(x) + 1``: x + 1 for x > 0, exp(x) otherwise; always > 0.

    Args:
        x: ``[..., D]`` floating tensor.

    Returns:
        ``[..., D]``, same dtype. Positive everywhere, so the weights never cancel.
    """
    return F.elu(x) + 1.0


# --8<-- [end:elu-feature]


def relu_feature(x: torch.Tensor) -> torch.Tensor:
    """``max(x, 0)``: ``[..., D] -> [..., D]``, same dtype. Zero on negative entries."""
    return F.relu(x)


#: Feature maps that ``linear_attention_*`` accept by name.
FEATURE_MAPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "elu": elu_feature,
    "relu": relu_feature,
}


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    """A CPU generator from exactly one of ``seed`` / ``generator`` (seed 0 when both are None)."""
    if seed is not None and generator is not None:
        raise ValueError(f"seed must be None when a generator is given, got seed={seed!r}")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    seed = 0 if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    return torch.Generator().manual_seed(int(seed))


# --8<-- [start:orthogonal-gaussian]
import math

import torch


def gaussian_rows(m: int, d: int, generator: torch.Generator, orthogonal: bool = True) -> torch.Tensor:
    """``m`` random rows in ``R^d``, each marginally ``N(0, I_d)``, orthogonal in blocks of ``d``.

    With ``orthogonal=True`` the rows within a block of ``d`` are exactly orthogonal (the Q of a
    Gaussian matrix's QR, signs fixed so Q is uniformly random), and each row gets the length of
    an independent Gaussian vector (chi-distributed with d degrees of freedom), so every row
    still has the law of a Gaussian vector. The last block is cut to fit ``m``. With
    ``orthogonal=False`` the rows are i.i.d. Gaussian.

    Returns:
        ``[m, d]`` float64 on the CPU.
    """
    if not orthogonal:
        return torch.randn(m, d, generator=generator, dtype=torch.float64)
    n_blocks = math.ceil(m / d)
    g = torch.randn(n_blocks, d, d, generator=generator, dtype=torch.float64)  # [n_blocks, d, d]
    q, r = torch.linalg.qr(g)  # q [n_blocks, d, d], orthonormal columns in each block
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]  # sign fix: Haar-distributed q
    w = q.transpose(-2, -1).reshape(n_blocks * d, d)[:m]  # [m, d]: unit rows, orthogonal per block
    lengths = torch.randn(m, d, generator=generator, dtype=torch.float64).norm(dim=1)  # [m] ~ chi_d
    return w * lengths[:, None]  # [m, d]


# --8<-- [end:orthogonal-gaussian]


def orthogonal_gaussian(
    m: int,
    d: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    orthogonal: bool = True,
) -> torch.Tensor:
    """``m`` random projection rows in ``R^d``, each marginally ``N(0, I_d)`` (:func:`gaussian_rows`).

    Args:
        m: number of rows (random features), ``m >= 1``.
        d: dimension, ``d >= 1``.
        seed: seeds a fresh CPU generator (default 0 when ``generator`` is None too).
        generator: a ``torch.Generator`` to draw from instead (advanced by the call).
        orthogonal: block-orthogonal rows (FAVOR+) or i.i.d. rows.

    Returns:
        ``[m, d]`` float64 on the CPU; cast it where it is used.
    """
    m, d = checks.positive_int("m", m), checks.positive_int("d", d)
    return gaussian_rows(m, d, _generator(seed, generator), checks.flag("orthogonal", orthogonal))


# --8<-- [start:favor-features]
import math

import torch


def favor_features(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """FAVOR+ positive random features: ``phi(x) = exp(W x - |x|^2 / 2) / sqrt(m)``.

    Args:
        x: ``[..., D]`` floating tensor.
        w: ``[m, D]`` projection rows (e.g. :func:`gaussian_rows`).

    Returns:
        ``[..., m]`` positive features in the dtype of ``x``; ``phi(x) . phi(y)`` estimates
        ``exp(x . y)`` without bias.
    """
    w = w.to(device=x.device, dtype=x.dtype)  # [m, D]
    proj = x @ w.T  # [..., m]: w_i . x for every row i
    half_sq = 0.5 * (x * x).sum(dim=-1, keepdim=True)  # [..., 1]: |x|^2 / 2
    return torch.exp(proj - half_sq) / math.sqrt(w.shape[0])  # [..., m]


# --8<-- [end:favor-features]


class FavorFeatures:
    """FAVOR+ positive random features: ``phi(x) = exp(W x - |x|^2 / 2) / sqrt(m)``.

    ``phi(x) . phi(y)`` is an unbiased estimate of ``exp(x . y)``. For softmax attention
    with scale ``1/sqrt(D)``, scale q and k by ``D**-0.25`` each before the map
    (``performer_attention`` does that).

    No stabiliser is subtracted in the exponent: this is the reference form. Inputs whose
    squared norm is in the hundreds overflow or underflow float32.

    Args:
        head_dim: D, the size of the last dim of the inputs.
        num_features: m, the number of random features (``F`` of the output).
        seed: seeds the draw of ``W`` (default 0); the same seed gives the same ``W``.
        generator: draw ``W`` from this ``torch.Generator`` instead of ``seed``.
        orthogonal: block-orthogonal rows (default, FAVOR+) or i.i.d. Gaussian rows.

    Attributes:
        weights: ``[m, D]`` float64 projection rows.
    """

    def __init__(
        self,
        head_dim: int,
        num_features: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        orthogonal: bool = True,
    ) -> None:
        self.head_dim = checks.positive_int("head_dim", head_dim)
        self.num_features = checks.positive_int("num_features", num_features)
        self.orthogonal = checks.flag("orthogonal", orthogonal)
        self.weights = orthogonal_gaussian(
            self.num_features, self.head_dim, seed=seed, generator=generator, orthogonal=self.orthogonal
        )

    def __repr__(self) -> str:
        return (
            f"FavorFeatures(head_dim={self.head_dim}, num_features={self.num_features}, "
            f"orthogonal={self.orthogonal})"
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., D] -> [..., m]`` positive features, in the dtype of ``x`` (:func:`favor_features`)."""
        checks.float_tensor("x", x)
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"x must have a last dim of head_dim = {self.head_dim}, got {x.shape[-1]}")
        return favor_features(x, self.weights)


def resolve_feature_map(feature_map: object) -> Callable[[torch.Tensor], torch.Tensor]:
    """The callable for ``feature_map``: a name in ``FEATURE_MAPS`` or a callable itself.

    Raises:
        ValueError: an unknown name.
        TypeError: neither a string nor a callable.
    """
    if isinstance(feature_map, str):
        if feature_map not in FEATURE_MAPS:
            raise ValueError(
                f"feature_map must be one of {sorted(FEATURE_MAPS)} or a callable, got {feature_map!r}"
            )
        return FEATURE_MAPS[feature_map]
    if callable(feature_map):
        return feature_map
    raise TypeError(f"feature_map must be a name or a callable, got {type(feature_map).__name__}")
