"""Lesson 4's KV-cache calculator, in headless Chromium against the built site.

The raw ``data-value`` of each result is compared with ``longctx.costs`` and ``longctx.presets``
computed here in Python: on seeded random shapes (MHA/GQA/MQA and MLA), on every preset, and for
every GPU the data names. Nonsense input must give a message naming the field, never NaN or
Infinity, and the calculator must survive Material's instant navigation without binding twice.
"""

from __future__ import annotations

import math
import random

import pytest
from helpers import Widget, assert_clean, at, back_and_forward
from playwright.sync_api import Page, expect

from longctx import costs, presets

pytestmark = pytest.mark.browser

LESSON = "lessons/04-kv-cache/"
DTYPES = ["fp32", "fp16", "bf16", "fp8", "int8", "int4"]
KEYS = (
    "bytes_per_token",
    "bytes_per_sequence",
    "bytes_total",
    "sequences_fit",
    "step_time_s",
    "tokens_per_s",
)


@pytest.fixture
def calc(on_page, base_url) -> Widget:
    """The calculator on the module's shared page, with the values it was loaded with."""
    return Widget.reopen(on_page, base_url + LESSON, ".lc-kv")


def _fill(calc: Widget, **values):
    calc.set(**values)


def _results(calc: Widget) -> dict:
    shown = calc.snapshot()
    shown["source"] = calc.evaluate(
        "root => (root.querySelector('[data-key=source]') || {}).textContent || ''"
    )
    return shown


def _expected(
    *,
    attention,
    layers,
    dtype,
    context,
    batch,
    memory_gb,
    weights_gb,
    bandwidth_gbs,
    kv_heads=None,
    head_dim=None,
    latent_dim=None,
    rope_dim=None,
) -> dict:
    """What longctx says, with the GB figures converted exactly as the page does (x 1e9)."""
    if attention == "mla":
        shape = {"layers": layers, "latent_dim": latent_dim, "rope_dim": rope_dim, "bytes_per_element": dtype}
        per_token = costs.mla_cache_bytes_per_token(**shape)
        per_seq = costs.mla_cache_bytes(tokens=context, **shape)
        total = costs.mla_cache_bytes(tokens=context, batch=batch, **shape)
    else:
        shape = {"layers": layers, "kv_heads": kv_heads, "head_dim": head_dim, "bytes_per_element": dtype}
        per_token = costs.kv_cache_bytes_per_token(**shape)
        per_seq = costs.kv_cache_bytes(tokens=context, **shape)
        total = costs.kv_cache_bytes(tokens=context, batch=batch, **shape)
    memory, weights, bandwidth = float(memory_gb) * 1e9, float(weights_gb) * 1e9, float(bandwidth_gbs) * 1e9
    step = costs.decode_time_per_token_s(
        weight_bytes=weights, kv_bytes=total, bandwidth_bytes_per_s=bandwidth
    )
    return {
        "bytes_per_token": per_token,
        "bytes_per_sequence": per_seq,
        "bytes_total": total,
        "sequences_fit": costs.sequences_that_fit(
            memory_bytes=memory, bytes_per_sequence=per_seq, reserved_bytes=weights
        ),
        "step_time_s": step,
        "tokens_per_s": batch / step,
    }


def _compare(shown: dict, want: dict, where: str) -> None:
    assert shown["state"] == "ok", f"{where}: {shown['message']}"
    assert_clean(shown["text"])
    assert set(shown["values"]) == set(KEYS), where
    for key in KEYS:
        got = float(shown["values"][key])
        assert math.isfinite(got), f"{where}: {key} = {got}"
        if key == "sequences_fit":
            assert got == want[key], f"{where}: {key} shown {got}, longctx says {want[key]}"
        else:
            assert math.isclose(got, want[key], rel_tol=1e-12), (
                f"{where}: {key} shown {got!r}, longctx says {want[key]!r}"
            )


def _write_context(rng: random.Random, n: int) -> str:
    if n % 2**20 == 0 and rng.random() < 0.5:
        return f"{n // 2**20}{rng.choice('Mm')}"
    if n % 1024 == 0 and rng.random() < 0.6:
        return f"{n // 1024}{rng.choice('Kk')}"
    return str(n)


def _amount(rng: random.Random, lo: float, hi: float) -> str:
    """A decimal as a reader types it: an integer, or up to 3 decimals."""
    v = rng.uniform(lo, hi)
    return str(int(v)) if rng.random() < 0.4 else f"{v:.{rng.randint(1, 3)}f}"


