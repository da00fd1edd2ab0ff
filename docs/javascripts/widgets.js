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

  function outBox(prefix, attrs) {
    var a = { class: "lc-widget__out " + prefix + "__out" };
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
  // Returns whether there were errors.
  function showErrors(root, msg, errors, intro) {
    root.dataset.state = errors.length ? "error" : "ok";
    if (!errors.length) return false;
    msg.appendChild(el("p", {}, [intro || "Fix the input to see results:"]));
    msg.appendChild(el("ul", {}, errors.map(function (e) { return el("li", {}, [e]); })));
    return true;
  }

  // ------------------------------------------------------------------ formatting

  var EN = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function fmtInt(v) { return EN.format(v); }

  // 1.5e9 -> "1.50 GB" with unit "B", "1.50 GFLOP" with unit "FLOP"; from 1e21 in powers of ten.
  // A value that would round up to 1000 of one prefix takes the next ("1.00 TB", not "1000.00 GB"),
  // as longctx.units does.
  function fmtScaled(v, unit) {
    var steps = [[1e21, null], [1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""]];
    var i = 0;
    while (i < steps.length - 1 && v < steps[i][0]) i++;
    if (i > 0 && Number((v / steps[i][0]).toFixed(2)) >= 1000) i--;
    if (i === 0) {
      var parts = v.toExponential(2).split("e+");
      return parts[0] + " \u00d7 10^" + parts[1] + " " + unit;
    }
    if (i === steps.length - 1 && Number.isInteger(v)) return String(v) + " " + unit;
    return (v / steps[i][0]).toFixed(2) + " " + steps[i][1] + unit;
  }

  // A ratio: "16×", "0.25×", "1,024×".
  function fmtTimes(v) {
    if (v >= 100) return fmtInt(Math.round(v)) + "\u00d7";
    return Number(v.toPrecision(3)) + "\u00d7";
  }

  // 131072 -> "128K", 1048576 -> "1M"; other lengths through rest (default fmtInt: "100,000").
  function fmtLength(n, rest) {
    if (n >= 1048576 && n % 1048576 === 0) return n / 1048576 + "M";
    if (n >= 1024 && n % 1024 === 0) return n / 1024 + "K";
    return (rest || fmtInt)(n);
  }

  // ------------------------------------------------------------------ parsing

  var SUFFIX = { "": 1, k: 1024, m: 1048576 };  // 4K = 4,096 tokens, 1M = 1,048,576

  // A count written as digits, "_" between them allowed, with an optional K or M suffix.
  // Returns {value} or {error}; every error starts with label. opts:
  //   max       the largest value taken (required)
  //   min       the smallest (default 1)
  //   suffix    whether K and M are allowed (default true)
  //   optional  an empty field gives {value: null} instead of an error
  //   commas    "1,000,000" is read as one number
  //   what      who refuses too large a value: "this calculator" (default), "this lab", ...
  //   example   what to write instead of a non-number (default: digits, or K and M)
  function parseCount(text, label, opts) {
    var min = opts.min === undefined ? 1 : opts.min;
    var suffix = opts.suffix !== false;
    var t = String(text).trim().replace(/_/g, "");
    if (t === "") return opts.optional ? { value: null } : { error: label + ": enter a value." };
    if (/^[-\u2212]/.test(t)) return { error: label + ": must be at least " + min + " (got " + t + ")." };
    if (opts.commas && /^\d{1,3}(,\d{3})+$/.test(t)) t = t.replace(/,/g, "");
    var m = (suffix ? /^(\d+)\s*([km]?)$/i : /^(\d+)()$/).exec(t);
    if (!m) {
      if (/^\d*[.,]\d+\s*[km]?$/i.test(t) || /^\d+(\.\d*)?e[+-]?\d+$/i.test(t)) {
        return { error: label + ": must be a whole number (got " + t + ")." };
      }
      return { error: label + ": not a number; " +
                      (opts.example || "write digits, e.g. 4096, or use K and M, e.g. 4K.") };
    }
    var value = Number(m[1]) * SUFFIX[m[2].toLowerCase()];
    if (value < min) return { error: label + ": must be at least " + min + " (got " + t + ")." };
    if (!(value <= opts.max)) {
      return { error: label + ": " + t + " is more than " + (opts.what || "this calculator") +
                      " takes (at most " + fmtInt(opts.max) + ")." };
    }
    return { value: value };
  }

  // Sequence lengths separated by spaces, commas or semicolons. opts: max (per length),
  // maxCount (how many at once), what (as for parseCount). Returns {value: [...]} or {error}.
  function parseLengths(text, opts) {
    var t = String(text).trim();
    if (t === "") return { error: "Sequence lengths: enter at least one length." };
    if (/^\d{1,3}(,\d{3})+$/.test(t)) {
      return { error: "Sequence lengths: commas separate lengths, so write " + t.replace(/,/g, "") +
               " (or use K and M) rather than " + t + "." };
    }
    var parts = t.split(/[\s,;]+/).filter(function (p) { return p !== ""; });
    if (parts.length > opts.maxCount) {
      return { error: "Sequence lengths: at most " + opts.maxCount + " at once (got " + parts.length + ")." };
    }
    var values = [];
    for (var i = 0; i < parts.length; i++) {
      var r = parseCount(parts[i], "Sequence length", { max: opts.max, what: opts.what });
      if (r.error) return r;
      values.push(r.value);
    }
    return { value: values };
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

  // Builds every root of the page not built yet: build(root). data-lc-ready is "loading" while it
  // runs (so a second init leaves the root alone), then "true". With failText(err), a build that
  // throws leaves "failed" and that message; without, the error propagates.
  function mount(prefix, build, failText) {
    onPage(function (scope) {
      Array.prototype.forEach.call(unbound("." + prefix, scope), function (root) {
        root.setAttribute("data-lc-ready", "loading");
        if (!failText) {
          build(root);
          root.setAttribute("data-lc-ready", "true");
          return;
        }
        try {
          build(root);
          root.setAttribute("data-lc-ready", "true");
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
          root.setAttribute("data-lc-ready", "true");
          root.removeAttribute("aria-busy");
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

  window.longctxWidgets = {
    el: el, newId: newId, field: field, box: box, select: select, form: form, msgBox: msgBox, outBox: outBox,
    check: check, showErrors: showErrors,
    fmtInt: fmtInt, fmtScaled: fmtScaled, fmtTimes: fmtTimes, fmtLength: fmtLength,
    parseCount: parseCount, parseLengths: parseLengths,
    loadData: loadData, onPage: onPage, mount: mount, mountWithData: mountWithData, mountJson: mountJson,
  };
})();
