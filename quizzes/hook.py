"""MkDocs hook: the quizzes in ``quizzes/<id>.yml``, rendered where a page says ``<!-- quiz: <id> -->``.

The YAML schema and what a page may write are in ``quizzes/README.md``. The work is done by
two plain modules beside this one, which the tests call without MkDocs:

* ``schema.py`` reads and checks a quiz and computes its numeric answers with ``longctx``;
* ``render.py`` turns a quiz into HTML, resolves and checks the links of ``teaches``, fills in
  the home page's progress markers and replaces the markers in a page.

This file only wires them to the build's events:

* ``on_pre_build``: every ``quizzes/*.yml`` is checked, used by a page or not;
* ``on_page_markdown``: each marker becomes the rendered quiz, its ``teaches`` links resolved;
* ``on_page_content``: ``data-progress-quiz`` elements get the quiz's version and size;
* ``on_env``: every ``teaches`` names a page and a heading on it, and the links get their text.

``on_env`` also works on a partial build (``mkdocs serve --dirty``, which the preview uses):
a page that this build did not render has no headings in memory, so its heading ids come from
the last build of this process that rendered it, or else from its HTML in the site directory.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

# MkDocs loads this hook by path. With the checkout's root on the path, ``quizzes/`` imports as a
# namespace package, so schema and render are loaded once, as ``quizzes.schema`` and ``quizzes.render``,
# however many times the hook is (names that no installed package or module can shadow).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
from quizzes import render, schema  # noqa: E402

# The functions the tests and the browser tests call on this module.
QUIZ_DIR = schema.QUIZ_DIR
DEFAULT_PASS_FRACTION = schema.DEFAULT_PASS_FRACTION
MODES = schema.MODES
compute_answer, load_quiz, number_text = schema.compute_answer, schema.load_quiz, schema.number_text
pass_mark, quiz_ids, validate_quiz, with_unit = (
    schema.pass_mark,
    schema.quiz_ids,
    schema.validate_quiz,
    schema.with_unit,
)
add_progress_attributes, check_teaches = render.add_progress_attributes, render.check_teaches
render_quiz, replace_markers, resolve_teaches = (
    render.render_quiz,
    render.replace_markers,
    render.resolve_teaches,
)
toc_anchors, with_titles = render.toc_anchors, render.with_titles

# Quizzes placed on pages during this build: src_uri -> [(quiz, html)], completed in on_env.
_PLACED: dict[str, list[tuple[dict, str]]] = {}
# Title and heading ids of every page rendered by an earlier build of this process (for --dirty).
_KNOWN: dict[str, tuple[str, dict[str, str]]] = {}

_HEADING = re.compile(r'<h([1-6])\b[^>]*\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_PERMALINK = re.compile(r'<a class="headerlink"[^>]*>.*?</a>', re.S)


def anchors_from_html(text: str) -> dict[str, str]:
    """Heading ids of a built page and their text, read from its HTML (a page this build skipped)."""
    article = text.partition("<article")[2] or text
    return {
        m.group(2): render._heading_text(_PERMALINK.sub("", m.group(3))) for m in _HEADING.finditer(article)
    }


def _page_headings(f) -> tuple[str, dict[str, str]] | None:
    """``(title, {heading id: text})`` of a page, rendered now, earlier, or only on disk."""
    page = f.page
    if page is None:
        return None
    if getattr(page, "content", None) is not None or (page.toc is not None and len(page.toc)):
        found = (render._heading_text(page.title or ""), render.toc_anchors(page.toc))
        _KNOWN[f.src_uri] = found
        return found
    if f.src_uri in _KNOWN:
        return _KNOWN[f.src_uri]
    dest = getattr(f, "abs_dest_path", None)
    if dest and Path(dest).is_file():
        return render._heading_text(page.title or ""), anchors_from_html(
            Path(dest).read_text(encoding="utf-8")
        )
    return None


def on_pre_build(config) -> None:
    # Check every quiz up front, so that one no page uses yet cannot rot unnoticed.
    _PLACED.clear()
    for qid in quiz_ids():
        load_quiz(qid)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri.endswith(".py"):  # notebooks are rendered by mkdocs-jupyter
        return markdown
    resolve = rendered = None
    if files is not None:
        page_urls = {f.src_uri: f.url for f in files.documentation_pages()}
        resolve = lambda quiz: resolve_teaches(quiz, page.file.url, page_urls)  # noqa: E731
        rendered = _PLACED.setdefault(page.file.src_uri, [])
        rendered.clear()
    return replace_markers(
        markdown, f"page {page.file.src_uri}", quiz_dir=QUIZ_DIR, resolve=resolve, rendered=rendered
    )


def on_page_content(html_text: str, page, config, files) -> str:
    if "data-progress-quiz" not in html_text:
        return html_text
    return add_progress_attributes(html_text, f"page {page.file.src_uri}", quiz_dir=QUIZ_DIR)


def on_env(env, config, files):
    """Every page is rendered (or kept from an earlier build): check each ``teaches``, give links their text."""
    pages = {}
    for f in files.documentation_pages():
        found = _page_headings(f)
        if found is not None:
            pages[f.src_uri] = found
    for qid in quiz_ids():
        check_teaches(load_quiz(qid), pages)
    for f in files.documentation_pages():
        for quiz, block in _PLACED.get(f.src_uri, []):
            if not any(q.get("teaches") for q in quiz["questions"]):
                continue
            final = render_quiz(with_titles(quiz, check_teaches(quiz, pages)))
            if f.page.content is None or block not in f.page.content:
                raise PluginError(
                    f"page {f.src_uri}: quiz {quiz['id']!r} was changed after it was placed "
                    "(another extension rewrote its HTML), so its links cannot be completed"
                )
            f.page.content = f.page.content.replace(block, final)
    return env
