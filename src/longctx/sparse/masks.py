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
attention, ``(-1, 0)`` is causal, ``(w, 0)`` is a causal window of ``w + 1`` keys (itself and
w before it), ``(w, w)`` is a band of ``2w + 1`` keys.

These are references: they build the whole ``[T, S]`` tensor, which is fine for pictures,
tests and lessons, and is exactly what a sparse kernel avoids.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch

from longctx.attention.reference import causal_mask as _causal_mask

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


# ----------------------------------------------------------------------------- argument checks


def _int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _lengths(T: object, S: object) -> tuple[int, int]:
    return _int("T", T, 1), _int("S", S, 1)


def _window(window_size: object, name: str = "window_size") -> tuple[int, int]:
    """``(left, right)``, each ``-1`` (unbounded) or ``>= 0``."""
    if not isinstance(window_size, (tuple, list)) or len(window_size) != 2:
        raise TypeError(f"{name} must be a pair (left, right), got {window_size!r}")
    sides = []
    for side, value in zip(("left", "right"), window_size):
        v = _int(f"{name} {side}", value, -1)  # -1 passes here, -2 and below do not
        sides.append(v)
    return sides[0], sides[1]


def _global_indices(global_idx: object, S: int) -> list[int]:
    """The global positions as a list of ints in ``[0, S)``."""
    if isinstance(global_idx, torch.Tensor):
        if global_idx.dtype.is_floating_point or global_idx.dtype.is_complex or global_idx.dtype == torch.bool:
            raise TypeError(f"global_idx must hold integers, got a tensor of {global_idx.dtype}")
        if global_idx.dim() != 1:
            raise ValueError(f"global_idx must be 1-D, got shape {tuple(global_idx.shape)}")
        global_idx = global_idx.tolist()
    if isinstance(global_idx, (str, bytes)) or not isinstance(global_idx, Sequence):
        raise TypeError(f"global_idx must be a sequence of integers, got {type(global_idx).__name__}")
    out = []
    for g in global_idx:
        g = _int("global_idx entry", g, 0)
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
        raise ValueError(f"{name} must be a non-empty square [T, T] mask to compose over layers, "
                         f"got shape {tuple(mask.shape)}")
    return mask


