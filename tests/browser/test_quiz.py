"""The quiz widget in headless Chromium, on Lesson 1's page of the built site.

What a reader does: answer by mouse and by keyboard, get a score, keep progress across a
reload and across Material's instant navigation, reset, type a bad number, and use the quiz
with storage blocked or with JavaScript off. Expected answers come from ``longctx`` itself and
from the quiz file read through the hook, never from the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import COLOURS_JS, at, contrast, load_quiz_hook, rgb
from playwright.sync_api import Page, expect

from longctx import costs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
LESSON = "lessons/01-quadratic-wall/"
QUIZ_ID = "lesson-01"
KEY = f"longctx-quiz:{QUIZ_ID}"


HOOK = load_quiz_hook("quiz_hook_for_browser_tests")
QUIZ = HOOK.load_quiz(QUIZ_ID)
QUESTIONS = QUIZ["questions"]
CHOICE = next(i for i, q in enumerate(QUESTIONS) if q["type"] == "choice")
NUMERIC = [i for i, q in enumerate(QUESTIONS) if q["type"] == "numeric"]
# The two numeric answers, computed here straight from longctx (not from the hook).
MULTIPLIER = costs.cost_multiplier(16384, 65536)
SCORE_GB = costs.score_matrix_bytes(100_000, bytes_per_element=2) / 1e9


RAW = yaml.safe_load((ROOT / "quizzes" / f"{QUIZ_ID}.yml").read_text(encoding="utf-8"))["questions"]


def _numeric_index(func: str) -> int:
    """The numeric question whose answer the YAML computes with ``costs.<func>``."""
    return next(i for i in NUMERIC if RAW[i]["answer"]["call"] == f"costs.{func}")


def question(page: Page, i: int):
    return page.locator(f".quiz .quiz-question[data-index='{i}']")


def score(page: Page) -> tuple[int, int]:
    el = page.locator(".quiz-score")
    return int(el.get_attribute("data-right")), int(el.get_attribute("data-answered"))


def open_lesson(page: Page, base_url: str) -> None:
    page.goto(base_url + LESSON)
    expect(page.locator(".quiz .quiz-live")).to_have_count(1)


def answer_choice(page: Page, i: int, j: int) -> None:
    q = question(page, i)
    q.locator(".quiz-choice label").nth(j).click()
    q.locator(".quiz-check").click()
    expect(q).to_have_attribute("data-result", re.compile("correct|wrong"))


def answer_number(page: Page, i: int, text: str) -> None:
    q = question(page, i)
    q.locator(".quiz-input").fill(text)
    q.locator(".quiz-check").click()


def test_quiz_renders_once_with_fallback_replaced(page: Page, base_url, net):
    open_lesson(page, base_url)
    quiz = page.locator(f"#quiz-{QUIZ_ID}")
    expect(quiz.locator(".quiz-question")).to_have_count(len(QUESTIONS))
    expect(quiz.locator(".quiz-fallback")).to_have_count(0)
    expect(quiz.locator("details")).to_have_count(0)
    for i, q in enumerate(QUESTIONS):
        # $...$ is typeset, so compare the prompt's words outside math only
        first_words = q["prompt"].split("$")[0].strip()
        expect(question(page, i).locator(".quiz-prompt")).to_contain_text(first_words)
    # nothing of the answers shows before answering
    for expl in quiz.locator(".quiz-explanation").all():
        expect(expl).to_be_hidden()
    assert score(page) == (0, 0)
    expect(page.locator(".quiz-score")).to_have_text(
        f"Score: 0 / {len(QUESTIONS)} (0 of {len(QUESTIONS)} answered)"
    )
    # math in the quiz text is typeset by the site's KaTeX
    assert quiz.locator(".katex").count() > 0
    assert quiz.locator(".katex-error").count() == 0


def test_mouse_answers_wrong_then_score(page: Page, base_url, net):
    open_lesson(page, base_url)
    q = QUESTIONS[CHOICE]
    wrong = next(j for j in range(len(q["choices"])) if j != q["answer"])
    answer_choice(page, CHOICE, wrong)
    view = question(page, CHOICE)
    expect(view).to_have_attribute("data-result", "wrong")
    expect(view.locator(".quiz-feedback")).to_contain_text(f"the answer is {chr(65 + q['answer'])}")
    # every choice's explanation is now shown under it, and the question is locked
    expls = view.locator(".quiz-choice .quiz-explanation")
    expect(expls).to_have_count(len(q["choices"]))
    for j, c in enumerate(q["choices"]):
        expect(expls.nth(j)).to_be_visible()
        expect(expls.nth(j)).to_contain_text(c["explanation"].split("$")[0][:40])
        expect(view.locator("input[type=radio]").nth(j)).to_be_disabled()
    expect(view.locator(".quiz-choice").nth(q["answer"])).to_have_class(re.compile(r"\bis-answer\b"))
    expect(view.locator(".quiz-choice").nth(wrong)).to_have_class(re.compile(r"\bis-wrong\b"))
    assert score(page) == (0, 1)

    i_mult = _numeric_index("cost_multiplier")
    answer_number(page, i_mult, HOOK.number_text(MULTIPLIER))
    expect(question(page, i_mult)).to_have_attribute("data-result", "correct")
    assert score(page) == (1, 2)
    expect(page.locator(".quiz-score")).to_contain_text(f"Score: 1 / {len(QUESTIONS)}")


def test_check_without_choice_asks_for_one(page: Page, base_url, net):
    open_lesson(page, base_url)
    view = question(page, CHOICE)
    view.locator(".quiz-check").click()
    expect(view.locator(".quiz-message")).to_have_text("Pick one of the answers first.")
    expect(view).not_to_have_attribute("data-result", re.compile("."))
    assert score(page) == (0, 0)


def test_keyboard_only(page: Page, base_url, net):
    open_lesson(page, base_url)
    q = QUESTIONS[CHOICE]
    view = question(page, CHOICE)
    radios = view.locator("input[type=radio]")
    # Space picks the focused radio, the arrow keys move the pick, Tab reaches the button
    radios.first.focus()
    page.keyboard.press("Space")
    expect(radios.first).to_be_checked()
    for _ in range(q["answer"]):
        page.keyboard.press("ArrowDown")
    expect(radios.nth(q["answer"])).to_be_checked()
    expect(radios.nth(q["answer"])).to_be_focused()
    page.keyboard.press("Tab")
    check = view.locator(".quiz-check")
    expect(check).to_be_focused()
    # the focused button shows a visible focus ring
    outline = check.evaluate("b => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth")
    assert outline.split()[0] != "none" and outline.split()[1] != "0px", outline
    page.keyboard.press("Enter")
    expect(view).to_have_attribute("data-result", "correct")
    expect(view.locator(".quiz-feedback")).to_be_focused()

    # a numeric question: type and press Enter
    i_gb = _numeric_index("score_matrix_bytes")
    inp = question(page, i_gb).locator(".quiz-input")
    inp.focus()
    page.keyboard.type(HOOK.number_text(SCORE_GB))
    page.keyboard.press("Enter")
    expect(question(page, i_gb)).to_have_attribute("data-result", "correct")
    assert score(page) == (2, 2)


def test_numeric_invalid_wrong_and_right(page: Page, base_url, net):
    open_lesson(page, base_url)
    i_mult = _numeric_index("cost_multiplier")
    view = question(page, i_mult)
    msg = view.locator(".quiz-message")
    for bad in ["", "   ", "abc", "1..2", "12abc", "NaN", "Infinity", "0x10"]:
        answer_number(page, i_mult, bad)
        expect(msg).not_to_be_empty()
        expect(view).not_to_have_attribute("data-result", re.compile("."))
        expect(view.locator(".quiz-input")).to_have_attribute("aria-invalid", "true")
    assert score(page) == (0, 0)
    assert "NaN" not in view.locator(".quiz-feedback").inner_text()

    # a wrong number: outside the relative tolerance
    tol = QUESTIONS[i_mult]["tolerance"]
    wrong = MULTIPLIER * (1 + 3 * tol)
    answer_number(page, i_mult, f"{wrong:g}")
    expect(view).to_have_attribute("data-result", "wrong")
    expect(msg).to_be_empty()
    feedback = view.locator(".quiz-feedback")
    expect(feedback).to_contain_text("Not quite")
    expect(feedback).to_contain_text(f"the answer is {HOOK.with_unit(HOOK.number_text(MULTIPLIER), '×')}")
    expect(view.locator(".quiz-explanation")).to_be_visible()
    expect(feedback).to_contain_text("The score keeps this first answer")
    assert score(page) == (0, 1)

    # the typo corrected: still editable, checked again, judged, and the score keeps the first try
    expect(view.locator(".quiz-input")).to_be_editable()
    answer_number(page, i_mult, HOOK.number_text(MULTIPLIER))
    expect(msg).to_have_attribute("data-recheck", "correct")
    expect(msg).to_contain_text("The score keeps your first answer")
    expect(view).to_have_attribute("data-result", "wrong")
    answer_number(page, i_mult, f"{wrong:g}")
    expect(msg).to_have_attribute("data-recheck", "wrong")
    assert score(page) == (0, 1)

    # a right number, typed with the unit and a little off but inside the tolerance
    i_gb = _numeric_index("score_matrix_bytes")
    gb = question(page, i_gb)
    tol_gb = QUESTIONS[i_gb]["tolerance"]
    answer_number(page, i_gb, f"{SCORE_GB * (1 + tol_gb / 2):.4f} GB")
    expect(gb).to_have_attribute("data-result", "correct")
    expect(gb.locator(".quiz-feedback")).to_contain_text(f"{HOOK.number_text(SCORE_GB)} GB")
    expect(gb.locator(".quiz-explanation")).to_contain_text("A100")
    assert score(page) == (1, 2)


def test_numeric_tolerance_edge_and_gib_trap(page: Page, base_url, net):
    open_lesson(page, base_url)
    i_gb = _numeric_index("score_matrix_bytes")
    # the same bytes in GiB is a classic slip: it must count as wrong
    gib = costs.score_matrix_bytes(100_000, bytes_per_element=2) / 2**30
    answer_number(page, i_gb, f"{gib:.2f}")
    expect(question(page, i_gb)).to_have_attribute("data-result", "wrong")
    i_mult = _numeric_index("cost_multiplier")
    tol = QUESTIONS[i_mult]["tolerance"]
    answer_number(page, i_mult, f"{MULTIPLIER * (1 - 0.9 * tol):.6f}")
    expect(question(page, i_mult)).to_have_attribute("data-result", "correct")


def test_progress_survives_reload(page: Page, base_url, net):
    open_lesson(page, base_url)
    q = QUESTIONS[CHOICE]
    answer_choice(page, CHOICE, q["answer"])
    i_mult = _numeric_index("cost_multiplier")
    answer_number(page, i_mult, "3")
    assert score(page) == (1, 2)
    saved = json.loads(page.evaluate(f"localStorage.getItem({json.dumps(KEY)})"))
    assert saved["version"] == QUIZ["version"]

    page.reload()
    expect(page.locator(".quiz .quiz-live")).to_have_count(1)
    assert score(page) == (1, 2)
    expect(question(page, CHOICE)).to_have_attribute("data-result", "correct")
    expect(question(page, CHOICE).locator("input[type=radio]").nth(q["answer"])).to_be_checked()
    expect(question(page, i_mult)).to_have_attribute("data-result", "wrong")
    expect(question(page, i_mult).locator(".quiz-input")).to_have_value("3")
    i_gb = _numeric_index("score_matrix_bytes")
    expect(question(page, i_gb)).not_to_have_attribute("data-result", re.compile("."))


def test_saved_state_for_another_version_is_ignored(page: Page, base_url, net):
    # the saved state is written before the page's scripts run on this load only (an init
    # script left in place would write it again before the reload below, over the broken one)
    with page.add_init_script(
        f"localStorage.setItem({json.dumps(KEY)}, "
        f"JSON.stringify({{version: 'old', answers: {{'{CHOICE}': {{choice: 0}}}}}}))"
    ):
        open_lesson(page, base_url)
    assert score(page) == (0, 0)
    page.evaluate(f"localStorage.setItem({json.dumps(KEY)}, '{{not json')")
    page.reload()
    assert page.evaluate(f"localStorage.getItem({json.dumps(KEY)})") in ("{not json", None)
    expect(page.locator(".quiz .quiz-live")).to_have_count(1)
    assert score(page) == (0, 0)


def test_progress_survives_instant_navigation(page: Page, base_url, net):
    open_lesson(page, base_url)
    page.evaluate("window.__noReload = true")
    q = QUESTIONS[CHOICE]
    wrong = (q["answer"] + 1) % len(q["choices"])
    answer_choice(page, CHOICE, wrong)

    # leave through the navigation sidebar, then come back the same way
    page.locator(".md-sidebar--primary a.md-nav__link", has_text="Home").first.click()
    page.wait_for_url(at(base_url))
    expect(page.locator(".quiz")).to_have_count(0)
    assert page.evaluate("window.__noReload") is True, "navigation reloaded the page: not instant"

    page.locator(".md-sidebar--primary a.md-nav__link", has_text="The quadratic wall").first.click()
    page.wait_for_url(at(base_url + LESSON))
    expect(page.locator(".quiz .quiz-live")).to_have_count(1)
    assert page.evaluate("window.__noReload") is True, "navigation reloaded the page: not instant"
    expect(page.locator(".quiz .quiz-question")).to_have_count(len(QUESTIONS))
    expect(page.locator(".quiz-score")).to_have_count(1)
    expect(question(page, CHOICE)).to_have_attribute("data-result", "wrong")
    expect(question(page, CHOICE).locator("input[type=radio]").nth(wrong)).to_be_checked()
    assert score(page) == (0, 1)

    # still one set of handlers: one more answer counts once
    i_mult = _numeric_index("cost_multiplier")
    answer_number(page, i_mult, HOOK.number_text(MULTIPLIER))
    assert score(page) == (1, 2)
    saved = json.loads(page.evaluate(f"localStorage.getItem({json.dumps(KEY)})"))
    assert set(saved["answers"]) == {str(CHOICE), str(i_mult)}


def test_reset(page: Page, base_url, net):
    open_lesson(page, base_url)
    answer_choice(page, CHOICE, QUESTIONS[CHOICE]["answer"])
    answer_number(page, _numeric_index("cost_multiplier"), "16")
    page.locator(".quiz-reset").click()
    assert score(page) == (0, 0)
    expect(page.locator(".quiz [data-result]")).to_have_count(0)
    expect(page.locator(".quiz input[type=radio]:checked")).to_have_count(0)
    expect(page.locator(".quiz input:disabled")).to_have_count(0)
    expect(page.locator(".quiz .quiz-live")).to_have_count(1)
    assert page.evaluate(f"localStorage.getItem({json.dumps(KEY)})") is None
    page.reload()
    expect(page.locator(".quiz .quiz-live")).to_have_count(1)
    assert score(page) == (0, 0)
    # after a reset the questions answer again
    answer_choice(page, CHOICE, QUESTIONS[CHOICE]["answer"])
    assert score(page) == (1, 1)


_QUIZ_KEYS_REFUSED = """
(() => {
  const refuse = (name) => { const orig = Storage.prototype[name];
    Storage.prototype[name] = function (key, ...rest) {
      if (String(key).startsWith('longctx-quiz:')) throw new DOMException('refused', 'SecurityError');
      return orig.call(this, key, ...rest); }; };
  ['getItem', 'setItem', 'removeItem'].forEach(refuse);
})();
"""


def _answer_all_and_check(page: Page) -> None:
    expect(page.locator(".quiz .quiz-live")).to_have_count(1)
    expect(page.locator(".quiz-storage-note")).to_be_visible()
    answer_choice(page, CHOICE, QUESTIONS[CHOICE]["answer"])
    answer_number(page, _numeric_index("cost_multiplier"), "16")
    assert score(page) == (2, 2)
    page.locator(".quiz-reset").click()
    assert score(page) == (0, 0)


def test_storage_refused_still_works(page: Page, base_url, net):
    """getItem/setItem throw for the quiz's keys (blocked or full storage): no page error."""
    page.add_init_script(_QUIZ_KEYS_REFUSED)
    open_lesson(page, base_url)
    _answer_all_and_check(page)


