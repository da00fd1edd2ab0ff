"""Performer (FAVOR+): softmax attention estimated with positive random features, and its error.

Shape legend (as in ``longctx.attention.reference``):
    q   [B, H, T, D]      k [B, H_kv, S, D]      v [B, H_kv, S, Dv]      out [B, H, T, Dv]
    phi(q), phi(k)        [B, H, T, m], [B, H, S, m]  with m random features

Softmax attention weighs key j by ``exp(q . k_j / sqrt(D))``. Scaling q and k by ``D**-0.25``
each turns that into ``exp(q' . k'_j)``, which FAVOR+ features estimate without bias
(Choromanski et al., *Rethinking Attention with Performers*, arXiv:2009.14794). The estimate's
error shrinks like ``1/sqrt(m)``; ``performer_error_table`` measures it.

How many features are enough depends on the norms. One feature's estimate of ``exp(x . y)`` is
``exp(w . u - |x|^2/2 - |y|^2/2)`` with ``u = x + y`` and ``w ~ N(0, I)``; since
``E[exp(c w . u)] = exp(c^2 |u|^2 / 2)``, its relative variance is ``exp(|u|^2) - 1``, and the
mean of m features has ``(exp(|u|^2) - 1) / m``. Queries and keys with large norms need
exponentially many features: that is why the error table draws them with a small ``input_std``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch

from longctx import checks
from longctx.attention.reference import attention_ref
from longctx.linear.feature_maps import favor_features, orthogonal_gaussian
from longctx.linear.reference import _check_options, linear_chunked

__all__ = ["performer_attention", "performer_error_table", "performer_estimate", "relative_error"]


# --8<-- [start:performer-attention]
import torch


def performer_estimate(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    w: torch.Tensor,
    *,
    causal: bool = False,
    chunk_size: int = 64,
) -> torch.Tensor:
    """Softmax attention (scale ``1/sqrt(D)``) estimated with the FAVOR+ features of the rows ``w``.

    Args:
        q: ``[B, H, T, D]`` queries.
        k: ``[B, H, S, D]`` keys, one head per query head.
        v: ``[B, H, S, Dv]`` values.
        w: ``[m, D]`` random projection rows (:func:`gaussian_rows`).
        causal: query i sees keys ``j <= i`` (``T == S``).
        chunk_size: chunk length of :func:`linear_chunked`.

    Returns:
        ``[B, H, T, Dv]``, a random estimate of ``softmax(q k^T / sqrt(D)) v``.
    """
    quarter = q.shape[-1] ** -0.25  # q' . k' = q . k / sqrt(D)
    phi_q, phi_k = favor_features(q * quarter, w), favor_features(k * quarter, w)  # [B, H, *, m]
    out, _, _ = linear_chunked(phi_q, phi_k, v, causal=causal, chunk_size=chunk_size)
    return out


# --8<-- [end:performer-attention]


def performer_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    num_features: int = 256,
    causal: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    orthogonal: bool = True,
    chunk_size: int = 64,
) -> torch.Tensor:
    """Estimate ``attention_ref(q, k, v, causal=causal)`` (scale ``1/sqrt(D)``) with FAVOR+.

    Checks the arguments, draws the projection (:func:`orthogonal_gaussian`), gives every query
    head its key/value head, and calls :func:`performer_estimate` in float32 or wider.

    Args:
        q: ``[B, H, T, D]`` floating queries.
        k: ``[B, H_kv, S, D]`` keys, same dtype; ``H % H_kv == 0``.
        v: ``[B, H_kv, S, Dv]`` values, same dtype.
        num_features: m, random features (default 256).
        causal: query i sees keys ``j <= i`` (needs ``T == S``; default False).
        seed: seeds the random projection (default 0); same seed, same result.
        generator: draw the projection from this ``torch.Generator`` instead.
        orthogonal: block-orthogonal projections (FAVOR+, default) or i.i.d. Gaussian ones.
        chunk_size: chunk length of the causal form (default 64).

    Returns:
        ``[B, H, T, Dv]`` in the input dtype, a random estimate of softmax attention.
    """
    checks.qkv(q, k, v, nonempty=True)
    B, H, T, D = q.shape
    _check_options(T, k.shape[2], causal, True, 0.0)
    chunk_size = checks.positive_int("chunk_size", chunk_size)
    w = orthogonal_gaussian(
        checks.positive_int("num_features", num_features),
        D,
        seed=seed,
        generator=generator,
        orthogonal=orthogonal,
    )
    work = torch.promote_types(q.dtype, torch.float32)
    group = H // k.shape[1]
    k, v = (t.to(work).repeat_interleave(group, dim=1) for t in (k, v))  # [B, H, S, *]
    return performer_estimate(q.to(work), k, v, w, causal=causal, chunk_size=chunk_size).to(q.dtype)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """``||approx - exact||_F / ||exact||_F`` over the whole tensor, in float64."""
    exact = exact.double()
    return float((approx.double() - exact).norm() / exact.norm())


def performer_error_table(
    num_features: Sequence[int] = (16, 32, 64, 128, 256, 512, 1024),
    *,
    seeds: Sequence[int] = range(8),
    batch: int = 1,
    heads: int = 2,
    seq_len: int = 128,
    head_dim: int = 16,
    input_std: float = 0.5,
    causal: bool = False,
    orthogonal: bool = True,
    data_seed: int = 0,
) -> list[dict]:
    """Performer's error against softmax attention as the number of random features grows.

    One fixed input of shape ``[batch, heads, seq_len, head_dim]`` in float64, drawn from
    ``data_seed``: q and k with entries ``N(0, input_std^2)``, v with ``N(0, 1)``. For each m,
    one Performer estimate per projection seed in ``seeds``, each scored with
    ``relative_error`` against ``attention_ref`` (same ``causal``). ``orthogonal`` picks
    block-orthogonal (FAVOR+) or i.i.d. projections. With ``input_std = 1`` the scaled
    queries and keys have ``|x|^2 = sqrt(head_dim)`` on average and far more features are
    needed (see the module docstring).

    Returns:
        One dict per m, in the order given: ``num_features`` (m), ``seeds`` (how many),
        ``mean_rel_error``, ``min_rel_error``, ``max_rel_error`` (floats, not rounded).
    """
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, Integral) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    ms = [checks.positive_int("num_features", m) for m in num_features]
    if not ms:
        raise ValueError("num_features must name at least one m")
    shape = (
        checks.positive_int("batch", batch),
        checks.positive_int("heads", heads),
        checks.positive_int("seq_len", seq_len),
        checks.positive_int("head_dim", head_dim),
    )
    input_std = checks.positive_real("input_std", input_std)
    gen = torch.Generator().manual_seed(data_seed)
    q, k, v = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(3))  # [B, H, T, D]
    q, k = q * input_std, k * input_std
    exact = attention_ref(q, k, v, causal=causal)  # [B, H, T, D], scale 1/sqrt(D)
    rows = []
    for m in ms:
        errs = [
            relative_error(
                performer_attention(q, k, v, num_features=m, causal=causal, seed=s, orthogonal=orthogonal),
                exact,
            )
            for s in seeds
        ]
        rows.append(
            {
                "num_features": m,
                "seeds": len(errs),
                "mean_rel_error": sum(errs) / len(errs),
                "min_rel_error": min(errs),
                "max_rel_error": max(errs),
            }
        )
    return rows
