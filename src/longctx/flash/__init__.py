"""FlashAttention: exact attention in tiles with an online softmax, and its recomputing backward.

``reference`` is the algorithm in plain PyTorch (loops over tiles, the ground truth for a
kernel); :func:`longctx.attention.attention_ref` is the ground truth for it.
"""

from longctx.flash.reference import (
    flash_attention_ref,
    flash_attention_ref_backward,
    flash_attention_ref_forward,
    memory_model,
    memory_table,
    online_softmax_update,
    tile_counts,
    window_mask,
)

__all__ = [
    "flash_attention_ref",
    "flash_attention_ref_backward",
    "flash_attention_ref_forward",
    "memory_model",
    "memory_table",
    "online_softmax_update",
    "tile_counts",
    "window_mask",
]
