"""A tiny decoder block, run two ways: a full causal forward and token-by-token with a KV cache.

Shape legend:
    x        [B, T, d_model]     hidden states of T tokens
    q        [B, H, T, D]        H = n_heads query heads, D = head_dim
    k/v      [B, H_kv, S, D]     H_kv = n_kv_heads (MHA: H_kv = H; GQA: fewer; MQA: 1)
    weights  wq [d_model, H*D], wk/wv [d_model, H_kv*D], wo [H*D, d_model],
             w_up [d_model, d_ff], w_down [d_ff, d_model], norms [d_model]

The block is pre-norm: ``x + attn(rms(x))`` then ``x + mlp(rms(x))``, with RoPE on q and k.
Attention itself is :func:`longctx.attention.reference.naive_attention` over the keep mask of
:func:`longctx.attention.reference.position_keep`; this module only decides which keys each
query may read. A sliding window is ``window=(left, right)`` as everywhere in the package; the
block is causal, so ``(W - 1, 0)`` reads W keys (itself and W - 1 before it), and a rolling cache
for it needs ``slots = W`` (Mistral 7B: ``window=(4095, 0)``, 4,096 slots). One block stands in for a model: a KV cache works layer by layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from longctx import checks
from longctx.attention.reference import naive_attention, position_keep
from longctx.checks import float_tensor, nonneg_int, positive_int
from longctx.kv.cache import KVCache, RollingKVCache
from longctx.position.rope import rope_rotate, rope_theta

__all__ = ["DecoderConfig", "decode", "decoder_forward", "init_decoder", "rms_norm"]


@dataclass(frozen=True)
class DecoderConfig:
    """Sizes of the tiny decoder block."""

    d_model: int = 32  # width of the residual stream
    n_heads: int = 4  # query heads H
    n_kv_heads: int = 2  # key/value heads H_kv: H for MHA, 1 for MQA, between for GQA
    head_dim: int = 8  # D, width of one head (even, for RoPE)
    window: tuple[int, int] | None = None  # (left, right) as FlashAttention's window_size; None = full causal
    d_ff: int = 0  # hidden width of the MLP; 0 leaves the MLP (and its norm) out
    rope: bool = True  # rotate q and k by their absolute positions

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "n_kv_heads", "head_dim"):
            positive_int(name, getattr(self, name))
        nonneg_int("d_ff", self.d_ff)
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.window is not None:
            object.__setattr__(self, "window", checks.window_pair(self.window))
        if self.rope and self.head_dim % 2:
            raise ValueError(f"head_dim must be even when rope=True, got {self.head_dim}")

    @property
    def slots(self) -> int | None:
        """Entries a rolling cache needs for this window: ``left + 1`` (None without a bounded left side)."""
        if self.window is None or self.window[0] < 0:
            return None
        return self.window[0] + 1


def init_decoder(
    cfg: DecoderConfig, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> dict[str, torch.Tensor]:
    """Deterministic weights for ``cfg``: same seed, same weights, on any machine.

    Args:
        cfg: the block's sizes.
        seed: seeds a private ``torch.Generator`` (global RNG untouched).
        dtype: floating dtype of every weight; default float64.

    Returns:
        Dict of weights (shapes in the module legend). Linear weights are N(0, 1/fan_in);
        norm gains are 1 + N(0, 0.1^2) so that a wrong norm shows in tests.
    """
    if not isinstance(cfg, DecoderConfig):
        raise TypeError(f"cfg must be a DecoderConfig, got {type(cfg).__name__}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    gen = torch.Generator().manual_seed(seed)

    def lin(fan_in: int, fan_out: int) -> torch.Tensor:
        w = torch.randn(fan_in, fan_out, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
        return w.to(dtype)

    def gain() -> torch.Tensor:
        return (1 + 0.1 * torch.randn(cfg.d_model, generator=gen, dtype=torch.float64)).to(dtype)

    H, H_kv, D = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    p = {
        "attn_norm": gain(),
        "wq": lin(cfg.d_model, H * D),
        "wk": lin(cfg.d_model, H_kv * D),
        "wv": lin(cfg.d_model, H_kv * D),
        "wo": lin(H * D, cfg.d_model),
    }
    if cfg.d_ff:
        p.update(mlp_norm=gain(), w_up=lin(cfg.d_model, cfg.d_ff), w_down=lin(cfg.d_ff, cfg.d_model))
    return p


def rms_norm(x: torch.Tensor, gain: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dim: ``x / sqrt(mean(x^2) + eps) * gain``; ``x [..., d]``, ``gain [d]``."""
    checks.float_tensor("x", x)
    checks.float_tensor("gain", gain, 1)
    return rms(x, gain, checks.positive_real("eps", eps))


