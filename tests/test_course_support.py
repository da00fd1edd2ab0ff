"""longctx.summary (the cost summary page and the drill book) against independent arithmetic.

Expected values are written out from the formulas here (plain integer arithmetic, or a count
over an actual mask from longctx.sparse), not read from the functions under test.
"""

from __future__ import annotations

import random

import pytest
import torch

from longctx import costs, summary
from longctx.sparse import bigbird_mask, sliding_window_mask

BPE = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


def _causal_window_pairs(n, w):  # counted one query at a time
    return sum(min(i, w) + 1 for i in range(n))


@pytest.mark.parametrize("n,w", [(1, 0), (5, 0), (7, 3), (10, 9), (10, 20), (37, 5), (64, 63), (100, 1)])
def test_window_band_pairs_counts_the_band(n, w):
    by_row = sum(min(n - 1, i + w) - max(0, i - w) + 1 for i in range(n))
    assert summary.window_band_pairs(n, w) == by_row
    assert summary.window_band_pairs(n, w) == int(sliding_window_mask(n, n, (w, w)).sum())


@pytest.mark.parametrize(
    "n,w,g,r", [(64, 4, 2, 3), (97, 7, 1, 0), (128, 3, 0, 5), (50, 30, 3, 4), (9, 0, 9, 2)]
)
def test_bigbird_pairs_bounds_the_mask(n, w, g, r):
    budget = summary.bigbird_pairs(n, w, g, r)
    assert budget == g * n + (n - g) * min(n, 2 * w + 1 + g + r)
    for seed in range(3):
        kept = int(bigbird_mask(n, n, (w, w), list(range(g)), r, seed=seed).sum())
        assert kept <= budget
    # far from the ends every non-global row keeps exactly 2w + 1 + g + r keys
    mask = bigbird_mask(n, n, (w, w), list(range(g)), r, seed=1)
    inner = [i for i in range(n) if i - w >= g and i + w <= n - 1 and n - (2 * w + 1 + g) >= r]
    for i in inner:
        assert int(mask[i].sum()) == 2 * w + 1 + g + r


def test_bigbird_pairs_large_n_close_to_the_budget():
    n, w, g, r = 512, 8, 2, 3
    kept = int(bigbird_mask(n, n, (w, w), [0, 1], r, seed=0).sum())
    assert kept <= summary.bigbird_pairs(n, w, g, r) < kept * 1.01


def test_ssm_scan_flops_counts_six_per_state_element():
    assert summary.ssm_scan_flops(48, 8192, 16) == 6 * 48 * 8192 * 16
    # with D = 2 h d the scan meets attention at n = 3 N
    assert summary.ssm_scan_flops(48, 2 * 32 * 128, 16) == costs.attention_flops(48, 128, heads=32)
    assert summary.ssm_scan_flops(1, 1, 1) == 6


def _expected_rows(n, d, h, w, g_tok, r, F, N, expand, G, dc, dr, b, sb):
    full = 4 * n * n * d * h
    scores = h * n * n * b
    band = sum(min(n - 1, i + w) - max(0, i - w) + 1 for i in range(n))
    bird = g_tok * n + (n - g_tok) * min(n, 2 * w + 1 + g_tok + r)
    D = expand * h * d
    kv = lambda kvh, t: 2 * kvh * d * t * b  # noqa: E731
    return {
        "standard": (full, scores, kv(h, 1), kv(h, n)),
        "flash": (full, h * n * 4, kv(h, 1), kv(h, n)),
        "sliding": (4 * band * d * h, band * h * b, kv(h, 1), kv(h, min(n, w + 1))),
        "bigbird": (4 * bird * d * h, bird * h * b, kv(h, 1), kv(h, n)),
        "linear": (4 * n * F * d * h, 0, 0, h * (F * d + F) * sb),
        "ssm": (6 * n * D * N, 0, 0, D * N * sb),
        "mqa": (full, scores, kv(1, 1), kv(1, n)),
        "gqa": (full, scores, kv(G, 1), kv(G, n)),
        "mla": (full, scores, (dc + dr) * b, (dc + dr) * n * b),
    }


