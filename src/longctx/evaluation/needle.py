"""A toy needle-in-a-haystack test: where can a memory of each kind still find one planted fact?

Shape legend (one haystack; the attention calls add ``[B=1, H=1]`` in front, as in
``longctx.attention.reference``):
    keys     [n, d]      n haystack positions, d key dim; random unit vectors
    values   [n, d_v]    d_v value dim; random unit vectors
    needles  [m]         long, the positions of the m planted facts
    queries  [m, d]      one question per needle: the needle's own key
    readout  [m, d_v]    what a model returns for each question

The test (after G. Kamradt's needle in a haystack, Nov 2023): plant a fact at a chosen *depth*
(0 = the first position, 1 = the last) of a context of a chosen *length*, ask for it, and map
the answers over depth and length. Here the context is not text: every position holds a random
key and value, the needle is one of them, and the question is the needle's key read from the
end of the context. A readout is decoded to the stored value it has the largest dot product with
(``longctx.recall.decode``); the answer is right when that is the needle's value. A guess is
right with probability ``1/n``.

The models answer with what they keep of the context, written by hand (no training):

* ``full``: softmax attention over every key (``attention_ref``; the cache grows with n).
* ``window``: the same attention restricted to the last ``window`` positions
  (``sliding_window_mask``): what one layer of sliding-window attention can see.
* ``sinks``: the window plus the first ``sinks`` positions (``global_local_mask``), the shape of
  StreamingLLM's cache (attention sinks + recent window).
* ``linear``: linear attention's state ``S = sum_j k_j v_j^T`` (identity feature map,
  ``linear_attention_ref``): d x d_v numbers whatever n is; every other pair adds crosstalk.
* ``decay``: the same state with each older pair faded by ``gamma`` per step,
  ``S = sum_j gamma^(n-1-j) k_j v_j^T``: the state a selective SSM keeps when it writes every
  token with a constant decay (as in ``longctx.recall.ssm_readout``).

What it shows: the shape of a depth x length map follows from what a memory keeps. A window
forgets everything beyond its reach, a fixed-size state blurs as n grows, a decaying state
favours the end, sinks + window keep both ends and lose the middle. What it does not show:
how trained language models behave. Their maps (Kamradt's GPT-4 Turbo test, the U-shaped
position effect of Liu et al., 2023, arXiv:2307.03172) come from learned weights over real
text; the toy's U shape is built in by the mask, not evidence for any cause of theirs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import torch

from longctx._checks import positive_int as _positive_int
from longctx.attention.reference import attention_ref
from longctx.linear.reference import linear_attention_ref
from longctx.recall.mqar import decode, trial_seed
from longctx.sparse.masks import global_local_mask, sliding_window_mask

__all__ = [
    "MODELS",
    "MODEL_LABELS",
    "Haystack",
    "NeedleConfig",
    "make_haystack",
    "memory_elements",
    "multi_needle_table",
    "needle_depths",
    "needle_figure",
    "needle_grid",
    "needle_grid_rows",
    "needle_position",
    "needle_readout",
    "needle_recall",
    "needle_summary",
]

#: The models compared, in the order of the figure's panels.
MODELS = ("full", "window", "sinks", "linear", "decay")

#: Names the figure and the page use.
MODEL_LABELS = {
    "full": "full softmax attention",
    "window": "sliding window",
    "sinks": "sinks + window",
    "linear": "linear attention state",
    "decay": "decaying state (SSM-like)",
}

#: Context lengths and depths of the site's grid (the page, the figure and the notebook use them).
GRID_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)
GRID_DEPTHS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _depth(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__} {value!r}")
    if not (0.0 <= float(value) <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _model(model: object) -> str:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return model


@dataclass(frozen=True)
class NeedleConfig:
    """How each model reads (one set of settings for a whole grid).

    Attributes:
        dim: d, the key dim, also the state's rows (default 32).
        value_dim: d_v, the value dim (default 32).
        scale: softmax inverse temperature for ``full``, ``window`` and ``sinks`` (default 50.0:
            keys are unit vectors, so the needle scores ``scale`` and a random key about
            ``scale / sqrt(d)``; a large scale makes the pick nearly one-hot).
        window: positions a ``window`` or ``sinks`` query sees at the end, itself included
            (default 256).
        sinks: first positions ``sinks`` always sees (default 64).
        decay: gamma in (0, 1], the fade per step of ``decay`` (default 0.98).
    """

    dim: int = 32
    value_dim: int = 32
    scale: float = 50.0
    window: int = 256
    sinks: int = 64
    decay: float = 0.98

    def __post_init__(self):
        _positive_int("dim", self.dim)
        _positive_int("value_dim", self.value_dim)
        _positive_int("window", self.window)
        _int("sinks", self.sinks, 0)
        for name in ("scale", "decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise TypeError(f"{name} must be a finite number, got {value!r}")
        if self.scale <= 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")
        if not (0 < self.decay <= 1):
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")


def _config(config: object) -> NeedleConfig:
    if config is None:
        return NeedleConfig()
    if not isinstance(config, NeedleConfig):
        raise TypeError(f"config must be a NeedleConfig, got {type(config).__name__}")
    return config


@dataclass(frozen=True)
class Haystack:
    """One context of random pairs with needles planted in it.

    Attributes:
        keys: ``[n, d]`` unit keys.
        values: ``[n, d_v]`` unit values.
        needles: ``[m]`` long, the needles' positions (distinct).
    """

    keys: torch.Tensor
    values: torch.Tensor
    needles: torch.Tensor

    @property
    def length(self) -> int:
        return self.keys.shape[0]

    @property
    def queries(self) -> torch.Tensor:
        """``[m, d]``: the questions, each a needle's own key."""
        return self.keys[self.needles]


