"""MQAR without training: each construction against an independent float64 form, and the gap itself."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.recall import (
    MODEL_LABELS,
    MODELS,
    KVTask,
    decode,
    linear_readout,
    make_mqar,
    recall_accuracy,
    recall_figure,
    recall_table,
    softmax_memory,
    softmax_readout,
    ssm_readout,
    ssm_scan_inputs,
    state_elements,
    state_memory,
    trial_seed,
    window_keep,
)

SVG = "{http://www.w3.org/2000/svg}"


def accuracy(readout: torch.Tensor, task: KVTask) -> float:
    return float((decode(readout, task.values) == task.index).double().mean())


def naive_softmax(task: KVTask, scale: float) -> torch.Tensor:
    """softmax(scale q . k_j) v_j, one query at a time, in float64."""
    k, v = task.keys.double(), task.values.double()
    rows = []
    for q in task.queries.double():
        s = torch.tensor([scale * float(q @ kj) for kj in k], dtype=torch.float64)
        w = torch.exp(s - s.max())
        rows.append((w[:, None] * v).sum(0) / w.sum())
    return torch.stack(rows)


def naive_linear(task: KVTask, phi, normalize: bool) -> torch.Tensor:
    """sum_j (phi(q) . phi(k_j)) v_j (over sum_j phi(q) . phi(k_j)), one query at a time, float64."""
    k, v = task.keys.double(), task.values.double()
    rows = []
    for q in task.queries.double():
        w = torch.stack([phi(q) @ phi(kj) for kj in k])  # [N]
        num = (w[:, None] * v).sum(0)
        rows.append(num / w.sum() if normalize else num)
    return torch.stack(rows)


def naive_ssm(task: KVTask, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Write x <- gamma x + v_j k_j^T for each pair, then read y = x q: plain float64 loops."""
    k, v = task.keys.double(), task.values.double()
    x = torch.zeros(task.value_dim, task.dim, dtype=torch.float64)
    for j in range(task.num_pairs):
        for c in range(task.value_dim):
            for n in range(task.dim):
                x[c, n] = gamma * x[c, n] + v[j, c] * k[j, n]
    ys = torch.stack([x @ q for q in task.queries.double()])  # [Q, d_v]
    return ys, x


def identity(x):
    return x


def elu1(x):
    return F.elu(x) + 1


shapes = st.tuples(st.integers(1, 19), st.integers(1, 41), st.integers(1, 9), st.integers(0, 10_000))


# ---------------------------------------------------------------- the task


def test_task_shapes_norms_and_queries():
    t = make_mqar(17, dim=40, value_dim=7, num_queries=5, seed=3)
    assert t.keys.shape == (17, 40) and t.values.shape == (17, 7) and t.index.shape == (5,)
    assert t.keys.dtype == t.values.dtype == torch.float64 and t.index.dtype == torch.long
    torch.testing.assert_close(t.keys.norm(dim=1), torch.ones(17, dtype=torch.float64))
    torch.testing.assert_close(t.values.norm(dim=1), torch.ones(17, dtype=torch.float64))
    assert len(set(t.index.tolist())) == 5 and all(0 <= i < 17 for i in t.index.tolist())
    torch.testing.assert_close(t.queries, t.keys[t.index])
    full = make_mqar(17, dim=40, seed=3)
    assert sorted(full.index.tolist()) == list(range(17)) and full.value_dim == 40


def test_key_kinds():
    o = make_mqar(13, dim=13, key_kind="orthogonal", seed=1)
    torch.testing.assert_close(o.keys @ o.keys.T, torch.eye(13, dtype=torch.float64), atol=1e-12, rtol=0)
    r = make_mqar(9, dim=16, key_kind="rademacher", seed=1)
    assert torch.all((r.keys.abs() - 0.25).abs() < 1e-15)
    assert make_mqar(4, dim=8, dtype=torch.float32).keys.dtype == torch.float32


