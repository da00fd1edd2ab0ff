"""Quiz data: read ``quizzes/<id>.yml``, check it against the schema, compute the numeric answers.

The schema is described in ``quizzes/README.md``. :func:`load_quiz` returns a quiz as the
browser gets it (every numeric answer computed by ``longctx``); any mistake raises a
``PluginError`` naming the file and the question (counted from 1). Whether each ``teaches``
names a real heading can only be known once the pages are rendered: ``render.check_teaches``.

``longctx`` is imported at each use (``longctx.units.resolve``), so that a preview computes the
answers with the code as it is after an edit.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
from numbers import Real
from pathlib import Path

import yaml
from mkdocs.exceptions import PluginError

QUIZ_DIR = Path(__file__).resolve().parent
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*\Z")

_TOP_KEYS = {"title", "questions", "mode", "pass_fraction"}
_CHOICE_KEYS = {"type", "prompt", "choices", "answer", "teaches"}
_CHOICE_ITEM_KEYS = {"text", "explanation"}
_NUMERIC_KEYS = {"type", "prompt", "answer", "unit", "tolerance", "explanation", "teaches"}
MODES = ("practice", "test")
DEFAULT_PASS_FRACTION = 0.8
# docs-relative page path (no leading slash, no "..") and a heading id, as the toc extension makes them
_TEACHES = re.compile(
    r"(?P<page>(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*\.md)#(?P<anchor>[A-Za-z0-9_][A-Za-z0-9_.:-]*)\Z"
)
_CALL_KEYS = {"call", "args", "kwargs", "scale"}


def resolve(name: str):
    """The public ``longctx`` function ``name`` (``"costs.kv_cache_bytes"``), from the package as it is now."""
    return importlib.import_module("longctx.units").resolve(name)


def _text(value: object, what: str, where: str) -> str:
    """``value`` as a stripped non-empty string, or a PluginError saying ``what`` is missing."""
    if not isinstance(value, str) or not value.strip():
        got = "nothing" if value is None else repr(value)
        raise PluginError(f"{where}: {what} must be non-empty text, got {got}")
    return value.strip()


def _no_unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed, key=str)
    if unknown:
        raise PluginError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(sorted(allowed))}"
        )


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
        raise PluginError(
            f"{where}: answer must be a mapping such as "
            f"{{call: costs.cost_multiplier, args: [16384, 65536]}}, got {spec!r}"
        )
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
        raise PluginError(
            f"{where}: {name}(*{args!r}, **{kwargs!r}) raised {type(err).__name__}: {err}"
        ) from None
    if not _real(value):
        raise PluginError(f"{where}: {name}(...) returned {value!r}, not a finite number")
    return float(value * scale)


def _teaches(q: dict, where: str, required: bool) -> dict | None:
    """``teaches: "<page>.md#<anchor>"`` as ``{"page", "anchor"}``; its existence is checked later."""
    if "teaches" not in q:
        if required:
            raise PluginError(
                f'{where}: a test question needs teaches: "lessons/<page>.md#<heading-id>", '
                "the section a reader should go back to"
            )
        return None
    value = q["teaches"]
    text = _text(value, "teaches", where)
    m = _TEACHES.match(text)
    if not m:
        raise PluginError(
            f"{where}: teaches must read '<page>.md#<heading-id>' with the page's path under "
            f"docs/ (no leading '/', no '..'), e.g. 'lessons/01-quadratic-wall.md#counting-the-work'; "
            f"got {value!r}"
        )
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
        out.append(
            {
                "text": _text(c.get("text"), "text", at),
                "explanation": _text(c.get("explanation"), "explanation", at),
            }
        )
    answer = q.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise PluginError(f"{where}: answer must be the index of the right choice (from 0), got {answer!r}")
    if not 0 <= answer < len(out):
        raise PluginError(
            f"{where}: answer index {answer} is out of range for {len(out)} choices (0 to {len(out) - 1})"
        )
    out = {
        "type": "choice",
        "prompt": _text(q.get("prompt"), "prompt", where),
        "choices": out,
        "answer": answer,
    }
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
    out = {
        "type": "numeric",
        "prompt": prompt,
        "answer": value,
        "answer_text": text,
        "unit": unit,
        "tolerance": float(tolerance),
        "explanation": explanation,
    }
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
        raise PluginError(
            f"{source}: pass_fraction must be a number in (0, 1], such as 0.8 for 80%, got {fraction!r}"
        )
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
