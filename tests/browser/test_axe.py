"""Accessibility: axe-core (installed from npm, served from node_modules) on every page of the site.

Every WCAG 2.0/2.1 A and AA rule runs (axe's tags ``wcag2a``, ``wcag2aa``, ``wcag21a``,
``wcag21aa``), none disabled and no element excluded, after the page's widgets have been built.
A page passes when axe reports no violation of impact "serious" or "critical".

The light scheme is checked on every page of sitemap.xml by ``test_pages.test_page`` (the same
load as its other checks), the dark scheme (Material's ``slate``, which ``prefers-color-scheme:
dark`` selects) here on the lessons, the home page and the module test.
``test_checked_pages_are_the_navigation`` makes sure that the pages checked are exactly the pages
of the site's navigation, so a page added to ``mkdocs.yml`` is checked too.
"""

from __future__ import annotations

import re

import pytest
from helpers import axe_serious, open_settled
from test_pages import PAGES

pytestmark = pytest.mark.browser

DARK = [p for p in PAGES if p == "" or p.startswith("lessons/") or p == "course/module-test/"]


@pytest.mark.parametrize("path", DARK, ids=lambda p: p or "home")
def test_axe_dark(page, net, base_url, path):
    page.emulate_media(color_scheme="dark")
    open_settled(page, base_url + path)
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    found = axe_serious(page)
    assert not found, f"/{path}, dark scheme:\n{found}"


def test_checked_pages_are_the_navigation(page, net, base_url):
    """The pages checked above (sitemap.xml and the home page) are those the navigation links to."""
    page.goto(base_url, wait_until="load")
    hrefs = page.eval_on_selector_all(
        "nav.md-nav--primary a.md-nav__link[href]", "els => els.map(e => e.href)"
    )
    nav = {re.split(r"[?#]", h)[0][len(base_url) :] for h in hrefs if h.startswith(base_url)}
    assert len(nav) >= 20, f"the navigation lists only {len(nav)} pages: {sorted(nav)}"
    assert nav == set(PAGES), (
        f"in the navigation but not checked: {sorted(nav - set(PAGES))}; "
        f"checked but not in the navigation: {sorted(set(PAGES) - nav)}"
    )
    assert {"", "course/module-test/"} <= set(DARK) and sum(p.startswith("lessons/") for p in DARK) == 4
