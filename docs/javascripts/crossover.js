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

  var W = window.longctxWidgets;
  var el = W.el, fmtInt = W.fmtInt, fmtScaled = W.fmtScaled, fmtTimes = W.fmtTimes, fmtLength = W.fmtLength;

  // Bounds that keep every count exact in doubles where it must be (the crossover search).
  var LIMITS = { n: 1e8, head_dim: 4096, heads: 1024, features: 65536, chunk: 4096 };
  var MAX_LENGTHS = 12;

  function parseCount(text, label, max, optional) {
    return W.parseCount(text, label, { max: max, optional: optional, what: "this lab" });
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

  // ------------------------------------------------------------------ widget

  function field(name, label, value, hint) { return W.field("lc-xover", name, label, value, hint); }

  function build(root) {
    var d = root.dataset;
    var select = el("select", { id: W.newId("lc-xover", "map"), name: "feature_map" }, [
      el("option", { value: "elu" }, ["elu+1 (F = d)"]),
      el("option", { value: "favor" }, ["FAVOR+ (F = m, plus projection)"]),
    ]);
    select.value = d.featureMap === "favor" ? "favor" : "elu";
    var causal = el("input", { type: "checkbox", name: "causal", id: W.newId("lc-xover", "causal") });
    causal.checked = d.causal !== "false";

    var form = W.form("lc-xover", [
      field("n", "Sequence lengths n", d.n || "1K 8K 32K", "spaces or commas between them; K = 1,024"),
      field("head_dim", "Head dim d", d.headDim || "128"),
      field("heads", "Heads per layer", d.heads || "32"),
      W.box("lc-xover", { class: "lc-xover__field lc-xover__field--map" }, [
        el("label", { for: select.id }, ["Feature map"]), select]),
      field("features", "Random features m", d.features || "256", "FAVOR+ only"),
      field("chunk", "Chunk size C", d.chunk === undefined ? "64" : d.chunk, "causal only; empty = recurrent"),
      W.box("lc-xover", { class: "lc-widget__field--check lc-xover__field lc-xover__field--causal" }, [
        causal, el("label", { for: causal.id }, ["causal mask"])]),
    ]);

    var msg = W.msgBox("lc-xover");
    var out = W.outBox("lc-xover");
    root.replaceChildren(form, out, msg);  // a message below the results: they do not move
    W.restore(form, "xover");
    W.keep(form, "xover");

    function update() {
      var favor = select.value === "favor";
      form.elements.features.disabled = !favor;
      form.elements.chunk.disabled = !causal.checked;
      var get = function (name) { return form.elements[name].value; };
      var errors = [];
      var lengths = W.parseLengths(get("n"), { max: LIMITS.n, maxCount: MAX_LENGTHS, what: "this lab" });
      var parsed = {
        head_dim: parseCount(get("head_dim"), "Head dim", LIMITS.head_dim),
        heads: parseCount(get("heads"), "Heads per layer", LIMITS.heads),
        features: favor ? parseCount(get("features"), "Random features", LIMITS.features) : { value: null },
        chunk: causal.checked ? parseCount(get("chunk"), "Chunk size", LIMITS.chunk, true) : { value: null },
      };
      W.check(form.elements.n, lengths, errors);
      Object.keys(parsed).forEach(function (k) { W.check(form.elements[k], parsed[k], errors); });

      msg.replaceChildren();
      if (W.showErrors(root, msg, errors)) return;  // the last good result stays, greyed
      out.replaceChildren();

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
      out.appendChild(el("table", { class: "lc-widget__table lc-xover__table" }, [el("thead", {}, [head]), el("tbody", {}, rows)]));
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  W.mount("lc-xover", build);
})();
