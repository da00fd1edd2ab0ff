"""The chunked linear-attention Triton kernel (CPU interpreter here) against linear_attention_ref in float64.

The interpreter runs the programs one after another (the state kernel's tiles, then every chunk
of every head): shapes stay small (a few heads, at most 130 positions).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from _helpers import rel_rms

from longctx.linear import (
    FavorFeatures,
    linear_attention_chunked_ref,
    linear_attention_recurrent_ref,
    linear_attention_ref,
)
from longctx.linear.kernel import (
    CONFIGS,
    MAX_CHUNK,
    MAX_HEAD_DIM,
    linear_attention,
    linear_configs,
)

# Triton's interpreter: these tests run without coverage but those marked covered (conftest.py)
pytestmark = pytest.mark.interpreted

# Relative-RMS bounds against float64. The kernel computes in float32 throughout, so fp32 is
# exact up to rounding; fp16/bf16 outputs carry the final rounding to 11/8 significant bits.
RMS_TOL = {torch.float32: 2e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}


def randn(*shape, dtype=torch.float32, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def make_qkv(B=1, H=2, H_kv=None, T=17, S=None, D=16, Dv=32, dtype=torch.float32, seed=0, scale=1.0):
    H_kv = H if H_kv is None else H_kv
    S = T if S is None else S
    q = randn(B, H, T, D, dtype=dtype, seed=seed, scale=scale)
    k = randn(B, H_kv, S, D, dtype=dtype, seed=seed + 1, scale=scale)
    v = randn(B, H_kv, S, Dv, dtype=dtype, seed=seed + 2, scale=scale)
    return q, k, v


def exact(q, k, v, **kw):
    """The reference on the very same (possibly rounded) inputs, in float64."""
    return linear_attention_ref(q.double(), k.double(), v.double(), **kw)


def check(q, k, v, chunk_size=64, **kw):
    out = linear_attention(q, k, v, chunk_size=chunk_size, **kw)
    assert out.dtype == q.dtype
    assert out.shape == (*q.shape[:3], v.shape[3])
    want = exact(q, k, v, **kw)
    err = rel_rms(out, want)
    assert err < RMS_TOL[q.dtype], f"relative RMS error {err:.3g}"
    # No single element far off either: within a few output roundings of the largest value.
    scale = float(want.abs().max())
    assert float((out.double() - want).abs().max()) <= 8 * torch.finfo(q.dtype).eps * scale + 1e-12
    return out


# ---------------------------------------------------------------- against the float64 reference

DV_FOR = {16: 32, 40: 16, 64: 48}  # Dv != D everywhere


@pytest.mark.parametrize("T, C, D", list(itertools.product([1, 17, 63], [16, 32, 64], [16, 40, 64])))
def test_causal_shapes(T, C, D):
    # elu + 1 is positive everywhere: a padded row or column read as phi(0) = 1 instead of 0
    # would add a phantom key or feature, so T and D off the block sizes catch missing masks.
    q, k, v = make_qkv(T=T, D=D, Dv=DV_FOR[D], seed=T * 1000 + C * 10 + D)
    check(q, k, v, chunk_size=C)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("normalize", [True, False], ids=["norm", "raw"])
@pytest.mark.parametrize("feature_map", ["elu", "relu"])
def test_options(feature_map, normalize, causal, dtype):
    S = 63 if causal else 45  # non-causal: T != S too
    q, k, v = make_qkv(T=63, S=S, D=40, Dv=24, dtype=dtype, seed=7)
    check(q, k, v, chunk_size=16, causal=causal, feature_map=feature_map, normalize=normalize)


@pytest.mark.parametrize(
    "kw",
    [
        dict(causal=True, feature_map="elu", normalize=True, C=16, D=64, Dv=16, H_kv=2, dtype=torch.float32),
        dict(
            causal=True, feature_map="relu", normalize=False, C=32, D=16, Dv=48, H_kv=1, dtype=torch.float16
        ),
        dict(
            causal=False, feature_map="relu", normalize=True, C=64, D=40, Dv=32, H_kv=2, dtype=torch.float16
        ),
    ],
    ids=["elu-c16-gqa", "relu-raw-c32-mqa-fp16", "full-relu-c64-fp16"],
)
def test_longer_sequence(kw):
    kw = dict(kw)
    C, D, Dv, H_kv, dtype = (kw.pop(n) for n in ("C", "D", "Dv", "H_kv", "dtype"))
    q, k, v = make_qkv(H=2, H_kv=H_kv, T=130, D=D, Dv=Dv, dtype=dtype, seed=130)
    check(q, k, v, chunk_size=C, **kw)


@pytest.mark.parametrize("T, S", [(17, 63), (63, 1), (1, 130), (40, 40)])
def test_non_causal_lengths(T, S):
    q, k, v = make_qkv(T=T, S=S, D=40, Dv=16, seed=T + S)
    check(q, k, v, chunk_size=32, causal=False)


@pytest.mark.parametrize("H_kv", [1, 2, 4])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_grouped_query_heads(H_kv, causal):
    q, k, v = make_qkv(B=2, H=4, H_kv=H_kv, T=20, D=16, Dv=16, seed=H_kv)
    out = check(q, k, v, chunk_size=16, causal=causal)
    if H_kv < 4:
        # Query heads of one group read the same keys: the kernel gives each of them what the
        # reference gives that head after copying the shared keys and values out.
        group = 4 // H_kv
        k_rep, v_rep = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        assert rel_rms(out, exact(q, k_rep, v_rep, causal=causal)) < RMS_TOL[torch.float32]


def test_matches_the_chunked_reference_chunk_for_chunk():
    # Same chunk size, same float32 arithmetic order up to the sums inside the products.
    q, k, v = make_qkv(B=2, H=2, T=50, D=40, Dv=24, seed=11)
    out = linear_attention(q, k, v, chunk_size=16)
    torch.testing.assert_close(
        out, linear_attention_chunked_ref(q, k, v, chunk_size=16), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda t: (
            t.transpose(1, 2).contiguous().transpose(1, 2)
        ),  # [B, T, H, D] memory, viewed as [B, H, T, D]
        lambda t: torch.cat([t, t], dim=-1)[..., ::2],  # every other element of the last dim
    ],
    ids=["heads-inner", "last-dim-step"],
)
def test_non_contiguous_inputs(make):
    q, k, v = (make(t) for t in make_qkv(B=2, H=2, T=19, D=16, Dv=16, seed=3))
    assert not q.is_contiguous() and not v.is_contiguous()
    check(q, k, v, chunk_size=16)
    check(q, k, v, chunk_size=16, causal=False)


def test_bfloat16_under_the_interpreter():
    # Every product runs in float32 (bf16 tiles are converted on load), so the interpreter's
    # broken bf16 tl.dot is never reached.
    q, k, v = make_qkv(T=33, D=16, Dv=16, dtype=torch.bfloat16, seed=5)
    check(q, k, v, chunk_size=16)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_low_precision_output_is_the_float32_result_rounded_once(dtype):
    # Low-precision tiles are widened to float32 exactly on load and everything after runs in
    # float32, so the only difference from a float32 call is the final round to nearest.
    q, k, v = make_qkv(T=40, D=16, Dv=16, dtype=dtype, seed=8)
    for causal in (True, False):
        out = linear_attention(q, k, v, causal=causal, chunk_size=16)
        wide = linear_attention(q.float(), k.float(), v.float(), causal=causal, chunk_size=16)
        assert torch.equal(out, wide.to(dtype))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_low_precision_error_within_twice_the_reference_in_that_precision(dtype):
    # FlashAttention's rule, on a small case: the reference fed the same low-precision inputs
    # computes in float32 and rounds once; the kernel must do no worse than twice that.
    q, k, v = make_qkv(B=2, H=2, T=64, D=32, Dv=32, dtype=dtype, seed=9)
    want = exact(q, k, v)
    ours = rel_rms(linear_attention(q, k, v, chunk_size=16), want)
    theirs = rel_rms(linear_attention_ref(q, k, v), want)
    assert 0 < theirs and ours <= 2 * theirs, f"kernel {ours:.3g} vs reference in {dtype}: {theirs:.3g}"


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_final_state_matches_the_recurrent_reference(causal, dtype):
    # (state, z): the sums over every key, per query head (GQA: the shared key head's sums)
    q, k, v = make_qkv(B=2, H=4, H_kv=2, T=37, D=24, Dv=40, dtype=dtype, seed=21)
    out, (state, z) = linear_attention(q, k, v, causal=causal, chunk_size=16, return_final_state=True)
    want, (want_state, want_z) = linear_attention_recurrent_ref(
        q.double(), k.double(), v.double(), causal=causal, return_final_state=True
    )
    assert state.shape == (2, 4, 24, 40) and z.shape == (2, 4, 24) and state.dtype == z.dtype == torch.float32
    torch.testing.assert_close(state.double(), want_state, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(z.double(), want_z, rtol=1e-5, atol=1e-5)
    assert torch.equal(out, linear_attention(q, k, v, causal=causal, chunk_size=16))


def test_every_gpu_choice_is_a_listed_configuration():
    # the launcher's two configurations for every chunk and dtype are in CONFIGS (the compile
    # gate's list), and CONFIGS holds nothing else
    listed = set(CONFIGS)
    chosen = set()
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for chunk in (16, 32, MAX_CHUNK):
            state, chunk_cfg = linear_configs(chunk_size=chunk, dtype=dtype)
            assert {state, chunk_cfg} <= listed and chunk_cfg.const("BLOCK_C") == chunk
            assert state.kernel == "_linear_state_kernel" and chunk_cfg.kernel == "_linear_chunk_kernel"
            chosen |= {state, chunk_cfg}
    assert chosen == listed


def test_tiles_narrower_than_the_head_dims_with_ragged_last_blocks():
    # F = 72 and Dv = 80 split into feature tiles (STATE_BLOCK, and 16 in the chunk kernel) and
    # value blocks (STATE_BLOCK, VALUE_BLOCK) whose last one is partly padding; with GQA, both
    # modes, the final state, and T off the chunk so the last chunk is short too
    state_cfg, chunk_cfg = linear_configs(chunk_size=32, dtype=torch.float32)
    blocks = {state_cfg.const("BLOCK_K"), state_cfg.const("BLOCK_V"), chunk_cfg.const("BLOCK_V")}
    assert all(72 % b and 80 % b and 80 > b for b in blocks) and 72 % chunk_cfg.const("BLOCK_K")
    q, k, v = make_qkv(B=1, H=4, H_kv=2, T=45, D=72, Dv=80, seed=23)
    for causal in (True, False):
        out, (state, z) = linear_attention(q, k, v, causal=causal, chunk_size=32, return_final_state=True)
        want, (want_state, want_z) = linear_attention_recurrent_ref(
            q.double(), k.double(), v.double(), causal=causal, return_final_state=True
        )
        assert rel_rms(out, want) < RMS_TOL[torch.float32]
        torch.testing.assert_close(state.double(), want_state, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(z.double(), want_z, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- feature maps on the host


def test_performer_features_on_the_host():
    favor = FavorFeatures(16, 32, seed=4)
    q, k, v = make_qkv(H=2, H_kv=1, T=40, D=16, Dv=16, seed=12, scale=0.5)
    for causal in (True, False):
        out = linear_attention(q, k, v, causal=causal, feature_map=favor, chunk_size=16)
        # Features are computed in float32 (as the reference does for float32 inputs) and
        # exp() magnifies their rounding: compare with that, and loosely with float64.
        torch.testing.assert_close(
            out, linear_attention_ref(q, k, v, causal=causal, feature_map=favor), rtol=1e-5, atol=1e-6
        )
        assert rel_rms(out, exact(q, k, v, causal=causal, feature_map=favor)) < 1e-5


def test_callable_with_more_features_than_head_dim():
    # phi(x) = [relu(x), relu(-x)]: F = 2 D features, computed on the host.
    def phi(x):
        return torch.cat([torch.relu(x), torch.relu(-x)], dim=-1)

    q, k, v = make_qkv(T=30, D=16, Dv=16, dtype=torch.float16, seed=13)
    check(q, k, v, chunk_size=16, feature_map=phi)


# ---------------------------------------------------------------- denominators, scale, determinism


def test_zero_denominators_give_zeros_like_the_reference():
    # relu features: a query with no positive entry weighs every key 0, so its denominator is
    # exactly 0 and the reference returns a zero row; so must the kernel (not 0/0 = NaN).
    q, k, v = make_qkv(T=37, D=16, Dv=16, seed=14)
    q[0, 0, ::3] = -q[0, 0, ::3].abs()  # every third query of head 0 is all negative
    for causal in (True, False):
        out = linear_attention(q, k, v, causal=causal, feature_map="relu", chunk_size=16)
        assert torch.isfinite(out).all()
        assert (out[0, 0, ::3] == 0).all()
        assert rel_rms(out, exact(q, k, v, causal=causal, feature_map="relu")) < RMS_TOL[torch.float32]


@pytest.mark.covered  # the only test that runs the kernel's eps branch
def test_eps_zeroes_small_denominators_as_the_reference_does():
    q, k, v = make_qkv(T=40, D=16, Dv=16, seed=15)
    dens = linear_attention_ref(
        q.double(), k.double(), torch.ones_like(v[..., :1]).double(), feature_map="relu", normalize=False
    )[..., 0]  # [B, H, T]
    eps = float(dens.median())  # about half the rows fall at or under it
    out = linear_attention(q, k, v, feature_map="relu", eps=eps, chunk_size=16)
    want = exact(q, k, v, feature_map="relu", eps=eps)
    zero_rows = (want == 0).all(-1)
    assert 0 < int(zero_rows.sum()) < zero_rows.numel()
    assert torch.equal((out == 0).all(-1), zero_rows)
    assert rel_rms(out, want) < RMS_TOL[torch.float32]


@pytest.mark.parametrize("dtype, scale", [(torch.float32, 1e6), (torch.float16, 6e4)], ids=["fp32", "fp16"])
def test_large_inputs_stay_finite(dtype, scale):
    # elu + 1 grows like x: weights reach D * scale^2 and sums of them T times that, beyond
    # fp16's range; in float32 inside the kernel they do not overflow, and the output is a
    # weighted mean of values, so it fits the input dtype.
    q, k, v = make_qkv(T=45, D=16, Dv=16, seed=16, scale=scale / 4)
    q, k, v = (t.clamp(-scale, scale).to(dtype) for t in (q, k, v))
    for causal in (True, False):
        out = linear_attention(q, k, v, causal=causal, chunk_size=16)
        assert torch.isfinite(out).all()
        assert rel_rms(out, exact(q, k, v, causal=causal)) < RMS_TOL[dtype]


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # the interpreter's numpy
def test_unnormalized_overflow_matches_the_reference():
    # Without the division the numerator itself is the output: in fp16 some entries pass
    # 65504 and become inf. The kernel must overflow exactly where the reference does.
    q, k, v = make_qkv(T=40, D=16, Dv=16, seed=17, scale=30.0)
    q, k, v = (t.half() for t in (q, k, v))
    out = linear_attention(q, k, v, normalize=False, chunk_size=16)
    ref = linear_attention_ref(q, k, v, normalize=False)
    finite = torch.isfinite(ref)
    assert 0 < int((~finite).sum()) < finite.numel()
    assert torch.equal(torch.isfinite(out), finite)
    assert not torch.isnan(out).any()
    assert rel_rms(out[finite], exact(q, k, v, normalize=False)[finite]) < RMS_TOL[torch.float16]


def test_deterministic():
    q, k, v = make_qkv(B=2, H=2, H_kv=1, T=70, D=40, Dv=16, seed=18)
    for causal in (True, False):
        first = linear_attention(q, k, v, causal=causal, chunk_size=32)
        assert torch.equal(first, linear_attention(q, k, v, causal=causal, chunk_size=32))


def test_empty_batch():
    q, k, v = make_qkv(B=0, T=5, D=16, Dv=16)
    assert linear_attention(q, k, v).shape == (0, 2, 5, 16)


def test_lazy_export_from_the_package():
    import longctx.linear as linear

    assert linear.linear_attention is linear_attention
    with pytest.raises(AttributeError, match="nope"):
        linear.nope  # noqa: B018


# ---------------------------------------------------------------- bad input


def _qkv(**kw):
    return make_qkv(T=8, D=16, Dv=16, **kw)


@pytest.mark.parametrize(
    "args, kw, error, match",
    [
        (lambda: (*_qkv()[:2], [[1.0]]), {}, TypeError, "v must be a torch.Tensor"),
        (lambda: tuple(t.to(torch.int32) for t in _qkv()), {}, TypeError, "q must be a floating-point"),
        (lambda: _qkv(dtype=torch.float64), {}, TypeError, "float32, float16 or bfloat16"),
        (lambda: (_qkv()[0].half(), *_qkv()[1:]), {}, TypeError, "q, k and v must share"),
        (
            lambda: make_qkv(T=8, D=8, Dv=16),
            {},
            ValueError,
            "q's head dim D must be in 16..128 for the kernel, got 8",
        ),
        (
            lambda: make_qkv(T=8, D=MAX_HEAD_DIM + 8, Dv=16),
            {},
            ValueError,
            "q's head dim D must be in 16..128 for the kernel, got 136",
        ),
        (
            lambda: make_qkv(T=8, D=16, Dv=8),
            {},
            ValueError,
            "v's head dim Dv must be in 16..128 for the kernel, got 8",
        ),
        (
            lambda: make_qkv(T=8, D=16, Dv=MAX_HEAD_DIM * 2),
            {},
            ValueError,
            "v's head dim Dv must be in 16..128 for the kernel, got 256",
        ),
        (lambda: make_qkv(H=3, H_kv=2, T=8, D=16, Dv=16), {}, ValueError, "H_kv must divide q's heads"),
        (lambda: make_qkv(T=0, D=16, Dv=16), {}, ValueError, "at least one position"),
        (lambda: make_qkv(T=8, S=9, D=16, Dv=16), {}, ValueError, "same length for causal"),
        (_qkv, dict(chunk_size=48), ValueError, "chunk_size must be a power of two"),
        (_qkv, dict(chunk_size=8), ValueError, "chunk_size must be a power of two"),
        (_qkv, dict(chunk_size=2 * MAX_CHUNK), ValueError, "chunk_size must be a power of two"),
        (_qkv, dict(chunk_size=16.0), TypeError, "chunk_size must be a positive integer"),
        (_qkv, dict(chunk_size=True), TypeError, "chunk_size must be a positive integer"),
        (_qkv, dict(causal=1), TypeError, "causal must be a bool"),
        (_qkv, dict(return_final_state=1), TypeError, "return_final_state must be a bool"),
        (_qkv, dict(normalize="yes"), TypeError, "normalize must be a bool"),
        (_qkv, dict(eps=-1.0), ValueError, "eps must be >= 0"),
        (_qkv, dict(eps=float("nan")), ValueError, "eps must be a finite"),
        (_qkv, dict(eps="0"), TypeError, "eps must be a real number"),
        (_qkv, dict(feature_map="softmax"), ValueError, "feature_map must be one of"),
        (_qkv, dict(feature_map=3), TypeError, "feature_map must be a name or a callable"),
        (
            _qkv,
            dict(feature_map=FavorFeatures(16, 256)),
            ValueError,
            "number of features F must be in 16..128 for the kernel, got 256",
        ),
        (
            _qkv,
            dict(feature_map=lambda x: x[..., :8]),
            ValueError,
            "number of features F must be in 16..128 for the kernel, got 8",
        ),
        (_qkv, dict(feature_map=lambda x: x.sum(-1)), ValueError, "feature_map must map q"),
        (_qkv, dict(feature_map=lambda x: (x > 0).long()), TypeError, "floating-point features"),
        (
            lambda: make_qkv(H=2, H_kv=1, T=8, D=16, Dv=16),
            dict(feature_map=lambda x: x if x.shape[1] == 2 else torch.cat([x, x], dim=-1)),
            ValueError,
            "same number of features, got 16 and 32",
        ),
        (_qkv, dict(feature_map=lambda x: x.to("meta")), ValueError, "features on cpu, got meta"),
    ],
    ids=lambda p: p if isinstance(p, str) else None,
)
def test_bad_input(args, kw, error, match):
    q, k, v = args()
    with pytest.raises(error, match=match):
        linear_attention(q, k, v, **kw)


def test_tensors_the_kernel_cannot_read_are_refused():
    q, k, v = (t.to("meta") for t in _qkv())
    with pytest.raises(ValueError, match="q must be a CUDA tensor.*got a tensor on meta"):
        linear_attention(q, k, v)


def test_cpu_tensors_without_the_interpreter_are_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="q must be a CUDA tensor.*got a tensor on cpu"):
        linear_attention(*_qkv())


# ---------------------------------------------------------------- on a GPU, at real sizes


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize(
    "case",
    [
        dict(B=2, H=8, H_kv=8, T=4096, D=64, Dv=64, C=64, causal=True, feature_map="elu"),
        dict(B=1, H=8, H_kv=2, T=3001, D=128, Dv=128, C=64, causal=True, feature_map="relu"),
        dict(B=2, H=4, H_kv=4, T=2048, D=40, Dv=64, C=16, causal=True, feature_map="elu"),
        dict(B=2, H=8, H_kv=4, T=4096, D=64, Dv=32, C=32, causal=False, feature_map="elu"),
    ],
    ids=["elu-4k", "relu-gqa-d128-odd", "d40-c16", "full-gqa"],
)
def test_gpu_low_precision_error_within_twice_pytorchs(dtype, case):
    # FlashAttention's rule: against a float64 reference, the kernel's error in a low precision
    # is at most twice that of PyTorch computing the same (linear_attention_ref, which takes the
    # low-precision inputs, computes in float32 and rounds the output).
    case = dict(case)
    B, H, H_kv, T, D, Dv, C = (case.pop(n) for n in ("B", "H", "H_kv", "T", "D", "Dv", "C"))
    torch.manual_seed(T + D)
    q = torch.randn(B, H, T, D, device="cuda").to(dtype)
    k = torch.randn(B, H_kv, T, D, device="cuda").to(dtype)
    v = torch.randn(B, H_kv, T, Dv, device="cuda").to(dtype)
    want = linear_attention_ref(q.double(), k.double(), v.double(), **case)
    out = linear_attention(q, k, v, chunk_size=C, **case)
    ours = (out.double() - want).abs().max().item()
    theirs = (linear_attention_ref(q, k, v, **case).double() - want).abs().max().item()
    assert torch.isfinite(out).all()
    assert ours <= 2 * theirs + 1e-6, f"kernel error {ours:.3g} vs PyTorch's {theirs:.3g}"


@pytest.mark.gpu
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_gpu_float32_products_are_ieee(causal):
    # TF32 products would keep ~10 mantissa bits (errors near 1e-3); IEEE float32 keeps 24.
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 4, 1000, 64, device="cuda") for _ in range(3))
    out = linear_attention(q, k, v, causal=causal, chunk_size=64)
    assert rel_rms(out, linear_attention_ref(q.double(), k.double(), v.double(), causal=causal)) < 1e-5
