// Progress on the course map (docs/index.md): each element with data-progress-quiz="<id>" shows
// what this browser has stored for that quiz under localStorage["longctx-quiz:<id>"], the key
// quiz.js and module-test.js write. The build adds the quiz's data-quiz-version, -total, -mode
// (and -pass-mark for the test), so that answers saved for an older version of a quiz count as
// not started, as the quizzes themselves treat them.
//
// Runs on every page Material shows, including after instant navigation back to the home page
// (document$), and when another tab changes the storage. Where storage cannot be read the
// elements stay hidden: the map then shows no progress rather than a wrong one.
(function () {
  "use strict";

  var PREFIX = "longctx-quiz:";

  function read(key) {
    try {
      var raw = window.localStorage.getItem(key);
      return { ok: true, value: raw === null ? null : JSON.parse(raw) };
    } catch (e) {
      // storage refused, or a value that is not JSON: show nothing for it
      return { ok: false, value: null };
    }
  }

  function count(answers) {
    if (!answers || typeof answers !== "object") return 0;
    return Object.keys(answers).filter(function (k) { return answers[k] && typeof answers[k] === "object"; }).length;
  }

  function whole(n) { return typeof n === "number" && Number.isInteger(n) && n >= 0; }

  // {state, text} for a lesson quiz (practice mode)
  function practiceStatus(saved, total) {
    var answered = Math.min(count(saved && saved.answers), total);
    if (!answered) return { state: "not-started", text: "Quiz: not started" };
    if (answered >= total && whole(saved.right) && saved.right <= total) {
      return { state: "complete", text: "Quiz: " + saved.right + " of " + total + " right", right: saved.right, answered: answered };
    }
    return { state: "in-progress", text: "Quiz: " + answered + " of " + total + " answered", answered: answered };
  }

  // {state, text} for the module test: its last result, else how far the current attempt is
  function testStatus(saved, total, passMark) {
    var r = saved && saved.result;
    if (r && typeof r === "object" && whole(r.right) && r.right <= total) {
      var passed = r.right >= passMark;
      return { state: passed ? "passed" : "failed", right: r.right,
               text: (passed ? "Passed: " : "Not passed: ") + r.right + " of " + total + " right" };
    }
    var answered = Math.min(count(saved && saved.answers), total);
    if (answered) return { state: "in-progress", answered: answered, text: "In progress: " + answered + " of " + total + " answered" };
    return { state: "not-started", text: "Not taken yet" };
  }

  function render() {
    var nodes = document.querySelectorAll("[data-progress-quiz]");
    Array.prototype.forEach.call(nodes, function (node) {
      var id = node.getAttribute("data-progress-quiz");
      var total = parseInt(node.getAttribute("data-quiz-total"), 10);
      var version = node.getAttribute("data-quiz-version");
      var got = read(PREFIX + id);
      if (!got.ok || !(total > 0) || !version) {
        node.hidden = true;
        node.textContent = "";
        node.removeAttribute("data-state");
        return;
      }
      var saved = got.value && typeof got.value === "object" && got.value.version === version ? got.value : null;
      var status = node.getAttribute("data-quiz-mode") === "test"
        ? testStatus(saved, total, parseInt(node.getAttribute("data-quiz-pass-mark"), 10) || total)
        : practiceStatus(saved, total);
      node.textContent = status.text;
      node.setAttribute("data-state", status.state);
      node.setAttribute("data-answered", String(status.answered || 0));
      if (status.right !== undefined) node.setAttribute("data-right", String(status.right));
      else node.removeAttribute("data-right");
      node.hidden = false;
    });
  }

  window.longctxProgressRender = render;
  if (typeof document$ !== "undefined" && document$ && typeof document$.subscribe === "function") {
    document$.subscribe(render);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
  else render();
  window.addEventListener("storage", function (ev) {
    if (ev.key === null || String(ev.key).indexOf(PREFIX) === 0) render();
  });
})();
