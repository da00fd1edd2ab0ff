"""Every page of the built site, as a reader offline sees it (headless Chromium, other hosts blocked).

The pages are those of ``sitemap.xml`` plus the home page. On each one:

* nothing is requested from another host, and no request, console or page error happens
  (the ``net`` fixture of conftest.py);
* math is typeset: where pymdownx.arithmatex left ``.arithmatex`` elements, each holds KaTeX
  output, no ``.katex-error`` exists, no raw TeX delimiters are left in the text, and a KaTeX
  font was loaded from the site;
* no computed value came out as ``NaN``/``Infinity``/``undefined`` in the prose (write the
  words themselves as code, ```NaN```, when a page talks about them), and no ``{{ ... }}``
  build expression was left uncomputed;
* the body text is set in the self-hosted Roboto (a Roboto font face loaded from the site);
* every code block (``pre > code``) has Material's copy button;
* axe-core (from npm, served from node_modules) finds no violation of impact "serious" or
  "critical" among every WCAG 2.0/2.1 A and AA rule (tags ``wcag2a``, ``wcag2aa``, ``wcag21a``,
  ``wcag21aa``; none disabled, no element excluded), after the widgets are built, in the light
  scheme;
* on the lessons, the home page and the module test (``DARK``), the page's own toggle switches
  ``data-md-color-scheme`` to Material's ``slate`` and back on the same load; in the dark scheme
  each figure shows its dark twin instead of its light drawing, and axe runs again (every rule on
  the home page; on the others the rules whose outcome depends on colour, ``AXE_COLOUR_RULES``,
  since the toggle changes only the colours and the header's palette button);
* search works offline: typing a word of the page's title lists results, this page among them
  (``test_search_finds_every_page_offline``, all pages from one page).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from helpers import AXE_COLOUR_RULES, SITE, axe_serious, open_settled, toggle_scheme, watch
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _pages() -> list[str]:
    """Site-relative paths of every page: the home page, then sitemap.xml's entries."""
    sitemap = SITE / "sitemap.xml"
    if not sitemap.is_file():
        return [""]  # the base_url fixture then stops the run with instructions to build the site
    paths = [""]
    for loc in re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", sitemap.read_text(encoding="utf-8")):
        path = urlsplit(loc).path.lstrip("/")
        if path not in paths:
            paths.append(path)
    return paths


PAGES = _pages()
#: The pages axe also checks in the dark scheme.
DARK = [p for p in PAGES if p == "" or p.startswith("lessons/") or p == "course/module-test/"]

# Text outside code and math: where a computed value would appear.
_PROSE_TEXT = """() => {
  const root = document.querySelector('article') || document.body;
  // code, math, and mkdocstrings' rendering of docstrings (source text, never a computed value)
  const skip = 'pre, code, kbd, samp, script, style, .katex, .arithmatex, .highlight, .doc-contents, .doc-signature';
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: n => n.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT });
  const out = []; let n;
  while ((n = walker.nextNode())) out.push(n.textContent);
  return out.join(' ');
}"""

# The figures of the article, each drawn twice (light, and dark with the class lc-fig--dark).
_FIGURES = """() => [...document.querySelectorAll('article img.lc-fig')].map(i => ({
  src: i.src, dark: i.classList.contains('lc-fig--dark'),
  shown: i.offsetParent !== null && i.getBoundingClientRect().width > 0}))"""

