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
            if tag == "div" and body[m.end() : m.end() + 40].lstrip().startswith('class="doc doc-'):
                return m.group(0)  # a nested object (a method of a class): its own heading and summary
            return m.group(0) + " data-search-exclude"

        # only up to the next object's heading: a nested object's docstring is handled in its turn
        out.append(opener + _BLOCK.sub(mark, body))
    return "".join(out)


LEGIBLE_PX = 11
_FIGURE_IMG = re.compile(
    r'<img(?P<attrs>[^>]*?)\ssrc="(?P<src>[^"]*?assets/figures/(?P<name>[\w.-]+?)\.svg)"(?P<rest>[^>]*)>'
)


def legible_width(svg: str) -> int | None:
    """The narrowest width, in CSS pixels, at which every text of ``svg`` is LEGIBLE_PX or more
    (None for a picture without text)."""
    from longctx.figures import min_font_px

    try:
        size, width = min_font_px(svg)
    except ValueError:
        return None
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
        width = legible_width(svg) if svg else None
        style = f' style="--lc-legible: {width}px"' if width else ""
        attrs, rest = m.group("attrs"), m.group("rest")
        light = f'<img class="lc-fig lc-fig--light"{attrs} src="{src}"{rest}{style}>'
        dark = (
            f'<img class="lc-fig lc-fig--dark"{attrs} src="{src[:-4]}-dark.svg"{rest}{style}>'
            if svg_of(f"{name}-dark") is not None
            else ""
        )
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
        note = (
            f'<p class="lc-reading-time" data-minutes="{minutes}">'
            f"About {minutes} minutes of reading, plus the exercises.</p>"
        )
        head, h1, rest = html.partition("</h1>")
        return head + h1 + note + rest if h1 else note + html
    return html


# ---------------------------------------------------------------------------- lab pages' CSS
#
# mkdocs-jupyter writes the whole of JupyterLab's stylesheet (about 590 KB) into every lab page.
# A cell uses a few dozen of its rules, so each lab keeps only the rules whose selectors name
# classes and ids the page has, and only the custom properties (--jp-...) those rules read.

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)
_CLASS_ATTR = re.compile(r'\sclass="([^"]*)"')
_ID_ATTR = re.compile(r'\sid="([^"]*)"')
_VAR_USE = re.compile(r"var\(\s*(--[\w-]+)")
_KEEP_AT = ("@font-face", "@keyframes", "@-webkit-keyframes", "@page", "@counter-style")
_NEST_AT = ("@media", "@supports", "@layer", "@container", "@document")


def _rules(css: str) -> list[tuple[str, str]]:
    """Top-level (prelude, body) pairs of ``css``; statements such as @charset come as (text, None)."""
    out, i, n = [], 0, len(css)
    while i < n:
        j = css.find("{", i)
        if j < 0:
            break
        prelude = css[i:j]
        while True:  # statements ending in ";" before the block (@charset, @import) stand alone
            at = prelude.strip()
            if not at.startswith("@") or ";" not in at:
                break
            stmt, _, prelude = at.partition(";")
            out.append((stmt + ";", None))
        depth, k = 1, j + 1
        while k < n and depth:
            depth += {"{": 1, "}": -1}.get(css[k], 0)
            k += 1
        out.append((prelude.strip(), css[j + 1 : k - 1]))
        i = k
    return out


def _selector_used(selector: str, classes: set[str], ids: set[str]) -> bool:
    sel = re.sub(
        r"::?[\w-]+(\([^)]*\))?", "", selector
    )  # pseudo-classes and elements say nothing of presence
    return all(c in classes for c in re.findall(r"\.([\w-]+)", sel)) and all(
        i in ids for i in re.findall(r"#([\w-]+)", sel)
    )


def _purge_rules(css: str, classes: set[str], ids: set[str]) -> list[tuple[str, str | None]]:
    kept = []
    for prelude, body in _rules(css):
        if body is None:
            if not prelude.startswith("@import"):
                kept.append((prelude, None))
        elif prelude.startswith(_NEST_AT):
            inner = _purge_rules(body, classes, ids)
            if inner:
                kept.append((prelude, _join(inner)))
        elif prelude.startswith(_KEEP_AT):
            kept.append((prelude, body))
        elif prelude.startswith("@"):
            continue
        else:
            parts = [prelude] if "(" in prelude else [s.strip() for s in prelude.split(",")]
            used = [s for s in parts if _selector_used(s, classes, ids)]
            if used:
                kept.append((", ".join(used), body))
    return kept


def _join(rules: list[tuple[str, str | None]]) -> str:
    return "".join(p if b is None else f"{p}{{{b}}}" for p, b in rules)


def _used_vars(text: str) -> set[str]:
    """Custom properties that ``text`` reads outside their own definitions, and what those read."""
    defs: dict[str, list[str]] = {}
    for name, value in re.findall(r"(--[\w-]+)\s*:((?:[^;{}(]|\([^)]*\))*)", text):
        defs.setdefault(name, []).append(value)
    plain = re.sub(r"--[\w-]+\s*:(?:[^;{}(]|\([^)]*\))*", "", text)
    used, todo = set(), list(_VAR_USE.findall(plain))
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            for value in defs.get(name, []):
                todo.extend(_VAR_USE.findall(value))
    return used


def _split_declarations(body: str) -> list[str]:
    """``body`` split at the semicolons outside parentheses and quotes (data: URLs hold some)."""
    out, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(body):
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == ";" and depth == 0:
            out.append(body[start:i])
            start = i + 1
    out.append(body[start:])
    return out


def _drop_vars(rules: list[tuple[str, str | None]], used: set[str]) -> list[tuple[str, str | None]]:
    """``rules`` without the custom-property declarations outside ``used``."""

    def clean(body: str) -> str:
        if "{" in body:  # a nested block: clean its rules in turn
            return _join(_drop_vars(_rules(body), used))
        return ";".join(
            d
            for d in _split_declarations(body)
            if d.strip() and (not d.strip().startswith("--") or d.strip().split(":", 1)[0].strip() in used)
        )

    out = []
    for prelude, body in rules:
        if body is not None:
            body = clean(body)
            if not body.strip() and not prelude.startswith(_KEEP_AT):
                continue
        out.append((prelude, body))
    return out


def purge_styles(styles: list[str], html: str) -> list[str]:
    """The rules of each stylesheet in ``styles`` that can apply to ``html``, with the custom
    properties that the kept rules of all of them read."""
    classes = {c for attr in _CLASS_ATTR.findall(html) for c in attr.split()}
    ids = set(_ID_ATTR.findall(html))
    kept = [_purge_rules(_COMMENT.sub("", css), classes, ids) for css in styles]
    used = _used_vars("".join(_join(r) for r in kept) + html)  # style="" attributes read them too
    return [_join(_drop_vars(r, used)) for r in kept]


def on_post_page(output: str, page, config) -> str:
    uri = page.file.src_uri
    if not (uri.startswith("examples/") and uri.endswith(".py")):
        return output
    styles = [m.group(2) for m in _STYLE.finditer(output)]
    purged = iter(purge_styles(styles, _STYLE.sub("", output)))
    return _STYLE.sub(lambda m: m.group(1) + next(purged) + m.group(3), output)
