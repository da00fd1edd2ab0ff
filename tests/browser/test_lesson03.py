"""Lesson 3's crossover lab, in headless Chromium against the built site.

The lab's numbers (the raw ``data-value`` of each result) are compared with
``longctx.costs.attention_flops`` and ``longctx.linear.costs`` computed here in Python on seeded
random settings; bad input must give a message and never NaN or Infinity.
"""

from __future__ import annotations

import math
import random

import pytest
from helpers import Widget, assert_clean, at, back_and_forward
from playwright.sync_api import Page, expect

from longctx import costs
from longctx.linear.costs import crossover_seq_len, linear_attention_flops

pytestmark = pytest.mark.browser

LESSON = "lessons/03-linear-and-ssm/"
# The lab's own bounds (LIMITS in docs/javascripts/crossover.js).
MAX_N, MAX_D, MAX_HEADS, MAX_F, MAX_C = 10**8, 4096, 1024, 65536, 4096


@pytest.fixture
def lab(on_page, base_url) -> Widget:
    """The lab on the module's shared page, with the values it was loaded with."""
    return Widget.reopen(on_page, base_url + LESSON, ".lc-xover")


def _fill(lab: Widget, **values):
    lab.set(**values)


def _results(lab) -> dict:
    return lab.evaluate("""root => ({
        state: root.dataset.state,
        text: root.innerText,
        message: (root.querySelector('.lc-xover__msg') || {}).innerText || '',
        crossover: (root.querySelector('[data-key=crossover]') || {dataset: {}}).dataset.value,
        rows: [...root.querySelectorAll('tr[data-n]')].map(tr => ({
            n: tr.dataset.n,
            cells: Object.fromEntries([...tr.querySelectorAll('td[data-value]')].map(
                td => [td.dataset.key, td.dataset.value])),
            cheaper: tr.querySelector('[data-key=cheaper]').innerText,
        })),
    })""")


def test_lab_matches_longctx_on_random_settings(lab):
    rng = random.Random(20260503)
    for case in range(30):
        d = rng.choice([rng.randint(1, 256), rng.randint(1, MAX_D), 64, 128])
        heads = rng.randint(1, MAX_HEADS)
        favor = rng.random() < 0.4
        m = rng.choice([rng.randint(1, 2048), rng.randint(1, MAX_F)])
        causal = rng.random() < 0.6
        chunk = rng.choice([None, rng.randint(1, 256), rng.randint(1, MAX_C), 64])
        lengths = [
            rng.choice([rng.randint(1, 5000), rng.randint(1, MAX_N), 2 ** rng.randint(0, 26)])
            for _ in range(rng.randint(1, 4))
        ]
        _fill(
            lab,
            feature_map="favor" if favor else "elu",
            causal=causal,
            n=" ".join(map(str, lengths)),
            head_dim=str(d),
            heads=str(heads),
            features=str(m) if favor else None,
            chunk=("" if chunk is None else str(chunk)) if causal else None,
        )
        f = m if favor else None
        c = chunk if causal else None
        where = f"case {case}: n={lengths} d={d} h={heads} favor={favor} m={m} causal={causal} C={chunk}"
        shown = _results(lab)
        assert shown["state"] == "ok", f"{where}: {shown['message']}"
        assert_clean(shown["text"])
        want_cross = crossover_seq_len(d, feature_dim=f, causal=causal, chunk_size=c, projection=favor)
        assert int(shown["crossover"]) == want_cross, where
        assert [int(r["n"]) for r in shown["rows"]] == lengths, where
        for n, row in zip(lengths, shown["rows"]):
            soft = costs.attention_flops(n, d, heads=heads, causal=causal)
            lin = linear_attention_flops(
                n, d, feature_dim=f, heads=heads, causal=causal, chunk_size=c, projection=favor
            )
            for key, want in (("softmax_flops", soft), ("linear_flops", lin), ("ratio", soft / lin)):
                got = float(row["cells"][key])
                assert math.isfinite(got) and math.isclose(got, want, rel_tol=1e-12), (
                    f"{where}: {key} {got} != {want}"
                )
            assert row["cheaper"] == ("linear" if lin < soft else "softmax" if lin > soft else "equal"), where


