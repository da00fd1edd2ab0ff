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

Any mistake fails the build with a ``PluginError`` naming the file and the question
(counted from 1): an unknown quiz id, an unknown key, a missing prompt or explanation, an
answer index out of range, an unknown function, a call that raises or returns no finite
number, a missing unit or tolerance. Every ``quizzes/*.yml`` is checked at the start of the
build, used by a page or not.

The loading and checking are plain functions (:func:`load_quiz`, :func:`validate_quiz`,
:func:`render_quiz`, :func:`replace_markers`) so that ``tests/test_quiz_data.py`` can call
them without MkDocs.
"""

from __future__ import annotations

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

_TOP_KEYS = {"title", "questions"}
_CHOICE_KEYS = {"type", "prompt", "choices", "answer"}
_CHOICE_ITEM_KEYS = {"text", "explanation"}
_NUMERIC_KEYS = {"type", "prompt", "answer", "unit", "tolerance", "explanation"}
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


def _choice(q: dict, where: str) -> dict:
    _no_unknown_keys(q, _CHOICE_KEYS, where)
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
    return {"type": "choice", "prompt": _text(q.get("prompt"), "prompt", where), "choices": out,
            "answer": answer}


def _numeric(q: dict, where: str) -> dict:
    _no_unknown_keys(q, _NUMERIC_KEYS, where)
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
    return {"type": "numeric", "prompt": prompt, "answer": value, "answer_text": text, "unit": unit,
            "tolerance": float(tolerance), "explanation": explanation}


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
            out.append(_choice(q, where))
        elif kind == "numeric":
            out.append(_numeric(q, where))
        else:
            raise PluginError(f"{where}: type must be 'choice' or 'numeric', got {kind!r}")
    quiz = {"title": title, "questions": out}
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


def render_quiz(quiz: dict) -> str:
    """The quiz as HTML: a readable no-JavaScript version, with the data for quiz.js attached.

    Nothing from the quiz reaches the page unescaped. The answers sit in a ``<details>`` that
    is folded, and ``data-search-exclude`` keeps them out of the search index.
    """
    qid = quiz["id"]
    data = json.dumps(quiz, ensure_ascii=False, separators=(",", ":"))
    parts = [f'<div class="quiz" id="quiz-{qid}" data-quiz-id="{qid}" data-quiz="{_esc(data)}">']
    if quiz["title"]:
        parts.append(f'<p class="quiz-title">{_esc(quiz["title"])}</p>')
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
            parts.append("</ul></details>")
        else:
            parts.append(f'<p class="quiz-fallback-unit">Answer in {_esc(q["unit"])}.</p>')
            parts.append('<details class="quiz-answer" data-search-exclude><summary>Answer</summary>')
            parts.append(f"<p><strong>{_esc(q['answer_text'])}</strong> "
                         f"(answers within {q['tolerance']:.0%} count)</p>")
            parts.append(f"<p>{_esc(q['explanation'])}</p></details>")
        parts.append("</li>")
    parts.append("</ol>")
    parts.append('<noscript data-search-exclude><p class="quiz-noscript">With JavaScript on, this quiz checks your answers '
                 "and keeps your score.</p></noscript>")
    parts.append("</div>")
    return "".join(parts)


def replace_markers(markdown: str, where: str, quiz_dir: Path = QUIZ_DIR) -> str:
    """Replace every ``<!-- quiz: <id> -->`` line outside fenced code with the rendered quiz.

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
        except PluginError as err:
            raise PluginError(f"{where}: {err}") from None
        out.append(f"\n{render_quiz(quiz)}\n\n")
    return "".join(out)


def on_pre_build(config) -> None:
    # Check every quiz up front, so that one no page uses yet cannot rot unnoticed.
    for qid in quiz_ids():
        load_quiz(qid)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri.endswith(".py"):  # notebooks are rendered by mkdocs-jupyter
        return markdown
    return replace_markers(markdown, f"page {page.file.src_uri}")
