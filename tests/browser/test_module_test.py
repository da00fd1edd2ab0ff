"""The module test in headless Chromium, on its page of the built site.

What a reader does: answer by mouse and by keyboard, submit, get a score and a pass or a fail at
the 80% boundary, read every answer reviewed, follow each review link to the section that
teaches it, keep progress across a reload and Material's instant navigation, retake, reset, type
a bad number, leave questions blank, and use the test with storage refused or JavaScript off.

Expected values come from the YAML and from ``longctx`` itself (numeric answers recomputed here
from the function the YAML names), never from the page. The pass mark is computed here in exact
arithmetic from the YAML's fraction.
"""

from __future__ import annotations

import importlib
import json
import math
import random
import re
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from helpers import COLOURS_JS, SITE, at, contrast, load_quiz_hook, rgb
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
TEST_PAGE = "course/module-test/"
QUIZ_ID = "module-test"
KEY = f"longctx-quiz:{QUIZ_ID}"

RAW = yaml.safe_load((ROOT / "quizzes" / f"{QUIZ_ID}.yml").read_text(encoding="utf-8"))
QUESTIONS = RAW["questions"]
TOTAL = len(QUESTIONS)
PASS_MARK = math.ceil(Fraction(str(RAW["pass_fraction"])) * TOTAL)  # 80% of 15: 12
CHOICE = [i for i, q in enumerate(QUESTIONS) if q["type"] == "choice"]
NUMERIC = [i for i, q in enumerate(QUESTIONS) if q["type"] == "numeric"]


HOOK = load_quiz_hook("quiz_hook_for_module_test")


def _value(spec: dict) -> float:
    """The numeric answer, straight from the longctx function the YAML names."""
    module, _, name = spec["call"].rpartition(".")
    func = getattr(importlib.import_module(f"longctx.{module}"), name)
    return func(*spec.get("args", []), **spec.get("kwargs", {})) * spec.get("scale", 1)


ANSWERS = {i: _value(QUESTIONS[i]["answer"]) for i in NUMERIC}


def right_text(i: int) -> str:
    return f"{ANSWERS[i]:.6g}"


def wrong_text(i: int) -> str:
    return f"{ANSWERS[i] * (1 + 5 * QUESTIONS[i]['tolerance']):.6g}"


def question(page: Page, i: int):
    return page.locator(f"#quiz-{QUIZ_ID}-q{i + 1}")


def open_test(page: Page, base_url: str) -> None:
    page.goto(base_url + TEST_PAGE)
    expect(page.locator(".quiz--test .quiz-live")).to_have_count(1)


def answer(page: Page, i: int, right: bool) -> None:
    q = QUESTIONS[i]
    view = question(page, i)
    if q["type"] == "choice":
        j = q["answer"] if right else (q["answer"] + 1) % len(q["choices"])
        view.locator(".quiz-choice label").nth(j).click()
        expect(view.locator("input[type=radio]").nth(j)).to_be_checked()
    else:
        view.locator(".quiz-input").fill(right_text(i) if right else wrong_text(i))


def answer_all(page: Page, right: set[int]) -> None:
    for i in range(TOTAL):
        answer(page, i, i in right)


def submit(page: Page) -> None:
    page.locator(".quiz-submit").click()
    expect(page.locator(".quiz-result")).to_have_attribute("data-state", re.compile("passed|failed"))


def result(page: Page) -> tuple[str, int]:
    box = page.locator(".quiz-result")
    return box.get_attribute("data-state"), int(box.get_attribute("data-right"))


def saved(page: Page):
    raw = page.evaluate(f"localStorage.getItem({json.dumps(KEY)})")
    return None if raw is None else json.loads(raw)


def test_shape_of_the_data():
    assert TOTAL == 15 and PASS_MARK == 12 and len(NUMERIC) >= 4


def test_renders_without_revealing_anything(page: Page, base_url, net):
    open_test(page, base_url)
    quiz = page.locator(f"#quiz-{QUIZ_ID}")
    expect(quiz.locator(".quiz-question")).to_have_count(TOTAL)
    expect(quiz.locator(".quiz-fallback")).to_have_count(0)
    expect(quiz.locator("details")).to_have_count(0)
    expect(quiz.locator(".quiz-check")).to_have_count(0)  # no per-question checking in a test
    for sel in (".quiz-explanation", ".quiz-review", ".quiz-result", ".quiz-teaches"):
        for node in quiz.locator(sel).all():
            expect(node).to_be_hidden()
    expect(quiz.locator(".quiz-rules")).to_contain_text(f"The pass mark is {PASS_MARK} of {TOTAL}")
    expect(quiz.locator(".quiz-score")).to_have_text(f"0 of {TOTAL} answered")
    expect(quiz.locator(".quiz-submit")).to_be_visible()
    expect(quiz.locator(".quiz-retake")).to_be_hidden()
    assert quiz.locator(".katex").count() > 0 and quiz.locator(".katex-error").count() == 0
    for i, q in enumerate(QUESTIONS):
        expect(question(page, i).locator(".quiz-prompt")).to_contain_text(
            q["prompt"].split("$")[0].strip()[:40]
        )


