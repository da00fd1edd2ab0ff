"""MkDocs hook: the quizzes in ``quizzes/<id>.yml``, rendered where a page says ``<!-- quiz: <id> -->``.

The marker must sit on a line of its own, at the start of the line, outside fenced code.
It becomes a ``<div class="quiz">`` that reads well without JavaScript (the questions, the
choices and a folded ``<details>`` with the answers, left out of the search index) and that
carries the quiz as HTML-escaped JSON in ``data-quiz`` for ``docs/javascripts/quiz.js``.

YAML schema (``quizzes/<id>.yml``; the id is the file name, ``[a-z0-9][a-z0-9-]*``)::

    title: "Check yourself"            # optional, shown above the questions
    questions:                         # one or more
      - type: choice                   # single choice: exactly one right answer
        prompt: "Question text"        # plain text; $...$ is typeset by KaTeX in the browser
        choices:                       # two or more
          - text: "A choice"
            explanation: "Why it is right or wrong"   # required for EVERY choice
          - ...
        answer: 1                      # index of the right choice, counted from 0

      - type: numeric
        prompt: "Question text"
        answer:                        # never a typed number: the value of a longctx function
          call: costs.cost_multiplier  # longctx.<module>.<function>, see longctx.units.resolve
          args: [16384, 65536]         # optional, literals
          kwargs: {}                   # optional, literals
          scale: 1.0e-9                # optional factor applied to the result (bytes -> GB)
        unit: "GB"                     # required, shown beside the input and in the answer
        tolerance: 0.02                # required, RELATIVE: |x - answer| <= tolerance * |answer|
        explanation: "How to get there"

A quiz is in one of two modes:

* ``mode: practice`` (the default, the lesson quizzes): each question is checked as soon as it
  is answered, by ``docs/javascripts/quiz.js``.
* ``mode: test`` (the module test): nothing is revealed per question; the reader submits the
  whole test and gets a score, pass or fail, and every answer reviewed, each with a link to the
  section that teaches it (``docs/javascripts/module-test.js``). Two more keys::

    mode: test
    pass_fraction: 0.8                 # optional (default 0.8), in (0, 1]: the pass mark is
                                       # ceil(pass_fraction * questions) right answers
    questions:
      - type: choice
        teaches: "lessons/02-sparse-and-flash.md#reach-over-layers"   # required in a test
        ...

``teaches`` names a page by its path under ``docs/`` and a heading on it by its id (the
anchor the ``toc`` extension gives it, or its ``{ #id }``). It is allowed in practice quizzes
too, and then shown with the answer. That the page and the heading exist can only be known
once every page is rendered, so it is checked in ``on_env`` against each page's table of
contents, for every quiz, used by a page or not; the link text is the page's title and the
heading's.

Any mistake fails the build with a ``PluginError`` naming the file and the question
(counted from 1): an unknown quiz id, an unknown key, a missing prompt or explanation, an
answer index out of range, an unknown function, a call that raises or returns no finite
number, a missing unit or tolerance, an unknown mode, a pass fraction out of range, a test
question without ``teaches``, or a ``teaches`` whose page or heading does not exist. Every
``quizzes/*.yml`` is checked at the start of the build, used by a page or not.

The home page's course map shows each quiz's progress: an element that carries
``data-progress-quiz="<id>"`` gets the quiz's ``data-quiz-version``, ``data-quiz-total``,
``data-quiz-mode`` (and ``data-quiz-pass-mark`` for a test) added at build time, for
``docs/javascripts/progress.js`` to compare with what the reader's browser stored. An unknown
id there fails the build too.

The loading and checking are plain functions (:func:`load_quiz`, :func:`validate_quiz`,
:func:`render_quiz`, :func:`replace_markers`, :func:`resolve_teaches`, :func:`check_teaches`,
:func:`toc_anchors`, :func:`add_progress_attributes`) so that ``tests/test_quiz_data.py`` can
call them without MkDocs.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import math
import re
from numbers import Real
from pathlib import Path

import yaml
from mkdocs.exceptions import PluginError

from longctx.units import resolve

QUIZ_DIR = Path(__file__).resolve().parent
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
MARKER = re.compile(r"^(?P<indent>[ \t]*)<!--\s*quiz:\s*(?P<id>\S*?)\s*-->[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")

_TOP_KEYS = {"title", "questions", "mode", "pass_fraction"}
_CHOICE_KEYS = {"type", "prompt", "choices", "answer", "teaches"}
_CHOICE_ITEM_KEYS = {"text", "explanation"}
_NUMERIC_KEYS = {"type", "prompt", "answer", "unit", "tolerance", "explanation", "teaches"}
MODES = ("practice", "test")
DEFAULT_PASS_FRACTION = 0.8
# docs-relative page path (no leading slash, no "..") and a heading id, as the toc extension makes them
_TEACHES = re.compile(r"(?P<page>(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*\.md)#(?P<anchor>[A-Za-z0-9_][A-Za-z0-9_.:-]*)\Z")
_PROGRESS = re.compile(r'data-progress-quiz="(?P<id>[^"]*)"')
_CALL_KEYS = {"call", "args", "kwargs", "scale"}


def _text(value: object, what: str, where: str) -> str:
    """``value`` as a stripped non-empty string, or a PluginError saying ``what`` is missing."""
    if not isinstance(value, str) or not value.strip():
        got = "nothing" if value is None else repr(value)
        raise PluginError(f"{where}: {what} must be non-empty text, got {got}")
    return value.strip()


def _no_unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed, key=str)
    if unknown:
        raise PluginError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"expected {', '.join(sorted(allowed))}")


def _real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def number_text(value: float) -> str:
    """A computed answer for people: whole numbers with separators, else 4 significant digits."""
    if value == round(value) and abs(value) < 1e15:
        return f"{round(value):,}"
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".")


def with_unit(number: str, unit: str) -> str:
    """``16×`` but ``20 GB``: a unit that starts with a letter or digit gets a space."""
    return f"{number} {unit}" if unit[:1].isalnum() else f"{number}{unit}"


def compute_answer(spec: object, where: str) -> float:
    """Value of ``{call, args, kwargs, scale}``: a named function of ``longctx``, times ``scale``."""
    if not isinstance(spec, dict):
        raise PluginError(f"{where}: answer must be a mapping such as "
                          f"{{call: costs.cost_multiplier, args: [16384, 65536]}}, got {spec!r}")
    _no_unknown_keys(spec, _CALL_KEYS, f"{where}: answer")
    name = _text(spec.get("call"), "answer.call", where)
    try:
        func = resolve(name)
    except ValueError as err:
        raise PluginError(f"{where}: {err}") from None
    args = spec.get("args", [])
    kwargs = spec.get("kwargs", {})
    if not isinstance(args, list):
        raise PluginError(f"{where}: answer.args must be a list, got {args!r}")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise PluginError(f"{where}: answer.kwargs must be a mapping of names to values, got {kwargs!r}")
    scale = spec.get("scale", 1)
    if not _real(scale) or scale <= 0:
        raise PluginError(f"{where}: answer.scale must be a finite positive number, got {scale!r}")
    try:
        value = func(*args, **kwargs)
    except Exception as err:  # any failure of the call is a broken quiz, named as such
        raise PluginError(f"{where}: {name}(*{args!r}, **{kwargs!r}) raised "
                          f"{type(err).__name__}: {err}") from None
    if not _real(value):
        raise PluginError(f"{where}: {name}(...) returned {value!r}, not a finite number")
    return float(value * scale)


def _teaches(q: dict, where: str, required: bool) -> dict | None:
    """``teaches: "<page>.md#<anchor>"`` as ``{"page", "anchor"}``; its existence is checked later."""
    if "teaches" not in q:
        if required:
            raise PluginError(f"{where}: a test question needs teaches: \"lessons/<page>.md#<heading-id>\", "
                              "the section a reader should go back to")
        return None
    value = q["teaches"]
    text = _text(value, "teaches", where)
    m = _TEACHES.match(text)
    if not m:
        raise PluginError(f"{where}: teaches must read '<page>.md#<heading-id>' with the page's path under "
                          f"docs/ (no leading '/', no '..'), e.g. 'lessons/01-quadratic-wall.md#counting-the-work'; "
                          f"got {value!r}")
    return {"page": m.group("page"), "anchor": m.group("anchor")}


def _choice(q: dict, where: str, test: bool = False) -> dict:
    _no_unknown_keys(q, _CHOICE_KEYS, where)
    teaches = _teaches(q, where, required=test)
    choices = q.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        raise PluginError(f"{where}: choices must be a list of at least two choices")
    out = []
    for i, c in enumerate(choices, 1):
        at = f"{where}, choice {i}"
        if not isinstance(c, dict):
            raise PluginError(f"{at}: a choice must be a mapping with text and explanation, got {c!r}")
        _no_unknown_keys(c, _CHOICE_ITEM_KEYS, at)
        out.append({"text": _text(c.get("text"), "text", at),
                    "explanation": _text(c.get("explanation"), "explanation", at)})
    answer = q.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise PluginError(f"{where}: answer must be the index of the right choice (from 0), got {answer!r}")
    if not 0 <= answer < len(out):
        raise PluginError(f"{where}: answer index {answer} is out of range for {len(out)} choices "
                          f"(0 to {len(out) - 1})")
    out = {"type": "choice", "prompt": _text(q.get("prompt"), "prompt", where), "choices": out,
           "answer": answer}
    if teaches:
        out["teaches"] = teaches
    return out


def _numeric(q: dict, where: str, test: bool = False) -> dict:
    _no_unknown_keys(q, _NUMERIC_KEYS, where)
    teaches = _teaches(q, where, required=test)
    prompt = _text(q.get("prompt"), "prompt", where)
    unit = _text(q.get("unit"), "unit", where)
    tolerance = q.get("tolerance")
    if tolerance is None:
        raise PluginError(f"{where}: numeric question needs a tolerance (relative, e.g. 0.01 for 1%)")
    if not _real(tolerance) or not 0 < tolerance < 1:
        raise PluginError(f"{where}: tolerance is relative and must lie in (0, 1), got {tolerance!r}")
    explanation = _text(q.get("explanation"), "explanation", where)
    if "answer" not in q:
        raise PluginError(f"{where}: numeric question needs answer: {{call: ..., args: [...]}}")
    value = compute_answer(q["answer"], where)
    if value == 0:
        raise PluginError(f"{where}: the answer is 0, which a relative tolerance cannot bracket")
    text = with_unit(number_text(value), unit)
    out = {"type": "numeric", "prompt": prompt, "answer": value, "answer_text": text, "unit": unit,
           "tolerance": float(tolerance), "explanation": explanation}
    if teaches:
        out["teaches"] = teaches
    return out


def pass_mark(pass_fraction: float, total: int) -> int:
    """Right answers needed to pass: ``ceil(pass_fraction * total)``, immune to float noise.

    ``0.8 * 15`` is 12.000000000000002 in binary floating point; rounding to 9 decimals first
    keeps the mark at 12 rather than 13.
    """
    return max(1, math.ceil(round(pass_fraction * total, 9)))


def validate_quiz(data: object, source: str) -> dict:
    """Check parsed YAML and return the quiz as the browser gets it (answers computed).

    ``source`` names the file in error messages, e.g. ``"quizzes/lesson-01.yml"``.

    Raises:
        PluginError: anything wrong, with ``source`` and the question (from 1) named.
    """
    if not isinstance(data, dict):
        raise PluginError(f"{source}: expected a mapping with 'questions', got {type(data).__name__}")
    _no_unknown_keys(data, _TOP_KEYS, source)
    title = data.get("title")
    if title is not None:
        title = _text(title, "title", source)
    mode = data.get("mode", "practice")
    if mode not in MODES:
        raise PluginError(f"{source}: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    test = mode == "test"
    if "pass_fraction" in data and not test:
        raise PluginError(f"{source}: pass_fraction only applies to a quiz with mode: test")
    fraction = data.get("pass_fraction", DEFAULT_PASS_FRACTION)
    if not _real(fraction) or not 0 < fraction <= 1:
        raise PluginError(f"{source}: pass_fraction must be a number in (0, 1], such as 0.8 for 80%, "
                          f"got {fraction!r}")
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise PluginError(f"{source}: 'questions' must be a non-empty list")
    out = []
    for n, q in enumerate(questions, 1):
        where = f"{source}, question {n}"
        if not isinstance(q, dict):
            raise PluginError(f"{where}: expected a mapping, got {q!r}")
        kind = q.get("type")
        if kind == "choice":
            out.append(_choice(q, where, test))
        elif kind == "numeric":
            out.append(_numeric(q, where, test))
        else:
            raise PluginError(f"{where}: type must be 'choice' or 'numeric', got {kind!r}")
    quiz = {"title": title, "questions": out}
    if test:  # practice quizzes keep exactly their earlier data, so saved progress stays valid
        quiz.update(mode="test", pass_fraction=float(fraction), pass_mark=pass_mark(fraction, len(out)))
    # A saved score is only restored into the quiz it was made for (see quiz.js).
    quiz["version"] = hashlib.sha256(json.dumps(quiz, sort_keys=True).encode()).hexdigest()[:12]
    return quiz


def load_quiz(quiz_id: str, quiz_dir: Path = QUIZ_DIR) -> dict:
    """Read, check and compute ``<quiz_dir>/<quiz_id>.yml``; the result also carries ``id``."""
    if not isinstance(quiz_id, str) or not ID_PATTERN.match(quiz_id):
        raise PluginError(f"quiz id {quiz_id!r} is not valid: use lower-case letters, digits and '-'")
    path = Path(quiz_dir) / f"{quiz_id}.yml"
    source = f"quizzes/{path.name}"
    if not path.is_file():
        known = ", ".join(quiz_ids(quiz_dir)) or "none"
        raise PluginError(f"unknown quiz {quiz_id!r}: {source} does not exist (known: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PluginError(f"{source}: not valid YAML: {err}") from None
    return {"id": quiz_id, **validate_quiz(data, source)}


def quiz_ids(quiz_dir: Path = QUIZ_DIR) -> list[str]:
    """Ids of the quizzes in ``quiz_dir``, sorted."""
    return sorted(p.stem for p in Path(quiz_dir).glob("*.yml"))


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _teaches_html(teaches: dict | None) -> str:
    """``Taught in: <a>page › section</a>``, once the link is resolved; nothing before."""
    if not teaches or not teaches.get("url"):
        return ""
    label = teaches.get("title") or f"{teaches['page']}#{teaches['anchor']}"
    return (f'<p class="quiz-teaches">Taught in: <a href="{_esc(teaches["url"])}">{_esc(label)}</a></p>')


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
        parts.append(f'<p class="quiz-rules">{total} questions. The pass mark is {quiz["pass_mark"]} of '
                     f'{total} ({quiz["pass_fraction"]:.0%}). Each answer names the section that teaches it.</p>')
    parts.append('<ol class="quiz-fallback">')
    for q in quiz["questions"]:
        parts.append(f'<li class="quiz-fallback-question"><p>{_esc(q["prompt"])}</p>')
        if q["type"] == "choice":
            parts.append('<ol type="A">')
            parts.extend(f"<li>{_esc(c['text'])}</li>" for c in q["choices"])
            parts.append("</ol>")
            right = q["answer"]
            parts.append('<details class="quiz-answer" data-search-exclude><summary>Answer</summary>')
            parts.append(f"<p><strong>{chr(65 + right)}</strong>: {_esc(q['choices'][right]['text'])}</p><ul>")
            for i, c in enumerate(q["choices"]):
                verdict = "right" if i == right else "wrong"
                parts.append(f"<li><strong>{chr(65 + i)} ({verdict}).</strong> {_esc(c['explanation'])}</li>")
            parts.append("</ul>")
        else:
            parts.append(f'<p class="quiz-fallback-unit">Answer in {_esc(q["unit"])}.</p>')
            parts.append('<details class="quiz-answer" data-search-exclude><summary>Answer</summary>')
            parts.append(f"<p><strong>{_esc(q['answer_text'])}</strong> "
                         f"(answers within {q['tolerance']:.0%} count)</p>")
            parts.append(f"<p>{_esc(q['explanation'])}</p>")
        parts.append(_teaches_html(q.get("teaches")))
        parts.append("</details></li>")
    parts.append("</ol>")
    if test:
        parts.append('<noscript data-search-exclude><p class="quiz-noscript">With JavaScript on, you answer every '
                     "question, submit the test and get your score, with every answer reviewed and your "
                     "progress kept.</p></noscript>")
    else:
        parts.append('<noscript data-search-exclude><p class="quiz-noscript">With JavaScript on, this quiz checks '
                     "your answers and keeps your score.</p></noscript>")
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
            raise PluginError(f"quizzes/{quiz['id']}.yml, question {n}: teaches {t['page']}#{t['anchor']}: "
                              f"there is no page {t['page']!r} in docs/")
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
            raise PluginError(f"{where}: {t['page']} has no heading with id {t['anchor']!r} "
                              f"(its heading ids: {known})")
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
        extra = (f' data-quiz-version="{quiz["version"]}" data-quiz-total="{len(quiz["questions"])}"'
                 f' data-quiz-mode="{quiz.get("mode", "practice")}"')
        if quiz.get("mode") == "test":
            extra += f' data-quiz-pass-mark="{quiz["pass_mark"]}"'
        return m.group(0) + extra

    return _PROGRESS.sub(replace, content)


# ---- markers in pages ---------------------------------------------------------------------------

def replace_markers(markdown: str, where: str, quiz_dir: Path = QUIZ_DIR, resolve=None,
                    rendered: list | None = None) -> str:
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
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not line.strip()[len(m.group(1)):]:
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


# ---- MkDocs events --------------------------------------------------------------------------------

# Quizzes placed on pages during this build: src_uri -> [(quiz, html)], completed in on_env.
_PLACED: dict[str, list[tuple[dict, str]]] = {}


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
    return replace_markers(markdown, f"page {page.file.src_uri}", resolve=resolve, rendered=rendered)


def on_page_content(html_text: str, page, config, files) -> str:
    if "data-progress-quiz" not in html_text:
        return html_text
    return add_progress_attributes(html_text, f"page {page.file.src_uri}")


def on_env(env, config, files):
    """Every page is rendered now: check each quiz's ``teaches`` and give its links their text."""
    pages = {}
    for f in files.documentation_pages():
        page = f.page
        if page is None or page.toc is None:
            continue
        pages[f.src_uri] = (_heading_text(page.title or ""), toc_anchors(page.toc))
    for qid in quiz_ids():
        check_teaches(load_quiz(qid), pages)
    for f in files.documentation_pages():
        for quiz, block in _PLACED.get(f.src_uri, []):
            if not any(q.get("teaches") for q in quiz["questions"]):
                continue
            final = render_quiz(with_titles(quiz, check_teaches(quiz, pages)))
            if f.page.content is None or block not in f.page.content:
                raise PluginError(f"page {f.src_uri}: quiz {quiz['id']!r} was changed after it was placed "
                                  "(another extension rewrote its HTML), so its links cannot be completed")
            f.page.content = f.page.content.replace(block, final)
    return env
