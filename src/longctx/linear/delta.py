"""The delta rule: a linear-attention state that corrects what it stores instead of only adding.

Plain linear attention adds ``v_t k_t^T`` to its state at every step, so two keys that are not
orthogonal blur each other's values. The delta rule (Schlag, Irie and Schmidhuber, 2021,
arXiv:2102.11174; DeltaNet made parallel by Yang et al., 2024, arXiv:2406.06484) first reads
what the state currently returns for ``k_t``, and writes only a ``beta_t``-sized step from that
towards ``v_t``:

    S_t = a_t S_{t-1} (I - beta_t k_t k_t^T) + beta_t v_t k_t^T,     o_t = S_t (scale q_t)

With ``a_t = 1`` this is DeltaNet; with ``a_t = exp(g_t)``, a data-dependent decay, it is Gated
DeltaNet (Yang, Kautz and Hatamizadeh, 2024, arXiv:2412.06464). With ``beta_t = 1`` and a unit
key, reading ``k_t`` right after the write returns exactly ``v_t``.

Shape legend:
    q, k            [B, H, T, Dk]   queries and keys (models L2-normalise k first; this does not)
    v               [B, H, T, Dv]   values
    beta, g         [B, H, T]       write strength in [0, 1]; log decay <= 0 (None: no decay)
    state           [B, H, Dv, Dk]  S; flash-linear-attention stores its transpose [B, H, Dk, Dv]
    out             [B, H, T, Dv]   in q's dtype

:func:`delta_rule_ref` runs the recurrence one step at a time; :func:`delta_rule_chunked_ref`
computes the same numbers chunk by chunk with matrix products, the form a GPU kernel uses: inside
a chunk the corrections are solved at once through a unit lower-triangular system (the WY / UT
transform), and only the state crosses chunk boundaries.
"""

from __future__ import annotations

import torch

from longctx import checks

__all__ = [
    "delta_state_bytes",
    "delta_chunk_ut",
    "delta_overwrite_accuracy",
    "delta_overwrite_recall",
    "delta_recall_table",
    "delta_rule_chunked_ref",
    "delta_rule_chunks",
    "delta_rule_recurrence",
    "delta_rule_ref",
]


# --8<-- [start:delta-rule]
import torch


