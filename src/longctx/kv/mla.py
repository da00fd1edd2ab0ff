"""Multi-head latent attention (MLA, DeepSeek-V2, arXiv:2405.04434), naive and absorbed forms.

Shape legend:
    x        [B, T, d_model]
    c_kv     [B, S, d_c]         the cached latent (one per token, shared by all heads)
    k_rope   [B, S, d_rope]      the cached decoupled key, RoPE applied, shared by all heads
    q_nope   [B, H, T, d_nope]   q_rope [B, H, T, d_rope]
    weights  w_dkv [d_model, d_c], w_kr [d_model, d_rope], w_uk [d_c, H*d_nope],
             w_uv [d_c, H*d_v], w_q [d_model, H*d_nope], w_qr [d_model, H*d_rope], w_o [H*d_v, d_model]

Cache per token: ``d_c + d_rope`` elements (512 + 64 = 576 in DeepSeek-V2), against
``2 * H * d_head`` for MHA. Queries are not compressed here (DeepSeek-V2 also gives q a low-rank
path; it changes no cache size and is left out).

Naive form: up-project the latent to per-head keys and values, then attend. Absorbed form:
``q_nope . (c W_UK_h) = (q_nope W_UK_h^T) . c``, so W_UK folds into the query, and
``sum_j p_j c_j W_UV_h = (sum_j p_j c_j) W_UV_h``, so W_UV folds into the output. Attention
then runs on the latent itself: an MQA with one key/value "head" ``[c_kv, k_rope]``. RoPE is why
the rope part is decoupled: a position-dependent rotation between q and W_UK would not fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from longctx.attention.reference import naive_attention, position_keep
from longctx.checks import float_tensor, positive_int
from longctx.position.rope import rope_rotate, rope_theta

__all__ = ["MLACache", "MLAConfig", "init_mla", "mla_absorbed", "mla_cache_elements_per_token", "mla_naive"]


@dataclass(frozen=True)
class MLAConfig:
    """Sizes of one MLA layer (defaults tiny; DeepSeek-V2: 5120, 128, 512, 64, 128, 128)."""

    d_model: int = 32  # width of the residual stream
    n_heads: int = 4  # H query heads
    d_c: int = 16  # latent width: the compressed K/V cached per token (kv_lora_rank)
    d_rope: int = 4  # width of the decoupled RoPE key, shared by all heads (even)
    d_nope: int = 8  # per-head query/key width without RoPE
    d_v: int = 8  # per-head value width

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "d_c", "d_rope", "d_nope", "d_v"):
            positive_int(name, getattr(self, name))
        if self.d_rope % 2:
            raise ValueError(f"d_rope must be even (RoPE rotates pairs), got {self.d_rope}")


def mla_cache_elements_per_token(cfg: MLAConfig) -> int:
    """Cached elements per token per layer: ``d_c + d_rope``."""
    return cfg.d_c + cfg.d_rope


def init_mla(cfg: MLAConfig, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Deterministic N(0, 1/fan_in) weights for ``cfg`` from a private generator seeded by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    H = cfg.n_heads

    def lin(i: int, o: int) -> torch.Tensor:
        return (torch.randn(i, o, generator=gen, dtype=torch.float64) / math.sqrt(i)).to(dtype)

    return {
        "w_dkv": lin(cfg.d_model, cfg.d_c),
        "w_kr": lin(cfg.d_model, cfg.d_rope),
        "w_uk": lin(cfg.d_c, H * cfg.d_nope),
        "w_uv": lin(cfg.d_c, H * cfg.d_v),
        "w_q": lin(cfg.d_model, H * cfg.d_nope),
        "w_qr": lin(cfg.d_model, H * cfg.d_rope),
        "w_o": lin(H * cfg.d_v, cfg.d_model),
    }


class MLACache:
    """The MLA cache: latent ``c_kv [B, S, d_c]`` and rotated ``k_rope [B, S, d_rope]``, grown by append."""

    def __init__(self) -> None:
        self.c_kv: torch.Tensor | None = None  # [B, S, d_c]
        self.k_rope: torch.Tensor | None = None  # [B, S, d_rope]

    @property
    def length(self) -> int:
        """Tokens held, S."""
        return 0 if self.c_kv is None else self.c_kv.shape[1]

    def extend(self, c_kv: torch.Tensor, k_rope: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append T tokens; return the whole cache ``(c_kv [B, S, d_c], k_rope [B, S, d_rope])``."""
        if self.c_kv is None:
            self.c_kv, self.k_rope = c_kv, k_rope
        else:
            self.c_kv = torch.cat([self.c_kv, c_kv], dim=1)  # [B, S + T, d_c]
            self.k_rope = torch.cat([self.k_rope, k_rope], dim=1)  # [B, S + T, d_rope]
        return self.c_kv, self.k_rope


def _checked_cache(cfg: MLAConfig, x: torch.Tensor, cache: MLACache | None) -> MLACache:
    """Check ``x`` against ``cfg``; return ``cache`` or a fresh :class:`MLACache`."""
    if not isinstance(cfg, MLAConfig):
        raise TypeError(f"cfg must be an MLAConfig, got {type(cfg).__name__}")
    float_tensor("x", x, 3)
    if x.shape[2] != cfg.d_model:
        raise ValueError(f"x's last dim {x.shape[2]} differs from d_model {cfg.d_model}")
    if x.shape[1] == 0:
        raise ValueError("x must hold at least one token (T >= 1)")
    if cache is not None and not isinstance(cache, MLACache):
        raise TypeError(f"cache must be an MLACache or None, got {type(cache).__name__}")
    return MLACache() if cache is None else cache


# --8<-- [start:mla-naive]
import math

import torch


