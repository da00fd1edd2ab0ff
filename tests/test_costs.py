"""longctx.costs against independent, naive computations of the same quantities."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx import costs

sizes = st.integers(min_value=1, max_value=10**6)
small = st.integers(min_value=1, max_value=512)
dtype_names = st.sampled_from(sorted(costs.BYTES_PER_ELEMENT))
FAST = settings(max_examples=60, deadline=None)


def naive_pairs(n: int, causal: bool) -> int:
    """Query-key pairs attention scores, counted one query at a time."""
    return sum((i + 1) if causal else n for i in range(n))


# ---------------------------------------------------------------- definitions, checked naively


@FAST
@given(n=sizes, heads=small)
def test_score_entries_is_heads_times_n_squared(n, heads):
    assert costs.score_entries(n, heads=heads) == sum(n * n for _ in range(heads))


@FAST
@given(n=sizes, heads=small, name=dtype_names)
def test_score_matrix_bytes_by_dtype_name(n, heads, name):
    per = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}[name]
    assert costs.score_matrix_bytes(n, heads=heads, bytes_per_element=name) == heads * n * n * per
    assert costs.score_matrix_bytes(n, heads=heads, bytes_per_element=name.upper()) == heads * n * n * per


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int8])
def test_dtype_sizes_match_torch(dtype):
    name = {
        torch.float64: "fp64",
        torch.float32: "fp32",
        torch.float16: "fp16",
        torch.bfloat16: "bf16",
        torch.int8: "int8",
    }[dtype]
    n = 37
    real = torch.empty(n, n, dtype=dtype)
    assert costs.score_matrix_bytes(n, bytes_per_element=name) == real.numel() * real.element_size()


def test_default_bytes_per_element_is_two():
    assert costs.score_matrix_bytes(300) == costs.score_matrix_bytes(300, bytes_per_element="fp16")


@FAST
@given(n=st.integers(1, 3000), d=small, heads=st.integers(1, 16), causal=st.booleans())
def test_attention_flops_counts_two_matmuls(n, d, heads, causal):
    pairs = naive_pairs(n, causal)
    qk = 2 * d * pairs  # one multiply-add per (pair, feature) for S = Q K^T
    pv = 2 * d * pairs  # and again for O = P V
    assert costs.attention_flops(n, d, heads=heads, causal=causal) == heads * (qk + pv)


@pytest.mark.parametrize("n", [1, 2, 3, 17, 64])
def test_causal_pairs_equal_a_counted_tril_mask(n):
    kept = int(torch.ones(n, n, dtype=torch.bool).tril().sum())
    assert costs.attention_flops(n, 1, causal=True) == 4 * kept
    assert costs.attention_flops(n, 1, causal=False) == 4 * n * n


@FAST
@given(a=sizes, b=sizes)
def test_cost_multiplier_is_the_ratio_of_costs(a, b):
    got = costs.cost_multiplier(a, b)
    assert got == pytest.approx(costs.score_entries(b) / costs.score_entries(a), rel=1e-12)
    assert got == pytest.approx(costs.attention_flops(b, 64) / costs.attention_flops(a, 64), rel=1e-12)


@FAST
@given(n=sizes)
def test_doubling_length_multiplies_cost_by_two_squared(n):
    assert costs.cost_multiplier(n, 2 * n) == 2**2
    assert costs.cost_multiplier(n, 10 * n) == pytest.approx(10**2)
    assert costs.cost_multiplier(n, n) == 1


@FAST
@given(
    n=st.integers(1, 10**5),
    d_model=st.integers(1, 8192),
    d_ff=st.one_of(st.none(), st.integers(1, 32768)),
    causal=st.booleans(),
)
def test_transformer_layer_flops_parts(n, d_model, d_ff, causal):
    parts = costs.transformer_layer_flops(n, d_model=d_model, d_ff=d_ff, causal=causal)
    ff = 4 * d_model if d_ff is None else d_ff
    assert set(parts) == {"projections", "attention", "mlp"}
    # Q, K, V and output: four [n, d_model] x [d_model, d_model] matmuls.
    assert parts["projections"] == 4 * (2 * n * d_model * d_model)
    # MLP: up [n, d_model] x [d_model, d_ff] and down [n, d_ff] x [d_ff, d_model].
    assert parts["mlp"] == 2 * n * d_model * ff + 2 * n * ff * d_model
    # The core, over all heads, depends only on heads * head_dim = d_model.
    for heads in (1, 2, 4):
        if d_model % heads == 0:
            assert parts["attention"] == costs.attention_flops(
                n, d_model // heads, heads=heads, causal=causal
            )


@FAST
@given(a=st.integers(1, 10**5), b=st.integers(1, 10**5), d_model=st.integers(1, 8192), causal=st.booleans())
def test_model_cost_multiplier_lies_between_r_and_r_squared(a, b, d_model, causal):
    r = b / a
    got = costs.model_cost_multiplier(a, b, d_model=d_model, causal=causal)
    lo, hi = sorted((r, r * r))
    if not causal:  # with a causal mask the pairs n (n + 1) / 2 are not exactly quadratic
        assert lo * (1 - 1e-12) <= got <= hi * (1 + 1e-12)
    before = sum(costs.transformer_layer_flops(a, d_model=d_model, causal=causal).values())
    after = sum(costs.transformer_layer_flops(b, d_model=d_model, causal=causal).values())
    assert got == pytest.approx(after / before, rel=1e-12)


def test_model_cost_multiplier_approaches_r_squared_as_attention_dominates():
    # Narrow model, long sequences: the n^2 term outweighs the linear ones.
    r = 8
    narrow = costs.model_cost_multiplier(100_000, r * 100_000, d_model=64)
    wide = costs.model_cost_multiplier(100_000, r * 100_000, d_model=65_536)
    assert r < wide < narrow < r * r
    assert narrow > 0.9 * r * r


@FAST
@given(
    layers=small,
    kv_heads=st.integers(1, 64),
    head_dim=small,
    tokens=sizes,
    batch=st.integers(1, 64),
    name=dtype_names,
)
def test_kv_cache_bytes(layers, kv_heads, head_dim, tokens, batch, name):
    per = costs.bytes_per_element(name)
    k_and_v = 2
    expected = k_and_v * layers * kv_heads * head_dim * tokens * batch * per
    got = costs.kv_cache_bytes(
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        tokens=tokens,
        batch=batch,
        bytes_per_element=name,
    )
    assert got == expected


def test_kv_cache_bytes_counts_a_real_cache():
    layers, kv_heads, head_dim, tokens, batch = 3, 2, 40, 17, 5
    cache = [
        (
            torch.empty(batch, kv_heads, tokens, head_dim, dtype=torch.bfloat16),
            torch.empty(batch, kv_heads, tokens, head_dim, dtype=torch.bfloat16),
        )
        for _ in range(layers)
    ]
    real = sum(t.numel() * t.element_size() for kv in cache for t in kv)
    assert (
        costs.kv_cache_bytes(
            layers=layers,
            kv_heads=kv_heads,
            head_dim=head_dim,
            tokens=tokens,
            batch=batch,
            bytes_per_element="bf16",
        )
        == real
    )


@pytest.mark.parametrize("value", [1, 0.5, 3, 2.25])
def test_bytes_per_element_accepts_positive_numbers(value):
    assert costs.bytes_per_element(value) == value
    assert costs.score_matrix_bytes(10, bytes_per_element=value) == 100 * value


def test_quadratic_cost_table_rows():
    lens = (512, 1000, 4096, 8192)
    rows = costs.quadratic_cost_table(lens, head_dim=64, reference_len=1000)
    assert [r["seq_len"] for r in rows] == list(lens)
    for r in rows:
        n = r["seq_len"]
        assert r["entries"] == n * n
        assert r["fp16_bytes"] == 2 * n * n and r["fp32_bytes"] == 4 * n * n
        assert r["flops"] == 4 * n * n * 64
        assert r["multiplier"] == pytest.approx((n / 1000) ** 2)
    assert rows[1]["multiplier"] == 1


def test_default_table_doubles_from_512():
    rows = costs.quadratic_cost_table()
    lens = [r["seq_len"] for r in rows]
    assert lens[0] == 512 and all(b == 2 * a for a, b in zip(lens, lens[1:]))


def test_gpu_memory_entries_are_sourced():
    for name, (size, source) in costs.GPU_MEMORY_BYTES.items():
        assert size > 0 and math.isfinite(size)
        assert source.strip()
        assert name.split()[0] in source


# ---------------------------------------------------------------- bad input


BAD_SIZES = [
    (0, ValueError),
    (-3, ValueError),
    (2.0, TypeError),
    (True, TypeError),
    (False, TypeError),
    ("8", TypeError),
    (None, TypeError),
    (float("nan"), TypeError),
]

SIZE_ARGS = [
    ("seq_len", lambda v: costs.score_entries(v)),
    ("heads", lambda v: costs.score_entries(8, heads=v)),
    ("seq_len", lambda v: costs.score_matrix_bytes(v)),
    ("heads", lambda v: costs.score_matrix_bytes(8, heads=v)),
    ("seq_len", lambda v: costs.attention_flops(v, 64)),
    ("head_dim", lambda v: costs.attention_flops(8, v)),
    ("heads", lambda v: costs.attention_flops(8, 64, heads=v)),
    ("n_from", lambda v: costs.cost_multiplier(v, 8)),
    ("n_to", lambda v: costs.cost_multiplier(8, v)),
    ("seq_len", lambda v: costs.transformer_layer_flops(v, d_model=64)),
    ("d_model", lambda v: costs.transformer_layer_flops(8, d_model=v)),
    ("d_ff", lambda v: costs.transformer_layer_flops(8, d_model=64, d_ff=v)),
    ("n_from", lambda v: costs.model_cost_multiplier(v, 8, d_model=64)),
    ("n_to", lambda v: costs.model_cost_multiplier(8, v, d_model=64)),
    ("d_model", lambda v: costs.model_cost_multiplier(8, 16, d_model=v)),
    ("layers", lambda v: costs.kv_cache_bytes(layers=v, kv_heads=1, head_dim=1, tokens=1)),
    ("kv_heads", lambda v: costs.kv_cache_bytes(layers=1, kv_heads=v, head_dim=1, tokens=1)),
    ("head_dim", lambda v: costs.kv_cache_bytes(layers=1, kv_heads=1, head_dim=v, tokens=1)),
    ("tokens", lambda v: costs.kv_cache_bytes(layers=1, kv_heads=1, head_dim=1, tokens=v)),
    ("batch", lambda v: costs.kv_cache_bytes(layers=1, kv_heads=1, head_dim=1, tokens=1, batch=v)),
]


@pytest.mark.parametrize(
    "name, call, value, error",
    [
        pytest.param(name, call, value, error, id=f"{i}-{name}-{value!r}")
        for i, (name, call) in enumerate(SIZE_ARGS)
        for value, error in BAD_SIZES
        if not (name == "d_ff" and value is None)  # None is d_ff's default: 4 * d_model
    ],
)
def test_bad_sizes_are_refused_naming_the_argument(name, call, value, error):
    with pytest.raises(error, match=rf"\b{name}\b"):
        call(value)


@pytest.mark.parametrize(
    "call",
    [
        lambda v: costs.bytes_per_element(v),
        lambda v: costs.score_matrix_bytes(8, bytes_per_element=v),
        lambda v: costs.kv_cache_bytes(layers=1, kv_heads=1, head_dim=1, tokens=1, bytes_per_element=v),
    ],
)
@pytest.mark.parametrize(
    "value, error",
    [
        ("fp12", ValueError),
        ("float16", ValueError),
        ("", ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (-float("inf"), ValueError),
        (0, ValueError),
        (-2, ValueError),
        (True, TypeError),
        (None, TypeError),
        (torch.float16, TypeError),
    ],
    ids=repr,
)
def test_bad_bytes_per_element_is_refused(call, value, error):
    with pytest.raises(error, match="bytes_per_element"):
        call(value)


def test_unknown_dtype_message_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        costs.bytes_per_element("fp12")
    assert "'fp12'" in str(info.value) and "bf16" in str(info.value)


@pytest.mark.parametrize("causal", [1, 0, "yes", None])
def test_causal_must_be_a_bool(causal):
    with pytest.raises(TypeError, match="causal"):
        costs.attention_flops(8, 8, causal=causal)


def test_empty_table_is_refused():
    with pytest.raises(ValueError, match="seq_lens"):
        costs.quadratic_cost_table(())


# --- the checks around the formulas a page shows -------------------------------------------------


def test_every_shown_formula_is_checked_and_its_plain_form_is_kept():
    """costs, summary, presets and linear.costs rebind each shown formula to a checked wrapper."""
    from longctx import presets, summary
    from longctx.linear import costs as linear_costs

    for module, names in (
        (costs, costs._CHECKED),
        (summary, summary._CHECKED),
        (presets, presets._CHECKED),
        (linear_costs, linear_costs.__all__),
    ):
        for name in names:
            fn = getattr(module, name)
            assert hasattr(fn, "__wrapped__"), f"{module.__name__}.{name} is not checked"
            assert fn.__doc__ == fn.__wrapped__.__doc__ and fn.__name__ == name
    # the plain formula is plain arithmetic; the package's function refuses what it cannot mean
    assert costs.attention_flops.__wrapped__(10, 4) == 4 * 10 * 10 * 4 == costs.attention_flops(10, 4)
    assert costs.score_matrix_bytes(10, bytes_per_element="fp16") == 200
    with pytest.raises(TypeError, match="causal must be a bool"):
        costs.attention_flops(10, 4, causal=1)
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        costs.attention_flops(0, 4)
    with pytest.raises(ValueError, match="lengths must hold at least one length"):
        costs.paged_kv_slots([], block_size=16)
    with pytest.raises(TypeError, match=r"lengths\[1\] must be a positive integer"):
        costs.paged_kv_slots([3, 2.5], block_size=16)
    with pytest.raises(ValueError, match="flops must be finite and >= 0"):
        costs.roofline_time_s(-1.0, 1.0, 1.0, 1.0)


def test_the_argument_decorator():
    from longctx import checks

    @checks.arguments(n=checks.positive_int, d=checks.optional(checks.positive_int))
    def f(n, *, d=None):
        return n, d

    assert f(3) == (3, None) and f(n=2, d=5) == (2, 5)
    with pytest.raises(ValueError, match="d must be a positive integer, got 0"):
        f(1, d=0)
    with pytest.raises(TypeError, match="n must be a positive integer"):
        f(True)
    with pytest.raises(TypeError, match="has no parameter x"):
        checks.arguments(x=checks.flag)(lambda n: n)
