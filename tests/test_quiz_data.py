"""Quiz data and the build hook that renders it (quizzes/hook.py), without MkDocs.

Every shipped quiz must validate, and each numeric answer must equal the value of the longctx
function its YAML names (recomputed here from the YAML's own arguments, by an independent
formula). Every kind of bad data must fail with a PluginError that names the file and the
question, so that a broken quiz stops the build rather than shipping a wrong answer.

The module test (``mode: test``) is checked the same way, plus what only a test has: the pass
mark, and each question's ``teaches`` link, which must name a real heading of a real lesson.
"""

from __future__ import annotations

import copy
import html
import importlib.util
import json
import math
import re
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
import yaml
from mkdocs.exceptions import PluginError
from mkdocs.structure.toc import get_toc

from longctx import costs
from longctx.linear import costs as linear_costs

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
            "answer": {
                "call": "costs.score_matrix_bytes",
                "args": [1000],
                "kwargs": {"bytes_per_element": "fp32", "heads": 3},
                "scale": 1e-6,
            },
            "unit": "MB",
            "tolerance": 0.05,
            "explanation": "n squared entries, times heads, times bytes",
        },
    ],
}


def write_quiz(tmp_path: Path, data, name: str = "t-quiz") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(
        data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )
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
    "unknown function": (
        dict(q1__answer={"call": "costs.no_such_thing", "args": [1]}),
        2,
        "unknown function",
    ),
    "unknown module": (dict(q1__answer={"call": "nomodule.f"}), 2, "unknown function"),
    "private function": (
        dict(q1__answer={"call": "costs._positive_int", "args": ["n", 3]}),
        2,
        "unknown function",
    ),
    "call that raises ValueError": (
        dict(q1__answer={"call": "costs.cost_multiplier", "args": [0, 10]}),
        2,
        "raised ValueError",
    ),
    "call with a bad keyword": (
        dict(q1__answer={"call": "costs.cost_multiplier", "args": [1, 2], "kwargs": {"x": 1}}),
        2,
        "raised TypeError",
    ),
    "call that returns no number": (
        dict(q1__answer={"call": "costs.quadratic_cost_table"}),
        2,
        "not a finite number",
    ),
    "scale zero": (
        dict(q1__answer={"call": "costs.cost_multiplier", "args": [1, 2], "scale": 0}),
        2,
        "scale",
    ),
    "args not a list": (
        dict(q1__answer={"call": "costs.cost_multiplier", "args": 5}),
        2,
        "args must be a list",
    ),
    "typed number": (dict(q1__answer=20), 2, "must be a mapping"),
    "answer key misspelt": (
        dict(q1__answer={"call": "costs.cost_multiplier", "arg": [1, 2]}),
        2,
        "unknown key",
    ),
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


@pytest.mark.parametrize(
    "data,needle",
    [
        ("questions: [\n  - type: choice\n  prompt: x", "not valid YAML"),
        ("just text", "expected a mapping"),
        ({"questions": []}, "non-empty list"),
        ({"title": "no questions"}, "non-empty list"),
        ({"questions": GOOD["questions"], "extra": 1}, "unknown key"),
        ({"questions": ["a string"]}, "question 1: expected a mapping"),
    ],
    ids=[
        "yaml syntax",
        "not a mapping",
        "empty questions",
        "no questions",
        "unknown top key",
        "question not a mapping",
    ],
)
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
    page = (
        "# Page\n\n<!-- quiz: t-quiz -->\n\n"
        "```markdown\n<!-- quiz: t-quiz -->\n```\n\n"
        "~~~~\n<!-- quiz: not-even-a-quiz -->\n~~~~\n"
        "after\n"
    )
    out = hook.replace_markers(page, "page p.md", tmp_path)
    assert out.count('<div class="quiz"') == 1
    assert "```markdown\n<!-- quiz: t-quiz -->\n```" in out
    assert "<!-- quiz: not-even-a-quiz -->" in out
    assert out.startswith("# Page\n") and out.rstrip().endswith("after")