def test_seeds_reproduce_and_differ():
    a, b, c = make_mqar(20, dim=8, seed=5), make_mqar(20, dim=8, seed=5), make_mqar(20, dim=8, seed=6)
    assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values) and torch.equal(a.index, b.index)
    assert not torch.equal(a.keys, c.keys)
    assert trial_seed(0, 16, 1) == trial_seed(0, 16, 1)
    assert len({trial_seed(s, n, t) for s in range(3) for n in (1, 2, 16) for t in range(3)}) == 27


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 12), st.integers(0, 10_000))
def test_decode_is_the_nearest_value(Q, N, dv, seed):
    g = torch.Generator().manual_seed(seed)
    readout = torch.randn(Q, dv, generator=g, dtype=torch.float64)
    values = torch.randn(N, dv, generator=g, dtype=torch.float64)
    values = values / values.norm(dim=1, keepdim=True)
    dist = ((readout[:, None, :] - values[None, :, :]) ** 2).sum(-1)  # [Q, N], Euclidean
    assert torch.equal(decode(readout, values), dist.argmin(dim=1))
    assert torch.equal(decode(3.5 * readout, values), decode(readout, values))


# ---------------------------------------------------------------- softmax attention


@settings(max_examples=20, deadline=None)
@given(shapes, st.sampled_from([0.5, 3.0, 100.0]))
def test_softmax_readout_equals_naive(shape, scale):
    N, d, dv, seed = shape
    t = make_mqar(N, dim=d, value_dim=dv, seed=seed)
    torch.testing.assert_close(
        softmax_readout(t, scale=scale), naive_softmax(t, scale), atol=1e-12, rtol=1e-12
    )
    t32 = make_mqar(N, dim=d, value_dim=dv, seed=seed, dtype=torch.float32)
    out32 = softmax_readout(t32, scale=scale)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), naive_softmax(t, scale), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("N", [1, 17, 64, 256, 512])
def test_softmax_recalls_every_pair(N):
    for seed in range(2):
        t = make_mqar(N, dim=16, seed=seed)
        assert accuracy(softmax_readout(t), t) >= 0.99


# ---------------------------------------------------------------- linear attention


