"""Quiz data and the build hook that renders it (quizzes/hook.py), without MkDocs.

Every shipped quiz must validate, and each numeric answer must equal the value of the longctx
function its YAML names (recomputed here from the YAML's own arguments, by an independent
formula). Every kind of bad data must fail with a PluginError that names the file and the
question, so that a broken quiz stops the build rather than shipping a wrong answer.
"""

from __future__ import annotations

import copy
import html
import importlib.util
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from mkdocs.exceptions import PluginError

from longctx import costs

ROOT = Path(__file__).resolve().parents[1]
QUIZ_DIR = ROOT / "quizzes"


def _load_hook():
    spec = importlib.util.spec_from_file_location("quiz_hook_under_test", QUIZ_DIR / "hook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load_hook()
SHIPPED = sorted(QUIZ_DIR.glob("*.yml"))

GOOD = {
    "title": "A test quiz",
    "questions": [
        {
            "type": "choice",
            "prompt": "Which is right?",
            "choices": [
                {"text": "this one", "explanation": "because it is"},
                {"text": "that one", "explanation": "because it is not"},
                {"text": "neither", "explanation": "one of them is"},
            ],
            "answer": 0,
        },
        {
            "type": "numeric",
            "prompt": "How much?",
            "answer": {"call": "costs.score_matrix_bytes", "args": [1000],
                       "kwargs": {"bytes_per_element": "fp32", "heads": 3}, "scale": 1e-6},
            "unit": "MB",
            "tolerance": 0.05,
            "explanation": "n squared entries, times heads, times bytes",
        },
    ],
}


def write_quiz(tmp_path: Path, data, name: str = "t-quiz") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def broken(**changes):
    """A copy of GOOD with changes applied: ``q<N>__key`` (question N from 0), ``q0__c<M>__key``."""
    data = copy.deepcopy(GOOD)
    for path, value in changes.items():
        node = data
        keys = path.split("__")
        for key in keys[:-1]:
            node = node["questions"][int(key[1:])] if key.startswith("q") else node["choices"][int(key[1:])]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return data


_DELETE = object()


# ---- the shipped quizzes -------------------------------------------------------------------

def test_quizzes_are_shipped():
    assert [p.stem for p in SHIPPED] == hook.quiz_ids()
    assert "lesson-01" in hook.quiz_ids()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_quiz_validates_and_every_choice_is_explained(path):
    quiz = hook.load_quiz(path.stem)
    assert quiz["id"] == path.stem and quiz["questions"]
    for q in quiz["questions"]:
        if q["type"] == "choice":
            assert all(c["explanation"] for c in q["choices"])
            assert 0 <= q["answer"] < len(q["choices"])
        else:
            assert q["unit"] and 0 < q["tolerance"] < 1 and q["explanation"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_numeric_answers_equal_the_longctx_function(path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    quiz = hook.load_quiz(path.stem)
    for spec, q in zip(raw, quiz["questions"]):
        if q["type"] != "numeric":
            continue
        module, _, name = spec["answer"]["call"].rpartition(".")
        func = getattr(__import__(f"longctx.{module}", fromlist=[name]), name)
        expected = func(*spec["answer"].get("args", []), **spec["answer"].get("kwargs", {}))
        expected *= spec["answer"].get("scale", 1)
        assert q["answer"] == pytest.approx(expected, rel=1e-15)


def test_lesson_01_answers_from_first_principles():
    """The lesson's numbers, from the formulas the lesson teaches (float64, no longctx)."""
    raw = yaml.safe_load((QUIZ_DIR / "lesson-01.yml").read_text(encoding="utf-8"))["questions"]
    quiz = hook.load_quiz("lesson-01")
    assert len(quiz["questions"]) == 3
    kinds = [q["type"] for q in quiz["questions"]]
    assert "numeric" in kinds and "choice" in kinds
    checked = 0
    for spec, q in zip(raw, quiz["questions"]):
        if q["type"] != "numeric":
            continue
        call, args = spec["answer"]["call"], spec["answer"].get("args", [])
        if call == "costs.cost_multiplier":
            n1, n2 = args
            assert q["answer"] == pytest.approx((n2 / n1) ** 2)
            assert q["unit"] == "×"
        elif call == "costs.score_matrix_bytes":
            (n,) = args
            per = {"fp16": 2, "fp32": 4}[spec["answer"]["kwargs"]["bytes_per_element"]]
            assert q["answer"] == pytest.approx(n * n * per / 1e9)  # decimal GB
            assert q["unit"] == "GB"
            # the figure the lesson's premise rests on: one head's matrix fits in an 80 GB A100
            assert q["answer"] * 1e9 < costs.GPU_MEMORY_BYTES["A100 80GB"][0]
            # and a GiB slip (the same bytes over 2**30) falls outside the tolerance
            gib = n * n * per / 2**30
            assert abs(gib - q["answer"]) > q["tolerance"] * q["answer"]
        checked += 1
    assert checked == kinds.count("numeric")


def test_lesson_01_whole_layer_grows_less_than_the_square():
    """The choice question's right answer is true of longctx's layer model at real widths."""
    quiz = hook.load_quiz("lesson-01")
    q = next(q for q in quiz["questions"] if q["type"] == "choice")
    assert "more than the length ratio but less than its square" in q["choices"][q["answer"]]["text"]
    for d_model in (768, 4096):
        growth = costs.model_cost_multiplier(16384, 65536, d_model=d_model)
        assert 4 < growth < 16


# ---- a good quiz from a temporary directory ---------------------------------------------------

def test_good_quiz_loads_and_computes(tmp_path):
    write_quiz(tmp_path, GOOD)
    quiz = hook.load_quiz("t-quiz", tmp_path)
    num = quiz["questions"][1]
    assert num["answer"] == pytest.approx(3 * 1000 * 1000 * 4 * 1e-6)
    assert num["answer_text"] == "12 MB"
    assert quiz["questions"][0]["answer"] == 0
    assert quiz["title"] == "A test quiz"


def test_version_follows_the_content(tmp_path):
    write_quiz(tmp_path, GOOD)
    v1 = hook.load_quiz("t-quiz", tmp_path)["version"]
    assert v1 == hook.load_quiz("t-quiz", tmp_path)["version"]
    write_quiz(tmp_path, broken(q0__answer=1))
    assert hook.load_quiz("t-quiz", tmp_path)["version"] != v1


# ---- every error, named by file and question ------------------------------------------------------

CASES = {
    "answer index too large": (dict(q0__answer=3), 1, "out of range"),
    "answer index negative": (dict(q0__answer=-1), 1, "out of range"),
    "answer not an index": (dict(q0__answer="0"), 1, "index of the right choice"),
    "answer a bool": (dict(q0__answer=True), 1, "index of the right choice"),
    "missing choice explanation": (dict(q0__c1__explanation=_DELETE), 1, "choice 2: explanation"),
    "blank choice explanation": (dict(q0__c2__explanation="   "), 1, "choice 3: explanation"),
    "missing choice text": (dict(q0__c0__text=_DELETE), 1, "choice 1: text"),
    "one choice only": (dict(q0__choices=[{"text": "a", "explanation": "b"}]), 1, "at least two"),
    "missing prompt": (dict(q0__prompt=_DELETE), 1, "prompt"),
    "unknown question type": (dict(q0__type="multiple"), 1, "type must be"),
    "misspelt key": (dict(q0__explenation="x"), 1, "unknown key"),
    "unknown function": (dict(q1__answer={"call": "costs.no_such_thing", "args": [1]}), 2, "unknown function"),
    "unknown module": (dict(q1__answer={"call": "nomodule.f"}), 2, "unknown function"),
    "private function": (dict(q1__answer={"call": "costs._positive_int", "args": ["n", 3]}), 2, "unknown function"),
    "call that raises ValueError": (dict(q1__answer={"call": "costs.cost_multiplier", "args": [0, 10]}), 2, "raised ValueError"),
    "call with a bad keyword": (dict(q1__answer={"call": "costs.cost_multiplier", "args": [1, 2], "kwargs": {"x": 1}}), 2, "raised TypeError"),
    "call that returns no number": (dict(q1__answer={"call": "costs.quadratic_cost_table"}), 2, "not a finite number"),
    "scale zero": (dict(q1__answer={"call": "costs.cost_multiplier", "args": [1, 2], "scale": 0}), 2, "scale"),
    "args not a list": (dict(q1__answer={"call": "costs.cost_multiplier", "args": 5}), 2, "args must be a list"),
    "typed number": (dict(q1__answer=20), 2, "must be a mapping"),
    "answer key misspelt": (dict(q1__answer={"call": "costs.cost_multiplier", "arg": [1, 2]}), 2, "unknown key"),
    "missing unit": (dict(q1__unit=_DELETE), 2, "unit"),
    "blank unit": (dict(q1__unit=""), 2, "unit"),
    "missing tolerance": (dict(q1__tolerance=_DELETE), 2, "tolerance"),
    "zero tolerance": (dict(q1__tolerance=0), 2, "tolerance"),
    "tolerance as a percent": (dict(q1__tolerance=5), 2, "tolerance"),
    "tolerance as text": (dict(q1__tolerance="1%"), 2, "tolerance"),
    "missing numeric explanation": (dict(q1__explanation=_DELETE), 2, "explanation"),
    "missing numeric answer": (dict(q1__answer=_DELETE), 2, "needs answer"),
}


@pytest.mark.parametrize("changes,question,needle", CASES.values(), ids=CASES.keys())
def test_bad_quiz_names_file_and_question(tmp_path, changes, question, needle):
    write_quiz(tmp_path, broken(**changes))
    with pytest.raises(PluginError) as err:
        hook.load_quiz("t-quiz", tmp_path)
    msg = str(err.value)
    assert "quizzes/t-quiz.yml" in msg and f"question {question}" in msg and needle in msg, msg


@pytest.mark.parametrize("data,needle", [
    ("questions: [\n  - type: choice\n  prompt: x", "not valid YAML"),
    ("just text", "expected a mapping"),
    ({"questions": []}, "non-empty list"),
    ({"title": "no questions"}, "non-empty list"),
    ({"questions": GOOD["questions"], "extra": 1}, "unknown key"),
    ({"questions": ["a string"]}, "question 1: expected a mapping"),
], ids=["yaml syntax", "not a mapping", "empty questions", "no questions", "unknown top key", "question not a mapping"])
def test_bad_quiz_file(tmp_path, data, needle):
    write_quiz(tmp_path, data)
    with pytest.raises(PluginError, match="quizzes/t-quiz.yml") as err:
        hook.load_quiz("t-quiz", tmp_path)
    assert needle in str(err.value)


def test_unknown_and_invalid_quiz_ids(tmp_path):
    write_quiz(tmp_path, GOOD)
    with pytest.raises(PluginError, match=r"unknown quiz 'nope'.*known: t-quiz"):
        hook.load_quiz("nope", tmp_path)
    for bad in ["", "../t-quiz", "T-Quiz", "a b"]:
        with pytest.raises(PluginError, match="not valid"):
            hook.load_quiz(bad, tmp_path)


# ---- markers in pages ----------------------------------------------------------------------

def test_marker_is_replaced_outside_code_only(tmp_path):
    write_quiz(tmp_path, GOOD)
    page = ("# Page\n\n<!-- quiz: t-quiz -->\n\n"
            "```markdown\n<!-- quiz: t-quiz -->\n```\n\n"
            "~~~~\n<!-- quiz: not-even-a-quiz -->\n~~~~\n"
            "after\n")
    out = hook.replace_markers(page, "page p.md", tmp_path)
    assert out.count('<div class="quiz"') == 1
    assert "```markdown\n<!-- quiz: t-quiz -->\n```" in out
    assert "<!-- quiz: not-even-a-quiz -->" in out
    assert out.startswith("# Page\n") and out.rstrip().endswith("after")


@pytest.mark.parametrize("page,needle", [
    ("<!-- quiz: missing -->\n", "page p.md: unknown quiz 'missing'"),
    ("    <!-- quiz: t-quiz -->\n", "must start at the beginning"),
    ("<!-- quiz: t-quiz -->\n\n<!-- quiz: t-quiz -->\n", "appears twice"),
])
def test_bad_markers_fail_naming_the_page(tmp_path, page, needle):
    write_quiz(tmp_path, GOOD)
    with pytest.raises(PluginError) as err:
        hook.replace_markers(page, "page p.md", tmp_path)
    assert needle in str(err.value)


def test_broken_quiz_behind_a_marker_names_page_file_and_question(tmp_path):
    write_quiz(tmp_path, broken(q0__answer=7))
    with pytest.raises(PluginError) as err:
        hook.replace_markers("<!-- quiz: t-quiz -->\n", "page lessons/x.md", tmp_path)
    msg = str(err.value)
    assert "page lessons/x.md" in msg and "quizzes/t-quiz.yml, question 1" in msg


def test_on_page_markdown_and_pre_build_use_the_shipped_quizzes():
    class File:
        src_uri = "lessons/x.md"

    class Page:
        file = File()

    out = hook.on_page_markdown("<!-- quiz: lesson-01 -->\n", Page(), {}, None)
    assert 'id="quiz-lesson-01"' in out
    hook.on_pre_build({})  # every shipped quiz checks out


# ---- the HTML --------------------------------------------------------------------------------

class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], {}, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "div" and "data-quiz" in dict(attrs):
            self.attrs = dict(attrs)
        if tag == "details":
            self.details = dict(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_render_escapes_everything_and_carries_the_data(tmp_path):
    evil = '<script>alert("x")</script> & \'quotes\' $a<b$'
    data = broken(q0__prompt=evil, q0__c1__explanation=evil, title=evil)
    write_quiz(tmp_path, data)
    quiz = hook.load_quiz("t-quiz", tmp_path)
    out = hook.render_quiz(quiz)
    assert "<script>" not in out and "</script>" not in out
    parser = _Collect()
    parser.feed(out)
    assert "script" not in parser.tags
    assert json.loads(parser.attrs["data-quiz"]) == quiz  # html.parser unescapes the attribute
    assert parser.attrs["data-quiz-id"] == "t-quiz"
    assert evil in "".join(parser.text)  # shown as text, literally
    assert html.escape(evil) in out


def test_render_folds_answers_away_from_search(tmp_path):
    write_quiz(tmp_path, GOOD)
    quiz = hook.load_quiz("t-quiz", tmp_path)
    out = hook.render_quiz(quiz)
    assert out.count('<details class="quiz-answer" data-search-exclude>') == len(quiz["questions"])
    assert "<details open" not in out
    parser = _Collect()
    parser.feed(out)
    text = "".join(parser.text)
    for c in GOOD["questions"][0]["choices"]:
        assert c["text"] in text and c["explanation"] in text
    assert "12 MB" in text and "5%" in text
    assert "\n\n" not in out  # one raw HTML block for Markdown: no blank line inside


@pytest.mark.parametrize("value,text", [
    (16.0, "16"), (20.0, "20"), (1234567.0, "1,234,567"), (0.12345, "0.1235"),
    (18.62645149230957, "18.63"), (2.5, "2.5"), (1234.5678, "1,235"), (-3.25, "-3.25"),
])
def test_number_text(value, text):
    assert hook.number_text(value) == text


def test_with_unit():
    assert hook.with_unit("16", "×") == "16×"
    assert hook.with_unit("20", "GB") == "20 GB"
    assert hook.with_unit("3", "%") == "3%"


def test_answer_is_scaled_float(tmp_path):
    write_quiz(tmp_path, broken(q1__answer={"call": "costs.attention_flops", "args": [1024, 64],
                                            "kwargs": {"causal": True}, "scale": 1e-9}))
    q = hook.load_quiz("t-quiz", tmp_path)["questions"][1]
    assert isinstance(q["answer"], float)
    assert q["answer"] == pytest.approx(4 * (1024 * 1025 // 2) * 64 * 1e-9)
    assert math.isfinite(q["answer"])
