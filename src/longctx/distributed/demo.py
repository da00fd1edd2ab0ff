"""Ring Attention on this machine: a few CPU processes over gloo, and the ring's bookkeeping.

* :func:`run_demo` spawns ``world_size`` processes, gives each its contiguous shard of one
  random sequence, runs :func:`longctx.distributed.ring_attention`, gathers the shards and
  returns the largest difference from :func:`longctx.attention.attention_ref` on the whole
  sequence (float64 by default, so it should be at rounding level).
* :func:`ring_schedule`, :func:`causal_blocks_per_rank` and :func:`ring_memory_table` are the
  numbers the Ring Attention page shows: which block each rank holds at each step, how unevenly
  a causal mask spreads the work over contiguous shards, and how memory per device falls with
  the number of devices.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from datetime import timedelta

import torch

from longctx import checks, costs

__all__ = ["causal_blocks_per_rank", "ring_memory_table", "ring_schedule", "ring_schedule_table", "run_demo"]


# --8<-- [start:ring-schedule]
def ring_blocks(W: int) -> list[list[int]]:
    """``blocks[s][r]``: the rank whose K/V block rank r holds at step s, ``(r - s) mod W``.

    Each step every rank sends its block to rank r + 1 and receives from rank r - 1, so after
    W steps every rank has held every block exactly once.
    """
    return [[(r - s) % W for r in range(W)] for s in range(W)]


# --8<-- [end:ring-schedule]


def ring_schedule(world_size: int) -> list[list[int]]:
    """``schedule[s][r]``: the rank whose K/V block rank r holds at step s, ``(r - s) mod W``."""
    return ring_blocks(checks.positive_int("world_size", world_size))


def ring_schedule_table(world_size: int = 4) -> list[dict]:
    """Rows for a page table: ``{"step": s, "rank0": block, "rank1": block, ...}``."""
    return [
        {"step": s, **{f"rank{r}": src for r, src in enumerate(row)}}
        for s, row in enumerate(ring_schedule(world_size))
    ]


def causal_blocks_per_rank(world_size: int) -> list[int]:
    """Blocks each rank attends to under a causal mask with contiguous shards: ``r + 1``.

    Rank r skips the blocks of ranks after it (all their keys are later than all its queries),
    so the last rank works W times as long as the first while the others wait for it.
    """
    W = checks.positive_int("world_size", world_size)
    return [sum(1 for s in range(W) if (r - s) % W <= r) for r in range(W)]


def ring_memory_table(
    seq_len: int = 1_048_576,
    world_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32),
    *,
    heads: int = 32,
    kv_heads: int = 8,
    head_dim: int = 128,
    bytes_per_element: str | float = "bf16",
) -> list[dict]:
    """Per-device activation memory of one attention layer under Ring Attention, by device count.

    Per device: the local queries and output (``heads`` each), the local keys and values
    (``kv_heads`` each), and one incoming K/V block being received while the current one is
    used. Scores are not counted: inside a device the block is attended blockwise
    (FlashAttention-style), whose working set does not grow with the length.

    Rows: ``world_size``, ``tokens_per_device``, ``shard_bytes`` (q, k, v, out),
    ``in_flight_bytes`` (the next K/V block), ``total_bytes``, ``causal_imbalance`` (work of
    the busiest rank over the mean work, contiguous shards, counted in blocks).
    """
    n = checks.positive_int("seq_len", seq_len)
    b = costs.bytes_per_element(bytes_per_element)
    rows = []
    for W in world_sizes:
        W = checks.positive_int("world_size", W)
        if n % W:
            raise ValueError(f"seq_len={n} must be a multiple of every world size, got {W}")
        t = n // W  # tokens per device
        shard = t * head_dim * (2 * heads + 2 * kv_heads) * b  # q, out [H]; k, v [H_kv]
        in_flight = t * head_dim * 2 * kv_heads * b if W > 1 else 0  # the next k, v block (none alone)
        blocks = causal_blocks_per_rank(W)
        rows.append(
            {
                "world_size": W,
                "tokens_per_device": t,
                "shard_bytes": shard,
                "in_flight_bytes": in_flight,
                "total_bytes": shard + in_flight,
                "causal_imbalance": max(blocks) / (sum(blocks) / W),
            }
        )
    return rows


# ----------------------------------------------------------------------------- processes

# --8<-- [start:demo-worker]
import json
import os
import time
from datetime import timedelta

import torch


def demo_worker(
    rank: int, world: int, port: int, out_dir: str, shape: tuple[int, int, int, int], causal: bool, seed: int
) -> None:
    """One rank: make the same random sequence as every rank, keep its shard, run the ring.

    ``shape`` is ``(seq_len, heads, kv_heads, head_dim)`` of the whole sequence.
    """
    import torch.distributed as dist

    from longctx.attention import attention_ref
    from longctx.distributed.ring import ring_attention

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))
    try:
        seq_len, heads, kv_heads, head_dim = shape
        gen = torch.Generator().manual_seed(seed)  # same seed everywhere: same full q, k, v
        q = torch.randn(1, heads, seq_len, head_dim, generator=gen, dtype=torch.float64)
        k = torch.randn(1, kv_heads, seq_len, head_dim, generator=gen, dtype=torch.float64)
        v = torch.randn(1, kv_heads, seq_len, head_dim, generator=gen, dtype=torch.float64)
        T_local = seq_len // world
        mine = slice(rank * T_local, (rank + 1) * T_local)  # this rank's positions
        start = time.perf_counter()
        out = ring_attention(q[:, :, mine], k[:, :, mine], v[:, :, mine], causal=causal)  # [1, H, T_local, D]
        seconds = time.perf_counter() - start
        shards = [torch.empty_like(out) for _ in range(world)]
        dist.all_gather(shards, out.contiguous())
        if rank == 0:
            full = torch.cat(shards, dim=2)  # [1, H, T, D]
            error = (full - attention_ref(q, k, v, causal=causal)).abs().max().item()
            with open(os.path.join(out_dir, "result.json"), "w") as f:
                json.dump(
                    {"max_abs_error": error, "rank0_seconds": seconds, "shard_shape": list(out.shape)}, f
                )
    finally:
        dist.destroy_process_group()


# --8<-- [end:demo-worker]


# --8<-- [start:run-demo]
import json
import os
import socket
import tempfile


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_ring(W: int, T: int, H: int, H_kv: int, D: int, causal: bool, seed: int) -> dict:
    """Start W processes running :func:`demo_worker` and return rank 0's result."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out_dir:
        mp.start_processes(
            demo_worker,
            args=(W, free_port(), out_dir, (T, H, H_kv, D), causal, seed),
            nprocs=W,
            join=True,
            start_method="spawn",
        )
        with open(os.path.join(out_dir, "result.json")) as f:
            return json.load(f)


