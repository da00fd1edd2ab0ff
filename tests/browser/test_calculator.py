"""Lesson 1's cost calculator and math, in headless Chromium against the built site.

The calculator's numbers (the raw ``data-value`` of each result cell) are compared with
``longctx.costs.attention_cost_summary`` and ``gpu_memory_fraction`` computed here in Python, on
seeded random inputs; bad input must give a message and never NaN or Infinity.
"""

from __future__ import annotations

import math
import random
import re

import pytest
from helpers import Widget, assert_clean, at, back_and_forward
from playwright.sync_api import Page, expect

from longctx import costs

pytestmark = pytest.mark.browser

LESSON = "lessons/01-quadratic-wall/"
FIELDS = ("n", "ref", "heads", "layers", "head_dim")
# The calculator's own bounds (see LIMITS in docs/javascripts/calculator.js).
MAX_N, MAX_HEADS, MAX_LAYERS, MAX_HEAD_DIM = 10**9, 1024, 1024, 16384


@pytest.fixture
def calc(on_page, base_url) -> Widget:
    """The calculator on the module's shared page, with the values it was loaded with."""
    return Widget.reopen(on_page, base_url + LESSON, ".lc-calc")


def _fill(calc: Widget, **values):
    calc.set(**values)


def _results(calc) -> dict:
    """Everything the widget shows, read in one round trip."""
    return calc.evaluate("""root => ({
        state: root.dataset.state,
        text: root.innerText,
        message: (root.querySelector('.lc-calc__msg') || {}).innerText || '',
        rows: [...root.querySelectorAll('tr[data-n]')].map(tr => ({
            n: tr.dataset.n,
            cells: Object.fromEntries([...tr.querySelectorAll('td[data-key]')].map(
                td => [td.dataset.key, td.dataset.value])),
        })),
        gpus: Object.fromEntries([...root.querySelectorAll('li[data-gpu]')].map(
            li => [li.dataset.gpu, li.querySelector('[data-key=gpu_fraction]').dataset.value])),
    })""")


def _write_length(rng: random.Random, n: int) -> str:
    """How a reader might type n: plain digits, or with a K / M suffix where exact."""
    if n % 2**20 == 0 and rng.random() < 0.5:
        return f"{n // 2**20}{rng.choice('Mm')}"
    if n % 1024 == 0 and rng.random() < 0.6:
        return f"{n // 1024}{rng.choice('Kk')}"
    return str(n)


def _random_length(rng: random.Random) -> int:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randint(1, 100)
    if kind == 1:
        return 2 ** rng.randint(0, 29)
    if kind == 2:
        return 1024 * rng.randint(1, 976_562)  # a whole number of K, at most 1e9
    if kind == 3:
        return rng.randint(1, 300_000)
    return rng.randint(1, MAX_N)


def test_calculator_matches_longctx_costs_on_random_inputs(calc):
    dtypes = calc.locator("select[name='dtype'] option").evaluate_all("os => os.map(o => o.value)")
    assert dtypes == list(costs.BYTES_PER_ELEMENT), "the dtype list must come from longctx.json"

    rng = random.Random(20260501)
    checked = 0
    for case in range(24):
        lengths = [_random_length(rng) for _ in range(rng.randint(1, 3))]
        ref = _random_length(rng) if rng.random() < 0.5 else rng.choice([1024, 4096, 8192, 32768])
        heads, layers = rng.randint(1, MAX_HEADS), rng.randint(1, MAX_LAYERS)
        head_dim = rng.choice([rng.randint(1, 256), rng.randint(1, MAX_HEAD_DIM)])
        dtype = rng.choice(dtypes)
        causal = rng.random() < 0.5
        sep = rng.choice([" ", ", ", ",", "; ", "  "])
        typed = sep.join(_write_length(rng, n) for n in lengths)
        if re.fullmatch(r"\d{1,3}(,\d{3})+", typed):  # would read as one number with thousands commas
            typed = typed.replace(",", " ")
        _fill(
            calc,
            n=typed,
            ref=_write_length(rng, ref),
            heads=str(heads),
            layers=str(layers),
            head_dim=str(head_dim),
            dtype=dtype,
            causal=causal,
        )

        shown = _results(calc)
        where = (
            f"case {case}: n={lengths} ref={ref} h={heads} L={layers} d={head_dim} {dtype} causal={causal}"
        )
        assert shown["state"] == "ok", f"{where}: {shown['message']}"
        assert_clean(shown["text"])
        assert [int(r["n"]) for r in shown["rows"]] == lengths, where
        for n, row in zip(lengths, shown["rows"]):
            want = costs.attention_cost_summary(
                n,
                reference_len=ref,
                heads=heads,
                layers=layers,
                head_dim=head_dim,
                bytes_per_element=dtype,
                causal=causal,
            )
            shown_keys = set(row["cells"])
            assert shown_keys and shown_keys <= set(want), where
            for key in shown_keys:
                got = float(row["cells"][key])
                assert math.isfinite(got) and math.isclose(got, want[key], rel_tol=1e-12), (
                    f"{where}: {key} shown {got!r}, longctx says {want[key]!r}"
                )
                checked += 1

        longest = costs.attention_cost_summary(
            max(lengths), reference_len=ref, heads=heads, layers=1, head_dim=1, bytes_per_element=dtype
        )["bytes_layer"]
        assert set(shown["gpus"]) == set(costs.GPU_MEMORY_BYTES), where
        for gpu, value in shown["gpus"].items():
            assert math.isclose(float(value), costs.gpu_memory_fraction(longest, gpu=gpu), rel_tol=1e-12), (
                where
            )
    assert checked >= 24 * 6


