"""One table of what each attention variant costs, built from :mod:`longctx.costs`.

The course's cost summary page prints :func:`cost_summary_rows` at build time, and its
in-browser widget (``docs/javascripts/cost-summary.js``) recomputes the same rows for the
reader's own settings; the browser tests compare the two on random settings.

Everything is for **one layer and one sequence**:

* ``flops``: forward FLOPs of the attention core (or of the scan, for the SSM), with a
  multiply-add counted as 2, as in :mod:`longctx.costs`. No mask: every query may look both
  ways, as in Lesson 1's table; the sparse rows keep the pairs their pattern allows.
* ``score_bytes``: bytes of attention scores the variant stores: the whole ``h n^2`` matrix
  for standard attention, only the kept entries for a sparse pattern stored as such, one fp32
  log-sum-exp per row and head for FlashAttention, nothing where no score exists.
* ``cache_bytes``: what generating token n needs to keep from the n tokens before it: a KV
  cache that grows with n, a rolling buffer that stops growing, or a fixed recurrent state.
  ``cache_per_token_bytes`` is what one cached token takes (0 where the memory is fixed).
"""

from __future__ import annotations

from longctx import costs
from longctx._checks import nonneg_int as _nonneg
from longctx.linear.costs import linear_attention_flops

__all__ = ["DEFAULTS", "VARIANTS", "bigbird_pairs", "cost_summary_rows", "default", "log_sum_exp_bytes", "ssm_scan_flops", "window_band_pairs"]

#: Settings of the page's table and the widget's start values.
DEFAULTS: dict[str, int | str] = {
    "seq_len": 32768,       # n, tokens
    "head_dim": 128,        # d
    "heads": 32,            # h, query heads
    "window": 512,          # w, keys on each side of a query (sliding window, BigBird)
    "global_tokens": 2,     # g, BigBird's global tokens (the first g positions)
    "random_tokens": 3,     # r, BigBird's random keys per query
    "feature_dim": 128,     # F, linear attention's feature-map width (d for elu+1)
    "state_dim": 16,        # N, the SSM's state per channel (Mamba's default)
    "expand": 2,            # the SSM's channels are expand * h * d (Mamba expands by 2)
    "kv_heads": 8,          # GQA's key-value heads
    "latent_dim": 512,      # MLA's cached latent d_c (DeepSeek-V2)
    "rope_dim": 64,         # MLA's cached RoPE key (DeepSeek-V2)
    "bytes_per_element": "fp16",        # scores, KV caches
    "state_bytes_per_element": "fp32",  # recurrent states
}

#: Row keys, in the order of :func:`cost_summary_rows`.
VARIANTS = ("standard", "flash", "sliding", "bigbird", "linear", "ssm", "mqa", "gqa", "mla")


def default(name: str) -> int | str:
    """One value of :data:`DEFAULTS` (the page writes the widget's start values with it).

    Raises:
        ValueError: an unknown name.
    """
    if name not in DEFAULTS:
        raise ValueError(f"name: unknown setting {name!r}; expected one of {', '.join(DEFAULTS)}")
    return DEFAULTS[name]


def log_sum_exp_bytes() -> int:
    """Bytes FlashAttention keeps per query row and head: one fp32 log-sum-exp (:data:`longctx.costs.STATS_BYTES`)."""
    return costs.STATS_BYTES


# --8<-- [start:pattern-pairs]
def window_band_pairs(seq_len: int, window: int) -> int:
    """Query-key pairs of a two-sided window: query i sees keys ``i - w .. i + w``.

    Each side is a causal window mirrored (:func:`longctx.costs.sliding_window_pairs`), and
    the diagonal is counted in both, so ``2 * sliding_window_pairs(n, w) - n``: about
    ``n (2w + 1)`` once n is much larger than w, ``n^2`` once ``w >= n - 1``.
    """
    return 2 * costs.sliding_window_pairs(seq_len, window) - seq_len


