"""Sparse attention patterns as boolean masks, and how far they reach over layers.

Shape legend (as in :mod:`longctx.attention.reference`):
    q   [B, H, T, D]      T query positions
    k/v [B, H_kv, S, D]   S key positions
    mask [T, S]           bool, True where query i may attend key j; pass it as
                          ``attention_ref(q, k, v, mask=mask)`` (it broadcasts to [B, H, T, S])

Alignment. Every pattern here is aligned bottom-right, like the causal mask: query i sits at
position ``p = i + S - T`` of the key sequence, so the last query is level with the last key.
With ``T == S`` this is plain ``p = i``; with ``T < S`` it is decoding against a cache.
Distances are measured from ``p``: a key j is ``p - j`` positions back (negative: ahead).

Window convention (FlashAttention's ``window_size=(left, right)``): query p sees keys
``p - left <= j <= p + right``; ``-1`` means unbounded on that side. So ``(-1, -1)`` is full
attention, ``(-1, 0)`` is causal, ``(W - 1, 0)`` is a causal window of W keys (itself and the
W - 1 before it; Mistral 7B's W = 4,096 is ``(4095, 0)``), ``(w, w)`` is a band of ``2w + 1`` keys.

The causal and sliding-window masks themselves are built in one place,
:func:`longctx.attention.causal_mask` and :func:`longctx.attention.sliding_window_mask` (with
:func:`longctx.attention.reference.position_keep` under both); this module re-exports them
beside the other patterns.

These are references: they build the whole ``[T, S]`` tensor, which is fine for pictures,
tests and lessons, and is exactly what a sparse kernel avoids.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from longctx import checks
from longctx.attention.reference import causal_mask, position_keep, sliding_window_mask

__all__ = [
    "bigbird_mask",
    "causal_mask",
    "compose_masks",
    "dilated_window_mask",
    "global_local_mask",
    "receptive_field",
    "sliding_window_mask",
    "strided_mask",
]


def _lengths(T: object, S: object) -> tuple[int, int]:
    return checks.positive_int("T", T), checks.positive_int("S", S)


def _global_indices(global_idx: object, S: int) -> list[int]:
    """The global positions as a list of ints in ``[0, S)``."""
    if isinstance(global_idx, torch.Tensor):
        if (
            global_idx.dtype.is_floating_point
            or global_idx.dtype.is_complex
            or global_idx.dtype == torch.bool
        ):
            raise TypeError(f"global_idx must hold integers, got a tensor of {global_idx.dtype}")
        if global_idx.dim() != 1:
            raise ValueError(f"global_idx must be 1-D, got shape {tuple(global_idx.shape)}")
        global_idx = global_idx.tolist()
    if isinstance(global_idx, (str, bytes)) or not isinstance(global_idx, Sequence):
        raise TypeError(f"global_idx must be a sequence of integers, got {type(global_idx).__name__}")
    out = []
    for g in global_idx:
        g = checks.nonneg_int("global_idx entry", g)
        if g >= S:
            raise ValueError(f"global_idx entry {g} is out of range for S={S} keys (must be < S)")
        out.append(g)
    return out


def _check_square_mask(mask: object, name: str) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a boolean tensor, got {mask.dtype}")
    if mask.dim() != 2 or mask.shape[0] != mask.shape[1] or mask.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty square [T, T] mask to compose over layers, "
            f"got shape {tuple(mask.shape)}"
        )
    return mask


# --8<-- [start:dilated-window]
import torch


def dilated_window_keep(
    T: int, S: int, window: tuple[int, int], dilation: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Bool ``[T, S]``: query p sees keys ``p - k * dilation`` for ``k = 0..left`` and ``p + k * dilation`` for ``k = 0..right``."""
    left, right = window
    p = torch.arange(T, device=device)[:, None] + (S - T)  # [T, 1]: query positions, bottom-right
    back = p - torch.arange(S, device=device)[None, :]  # [T, S]: how far key j lies before the query
    keep = back % dilation == 0  # only every dilation-th key
    if left != -1:
        keep &= back <= left * dilation
    if right != -1:
        keep &= -back <= right * dilation
    return keep


# --8<-- [end:dilated-window]


