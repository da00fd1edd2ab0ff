// What the site's in-browser widgets share (calculator.js, mask-visualiser.js, crossover.js,
// kv-calculator.js, cost-summary.js; quiz.js and module-test.js use onPage and mountJson).
//
// Loaded before them (mkdocs.yml, extra_javascript). Each widget keeps its own limits, labels and
// messages and passes them in; this file holds only the mechanics: building elements, formatting
// numbers, parsing whole-number fields, fetching assets/data/longctx.json, the per-page init with
// its guard against binding a root twice, and the error states. The class vocabulary lc-widget__*
// matches docs/stylesheets/widgets.css; every element also keeps its widget's own class.
(function () {
  "use strict";

  // Resolved now, while location still is the page that loaded this script: after an instant
  // navigation the relative src attribute would resolve against another page.
  var SCRIPT_SRC = document.currentScript ? document.currentScript.src : null;

  // ------------------------------------------------------------------ elements

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  var uid = 0;

  // A fresh element id: prefix-<counter>-name.
  function newId(prefix, name) { return prefix + "-" + (++uid) + "-" + name; }

  // A labelled text input in a field box. prefix is the widget's class (e.g. "lc-calc").
  // opts: inputmode (default "numeric"), attrs (the box's attributes; default classes
  // "<prefix>__field <prefix>__field--<name>").
  function field(prefix, name, label, value, hint, opts) {
    opts = opts || {};
    var id = newId(prefix, name);
    var input = el("input", { id: id, name: name, type: "text", inputmode: opts.inputmode || "numeric",
                              autocomplete: "off", spellcheck: "false", value: value });
    var kids = [el("label", { for: id }, [label]), input];
    if (hint) kids.push(el("small", {}, [hint]));
    return box(prefix, opts.attrs || { class: prefix + "__field " + prefix + "__field--" + name }, kids);
  }

  // A field box around any control: the shared class is added to attrs.class.
  function box(prefix, attrs, kids) {
    var a = {};
    Object.keys(attrs).forEach(function (k) { a[k] = attrs[k]; });
    a["class"] = "lc-widget__field " + (a["class"] || prefix + "__field");
    return el("div", a, kids);
  }

  // A <select> of [value, text] options.
  function select(prefix, name, options, selected) {
    var node = el("select", { id: newId(prefix, name), name: name });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0] }, [o[1]]);
      if (o[0] === selected) opt.selected = true;
      node.appendChild(opt);
    });
    return node;
  }

  // The widget's form (submitting it does nothing), message box and output box.
  function form(prefix, kids) {
    var node = el("form", { class: "lc-widget__form " + prefix + "__form", novalidate: "" }, kids);
    node.addEventListener("submit", function (e) { e.preventDefault(); });
    return node;
  }

  function msgBox(prefix) {
    return el("div", { class: "lc-widget__msg " + prefix + "__msg", role: "alert", "aria-live": "polite" });
  }

  // The results: announced when they change (aria-live) and reachable from the keyboard when they
  // scroll sideways (tabindex), as a named region.
  function outBox(prefix, attrs) {
    var a = { class: "lc-widget__out " + prefix + "__out", "aria-live": "polite", tabindex: "0",
              role: "region", "aria-label": "Results" };
    Object.keys(attrs || {}).forEach(function (k) { a[k] = attrs[k]; });
    return el("div", a);
  }

  // Marks input valid or not from a parse result {value} or {error}; collects the error.
  function check(input, r, errors) {
    input.setAttribute("aria-invalid", r.error ? "true" : "false");
    if (r.error) errors.push(r.error);
    return r;
  }

  // Sets root's data-state and, if there are errors, lists them in msg (already emptied).
  // Returns whether there were errors. A widget then leaves its output as it was: the last good
  // result stays in place, greyed by widgets.css (data-state="error"), so nothing below it moves.
  function showErrors(root, msg, errors, intro) {
    root.dataset.state = errors.length ? "error" : "ok";
    if (!errors.length) return false;
    msg.appendChild(el("p", {}, [intro || "Fix the input to see results:"]));
    msg.appendChild(el("ul", {}, errors.map(function (e) { return el("li", {}, [e]); })));
    return true;
  }

  // ------------------------------------------------------------------ formatting
  //
  // One formatter, the same as longctx.units.FORMATS (tests/browser/test_widgets_lib.py compares
  // them on random values): "bytes" and "flops" in decimal prefixes with two decimals and
  // thousands separators, a value that would round up to 1,000 of one prefix written with the
  // next ("1.00 TB"), no exponent however large ("12,300.00 EB").

  var EN = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  var DECIMAL = [[1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];

  // Python's f"{v:,.{digits}f}": the exact binary value rounded, a tie to even; never an exponent.
  function fixed(v, digits, noGrouping) {
    var a = Math.abs(v), t;
    if (a >= 1e21) {  // toFixed switches to an exponent here: a double this large is a whole number, written exactly
      t = BigInt(a).toString() + (digits ? "." + "0".repeat(digits) : "");
    } else {
      t = a.toFixed(digits);  // the exact binary value rounded; a tie goes up
      var full = a.toFixed(Math.min(100, digits + 60)), cut = full.indexOf(".") + 1 + digits;
      if (/^50*$/.test(full.slice(cut))) {  // an exact tie: Python keeps the even digit
        var down = full.slice(0, digits ? cut : cut - 1);
        if (Number(down.charAt(down.length - 1)) % 2 === 0) t = down;
      }
    }
    var dot = t.indexOf(".");
    var whole = dot < 0 ? t : t.slice(0, dot), frac = dot < 0 ? "" : t.slice(dot);
    if (!noGrouping) whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (v < 0 && Number(t) !== 0 ? "-" : "") + whole + frac;
  }

  // longctx.units.FORMATS["int"]: f"{round(v):,}" (a tie to even, as Python's round).
  function fmtInt(v) { return fixed(v, 0); }

  // longctx.units._scaled over the decimal prefixes: unit "B" or "FLOP".
  function fmtScaled(v, unit) {
    var mag = Math.abs(v), sizes = DECIMAL.map(function (s) { return s[0]; }).concat([1]);
    var i = 0;
    while (i < sizes.length - 1 && mag < sizes[i]) i++;
    if (i > 0 && Number((mag / sizes[i]).toFixed(2)) >= sizes[i - 1] / sizes[i]) i--;
    if (i < DECIMAL.length) return fixed(v / sizes[i], 2) + " " + DECIMAL[i][1] + unit;
    return (Number.isInteger(v) ? fmtInt(v) : fixed(v, 2)) + " " + unit;
  }

  // longctx.units.FORMATS["x"]: "16×", "0.25×", "1,024×".
  function fmtTimes(v) { return (v === Math.round(v) ? fixed(v, 0) : fixed(v, 2)) + "\u00d7"; }

  // longctx.units.FORMATS["pct"]: "12.5%".
  function fmtPct(v) { return fixed(100 * v, 1, true) + "%"; }

  // The formats of longctx.units by name ("bytes", "flops", "int", "float", "x", "pct").
  var FORMATS = {
    bytes: function (v) { return fmtScaled(v, "B"); },
    flops: function (v) { return fmtScaled(v, "FLOP"); },
    int: fmtInt,
    float: function (v) { return fixed(v, 2); },
    x: fmtTimes,
    pct: fmtPct,
  };
  function format(v, name) { return FORMATS[name](v); }

  // A duration in seconds: "850 µs", "11.6 ms", "2.40 s", "3.5 min", "2.1 h", "4.0 days", "1,068,000 years".
  function fmtDuration(s) {
    if (s < 1e-3) return fixed(s * 1e6, s < 1e-5 ? 2 : 1) + " \u00b5s";
    if (s < 1) return fixed(s * 1e3, 1) + " ms";
    if (s < 60) return fixed(s, 2) + " s";
    if (s < 3600) return fixed(s / 60, 1) + " min";
    if (s < 86400) return fixed(s / 3600, 1) + " h";
    if (s < 86400 * 365.25) return fixed(s / 86400, 1) + " days";
    return fixed(s / (86400 * 365.25), 0) + " years";
  }

  // A rate: "1,234" from 100 up, else three significant digits without an exponent ("0.0000297").
  function fmtRate(v) {
    if (v >= 100) return fmtInt(v);
    if (v === 0) return "0";
    var digits = Math.min(20, Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v)))));
    return fixed(v, digits);
  }

  // 131072 -> "128K", 1048576 -> "1M"; other lengths through rest (default fmtInt: "100,000").
  function fmtLength(n, rest) {
    if (n >= 1048576 && n % 1048576 === 0) return n / 1048576 + "M";
    if (n >= 1024 && n % 1024 === 0) return n / 1024 + "K";
    return (rest || fmtInt)(n);
  }

  // ------------------------------------------------------------------ parsing
  //
  // One parser for every field that takes one number. Accepted: digits ("4096"), thousands
  // separated by commas, spaces or "_" ("4,096", "4 096", "4_096"), a decimal point where the field
  // takes fractions, an exponent ("1e6"), K, M or G for 1,024, 1,048,576 and 1,073,741,824 where
  // the field counts tokens or elements ("4K"), and a unit word after the number ("4096 tokens",
  // "80 GB"). Full-width digits and the minus sign U+2212 are read as their ASCII forms.

  var SUFFIX = { "": 1, k: 1024, m: 1048576, g: 1073741824 };  // 4K = 4,096 tokens
  var NUMBER = /^([-+]?)(\d{1,3}(?:[,\s]\d{3})+|\d*)(\.\d*)?(?:e([-+]?\d+))?\s*(?:([kmg])(?![a-z]))?\s*([a-z][a-z/]*)?$/i;
  // Unit words a reader may write after a number ("4096 tokens", "80 GB"): read, then ignored.
  var UNITS = /^(tokens?|sequences?|seqs?|layers?|heads?|keys?|quer(y|ies)|positions?|features?|elements?|channels?|dims?|gb|gib|gb\/s|gbps|bytes?|b)$/i;

  function forms(opts) {
    return "write digits, e.g. " + (opts.integer === false ? "80, 13.5" : "4096") + ", 4,096" +
           (opts.suffix === false ? "" : ", 4K (K = 1,024)") + " or 1e6";
  }

  // Returns {value} or {error}; every error starts with label and says what the field accepts. opts:
  //   max       the largest value taken (required)
  //   min       the smallest (default 1; 0 for fields that take zero)
  //   integer   whether only whole numbers are taken (default true)
  //   suffix    whether K, M and G are taken (default true for whole numbers, false otherwise)
  //   positive  with min 0 and integer false: the value must be more than 0
  //   optional  an empty field gives {value: null} instead of an error
  //   what      who refuses too large a value: "this calculator" (default), "this lab", ...
  function parseNumber(text, label, opts) {
    opts = opts || {};
    var integer = opts.integer !== false;
    var o = { integer: integer, suffix: opts.suffix === undefined ? integer : opts.suffix };
    var min = opts.min === undefined ? 1 : opts.min;
    var t = String(text).normalize("NFKC").replace(/\u2212/g, "-").replace(/_/g, "").trim();
    if (t === "") {
      return opts.optional ? { value: null } : { error: label + ": enter a number; " + forms(o) + "." };
    }
    var m = NUMBER.exec(t);
    if (!m || (m[2] === "" && !(m[3] && m[3].length > 1)) || (m[5] && !o.suffix) || (m[6] && !UNITS.test(m[6]))) {
      var why = m && m[5] && !o.suffix ? " (K, M and G are for counts of tokens, not this field)" : "";
      return { error: label + ": not a number" + why + "; " + forms(o) + "." };
    }
    var value = Number(m[1] + m[2].replace(/[,\s]/g, "") + (m[3] || "") + (m[4] ? "e" + m[4] : "")) *
                SUFFIX[(m[5] || "").toLowerCase()];
    if (!isFinite(value)) {
      return { error: label + ": " + t + " is more than " + (opts.what || "this calculator") +
                      " takes (at most " + fmtInt(opts.max) + ")." };
    }
    if (integer && !Number.isInteger(value)) {
      return { error: label + ": must be a whole number (got " + t + ")." };
    }
    if (value < min || (opts.positive && value <= 0)) {
      return { error: label + ": must be " + (opts.positive && min <= 0 ? "more than 0" : "at least " + fmtInt(min)) +
                      " (got " + t + ")." };
    }
    if (!(value <= opts.max)) {
      return { error: label + ": " + t + " is more than " + (opts.what || "this calculator") +
                      " takes (at most " + fmtInt(opts.max) + ")." };
    }
    return { value: value };
  }

  // The widgets' older name for parseNumber on whole numbers.
  function parseCount(text, label, opts) { return parseNumber(text, label, opts); }

  // Sequence lengths separated by spaces, commas or semicolons, each read by parseNumber. opts: max
  // (per length), maxCount (how many at once), what (as for parseNumber). Returns {value: [...]} or {error}.
  function parseLengths(text, opts) {
    var t = String(text).trim();
    if (t === "") return { error: "Sequence lengths: enter at least one length, e.g. 4K 32K 128K." };
    if (/^\d{1,3}(,\d{3})+$/.test(t)) {
      return { error: "Sequence lengths: commas separate lengths, so write " + t.replace(/,/g, "") +
               " (or use K and M) rather than " + t + "." };
    }
    var parts = t.split(/[\s,;]+/).filter(function (p) { return p !== "" && !/^tokens?$/i.test(p); });
    if (parts.length > opts.maxCount) {
      return { error: "Sequence lengths: at most " + opts.maxCount + " at once (got " + parts.length + ")." };
    }
    var values = [];
    for (var i = 0; i < parts.length; i++) {
      var r = parseNumber(parts[i], "Sequence length", { max: opts.max, what: opts.what });
      if (r.error) return r;
      values.push(r.value);
    }
    return { value: values };
  }

  // ------------------------------------------------------------------ state kept
  //
  // A widget's inputs survive a reload (localStorage) and travel in the address (a shareable
  // link): "?kv.context=128K&kv.preset=llama-3-8b". The address wins over storage, storage over
  // the page's start values. Storage that is refused only loses the reload part.

  // Fills form's named inputs and selects from the address and from storage (name "kv" for the
  // keys "kv.<field>"); returns {saved, names}: the values applied and which came from the reader.
  // Then keep(form, name) writes them back on every change.
  function restore(form, name) {
    var saved = quiz.storageGet("longctx-widget:" + name).value || {};  // the same guarded storage as the quizzes
    var params = new URLSearchParams(window.location.search);
    var applied = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name) return;
      var fromUrl = params.get(name + "." + input.name);
      var v = fromUrl !== null ? fromUrl : saved[input.name];
      if (v === undefined || v === null) return;
      if (input.type === "checkbox") input.checked = v === true || v === "true" || v === "1";
      else if (input.tagName === "SELECT") {
        if (Array.prototype.some.call(input.options, function (o) { return o.value === String(v); })) input.value = String(v);
        else return;
      } else input.value = String(v);
      applied[input.name] = true;
    });
    return applied;
  }

  function keep(form, name) {
    function save() {
      var values = {};
      Array.prototype.forEach.call(form.elements, function (input) {
        if (!input.name || input.disabled) return;
        values[input.name] = input.type === "checkbox" ? input.checked : input.value;
      });
      quiz.storageSet("longctx-widget:" + name, values);
      var url = new URL(window.location.href);
      Object.keys(values).forEach(function (k) { url.searchParams.set(name + "." + k, String(values[k])); });
      if (url.href === window.location.href) return;  // a field's change event after its input event
      try { window.history.replaceState(window.history.state, "", url.href); } catch (e) { /* file:// */ }
    }
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    return save;
  }

  // ------------------------------------------------------------------ data

  var dataPromise = null;

  function dataUrl() {
    if (SCRIPT_SRC) return new URL("../assets/data/longctx.json", SCRIPT_SRC).href;
    if (typeof __md_scope !== "undefined") return new URL("assets/data/longctx.json", __md_scope).href;
    return new URL("/assets/data/longctx.json", location.href).href;
  }

  // assets/data/longctx.json, fetched once; after a failure a later call tries again.
  function loadData() {
    if (!dataPromise) {
      dataPromise = fetch(dataUrl()).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
      dataPromise.catch(function () { dataPromise = null; });
    }
    return dataPromise;
  }

  // ------------------------------------------------------------------ init

  // Runs fn(document) on every page: on each instant navigation under Material, else once the
  // document is ready.
  function onPage(fn) {
    if (typeof document$ !== "undefined") {
      document$.subscribe(function () { fn(document); });
    } else if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { fn(document); });
    } else {
      fn(document);
    }
  }

  function unbound(selector, scope) {
    return (scope || document).querySelectorAll(selector + ":not([data-lc-ready])");
  }

  function failed(root, prefix, text) {
    root.setAttribute("data-lc-ready", "failed");
    root.replaceChildren(el("p", { class: "lc-widget__msg " + prefix + "__msg" }, [text]));
  }

  // A root is ready once its results are built and, if they are wider than the page, the loader
  // has put its scroll cue above them: a cue added later would move the results down a line.
  function ready(root) {
    if (window.longctxLoader) window.longctxLoader.markScrollBoxes();
    root.setAttribute("data-lc-ready", "true");
  }

  // Builds every root of the page not built yet: build(root). data-lc-ready is "loading" while it
  // runs (so a second init leaves the root alone), then "true". With failText(err), a build that
  // throws leaves "failed" and that message; without, the error propagates.
  function mount(prefix, build, failText) {
    onPage(function (scope) {
      Array.prototype.forEach.call(unbound("." + prefix, scope), function (root) {
        root.setAttribute("data-lc-ready", "loading");
        if (!failText) {
          build(root);
          ready(root);
          return;
        }
        try {
          build(root);
          ready(root);
        } catch (err) {
          failed(root, prefix, failText(err));
        }
      });
    });
  }

  // As mount, for widgets that need longctx.json: build(root, data) once it has loaded (roots
  // are aria-busy meanwhile); if it cannot load, each root shows failText(err).
  function mountWithData(prefix, build, failText) {
    onPage(function (scope) {
      var roots = unbound("." + prefix, scope);
      if (!roots.length) return;
      Array.prototype.forEach.call(roots, function (root) {
        root.setAttribute("data-lc-ready", "loading");
        root.setAttribute("aria-busy", "true");
      });
      loadData().then(function (data) {
        Array.prototype.forEach.call(roots, function (root) {
          if (!root.isConnected) return;  // the reader navigated away meanwhile
          build(root, data);
          root.removeAttribute("aria-busy");
          ready(root);
        });
      }, function (err) {
        Array.prototype.forEach.call(roots, function (root) {
          root.removeAttribute("aria-busy");
          failed(root, prefix, failText(err));
        });
      });
    });
  }

  // For the quizzes: every root matching selector, not yet marked with readyAttr, whose
  // data-quiz attribute holds JSON, becomes quiz--live and gets make(root, data). A root whose
  // JSON does not parse is marked "broken" and keeps its readable HTML. Returns the init function,
  // already bound to every page (under Material and on DOMContentLoaded alike).
  function mountJson(selector, readyAttr, make) {
    function init() {
      var roots = document.querySelectorAll(selector + ":not([" + readyAttr + "])");
      Array.prototype.forEach.call(roots, function (root) {
        root.setAttribute(readyAttr, "true");
        var data;
        try {
          data = JSON.parse(root.getAttribute("data-quiz"));
        } catch (e) {
          root.setAttribute(readyAttr, "broken");   // keep the readable HTML version
          return;
        }
        root.classList.add("quiz--live");
        make(root, data);
      });
    }
    if (typeof document$ !== "undefined" && document$ && typeof document$.subscribe === "function") {
      document$.subscribe(init);
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
    else init();
    return init;
  }

  // ------------------------------------------------------------------ the quiz core
  //
  // What the lesson quizzes (quiz.js) and the module test (module-test.js) share: their stored
  // progress, parsing and judging a typed answer, and small DOM helpers.

  var quiz = (function () {
    var PREFIX = "longctx-quiz:";

    // ---- storage that may be missing or throw on any access --------------------------------
    function storageGet(key) {
      try {
        var raw = window.localStorage.getItem(key);
        return { ok: true, value: raw === null ? null : JSON.parse(raw) };
      } catch (e) {
        return { ok: false, value: null };
      }
    }
    function storageSet(key, value) {
      try {
        if (value === null) window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, JSON.stringify(value));
        return true;
      } catch (e) {
        return false;
      }
    }

    // ---- small DOM helpers --------------------------------------------------------------------
    function el(tag, attrs, text) {
      var node = document.createElement(tag);
      if (attrs) {
        Object.keys(attrs).forEach(function (k) {
          if (k === "className") node.className = attrs[k];
          else node.setAttribute(k, attrs[k]);
        });
      }
      if (text !== undefined && text !== null) node.textContent = String(text);
      return node;
    }
    function typeset(node) {
      if (typeof window.longctxRenderMath === "function") {
        try { window.longctxRenderMath(node); } catch (e) { /* leave the TeX source readable */ }
      }
    }
    function letter(i) { return String.fromCharCode(65 + i); }
    // " Taught in: <a>page › section</a>", for a question whose data names the section.
    function teachesLink(teaches) {
      if (!teaches || !teaches.url) return null;
      var span = el("span", { className: "quiz-teaches" }, " Taught in: ");
      span.appendChild(el("a", { href: teaches.url }, teaches.title || teaches.url));
      return span;
    }
    function withUnit(text, unit) { return /^[A-Za-z0-9]/.test(unit) ? text + " " + unit : text + unit; }

    // ---- numbers typed by a reader -------------------------------------------------------------
    // Accepts "16", "-2.5", "1e10", "1,000,000", "20 GB" (the question's own unit), "16x" for ×.
    // Returns {value} or {error}; never NaN.
    function parseNumber(raw, unit) {
      var s = String(raw).trim();
      if (s === "") return { error: "Type a number first." };
      var u = unit.toLowerCase();
      var lower = s.toLowerCase();
      if (u && lower.slice(-u.length) === u) s = s.slice(0, s.length - u.length).trim();
      else if (unit === "×" && /[x×]$/i.test(s)) s = s.slice(0, -1).trim();
      s = s.replace(/[\s_\u00a0\u202f]/g, "");
      if (/^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$/.test(s)) s = s.replace(/,/g, "");
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) {
        return { error: "\u201c" + String(raw).trim() + "\u201d is not a number. Type digits only, such as 12 or 1.5e3." };
      }
      var value = Number(s);
      if (!Number.isFinite(value)) return { error: "That number is too large." };
      return { value: value };
    }
    function numericCorrect(q, value) {
      return Math.abs(value - q.answer) <= q.tolerance * Math.abs(q.answer) * (1 + 1e-12);
    }
    function shortNumber(v) {
      if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
      return Number(v.toPrecision(6)).toLocaleString("en-US", { maximumFractionDigits: 6 });
    }

    return {
      PREFIX: PREFIX, storageGet: storageGet, storageSet: storageSet, el: el, typeset: typeset,
      letter: letter, withUnit: withUnit, parseNumber: parseNumber, numericCorrect: numericCorrect,
      shortNumber: shortNumber, teachesLink: teachesLink,
    };
  })();

  window.longctxWidgets = {
    el: el, newId: newId, field: field, box: box, select: select, form: form, msgBox: msgBox, outBox: outBox,
    check: check, showErrors: showErrors,
    fmtInt: fmtInt, fmtScaled: fmtScaled, fmtTimes: fmtTimes, fmtPct: fmtPct, fmtLength: fmtLength,
    fmtDuration: fmtDuration, fmtRate: fmtRate, format: format, FORMATS: FORMATS,
    parseNumber: parseNumber, parseCount: parseCount, parseLengths: parseLengths,
    restore: restore, keep: keep, quiz: quiz,
    loadData: loadData, onPage: onPage, mount: mount, mountWithData: mountWithData, mountJson: mountJson,
  };
})();
