// Lesson 3's crossover lab: softmax attention against linear attention, in forward FLOPs.
//
// Fills every <div class="lc-xover"> with a form, the crossover length and a table. The formulas
// are those of longctx.costs.attention_flops and longctx.linear.costs (linear_attention_flops,
// chunk_pairs, crossover_seq_len); tests/browser/test_lesson03.py compares the two on random
// inputs through the data-value attributes. Nothing is fetched: the formulas need no table.
//
// Start values come from the div's data attributes: data-n (lengths), data-head-dim, data-heads,
// data-feature-map ("elu" or "favor"), data-features (m for FAVOR+), data-causal ("true"/"false"),
// data-chunk (C; empty for the recurrent form).
(function () {
  "use strict";

  // Bounds that keep every count exact in doubles where it must be (the crossover search).
  var LIMITS = { n: 1e8, head_dim: 4096, heads: 1024, features: 65536, chunk: 4096 };
  var MAX_LENGTHS = 12;
  var SUFFIX = { "": 1, k: 1024, m: 1048576 };

  // ------------------------------------------------------------------ parsing

  var NUMBER = /^(\d+)\s*([km]?)$/i;

  function parseCount(text, label, max, optional) {
    var t = String(text).trim().replace(/_/g, "");
    if (t === "") return optional ? { value: null } : { error: label + ": enter a value." };
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
      return { error: label + ": " + t + " is more than this lab takes (at most " + fmtInt(max) + ")." };
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

  // longctx.costs.attention_flops, per head.
  function softmaxFlops(n, d, causal) {
    var pairs = causal ? n * (n + 1) / 2 : n * n;
    return 4 * pairs * d;
  }

  // longctx.linear.costs.chunk_pairs
  function chunkPairs(n, c) {
    var full = Math.floor(n / c), rest = n - full * c;
    return full * c * (c + 1) / 2 + rest * (rest + 1) / 2;
  }

  // longctx.linear.costs.linear_attention_flops, per head. o = {d, f, causal, chunk, projection}
  function linearFlops(n, o) {
    var flops = 4 * n * o.f * o.d;
    if (o.causal && o.chunk !== null) flops += 2 * (o.f + o.d) * chunkPairs(n, o.chunk);
    if (o.projection) flops += 4 * n * o.d * o.f;
    return flops;
  }

  // longctx.linear.costs.crossover_seq_len
  function crossover(o) {
    var k = o.projection ? 2 : 1, n;
    if (!o.causal) {
      n = Math.max(1, o.f * k);
    } else {
      var extra = o.chunk !== null ? (o.f + o.d) * (o.chunk + 1) : 0;
      n = Math.max(1, Math.ceil((4 * o.f * o.d * k + extra) / (2 * o.d)) - 1);
    }
    while (n > 1 && linearFlops(n - 1, o) <= softmaxFlops(n - 1, o.d, o.causal)) n -= 1;
    return n;
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
    return Number(v.toPrecision(3)) + "\u00d7";
  }

  function fmtLength(n) {
    if (n >= 1048576 && n % 1048576 === 0) return n / 1048576 + "M";
    if (n >= 1024 && n % 1024 === 0) return n / 1024 + "K";
    return fmtInt(n);
  }

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
    var id = "lc-xover-" + (++uid) + "-" + name;
    var input = el("input", { id: id, name: name, type: "text", inputmode: "numeric", autocomplete: "off",
                              spellcheck: "false", value: value });
    var kids = [el("label", { for: id }, [label]), input];
    if (hint) kids.push(el("small", {}, [hint]));
    return el("div", { class: "lc-xover__field lc-xover__field--" + name }, kids);
  }

  function build(root) {
    var d = root.dataset;
    var select = el("select", { id: "lc-xover-" + (++uid) + "-map", name: "feature_map" }, [
      el("option", { value: "elu" }, ["elu+1 (F = d)"]),
      el("option", { value: "favor" }, ["FAVOR+ (F = m, plus projection)"]),
    ]);
    select.value = d.featureMap === "favor" ? "favor" : "elu";
    var causal = el("input", { type: "checkbox", name: "causal", id: "lc-xover-" + (++uid) + "-causal" });
    causal.checked = d.causal !== "false";

    var form = el("form", { class: "lc-xover__form", novalidate: "" }, [
      field("n", "Sequence lengths n", d.n || "1K 8K 32K", "spaces or commas between them; K = 1,024"),
      field("head_dim", "Head dim d", d.headDim || "128"),
      field("heads", "Heads per layer", d.heads || "32"),
      el("div", { class: "lc-xover__field lc-xover__field--map" }, [
        el("label", { for: select.id }, ["Feature map"]), select]),
      field("features", "Random features m", d.features || "256", "FAVOR+ only"),
      field("chunk", "Chunk size C", d.chunk === undefined ? "64" : d.chunk, "causal only; empty = recurrent"),
      el("div", { class: "lc-xover__field lc-xover__field--causal" }, [
        causal, el("label", { for: causal.id }, ["causal mask"])]),
    ]);
    form.addEventListener("submit", function (e) { e.preventDefault(); });

    var msg = el("div", { class: "lc-xover__msg", role: "alert", "aria-live": "polite" });
    var out = el("div", { class: "lc-xover__out", "aria-live": "polite" });
    root.replaceChildren(form, msg, out);

    function update() {
      var favor = select.value === "favor";
      form.elements.features.disabled = !favor;
      form.elements.chunk.disabled = !causal.checked;
      var get = function (name) { return form.elements[name].value; };
      var errors = [];
      var lengths = parseLengths(get("n"));
      var parsed = {
        head_dim: parseCount(get("head_dim"), "Head dim", LIMITS.head_dim),
        heads: parseCount(get("heads"), "Heads per layer", LIMITS.heads),
        features: favor ? parseCount(get("features"), "Random features", LIMITS.features) : { value: null },
        chunk: causal.checked ? parseCount(get("chunk"), "Chunk size", LIMITS.chunk, true) : { value: null },
      };
      form.elements.n.setAttribute("aria-invalid", lengths.error ? "true" : "false");
      if (lengths.error) errors.push(lengths.error);
      Object.keys(parsed).forEach(function (k) {
        form.elements[k].setAttribute("aria-invalid", parsed[k].error ? "true" : "false");
        if (parsed[k].error) errors.push(parsed[k].error);
      });

      msg.replaceChildren();
      out.replaceChildren();
      root.dataset.state = errors.length ? "error" : "ok";
      if (errors.length) {
        msg.appendChild(el("p", {}, ["Fix the input to see results:"]));
        msg.appendChild(el("ul", {}, errors.map(function (e) { return el("li", {}, [e]); })));
        return;
      }

      var hd = parsed.head_dim.value, heads = parsed.heads.value;
      var o = { d: hd, f: favor ? parsed.features.value : hd, causal: causal.checked,
                chunk: parsed.chunk.value, projection: favor };
      var cross = crossover(o);
      var form_ = !o.causal ? "associative form" : (o.chunk === null ? "recurrent form" : "chunks of " + fmtInt(o.chunk));
      out.appendChild(el("p", { class: "lc-xover__cross" }, [
        "Crossover: linear attention needs no more FLOPs than softmax attention from n = ",
        el("strong", { "data-key": "crossover", "data-value": String(cross) }, [fmtInt(cross)]),
        " tokens on (" + (o.causal ? "causal" : "no mask") + ", " + form_ + ", F = " + fmtInt(o.f) + ")."]));

      var head = el("tr", {}, [
        el("th", { scope: "col" }, ["n (tokens)"]),
        el("th", { scope: "col" }, ["softmax attention, 1 layer"]),
        el("th", { scope: "col" }, ["linear attention, 1 layer"]),
        el("th", { scope: "col" }, ["softmax \u00f7 linear"]),
        el("th", { scope: "col" }, ["cheaper"]),
      ]);
      var rows = lengths.value.map(function (n) {
        var s = softmaxFlops(n, hd, o.causal) * heads, l = linearFlops(n, o) * heads, r = s / l;
        var cheaper = r > 1 ? "linear" : (r < 1 ? "softmax" : "equal");
        return el("tr", { "data-n": String(n) }, [
          el("th", { scope: "row", title: fmtInt(n) + " tokens" }, [fmtLength(n)]),
          el("td", { "data-key": "softmax_flops", "data-value": String(s) }, [fmtScaled(s, "FLOP")]),
          el("td", { "data-key": "linear_flops", "data-value": String(l) }, [fmtScaled(l, "FLOP")]),
          el("td", { "data-key": "ratio", "data-value": String(r) }, [fmtTimes(r)]),
          el("td", { "data-key": "cheaper", class: "lc-xover__" + cheaper }, [cheaper]),
        ]);
      });
      out.appendChild(el("table", { class: "lc-xover__table" }, [el("thead", {}, [head]), el("tbody", {}, rows)]));
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  function init(scope) {
    var roots = (scope || document).querySelectorAll(".lc-xover:not([data-lc-ready])");
    Array.prototype.forEach.call(roots, function (root) {
      root.setAttribute("data-lc-ready", "loading");  // guard: a second init leaves it alone
      build(root);
      root.setAttribute("data-lc-ready", "true");
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