def test_storage_missing_entirely(browser, base_url):
    """``window.localStorage`` itself throws (site data blocked). Material's own inline palette
    script fails then (its __md_get reads storage unguarded); the quiz must not add an error."""
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(f"{err.message}\n{err.stack or ''}"))
    page.add_init_script(
        "Object.defineProperty(window, 'localStorage', "
        "{get() { throw new DOMException('denied', 'SecurityError'); }})"
    )
    try:
        open_lesson(page, base_url)
        _answer_all_and_check(page)
        assert not [e for e in errors if "quiz.js" in e], errors
    finally:
        context.close()


def test_without_javascript_questions_read_and_answers_fold(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(base_url + LESSON)
        quiz = page.locator(f"#quiz-{QUIZ_ID}")
        expect(quiz.locator(".quiz-fallback > li")).to_have_count(len(QUESTIONS))
        q = QUESTIONS[CHOICE]
        item = quiz.locator(".quiz-fallback > li").nth(CHOICE)
        expect(item).to_contain_text(q["prompt"])
        expect(item.locator("ol > li")).to_have_count(len(q["choices"]))
        details = quiz.locator("details.quiz-answer")
        expect(details).to_have_count(len(QUESTIONS))
        for d in details.all():
            assert d.get_attribute("open") is None
        # folded: the explanations are not visible until the reader opens the answer
        first_expl = q["choices"][0]["explanation"].split("$")[0][:40]
        expect(item.get_by_text(first_expl)).to_be_hidden()
        item.locator("summary").click()
        expect(item.get_by_text(first_expl)).to_be_visible()
        i_gb = _numeric_index("score_matrix_bytes")
        expect(details.nth(i_gb)).to_contain_text(f"{HOOK.number_text(SCORE_GB)} GB")
        expect(quiz.locator(".quiz-noscript")).to_be_visible()
    finally:
        context.close()


def test_search_index_has_questions_but_no_answers(page: Page, base_url, net):
    index = page.request.get(base_url + "search/search_index.json").json()
    text = " ".join(d["text"] for d in index["docs"] if d["location"].startswith(LESSON))
    assert QUESTIONS[CHOICE]["prompt"][:60] in text
    for q in QUESTIONS:
        explanations = (
            [c["explanation"] for c in q["choices"]] if q["type"] == "choice" else [q["explanation"]]
        )
        for e in explanations:
            assert e[:50] not in text, f"an answer leaked into the search index: {e[:50]!r}"
    assert "data-quiz" not in text


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_readable_in_both_palettes(page: Page, base_url, net, scheme):
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": 1280, "height": 1000})
    open_lesson(page, base_url)
    expected = "slate" if scheme == "dark" else "default"
    expect(page.locator("body")).to_have_attribute("data-md-color-scheme", expected)
    q = QUESTIONS[CHOICE]
    answer_choice(page, CHOICE, (q["answer"] + 1) % len(q["choices"]))
    i_mult = _numeric_index("cost_multiplier")
    answer_number(page, i_mult, HOOK.number_text(MULTIPLIER))
    answer_number(page, _numeric_index("score_matrix_bytes"), "oops")
    question(page, _numeric_index("score_matrix_bytes")).locator(".quiz-input").focus()

    quiz = page.locator(".quiz")
    bg = rgb(quiz.evaluate("e => getComputedStyle(e).backgroundColor"))
    checks = {
        "prompt": ".quiz-prompt",
        "question number": ".quiz-number",
        "choice text": ".quiz-choice-text",
        "explanation": ".quiz-choice .quiz-explanation",
        "right verdict": ".quiz-choice.is-answer .quiz-verdict",
        "wrong verdict": ".quiz-choice.is-wrong .quiz-verdict",
        "wrong feedback": ".quiz-question[data-result='wrong'] .quiz-feedback strong",
        "right feedback": ".quiz-question[data-result='correct'] .quiz-feedback strong",
        "error message": ".quiz-message:not(:empty)",
        "score": ".quiz-score",
        "input": ".quiz-input",
        "check button": ".quiz-question:not([data-result]) .quiz-check",
        "reset button": ".quiz-reset",
    }
    for what, selector in checks.items():
        target = quiz.locator(selector).first
        colour, back = target.evaluate(COLOURS_JS)
        ratio = contrast(rgb(colour), rgb(back, under=bg))
        assert ratio >= 4.5, f"{scheme}: {what} has contrast {ratio:.2f} ({colour} on {back})"
    # hovered, the buttons stay readable too
    for selector in (".quiz-question:not([data-result]) .quiz-check", ".quiz-reset"):
        button = quiz.locator(selector).first
        button.hover()
        page.wait_for_timeout(400)  # let Material's 125 ms colour transition finish
        colour, back = button.evaluate(
            "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        )
        ratio = contrast(rgb(colour), rgb(back, under=bg))
        assert ratio >= 4.5, f"{scheme}: hovered {selector} has contrast {ratio:.2f} ({colour} on {back})"
