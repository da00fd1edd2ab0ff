"""A diagonal S4 layer (S4D flavour): one linear time-invariant SSM per channel, run two ways.

Shape legend:
    u     [B, D, L]   B batch, D channels, L sequence length (input, real)
    A     [D, N]      diagonal state matrix per channel, N state size; real or complex, Re(A) < 0
    B, C  [D, N]      input and output projections per channel; real or complex
    delta [D]         step size per channel, > 0
    D     [D]         optional skip (feed-through) term
    K     [D, L]      the convolution kernel, K[:, l] = Re(C Abar^l Bbar)
    x     [B, D, N]   the state (complex)
    y     [B, D, L]   output (real)

Continuous system x'(t) = A x(t) + B u(t), y(t) = C x(t) + D u(t), discretised by zero-order
hold with step delta (Gu, Goel, Ré, S4, 2021, arXiv:2111.00396; the diagonal variant S4D):

    Abar = exp(delta A),   Bbar = (exp(delta A) - 1) / A * B      (elementwise: A is diagonal)

Recurrent mode:     x_t = Abar x_{t-1} + Bbar u_t,   y_t = Re(C x_t) + D u_t,   x_{-1} = 0
Convolution mode:   y = K * u (causal),  K_l = Re(sum_n C_n Abar_n^l Bbar_n)

Unrolling the recurrence gives x_t = sum_{l <= t} Abar^l Bbar u_{t-l}, which is the convolution.
No factor 2 and no conjugate pairs are added: the output is the plain real part of C x_t.
"""

from __future__ import annotations

import torch

from longctx.ssm import _checks

__all__ = ["s4d_conv", "s4d_discretize", "s4d_kernel", "s4d_recurrent"]


def _check_params(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, delta: torch.Tensor) -> None:
    _checks.tensor("A", A, 2, "[D, N]", allow_complex=True)
    _checks.tensor("B", B, 2, "[D, N]", allow_complex=True)
    _checks.tensor("C", C, 2, "[D, N]", allow_complex=True)
    _checks.tensor("delta", delta, 1, "[D]")
    Dch, N = A.shape
    if Dch == 0 or N == 0:
        raise ValueError(f"A must have at least one channel and one state, got shape {tuple(A.shape)}")
    _checks.same_shape("B", B, (Dch, N), "[D, N] like A")
    _checks.same_shape("C", C, (Dch, N), "[D, N] like A")
    _checks.same_shape("delta", delta, (Dch,), "[D]")
    if not bool((A.real < 0).all()):
        raise ValueError("A must have a strictly negative real part (a stable system; ZOH divides by A)")
    if not bool((delta > 0).all()):
        raise ValueError("delta must be strictly positive")


def _check_input(u: torch.Tensor, D: torch.Tensor | None, channels: int) -> None:
    _checks.tensor("u", u, 3, "[B, D, L]")
    if u.shape[1] != channels:
        raise ValueError(f"u has {u.shape[1]} channels but A has {channels}")
    if u.shape[2] == 0:
        raise ValueError("u must have a non-empty sequence (L >= 1)")
    if D is not None:
        _checks.tensor("D", D, 1, "[D]")
        _checks.same_shape("D", D, (channels,), "[D]")


def _cast(t: torch.Tensor, work: torch.dtype) -> torch.Tensor:
    """Real tensors to ``work``, complex ones to the matching complex dtype."""
    return t.to(_checks.complex_of(work) if t.is_complex() else work)