def test_calculator_start_values_show_the_lesson_example(page: Page, base_url, net):
    calc = Widget.load(page, base_url + LESSON, ".lc-calc")
    shown = _results(calc)
    assert shown["state"] == "ok"
    assert_clean(shown["text"])
    rows = {int(r["n"]): r["cells"] for r in shown["rows"]}
    assert sorted(rows) == [4096, 32768, 131072]
    assert float(rows[4096]["multiplier"]) == 1.0
    assert float(rows[32768]["multiplier"]) == costs.cost_multiplier(4096, 32768)
    assert float(rows[131072]["bytes_head"]) == costs.score_matrix_bytes(131072, bytes_per_element="fp16")


def test_switching_dtype_uses_the_exported_sizes(calc):
    for dtype, size in costs.BYTES_PER_ELEMENT.items():
        _fill(calc, n="100000", ref="100000", heads="1", layers="1", dtype=dtype)
        cells = _results(calc)["rows"][0]["cells"]
        assert float(cells["bytes_head"]) == 100_000**2 * size, dtype
        assert float(cells["multiplier"]) == 1.0


BAD_INPUT = [
    ("n", "", "enter"),
    ("n", "   ", "enter"),
    ("n", "-4096", "at least 1"),
    ("n", "0", "at least 1"),
    ("n", "0K", "at least 1"),
    ("n", "4096.5", "whole number"),
    ("n", "1.0001K", "whole number"),
    ("n", "1e12", "more than"),
    ("n", "abc", "not a number"),
    ("n", "4096 banana", "not a number"),
    ("n", "NaN", "not a number"),
    ("n", "Infinity", "not a number"),
    ("n", "2000000000", "more than"),
    ("n", "99999999999999999999999999", "more than"),
    ("n", "1000M", "more than"),
    ("n", "32,768", "commas separate"),
    ("n", " ".join(["1K"] * 13), "at most 12"),
    ("ref", "", "enter"),
    ("ref", "0", "at least 1"),
    ("ref", "-1", "at least 1"),
    ("heads", "0", "at least 1"),
    ("heads", "-32", "at least 1"),
    ("heads", "2.5", "whole number"),
    ("heads", "5000", "more than"),
    ("layers", "", "enter"),
    ("layers", "1e400", "more than"),
    ("layers", "100000", "more than"),
    ("head_dim", "12.5", "whole number"),
    ("head_dim", "0", "at least 1"),
    ("head_dim", "1M", "more than"),
]


GOOD = {"n": "8K", "ref": "4K", "heads": "8", "layers": "4", "head_dim": "64"}


def test_bad_input_gives_a_message_never_nan(calc):
    """Each bad value in turn (one page load for all: they are many), then the good one back."""
    _fill(calc, **GOOD)
    calc.check_bad_inputs(BAD_INPUT)


def test_several_bad_fields_are_all_named(calc):
    _fill(calc, n="-1", heads="", head_dim="x")
    message = _results(calc)["message"]
    for label in ("Sequence length", "Heads per layer", "Head dim"):
        assert label in message, message
    assert_clean(calc.inner_text())


def test_lesson_math_is_rendered(calc):
    page = calc.page
    expect(page.locator(".lc-calc[data-lc-ready='true']")).to_have_count(1)
    katex = page.locator(".md-content .katex")
    assert katex.count() > 20
    assert page.locator(".katex-error").count() == 0
    # every arithmatex span/div the page was written with has been typeset
    untyped = page.locator(".arithmatex:not(:has(.katex))")
    assert untyped.count() == 0, untyped.all_inner_texts()[:3]
    assert page.locator(".katex-display").count() >= 8
    # no stray {{ ... }} expression reached the page
    assert "{{" not in page.locator(".md-content").inner_text()


def test_calculator_survives_instant_navigation_without_double_binding(page: Page, base_url, net):
    page.goto(base_url)
    page.evaluate("window.__noReload = true")
    page.locator(".md-content a[href*='01-quadratic-wall']").first.click()
    page.wait_for_url(at(base_url + LESSON))
    calc = page.locator(".lc-calc")
    expect(calc).to_have_attribute("data-lc-ready", "true")
    assert page.evaluate("window.__noReload") is True, "expected Material's instant navigation"

    calc = back_and_forward(page, base_url, base_url + LESSON, ".lc-calc")
    assert page.evaluate("window.__noReload") is True
    expect(calc.locator("form")).to_have_count(1)
    expect(calc.locator("table")).to_have_count(1)

    calc = Widget(page, ".lc-calc")
    _fill(calc, n="64K", ref="4K")
    rows = _results(calc)["rows"]
    assert len(rows) == 1 and float(rows[0]["cells"]["multiplier"]) == costs.cost_multiplier(4096, 65536)


def test_widgets_write_sizes_as_longctx_units_does(calc):
    """The widgets' fmtScaled and longctx.units agree, including values that round up to a prefix."""
    from longctx.units import format_value

    rng = random.Random(11)
    values = [0, 1, 999, 12.5] + [10 ** rng.uniform(-1, 17) for _ in range(300)]
    for size in (1, 1e3, 1e6, 1e9, 1e12, 1e15):
        values += [size * (1000 - 0.001), size * (1000 - 0.01), size * rng.uniform(999.99, 1000)]
    page = calc.page
    shown = page.evaluate("vs => vs.map(v => window.longctxWidgets.fmtScaled(v, 'B'))", values)
    for value, text in zip(values, shown):
        assert text == format_value(value, "bytes"), value
