# %% [markdown]
# # Lab 6: Ring Attention on CPU processes
#
# The [Ring Attention page](../../topics/ring-attention/) argued that passing K/V blocks around a
# ring and merging partial results by their log-sum-exp gives exact attention. Here we:
#
# 1. follow one rank of `ring_attention_simulated` step by step: after each step its output is
#    attention over the blocks it has seen so far, and after the last step it is full attention;
# 2. run the real `ring_attention` in 3 separate CPU processes that talk over gloo
#    (`longctx.distributed.demo.run_demo`), and compare with `attention_ref` on the whole sequence.
#
# Starting the processes takes several seconds (each one imports PyTorch); the attention itself
# takes milliseconds.

# %%
import torch

from longctx.attention import attention_ref
from longctx.distributed import block_attention, merge_partials, ring_attention_simulated
from longctx.distributed.demo import causal_blocks_per_rank, ring_schedule, run_demo

torch.manual_seed(0)
W, T_LOCAL, H, D = 4, 8, 2, 16
T = W * T_LOCAL
q, k, v = (torch.randn(1, H, T, D, dtype=torch.float64) for _ in range(3))

# %% [markdown]
# ## The schedule
#
# At step $s$ rank $r$ holds the block of rank $(r - s) \bmod W$.

# %%
for s, row in enumerate(ring_schedule(W)):
    print(f"step {s}: " + "  ".join(f"rank {r} has block {src}" for r, src in enumerate(row)))

# %% [markdown]
# ## One rank, step by step (no causal mask)
#
# Rank 1 keeps its queries and folds in one block per step. We compare its running output with
# attention restricted to the keys it has seen so far, and with full attention.

# %%
rank, scale = 1, D**-0.5
mine = slice(rank * T_LOCAL, (rank + 1) * T_LOCAL)
out = torch.zeros(1, H, T_LOCAL, D, dtype=torch.float64)
lse = torch.full((1, H, T_LOCAL), float("-inf"), dtype=torch.float64)
seen = []
full = attention_ref(q, k, v)[:, :, mine]
for s in range(W):
    src = (rank - s) % W
    blk = slice(src * T_LOCAL, (src + 1) * T_LOCAL)
    out, lse = merge_partials(
        out, lse, *block_attention(q[:, :, mine], k[:, :, blk], v[:, :, blk], scale=scale, return_lse=True)
    )
    seen.append(src)
    idx = torch.cat([torch.arange(b * T_LOCAL, (b + 1) * T_LOCAL) for b in seen])
    partial_ref = attention_ref(q[:, :, mine], k[:, :, idx], v[:, :, idx])
    err_seen = (out - partial_ref).abs().max().item()
    err_full = (out - full).abs().max().item()
    print(
        f"step {s}: seen {sorted(seen)!s:<13} error vs those blocks {err_seen:.0e},"
        f" vs full attention {err_full:.1e}"
    )
    assert err_seen < 1e-12
assert err_full < 1e-12

# %% [markdown]
# The whole simulated ring, causal and not, against the reference on the full sequence:

# %%
for causal in (False, True):
    err = (
        (
            ring_attention_simulated(q, k, v, world_size=W, causal=causal)
            - attention_ref(q, k, v, causal=causal)
        )
        .abs()
        .max()
        .item()
    )
    print(f"simulated ring, W = {W}, causal = {causal}: max error {err:.1e}")
    assert err < 1e-12
print("causal blocks per rank:", causal_blocks_per_rank(W))

# %% [markdown]
# ## The real thing: separate processes
#
# `run_demo` starts `world_size` processes with `torch.multiprocessing`, each holding one
# contiguous shard of a random float64 sequence (here 3 ranks of 32 positions, 4 query heads
# sharing 2 K/V heads, causal); they run `ring_attention` over gloo, and rank 0 gathers the
# shards and compares with full attention.
#
# The new processes are *spawned*: each starts a fresh Python and imports the function it runs
# from `longctx`. Run as a script, this file would be imported again by every child, hence the
# `__main__` guard (in a notebook it is always true).

# %%
if __name__ == "__main__":
    result = run_demo(3, seq_len=96, heads=4, kv_heads=2, head_dim=16, causal=True)
    print(
        f"W = {result['world_size']}, T = {result['seq_len']}: each rank's output {result['shard_shape']},"
        f" max |ring - full| = {result['max_abs_error']:.1e}, ring time on rank 0"
        f" {1e3 * result['rank0_seconds']:.1f} ms"
    )
    assert result["max_abs_error"] < 1e-12
