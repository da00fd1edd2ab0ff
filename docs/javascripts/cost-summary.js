// The cost summary's widget (docs/course/cost-summary.md).
//
// Fills every <div class="lc-cost"> with a form and a table of what each attention variant costs,
// one layer and one sequence. The formulas mirror longctx.summary.cost_summary_rows (the browser
// tests compare every cell's data-value with it on random settings). The bytes of each dtype are
// read from assets/data/longctx.json (exported from longctx.costs.BYTES_PER_ELEMENT), and the
// start values and FlashAttention's bytes per row statistic from the div's data attributes, which
// the page writes with longctx.summary at build time.
(function () {
  "use strict";

  // Resolved now: after an instant navigation a relative src would resolve against another page.
  var SCRIPT_SRC = document.currentScript ? document.currentScript.src : null;

  // name, label, data attribute, minimum, maximum, hint
  var FIELDS = [
    ["seq_len", "Sequence length n", "n", 1, 1e9, "K = 1,024, M = 1,048,576"],
    ["head_dim", "Head dim d", "headDim", 1, 16384],
    ["heads", "Query heads h", "heads", 1, 1024],
    ["window", "Window w (per side)", "window", 0, 1e9, "sliding window and BigBird"],
    ["global_tokens", "Global tokens g", "globalTokens", 0, 1e9, "BigBird; at most n"],
    ["random_tokens", "Random keys r", "randomTokens", 0, 1e9, "BigBird, per query"],
    ["feature_dim", "Features F", "featureDim", 1, 65536, "linear attention (elu+1: F = d)"],
    ["state_dim", "SSM state N", "stateDim", 1, 65536, "per channel"],
    ["expand", "SSM expand", "expand", 1, 64, "channels D = expand \u00b7 h d"],
    ["kv_heads", "KV heads G", "kvHeads", 1, 1024, "GQA; must divide h"],
    ["latent_dim", "MLA latent d_c", "latentDim", 1, 65536],
    ["rope_dim", "MLA RoPE key d_rope", "ropeDim", 0, 65536],
  ];
  var SUFFIX = { "": 1, k: 1024, m: 1048576 };
  var NUMBER = /^(\d+)\s*([km]?)$/i;

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
      dataPromise.catch(function () { dataPromise = null; });
    }
    return dataPromise;
  }

  var EN = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  function fmtInt(v) { return EN.format(v); }

  // A whole number, with an optional K or M suffix; "_" may group digits. {value} or {error}.
  function parseCount(text, label, min, max) {
    var t = String(text).trim().replace(/_/g, "");
    if (t === "") return { error: label + ": enter a value." };
    if (/^[-\u2212]/.test(t)) return { error: label + ": must be at least " + min + " (got " + t + ")." };
    if (/^\d{1,3}(,\d{3})+$/.test(t)) t = t.replace(/,/g, "");
    var m = NUMBER.exec(t);
    if (!m) {
      if (/^\d*[.,]\d+\s*[km]?$/i.test(t) || /^\d+(\.\d*)?e[+-]?\d+$/i.test(t)) {
        return { error: label + ": must be a whole number (got " + t + ")." };
      }
      return { error: label + ": not a number; write digits, e.g. 4096, or use K and M, e.g. 4K." };
    }
    var value = Number(m[1]) * SUFFIX[m[2].toLowerCase()];
    if (value < min) return { error: label + ": must be at least " + min + " (got " + t + ")." };
    if (!(value <= max)) {
      return { error: label + ": " + t + " is more than this table takes (at most " + fmtInt(max) + ")." };
    }
    return { value: value };
  }

  // ------------------------------------------------------------------ formulas

  // longctx.costs.sliding_window_pairs: a causal window of w keys back.
  function causalWindowPairs(n, w) {
    return n <= w + 1 ? n * (n + 1) / 2 : (w + 1) * (2 * n - w) / 2;
  }

  // Mirrors longctx.summary.cost_summary_rows (p: parsed settings; b, sb: bytes; lse: bytes per row).
  function rows(p, b, sb, lse) {
    var n = p.seq_len, d = p.head_dim, h = p.heads, w = p.window, g = p.kv_heads;
    var full = 4 * n * n * d * h;
    var scores = h * n * n * b;
    var kv = function (kvHeads, tokens) { return 2 * kvHeads * d * tokens * b; };
    var band = 2 * causalWindowPairs(n, w) - n;
    var G = p.global_tokens, r = p.random_tokens;
    var bird = G * n + (n - G) * Math.min(n, 2 * w + 1 + G + r);
    var F = p.feature_dim;
    var dInner = p.expand * h * d;
    var mlaToken = (p.latent_dim + p.rope_dim) * b;
    function row(key, variant, flops, scoreBytes, perToken, cache, exact, fFlops, fScore, fCache) {
      return { key: key, variant: variant, flops: flops, score_bytes: scoreBytes,
               cache_per_token_bytes: perToken, cache_bytes: cache, exact: exact,
               flops_formula: fFlops, score_formula: fScore, cache_formula: fCache };
    }
    return [
      row("standard", "Standard attention", full, scores, kv(h, 1), kv(h, n), "yes",
          "4 n\u00b2 d h", "h n\u00b2 b", "2 h d n b"),
      row("flash", "FlashAttention", full, h * n * lse, kv(h, 1), kv(h, n), "yes (same result, other rounding)",
          "4 n\u00b2 d h", "h n \u00b7 4 (fp32 log-sum-exp)", "2 h d n b"),
      row("sliding", "Sliding window", 4 * band * d * h, band * h * b, kv(h, 1), kv(h, Math.min(n, w + 1)),
          "no: nothing beyond w", "4 d h \u00b7 pairs, pairs \u2248 n (2w + 1)", "h b \u00b7 pairs",
          "2 h d min(n, w + 1) b"),
      row("bigbird", "BigBird (window + global + random)", 4 * bird * d * h, bird * h * b, kv(h, 1), kv(h, n),
          "no: a sparse pattern", "4 d h \u00b7 pairs, pairs \u2264 g n + (n \u2212 g)(2w + 1 + g + r)",
          "h b \u00b7 pairs", "2 h d n b"),
      row("linear", "Linear attention", 4 * n * F * d * h, 0, 0, h * (F * d + F) * sb, "no: another similarity",
          "4 n F d h", "none", "h (F d + F) s"),
      row("ssm", "SSM (Mamba-style scan)", 6 * n * dInner * p.state_dim, 0, 0, dInner * p.state_dim * sb,
          "no: another model", "6 n D N, D = expand \u00b7 h d", "none", "D N s"),
      row("mqa", "MQA (1 KV head)", full, scores, kv(1, 1), kv(1, n), "yes (one shared K, V)",
          "4 n\u00b2 d h", "h n\u00b2 b", "2 d n b"),
      row("gqa", "GQA (G KV heads)", full, scores, kv(g, 1), kv(g, n), "yes (G shared K, V)",
          "4 n\u00b2 d h", "h n\u00b2 b", "2 G d n b"),
      row("mla", "MLA (latent cache)", full, scores, mlaToken, mlaToken * n, "yes (K, V rebuilt from the latent)",
          "4 n\u00b2 d h", "h n\u00b2 b", "(d_c + d_rope) n b"),
    ];
  }

  // ------------------------------------------------------------------ formatting

  function fmtScaled(v, unit) {
    if (v === 0) return "0";
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

  // value key, header, formula key, unit
  var COLUMNS = [
    ["flops", "Forward FLOPs", "flops_formula", "FLOP"],
    ["score_bytes", "Scores stored", "score_formula", "B"],
    ["cache_per_token_bytes", "Cache per token", null, "B"],
    ["cache_bytes", "Decode memory at n", "cache_formula", "B"],
  ];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  var uid = 0;

  function dtypeSelect(name, dtypes, selected) {
    var select = el("select", { id: "lc-cost-" + (++uid) + "-" + name, name: name });
    Object.keys(dtypes).forEach(function (key) {
      var opt = el("option", { value: key }, [key + " (" + dtypes[key] + " B)"]);
      if (key === selected) opt.selected = true;
      select.appendChild(opt);
    });
    return select;
  }

  function build(root, data) {
    var ds = root.dataset;
    var dtypes = data.bytes_per_element;
    var lse = Number(String(ds.lseBytes || "").replace(/,/g, ""));
    var kids = FIELDS.map(function (f) {
      var id = "lc-cost-" + (++uid) + "-" + f[0];
      var start = String(ds[f[2]] || "").replace(/,/g, "");
      var parts = [el("label", { for: id }, [f[1]]),
                   el("input", { id: id, name: f[0], type: "text", inputmode: "numeric", autocomplete: "off",
                                 spellcheck: "false", value: start })];
      if (f[5]) parts.push(el("small", {}, [f[5]]));
      return el("div", { class: "lc-cost__field lc-cost__field--" + f[0] }, parts);
    });
    var dtype = dtypeSelect("dtype", dtypes, ds.dtype || "fp16");
    var stateDtype = dtypeSelect("state_dtype", dtypes, ds.stateDtype || "fp32");
    kids.push(el("div", { class: "lc-cost__field" }, [el("label", { for: dtype.id }, ["Scores and caches b"]), dtype]));
    kids.push(el("div", { class: "lc-cost__field" }, [el("label", { for: stateDtype.id }, ["Recurrent states s"]),
                                                     stateDtype]));
    var form = el("form", { class: "lc-cost__form", novalidate: "" }, kids);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    var msg = el("div", { class: "lc-cost__msg", role: "alert", "aria-live": "polite" });
    var out = el("div", { class: "lc-cost__out" });
    root.replaceChildren(form, msg, out);

    function update() {
      var errors = [], p = {};
      FIELDS.forEach(function (f) {
        var input = form.elements[f[0]];
        var r = parseCount(input.value, f[1], f[3], f[4]);
        input.setAttribute("aria-invalid", r.error ? "true" : "false");
        if (r.error) errors.push(r.error); else p[f[0]] = r.value;
      });
      if (p.seq_len !== undefined && p.global_tokens !== undefined && p.global_tokens > p.seq_len) {
        errors.push("Global tokens g: at most n (got " + fmtInt(p.global_tokens) + " for n = " + fmtInt(p.seq_len) + ").");
        form.elements.global_tokens.setAttribute("aria-invalid", "true");
      }
      if (p.heads !== undefined && p.kv_heads !== undefined && p.heads % p.kv_heads !== 0) {
        errors.push("KV heads G: must divide the " + p.heads + " query heads (got " + p.kv_heads + ").");
        form.elements.kv_heads.setAttribute("aria-invalid", "true");
      }
      var b = dtypes[dtype.value], sb = dtypes[stateDtype.value];
      if (!(typeof b === "number" && b > 0) || !(typeof sb === "number" && sb > 0)) errors.push("Data type: unknown.");
      if (!(lse > 0)) errors.push("The page carries no log-sum-exp size; reload it.");

      msg.replaceChildren();
      out.replaceChildren();
      if (!errors.length) {
        var result = rows(p, b, sb, lse);
        var bad = result.some(function (r) {
          return COLUMNS.some(function (c) { return !isFinite(r[c[0]]); });
        });
        if (bad) errors.push("These settings overflow the browser's numbers; try smaller ones.");
      }
      root.dataset.state = errors.length ? "error" : "ok";
      if (errors.length) {
        msg.appendChild(el("p", {}, ["Fix the input to see results:"]));
        msg.appendChild(el("ul", {}, errors.map(function (e) { return el("li", {}, [e]); })));
        return;
      }
      var head = el("tr", {}, [el("th", { scope: "col" }, ["Variant"])].concat(
        COLUMNS.map(function (c) { return el("th", { scope: "col" }, [c[1]]); }),
        [el("th", { scope: "col" }, ["Exact?"])]));
      var body = result.map(function (r) {
        return el("tr", { "data-variant": r.key }, [el("th", { scope: "row" }, [r.variant])].concat(
          COLUMNS.map(function (c) {
            var cell = [el("span", { class: "lc-cost__value" }, [fmtScaled(r[c[0]], c[3])])];
            if (c[2]) cell.push(el("small", { class: "lc-cost__formula" }, [r[c[2]]]));
            return el("td", { "data-key": c[0], "data-value": String(r[c[0]]) }, cell);
          }),
          [el("td", { "data-key": "exact" }, [r.exact])]));
      });
      out.appendChild(el("table", { class: "lc-cost__table" }, [el("thead", {}, [head]), el("tbody", {}, body)]));
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  function init(scope) {
    var roots = (scope || document).querySelectorAll(".lc-cost:not([data-lc-ready])");
    if (!roots.length) return;
    Array.prototype.forEach.call(roots, function (root) {
      root.setAttribute("data-lc-ready", "loading");  // guard: a second init leaves it alone
      root.setAttribute("aria-busy", "true");
    });
    loadData().then(function (data) {
      Array.prototype.forEach.call(roots, function (root) {
        if (!root.isConnected) return;
        build(root, data);
        root.setAttribute("data-lc-ready", "true");
        root.removeAttribute("aria-busy");
      });
    }, function (err) {
      Array.prototype.forEach.call(roots, function (root) {
        root.setAttribute("data-lc-ready", "failed");
        root.removeAttribute("aria-busy");
        root.replaceChildren(el("p", { class: "lc-cost__msg" }, [
          "The table could not load its data (" + err.message + "). Reload the page to try again."]));
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