def mla_project(cfg, p: dict, x: torch.Tensor, cache) -> tuple[torch.Tensor, ...]:
    """Queries of x's T tokens and the cache after appending their latent and rotated rope key.

    Returns ``q_nope [B, H, T, d_nope]``, ``q_rope [B, H, T, d_rope]`` and the whole cache,
    ``c_kv [B, S, d_c]`` and ``k_rope [B, S, d_rope]``; positions continue the cache.
    """
    B, T, _ = x.shape
    H, theta = cfg.n_heads, rope_theta(cfg.d_rope)
    pos = torch.arange(cache.length, cache.length + T, device=x.device)  # [T]
    q_nope = (x @ p["w_q"]).reshape(B, T, H, cfg.d_nope).transpose(1, 2)  # [B, H, T, d_nope]
    q_rope = rope_rotate((x @ p["w_qr"]).reshape(B, T, H, cfg.d_rope).transpose(1, 2), pos, theta)
    k_rope = rope_rotate((x @ p["w_kr"])[:, None], pos, theta)[:, 0]  # [B, T, d_rope]: one head for all
    c_kv, k_rope = cache.extend(x @ p["w_dkv"], k_rope)  # [B, S, d_c], [B, S, d_rope]
    return q_nope, q_rope, c_kv, k_rope


def mla_naive_attend(cfg, p: dict, q_nope, q_rope, c_kv, k_rope) -> torch.Tensor:
    """MLA by up-projection: rebuild per-head K and V from the latent, then ordinary attention."""
    B, S, _ = c_kv.shape
    H, T = cfg.n_heads, q_nope.shape[2]
    k_nope = (c_kv @ p["w_uk"]).reshape(B, S, H, cfg.d_nope).transpose(1, 2)  # [B, H, S, d_nope]
    v = (c_kv @ p["w_uv"]).reshape(B, S, H, cfg.d_v).transpose(1, 2)  # [B, H, S, d_v]
    k_r = k_rope[:, None].expand(B, H, S, cfg.d_rope)  # [B, H, S, d_rope]: one rope key for all heads
    q = torch.cat([q_nope, q_rope], dim=-1)  # [B, H, T, d_nope + d_rope]
    k = torch.cat([k_nope, k_r], dim=-1)  # [B, H, S, d_nope + d_rope]
    keep = position_keep(
        torch.arange(T, device=c_kv.device) + S - T, torch.arange(S, device=c_kv.device), (-1, 0)
    )  # causal
    o = naive_attention(q, k, v, keep, 1 / math.sqrt(q.shape[-1]))  # [B, H, T, d_v]
    return o.transpose(1, 2).reshape(B, T, H * cfg.d_v) @ p["w_o"]  # [B, T, H*d_v] -> [B, T, d_model]


# --8<-- [end:mla-naive]


def mla_naive(
    cfg: MLAConfig, p: dict[str, torch.Tensor], x: torch.Tensor, cache: MLACache | None = None
) -> torch.Tensor:
    """MLA by up-projection: rebuild per-head K and V from the latent, then ordinary attention.

    Args:
        cfg: sizes. p: weights from :func:`init_mla`.
        x: ``[B, T, d_model]``, the next T tokens (causal over the cache plus themselves).
        cache: an :class:`MLACache` to extend (None: a fresh one, i.e. a full forward).

    Returns:
        ``[B, T, d_model]``.
    """
    cache = _checked_cache(cfg, x, cache)
    return mla_naive_attend(cfg, p, *mla_project(cfg, p, x, cache))


# --8<-- [start:mla-absorbed]
import math

import torch


def mla_absorbed_attend(cfg, p: dict, q_nope, q_rope, c_kv, k_rope) -> torch.Tensor:
    """MLA with W_UK folded into the query and W_UV into the output: attention on the latent."""
    B, S, _ = c_kv.shape
    H, T = cfg.n_heads, q_nope.shape[2]
    w_uk = p["w_uk"].reshape(cfg.d_c, H, cfg.d_nope)  # [d_c, H, d_nope]
    w_uv = p["w_uv"].reshape(cfg.d_c, H, cfg.d_v)  # [d_c, H, d_v]
    q_lat = torch.einsum("bhtn,chn->bhtc", q_nope, w_uk)  # [B, H, T, d_c]: q_nope W_UK_h^T
    q = torch.cat([q_lat, q_rope], dim=-1)  # [B, H, T, d_c + d_rope]
    k = torch.cat([c_kv, k_rope], dim=-1)[:, None]  # [B, 1, S, d_c + d_rope]: one shared "head"
    scale = 1.0 / math.sqrt(cfg.d_nope + cfg.d_rope)  # the naive form's head width, not d_c's
    keep = position_keep(
        torch.arange(T, device=c_kv.device) + S - T, torch.arange(S, device=c_kv.device), (-1, 0)
    )  # causal
    o_lat = naive_attention(q, k, c_kv[:, None], keep, scale)  # [B, H, T, d_c]
    o = torch.einsum("bhtc,chv->bhtv", o_lat, w_uv)  # [B, H, T, d_v]
    return o.transpose(1, 2).reshape(B, T, H * cfg.d_v) @ p["w_o"]  # [B, T, d_model]


# --8<-- [end:mla-absorbed]


def mla_absorbed(
    cfg: MLAConfig, p: dict[str, torch.Tensor], x: torch.Tensor, cache: MLACache | None = None
) -> torch.Tensor:
    """MLA with W_UK folded into the query and W_UV into the output: attention on the latent.

    Same arguments and result as :func:`mla_naive`; per-head keys and values are never built.
    """
    cache = _checked_cache(cfg, x, cache)
    return mla_absorbed_attend(cfg, p, *mla_project(cfg, p, x, cache))
