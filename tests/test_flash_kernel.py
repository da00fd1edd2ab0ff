"""longctx.flash.kernel (Triton; the CPU interpreter runs it here) against float64 references.

The references are independent of the kernel: the mask is rebuilt here from its definition
(query i sits at key position i + S - T), the output comes from attention_ref (the whole [T, S]
matrix) and torch.logsumexp, gradients from torch.autograd through attention_ref, all in float64
on the kernel's own (rounded) inputs. The interpreter runs programs one after another, so the
shapes stay small (tens of tokens, a few heads); the GPU-marked tests at the end use real sizes.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from _helpers import random_qkv

import longctx.flash.kernel as fk
from longctx.attention import attention_ref
from longctx.flash import flash_attention, flash_attention_ref

# Triton's interpreter: these tests run without coverage but those marked covered (conftest.py)
pytestmark = pytest.mark.interpreted

EPS16 = torch.finfo(torch.float16).eps


def band(T, S, causal=False, window=None, device=None):
    """Boolean [T, S]: query i (at key position i + S - T) sees key j, from the definition."""
    left, right = window if window is not None else (-1, -1)
    pos = torch.arange(T, device=device)[:, None] + (S - T)
    j = torch.arange(S, device=device)[None, :]
    keep = torch.ones(T, S, dtype=torch.bool, device=device)
    if causal:
        keep &= j <= pos
    if left != -1:
        keep &= j >= pos - left
    if right != -1:
        keep &= j <= pos + right
    return keep


qkv = partial(random_qkv, dtype=torch.float32)  # float32 unless a test names another dtype


def exact(q, k, v, keep, scale=None):
    """float64 ``(out, lse)`` of the kernel's own inputs, from the materialised score matrix."""
    q, k, v = (t.detach().double() for t in (q, k, v))
    g = q.shape[1] // k.shape[1]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ k.repeat_interleave(g, dim=1).transpose(-2, -1) * scale  # [B, H, T, S]
    lse = torch.logsumexp(s.masked_fill(~keep, -math.inf), dim=-1)
    return attention_ref(q, k, v, mask=keep, scale=scale), lse


def exact_grads(q, k, v, keep, dout, scale=None):
    q, k, v = (t.detach().double().requires_grad_(True) for t in (q, k, v))
    out = attention_ref(q, k, v, mask=keep, scale=scale)
    return torch.autograd.grad(out, (q, k, v), dout.double())


def check_out(out, want, v, dtype):
    """fp32: rounding only (scores of a few tens are rounded to 1e-6 absolute, which moves the
    output by about as much). fp16: half an ulp of the output plus the fp16 probabilities (half
    an ulp each) that weight |v|, with a factor 2 to spare."""
    if dtype == torch.float32:
        torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-5)
    else:
        tol = EPS16 * (want.abs() + v.double().abs().max())
        err = (out.double() - want).abs()
        assert (err <= tol).all(), (
            f"fp16 error {err.max():.3g} over its bound at {int((err > tol).sum())} entries"
        )


# (causal, window): every kind of band, alone and with causal.
MASKS = [
    (False, None),
    (True, None),
    (False, (0, 0)),
    (True, (0, 0)),
    (False, (3, -1)),
    (True, (3, -1)),
    (False, (-1, 5)),
    (True, (-1, 5)),
    (False, (4, 4)),
    (True, (4, 4)),
]


def forward_cases():
    """Lengths with D (16, 40, 64), the GQA ratio (1, 2, H = 4), the mask and the dtype
    rotating with the case, so that each pairing shows up without the full product."""
    lengths = [
        (1, 1),
        (1, 17),
        (17, 1),
        (17, 17),
        (63, 17),
        (17, 63),
        (63, 63),
        (33, 80),
        (80, 33),
        (130, 63),
        (63, 130),
        (130, 130),
    ]
    cases = []
    for n, (T, S) in enumerate(lengths):
        for m in range(2):
            causal, window = MASKS[(2 * n + m) % len(MASKS)]
            D, H_kv = (16, 40, 64)[(n + m) % 3], (4, 2, 1)[n % 3]
            dtype = torch.float16 if (n + m) % 3 == 1 else torch.float32
            cases.append(
                pytest.param(
                    T,
                    S,
                    D,
                    H_kv,
                    causal,
                    window,
                    dtype,
                    id=f"{T}x{S}-D{D}-Hkv{H_kv}-{'c' if causal else 'nc'}-{window}-{str(dtype)[6:]}",
                )
            )
    return cases


