"""Distributed attention: Ring Attention over torch.distributed, and a one-process simulation of it."""

from longctx.distributed.ring import block_attention, merge_partials, ring_attention, ring_attention_simulated

__all__ = ["block_attention", "merge_partials", "ring_attention", "ring_attention_simulated"]