@pytest.mark.parametrize(
    "page,needle",
    [
        ("<!-- quiz: missing -->\n", "page p.md: unknown quiz 'missing'"),
        ("    <!-- quiz: t-quiz -->\n", "must start at the beginning"),
        ("<!-- quiz: t-quiz -->\n\n<!-- quiz: t-quiz -->\n", "appears twice"),
    ],
)
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
    evil = "<script>alert(\"x\")</script> & 'quotes' $a<b$"
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


@pytest.mark.parametrize(
    "value,text",
    [
        (16.0, "16"),
        (20.0, "20"),
        (1234567.0, "1,234,567"),
        (0.12345, "0.1235"),
        (18.62645149230957, "18.63"),
        (2.5, "2.5"),
        (1234.5678, "1,235"),
        (-3.25, "-3.25"),
    ],
)
def test_number_text(value, text):
    assert hook.number_text(value) == text


def test_with_unit():
    assert hook.with_unit("16", "×") == "16×"
    assert hook.with_unit("20", "GB") == "20 GB"
    assert hook.with_unit("3", "%") == "3%"


def test_answer_is_scaled_float(tmp_path):
    write_quiz(
        tmp_path,
        broken(
            q1__answer={
                "call": "costs.attention_flops",
                "args": [1024, 64],
                "kwargs": {"causal": True},
                "scale": 1e-9,
            }
        ),
    )
    q = hook.load_quiz("t-quiz", tmp_path)["questions"][1]
    assert isinstance(q["answer"], float)
    assert q["answer"] == pytest.approx(4 * (1024 * 1025 // 2) * 64 * 1e-9)
    assert math.isfinite(q["answer"])


# ---- the module test (mode: test) -------------------------------------------------------------

DOCS = ROOT / "docs"
MODULE_TEST = "module-test"
LESSONS = sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "lessons").glob("0*.md"))

TEST_GOOD = {
    "title": "A test",
    "mode": "test",
    "pass_fraction": 0.8,
    "questions": [
        {**copy.deepcopy(GOOD["questions"][0]), "teaches": "lessons/a.md#first"},
        {**copy.deepcopy(GOOD["questions"][1]), "teaches": "lessons/b.md#second-part"},
    ],
}


def _heading_ids(md_path: Path) -> dict[str, str]:
    """Heading ids of a page as the site's toc extension makes them, from its heading lines only.

    The headings are rendered with the same extensions that shape ids (toc, attr_list, arithmatex
    in generic mode); fenced code is skipped, so a ``# comment`` in a code block is no heading.
    """
    lines, fence = [], None
    for line in md_path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        if re.match(r"^#{1,6} ", line):
            lines.append(line)
    md = markdown.Markdown(
        extensions=["toc", "attr_list", "pymdownx.arithmatex"],
        extension_configs={"pymdownx.arithmatex": {"generic": True}},
    )
    md.convert("\n\n".join(lines))
    return hook.toc_anchors(get_toc(md.toc_tokens))


def test_module_test_shape():
    quiz = hook.load_quiz(MODULE_TEST)
    qs = quiz["questions"]
    assert quiz["mode"] == "test" and len(qs) == 15
    assert quiz["pass_fraction"] == 0.8
    # 80% of 15, in exact arithmetic: 12 right answers pass, 11 do not
    assert quiz["pass_mark"] == math.ceil(Fraction(4, 5) * 15) == 12
    assert sum(q["type"] == "numeric" for q in qs) >= 4
    assert all(q["teaches"]["page"] in LESSONS for q in qs)
    # every lesson is tested, none by fewer than three questions
    per_lesson = {page: sum(q["teaches"]["page"] == page for q in qs) for page in LESSONS}
    assert len(LESSONS) == 4 and min(per_lesson.values()) >= 3, per_lesson
    # the right answer is not always in the same place
    assert len({q["answer"] for q in qs if q["type"] == "choice"}) >= 3


