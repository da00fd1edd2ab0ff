"""Progress on the home page's course map, and the provenance line of every page.

* The course map shows each lesson quiz's status (not started, n of 3 answered, score) and the
  module test's result (not taken, in progress, passed or not with the score), read from the
  keys the quizzes write, updated on Material's instant navigation back to the home page, and
  nothing at all when storage cannot be read.
* Every page ends with the torch, triton and longctx versions and the commit it was built from;
  the versions must equal what Python reports (importlib.metadata, longctx.__version__).

Expected values come from the quiz files and from ``longctx``, never from the page.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import math
import re
import shutil
import subprocess
from fractions import Fraction
from urllib.parse import urlsplit

import pytest
import yaml
from helpers import COLOURS_JS, ROOT, SITE, at, contrast, rgb
from playwright.sync_api import Page, expect

import longctx

pytestmark = pytest.mark.browser

LESSON_QUIZZES = sorted(p.stem for p in (ROOT / "quizzes").glob("lesson-*.yml"))
# every quiz the course map shows progress for: the lessons', the topics' and the module test
ALL_QUIZZES = sorted(p.stem for p in (ROOT / "quizzes").glob("*.yml"))
LESSON_URL = {"lesson-01": "lessons/01-quadratic-wall/"}
TEST_RAW = yaml.safe_load((ROOT / "quizzes" / "module-test.yml").read_text(encoding="utf-8"))
TEST_TOTAL = len(TEST_RAW["questions"])
PASS_MARK = math.ceil(Fraction(str(TEST_RAW["pass_fraction"])) * TEST_TOTAL)
L1 = yaml.safe_load((ROOT / "quizzes" / "lesson-01.yml").read_text(encoding="utf-8"))["questions"]


def _value(spec: dict) -> float:
    module, _, name = spec["call"].rpartition(".")
    func = getattr(importlib.import_module(f"longctx.{module}"), name)
    return func(*spec.get("args", []), **spec.get("kwargs", {})) * spec.get("scale", 1)


def badge(page: Page, quiz_id: str):
    return page.locator(f".lc-progress[data-progress-quiz='{quiz_id}']")


def go_home(page: Page, base_url: str) -> None:
    """Back to the home page through the navigation sidebar: an instant navigation."""
    page.locator(".md-sidebar--primary a.md-nav__link", has_text="Home").first.click()
    page.wait_for_url(at(base_url))
    assert page.evaluate("window.__noReload") is True, "navigation reloaded the page: not instant"


# ---- lesson quizzes ------------------------------------------------------------------------------


def test_fresh_browser_shows_nothing_started(page: Page, base_url, net):
    page.goto(base_url)
    for qid in LESSON_QUIZZES:
        expect(badge(page, qid)).to_have_text("Quiz: not started")
        expect(badge(page, qid)).to_have_attribute("data-state", "not-started")
        expect(badge(page, qid)).to_be_visible()
    expect(badge(page, "module-test")).to_have_text("Not taken yet")
    # each badge sits in its lesson's card
    card = page.locator(".grid.cards li", has=page.locator("a[href$='lessons/01-quadratic-wall/']"))
    expect(card.locator(".lc-progress")).to_have_attribute("data-progress-quiz", "lesson-01")


def test_lesson_quiz_status_follows_instant_navigation(page: Page, base_url, net):
    page.goto(base_url)
    page.evaluate("window.__noReload = true")
    page.locator(".md-sidebar--primary a.md-nav__link", has_text="The quadratic wall").first.click()
    page.wait_for_url(at(base_url + LESSON_URL["lesson-01"]))
    expect(page.locator("#quiz-lesson-01 .quiz-live")).to_have_count(1)

    choice = next(i for i, q in enumerate(L1) if q["type"] == "choice")
    numeric = [i for i, q in enumerate(L1) if q["type"] == "numeric"]
    view = page.locator(f"#quiz-lesson-01 .quiz-question[data-index='{choice}']")
    view.locator(".quiz-choice label").nth(L1[choice]["answer"]).click()
    view.locator(".quiz-check").click()
    expect(view).to_have_attribute("data-result", "correct")

    go_home(page, base_url)
    expect(badge(page, "lesson-01")).to_have_text(f"Quiz: 1 of {len(L1)} answered")
    expect(badge(page, "lesson-01")).to_have_attribute("data-state", "in-progress")
    expect(badge(page, "lesson-02")).to_have_text("Quiz: not started")

    page.locator(".md-sidebar--primary a.md-nav__link", has_text="The quadratic wall").first.click()
    page.wait_for_url(at(base_url + LESSON_URL["lesson-01"]))
    right = 1
    for k, i in enumerate(numeric):  # the first numeric one right, the others wrong
        value = _value(L1[i]["answer"])
        text = f"{value:.6g}" if k == 0 else f"{value * 3:.6g}"
        right += k == 0
        q = page.locator(f"#quiz-lesson-01 .quiz-question[data-index='{i}']")
        q.locator(".quiz-input").fill(text)
        q.locator(".quiz-check").click()
        expect(q).to_have_attribute("data-result", "correct" if k == 0 else "wrong")
    go_home(page, base_url)
    expect(badge(page, "lesson-01")).to_have_text(f"Quiz: {right} of {len(L1)} right")
    expect(badge(page, "lesson-01")).to_have_attribute("data-state", "complete")
    expect(badge(page, "lesson-01")).to_have_attribute("data-right", str(right))


def test_saved_answers_of_an_older_quiz_count_as_not_started(page: Page, base_url, net):
    page.add_init_script(
        "localStorage.setItem('longctx-quiz:lesson-02', JSON.stringify("
        "{version: 'old', answers: {'0': {choice: 1}}, right: 1, answered: 1, total: 3}))"
    )
    page.goto(base_url)
    expect(badge(page, "lesson-02")).to_have_text("Quiz: not started")


# ---- the module test -----------------------------------------------------------------------------


def _take_module_test(page: Page, right_count: int) -> None:
    for i, q in enumerate(TEST_RAW["questions"]):
        view = page.locator(f"#quiz-module-test-q{i + 1}")
        right = i < right_count
        if q["type"] == "choice":
            j = q["answer"] if right else (q["answer"] + 1) % len(q["choices"])
            view.locator(".quiz-choice label").nth(j).click()
        else:
            value = _value(q["answer"])
            view.locator(".quiz-input").fill(f"{value if right else value * 2:.6g}")
    page.locator(".quiz-submit").click()
    expect(page.locator(".quiz-result")).to_have_attribute("data-right", str(right_count))


def _to_module_test(page: Page, base_url: str) -> None:
    page.locator(".md-sidebar--primary a.md-nav__link", has_text="Module test").first.click()
    page.wait_for_url(at(base_url + "course/module-test/"))
    expect(page.locator(".quiz--test .quiz-live")).to_have_count(1)


def test_module_test_result_on_the_course_map(page: Page, base_url, net):
    page.goto(base_url)
    page.evaluate("window.__noReload = true")
    _to_module_test(page, base_url)
    page.locator("#quiz-module-test-q1 .quiz-input, #quiz-module-test-q1 input[type=radio]").first.click()
    page.locator("#quiz-module-test-q2 .quiz-choice label").first.click()
    page.locator("#quiz-module-test-q3 .quiz-choice label").first.click()
    go_home(page, base_url)
    expect(badge(page, "module-test")).to_have_text(f"In progress: 2 of {TEST_TOTAL} answered")

    _to_module_test(page, base_url)
    page.locator(".quiz-reset").click()
    _take_module_test(page, PASS_MARK)
    go_home(page, base_url)
    expect(badge(page, "module-test")).to_have_text(f"Passed: {PASS_MARK} of {TEST_TOTAL} right")
    expect(badge(page, "module-test")).to_have_attribute("data-state", "passed")

    # a new attempt keeps showing the last result until it is submitted
    _to_module_test(page, base_url)
    page.locator(".quiz-retake").click()
    page.locator("#quiz-module-test-q2 .quiz-choice label").first.click()
    go_home(page, base_url)
    expect(badge(page, "module-test")).to_have_text(f"Passed: {PASS_MARK} of {TEST_TOTAL} right")

    _to_module_test(page, base_url)
    page.locator(".quiz-reset").click()
    _take_module_test(page, PASS_MARK - 1)
    go_home(page, base_url)
    expect(badge(page, "module-test")).to_have_text(f"Not passed: {PASS_MARK - 1} of {TEST_TOTAL} right")
    expect(badge(page, "module-test")).to_have_attribute("data-state", "failed")
    # the lesson quizzes were never touched
    expect(badge(page, "lesson-01")).to_have_text("Quiz: not started")


def test_storage_unavailable_shows_no_progress(browser, base_url):
    """``window.localStorage`` itself throws (site data blocked). Material's own inline palette
    script fails then (it reads storage unguarded); progress.js must add no error, and show nothing."""
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(f"{err.message}\n{err.stack or ''}"))
    page.add_init_script(
        "Object.defineProperty(window, 'localStorage', "
        "{get() { throw new DOMException('denied', 'SecurityError'); }})"
    )
    try:
        page.goto(base_url)
        page.wait_for_load_state("load")
        expect(page.locator(".lc-progress")).to_have_count(len(ALL_QUIZZES))
        for node in page.locator(".lc-progress").all():
            expect(node).to_be_hidden()
            expect(node).to_have_text("")
        assert not [e for e in errors if "progress.js" in e or "quiz.js" in e], errors
    finally:
        context.close()


def test_without_javascript_the_map_shows_no_badges(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(base_url)
        expect(page.locator(".lc-progress")).to_have_count(len(ALL_QUIZZES))
        for node in page.locator(".lc-progress").all():
            expect(node).to_be_hidden()
    finally:
        context.close()


# ---- provenance ------------------------------------------------------------------------------------


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def _in_git() -> bool:
    return bool(shutil.which("git")) and _git("rev-parse", "--short", "HEAD").returncode == 0


EXPECTED = {
    "torch": importlib.metadata.version("torch"),
    "triton": importlib.metadata.version("triton"),
    "longctx": longctx.__version__,
}


@pytest.mark.parametrize(
    "path",
    [
        "",
        "lessons/01-quadratic-wall/",
        "course/module-test/",
        "examples/01_quadratic_wall/",
        "reference/api/",
    ],
    ids=["home", "lesson", "module test", "notebook", "api"],
)
def test_every_kind_of_page_shows_its_versions(page: Page, base_url, net, path):
    page.goto(base_url + path)
    line = page.locator("article .lc-provenance")
    expect(line).to_have_count(1)
    expect(line).to_be_visible()
    for name, version in EXPECTED.items():
        assert line.get_attribute(f"data-{name}") == version, (name, line.get_attribute(f"data-{name}"))
        expect(line).to_contain_text(f"{name} {version}")
    commit = line.get_attribute("data-commit")
    if _in_git():
        # a commit of this repository's history: HEAD when the site was built, so HEAD or an
        # ancestor of it by the time the tests run (CI builds and tests at one commit)
        assert re.fullmatch(r"[0-9a-f]{7,40}", commit), commit
        assert _git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").returncode == 0, commit
        assert _git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, commit
        expect(line).to_contain_text(f"commit {commit}")
    else:
        assert commit == "unknown"
    assert (line.get_attribute("data-dirty") == "true") == ("uncommitted changes" in line.inner_text())
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", line.get_attribute("data-built"))
    # it is the last thing of the article, after the page's own content
    assert page.evaluate(
        "() => document.querySelector('article').lastElementChild.classList.contains('lc-provenance')"
    )


def test_every_built_page_has_exactly_one_line():
    pages = [""] + [
        urlsplit(loc).path.lstrip("/")
        for loc in re.findall(
            r"<loc>\s*([^<\s]+)\s*</loc>", (SITE / "sitemap.xml").read_text(encoding="utf-8")
        )
    ]
    assert len(pages) > 10
    versions = set()
    for path in pages:
        text = (SITE / path / "index.html").read_text(encoding="utf-8")
        found = re.findall(r'<p class="lc-provenance" data-torch="([^"]*)" data-triton="([^"]*)"', text)
        assert len(found) == 1, (path, len(found))
        versions.add(found[0])
    assert versions == {(EXPECTED["torch"], EXPECTED["triton"])}
    index = json.loads((SITE / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert not any("the versions its tests run with" in d["text"] for d in index["docs"]), (
        "the provenance line is in the search index"
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_badges_readable_in_both_palettes(page: Page, base_url, net, scheme):
    """Every state of a badge, and the provenance line, keep a 4.5:1 contrast."""
    page.emulate_media(color_scheme=scheme)
    page.goto(base_url)
    versions = {
        qid: badge(page, qid).get_attribute("data-quiz-version") for qid in LESSON_QUIZZES + ["module-test"]
    }
    states = {  # one quiz in each state
        "lesson-01": {"answers": {"0": {"choice": 0}, "1": {"value": 1}, "2": {"value": 2}}, "right": 1},
        "lesson-02": {"answers": {"0": {"choice": 0}}, "right": 0},
        "module-test": {"answers": {}, "result": {"right": PASS_MARK - 1}},
    }
    for qid, state in states.items():
        page.evaluate(
            "([k, v]) => localStorage.setItem(k, JSON.stringify(v))",
            [f"longctx-quiz:{qid}", {"version": versions[qid], **state}],
        )
    page.reload()
    expect(badge(page, "lesson-01")).to_have_attribute("data-state", "complete")
    expect(badge(page, "lesson-02")).to_have_attribute("data-state", "in-progress")
    expect(badge(page, "lesson-03")).to_have_attribute("data-state", "not-started")
    expect(badge(page, "module-test")).to_have_attribute("data-state", "failed")
    page.evaluate(
        "([k, v]) => localStorage.setItem(k, JSON.stringify(v))",
        [
            "longctx-quiz:module-test",
            {"version": versions["module-test"], "answers": {}, "result": {"right": PASS_MARK}},
        ],
    )
    nodes = [badge(page, q) for q in ("lesson-01", "lesson-02", "lesson-03")] + [
        page.locator(".lc-provenance")
    ]
    page.reload()
    expect(badge(page, "module-test")).to_have_attribute("data-state", "passed")
    nodes.append(badge(page, "module-test"))
    body = rgb(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    for node in nodes:
        colour, back = node.evaluate(COLOURS_JS)
        under = rgb(back, under=body)
        ratio = contrast(rgb(colour, under=under), under)
        assert ratio >= 4.5, f"{scheme}: {node} has contrast {ratio:.2f} ({colour} on {back})"
