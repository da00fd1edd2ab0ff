"""The SSM references against float64 loops over plain Python numbers written here.

Each naive loop walks batch, channel/head, state and time one scalar at a time with ``math``
and ``cmath``: it shares no code (and no tensor op) with longctx.ssm.
"""

from __future__ import annotations

import cmath
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.ssm import (
    s4d_conv,
    s4d_discretize,
    s4d_kernel,
    s4d_recurrent,
    segsum,
    selective_scan_chunked_ref,
    selective_scan_ref,
    ssd_chunked,
    ssd_quadratic,
    ssd_recurrent,
)

F64 = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=F64)


def uniform(g, lo, hi, *shape):
    return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=F64)


# ------------------------------------------------------------------ naive loops (plain Python)


def naive_s4d(u, A, B, C, delta, D=None):
    u, A, B, C, delta = u.tolist(), A.tolist(), B.tolist(), C.tolist(), delta.tolist()
    D = None if D is None else D.tolist()
    Bsz, Dch, L, N = len(u), len(u[0]), len(u[0][0]), len(A[0])
    y = [[[0.0] * L for _ in range(Dch)] for _ in range(Bsz)]
    for b in range(Bsz):
        for d in range(Dch):
            for n in range(N):
                a = complex(A[d][n])
                abar = cmath.exp(delta[d] * a)
                bbar = (abar - 1) / a * complex(B[d][n])
                x = 0j
                for t in range(L):
                    x = abar * x + bbar * u[b][d][t]
                    y[b][d][t] += (complex(C[d][n]) * x).real
            if D is not None:
                for t in range(L):
                    y[b][d][t] += D[d] * u[b][d][t]
    return torch.tensor(y, dtype=F64)


def softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def naive_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    u, delta, A, B, C = u.tolist(), delta.tolist(), A.tolist(), B.tolist(), C.tolist()
    D, z, bias = (None if t is None else t.tolist() for t in (D, z, delta_bias))
    Bsz, Dch, L, N = len(u), len(u[0]), len(u[0][0]), len(A[0])
    out = [[[0.0] * L for _ in range(Dch)] for _ in range(Bsz)]
    for b in range(Bsz):
        for d in range(Dch):
            steps = []
            for t in range(L):
                s = delta[b][d][t] + (bias[d] if bias is not None else 0.0)
                steps.append(softplus(s) if delta_softplus else s)
            for n in range(N):
                x = 0.0
                for t in range(L):
                    x = math.exp(steps[t] * A[d][n]) * x + steps[t] * B[b][n][t] * u[b][d][t]
                    out[b][d][t] += C[b][n][t] * x
            for t in range(L):
                if D is not None:
                    out[b][d][t] += D[d] * u[b][d][t]
                if z is not None:
                    zz = z[b][d][t]
                    out[b][d][t] *= zz / (1.0 + math.exp(-zz))
    return torch.tensor(out, dtype=F64)


def naive_ssd(x, dt, A, B, C, D=None, h0=None):
    """Returns (y [B, L, H, P], final state [B, H, P, N])."""
    Bsz, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    x, dt, A, B, C = x.tolist(), dt.tolist(), A.tolist(), B.tolist(), C.tolist()
    D = None if D is None else D.tolist()
    h0 = None if h0 is None else h0.tolist()
    y = [[[[0.0] * P for _ in range(H)] for _ in range(L)] for _ in range(Bsz)]
    hT = [[[[0.0] * N for _ in range(P)] for _ in range(H)] for _ in range(Bsz)]
    for b in range(Bsz):
        for hd in range(H):
            g = hd // (H // G)
            for p in range(P):
                for n in range(N):
                    s = 0.0 if h0 is None else h0[b][hd][p][n]
                    for t in range(L):
                        s = math.exp(dt[b][t][hd] * A[hd]) * s + dt[b][t][hd] * x[b][t][hd][p] * B[b][t][g][n]
                        y[b][t][hd][p] += C[b][t][g][n] * s
                    hT[b][hd][p][n] = s
                if D is not None:
                    for t in range(L):
                        y[b][t][hd][p] += D[hd] * x[b][t][hd][p]
    return torch.tensor(y, dtype=F64), torch.tensor(hT, dtype=F64)