def test_module_test_teaches_real_headings():
    """Every ``teaches`` anchor is a heading id of its lesson (what the build checks in on_env)."""
    quiz = hook.load_quiz(MODULE_TEST)
    pages = {page: (page, _heading_ids(DOCS / page)) for page in LESSONS}
    titles = hook.check_teaches(quiz, pages)
    assert len(titles) == len({(q["teaches"]["page"], q["teaches"]["anchor"]) for q in quiz["questions"]})
    # the anchors are sections, not the page title or the quiz at the end
    for q in quiz["questions"]:
        assert q["teaches"]["anchor"] not in {"check-yourself", "drills", "whats-next"}


def test_module_test_does_not_repeat_the_lesson_quizzes():
    test = yaml.safe_load((QUIZ_DIR / "module-test.yml").read_text(encoding="utf-8"))["questions"]
    lesson_prompts, lesson_calls = set(), set()
    for path in QUIZ_DIR.glob("lesson-*.yml"):
        for q in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]:
            lesson_prompts.add(" ".join(q["prompt"].split()))
            if q["type"] == "numeric":
                a = q["answer"]
                lesson_calls.add(
                    (
                        a["call"],
                        json.dumps(a.get("args", [])),
                        json.dumps(a.get("kwargs", {}), sort_keys=True),
                    )
                )
    for n, q in enumerate(test, 1):
        assert " ".join(q["prompt"].split()) not in lesson_prompts, f"question {n} repeats a lesson quiz"
        if q["type"] == "numeric":
            a = q["answer"]
            call = (a["call"], json.dumps(a.get("args", [])), json.dumps(a.get("kwargs", {}), sort_keys=True))
            assert call not in lesson_calls, f"question {n} asks a lesson quiz's number again"


def test_module_test_numbers_from_first_principles():
    """Each numeric answer, from the formula its question states (float64, no longctx)."""
    raw = yaml.safe_load((QUIZ_DIR / "module-test.yml").read_text(encoding="utf-8"))["questions"]
    quiz = hook.load_quiz(MODULE_TEST)
    expected = {
        # (100K / 9K)^2: score-matrix entries grow with the square of the length
        "costs.cost_multiplier": (100_000 / 9_000) ** 2,
        # 24 n d^2 = 4 n^2 d  =>  n = 6 d_model
        "costs.attention_crossover_len": 6 * 5120,
        # K and V, 32 layers, 8 KV heads of 128, W = 4,096 slots, 2 bytes; in GB
        "costs.rolling_buffer_kv_bytes": 2 * 32 * 8 * 128 * 4096 * 2 / 1e9,
        # 4 n^2 d / (4 n F d) with F = d: n / d
        "linear.costs.softmax_over_linear_flops": 65_536 / 64,
        # 60 layers x (512 + 64) elements x 2 bytes; in kB
        "costs.mla_cache_bytes_per_token": 60 * (512 + 64) * 2 / 1e3,
    }
    seen = set()
    for spec, q in zip(raw, quiz["questions"]):
        if q["type"] != "numeric":
            continue
        call = spec["answer"]["call"]
        assert q["answer"] == pytest.approx(expected[call], rel=1e-12), call
        seen.add(call)
    assert seen == set(expected)
    # the premises the questions state hold in the package too
    assert costs.kv_cache_bytes(layers=32, kv_heads=8, head_dim=128, tokens=8192) == pytest.approx(
        2 * costs.rolling_buffer_kv_bytes(slots=4096, layers=32, kv_heads=8, head_dim=128)
    )
    assert linear_costs.crossover_seq_len(64) <= 65_536


def test_module_test_traps_fall_outside_the_tolerance():
    """The slips an explanation warns about are marked wrong, not rounded into right."""
    quiz = hook.load_quiz(MODULE_TEST)
    by_call = {}
    raw = yaml.safe_load((QUIZ_DIR / "module-test.yml").read_text(encoding="utf-8"))["questions"]
    for spec, q in zip(raw, quiz["questions"]):
        if q["type"] == "numeric":
            by_call[spec["answer"]["call"]] = q
    claude = by_call["costs.cost_multiplier"]
    assert (
        abs(100_000 / 9_000 - claude["answer"]) > claude["tolerance"] * claude["answer"]
    )  # the length ratio
    rolling = by_call["costs.rolling_buffer_kv_bytes"]
    full = costs.kv_cache_bytes(layers=32, kv_heads=8, head_dim=128, tokens=8192) / 1e9
    assert abs(full - rolling["answer"]) > rolling["tolerance"] * rolling["answer"]  # no buffer
    mla = by_call["costs.mla_cache_bytes_per_token"]
    assert abs(60 * 576 * 2 / 1024 - mla["answer"]) > mla["tolerance"] * mla["answer"]  # KiB, not kB