@pytest.mark.parametrize("T, S, D, H_kv, causal, window, dtype", forward_cases())
def test_forward_matches_float64(T, S, D, H_kv, causal, window, dtype):
    B = 2 if T * S < 2000 else 1
    H = 4 if T * S < 5000 else 2  # fewer programs at the longest lengths: the interpreter is slow
    q, k, v = qkv(B, H, min(H_kv, H), T, S, D, dtype=dtype, seed=T * 1000 + S)
    out, lse = flash_attention(q, k, v, causal=causal, window=window, return_lse=True)
    assert out.shape == (B, H, T, D) and out.dtype == dtype
    assert lse.shape == (B, H, T) and lse.dtype == torch.float32
    keep = band(T, S, causal, window)
    want, want_lse = exact(q, k, v, keep)
    check_out(out, want, v, dtype)
    # lse is computed in fp32 from the (rounded) inputs whatever their dtype
    torch.testing.assert_close(lse.double(), want_lse, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("D, Dv", [(24, 40), (80, 16), (128, 128)])
def test_value_dim_other_than_key_dim_and_non_power_of_two(D, Dv):
    q, k, v = qkv(1, 2, 1, 20, 37, D, Dv, seed=D)
    out, lse = flash_attention(q, k, v, causal=True, window=(6, -1), scale=0.3, return_lse=True)
    want, want_lse = exact(q, k, v, band(20, 37, True, (6, -1)), scale=0.3)
    assert out.shape == (1, 2, 20, Dv)
    check_out(out, want, v, torch.float32)
    torch.testing.assert_close(lse.double(), want_lse, rtol=1e-5, atol=2e-6)


def test_matches_the_pytorch_flash_reference():
    # the kernel mirrors flash_attention_ref: same results, same lse convention (natural log)
    q, k, v = qkv(1, 4, 2, 45, 70, 40, seed=7)
    for causal, window in [(True, (9, -1)), (False, (-1, 2))]:
        out, lse = flash_attention(q, k, v, causal=causal, window=window, return_lse=True)
        ref_out, ref_lse = flash_attention_ref(
            q.double(),
            k.double(),
            v.double(),
            causal=causal,
            window=window,
            block_q=16,
            block_k=16,
            return_lse=True,
        )
        torch.testing.assert_close(out.double(), ref_out, rtol=1e-5, atol=2e-6)
        torch.testing.assert_close(lse.double(), ref_lse, rtol=1e-5, atol=2e-6)


def test_strided_inputs_give_the_same_result():
    # [B, T, H, D] viewed as [B, H, T, D] (the usual projection layout, no copy), and a head dim
    # that is not contiguous (copied once by the launcher)
    q, k, v = qkv(2, 4, 2, 30, 30, 16, seed=8)
    plain, plain_lse = flash_attention(q, k, v, causal=True, return_lse=True)
    qt, kt, vt = (t.transpose(1, 2).contiguous().transpose(1, 2) for t in (q, k, v))
    assert not qt.is_contiguous() and qt.stride(-1) == 1
    out, lse = flash_attention(qt, kt, vt, causal=True, return_lse=True)
    torch.testing.assert_close(out, plain, rtol=0, atol=0)
    torch.testing.assert_close(lse, plain_lse, rtol=0, atol=0)
    wide = torch.stack([q, torch.zeros_like(q)], dim=-1)[..., 0]  # every other float of a wider buffer
    assert torch.equal(wide, q) and wide.stride(-1) != 1
    torch.testing.assert_close(flash_attention(wide, k, v, causal=True), plain, rtol=0, atol=0)


# ---------------------------------------------------------------- backward


GRAD_CASES = [
    (17, 17, 16, 4, False, None, torch.float32),
    (17, 63, 40, 2, True, None, torch.float32),
    (63, 17, 64, 1, True, None, torch.float32),
    (1, 17, 16, 1, False, (3, -1), torch.float32),
    (33, 50, 40, 4, True, (0, 0), torch.float32),
    (40, 40, 16, 2, False, (4, 4), torch.float32),
    (50, 33, 40, 1, False, (-1, 5), torch.float32),
    (63, 63, 16, 2, True, (3, -1), torch.float32),
    (72, 72, 16, 1, True, (20, -1), torch.float32),  # window wider than a tile; last row tile half full
    (33, 47, 40, 2, True, None, torch.float16),
    (40, 40, 64, 1, False, (4, 4), torch.float16),
]


@pytest.mark.parametrize(
    "T, S, D, H_kv, causal, window, dtype",
    GRAD_CASES,
    ids=[
        f"{c[0]}x{c[1]}-D{c[2]}-Hkv{c[3]}-{'c' if c[4] else 'nc'}-{c[5]}-{str(c[6])[6:]}" for c in GRAD_CASES
    ],
)
def test_gradients_match_autograd_in_float64(T, S, D, H_kv, causal, window, dtype):
    H = 4 if T * S < 5000 else 2  # fewer heads at 72 x 72: the interpreter is slow
    q, k, v = (t.requires_grad_(True) for t in qkv(1, H, min(H_kv, H), T, S, D, dtype=dtype, seed=T + 7 * S))
    out, lse = flash_attention(q, k, v, causal=causal, window=window, return_lse=True)
    assert out.requires_grad and not lse.requires_grad
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(T), dtype=torch.float64).to(dtype)
    got = torch.autograd.grad(out, (q, k, v), dout)
    want = exact_grads(q, k, v, band(T, S, causal, window), dout)
    for name, a, b, x in zip(("dq", "dk", "dv"), got, want, (q, k, v)):
        assert a.shape == x.shape and a.dtype == dtype, name
        if dtype == torch.float32:
            torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")
        else:  # fp16 probabilities and dS: a few ulps of the largest gradient
            err = (a.double() - b).abs().max().item()
            assert err <= 4 * EPS16 * max(1.0, b.abs().max().item()), f"{name}: fp16 error {err:.3g}"