# ------------------------------------------------------------------ inputs


def s4d_inputs(seed, Bsz, Dch, N, L, complex_A):
    g = gen(seed)
    re = -uniform(g, 0.05, 1.0, Dch, N)
    if complex_A:
        A = torch.complex(re, uniform(g, -3.0, 3.0, Dch, N))
        B = torch.complex(randn(g, Dch, N), randn(g, Dch, N))
        C = torch.complex(randn(g, Dch, N), randn(g, Dch, N))
    else:
        A, B, C = re, randn(g, Dch, N), randn(g, Dch, N)
    return randn(g, Bsz, Dch, L), A, B, C, uniform(g, 0.01, 0.5, Dch), randn(g, Dch)


def scan_inputs(seed, Bsz, Dch, N, L, softplus_on):
    g = gen(seed)
    u = randn(g, Bsz, Dch, L)
    # raw steps must be positive; before a softplus any sign will do
    delta = randn(g, Bsz, Dch, L) if softplus_on else uniform(g, 0.01, 1.0, Bsz, Dch, L)
    A = -uniform(g, 0.1, 1.5, Dch, N)
    return dict(
        u=u,
        delta=delta,
        A=A,
        B=randn(g, Bsz, N, L),
        C=randn(g, Bsz, N, L),
        D=randn(g, Dch),
        z=randn(g, Bsz, Dch, L),
        delta_bias=0.5 * randn(g, Dch),
    )


def ssd_inputs(seed, Bsz, L, H, P, G, N):
    g = gen(seed)
    return dict(
        x=randn(g, Bsz, L, H, P),
        dt=uniform(g, 0.01, 0.8, Bsz, L, H),
        A=-uniform(g, 0.1, 2.0, H),
        B=randn(g, Bsz, L, G, N),
        C=randn(g, Bsz, L, G, N),
        D=randn(g, H),
    )


def to32(d):
    return {k: v.float() for k, v in d.items()}


TOL64 = dict(rtol=1e-9, atol=1e-10)
TOL32 = dict(rtol=2e-4, atol=2e-4)

# ================================================================== S4D


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    Bsz=st.integers(1, 2),
    Dch=st.integers(1, 3),
    N=st.integers(1, 4),
    L=st.integers(1, 70),
    complex_A=st.booleans(),
    with_D=st.booleans(),
)
def test_s4d_conv_equals_recurrent_float64(seed, Bsz, Dch, N, L, complex_A, with_D):
    u, A, B, C, delta, D = s4d_inputs(seed, Bsz, Dch, N, L, complex_A)
    D = D if with_D else None
    want = naive_s4d(u, A, B, C, delta, D)
    for got in (
        s4d_conv(u, A, B, C, delta, D),
        s4d_conv(u, A, B, C, delta, D, method="direct"),
        s4d_recurrent(u, A, B, C, delta, D),
    ):
        assert got.shape == (Bsz, Dch, L) and got.dtype == F64
        torch.testing.assert_close(got, want, **TOL64)


@pytest.mark.parametrize("L", [1, 17, 63])
def test_s4d_float32(L):
    u, A, B, C, delta, D = s4d_inputs(L, 2, 3, 4, L, True)
    want = naive_s4d(u, A, B, C, delta, D)
    A32, B32, C32 = A.to(torch.complex64), B.to(torch.complex64), C.to(torch.complex64)
    for got in (
        s4d_conv(u.float(), A32, B32, C32, delta.float(), D.float()),
        s4d_recurrent(u.float(), A32, B32, C32, delta.float(), D.float()),
    ):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), want, **TOL32)