# --8<-- [start:needle-position]
def needle_position(length: int, depth: float) -> int:
    """The position a needle at ``depth`` takes in a context of ``length``: ``round(depth (n - 1))``.

    Depth 0 is the first position, depth 1 the last (the one the question is read from).

    Args:
        length: n, ``>= 1``.
        depth: in ``[0, 1]``.

    Returns:
        An int in ``[0, n)``.
    """
    n = _positive_int("length", length)
    return int(round(_depth("depth", depth) * (n - 1)))
# --8<-- [end:needle-position]


def needle_depths(count: int) -> tuple[float, ...]:
    """``count`` depths spread evenly from 0 to 1 (both ends included when count > 1).

    Args:
        count: how many needles, ``>= 1``; one needle sits at depth 0.5.

    Returns:
        A tuple of floats in ``[0, 1]``.
    """
    m = _positive_int("count", count)
    return (0.5,) if m == 1 else tuple(i / (m - 1) for i in range(m))


# --8<-- [start:make-haystack]
def make_haystack(length: int, depths: Sequence[float] | float, *, dim: int = 32, value_dim: int = 32,
                  seed: int = 0, dtype: torch.dtype = torch.float64) -> Haystack:
    """A context of ``length`` random unit key/value pairs with needles at ``depths``.

    Every position holds a fresh random pair, so a needle differs from the hay only by where it
    is and by being asked for. Keys and values are drawn from one ``torch.Generator`` seeded
    with ``seed``.

    Args:
        length: n, ``>= 1``.
        depths: one depth or a sequence of depths in ``[0, 1]``; their positions
            (:func:`needle_position`) must be distinct.
        dim: d (default 32).
        value_dim: d_v (default 32).
        seed: the generator's seed (default 0).
        dtype: floating dtype (default float64).

    Returns:
        A :class:`Haystack`.
    """
    n = _positive_int("length", length)
    d, dv = _positive_int("dim", dim), _positive_int("value_dim", value_dim)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    depth_list = [depths] if isinstance(depths, Real) else depths
    if isinstance(depth_list, (str, bytes)) or not isinstance(depth_list, Sequence) or not depth_list:
        raise TypeError(f"depths must be a number or a non-empty sequence of numbers, got {depths!r}")
    positions = [needle_position(n, x) for x in depth_list]
    if len(set(positions)) != len(positions):
        raise ValueError(f"depths {list(depth_list)} put two needles at one position in a context of {n}")
    gen = torch.Generator().manual_seed(_int("seed", seed, 0))
    keys = torch.randn(n, d, generator=gen, dtype=torch.float64)  # [n, d]
    values = torch.randn(n, dv, generator=gen, dtype=torch.float64)  # [n, d_v]
    keys = keys / keys.norm(dim=1, keepdim=True)  # unit keys: the needle's own score is exactly 1
    values = values / values.norm(dim=1, keepdim=True)
    return Haystack(keys.to(dtype), values.to(dtype), torch.tensor(positions, dtype=torch.long))
# --8<-- [end:make-haystack]