def test_mouse_all_right_passes_and_every_answer_is_reviewed(page: Page, base_url, net):
    open_test(page, base_url)
    answer_all(page, set(range(TOTAL)))
    expect(page.locator(".quiz-score")).to_have_text(f"{TOTAL} of {TOTAL} answered")
    submit(page)
    assert result(page) == ("passed", TOTAL)
    expect(page.locator(".quiz-result")).to_be_focused()
    expect(page.locator(".quiz-result-verdict")).to_have_text("Passed")
    for i in range(TOTAL):
        view = question(page, i)
        expect(view).to_have_attribute("data-result", "correct")
        expect(view.locator(".quiz-feedback")).to_contain_text("Right.")
        expect(view.locator(".quiz-teaches a")).to_be_visible()
    expect(page.locator(".quiz-submit")).to_be_hidden()
    expect(page.locator(".quiz-retake")).to_be_visible()
    state = saved(page)
    assert state["result"]["right"] == TOTAL and state["result"]["passed"] is True and state["review"] is True


@pytest.mark.parametrize("right_count", [PASS_MARK, PASS_MARK - 1], ids=["at the pass mark", "one below"])
def test_pass_mark_boundary_and_review_of_wrong_answers(page: Page, base_url, net, right_count):
    rng = random.Random(right_count)
    wrong = set(rng.sample(CHOICE, 2) + rng.sample(NUMERIC, 1))
    wrong |= set(rng.sample(sorted(set(range(TOTAL)) - wrong), TOTAL - right_count - len(wrong)))
    assert len(wrong) == TOTAL - right_count
    open_test(page, base_url)
    answer_all(page, set(range(TOTAL)) - wrong)
    submit(page)
    passed = right_count >= PASS_MARK
    assert result(page) == ("passed" if passed else "failed", right_count)
    expect(page.locator(".quiz-result-verdict")).to_have_text("Passed" if passed else "Not passed yet")
    expect(page.locator(".quiz-result-score")).to_contain_text(
        f"You answered {right_count} of {TOTAL} questions right"
    )
    expect(page.locator(".quiz-result-score")).to_contain_text(f"The pass mark is {PASS_MARK} of {TOTAL}")
    missed = page.locator(".quiz-result-missed a")
    expect(missed).to_have_count(len(wrong))
    assert [int(a.get_attribute("href").rsplit("q", 1)[1]) for a in missed.all()] == sorted(
        i + 1 for i in wrong
    )
    for i in range(TOTAL):
        view = question(page, i)
        q = QUESTIONS[i]
        expect(view).to_have_attribute("data-result", "wrong" if i in wrong else "correct")
        feedback = view.locator(".quiz-feedback")
        if q["type"] == "choice":
            picked = (q["answer"] + 1) % len(q["choices"]) if i in wrong else q["answer"]
            expect(feedback).to_contain_text(f"Your answer: {chr(65 + picked)}.")
            expect(feedback).to_contain_text(f"The right answer: {chr(65 + q['answer'])}.")
            expls = view.locator(".quiz-choice .quiz-explanation")
            for j, c in enumerate(q["choices"]):
                expect(expls.nth(j)).to_be_visible()
                expect(expls.nth(j)).to_contain_text(c["explanation"].split("$")[0].strip()[:30])
                expect(view.locator("input[type=radio]").nth(j)).to_be_disabled()
            expect(view.locator(".quiz-choice").nth(q["answer"])).to_have_class(re.compile(r"\bis-answer\b"))
            if i in wrong:
                expect(view.locator(".quiz-choice").nth(picked)).to_have_class(re.compile(r"\bis-wrong\b"))
        else:
            answer_text = HOOK.with_unit(HOOK.number_text(ANSWERS[i]), q["unit"])
            expect(feedback).to_contain_text(f"The right answer: {answer_text}")
            expect(view.locator(".quiz-review .quiz-explanation")).to_be_visible()
            expect(view.locator(".quiz-input")).to_have_attribute("readonly", "")
        expect(view.locator(".quiz-teaches a")).to_be_visible()