def test_s4d_kernel_is_impulse_response():
    """Feeding a unit impulse through the recurrence reads the kernel off, tap by tap."""
    _, A, B, C, delta, _ = s4d_inputs(3, 1, 2, 3, 9, True)
    impulse = torch.zeros(1, 2, 9, dtype=F64)
    impulse[..., 0] = 1.0
    torch.testing.assert_close(s4d_kernel(A, B, C, delta, 9), naive_s4d(impulse, A, B, C, delta)[0], **TOL64)


def test_s4d_zoh_matches_integral():
    """ZOH: Bbar = int_0^delta exp(A s) ds * B, checked by Simpson's rule on a fine grid."""
    _, A, B, _, delta, _ = s4d_inputs(5, 1, 2, 3, 1, True)
    Abar, Bbar = s4d_discretize(A, B, delta)
    torch.testing.assert_close(Abar, torch.exp(delta[:, None] * A), **TOL64)
    n = 2000  # even number of intervals
    s = delta[:, None, None] * torch.linspace(0, 1, n + 1, dtype=F64)  # [D, 1, n+1]
    f = torch.exp(A[:, :, None] * s)  # [D, N, n+1]
    w = torch.ones(n + 1, dtype=F64)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    integral = (f * w).sum(-1) * (delta[:, None] / n) / 3
    torch.testing.assert_close(Bbar, integral * B, rtol=1e-9, atol=1e-12)


# ================================================================== selective scan


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    Bsz=st.integers(1, 2),
    Dch=st.integers(1, 3),
    N=st.integers(1, 4),
    L=st.integers(1, 70),
    chunk=st.integers(1, 80),
    with_D=st.booleans(),
    with_z=st.booleans(),
    softplus_on=st.booleans(),
    with_bias=st.booleans(),
)
def test_selective_scan_ref_equals_chunked_float64(
    seed, Bsz, Dch, N, L, chunk, with_D, with_z, softplus_on, with_bias
):
    d = scan_inputs(seed, Bsz, Dch, N, L, softplus_on)
    args = (
        d["u"],
        d["delta"],
        d["A"],
        d["B"],
        d["C"],
        d["D"] if with_D else None,
        d["z"] if with_z else None,
    )
    kw = dict(delta_bias=d["delta_bias"] if with_bias else None, delta_softplus=softplus_on)
    want = naive_selective_scan(*args, **kw)
    ref, ref_state = selective_scan_ref(*args, **kw, return_last_state=True)
    got, got_state = selective_scan_chunked_ref(*args, **kw, chunk_size=chunk, return_final_state=True)
    assert ref.shape == got.shape == (Bsz, Dch, L) and got.dtype == F64 and got_state.shape == (Bsz, Dch, N)
    torch.testing.assert_close(ref, want, **TOL64)
    torch.testing.assert_close(got, want, **TOL64)
    torch.testing.assert_close(got_state, ref_state, **TOL64)


def test_selective_scan_last_state_is_the_state():
    """With C = e_n at the last position, D and z off, the output there is state n itself."""
    d = scan_inputs(11, 2, 3, 4, 13, False)
    _, state = selective_scan_ref(d["u"], d["delta"], d["A"], d["B"], d["C"], return_last_state=True)
    for n in range(4):
        C = d["C"].clone()
        C[:, :, -1] = 0.0
        C[:, n, -1] = 1.0
        out = naive_selective_scan(d["u"], d["delta"], d["A"], d["B"], C)
        torch.testing.assert_close(state[:, :, n], out[:, :, -1], **TOL64)


@pytest.mark.parametrize("L, chunk", [(1, 4), (17, 5), (63, 16), (64, 64)])
def test_selective_scan_float32(L, chunk):
    d = scan_inputs(L + chunk, 2, 3, 4, L, True)
    want = naive_selective_scan(**d, delta_softplus=True)
    kw = dict(delta_softplus=True)
    d32 = to32(d)
    for got in (selective_scan_ref(**d32, **kw), selective_scan_chunked_ref(**d32, **kw, chunk_size=chunk)):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), want, **TOL32)


