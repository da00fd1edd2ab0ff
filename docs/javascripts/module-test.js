// The module test: a quiz in test mode (quizzes/hook.py renders it with data-quiz-mode="test").
//
// * Nothing is marked while the reader answers. "Submit the test" scores every question at once:
//   the score, passed or not (the pass mark is in the data), and every answer reviewed with the
//   reader's answer, the right one, the explanations and a link to the section that teaches it.
// * State lives in localStorage["longctx-quiz:<id>"]: the answers in progress, the last result
//   and whether the review is showing. It survives a reload and Material's instant navigation;
//   when storage is refused the test still works for the visit, and says so.
// * Numbers are parsed and judged by the same quiz core as the lesson quizzes
//   (window.longctxWidgets.quiz, in widgets.js).
// * Every text from the data is inserted with textContent, never as HTML.
(function () {
  "use strict";

  var lib = window.longctxWidgets && window.longctxWidgets.quiz;
  if (!lib) return;  // widgets.js missing: the readable HTML version of the test stays
  var el = lib.el;

  function sanitizeAnswers(qs, raw, parsed) {
    var out = {};
    if (!raw || typeof raw !== "object") return out;
    for (var i = 0; i < qs.length; i++) {
      var a = raw[i];
      if (!a || typeof a !== "object") continue;
      if (qs[i].type === "choice") {
        if (Number.isInteger(a.choice) && a.choice >= 0 && a.choice < qs[i].choices.length) out[i] = { choice: a.choice };
      } else if (parsed) {
        if (typeof a.value === "number" && Number.isFinite(a.value)) out[i] = { value: a.value };
      } else if (typeof a.text === "string" && a.text.trim() !== "") {
        out[i] = { text: a.text };
      }
    }
    return out;
  }

  function plural(n, one, many) { return n === 1 ? one : many; }
  function listNumbers(ns) {
    if (ns.length === 1) return String(ns[0]);
    return ns.slice(0, -1).join(", ") + " and " + ns[ns.length - 1];
  }
  function dateText(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return d.toLocaleDateString("en-GB", { year: "numeric", month: "long", day: "numeric" });
  }

  function Test(root, data) {
    this.root = root;
    this.data = data;
    this.qs = data.questions;
    this.key = lib.PREFIX + data.id;
    this.answers = {};      // in progress: i -> {choice: j} | {text: "..."}
    this.result = null;     // last submitted: {right, total, passed, pass_mark, answers: i -> {choice}|{value}, at}
    this.review = false;    // is the result's review showing?
    this.storageOk = true;
    this.confirmUnanswered = false;
    this.restore();
    this.build();
  }

  Test.prototype.restore = function () {
    var got = lib.storageGet(this.key);
    if (!got.ok) { this.storageOk = false; return; }
    var saved = got.value;
    if (!saved || typeof saved !== "object" || saved.version !== this.data.version) return;
    this.answers = sanitizeAnswers(this.qs, saved.answers, false);
    var r = saved.result;
    if (r && typeof r === "object") {
      var answers = sanitizeAnswers(this.qs, r.answers, true);
      var score = this.score(answers);
      this.result = { right: score, total: this.qs.length, passed: score >= this.data.pass_mark,
                      pass_mark: this.data.pass_mark, answers: answers,
                      at: typeof r.at === "string" ? r.at : "" };
      this.review = saved.review === true;
    }
  };

  Test.prototype.answeredCount = function () { return Object.keys(this.answers).length; };

  Test.prototype.save = function () {
    var empty = this.answeredCount() === 0 && !this.result;
    var ok = lib.storageSet(this.key, empty ? null : {
      version: this.data.version, mode: "test", answers: this.answers,
      answered: this.answeredCount(), total: this.qs.length,
      result: this.result, review: this.review,
    });
    if (!ok) this.storageOk = false;
    if (this.noteEl) this.noteEl.hidden = this.storageOk;
  };

  Test.prototype.isCorrect = function (i, a) {
    var q = this.qs[i];
    if (!a) return false;
    return q.type === "choice" ? a.choice === q.answer : lib.numericCorrect(q, a.value);
  };

  Test.prototype.score = function (answers) {
    var right = 0;
    for (var i = 0; i < this.qs.length; i++) if (this.isCorrect(i, answers[i])) right++;
    return right;
  };

  // ---- building the test ----------------------------------------------------------------------
  Test.prototype.build = function () {
    var self = this, data = this.data, total = this.qs.length;
    var live = el("div", { className: "quiz-live" });
    if (data.title) live.appendChild(el("p", { className: "quiz-title" }, data.title));
    live.appendChild(el("p", { className: "quiz-rules" },
      total + " questions. Answer them in any order, then submit the test: nothing is marked before. " +
      "The pass mark is " + data.pass_mark + " of " + total + " (" + Math.round(data.pass_fraction * 100) + "%). " +
      "Your answers are kept in this browser until you submit."));
    this.resultEl = el("div", { className: "quiz-result", tabindex: "-1", hidden: "" });
    live.appendChild(this.resultEl);

    this.views = this.qs.map(function (q, i) {
      var view = q.type === "choice" ? self.buildChoice(q, i) : self.buildNumeric(q, i);
      live.appendChild(view.box);
      return view;
    });

    var footer = el("div", { className: "quiz-footer" });
    this.progressEl = el("p", { className: "quiz-score", role: "status", "aria-live": "polite" });
    var buttons = el("div", { className: "quiz-buttons" });
    this.submitBtn = el("button", { type: "button", className: "md-button md-button--primary quiz-submit" }, "Submit the test");
    this.submitBtn.addEventListener("click", function () { self.submit(); });
    this.retakeBtn = el("button", { type: "button", className: "md-button md-button--primary quiz-retake", hidden: "" }, "Take the test again");
    this.retakeBtn.addEventListener("click", function () { self.retake(); });
    var reset = el("button", { type: "button", className: "md-button quiz-reset" }, "Reset test");
    reset.addEventListener("click", function () { self.reset(); });
    buttons.appendChild(this.submitBtn);
    buttons.appendChild(this.retakeBtn);
    buttons.appendChild(reset);
    footer.appendChild(this.progressEl);
    footer.appendChild(buttons);
    this.messageEl = el("p", { className: "quiz-message quiz-submit-message", role: "alert" });
    this.noteEl = el("p", { className: "quiz-storage-note", hidden: "" },
      "Your answers cannot be saved in this browser (storage is blocked), so they last only until you leave the page.");
    live.appendChild(footer);
    live.appendChild(this.messageEl);
    live.appendChild(this.noteEl);

    Array.prototype.forEach.call(this.root.querySelectorAll(":scope > .quiz-title, :scope > .quiz-rules, :scope > .quiz-fallback, :scope > noscript, :scope > .quiz-live"),
      function (n) { n.remove(); });
    this.root.appendChild(live);
    this.live = live;
    this.noteEl.hidden = this.storageOk;

    if (this.review && this.result) this.showReview(false);
    else this.showTaking();
    lib.typeset(live);
  };

  Test.prototype.header = function (q, i, fieldset) {
    var legend = el("legend", { className: "quiz-legend" });
    legend.appendChild(el("span", { className: "quiz-number" }, "Question " + (i + 1) + " of " + this.qs.length));
    legend.appendChild(el("span", { className: "quiz-prompt" }, q.prompt));
    fieldset.appendChild(legend);
  };

  Test.prototype.box = function (q, i) {
    return el("div", { className: "quiz-question", id: "quiz-" + this.data.id + "-q" + (i + 1),
                       "data-kind": q.type, "data-index": String(i) });
  };

  Test.prototype.changed = function () {
    this.confirmUnanswered = false;
    this.messageEl.textContent = "";
    this.save();
    this.updateProgress();
  };

  Test.prototype.buildChoice = function (q, i) {
    var self = this, base = "quiz-" + this.data.id + "-q" + i;
    var box = this.box(q, i), fieldset = el("fieldset");
    this.header(q, i, fieldset);
    var list = el("div", { className: "quiz-choices" });
    var items = q.choices.map(function (c, j) {
      var id = base + "-c" + j;
      var item = el("div", { className: "quiz-choice" });
      var input = el("input", { type: "radio", name: base, id: id, value: String(j) });
      var label = el("label", { for: id });
      label.appendChild(el("span", { className: "quiz-letter", "aria-hidden": "true" }, lib.letter(j)));
      label.appendChild(el("span", { className: "quiz-choice-text" }, c.text));
      var expl = el("p", { className: "quiz-explanation", id: id + "-why", hidden: "" });
      input.addEventListener("change", function () {
        if (!input.checked || self.review) return;
        self.answers[i] = { choice: j };
        self.changed();
      });
      item.appendChild(input);
      item.appendChild(label);
      item.appendChild(expl);
      list.appendChild(item);
      return { item: item, input: input, expl: expl };
    });
    fieldset.appendChild(list);
    var review = el("div", { className: "quiz-review", hidden: "" });
    fieldset.appendChild(review);
    box.appendChild(fieldset);
    return { box: box, items: items, review: review };
  };

  Test.prototype.buildNumeric = function (q, i) {
    var self = this, id = "quiz-" + this.data.id + "-q" + i + "-input";
    var box = this.box(q, i), fieldset = el("fieldset");
    this.header(q, i, fieldset);
    var row = el("div", { className: "quiz-numeric" });
    row.appendChild(el("label", { for: id, className: "quiz-input-label" }, "Your answer"));
    var input = el("input", { type: "text", id: id, inputmode: "decimal", autocomplete: "off", spellcheck: "false",
                              className: "quiz-input", "aria-describedby": id + "-unit " + id + "-msg" });
    row.appendChild(input);
    row.appendChild(el("span", { className: "quiz-unit", id: id + "-unit" }, q.unit));
    fieldset.appendChild(row);
    var message = el("p", { className: "quiz-message", id: id + "-msg", role: "alert" });
    fieldset.appendChild(message);
    input.addEventListener("input", function () {
      if (self.review) return;
      if (input.value.trim() === "") delete self.answers[i];
      else self.answers[i] = { text: input.value };
      message.textContent = "";
      input.removeAttribute("aria-invalid");
      self.changed();
    });
    var review = el("div", { className: "quiz-review", hidden: "" });
    fieldset.appendChild(review);
    box.appendChild(fieldset);
    return { box: box, input: input, message: message, review: review };
  };

  // ---- taking the test ----------------------------------------------------------------------
  Test.prototype.showTaking = function () {
    var self = this;
    this.views.forEach(function (v, i) {
      var a = self.answers[i];
      v.box.removeAttribute("data-result");
      v.review.hidden = true;
      v.review.textContent = "";
      if (v.items) {
        v.items.forEach(function (it, j) {
          it.input.disabled = false;
          it.input.checked = !!a && a.choice === j;
          it.expl.hidden = true;
          it.item.classList.remove("is-answer", "is-wrong", "is-picked");
        });
      } else {
        v.input.readOnly = false;
        v.input.value = a ? a.text : "";
      }
    });
    this.submitBtn.hidden = false;
    this.retakeBtn.hidden = true;
    this.resultEl.textContent = "";
    if (this.result) {
      this.resultEl.hidden = false;
      this.resultEl.setAttribute("data-state", "last");
      var p = el("p", { className: "quiz-last-result" });
      p.appendChild(el("strong", null, "Your last result: "));
      var when = dateText(this.result.at);
      p.appendChild(document.createTextNode(this.result.right + " of " + this.result.total + " right, " +
        (this.result.passed ? "passed" : "not passed") + (when ? " (" + when + ")" : "") +
        ". It stays until you submit again or reset the test."));
      this.resultEl.appendChild(p);
    } else {
      this.resultEl.hidden = true;
      this.resultEl.removeAttribute("data-state");
    }
    this.updateProgress();
  };

  Test.prototype.updateProgress = function () {
    var total = this.qs.length;
    if (this.review && this.result) {
      this.progressEl.setAttribute("data-answered", String(Object.keys(this.result.answers).length));
      this.progressEl.textContent = "Score: " + this.result.right + " / " + total + ". " +
        (this.result.passed ? "Passed." : "Not passed.");
      return;
    }
    var n = this.answeredCount();
    this.progressEl.setAttribute("data-answered", String(n));
    this.progressEl.textContent = n + " of " + total + " answered";
  };

  Test.prototype.submit = function () {
    if (this.review) return;
    var self = this, parsed = {}, invalid = [], unanswered = [];
    this.qs.forEach(function (q, i) {
      var a = self.answers[i];
      if (!a) { unanswered.push(i + 1); return; }
      if (q.type === "choice") { parsed[i] = { choice: a.choice }; return; }
      var v = self.views[i], got = lib.parseNumber(a.text, q.unit);
      if (got.error) {
        v.message.textContent = got.error;
        v.input.setAttribute("aria-invalid", "true");
        invalid.push(i);
      } else {
        v.message.textContent = "";
        v.input.removeAttribute("aria-invalid");
        parsed[i] = { value: got.value };
      }
    });
    if (invalid.length) {
      var numbers = invalid.map(function (i) { return i + 1; });
      this.messageEl.textContent = plural(numbers.length, "Question ", "Questions ") + listNumbers(numbers) +
        " " + plural(numbers.length, "needs", "need") + " a number before the test can be submitted.";
      this.views[invalid[0]].input.focus();
      return;
    }
    if (unanswered.length && !this.confirmUnanswered) {
      this.confirmUnanswered = true;
      this.messageEl.textContent = plural(unanswered.length, "Question ", "Questions ") + listNumbers(unanswered) + " " +
        plural(unanswered.length, "is", "are") + " not answered yet. Answer " + plural(unanswered.length, "it", "them") +
        ", or press \u201cSubmit the test\u201d again to submit with " + plural(unanswered.length, "it", "them") +
        " counted as wrong.";
      return;
    }
    var right = this.score(parsed);
    this.result = { right: right, total: this.qs.length, passed: right >= this.data.pass_mark,
                    pass_mark: this.data.pass_mark, answers: parsed, at: new Date().toISOString() };
    this.review = true;
    this.confirmUnanswered = false;
    this.messageEl.textContent = "";
    this.save();
    this.showReview(true);
  };

  // ---- the result and the review ------------------------------------------------------------
  Test.prototype.showReview = function (focus) {
    var self = this, r = this.result, total = this.qs.length, missed = [];
    this.views.forEach(function (v, i) {
      var q = self.qs[i], a = r.answers[i];
      var correct = self.isCorrect(i, a);
      if (!correct) missed.push(i + 1);
      v.box.setAttribute("data-result", correct ? "correct" : (a ? "wrong" : "unanswered"));
      v.review.textContent = "";
      var verdict = el("p", { className: "quiz-feedback" });
      verdict.appendChild(el("strong", null, correct ? "\u2713 Right." : (a ? "\u2717 Wrong." : "\u2717 Not answered.")));
      if (q.type === "choice") {
        v.items.forEach(function (it, j) {
          it.input.checked = !!a && a.choice === j;
          it.input.disabled = true;
          it.expl.textContent = "";
          it.expl.appendChild(el("strong", { className: "quiz-verdict" }, j === q.answer ? "Right answer. " : "Not this one. "));
          it.expl.appendChild(document.createTextNode(q.choices[j].explanation));
          it.expl.hidden = false;
          it.input.setAttribute("aria-describedby", it.expl.id);
          it.item.classList.remove("is-answer", "is-wrong", "is-picked");
          if (j === q.answer) it.item.classList.add("is-answer");
          if (a && a.choice === j) it.item.classList.add(correct ? "is-picked" : "is-wrong");
        });
        verdict.appendChild(document.createTextNode(
          (a ? " Your answer: " + lib.letter(a.choice) + "." : " You did not answer.") +
          " The right answer: " + lib.letter(q.answer) + ". Why each choice is right or wrong is under it."));
      } else {
        v.input.readOnly = true;
        v.input.value = a ? lib.shortNumber(a.value) : "";
        var pct = Math.round(q.tolerance * 100 * 100) / 100;
        verdict.appendChild(document.createTextNode(
          (a ? " Your answer: " + lib.withUnit(lib.shortNumber(a.value), q.unit) + "." : " You did not answer.") +
          " The right answer: " + q.answer_text + " (within " + pct + "% counts)."));
      }
      v.review.appendChild(verdict);
      if (q.type === "numeric") v.review.appendChild(el("p", { className: "quiz-explanation" }, q.explanation));
      if (q.teaches && q.teaches.url) {
        var where = el("p", { className: "quiz-teaches" }, "Taught in: ");
        where.appendChild(el("a", { href: q.teaches.url }, q.teaches.title || q.teaches.url));
        v.review.appendChild(where);
      }
      v.review.hidden = false;
      lib.typeset(v.box);
    });

    var box = this.resultEl;
    box.textContent = "";
    box.hidden = false;
    box.setAttribute("data-state", r.passed ? "passed" : "failed");
    box.setAttribute("data-right", String(r.right));
    box.setAttribute("data-total", String(total));
    box.appendChild(el("p", { className: "quiz-result-verdict" }, r.passed ? "Passed" : "Not passed yet"));
    box.appendChild(el("p", { className: "quiz-result-score" },
      "You answered " + r.right + " of " + total + " questions right (" + Math.round(100 * r.right / total) +
      "%). The pass mark is " + r.pass_mark + " of " + total + "."));
    if (missed.length) {
      var p = el("p", { className: "quiz-result-missed" }, "To review: ");
      missed.forEach(function (n, k) {
        if (k) p.appendChild(document.createTextNode(", "));
        p.appendChild(el("a", { href: "#quiz-" + self.data.id + "-q" + n }, "question " + n));
      });
      p.appendChild(document.createTextNode(". Each question below shows your answer, the right one, why, and where it is taught."));
      box.appendChild(p);
    } else {
      box.appendChild(el("p", { className: "quiz-result-missed" }, "Every answer is right. The review of each question is below."));
    }
    this.submitBtn.hidden = true;
    this.retakeBtn.hidden = false;
    this.updateProgress();
    if (focus) box.focus();
  };

  Test.prototype.retake = function () {
    this.answers = {};
    this.review = false;
    this.save();
    this.showTaking();
    this.focusFirst();
  };

  Test.prototype.reset = function () {
    this.answers = {};
    this.result = null;
    this.review = false;
    this.confirmUnanswered = false;
    this.messageEl.textContent = "";
    this.views.forEach(function (v) {
      if (v.message) { v.message.textContent = ""; v.input.removeAttribute("aria-invalid"); }
    });
    this.save();
    this.showTaking();
    this.focusFirst();
  };

  Test.prototype.focusFirst = function () {
    var first = this.live.querySelector(".quiz-question input");
    if (first) first.focus();
  };

  // ---- wiring -------------------------------------------------------------------------------
  window.longctxModuleTestInit = window.longctxWidgets.mountJson(
    '.quiz[data-quiz-mode="test"][data-quiz]', "data-quiz-ready",
    function (root, data) { root.longctxTest = new Test(root, data); });
})();