def test_calculator_matches_longctx_on_random_inputs(calc):
    dtypes = calc.locator("select[name='dtype'] option").evaluate_all("os => os.map(o => o.value)")
    assert dtypes == [d for d in DTYPES if d in costs.BYTES_PER_ELEMENT]

    rng = random.Random(20260504)
    for case in range(26):
        attention = "mla" if case % 3 == 2 else "kv"
        layers = rng.choice([rng.randint(1, 128), rng.randint(1, 1024)])
        dtype = rng.choice(dtypes)
        context = rng.choice(
            [
                rng.randint(1, 300_000),
                1024 * rng.randint(1, 1024),
                2 ** rng.randint(0, 29),
                rng.randint(1, 10**9),
            ]
        )
        batch = rng.choice([1, rng.randint(1, 256), rng.randint(1, 10**6)])
        memory_gb = _amount(rng, 1, 2000)
        weights_gb = rng.choice(["0", _amount(rng, 0, 400)])
        bandwidth = _amount(rng, 50, 20000)
        args = {
            "attention": attention,
            "layers": layers,
            "dtype": dtype,
            "context": context,
            "batch": batch,
            "memory_gb": memory_gb,
            "weights_gb": weights_gb,
            "bandwidth_gbs": bandwidth,
        }
        typed = {
            "attention": attention,
            "dtype": dtype,
            "layers": str(layers),
            "context": _write_context(rng, context),
            "batch": str(batch),
            "memory_gb": memory_gb,
            "weights_gb": weights_gb,
            "bandwidth": bandwidth,
        }
        if attention == "mla":
            args.update(latent_dim=rng.randint(1, 65536), rope_dim=rng.choice([0, 64, rng.randint(0, 16384)]))
            typed.update(latent_dim=str(args["latent_dim"]), rope_dim=str(args["rope_dim"]))
        else:
            heads = rng.choice([rng.randint(1, 128), rng.randint(1, 1024)])
            kv_heads = rng.choice([d for d in range(1, heads + 1) if heads % d == 0])
            args.update(kv_heads=kv_heads, head_dim=rng.choice([rng.randint(1, 256), rng.randint(1, 16384)]))
            typed.update(heads=str(heads), kv_heads=str(kv_heads), head_dim=str(args["head_dim"]))
        _fill(calc, **typed)
        shown = _results(calc)
        assert shown["fields"]["preset"] == "custom", "editing the shape must leave the preset"
        _compare(shown, _expected(**args), f"case {case}: {args}")


def test_every_preset_matches_longctx_presets(page: Page, base_url, net):
    # a fresh load: once a reader has typed a context, a preset keeps it (test_widgets_lib), and
    # here each preset must bring its own
    calc = Widget.load(page, base_url + LESSON, ".lc-kv")
    names = calc.locator("select[name='preset'] option").evaluate_all("os => os.map(o => o.value)")
    assert names == ["custom", *presets.PRESETS], "the preset list must come from longctx.json"
    rng = random.Random(7)
    _fill(calc, gpu="A100 80GB", batch="3", weights_gb="20")
    for key, p in presets.PRESETS.items():
        dtype = rng.choice(["fp16", "int8", "int4"])
        _fill(calc, preset=key, dtype=dtype)
        shown = _results(calc)
        where = f"preset {key}, {dtype}"
        assert shown["state"] == "ok", f"{where}: {shown['message']}"
        assert_clean(shown["text"])
        assert float(shown["values"]["bytes_per_token"]) == presets.kv_bytes_per_token(key, dtype), where
        assert float(shown["values"]["bytes_per_sequence"]) == presets.model_kv_cache_bytes(
            key, p.context_length, bytes_per_element=dtype
        ), where
        assert float(shown["values"]["bytes_total"]) == presets.model_kv_cache_bytes(
            key, p.context_length, batch=3, bytes_per_element=dtype
        ), where
        assert shown["source"] == p.source, f"{where}: the preset's source must be shown"
        assert shown["fields"]["attention"] == ("mla" if p.attention == "mla" else "kv"), where
        assert int(shown["fields"]["layers"]) == p.layers, where
        expect(calc.locator("input[name='latent_dim']")).to_be_enabled() if p.attention == "mla" else expect(
            calc.locator("input[name='kv_heads']")
        ).to_be_enabled()
        # the whole row agrees with costs too (memory, weights and bandwidth as shown)
        f = shown["fields"]
        args = {
            "attention": f["attention"],
            "layers": p.layers,
            "dtype": dtype,
            "context": p.context_length,
            "batch": 3,
            "memory_gb": f["memory_gb"],
            "weights_gb": f["weights_gb"],
            "bandwidth_gbs": f["bandwidth"],
        }
        if p.attention == "mla":
            args.update(latent_dim=p.mla_latent_dim, rope_dim=p.mla_rope_dim)
        else:
            args.update(kv_heads=p.n_kv_heads, head_dim=p.head_dim)
        _compare(shown, _expected(**args), where)


