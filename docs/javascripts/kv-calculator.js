// Lesson 4's KV-cache calculator.
//
// Fills every <div class="lc-kv"> on a page with a form and its results. The formulas are those of
// longctx.costs (kv_cache_bytes_per_token, mla_cache_bytes_per_token, kv_cache_bytes,
// sequences_that_fit, decode_time_per_token_s) and longctx.presets.kv_bytes_per_token; the browser
// tests compare them on random inputs and on every preset. Nothing the package owns is restated:
// the model presets (with their sources), the bytes per element of each data type and the GPUs'
// memory and bandwidth are read from assets/data/longctx.json, which the build exports.
//
// Start values come from the div's data attributes: data-preset (a preset key), data-context,
// data-batch, data-gpu (a GPU name of the JSON), data-weights-gb, data-dtype, data-weights-dtype.
//
// A preset sets the model's shape and its weights (the preset's parameter count times the bytes
// of the weights' data type, longctx.costs.parameter_bytes); it sets the context to the model's
// own only while the reader has not typed one. Inputs are kept across reloads and in the address.
(function () {
  "use strict";

  var W = window.longctxWidgets;
  var el = W.el, fmtInt = W.fmtInt;

  // Outside these bounds the numbers stop meaning anything.
  var LIMITS = { layers: 1024, heads: 1024, head_dim: 16384, latent_dim: 65536, rope_dim: 16384,
                 context: 1e9, batch: 1e6, gb: 1e6, bandwidth: 1e6 };
  var DTYPES = ["fp32", "fp16", "bf16", "fp8", "int8", "int4"];  // shown if the JSON has them

  // ------------------------------------------------------------------ parsing

  // Every field through the widgets' one parser: whole numbers (K = 1,024 where allowSuffix) ...
  function parseCount(text, label, max, min, allowSuffix) {
    return W.parseNumber(text, label, { max: max, min: min, suffix: allowSuffix });
  }

  // ... and amounts in GB or GB/s, fractions allowed. positive: must be more than 0.
  function parseAmount(text, label, max, positive) {
    return W.parseNumber(text, label, { max: max, min: 0, integer: false, positive: positive });
  }

  // ------------------------------------------------------------------ formulas

  // longctx.costs.kv_cache_bytes_per_token / mla_cache_bytes_per_token.
  function bytesPerToken(s, bpe) {
    if (s.attention === "mla") return s.layers * (s.latent_dim + s.rope_dim) * bpe;
    return 2 * s.layers * s.kv_heads * s.head_dim * bpe;
  }

  function results(s, bpe, ctx, batch, memoryBytes, weightBytes, bandwidth) {
    var perToken = bytesPerToken(s, bpe);
    var perSeq = perToken * ctx;  // costs.kv_cache_bytes(tokens=ctx), presets.model_kv_cache_bytes
    var total = perSeq * batch;
    var fit = Math.max(0, Math.floor((memoryBytes - weightBytes) / perSeq));  // costs.sequences_that_fit
    var step = (weightBytes + total) / bandwidth;  // costs.decode_time_per_token_s
    return { bytes_per_token: perToken, bytes_per_sequence: perSeq, bytes_total: total,
             sequences_fit: fit, step_time_s: step, tokens_per_s: batch / step };
  }

  // ------------------------------------------------------------------ formatting (the widgets' one formatter)

  function fmtBytes(v) { return W.format(v, "bytes"); }
  var fmtTime = W.fmtDuration, fmtRate = W.fmtRate;

  // Weights in GB for an input: "14", "350", "13.4".
  function gbText(bytes) { return String(Number((bytes / 1e9).toFixed(2))); }

  function fmtLength(n) { return W.fmtLength(n, String); }  // "100000", not "100,000": it fills an input

  // ------------------------------------------------------------------ widget

  function field(name, label, value, hint) {
    return W.field("lc-kv", name, label, value, hint, { inputmode: /_gb$|bandwidth/.test(name) ? "decimal" : "numeric" });
  }

  function selectField(name, label, options, selected) {
    var select = W.select("lc-kv", name, options, selected);
    return W.box("lc-kv", { class: "lc-kv__field lc-kv__field--" + name }, [el("label", { for: select.id }, [label]), select]);
  }

  var SHAPE = ["attention", "layers", "heads", "kv_heads", "head_dim", "latent_dim", "rope_dim"];

  function build(root, data) {
    var d = root.dataset;
    var presets = {};
    (data.presets || []).forEach(function (p) { presets[p.key] = p; });
    var dtypes = DTYPES.filter(function (k) { return typeof data.bytes_per_element[k] === "number"; });
    var gpus = Object.keys(data.gpu_memory_bytes || {}).filter(function (k) {
      return typeof (data.hbm_bandwidth_bytes_per_s || {})[k] === "number";
    });
    var start = presets[d.preset] || data.presets[0];
    var startGpu = gpus.indexOf(d.gpu) >= 0 ? d.gpu : gpus[0];

    var form = W.form("lc-kv", [
      selectField("preset", "Model", [["custom", "custom shape"]].concat((data.presets || []).map(function (p) {
        return [p.key, p.name]; })), start.key),
      selectField("attention", "Attention", [["kv", "MHA / GQA / MQA"], ["mla", "MLA (latent)"]],
                  start.attention === "mla" ? "mla" : "kv"),
      field("layers", "Layers L", String(start.layers)),
      field("heads", "Query heads H", String(start.n_heads)),
      field("kv_heads", "KV heads", String(start.n_kv_heads), "H for MHA, 1 for MQA"),
      field("head_dim", "Head dim d", String(start.head_dim)),
      field("latent_dim", "MLA latent d_c", String(start.mla_latent_dim || 512)),
      field("rope_dim", "MLA RoPE key", String(start.mla_rope_dim === null || start.mla_rope_dim === undefined ? 64 : start.mla_rope_dim)),
      selectField("dtype", "Cache data type", dtypes.map(function (k) {
        return [k, k + " (" + data.bytes_per_element[k] + " B)"]; }), dtypes.indexOf(d.dtype) >= 0 ? d.dtype : "fp16"),
      field("context", "Context (tokens)", d.context || fmtLength(start.context_length), "K = 1,024"),
      field("batch", "Batch (sequences)", d.batch || "1"),
      selectField("gpu", "GPU", [["custom", "custom"]].concat(gpus.map(function (g) { return [g, g]; })), startGpu),
      field("memory_gb", "GPU memory (GB)", String(data.gpu_memory_bytes[startGpu] / 1e9)),
      field("bandwidth", "Bandwidth (GB/s)", String(data.hbm_bandwidth_bytes_per_s[startGpu] / 1e9)),
      selectField("weights_dtype", "Weights data type", dtypes.map(function (k) {
        return [k, k + " (" + data.bytes_per_element[k] + " B)"]; }),
        dtypes.indexOf(d.weightsDtype) >= 0 ? d.weightsDtype : "fp16"),
      field("weights_gb", "Weights (GB)", d.weightsGb || "14", "the preset's parameters \u00d7 bytes each"),
    ]);
    var source = el("p", { class: "lc-kv__source" });
    var msg = W.msgBox("lc-kv");
    var out = W.outBox("lc-kv");
    root.replaceChildren(form, source, out, msg);  // a message below the results: they do not move
    var f = form.elements;
    // A context the reader typed (or brought back in the address) survives a change of preset.
    var restored = W.restore(form, "kv");
    var contextTyped = !!restored.context;
    W.keep(form, "kv");
    if (!restored.weights_gb) applyWeights();

    function setMode() {
      var mla = f.attention.value === "mla";
      ["heads", "kv_heads", "head_dim"].forEach(function (n) { f[n].disabled = mla; });
      ["latent_dim", "rope_dim"].forEach(function (n) { f[n].disabled = !mla; });
    }

    function applyPreset() {
      var p = presets[f.preset.value];
      if (!p) return;
      f.attention.value = p.attention === "mla" ? "mla" : "kv";
      f.layers.value = String(p.layers);
      f.heads.value = String(p.n_heads);
      f.kv_heads.value = String(p.n_kv_heads);
      f.head_dim.value = String(p.head_dim);
      if (p.attention === "mla") {
        f.latent_dim.value = String(p.mla_latent_dim);
        f.rope_dim.value = String(p.mla_rope_dim);
      }
      if (!contextTyped) f.context.value = fmtLength(p.context_length);
      applyWeights();
    }

    // longctx.costs.parameter_bytes(preset.params, bytes_per_element=weights dtype), in GB.
    function applyWeights() {
      var p = presets[f.preset.value], bpe = data.bytes_per_element[f.weights_dtype.value];
      if (!p || !(p.params > 0) || !(bpe > 0)) return;
      f.weights_gb.value = gbText(p.params * bpe);
    }

    function applyGpu() {
      var g = f.gpu.value;
      if (!(g in data.gpu_memory_bytes)) return;
      f.memory_gb.value = String(data.gpu_memory_bytes[g] / 1e9);
      f.bandwidth.value = String(data.hbm_bandwidth_bytes_per_s[g] / 1e9);
    }

    function showSource() {
      var p = presets[f.preset.value];
      source.replaceChildren();
      if (!p) return;
      source.appendChild(el("strong", {}, [p.name + ": "]));
      source.appendChild(el("span", { "data-key": "source" }, [p.source]));
      if (p.notes) source.appendChild(el("span", { class: "lc-kv__notes" }, [" " + p.notes]));
    }

    function row(key, label, text, value) {
      return el("tr", {}, [el("th", { scope: "row" }, [label]),
                           el("td", { "data-key": key, "data-value": String(value) }, [text])]);
    }

    function update() {
      var errors = [];
      var mla = f.attention.value === "mla";
      var p = {};
      function take(name, r) { if (!W.check(f[name], r, errors).error) p[name] = r.value; }
      take("layers", parseCount(f.layers.value, "Layers", LIMITS.layers, 1, false));
      if (mla) {
        take("latent_dim", parseCount(f.latent_dim.value, "MLA latent", LIMITS.latent_dim, 1, false));
        take("rope_dim", parseCount(f.rope_dim.value, "MLA RoPE key", LIMITS.rope_dim, 0, false));
        ["heads", "kv_heads", "head_dim"].forEach(function (n) { f[n].setAttribute("aria-invalid", "false"); });
      } else {
        take("heads", parseCount(f.heads.value, "Query heads", LIMITS.heads, 1, false));
        take("kv_heads", parseCount(f.kv_heads.value, "KV heads", LIMITS.heads, 1, false));
        take("head_dim", parseCount(f.head_dim.value, "Head dim", LIMITS.head_dim, 1, false));
        ["latent_dim", "rope_dim"].forEach(function (n) { f[n].setAttribute("aria-invalid", "false"); });
        if (p.heads && p.kv_heads && p.heads % p.kv_heads !== 0) {
          errors.push("KV heads: the query heads (" + p.heads + ") must be a multiple of the KV heads (" +
                      p.kv_heads + "), so that each KV head serves the same number of query heads.");
          f.kv_heads.setAttribute("aria-invalid", "true");
        }
      }
      take("context", parseCount(f.context.value, "Context", LIMITS.context, 1, true));
      take("batch", parseCount(f.batch.value, "Batch", LIMITS.batch, 1, true));
      take("memory_gb", parseAmount(f.memory_gb.value, "GPU memory", LIMITS.gb, true));
      take("bandwidth", parseAmount(f.bandwidth.value, "Bandwidth", LIMITS.bandwidth, true));
      take("weights_gb", parseAmount(f.weights_gb.value, "Weights", LIMITS.gb, false));
      var bpe = data.bytes_per_element[f.dtype.value];
      if (!(typeof bpe === "number" && bpe > 0)) errors.push("Data type: unknown.");

      msg.replaceChildren();
      if (W.showErrors(root, msg, errors)) return;  // the last good result stays, greyed
      out.replaceChildren();

      var shape = { attention: mla ? "mla" : "kv", layers: p.layers, kv_heads: p.kv_heads, head_dim: p.head_dim,
                    latent_dim: p.latent_dim, rope_dim: p.rope_dim };
      var memoryBytes = p.memory_gb * 1e9, weightBytes = p.weights_gb * 1e9, bandwidth = p.bandwidth * 1e9;
      var r = results(shape, bpe, p.context, p.batch, memoryBytes, weightBytes, bandwidth);
      var perToken = r.bytes_per_token;
      var tokenText = fmtBytes(perToken);
      var table = el("table", { class: "lc-widget__table lc-kv__table" }, [el("tbody", {}, [
        row("bytes_per_token", "KV cache per token (all layers)", tokenText, perToken),
        row("bytes_per_sequence", "one sequence of " + fmtInt(p.context) + " tokens", fmtBytes(r.bytes_per_sequence),
            r.bytes_per_sequence),
        row("bytes_total", "the batch of " + fmtInt(p.batch), fmtBytes(r.bytes_total), r.bytes_total),
        row("sequences_fit", "sequences that fit after the weights", fmtInt(r.sequences_fit), r.sequences_fit),
        row("step_time_s", "decode step, memory-bound (weights + batch\u2019s cache) / bandwidth",
            fmtTime(r.step_time_s), r.step_time_s),
        row("tokens_per_s", "tokens per second, whole batch", fmtRate(r.tokens_per_s), r.tokens_per_s),
      ])]);
      out.appendChild(table);

      var note;
      if (weightBytes >= memoryBytes) {
        note = "The weights alone fill the GPU memory: no cache fits beside them.";
      } else if (weightBytes + r.bytes_total > memoryBytes) {
        note = "This batch does not fit: its cache needs " + fmtBytes(r.bytes_total) + " and the weights leave " +
               fmtBytes(memoryBytes - weightBytes) + ". The decode time is what it would be with more memory.";
      } else {
        note = "The weights and this batch\u2019s cache use " +
               W.fmtPct((weightBytes + r.bytes_total) / memoryBytes) + " of the GPU memory.";
      }
      out.appendChild(el("p", { class: "lc-kv__note", "data-key": "fit_note" }, [note]));
    }

    form.addEventListener("change", function (e) {
      var name = e.target.name;
      if (name === "preset") { applyPreset(); showSource(); setMode(); }
      if (name === "gpu") applyGpu();
      if (name === "weights_dtype") applyWeights();
      if (name === "context") contextTyped = true;
      if (SHAPE.indexOf(name) >= 0) { f.preset.value = "custom"; showSource(); setMode(); }
      if (name === "memory_gb" || name === "bandwidth") f.gpu.value = "custom";
      update();
    });
    form.addEventListener("input", function (e) {
      var name = e.target.name;
      if (e.target.tagName === "INPUT" && SHAPE.indexOf(name) >= 0 && f.preset.value !== "custom") {
        f.preset.value = "custom";
        showSource();
      }
      if (e.target.tagName === "INPUT" && (name === "memory_gb" || name === "bandwidth")) f.gpu.value = "custom";
      if (name === "context") contextTyped = true;
      update();
    });
    setMode();
    showSource();
    update();
  }

  W.mountWithData("lc-kv", build, function (err) {
    return "The calculator could not load its data (" + err.message + "). Reload the page to try again.";
  });
})();