def test_keyboard_only(page: Page, base_url, net):
    open_test(page, base_url)
    first = question(page, 0)
    # start in the first field, as a reader who tabbed there; from here on, only keys
    (
        first.locator(".quiz-input") if QUESTIONS[0]["type"] == "numeric" else first.locator("input").first
    ).focus()
    for i, q in enumerate(QUESTIONS):
        view = question(page, i)
        if q["type"] == "numeric":
            expect(view.locator(".quiz-input")).to_be_focused()
            page.keyboard.type(right_text(i))
            page.keyboard.press("Enter")  # Enter in a field does not submit the test
            expect(page.locator(".quiz-result")).to_be_hidden()
        else:
            radios = view.locator("input[type=radio]")
            expect(radios.first).to_be_focused()
            page.keyboard.press("Space")
            for _ in range(q["answer"]):
                page.keyboard.press("ArrowDown")
            expect(radios.nth(q["answer"])).to_be_checked()
        page.keyboard.press("Tab")
    button = page.locator(".quiz-submit")
    expect(button).to_be_focused()
    outline = button.evaluate(
        "b => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth"
    )
    assert outline.split()[0] != "none" and outline.split()[1] != "0px", outline
    page.keyboard.press("Enter")
    expect(page.locator(".quiz-result")).to_be_focused()
    assert result(page) == ("passed", TOTAL)
    # the review links are reachable with Tab too
    page.keyboard.press("Tab")
    expect(page.locator(".quiz-result-missed a, .quiz-question a").first).to_be_attached()


def test_blank_questions_need_a_second_submit_and_count_as_wrong(page: Page, base_url, net):
    open_test(page, base_url)
    answer(page, CHOICE[0], True)
    answer(page, NUMERIC[0], True)
    page.locator(".quiz-submit").click()
    message = page.locator(".quiz-submit-message")
    expect(message).to_contain_text("are not answered yet")
    expect(message).to_contain_text(str(TOTAL))
    expect(page.locator(".quiz-result")).to_be_hidden()
    assert saved(page).get("result") is None
    page.locator(".quiz-submit").click()
    assert result(page) == ("failed", 2)
    blank = next(i for i in range(TOTAL) if i not in (CHOICE[0], NUMERIC[0]))
    expect(question(page, blank)).to_have_attribute("data-result", "unanswered")
    expect(question(page, blank).locator(".quiz-feedback")).to_contain_text("You did not answer.")


def test_a_bad_number_blocks_submission(page: Page, base_url, net):
    open_test(page, base_url)
    answer_all(page, set(range(TOTAL)))
    i = NUMERIC[1]
    field = question(page, i).locator(".quiz-input")
    for bad in ["abc", "NaN", "Infinity", "1..2", "0x10"]:
        field.fill(bad)
        page.locator(".quiz-submit").click()
        expect(page.locator(".quiz-submit-message")).to_contain_text(f"Question {i + 1} needs a number")
        expect(question(page, i).locator(".quiz-message")).not_to_be_empty()
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_be_focused()
        expect(page.locator(".quiz-result")).to_be_hidden()
    assert "NaN" not in page.locator(".quiz-score").inner_text()
    # the number may carry the unit, and a small slip inside the tolerance still counts
    q = QUESTIONS[i]
    field.fill(f"{ANSWERS[i] * (1 + q['tolerance'] / 2):.6g} {q['unit']}")
    expect(field).not_to_have_attribute("aria-invalid", "true")
    submit(page)
    assert result(page) == ("passed", TOTAL)