# ================================================================== SSD


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    Bsz=st.integers(1, 2),
    L=st.integers(1, 70),
    chunk=st.integers(1, 80),
    heads=st.sampled_from([(1, 1), (2, 1), (4, 2), (3, 3)]),
    P=st.integers(1, 3),
    N=st.integers(1, 4),
    with_D=st.booleans(),
)
def test_ssd_quadratic_equals_chunked_equals_recurrent_float64(seed, Bsz, L, chunk, heads, P, N, with_D):
    H, G = heads
    d = ssd_inputs(seed, Bsz, L, H, P, G, N)
    if not with_D:
        d["D"] = None
    want, want_state = naive_ssd(**d)
    rec, rec_state = ssd_recurrent(**d, return_final_state=True)
    quad = ssd_quadratic(**d)
    chk, chk_state = ssd_chunked(**d, chunk_size=chunk, return_final_state=True)
    for got in (rec, quad, chk):
        assert got.shape == (Bsz, L, H, P) and got.dtype == F64
        torch.testing.assert_close(got, want, **TOL64)
    torch.testing.assert_close(rec_state, want_state, **TOL64)
    torch.testing.assert_close(chk_state, want_state, **TOL64)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), L=st.integers(2, 60), cut=st.integers(1, 59), chunk=st.integers(1, 20))
def test_ssd_initial_state_splits_the_sequence(seed, L, cut, chunk):
    """Running [0, cut) then [cut, L) from the carried state equals one run over [0, L)."""
    cut = min(cut, L - 1)
    d = ssd_inputs(seed, 2, L, 4, 3, 2, 3)
    whole, whole_state = naive_ssd(**d)
    first = {k: (v[:, :cut] if k in ("x", "dt", "B", "C") else v) for k, v in d.items()}
    second = {k: (v[:, cut:] if k in ("x", "dt", "B", "C") else v) for k, v in d.items()}
    y1, h1 = ssd_chunked(**first, chunk_size=chunk, return_final_state=True)
    y2, h2 = ssd_chunked(**second, chunk_size=chunk, initial_state=h1, return_final_state=True)
    y2r, h2r = ssd_recurrent(**second, initial_state=h1, return_final_state=True)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), whole, **TOL64)
    torch.testing.assert_close(y2r, y2, **TOL64)
    torch.testing.assert_close(h2, whole_state, **TOL64)
    torch.testing.assert_close(h2r, whole_state, **TOL64)


@pytest.mark.parametrize("L, chunk", [(1, 8), (17, 8), (63, 16), (40, 40)])
def test_ssd_float32(L, chunk):
    d = ssd_inputs(L, 2, L, 4, 3, 2, 4)
    want, _ = naive_ssd(**d)
    d32 = to32(d)
    for got in (ssd_recurrent(**d32), ssd_quadratic(**d32), ssd_chunked(**d32, chunk_size=chunk)):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), want, **TOL32)


def test_segsum_against_loop():
    a = randn(gen(1), 2, 7)
    got = segsum(a)
    for r in range(2):
        for i in range(7):
            for j in range(7):
                want = sum(a[r, j + 1 : i + 1].tolist()) if i >= j else -math.inf
                assert got[r, i, j].item() == pytest.approx(want, abs=1e-12)


def test_ssd_mask_is_lower_triangular_decay():
    """The dual form really is attention-like: an output never reads a later input."""
    d = ssd_inputs(4, 1, 12, 2, 2, 1, 3)
    y = ssd_quadratic(**d)
    x2 = d["x"].clone()
    x2[:, 7:] += 1.0  # change only positions >= 7
    y2 = ssd_quadratic(**{**d, "x": x2})
    torch.testing.assert_close(y2[:, :7], y[:, :7], rtol=0, atol=0)
    assert not torch.allclose(y2[:, 7:], y[:, 7:])


