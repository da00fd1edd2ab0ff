"""The widgets' shared library (docs/javascripts/widgets.js) against longctx, and what every widget shares.

* one parser for every one-number field: the forms it takes ("4,096", "4 096", "4096 tokens",
  "4k" with k = 1,024, "1e6") and the message for anything else (the field's name and the forms);
* one formatter, the same text as ``longctx.units.format_value`` for every format the widgets
  show, on fresh random values over 30 orders of magnitude, and never an exponent;
* the KV-cache calculator: for every preset, the weights come from the preset's parameters and
  "sequences that fit" on one card equals ``longctx.costs.sequences_that_fit``; a typed context
  survives a change of preset;
* inputs survive a reload and travel in the address; a result wider than the page has its scroll
  cue above it by the time the widget is ready (a cue added later moves the result). That an
  invalid input keeps the last good result in place, greyed, is checked for every bad input of
  every widget by ``Widget.check_bad_inputs`` (helpers.py), in each widget's own tests.
"""

from __future__ import annotations

import random
import re

import pytest
from helpers import Widget, open_settled

from longctx import costs, presets, units

pytestmark = pytest.mark.browser

LESSON4 = "lessons/04-kv-cache/"
GPU = "A100 80GB"


@pytest.fixture
def kv(on_page, base_url) -> Widget:
    """The KV-cache calculator on the module's shared page, with the values it was loaded with."""
    return Widget.reopen(on_page, base_url + LESSON4, ".lc-kv")


# ---------------------------------------------------------------------------- parsing

WHOLE = [  # text, value (None: refused)
    ("4096", 4096),
    ("4,096", 4096),
    ("4 096", 4096),
    ("4_096", 4096),
    ("1,048,576", 1048576),
    ("4096 tokens", 4096),
    ("4k", 4096),
    ("4K", 4096),
    ("4K tokens", 4096),
    ("128k", 131072),
    ("1M", 1048576),
    ("1e6", 1_000_000),
    ("1.5e3", 1500),
    ("1.5k", 1536),
    ("  32  ", 32),
    ("\uff11\uff12\uff18", 128),
    ("1 000", 1000),
    ("1.5", None),
    ("seven", None),
    ("0x10", None),
    ("4,09", None),
    ("e5", None),
    ("", None),
    ("-5", None),
    ("0", None),
    ("1e300", None),
    ("2G", None),
]
AMOUNT = [
    ("80", 80),
    ("13.5", 13.5),
    ("80 GB", 80),
    (".5", 0.5),
    ("1e3", 1000),
    ("2,039", 2039),
    ("4k", None),
    ("0", None),
    ("abc", None),
]


def test_one_parser_for_every_one_number_field(kv):
    got = kv.page.evaluate(
        """cases => cases.map(([t, opts]) => window.longctxWidgets.parseNumber(t, 'Context', opts))""",
        [[t, {"max": 1e9}] for t, _ in WHOLE]
        + [[t, {"max": 1e6, "min": 0, "integer": False, "positive": True}] for t, _ in AMOUNT],
    )
    for (text, want), r in zip(WHOLE + AMOUNT, got):
        if want is None:
            assert "error" in r and r["error"].startswith("Context: "), (text, r)
            if not re.search(r"at least|more than|whole number", r["error"]):  # not a number at all:
                assert "e.g." in r["error"] and "1e6" in r["error"], (text, r)  # it says what is accepted
        else:
            assert r.get("value") == want, (text, r)


@pytest.mark.parametrize(
    "text,forms", [("4,096 tokens", 4096), ("4 096", 4096), ("4k", 4096), ("1e4", 10000)]
)
def test_each_widget_reads_the_same_forms(kv, text, forms):
    """The forms reach the widgets: the same context written four ways gives the same cache."""
    kv.fill("context", text)
    assert kv.state == "ok", kv.errors()
    assert kv.value("bytes_per_sequence") == presets.model_kv_cache_bytes("llama-2-7b", forms)


def test_a_message_names_the_field_and_the_forms(kv):
    kv.fill("batch", "a few")
    assert kv.state == "error"
    (message,) = kv.errors()
    assert message.startswith("Batch:") and "4,096" in message and "4K" in message and "1e6" in message, (
        message
    )


# ---------------------------------------------------------------------------- formatting

FORMATS = ["bytes", "flops", "int", "float", "x", "pct"]


def _values(seed: int, count: int = 400) -> list[float]:
    rng = random.Random(seed)
    out = [0.0, 1.0, 999.0, 999.996, 1000.0, 999_995.0, 1e21, 6.87e19, 6.87e25, 0.125, 2.5, 1e-9]
    for _ in range(count):
        v = 10 ** rng.uniform(-8, 26)
        out.append(round(v) if rng.random() < 0.3 else v)
    return out