def bigbird_pairs(seq_len: int, window: int, global_tokens: int, random_tokens: int) -> int:
    """Pairs a BigBird pattern (window + global + random) computes, counted as its budget.

    The ``g`` global tokens (the first g positions) attend to every key; every other query
    attends to at most ``2w + 1`` window keys, the ``g`` global keys and ``r`` random keys,
    and never to more than all n: ``g n + (n - g) min(n, 2w + 1 + g + r)``. Near the ends
    of the sequence the window is cut short and overlaps the global keys, so this is an upper
    bound on the entries of ``longctx.sparse.bigbird_mask``, and close to it when ``n >> w``.

    Raises:
        ValueError: more global tokens than tokens.
    """
    n = costs._positive_int("seq_len", seq_len)
    w = _nonneg("window", window)
    g = _nonneg("global_tokens", global_tokens)
    r = _nonneg("random_tokens", random_tokens)
    if g > n:
        raise ValueError(f"global_tokens={g} is more than seq_len={n}")
    return g * n + (n - g) * min(n, 2 * w + 1 + g + r)
# --8<-- [end:pattern-pairs]


# --8<-- [start:ssm-flops]
def ssm_scan_flops(seq_len: int, d_inner: int, state_dim: int) -> int:
    """Forward FLOPs of a selective scan (Mamba's SSM) over ``seq_len`` tokens: ``6 n D N``.

    Per token, channel and state element, as ``longctx.ssm.selective_scan_ref`` does it:
    ``delta * A`` (1), ``B * (delta u)`` (1), ``x = dA * x + dBu`` (2) and the readout
    ``y += C x`` (2). The exponential is left out, as the softmax is for attention, and so
    are the projections around the scan (attention's are left out too).

    Args:
        seq_len: n, tokens.
        d_inner: D, channels of the scan (Mamba: twice the model width).
        state_dim: N, state elements per channel.
    """
    n = costs._positive_int("seq_len", seq_len)
    return 6 * n * costs._positive_int("d_inner", d_inner) * costs._positive_int("state_dim", state_dim)
# --8<-- [end:ssm-flops]