def test_rows_match_independent_arithmetic_on_random_settings():
    rng = random.Random(7)
    for _ in range(40):
        n = rng.randint(1, 300)
        h = rng.choice([1, 2, 4, 6, 8, 12, 32])
        G = rng.choice([k for k in range(1, h + 1) if h % k == 0])
        s = dict(
            n=n,
            d=rng.randint(1, 200),
            h=h,
            w=rng.randint(0, 400),
            g_tok=rng.randint(0, n),
            r=rng.randint(0, 10),
            F=rng.randint(1, 300),
            N=rng.randint(1, 64),
            expand=rng.randint(1, 4),
            G=G,
            dc=rng.randint(1, 600),
            dr=rng.randint(0, 100),
        )
        dt, st = rng.choice(list(BPE)), rng.choice(list(BPE))
        rows = summary.cost_summary_rows(
            s["n"],
            s["d"],
            s["h"],
            s["w"],
            global_tokens=s["g_tok"],
            random_tokens=s["r"],
            feature_dim=s["F"],
            state_dim=s["N"],
            expand=s["expand"],
            kv_heads=G,
            latent_dim=s["dc"],
            rope_dim=s["dr"],
            bytes_per_element=dt,
            state_bytes_per_element=st,
        )
        want = _expected_rows(**s, b=BPE[dt], sb=BPE[st])
        assert [r["key"] for r in rows] == list(summary.VARIANTS)
        for row in rows:
            got = (row["flops"], row["score_bytes"], row["cache_per_token_bytes"], row["cache_bytes"])
            assert got == pytest.approx(want[row["key"]], rel=1e-12), (s, row["key"])
            for key in ("variant", "exact", "flops_formula", "score_formula", "cache_formula"):
                assert isinstance(row[key], str) and row[key]


def test_rows_compose_the_costs_functions():
    rows = {r["key"]: r for r in summary.cost_summary_rows()}
    D = summary.DEFAULTS
    n, d, h = D["seq_len"], D["head_dim"], D["heads"]
    assert rows["standard"]["flops"] == costs.attention_flops(n, d, heads=h)
    assert rows["standard"]["score_bytes"] == costs.score_matrix_bytes(n, heads=h, bytes_per_element="fp16")
    assert rows["gqa"]["cache_bytes"] == costs.kv_cache_bytes(
        layers=1, kv_heads=D["kv_heads"], head_dim=d, tokens=n
    )
    assert rows["sliding"]["cache_bytes"] == costs.rolling_buffer_kv_bytes(
        slots=D["window"] + 1, layers=1, kv_heads=h, head_dim=d
    )
    assert rows["mla"]["cache_bytes"] == costs.mla_cache_bytes(
        layers=1, latent_dim=512, rope_dim=64, tokens=n
    )
    assert rows["flash"]["score_bytes"] == h * n * summary.log_sum_exp_bytes()
    # the window never costs more than full attention, and equals it once it covers everything
    assert rows["sliding"]["flops"] < rows["standard"]["flops"]
    wide = {r["key"]: r for r in summary.cost_summary_rows(100, 16, 2, 99, kv_heads=2)}
    assert wide["sliding"]["flops"] == wide["standard"]["flops"]


@pytest.mark.parametrize(
    "kwargs,exc,word",
    [
        ({"seq_len": 0}, ValueError, "seq_len"),
        ({"head_dim": 1.5}, TypeError, "head_dim"),
        ({"heads": True}, TypeError, "heads"),
        ({"window": -1}, ValueError, "window"),
        ({"window": 2.0}, TypeError, "window"),
        ({"kv_heads": 5}, ValueError, "kv_heads"),
        ({"kv_heads": 0}, ValueError, "kv_heads"),
        ({"global_tokens": 40000}, ValueError, "global_tokens"),
        ({"random_tokens": -2}, ValueError, "random_tokens"),
        ({"feature_dim": 0}, ValueError, "feature_dim"),
        ({"state_dim": 0}, ValueError, "state_dim"),
        ({"expand": 0}, ValueError, "expand"),
        ({"latent_dim": 0}, ValueError, "latent_dim"),
        ({"rope_dim": -1}, ValueError, "rope_dim"),
        ({"bytes_per_element": "fp12"}, ValueError, "fp12"),
        ({"state_bytes_per_element": 0}, ValueError, "bytes_per_element"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        summary.cost_summary_rows(**kwargs)


def test_small_helpers():
    assert summary.default("seq_len") == summary.DEFAULTS["seq_len"]
    with pytest.raises(ValueError, match="name"):
        summary.default("nope")
    assert summary.log_sum_exp_bytes() == torch.finfo(torch.float32).bits // 8
    with pytest.raises(ValueError, match="global_tokens"):
        summary.bigbird_pairs(4, 1, 5, 0)
    with pytest.raises(TypeError, match="random_tokens"):
        summary.bigbird_pairs(4, 1, 1, 0.5)


def test_page_table_columns_exist():
    """The page's {{ table ... }} names these keys: every row must carry them."""
    keys = {
        "variant",
        "flops",
        "flops_formula",
        "score_bytes",
        "score_formula",
        "cache_per_token_bytes",
        "cache_bytes",
        "cache_formula",
        "exact",
    }
    for row in summary.cost_summary_rows():
        assert keys <= set(row)