# ---- the test-mode schema ----------------------------------------------------------------------


def test_good_test_loads(tmp_path):
    write_quiz(tmp_path, TEST_GOOD)
    quiz = hook.load_quiz("t-quiz", tmp_path)
    assert quiz["mode"] == "test" and quiz["pass_mark"] == 2  # ceil(0.8 * 2)
    assert quiz["questions"][0]["teaches"] == {"page": "lessons/a.md", "anchor": "first"}
    assert quiz["questions"][1]["teaches"] == {"page": "lessons/b.md", "anchor": "second-part"}


def test_default_pass_fraction(tmp_path):
    data = copy.deepcopy(TEST_GOOD)
    del data["pass_fraction"]
    write_quiz(tmp_path, data)
    assert hook.load_quiz("t-quiz", tmp_path)["pass_fraction"] == hook.DEFAULT_PASS_FRACTION


def test_practice_quizzes_keep_their_data_and_version(tmp_path):
    """The test-mode keys appear only in a test, so existing progress of a lesson quiz stays valid."""
    write_quiz(tmp_path, GOOD)
    quiz = hook.load_quiz("t-quiz", tmp_path)
    assert set(quiz) == {"id", "title", "questions", "version"}
    assert all("teaches" not in q for q in quiz["questions"])
    data = copy.deepcopy(GOOD)
    data["mode"] = "practice"
    write_quiz(tmp_path, data)
    assert hook.load_quiz("t-quiz", tmp_path)["version"] == quiz["version"]


def test_practice_question_may_name_where_it_is_taught(tmp_path):
    data = broken(q1__teaches="lessons/x.md#y")
    write_quiz(tmp_path, data)
    assert hook.load_quiz("t-quiz", tmp_path)["questions"][1]["teaches"] == {
        "page": "lessons/x.md",
        "anchor": "y",
    }


def _test_broken(**changes):
    data = copy.deepcopy(TEST_GOOD)
    for path, value in changes.items():
        node, keys = data, path.split("__")
        for key in keys[:-1]:
            node = node["questions"][int(key[1:])]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return data


TEST_CASES = {
    "test question without teaches": (dict(q1__teaches=_DELETE), "question 2", "needs teaches"),
    "teaches without anchor": (dict(q0__teaches="lessons/a.md"), "question 1", "teaches must read"),
    "teaches with empty anchor": (dict(q0__teaches="lessons/a.md#"), "question 1", "teaches must read"),
    "teaches absolute": (dict(q0__teaches="/lessons/a.md#x"), "question 1", "teaches must read"),
    "teaches climbing out": (dict(q0__teaches="../a.md#x"), "question 1", "teaches must read"),
    "teaches to a URL": (dict(q0__teaches="https://example.org/a.md#x"), "question 1", "teaches must read"),
    "teaches not markdown": (dict(q0__teaches="lessons/a.html#x"), "question 1", "teaches must read"),
    "teaches anchor with a space": (
        dict(q0__teaches="lessons/a.md#two words"),
        "question 1",
        "teaches must read",
    ),
    "teaches not text": (
        dict(q0__teaches=["lessons/a.md#x"]),
        "question 1",
        "teaches must be non-empty text",
    ),
    "teaches blank": (dict(q1__teaches=" "), "question 2", "teaches must be non-empty text"),
    "unknown mode": (dict(mode="exam"), "quizzes/t-quiz.yml", "mode must be one of"),
    "pass fraction zero": (dict(pass_fraction=0), "quizzes/t-quiz.yml", "pass_fraction must be"),
    "pass fraction as a percent": (dict(pass_fraction=80), "quizzes/t-quiz.yml", "pass_fraction must be"),
    "pass fraction as text": (dict(pass_fraction="80%"), "quizzes/t-quiz.yml", "pass_fraction must be"),
    "pass fraction a bool": (dict(pass_fraction=True), "quizzes/t-quiz.yml", "pass_fraction must be"),
    "pass fraction not finite": (
        dict(pass_fraction=float("nan")),
        "quizzes/t-quiz.yml",
        "pass_fraction must be",
    ),
}


