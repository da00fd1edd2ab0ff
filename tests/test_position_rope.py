"""RoPE and its context extensions against formulas written out again here in NumPy, float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.position import (
    RopeScaling,
    apply_rope,
    apply_rope_complex,
    interpolation_frequencies,
    llama3_frequencies,
    ntk_base,
    rope_attention_factor,
    rope_frequencies,
    rope_wavelengths,
    rotation_angles,
    yarn_attention_factor,
    yarn_frequencies,
    yarn_ramp,
)
from longctx.position.rope import yarn_frequencies_differ, yarn_ramp_gap

PROPS = settings(max_examples=25, deadline=None)


def np_freqs(d, base=10000.0):
    return np.array([base ** (-2.0 * i / d) for i in range(d // 2)])


def np_rope(x, positions, freqs, interleaved):
    """One vector and one pair at a time: the 2x2 rotation matrix of angle m * theta_i."""
    x = np.asarray(x, dtype=np.float64)
    B, H, T, D = x.shape
    pos = np.broadcast_to(np.asarray(positions, dtype=np.float64), (B, T))
    out = np.empty_like(x)
    for b in range(B):
        for h in range(H):
            for t in range(T):
                for i in range(D // 2):
                    a, c = (2 * i, 2 * i + 1) if interleaved else (i, i + D // 2)
                    ang = pos[b, t] * freqs[i]
                    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
                    out[b, h, t, [a, c]] = rot @ x[b, h, t, [a, c]]
    return out


def randn(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


# ------------------------------------------------------------------------------- frequencies


@pytest.mark.parametrize("d", [2, 8, 40, 128])
@pytest.mark.parametrize("base", [10000.0, 500000.0])
def test_frequencies_match_formula(d, base):
    got = rope_frequencies(d, base=base)
    assert got.dtype == torch.float64 and got.shape == (d // 2,)
    np.testing.assert_allclose(got.numpy(), np_freqs(d, base), rtol=1e-14)
    np.testing.assert_allclose(rope_wavelengths(got).numpy(), 2 * np.pi / np_freqs(d, base), rtol=1e-14)
    assert got[0] == 1.0  # pair 0 turns one radian per position


# ------------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("interleaved", [False, True], ids=["half-split", "interleaved"])
@pytest.mark.parametrize("T, D", [(1, 2), (17, 40), (63, 8)])
def test_apply_rope_matches_rotation_matrices(T, D, interleaved):
    x = randn(2, 3, T, D, seed=T + D)
    positions = torch.randint(0, 5000, (T,), generator=torch.Generator().manual_seed(T))
    freqs = rope_frequencies(D)
    want = np_rope(x.numpy(), positions.numpy(), freqs.numpy(), interleaved)
    got = apply_rope(x, positions, freqs, interleaved=interleaved)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        apply_rope_complex(x, positions, freqs, interleaved=interleaved).numpy(), want, rtol=0, atol=1e-12
    )


def test_per_batch_and_fractional_positions():
    x = randn(2, 2, 5, 8, seed=3)
    positions = torch.tensor([[0.0, 0.5, 1.25, 7.0, 1e4], [3.0, 2.0, 1.0, 0.0, 0.125]], dtype=torch.float64)
    freqs = rope_frequencies(8)
    want = np_rope(x.numpy(), positions.numpy(), freqs.numpy(), False)
    np.testing.assert_allclose(apply_rope(x, positions, freqs).numpy(), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(apply_rope_complex(x, positions, freqs).numpy(), want, rtol=0, atol=1e-12)


def test_conventions_differ_by_a_permutation():
    """Interleaved RoPE equals half-split RoPE on x with its coordinates regrouped."""
    D = 12
    x = randn(1, 2, 9, D, seed=4)
    pos, freqs = torch.arange(9), rope_frequencies(D)
    perm = torch.cat((torch.arange(0, D, 2), torch.arange(1, D, 2)))  # (x0, x2, .., x1, x3, ..)
    half = apply_rope(x[..., perm], pos, freqs)
    inter = apply_rope(x, pos, freqs, interleaved=True)
    torch.testing.assert_close(inter[..., perm], half, rtol=0, atol=1e-13)
    assert not torch.allclose(inter, apply_rope(x, pos, freqs))  # they are not the same map


@PROPS
@given(
    D=st.sampled_from([2, 4, 8, 40, 64]),
    m=st.integers(0, 4000),
    n=st.integers(0, 4000),
    offset=st.integers(-4000, 4000),
    interleaved=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_score_depends_only_on_relative_position(D, m, n, offset, interleaved, seed):
    q, k = randn(1, 1, 1, D, seed=seed), randn(1, 1, 1, D, seed=seed + 1)
    freqs = rope_frequencies(D)

    def score(a, b):
        qa = apply_rope(q, torch.tensor([a]), freqs, interleaved=interleaved)
        kb = apply_rope(k, torch.tensor([b]), freqs, interleaved=interleaved)
        return float((qa * kb).sum())

    assert abs(score(m, n) - score(m + offset, n + offset)) < 1e-10
    # and the relative position itself does matter: the score is q^T R_{n-m} k
    ang = (n - m) * freqs.numpy()
    qq, kk = q.flatten().numpy(), k.flatten().numpy()
    if interleaved:
        q1, q2, k1, k2 = qq[0::2], qq[1::2], kk[0::2], kk[1::2]
    else:
        q1, q2, k1, k2 = qq[: D // 2], qq[D // 2 :], kk[: D // 2], kk[D // 2 :]
    want = np.sum((q1 * k1 + q2 * k2) * np.cos(ang) + (q2 * k1 - q1 * k2) * np.sin(ang))
    assert abs(score(m, n) - want) < 1e-10


@PROPS
@given(T=st.integers(1, 20), D=st.sampled_from([2, 6, 40]), seed=st.integers(0, 2**16))
def test_rotation_keeps_norms_and_position_zero_is_identity(T, D, seed):
    x = randn(1, 2, T, D, seed=seed)
    freqs = rope_frequencies(D)
    out = apply_rope(x, torch.arange(T) * 37, freqs)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(apply_rope(x, torch.zeros(T), freqs), x, rtol=0, atol=0)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 2e-6), (torch.float16, 2e-3), (torch.bfloat16, 2e-2)])
def test_low_precision_close_to_float64(dtype, tol):
    x = randn(2, 2, 17, 40, seed=5)
    pos, freqs = torch.arange(17) * 1000, rope_frequencies(40)
    want = apply_rope(x, pos, freqs)
    got = apply_rope(x.to(dtype), pos, freqs)
    assert got.dtype == dtype
    err = (got.double() - want).abs().max().item()
    assert err < tol * x.abs().max().item(), err


# ------------------------------------------------------------------------------- context extension


@pytest.mark.parametrize("s", [1.0, 2.0, 8.0, 3.5])
def test_position_interpolation(s):
    D = 40
    freqs = rope_frequencies(D, scaling=RopeScaling("linear", s))
    np.testing.assert_allclose(freqs.numpy(), np_freqs(D) / s, rtol=1e-14)
    torch.testing.assert_close(interpolation_frequencies(rope_frequencies(D), s), freqs, rtol=0, atol=0)
    # scaled frequencies at position m == trained frequencies at position m * L/L'
    x, m = randn(1, 2, 17, D, seed=6), torch.arange(17, dtype=torch.float64) * 100
    torch.testing.assert_close(
        apply_rope(x, m, freqs), apply_rope(x, m / s, rope_frequencies(D)), rtol=0, atol=1e-11
    )


@pytest.mark.parametrize("D", [4, 40, 128])
@pytest.mark.parametrize("s", [1.0, 4.0, 16.0])
def test_ntk_aware_scaling(D, s):
    base = 10000.0
    new_base = base * s ** (D / (D - 2))
    assert ntk_base(base, s, D) == pytest.approx(new_base, rel=1e-14)
    got = rope_frequencies(D, base=base, scaling=RopeScaling("ntk", s)).numpy()
    np.testing.assert_allclose(got, np_freqs(D, new_base), rtol=1e-13)
    trained = np_freqs(D, base)
    assert got[0] == trained[0]  # the fastest pair extrapolates
    assert got[-1] == pytest.approx(trained[-1] / s, rel=1e-12)  # the slowest is interpolated by s


def np_yarn_turns(D, s, L, alpha, beta, base=10000.0):
    """The paper's equation: gamma linear in the number of turns r_i over L."""
    out = []
    for i in range(D // 2):
        theta = base ** (-2.0 * i / D)
        r = L / (2 * math.pi / theta)  # turns over the trained length
        gamma = 0.0 if r < alpha else 1.0 if r > beta else (r - alpha) / (beta - alpha)
        out.append((1 - gamma) * theta / s + gamma * theta)
    return np.array(out)


def np_yarn_code(D, s, L, beta_fast=32.0, beta_slow=1.0, base=10000.0, truncate=True):
    """The released code's formulas (YaRN authors, Hugging Face ``rope_type="yarn"``), written
    out here from their description: the pair index d where a pair makes r turns over L is
    ``D ln(L / (2 pi r)) / (2 ln b)``; the ramp runs over the pair index from the index for
    beta_fast (rounded down) to the index for beta_slow (rounded up), clipped to [0, D - 1];
    the share of theta kept is one minus the ramp."""

    def index(r):
        return D * math.log(L / (2 * math.pi * r)) / (2 * math.log(base))

    lo, hi = index(beta_fast), index(beta_slow)
    if truncate:
        lo, hi = math.floor(lo), math.ceil(hi)
    lo, hi = max(lo, 0), min(hi, D - 1)
    if hi == lo:
        hi += 0.001
    out = []
    for i in range(D // 2):
        theta = base ** (-2.0 * i / D)
        ramp = min(1.0, max(0.0, (i - lo) / (hi - lo)))  # 0 keeps theta, 1 interpolates fully
        out.append(theta * (1 - ramp) + theta / s * ramp)
    return np.array(out)


def np_llama3(D, s, L, low, high, base):
    """Llama 3.1's rule by wavelength: longer than L/low -> theta/s, shorter than L/high -> theta,
    else a blend with weight (L/wavelength - low)/(high - low) on theta."""
    out = []
    for i in range(D // 2):
        theta = base ** (-2.0 * i / D)
        wl = 2 * math.pi / theta
        if wl > L / low:
            out.append(theta / s)
        elif wl < L / high:
            out.append(theta)
        else:
            w = (L / wl - low) / (high - low)
            out.append((1 - w) * theta / s + w * theta)
    return np.array(out)


@pytest.mark.parametrize(
    "D, s, L, alpha, beta",
    [
        (128, 16.0, 4096, 1.0, 32.0),
        (40, 4.0, 2048, 1.0, 32.0),
        (64, 2.5, 1000, 2.0, 16.0),
        (8, 1.0, 512, 1.0, 32.0),
    ],
)
def test_yarn_frequencies_paper_ramp(D, s, L, alpha, beta):
    sc = RopeScaling("yarn", s, L, alpha, beta, ramp="turns")
    got = rope_frequencies(D, scaling=sc).numpy()
    want = np_yarn_turns(D, s, L, alpha, beta)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    torch.testing.assert_close(
        yarn_frequencies(D, s, L, alpha=alpha, beta=beta, ramp="turns"),
        torch.from_numpy(want),
        rtol=1e-13,
        atol=0,
    )
    turns = L * np_freqs(D) / (2 * math.pi)
    np.testing.assert_allclose(
        got[turns > beta], np_freqs(D)[turns > beta], rtol=1e-14
    )  # fast pairs untouched
    np.testing.assert_allclose(got[turns < alpha], np_freqs(D)[turns < alpha] / s, rtol=1e-14)


YARN_CONFIGS = [  # head dim, factor, L, base, beta_fast, beta_slow
    (128, 4.0, 4096, 10000.0, 32.0, 1.0),  # Llama 2 at 16K
    (128, 8.0, 4096, 10000.0, 32.0, 1.0),
    (128, 16.0, 4096, 10000.0, 32.0, 1.0),  # YaRN-Llama-2 64K
    (128, 4.0, 32768, 1000000.0, 32.0, 1.0),  # Qwen2.5 / Qwen3: factor 4 from 32K
    (64, 40.0, 4096, 10000.0, 32.0, 1.0),  # DeepSeek-V2/V3's 64-wide RoPE part, factor 40
    (96, 8.0, 2048, 500000.0, 16.0, 2.0),
    (80, 3.0, 1000, 10000.0, 32.0, 1.0),
    (4, 2.0, 8000, 10.0, 32.0, 1.0),  # both ends clipped to the same pair: the code's 0.001 guard
]


@pytest.mark.parametrize("truncate", [True, False])
@pytest.mark.parametrize("D, s, L, base, fast, slow", YARN_CONFIGS)
def test_yarn_default_matches_the_released_code(D, s, L, base, fast, slow, truncate):
    sc = RopeScaling("yarn", s, L, alpha=slow, beta=fast, truncate=truncate)
    assert sc.ramp == "index"  # the default is what checkpoints use
    got = rope_frequencies(D, base=base, scaling=sc).numpy()
    want = np_yarn_code(D, s, L, beta_fast=fast, beta_slow=slow, base=base, truncate=truncate)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    if D == 4:
        return  # degenerate: the released code clips the ramp's end at D - 1, past the last pair
    # the two ramps agree outside both ramps and differ inside
    paper = np_yarn_turns(D, s, L, slow, fast, base)
    turns = L * np_freqs(D, base) / (2 * math.pi)
    outside = (turns > fast) | (turns < slow)
    np.testing.assert_allclose(got[outside], paper[outside], rtol=1e-13)
    if s > 1 and not outside.all():
        assert np.abs(got / paper - 1).max() > 0.05


def test_yarn_index_ramp_differs_from_the_paper_inside_the_ramp():
    """The audit's example: Llama 2's head at s = 16, pair 38: 1.48e-3 (code) vs 4.87e-4 (paper)."""
    code = rope_frequencies(128, scaling=RopeScaling("yarn", 16, 4096))
    paper = rope_frequencies(128, scaling=RopeScaling("yarn", 16, 4096, ramp="turns"))
    assert code[38].item() == pytest.approx(1.48e-3, rel=5e-3)
    assert paper[38].item() == pytest.approx(4.87e-4, rel=5e-3)
    assert int((code != paper).sum()) == 25
    assert yarn_frequencies_differ(128, 16, 4096) == 25
    assert yarn_ramp_gap(128, 16, 4096) == pytest.approx(
        max(
            np.max(np_yarn_code(128, 16, 4096) / np_yarn_turns(128, 16, 4096, 1.0, 32.0)),
            np.max(np_yarn_turns(128, 16, 4096, 1.0, 32.0) / np_yarn_code(128, 16, 4096)),
        )
    )


@pytest.mark.parametrize(
    "D, s, L, low, high, base",
    [
        (128, 8.0, 8192, 1.0, 4.0, 500000.0),  # Llama 3.1
        (128, 32.0, 8192, 1.0, 4.0, 500000.0),  # Llama 3.2
        (64, 4.0, 2048, 2.0, 8.0, 10000.0),
        (72, 8.0, 1000, 1.0, 4.0, 10000.0),
    ],
)
def test_llama3_scaling(D, s, L, low, high, base):
    sc = RopeScaling("llama3", s, L, low_freq_factor=low, high_freq_factor=high)
    got = rope_frequencies(D, base=base, scaling=sc).numpy()
    want = np_llama3(D, s, L, low, high, base)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    np.testing.assert_allclose(
        llama3_frequencies(
            torch.from_numpy(np_freqs(D, base)), s, L, low_freq_factor=low, high_freq_factor=high
        ).numpy(),
        want,
        rtol=1e-13,
    )
    # the rule is the paper's per-turn YaRN ramp between low and high turns, without a temperature
    np.testing.assert_allclose(want, np_yarn_turns(D, s, L, low, high, base), rtol=1e-13)
    assert rope_attention_factor(sc) == 1.0


def test_attention_factors():
    for s in (1.0, 2.0, 16.0, 40.0):
        assert rope_attention_factor(RopeScaling("yarn", s, 4096)) == pytest.approx(
            0.1 * math.log(s) + 1, rel=1e-15
        )
        # DeepSeek-style: both mscales given -> their ratio (1 when equal, as in DeepSeek-V2/V3)
        ds = RopeScaling("yarn", s, 4096, mscale=0.707, mscale_all_dim=0.707)
        assert rope_attention_factor(ds) == pytest.approx(1.0, rel=1e-15)
        mixed = yarn_attention_factor(s, mscale=1.0, mscale_all_dim=0.5)
        assert mixed == pytest.approx((0.1 * math.log(s) + 1) / (0.05 * math.log(s) + 1), rel=1e-15)
    # only one of the two given: the plain temperature, as Hugging Face does
    assert yarn_attention_factor(8.0, mscale=0.707) == pytest.approx(0.1 * math.log(8) + 1, rel=1e-15)
    assert rope_attention_factor(RopeScaling("yarn", 8.0, 4096, attention_factor=0.9)) == 0.9
    assert rope_attention_factor(None) == 1.0
    assert rope_attention_factor(RopeScaling("linear", 4.0)) == 1.0


def test_yarn_ramp_and_temperature():
    r = torch.tensor([0.0, 1.0, 16.5, 32.0, 100.0], dtype=torch.float64)
    torch.testing.assert_close(yarn_ramp(r), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0], dtype=torch.float64))
    for s in (1.0, 2.0, 16.0, 32.0):
        assert yarn_attention_factor(s) == pytest.approx(0.1 * np.log(s) + 1, rel=1e-15)
    assert yarn_attention_factor(1.0) == 1.0


def test_rotation_angles_report():
    D, L, L2 = 64, 2048, 8192
    plain = rotation_angles(D, L, L2)
    np.testing.assert_allclose(plain.max_angle_train.numpy(), np_freqs(D) * (L - 1), rtol=1e-14)
    np.testing.assert_allclose(plain.max_angle_new.numpy(), np_freqs(D) * (L2 - 1), rtol=1e-14)
    np.testing.assert_allclose(plain.wavelength.numpy(), 2 * np.pi / np_freqs(D), rtol=1e-14)
    np.testing.assert_array_equal(plain.full_turn_in_training.numpy(), np_freqs(D) * (L - 1) >= 2 * np.pi)
    assert plain.full_turn_in_training.any() and not plain.full_turn_in_training.all()
    pi = rotation_angles(D, L, L2, scaling=RopeScaling("linear", L2 / L))
    np.testing.assert_allclose(pi.max_angle_new.numpy(), np_freqs(D) * L / L2 * (L2 - 1), rtol=1e-14)
    # interpolation stays within one position's angle of the trained range in every pair
    assert (pi.max_angle_new <= pi.max_angle_train + pi.freqs_train + 1e-12).all()
    assert (
        plain.max_angle_new[~plain.full_turn_in_training]
        > 3 * plain.max_angle_train[~plain.full_turn_in_training]
    ).all()


# ------------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument():
    x, pos, f = randn(1, 1, 3, 8), torch.arange(3), rope_frequencies(8)
    cases = [
        (lambda: rope_frequencies(7), ValueError, "head_dim"),
        (lambda: rope_frequencies(0), ValueError, "head_dim"),
        (lambda: rope_frequencies(8.0), TypeError, "head_dim"),
        (lambda: rope_frequencies(True), TypeError, "head_dim"),
        (lambda: rope_frequencies(8, base=-1.0), ValueError, "base"),
        (lambda: rope_frequencies(8, base=float("nan")), ValueError, "base"),
        (lambda: rope_frequencies(8, scaling={"kind": "linear"}), TypeError, "scaling"),
        (lambda: RopeScaling("cubic", 2.0), ValueError, "kind"),
        (lambda: RopeScaling("linear", 0.5), ValueError, "factor"),
        (lambda: RopeScaling("yarn", 2.0), ValueError, "original_length"),
        (lambda: RopeScaling("yarn", 2.0, 0), ValueError, "original_length"),
        (lambda: RopeScaling("yarn", 2.0, 100.5), TypeError, "original_length"),
        (lambda: RopeScaling("linear", "2"), TypeError, "factor"),
        (lambda: RopeScaling("yarn", 2.0, 100, alpha=32.0, beta=1.0), ValueError, "alpha"),
        (lambda: ntk_base(10000.0, 2.0, 2), ValueError, "head_dim"),
        (lambda: apply_rope(x[0], pos, f), ValueError, "x"),
        (lambda: apply_rope(x.long(), pos, f), TypeError, "x"),
        (lambda: apply_rope(randn(1, 1, 3, 7), pos, f), ValueError, "x"),
        (lambda: apply_rope(x, torch.arange(4), f), ValueError, "positions"),
        (lambda: apply_rope(x, [0, 1, 2], f), TypeError, "positions"),
        (lambda: apply_rope(x, torch.ones(3, dtype=torch.bool), f), TypeError, "positions"),
        (lambda: apply_rope(x, pos, rope_frequencies(6)), ValueError, "freqs"),
        (lambda: apply_rope(x, pos, -f), ValueError, "freqs"),
        (lambda: apply_rope(x, pos, f.numpy()), TypeError, "freqs"),
        (lambda: apply_rope(x, pos, f[None]), ValueError, "freqs"),
        (lambda: apply_rope(x, pos, torch.ones(4, dtype=torch.long)), TypeError, "freqs"),
        (lambda: apply_rope(x.numpy(), pos, f), TypeError, "x"),
        (lambda: apply_rope_complex(x, pos[:2], f), ValueError, "positions"),
        (lambda: rotation_angles(8, 0, 10), ValueError, "train_length"),
        (lambda: rotation_angles(8, 10, 2.5), TypeError, "new_length"),
        (lambda: yarn_attention_factor(0.5), ValueError, "factor"),
        (lambda: yarn_attention_factor(2.0, mscale=-1.0), ValueError, "mscale"),
        (lambda: RopeScaling("yarn", 2.0, 100, ramp="log"), ValueError, "ramp"),
        (lambda: RopeScaling("yarn", 2.0, 100, truncate=1), TypeError, "truncate"),
        (lambda: RopeScaling("yarn", 2.0, 100, mscale="1"), TypeError, "mscale"),
        (lambda: RopeScaling("llama3", 8.0), ValueError, "original_length"),
        (
            lambda: RopeScaling("llama3", 8.0, 8192, low_freq_factor=4.0, high_freq_factor=1.0),
            ValueError,
            "low_freq_factor",
        ),
        (lambda: llama3_frequencies(f.numpy(), 8.0, 8192), TypeError, "freqs"),
        (lambda: rope_attention_factor("yarn"), TypeError, "scaling"),
        (lambda: apply_rope(x, pos, f, interleaved=1), TypeError, "interleaved"),
    ]
    for call, exc, name in cases:
        with pytest.raises(exc, match=name):
            call()
