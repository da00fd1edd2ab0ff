"""The cost summary's widget and the drill book, in headless Chromium against the built site.

The widget's numbers (the raw ``data-value`` of each cell) are compared with
``longctx.summary.cost_summary_rows`` computed here in Python on seeded random settings; bad
input must give a message and never NaN or Infinity.
"""

from __future__ import annotations

import math
import random

import pytest
from helpers import Widget, assert_clean, at, back_and_forward
from playwright.sync_api import Page, expect

from longctx import costs, summary

pytestmark = pytest.mark.browser

PAGE = "course/cost-summary/"
DRILLS = "course/drills/"
NUMERIC = ("flops", "score_bytes", "cache_per_token_bytes", "cache_bytes")
# the widget's input names, and the keyword of cost_summary_rows each one sets
FIELDS = {
    "seq_len": "seq_len",
    "head_dim": "head_dim",
    "heads": "heads",
    "window": "window",
    "global_tokens": "global_tokens",
    "random_tokens": "random_tokens",
    "feature_dim": "feature_dim",
    "state_dim": "state_dim",
    "expand": "expand",
    "kv_heads": "kv_heads",
    "latent_dim": "latent_dim",
    "rope_dim": "rope_dim",
}


@pytest.fixture
def widget(on_page, base_url) -> Widget:
    """The widget on the module's shared page, with the values it was loaded with."""
    return Widget.reopen(on_page, base_url + PAGE, ".lc-cost")


def _fill(widget: Widget, values: dict, dtype=None, state_dtype=None):
    widget.set(**{k: str(v) for k, v in values.items()}, dtype=dtype, state_dtype=state_dtype)


def _results(widget) -> dict:
    return widget.evaluate("""root => ({
        state: root.dataset.state,
        text: root.innerText,
        message: (root.querySelector('.lc-cost__msg') || {}).innerText || '',
        rows: [...root.querySelectorAll('tr[data-variant]')].map(tr => ({
            key: tr.dataset.variant,
            cells: Object.fromEntries([...tr.querySelectorAll('td[data-value]')].map(
                td => [td.dataset.key, td.dataset.value])),
        })),
    })""")


def _compare(shown: dict, want: list[dict], where: str) -> int:
    assert shown["state"] == "ok", f"{where}: {shown['message']}"
    assert_clean(shown["text"])
    assert [r["key"] for r in shown["rows"]] == [r["key"] for r in want], where
    checked = 0
    for got_row, want_row in zip(shown["rows"], want):
        assert set(got_row["cells"]) == set(NUMERIC), where
        for key in NUMERIC:
            got = float(got_row["cells"][key])
            assert math.isfinite(got), where
            assert math.isclose(got, want_row[key], rel_tol=1e-12, abs_tol=0), (
                f"{where}: {want_row['key']}.{key} shown {got!r}, longctx says {want_row[key]!r}"
            )
            checked += 1
    return checked


def _random_settings(rng: random.Random) -> dict:
    n = rng.choice(
        [rng.randint(1, 64), rng.randint(1, 100_000), 2 ** rng.randint(0, 24), rng.randint(1, 10**9)]
    )
    heads = rng.choice([1, 2, 3, 8, 12, 32, 64, 96, 128, rng.randint(1, 1024)])
    divisors = [k for k in range(1, heads + 1) if heads % k == 0]
    return {
        "seq_len": n,
        "head_dim": rng.choice([rng.randint(1, 256), rng.randint(1, 16384)]),
        "heads": heads,
        "window": rng.choice([0, rng.randint(0, 64), rng.randint(0, 10**6), n + rng.randint(0, 5)]),
        "global_tokens": rng.randint(0, min(n, 16)),
        "random_tokens": rng.randint(0, 8),
        "feature_dim": rng.randint(1, 1024),
        "state_dim": rng.randint(1, 256),
        "expand": rng.randint(1, 4),
        "kv_heads": rng.choice(divisors),
        "latent_dim": rng.randint(1, 1024),
        "rope_dim": rng.randint(0, 128),
    }


def test_widget_matches_longctx_summary_on_random_settings(widget):
    dtypes = widget.locator("select[name='dtype'] option").evaluate_all("os => os.map(o => o.value)")
    assert dtypes == list(costs.BYTES_PER_ELEMENT), "the dtype list must come from longctx.json"
    rng = random.Random(20260601)
    checked = 0
    for case in range(24):
        s = _random_settings(rng)
        dtype, state_dtype = rng.choice(dtypes), rng.choice(dtypes)
        typed = {
            k: (f"{v // 1024}K" if v >= 1024 and v % 1024 == 0 and rng.random() < 0.5 else v)
            for k, v in s.items()
        }
        _fill(widget, typed, dtype, state_dtype)
        want = summary.cost_summary_rows(
            **{FIELDS[k]: v for k, v in s.items()},
            bytes_per_element=dtype,
            state_bytes_per_element=state_dtype,
        )
        checked += _compare(_results(widget), want, f"case {case}: {s} {dtype}/{state_dtype}")
    assert checked >= 24 * 9 * 4