@pytest.mark.parametrize("changes,where,needle", TEST_CASES.values(), ids=TEST_CASES.keys())
def test_bad_test_names_file_and_question(tmp_path, changes, where, needle):
    write_quiz(tmp_path, _test_broken(**changes))
    with pytest.raises(PluginError) as err:
        hook.load_quiz("t-quiz", tmp_path)
    msg = str(err.value)
    assert "quizzes/t-quiz.yml" in msg and where in msg and needle in msg, msg


def test_pass_fraction_outside_a_test_fails(tmp_path):
    write_quiz(tmp_path, {**copy.deepcopy(GOOD), "pass_fraction": 0.8})
    with pytest.raises(
        PluginError, match=r"quizzes/t-quiz.yml: pass_fraction only applies to a quiz with mode: test"
    ):
        hook.load_quiz("t-quiz", tmp_path)


@pytest.mark.parametrize(
    "fraction,total",
    [
        (0.8, 15),
        (0.8, 10),
        (0.7, 10),
        (0.6, 5),
        (1.0, 3),
        (0.5, 3),
        (0.75, 4),
        (0.9, 20),
        (0.8, 1),
        (0.01, 15),
        (2 / 3, 3),
        (0.3, 10),
    ],
)
def test_pass_mark_is_the_smallest_passing_count(fraction, total):
    """Exactly: the fewest right answers k with k / total >= the fraction written in the YAML."""
    exact = Fraction(repr(fraction)) if fraction != 2 / 3 else Fraction(2, 3)
    k = next(k for k in range(total + 1) if Fraction(k, total) >= exact)
    assert hook.pass_mark(fraction, total) == max(1, k)


# ---- where each question is taught: resolution and checks -------------------------------------


def _pages_for_test():
    return {
        "lessons/a.md": ("1. Lesson A", {"first": "First part", "other": "Other"}),
        "lessons/b.md": ("2. Lesson B", {"second-part": "Where the \\(n^2\\) comes from"}),
    }


def test_check_teaches_gives_link_text(tmp_path):
    write_quiz(tmp_path, TEST_GOOD)
    quiz = hook.load_quiz("t-quiz", tmp_path)
    titles = hook.check_teaches(quiz, _pages_for_test())
    assert titles == {
        ("lessons/a.md", "first"): "1. Lesson A \u203a First part",
        ("lessons/b.md", "second-part"): "2. Lesson B \u203a Where the \\(n^2\\) comes from",
    }
    titled = hook.with_titles(quiz, titles)
    assert titled["questions"][0]["teaches"]["title"] == "1. Lesson A \u203a First part"
    assert "title" not in quiz["questions"][0]["teaches"]  # the loaded quiz is not changed


@pytest.mark.parametrize(
    "teaches,needle",
    [
        (
            "lessons/a.md#firstt",
            "lessons/a.md has no heading with id 'firstt' (its heading ids: first, other)",
        ),
        ("lessons/c.md#first", "there is no page 'lessons/c.md' in docs/"),
    ],
)
def test_check_teaches_names_file_question_and_what_is_missing(tmp_path, teaches, needle):
    write_quiz(tmp_path, _test_broken(q1__teaches=teaches))
    quiz = hook.load_quiz("t-quiz", tmp_path)
    with pytest.raises(PluginError) as err:
        hook.check_teaches(quiz, _pages_for_test())
    msg = str(err.value)
    assert f"quizzes/t-quiz.yml, question 2: teaches {teaches}" in msg and needle in msg, msg


