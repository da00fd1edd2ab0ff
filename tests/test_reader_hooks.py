"""scripts/hooks/reader.py and abbreviations.py on small pages written here (the browser tests check the built site)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parents[1] / "scripts" / "hooks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_test_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reader = _load("reader")
abbreviations = _load("abbreviations")


def test_only_the_first_abbreviation_of_each_term_is_a_tab_stop():
    html = (
        '<p><abbr title="Key-value">KV</abbr> and <abbr tabindex="0" title="Key-value">KV</abbr>, '
        '<abbr title="Grouped">GQA</abbr></p><p><abbr title="Grouped">GQA</abbr></p>'
    )
    out = abbreviations.focusable_first(html)
    assert out.count('tabindex="0"') == 2
    assert out.startswith(
        '<p><abbr tabindex="0" title="Key-value">KV</abbr> and <abbr title="Key-value">KV</abbr>'
    )
    assert '<abbr tabindex="0" title="Grouped">GQA</abbr></p><p><abbr title="Grouped">GQA</abbr>' in out


def test_css_keeps_the_rules_and_properties_a_page_uses():
    css = (
        '@charset "UTF-8";.w{--used: red;--unused: blue;--chain: var(--used);--icon: url("data:image/svg+xml;'
        'base64,AAA=")}.a .b{color: var(--chain)}.gone{color: var(--unused)}.a:hover,.zz{margin: 0}'
        "@media (max-width: 10px){.a{padding: 0}.nope{padding: 1px}}@media print{.nope{x: 1}}"
    )
    html = '<div class="w"><p class="a b">x</p></div>'
    (out,) = reader.purge_styles([css], html)
    assert out.startswith('@charset "UTF-8";')
    assert ".a .b{color: var(--chain)}" in out and ".a:hover{margin: 0}" in out
    assert "--used: red" in out and "--chain: var(--used)" in out
    assert "--unused" not in out and "--icon" not in out and ".gone" not in out and ".zz" not in out
    assert "@media (max-width: 10px){.a{padding: 0}}" in out and "print" not in out


def test_declarations_split_outside_data_urls():
    body = 'a: url("data:x;y");b: calc(1px;2px);c: 3'
    assert reader._split_declarations(body) == ['a: url("data:x;y")', "b: calc(1px;2px)", "c: 3"]


@pytest.mark.parametrize("words,minutes", [(0, 5), (999, 5), (1001, 10), (5294, 30)])
def test_reading_time_rounds_up_to_five_minutes(words, minutes):
    assert reader.reading_minutes(words) == minutes


def test_prose_words_leave_out_code_and_math():
    html = (
        "<h1>Title here</h1><p>One two <code>three</code></p><pre><code>x = 1 2 3 4</code></pre>"
        '<span class="arithmatex">\\(a + b + c\\)</span>'
    )
    assert reader.prose_words(html) == 5


def test_api_pages_index_the_summary_only():
    html = (
        '<div class="doc doc-contents first"><p>Summary.</p><p>More.</p><table><tr><td>x</td></tr></table>'
        '<div class="doc doc-children"><h3 id="f">f</h3></div></div>'
    )
    out = reader.index_summaries_only(html)
    assert "<p>Summary.</p>" in out and "<p data-search-exclude>More.</p>" in out
    assert "<table data-search-exclude>" in out and '<div class="doc doc-children">' in out


def test_figures_become_light_and_dark_pairs():
    svg = '<svg viewBox="0 0 720 300"><text style="font: 8px \'DejaVu Sans\'">a</text></svg>'
    html = '<p><img alt="A plot" src="../../assets/figures/wall.svg" /></p>'
    out = reader.figure_pairs(html, {"wall": svg, "wall-dark": svg}.get)
    assert out.count("<img") == 2 and 'src="../../assets/figures/wall-dark.svg"' in out
    assert 'class="lc-fig lc-fig--light"' in out and 'class="lc-fig lc-fig--dark"' in out
    assert "--lc-legible: 990px" in out  # 11 px x 720 / 8
