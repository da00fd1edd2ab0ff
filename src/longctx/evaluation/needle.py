"""A toy needle-in-a-haystack test: where can a memory of each kind still find one planted fact?

Shape legend (one haystack, a :class:`~longctx.recall.tasks.KVTask` whose ``index`` holds the needles):
    keys     [n, d]      n haystack positions, d key dim; random unit vectors
    values   [n, d_v]    d_v value dim; random unit vectors
    index    [m]         long, the positions of the m planted facts (the needles)
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

The memories are the ones :mod:`longctx.recall` answers associative recall with
(:mod:`longctx.recall.memories`):

* ``full``: softmax attention over every key (the cache grows with n).
* ``window``: the same attention restricted to the last ``window`` positions: what one layer of
  sliding-window attention can see.
* ``sinks``: the window plus the first ``sinks`` positions, the shape of StreamingLLM's cache
  (attention sinks + recent window).
* ``linear``: linear attention's state ``S = sum_j k_j v_j^T`` (identity feature map): d x d_v
  numbers whatever n is; every other pair adds crosstalk.
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
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import torch

from longctx.checks import int_at_least, positive_int, positive_real
from longctx.recall.memories import softmax_memory, state_memory, window_keep
from longctx.recall.tasks import KVTask, check_task, recalled, trial_seed, unit_pairs

__all__ = [
    "MODELS",
    "MODEL_LABELS",
    "NeedleConfig",
    "make_haystack",
    "memory_elements",
    "multi_needle_table",
    "needle_depths",
    "needle_figure",
    "needle_grid",
    "needle_grid_rows",
    "needle_memory",
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
        positive_int("dim", self.dim)
        positive_int("value_dim", self.value_dim)
        positive_int("window", self.window)
        int_at_least("sinks", self.sinks, 0)
        positive_real("scale", self.scale)
        if not (0 < positive_real("decay", self.decay) <= 1):
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")


def _config(config: object) -> NeedleConfig:
    if config is None:
        return NeedleConfig()
    if not isinstance(config, NeedleConfig):
        raise TypeError(f"config must be a NeedleConfig, got {type(config).__name__}")
    return config


def needle_position(length: int, depth: float) -> int:
    """The position a needle at ``depth`` takes in a context of ``length``: ``round(depth (n - 1))``.

    Depth 0 is the first position, depth 1 the last (the one the question is read from).

    Args:
        length: n, ``>= 1``.
        depth: in ``[0, 1]``.

    Returns:
        An int in ``[0, n)``.
    """
    n = positive_int("length", length)
    return int(round(_depth("depth", depth) * (n - 1)))


def needle_depths(count: int) -> tuple[float, ...]:
    """``count`` depths spread evenly from 0 to 1 (both ends included when count > 1).

    Args:
        count: how many needles, ``>= 1``; one needle sits at depth 0.5.

    Returns:
        A tuple of floats in ``[0, 1]``.
    """
    m = positive_int("count", count)
    return (0.5,) if m == 1 else tuple(i / (m - 1) for i in range(m))


def make_haystack(
    length: int,
    depths: Sequence[float] | float,
    *,
    dim: int = 32,
    value_dim: int = 32,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> KVTask:
    """A context of ``length`` random unit key/value pairs with needles at ``depths``.

    Every position holds a fresh random pair (:func:`~longctx.recall.tasks.unit_pairs`), so a
    needle differs from the hay only by where it is and by being asked for. Keys and values are
    drawn from one ``torch.Generator`` seeded with ``seed``.

    Args:
        length: n, ``>= 1``.
        depths: one depth or a sequence of depths in ``[0, 1]``; their positions
            (:func:`needle_position`) must be distinct.
        dim: d (default 32).
        value_dim: d_v (default 32).
        seed: the generator's seed (default 0).
        dtype: floating dtype (default float64).

    Returns:
        A :class:`~longctx.recall.tasks.KVTask`: ``keys [n, d]``, ``values [n, d_v]`` and
        ``index [m]``, the needles' positions.
    """
    n = positive_int("length", length)
    d, dv = positive_int("dim", dim), positive_int("value_dim", value_dim)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    depth_list = [depths] if isinstance(depths, Real) else depths
    if isinstance(depth_list, (str, bytes)) or not isinstance(depth_list, Sequence) or not depth_list:
        raise TypeError(f"depths must be a number or a non-empty sequence of numbers, got {depths!r}")
    positions = [needle_position(n, x) for x in depth_list]
    if len(set(positions)) != len(positions):
        raise ValueError(f"depths {list(depth_list)} put two needles at one position in a context of {n}")
    keys, values = unit_pairs(n, d, dv, torch.Generator().manual_seed(int_at_least("seed", seed, 0)))
    return KVTask(keys.to(dtype), values.to(dtype), torch.tensor(positions, dtype=torch.long))


# --8<-- [start:needle-readout]
import torch


def needle_memory(
    model: str,
    queries,
    keys,
    values,
    *,
    scale: float = 50.0,
    window: int = 256,
    sinks: int = 64,
    decay: float = 0.98,
):
    """What a memory of kind ``model`` returns for each query, asked from the last of the n positions.

    ``full``, ``window`` and ``sinks`` are softmax attention over the pairs their cache keeps;
    ``linear`` and ``decay`` read a fixed-size state, without and with fading.
    """
    n = keys.shape[0]
    if model == "full":
        return softmax_memory(queries, keys, values, scale=scale)  # [m, d_v]
    if model in ("window", "sinks"):  # the last `window` keys, and the first `sinks` for sinks
        keep = window_keep(n, window=window, sinks=sinks if model == "sinks" else 0)  # [n]
        return softmax_memory(queries, keys, values, scale=scale, keep=keep)
    return state_memory(queries, keys, values, decay=decay if model == "decay" else 1.0)


# --8<-- [end:needle-readout]


def needle_readout(model: str, hay: KVTask, config: NeedleConfig | None = None) -> torch.Tensor:
    """What ``model`` returns for each question of ``hay``, asked from the last position.

    Args:
        model: one of :data:`MODELS`.
        hay: a haystack from :func:`make_haystack`.
        config: the models' settings (default ``NeedleConfig()``).

    Returns:
        ``[m, d_v]`` readout in the haystack's dtype (:func:`needle_memory`).
    """
    model, cfg, hay = _model(model), _config(config), check_task(hay)
    return needle_memory(
        model,
        hay.queries,
        hay.keys,
        hay.values,
        scale=cfg.scale,
        window=cfg.window,
        sinks=cfg.sinks,
        decay=cfg.decay,
    )


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
    model, cfg, n = _model(model), _config(config), positive_int("length", length)
    pair = cfg.dim + cfg.value_dim
    if model == "full":
        return n * pair
    if model == "window":
        return min(n, cfg.window) * pair
    if model == "sinks":
        return min(n, cfg.window + cfg.sinks) * pair
    return cfg.dim * cfg.value_dim


def _hits(model: str, hay: KVTask, cfg: NeedleConfig) -> torch.Tensor:
    return recalled(needle_readout(model, hay, cfg), hay)  # [m] bool


def needle_recall(
    model: str,
    length: int,
    depths: Sequence[float] | float,
    *,
    trials: int = 4,
    seed: int = 0,
    config: NeedleConfig | None = None,
) -> float:
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
    for t in range(positive_int("trials", trials)):
        hay = make_haystack(
            length, depths, dim=cfg.dim, value_dim=cfg.value_dim, seed=trial_seed(seed, length, t)
        )
        found += _hits(model, hay, cfg).double().mean().item()
    return found / trials


def _sequence(name: str, values: object, check) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty sequence, got {values!r}")
    return [check(name, v) for v in values]


@functools.lru_cache(maxsize=32)
def _grids(
    lengths: tuple[int, ...], depths: tuple[float, ...], trials: int, seed: int, cfg: NeedleConfig
) -> dict[str, tuple[tuple[float, ...], ...]]:
    """Every model's map at once: one haystack per (length, trial) carries a needle at every depth.

    A question's readout depends only on the hay and its own needle (questions do not interact),
    so asking all depths of one haystack gives what separate haystacks with one needle each,
    drawn with the same seed, give: :func:`needle_recall` cell by cell (tested).
    """
    found = {m: [[0.0] * len(lengths) for _ in depths] for m in MODELS}
    for j, n in enumerate(lengths):
        for t in range(trials):
            hay = make_haystack(
                n, list(depths), dim=cfg.dim, value_dim=cfg.value_dim, seed=trial_seed(seed, n, t)
            )
            for m in MODELS:
                hits = _hits(m, hay, cfg)  # [len(depths)] bool
                for i in range(len(depths)):
                    found[m][i][j] += float(hits[i]) / trials
    return {m: tuple(tuple(row) for row in grid) for m, grid in found.items()}


def needle_grid(
    model: str,
    lengths: Sequence[int] = GRID_LENGTHS,
    depths: Sequence[float] = GRID_DEPTHS,
    *,
    trials: int = 4,
    seed: int = 0,
    config: NeedleConfig | None = None,
) -> list[list[float]]:
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
    ns = tuple(_sequence("lengths", lengths, positive_int))
    ds = tuple(_sequence("depths", depths, _depth))
    grid = _grids(ns, ds, positive_int("trials", trials), int_at_least("seed", seed, 0), cfg)[model]
    return [list(row) for row in grid]


def needle_grid_rows(
    model: str = "sinks",
    lengths: Sequence[int] = GRID_LENGTHS,
    depths: Sequence[float] = GRID_DEPTHS,
    *,
    trials: int = 4,
    seed: int = 0,
) -> list[dict]:
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
    return [
        {"depth": float(x), **{f"n{n}": row[j] for j, n in enumerate(lengths)}}
        for x, row in zip(depths, grid)
    ]


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
    n = positive_int("length", length)
    buckets = {"start": (0.0, 0.1), "middle": (0.4, 0.5, 0.6), "end": (0.9, 1.0)}
    grids = _grids(
        (n,), GRID_DEPTHS, positive_int("trials", trials), int_at_least("seed", seed, 0), NeedleConfig()
    )
    rows = []
    for model in MODELS:
        recall = {x: grids[model][i][0] for i, x in enumerate(GRID_DEPTHS)}
        row = {"model": MODEL_LABELS[model], "memory": memory_elements(model, n)}
        for name, ds in buckets.items():
            row[name] = sum(recall[x] for x in ds) / len(ds)
        row["mean"] = sum(recall.values()) / len(recall)
        rows.append(row)
    return rows


def multi_needle_table(
    needles: int = 8, lengths: Sequence[int] = (512, 2048, 8192), *, trials: int = 4, seed: int = 0
) -> list[dict]:
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
    for n in _sequence("lengths", lengths, positive_int):
        for model in MODELS:
            recall = all_found = 0.0
            for t in range(positive_int("trials", trials)):
                hay = make_haystack(
                    n, depths, dim=cfg.dim, value_dim=cfg.value_dim, seed=trial_seed(seed, n, t)
                )
                hits = _hits(model, hay, cfg)  # [m] bool
                recall += hits.double().mean().item()
                all_found += float(hits.all())
            rows.append(
                {
                    "length": n,
                    "model": MODEL_LABELS[model],
                    "recall": recall / trials,
                    "all_found": all_found / trials,
                }
            )
    return rows


def needle_figure(
    lengths: Sequence[int] = GRID_LENGTHS,
    depths: Sequence[float] = GRID_DEPTHS,
    *,
    trials: int = 4,
    seed: int = 0,
) -> str:
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
        ax.set_title(
            f"{MODEL_LABELS[model]}\nkeeps {memory_elements(model, max(lengths), cfg):,} numbers at n = "
            f"{max(lengths):,}",
            fontsize=10,
        )
        ax.set_xlabel("context length n", fontsize=9)
        ax.set_ylabel("needle depth", fontsize=9)
    axes[-1].axis("off")  # the sixth cell holds the colour scale and the settings
    fig.colorbar(image, cax=axes[-1].inset_axes([0.02, 0.08, 0.06, 0.84]), label="needles found (0 to 1)")
    axes[-1].text(
        0.4,
        0.5,
        f"d = d_v = {cfg.dim}\nwindow = {cfg.window}\nsinks = {cfg.sinks}\n"
        f"decay = {cfg.decay}\n{trials} haystacks per cell\n\ndepth 0% = first position,\n"
        f"100% = last (where the\nquestion is asked)",
        transform=axes[-1].transAxes,
        va="center",
        fontsize=9,
    )
    fig.suptitle("Toy needle in a haystack: where each memory finds the needle", fontsize=12)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()
