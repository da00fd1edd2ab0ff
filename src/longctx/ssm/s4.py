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

Each public function checks its arguments (``longctx.checks``), casts to the working dtype
(float64 if any input is double precision, else float32; complex to match) and calls a core
that Lesson 3 shows: :func:`zoh_discretize`, :func:`conv_kernel`, :func:`conv_mode`,
:func:`recurrent_mode`.
"""

from __future__ import annotations

import torch

from longctx import checks

__all__ = [
    "conv_kernel",
    "conv_mode",
    "recurrent_mode",
    "s4d_conv",
    "s4d_discretize",
    "s4d_kernel",
    "s4d_recurrent",
    "zoh_discretize",
]


def _work_dtype(*ts: torch.Tensor | None) -> torch.dtype:
    """float64 if any input is double precision, else float32 (half inputs are computed in float32)."""
    wide = any(t is not None and t.dtype in (torch.float64, torch.complex128) for t in ts)
    return torch.float64 if wide else torch.float32


def _cast(t: torch.Tensor, work: torch.dtype) -> torch.Tensor:
    """Real tensors to ``work``, complex ones to the matching complex dtype."""
    return t.to((torch.complex128 if work == torch.float64 else torch.complex64) if t.is_complex() else work)


def _check_params(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, delta: torch.Tensor) -> None:
    for name, t in (("A", A), ("B", B), ("C", C)):
        checks.complex_or_float_tensor(name, t, 2)
    checks.float_tensor("delta", delta, 1)
    Dch, N = A.shape
    if Dch == 0 or N == 0:
        raise ValueError(f"A must have at least one channel and one state, got shape {tuple(A.shape)}")
    checks.shape("B", B, (Dch, N), "[D, N] like A")
    checks.shape("C", C, (Dch, N), "[D, N] like A")
    checks.shape("delta", delta, (Dch,), "[D]")
    if not bool((A.real < 0).all()):
        raise ValueError("A must have a strictly negative real part (a stable system; ZOH divides by A)")
    if not bool((delta > 0).all()):
        raise ValueError("delta must be strictly positive")


def _check_input(u: torch.Tensor, D: torch.Tensor | None, channels: int) -> None:
    checks.float_tensor("u", u, 3)
    if u.shape[1] != channels:
        raise ValueError(f"u must have A's {channels} channels, got {u.shape[1]}")
    if u.shape[2] == 0:
        raise ValueError("u must have a non-empty sequence (L >= 1)")
    if D is not None:
        checks.float_tensor("D", D, 1)
        checks.shape("D", D, (channels,), "[D]")


def _prepared(u, A, B, C, delta, D):
    """Check everything; return the tensors in the working dtype (complex ones in its complex twin)."""
    _check_params(A, B, C, delta)
    _check_input(u, D, A.shape[0])
    work = _work_dtype(u, A, B, C, delta, D)
    return (u.to(work), *(_cast(t, work) for t in (A, B, C, delta)), None if D is None else D.to(work))


# --8<-- [start:s4d-discretize]
import torch


def zoh_discretize(
    A: torch.Tensor, B: torch.Tensor, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order-hold discretisation of a diagonal SSM: ``Abar = exp(delta A)``, ``Bbar = (Abar - 1) / A * B``.

    Args:
        A: ``[D, N]`` real or complex, ``Re(A) < 0``.
        B: ``[D, N]`` real or complex.
        delta: ``[D]`` positive step per channel.

    Returns:
        ``(Abar, Bbar)``, both ``[D, N]`` complex (complex128 for float64 inputs, else complex64).
    """
    wide = torch.float64 in (A.dtype, B.dtype, delta.dtype) or torch.complex128 in (A.dtype, B.dtype)
    cdt = torch.complex128 if wide else torch.complex64
    A, B = A.to(cdt), B.to(cdt)
    dA = delta.to(cdt)[:, None] * A  # [D, N]
    Abar = torch.exp(dA)
    Bbar = (Abar - 1) / A * B  # exact ZOH for a diagonal A: (delta A)^-1 (exp(delta A) - 1) delta B
    return Abar, Bbar


# --8<-- [end:s4d-discretize]


# --8<-- [start:s4d-kernel]
import torch


def conv_kernel(
    A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, delta: torch.Tensor, L: int
) -> torch.Tensor:
    """The length-``L`` convolution kernel ``K[:, l] = Re(sum_n C[:, n] Abar[:, n]^l Bbar[:, n])``.

    Args:
        A: ``[D, N]`` real or complex, ``Re(A) < 0``.
        B: ``[D, N]`` real or complex.
        C: ``[D, N]`` real or complex.
        delta: ``[D]`` positive step per channel.
        L: number of taps.

    Returns:
        ``K`` of shape ``[D, L]``, real.
    """
    Abar, Bbar = zoh_discretize(A, B, delta)
    dA = delta.to(Abar.dtype)[:, None] * A.to(Abar.dtype)  # [D, N]; Abar^l = exp(l delta A)
    powers = torch.exp(dA[:, :, None] * torch.arange(L, device=A.device))  # [D, N, L]
    CB = C.to(Abar.dtype) * Bbar  # [D, N]
    return torch.einsum("dn,dnl->dl", CB, powers).real  # [D, L]


# --8<-- [end:s4d-kernel]


# --8<-- [start:s4d-conv]
import torch