def test_start_values_show_the_lesson_example(page: Page, base_url, net):
    lab = Widget.load(page, base_url + LESSON, ".lc-xover")
    shown = _results(lab)
    assert shown["state"] == "ok"
    assert int(shown["crossover"]) == crossover_seq_len(128, causal=True, chunk_size=64)
    rows = {int(r["n"]): r for r in shown["rows"]}
    assert sorted(rows) == [256, 1024, 8192, 32768, 131072]
    assert rows[256]["cheaper"] == "softmax" and rows[131072]["cheaper"] == "linear"


BAD_INPUT = [
    ("n", "", "enter"),
    ("n", "0", "at least 1"),
    ("n", "-5", "at least 1"),
    ("n", "1.0001K", "whole number"),
    ("n", "1e9", "more than"),
    ("n", "abc", "not a number"),
    ("n", "NaN", "not a number"),
    ("n", "Infinity", "not a number"),
    ("n", "200000000", "more than"),
    ("n", "32,768", "commas separate"),
    ("n", " ".join(["1K"] * 13), "at most 12"),
    ("head_dim", "", "enter"),
    ("head_dim", "0", "at least 1"),
    ("head_dim", "12.5", "whole number"),
    ("head_dim", "5000", "more than"),
    ("heads", "-2", "at least 1"),
    ("heads", "2000", "more than"),
    ("features", "", "enter"),
    ("features", "0", "at least 1"),
    ("features", "1M", "more than"),
    ("chunk", "0", "at least 1"),
    ("chunk", "x", "not a number"),
    ("chunk", "8K", "more than"),
]
GOOD = {"n": "8K", "head_dim": "64", "heads": "8", "features": "128", "chunk": "32"}


def test_bad_input_gives_a_message_never_nan(lab):
    _fill(lab, feature_map="favor", causal=True, **GOOD)
    lab.check_bad_inputs(BAD_INPUT)


def test_fields_that_do_not_apply_are_ignored(lab):
    """A bad chunk size does not matter without the causal mask, nor bad features with elu+1."""
    _fill(
        lab, feature_map="favor", causal=True, n="4K", head_dim="64", heads="4", chunk="junk", features="junk"
    )
    assert _results(lab)["state"] == "error"
    _fill(lab, feature_map="elu", causal=False)
    shown = _results(lab)
    assert shown["state"] == "ok", shown["message"]
    assert int(shown["crossover"]) == crossover_seq_len(64)
    expect(lab.locator("input[name='chunk']")).to_be_disabled()
    expect(lab.locator("input[name='features']")).to_be_disabled()
    _fill(lab, causal=True)
    assert _results(lab)["state"] == "error"
    _fill(lab, chunk="")  # empty: the recurrent form
    shown = _results(lab)
    assert shown["state"] == "ok" and int(shown["crossover"]) == crossover_seq_len(64, causal=True)


def test_lab_survives_instant_navigation_without_double_binding(page: Page, base_url, net):
    page.goto(base_url)
    page.evaluate("window.__noReload = true")
    page.locator(".md-nav a[href*='03-linear-and-ssm']").first.click()
    page.wait_for_url(at(base_url + LESSON))
    lab = page.locator(".lc-xover")
    expect(lab).to_have_attribute("data-lc-ready", "true")
    assert page.evaluate("window.__noReload") is True, "expected Material's instant navigation"
    lab = back_and_forward(page, base_url, base_url + LESSON, ".lc-xover")
    assert page.evaluate("window.__noReload") is True
    expect(lab.locator("form")).to_have_count(1)
    expect(lab.locator("table")).to_have_count(1)
    lab = Widget(page, ".lc-xover")
    _fill(lab, n="64K", head_dim="128", causal=False, feature_map="elu")
    shown = _results(lab)
    assert int(shown["crossover"]) == crossover_seq_len(128)
    assert float(shown["rows"][0]["cells"]["ratio"]) == costs.attention_flops(
        65536, 128
    ) / linear_attention_flops(65536, 128)


def test_lesson_page_renders_math_figures_and_quiz(lab):
    page = lab.page
    expect(page.locator(".lc-xover[data-lc-ready='true']")).to_have_count(1)
    assert page.locator(".katex-error").count() == 0
    assert page.locator(".md-content .katex-display").count() >= 8
    for name in ("performer-error", "linear-crossover", "recall-gap"):
        img = page.locator(f"img[src$='{name}.svg']")
        expect(img).to_have_count(1)
        assert img.evaluate("i => i.complete && i.naturalWidth > 0"), name
    expect(page.locator(".quiz")).to_have_count(1)
    assert "{{" not in page.locator(".md-content").inner_text()