def test_one_formatter_equal_to_longctx_units(kv):
    values = _values(random.randrange(1 << 30))
    got = kv.page.evaluate(
        """([vs, fmts]) => fmts.map(f => vs.map(v => window.longctxWidgets.format(v, f)))""",
        [values, FORMATS],
    )
    for fmt, texts in zip(FORMATS, got):
        for v, text in zip(values, texts):
            assert text == units.format_value(v, fmt), (fmt, v, text)
            assert not re.search(r"\de[+-]?\d", text), (fmt, v, text)


def test_widget_outputs_have_no_exponent_and_no_large_kib(kv):
    kv.fill("context", "1e9")
    kv.fill("batch", "1e6")
    text = kv.out.inner_text()
    assert kv.state == "ok" and not re.search(r"\de[+-]?\d|KiB", text), text
    assert "years" in kv.text("step_time_s")


# ---------------------------------------------------------------------------- the KV-cache calculator


def test_fits_on_one_card_matches_longctx_for_every_preset(page, base_url, net):
    # a fresh load: each preset brings its own context only until the reader types one
    kv = Widget.load(page, base_url + LESSON4, ".lc-kv")
    kv.choose("gpu", GPU)
    for key, p in presets.PRESETS.items():
        kv.choose("preset", key)
        weights = costs.parameter_bytes(p.params, bytes_per_element="fp16")
        assert float(kv.input_value("weights_gb")) * 1e9 == pytest.approx(weights, rel=1e-12), key
        assert kv.input_value("context") in {str(p.context_length), f"{p.context_length // 1024}K"}, key
        want = costs.sequences_that_fit(
            memory_bytes=costs.GPU_MEMORY_BYTES[GPU][0],
            bytes_per_sequence=presets.model_kv_cache_bytes(key, p.context_length),
            reserved_bytes=weights,
        )
        assert kv.value("sequences_fit") == want, key
        note = kv.text("fit_note")
        if weights >= costs.GPU_MEMORY_BYTES[GPU][0]:
            assert want == 0 and note.startswith("The weights alone fill the GPU memory"), (key, note)


def test_weights_follow_the_weights_dtype(kv):
    kv.choose("preset", "llama-3-70b")
    kv.choose("weights_dtype", "int4")
    want = costs.parameter_bytes(presets.PRESETS["llama-3-70b"].params, bytes_per_element="int4")
    assert float(kv.input_value("weights_gb")) * 1e9 == pytest.approx(want)


def test_a_typed_context_survives_a_preset_change(kv):
    kv.fill("context", "128K")
    kv.choose("preset", "llama-3-8b")
    assert kv.input_value("context") == "128K"
    assert kv.value("bytes_per_sequence") == presets.model_kv_cache_bytes("llama-3-8b", 131072)


# ---------------------------------------------------------------------------- kept inputs, the scroll cue


def test_inputs_survive_a_reload_and_travel_in_the_address(page, base_url, net, browser):
    kv = Widget.load(page, base_url + LESSON4, ".lc-kv")
    kv.choose("preset", "mistral-7b-v0.1")
    kv.fill("context", "32K")
    kv.fill("batch", "8")
    address = page.evaluate("location.href")
    assert "kv.context=32K" in address and "kv.preset=mistral-7b-v0.1" in address, address
    page.reload()
    kv = Widget(page, ".lc-kv")
    assert (kv.input_value("preset"), kv.input_value("context"), kv.input_value("batch")) == (
        "mistral-7b-v0.1",
        "32K",
        "8",
    )
    other = browser.new_context()  # a reader the link was sent to: no storage of their own
    try:
        shared = other.new_page()
        shared.goto(address)
        kv2 = Widget(shared, ".lc-kv")
        assert kv2.input_value("context") == "32K" and kv2.input_value("preset") == "mistral-7b-v0.1"
        assert kv2.value("bytes_total") == presets.model_kv_cache_bytes("mistral-7b-v0.1", 32 * 1024, batch=8)
    finally:
        other.close()


# Records, at the moment each widget root turns ready, whether its results have the loader's
# scroll cue above them and whether they are wider than their box.
_CUE_AT_READY = """
new MutationObserver(records => {
  for (const r of records) {
    const root = r.target;
    if (root.getAttribute('data-lc-ready') !== 'true' || !root.querySelector('.lc-widget__out')) continue;
    const out = root.querySelector('.lc-widget__out');
    (window.__cueAtReady = window.__cueAtReady || []).push({
      wide: out.scrollWidth > out.clientWidth + 1,
      cue: !!(out.previousElementSibling && out.previousElementSibling.classList.contains('lc-scroll-cue')),
    });
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-lc-ready']});
"""


def test_wide_results_have_their_scroll_cue_when_the_widget_is_ready(page, base_url, net):
    """The cue ("Scroll sideways for more columns") is in place before the widget says it is ready,
    not added a moment later, which would move the results down a line as the reader looks."""
    with page.add_init_script(_CUE_AT_READY):
        open_settled(page, base_url + "course/cost-summary/")
    assert page.evaluate("window.__cueAtReady") == [{"wide": True, "cue": True}]
