// Lesson 2's mask visualiser.
//
// Fills every <div class="lc-mask"> with a form and a picture of one sparse-attention mask: its
// density, the receptive field of the last query after L layers, and the kernel tiles that can be
// skipped with the share of FLOPs that saves. Each pattern is the mask of a longctx.sparse function
// with T = S = n (so query i sits at position i):
//
//   causal          causal_mask(n, n)
//   sliding window  sliding_window_mask(n, n, (w, right))            right = 0 if "look back only", else w
//                   (longctx's window=(left, right): (w, 0) is a causal window of w + 1 keys;
//                   Mistral 7B's W = 4,096 keys is (4095, 0))
//   dilated         dilated_window_mask(n, n, (w, right), dilation)
//   global + local  global_local_mask(n, n, globals, (w, right))
//   BigBird         bigbird_mask(n, n, (w, right), globals, r, seed=seed)
//   strided         strided_mask(n, n, stride)
//
// and the read-outs are mask_density, receptive_field(mask, L)[n - 1], block_mask(mask, b, b) and
// flops_saved_fraction(mask, b, b). BigBird's random keys are drawn exactly as longctx draws them:
// torch.rand on a CPU generator seeded with `seed` is a 32-bit Mersenne Twister (MT19937) whose
// outputs keep their low 24 bits as a float in [0, 1), row-major over the [n, n] matrix; each row
// then keeps the r highest draws among the keys it does not already see. The browser tests compare
// every value (exposed raw in data-value / data-mask / data-tiles / data-reach) with longctx.
//
// Start values come from the div's data attributes: data-pattern, data-n, data-window,
// data-one-sided ("true"/"false"), data-dilation, data-stride, data-globals, data-random,
// data-seed, data-layers, data-block.
(function () {
  "use strict";

  var W = window.longctxWidgets;
  var el = W.el, fmt = W.fmtInt;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var MAX_N = 256;
  var MAX_LAYERS = 128;
  var MAX_GLOBALS = 16;
  var MAX_SEED = 4294967295;  // torch seeds its Mersenne Twister with 32 bits
  var DRAW_PX = 384;  // the picture's side in CSS pixels (it scales down on narrow screens)

  var PATTERNS = [
    ["sliding", "Sliding window (Mistral, Longformer's local part)"],
    ["dilated", "Dilated window (Longformer)"],
    ["global-local", "Global + local (Longformer)"],
    ["bigbird", "Window + global + random (BigBird)"],
    ["strided", "Strided (Sparse Transformer)"],
    ["causal", "Causal (full, for comparison)"],
  ];
  // Which inputs each pattern reads.
  var USES = {
    causal: [],
    sliding: ["window", "one_sided"],
    dilated: ["window", "one_sided", "dilation"],
    "global-local": ["window", "one_sided", "globals"],
    bigbird: ["window", "one_sided", "globals", "random", "seed"],
    strided: ["stride"],
  };

  // ------------------------------------------------------------------ random numbers (torch's CPU generator)

  function Mt19937(seed) {
    var mt = new Uint32Array(624);
    mt[0] = seed >>> 0;
    for (var i = 1; i < 624; i++) {
      var prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    var index = 624;
    this.next = function () {
      if (index >= 624) {
        for (var k = 0; k < 624; k++) {
          var y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
          mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ ((y & 1) ? 0x9908b0df : 0);
        }
        index = 0;
      }
      var z = mt[index++];
      z ^= z >>> 11;
      z ^= (z << 7) & 0x9d2c5680;
      z ^= (z << 15) & 0xefc60000;
      z ^= z >>> 18;
      return z >>> 0;
    };
  }

  // torch.rand(float32) on the CPU: the low 24 bits of one draw, times 2^-24.
  function uniform24(gen) { return (gen.next() & 0xffffff) / 16777216; }

  // ------------------------------------------------------------------ masks (row-major Uint8Array of n * n)

  function windowKeep(n, left, right) {
    var m = new Uint8Array(n * n);
    for (var i = 0; i < n; i++) {
      for (var j = 0; j < n; j++) {
        m[i * n + j] = (j >= i - left && j <= i + right) ? 1 : 0;
      }
    }
    return m;
  }

  function dilatedKeep(n, left, right, d) {
    var m = new Uint8Array(n * n);
    for (var i = 0; i < n; i++) {
      for (var j = 0; j < n; j++) {
        var back = i - j;
        m[i * n + j] = (back % d === 0 && back <= left * d && -back <= right * d) ? 1 : 0;
      }
    }
    return m;
  }

  function globalLocalKeep(n, left, right, globals) {
    var m = windowKeep(n, left, right);
    globals.forEach(function (g) {
      for (var t = 0; t < n; t++) {
        m[t * n + g] = 1;  // every query sees a global key
        m[g * n + t] = 1;  // a global query sees every key
      }
    });
    return m;
  }

  function bigbirdKeep(n, left, right, globals, r, seed) {
    var m = globalLocalKeep(n, left, right, globals);
    var gen = new Mt19937(seed);
    var score = new Float64Array(n * n);
    for (var k = 0; k < n * n; k++) score[k] = uniform24(gen);  // drawn for every entry, seen or not
    if (r === 0) return m;
    for (var i = 0; i < n; i++) {
      var unseen = [];
      for (var j = 0; j < n; j++) if (!m[i * n + j]) unseen.push(j);
      unseen.sort(function (a, b) { return score[i * n + b] - score[i * n + a] || a - b; });
      for (var t = 0; t < Math.min(r, unseen.length); t++) m[i * n + unseen[t]] = 1;
    }
    return m;
  }

  function stridedKeep(n, stride) {
    var m = new Uint8Array(n * n);
    for (var i = 0; i < n; i++) {
      for (var j = 0; j <= i; j++) {
        var back = i - j;
        m[i * n + j] = (back < stride || back % stride === 0) ? 1 : 0;
      }
    }
    return m;
  }

  function buildMask(p) {
    var right = p.one_sided ? 0 : p.window;
    switch (p.pattern) {
      case "causal": return windowKeep(p.n, p.n, 0);
      case "sliding": return windowKeep(p.n, p.window, right);
      case "dilated": return dilatedKeep(p.n, p.window, right, p.dilation);
      case "global-local": return globalLocalKeep(p.n, p.window, right, p.globals);
      case "bigbird": return bigbirdKeep(p.n, p.window, right, p.globals, p.random, p.seed);
      case "strided": return stridedKeep(p.n, p.stride);
    }
    throw new Error("unknown pattern " + p.pattern);
  }

  // ------------------------------------------------------------------ what the mask implies

  // Row n-1 of receptive_field(mask, L): inputs the last output depends on, residual included.
  function reachOfLast(m, n, layers) {
    var reach = new Uint8Array(n);
    reach[n - 1] = 1;
    for (var l = 0; l < layers; l++) {
      var next = new Uint8Array(n);
      for (var k = 0; k < n; k++) {
        if (!reach[k]) continue;
        next[k] = 1;  // the residual stream: k reaches itself
        for (var j = 0; j < n; j++) if (m[k * n + j]) next[j] = 1;
      }
      reach = next;
    }
    return reach;
  }

  // block_mask and flops_saved_fraction with square tiles of side b (edge tiles cut to the mask).
  function tiles(m, n, b) {
    var nt = Math.ceil(n / b);
    var kept = new Uint8Array(nt * nt);
    for (var i = 0; i < n; i++) {
      for (var j = 0; j < n; j++) {
        if (m[i * n + j]) kept[Math.floor(i / b) * nt + Math.floor(j / b)] = 1;
      }
    }
    var skippedArea = 0, keptCount = 0;
    for (var r = 0; r < nt; r++) {
      for (var c = 0; c < nt; c++) {
        if (kept[r * nt + c]) { keptCount++; continue; }
        skippedArea += (Math.min(n, (r + 1) * b) - r * b) * (Math.min(n, (c + 1) * b) - c * b);
      }
    }
    return { nt: nt, kept: kept, keptCount: keptCount, saved: skippedArea / (n * n) };
  }

  function count(arr) { var s = 0; for (var k = 0; k < arr.length; k++) s += arr[k]; return s; }
  function bits(arr) { return Array.prototype.join.call(arr, ""); }

  // ------------------------------------------------------------------ parsing

  // A whole number in [min, max], or {error}. "_" may group digits.
  // The widgets' one parser (K = 1,024 and the other forms included), with this field's range.
  function parseInt10(text, label, min, max) {
    var r = W.parseNumber(text, label, { min: min, max: max, what: "this picture" });
    if (r.error && /more than|at least/.test(r.error)) {
      return { error: label + ": must be from " + fmt(min) + " to " + fmt(max) + " (got " + String(text).trim() + ")." };
    }
    return r;
  }

  function parseGlobals(text, n) {
    var t = String(text).trim();
    if (t === "") return { value: [] };
    var parts = t.split(/[\s,;]+/).filter(Boolean);
    if (parts.length > MAX_GLOBALS) return { error: "Global tokens: at most " + MAX_GLOBALS + " (got " + parts.length + ")." };
    var seen = {}, out = [];
    for (var i = 0; i < parts.length; i++) {
      var r = parseInt10(parts[i], "Global token", 0, n - 1);
      if (r.error) return { error: r.error + " Positions count from 0 and must be below n." };
      if (!seen[r.value]) { seen[r.value] = true; out.push(r.value); }
    }
    return { value: out };
  }

  var pct = W.fmtPct;

  // ------------------------------------------------------------------ DOM

  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function field(name, label, value, hint, type) {
    return W.field("lc-mask", name, label, value, hint,
                   { inputmode: type || "numeric", attrs: { class: "lc-mask__field", "data-field": name } });
  }

  // The mask as SVG: one rect per run of allowed cells, skipped tiles shaded, the tile grid drawn,
  // and a strip below with the receptive field of the last query.
  function picture(m, n, t, b, reach) {
    var cell = DRAW_PX / n, strip = Math.max(6, cell), gap = 6;
    var h = DRAW_PX + gap + strip;
    var svg = svgEl("svg", { viewBox: "0 0 " + DRAW_PX + " " + h, class: "lc-mask__svg", role: "img",
                             "aria-label": "mask of " + n + " by " + n + ": rows are queries, columns keys" });
    svg.appendChild(svgEl("rect", { class: "lc-mask__off", x: 0, y: 0, width: DRAW_PX, height: DRAW_PX }));
    for (var r = 0; r < t.nt; r++) {  // skipped tiles, merged into runs along each tile row
      var c = 0;
      while (c < t.nt) {
        if (t.kept[r * t.nt + c]) { c++; continue; }
        var c0 = c;
        while (c < t.nt && !t.kept[r * t.nt + c]) c++;
        svg.appendChild(svgEl("rect", { class: "lc-mask__skip", x: c0 * b * cell, y: r * b * cell,
          width: (Math.min(n, c * b) - c0 * b) * cell, height: (Math.min(n, (r + 1) * b) - r * b) * cell }));
      }
    }
    for (var i = 0; i < n; i++) {  // allowed cells
      var j = 0;
      while (j < n) {
        if (!m[i * n + j]) { j++; continue; }
        var j0 = j;
        while (j < n && m[i * n + j]) j++;
        svg.appendChild(svgEl("rect", { class: "lc-mask__on", x: j0 * cell, y: i * cell, width: (j - j0) * cell,
                                        height: cell }));
      }
    }
    if (t.nt > 1 && t.nt <= 64) {  // the tile grid, unless it would be a grey smear
      var d = "";
      for (var k = 1; k < t.nt; k++) {
        var z = k * b * cell;
        d += "M" + z + " 0V" + DRAW_PX + "M0 " + z + "H" + DRAW_PX;
      }
      svg.appendChild(svgEl("path", { class: "lc-mask__grid", d: d }));
    }
    var y = DRAW_PX + gap;
    svg.appendChild(svgEl("rect", { class: "lc-mask__off", x: 0, y: y, width: DRAW_PX, height: strip }));
    var q = 0;
    while (q < n) {
      if (!reach[q]) { q++; continue; }
      var q0 = q;
      while (q < n && reach[q]) q++;
      svg.appendChild(svgEl("rect", { class: "lc-mask__reach", x: q0 * cell, y: y, width: (q - q0) * cell, height: strip }));
    }
    return svg;
  }

  function build(root) {
    var d = root.dataset;
    var select = W.select("lc-mask", "pattern", PATTERNS, d.pattern || "sliding");
    var oneSided = el("input", { type: "checkbox", name: "one_sided", id: W.newId("lc-mask", "one-sided") });
    oneSided.checked = d.oneSided !== "false";

    var form = W.form("lc-mask", [
      W.box("lc-mask", { class: "lc-mask__field lc-mask__field--pattern", "data-field": "pattern" }, [
        el("label", { for: select.id }, ["Pattern"]), select]),
      field("n", "Tokens n", d.n || "64", "2 to " + MAX_N),
      field("window", "Window w", d.window || "8", "keys on each side of a query: window=(w, w), or (w, 0) looking back only, w + 1 keys"),
      W.box("lc-mask", { class: "lc-widget__field--check lc-mask__field lc-mask__field--check", "data-field": "one_sided" }, [
        oneSided, el("label", { for: oneSided.id }, ["look back only (causal window)"])]),
      field("dilation", "Dilation", d.dilation || "2", "gap between attended keys"),
      field("stride", "Stride l", d.stride || "8", "about \u221an"),
      field("globals", "Global tokens", d.globals || "0", "positions, e.g. 0 32", "text"),
      field("random", "Random keys r", d.random || "2", "per query row"),
      field("seed", "Seed", d.seed || "0", "same seed, same draw as longctx"),
      field("layers", "Layers L", d.layers || "4", "for the receptive field"),
      field("block", "Tile size b", d.block || "8", "queries \u00d7 keys per kernel tile"),
    ]);
    var msg = W.msgBox("lc-mask");
    var out = W.outBox("lc-mask");
    root.replaceChildren(form, out, msg);  // a message below the picture: it does not move
    W.restore(form, "mask");
    W.keep(form, "mask");

    function update() {
      var pattern = select.value;
      var uses = USES[pattern] || [];
      Array.prototype.forEach.call(form.querySelectorAll("[data-field]"), function (f) {
        var name = f.getAttribute("data-field");
        f.hidden = ["pattern", "n", "layers", "block"].indexOf(name) < 0 && uses.indexOf(name) < 0;
      });
      var get = function (name) { return form.elements[name].value; };
      var errors = [], p = { pattern: pattern, one_sided: oneSided.checked };
      function take(name, r) { if (!W.check(form.elements[name], r, errors).error) p[name] = r.value; }
      take("n", parseInt10(get("n"), "Tokens n", 2, MAX_N));
      var n = p.n || MAX_N;
      take("layers", parseInt10(get("layers"), "Layers L", 1, MAX_LAYERS));
      take("block", parseInt10(get("block"), "Tile size b", 1, n));
      if (uses.indexOf("window") >= 0) take("window", parseInt10(get("window"), "Window w", 0, n));
      if (uses.indexOf("dilation") >= 0) take("dilation", parseInt10(get("dilation"), "Dilation", 1, n));
      if (uses.indexOf("stride") >= 0) take("stride", parseInt10(get("stride"), "Stride l", 1, n));
      if (uses.indexOf("globals") >= 0) take("globals", parseGlobals(get("globals"), n));
      if (uses.indexOf("random") >= 0) take("random", parseInt10(get("random"), "Random keys r", 0, n));
      if (uses.indexOf("seed") >= 0) take("seed", parseInt10(get("seed"), "Seed", 0, MAX_SEED));

      msg.replaceChildren();
      // the last good picture stays, greyed
      if (W.showErrors(root, msg, errors, "Fix the input to see the mask:")) return;
      out.replaceChildren();

      var m = buildMask(p);
      var t = tiles(m, p.n, p.block);
      var reach = reachOfLast(m, p.n, p.layers);
      var pairs = count(m), reached = count(reach);
      var first = Array.prototype.indexOf.call(reach, 1);
      out.setAttribute("data-mask", bits(m));
      out.setAttribute("data-tiles", bits(t.kept));
      out.setAttribute("data-reach", bits(reach));

      function row(key, label, value, text) {
        return [el("dt", {}, [label]), el("dd", { "data-key": key, "data-value": String(value) }, [text])];
      }
      var facts = [].concat(
        row("density", "Density (pairs kept)", pairs / (p.n * p.n),
            pct(pairs / (p.n * p.n)) + " (" + fmt(pairs) + " of " + fmt(p.n * p.n) + ")"),
        row("reach", "Last query's reach after " + p.layers + " layer" + (p.layers > 1 ? "s" : ""), reached,
            fmt(reached) + " of " + fmt(p.n) + " positions, back to position " + first),
        row("kept_tiles", "Tiles a kernel computes", t.keptCount,
            fmt(t.keptCount) + " of " + fmt(t.nt * t.nt) + " (" + p.block + " \u00d7 " + p.block + ")"),
        row("flops_saved", "FLOPs saved by skipping tiles", t.saved, pct(t.saved)));
      out.appendChild(el("div", { class: "lc-mask__picture" }, [picture(m, p.n, t, p.block, reach),
        el("p", { class: "lc-mask__legend" }, [
          el("span", { class: "lc-mask__key lc-mask__key--on" }), " may attend ",
          el("span", { class: "lc-mask__key lc-mask__key--skip" }), " tile skipped ",
          el("span", { class: "lc-mask__key lc-mask__key--reach" }), " strip: last query's receptive field"])]));
      out.appendChild(el("dl", { class: "lc-mask__facts" }, facts));
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  W.mount("lc-mask", build, function (err) { return "The visualiser failed: " + err.message; });
})();
