"""The built site's labs were executed by this build: every code cell ran, in order, in one kernel.

``make test`` builds the site with no cache (``scripts/check.sh`` never sets
``LONGCTX_PREVIEW_CACHE``); the preview (``make serve``) may reuse a lab's outputs and then says so
on the page. Here, on the site the browser tests use, each lab page must show an execution count
for each of its code cells, counting 1, 2, ... N (a fresh kernel that ran them all, none
skipped), and no lab page may carry the preview's "reused" note. Reads HTML only: no browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest
from helpers import ROOT, SITE

LABS = sorted((ROOT / "examples").glob("*.py"))
_PROMPT = re.compile(r"In(?:&nbsp;|\xa0| )\[((?:&nbsp;|\xa0| )*|\d*)\]:")


def _page(lab: Path) -> Path:
    for candidate in (SITE / "examples" / lab.stem / "index.html", SITE / "examples" / f"{lab.stem}.html"):
        if candidate.is_file():
            return candidate
    pytest.fail(f"{lab.name}: no built page under {SITE}/examples/ (build the site first)")


@pytest.mark.parametrize("lab", LABS, ids=[p.stem for p in LABS])
def test_every_code_cell_of_the_lab_ran_in_this_build(lab):
    code_cells = sum(1 for c in jupytext.read(lab).cells if c.cell_type == "code" and c.source.strip())
    html = _page(lab).read_text(encoding="utf-8")
    counts = _PROMPT.findall(html)
    assert counts, f"{lab.name}: the page shows no input prompts at all"
    unrun = [c for c in counts if not c.isdigit()]
    assert not unrun, f"{lab.name}: {len(unrun)} code cell(s) were not executed"
    assert [int(c) for c in counts] == list(range(1, code_cells + 1)), (
        f"{lab.name}: execution counts {counts} are not 1..{code_cells} (one per code cell, in order)"
    )
    assert 'data-preview-cache="reused"' not in html, f"{lab.name}: outputs reused from the preview cache"
