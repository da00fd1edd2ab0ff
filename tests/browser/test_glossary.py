"""The glossary's anchors, the tooltips its abbreviations give on every page, and the references page.

* Every abbreviation of docs/includes/abbreviations.md names a glossary term ("Glossary: X") that
  the glossary page defines, with an anchor.
* Pointing at an abbreviation in a lesson (hover) shows Material's tooltip with the
  abbreviation's text, also after instant navigation, and so does reaching it from the keyboard
  (scripts/hooks/abbreviations.py puts each ``<abbr>`` in the tab order).
* Every footnote's "→ references" link lands on an existing bibliography entry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import at

ROOT = Path(__file__).resolve().parents[2]
ABBR_LINE = re.compile(r"^\*\[([^\]]+)\]:\s*(.+?)\s*Glossary:\s*(.+?)\s*$")


def _abbreviations() -> dict[str, tuple[str, str]]:
    out = {}
    for line in (ROOT / "docs" / "includes" / "abbreviations.md").read_text(encoding="utf-8").splitlines():
        m = ABBR_LINE.match(line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


ABBREVIATIONS = _abbreviations()


def _slug(term: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


def test_abbreviation_file_parses():
    assert len(ABBREVIATIONS) >= 15
    for needed in (
        "GQA",
        "MQA",
        "MLA",
        "KV",
        "SRAM",
        "HBM",
        "RoPE",
        "ALiBi",
        "SSM",
        "FLOP",
        "PagedAttention",
    ):
        assert needed in ABBREVIATIONS


def test_glossary_defines_every_term_the_tooltips_name(page, base_url, net):
    page.goto(f"{base_url}reference/glossary/")
    terms = page.eval_on_selector_all(
        "article dl dt[id]", "els => els.map(e => [e.id, e.textContent.trim()])"
    )
    ids = {i for i, _ in terms}
    assert len(terms) >= 25
    for required in (
        "kv-cache",
        "gqa",
        "mqa",
        "mla",
        "sram",
        "hbm",
        "online-softmax",
        "log-sum-exp",
        "rope",
        "alibi",
        "ssm",
        "selective-scan",
        "pagedattention",
        "flop",
        "roofline",
    ):
        assert required in ids, f"glossary has no #{required}"
    for abbr, (_, term) in ABBREVIATIONS.items():
        assert _slug(term) in ids, (
            f"abbreviation {abbr} names glossary term {term!r}, but #{_slug(term)} is not there"
        )
    # an anchor is reachable: following a link to it scrolls the term into view
    page.goto(f"{base_url}reference/glossary/#selective-scan")
    assert page.locator("#selective-scan").is_visible()
    assert page.evaluate("() => document.getElementById('selective-scan').getBoundingClientRect().top") < 400


def _tooltip_text(page) -> str:
    page.wait_for_selector(".md-tooltip2--active", state="visible", timeout=5000)
    return page.locator(".md-tooltip2--active").inner_text().strip()


@pytest.mark.parametrize(
    "at_path,abbr",
    [
        ("lessons/04-kv-cache/", "GQA"),
        ("lessons/02-sparse-and-flash/", "SRAM"),
        ("lessons/03-linear-and-ssm/", "SSM"),
    ],
    indirect=["at_path"],
)
def test_hover_shows_the_abbreviation_tooltip(at_path, on_page, abbr):
    page = on_page
    target = page.locator("article abbr", has_text=re.compile(rf"^{abbr}$")).first
    target.scroll_into_view_if_needed()
    target.hover()
    assert _tooltip_text(page) == f"{ABBREVIATIONS[abbr][0]} Glossary: {ABBREVIATIONS[abbr][1]}"
    page.mouse.move(0, 0)
    page.wait_for_selector(".md-tooltip2--active", state="detached", timeout=5000)


def test_hover_shows_the_tooltip_after_instant_navigation(page, base_url, net):
    page.goto(base_url)
    page.evaluate("() => { window.__noReload = true }")
    page.locator("a[href$='lessons/04-kv-cache/']").first.click()
    page.wait_for_url(at(base_url + "lessons/04-kv-cache/"))
    assert page.evaluate("() => window.__noReload === true"), "navigation reloaded the page"
    target = page.locator("article abbr", has_text=re.compile(r"^MQA$")).first
    target.scroll_into_view_if_needed()
    target.hover()
    assert _tooltip_text(page).startswith(ABBREVIATIONS["MQA"][0])


@pytest.mark.parametrize("at_path", ["lessons/04-kv-cache/"], indirect=True)
def test_focus_shows_the_tooltip(at_path, on_page):
    page = on_page
    target = page.locator("article abbr", has_text=re.compile(r"^MQA$")).first
    target.scroll_into_view_if_needed()
    page.keyboard.press("Tab")  # let the page take keyboard focus first
    target.focus()
    assert page.evaluate("() => document.activeElement.tagName") == "ABBR"
    assert _tooltip_text(page).startswith(ABBREVIATIONS["MQA"][0])
    target.blur()  # the page is shared with the module's other tests
    page.wait_for_selector(".md-tooltip2--active", state="detached", timeout=5000)


def test_footnote_reference_links_reach_bibliography_entries(page, base_url, net):
    page.goto(f"{base_url}reference/bibliography/")
    entries = set(page.eval_on_selector_all("article p[id]", "els => els.map(e => e.id)"))
    assert {"vaswani2017", "dao2022", "kamradt2023", "liu2023lost", "gemini2024"} <= entries
    for path in ("lessons/01-quadratic-wall/", "topics/evaluation/"):
        page.goto(f"{base_url}{path}")
        hrefs = page.eval_on_selector_all(
            ".footnote a[href*='bibliography/#']", "els => els.map(e => e.href)"
        )
        assert hrefs, f"no footnote on {path} links to the bibliography"
        for href in hrefs:
            assert href.split("#", 1)[1] in entries, href
    page.goto(hrefs[0])
    anchor = hrefs[0].split("#", 1)[1]
    assert page.locator(f"#{anchor}").is_visible()


@pytest.mark.parametrize("stem", sorted(p.stem for p in (ROOT / "examples").glob("*.py")))
def test_each_lab_offers_py_and_ipynb_downloads(page, base_url, net, stem):
    """Downloads (issue 6): every lab page links its .py source and an .ipynb that Jupyter can open."""
    page.goto(f"{base_url}examples/{stem}/")
    links = page.locator("article .lab-downloads a[download]")
    hrefs = sorted(links.evaluate_all("els => els.map(e => e.href)"))  # resolved against the page
    assert hrefs == sorted(
        [f"{base_url}examples/{stem}/{stem}.ipynb", f"{base_url}examples/{stem}/{stem}.py"]
    )
    source = page.request.get(f"{base_url}examples/{stem}/{stem}.py")
    assert source.ok and source.text() == (ROOT / "examples" / f"{stem}.py").read_text(encoding="utf-8")
    notebook = page.request.get(f"{base_url}examples/{stem}/{stem}.ipynb")
    assert notebook.ok
    import nbformat

    nb = nbformat.reads(notebook.text(), as_version=4)
    nbformat.validate(nb)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert any("import" in c for c in code)
