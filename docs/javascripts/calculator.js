// Lesson 1's attention-cost calculator.
//
// Fills every <div class="lc-calc"> on a page with a small form and a results table. The
// formulas are those of longctx.costs.attention_cost_summary (the browser tests compare the two
// on random inputs); the bytes per element of each dtype are not restated here but read from
// assets/data/longctx.json, which the build exports from longctx.costs.BYTES_PER_ELEMENT.
//
// Start values come from the div's data attributes: data-n (one or more lengths), data-ref,
// data-heads, data-layers, data-head-dim, data-dtype, data-causal ("true"/"false").
(function () {
  "use strict";

  // Resolved now, while location still is the page that loaded this script: after an instant
  // navigation the relative src attribute would resolve against another page.
  var SCRIPT_SRC = document.currentScript ? document.currentScript.src : null;

  // Outside these bounds the numbers stop meaning anything (and doubles stop being exact).
  var LIMITS = { n: 1e9, heads: 1024, layers: 1024, head_dim: 16384 };
  var MAX_LENGTHS = 12;
  var SUFFIX = { "": 1, k: 1024, m: 1048576 };  // 4K = 4,096 tokens, 1M = 1,048,576

  var dataPromise = null;

  function dataUrl() {
    if (SCRIPT_SRC) return new URL("../assets/data/longctx.json", SCRIPT_SRC).href;
    if (typeof __md_scope !== "undefined") return new URL("assets/data/longctx.json", __md_scope).href;
    return new URL("/assets/data/longctx.json", location.href).href;
  }

  function loadData() {
    if (!dataPromise) {
      dataPromise = fetch(dataUrl()).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
      dataPromise.catch(function () { dataPromise = null; });  // let a later page try again
    }
    return dataPromise;
  }

  // ------------------------------------------------------------------ parsing

  var NUMBER = /^(\d+)\s*([km]?)$/i;

  // A count written as digits, with an optional K or M suffix; "_" may group digits.
  // Returns {value} or {error}.
  function parseCount(text, label, max) {
    var t = String(text).trim().replace(/_/g, "");
    if (t === "") return { error: label + ": enter a value." };
    if (/^[-\u2212]/.test(t)) return { error: label + ": must be at least 1 (got " + t + ")." };
    var m = NUMBER.exec(t);
    if (!m) {
      if (/^\d*[.,]\d+\s*[km]?$/i.test(t) || /^\d+(\.\d*)?e[+-]?\d+$/i.test(t)) {
        return { error: label + ": must be a whole number (got " + t + ")." };
      }
      return { error: label + ": not a number; write digits, e.g. 4096, or use K and M, e.g. 4K." };
    }
    var value = Number(m[1]) * SUFFIX[m[2].toLowerCase()];
    if (value < 1) return { error: label + ": must be at least 1 (got " + t + ")." };
    if (!(value <= max)) {
      return { error: label + ": " + t + " is more than this calculator takes (at most " + fmtInt(max) + ")." };
    }
    return { value: value };
  }

  function parseLengths(text) {
    var t = String(text).trim();
    if (t === "") return { error: "Sequence lengths: enter at least one length." };
    if (/^\d{1,3}(,\d{3})+$/.test(t)) {
      return { error: "Sequence lengths: commas separate lengths, so write " + t.replace(/,/g, "") +
               " (or use K and M) rather than " + t + "." };
    }
    var parts = t.split(/[\s,;]+/).filter(function (p) { return p !== ""; });
    if (parts.length > MAX_LENGTHS) {
      return { error: "Sequence lengths: at most " + MAX_LENGTHS + " at once (got " + parts.length + ")." };
    }
    var values = [];
    for (var i = 0; i < parts.length; i++) {
      var r = parseCount(parts[i], "Sequence length", LIMITS.n);
      if (r.error) return r;
      values.push(r.value);
    }
    return { value: values };
  }

  // ------------------------------------------------------------------ formulas

  // Mirrors longctx.costs.attention_cost_summary.
  function summary(n, ref, heads, layers, headDim, bytes, causal) {
    var pairs = causal ? n * (n + 1) / 2 : n * n;
    var bytesHead = n * n * bytes;
    var flopsHead = 4 * pairs * headDim;
    return {
      entries: n * n,
      bytes_head: bytesHead,
      bytes_layer: bytesHead * heads,
      bytes_model: bytesHead * heads * layers,
      flops_head: flopsHead,
      flops_layer: flopsHead * heads,
      flops_model: flopsHead * heads * layers,
      multiplier: Math.pow(n / ref, 2),
    };
  }

  // ------------------------------------------------------------------ formatting

  var EN = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function fmtInt(v) { return EN.format(v); }

  function fmtScaled(v, unit) {
    var steps = [[1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    if (v >= 1e21) {
      var parts = v.toExponential(2).split("e+");
      return parts[0] + " \u00d7 10^" + parts[1] + " " + unit;
    }
    for (var i = 0; i < steps.length; i++) {
      if (v >= steps[i][0]) return (v / steps[i][0]).toFixed(2) + " " + steps[i][1] + unit;
    }
    return (Number.isInteger(v) ? String(v) : v.toFixed(2)) + " " + unit;
  }

  function fmtTimes(v) {
    if (v >= 100) return fmtInt(Math.round(v)) + "\u00d7";
    if (Number.isInteger(v)) return v + "\u00d7";
    return Number(v.toPrecision(3)) + "\u00d7";
  }

  // 131072 -> "128K", 1048576 -> "1M", 100000 -> "100,000".
  function fmtLength(n) {
    if (n >= 1048576 && n % 1048576 === 0) return n / 1048576 + "M";
    if (n >= 1024 && n % 1024 === 0) return n / 1024 + "K";
    return fmtInt(n);
  }

  var COLUMNS = [
    ["multiplier", "\u00d7 cost of reference", fmtTimes],
    ["bytes_head", "scores, 1 head", function (v) { return fmtScaled(v, "B"); }],
    ["bytes_layer", "scores, 1 layer", function (v) { return fmtScaled(v, "B"); }],
    ["bytes_model", "scores, all layers", function (v) { return fmtScaled(v, "B"); }],
    ["flops_layer", "FLOPs, 1 layer", function (v) { return fmtScaled(v, "FLOP"); }],
    ["flops_model", "FLOPs, all layers", function (v) { return fmtScaled(v, "FLOP"); }],
  ];

  // ------------------------------------------------------------------ widget

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  var uid = 0;

  function field(name, label, value, hint) {
    var id = "lc-calc-" + (++uid) + "-" + name;
    var input = el("input", { id: id, name: name, type: "text", inputmode: "numeric", autocomplete: "off",
                              spellcheck: "false", value: value });
    var kids = [el("label", { for: id }, [label]), input];
    if (hint) kids.push(el("small", {}, [hint]));
    return el("div", { class: "lc-calc__field lc-calc__field--" + name }, kids);
  }

  function build(root, data) {
    var d = root.dataset;
    var dtypes = data.bytes_per_element;
    var select = el("select", { id: "lc-calc-" + (++uid) + "-dtype", name: "dtype" });
    Object.keys(dtypes).forEach(function (name) {
      var opt = el("option", { value: name }, [name + " (" + dtypes[name] + " B)"]);
      if (name === (d.dtype || "fp16")) opt.selected = true;
      select.appendChild(opt);
    });
    var causal = el("input", { type: "checkbox", name: "causal", id: "lc-calc-" + (++uid) + "-causal" });
    causal.checked = d.causal === "true";

    var form = el("form", { class: "lc-calc__form", novalidate: "" }, [
      field("n", "Sequence lengths n", d.n || "4K 32K 128K", "spaces or commas between them; K = 1,024"),
      field("ref", "Reference length", d.ref || "4K", "the \u201c1\u00d7\u201d of the multiplier"),
      field("heads", "Heads per layer", d.heads || "32"),
      field("layers", "Layers", d.layers || "32"),
      field("head_dim", "Head dim d", d.headDim || "128"),
      el("div", { class: "lc-calc__field lc-calc__field--dtype" }, [
        el("label", { for: select.id }, ["Data type"]), select]),
      el("div", { class: "lc-calc__field lc-calc__field--causal" }, [
        causal, el("label", { for: causal.id }, ["causal mask (halves the FLOPs, not the naive memory)"])]),
    ]);
    form.addEventListener("submit", function (e) { e.preventDefault(); });

    var msg = el("div", { class: "lc-calc__msg", role: "alert", "aria-live": "polite" });
    var out = el("div", { class: "lc-calc__out" });
    root.replaceChildren(form, msg, out);

    function update() {
      var get = function (name) { return form.elements[name].value; };
      var errors = [];
      var lengths = parseLengths(get("n"));
      var parsed = {
        ref: parseCount(get("ref"), "Reference length", LIMITS.n),
        heads: parseCount(get("heads"), "Heads per layer", LIMITS.heads),
        layers: parseCount(get("layers"), "Layers", LIMITS.layers),
        head_dim: parseCount(get("head_dim"), "Head dim", LIMITS.head_dim),
      };
      form.elements.n.setAttribute("aria-invalid", lengths.error ? "true" : "false");
      if (lengths.error) errors.push(lengths.error);
      Object.keys(parsed).forEach(function (k) {
        form.elements[k].setAttribute("aria-invalid", parsed[k].error ? "true" : "false");
        if (parsed[k].error) errors.push(parsed[k].error);
      });
      var bytes = dtypes[select.value];
      if (!(typeof bytes === "number" && bytes > 0)) errors.push("Data type: unknown.");

      msg.replaceChildren();
      out.replaceChildren();
      root.dataset.state = errors.length ? "error" : "ok";
      if (errors.length) {
        msg.appendChild(el("p", {}, ["Fix the input to see results:"]));
        msg.appendChild(el("ul", {}, errors.map(function (e) { return el("li", {}, [e]); })));
        return;
      }

      var ref = parsed.ref.value;
      var head = el("tr", {}, [el("th", { scope: "col" }, ["n (tokens)"])].concat(
        COLUMNS.map(function (c) { return el("th", { scope: "col" }, [c[1]]); })));
      var rows = lengths.value.map(function (n) {
        var s = summary(n, ref, parsed.heads.value, parsed.layers.value, parsed.head_dim.value, bytes,
                        causal.checked);
        return el("tr", { "data-n": String(n) }, [el("th", { scope: "row", title: fmtInt(n) + " tokens" }, [fmtLength(n)])].concat(
          COLUMNS.map(function (c) {
            return el("td", { "data-key": c[0], "data-value": String(s[c[0]]) }, [c[2](s[c[0]])]);
          })));
      });
      out.appendChild(el("table", { class: "lc-calc__table" }, [el("thead", {}, [head]),
                                                               el("tbody", {}, rows)]));

      // The longest length against the memory of the GPUs the package knows.
      var longest = Math.max.apply(null, lengths.value);
      var layer = summary(longest, ref, parsed.heads.value, 1, 1, bytes, false).bytes_layer;
      var gpus = data.gpu_memory_bytes || {};
      var items = Object.keys(gpus).map(function (name) {
        var ratio = layer / gpus[name];
        return el("li", { "data-gpu": name }, [
          name + ": ",
          el("span", { "data-key": "gpu_fraction", "data-value": String(ratio) }, [fmtTimes(ratio)]),
          " its memory"]);
      });
      if (items.length) {
        out.appendChild(el("p", { class: "lc-calc__gpu" }, [
          "One layer\u2019s score matrices at n = " + fmtInt(longest) + " (" + fmtScaled(layer, "B") +
          ") are, as a multiple of a GPU\u2019s memory:"]));
        out.appendChild(el("ul", { class: "lc-calc__gpu" }, items));
      }
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  function init(scope) {
    var roots = (scope || document).querySelectorAll(".lc-calc:not([data-lc-ready])");
    if (!roots.length) return;
    Array.prototype.forEach.call(roots, function (root) {
      root.setAttribute("data-lc-ready", "loading");  // guard: a second init leaves it alone
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
        root.setAttribute("data-lc-ready", "failed");
        root.removeAttribute("aria-busy");
        root.replaceChildren(el("p", { class: "lc-calc__msg" }, [
          "The calculator could not load its data (" + err.message + "). Reload the page to try again."]));
      });
    });
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(function () { init(document); });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
