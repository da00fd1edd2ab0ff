"""Quizzes as HTML, the links of ``teaches``, the home page's progress markers, and the markers in pages.

Plain functions of quiz dicts (from ``schema.load_quiz``) and text, so that
``tests/test_quiz_data.py`` can call them without MkDocs; ``quizzes/hook.py`` calls them from
the build's events.
"""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

from quizzes import schema  # importable once quizzes/hook.py has put the checkout's root on the path

QUIZ_DIR, load_quiz = schema.QUIZ_DIR, schema.load_quiz

MARKER = re.compile(r"^(?P<indent>[ \t]*)<!--\s*quiz:\s*(?P<id>\S*?)\s*-->[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_PROGRESS = re.compile(r'data-progress-quiz="(?P<id>[^"]*)"')


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _teaches_html(teaches: dict | None) -> str:
    """``Taught in: <a>page › section</a>``, once the link is resolved; nothing before."""
    if not teaches or not teaches.get("url"):
        return ""
    label = teaches.get("title") or f"{teaches['page']}#{teaches['anchor']}"
    return f'<p class="quiz-teaches">Taught in: <a href="{_esc(teaches["url"])}">{_esc(label)}</a></p>'


def render_quiz(quiz: dict) -> str:
    """The quiz as HTML: a readable no-JavaScript version, with the data for the script attached.

    Nothing from the quiz reaches the page unescaped. The answers sit in a ``<details>`` that
    is folded, and ``data-search-exclude`` keeps them out of the search index. A test
    (``mode: test``) carries ``data-quiz-mode="test"``, which module-test.js picks up and
    quiz.js leaves alone, and says how it is scored.
    """
    qid = quiz["id"]
    test = quiz.get("mode") == "test"
    data = json.dumps(quiz, ensure_ascii=False, separators=(",", ":"))
    mode = ' data-quiz-mode="test"' if test else ""
    classes = "quiz quiz--test" if test else "quiz"
    parts = [f'<div class="{classes}" id="quiz-{qid}" data-quiz-id="{qid}"{mode} data-quiz="{_esc(data)}">']
    if quiz["title"]:
        parts.append(f'<p class="quiz-title">{_esc(quiz["title"])}</p>')
    if test:
        total = len(quiz["questions"])
        parts.append(
            f'<p class="quiz-rules">{total} questions. The pass mark is {quiz["pass_mark"]} of '
            f"{total} ({quiz['pass_fraction']:.0%}). Each answer names the section that teaches it.</p>"
        )
    parts.append('<ol class="quiz-fallback">')
    for q in quiz["questions"]:
        parts.append(f'<li class="quiz-fallback-question"><p>{_esc(q["prompt"])}</p>')
        if q["type"] == "choice":
            parts.append('<ol type="A">')
            parts.extend(f"<li>{_esc(c['text'])}</li>" for c in q["choices"])
            parts.append("</ol>")
            right = q["answer"]
            parts.append('<details class="quiz-answer" data-search-exclude><summary>Answer</summary>')
            parts.append(
                f"<p><strong>{chr(65 + right)}</strong>: {_esc(q['choices'][right]['text'])}</p><ul>"
            )
            for i, c in enumerate(q["choices"]):
                verdict = "right" if i == right else "wrong"
                parts.append(f"<li><strong>{chr(65 + i)} ({verdict}).</strong> {_esc(c['explanation'])}</li>")
            parts.append("</ul>")
        else:
            parts.append(f'<p class="quiz-fallback-unit">Answer in {_esc(q["unit"])}.</p>')
            parts.append('<details class="quiz-answer" data-search-exclude><summary>Answer</summary>')
            parts.append(
                f"<p><strong>{_esc(q['answer_text'])}</strong> "
                f"(answers within {q['tolerance']:.0%} count)</p>"
            )
            parts.append(f"<p>{_esc(q['explanation'])}</p>")
        parts.append(_teaches_html(q.get("teaches")))
        parts.append("</details></li>")
    parts.append("</ol>")
    if test:
        parts.append(
            '<noscript data-search-exclude><p class="quiz-noscript">With JavaScript on, you answer every '
            "question, submit the test and get your score, with every answer reviewed and your "
            "progress kept.</p></noscript>"
        )
    else:
        parts.append(
            '<noscript data-search-exclude><p class="quiz-noscript">With JavaScript on, this quiz checks '
            "your answers and keeps your score.</p></noscript>"
        )
    parts.append("</div>")
    return "".join(parts)


# ---- where each question is taught ------------------------------------------------------------


def resolve_teaches(quiz: dict, from_url: str, page_urls: dict[str, str]) -> dict:
    """A copy of ``quiz`` whose ``teaches`` carry ``url``: relative to the page at ``from_url``.

    ``page_urls`` maps a page's path under docs/ (``lessons/01-quadratic-wall.md``) to its
    site URL (``lessons/01-quadratic-wall/``), as MkDocs's files know them.

    Raises:
        PluginError: a ``teaches`` page that is not part of the site, with file and question named.
    """
    from mkdocs.utils import get_relative_url

    out = copy.deepcopy(quiz)
    for n, q in enumerate(out["questions"], 1):
        t = q.get("teaches")
        if not t:
            continue
        if t["page"] not in page_urls:
            raise PluginError(
                f"quizzes/{quiz['id']}.yml, question {n}: teaches {t['page']}#{t['anchor']}: "
                f"there is no page {t['page']!r} in docs/"
            )
        t["url"] = f"{get_relative_url(page_urls[t['page']], from_url)}#{t['anchor']}"
    return out


def _heading_text(title: str) -> str:
    """A toc entry's title (HTML) as plain text."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", title)).split())


def toc_anchors(toc) -> dict[str, str]:
    """Every heading id of a page's table of contents (any depth), mapped to its text."""
    out: dict[str, str] = {}

    def walk(items):
        for item in items:
            out[item.id] = _heading_text(item.title)
            walk(item.children)

    walk(toc)
    return out


def check_teaches(quiz: dict, pages: dict[str, tuple[str, dict[str, str]]]) -> dict[tuple[str, str], str]:
    """Check that every ``teaches`` of ``quiz`` names a page and a heading on it.

    ``pages`` maps a page's path under docs/ to ``(page title, {heading id: heading text})``.
    Returns the link text of each ``(page, anchor)``: "page title › heading".

    Raises:
        PluginError: naming the quiz file, the question, and the headings the page does have.
    """
    titles = {}
    for n, q in enumerate(quiz["questions"], 1):
        t = q.get("teaches")
        if not t:
            continue
        where = f"quizzes/{quiz['id']}.yml, question {n}: teaches {t['page']}#{t['anchor']}"
        if t["page"] not in pages:
            raise PluginError(f"{where}: there is no page {t['page']!r} in docs/")
        page_title, anchors = pages[t["page"]]
        if t["anchor"] not in anchors:
            known = ", ".join(anchors) or "none"
            raise PluginError(
                f"{where}: {t['page']} has no heading with id {t['anchor']!r} (its heading ids: {known})"
            )
        heading = anchors[t["anchor"]]
        titles[(t["page"], t["anchor"])] = f"{page_title} \u203a {heading}" if page_title else heading
    return titles


def with_titles(quiz: dict, titles: dict[tuple[str, str], str]) -> dict:
    """A copy of ``quiz`` whose ``teaches`` carry the link text from :func:`check_teaches`."""
    out = copy.deepcopy(quiz)
    for q in out["questions"]:
        t = q.get("teaches")
        if t:
            t["title"] = titles[(t["page"], t["anchor"])]
    return out


# ---- progress on the home page ------------------------------------------------------------------


def add_progress_attributes(content: str, where: str, quiz_dir: Path = QUIZ_DIR) -> str:
    """Give each ``data-progress-quiz="<id>"`` element what progress.js needs to read the reader's state.

    Raises:
        PluginError: an unknown quiz id, with ``where`` named.
    """
    cache: dict[str, dict] = {}

    def replace(m: re.Match) -> str:
        qid = m.group("id")
        if qid not in cache:
            try:
                cache[qid] = load_quiz(qid, quiz_dir)
            except PluginError as err:
                raise PluginError(f"{where}: data-progress-quiz: {err}") from None
        quiz = cache[qid]
        extra = (
            f' data-quiz-version="{quiz["version"]}" data-quiz-total="{len(quiz["questions"])}"'
            f' data-quiz-mode="{quiz.get("mode", "practice")}"'
        )
        if quiz.get("mode") == "test":
            extra += f' data-quiz-pass-mark="{quiz["pass_mark"]}"'
        return m.group(0) + extra

    return _PROGRESS.sub(replace, content)


# ---- markers in pages ---------------------------------------------------------------------------


def replace_markers(
    markdown: str, where: str, quiz_dir: Path = QUIZ_DIR, resolve=None, rendered: list | None = None
) -> str:
    """Replace every ``<!-- quiz: <id> -->`` line outside fenced code with the rendered quiz.

    ``resolve``, if given, turns each loaded quiz into the one to render (the build uses it to
    add the links of ``teaches``); ``rendered``, if given, collects ``(quiz, html)`` for each
    quiz placed, so that the build can fill in the links' text once every page is known.

    Raises:
        PluginError: an unknown or broken quiz, an indented marker, or a quiz used twice
            on one page (its inputs would share names), with ``where`` named.
    """
    out, fence, seen = [], None, set()
    for line in markdown.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not line.strip()[len(m.group(1)) :]
            ):
                fence = None
            out.append(line)
            continue
        if m:
            fence = m.group(1)
            out.append(line)
            continue
        marker = MARKER.match(line.rstrip("\r\n"))
        if not marker:
            out.append(line)
            continue
        qid = marker.group("id")
        if marker.group("indent"):
            raise PluginError(f"{where}: the quiz marker for {qid!r} must start at the beginning of its line")
        if qid in seen:
            raise PluginError(f"{where}: quiz {qid!r} appears twice on the page")
        seen.add(qid)
        try:
            quiz = load_quiz(qid, quiz_dir)
            if resolve is not None:
                quiz = resolve(quiz)
        except PluginError as err:
            raise PluginError(f"{where}: {err}") from None
        block = render_quiz(quiz)
        if rendered is not None:
            rendered.append((quiz, block))
        out.append(f"\n{block}\n\n")
    return "".join(out)
