"""Lesson 4's build-time helpers (longctx.figures.kv): tables, figures and the small arithmetic helpers.

Expected values are computed here independently: byte counts written out as arithmetic from the
papers' shapes, block tables replayed by hand, and the eviction/quantization rows checked against
the package functions they summarise.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
import torch

from longctx import costs, presets
from longctx.figures import FIGURES
from longctx.figures import kv as fkv
from longctx.units import resolve

SVG = "{http://www.w3.org/2000/svg}"


def _labels(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(el.itertext()).strip() for el in root.iter(f"{SVG}text")]


# ----------------------------------------------------------------- what pages can call


def test_helpers_are_reachable_from_pages():
    for name in (
        "kv_sizing_table",
        "attention_kinds_table",
        "block_table_walkthrough",
        "quant_error_table",
        "eviction_table",
    ):
        assert resolve(f"figures.kv.{name}") is getattr(fkv, name)


# ----------------------------------------------------------------- tables


def test_sizing_table_is_llama2_70b_arithmetic():
    rows = fkv.kv_sizing_table("llama-2-70b", contexts=(4096, 131072, 1000))
    per_token = 2 * 80 * 8 * 128 * 2  # K and V, 80 layers, 8 KV heads of 128, fp16
    assert per_token == 327_680
    for row, n in zip(rows, (4096, 131072, 1000)):
        assert row["tokens"] == n
        assert row["bytes"] == per_token * n
        assert row["mha_bytes"] == 2 * 80 * 64 * 128 * 2 * n
        assert row["a100_80gb"] == pytest.approx(per_token * n / (81920 * 2**20), rel=1e-15)  # 80 GiB
    assert round(rows[0]["bytes"] / 1e9, 2) == 1.34 and round(rows[1]["bytes"] / 1e9, 2) == 42.95
    assert (
        fkv.kv_sizing_table("llama-2-7b", contexts=(10,), bytes_per_element="int4")[0]["bytes"]
        == 2 * 32 * 32 * 128 * 0.5 * 10
    )
    with pytest.raises(ValueError, match="contexts"):
        fkv.kv_sizing_table(contexts=())
    with pytest.raises(ValueError, match="preset"):
        fkv.kv_sizing_table("llama-9")


def test_attention_kinds_table_is_deepseek_v2_layer():
    rows = {r["kind"]: r for r in fkv.attention_kinds_table()}
    assert rows["MHA"]["elements"] == 2 * 128 * 128 == 32768
    assert rows["GQA-8"]["elements"] == 2 * 8 * 128
    assert rows["MQA"]["elements"] == 2 * 128
    assert rows["MLA"]["elements"] == 512 + 64
    assert rows["MLA"]["fraction"] == pytest.approx(576 / 32768, rel=1e-15)  # about 1/57
    assert round(1 / rows["MLA"]["fraction"]) == 57
    odd = {
        r["kind"]: r for r in fkv.attention_kinds_table(n_heads=12, head_dim=40, latent_dim=70, rope_dim=0)
    }
    assert odd["MHA"]["elements"] == 2 * 12 * 40 and odd["MLA"]["elements"] == 70


def test_block_table_walkthrough_replays_the_allocator():
    rows = fkv.block_table_walkthrough()
    assert [r["step"] for r in rows] == [
        "A writes 6",
        "B writes 3",
        "A writes 3",
        "C writes 5",
        "B finishes",
        "D writes 2",
    ]
    # By hand, blocks of 4 from a free list that hands out the lowest id first:
    assert rows[0]["tables"] == "A: [0, 1] (6 tok)"
    assert rows[2]["tables"] == "A: [0, 1, 3] (9 tok); B: [2] (3 tok)"  # A's third block is not adjacent
    assert rows[3]["free"] == "[6, 7]"
    assert rows[4]["free"] == "[2, 6, 7]"  # B's block came back
    assert rows[5]["tables"].endswith("D: [2] (2 tok)")  # and D reuses it
    # empty slots = blocks held * 4 - tokens held, at every step
    held = [(2, 6), (3, 9), (4, 12), (6, 17), (5, 14), (6, 16)]
    assert [r["empty_slots"] for r in rows] == [4 * b - t for b, t in held]
    small = fkv.block_table_walkthrough(block_size=16, num_blocks=4)
    assert small[0]["tables"] == "A: [0] (6 tok)" and small[0]["empty_slots"] == 10


def test_quant_error_table_labels_the_package_rows():
    from longctx.kv import quantized_attention_error

    rows = fkv.quant_error_table()
    raw = quantized_attention_error()
    assert len(rows) == len(raw)
    for r, want in zip(rows, raw):
        for key, value in want.items():
            assert r[key] == value
        assert r["codes"] == f"int{want['bits']}"
        assert r["k_scales"].startswith("per token" if want["k_axis"] == "token" else "per channel")
        assert ("groups of" in r["k_scales"]) == (want["group_size"] is not None)
    by = {(r["bits"], r["k_axis"], r["group_size"]): r for r in rows}
    # per-channel K scales isolate the outlier channels: less error at the same bits
    assert by[(8, "channel", None)]["mean_abs_err"] < by[(8, "token", None)]["mean_abs_err"]
    assert by[(4, "channel", None)]["mean_abs_err"] < by[(4, "token", None)]["mean_abs_err"]
    # int8 keeps about half the fp16 bytes (plus scales), int4 about a quarter
    assert (
        0.5 < by[(8, "token", None)]["bytes_ratio"] < 0.55
        and 0.25 < by[(4, "token", None)]["bytes_ratio"] < 0.3
    )


def test_eviction_table_rows():
    rows = fkv.eviction_table()
    T = fkv.EVICTION_SETTINGS["T"]
    assert [r["budget"] for r in rows] == list(fkv.EVICTION_SETTINGS["budgets"])
    for r in rows:
        assert r["kept"] == r["budget"] / T
    full = rows[0]
    assert full["budget"] == T and full["h2o_max_err"] < 1e-12 and full["sink_max_err"] < 1e-12
    # dropping entries is never exact, and a smaller budget loses more on average
    assert all(r["h2o_mean_err"] > 1e-6 and r["sink_mean_err"] > 1e-6 for r in rows[1:])
    assert rows[-1]["h2o_mean_err"] > rows[1]["h2o_mean_err"]
    assert rows[-1]["sink_mean_err"] > rows[1]["sink_mean_err"]


def test_eviction_table_matches_a_fresh_run():
    from longctx.attention import attention_ref
    from longctx.kv import evicted_attention

    s = fkv.EVICTION_SETTINGS
    gen = torch.Generator().manual_seed(0)  # eviction_error_table's own draw, repeated
    q = 2.0 * torch.randn(1, s["H"], s["T"], 16, generator=gen, dtype=torch.float64)
    k = torch.randn(1, s["H_kv"], s["T"], 16, generator=gen, dtype=torch.float64)
    v = torch.randn(1, s["H_kv"], s["T"], 16, generator=gen, dtype=torch.float64)
    ref = attention_ref(q, k, v, causal=True)
    row = next(r for r in fkv.eviction_table() if r["budget"] == 16)
    out, kept = evicted_attention(q, k, v, policy="sink", budget=16, n_sink=4, return_kept=True)
    assert (out - ref).abs().mean().item() == pytest.approx(row["sink_mean_err"], rel=1e-12)
    # the cache holds 16 entries between steps; the last step reads them plus its own new key,
    # the first 4 (sinks) and the 13 most recent
    assert int(kept[0, 0, -1].sum()) == 17
    assert kept[0, 0, -1, :4].all() and kept[0, 0, -1, -13:].all()


# ----------------------------------------------------------------- figures


def test_lesson_figures_are_registered_and_labelled():
    for name in ("kv-bytes-per-token", "kv-cache-vs-context", "kv-quant-error", "kv-eviction-error"):
        assert FIGURES[name] is fkv.FIGURES[name]
    bars = _labels(fkv.kv_bytes_per_token_chart())
    for p in presets.PRESETS.values():
        assert p.name in bars
    assert any("320 KiB" in t for t in bars)  # Llama 2 70B: 327,680 B = 320 KiB, from the preset
    lines = _labels(fkv.kv_cache_vs_context())
    assert "A100 80GB" in lines and any("DeepSeek-V2 (MLA)" in t for t in lines)
    assert any("H2O" in t for t in _labels(fkv.eviction_error()))
    assert any("int4" in t for t in _labels(fkv.quant_error()))
    assert fkv.kv_cache_vs_context(keys=("llama-2-7b",)) == fkv.kv_cache_vs_context(keys=("llama-2-7b",))


def test_presets_export_for_the_calculator():
    """What the calculator multiplies: elements per token from the JSON times the dtype size."""
    data = presets.presets_json()
    for item in data["presets"]:
        for dtype, size in data["bytes_per_element"].items():
            assert item["kv_elements_per_token"] * size == presets.kv_bytes_per_token(item["key"], dtype)
    assert math.isclose(costs.hbm_bandwidth_bytes_per_s("A100 80GB"), 2.039e12)