def dilated_window_mask(
    T: int, S: int, window: tuple[int, int], dilation: int, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Dilated sliding window (Longformer): ``left``/``right`` keys per side, ``dilation`` apart.

    Query p sees keys ``j = p - k * dilation`` for ``k = 0..left`` and ``j = p + k * dilation``
    for ``k = 0..right``. A side of ``-1`` is unbounded (every ``dilation``-th key that way).
    ``dilation=1`` gives :func:`longctx.attention.sliding_window_mask`.

    Convention. Here ``window`` counts keys *per side*, as in the sliding window. The
    Longformer paper (Beltagy et al., 2020, arXiv:2004.05150, section 3.1) calls the *total*
    window w, half on each side; its pattern is ``dilated_window_mask(T, S, (w // 2, w // 2), d)``.
    One layer then spans ``w * d`` positions and ``l`` layers span ``l * w * d``.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        window: ``(left, right)`` keys per side, each ``>= 0`` or ``-1``.
        dilation: gap between attended keys, ``>= 1`` (1 = no gaps).
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor, bottom-right aligned.
    """
    T, S = _lengths(T, S)
    window = checks.window_pair(window)
    return dilated_window_keep(T, S, window, checks.positive_int("dilation", dilation), device)


# --8<-- [start:global-local]
import torch


def global_local_keep(
    T: int, S: int, global_idx: list[int], window: tuple[int, int], device: torch.device | str | None = None
) -> torch.Tensor:
    """Bool ``[T, S]``: a sliding window, plus every key and every query at a global position."""
    p = torch.arange(T, device=device) + (S - T)  # [T]: query positions, bottom-right
    keep = position_keep(p, torch.arange(S, device=device), window)  # [T, S]: the local window
    is_global = torch.zeros(S, dtype=torch.bool, device=device)  # [S]
    is_global[global_idx] = True
    row_global = is_global[p.clamp(min=0)] & (p >= 0)  # [T]; positions < 0 are not in the keys
    return keep | is_global[None, :] | row_global[:, None]  # [T, S]


# --8<-- [end:global-local]


def global_local_mask(
    T: int,
    S: int,
    global_idx: Sequence[int] | torch.Tensor,
    window: tuple[int, int],
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Longformer's global + local attention as one mask ``[T, S]``.

    A sliding window (``window``, see :func:`longctx.attention.sliding_window_mask`) plus a
    few global positions: every query attends every global key (a column of True), and a
    query whose position is global attends every key (a row of True).

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        global_idx: global positions in ``[0, S)`` (key positions; query i is global when
            ``i + S - T`` is among them). A list of ints or a 1-D integer tensor; may be empty.
        window: ``(left, right)`` of the local window, ``-1`` = unbounded.
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor. Not causal; ``& causal_mask(T, S)`` makes it so.
    """
    T, S = _lengths(T, S)
    glob = _global_indices(global_idx, S)
    return global_local_keep(T, S, glob, checks.window_pair(window), device)


# --8<-- [start:bigbird]
import torch


def bigbird_keep(
    T: int,
    S: int,
    window: tuple[int, int],
    global_idx: list[int],
    num_random: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Bool ``[T, S]`` on the CPU: window + global, then ``num_random`` unseen keys per row, drawn uniformly."""
    keep = global_local_keep(T, S, global_idx, window)  # [T, S]
    # A random score per entry; ranking iid uniforms gives a uniform random subset per row.
    score = torch.rand(T, S, generator=generator)  # [T, S] in [0, 1)
    score = score.masked_fill(keep, -1.0)  # keys already seen are never drawn
    top = score.topk(min(num_random, S), dim=1)  # values/indices [T, r]
    extra = torch.zeros(T, S, dtype=torch.bool).scatter_(1, top.indices, top.values >= 0)  # [T, S]
    return keep | extra  # picks of already-seen keys (value -1) add nothing


# --8<-- [end:bigbird]


def bigbird_mask(
    T: int,
    S: int,
    window: tuple[int, int],
    global_idx: Sequence[int] | torch.Tensor,
    num_random: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """BigBird: window + global + ``num_random`` random keys per query row.

    The window and global parts are :func:`global_local_mask`. Then each query row gets
    ``num_random`` extra keys drawn uniformly, without replacement, from the keys it does not
    already see (fewer if fewer are left). Zaheer et al. (2020, arXiv:2007.14062) pick random
    *blocks* of keys so the GPU works on tiles; this is the token-level version of the pattern.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        window: ``(left, right)`` of the local window, ``-1`` = unbounded.
        global_idx: global positions in ``[0, S)``, as in :func:`global_local_mask`.
        num_random: random keys added per query row, ``>= 0``.
        seed: seeds a fresh CPU generator; the same seed gives the same mask.
        generator: a ``torch.Generator`` to draw from instead (it advances). Give at most one
            of ``seed`` and ``generator``; with neither, ``seed=0``.
        device: where to put the mask (the draw happens on the CPU, so it is device-independent).

    Returns:
        ``[T, S]`` bool tensor.
    """
    T, S = _lengths(T, S)
    window = checks.window_pair(window)
    glob = _global_indices(global_idx, S)
    num_random = checks.nonneg_int("num_random", num_random)
    if seed is not None and generator is not None:
        raise ValueError("seed and generator must not both be given, got both")
    if generator is None:
        generator = torch.Generator().manual_seed(checks.nonneg_int("seed", 0 if seed is None else seed))
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return bigbird_keep(T, S, window, glob, num_random, generator).to(device)


# --8<-- [start:strided]
import torch


def strided_keep(
    T: int, S: int, stride: int, part: str = "both", device: torch.device | str | None = None
) -> torch.Tensor:
    """Bool ``[T, S]``, causal: the ``stride`` most recent keys (``"local"``), every ``stride``-th key back (``"stride"``), or both."""
    p = torch.arange(T, device=device)[:, None] + (S - T)  # [T, 1]: query positions, bottom-right
    back = p - torch.arange(S, device=device)[None, :]  # [T, S]: distance back from the query
    local = back < stride
    strided = back % stride == 0
    keep = {"both": local | strided, "local": local, "stride": strided}[part]
    return keep & (back >= 0)  # causal


# --8<-- [end:strided]


def strided_mask(
    T: int, S: int, stride: int, *, part: str = "both", device: torch.device | str | None = None
) -> torch.Tensor:
    """The Sparse Transformer's *strided* pattern (Child et al., 2019, arXiv:1904.10509).

    Causal, with stride l: query p sees key j (``j <= p``) when

    * ``p - j < l`` (``part="local"``: the l most recent keys, itself included), or
    * ``(p - j) % l == 0`` (``part="stride"``: every l-th key back, itself included).

    ``part="both"`` is the union, one head that does both. The paper also splits the two parts
    over heads or layers; two layers, one of each, connect every query to every earlier key.
    With ``l`` about ``sqrt(n)`` each row keeps about ``2 sqrt(n)`` keys.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        stride: l, ``>= 1``.
        part: ``"both"``, ``"local"`` or ``"stride"``.
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor, bottom-right aligned.
    """
    T, S = _lengths(T, S)
    stride = checks.positive_int("stride", stride)
    if part not in ("both", "local", "stride"):
        raise ValueError(f"part must be 'both', 'local' or 'stride', got {part!r}")
    return strided_keep(T, S, stride, part, device)


# ----------------------------------------------------------------------------- reach over layers


def compose_masks(masks: Sequence[torch.Tensor], *, residual: bool = True) -> torch.Tensor:
    """Which inputs each output position depends on after a stack of attention layers.

    Layer 1 uses ``masks[0]``, layer 2 ``masks[1]`` and so on. Output i of the stack reaches
    input j when a chain ``i -> k -> ... -> j`` exists, one hop per layer: the boolean product
    ``masks[-1] @ ... @ masks[0]``.

    Args:
        masks: one or more square ``[T, T]`` bool masks (all the same T).
        residual: add the identity to each layer (the residual stream carries a position's
            own state forward, so it always reaches itself). Default True.

    Returns:
        ``[T, T]`` bool tensor, True where output i depends on input j.
    """
    if isinstance(masks, torch.Tensor) or not isinstance(masks, Sequence) or len(masks) == 0:
        raise TypeError("masks must be a non-empty sequence of [T, T] bool tensors")
    masks = [_check_square_mask(m, f"masks[{n}]") for n, m in enumerate(masks)]
    if any(m.shape != masks[0].shape for m in masks):
        raise ValueError(f"masks must all have the same shape, got {[tuple(m.shape) for m in masks]}")
    return reach_through(masks, checks.flag("residual", residual))


# --8<-- [start:receptive-field]
import torch


def reach_through(masks: list[torch.Tensor], residual: bool = True) -> torch.Tensor:
    """Bool ``[T, T]``: output i of a stack of layers (``masks[0]`` first) depends on input j.

    One hop per layer: the boolean product ``masks[-1] @ ... @ masks[0]``. With ``residual``
    each layer also carries a position's own state forward (the identity is added).
    """
    eye = torch.eye(masks[0].shape[0], dtype=torch.bool, device=masks[0].device)
    reach = eye
    for m in masks:
        hop = (m | eye) if residual else m
        # Boolean matrix product via float counts (exact: a count is at most T < 2**24).
        reach = (hop.float() @ reach.float()) > 0  # [T, T]: new layer on top of the old reach
    return reach


# --8<-- [end:receptive-field]


def receptive_field(mask: torch.Tensor, layers: int, *, residual: bool = True) -> torch.Tensor:
    """Receptive field after ``layers`` layers of the same mask: a boolean matrix power.

    For a causal window ``(w, 0)`` query i reaches back ``layers * w`` positions.

    Args:
        mask: square ``[T, T]`` bool mask.
        layers: how many layers, ``>= 1``.
        residual: as in :func:`compose_masks`.

    Returns:
        ``[T, T]`` bool tensor, True where output i depends on input j.
    """
    layers = checks.positive_int("layers", layers)
    _check_square_mask(mask, "mask")
    return reach_through([mask] * layers, checks.flag("residual", residual))