def test_resolve_teaches_links_relative_to_the_page(tmp_path):
    write_quiz(tmp_path, TEST_GOOD)
    quiz = hook.load_quiz("t-quiz", tmp_path)
    urls = {"lessons/a.md": "lessons/a/", "lessons/b.md": "lessons/b/", "course/t.md": "course/t/"}
    out = hook.resolve_teaches(quiz, "course/t/", urls)
    assert [q["teaches"]["url"] for q in out["questions"]] == [
        "../../lessons/a/#first",
        "../../lessons/b/#second-part",
    ]
    assert hook.resolve_teaches(quiz, "", urls)["questions"][0]["teaches"]["url"] == "lessons/a/#first"
    assert "url" not in quiz["questions"][0]["teaches"]
    with pytest.raises(
        PluginError,
        match=r"quizzes/t-quiz.yml, question 2: teaches lessons/b.md#second-part: there is no page",
    ):
        hook.resolve_teaches(quiz, "course/t/", {"lessons/a.md": "lessons/a/"})


def test_toc_anchors_walks_every_level_and_strips_html():
    toc = get_toc(
        [
            {
                "level": 2,
                "id": "a",
                "name": "A &amp; B",
                "children": [
                    {
                        "level": 3,
                        "id": "b",
                        "name": 'Why <span class="arithmatex">\\(\\phi\\)</span> must',
                        "children": [],
                    }
                ],
            }
        ]
    )
    assert hook.toc_anchors(toc) == {"a": "A & B", "b": "Why \\(\\phi\\) must"}


def test_render_test_mode(tmp_path):
    data = _test_broken(q0__prompt='<b>"bold"</b>')
    write_quiz(tmp_path, data)
    quiz = hook.resolve_teaches(
        hook.load_quiz("t-quiz", tmp_path),
        "course/t/",
        {"lessons/a.md": "lessons/a/", "lessons/b.md": "lessons/b/"},
    )
    quiz = hook.with_titles(
        quiz,
        hook.check_teaches(
            quiz,
            {"lessons/a.md": ("A <&>", {"first": "First"}), "lessons/b.md": ("B", {"second-part": "Second"})},
        ),
    )
    out = hook.render_quiz(quiz)
    assert 'data-quiz-mode="test"' in out and 'class="quiz quiz--test"' in out
    assert "The pass mark is 2 of 2 (80%)" in out
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert (
        '<p class="quiz-teaches">Taught in: <a href="../../lessons/a/#first">A &lt;&amp;&gt; \u203a First</a></p>'
        in out
    )
    assert out.count('<details class="quiz-answer" data-search-exclude>') == 2 and "<details open" not in out
    assert out.count('class="quiz-teaches"') == 2
    parser = _Collect()
    parser.feed(out)
    assert json.loads(parser.attrs["data-quiz"]) == quiz
    assert "\n\n" not in out


def test_render_practice_without_links_is_unchanged():
    quiz = hook.load_quiz("lesson-01")
    out = hook.render_quiz(quiz)
    assert "data-quiz-mode" not in out and "quiz-teaches" not in out and "quiz-rules" not in out


# ---- the build events, with stand-ins for MkDocs's objects ---------------------------------------


class _FakeFile:
    def __init__(self, src_uri, url, page=None):
        self.src_uri, self.url, self.page = src_uri, url, page


class _FakePage:
    def __init__(self, title, toc_tokens, file=None):
        self.title, self.toc, self.content, self.file = title, get_toc(toc_tokens), None, file


class _FakeFiles:
    def __init__(self, files):
        self._files = files

    def documentation_pages(self):
        return self._files


def _site(tmp_path, monkeypatch, anchors_b=("second-part",)):
    """Two lessons and a course page that shows ``t-quiz``, wired as MkDocs would see them."""
    write_quiz(tmp_path, TEST_GOOD)
    monkeypatch.setattr(hook, "QUIZ_DIR", tmp_path)
    monkeypatch.setattr(hook, "quiz_ids", lambda quiz_dir=tmp_path: ["t-quiz"])
    monkeypatch.setattr(
        hook, "load_quiz", lambda qid, quiz_dir=tmp_path, _load=hook.load_quiz: _load(qid, tmp_path)
    )

    def page(src, url, title, ids):
        f = _FakeFile(src, url)
        f.page = _FakePage(
            title,
            [{"level": 2, "id": i, "name": i.replace("-", " ").title(), "children": []} for i in ids],
            f,
        )
        return f

    files = [
        page("course/t.md", "course/t/", "Test", []),
        page("lessons/a.md", "lessons/a/", "1. A", ["first"]),
        page("lessons/b.md", "lessons/b/", "2. B", list(anchors_b)),
    ]
    return files, _FakeFiles(files)