# --8<-- [start:needle-readout]
def needle_readout(model: str, hay: Haystack, config: NeedleConfig | None = None) -> torch.Tensor:
    """What ``model`` returns for each question of ``hay``, asked from the last position.

    Args:
        model: one of :data:`MODELS`.
        hay: a :class:`Haystack`.
        config: the models' settings (default ``NeedleConfig()``).

    Returns:
        ``[m, d_v]`` readout in the haystack's dtype.
    """
    model, cfg = _model(model), _config(config)
    if not isinstance(hay, Haystack):
        raise TypeError(f"hay must be a Haystack (see make_haystack), got {type(hay).__name__}")
    n, m = hay.length, hay.needles.shape[0]
    q = hay.queries[None, None]  # [1, 1, m, d]: every question sits at the last position
    k = hay.keys[None, None]  # [1, 1, n, d]
    v = hay.values[None, None]  # [1, 1, n, d_v]
    if model in ("full", "window", "sinks"):
        mask = None  # full: every key
        if model == "window":  # the last `window` keys: (window - 1) back, none ahead
            mask = sliding_window_mask(1, n, (cfg.window - 1, 0))  # [1, n]
        elif model == "sinks":  # ... and the first `sinks` keys
            mask = global_local_mask(1, n, list(range(min(cfg.sinks, n))), (cfg.window - 1, 0))  # [1, n]
        if mask is not None:
            mask = mask.expand(m, n)  # [m, n]: the same reach for every question
        return attention_ref(q, k, v, scale=cfg.scale, mask=mask)[0, 0]  # [m, d_v]
    if model == "decay":  # fading the key of pair j by gamma^(n-1-j) fades its write into S
        age = torch.arange(n - 1, -1, -1, dtype=hay.keys.dtype)  # [n]: n-1 ... 0
        k = k * (cfg.decay ** age)[:, None]  # [1, 1, n, d]
    return linear_attention_ref(q, k, v, causal=False, feature_map=lambda x: x, normalize=False)[0, 0]
# --8<-- [end:needle-readout]


def memory_elements(model: str, length: int, config: NeedleConfig | None = None) -> int:
    """Numbers ``model`` keeps to answer about a context of ``length``.

    ``full``: every key and value, ``n (d + d_v)``; ``window``: ``min(n, window) (d + d_v)``;
    ``sinks``: the keys and values of the window and the sinks (counted once each);
    ``linear`` and ``decay``: the state, ``d d_v``, whatever n is.

    Args:
        model: one of :data:`MODELS`.
        length: n, ``>= 1``.
        config: the settings (default ``NeedleConfig()``).

    Returns:
        The count, an int.
    """
    model, cfg, n = _model(model), _config(config), _positive_int("length", length)
    pair = cfg.dim + cfg.value_dim
    if model == "full":
        return n * pair
    if model == "window":
        return min(n, cfg.window) * pair
    if model == "sinks":
        return min(n, cfg.window + cfg.sinks) * pair
    return cfg.dim * cfg.value_dim


def _hits(model: str, hay: Haystack, cfg: NeedleConfig) -> torch.Tensor:
    return decode(needle_readout(model, hay, cfg), hay.values) == hay.needles  # [m] bool


# --8<-- [start:needle-recall]
def needle_recall(model: str, length: int, depths: Sequence[float] | float, *, trials: int = 4, seed: int = 0,
                  config: NeedleConfig | None = None) -> float:
    """Fraction of needles ``model`` finds, over ``trials`` fresh haystacks.

    Trial t draws its haystack with ``seed=trial_seed(seed, length, t)``, so every model and
    every depth at one length meets the same hay.

    Args:
        model: one of :data:`MODELS`.
        length: n.
        depths: the needles' depths (one number: a single needle).
        trials: haystacks averaged, ``>= 1`` (default 4).
        seed: base seed (default 0).
        config: the settings (default ``NeedleConfig()``).

    Returns:
        A float in ``[0, 1]``.
    """
    model, cfg = _model(model), _config(config)
    found = 0.0
    for t in range(_positive_int("trials", trials)):
        hay = make_haystack(length, depths, dim=cfg.dim, value_dim=cfg.value_dim,
                            seed=trial_seed(seed, length, t))
        found += _hits(model, hay, cfg).double().mean().item()
    return found / trials
# --8<-- [end:needle-recall]


def _sequence(name: str, values: object, check) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty sequence, got {values!r}")
    return [check(name, v) for v in values]