# --8<-- [start:s4d-discretize]
def s4d_discretize(A: torch.Tensor, B: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order-hold discretisation of a diagonal SSM.

    Args:
        A: ``[D, N]`` real or complex, strictly negative real part.
        B: ``[D, N]`` real or complex.
        delta: ``[D]`` positive step per channel.

    Returns:
        ``(Abar, Bbar)``, both ``[D, N]`` complex (complex128 if any input is double precision,
        else complex64): ``Abar = exp(delta A)``, ``Bbar = (Abar - 1) / A * B``.
    """
    _check_params(A, B, B, delta)
    cdt = _checks.complex_of(_checks.work_dtype(A, B, delta))
    A, B = A.to(cdt), B.to(cdt)
    dA = delta.to(cdt)[:, None] * A  # [D, N]
    Abar = torch.exp(dA)
    Bbar = (Abar - 1) / A * B  # exact ZOH for a diagonal A: (delta A)^-1 (exp(delta A) - 1) delta B
    return Abar, Bbar
# --8<-- [end:s4d-discretize]


# --8<-- [start:s4d-kernel]
def s4d_kernel(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, delta: torch.Tensor, L: int) -> torch.Tensor:
    """The length-``L`` convolution kernel ``K[:, l] = Re(sum_n C[:, n] Abar[:, n]^l Bbar[:, n])``.

    Args:
        A: ``[D, N]`` real or complex; ``Re(A) < 0``.
        B: ``[D, N]`` real or complex.
        C: ``[D, N]`` real or complex.
        delta: ``[D]`` positive step per channel.
        L: number of taps, ``>= 1``.

    Returns:
        ``K`` of shape ``[D, L]``, real (float64 if any input is double precision, else float32).
    """
    _check_params(A, B, C, delta)
    L = _checks.positive_int("L", L)
    Abar, Bbar = s4d_discretize(A, B, delta)
    dA = delta.to(Abar.dtype)[:, None] * A.to(Abar.dtype)  # [D, N]; Abar^l = exp(l delta A)
    powers = torch.exp(dA[:, :, None] * torch.arange(L, device=A.device))  # [D, N, L]
    CB = C.to(Abar.dtype) * Bbar  # [D, N]
    return torch.einsum("dn,dnl->dl", CB, powers).real  # [D, L]
# --8<-- [end:s4d-kernel]


# --8<-- [start:s4d-conv]
def s4d_conv(u: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, delta: torch.Tensor,
             D: torch.Tensor | None = None, *, method: str = "fft") -> torch.Tensor:
    """Convolution mode: build the kernel once, then ``y = K * u + D u`` (causal).

    Args:
        u: ``[B, D, L]`` real input.
        A: ``[D, N]`` real or complex; ``Re(A) < 0``.
        B: ``[D, N]`` real or complex (input projection).
        C: ``[D, N]`` real or complex (output projection).
        delta: ``[D]`` positive step per channel.
        D: optional ``[D]`` skip term; ``None`` means no skip.
        method: ``"fft"`` (zero-pad to ``2L`` so the circular convolution is a causal one,
            ``O(L log L)``) or ``"direct"`` (the sum ``y_t = sum_{l<=t} K_l u_{t-l}``, ``O(L^2)``).

    Returns:
        ``y`` of shape ``[B, D, L]`` in ``u``'s dtype.
    """
    _check_params(A, B, C, delta)
    _check_input(u, D, A.shape[0])
    if method not in ("fft", "direct"):
        raise ValueError(f"method must be 'fft' or 'direct', got {method!r}")
    work = _checks.work_dtype(u, A, B, C, delta, D)
    A, B, C, delta = (_cast(t, work) for t in (A, B, C, delta))
    L = u.shape[-1]
    K = s4d_kernel(A, B, C, delta, L)  # [D, L], real, in the work dtype
    uw = u.to(work)
    if method == "fft":
        n = 2 * L  # padding >= L - 1 zeros stops the wrap-around of a circular convolution
        y = torch.fft.irfft(torch.fft.rfft(uw, n=n) * torch.fft.rfft(K, n=n), n=n)[..., :L]  # [B, D, L]
    else:
        y = torch.zeros_like(uw)
        for t in range(L):
            y[..., t] = (K[:, : t + 1].flip(-1) * uw[..., : t + 1]).sum(-1)  # [B, D]
    if D is not None:
        y = y + D.to(work)[:, None] * uw
    return y.to(u.dtype)
# --8<-- [end:s4d-conv]


# --8<-- [start:s4d-recurrent]
def s4d_recurrent(u: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, delta: torch.Tensor,
                  D: torch.Tensor | None = None) -> torch.Tensor:
    """Recurrent mode: ``x_t = Abar x_{t-1} + Bbar u_t``, ``y_t = Re(C x_t) + D u_t``, one step at a time.

    Args:
        u: ``[B, D, L]`` real input.
        A: ``[D, N]`` real or complex; ``Re(A) < 0``.
        B: ``[D, N]`` real or complex (input projection).
        C: ``[D, N]`` real or complex (output projection).
        delta: ``[D]`` positive step per channel.
        D: optional ``[D]`` skip term.

    Returns:
        ``y`` of shape ``[B, D, L]`` in ``u``'s dtype; equal to :func:`s4d_conv`.
    """
    _check_params(A, B, C, delta)
    _check_input(u, D, A.shape[0])
    work = _checks.work_dtype(u, A, B, C, delta, D)
    A, B, C, delta = (_cast(t, work) for t in (A, B, C, delta))
    Abar, Bbar = s4d_discretize(A, B, delta)  # [D, N] each, complex
    Cc = C.to(Abar.dtype)
    uw = u.to(work)
    Bsz, Dch, L = u.shape
    x = torch.zeros(Bsz, Dch, A.shape[1], dtype=Abar.dtype, device=u.device)  # [B, D, N]
    y = torch.empty(Bsz, Dch, L, dtype=work, device=u.device)
    for t in range(L):
        x = Abar * x + Bbar * uw[:, :, t, None]  # [B, D, N]
        y[:, :, t] = (Cc * x).sum(-1).real
    if D is not None:
        y = y + D.to(work)[:, None] * uw
    return y.to(u.dtype)
# --8<-- [end:s4d-recurrent]