def test_review_links_resolve_to_their_sections(page: Page, base_url, net):
    open_test(page, base_url)
    answer_all(page, set())
    submit(page)
    links = page.locator(".quiz-question .quiz-teaches a")
    expect(links).to_have_count(TOTAL)
    targets = []
    for i, a in enumerate(links.all()):
        page_path, anchor = QUESTIONS[i]["teaches"].split("#")
        href = a.get_attribute("href")
        assert href == f"../../{page_path.removesuffix('.md')}/#{anchor}", href
        assert a.inner_text().strip(), "a review link without text"
        targets.append((page_path.removesuffix(".md") + "/", anchor))
    # follow one by a click: Material's instant navigation lands on the heading
    page.evaluate("window.__noReload = true")
    links.nth(4).click()
    path, anchor = targets[4]
    # The address can change before the new content is in; toc tracking may then rewrite the
    # fragment, and Material does not always scroll to it. The href was checked above; here the
    # navigation must reach the page without a reload and find the heading on it.
    page.wait_for_url(at(base_url + path))
    expect(page.locator(f"article [id='{anchor}']")).to_have_count(1)
    assert page.evaluate("window.__noReload") is True, "the review link reloaded the page"
    # and every one of them: the element with that id exists on the target page, as a heading (read
    # from the page's HTML: the headings are written by the build, not by a script)
    for path, anchor in targets:
        html = (SITE / path / "index.html").read_text(encoding="utf-8")
        tags = re.findall(rf"""<(\w+)\b[^>]*\bid=["']?{re.escape(anchor)}["'\s>]""", html)
        assert len(tags) == 1 and re.fullmatch(r"h[1-6]", tags[0]), (path, anchor, tags)


def test_progress_and_result_survive_reload_retake_and_reset(page: Page, base_url, net):
    open_test(page, base_url)
    c, n = CHOICE[2], NUMERIC[2]
    answer(page, c, True)
    question(page, n).locator(".quiz-input").fill("12 345")  # kept as typed, parsed only on submit
    page.reload()
    expect(page.locator(".quiz--test .quiz-live")).to_have_count(1)
    expect(question(page, c).locator("input[type=radio]").nth(QUESTIONS[c]["answer"])).to_be_checked()
    expect(question(page, n).locator(".quiz-input")).to_have_value("12 345")
    expect(page.locator(".quiz-score")).to_have_text(f"2 of {TOTAL} answered")

    answer_all(page, set(range(TOTAL)) - {c})
    submit(page)
    assert result(page) == ("passed", TOTAL - 1)
    page.reload()
    expect(page.locator(".quiz--test .quiz-live")).to_have_count(1)
    assert result(page) == ("passed", TOTAL - 1)  # the review is back, as submitted
    expect(question(page, c)).to_have_attribute("data-result", "wrong")

    page.locator(".quiz-retake").click()
    expect(page.locator(".quiz-question[data-result]")).to_have_count(0)
    expect(page.locator(".quiz input[type=radio]:checked")).to_have_count(0)
    expect(page.locator(".quiz-last-result")).to_contain_text(f"{TOTAL - 1} of {TOTAL} right, passed")
    state = saved(page)
    assert state["answers"] == {} and state["result"]["right"] == TOTAL - 1 and state["review"] is False
    page.reload()
    expect(page.locator(".quiz-last-result")).to_contain_text(f"{TOTAL - 1} of {TOTAL} right")
    expect(page.locator(".quiz-submit")).to_be_visible()

    page.locator(".quiz-reset").click()
    expect(page.locator(".quiz-result")).to_be_hidden()
    assert saved(page) is None
    page.reload()
    expect(page.locator(".quiz-score")).to_have_text(f"0 of {TOTAL} answered")


def test_progress_survives_instant_navigation(page: Page, base_url, net):
    open_test(page, base_url)
    page.evaluate("window.__noReload = true")
    answer(page, CHOICE[0], False)
    answer(page, NUMERIC[0], True)
    page.locator(".md-sidebar--primary a.md-nav__link", has_text="Home").first.click()
    page.wait_for_url(at(base_url))
    expect(page.locator(".quiz--test")).to_have_count(0)
    page.locator(".md-sidebar--primary a.md-nav__link", has_text="Module test").first.click()
    page.wait_for_url(at(base_url + TEST_PAGE))
    expect(page.locator(".quiz--test .quiz-live")).to_have_count(1)
    assert page.evaluate("window.__noReload") is True, "navigation reloaded the page: not instant"
    expect(page.locator(".quiz--test .quiz-question")).to_have_count(TOTAL)
    expect(page.locator(".quiz-score")).to_have_text(f"2 of {TOTAL} answered")
    wrong = (QUESTIONS[CHOICE[0]]["answer"] + 1) % len(QUESTIONS[CHOICE[0]]["choices"])
    expect(question(page, CHOICE[0]).locator("input[type=radio]").nth(wrong)).to_be_checked()
    expect(question(page, NUMERIC[0]).locator(".quiz-input")).to_have_value(right_text(NUMERIC[0]))
    # one set of handlers: one more answer counts once
    answer(page, CHOICE[1], True)
    expect(page.locator(".quiz-score")).to_have_text(f"3 of {TOTAL} answered")
    assert set(saved(page)["answers"]) == {str(CHOICE[0]), str(NUMERIC[0]), str(CHOICE[1])}


