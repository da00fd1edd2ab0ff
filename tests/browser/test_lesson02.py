"""Lesson 2's mask visualiser, in headless Chromium against the built site.

Every value the widget shows is exposed raw (the mask, the kept tiles and the last query's
receptive field as 0/1 strings; density, reach and FLOPs saved as ``data-value``) and compared
here with ``longctx.sparse`` computed in Python on seeded random settings, BigBird's random keys
included: the widget runs the same Mersenne Twister as a seeded PyTorch CPU generator, and these
tests are what proves that it draws the same keys. Nonsense input must give a message, never
NaN or Infinity, and the widget must work after an instant navigation.
"""

from __future__ import annotations

import random

import pytest
import torch
from helpers import Widget, assert_clean, back_and_forward
from playwright.sync_api import Page, expect

from longctx import sparse

pytestmark = pytest.mark.browser

LESSON = "lessons/02-sparse-and-flash/"


@pytest.fixture
def mask(on_page, base_url) -> Widget:
    """The visualiser on the module's shared page, with the values it was loaded with."""
    return Widget.reopen(on_page, base_url + LESSON, ".lc-mask")


def _set(widget, **values):
    if "pattern" in values:
        widget.locator("select[name='pattern']").select_option(values.pop("pattern"))
    if "one_sided" in values:
        widget.locator("input[name='one_sided']").set_checked(values.pop("one_sided"))
    for name, value in values.items():
        widget.locator(f"input[name='{name}']").fill(str(value))


def _read(widget) -> dict:
    return widget.evaluate("""root => {
        const out = root.querySelector('.lc-mask__out');
        const get = k => { const d = root.querySelector(`dd[data-key=${k}]`); return d ? d.dataset.value : null; };
        return {
            state: root.dataset.state, text: root.innerText,
            message: (root.querySelector('.lc-mask__msg') || {}).innerText || '',
            mask: out.dataset.mask || null, tiles: out.dataset.tiles || null, reach: out.dataset.reach || null,
            density: get('density'), reach_count: get('reach'), kept_tiles: get('kept_tiles'),
            flops_saved: get('flops_saved'),
        };
    }""")


def _bits(t: torch.Tensor) -> str:
    return "".join("1" if x else "0" for x in t.flatten().tolist())


def _expected_mask(s: dict) -> torch.Tensor:
    n = s["n"]
    win = (s["window"], 0 if s["one_sided"] else s["window"])
    if s["pattern"] == "causal":
        return sparse.causal_mask(n, n)
    if s["pattern"] == "sliding":
        return sparse.sliding_window_mask(n, n, win)
    if s["pattern"] == "dilated":
        return sparse.dilated_window_mask(n, n, win, s["dilation"])
    if s["pattern"] == "global-local":
        return sparse.global_local_mask(n, n, s["globals"], win)
    if s["pattern"] == "bigbird":
        return sparse.bigbird_mask(n, n, win, s["globals"], s["random"], seed=s["seed"])
    if s["pattern"] == "strided":
        return sparse.strided_mask(n, n, s["stride"])
    raise AssertionError(s["pattern"])