_FACES = (
    """() => [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family.replace(/["']/g, ''))"""
)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p or "home")
def test_page(page, net, base_url, path):
    page.emulate_media(color_scheme="light")
    open_settled(page, base_url + path)
    title = page.locator("article h1").first
    assert title.count() == 1, f"/{path} has no <h1> in its article"

    # Math: rendered by the site's own KaTeX, with its fonts.
    math = page.evaluate("""() => ({
        arithmatex: document.querySelectorAll('.arithmatex').length,
        unrendered: [...document.querySelectorAll('.arithmatex')].filter(e => !e.querySelector('.katex'))
                      .map(e => e.textContent.slice(0, 60)),
        katex: document.querySelectorAll('.katex').length,
        errors: [...document.querySelectorAll('.katex-error')].map(e => e.getAttribute('title') || e.textContent),
    })""")
    assert not math["errors"], f"KaTeX could not typeset: {math['errors']}"
    if math["arithmatex"]:
        assert not math["unrendered"], f"math left as TeX: {math['unrendered']}"
        assert math["katex"] >= math["arithmatex"]
    prose = page.evaluate(_PROSE_TEXT)
    raw_tex = re.findall(r"\\\(|\\\[|\$\$|\\frac\{|\\sqrt\{|\\mathrm\{|\\text\{", prose)
    assert not raw_tex, f"raw TeX in the page text (not typeset): {raw_tex[:5]}"
    faces = set(page.evaluate(_FACES))
    if math["katex"]:
        assert "KaTeX_Main" in faces or "KaTeX_Math" in faces, (
            f"math shown but no KaTeX font loaded: {sorted(faces)}"
        )

    # No broken computed values in what the reader reads.
    bad = re.findall(r"(?<![\w-])(?:NaN|-?Infinity|undefined)(?![\w-])", prose)
    assert not bad, (
        f"/{path} shows {bad} in its text: a computed value went wrong (or write the word as "
        "code, `NaN`, when the page talks about it)"
    )

    left = re.findall(r"\{\{.{0,60}", prose)
    assert not left, f"/{path} shows build expressions that were never computed: {left[:3]}"

    # Fonts: the body is set in Roboto, served by the site.
    family = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert family.split(",")[0].strip().strip("'\"") == "Roboto", family
    assert "Roboto" in faces, f"no Roboto font face loaded: {sorted(faces)}"

    # Code blocks can be copied.
    code = page.evaluate("""() => {
        const blocks = [...document.querySelectorAll('article pre')].filter(p => p.querySelector(':scope > code'));
        return {blocks: blocks.length,
                without: blocks.filter(p => !p.querySelector('button[data-md-type="copy"], .md-clipboard'))
                               .map(p => p.textContent.trim().slice(0, 40))};
    }""")
    assert not code["without"], f"code blocks without a copy button: {code['without']}"

    # Accessibility, light scheme, before anything is clicked.
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "default"
    found = axe_serious(page)
    assert not found, f"/{path}, light scheme:\n{found}"

    if path not in DARK:  # the toggle is the same header on every page: tried where axe needs it
        return
    # Dark, by the page's own toggle: the figures swap to their dark twins, and axe runs again once
    # the colours have stopped changing. The toggle changes the colours and which of the palette's
    # two labels shows: every rule on the home page, elsewhere those that depend on colour.
    figures = page.evaluate(_FIGURES)
    assert figures or not path.startswith("lessons/"), f"/{path} shows no figure"
    assert len([f for f in figures if f["dark"]]) * 2 == len(figures), f"/{path}: a figure without its twin"
    assert all(f["shown"] != f["dark"] for f in figures), "light scheme: only the light figures show"
    assert toggle_scheme(page) == "slate"
    figures = page.evaluate(_FIGURES)
    assert all(f["shown"] == f["dark"] for f in figures), "dark scheme: only the dark figures show"
    for f in figures:
        if f["dark"]:
            assert page.request.get(f["src"]).ok, f["src"]
    page.wait_for_function("() => !document.getAnimations().some(a => a instanceof CSSTransition)")
    found = axe_serious(page, rules=AXE_COLOUR_RULES if path else None)
    assert not found, f"/{path}, dark scheme:\n{found}"
    assert toggle_scheme(page) == "default"


def _title_word(path: str) -> str:
    """The longest word of the page's <h1> in the built HTML (short ones may be search stop words,
    "how", "the")."""
    html = (SITE / path / "index.html").read_text(encoding="utf-8")
    h1 = re.search(r"<article\b.*?<h1\b[^>]*>(.*?)</h1>", html, re.S)
    assert h1, f"/{path} has no <h1> in its article"
    words = sorted(re.findall(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", " ", h1.group(1))), key=len, reverse=True)
    assert words, f"no searchable word in the title of /{path}"
    return words[0]


def test_search_finds_every_page_offline(page, net, base_url):
    """Search works offline: for every page, typing the longest word of its title lists it (one
    search index for all, as a reader searching from one page has)."""
    open_settled(page, base_url)
    box = page.locator("input[data-md-component=search-query]")
    results = page.locator(".md-search-result__item")
    pages_found = ".md-search-result__list > .md-search-result__item > .md-search-result__link"
    box.click()
    for path in PAGES:
        word = _title_word(path)
        box.fill("")
        box.press("End")
        expect(results).to_have_count(0)  # the last query's results are gone
        box.fill(word)
        box.press("End")  # Material searches on key events
        results.first.wait_for(state="attached", timeout=10_000)
        here = (base_url + path).split("#")[0]
        # one top-level result per page, lessons first (search boost); as a reader would, scroll
        # for more (Material renders ten, then more at the end of the list) only while the page is
        # not listed and scrolling brings more
        seen = -1
        while True:
            hrefs = page.eval_on_selector_all(pages_found, "els => els.map(e => e.getAttribute('href'))")
            listed = any(re.split(r"[?#]", h)[0] == here for h in hrefs)
            if listed or len(hrefs) == seen:
                break
            seen = len(hrefs)
            page.evaluate(
                "() => { const w = document.querySelector('.md-search__scrollwrap'); w.scrollTop = w.scrollHeight; }"
            )
            page.wait_for_timeout(250)
        assert listed, f"searching {word!r} did not list /{path}: {hrefs[:8]}"


def test_checked_pages_are_the_navigation(page, net, base_url):
    """The pages checked above (sitemap.xml and the home page) are those the navigation links to;
    a reader whose system prefers dark gets the dark scheme."""
    page.emulate_media(color_scheme="dark")
    page.goto(base_url, wait_until="load")
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
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


def test_a_request_to_another_host_goes_nowhere_and_is_caught(page, base_url):
    """What the ``net`` fixture relies on: Chromium reaches no other host, and the request shows."""
    log = watch(page)
    page.goto(base_url + "reference/bibliography/")
    # no-cors: a host that answered would resolve the fetch (opaque, status 0); none does
    got = page.evaluate(
        "() => fetch('https://example.com/x.js', {mode: 'no-cors'}).then(r => r.status, e => e.name)"
    )
    assert got == "TypeError", got
    assert log.blocked == ["https://example.com/x.js"] and not log.failed, log
