"""The delta rule against a float64 loop written here with explicit matrices, on odd sizes."""

from __future__ import annotations

import math

import pytest
import torch

from longctx.linear import delta_rule_chunked_ref, delta_rule_ref


def loop_delta(q, k, v, beta, g=None, scale=None, S0=None):
    """S_t = a_t S_{t-1} (I - beta_t k_t k_t^T) + beta_t v_t k_t^T, o_t = S_t (scale q_t), one
    batch, head and step at a time, with the identity matrix written out."""
    q, k, v, beta = q.double(), k.double(), v.double(), beta.double()
    B, H, T, Dk = q.shape
    Dv = v.shape[-1]
    scale = 1 / math.sqrt(Dk) if scale is None else scale
    out = torch.zeros(B, H, T, Dv, dtype=torch.float64)
    final = torch.zeros(B, H, Dv, Dk, dtype=torch.float64)
    eye = torch.eye(Dk, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            S = torch.zeros(Dv, Dk, dtype=torch.float64) if S0 is None else S0[b, h].double().clone()
            for t in range(T):
                a = 1.0 if g is None else math.exp(float(g[b, h, t]))
                kt, vt, bt = k[b, h, t], v[b, h, t], float(beta[b, h, t])
                S = a * S @ (eye - bt * torch.outer(kt, kt)) + bt * torch.outer(vt, kt)
                out[b, h, t] = S @ (scale * q[b, h, t])
            final[b, h] = S
    return out, final


def inputs(B, H, T, Dk, Dv, seed, gated=True, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, Dk, generator=gen, dtype=dtype)
    k = torch.nn.functional.normalize(
        torch.randn(B, H, T, Dk, generator=gen, dtype=dtype), dim=-1
    )  # as models do
    v = torch.randn(B, H, T, Dv, generator=gen, dtype=dtype)
    beta = torch.rand(B, H, T, generator=gen, dtype=dtype)
    g = -torch.rand(B, H, T, generator=gen, dtype=dtype) * 0.3 if gated else None
    return q, k, v, beta, g


CASES = [  # B, H, T, Dk, Dv, chunk_size
    (1, 1, 1, 3, 2, 4),
    (2, 3, 37, 5, 7, 8),  # T not a multiple of the chunk
    (1, 2, 64, 16, 8, 16),  # T a multiple of the chunk
    (2, 1, 29, 9, 4, 64),  # one chunk shorter than chunk_size
    (1, 2, 23, 6, 6, 1),  # chunks of one position
]


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("B, H, T, Dk, Dv, C", CASES)
def test_both_forms_match_the_loop(B, H, T, Dk, Dv, C, gated):
    q, k, v, beta, g = inputs(B, H, T, Dk, Dv, seed=T * 7 + Dk, gated=gated)
    S0 = torch.randn(B, H, Dv, Dk, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for init in (None, S0):
        want, want_state = loop_delta(q, k, v, beta, g, S0=init)
        out, state = delta_rule_ref(q, k, v, beta, g=g, initial_state=init, return_final_state=True)
        torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(state, want_state, rtol=1e-10, atol=1e-12)
        out_c, state_c = delta_rule_chunked_ref(
            q, k, v, beta, g=g, initial_state=init, return_final_state=True, chunk_size=C
        )
        torch.testing.assert_close(out_c, want, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(state_c, want_state, rtol=1e-10, atol=1e-10)
    alone = delta_rule_chunked_ref(q, k, v, beta, g=g, chunk_size=C, scale=0.7)
    assert isinstance(alone, torch.Tensor)
    torch.testing.assert_close(alone, loop_delta(q, k, v, beta, g, scale=0.7)[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("T", [63, 64, 65, 130, 200])
def test_chunked_equals_recurrent_in_float32(T):
    q, k, v, beta, g = inputs(2, 2, T, 32, 24, seed=T, dtype=torch.float32)
    ref = delta_rule_ref(q, k, v, beta, g=g)
    chunked = delta_rule_chunked_ref(q, k, v, beta, g=g)  # chunk_size 64
    assert ref.dtype == chunked.dtype == torch.float32
    want = loop_delta(q, k, v, beta, g)[0]
    torch.testing.assert_close(ref.double(), want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(chunked.double(), want, rtol=1e-4, atol=1e-5)


def test_a_unit_key_written_with_beta_one_reads_back_its_value():
    """The delta rule's defining property: after writing (k, v) with beta = 1, reading k gives v,
    whatever was stored under k before; plain linear attention returns the sum instead."""
    k = torch.nn.functional.normalize(torch.randn(1, 1, 1, 8, dtype=torch.float64), dim=-1).repeat(1, 1, 2, 1)
    v = torch.randn(1, 1, 2, 5, dtype=torch.float64)
    beta = torch.ones(1, 1, 2, dtype=torch.float64)
    out = delta_rule_ref(k * math.sqrt(8), k, v, beta)  # query = the key, scaled back by sqrt(Dk)
    torch.testing.assert_close(out[0, 0, 1], v[0, 0, 1])  # the second write replaced the first


def test_bad_input_names_the_argument():
    q, k, v, beta, g = inputs(1, 2, 5, 4, 3, seed=0)
    cases = [
        (lambda: delta_rule_ref(q, k, v, beta * 2), ValueError, "beta"),
        (lambda: delta_rule_ref(q, k, v, -beta), ValueError, "beta"),
        (lambda: delta_rule_ref(q, k, v, beta, g=-g), ValueError, "g"),
        (lambda: delta_rule_ref(q, k, v, beta, g=g.fill_(float("nan"))), ValueError, "g"),
        (lambda: delta_rule_ref(q, k[..., :3], v, beta), ValueError, "k"),
        (lambda: delta_rule_ref(q, k, v[:, :1], beta), ValueError, "v"),
        (lambda: delta_rule_ref(q, k, v, beta[..., :4]), ValueError, "beta"),
        (lambda: delta_rule_ref(q[0], k, v, beta), ValueError, "q"),
        (lambda: delta_rule_ref(q.long(), k, v, beta), TypeError, "q"),
        (
            lambda: delta_rule_ref(q, k, v, beta, initial_state=torch.zeros(1, 2, 4, 3)),
            ValueError,
            "initial_state",
        ),
        (lambda: delta_rule_ref(q, k, v, beta, scale=0.0), ValueError, "scale"),
        (lambda: delta_rule_ref(q, k, v, beta, return_final_state=1), TypeError, "return_final_state"),
        (lambda: delta_rule_chunked_ref(q, k, v, beta, chunk_size=0), ValueError, "chunk_size"),
        (
            lambda: delta_rule_ref(q[:, :, :0], k[:, :, :0], v[:, :, :0], beta[:, :, :0]),
            ValueError,
            "position",
        ),
    ]
    for call, exc, name in cases:
        with pytest.raises(exc, match=name):
            call()


def test_recall_measurements_against_an_independent_replay():
    from longctx.linear.delta import delta_overwrite_recall, delta_recall_table
    from longctx.recall import make_mqar, trial_seed

    def write(keys, values):  # S <- S (I - k k^T) + v k^T, beta = 1, float64 loop
        S = torch.zeros(values.shape[1], keys.shape[1], dtype=torch.float64)
        for k, v in zip(keys, values):
            S = S @ (torch.eye(len(k), dtype=torch.float64) - torch.outer(k, k)) + torch.outer(v, k)
        return S

    rows = delta_recall_table((5, 12), dim=8, trials=2, seed=3)
    for row in rows:
        acc = {"delta": 0.0, "linear": 0.0}
        for t in range(2):
            task = make_mqar(row["pairs"], dim=8, seed=trial_seed(3, row["pairs"], t))
            q = task.keys[task.index]
            for name, S in (("delta", write(task.keys, task.values)), ("linear", task.values.T @ task.keys)):
                acc[name] += float(((q @ S.T @ task.values.T).argmax(-1) == task.index).double().mean()) / 2
        assert row["delta_accuracy"] == pytest.approx(acc["delta"]) and row[
            "linear_accuracy"
        ] == pytest.approx(acc["linear"])
        assert row["delta_error"] < row["linear_error"]  # the delta rule's reads stay closer to the values
    over = delta_overwrite_recall(6, dim=16, trials=2)
    hits = {"delta": 0.0, "linear": 0.0}
    for t in range(2):
        task = make_mqar(6, dim=16, seed=trial_seed(0, 6, t))
        new = make_mqar(6, dim=16, seed=trial_seed(1, 6, t)).values
        keys, values = torch.cat((task.keys, task.keys)), torch.cat((task.values, new))
        for name, S in (("delta", write(keys, values)), ("linear", values.T @ keys)):
            hits[name] += (
                float(((task.keys @ S.T @ values.T).argmax(-1) == torch.arange(6) + 6).double().mean()) / 2
            )
    assert over["delta_accuracy"] == pytest.approx(hits["delta"]) and over[
        "linear_accuracy"
    ] == pytest.approx(hits["linear"])
    assert over["delta_accuracy"] > over["linear_accuracy"]
    with pytest.raises(ValueError, match="beta"):
        delta_recall_table((4,), beta=1.5)
    from longctx.linear.delta import delta_overwrite_accuracy

    assert delta_overwrite_accuracy("delta", 6) == delta_overwrite_recall(6)["delta_accuracy"]
    with pytest.raises(ValueError, match="model"):
        delta_overwrite_accuracy("softmax")


def test_state_bytes():
    from longctx.linear.delta import delta_state_bytes

    assert delta_state_bytes(heads=16, key_dim=128, value_dim=96, layers=3) == 3 * 16 * 96 * 128 * 4
    assert delta_state_bytes(heads=2, key_dim=4, value_dim=4, bytes_per_element=2) == 64
    with pytest.raises(ValueError, match="heads"):
        delta_state_bytes(heads=0, key_dim=4, value_dim=4)