def test_build_events_complete_the_links(tmp_path, monkeypatch):
    files, fake = _site(tmp_path, monkeypatch)
    course = files[0]
    hook.on_pre_build({})
    md = hook.on_page_markdown("# Test\n\n<!-- quiz: t-quiz -->\n", course.page, {}, fake)
    assert '<a href="../../lessons/a/#first">lessons/a.md#first</a>' in md  # before every page is known
    course.page.content = markdown.Markdown(extensions=["md_in_html"]).convert(md)
    hook.on_env(None, {}, fake)
    assert '<a href="../../lessons/a/#first">1. A \u203a First</a>' in course.page.content
    assert '<a href="../../lessons/b/#second-part">2. B \u203a Second Part</a>' in course.page.content
    assert "lessons/a.md#first</a>" not in course.page.content


def test_build_fails_on_a_missing_heading_even_if_no_page_shows_the_quiz(tmp_path, monkeypatch):
    files, fake = _site(tmp_path, monkeypatch, anchors_b=("second",))
    hook.on_pre_build({})
    with pytest.raises(
        PluginError,
        match=r"quizzes/t-quiz.yml, question 2: teaches lessons/b.md#second-part: "
        r"lessons/b.md has no heading with id 'second-part'",
    ):
        hook.on_env(None, {}, fake)


def test_build_fails_on_a_missing_page(tmp_path, monkeypatch):
    files, fake = _site(tmp_path, monkeypatch)
    hook.on_pre_build({})
    with pytest.raises(
        PluginError, match=r"page course/t.md: quizzes/t-quiz.yml, question 1: .*no page 'lessons/a.md'"
    ):
        hook.on_page_markdown("<!-- quiz: t-quiz -->\n", files[0].page, {}, _FakeFiles([files[0], files[2]]))


# ---- progress markers on the home page ----------------------------------------------------------


def test_progress_attributes(tmp_path):
    write_quiz(tmp_path, GOOD, name="practice-q")
    write_quiz(tmp_path, TEST_GOOD, name="test-q")
    content = (
        '<p><span class="lc-progress" data-progress-quiz="practice-q" hidden></span> '
        '<span data-progress-quiz="test-q"></span></p><pre><code>data-progress-quiz=&quot;nope&quot;</code></pre>'
    )
    out = hook.add_progress_attributes(content, "page index.md", tmp_path)
    practice = hook.load_quiz("practice-q", tmp_path)
    test = hook.load_quiz("test-q", tmp_path)
    assert (
        f'data-progress-quiz="practice-q" data-quiz-version="{practice["version"]}" data-quiz-total="2" '
        'data-quiz-mode="practice" hidden>'
    ) in out
    assert (
        f'data-progress-quiz="test-q" data-quiz-version="{test["version"]}" data-quiz-total="2" '
        'data-quiz-mode="test" data-quiz-pass-mark="2">'
    ) in out
    assert out.endswith("<pre><code>data-progress-quiz=&quot;nope&quot;</code></pre>")  # code is left alone


def test_progress_attributes_unknown_quiz_fails_naming_the_page(tmp_path):
    with pytest.raises(PluginError, match=r"page index.md: data-progress-quiz: unknown quiz 'nope'"):
        hook.add_progress_attributes('<span data-progress-quiz="nope"></span>', "page index.md", tmp_path)


def test_home_page_shows_progress_of_every_quiz():
    """The course map carries one progress element per quiz: the lessons', the frontier page's and the module test."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    ids = re.findall(r'data-progress-quiz="([^"]+)"', index)
    assert MODULE_TEST in ids
    assert sorted(ids) == sorted(p.stem for p in QUIZ_DIR.glob("*.yml"))