# ---------------------------------------------------------------- rows that see nothing


@pytest.mark.parametrize(
    "T, S, causal, window, n_empty",
    [
        (20, 7, True, None, 13),  # query i sees keys j <= i - 13
        (15, 5, True, (0, 0), 10),  # query 10 + j sees key j alone
        (18, 40, False, (-1, 0), 0),  # every query sees something
    ],
)
def test_rows_that_see_nothing_give_zeros_and_zero_gradients(T, S, causal, window, n_empty):
    q, k, v = (t.requires_grad_(True) for t in qkv(1, 2, 1, T, S, 16, seed=T))
    out, lse = flash_attention(q, k, v, causal=causal, window=window, return_lse=True)
    assert torch.isfinite(out).all()
    assert (out[:, :, :n_empty] == 0).all() and torch.isneginf(lse[:, :, :n_empty]).all()
    assert torch.isfinite(lse[:, :, n_empty:]).all()
    check_out(out, exact(q, k, v, band(T, S, causal, window))[0], v, torch.float32)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), dout)
    assert all(torch.isfinite(g).all() for g in (dq, dk, dv))
    assert (dq[:, :, :n_empty] == 0).all()
    for a, b in zip((dq, dk, dv), exact_grads(q, k, v, band(T, S, causal, window), dout)):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-5)


