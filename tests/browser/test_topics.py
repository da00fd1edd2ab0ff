"""The positions and Ring Attention pages, and their two labs, as a reader sees them.

Each page's figures load from the site (an ``<img>`` with a non-zero natural width), its
computed tables carry the numbers ``longctx`` gives in Python, and each lab page shows the
output its notebook printed when the site was built (the notebooks assert their own numbers).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from longctx.distributed.demo import ring_memory_table, ring_schedule
from longctx.figures import position as fpos
from longctx.units import format_value

pytestmark = pytest.mark.browser


def _figures(page: Page) -> dict[str, int]:
    # the figures shown (the light scheme's: each also has a -dark twin, hidden here)
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('article img')]
        .filter(i => i.src.includes('/assets/figures/') && i.offsetParent !== null)
        .map(i => [i.src.split('/').pop(), i.naturalWidth]))""")


def _table_rows(page: Page, header: str) -> list[list[str]]:
    """The body cells of the first table whose header row contains ``header``."""
    return page.evaluate(
        """header => {
        const t = [...document.querySelectorAll('article table')]
            .find(t => t.querySelector('thead').innerText.includes(header));
        return t ? [...t.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim())) : [];
    }""",
        header,
    )


def test_positions_page(page: Page, net, base_url):
    page.goto(base_url + "topics/positions/")  # "load": the figures are in
    figs = _figures(page)
    assert set(figs) == {"rope-frequencies.svg", "rope-extrapolation.svg", "alibi-penalties.svg"}
    assert all(width > 0 for width in figs.values()), figs
    rows = _table_rows(page, "slow pairs pushed past")
    want = fpos.extrapolation_table()
    assert [r[1] for r in rows] == [format_value(w["beyond"], "int") for w in want]
    assert [r[2] for r in rows] == [format_value(w["worst"], "x") for w in want]
    text = page.locator("article").inner_text()
    assert f"{fpos.pairs_without_full_turn()} of the 64 pairs" in text


def test_ring_page(page: Page, net, base_url):
    page.goto(base_url + "topics/ring-attention/")  # "load": the figures are in
    figs = _figures(page)
    assert set(figs) == {"ring-schedule.svg"} and figs["ring-schedule.svg"] > 0
    schedule = _table_rows(page, "rank 0 holds block")
    assert [[int(c) for c in row[1:]] for row in schedule] == ring_schedule(4)
    memory = _table_rows(page, "tokens per device")
    want = ring_memory_table()
    assert [row[0] for row in memory] == [str(w["world_size"]) for w in want]
    assert [row[4] for row in memory] == [format_value(w["total_bytes"], "bytes") for w in want]


@pytest.mark.parametrize(
    "path, pattern",
    [
        ("examples/05_positions/", r"m - n =\s+1000: score [+-]\d\.\d+, spread over 4 offsets \d\.\de-\d+"),
        ("examples/06_ring_attention/", r"max \|ring - full\| = \d\.\de-1[2-9]"),
    ],
)
def test_labs_show_their_output(page: Page, net, base_url, path, pattern):
    page.goto(base_url + path)  # "load": the figures are in
    assert re.search(pattern, page.locator("body").inner_text()), path
