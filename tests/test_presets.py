"""Tests of ``longctx.presets``: the model shapes, their consistency, and the ledger's KV numbers.

Expected shapes are typed from the papers and configurations each preset cites (and from
/work/shared/claims.md); expected byte counts are written out as arithmetic beside them.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from longctx import costs, presets
from longctx.presets import PRESETS, ModelPreset
from longctx.units import format_value, resolve

# (layers, d_model, n_heads, n_kv_heads, head_dim, context_length, attention, window)
EXPECTED = {
    "llama-2-7b": (32, 4096, 32, 32, 128, 4096, "mha", None),
    "llama-2-70b": (80, 8192, 64, 8, 128, 4096, "gqa", None),
    "mistral-7b-v0.1": (32, 4096, 32, 8, 128, 8192, "gqa", 4096),
    "llama-3-8b": (32, 4096, 32, 8, 128, 8192, "gqa", None),
    "llama-3-70b": (80, 8192, 64, 8, 128, 8192, "gqa", None),
    "deepseek-v2": (60, 5120, 128, 128, 128, 131072, "mla", None),
    "gpt-3-175b": (96, 12288, 96, 96, 128, 2048, "mha", None),
    "llama-1-7b": (32, 4096, 32, 32, 128, 2048, "mha", None),
    "llama-1-65b": (80, 8192, 64, 64, 128, 2048, "mha", None),
    "deepseek-llm-67b": (95, 8192, 64, 8, 128, 4096, "gqa", None),
}


def test_every_expected_model_is_there_with_its_shape():
    assert set(EXPECTED) <= set(PRESETS)
    for key, (layers, d_model, heads, kv, hd, ctx, kind, window) in EXPECTED.items():
        p = PRESETS[key]
        got = (
            p.layers,
            p.d_model,
            p.n_heads,
            p.n_kv_heads,
            p.head_dim,
            p.context_length,
            p.attention,
            p.window,
        )
        assert got == (layers, d_model, heads, kv, hd, ctx, kind, window), key
        assert p.key == key


@pytest.mark.parametrize("key", list(PRESETS))
def test_presets_are_consistent(key):
    p = PRESETS[key]
    assert p.n_heads % p.n_kv_heads == 0
    if p.attention != "mla":
        assert p.n_heads * p.head_dim == p.d_model  # holds for every non-MLA model here
        assert p.mla_latent_dim is None and p.mla_rope_dim is None
    if p.attention == "mha":
        assert p.n_kv_heads == p.n_heads
    if p.attention == "gqa":
        assert 1 < p.n_kv_heads < p.n_heads
    assert "arXiv:" in p.source
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.layers = 1  # type: ignore[misc]


def test_the_source_numbers_that_are_not_shapes():
    assert PRESETS["deepseek-v2"].mla_latent_dim == 512 and PRESETS["deepseek-v2"].mla_rope_dim == 64
    assert PRESETS["llama-2-7b"].d_ff == 11008 and PRESETS["llama-2-70b"].d_ff == 28672
    assert PRESETS["mistral-7b-v0.1"].d_ff == 14336 and PRESETS["llama-3-8b"].d_ff == 14336
    assert PRESETS["gpt-3-175b"].d_ff == 4 * 12288
    assert PRESETS["llama-3-8b"].vocab == 128256 and PRESETS["llama-2-7b"].vocab == 32000
    for key, arxiv in [
        ("llama-2-7b", "2307.09288"),
        ("llama-2-70b", "2307.09288"),
        ("mistral-7b-v0.1", "2310.06825"),
        ("llama-3-8b", "2407.21783"),
        ("llama-3-70b", "2407.21783"),
        ("deepseek-v2", "2405.04434"),
        ("gpt-3-175b", "2005.14165"),
        ("deepseek-llm-67b", "2401.02954"),
    ]:
        assert f"arXiv:{arxiv}" in PRESETS[key].source, key
    # fields the sources at hand did not settle are None, and the notes say why
    for key, field in [("gpt-3-175b", "vocab"), ("deepseek-v2", "d_ff"), ("deepseek-llm-67b", "d_ff")]:
        assert getattr(PRESETS[key], field) is None
        assert field in PRESETS[key].notes


@pytest.mark.parametrize("key", list(PRESETS))
@pytest.mark.parametrize("dtype", ["fp16", "fp32", "int8", "int4", 3])
def test_kv_bytes_per_token_by_layer_and_head(key, dtype):
    p = PRESETS[key]
    bpe = costs.bytes_per_element(dtype)
    elements = 0
    for _ in range(p.layers):
        if p.attention == "mla":
            elements += p.mla_latent_dim + p.mla_rope_dim  # one latent and one RoPE key, all heads share
        else:
            for _ in range(p.n_kv_heads):
                elements += 2 * p.head_dim  # a key and a value
    assert presets.kv_bytes_per_token(p, dtype) == elements * bpe
    assert presets.kv_bytes_per_token(key, dtype) == elements * bpe
    assert presets.model_kv_cache_bytes(key, 100, batch=3, bytes_per_element=dtype) == 300 * elements * bpe


def test_ledger_x6_llama2_70b():
    assert presets.kv_bytes_per_token("llama-2-70b") == 2 * 80 * 8 * 128 * 2 == 327_680
    assert format_value(presets.model_kv_cache_bytes("llama-2-70b", 4096), "gb") == "1.34 GB"
    assert format_value(presets.model_kv_cache_bytes("llama-2-70b", 131072), "gb") == "42.95 GB"
    assert presets.model_kv_cache_bytes("llama-2-70b", 131072) == 2 * 80 * 8 * 128 * 2 * 131072 == 40 * 2**30


def test_ledger_x9_gpt3_at_its_context():
    kv = presets.model_kv_cache_bytes("gpt-3-175b", PRESETS["gpt-3-175b"].context_length)
    assert kv == 2 * 96 * 96 * 128 * 2048 * 2 and format_value(kv, "gb") == "9.66 GB"


def test_ledger_x12_drill_model_is_llama2_7b_shaped():
    assert presets.model_kv_cache_bytes("llama-2-7b", 4096) == 2 * 32 * 32 * 128 * 4096 * 2 == 2 * 2**30


def test_ledger_x15_and_x17_ratios():
    # X15: Mistral 7B (8 KV heads) against LLaMA-1 7B (32): 4x less cache per token
    assert presets.kv_bytes_ratio("llama-1-7b", "mistral-7b-v0.1") == 32 / 8 == 4
    assert presets.kv_bytes_ratio("llama-2-70b", "llama-2-70b") == 1
    # X17: DeepSeek-V2 caches 60 x 576 elements per token; DeepSeek 67B 2 x 95 x 8 x 128
    assert presets.kv_bytes_per_token("deepseek-v2", 1) == 60 * (512 + 64) == 34_560
    assert presets.kv_bytes_per_token("deepseek-llm-67b", 1) == 2 * 95 * 8 * 128 == 194_560
    assert round(100 * (1 - presets.kv_bytes_ratio("deepseek-v2", "deepseek-llm-67b")), 1) == 82.2
    assert (
        format_value(presets.model_kv_cache_bytes("deepseek-v2", 131072, bytes_per_element="bf16"), "gb")
        == "9.06 GB"
    )
    # X17: LLaMA-1 65B (MHA) at 4K, LLaMA-1 7B at 4K
    assert format_value(presets.model_kv_cache_bytes("llama-1-65b", 4096), "gb") == "10.74 GB"
    assert format_value(presets.model_kv_cache_bytes("llama-1-7b", 4096), "gb") == "2.15 GB"


def test_rolling_buffer_caps_mistral_at_its_window():
    full = presets.model_kv_cache_bytes("mistral-7b-v0.1", 32768)
    rolling = presets.model_kv_cache_bytes("mistral-7b-v0.1", 32768, rolling_buffer=True)
    assert rolling == 2 * 32 * 8 * 128 * 2 * 4096
    assert full / rolling == 8  # X13: 32,768 / 4,096
    assert rolling == costs.rolling_buffer_kv_bytes(slots=4096, layers=32, kv_heads=8, head_dim=128)
    # short sequences, and models without a window, are untouched
    assert presets.model_kv_cache_bytes(
        "mistral-7b-v0.1", 100, rolling_buffer=True
    ) == presets.model_kv_cache_bytes("mistral-7b-v0.1", 100)
    assert presets.model_kv_cache_bytes(
        "llama-3-8b", 32768, rolling_buffer=True
    ) == presets.model_kv_cache_bytes("llama-3-8b", 32768)
    # the window's reach over all layers: X13, 32 x 4096
    p = PRESETS["mistral-7b-v0.1"]
    assert costs.sliding_window_receptive_field(layers=p.layers, window=p.window) == 131_072


def test_presets_table_rows():
    rows = presets.presets_table()
    assert [r["key"] for r in rows] == list(PRESETS)
    for r in rows:
        p = PRESETS[r["key"]]
        assert r["kv_bytes_per_token"] == presets.kv_bytes_per_token(p)
        assert r["kv_bytes_at_context"] == presets.kv_bytes_per_token(p) * p.context_length
        assert (r["layers"], r["n_heads"], r["n_kv_heads"], r["source"]) == (
            p.layers,
            p.n_heads,
            p.n_kv_heads,
            p.source,
        )
    fp32 = presets.presets_table("fp32")
    assert all(b["kv_bytes_per_token"] == 2 * a["kv_bytes_per_token"] for a, b in zip(rows, fp32))


def test_presets_json_is_plain_data_with_sources():
    data = presets.presets_json()
    assert json.loads(json.dumps(data)) == data  # survives JSON unchanged
    assert data["bytes_per_element"]["fp16"] == 2 and data["bytes_per_element"]["int4"] == 0.5
    by_key = {item["key"]: item for item in data["presets"]}
    assert set(by_key) == set(PRESETS)
    for key, item in by_key.items():
        assert item["source"] == PRESETS[key].source and "notes" in item
        # the browser computes bytes as elements x dtype size x tokens
        assert item["kv_elements_per_token"] * 2 == presets.kv_bytes_per_token(key, "fp16")
    assert by_key["deepseek-v2"]["kv_elements_per_token"] == 34_560
    assert by_key["llama-2-70b"]["kv_elements_per_token"] == 2 * 80 * 8 * 128


def test_pages_can_name_the_functions():
    assert resolve("presets.kv_bytes_per_token") is presets.kv_bytes_per_token
    assert resolve("presets.model_kv_cache_bytes") is presets.model_kv_cache_bytes


# ---------------------------------------------------------------- bad input

GOOD = dict(
    key="m",
    name="M",
    layers=2,
    d_model=64,
    n_heads=8,
    n_kv_heads=2,
    head_dim=8,
    context_length=128,
    attention="gqa",
    source="a paper, arXiv:0000.00000",
)


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"layers": 0}, ValueError, "layers"),
        ({"layers": True}, TypeError, "layers"),
        ({"head_dim": 8.0}, TypeError, "head_dim"),
        ({"d_ff": 0}, ValueError, "d_ff"),
        ({"window": -1}, ValueError, "window"),
        ({"n_kv_heads": 3}, ValueError, "n_kv_heads"),
        ({"attention": "gqa", "n_kv_heads": 8}, ValueError, "attention"),
        ({"attention": "mqa"}, ValueError, "attention"),
        ({"attention": "mha"}, ValueError, "attention"),
        ({"attention": "sparse"}, ValueError, "attention"),
        ({"attention": "mla"}, ValueError, "mla_latent_dim"),
        ({"mla_latent_dim": 16, "mla_rope_dim": 4}, ValueError, "mla_latent_dim"),
        ({"source": "  "}, ValueError, "source"),
    ],
)
def test_bad_presets_are_refused_naming_the_field(change, error, words):
    with pytest.raises(error, match=words):
        ModelPreset(**{**GOOD, **change})


def test_a_good_custom_preset_works_everywhere():
    p = ModelPreset(**GOOD)
    assert presets.kv_bytes_per_token(p) == 2 * 2 * 2 * 8 * 2
    mqa = ModelPreset(**{**GOOD, "attention": "mqa", "n_kv_heads": 1})
    assert presets.kv_bytes_ratio(p, mqa) == 2


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: presets.get_preset("llama-9"), ValueError, "preset.*llama-2-70b"),
        (lambda: presets.get_preset(7), TypeError, "preset"),
        (lambda: presets.kv_bytes_per_token("gpt-4"), ValueError, "preset"),
        (lambda: presets.kv_bytes_per_token("llama-2-7b", "fp12"), ValueError, "bytes_per_element"),
        (lambda: presets.model_kv_cache_bytes("llama-2-7b", 0), ValueError, "tokens"),
        (lambda: presets.model_kv_cache_bytes("llama-2-7b", 10, batch=0), ValueError, "batch"),
        (
            lambda: presets.model_kv_cache_bytes("llama-2-7b", 10, rolling_buffer=1),
            TypeError,
            "rolling_buffer",
        ),
        (lambda: presets.presets_table("fp12"), ValueError, "bytes_per_element"),
    ],
)
def test_bad_calls_are_refused_naming_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()
