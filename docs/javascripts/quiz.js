// Quiz widget. quizzes/hook.py renders each quiz as plain HTML (readable without JavaScript)
// with the quiz data as JSON in data-quiz; this script swaps that for an interactive version.
//
// * Every text from the data is inserted with textContent, never as HTML.
// * Progress lives in localStorage["longctx-quiz:<id>"] and is restored after a reload or an
//   instant navigation; if storage is refused the quiz still works, and says so. The saved
//   record also carries the score (right, answered, total), which the home page's course map
//   shows (progress.js).
// * A quiz with data-quiz-mode="test" (the module test) is left to module-test.js; both use the
//   quiz core of the widgets library (window.longctxWidgets.quiz in widgets.js).
// * An answered question is locked until Reset; the score counts first answers.
// * Material's instant navigation swaps the page without a reload: init runs on every
//   document$ emission (DOMContentLoaded without Material), and data-quiz-ready keeps a quiz
//   from being bound twice.
(function () {
  "use strict";

  // The quiz core (storage, parsing and judging a typed number, small DOM helpers) lives in the
  // widgets library (widgets.js, loaded first), shared with module-test.js.
  var lib = window.longctxWidgets.quiz;
  var PREFIX = lib.PREFIX, storageGet = lib.storageGet, storageSet = lib.storageSet, el = lib.el,
      typeset = lib.typeset, letter = lib.letter, teachesLink = lib.teachesLink, withUnit = lib.withUnit,
      parseNumber = lib.parseNumber, numericCorrect = lib.numericCorrect, shortNumber = lib.shortNumber;

  // ---- one quiz ---------------------------------------------------------------------------------
  function Quiz(root, data) {
    this.root = root;
    this.data = data;
    this.key = PREFIX + data.id;
    this.answers = {};            // question index -> {choice: i} | {value: x}
    this.storageOk = true;
    this.restore();
    this.build();
  }

  Quiz.prototype.restore = function () {
    var got = storageGet(this.key);
    if (!got.ok) { this.storageOk = false; return; }
    var saved = got.value;
    if (!saved || typeof saved !== "object" || saved.version !== this.data.version) return;
    var qs = this.data.questions, answers = saved.answers || {};
    for (var i = 0; i < qs.length; i++) {
      var a = answers[i];
      if (!a || typeof a !== "object") continue;
      if (qs[i].type === "choice" && Number.isInteger(a.choice) && a.choice >= 0 && a.choice < qs[i].choices.length) {
        this.answers[i] = { choice: a.choice };
      } else if (qs[i].type === "numeric" && typeof a.value === "number" && Number.isFinite(a.value)) {
        this.answers[i] = { value: a.value };
      }
    }
  };

  Quiz.prototype.save = function () {
    var empty = Object.keys(this.answers).length === 0;
    var score = this.score();
    var ok = storageSet(this.key, empty ? null : {
      version: this.data.version, answers: this.answers,
      right: score.right, answered: score.answered, total: score.total,
    });
    if (!ok) this.storageOk = false;
    this.showStorageNote();
  };

  Quiz.prototype.isCorrect = function (i) {
    var q = this.data.questions[i], a = this.answers[i];
    if (!a) return false;
    return q.type === "choice" ? a.choice === q.answer : numericCorrect(q, a.value);
  };

  Quiz.prototype.build = function () {
    var self = this, qs = this.data.questions;
    var live = el("div", { className: "quiz-live" });
    if (this.data.title) live.appendChild(el("p", { className: "quiz-title" }, this.data.title));
    this.views = qs.map(function (q, i) {
      var view = q.type === "choice" ? self.buildChoice(q, i) : self.buildNumeric(q, i);
      live.appendChild(view.form);
      return view;
    });

    var footer = el("div", { className: "quiz-footer" });
    this.scoreEl = el("p", { className: "quiz-score", role: "status", "aria-live": "polite" });
    var reset = el("button", { type: "button", className: "md-button quiz-reset" }, "Reset quiz");
    reset.addEventListener("click", function () { self.reset(); });
    footer.appendChild(this.scoreEl);
    footer.appendChild(reset);
    this.noteEl = el("p", { className: "quiz-storage-note", hidden: "" },
      "Your answers cannot be saved in this browser (storage is blocked), so they last only until you leave the page.");
    live.appendChild(footer);
    live.appendChild(this.noteEl);

    // The HTML fallback (and an earlier live version, on reset) is replaced, not hidden:
    // one copy of each question for screen readers and find-in-page.
    Array.prototype.forEach.call(this.root.querySelectorAll(":scope > .quiz-title, :scope > .quiz-fallback, :scope > noscript, :scope > .quiz-live"),
      function (n) { n.remove(); });
    this.root.appendChild(live);
    this.live = live;

    for (var i = 0; i < qs.length; i++) if (this.answers[i]) this.showResult(i, false);
    this.updateScore();
    this.showStorageNote();
    typeset(live);
  };

  Quiz.prototype.header = function (q, i, fieldset) {
    var legend = el("legend", { className: "quiz-legend" });
    legend.appendChild(el("span", { className: "quiz-number" }, "Question " + (i + 1) + " of " + this.data.questions.length));
    legend.appendChild(el("span", { className: "quiz-prompt" }, q.prompt));
    fieldset.appendChild(legend);
  };

  Quiz.prototype.buildChoice = function (q, i) {
    var self = this, base = "quiz-" + this.data.id + "-q" + i;
    var form = el("form", { className: "quiz-question", "data-kind": "choice", "data-index": String(i), novalidate: "" });
    var fieldset = el("fieldset");
    this.header(q, i, fieldset);
    var list = el("div", { className: "quiz-choices" });
    var items = q.choices.map(function (c, j) {
      var id = base + "-c" + j;
      var item = el("div", { className: "quiz-choice" });
      var input = el("input", { type: "radio", name: base, id: id, value: String(j) });
      var label = el("label", { for: id });
      label.appendChild(el("span", { className: "quiz-letter", "aria-hidden": "true" }, letter(j)));
      label.appendChild(el("span", { className: "quiz-choice-text" }, c.text));
      var expl = el("p", { className: "quiz-explanation", id: id + "-why", hidden: "" });
      expl.appendChild(el("strong", { className: "quiz-verdict" }, j === q.answer ? "Right answer. " : "Not this one. "));
      expl.appendChild(document.createTextNode(c.explanation));
      item.appendChild(input);
      item.appendChild(label);
      item.appendChild(expl);
      list.appendChild(item);
      return { item: item, input: input, expl: expl };
    });
    fieldset.appendChild(list);
    var actions = el("div", { className: "quiz-actions" });
    var check = el("button", { type: "submit", className: "md-button md-button--primary quiz-check" }, "Check answer");
    actions.appendChild(check);
    fieldset.appendChild(actions);
    var message = el("p", { className: "quiz-message", role: "alert" });
    var feedback = el("p", { className: "quiz-feedback", tabindex: "-1" });
    fieldset.appendChild(message);
    fieldset.appendChild(feedback);
    form.appendChild(fieldset);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (self.answers[i]) return;
      var picked = items.findIndex(function (it) { return it.input.checked; });
      if (picked < 0) { message.textContent = "Pick one of the answers first."; return; }
      message.textContent = "";
      self.answers[i] = { choice: picked };
      self.save();
      self.showResult(i, true);
      self.updateScore();
    });
    return { form: form, items: items, check: check, message: message, feedback: feedback };
  };

  Quiz.prototype.buildNumeric = function (q, i) {
    var self = this, id = "quiz-" + this.data.id + "-q" + i + "-input";
    var form = el("form", { className: "quiz-question", "data-kind": "numeric", "data-index": String(i), novalidate: "" });
    var fieldset = el("fieldset");
    this.header(q, i, fieldset);
    var row = el("div", { className: "quiz-numeric" });
    row.appendChild(el("label", { for: id, className: "quiz-input-label" }, "Your answer"));
    var input = el("input", { type: "text", id: id, inputmode: "decimal", autocomplete: "off", spellcheck: "false",
                              className: "quiz-input", "aria-describedby": id + "-unit " + id + "-msg" });
    row.appendChild(input);
    row.appendChild(el("span", { className: "quiz-unit", id: id + "-unit" }, q.unit));
    var check = el("button", { type: "submit", className: "md-button md-button--primary quiz-check" }, "Check answer");
    row.appendChild(check);
    fieldset.appendChild(row);
    var message = el("p", { className: "quiz-message", id: id + "-msg", role: "alert" });
    var feedback = el("p", { className: "quiz-feedback", tabindex: "-1" });
    var expl = el("p", { className: "quiz-explanation", hidden: "" }, q.explanation);
    fieldset.appendChild(message);
    fieldset.appendChild(feedback);
    fieldset.appendChild(expl);
    form.appendChild(fieldset);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var parsed = parseNumber(input.value, q.unit);
      if (parsed.error) {
        message.removeAttribute("data-recheck");
        message.textContent = parsed.error;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      message.textContent = "";
      input.removeAttribute("aria-invalid");
      if (self.answers[i]) { self.recheck(i, parsed.value); return; }  // scored already: a second try
      self.answers[i] = { value: parsed.value };
      self.save();
      self.showResult(i, true);
      self.updateScore();
    });
    return { form: form, input: input, check: check, message: message, feedback: feedback, expl: expl };
  };

  // Lock question i and show what was right; focus moves to the verdict when asked to.
  Quiz.prototype.showResult = function (i, focus) {
    var q = this.data.questions[i], a = this.answers[i], v = this.views[i];
    var correct = this.isCorrect(i);
    v.form.setAttribute("data-result", correct ? "correct" : "wrong");
    v.check.disabled = true;
    v.check.hidden = true;   // answered: nothing left to check until Reset
    v.feedback.textContent = "";
    v.feedback.appendChild(el("strong", null, correct ? "\u2713 Correct." : "\u2717 Not quite."));
    if (q.type === "choice") {
      v.items.forEach(function (it, j) {
        it.input.checked = j === a.choice;
        it.input.disabled = true;
        it.expl.hidden = false;
        it.input.setAttribute("aria-describedby", it.expl.id);
        if (j === q.answer) it.item.classList.add("is-answer");
        if (j === a.choice) it.item.classList.add(correct ? "is-correct" : "is-wrong");
      });
      v.feedback.appendChild(document.createTextNode(correct
        ? " " + letter(q.answer) + " is the answer; why each choice is right or wrong is shown under it."
        : " You picked " + letter(a.choice) + "; the answer is " + letter(q.answer) + ". Each choice's explanation is shown under it."));
    } else {
      v.input.value = shortNumber(a.value);
      v.expl.hidden = false;
      v.check.disabled = false;  // a typo can be corrected and checked again; the score keeps the first
      v.check.hidden = false;
      v.check.textContent = "Check again";
      v.feedback.appendChild(document.createTextNode(
        " You answered " + withUnit(shortNumber(a.value), q.unit) +
        "; the answer is " + q.answer_text + " (within " + tolerancePct(q) + "% counts). " +
        "The score keeps this first answer; you can still edit it and check again."));
    }
    var link = teachesLink(q.teaches);
    if (link) v.feedback.appendChild(link);
    if (focus) v.feedback.focus();
  };

  function tolerancePct(q) { return Math.round(q.tolerance * 100 * 100) / 100; }

  // A numeric question already scored: judge another number without changing the score.
  Quiz.prototype.recheck = function (i, value) {
    var q = this.data.questions[i], v = this.views[i];
    var ok = numericCorrect(q, value);
    v.message.textContent = (ok ? "\u2713 " : "\u2717 ") + withUnit(shortNumber(value), q.unit) +
      (ok ? " is within " : " is not within ") + tolerancePct(q) + "% of the answer. The score keeps your first answer, " +
      withUnit(shortNumber(this.answers[i].value), q.unit) + ".";
    v.message.setAttribute("data-recheck", ok ? "correct" : "wrong");
  };

  Quiz.prototype.score = function () {
    var total = this.data.questions.length, answered = 0, right = 0;
    for (var i = 0; i < total; i++) {
      if (this.answers[i]) { answered++; if (this.isCorrect(i)) right++; }
    }
    return { total: total, answered: answered, right: right };
  };

  Quiz.prototype.updateScore = function () {
    var s = this.score(), total = s.total, answered = s.answered, right = s.right;
    this.scoreEl.setAttribute("data-right", String(right));
    this.scoreEl.setAttribute("data-answered", String(answered));
    this.scoreEl.textContent = answered === total
      ? "Score: " + right + " / " + total + ". All questions answered."
      : "Score: " + right + " / " + total + " (" + answered + " of " + total + " answered)";
  };

  Quiz.prototype.showStorageNote = function () {
    if (this.noteEl) this.noteEl.hidden = this.storageOk;
  };

  Quiz.prototype.reset = function () {
    this.answers = {};
    this.save();
    this.build();
    var first = this.live.querySelector("input");
    if (first) first.focus();
  };

  // ---- wiring -------------------------------------------------------------------------------
  window.longctxQuizInit = window.longctxWidgets.mountJson(
    '.quiz[data-quiz]:not([data-quiz-mode="test"])', "data-quiz-ready",
    function (root, data) { root.longctxQuiz = new Quiz(root, data); });
})();
