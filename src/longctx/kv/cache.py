"""KV caches for decoding: a growing contiguous cache and Mistral's rolling buffer.

Shape legend:
    k/v (cached)   [B, H_kv, S, D]   S cached tokens
    k/v (new)      [B, H_kv, T, D]   T tokens appended in one call (a prefill chunk or 1)
    key positions  [S]               absolute position of each cached key (-1: empty slot)

Both caches answer one question per call, ``extend(k_new, v_new)``: "which keys and values may
the T new queries attend to, and at which absolute positions?". The caller turns the positions
into a mask with :func:`position_mask`, so that the same decoder works with either cache.
"""

from __future__ import annotations

import torch

from longctx.checks import float_tensor, positive_int

__all__ = ["KVCache", "RollingKVCache", "position_mask"]


def _check_new(k_new: torch.Tensor, v_new: torch.Tensor) -> None:
    float_tensor("k_new", k_new, 4)
    float_tensor("v_new", v_new, 4)
    if k_new.shape[:3] != v_new.shape[:3]:
        raise ValueError(f"k_new and v_new must agree on [B, H_kv, T], got {tuple(k_new.shape)} "
                         f"and {tuple(v_new.shape)}")
    if k_new.shape[2] == 0:
        raise ValueError("k_new must hold at least one token (T >= 1)")
    if k_new.dtype != v_new.dtype:
        raise TypeError(f"k_new and v_new must share a dtype, got {k_new.dtype} and {v_new.dtype}")


# --8<-- [start:position-mask]
def position_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Boolean ``[T, S]``: True where the query at ``q_pos[i]`` may read the key at ``k_pos[j]``.

    Causal: ``k_pos <= q_pos``. With a window W (sliding-window attention, window
    ``(W-1, 0)``): also ``k_pos > q_pos - W``, so each query reads itself and W-1 keys before
    it. Empty cache slots carry position -1 and are never visible.

    Args:
        q_pos: ``[T]`` absolute positions of the queries.
        k_pos: ``[S]`` absolute positions of the keys; -1 marks an empty slot.
        window: None (full causal) or W >= 1.
    """
    if window is not None:
        positive_int("window", window)
    qp, kp = q_pos[:, None], k_pos[None, :]  # [T, 1], [1, S]
    keep = (kp >= 0) & (kp <= qp)
    if window is not None:
        keep &= kp > qp - window
    return keep
# --8<-- [end:position-mask]


# --8<-- [start:kv-cache]
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

    def extend(self, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Append ``T`` tokens; return ``(k [B, H_kv, S, D], v [B, H_kv, S, Dv], positions [S])``."""
        _check_new(k_new, v_new)
        if self.k is None:
            self.k, self.v = k_new, v_new
        else:
            if k_new.shape[:2] != self.k.shape[:2] or k_new.shape[3] != self.k.shape[3]:
                raise ValueError(f"k_new {tuple(k_new.shape)} does not match the cache {tuple(self.k.shape)}")
            self.k = torch.cat([self.k, k_new], dim=2)  # [B, H_kv, S + T, D]
            self.v = torch.cat([self.v, v_new], dim=2)  # [B, H_kv, S + T, Dv]
        return self.k, self.v, torch.arange(self.length, device=k_new.device)
# --8<-- [end:kv-cache]


# --8<-- [start:rolling-cache]
class RollingKVCache:
    """Rolling buffer of W slots (Mistral 7B, arXiv:2310.06825): token i is written to slot i mod W.

    With sliding-window attention of window W no query ever reads a key more than W-1
    positions back, so W slots suffice whatever the sequence length: memory is capped at W.
    The buffer's order is scrambled after it wraps; that does not matter, because attention
    is a weighted sum over a *set* of keys and each slot remembers its absolute position.

    Args:
        window: W >= 1, the number of slots and the attention window.
    """

    def __init__(self, window: int) -> None:
        self.window = positive_int("window", window)
        self.k: torch.Tensor | None = None  # [B, H_kv, W, D]
        self.v: torch.Tensor | None = None  # [B, H_kv, W, Dv]
        self.slot_pos: torch.Tensor | None = None  # [W], -1 for a slot never written
        self.next_pos = 0  # absolute position of the next token

    def extend(self, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the buffer *before* the write plus the T new tokens, with positions; then write.

        The new chunk is attended to in full (a chunk of T > W tokens needs keys that its own
        later tokens overwrite), and only afterwards written at slots ``pos mod W``.

        Returns:
            ``(k [B, H_kv, W + T, D], v [B, H_kv, W + T, Dv], positions [W + T])``.
        """
        _check_new(k_new, v_new)
        B, H_kv, T, D = k_new.shape
        W = self.window
        if self.k is None:
            self.k = k_new.new_zeros(B, H_kv, W, D)
            self.v = v_new.new_zeros(B, H_kv, W, v_new.shape[3])
            self.slot_pos = torch.full((W,), -1, dtype=torch.long, device=k_new.device)
        elif k_new.shape[:2] != self.k.shape[:2] or D != self.k.shape[3]:
            raise ValueError(f"k_new {tuple(k_new.shape)} does not match the buffer {tuple(self.k.shape)}")
        new_pos = torch.arange(self.next_pos, self.next_pos + T, device=k_new.device)  # [T]
        k_all = torch.cat([self.k, k_new], dim=2)  # [B, H_kv, W + T, D]
        v_all = torch.cat([self.v, v_new], dim=2)  # [B, H_kv, W + T, Dv]
        pos_all = torch.cat([self.slot_pos, new_pos])  # [W + T]

        keep = min(T, W)  # only the last W new tokens survive the write
        slots = new_pos[-keep:] % W  # [keep], distinct
        self.k[:, :, slots] = k_new[:, :, -keep:]
        self.v[:, :, slots] = v_new[:, :, -keep:]
        self.slot_pos[slots] = new_pos[-keep:]
        self.next_pos += T
        return k_all, v_all, pos_all
# --8<-- [end:rolling-cache]