# ================================================================== bad input


def _s4_ok():
    u, A, B, C, delta, D = s4d_inputs(0, 2, 3, 4, 5, True)
    return dict(u=u, A=A, B=B, C=C, delta=delta, D=D)


S4_BAD = [
    ("u", lambda d: d["u"][0], ValueError),
    ("u", lambda d: d["u"][:, :2], ValueError),
    ("u", lambda d: d["u"][..., :0], ValueError),
    ("u", lambda d: d["u"].long(), TypeError),
    ("u", lambda d: d["u"].tolist(), TypeError),
    ("A", lambda d: d["A"][None], ValueError),
    ("A", lambda d: -d["A"], ValueError),  # Re(A) > 0: unstable
    ("A", lambda d: torch.zeros(3, 4, dtype=torch.int64), TypeError),
    ("B", lambda d: d["B"][:, :3], ValueError),
    ("C", lambda d: d["C"][:2], ValueError),
    ("delta", lambda d: d["delta"][:2], ValueError),
    ("delta", lambda d: -d["delta"], ValueError),
    ("delta", lambda d: torch.ones(3, dtype=torch.int32), TypeError),
    ("D", lambda d: d["D"][:2], ValueError),
    ("D", lambda d: d["D"].int(), TypeError),
]


@pytest.mark.parametrize("fn", [s4d_conv, s4d_recurrent])
@pytest.mark.parametrize("name, bad, exc", S4_BAD)
def test_s4d_bad_input(fn, name, bad, exc):
    d = _s4_ok()
    d[name] = bad(d)
    with pytest.raises(exc, match=rf"\b{name}\b"):
        fn(**d)


def test_s4d_bad_method_and_length():
    d = _s4_ok()
    with pytest.raises(ValueError, match="method"):
        s4d_conv(**d, method="cuda")
    with pytest.raises(ValueError, match=r"\bL\b"):
        s4d_kernel(d["A"], d["B"], d["C"], d["delta"], 0)
    with pytest.raises(TypeError, match=r"\bL\b"):
        s4d_kernel(d["A"], d["B"], d["C"], d["delta"], 2.0)


SCAN_BAD = [
    ("u", lambda d: d["u"][0], ValueError),
    ("u", lambda d: d["u"].int(), TypeError),
    ("delta", lambda d: d["delta"][:, :, :3], ValueError),
    ("delta", lambda d: d["delta"].long(), TypeError),
    ("A", lambda d: d["A"][:2], ValueError),
    ("A", lambda d: d["A"][0], ValueError),
    ("A", lambda d: torch.complex(d["A"], d["A"]), TypeError),  # this convention takes a real A
    ("B", lambda d: d["B"][:, :2], ValueError),
    ("B", lambda d: d["B"][None], ValueError),
    ("C", lambda d: d["C"][:1], ValueError),
    ("C", lambda d: d["C"].int(), TypeError),
    ("D", lambda d: d["D"][:1], ValueError),
    ("z", lambda d: d["z"][..., :2], ValueError),
    ("delta_bias", lambda d: d["delta_bias"][None], ValueError),
]


@pytest.mark.parametrize("fn", [selective_scan_ref, selective_scan_chunked_ref])
@pytest.mark.parametrize("name, bad, exc", SCAN_BAD)
def test_selective_scan_bad_input(fn, name, bad, exc):
    d = scan_inputs(0, 2, 3, 4, 5, True)
    d[name] = bad(d)
    with pytest.raises(exc, match=rf"\b{name}\b"):
        fn(**d)


