"""Accessibility: axe-core (installed from npm, served from node_modules) on every page of the site.

Every WCAG 2.0/2.1 A and AA rule runs (axe's tags ``wcag2a``, ``wcag2aa``, ``wcag21a``,
``wcag21aa``), none disabled and no element excluded, after the page's widgets have been built.
A page passes when axe reports no violation of impact "serious" or "critical".

The light scheme is checked on every page of sitemap.xml, the dark scheme (Material's ``slate``,
which ``prefers-color-scheme: dark`` selects) on the lessons, the home page and the module test.
``test_checked_pages_are_the_navigation`` makes sure that the pages checked are exactly the pages
of the site's navigation, so a page added to ``mkdocs.yml`` is checked too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from test_pages import PAGES

pytestmark = pytest.mark.browser

# axe-core from npm (package-lock.json), like KaTeX; LONGCTX_AXE may name another copy of axe.min.js
AXE = Path(os.environ.get("LONGCTX_AXE") or Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DARK = [p for p in PAGES if p == "" or p.startswith("lessons/") or p == "course/module-test/"]

_RUN = """async tags => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
    id: v.id, impact: v.impact, count: v.nodes.length,
    nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))}));
}"""


def _ready(page, base_url, path):
    page.goto(base_url + path, wait_until="load")
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")
    # every widget built (data-lc-ready leaves "loading"), the quizzes live, math typeset
    page.wait_for_function("""() => !document.querySelector('[data-lc-ready="loading"]')
                              && ![...document.querySelectorAll('.arithmatex')].some(e => !e.querySelector('.katex'))""",
                           timeout=15_000)


def _axe(page) -> list[dict]:
    assert AXE.is_file(), "node_modules/axe-core is missing: run `npm ci`"
    page.add_script_tag(path=str(AXE))
    return page.evaluate(_RUN, TAGS)


def _report(found: list[dict]) -> str:
    return "\n".join(f"{v['id']} ({v['impact']}, {v['count']} elements): {v['nodes']}" for v in found)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p or "home")
def test_axe_light(page, net, base_url, path):
    page.emulate_media(color_scheme="light")
    _ready(page, base_url, path)
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "default"
    found = _axe(page)
    assert not found, f"/{path}, light scheme:\n{_report(found)}"


@pytest.mark.parametrize("path", DARK, ids=lambda p: p or "home")
def test_axe_dark(page, net, base_url, path):
    page.emulate_media(color_scheme="dark")
    _ready(page, base_url, path)
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    found = _axe(page)
    assert not found, f"/{path}, dark scheme:\n{_report(found)}"


def test_checked_pages_are_the_navigation(page, net, base_url):
    """The pages checked above (sitemap.xml and the home page) are those the navigation links to."""
    page.goto(base_url, wait_until="load")
    hrefs = page.eval_on_selector_all("nav.md-nav--primary a.md-nav__link[href]", "els => els.map(e => e.href)")
    nav = {re.split(r"[?#]", h)[0][len(base_url):] for h in hrefs if h.startswith(base_url)}
    assert len(nav) >= 20, f"the navigation lists only {len(nav)} pages: {sorted(nav)}"
    assert nav == set(PAGES), (f"in the navigation but not checked: {sorted(nav - set(PAGES))}; "
                               f"checked but not in the navigation: {sorted(set(PAGES) - nav)}")
    assert {"", "course/module-test/"} <= set(DARK) and sum(p.startswith("lessons/") for p in DARK) == 4
