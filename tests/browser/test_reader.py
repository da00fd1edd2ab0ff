"""What issue 12 asked of every page, as a reader's browser sees it.

* Light pages: a page loads KaTeX only when it has math and a widget's script only when the
  widget is on it (docs/javascripts/loader.js), also after Material's instant navigation, which
  swaps the content without a reload; the search index is small.
* Figures' smallest text is at least 11 px on a 390 px wide phone (font size x shown width /
  viewBox width); that they follow the colour scheme is tested with the dark scheme's axe run
  (test_pages.py).
* The way to the source: repository, "edit this page" and "report a problem" on every page,
  pointing at files that exist; nothing is requested from another host (the net fixture).
* Lessons show their reading time and rank above the API pages in search.
* Glossary terms take one Tab stop each per page, at their first use.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest
from helpers import ROOT, SITE, at
from test_pages import PAGES

pytestmark = pytest.mark.browser

LESSONS = [p for p in PAGES if p.startswith("lessons/")]

# what the page has fetched since it was (re)loaded: instant navigation keeps the same document,
# so a script fetched twice would show twice
_LOADED = """() => ({
  katex: typeof window.katex !== 'undefined',
  scripts: performance.getEntriesByType('resource').map(e => e.name.split('/').pop()).filter(n => n.endsWith('.js')),
  css: [...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.href.split('/').pop()),
})"""


def _loaded(page) -> dict:
    page.wait_for_load_state("networkidle")
    return page.evaluate(_LOADED)


# ---------------------------------------------------------------------------- light pages


def test_a_page_without_math_or_widgets_loads_neither(page, base_url, net):
    page.goto(base_url + "reference/bibliography/")
    got = _loaded(page)
    assert page.locator(".arithmatex").count() == 0
    assert not got["katex"] and "katex.min.css" not in got["css"], got
    assert not [
        s
        for s in got["scripts"]
        if s.endswith((".js",))
        and s in {"widgets.js", "calculator.js", "kv-calculator.js", "quiz.js", "mask-visualiser.js"}
    ], got


def test_instant_navigation_loads_math_and_a_widget_where_needed(page, base_url, net):
    page.goto(base_url + "reference/bibliography/")
    page.evaluate("() => { window.__noReload = true }")
    assert not _loaded(page)["katex"]
    # into a lesson with math and the calculator, without a reload
    page.locator("nav.md-nav--primary a[href$='lessons/01-quadratic-wall/']").first.click()
    page.wait_for_url(at(base_url + "lessons/01-quadratic-wall/"))
    page.wait_for_selector(".lc-calc[data-lc-ready='true']", timeout=15_000)
    page.wait_for_function("() => document.querySelectorAll('.arithmatex .katex').length > 0", timeout=15_000)
    assert page.evaluate("() => window.__noReload === true"), "the navigation reloaded the page"
    got = _loaded(page)
    assert got["katex"] and "katex.min.css" in got["css"] and "calculator.js" in got["scripts"], got
    assert "kv-calculator.js" not in got["scripts"], got
    assert not page.locator(".arithmatex:not(:has(.katex))").count(), "math left as TeX"
    # on into Lesson 4: its calculator comes too, and the first one's script is not loaded twice
    page.locator("nav.md-nav--primary a[href$='lessons/04-kv-cache/']").first.click()
    page.wait_for_url(at(base_url + "lessons/04-kv-cache/"))
    page.wait_for_selector(".lc-kv[data-lc-ready='true']", timeout=15_000)
    got = _loaded(page)
    assert page.evaluate("() => window.__noReload === true")
    assert got["scripts"].count("kv-calculator.js") == 1 and got["scripts"].count("widgets.js") == 1, got
    assert "katex.min.css" in got["css"], "the math stylesheet went with the navigation"


def test_the_search_index_is_names_and_summaries_for_the_api():
    import json

    docs = json.loads((SITE / "search" / "search_index.json").read_text(encoding="utf-8"))["docs"]
    size = {True: 0, False: 0}
    for d in docs:
        generated = d["location"].startswith("reference/api/") and not d["location"].startswith(
            "reference/api/#"
        )
        size[generated and d["location"] != "reference/api/"] += len(d["title"]) + len(d["text"])
    # the pages mkdocstrings writes from docstrings: 36% of the index with whole docstrings
    assert size[True] < 0.1 * (size[True] + size[False]), size
    boosts = {d["location"].split("#")[0]: d.get("boost") for d in docs}
    assert boosts["lessons/04-kv-cache/"] == 4 and boosts["reference/api/kv/"] == 0.5


def test_the_search_index_loads_when_search_is_first_used(page, base_url, net):
    fetched = []
    page.on("request", lambda r: "search_index.json" in r.url and fetched.append(r.url))
    page.goto(base_url + "lessons/01-quadratic-wall/")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    assert not fetched, "the search index was fetched before search was used"
    with page.expect_request(lambda r: "search_index.json" in r.url):
        page.locator("input[data-md-component=search-query]").focus()
    page.wait_for_load_state("networkidle")
    assert len(fetched) == 1


def test_lessons_rank_above_api_pages_in_search(page, base_url, net):
    page.goto(base_url)
    box = page.locator("input[data-md-component=search-query]")
    box.click()
    box.press_sequentially("kv cache", delay=20)
    page.locator(".md-search-result__item").first.wait_for(state="attached", timeout=10_000)
    hrefs = page.eval_on_selector_all(
        ".md-search-result__link", "els => els.map(e => e.getAttribute('href'))"
    )
    assert "lessons/04-kv-cache/" in hrefs[0], hrefs[:5]


# ---------------------------------------------------------------------------- figures


@pytest.mark.parametrize("path", LESSONS + ["topics/positions/", "topics/evaluation/"])
def test_figure_text_is_legible_on_a_phone(page, base_url, net, path):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base_url + path)
    sizes = page.evaluate("""async () => {
      const out = [];
      for (const img of document.querySelectorAll('article img.lc-fig')) {
        if (!img.offsetParent) continue;
        const svg = await (await fetch(img.src)).text();
        const fonts = [...svg.matchAll(/font(?:-size)?:\\s*(?:[a-z]+\\s+)*([\\d.]+)px/g)].map(m => +m[1]);
        const vb = /viewBox="[\\d.-]+ [\\d.-]+ ([\\d.]+) /.exec(svg);
        if (!fonts.length || !vb) continue;
        out.push([img.getAttribute('src'), Math.min(...fonts) * img.getBoundingClientRect().width / +vb[1]]);
      }
      return out;
    }""")
    assert sizes, f"no figure measured on /{path}"
    small = [(src, round(px, 1)) for src, px in sizes if px < 11 - 1e-6]
    assert not small, f"text under 11 px at 390 px wide: {small}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page itself scrolls sideways"


# ---------------------------------------------------------------------------- the way to the source


@pytest.mark.parametrize(
    "at_path",
    ["", "lessons/02-sparse-and-flash/", "examples/01_quadratic_wall/", "reference/api/kv/"],
    indirect=True,
)
def test_source_links_point_at_files_of_this_repository(at_path, on_page):
    page = on_page
    links = {
        a.get_attribute("data-lc-source"): a.get_attribute("href")
        for a in page.locator("nav.lc-source a").all()
    }
    assert set(links) == {"repository", "edit", "issue"}, links
    repo = links["repository"]
    assert re.fullmatch(r"https://[\w.-]+/[\w.-]+/[\w.-]+", repo), repo
    edit = links["edit"]
    assert edit.startswith(repo + "/edit/main/")
    assert (ROOT / unquote(urlsplit(edit).path.split("/edit/main/", 1)[1])).is_file(), edit
    assert links["issue"].startswith(repo + "/issues/new?title=")


@pytest.mark.parametrize("at_path", [""], indirect=True)
def test_home_page_says_how_to_install_the_package(at_path, on_page):
    page = on_page
    text = page.locator("article").inner_text()
    repo = page.locator("nav.lc-source a[data-lc-source=repository]").get_attribute("href")
    assert f'pip install "longctx[figures] @ git+{repo}"' in text


# ---------------------------------------------------------------------------- reading time, Tab stops


@pytest.mark.parametrize("at_path", LESSONS, indirect=True)
def test_each_lesson_shows_its_reading_time(at_path, on_page):
    page = on_page
    note = page.locator("article .lc-reading-time")
    assert note.count() == 1 and re.match(r"About \d+ minutes of reading", note.inner_text())
    assert (
        page.evaluate("() => document.querySelector('article h1').nextElementSibling.className")
        == "lc-reading-time"
    )


@pytest.mark.parametrize("at_path", ["lessons/04-kv-cache/"], indirect=True)
def test_glossary_terms_take_one_tab_stop_each(at_path, on_page):
    page = on_page
    terms = page.evaluate("""() => {
      const all = [...document.querySelectorAll('article abbr')];
      return {terms: new Set(all.map(a => a.textContent.trim())).size,
              stops: all.filter(a => a.tabIndex === 0).length,
              firsts: all.filter(a => a.tabIndex === 0).every(a =>
                 all.find(b => b.textContent.trim() === a.textContent.trim()) === a)};
    }""")
    assert terms["stops"] == terms["terms"] and terms["firsts"], terms
