"""One table of what each attention variant costs, built from the formulas of :mod:`longctx.costs`.

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

from longctx import checks, costs
from longctx.costs import (
    attention_flops,
    bigbird_pairs,
    flash_attention_stats_bytes,
    kv_cache_bytes,
    linear_attention_flops,
    linear_attention_state_elements,
    mamba_state_elements,
    mla_cache_bytes,
    mla_cache_bytes_per_token,
    rolling_buffer_kv_bytes,
    score_matrix_bytes,
    sparse_attention_flops,
    sparse_score_bytes,
    ssm_scan_flops,
    state_bytes,
    window_band_pairs,
)

# bigbird_pairs, ssm_scan_flops and window_band_pairs are longctx.costs' own, named here too for the pages.
__all__ = ["DEFAULTS", "VARIANTS", "bigbird_pairs", "cost_summary_rows", "default", "log_sum_exp_bytes", "ssm_scan_flops",
           "summary_table", "window_band_pairs"]

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
    n, d, h, w, b = seq_len, head_dim, heads, window, bytes_per_element
    if h % kv_heads:
        raise ValueError(f"kv_heads must divide heads = {h}, got {kv_heads}")
    band, bird = window_band_pairs(n, w), bigbird_pairs(n, w, global_tokens, random_tokens)
    d_inner = expand * h * d
    lin_state = linear_attention_state_elements(key_dim=feature_dim, value_dim=d, heads=h)
    ssm_state = mamba_state_elements(d_inner=d_inner, state_dim=state_dim)
    mla = dict(layers=1, latent_dim=latent_dim, rope_dim=rope_dim, bytes_per_element=b)
    cost = {
        "full": attention_flops(n, d, heads=h),  # 4 n^2 d h
        "scores": score_matrix_bytes(n, heads=h, bytes_per_element=b),  # h n^2 b
        "stats": flash_attention_stats_bytes(n, heads=h),  # h n 4
        "band": sparse_attention_flops(band, d, heads=h),
        "band_scores": sparse_score_bytes(band, heads=h, bytes_per_element=b),
        "rolling": rolling_buffer_kv_bytes(slots=min(n, w + 1), layers=1, kv_heads=h, head_dim=d,
                                           bytes_per_element=b),
        "bird": sparse_attention_flops(bird, d, heads=h),
        "bird_scores": sparse_score_bytes(bird, heads=h, bytes_per_element=b),
        "linear": linear_attention_flops(n, d, feature_dim=feature_dim, heads=h),
        "linear_state": state_bytes(lin_state, bytes_per_element=state_bytes_per_element),
        "ssm": ssm_scan_flops(n, d_inner, state_dim),
        "ssm_state": state_bytes(ssm_state, bytes_per_element=state_bytes_per_element),
        "mla_token": mla_cache_bytes_per_token(**mla),
        "mla": mla_cache_bytes(**mla, tokens=n),
    }
    kv = {g: tuple(kv_cache_bytes(layers=1, kv_heads=g, head_dim=d, tokens=t, bytes_per_element=b) for t in (1, n))
          for g in (h, kv_heads, 1)}  # one layer: (one token, n tokens)
    return summary_table(h, kv_heads, kv, cost)
# --8<-- [end:summary-rows]


# --8<-- [start:summary-table]
def summary_table(h: int, kv_heads: int, kv: dict[int, tuple[float, float]], cost: dict[str, float]) -> list[dict]:
    """The rows of :func:`cost_summary_rows` from its numbers: ``kv`` (one token, n tokens) by KV heads, ``cost`` by name."""
    full, scores = cost["full"], cost["scores"]
    kv_h, kv_g, kv_1 = kv[h], kv[kv_heads], kv[1]
    rows = [
        ("standard", "Standard attention", full, scores, *kv_h, "yes", "4 n² d h", "h n² b", "2 h d n b"),
        ("flash", "FlashAttention", full, cost["stats"], *kv_h, "yes (same result, other rounding)",
         "4 n² d h", "h n · 4 (fp32 log-sum-exp)", "2 h d n b"),
        ("sliding", "Sliding window", cost["band"], cost["band_scores"], kv_h[0], cost["rolling"],
         "no: nothing beyond w", "4 d h · pairs, pairs ≈ n (2w + 1)", "h b · pairs", "2 h d min(n, w + 1) b"),
        ("bigbird", "BigBird (window + global + random)", cost["bird"], cost["bird_scores"], *kv_h,
         "no: a sparse pattern", "4 d h · pairs, pairs ≤ g n + (n − g)(2w + 1 + g + r)", "h b · pairs",
         "2 h d n b"),
        ("linear", "Linear attention", cost["linear"], 0, 0, cost["linear_state"], "no: another similarity",
         "4 n F d h", "none", "h (F d + F) s"),
        ("ssm", "SSM (Mamba-style scan)", cost["ssm"], 0, 0, cost["ssm_state"], "no: another model",
         "6 n D N, D = expand · h d", "none", "D N s"),
        ("mqa", "MQA (1 KV head)", full, scores, *kv_1, "yes (one shared K, V)", "4 n² d h", "h n² b", "2 d n b"),
        ("gqa", "GQA (G KV heads)", full, scores, *kv_g, "yes (G shared K, V)", "4 n² d h", "h n² b", "2 G d n b"),
        ("mla", "MLA (latent cache)", full, scores, cost["mla_token"], cost["mla"],
         "yes (K, V rebuilt from the latent)", "4 n² d h", "h n² b", "(d_c + d_rope) n b"),
    ]
    fields = ("key", "variant", "flops", "score_bytes", "cache_per_token_bytes", "cache_bytes", "exact",
              "flops_formula", "score_formula", "cache_formula")
    return [dict(zip(fields, row)) for row in rows]
# --8<-- [end:summary-table]


# The formulas the pages show are plain arithmetic; every call of the package's functions still
# checks its arguments: each is rebound once, here, to its wrapped form (longctx.checks.arguments).
_P, _N = checks.positive_int, checks.nonneg_int
_CHECKED = {
    "cost_summary_rows": dict(seq_len=_P, head_dim=_P, heads=_P, window=_N, global_tokens=_N, random_tokens=_N,
                              feature_dim=_P, state_dim=_P, expand=_P, kv_heads=_P, latent_dim=_P, rope_dim=_N,
                              bytes_per_element=lambda name, value: costs.bytes_per_element(value),
                              state_bytes_per_element=lambda name, value: costs.bytes_per_element(value)),
}
for _name, _checkers in _CHECKED.items():
    globals()[_name] = checks.arguments(**_checkers)(globals()[_name])
del _name, _checkers