@functools.lru_cache(maxsize=32)
def _grids(lengths: tuple[int, ...], depths: tuple[float, ...], trials: int, seed: int,
           cfg: NeedleConfig) -> dict[str, tuple[tuple[float, ...], ...]]:
    """Every model's map at once: one haystack per (length, trial) carries a needle at every depth.

    A question's readout depends only on the hay and its own needle (questions do not interact),
    so asking all depths of one haystack gives what separate haystacks with one needle each,
    drawn with the same seed, give: :func:`needle_recall` cell by cell (tested).
    """
    found = {m: [[0.0] * len(lengths) for _ in depths] for m in MODELS}
    for j, n in enumerate(lengths):
        for t in range(trials):
            hay = make_haystack(n, list(depths), dim=cfg.dim, value_dim=cfg.value_dim, seed=trial_seed(seed, n, t))
            for m in MODELS:
                hits = _hits(m, hay, cfg)  # [len(depths)] bool
                for i in range(len(depths)):
                    found[m][i][j] += float(hits[i]) / trials
    return {m: tuple(tuple(row) for row in grid) for m, grid in found.items()}


def needle_grid(model: str, lengths: Sequence[int] = GRID_LENGTHS, depths: Sequence[float] = GRID_DEPTHS, *,
                trials: int = 4, seed: int = 0, config: NeedleConfig | None = None) -> list[list[float]]:
    """The depth x length map of one model: ``grid[i][j]`` is the recall at ``depths[i]``, ``lengths[j]``.

    Each cell equals :func:`needle_recall` ``(model, lengths[j], depths[i], ...)``: one needle,
    ``trials`` haystacks. Each length must be long enough to give every depth its own position.

    Args:
        model: one of :data:`MODELS`.
        lengths: context lengths, positive ints (default :data:`GRID_LENGTHS`).
        depths: depths in ``[0, 1]`` (default :data:`GRID_DEPTHS`).
        trials: haystacks per cell (default 4).
        seed: base seed (default 0).
        config: the settings (default ``NeedleConfig()``).

    Returns:
        A list (one per depth) of lists (one per length) of floats in ``[0, 1]``.
    """
    model, cfg = _model(model), _config(config)
    ns = tuple(_sequence("lengths", lengths, _positive_int))
    ds = tuple(_sequence("depths", depths, _depth))
    grid = _grids(ns, ds, _positive_int("trials", trials), _int("seed", seed, 0), cfg)[model]
    return [list(row) for row in grid]


def needle_grid_rows(model: str = "sinks", lengths: Sequence[int] = GRID_LENGTHS,
                     depths: Sequence[float] = GRID_DEPTHS, *, trials: int = 4, seed: int = 0) -> list[dict]:
    """:func:`needle_grid` as table rows for a page: ``depth`` and ``n<length>`` for each length.

    Args:
        model: one of :data:`MODELS` (default ``"sinks"``).
        lengths: context lengths n, as in :func:`needle_grid` (default :data:`GRID_LENGTHS`).
        depths: needle depths in [0, 1], as in :func:`needle_grid` (default :data:`GRID_DEPTHS`).
        trials: haystacks per cell (default 4).
        seed: base seed (default 0).

    Returns:
        One dict per depth: ``depth`` (float) and, for each n, ``f"n{n}"`` (recall, float).
    """
    grid = needle_grid(model, lengths, depths, trials=trials, seed=seed)
    return [{"depth": float(x), **{f"n{n}": row[j] for j, n in enumerate(lengths)}} for x, row in zip(depths, grid)]


def needle_summary(length: int = 4096, *, trials: int = 4, seed: int = 0) -> list[dict]:
    """One row per model at one length: memory kept and recall at the start, middle and end.

    Depth buckets use the grid's depths: start = 0.0 and 0.1, middle = 0.4 to 0.6, end = 0.9
    and 1.0; ``mean`` is over all of :data:`GRID_DEPTHS`.

    Args:
        length: n (default 4096).
        trials: haystacks per depth (default 4).
        seed: base seed (default 0).

    Returns:
        One dict per model: ``model`` (label, str), ``memory`` (numbers kept, int), ``start``,
        ``middle``, ``end`` and ``mean`` (recall, floats).
    """
    n = _positive_int("length", length)
    buckets = {"start": (0.0, 0.1), "middle": (0.4, 0.5, 0.6), "end": (0.9, 1.0)}
    grids = _grids((n,), GRID_DEPTHS, _positive_int("trials", trials), _int("seed", seed, 0), NeedleConfig())
    rows = []
    for model in MODELS:
        recall = {x: grids[model][i][0] for i, x in enumerate(GRID_DEPTHS)}
        row = {"model": MODEL_LABELS[model], "memory": memory_elements(model, n)}
        for name, ds in buckets.items():
            row[name] = sum(recall[x] for x in ds) / len(ds)
        row["mean"] = sum(recall.values()) / len(recall)
        rows.append(row)
    return rows