@settings(max_examples=20, deadline=None)
@given(shapes, st.sampled_from(["identity", "elu"]), st.booleans())
def test_linear_readout_equals_naive_and_state(shape, fmap, normalize):
    N, d, dv, seed = shape
    phi = identity if fmap == "identity" else elu1
    if fmap == "identity" and normalize:
        normalize = False  # q . sum k can be ~0: not a meaningful normaliser
    t = make_mqar(N, dim=d, value_dim=dv, seed=seed)
    want = naive_linear(t, phi, normalize)
    torch.testing.assert_close(
        linear_readout(t, feature_map=fmap, normalize=normalize), want, atol=1e-12, rtol=1e-12
    )
    S = sum(phi(t.keys[j])[:, None] * t.values[j][None, :] for j in range(N))  # written pair by pair
    z = sum(phi(t.keys[j]) for j in range(N))
    num = phi(t.queries) @ S  # [Q, d_v]: reading the state written pair by pair
    read = num / (phi(t.queries) @ z)[:, None] if normalize else num
    torch.testing.assert_close(read, want, atol=1e-12, rtol=1e-12)
    t32 = make_mqar(N, dim=d, value_dim=dv, seed=seed, dtype=torch.float32)
    torch.testing.assert_close(
        linear_readout(t32, feature_map=fmap, normalize=normalize).double(), want, atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("N,d", [(1, 1), (5, 8), (17, 17), (40, 40), (3, 63)])
def test_linear_is_exact_with_orthogonal_keys(N, d):
    t = make_mqar(N, dim=d, value_dim=7, key_kind="orthogonal", seed=N)
    out = linear_readout(t)
    torch.testing.assert_close(out, t.values[t.index], atol=1e-12, rtol=0)
    assert accuracy(out, t) == 1.0


@pytest.mark.parametrize("d", [8, 16])
def test_linear_recall_collapses_when_pairs_far_exceed_dim(d):
    for seed in range(3):
        t = make_mqar(8 * d, dim=d, seed=seed)
        assert accuracy(linear_readout(t), t) < 0.35
        assert accuracy(softmax_readout(t), t) >= 0.99  # same task, a cache that grows with N


def test_elu_features_answer_almost_the_same_pair_every_time():
    for seed in range(5):
        t = make_mqar(32, dim=32, seed=seed)
        pred = decode(linear_readout(t, feature_map="elu", normalize=True), t.values)
        assert len(set(pred.tolist())) <= 3
        assert accuracy(linear_readout(t, feature_map="elu"), t) <= 3 / 32


# ---------------------------------------------------------------- the selective SSM


@settings(max_examples=15, deadline=None)
@given(shapes, st.sampled_from([1.0, 0.9, 0.5]), st.integers(1, 19))
def test_ssm_equals_naive_recurrence(shape, gamma, Q):
    N, d, dv, seed = shape
    t = make_mqar(N, dim=d, value_dim=dv, num_queries=min(Q, N), seed=seed)
    out, x = ssm_readout(t, decay=gamma, return_final_state=True)
    want_y, want_x = naive_ssm(t, gamma)
    assert x.shape == (dv, d) and x.numel() == state_elements("ssm", N, dim=d, value_dim=dv) == d * dv
    torch.testing.assert_close(x, want_x, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(out, want_y, atol=1e-12, rtol=1e-12)
    # unrolled: sum_j gamma^(N-1-j) (q . k_j) v_j
    w = (t.queries @ t.keys.T) * gamma ** torch.arange(N - 1, -1, -1, dtype=torch.float64)  # [Q, N]
    torch.testing.assert_close(out, w @ t.values, atol=1e-12, rtol=1e-12)
    t32 = make_mqar(N, dim=d, value_dim=dv, num_queries=min(Q, N), seed=seed, dtype=torch.float32)
    torch.testing.assert_close(ssm_readout(t32, decay=gamma).double(), want_y, atol=1e-4, rtol=1e-4)


def test_ssm_with_no_decay_is_linear_attention():
    t = make_mqar(23, dim=12, value_dim=5, seed=2)
    torch.testing.assert_close(ssm_readout(t, decay=1.0), linear_readout(t), atol=1e-12, rtol=1e-12)


def test_ssm_inputs_switch_writing_and_reading():
    t = make_mqar(6, dim=4, value_dim=3, num_queries=2, seed=0)
    a = ssm_scan_inputs(t, decay=0.5)
    assert a["u"].shape == a["delta"].shape == (1, 3, 8) and a["A"].shape == (3, 4)
    assert a["B"].shape == a["C"].shape == (1, 4, 8)
    assert torch.equal(a["delta"][0, 0], torch.tensor([1.0] * 6 + [0.0] * 2, dtype=torch.float64))
    assert (
        torch.all(a["B"][0, :, 6:] == 0)
        and torch.all(a["C"][0, :, :6] == 0)
        and torch.all(a["u"][0, :, 6:] == 0)
    )
    torch.testing.assert_close(torch.exp(a["A"]), torch.full((3, 4), 0.5, dtype=torch.float64))


# ---------------------------------------------------------------- the table and the figure


def test_state_elements():
    assert state_elements("softmax", 10, dim=4, value_dim=3) == 10 * 4 + 10 * 3
    assert state_elements("softmax", 20, dim=4) == 2 * 20 * 4
    assert (
        state_elements("linear", 10, dim=4, value_dim=3)
        == 12
        == state_elements("linear", 99, dim=4, value_dim=3)
    )
    assert state_elements("linear_elu", 10, dim=4, value_dim=3) == 16
    assert state_elements("ssm", 10, dim=4, value_dim=3) == 12


def test_table_equals_recomputation():
    counts, d, dv, trials, seed = [3, 16, 40], 8, 6, 2, 11
    rows = recall_table(counts, dim=d, value_dim=dv, trials=trials, seed=seed, ssm_decay=0.9)
    assert [r["pairs"] for r in rows] == counts
    for row, N in zip(rows, counts):
        tasks = [make_mqar(N, dim=d, value_dim=dv, seed=trial_seed(seed, N, t)) for t in range(trials)]
        want = {
            "softmax": [accuracy(naive_softmax(t, 100.0), t) for t in tasks],
            "linear": [accuracy(naive_linear(t, identity, False), t) for t in tasks],
            "linear_elu": [accuracy(naive_linear(t, elu1, True), t) for t in tasks],
            "ssm": [accuracy(naive_ssm(t, 0.9)[0], t) for t in tasks],
        }
        for m in MODELS:
            assert row[f"{m}_accuracy"] == pytest.approx(sum(want[m]) / trials, abs=1e-12)
        assert row["softmax_state"] == N * (d + dv)
        assert row["linear_state"] == row["ssm_state"] == d * dv and row["linear_elu_state"] == d * dv + d
        assert (row["dim"], row["value_dim"], row["trials"]) == (d, dv, trials)
    assert (
        recall_accuracy("ssm", 40, dim=d, value_dim=dv, trials=trials, seed=seed, ssm_decay=0.9)
        == rows[2]["ssm_accuracy"]
    )


def test_table_is_reproducible_and_shows_the_gap():
    a = recall_table([4, 64], dim=8, trials=2, seed=0)
    assert a == recall_table([4, 64], dim=8, trials=2, seed=0)
    assert a != recall_table([4, 64], dim=8, trials=2, seed=1)
    big = a[1]
    assert big["softmax_accuracy"] >= 0.99 and big["linear_accuracy"] < 0.5 and big["ssm_accuracy"] < 0.5
    assert big["softmax_state"] > big["linear_state"]


@pytest.fixture(scope="module")
def figure_svg():
    return recall_figure((4, 16, 64), dim=8, trials=1)


def test_figure_is_svg_with_model_names(figure_svg):
    root = ET.fromstring(figure_svg)
    assert root.tag == f"{SVG}svg"
    texts = ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]
    for label in MODEL_LABELS.values():
        assert any(label in t for t in texts), label
    assert any("d·d_v = 64" in t for t in texts)  # d = d_v = 8
    assert any("chance" in t for t in texts)
    assert recall_figure((4, 16, 64), dim=8, trials=1) == figure_svg


# ---------------------------------------------------------------- bad inputs

T = make_mqar(4, dim=4, seed=0)

BAD = [
    (lambda: make_mqar(0, dim=4), ValueError, "num_pairs"),
    (lambda: make_mqar(2.0, dim=4), TypeError, "num_pairs"),
    (lambda: make_mqar(4, dim=0), ValueError, "dim"),
    (lambda: make_mqar(4, dim=4, value_dim=-1), ValueError, "value_dim"),
    (lambda: make_mqar(4, dim=4, num_queries=5), ValueError, "num_queries"),
    (lambda: make_mqar(4, dim=4, key_kind="binary"), ValueError, "key_kind"),
    (lambda: make_mqar(5, dim=4, key_kind="orthogonal"), ValueError, "num_pairs <= dim"),
    (lambda: make_mqar(4, dim=4, seed="a"), TypeError, "seed"),
    (lambda: make_mqar(4, dim=4, dtype=torch.int64), TypeError, "dtype"),
    (lambda: decode(torch.zeros(2, 3), torch.zeros(4, 5)), ValueError, "readout"),
    (lambda: decode(torch.zeros(2, 3, dtype=torch.long), torch.zeros(4, 3)), TypeError, "readout"),
    (lambda: softmax_readout(T, scale=0.0), ValueError, "scale"),
    (lambda: softmax_readout(T, scale=math.inf), ValueError, "scale"),
    (lambda: softmax_readout("task"), TypeError, "task"),
    (lambda: linear_readout(T, feature_map="cosine"), ValueError, "feature_map"),
    (lambda: linear_readout(T, normalize=1), TypeError, "normalize"),
    (lambda: linear_readout(T, feature_map=lambda x: x.sum()), ValueError, "feature_map"),
    (lambda: ssm_readout(T, decay=0.0), ValueError, "decay"),
    (lambda: ssm_scan_inputs(T, decay=1.5), ValueError, "decay"),
    (lambda: state_elements("rnn", 4, dim=4), ValueError, "model"),
    (lambda: recall_table([], dim=4), ValueError, "pair_counts"),
    (lambda: recall_table(8, dim=4), TypeError, "pair_counts"),
    (lambda: recall_table([4, 0], dim=4), ValueError, "pair_counts"),
    (lambda: recall_table([4], dim=4, trials=0), ValueError, "trials"),
    (lambda: recall_table([4], dim=4, models=("gru",)), ValueError, "models"),
    (lambda: recall_table([4], dim=4, ssm_decay=2), ValueError, "ssm_decay"),
    (lambda: recall_table([8], dim=4, key_kind="orthogonal"), ValueError, "num_pairs <= dim"),
    (lambda: recall_accuracy("gru", 4), ValueError, "model"),
]


@pytest.mark.parametrize("call,exc,name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_argument(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


# ---------------------------------------------------------------- the shared memories


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(1, 7), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_softmax_memory_is_attention_ref_over_the_kept_keys(N, d, dv, Q, seed):
    from longctx.attention import attention_ref

    gen = torch.Generator().manual_seed(seed)
    q, k = (
        torch.randn(Q, d, generator=gen, dtype=torch.float64),
        torch.randn(N, d, generator=gen, dtype=torch.float64),
    )
    v = torch.randn(N, dv, generator=gen, dtype=torch.float64)
    window, sinks = 1 + seed % N, seed % 3
    keep = window_keep(N, window=window, sinks=sinks)
    assert keep.tolist() == [j >= N - window or j < sinks for j in range(N)]
    for mask in (None, keep):
        want = attention_ref(
            q[None, None],
            k[None, None],
            v[None, None],
            scale=2.5,
            mask=None if mask is None else mask.expand(Q, N),
        )[0, 0]
        torch.testing.assert_close(
            softmax_memory(q, k, v, scale=2.5, keep=mask), want, atol=1e-12, rtol=1e-12
        )


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 9),
    st.integers(1, 7),
    st.integers(1, 6),
    st.sampled_from([1.0, 0.9, 0.5]),
    st.integers(0, 2**31 - 1),
)
def test_state_memory_is_linear_attention_with_faded_keys(N, d, dv, Q, decay, seed):
    from longctx.linear import linear_attention_ref

    gen = torch.Generator().manual_seed(seed)
    q, k = (
        torch.rand(Q, d, generator=gen, dtype=torch.float64),
        torch.rand(N, d, generator=gen, dtype=torch.float64),
    )
    v = torch.randn(N, dv, generator=gen, dtype=torch.float64)
    faded = k * torch.tensor([decay ** (N - 1 - j) for j in range(N)], dtype=torch.float64)[:, None]
    for normalize in (False, True):  # positive q and k: the denominator is safe
        want = linear_attention_ref(
            q[None, None],
            faded[None, None],
            v[None, None],
            causal=False,
            feature_map=lambda x: x,
            normalize=normalize,
        )[0, 0]
        got = state_memory(q, k, v, decay=decay, normalize=normalize)
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)


def test_ssm_with_decay_is_the_faded_state():
    t = make_mqar(40, dim=8, seed=5)
    torch.testing.assert_close(
        ssm_readout(t, decay=0.9),
        state_memory(t.queries, t.keys, t.values, decay=0.9),
        atol=1e-12,
        rtol=1e-12,
    )
