"""MkDocs hook: what a reader gets on top of a page's content (issue 12).

* **Reading time.** Each lesson says, under its title, how long it takes to read: the words of
  its prose (code listings and math left out) at 200 words a minute, rounded to 5 minutes.
* **Search weight.** Lessons rank above the API reference: a lesson's entries get a search boost
  of 4 (Material's ``search.boost``), an API page's 0.5. An API page is indexed by each object's
  name and summary only (its first paragraph): parameter tables, examples and the rest of each
  docstring carry ``data-search-exclude``, so the index every reader downloads stays small.
* **Figures for every screen.** Each ``assets/figures/<name>.svg`` image becomes a pair: the
  light figure and ``<name>-dark.svg`` (``longctx.figures.dark``), and the stylesheet shows the one
  that matches Material's scheme, also when the reader toggles it. On a narrow screen a figure
  is never shown so small that its smallest text falls under 11 px: it keeps the width that its
  smallest font needs (``--lc-legible``) and scrolls sideways in its box instead.
* **The repository.** ``[[repository]]`` in a page's Markdown becomes ``extra.repository`` of
  mkdocs.yml (the one setting the source links of docs/overrides/main.html use too).
"""

from __future__ import annotations

import html as html_lib
import math
import re

WORDS_PER_MINUTE = 200

_PRE = re.compile(r"<(pre|script|style)\b.*?</\1>", re.S)
_MATH = re.compile(r'<(span|div) class="arithmatex">.*?</\1>', re.S)
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[A-Za-z0-9][\w'’-]*")


def is_lesson(page) -> bool:
    return page.file.src_uri.startswith("lessons/")


def is_api(page) -> bool:
    return page.file.src_uri.startswith("reference/api/")


def prose_words(html: str) -> int:
    """Words a reader reads in ``html``: tags, code listings and math left out."""
    text = _TAG.sub(" ", _MATH.sub(" ", _PRE.sub(" ", html)))
    return len(_WORD.findall(html_lib.unescape(text)))


def reading_minutes(words: int) -> int:
    """``words`` at WORDS_PER_MINUTE, rounded up to 5 minutes (at least 5)."""
    return max(5, 5 * math.ceil(words / WORDS_PER_MINUTE / 5))


# In mkdocstrings' output, each object's docstring sits in <div class="doc doc-contents ...">;
# its first paragraph is the summary. Everything else there is kept out of the search index.
_CONTENTS = re.compile(r'(<div class="doc doc-contents[^"]*">)')
_BLOCK = re.compile(r"<(p|table|div|ul|ol|dl|details|pre|blockquote|h[5-6])(?=[\s>])")


def index_summaries_only(html: str) -> str:
    """``html`` of an API page with ``data-search-exclude`` on every docstring block but the summary."""
    parts = _CONTENTS.split(html)
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        opener, body = parts[i], parts[i + 1]
        seen_summary = False

        def mark(m: re.Match) -> str:
            nonlocal seen_summary
            tag = m.group(1)
            if tag == "p" and not seen_summary:
                seen_summary = True
                return m.group(0)
            if tag == "div" and body[m.end():m.end() + 40].lstrip().startswith('class="doc doc-'):
                return m.group(0)  # a nested object (a method of a class): its own heading and summary
            return m.group(0) + " data-search-exclude"

        # only up to the next object's heading: a nested object's docstring is handled in its turn
        out.append(opener + _BLOCK.sub(mark, body))
    return "".join(out)


LEGIBLE_PX = 11
_FIGURE_IMG = re.compile(r'<img(?P<attrs>[^>]*?)\ssrc="(?P<src>[^"]*?assets/figures/(?P<name>[\w.-]+?)\.svg)"(?P<rest>[^>]*)>')


def legible_width(svg: str) -> int:
    """The narrowest width, in CSS pixels, at which every text of ``svg`` is LEGIBLE_PX or more."""
    from longctx.figures import min_font_px

    size, width = min_font_px(svg)
    return math.ceil(LEGIBLE_PX * width / size)


def figure_pairs(html: str, svg_of) -> str:
    """Each figure image of ``html`` as a light/dark pair in a box that scrolls on narrow screens.

    ``svg_of(name)`` gives the light SVG's text (for its legible width), or None when unknown.
    """
    def pair(m: re.Match) -> str:
        name, src = m.group("name"), m.group("src")
        if name.endswith("-dark"):
            return m.group(0)
        svg = svg_of(name)
        style = f' style="--lc-legible: {legible_width(svg)}px"' if svg else ""
        attrs, rest = m.group("attrs"), m.group("rest")
        light = f'<img class="lc-fig lc-fig--light"{attrs} src="{src}"{rest}{style}>'
        dark = (f'<img class="lc-fig lc-fig--dark"{attrs} src="{src[:-4]}-dark.svg"{rest}{style}>'
                if svg_of(f"{name}-dark") is not None else "")
        return f'<span class="lc-fig-box">{light}{dark}</span>'

    return _FIGURE_IMG.sub(pair, html)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if is_lesson(page):
        page.meta.setdefault("search", {}).setdefault("boost", 4)
    elif is_api(page):
        page.meta.setdefault("search", {}).setdefault("boost", 0.5)
    repo = config.extra.get("repository") or ""
    return markdown.replace("[[repository]]", repo)


def on_page_content(html: str, page, config, files) -> str:
    def svg_of(name: str):
        f = files.get_file_from_path(f"assets/figures/{name}.svg")
        return f.content_string if f is not None else None

    html = figure_pairs(html, svg_of)
    if is_api(page):
        return index_summaries_only(html)
    if is_lesson(page):
        minutes = reading_minutes(prose_words(html))
        note = (f'<p class="lc-reading-time" data-minutes="{minutes}">'
                f"About {minutes} minutes of reading, plus the exercises.</p>")
        head, h1, rest = html.partition("</h1>")
        return head + h1 + note + rest if h1 else note + html
    return html
