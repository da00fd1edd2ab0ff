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

  var W = window.longctxWidgets;
  var el = W.el, fmtInt = W.fmtInt, fmtScaled = W.fmtScaled, fmtTimes = W.fmtTimes, fmtLength = W.fmtLength;

  // Outside these bounds the numbers stop meaning anything (and doubles stop being exact).
  var LIMITS = { n: 1e9, heads: 1024, layers: 1024, head_dim: 16384 };
  var MAX_LENGTHS = 12;

  function count(text, label, max) { return W.parseCount(text, label, { max: max, what: "this calculator" }); }

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

  var COLUMNS = [
    ["multiplier", "\u00d7 cost of reference", fmtTimes],
    ["bytes_head", "scores, 1 head", function (v) { return fmtScaled(v, "B"); }],
    ["bytes_layer", "scores, 1 layer", function (v) { return fmtScaled(v, "B"); }],
    ["bytes_model", "scores, all layers", function (v) { return fmtScaled(v, "B"); }],
    ["flops_layer", "FLOPs, 1 layer", function (v) { return fmtScaled(v, "FLOP"); }],
    ["flops_model", "FLOPs, all layers", function (v) { return fmtScaled(v, "FLOP"); }],
  ];

  // ------------------------------------------------------------------ widget

  function field(name, label, value, hint) { return W.field("lc-calc", name, label, value, hint); }

  function build(root, data) {
    var d = root.dataset;
    var dtypes = data.bytes_per_element;
    var select = W.select("lc-calc", "dtype", Object.keys(dtypes).map(function (name) {
      return [name, name + " (" + dtypes[name] + " B)"]; }), d.dtype || "fp16");
    var causal = el("input", { type: "checkbox", name: "causal", id: W.newId("lc-calc", "causal") });
    causal.checked = d.causal === "true";

    var form = W.form("lc-calc", [
      field("n", "Sequence lengths n", d.n || "4K 32K 128K", "spaces or commas between them; K = 1,024"),
      field("ref", "Reference length", d.ref || "4K", "the \u201c1\u00d7\u201d of the multiplier"),
      field("heads", "Heads per layer", d.heads || "32"),
      field("layers", "Layers", d.layers || "32"),
      field("head_dim", "Head dim d", d.headDim || "128"),
      W.box("lc-calc", { class: "lc-calc__field lc-calc__field--dtype" }, [
        el("label", { for: select.id }, ["Data type"]), select]),
      W.box("lc-calc", { class: "lc-widget__field--check lc-calc__field lc-calc__field--causal" }, [
        causal, el("label", { for: causal.id }, ["causal mask (halves the FLOPs, not the naive memory)"])]),
    ]);

    var msg = W.msgBox("lc-calc");
    var out = W.outBox("lc-calc");
    root.replaceChildren(form, out, msg);  // a message below the results: they do not move
    W.restore(form, "calc");
    W.keep(form, "calc");

    function update() {
      var get = function (name) { return form.elements[name].value; };
      var errors = [];
      var lengths = W.parseLengths(get("n"), { max: LIMITS.n, maxCount: MAX_LENGTHS, what: "this calculator" });
      var parsed = {
        ref: count(get("ref"), "Reference length", LIMITS.n),
        heads: count(get("heads"), "Heads per layer", LIMITS.heads),
        layers: count(get("layers"), "Layers", LIMITS.layers),
        head_dim: count(get("head_dim"), "Head dim", LIMITS.head_dim),
      };
      W.check(form.elements.n, lengths, errors);
      Object.keys(parsed).forEach(function (k) { W.check(form.elements[k], parsed[k], errors); });
      var bytes = dtypes[select.value];
      if (!(typeof bytes === "number" && bytes > 0)) errors.push("Data type: unknown.");

      msg.replaceChildren();
      if (W.showErrors(root, msg, errors)) return;  // the last good result stays, greyed
      out.replaceChildren();

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
      out.appendChild(el("table", { class: "lc-widget__table lc-calc__table" }, [el("thead", {}, [head]),
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

  W.mountWithData("lc-calc", build, function (err) {
    return "The calculator could not load its data (" + err.message + "). Reload the page to try again.";
  });
})();
