// The one script every page loads (mkdocs.yml, extra_javascript): it loads what the page in view
// uses and nothing else, and makes its scroll boxes reachable from the keyboard.
//
// * KaTeX (script, auto-render, katex-init.js and its stylesheet) only when the page has math:
//   arithmatex's spans, a quiz (questions may hold TeX), or $...$ in a lab's markdown cells.
// * Each widget's script only where its root element is on the page, after widgets.js (the shared
//   library, which also holds the quiz core that quiz.js and module-test.js share).
// * Material's navigation.instant swaps the page's content without a reload, so all of this runs
//   again on every page Material shows: it subscribes to Material's document$ (a replaying
//   observable: a late subscriber still sees the current page). A script is loaded at most once;
//   each widget script binds the roots of later pages itself through the same document$.
// * Scroll boxes (wide equations, notebook cells, tables) that actually overflow get tabindex="0"
//   so that the keyboard can scroll them (WCAG 2.1.1), and lose it again when they stop overflowing.
(function () {
  "use strict";

  // Resolved now: after an instant navigation, relative paths would resolve against another page.
  var ROOT = new URL("../", document.currentScript.src).href;

  var KATEX_CSS = "assets/vendor/katex/katex.min.css";
  var KATEX = ["assets/vendor/katex/katex.min.js", "assets/vendor/katex/contrib/auto-render.min.js",
               "javascripts/katex-init.js"];
  var LIB = "javascripts/widgets.js";
  // [selector of the roots, scripts in order (after LIB)]
  var WIDGETS = [
    [".lc-calc", ["javascripts/calculator.js"]],
    [".lc-mask", ["javascripts/mask-visualiser.js"]],
    [".lc-xover", ["javascripts/crossover.js"]],
    [".lc-kv", ["javascripts/kv-calculator.js"]],
    [".lc-cost", ["javascripts/cost-summary.js"]],
    [".quiz[data-quiz]:not([data-quiz-mode='test'])", ["javascripts/quiz.js"]],
    [".quiz[data-quiz-mode='test']", ["javascripts/module-test.js"]],
    ["[data-progress-quiz]", ["javascripts/progress.js"]],
  ];
  var SCROLL_BOXES = ".md-typeset .katex-display, .md-typeset .highlight-ipynb, .md-typeset .md-typeset__scrollwrap, " +
                     ".md-typeset .jp-OutputArea-output pre, .md-typeset .jp-RenderedHTMLCommon, .md-typeset .lc-fig-box";

  var loading = {};  // path -> Promise

  function script(path) {
    if (!loading[path]) {
      loading[path] = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = new URL(path, ROOT).href;
        s.onload = resolve;
        s.onerror = function () { delete loading[path]; reject(new Error("could not load " + path)); };
        document.head.appendChild(s);
      });
    }
    return loading[path];
  }

  // Material's instant navigation may swap what the head holds: a stylesheet is added again
  // whenever it is missing (the browser has it cached by then).
  function stylesheet(path) {
    if (document.querySelector('link[data-lc-css="' + path + '"]')) return;
    var link = document.createElement("link");
    link.setAttribute("data-lc-css", path);
    link.rel = "stylesheet";
    link.href = new URL(path, ROOT).href;
    document.head.appendChild(link);
  }

  function inOrder(paths) {
    return paths.reduce(function (p, path) { return p.then(function () { return script(path); }); }, Promise.resolve());
  }

  function hasMath(doc) {
    if (doc.querySelector(".arithmatex, .quiz[data-quiz]")) return true;
    var cells = doc.querySelectorAll(".jp-RenderedMarkdown, .jp-MarkdownOutput");
    for (var i = 0; i < cells.length; i++) {
      if (/\$[^$\s][^$]*\$|\\\(|\\\[/.test(cells[i].textContent)) return true;
    }
    return false;
  }

  // Wide tables and widget results get a visible cue above them while they hide columns.
  var CUED = ".md-typeset .md-typeset__scrollwrap, .md-typeset .lc-widget__out, .md-typeset .lc-fig-box";

  function cue(box, wide) {
    var prev = box.previousElementSibling;
    var has = prev && prev.classList.contains("lc-scroll-cue");
    if (wide && !has) {
      var p = document.createElement("p");
      p.className = "lc-scroll-cue";
      p.setAttribute("aria-hidden", "true");  // the box itself is a focusable, scrollable region
      p.textContent = box.classList.contains("lc-fig-box") ? "Scroll sideways for the whole figure \u2192"
                                                            : "Scroll sideways for more columns \u2192";
      box.parentNode.insertBefore(p, box);
    } else if (!wide && has) {
      prev.remove();
    }
  }

  // Gives each overflowing scroll box a Tab stop, and takes it back from one that no longer overflows.
  // Every size is read before anything is written: a write between two reads would make the browser
  // lay the whole page out again for the second read.
  function markScrollBoxes() {
    var wide = Array.prototype.map.call(document.querySelectorAll(CUED), function (box) {
      return [box, box.scrollWidth > box.clientWidth + 1];
    });
    var boxes = Array.prototype.map.call(document.querySelectorAll(SCROLL_BOXES), function (box) {
      return [box, box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1];
    });
    wide.forEach(function (w) { cue(w[0], w[1]); });
    boxes.forEach(function (b) {
      var box = b[0], scrolls = b[1];
      var ours = box.hasAttribute("data-lc-scroll");
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-lc-scroll", "");
      } else if (!scrolls && ours) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-lc-scroll");
      }
    });
  }

  // At most one pass per frame, however many edits (or loads) asked for one in it: each pass
  // reads every box's size, so a widget form's several events in a frame would each lay it out.
  var marking = false;
  function markSoon() {
    if (marking) return;
    marking = true;
    requestAnimationFrame(function () { marking = false; markScrollBoxes(); });
  }

  document.addEventListener("input", function (e) {
    if (e.target && e.target.closest && e.target.closest(".lc-widget__form")) markSoon();
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(markScrollBoxes, 200);
  });

  function page(doc) {
    var jobs = [];
    if (hasMath(doc)) {
      stylesheet(KATEX_CSS);
      jobs.push(inOrder(KATEX));
    }
    var wanted = [];
    WIDGETS.forEach(function (w) {
      if (doc.querySelector(w[0])) w[1].forEach(function (p) { if (wanted.indexOf(p) < 0) wanted.push(p); });
    });
    if (wanted.length) jobs.push(inOrder([LIB].concat(wanted)));
    markScrollBoxes();
    Promise.all(jobs).then(function () {
      // math and widgets are laid out once their scripts have run, and again once the fonts are in
      markSoon();
      if (document.fonts && document.fonts.ready) document.fonts.ready.then(markScrollBoxes);
      setTimeout(markScrollBoxes, 1000);
    }, function (err) {
      if (window.console) console.warn(err.message);
    });
  }

  window.longctxLoader = { script: script, markScrollBoxes: markScrollBoxes };
  if (typeof document$ !== "undefined" && document$ && typeof document$.subscribe === "function") {
    document$.subscribe(function () { page(document); });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { page(document); });
  } else {
    page(document);
  }
})();