def _check_x(cfg: DecoderConfig, params: dict, x: torch.Tensor) -> None:
    if not isinstance(cfg, DecoderConfig):
        raise TypeError(f"cfg must be a DecoderConfig, got {type(cfg).__name__}")
    float_tensor("x", x, 3)
    if x.shape[2] != cfg.d_model:
        raise ValueError(f"x's last dim {x.shape[2]} differs from d_model {cfg.d_model}")
    if x.shape[1] == 0:
        raise ValueError("x must hold at least one token (T >= 1)")
    if x.dtype != params["wq"].dtype:
        raise TypeError(f"x has dtype {x.dtype} but the weights have {params['wq'].dtype}")


# --8<-- [start:decoder-block]
import math

import torch


def rms(x: torch.Tensor, gain: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dim: ``x / sqrt(mean(x^2) + eps) * gain``."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * gain


def split_heads(x: torch.Tensor, n: int, D: int) -> torch.Tensor:
    """``[B, T, n*D] -> [B, n, T, D]``."""
    B, T, _ = x.shape
    return x.reshape(B, T, n, D).transpose(1, 2)


def block_forward(cfg, p: dict, x: torch.Tensor, q_pos: torch.Tensor, cache) -> torch.Tensor:
    """One pre-norm block on T tokens at positions ``q_pos``; ``cache.extend`` supplies the keys."""
    H, H_kv, D = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    h = rms(x, p["attn_norm"])  # [B, T, d_model]
    q = split_heads(h @ p["wq"], H, D)  # [B, H, T, D]
    k = split_heads(h @ p["wk"], H_kv, D)  # [B, H_kv, T, D]
    v = split_heads(h @ p["wv"], H_kv, D)  # [B, H_kv, T, D]
    if cfg.rope:
        q, k = rope_rotate(q, q_pos, rope_theta(D)), rope_rotate(k, q_pos, rope_theta(D))  # k cached rotated
    k_all, v_all, k_pos = cache.extend(k, v)  # [B, H_kv, S, D] x2, [S]
    left = -1 if cfg.window is None else cfg.window[0]
    keep = position_keep(q_pos, k_pos, (left, 0))  # [T, S]: causal, within the window
    o = naive_attention(q, k_all, v_all, keep, 1 / math.sqrt(D))  # [B, H, T, D]
    B, _, T, _ = o.shape
    x = x + o.transpose(1, 2).reshape(B, T, H * D) @ p["wo"]  # [B, H, T, D] -> [B, T, H*D]
    if cfg.d_ff:
        h = rms(x, p["mlp_norm"])
        x = x + torch.nn.functional.silu(h @ p["w_up"]) @ p["w_down"]
    return x


# --8<-- [end:decoder-block]


def decoder_forward(cfg: DecoderConfig, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Full causal forward over all ``T`` tokens at once (no cache kept).

    Args:
        cfg: sizes; ``cfg.window`` makes it sliding-window attention.
        params: weights from :func:`init_decoder`.
        x: ``[B, T, d_model]``, same dtype as the weights.

    Returns:
        ``[B, T, d_model]``.
    """
    _check_x(cfg, params, x)
    return block_forward(cfg, params, x, torch.arange(x.shape[1], device=x.device), KVCache())


# --8<-- [start:decode]
import torch


def decode_steps(cfg, params: dict, x: torch.Tensor, prefill: int, cache) -> torch.Tensor:
    """A prefill chunk of ``prefill`` tokens, then one token per step, all through ``cache``."""
    T = x.shape[1]
    outs = [block_forward(cfg, params, x[:, :prefill], torch.arange(prefill, device=x.device), cache)]
    for t in range(prefill, T):
        outs.append(block_forward(cfg, params, x[:, t : t + 1], torch.tensor([t], device=x.device), cache))
    return torch.cat(outs, dim=1)  # [B, T, d_model]


# --8<-- [end:decode]


def decode(
    cfg: DecoderConfig,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    *,
    prefill: int = 1,
    rolling: bool = False,
) -> tuple[torch.Tensor, KVCache | RollingKVCache]:
    """Run the block as a decoder would: a prefill chunk, then one token per step, with a cache.

    Args:
        cfg: sizes.
        params: weights from :func:`init_decoder`.
        x: ``[B, T, d_model]``; the first ``prefill`` tokens go in one call, the rest one by one.
        prefill: 1 <= prefill <= T, tokens of the first call (default 1: pure step-by-step).
        rolling: use a :class:`RollingKVCache` of ``cfg.slots`` slots (needs ``cfg.window``
            with a bounded left side: ``(W - 1, 0)`` gives W slots).

    Returns:
        ``(out [B, T, d_model], cache)``; ``out`` equals :func:`decoder_forward` on ``x``.
    """
    _check_x(cfg, params, x)
    T = x.shape[1]
    prefill = positive_int("prefill", prefill)
    if prefill > T:
        raise ValueError(f"prefill must be at most the sequence length T = {T}, got {prefill}")
    if checks.flag("rolling", rolling) and cfg.slots is None:
        raise ValueError(
            f"rolling=True needs cfg.window with a bounded left side (W - 1, 0), got {cfg.window}"
        )
    cache = RollingKVCache(cfg.slots) if rolling else KVCache()
    return decode_steps(cfg, params, x, prefill, cache), cache
