"""Multi-query associative recall (MQAR) answered without training: the retrieval gap, shown.

Shape legend (one :class:`~longctx.recall.tasks.KVTask`):
    keys     [N, d]        N stored pairs, d key dim; unit vectors
    values   [N, d_v]      d_v value dim; unit vectors
    queries  [Q, d]        Q queries, each a copy of one stored key
    index    [Q]           which pair each query asks for (long)
    readout  [Q, d_v]      what a model returns for each query
    S        [F, d_v]      linear attention's state, sum of phi(k_j) v_j^T (F features, F == d here)
    x        [d_v, d]      the SSM's state: d_v channels, N_state == d numbers per channel

The task (the multi-query form of associative recall studied in *Zoology*, Arora et al., 2023,
arXiv:2312.04927): a context holds N key-value pairs, then Q queries each repeat one stored key,
and the answer to a query is the value stored with that key. Here keys and values are random
unit vectors, and a readout is decoded to the stored value it has the largest dot product with
(nearest neighbour, since the values are unit vectors); accuracy is the fraction of queries
decoded to their own pair.

Each model gets the pairs written into its memory by hand, with no training:

* Softmax attention keeps every key and value (a cache of ``N (d + d_v)`` numbers, growing with
  N) and reads with a large scale, so the softmax is almost a one-hot pick of the matching key:
  exact lookup for as long as no other key is nearly as close to the query.
* Linear attention keeps ``S = sum_j phi(k_j) v_j^T`` (``d x d_v`` numbers, whatever N is) and
  reads ``phi(q) S``. With the identity map that is ``v_i + sum_{j != i} (k_i . k_j) v_j``: the
  stored value plus crosstalk from every other pair. With N <= d exactly orthogonal keys the
  crosstalk is zero and recall is exact; more than d keys cannot all be orthogonal. With random
  unit keys each crosstalk weight ``k_i . k_j`` has variance ``1/d``, so the crosstalk's norm
  grows like ``sqrt((N - 1) / d)`` and swamps the signal once N is a few times d.
* A selective SSM (the scan of ``longctx.ssm.selective_scan_ref``) with ``d_v`` channels and a
  state of ``N_state = d`` numbers per channel: also ``d x d_v`` numbers. Input-dependent ``B``
  is the write key, ``C`` the read key, ``delta`` switches writing on (1) and off (0), and the
  decay ``exp(A) = gamma`` fades older pairs. Its state is ``sum_j gamma^(N-1-j) v_j k_j^T``:
  with ``gamma = 1`` this construction *is* linear attention with the identity map.

What this shows: a memory of fixed size cannot hold an unbounded number of arbitrary pairs;
attention's cache can, because it grows with the context. What it does not show: how trained
models behave. Trained linear-attention and SSM models learn their projections, feature maps and
when to write, so they can beat these hand-written constructions, but a state of fixed size
still bounds what they can recall. The Zoology paper reports that the gated-convolution models
it trained needed a model dimension growing with the sequence length to keep solving MQAR, while
attention did not. The feature maps here are used as they are, with no learned projection, so
elu+1 does badly for a reason training can remove (see :func:`linear_readout`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import torch

from longctx.checks import nonneg_int, positive_int, positive_real
from longctx.linear.feature_maps import orthogonal_gaussian, resolve_feature_map
from longctx.recall.memories import softmax_memory, state_memory
from longctx.recall.tasks import KVTask, check_task, recalled, trial_seed, unit_rows
from longctx.ssm.selective_scan import selective_scan_ref

__all__ = [
    "KEY_KINDS",
    "MODELS",
    "MODEL_LABELS",
    "linear_readout",
    "make_mqar",
    "recall_accuracy",
    "recall_figure",
    "recall_table",
    "softmax_readout",
    "ssm_readout",
    "ssm_scan_inputs",
    "state_elements",
]

#: How keys are drawn: random unit vectors, +-1/sqrt(d) signs, or exactly orthogonal (N <= d).
KEY_KINDS = ("gaussian", "rademacher", "orthogonal")

#: The models compared, in the order of the table's columns.
MODELS = ("softmax", "linear", "linear_elu", "ssm")

#: Names the figure and pages use for the models.
MODEL_LABELS = {
    "softmax": "softmax attention",
    "linear": "linear attention (identity)",
    "linear_elu": "linear attention (elu+1)",
    "ssm": "selective SSM",
}


def _float_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype


def make_mqar(
    num_pairs: int,
    *,
    dim: int,
    value_dim: int | None = None,
    num_queries: int | None = None,
    key_kind: str = "gaussian",
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> KVTask:
    """Draw one MQAR task: random unit keys and values, queries for a random subset of the keys.

    Args:
        num_pairs: N, stored key-value pairs, ``>= 1``.
        dim: d, key dim, ``>= 1``.
        value_dim: d_v, value dim (default ``dim``).
        num_queries: Q, queries, ``1 <= Q <= N`` (default N: every pair once, in random order).
        key_kind: ``"gaussian"`` (uniform on the unit sphere), ``"rademacher"`` (entries
            ``+-1/sqrt(d)``) or ``"orthogonal"`` (exactly orthonormal rows; needs ``N <= d``).
        seed: seeds a fresh CPU generator; the same seed gives the same task.
        dtype: floating dtype of keys and values (default float64).

    Returns:
        A :class:`~longctx.recall.tasks.KVTask` with ``keys [N, d]``, ``values [N, d_v]``, ``index [Q]``.
    """
    N, d = positive_int("num_pairs", num_pairs), positive_int("dim", dim)
    dv = d if value_dim is None else positive_int("value_dim", value_dim)
    Q = N if num_queries is None else positive_int("num_queries", num_queries)
    if Q > N:
        raise ValueError(
            f"num_queries must be at most num_pairs = {N} (queries ask for distinct pairs), got {Q}"
        )
    if key_kind not in KEY_KINDS:
        raise ValueError(f"key_kind must be one of {KEY_KINDS}, got {key_kind!r}")
    if key_kind == "orthogonal" and N > d:
        raise ValueError(f"key_kind 'orthogonal' needs num_pairs <= dim, got num_pairs = {N} > dim = {d}")
    dtype = _float_dtype(dtype)
    gen = torch.Generator().manual_seed(nonneg_int("seed", seed))
    if key_kind == "gaussian":
        keys = torch.randn(N, d, generator=gen, dtype=torch.float64)  # [N, d]
    elif key_kind == "rademacher":
        keys = torch.randint(0, 2, (N, d), generator=gen).double() * 2 - 1  # [N, d], entries +-1
    else:
        keys = orthogonal_gaussian(N, d, generator=gen)  # [N, d], orthogonal rows (one block)
    values = unit_rows(torch.randn(N, dv, generator=gen, dtype=torch.float64))  # [N, d_v]
    index = torch.randperm(N, generator=gen)[:Q]  # [Q], distinct pairs
    return KVTask(unit_rows(keys).to(dtype), values.to(dtype), index)


def _accuracy(readout: torch.Tensor, task: KVTask) -> float:
    return float(recalled(readout, task).double().mean())


def softmax_readout(task: KVTask, *, scale: float = 100.0) -> torch.Tensor:
    """Softmax attention over the stored pairs: ``softmax(scale * q k^T) v`` (:func:`~longctx.recall.memories.softmax_memory`).

    Keys are unit vectors, so the matching key scores ``scale`` and another key ``scale * cos``.
    A large scale makes the softmax nearly one-hot on the best match: exact recall while every
    other key's cosine with the query stays clearly below 1.

    Args:
        task: an :class:`KVTask`.
        scale: inverse temperature, finite and > 0 (default 100.0).

    Returns:
        ``[Q, d_v]`` readout in the task's dtype.
    """
    task = check_task(task)
    return softmax_memory(task.queries, task.keys, task.values, scale=positive_real("scale", scale))


def _feature(feature_map: object):
    if feature_map == "identity":
        return lambda x: x
    return resolve_feature_map(feature_map)


def linear_readout(
    task: KVTask, *, feature_map: object = "identity", normalize: bool = False
) -> torch.Tensor:
    """Linear attention over the stored pairs: ``phi(q) S`` (divided by ``phi(q) . z`` if normalised).

    Every query reads the state ``S = sum_j phi(k_j) v_j^T`` after all N pairs are written
    (:func:`~longctx.recall.memories.state_memory`; tested equal to ``linear_attention_ref``).

    With the identity map the readout is ``v_i + sum_{j != i} (k_i . k_j) v_j``: exact for
    orthogonal keys, crosstalk otherwise. Do not normalise it: ``q . sum_j k_j`` can be near zero
    or negative. With elu+1 every feature is positive and close to 1 for unit keys, so
    ``phi(q) . phi(k_j)`` is about d for every j: each readout is mostly the same mixture of all
    values, and decoding picks nearly the same pair for every query (accuracy near 1/N). Its
    denominator is positive, so ``normalize`` changes no decoded answer, only the state's size.

    Args:
        task: an :class:`KVTask`.
        feature_map: ``"identity"`` (default), ``"elu"`` (elu+1), ``"relu"`` or a callable.
        normalize: divide by ``phi(q) . z`` (default False).

    Returns:
        ``[Q, d_v]`` readout in the task's dtype.
    """
    task = check_task(task)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    phi = _feature(feature_map)
    phi_q, phi_k = phi(task.queries), phi(task.keys)  # [Q, F], [N, F]
    if not isinstance(phi_k, torch.Tensor) or phi_k.dim() != 2 or phi_k.shape[0] != task.num_pairs:
        raise ValueError(
            f"feature_map must map keys [N, d] to [N, F], got {tuple(getattr(phi_k, 'shape', ()))}"
        )
    return state_memory(phi_q, phi_k, task.values, normalize=normalize)  # [Q, d_v]


def _decay(decay: object, name: str = "decay") -> float:
    if isinstance(decay, bool) or not isinstance(decay, Real) or not (0 < decay <= 1):
        raise ValueError(f"{name} must be a number in (0, 1], got {decay!r}")
    return float(decay)


def ssm_scan_inputs(task: KVTask, *, decay: float = 1.0) -> dict[str, torch.Tensor]:
    """The arguments of ``selective_scan_ref`` that write the pairs, then read the queries.

    The sequence has ``L = N + Q`` steps: N writes, then Q reads. With
    ``x_t = exp(delta_t A) x_{t-1} + delta_t u_t B_t^T`` and ``y_t = x_t C_t``:

    * write step j: ``u = v_j`` (one value entry per channel), ``B = k_j``, ``delta = 1``,
      ``C = 0``: the state decays by ``gamma = exp(A)`` and gains ``v_j k_j^T``;
    * read step: ``u = 0``, ``B = 0``, ``delta = 0`` (no decay, no write), ``C = q``: the output
      is ``x q = sum_j gamma^(N-1-j) (q . k_j) v_j``.

    In Mamba, ``B``, ``C`` and ``delta`` are computed from each token (``delta`` through a
    softplus, so it is never exactly 0); here they are set by hand to the write and read keys.

    Args:
        task: an :class:`KVTask`.
        decay: gamma in ``(0, 1]``, the factor each write step multiplies the state by
            (default 1.0: no forgetting; the readout is then linear attention's).

    Returns:
        ``u [1, d_v, L]``, ``delta [1, d_v, L]``, ``A [d_v, d]`` (all ``log(gamma)``),
        ``B [1, d, L]``, ``C [1, d, L]``, in the task's dtype.
    """
    task = check_task(task)
    gamma = _decay(decay)
    N, Q, d, dv = task.num_pairs, task.index.shape[0], task.dim, task.value_dim
    L = N + Q
    kw = {"dtype": task.keys.dtype}
    u = torch.zeros(1, dv, L, **kw)  # [1, d_v, L]
    u[0, :, :N] = task.values.T  # [d_v, N]: value j enters at step j
    delta = torch.zeros(1, dv, L, **kw)  # [1, d_v, L]
    delta[0, :, :N] = 1.0  # write steps only
    A = torch.full((dv, d), math.log(gamma), **kw)  # [d_v, d]: exp(A) = gamma
    B = torch.zeros(1, d, L, **kw)  # [1, d, L]
    B[0, :, :N] = task.keys.T  # write key at step j
    C = torch.zeros(1, d, L, **kw)  # [1, d, L]
    C[0, :, N:] = task.queries.T  # read key at each query step
    return {"u": u, "delta": delta, "A": A, "B": B, "C": C}


def ssm_readout(
    task: KVTask, *, decay: float = 1.0, return_final_state: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run the selective scan on :func:`ssm_scan_inputs` and keep the outputs of the read steps.

    Args:
        task: an :class:`KVTask`.
        decay: gamma in ``(0, 1]`` (default 1.0).
        return_final_state: also return the final state.

    Returns:
        ``[Q, d_v]`` readout in the task's dtype; with ``return_final_state``, also the state
        ``x [d_v, d]``: ``d_v * d`` numbers, the size of linear attention's ``S``.
    """
    args = ssm_scan_inputs(task, decay=decay)
    y, x = selective_scan_ref(**args, return_last_state=True)  # y [1, d_v, L], x [1, d_v, d]
    readout = y[0, :, task.num_pairs :].T  # [Q, d_v]: the read steps
    return (readout, x[0]) if return_final_state else readout


def state_elements(model: str, num_pairs: int, *, dim: int, value_dim: int | None = None) -> int:
    """Numbers a model keeps to answer queries about ``num_pairs`` stored pairs.

    ``"softmax"``: the cache of keys and values, ``N (d + d_v)`` (grows with N).
    ``"linear"``: ``S``, ``d d_v`` (identity map, not normalised). ``"linear_elu"``: ``S`` and
    ``z``, ``d d_v + d``. ``"ssm"``: ``d_v`` channels of ``N_state = d``, ``d d_v``.

    Args:
        model: one of :data:`MODELS`.
        num_pairs: N, ``>= 1``.
        dim: d, ``>= 1``.
        value_dim: d_v (default ``dim``).

    Returns:
        The count, an int.
    """
    N, d = positive_int("num_pairs", num_pairs), positive_int("dim", dim)
    dv = d if value_dim is None else positive_int("value_dim", value_dim)
    sizes = {"softmax": N * (d + dv), "linear": d * dv, "linear_elu": d * dv + d, "ssm": d * dv}
    if model not in sizes:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return sizes[model]


def _readout(model: str, task: KVTask, softmax_scale: float, ssm_decay: float) -> torch.Tensor:
    if model == "softmax":
        return softmax_readout(task, scale=softmax_scale)
    if model == "linear":
        return linear_readout(task, feature_map="identity")
    if model == "linear_elu":
        return linear_readout(task, feature_map="elu", normalize=True)
    if model == "ssm":
        return ssm_readout(task, decay=ssm_decay)
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


def _pair_counts(pair_counts: object) -> list[int]:
    if isinstance(pair_counts, (str, bytes)) or not isinstance(pair_counts, Sequence):
        raise TypeError(
            f"pair_counts must be a sequence of positive integers, got {type(pair_counts).__name__}"
        )
    if len(pair_counts) == 0:
        raise ValueError("pair_counts must name at least one number of pairs")
    return [positive_int("pair_counts", n) for n in pair_counts]


def recall_accuracy(
    model: str,
    num_pairs: int,
    *,
    dim: int = 32,
    value_dim: int | None = None,
    trials: int = 4,
    seed: int = 0,
    key_kind: str = "gaussian",
    softmax_scale: float = 100.0,
    ssm_decay: float = 0.99,
) -> float:
    """One model's mean accuracy over ``trials`` tasks of ``num_pairs`` pairs (every pair queried).

    Trial t uses ``make_mqar(num_pairs, dim=dim, value_dim=value_dim, key_kind=key_kind,
    seed=trial_seed(seed, num_pairs, t))``; the same tasks as :func:`recall_table`.

    Args:
        model: one of :data:`MODELS`.
        num_pairs: N.
        dim: d (default 32).
        value_dim: d_v (default ``dim``).
        trials: tasks averaged, ``>= 1`` (default 4).
        seed: base seed (default 0).
        key_kind: see :func:`make_mqar` (default ``"gaussian"``).
        softmax_scale: the scale of :func:`softmax_readout` (default 100.0).
        ssm_decay: gamma of :func:`ssm_readout` (default 0.99).

    Returns:
        The fraction of queries decoded to their own pair, a float in ``[0, 1]``.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    rows = recall_table(
        [num_pairs],
        dim=dim,
        value_dim=value_dim,
        trials=trials,
        seed=seed,
        key_kind=key_kind,
        softmax_scale=softmax_scale,
        ssm_decay=ssm_decay,
        models=(model,),
    )
    return rows[0][f"{model}_accuracy"]


def recall_table(
    pair_counts: Sequence[int],
    *,
    dim: int = 32,
    value_dim: int | None = None,
    trials: int = 4,
    seed: int = 0,
    key_kind: str = "gaussian",
    softmax_scale: float = 100.0,
    ssm_decay: float = 0.99,
    models: Sequence[str] = MODELS,
) -> list[dict]:
    """Recall accuracy of each model, and the size of its memory, as the number of pairs grows.

    For each N, ``trials`` tasks (trial t drawn with ``seed=trial_seed(seed, N, t)``, every pair
    queried once); every model answers the same tasks. Softmax attention reads with
    ``softmax_scale``, linear attention with the identity map (not normalised) and with elu+1
    (normalised), the SSM with decay ``ssm_decay``.

    Args:
        pair_counts: the numbers of pairs N, positive ints.
        dim: d, key dim and the SSM's state size per channel (default 32).
        value_dim: d_v (default ``dim``).
        trials: tasks per N, ``>= 1`` (default 4).
        seed: base seed (default 0).
        key_kind: see :func:`make_mqar` (``"orthogonal"`` needs every N <= dim).
        softmax_scale: inverse temperature of softmax attention (default 100.0).
        ssm_decay: gamma in ``(0, 1]`` for the SSM (default 0.99).
        models: which of :data:`MODELS` to run (default all).

    Returns:
        One dict per N, in the order given: ``pairs``, ``dim``, ``value_dim``, ``trials``, and
        for each model m run, ``m_accuracy`` (mean fraction of queries recalled, a float) and
        ``m_state`` (numbers kept, from :func:`state_elements`).
    """
    counts = _pair_counts(pair_counts)
    d = positive_int("dim", dim)
    dv = d if value_dim is None else positive_int("value_dim", value_dim)
    n_trials = positive_int("trials", trials)
    if isinstance(models, str) or not models or any(m not in MODELS for m in models):
        raise ValueError(f"models must be a non-empty sequence of names from {MODELS}, got {models!r}")
    _decay(ssm_decay, "ssm_decay")
    rows = []
    for N in counts:
        correct = dict.fromkeys(models, 0.0)
        for t in range(n_trials):
            task = make_mqar(N, dim=d, value_dim=dv, key_kind=key_kind, seed=trial_seed(seed, N, t))
            for m in models:
                correct[m] += _accuracy(_readout(m, task, softmax_scale, ssm_decay), task)
        row = {"pairs": N, "dim": d, "value_dim": dv, "trials": n_trials}
        for m in models:
            row[f"{m}_accuracy"] = correct[m] / n_trials
            row[f"{m}_state"] = state_elements(m, N, dim=d, value_dim=dv)
        rows.append(row)
    return rows


def recall_figure(
    pair_counts: Sequence[int] = (4, 8, 16, 32, 64, 128, 256, 512),
    *,
    dim: int = 32,
    value_dim: int | None = None,
    trials: int = 3,
    seed: int = 0,
    ssm_decay: float = 0.99,
) -> str:
    """SVG plot of recall accuracy against the number of pairs, one line per model.

    The legend gives each model's memory size in numbers (softmax attention's grows with N), a
    dotted line marks N = d, and a grey line marks chance (1/N, one pair right by luck).

    Args:
        pair_counts: the numbers of pairs N on the x axis (default powers of two, 4 to 512).
        dim: d (default 32).
        value_dim: d_v (default ``dim``).
        trials: tasks per point (default 3).
        seed: base seed (default 0).
        ssm_decay: gamma of the SSM (default 0.99).

    Returns:
        An SVG document (str); labels are ``<text>`` and the file has no date, so it is reproducible.
    """
    rows = recall_table(
        pair_counts, dim=dim, value_dim=value_dim, trials=trials, seed=seed, ssm_decay=ssm_decay
    )
    d, dv = rows[0]["dim"], rows[0]["value_dim"]
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "longctx"  # stable ids: the same file on every build
    plt.rcParams["svg.fonttype"] = "none"  # labels stay <text>
    ns = [r["pairs"] for r in rows]
    fixed = state_elements("linear", 1, dim=d, value_dim=dv)
    sizes = {
        "softmax": f"cache N·(d+d_v) = {d + dv:,}·N numbers",
        "linear": f"state d·d_v = {fixed:,}",
        "linear_elu": f"state d·d_v + d = {state_elements('linear_elu', 1, dim=d, value_dim=dv):,}",
        "ssm": f"state d_v·N_state = {fixed:,}, γ = {ssm_decay:g}",
    }
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for i, (m, marker) in enumerate(zip(MODELS, "os^D")):
        ax.semilogx(
            ns,
            [r[f"{m}_accuracy"] for r in rows],
            marker + "-",
            base=2,
            color=f"C{i}",
            label=f"{MODEL_LABELS[m]}: {sizes[m]}",
        )
    ax.semilogx(ns, [1 / n for n in ns], ":", base=2, color="grey", zorder=3, label="chance (1/N)")
    ax.axvline(d, color="black", linestyle="--", linewidth=1)
    ax.annotate(f"N = d = {d}", (d, 0.5), textcoords="offset points", xytext=(4, 0), fontsize=8)
    ax.set(
        xlabel="stored pairs N",
        ylabel="recall accuracy",
        ylim=(-0.02, 1.02),
        title=f"Associative recall without training (d = {d}, d_v = {dv}, {rows[0]['trials']} trials)",
    )
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, ncol=1)  # below the axes
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()
