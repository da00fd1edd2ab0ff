"""KV caches for decoding: a growing contiguous cache and Mistral's rolling buffer.

Shape legend:
    k/v (cached)   [B, H_kv, S, D]   S cached tokens
    k/v (new)      [B, H_kv, T, D]   T tokens appended in one call (a prefill chunk or 1)
    key positions  [S]               absolute position of each cached key (-1: empty slot)

Both caches answer one question per call, ``extend(k_new, v_new)``: "which keys and values may
the T new queries attend to, and at which absolute positions?". The caller turns the positions
into a mask with :func:`longctx.attention.position_mask` (or its core
:func:`longctx.attention.reference.position_keep`), so that the same decoder works with either
cache. A rolling buffer's capacity is ``slots``: a causal window ``(W - 1, 0)`` of W keys needs
``slots = W`` (Mistral 7B: 4,096).
"""

from __future__ import annotations

import torch

__all__ = ["KVCache", "RollingKVCache"]


# --8<-- [start:kv-cache]
import torch


def check_new_tokens(k_new: torch.Tensor, v_new: torch.Tensor) -> None:
    """Refuse what no cache can hold: non-tensors, wrong ranks, mismatched or empty chunks."""
    for name, t in (("k_new", k_new), ("v_new", v_new)):
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point or t.dim() != 4:
            raise TypeError(
                f"{name} must be a 4-D floating-point torch.Tensor [B, H_kv, T, D], got {t!r:.60}"
            )
    if k_new.shape[:3] != v_new.shape[:3] or k_new.dtype != v_new.dtype:
        raise ValueError(
            f"k_new and v_new must agree on [B, H_kv, T] and dtype, got {tuple(k_new.shape)} "
            f"{k_new.dtype} and {tuple(v_new.shape)} {v_new.dtype}"
        )
    if k_new.shape[2] == 0:
        raise ValueError("k_new must hold at least one token (T >= 1), got T = 0")


class KVCache:
    """Contiguous cache: keys and values of every token so far, ``[B, H_kv, S, D]``, grown by append.

    Memory grows with the sequence (S slots). ``extend`` returns the whole cache, new tokens
    included, and the absolute positions ``0 .. S-1``.
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None  # [B, H_kv, S, D]
        self.v: torch.Tensor | None = None  # [B, H_kv, S, Dv]

    @property
    def length(self) -> int:
        """Tokens held, S."""
        return 0 if self.k is None else self.k.shape[2]

    def extend(
        self, k_new: torch.Tensor, v_new: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Append ``T`` tokens; return ``(k [B, H_kv, S, D], v [B, H_kv, S, Dv], positions [S])``."""
        check_new_tokens(k_new, v_new)
        if self.k is None:
            self.k, self.v = k_new, v_new
        else:
            if k_new.shape[:2] != self.k.shape[:2] or k_new.shape[3] != self.k.shape[3]:
                raise ValueError(
                    f"k_new must match the cache's {tuple(self.k.shape)}, got {tuple(k_new.shape)}"
                )
            self.k = torch.cat([self.k, k_new], dim=2)  # [B, H_kv, S + T, D]
            self.v = torch.cat([self.v, v_new], dim=2)  # [B, H_kv, S + T, Dv]
        return self.k, self.v, torch.arange(self.length, device=k_new.device)


# --8<-- [end:kv-cache]


# --8<-- [start:rolling-cache]
import torch


class RollingKVCache:
    """Rolling buffer of ``slots`` entries (Mistral 7B, arXiv:2310.06825): token i goes to slot i mod slots.

    A causal sliding window ``(W - 1, 0)`` never reads a key more than W - 1 positions back,
    so W slots suffice whatever the sequence length (Mistral 7B: ``slots=4096`` for its
    ``window=(4095, 0)``). The order is scrambled once the buffer wraps; that does not matter,
    because attention is a weighted sum over a *set* of keys and each slot remembers its position.
    """

    def __init__(self, slots: int) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int):
            raise TypeError(f"slots must be a positive integer, got {type(slots).__name__} {slots!r}")
        if slots < 1:
            raise ValueError(f"slots must be a positive integer, got {slots}")
        self.slots = slots
        self.k: torch.Tensor | None = None  # [B, H_kv, slots, D]
        self.v: torch.Tensor | None = None  # [B, H_kv, slots, Dv]
        self.slot_pos: torch.Tensor | None = None  # [slots], -1 for a slot never written
        self.next_pos = 0  # absolute position of the next token

    def extend(
        self, k_new: torch.Tensor, v_new: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the buffer *before* the write plus the T new tokens, with positions; then write.

        The new chunk is attended to in full (a chunk of T > slots tokens needs keys that its
        own later tokens overwrite), and only afterwards written at slots ``pos mod slots``.
        Returns ``(k [B, H_kv, slots + T, D], v [B, H_kv, slots + T, Dv], positions [slots + T])``.
        """
        check_new_tokens(k_new, v_new)
        B, H_kv, T, D = k_new.shape
        W = self.slots
        if self.k is None:
            self.k = k_new.new_zeros(B, H_kv, W, D)
            self.v = v_new.new_zeros(B, H_kv, W, v_new.shape[3])
            self.slot_pos = torch.full((W,), -1, dtype=torch.long, device=k_new.device)
        elif k_new.shape[:2] != self.k.shape[:2] or D != self.k.shape[3]:
            raise ValueError(f"k_new must match the buffer's {tuple(self.k.shape)}, got {tuple(k_new.shape)}")
        new_pos = torch.arange(self.next_pos, self.next_pos + T, device=k_new.device)  # [T]
        k_all = torch.cat([self.k, k_new], dim=2)  # [B, H_kv, W + T, D]
        v_all = torch.cat([self.v, v_new], dim=2)  # [B, H_kv, W + T, Dv]
        pos_all = torch.cat([self.slot_pos, new_pos])  # [W + T]
        keep = min(T, W)  # only the last W new tokens survive the write
        at = new_pos[-keep:] % W  # [keep], distinct slots
        self.k[:, :, at] = k_new[:, :, -keep:]
        self.v[:, :, at] = v_new[:, :, -keep:]
        self.slot_pos[at] = new_pos[-keep:]
        self.next_pos += T
        return k_all, v_all, pos_all


# --8<-- [end:rolling-cache]