@pytest.mark.parametrize(
    "chunk, exc", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_chunk_size_must_be_positive_int(chunk, exc):
    d = scan_inputs(0, 1, 2, 3, 5, True)
    with pytest.raises(exc, match="chunk_size"):
        selective_scan_chunked_ref(**d, chunk_size=chunk)
    e = ssd_inputs(0, 1, 5, 2, 2, 1, 3)
    with pytest.raises(exc, match="chunk_size"):
        ssd_chunked(**e, chunk_size=chunk)


def test_selective_scan_empty_sequence_and_softplus_flag():
    d = scan_inputs(0, 1, 2, 3, 5, True)
    empty = {k: (v[..., :0] if v.dim() == 3 else v) for k, v in d.items()}
    with pytest.raises(ValueError, match=r"\bu\b"):
        selective_scan_ref(**empty)
    with pytest.raises(TypeError, match="delta_softplus"):
        selective_scan_ref(**d, delta_softplus=1)


SSD_BAD = [
    ("x", lambda d: d["x"][0], ValueError),
    ("x", lambda d: d["x"][:, :0], ValueError),
    ("x", lambda d: d["x"].int(), TypeError),
    ("dt", lambda d: d["dt"][:, :3], ValueError),
    ("dt", lambda d: d["dt"].long(), TypeError),
    ("A", lambda d: -d["A"], ValueError),  # SSD needs a decay: A < 0
    ("A", lambda d: torch.zeros(4, dtype=F64), ValueError),
    ("A", lambda d: d["A"][:3], ValueError),
    ("B", lambda d: d["B"][:, :3], ValueError),
    ("B", lambda d: d["B"][0], ValueError),
    ("C", lambda d: d["C"][..., :2], ValueError),
    ("C", lambda d: d["C"].int(), TypeError),
    ("D", lambda d: d["D"][:2], ValueError),
]


@pytest.mark.parametrize("fn", [ssd_recurrent, ssd_quadratic, ssd_chunked])
@pytest.mark.parametrize("name, bad, exc", SSD_BAD)
def test_ssd_bad_input(fn, name, bad, exc):
    d = ssd_inputs(0, 2, 5, 4, 3, 2, 3)
    d[name] = bad(d)
    with pytest.raises(exc, match=rf"\b{name}\b"):
        fn(**d)


@pytest.mark.parametrize("fn", [ssd_recurrent, ssd_quadratic, ssd_chunked])
def test_ssd_heads_must_be_a_multiple_of_groups(fn):
    d = ssd_inputs(0, 2, 5, 4, 3, 3, 3)  # H = 4 heads, G = 3 groups
    with pytest.raises(ValueError, match=r"B's groups G must divide the number of heads H = 4, got G = 3"):
        fn(**d)


def test_empty_state_or_heads():
    d = _s4_ok()
    with pytest.raises(ValueError, match=r"\bA\b"):
        s4d_recurrent(**{**d, "A": d["A"][:, :0], "B": d["B"][:, :0], "C": d["C"][:, :0]})
    e = scan_inputs(0, 1, 2, 3, 5, True)
    with pytest.raises(ValueError, match=r"\bA\b"):
        selective_scan_ref(**{**e, "A": e["A"][:, :0], "B": e["B"][:, :0], "C": e["C"][:, :0]})
    f = ssd_inputs(0, 1, 5, 2, 3, 1, 3)
    with pytest.raises(ValueError, match=r"\bx\b"):
        ssd_recurrent(**{**f, "x": f["x"][..., :0]})


def test_ssd_bad_initial_state():
    d = ssd_inputs(0, 2, 5, 4, 3, 2, 3)
    with pytest.raises(ValueError, match="initial_state"):
        ssd_chunked(**d, initial_state=torch.zeros(2, 4, 3, 2, dtype=F64))
    with pytest.raises(TypeError, match="initial_state"):
        ssd_recurrent(**d, initial_state=torch.zeros(2, 4, 3, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"\ba\b"):
        segsum(torch.arange(4))
    with pytest.raises(TypeError, match=r"\ba\b"):
        segsum([0.0, 1.0])
    with pytest.raises(ValueError, match=r"\ba\b"):
        segsum(torch.tensor(1.0))