def test_gpus_and_start_values_come_from_longctx(page: Page, base_url, net):
    calc = Widget.load(page, base_url + LESSON, ".lc-kv")
    shown = _results(calc)
    assert shown["fields"]["preset"] == "llama-2-7b" and shown["state"] == "ok"
    assert float(shown["values"]["bytes_per_sequence"]) == presets.model_kv_cache_bytes("llama-2-7b", 4096)
    # the page's decode example: 7B fp16 weights (14 GB) on an A100 80GB, one 4K sequence
    want = costs.decode_time_per_token_s(
        weight_bytes=costs.parameter_bytes(7e9),
        kv_bytes=presets.model_kv_cache_bytes("llama-2-7b", 4096),
        bandwidth_bytes_per_s=costs.hbm_bandwidth_bytes_per_s("A100 80GB"),
    )
    assert math.isclose(float(shown["values"]["step_time_s"]), want, rel_tol=1e-12)
    for gpu, (memory, _) in costs.GPU_MEMORY_BYTES.items():
        _fill(calc, gpu=gpu)
        f = _results(calc)["fields"]
        assert float(f["memory_gb"]) * 1e9 == memory, gpu
        assert float(f["bandwidth"]) * 1e9 == costs.hbm_bandwidth_bytes_per_s(gpu), gpu
    _fill(calc, memory_gb="24")
    assert _results(calc)["fields"]["gpu"] == "custom"


def test_lesson_drill_numbers(calc):
    """D2 of the lesson: 32 layers, 32 heads of 128, 4K tokens, 24 GB after 13.5 GB of weights."""
    _fill(
        calc,
        attention="kv",
        layers="32",
        heads="32",
        head_dim="128",
        context="4096",
        batch="1",
        memory_gb="24",
        weights_gb="13.5",
        dtype="fp16",
    )
    for kv in (32, 4, 1):
        _fill(calc, kv_heads=str(kv))
        shown = _results(calc)
        per_seq = costs.kv_cache_bytes(layers=32, kv_heads=kv, head_dim=128, tokens=4096)
        assert float(shown["values"]["bytes_per_sequence"]) == per_seq
        assert float(shown["values"]["sequences_fit"]) == costs.sequences_that_fit(
            memory_bytes=24e9, bytes_per_sequence=per_seq, reserved_bytes=13.5e9
        )


KV_BAD = [
    ("layers", "", "enter"),
    ("layers", "   ", "enter"),
    ("layers", "-3", "at least 1"),
    ("layers", "0", "at least 1"),
    ("layers", "2.5", "whole number"),
    ("layers", "1e5", "more than"),
    ("layers", "abc", "not a number"),
    ("layers", "NaN", "not a number"),
    ("layers", "5000", "more than"),
    ("layers", "4K", "not a number"),
    ("heads", "0", "at least 1"),
    ("heads", "-32", "at least 1"),
    ("heads", "99999", "more than"),
    ("kv_heads", "0", "at least 1"),
    ("kv_heads", "3", "multiple"),
    ("kv_heads", "64", "multiple"),
    ("kv_heads", "7.5", "whole number"),
    ("head_dim", "99999999999999999999", "more than"),
    ("head_dim", "", "enter"),
    ("context", "", "enter"),
    ("context", "-4096", "at least 1"),
    ("context", "0K", "at least 1"),
    ("context", "1.0001K", "whole number"),
    ("context", "Infinity", "not a number"),
    ("context", "2000M", "more than"),
    ("batch", "0", "at least 1"),
    ("batch", "10000000", "more than"),
    ("batch", "1/2", "not a number"),
    ("memory_gb", "0", "more than 0"),
    ("memory_gb", "-80", "more than 0"),
    ("memory_gb", "abc", "not a number"),
    ("memory_gb", "1e400", "more than"),
    ("memory_gb", "Infinity", "not a number"),
    ("memory_gb", "", "enter"),
    ("memory_gb", "99999999", "more than"),
    ("bandwidth", "0", "more than 0"),
    ("bandwidth", "", "enter"),
    ("bandwidth", "0.0", "more than 0"),
    ("weights_gb", "-1", "at least 0"),
    ("weights_gb", "9999999", "more than"),
    ("weights_gb", "13,5", "not a number"),
]
MLA_BAD = [
    ("latent_dim", "0", "at least 1"),
    ("latent_dim", "", "enter"),
    ("latent_dim", "999999", "more than"),
    ("rope_dim", "-1", "at least 0"),
    ("rope_dim", "1.5", "whole number"),
]
GOOD = {
    "layers": "32",
    "heads": "32",
    "kv_heads": "8",
    "head_dim": "128",
    "context": "8K",
    "batch": "4",
    "memory_gb": "80",
    "bandwidth": "2039",
    "weights_gb": "14",
    "latent_dim": "512",
    "rope_dim": "64",
}


