"""A paged KV cache (PagedAttention, Kwon et al., 2023, arXiv:2309.06180), in plain PyTorch.

Shape legend:
    k_cache / v_cache   [num_blocks, block_size, H_kv, D]   one shared pool for all sequences
    block table         list of block ids per sequence; token t lives in block
                        table[t // block_size] at offset t % block_size
    k/v of a sequence   [H_kv, S, D]    (gathered), appended as [H_kv, T, D]

Memory is handed out one block at a time from a free list, so a sequence wastes at most
``block_size - 1`` slots (its last, partly filled block) instead of reserving its maximum length.
"""

from __future__ import annotations

import math
import random

import torch

from longctx.attention import attention_ref
from longctx.checks import float_tensor, positive_int

__all__ = ["BlockAllocator", "OutOfBlocksError", "PagedKVCache", "paging_waste", "paging_waste_table"]


# --8<-- [start:block-allocator]
class OutOfBlocksError(RuntimeError):
    """The pool has no free block left (a server would preempt or queue a sequence here)."""


class BlockAllocator:
    """Hands out block ids ``0 .. num_blocks-1`` from a free list; ``free`` gives them back.

    Args:
        num_blocks: size of the pool, >= 1.
    """

    def __init__(self, num_blocks: int) -> None:
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int):
            raise TypeError(f"num_blocks must be a positive integer, got {type(num_blocks).__name__}")
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be a positive integer, got {num_blocks}")
        self.num_blocks = num_blocks
        self.free_list = list(range(num_blocks - 1, -1, -1))  # pop() hands out 0 first

    @property
    def num_free(self) -> int:
        """Blocks not in use."""
        return len(self.free_list)

    def allocate(self) -> int:
        """Take one free block id; raise :class:`OutOfBlocksError` if none is left."""
        if not self.free_list:
            raise OutOfBlocksError(f"out of KV cache blocks: all {self.num_blocks} are in use")
        return self.free_list.pop()

    def free(self, block: int) -> None:
        """Return ``block`` to the free list (an error if it is out of range or already free)."""
        if not 0 <= block < self.num_blocks:
            raise ValueError(f"block must be in [0, {self.num_blocks}), got {block}")
        if block in self.free_list:
            raise ValueError(f"block {block} is already free (double free)")
        self.free_list.append(block)


# --8<-- [end:block-allocator]


# --8<-- [start:paged-append]
import torch