def conv_mode(
    u: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    delta: torch.Tensor,
    D: torch.Tensor | None = None,
    method: str = "fft",
) -> torch.Tensor:
    """Convolution mode: build the kernel once, then ``y = K * u + D u`` (causal).

    Args:
        u: ``[B, D, L]`` real input.
        A: ``[D, N]`` real or complex, ``Re(A) < 0``.
        B: ``[D, N]`` real or complex (input projection).
        C: ``[D, N]`` real or complex (output projection).
        delta: ``[D]`` positive step per channel.
        D: optional ``[D]`` skip term.
        method: ``"fft"`` (zero-pad to ``2L`` so the circular convolution is a causal one,
            ``O(L log L)``) or ``"direct"`` (the sum ``y_t = sum_{l<=t} K_l u_{t-l}``, ``O(L^2)``).

    Returns:
        ``y [B, D, L]`` in the dtype of ``u``.
    """
    L = u.shape[-1]
    K = conv_kernel(A, B, C, delta, L).to(u.dtype)  # [D, L]
    if method == "fft":
        n = 2 * L  # padding >= L - 1 zeros stops the wrap-around of a circular convolution
        y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)[..., :L]  # [B, D, L]
    else:
        y = torch.zeros_like(u)
        for t in range(L):
            y[..., t] = (K[:, : t + 1].flip(-1) * u[..., : t + 1]).sum(-1)  # [B, D]
    if D is not None:
        y = y + D[:, None] * u
    return y


# --8<-- [end:s4d-conv]


# --8<-- [start:s4d-recurrent]
import torch


def recurrent_mode(
    u: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    delta: torch.Tensor,
    D: torch.Tensor | None = None,
) -> torch.Tensor:
    """Recurrent mode: ``x_t = Abar x_{t-1} + Bbar u_t``, ``y_t = Re(C x_t) + D u_t``, one step at a time.

    Arguments as in :func:`conv_mode`. Returns ``y [B, D, L]`` in the dtype of ``u``.
    """
    Abar, Bbar = zoh_discretize(A, B, delta)  # [D, N] each, complex
    Cc = C.to(Abar.dtype)
    Bsz, Dch, L = u.shape
    x = torch.zeros(Bsz, Dch, A.shape[1], dtype=Abar.dtype, device=u.device)  # [B, D, N]
    y = torch.empty_like(u)
    for t in range(L):
        x = Abar * x + Bbar * u[:, :, t, None]  # [B, D, N]
        y[:, :, t] = (Cc * x).sum(-1).real
    if D is not None:
        y = y + D[:, None] * u
    return y


# --8<-- [end:s4d-recurrent]


def s4d_discretize(
    A: torch.Tensor, B: torch.Tensor, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order-hold discretisation of a diagonal SSM (:func:`zoh_discretize`), arguments checked.

    Args:
        A: ``[D, N]`` real or complex, ``Re(A) < 0``.
        B: ``[D, N]`` real or complex.
        delta: ``[D]`` positive step per channel.

    Returns:
        ``(Abar, Bbar)``, both ``[D, N]`` complex (complex128 if any input is double precision,
        else complex64): ``Abar = exp(delta A)``, ``Bbar = (Abar - 1) / A * B``.
    """
    _check_params(A, B, B, delta)
    return zoh_discretize(A, B, delta)


def s4d_kernel(
    A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, delta: torch.Tensor, L: int
) -> torch.Tensor:
    """The length-``L`` convolution kernel ``K[:, l] = Re(sum_n C[:, n] Abar[:, n]^l Bbar[:, n])`` (:func:`conv_kernel`).

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
    return conv_kernel(A, B, C, delta, checks.positive_int("L", L))


def s4d_conv(
    u: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    delta: torch.Tensor,
    D: torch.Tensor | None = None,
    *,
    method: str = "fft",
) -> torch.Tensor:
    """Convolution mode (:func:`conv_mode`): build the kernel once, then ``y = K * u + D u`` (causal).

    Args:
        u: ``[B, D, L]`` real input.
        A: ``[D, N]`` real or complex; ``Re(A) < 0``.
        B: ``[D, N]`` real or complex (input projection).
        C: ``[D, N]`` real or complex (output projection).
        delta: ``[D]`` positive step per channel.
        D: optional ``[D]`` skip term; ``None`` means no skip.
        method: ``"fft"`` (``O(L log L)``) or ``"direct"`` (``O(L^2)``).

    Returns:
        ``y`` of shape ``[B, D, L]`` in ``u``'s dtype.
    """
    if method not in ("fft", "direct"):
        raise ValueError(f"method must be 'fft' or 'direct', got {method!r}")
    return conv_mode(*_prepared(u, A, B, C, delta, D), method=method).to(u.dtype)


def s4d_recurrent(
    u: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    delta: torch.Tensor,
    D: torch.Tensor | None = None,
) -> torch.Tensor:
    """Recurrent mode (:func:`recurrent_mode`): one step at a time; equal to :func:`s4d_conv`.

    Args:
        u: ``[B, D, L]`` real input.
        A: ``[D, N]`` real or complex; ``Re(A) < 0``.
        B: ``[D, N]`` real or complex (input projection).
        C: ``[D, N]`` real or complex (output projection).
        delta: ``[D]`` positive step per channel.
        D: optional ``[D]`` skip term.

    Returns:
        ``y`` of shape ``[B, D, L]`` in ``u``'s dtype.
    """
    return recurrent_mode(*_prepared(u, A, B, C, delta, D)).to(u.dtype)