def delta_rule_recurrence(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    log_decay: torch.Tensor,
    scale: float,
    state: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step per position: ``S <- a S (I - beta k k^T) + beta v k^T``, ``o = S (scale q)``.

    q, k ``[B, H, T, Dk]``, v ``[B, H, T, Dv]``, beta and log_decay ``[B, H, T]``
    (``a = exp(log_decay)``), state ``[B, H, Dv, Dk]``. Returns ``(out [B, H, T, Dv], state)``.
    """
    outs = []
    for t in range(q.shape[2]):
        k_t, v_t, b_t = k[:, :, t], v[:, :, t], beta[:, :, t, None]  # [B, H, Dk], [B, H, Dv], [B, H, 1]
        state = state * log_decay[:, :, t, None, None].exp()  # forget: a_t S
        read = (state @ k_t[..., None])[..., 0]  # [B, H, Dv]: what the state returns for k_t now
        state = state + (b_t * (v_t - read))[..., None] * k_t[:, :, None, :]  # step towards v_t
        outs.append((state @ (scale * q[:, :, t, :, None]))[..., 0])  # [B, H, Dv]
    return torch.stack(outs, dim=2), state  # [B, H, T, Dv], [B, H, Dv, Dk]


# --8<-- [end:delta-rule]


# --8<-- [start:delta-chunked]
import torch


def delta_chunk_ut(
    k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, cum: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The UT transform of one chunk: ``U = T diag(beta) V`` and ``W = T diag(beta gamma) K``.

    ``T = (I + A)^-1``, ``A[t, s] = beta_t (gamma_t / gamma_s) k_t . k_s`` for s < t, with
    ``gamma = exp(cum)`` the decay since the chunk began. The chunk's corrections are then
    ``U - W S0^T`` for the state S0 it starts from.
    """
    C = k.shape[-2]
    decay = (
        (cum[..., :, None] - cum[..., None, :]).tril(-1).exp().tril(-1)
    )  # [.., C, C] gamma_t/gamma_s, s < t
    A = beta[..., :, None] * decay * (k @ k.transpose(-1, -2))  # [.., C, C] strictly lower
    eye = torch.eye(C, dtype=k.dtype, device=k.device)
    rhs = torch.cat((beta[..., None] * v, (beta * cum.exp())[..., None] * k), dim=-1)  # [.., C, Dv + Dk]
    UW = torch.linalg.solve_triangular(eye + A, rhs, upper=False, unitriangular=True)
    return UW[..., : v.shape[-1]], UW[..., v.shape[-1] :]  # U [.., C, Dv], W [.., C, Dk]


def delta_rule_chunks(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    log_decay: torch.Tensor,
    scale: float,
    state: torch.Tensor,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The delta rule chunk by chunk: matrix products inside a chunk, the state between chunks."""
    outs = []
    for c0 in range(0, q.shape[2], chunk_size):
        part = slice(c0, c0 + chunk_size)
        qc, kc, vc, bc = scale * q[:, :, part], k[:, :, part], v[:, :, part], beta[:, :, part]
        cum = log_decay[:, :, part].cumsum(-1)  # [B, H, C] log gamma_t
        U, W = delta_chunk_ut(kc, vc, bc, cum)
        delta = U - W @ state.transpose(-1, -2)  # [B, H, C, Dv] the corrections written
        decay = (cum[..., :, None] - cum[..., None, :]).tril().exp().tril()  # [B, H, C, C], s <= t
        outs.append(
            cum.exp()[..., None] * (qc @ state.transpose(-1, -2))  # the carried state
            + (qc @ kc.transpose(-1, -2) * decay) @ delta
        )  # this chunk's writes
        last = cum[..., -1:]  # [B, H, 1] log gamma at the chunk's end
        state = last.exp()[..., None] * state + (delta * (last - cum).exp()[..., None]).transpose(-1, -2) @ kc
    return torch.cat(outs, dim=2), state


# --8<-- [end:delta-chunked]


def _check_delta_args(q, k, v, beta, g, scale, initial_state, return_final_state):
    checks.float_tensor("q", q, dims=4)
    checks.float_tensor("k", k, dims=4)
    checks.float_tensor("v", v, dims=4)
    checks.float_tensor("beta", beta, dims=3)
    B, H, T, Dk = q.shape
    if k.shape != q.shape:
        raise ValueError(f"k must have q's shape [B, H, T, Dk] = {list(q.shape)}, got {list(k.shape)}")
    if v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"v must have shape [B, H, T, Dv] with q's B, H, T = {list(q.shape[:3])}, got {list(v.shape)}"
        )
    if min(T, Dk, v.shape[3]) < 1:
        raise ValueError(
            f"q and v must hold at least one position and one feature, got q {list(q.shape)}, "
            f"v {list(v.shape)}"
        )
    if beta.shape != q.shape[:3]:
        raise ValueError(f"beta must have shape [B, H, T] = {list(q.shape[:3])}, got {list(beta.shape)}")
    if not bool(((beta >= 0) & (beta <= 1)).all()):
        raise ValueError("beta must be in [0, 1] everywhere, got values outside it (or NaN)")
    if g is not None:
        checks.float_tensor("g", g, dims=3)
        if g.shape != q.shape[:3]:
            raise ValueError(f"g must have shape [B, H, T] = {list(q.shape[:3])}, got {list(g.shape)}")
        if not bool((torch.isfinite(g) & (g <= 0)).all()):
            raise ValueError(
                "g must be finite and <= 0 everywhere (a log decay), got values above 0, inf or NaN"
            )
    scale = checks.attention_scale(scale, Dk)
    if initial_state is not None:
        checks.float_tensor("initial_state", initial_state, dims=4)
        want = (B, H, v.shape[3], Dk)
        if tuple(initial_state.shape) != want:
            raise ValueError(
                f"initial_state must have shape [B, H, Dv, Dk] = {list(want)}, "
                f"got {list(initial_state.shape)}"
            )
    checks.same_device(
        q=q,
        k=k,
        v=v,
        beta=beta,
        **({} if g is None else {"g": g}),
        **({} if initial_state is None else {"initial_state": initial_state}),
    )
    return scale, checks.flag("return_final_state", return_final_state)


def _prepare(q, k, v, beta, g, initial_state):
    work = torch.promote_types(q.dtype, torch.float32)
    B, H, T, Dk = q.shape
    log_decay = torch.zeros(B, H, T, dtype=work, device=q.device) if g is None else g.to(work)
    state = (
        torch.zeros(B, H, v.shape[3], Dk, dtype=work, device=q.device)
        if initial_state is None
        else initial_state.to(work)
    )
    return [t.to(work) for t in (q, k, v, beta)] + [log_decay, state]


def delta_rule_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    g: torch.Tensor | None = None,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The (gated) delta rule, one step per position: the ground truth.

    ``S_t = a_t S_{t-1} (I - beta_t k_t k_t^T) + beta_t v_t k_t^T`` with ``a_t = exp(g_t)``
    (1 when ``g`` is None), S starting at ``initial_state`` (zeros by default), and
    ``o_t = S_t (scale q_t)``.

    Args:
        q: ``[B, H, T, Dk]`` queries.
        k: ``[B, H, T, Dk]`` keys. Not normalised here; the models (DeltaNet, Gated DeltaNet)
            L2-normalise them first, which keeps ``I - beta k k^T`` a contraction.
        v: ``[B, H, T, Dv]`` values.
        beta: ``[B, H, T]`` write strengths, each in [0, 1].
        g: ``[B, H, T]`` log decays, each finite and <= 0, or None for no decay (DeltaNet).
        scale: multiplies q; ``1 / sqrt(Dk)`` by default.
        initial_state: ``[B, H, Dv, Dk]``, or None for zeros. flash-linear-attention's
            ``initial_state`` is the transpose, ``[B, H, Dk, Dv]``.
        return_final_state: also return the state after the last position.

    Returns:
        ``out [B, H, T, Dv]`` in q's dtype (computed in float32, or float64 for float64 inputs);
        with ``return_final_state=True``, ``(out, final_state [B, H, Dv, Dk])`` in that precision.
    """
    scale, return_final_state = _check_delta_args(q, k, v, beta, g, scale, initial_state, return_final_state)
    args = _prepare(q, k, v, beta, g, initial_state)
    out, state = delta_rule_recurrence(*args[:5], scale, args[5])
    out = out.to(q.dtype)
    return (out, state) if return_final_state else out


def delta_rule_chunked_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    g: torch.Tensor | None = None,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
    chunk_size: int = 64,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The same function as :func:`delta_rule_ref`, computed chunk by chunk (WY / UT transform).

    Inside a chunk of C positions the C corrections ``beta_t (v_t - a_t S_{t-1} k_t)`` depend on
    each other through a unit lower-triangular system, solved at once; the outputs are then one
    masked C x C product plus the carried state's contribution, and only the state passes from
    one chunk to the next. Equal to :func:`delta_rule_ref` within rounding for every T, a
    multiple of ``chunk_size`` or not.

    The other arguments are those of :func:`delta_rule_ref`.

    Args:
        chunk_size: positions per chunk, >= 1 (64 as in flash-linear-attention).

    Returns:
        As :func:`delta_rule_ref`.
    """
    scale, return_final_state = _check_delta_args(q, k, v, beta, g, scale, initial_state, return_final_state)
    chunk_size = checks.positive_int("chunk_size", chunk_size)
    args = _prepare(q, k, v, beta, g, initial_state)
    out, state = delta_rule_chunks(*args[:5], scale, args[5], chunk_size)
    out = out.to(q.dtype)
    return (out, state) if return_final_state else out


def delta_recall_table(
    pair_counts: tuple[int, ...] = (16, 32, 48, 64, 128),
    *,
    dim: int = 32,
    trials: int = 4,
    seed: int = 0,
    beta: float = 1.0,
) -> list[dict]:
    """Lesson 3's associative-recall measurement (:mod:`longctx.recall`) with the delta rule beside
    plain linear attention, on the same tasks.

    The N pairs of a task (unit keys and values, ``dim`` wide) are written in order into a
    ``[d_v, d]`` state, by the delta rule with a constant ``beta`` (:func:`delta_rule_ref`) and by
    linear attention with the identity map (``longctx.recall.linear_readout``); every stored key
    is then read back. Both states hold ``d * d_v`` numbers.

    Returns:
        One dict per N: ``pairs``; ``delta_accuracy`` and ``linear_accuracy``, the fraction of
        reads whose nearest stored value is the right one; ``delta_error`` and ``linear_error``,
        the mean distance between a read and the right value.
    """
    from longctx.recall import linear_readout, make_mqar, trial_seed

    d = checks.positive_int("dim", dim)
    n_trials = checks.positive_int("trials", trials)
    beta = checks.positive_real("beta", beta)
    if beta > 1:
        raise ValueError(f"beta must be in (0, 1], got {beta}")
    rows = []
    for N in pair_counts:
        N = checks.positive_int("pair_counts", N)
        acc = {"delta": 0.0, "linear": 0.0}
        err = {"delta": 0.0, "linear": 0.0}
        for t in range(n_trials):
            task = make_mqar(N, dim=d, seed=trial_seed(seed, N, t))
            keys, values = task.keys[None, None], task.values[None, None]  # [1, 1, N, d], [1, 1, N, d_v]
            _, state = delta_rule_ref(
                keys, keys, values, torch.full((1, 1, N), beta, dtype=keys.dtype), return_final_state=True
            )
            queries = task.keys[task.index]  # [Q, d]: each query repeats a stored key
            reads = {"delta": queries @ state[0, 0].T, "linear": linear_readout(task)}
            for name, r in reads.items():
                nearest = (r @ task.values.T).argmax(-1)
                acc[name] += float((nearest == task.index).double().mean()) / n_trials
                err[name] += float((r - task.values[task.index]).norm(dim=-1).mean()) / n_trials
        rows.append(
            {
                "pairs": N,
                "delta_accuracy": acc["delta"],
                "linear_accuracy": acc["linear"],
                "delta_error": err["delta"],
                "linear_error": err["linear"],
            }
        )
    return rows


def delta_overwrite_recall(num_pairs: int = 16, *, dim: int = 32, trials: int = 4, seed: int = 0) -> dict:
    """A memory that must *update*: N pairs are written, then the same N keys again with new values.

    Each read of a key is decoded to the nearest of all 2N values, old and new; it is right when
    that is the new value. The delta rule (``beta = 1``) replaces what a key returns, so it
    returns the new value; plain linear attention adds, so it returns old + new and is right
    only by chance. Tasks from ``longctx.recall.make_mqar`` (keys, old values) and a second task
    of the same seed offset for the new values.

    Returns:
        dict with ``pairs``, ``delta_accuracy`` and ``linear_accuracy``.
    """
    from longctx.recall import make_mqar, trial_seed

    N = checks.positive_int("num_pairs", num_pairs)
    d = checks.positive_int("dim", dim)
    n_trials = checks.positive_int("trials", trials)
    acc = {"delta": 0.0, "linear": 0.0}
    for t in range(n_trials):
        task = make_mqar(N, dim=d, seed=trial_seed(seed, N, t))
        new_values = make_mqar(N, dim=d, seed=trial_seed(seed + 1, N, t)).values  # [N, d_v]
        keys = torch.cat((task.keys, task.keys))[None, None]  # [1, 1, 2N, d]: every key written twice
        values = torch.cat((task.values, new_values))[None, None]  # [1, 1, 2N, d_v]
        _, state = delta_rule_ref(
            keys, keys, values, torch.ones(1, 1, 2 * N, dtype=keys.dtype), return_final_state=True
        )
        linear_state = values[0, 0].T @ keys[0, 0]  # [d_v, d]: sum of v k^T, plain linear attention
        every_value = values[0, 0]  # [2N, d_v]: old values first, then the new ones
        for name, S in (("delta", state[0, 0]), ("linear", linear_state)):
            nearest = ((task.keys @ S.T) @ every_value.T).argmax(-1)  # [N]
            acc[name] += float((nearest == torch.arange(N) + N).double().mean()) / n_trials
    return {"pairs": N, "delta_accuracy": acc["delta"], "linear_accuracy": acc["linear"]}


def delta_overwrite_accuracy(model: str, num_pairs: int = 16) -> float:
    """``delta_overwrite_recall(num_pairs)``'s accuracy for ``model``, ``"delta"`` or ``"linear"``."""
    if model not in ("delta", "linear"):
        raise ValueError(f"model must be 'delta' or 'linear', got {model!r}")
    return delta_overwrite_recall(num_pairs)[f"{model}_accuracy"]


def delta_state_bytes(
    *, heads: int, key_dim: int, value_dim: int, layers: int = 1, bytes_per_element: float = 4
) -> int:
    """Bytes of a delta-rule (or any linear-attention) decoding state: ``layers * heads * Dv * Dk``
    elements, float32 by default, whatever the context length."""
    n = (
        checks.positive_int("layers", layers)
        * checks.positive_int("heads", heads)
        * checks.positive_int("value_dim", value_dim)
        * checks.positive_int("key_dim", key_dim)
    )
    return int(n * checks.positive_real("bytes_per_element", bytes_per_element))