def test_diagonal_window_returns_the_values():
    # window (0, 0): each query sees the key at its own position alone, so out = v there exactly,
    # lse = its score, and almost no gradient reaches q or k (a softmax over one entry is the
    # constant 1; only rounding of exp2(s - lse) around 1 is left). Two query heads read each
    # key/value head, so dv sums two ones.
    q, k, v = (t.requires_grad_(True) for t in qkv(1, 4, 2, 21, 21, 40, seed=3))
    out, lse = flash_attention(q, k, v, window=(0, 0), return_lse=True)
    torch.testing.assert_close(out, v.detach().repeat_interleave(2, dim=1), rtol=0, atol=0)
    scores = (q * k.repeat_interleave(2, dim=1)).sum(-1).detach() / math.sqrt(40)
    torch.testing.assert_close(lse, scores, rtol=1e-6, atol=1e-6)
    dq, dk, dv = torch.autograd.grad(out.sum(), (q, k, v))
    assert dq.abs().max() < 1e-5 and dk.abs().max() < 1e-5
    torch.testing.assert_close(dv, torch.full_like(dv, 2.0), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- tiles outside the band are never read


def poison_rows(t, start, stop):
    t = t.clone()
    t[..., start:stop, :] = math.nan
    return t


def test_forward_never_reads_key_tiles_outside_the_band():
    # With tiles of block_m x block_n, query block i visits only the key tiles its rows may see
    # (the reference's tile_counts rule). Fill one tile of values with NaN: the query blocks that
    # skip it stay exact, the ones that visit it turn NaN (0 * NaN inside P @ V, even where the
    # mask hides the entries), which shows the poison is read exactly where the loop bounds say.
    T = S = 96
    window = (4, 4)
    cfg = fk.flash_configs("_flash_fwd_kernel", 16, torch.float32, masked=True)[0]
    bm, bn = cfg.const("BLOCK_M"), cfg.const("BLOCK_N")
    q, k, v = qkv(1, 2, 1, T, S, 16, seed=4)
    j0 = bn * (S // bn // 2)  # a tile in the middle
    out = flash_attention(q, k, poison_rows(v, j0, j0 + bn), window=window)
    want = exact(q, k, v, band(T, S, False, window))[0]
    for i0 in range(0, T, bm):
        rows = out[:, :, i0 : i0 + bm]
        keep = band(T, S, False, window)[i0 : i0 + bm]
        if keep[:, j0 : j0 + bn].any():
            assert torch.isnan(rows).all(), f"query block {i0} sees the tile but did not read it"
        else:
            assert torch.isfinite(rows).all(), f"query block {i0} read a tile outside its band"
            check_out(rows, want[:, :, i0 : i0 + bm], v, torch.float32)
    assert torch.isfinite(out).any() and torch.isnan(out).any()


def test_backward_never_reads_query_tiles_outside_the_band():
    # dK/dV of a key block loop over the query tiles that may see it: NaN in one query tile
    # (q and dO) reaches only the key blocks within its band; the others stay exact.
    T = S = 96
    causal, window = True, (8, -1)
    cfg = fk.flash_configs("_flash_bwd_dkdv_kernel", 16, torch.float32, masked=True)[0]
    bm, bn = cfg.const("BLOCK_M"), cfg.const("BLOCK_N")
    q, k, v = (t.requires_grad_(True) for t in qkv(1, 2, 1, T, S, 16, seed=5))
    dout = torch.randn(1, 2, T, 16, generator=torch.Generator().manual_seed(5))
    i0 = bm * (T // bm // 2)
    qp = poison_rows(q.detach(), i0, i0 + bm).requires_grad_(True)
    out = flash_attention(qp, k, v, causal=causal, window=window)
    dq, dk, dv = torch.autograd.grad(out, (qp, k, v), poison_rows(dout, i0, i0 + bm))
    keep = band(T, S, causal, window)
    _, want_dk, want_dv = exact_grads(q, k, v, keep, dout)
    for j0 in range(0, S, bn):
        if keep[i0 : i0 + bm, j0 : j0 + bn].any():
            assert torch.isnan(dk[:, :, j0 : j0 + bn]).all()
        else:
            torch.testing.assert_close(
                dk[:, :, j0 : j0 + bn].double(), want_dk[:, :, j0 : j0 + bn], rtol=1e-5, atol=1e-5
            )
            torch.testing.assert_close(
                dv[:, :, j0 : j0 + bn].double(), want_dv[:, :, j0 : j0 + bn], rtol=1e-5, atol=1e-5
            )
    # dQ of the other query blocks reads only clean keys
    assert torch.isfinite(dq[:, :, :i0]).all() and torch.isfinite(dq[:, :, i0 + bm :]).all()


# ---------------------------------------------------------------- determinism, overflow


def test_deterministic():
    # dK/dV sum over a GQA group of 3 heads and several query tiles: no atomics, so bitwise equal
    q, k, v = (t.requires_grad_(True) for t in qkv(1, 3, 1, 33, 40, 16, seed=6))
    dout = torch.randn(1, 3, 33, 16, generator=torch.Generator().manual_seed(6))
    runs = []
    for _ in range(2):
        out, lse = flash_attention(q, k, v, causal=True, window=(20, -1), return_lse=True)
        runs.append((out, lse, *torch.autograd.grad(out, (q, k, v), dout)))
    for a, b in zip(*runs):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_large_scores_do_not_overflow(dtype):
    # q and k times 30: scores in the thousands, exp of which overflows any float format.
    # Subtracting the running max keeps every exponent <= 0.
    T, S = 33, 50
    q, k, v = (t.requires_grad_(True) for t in qkv(1, 2, 1, T, S, 16, dtype=dtype, seed=9, mult=30.0))
    out, lse = flash_attention(q, k, v, causal=True, return_lse=True)
    keep = band(T, S, True)
    want, want_lse = exact(q, k, v, keep)
    assert torch.isfinite(out).all() and torch.isfinite(lse).all()
    assert lse.abs().max() > 500  # the test does provoke scores exp() cannot hold
    # Scores this large are themselves rounded in fp32 (relative 6e-8 of thousands), which moves
    # the near one-hot softmax: compare with PyTorch doing the same sum in float32.
    pytorch = attention_ref(q.detach().float(), k.detach().float(), v.detach().float(), mask=keep).double()
    err = (out.double() - want).abs().max().item()
    theirs = (pytorch - want).abs().max().item()
    if dtype == torch.float32:
        assert err <= 2 * theirs + 1e-5
        torch.testing.assert_close(lse.double(), want_lse, rtol=1e-6, atol=0)
        dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(9))
        got = torch.autograd.grad(out, (q, k, v), dout)
        assert all(torch.isfinite(g).all() for g in got)
        for a, b in zip(got, exact_grads(q, k, v, keep, dout)):
            assert (a.double() - b).abs().max() <= 1e-3 * max(1.0, b.abs().max().item())
    else:
        check_out(out, want, v, dtype)


# ---------------------------------------------------------------- block sizes and bad input


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_every_gpu_choice_is_a_listed_configuration(monkeypatch, dtype):
    # what the launchers can choose on a GPU, checked here without one: every candidate of every
    # head dim, mask and kernel is in CONFIGS (the compile gate's list), tiles are powers of two
    # >= 16 (tl.dot's smallest) and the padded head dim covers the real one
    from longctx import _triton

    monkeypatch.setattr(fk, "interpreting", lambda: False)
    monkeypatch.setattr(_triton, "interpreting", lambda: False)
    listed = set(fk.CONFIGS)
    for kernel in fk.KERNELS:
        for head_dim in range(fk.MIN_HEAD_DIM, fk.MAX_HEAD_DIM + 1):
            for masked in (False, True):
                cands = fk.flash_configs(kernel, head_dim, dtype, masked=masked)
                assert cands and set(cands) <= listed, (kernel, head_dim, masked)
                for cfg in cands:
                    assert cfg.const("BLOCK_D") in fk.HEAD_BLOCKS and cfg.const("BLOCK_D") >= head_dim
                    assert cfg.launch() == {
                        **dict(cfg.constexprs),
                        "num_warps": cfg.num_warps,
                        "num_stages": cfg.num_stages,
                    }
                    for name in ("BLOCK_M", "BLOCK_N"):
                        if name in dict(cfg.constexprs):
                            b = cfg.const(name)
                            assert b >= 16 and b & (b - 1) == 0
                    if kernel != "_flash_bwd_preprocess_kernel":
                        assert cfg.const("F32") == (dtype == torch.float32) and cfg.const("MASKED") == masked
    monkeypatch.undo()
    # the interpreter's own: small tiles, the head dim padded to a power of two >= 16, float32 products
    (cfg,) = fk.flash_configs("_flash_fwd_kernel", 40, dtype, masked=False)
    assert (cfg.const("BLOCK_M"), cfg.const("BLOCK_N"), cfg.const("BLOCK_D"), cfg.const("F32")) == (
        16,
        16,
        64,
        True,
    )
    assert "num_warps" not in cfg.launch()


def test_launches_record_their_configuration_and_the_tuner_keeps_the_fastest(monkeypatch):
    from longctx import _triton, last_configs

    q, k, v = qkv(1, 2, 1, 20, 20, 16)
    flash_attention(q, k, v, causal=True)
    assert last_configs()["_flash_fwd_kernel"].const("MASKED") is True
    flash_attention(q, k, v)
    assert last_configs()["_flash_fwd_kernel"].const("MASKED") is False
    # on a GPU the tuner times each candidate once per key; here a fake clock stands in for do_bench
    monkeypatch.setattr(_triton, "interpreting", lambda: False)
    import triton.testing

    cands = fk.flash_configs("_flash_fwd_kernel", 128, torch.bfloat16, masked=True, gpu=True)
    cost = {c: t for c, t in zip(cands, (3.0, 1.0, 2.0))}
    calls = []
    monkeypatch.setattr(triton.testing, "do_bench", lambda fn, **kw: (fn(), cost[calls[-1]])[1])
    tuner = _triton.Tuner()
    assert tuner.pick("key", cands, calls.append) == cands[1]
    assert tuner.pick("key", cands, calls.append) == cands[1] and len(calls) == len(cands)  # once per key
    monkeypatch.setenv("LONGCTX_AUTOTUNE", "0")
    assert _triton.Tuner().pick("other", cands, calls.append) == cands[0]


def test_lazy_export_from_the_package():
    import longctx.flash as flash

    assert flash.flash_attention is fk.flash_attention
    assert "flash_attention" in flash.__all__
    with pytest.raises(AttributeError, match="nope"):
        flash.nope  # noqa: B018


def test_bad_input_raises_naming_the_argument():
    q, k, v = qkv(1, 4, 2, 8, 8, 16)
    for kwargs, exc, msg in [
        (dict(window=(-2, 3)), ValueError, "window left"),
        (dict(window=(3, 1.0)), TypeError, "window right"),
        (dict(window=5), TypeError, "window"),
        (dict(scale=float("inf")), ValueError, "scale"),
        (dict(scale="1"), TypeError, "scale"),
        (dict(scale=-0.5), ValueError, "scale"),
        (dict(causal=None), TypeError, "causal"),
        (dict(return_lse=1), TypeError, "return_lse"),
    ]:
        with pytest.raises(exc, match=msg):
            flash_attention(q, k, v, **kwargs)
    q8, k8, v8 = qkv(1, 4, 2, 8, 8, 8)
    q300, k300, v300 = qkv(1, 4, 2, 8, 8, 300)
    for args, exc, msg in [
        ((q.double(), k.double(), v.double()), TypeError, "float16, bfloat16 or float32"),
        ((q.int(), k.int(), v.int()), TypeError, "q must be a floating-point"),
        ((q.half(), k, v), TypeError, "q, k and v must share"),
        ((q.tolist(), k, v), TypeError, "q must be a torch.Tensor"),
        ((q8, k8, v8), ValueError, "head dim D must be in 16..256 for the kernel, got 8"),
        ((q300, k300, v300), ValueError, "head dim D must be in 16..256 for the kernel, got 300"),
        ((q, k, v8), ValueError, "v's head dim Dv must be in 16..256 for the kernel, got 8"),
        ((q[:, :3], k, v), ValueError, "H_kv"),
        ((q, k[..., :8], v), ValueError, "head dim"),
        ((q, k[:, :, :5], v), ValueError, "k and v must agree"),
        ((q[0], k, v), ValueError, "q must have 4 dims"),
        ((q[:, :, :0], k, v), ValueError, "q must hold"),
        ((q, k[:, :, :0], v[:, :, :0]), ValueError, "k and v must hold"),
        ((q, k.to("meta"), v), ValueError, "k must be on q's device"),
    ]:
        with pytest.raises(exc, match=msg):
            flash_attention(*args)


def test_cpu_tensors_without_the_interpreter_are_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    q, k, v = qkv(1, 2, 1, 8, 8, 16)
    with pytest.raises(ValueError, match="q must be a CUDA tensor.*got a tensor on cpu"):
        flash_attention(q, k, v)


def test_tensors_on_different_devices_are_refused(monkeypatch):
    # two devices that both pass check_device need two GPUs; stand in with a permissive check
    monkeypatch.setattr(fk, "check_device", lambda name, t: None)
    q, k, v = qkv(1, 2, 1, 8, 8, 16)
    with pytest.raises(ValueError, match="k must be on q's device"):
        flash_attention(q, k.to("meta"), v)


def test_empty_batch():
    q, k, v = qkv(0, 2, 1, 8, 9, 16)
    out, lse = flash_attention(q.requires_grad_(True), k, v, return_lse=True)
    assert out.shape == (0, 2, 8, 16) and lse.shape == (0, 2, 8)
    (dq,) = torch.autograd.grad(out.sum(), (q,))
    assert dq.shape == q.shape


# ---------------------------------------------------------------- GPU: FlashAttention's error rule


def low_precision_attention(q, k, v, keep, scale):
    """PyTorch's own attention with every tensor in the input's low precision."""
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    s = (q @ k.transpose(-2, -1) * scale).masked_fill(~keep, -math.inf)
    return torch.softmax(s, dim=-1) @ v


def gpu_errors(B, H, H_kv, T, S, D, dtype, causal, window, seed):
    """Max errors against float64 of (kernel, PyTorch in ``dtype``) for out, dq, dk, dv."""
    q, k, v = qkv(B, H, H_kv, T, S, D, dtype=dtype, seed=seed, device="cuda")
    keep = band(T, S, causal, window, device="cuda")
    dout = torch.randn(B, H, T, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).cuda()
    errors = {}
    for name, fn in (
        ("kernel", lambda a, b, c: flash_attention(a, b, c, causal=causal, window=window)),
        ("pytorch", lambda a, b, c: low_precision_attention(a, b, c, keep, 1 / math.sqrt(D))),
        ("exact", lambda a, b, c: attention_ref(a, b, c, mask=keep)),
    ):
        xs = [t.detach().clone().requires_grad_(True) for t in (q, k, v)]
        if name == "exact":
            xs = [t.detach().double().requires_grad_(True) for t in xs]
        out = fn(*xs)
        grads = torch.autograd.grad(out, xs, dout.to(out.dtype))
        errors[name] = [out.double(), *(g.double() for g in grads)]
    ref = errors.pop("exact")
    return {name: [(a - b).abs().max().item() for a, b in zip(vals, ref)] for name, vals in errors.items()}


def assert_within_flash_rule(errors):
    for i, what in enumerate(("out", "dq", "dk", "dv")):
        ours, theirs = errors["kernel"][i], errors["pytorch"][i]
        factor = 2 if what == "out" else 3
        assert ours <= factor * theirs + 1e-6, f"{what}: kernel error {ours:.3g} vs PyTorch's {theirs:.3g}"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("D", [64, 128])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(
    "T, S, H_kv", [(1024, 1024, 8), (1024, 1024, 2), (1000, 1536, 2)], ids=lambda v: str(v)
)
def test_gpu_low_precision_error_within_flash_rule(dtype, D, causal, T, S, H_kv):
    # FlashAttention's rule: against float64, the kernel's error in a low precision is at most
    # twice the error of PyTorch's own attention in that precision (three times for gradients).
    assert_within_flash_rule(gpu_errors(2, 8, H_kv, T, S, D, dtype, causal, None, seed=T + S + D))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize(
    "causal, window", [(True, (256, -1)), (False, (128, 128)), (True, (31, -1))], ids=str
)
def test_gpu_sliding_window_within_flash_rule(dtype, causal, window):
    assert_within_flash_rule(gpu_errors(2, 8, 2, 2048, 2048, 64, dtype, causal, window, seed=11))


@pytest.mark.gpu
@pytest.mark.parametrize("D", [40, 128])
def test_gpu_float32_is_exact_ieee_not_tf32(D):
    # TF32 products keep 10 mantissa bits (errors near 1e-3); IEEE fp32 gives 1e-6
    q, k, v = qkv(1, 4, 2, 700, 900, D, seed=D, device="cuda")
    out, lse = flash_attention(q, k, v, causal=True, return_lse=True)
    keep = band(700, 900, True, device="cuda")
    want, want_lse = exact(q, k, v, keep)
    torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lse.double(), want_lse, rtol=1e-5, atol=1e-5)