def write_tokens(
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    table: list[int],
    start: int,
    k: torch.Tensor,
    v: torch.Tensor,
) -> None:
    """Write tokens ``start .. start + T - 1`` (``k``, ``v``: ``[H_kv, T, D]``) into their pool slots.

    Position ``pos`` lives in block ``table[pos // bs]`` at offset ``pos % bs``, where ``bs`` is
    the pool's block size (``k_cache [num_blocks, bs, H_kv, D]``).
    """
    bs = k_cache.shape[1]
    for t in range(k.shape[1]):  # one slot per token
        pos = start + t
        block, off = table[pos // bs], pos % bs
        k_cache[block, off] = k[:, t]  # [H_kv, D]
        v_cache[block, off] = v[:, t]


# --8<-- [end:paged-append]


# --8<-- [start:paged-gather]
import torch


def gather_blocks(
    k_cache: torch.Tensor, v_cache: torch.Tensor, table: list[int], S: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A sequence's S keys and values as contiguous ``[H_kv, S, D]`` tensors (a copy), from its block table."""
    idx = torch.tensor(table, dtype=torch.long)  # [n_blocks]
    N, bs, H_kv, D = k_cache.shape
    k = k_cache[idx].reshape(-1, H_kv, D)[:S]  # [n_blocks, bs, H_kv, D] -> [S, H_kv, D]
    v = v_cache[idx].reshape(-1, H_kv, D)[:S]
    return k.transpose(0, 1), v.transpose(0, 1)  # [H_kv, S, D] each


# --8<-- [end:paged-gather]


class PagedKVCache:
    """K/V pool of ``num_blocks`` blocks of ``block_size`` tokens plus a block table per sequence.

    Args:
        num_blocks: blocks in the pool, >= 1.
        block_size: tokens per block, >= 1.
        n_kv_heads: H_kv.
        head_dim: D.
        dtype: storage dtype (floating), default float64.
    """

    def __init__(
        self,
        num_blocks: int,
        block_size: int,
        n_kv_heads: int,
        head_dim: int,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        self.block_size = positive_int("block_size", block_size)
        self.allocator = BlockAllocator(num_blocks)
        H_kv, D = positive_int("n_kv_heads", n_kv_heads), positive_int("head_dim", head_dim)
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        self.k_cache = torch.zeros(num_blocks, block_size, H_kv, D, dtype=dtype)  # [N, bs, H_kv, D]
        self.v_cache = torch.zeros(num_blocks, block_size, H_kv, D, dtype=dtype)  # [N, bs, H_kv, D]
        self.block_tables: dict[object, list[int]] = {}
        self.lengths: dict[object, int] = {}

    def append(self, seq_id: object, k: torch.Tensor, v: torch.Tensor) -> None:
        """Write ``T`` tokens of sequence ``seq_id`` (``k``, ``v``: ``[H_kv, T, D]``), taking blocks as needed.

        Blocks are taken before anything is written: if the pool runs out, the cache is unchanged.
        """
        float_tensor("k", k, 3)
        float_tensor("v", v, 3)
        _, _, H_kv, D = self.k_cache.shape
        if k.shape != v.shape or k.shape[0] != H_kv or k.shape[2] != D:
            raise ValueError(
                f"k and v must both be [H_kv={H_kv}, T, D={D}], got {tuple(k.shape)}, {tuple(v.shape)}"
            )
        table = self.block_tables.setdefault(seq_id, [])
        start, T = self.lengths.get(seq_id, 0), k.shape[1]
        need = math.ceil((start + T) / self.block_size) - len(table)
        if need > self.allocator.num_free:
            if not table:
                del self.block_tables[seq_id]
            raise OutOfBlocksError(
                f"sequence {seq_id!r} needs {need} more blocks, only "
                f"{self.allocator.num_free} of {self.allocator.num_blocks} are free"
            )
        table.extend(self.allocator.allocate() for _ in range(need))
        write_tokens(self.k_cache, self.v_cache, table, start, k, v)
        self.lengths[seq_id] = start + T

    def gather(self, seq_id: object) -> tuple[torch.Tensor, torch.Tensor]:
        """The sequence's keys and values as contiguous ``[H_kv, S, D]`` tensors (a copy)."""
        if seq_id not in self.block_tables:
            raise KeyError(f"seq_id {seq_id!r} is not in the cache")
        return gather_blocks(self.k_cache, self.v_cache, self.block_tables[seq_id], self.lengths[seq_id])

    def gather_loop(self, seq_id: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`gather`, one token at a time (the slow form, for tests and reading)."""
        table, S = self.block_tables[seq_id], self.lengths[seq_id]
        ks = [
            self.k_cache[table[t // self.block_size], t % self.block_size] for t in range(S)
        ]  # [H_kv, D] each
        vs = [self.v_cache[table[t // self.block_size], t % self.block_size] for t in range(S)]
        return torch.stack(ks, dim=1), torch.stack(vs, dim=1)  # [H_kv, S, D]

    def attend(self, seq_id: object, q: torch.Tensor) -> torch.Tensor:
        """Attention of ``q [H, T, D]`` (the sequence's last T positions) over its cached keys, causal.

        Returns ``[H, T, D]``.
        """
        float_tensor("q", q, 3)
        k, v = self.gather(seq_id)
        return attention_ref(q[None], k[None], v[None], causal=True)[0]  # [1, H, T, D] -> [H, T, D]

    def free(self, seq_id: object) -> None:
        """Release every block of ``seq_id``."""
        if seq_id not in self.block_tables:
            raise KeyError(f"seq_id {seq_id!r} is not in the cache")
        for block in self.block_tables.pop(seq_id):
            self.allocator.free(block)
        del self.lengths[seq_id]


def paging_waste(
    *,
    num_requests: int = 100,
    max_len: int = 2048,
    block_size: int = 16,
    bytes_per_token: float = 2 * 32 * 8 * 128 * 2,
    seed: int = 0,
) -> dict[str, float]:
    """Memory reserved for a random batch of requests: max-length contiguous vs paged.

    Each request draws a prompt length and an output length uniformly (seeded), with
    ``prompt + output <= max_len``. A contiguous cache must reserve ``max_len`` slots per
    request up front (the output length is unknown); a paged cache holds
    ``ceil(len / block_size)`` blocks, wasting only the tail of the last block.

    Args:
        num_requests: requests in the mix, >= 1.
        max_len: the model's maximum sequence length, >= 2.
        block_size: tokens per block, >= 1.
        bytes_per_token: KV bytes per token over all layers (default: 32 layers, 8 KV heads,
            head dim 128, fp16, i.e. a Mistral-7B-like shape).
        seed: seeds the request mix.

    Returns:
        Dict with ``used_bytes`` (tokens actually cached), ``contiguous_bytes``, ``paged_bytes``
        and the wasted fractions ``contiguous_waste`` and ``paged_waste`` (1 - used / reserved).
    """
    n = positive_int("num_requests", num_requests)
    max_len, bs = positive_int("max_len", max_len), positive_int("block_size", block_size)
    if max_len < 2:
        raise ValueError(f"max_len must be at least 2 (a prompt and one output token), got {max_len}")
    if not bytes_per_token > 0:
        raise ValueError(f"bytes_per_token must be positive, got {bytes_per_token}")
    rng = random.Random(seed)
    lengths = []
    for _ in range(n):
        prompt = rng.randint(1, max_len - 1)
        lengths.append(prompt + rng.randint(1, max_len - prompt))  # prompt + output <= max_len
    used = sum(lengths)
    paged = sum(math.ceil(L / bs) * bs for L in lengths)
    contiguous = n * max_len
    return {
        "used_bytes": used * bytes_per_token,
        "contiguous_bytes": contiguous * bytes_per_token,
        "paged_bytes": paged * bytes_per_token,
        "contiguous_waste": 1 - used / contiguous,
        "paged_waste": 1 - used / paged,
    }


def paging_waste_table(
    block_sizes: tuple[int, ...] = (1, 8, 16, 32, 128), **kwargs
) -> list[dict[str, float]]:
    """:func:`paging_waste` for several block sizes, one row each (``block_size`` added to the row)."""
    return [{"block_size": bs, **paging_waste(block_size=bs, **kwargs)} for bs in block_sizes]