def test_saved_state_of_another_version_is_ignored(page: Page, base_url, net):
    page.add_init_script(
        f"localStorage.setItem({json.dumps(KEY)}, JSON.stringify({{version: 'old', "
        f"answers: {{'{CHOICE[0]}': {{choice: 0}}}}, result: {{right: 15}}, review: true}}))"
    )
    open_test(page, base_url)
    expect(page.locator(".quiz-score")).to_have_text(f"0 of {TOTAL} answered")
    expect(page.locator(".quiz-result")).to_be_hidden()


_KEYS_REFUSED = """
(() => {
  const refuse = (name) => { const orig = Storage.prototype[name];
    Storage.prototype[name] = function (key, ...rest) {
      if (String(key).startsWith('longctx-quiz:')) throw new DOMException('refused', 'SecurityError');
      return orig.call(this, key, ...rest); }; };
  ['getItem', 'setItem', 'removeItem'].forEach(refuse);
})();
"""


def test_storage_refused_still_works(page: Page, base_url, net):
    page.add_init_script(_KEYS_REFUSED)
    open_test(page, base_url)
    expect(page.locator(".quiz--test .quiz-storage-note")).to_be_visible()
    answer_all(page, set(range(PASS_MARK)))
    submit(page)
    assert result(page) == ("passed", PASS_MARK)
    page.locator(".quiz-retake").click()
    expect(page.locator(".quiz-last-result")).to_contain_text(f"{PASS_MARK} of {TOTAL} right")
    page.locator(".quiz-reset").click()
    expect(page.locator(".quiz-result")).to_be_hidden()


def test_without_javascript_questions_read_and_answers_fold(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(base_url + TEST_PAGE)
        quiz = page.locator(f"#quiz-{QUIZ_ID}")
        expect(quiz.locator(".quiz-fallback > li")).to_have_count(TOTAL)
        expect(quiz.locator(".quiz-rules")).to_contain_text(f"The pass mark is {PASS_MARK} of {TOTAL}")
        details = quiz.locator("details.quiz-answer")
        expect(details).to_have_count(TOTAL)
        for d in details.all():
            assert d.get_attribute("open") is None
        link = details.nth(0).locator(".quiz-teaches a")
        expect(link).to_be_hidden()
        details.nth(0).locator("summary").click()
        expect(link).to_be_visible()
        page_path, anchor = QUESTIONS[0]["teaches"].split("#")
        assert link.get_attribute("href") == f"../../{page_path.removesuffix('.md')}/#{anchor}"
        expect(details.nth(0)).to_contain_text(HOOK.number_text(ANSWERS[0]))
        expect(quiz.locator(".quiz-noscript")).to_be_visible()
    finally:
        context.close()


def test_search_index_has_questions_but_no_answers(page: Page, base_url, net):
    index = page.request.get(base_url + "search/search_index.json").json()
    text = " ".join(d["text"] for d in index["docs"] if d["location"].startswith(TEST_PAGE))
    assert " ".join(QUESTIONS[4]["prompt"].split())[:40] in " ".join(text.split())
    for q in QUESTIONS:
        explanations = (
            [c["explanation"] for c in q["choices"]] if q["type"] == "choice" else [q["explanation"]]
        )
        for e in explanations:
            assert " ".join(e.split())[:50] not in text, f"an answer leaked into the search index: {e[:50]!r}"
    assert "data-quiz" not in text and "Taught in" not in text


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("right_count", [TOTAL, PASS_MARK - 1], ids=["passed", "failed"])
def test_result_readable_in_both_palettes(page: Page, base_url, net, scheme, right_count):
    page.emulate_media(color_scheme=scheme)
    open_test(page, base_url)
    answer_all(page, set(range(right_count)))
    submit(page)
    quiz = page.locator(".quiz--test")
    bg = rgb(quiz.evaluate("e => getComputedStyle(e).backgroundColor"))
    for selector in (
        ".quiz-result-verdict",
        ".quiz-result-score",
        ".quiz-result-missed",
        ".quiz-feedback strong",
        ".quiz-feedback",
        ".quiz-teaches a",
        ".quiz-rules",
        ".quiz-score",
    ):
        target = quiz.locator(selector).first
        colour, back = target.evaluate(COLOURS_JS)
        ratio = contrast(rgb(colour), rgb(back, under=bg))
        assert ratio >= 4.5, f"{scheme}: {selector} has contrast {ratio:.2f} ({colour} on {back})"