# --8<-- [start:multi-needle]
def multi_needle_table(needles: int = 8, lengths: Sequence[int] = (512, 2048, 8192), *, trials: int = 4,
                       seed: int = 0) -> list[dict]:
    """Several needles in one haystack, all asked for: the mean recall and the rate of finding all.

    The needles sit at :func:`needle_depths` ``(needles)``; one question per needle, all read
    from the last position over the same memory.

    Args:
        needles: m, ``>= 1`` (default 8).
        lengths: context lengths (default 512, 2048, 8192).
        trials: haystacks per length (default 4).
        seed: base seed (default 0).

    Returns:
        One dict per (length, model): ``length`` (int), ``model`` (label), ``recall`` (mean
        fraction of needles found) and ``all_found`` (fraction of trials that found every one).
    """
    depths = needle_depths(needles)
    cfg = NeedleConfig()
    rows = []
    for n in _sequence("lengths", lengths, _positive_int):
        for model in MODELS:
            recall = all_found = 0.0
            for t in range(_positive_int("trials", trials)):
                hay = make_haystack(n, depths, dim=cfg.dim, value_dim=cfg.value_dim, seed=trial_seed(seed, n, t))
                hits = _hits(model, hay, cfg)  # [m] bool
                recall += hits.double().mean().item()
                all_found += float(hits.all())
            rows.append({"length": n, "model": MODEL_LABELS[model], "recall": recall / trials,
                         "all_found": all_found / trials})
    return rows
# --8<-- [end:multi-needle]


def needle_figure(lengths: Sequence[int] = GRID_LENGTHS, depths: Sequence[float] = GRID_DEPTHS, *,
                  trials: int = 4, seed: int = 0) -> str:
    """SVG: one depth x length heat map per model, green where the needle is found, red where not.

    Args:
        lengths: context lengths n, as in :func:`needle_grid` (default :data:`GRID_LENGTHS`).
        depths: needle depths in [0, 1], as in :func:`needle_grid` (default :data:`GRID_DEPTHS`).
        trials: haystacks per cell (default 4).
        seed: base seed (default 0).

    Returns:
        An SVG document (str) with ``<text>`` labels and no date (reproducible).
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "longctx"  # stable ids: the same file on every build
    plt.rcParams["svg.fonttype"] = "none"  # labels stay <text>
    cfg = NeedleConfig()
    fig, grid_axes = plt.subplots(2, 3, figsize=(10.5, 7.2), constrained_layout=True)
    axes = list(grid_axes.flat)
    labels = [f"{n // 1024}K" if n % 1024 == 0 else str(n) for n in lengths]
    for ax, model in zip(axes, MODELS):
        grid = needle_grid(model, lengths, depths, trials=trials, seed=seed, config=cfg)
        image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto", origin="upper")
        ax.set_xticks(range(len(lengths)), labels, fontsize=9)
        ax.set_yticks(range(len(depths)), [f"{round(100 * x)}%" for x in depths], fontsize=9)
        ax.set_title(f"{MODEL_LABELS[model]}\nkeeps {memory_elements(model, max(lengths), cfg):,} numbers at n = "
                     f"{max(lengths):,}", fontsize=10)
        ax.set_xlabel("context length n", fontsize=9)
        ax.set_ylabel("needle depth", fontsize=9)
    axes[-1].axis("off")  # the sixth cell holds the colour scale and the settings
    fig.colorbar(image, cax=axes[-1].inset_axes([0.02, 0.08, 0.06, 0.84]), label="needles found (0 to 1)")
    axes[-1].text(0.4, 0.5, f"d = d_v = {cfg.dim}\nwindow = {cfg.window}\nsinks = {cfg.sinks}\n"
                  f"decay = {cfg.decay}\n{trials} haystacks per cell\n\ndepth 0% = first position,\n"
                  f"100% = last (where the\nquestion is asked)", transform=axes[-1].transAxes, va="center", fontsize=9)
    fig.suptitle("Toy needle in a haystack: where each memory finds the needle", fontsize=12)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()