# --8<-- [start:summary-rows]
def cost_summary_rows(seq_len: int = DEFAULTS["seq_len"], head_dim: int = DEFAULTS["head_dim"],
                      heads: int = DEFAULTS["heads"], window: int = DEFAULTS["window"], *,
                      global_tokens: int = DEFAULTS["global_tokens"],
                      random_tokens: int = DEFAULTS["random_tokens"],
                      feature_dim: int = DEFAULTS["feature_dim"], state_dim: int = DEFAULTS["state_dim"],
                      expand: int = DEFAULTS["expand"], kv_heads: int = DEFAULTS["kv_heads"],
                      latent_dim: int = DEFAULTS["latent_dim"], rope_dim: int = DEFAULTS["rope_dim"],
                      bytes_per_element: str | float = DEFAULTS["bytes_per_element"],
                      state_bytes_per_element: str | float = DEFAULTS["state_bytes_per_element"]) -> list[dict]:
    """The cost summary: one row per variant, for one layer and one sequence.

    Args:
        seq_len: n, tokens.
        head_dim: d, width of one head.
        heads: h, query heads.
        window: w, keys on each side of a query (sliding window, BigBird); a decoder keeps
            the last ``w + 1`` tokens in a rolling buffer.
        global_tokens: g, BigBird's global tokens, at most n.
        random_tokens: r, BigBird's random keys per query.
        feature_dim: F, linear attention's feature width.
        state_dim: N, the SSM's state per channel.
        expand: the SSM has ``expand * h * d`` channels.
        kv_heads: GQA's key-value heads, a divisor of h.
        latent_dim: MLA's cached latent width d_c.
        rope_dim: MLA's cached RoPE-key width (0 for none).
        bytes_per_element: dtype of scores and caches (a name such as ``"fp16"`` or bytes).
        state_bytes_per_element: dtype of recurrent states (s in the formulas; b is the other).

    Returns:
        Rows in the order of :data:`VARIANTS`, each with ``key``, ``variant``, ``flops``,
        ``score_bytes``, ``cache_per_token_bytes``, ``cache_bytes`` (numbers), ``exact``
        and the formulas ``flops_formula``, ``score_formula``, ``cache_formula`` (text).

    Raises:
        ValueError: a setting out of range (each is named), or ``kv_heads`` not dividing h.
    """
    n, d, h = (costs._positive_int(k, v) for k, v in (("seq_len", seq_len), ("head_dim", head_dim),
                                                      ("heads", heads)))
    w = _nonneg("window", window)
    g = costs._positive_int("kv_heads", kv_heads)
    if h % g:
        raise ValueError(f"kv_heads={g} must divide heads={h}")
    for name, value in (("feature_dim", feature_dim), ("state_dim", state_dim), ("latent_dim", latent_dim)):
        costs._positive_int(name, value)  # checked here so the message names the page's setting
    _nonneg("rope_dim", rope_dim)
    b = costs.bytes_per_element(bytes_per_element)
    sb = costs.bytes_per_element(state_bytes_per_element)
    full = costs.attention_flops(n, d, heads=h)  # 4 n^2 d h
    scores = costs.score_matrix_bytes(n, heads=h, bytes_per_element=b)  # h n^2 b

    def kv(kv_h: int, tokens: int) -> float:  # one layer, one sequence
        return costs.kv_cache_bytes(layers=1, kv_heads=kv_h, head_dim=d, tokens=tokens, bytes_per_element=b)

    band = window_band_pairs(n, w)
    bird = bigbird_pairs(n, w, global_tokens, random_tokens)
    lin_state = costs.linear_attention_state_elements(key_dim=feature_dim, value_dim=d, heads=h)
    d_inner = costs._positive_int("expand", expand) * h * d
    ssm_state = costs.mamba_state_elements(d_inner=d_inner, state_dim=state_dim)
    mla = costs.mla_cache_bytes(layers=1, latent_dim=latent_dim, rope_dim=rope_dim, tokens=n, bytes_per_element=b)
    mla_token = costs.mla_cache_bytes_per_token(layers=1, latent_dim=latent_dim, rope_dim=rope_dim,
                                                bytes_per_element=b)

    def row(key, variant, flops, score_bytes, per_token, cache, exact, f_flops, f_score, f_cache):
        return {"key": key, "variant": variant, "flops": flops, "score_bytes": score_bytes,
                "cache_per_token_bytes": per_token, "cache_bytes": cache, "exact": exact,
                "flops_formula": f_flops, "score_formula": f_score, "cache_formula": f_cache}

    return [
        row("standard", "Standard attention", full, scores, kv(h, 1), kv(h, n), "yes",
            "4 n² d h", "h n² b", "2 h d n b"),
        row("flash", "FlashAttention", full, h * n * costs.STATS_BYTES, kv(h, 1), kv(h, n),
            "yes (same result, other rounding)", "4 n² d h", "h n · 4 (fp32 log-sum-exp)", "2 h d n b"),
        row("sliding", "Sliding window", 4 * band * d * h, band * h * b, kv(h, 1), kv(h, min(n, w + 1)),
            "no: nothing beyond w", "4 d h · pairs, pairs ≈ n (2w + 1)", "h b · pairs",
            "2 h d min(n, w + 1) b"),
        row("bigbird", "BigBird (window + global + random)", 4 * bird * d * h, bird * h * b, kv(h, 1), kv(h, n),
            "no: a sparse pattern", "4 d h · pairs, pairs ≤ g n + (n − g)(2w + 1 + g + r)", "h b · pairs",
            "2 h d n b"),
        row("linear", "Linear attention", linear_attention_flops(n, d, feature_dim=feature_dim, heads=h),
            0, 0, costs.state_bytes(lin_state, bytes_per_element=sb), "no: another similarity",
            "4 n F d h", "none", "h (F d + F) s"),
        row("ssm", "SSM (Mamba-style scan)", ssm_scan_flops(n, d_inner, state_dim), 0, 0,
            costs.state_bytes(ssm_state, bytes_per_element=sb), "no: another model",
            "6 n D N, D = expand · h d", "none", "D N s"),
        row("mqa", "MQA (1 KV head)", full, scores, kv(1, 1), kv(1, n), "yes (one shared K, V)",
            "4 n² d h", "h n² b", "2 d n b"),
        row("gqa", "GQA (G KV heads)", full, scores, kv(g, 1), kv(g, n), "yes (G shared K, V)",
            "4 n² d h", "h n² b", "2 G d n b"),
        row("mla", "MLA (latent cache)", full, scores, mla_token, mla, "yes (K, V rebuilt from the latent)",
            "4 n² d h", "h n² b", "(d_c + d_rope) n b"),
    ]
# --8<-- [end:summary-rows]
