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

  var W = window.longctxWidgets;
  var el = W.el, fmtInt = W.fmtInt;

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

  function parseCount(text, label, min, max) {
    return W.parseNumber(text, label, { min: min, max: max, what: "this table" });
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

  var fmtScaled = W.fmtScaled;

  // value key, header, formula key, unit
  var COLUMNS = [
    ["flops", "Forward FLOPs", "flops_formula", "FLOP"],
    ["score_bytes", "Scores stored", "score_formula", "B"],
    ["cache_per_token_bytes", "Cache per token", null, "B"],
    ["cache_bytes", "Decode memory at n", "cache_formula", "B"],
  ];

  function dtypeSelect(name, dtypes, selected) {
    return W.select("lc-cost", name, Object.keys(dtypes).map(function (key) {
      return [key, key + " (" + dtypes[key] + " B)"]; }), selected);
  }

  function build(root, data) {
    var ds = root.dataset;
    var dtypes = data.bytes_per_element;
    var lse = Number(String(ds.lseBytes || "").replace(/,/g, ""));
    var kids = FIELDS.map(function (f) {
      return W.field("lc-cost", f[0], f[1], String(ds[f[2]] || "").replace(/,/g, ""), f[5]);
    });
    var dtype = dtypeSelect("dtype", dtypes, ds.dtype || "fp16");
    var stateDtype = dtypeSelect("state_dtype", dtypes, ds.stateDtype || "fp32");
    kids.push(W.box("lc-cost", {}, [el("label", { for: dtype.id }, ["Scores and caches b"]), dtype]));
    kids.push(W.box("lc-cost", {}, [el("label", { for: stateDtype.id }, ["Recurrent states s"]), stateDtype]));
    var form = W.form("lc-cost", kids);
    var msg = W.msgBox("lc-cost");
    var out = W.outBox("lc-cost");
    root.replaceChildren(form, out, msg);  // a message below the results: they do not move
    W.restore(form, "cost");
    W.keep(form, "cost");

    function update() {
      var errors = [], p = {};
      FIELDS.forEach(function (f) {
        var input = form.elements[f[0]];
        var r = W.check(input, parseCount(input.value, f[1], f[3], f[4]), errors);
        if (!r.error) p[f[0]] = r.value;
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
      if (!errors.length) {
        var result = rows(p, b, sb, lse);
        var bad = result.some(function (r) {
          return COLUMNS.some(function (c) { return !isFinite(r[c[0]]); });
        });
        if (bad) errors.push("These settings overflow the browser's numbers; try smaller ones.");
      }
      if (W.showErrors(root, msg, errors)) return;  // the last good result stays, greyed
      out.replaceChildren();
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

  W.mountWithData("lc-cost", build, function (err) {
    return "The table could not load its data (" + err.message + "). Reload the page to try again.";
  });
})();