# --8<-- [end:run-demo]


def run_demo(
    world_size: int = 3,
    seq_len: int = 96,
    *,
    heads: int = 4,
    kv_heads: int = 2,
    head_dim: int = 16,
    causal: bool = True,
    seed: int = 0,
) -> dict:
    """Run Ring Attention in ``world_size`` CPU processes (gloo) and compare with full attention.

    Args:
        world_size: W >= 1 processes, one shard of ``seq_len / W`` positions each.
        seq_len: T, a multiple of ``world_size``.
        heads: query heads, a multiple of ``kv_heads``.
        kv_heads: key/value heads.
        head_dim: D.
        causal: apply the causal mask.
        seed: seeds the random q, k, v (float64).

    Returns:
        ``{"max_abs_error", "rank0_seconds", "shard_shape", "world_size", "seq_len"}``: the
        largest entry of ``|ring - attention_ref|`` over the gathered output.
    """
    W, T = checks.positive_int("world_size", world_size), checks.positive_int("seq_len", seq_len)
    H, H_kv = checks.positive_int("heads", heads), checks.positive_int("kv_heads", kv_heads)
    D = checks.positive_int("head_dim", head_dim)
    if T % W:
        raise ValueError(f"seq_len must be a multiple of world_size={W}, got {T}")
    if H % H_kv:
        raise ValueError(f"heads must be a multiple of kv_heads={H_kv}, got {H}")
    result = spawn_ring(W, T, H, H_kv, D, checks.flag("causal", causal), checks.nonneg_int("seed", seed))
    return {**result, "world_size": W, "seq_len": T}