def test_bad_input_gives_a_message_never_nan(calc):
    _fill(calc, attention="kv", **{k: v for k, v in GOOD.items() if k not in ("latent_dim", "rope_dim")})
    calc.check_bad_inputs(KV_BAD)
    _fill(calc, attention="mla", latent_dim="512", rope_dim="64")
    calc.check_bad_inputs(MLA_BAD)
    _fill(calc, rope_dim="0")  # no RoPE key is a valid MLA shape
    assert _results(calc)["state"] == "ok"


def test_fields_of_the_other_attention_kind_are_ignored(calc):
    _fill(calc, attention="kv", kv_heads="3", heads="abc")  # bad, but only for MHA/GQA/MQA
    assert _results(calc)["state"] == "error"
    _fill(calc, attention="mla", layers="60", latent_dim="512", rope_dim="64")
    expect(calc.locator("input[name='heads']")).to_be_disabled()
    shown = _results(calc)
    assert shown["state"] == "ok", shown["message"]
    assert float(shown["values"]["bytes_per_token"]) == costs.mla_cache_bytes_per_token(
        layers=60, latent_dim=512, rope_dim=64
    )
    _fill(calc, attention="kv")
    shown = _results(calc)
    assert shown["state"] == "error" and "Query heads" in shown["message"]
    assert_clean(shown["text"])


def test_weights_larger_than_memory_say_so(calc):
    _fill(calc, memory_gb="24", weights_gb="140")
    shown = _results(calc)
    assert shown["state"] == "ok" and float(shown["values"]["sequences_fit"]) == 0
    assert "weights alone" in shown["text"]
    _fill(calc, weights_gb="14", batch="1000")
    assert "does not fit" in _results(calc)["text"]


def test_calculator_survives_instant_navigation_without_double_binding(page: Page, base_url, net):
    page.goto(base_url + "lessons/01-quadratic-wall/")
    page.evaluate("window.__noReload = true")
    page.locator(".md-sidebar--primary a[href*='04-kv-cache']").first.click()
    page.wait_for_url(at(base_url + LESSON))
    calc = page.locator(".lc-kv")
    expect(calc).to_have_attribute("data-lc-ready", "true")
    assert page.evaluate("window.__noReload") is True, "expected Material's instant navigation"

    calc = back_and_forward(page, base_url + "lessons/01-quadratic-wall/", base_url + LESSON, ".lc-kv")
    assert page.evaluate("window.__noReload") is True
    expect(calc.locator("form")).to_have_count(1)
    expect(calc.locator("table")).to_have_count(1)
    _fill(Widget(page, ".lc-kv"), preset="llama-2-70b")
    expect(calc.locator("td[data-key='bytes_per_token']")).to_have_attribute(
        "data-value", str(presets.kv_bytes_per_token("llama-2-70b"))
    )


def test_lesson_renders_figures_tables_and_math(calc):
    page = calc.page
    expect(page.locator(".lc-kv[data-lc-ready='true']")).to_have_count(1)
    assert page.locator(".katex-error").count() == 0
    assert page.locator(".md-content .katex-display").count() >= 4
    for name in ("kv-cache-vs-context", "kv-bytes-per-token", "kv-quant-error", "kv-eviction-error"):
        img = page.locator(f"img[src$='{name}.svg']")
        expect(img).to_have_count(1)
        assert img.evaluate("i => i.complete && i.naturalWidth > 0"), name
    text = page.locator(".md-content").inner_text()
    assert "{{" not in text
    assert f"{presets.kv_bytes_per_token('llama-2-70b'):,.0f}" in text  # 327,680 from the preset
