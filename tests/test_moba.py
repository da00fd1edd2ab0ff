"""MoBA against a float64 loop written here from the definition: one query, one head at a time."""

from __future__ import annotations

import math

import pytest
import torch
from _helpers import random_qkv

from longctx.sparse import moba_attention_ref
from longctx.sparse.moba import moba_attention_flops, moba_block_mask, moba_flops_saved, moba_mask


def loop_moba(q, k, v, block_size, top_k, scale=None):
    """Per batch, head and query: score the earlier blocks by q . mean key, keep the best
    top_k - 1 (ties to the later block), add the own block causally, softmax over those keys."""
    q, k, v = q.double(), k.double(), v.double()
    B, H, T, D = q.shape
    group = H // k.shape[1]
    scale = 1 / math.sqrt(D) if scale is None else scale
    out = torch.zeros(B, H, T, v.shape[-1], dtype=torch.float64)
    lse = torch.zeros(B, H, T, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            kh, vh = k[b, h // group], v[b, h // group]
            for i in range(T):
                own = i // block_size
                scored = []
                for c in range(own):
                    mean = kh[c * block_size : (c + 1) * block_size].mean(0)
                    scored.append((float(q[b, h, i] @ mean), c))
                scored.sort(key=lambda sc: (sc[0], sc[1]), reverse=True)  # equal scores: later block first
                blocks = {c for _, c in scored[: top_k - 1]}
                keys = [j for j in range(i + 1) if j // block_size == own or j // block_size in blocks]
                s = torch.stack([q[b, h, i] @ kh[j] for j in keys]) * scale
                m = s.max()
                w = torch.exp(s - m)
                lse[b, h, i] = m + torch.log(w.sum())
                out[b, h, i] = (w[:, None] * vh[keys]).sum(0) / w.sum()
    return out, lse


CASES = [  # B, H, H_kv, T, D, Dv, block_size, top_k
    (1, 1, 1, 13, 4, 4, 3, 2),
    (2, 4, 2, 37, 8, 5, 5, 3),
    (1, 3, 1, 29, 7, 3, 4, 1),  # top_k = 1: only the own block (block-diagonal causal)
    (1, 2, 2, 23, 5, 6, 7, 10),  # top_k beyond the number of blocks: full causal attention
    (2, 6, 3, 31, 16, 9, 1, 4),  # block_size 1: a token-level top-k
    (1, 2, 1, 19, 6, 6, 19, 2),  # one block: causal attention
]


@pytest.mark.parametrize("B, H, Hkv, T, D, Dv, bs, top_k", CASES)
def test_moba_matches_the_loop(B, H, Hkv, T, D, Dv, bs, top_k):
    q, k, v = random_qkv(B, H, Hkv, T, T, D, Dv, seed=T * 31 + bs)
    out, lse = moba_attention_ref(q, k, v, block_size=bs, top_k=top_k, return_lse=True)
    want, want_lse = loop_moba(q, k, v, bs, top_k)
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(lse, want_lse, rtol=1e-10, atol=1e-12)
    alone = moba_attention_ref(q, k, v, block_size=bs, top_k=top_k)
    assert isinstance(alone, torch.Tensor) and torch.equal(alone, out)
    # float32 inputs: same result within float32 rounding, out in float32
    out32 = moba_attention_ref(q.float(), k.float(), v.float(), block_size=bs, top_k=top_k, scale=0.3)
    want32, _ = loop_moba(q, k, v, bs, top_k, scale=0.3)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), want32, rtol=1e-4, atol=1e-5)


def test_full_topk_is_causal_attention_and_ties_go_to_the_later_block():
    g = torch.Generator().manual_seed(5)
    q = torch.randn(1, 2, 17, 8, generator=g, dtype=torch.float64)
    k = torch.randn(1, 2, 17, 8, generator=g, dtype=torch.float64)
    v = torch.randn(1, 2, 17, 8, generator=g, dtype=torch.float64)
    full = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(moba_attention_ref(q, k, v, block_size=4, top_k=5), full)
    # identical keys in every block: all earlier blocks tie, so the most recent ones win
    k_same = torch.randn(1, 1, 4, 8, generator=g, dtype=torch.float64).repeat(1, 1, 4, 1)  # 16 positions
    blocks = moba_block_mask(q[:, :1, :16], k_same, 4, 2)[0, 0]  # [16, 4]
    for i in range(16):
        own = i // 4
        assert blocks[i].nonzero().flatten().tolist() == sorted({own, own - 1} - {-1})


def test_mask_picture_and_flops():
    m = moba_mask(24, block_size=4, top_k=2)
    assert m.shape == (24, 24) and m.dtype == torch.bool
    assert not m.triu(1).any() and m.diagonal().all()
    rows = m.sum(1)
    assert (rows <= 8).all()  # own block (<= 4) plus one earlier block of 4
    n, d, bs, top_k = 1000, 64, 64, 3
    f = moba_attention_flops(n, d, block_size=bs, top_k=top_k, heads=2)
    pairs = sum((i % bs + 1) + min(top_k - 1, i // bs) * bs for i in range(n))
    assert f["moba_pairs"] == 2 * pairs and f["causal_pairs"] == 2 * n * (n + 1) // 2
    assert f["attention"] == 2 * 4 * d * pairs
    assert f["gate"] == 2 * (2 * d * sum(i // bs for i in range(n)) + d * n)
    assert f["saved"] == pytest.approx(1 - (f["attention"] + f["gate"]) / f["causal"])
    assert moba_flops_saved(n, d, block_size=bs, top_k=top_k) == pytest.approx(f["saved"])
    # every block chosen: MoBA does all of causal attention plus its gate
    assert moba_attention_flops(100, 8, block_size=10, top_k=10)["saved"] < 0


def test_bad_input_names_the_argument():
    q = torch.randn(1, 2, 8, 4)
    k = v = torch.randn(1, 1, 8, 4)
    cases = [
        (lambda: moba_attention_ref(q, k, v, block_size=0, top_k=2), ValueError, "block_size"),
        (lambda: moba_attention_ref(q, k, v, block_size=2.0, top_k=2), TypeError, "block_size"),
        (lambda: moba_attention_ref(q, k, v, block_size=2, top_k=0), ValueError, "top_k"),
        (lambda: moba_attention_ref(q, k, v, block_size=2, top_k=True), TypeError, "top_k"),
        (
            lambda: moba_attention_ref(q, k[:, :, :5], v[:, :, :5], block_size=2, top_k=2),
            ValueError,
            "S == T",
        ),
        (lambda: moba_attention_ref(q, k, v, block_size=2, top_k=2, scale=-1.0), ValueError, "scale"),
        (lambda: moba_attention_ref(q, k, v, block_size=2, top_k=2, return_lse=1), TypeError, "return_lse"),
        (lambda: moba_attention_ref(q[0], k, v, block_size=2, top_k=2), ValueError, "q"),
        (
            lambda: moba_attention_ref(
                torch.randn(1, 3, 8, 4), k.expand(1, 2, 8, 4), v.expand(1, 2, 8, 4), block_size=2, top_k=2
            ),
            ValueError,
            "H",
        ),
        (lambda: moba_attention_flops(0, 8, block_size=2, top_k=2), ValueError, "seq_len"),
        (lambda: moba_mask(8, block_size=2, top_k=0), ValueError, "top_k"),
    ]
    for call, exc, name in cases:
        with pytest.raises(exc, match=name):
            call()