# --8<-- [start:positions]
def _positions(T: int, S: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Query positions ``p [T, 1]`` (bottom-right aligned) and key positions ``j [1, S]``."""
    p = torch.arange(T, device=device)[:, None] + (S - T)  # [T, 1]
    j = torch.arange(S, device=device)[None, :]  # [1, S]
    return p, j
# --8<-- [end:positions]


# ----------------------------------------------------------------------------- the patterns


def causal_mask(T: int, S: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Causal mask ``[T, S]`` (bool): query i sees keys ``j <= i + S - T``.

    The same mask as :func:`longctx.attention.causal_mask`, with its arguments checked.
    Equal to ``sliding_window_mask(T, S, (-1, 0))``.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor. When ``T > S`` the first ``T - S`` rows are all False.
    """
    T, S = _lengths(T, S)
    return _causal_mask(T, S, device)


# --8<-- [start:sliding-window]
def sliding_window_mask(T: int, S: int, window_size: tuple[int, int], *,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """Sliding-window (local) mask ``[T, S]``: query p sees keys ``p - left <= j <= p + right``.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        window_size: ``(left, right)``, FlashAttention's convention: how many keys before
            and after the query's own position it sees; ``-1`` means no limit on that side.
            ``(w, 0)`` is a causal window of ``w + 1`` keys, ``(w, w)`` a band of ``2w + 1``.
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor, query positions aligned bottom-right (``p = i + S - T``).
    """
    T, S = _lengths(T, S)
    left, right = _window(window_size)
    p, j = _positions(T, S, device)  # [T, 1], [1, S]
    keep = torch.ones(T, S, dtype=torch.bool, device=device)
    if left != -1:
        keep &= j >= p - left  # no further back than `left`
    if right != -1:
        keep &= j <= p + right  # no further ahead than `right`
    return keep
# --8<-- [end:sliding-window]


# --8<-- [start:dilated-window]
def dilated_window_mask(T: int, S: int, window_size: tuple[int, int], dilation: int, *,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """Dilated sliding window (Longformer): ``left``/``right`` keys per side, ``dilation`` apart.

    Query p sees keys ``j = p - k * dilation`` for ``k = 0..left`` and ``j = p + k * dilation``
    for ``k = 0..right``. A side of ``-1`` is unbounded (every ``dilation``-th key that way).
    ``dilation=1`` gives :func:`sliding_window_mask`.

    Convention. Here ``window_size`` counts keys *per side*, as in the sliding window. The
    Longformer paper (Beltagy et al., 2020, arXiv:2004.05150, section 3.1) calls the *total*
    window w, half on each side; its pattern is ``dilated_window_mask(T, S, (w // 2, w // 2), d)``.
    One layer then spans ``w * d`` positions and ``l`` layers span ``l * w * d``.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        window_size: ``(left, right)`` keys per side, each ``>= 0`` or ``-1``.
        dilation: gap between attended keys, ``>= 1`` (1 = no gaps).
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor, bottom-right aligned.
    """
    T, S = _lengths(T, S)
    left, right = _window(window_size)
    dilation = _int("dilation", dilation, 1)
    p, j = _positions(T, S, device)  # [T, 1], [1, S]
    back = p - j  # [T, S]: how far key j lies before the query (negative: after it)
    keep = back % dilation == 0  # only every dilation-th key
    if left != -1:
        keep &= back <= left * dilation
    if right != -1:
        keep &= -back <= right * dilation
    return keep
# --8<-- [end:dilated-window]


# --8<-- [start:global-local]
def global_local_mask(T: int, S: int, global_idx: Sequence[int] | torch.Tensor,
                      window_size: tuple[int, int], *,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """Longformer's global + local attention as one mask ``[T, S]``.

    A sliding window (``window_size``, see :func:`sliding_window_mask`) plus a few global
    positions: every query attends every global key (a column of True), and a query whose
    position is global attends every key (a row of True).

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        global_idx: global positions in ``[0, S)`` (key positions; query i is global when
            ``i + S - T`` is among them). A list of ints or a 1-D integer tensor; may be empty.
        window_size: ``(left, right)`` of the local window, ``-1`` = unbounded.
        device: where to build it (default: the CPU).

    Returns:
        ``[T, S]`` bool tensor. Not causal; ``& causal_mask(T, S)`` makes it so.
    """
    T, S = _lengths(T, S)
    glob = _global_indices(global_idx, S)
    keep = sliding_window_mask(T, S, window_size, device=device)
    is_global = torch.zeros(S, dtype=torch.bool, device=device)  # [S]
    is_global[glob] = True
    p, _ = _positions(T, S, device)  # [T, 1]
    row_global = is_global[p.clamp(min=0)] & (p >= 0)  # [T, 1]; positions < 0 are not in the keys
    return keep | is_global[None, :] | row_global  # [T, S]
# --8<-- [end:global-local]


# --8<-- [start:bigbird]
def bigbird_mask(T: int, S: int, window_size: tuple[int, int], global_idx: Sequence[int] | torch.Tensor,
                 num_random: int, *, seed: int | None = None, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """BigBird: window + global + ``num_random`` random keys per query row.

    The window and global parts are :func:`global_local_mask`. Then each query row gets
    ``num_random`` extra keys drawn uniformly, without replacement, from the keys it does not
    already see (fewer if fewer are left). Zaheer et al. (2020, arXiv:2007.14062) pick random
    *blocks* of keys so the GPU works on tiles; this is the token-level version of the pattern.

    Args:
        T: number of queries, ``>= 1``.
        S: number of keys, ``>= 1``.
        window_size: ``(left, right)`` of the local window, ``-1`` = unbounded.
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
    num_random = _int("num_random", num_random, 0)
    if seed is not None and generator is not None:
        raise ValueError("give seed or generator, not both")
    if generator is None:
        generator = torch.Generator().manual_seed(_int("seed", 0 if seed is None else seed, 0))
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    keep = global_local_mask(T, S, global_idx, window_size)  # [T, S] on the CPU
    # A random score per entry; ranking iid uniforms gives a uniform random subset per row.
    score = torch.rand(T, S, generator=generator)  # [T, S] in [0, 1)
    score = score.masked_fill(keep, -1.0)  # keys already seen are never drawn
    top = score.topk(min(num_random, S), dim=1)  # values/indices [T, r]
    extra = torch.zeros(T, S, dtype=torch.bool).scatter_(1, top.indices, top.values >= 0)  # [T, S]
    return (keep | extra).to(device)  # picks of already-seen keys (value -1) add nothing
# --8<-- [end:bigbird]


# --8<-- [start:strided]
def strided_mask(T: int, S: int, stride: int, *, part: str = "both",
                 device: torch.device | str | None = None) -> torch.Tensor:
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
    stride = _int("stride", stride, 1)
    if part not in ("both", "local", "stride"):
        raise ValueError(f"part must be 'both', 'local' or 'stride', got {part!r}")
    p, j = _positions(T, S, device)  # [T, 1], [1, S]
    back = p - j  # [T, S]: distance back from the query
    local = back < stride
    strided = back % stride == 0
    keep = {"both": local | strided, "local": local, "stride": strided}[part]
    return keep & (back >= 0)  # causal
# --8<-- [end:strided]


# ----------------------------------------------------------------------------- reach over layers


# --8<-- [start:compose-masks]
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
    T = masks[0].shape[0]
    if any(m.shape != masks[0].shape for m in masks):
        raise ValueError(f"masks must all have the same shape, got {[tuple(m.shape) for m in masks]}")
    eye = torch.eye(T, dtype=torch.bool, device=masks[0].device)
    reach = eye
    for m in masks:
        hop = (m | eye) if residual else m
        # Boolean matrix product via float counts (exact: a count is at most T < 2**24).
        reach = (hop.float() @ reach.float()) > 0  # [T, T]: new layer on top of the old reach
    return reach
# --8<-- [end:compose-masks]


# --8<-- [start:receptive-field]
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
    layers = _int("layers", layers, 1)
    _check_square_mask(mask, "mask")
    return compose_masks([mask] * layers, residual=residual)
# --8<-- [end:receptive-field]