def test_start_values_are_the_build_table(page: Page, base_url, net):
    widget = Widget.load(page, base_url + PAGE, ".lc-cost")
    checked = _compare(_results(widget), summary.cost_summary_rows(), "start values")
    assert checked == len(summary.VARIANTS) * 4
    for name in FIELDS:
        assert widget.locator(f"input[name='{name}']").input_value() == str(summary.default(name))
    assert widget.locator("select[name='dtype']").input_value() == summary.default("bytes_per_element")
    assert widget.locator("select[name='state_dtype']").input_value() == summary.default(
        "state_bytes_per_element"
    )
    # the build-time table above it shows the same variants
    table = page.locator(".md-content table").first
    for row in summary.cost_summary_rows():
        expect(table).to_contain_text(row["variant"])
    assert "{{" not in page.locator(".md-content").inner_text()


BAD_INPUT = [
    ("seq_len", "", "enter"),
    ("seq_len", "0", "at least 1"),
    ("seq_len", "-5", "at least 1"),
    ("seq_len", "1.0001K", "whole number"),
    ("seq_len", "NaN", "not a number"),
    ("seq_len", "Infinity", "not a number"),
    ("seq_len", "2000000000", "more than"),
    ("head_dim", "abc", "not a number"),
    ("heads", "0", "at least 1"),
    ("heads", "1e400", "more than"),
    ("window", "-1", "at least 0"),
    ("window", "", "enter"),
    ("global_tokens", "99999", "at most n"),
    ("random_tokens", "x", "not a number"),
    ("feature_dim", "0", "at least 1"),
    ("state_dim", "99999999", "more than"),
    ("expand", "0", "at least 1"),
    ("kv_heads", "3", "must divide"),
    ("kv_heads", "0", "at least 1"),
    ("latent_dim", "12.5", "whole number"),
    ("rope_dim", "-64", "at least 0"),
]
GOOD = {
    "seq_len": "4096",
    "head_dim": "64",
    "heads": "8",
    "window": "128",
    "global_tokens": "2",
    "random_tokens": "3",
    "feature_dim": "64",
    "state_dim": "16",
    "expand": "2",
    "kv_heads": "2",
    "latent_dim": "256",
    "rope_dim": "32",
}


def test_bad_input_gives_a_message_never_nan(widget):
    _fill(widget, GOOD)
    widget.check_bad_inputs(BAD_INPUT)


def test_widget_survives_instant_navigation(page: Page, base_url, net):
    page.goto(base_url + DRILLS)
    page.evaluate("window.__noReload = true")
    page.locator("nav a[href$='cost-summary/']").first.click()
    page.wait_for_url(at(base_url + PAGE))
    widget = page.locator(".lc-cost")
    expect(widget).to_have_attribute("data-lc-ready", "true")
    assert page.evaluate("window.__noReload") is True, "expected Material's instant navigation"
    widget = back_and_forward(page, base_url + DRILLS, base_url + PAGE, ".lc-cost")
    assert page.evaluate("window.__noReload") is True
    expect(widget.locator("form")).to_have_count(1)
    expect(widget.locator("table")).to_have_count(1)
    widget = Widget(page, ".lc-cost")
    _fill(widget, {"seq_len": "64K", "window": "1K"})
    want = summary.cost_summary_rows(65536, window=1024)
    _compare(_results(widget), want, "after navigation")


def test_drill_book_has_folded_solutions_with_code(page: Page, base_url, net):
    page.goto(base_url + DRILLS)
    content = page.locator(".md-content")
    solutions = content.locator("details.example")
    assert solutions.count() >= 15
    for i in range(solutions.count()):
        sol = solutions.nth(i)
        expect(sol.locator("summary")).to_have_text("Worked solution")
        assert sol.locator(".highlight code").count() >= 1, f"solution {i} has no code to check"
    for anchor in ("lesson-1", "lesson-2", "lesson-3", "lesson-4"):
        expect(page.locator(f"h2#{anchor}")).to_have_count(1)
    solutions.first.locator("summary").click()
    expect(solutions.first.locator(".highlight").first).to_be_visible()
    text = content.inner_text()
    assert "{{" not in text
    assert_clean(text)
    assert page.locator(".katex-error").count() == 0