def _random_setting(rng: random.Random, pattern: str) -> dict:
    n = rng.choice([2, 5, 16, rng.randint(3, 120), rng.randint(100, 256)])
    return {
        "pattern": pattern,
        "n": n,
        "window": rng.randint(0, n),
        "one_sided": rng.random() < 0.5,
        "dilation": rng.randint(1, max(1, n // 3)),
        "stride": rng.randint(1, max(1, n // 2)),
        "globals": sorted(set(rng.sample(range(n), rng.randint(0, min(4, n))))),
        "random": rng.randint(0, min(n, 6)),
        "seed": rng.choice([0, 1, rng.randint(0, 2**31), 2**32 - 1]),
        "layers": rng.randint(1, 12),
        "block": rng.randint(1, n),
    }


# The inputs each pattern shows (the others are hidden and ignored), as in the widget.
USES = {
    "causal": [],
    "sliding": ["window", "one_sided"],
    "dilated": ["window", "one_sided", "dilation"],
    "global-local": ["window", "one_sided", "globals"],
    "bigbird": ["window", "one_sided", "globals", "random", "seed"],
    "strided": ["stride"],
}


def _typed(s: dict) -> dict:
    """What a reader types: the pattern first (it decides which fields show), then its fields."""
    typed = {"pattern": s["pattern"], "n": s["n"], "layers": s["layers"], "block": s["block"]}
    for name in USES[s["pattern"]]:
        typed[name] = " ".join(map(str, s[name])) if name == "globals" else s[name]
    return {k: v if isinstance(v, bool) else str(v) for k, v in typed.items()}


PATTERNS = ["sliding", "dilated", "global-local", "bigbird", "strided", "causal"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_widget_agrees_with_longctx_sparse(mask, pattern):
    widget = mask
    rng = random.Random(f"lesson02-{pattern}")
    for _ in range(4):
        s = _random_setting(rng, pattern)
        widget.set(**_typed(s))
        got = _read(widget)
        assert got["state"] == "ok", (s, got["message"])
        mask = _expected_mask(s)
        n, b = s["n"], s["block"]
        assert got["mask"] == _bits(mask), s
        stats = sparse.block_stats(mask, b, b)
        assert got["tiles"] == _bits(stats.tiles), s
        assert int(got["kept_tiles"]) == stats.kept_tiles, s
        assert float(got["density"]) == sparse.mask_density(mask), s
        assert float(got["flops_saved"]) == sparse.flops_saved_fraction(mask, b, b), s
        reach = sparse.receptive_field(mask, s["layers"])[n - 1]
        assert got["reach"] == _bits(reach), s
        assert int(got["reach_count"]) == int(reach.sum()), s
        assert_clean(got["text"], s)


def test_bigbird_seed_changes_the_draw_like_longctx(mask):
    """Two seeds, two different draws, each equal to longctx's (not just the deterministic part)."""
    widget = mask
    n, win, glob, r = 48, (3, 3), [0, 20], 4
    masks = []
    for seed in (7, 8):
        _set(
            widget,
            pattern="bigbird",
            one_sided=False,
            n=n,
            window=3,
            globals="0 20",
            random=r,
            seed=seed,
            layers=1,
            block=8,
        )
        got = _read(widget)
        want = sparse.bigbird_mask(n, n, win, glob, r, seed=seed)
        assert got["mask"] == _bits(want)
        masks.append(got["mask"])
    assert masks[0] != masks[1]
    base = sparse.global_local_mask(n, n, glob, win)
    # every ordinary row gains r keys; the global rows already see everything
    assert int(sparse.bigbird_mask(n, n, win, glob, r, seed=7).sum()) == int(base.sum()) + (n - len(glob)) * r


#: Bad input for each pattern's fields, and what the message says.
NONSENSE = {
    "sliding": [
        ("n", "abc", "Tokens n: not a number"),
        ("n", "1", "Tokens n: must be from 2"),
        ("n", "100000", "Tokens n: must be from 2 to 256"),
        ("n", "12.5", "whole number"),
        ("window", "-3", "Window w: must be from 0"),
        ("block", "0", "Tile size b: must be from 1"),
        ("layers", "", "Layers L: enter a number"),
    ],
    "bigbird": [
        ("globals", "0 999", "Positions count from 0 and must be below n"),
        ("seed", "1e10", "Seed: must be from 0 to 4,294,967,295"),
        ("seed", "1.5", "Seed: must be a whole number"),
    ],
}


@pytest.mark.parametrize("pattern", NONSENSE)
def test_nonsense_input_gives_a_message(mask, pattern):
    """The last good picture stays in place, greyed, until the input parses again."""
    mask.set(pattern=pattern)
    mask.check_bad_inputs(NONSENSE[pattern])


def test_works_after_instant_navigation(page: Page, base_url, net):
    page.goto(base_url)
    page.evaluate("window.__noReload = true")
    page.locator(f"a[href$='{LESSON}']").first.click()
    widget = page.locator(".lc-mask")
    expect(widget).to_have_attribute("data-lc-ready", "true")
    assert page.evaluate("window.__noReload") is True, "the click reloaded the page"
    expect(widget.locator("form")).to_have_count(1)  # bound once
    _set(widget, pattern="strided", n=30, stride=5, layers=2, block=6)
    got = _read(widget)
    assert got["mask"] == _bits(sparse.strided_mask(30, 30, 5))
    # away and back: still one form, still right
    widget = back_and_forward(page, base_url, base_url + LESSON, ".lc-mask")
    expect(widget.locator("form")).to_have_count(1)
    assert page.evaluate("window.__noReload") is True
    assert _read(widget)["state"] == "ok"
