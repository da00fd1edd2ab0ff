"""FlashAttention: exact attention in tiles with an online softmax, and its recomputing backward.

``reference`` is the algorithm in plain PyTorch (loops over tiles, the ground truth for a
kernel); :func:`longctx.attention.attention_ref` is the ground truth for it.

``flash_attention`` (the Triton kernels, ``kernel``) is imported lazily so that
``import longctx.flash`` needs no Triton.
"""

from longctx.flash.reference import (
    flash_attention_ref,
    flash_attention_ref_backward,
    memory_model,
    memory_table,
    online_softmax_update,
    tile_counts,
)

__all__ = [
    "flash_attention",
    "flash_attention_ref",
    "flash_attention_ref_backward",
    "memory_model",
    "memory_table",
    "online_softmax_update",
    "tile_counts",
]


def __getattr__(name: str):
    if name == "flash_attention":
        from longctx.flash.kernel import flash_attention

        return flash_attention
    raise AttributeError(f"module 'longctx.flash' has no attribute {name!r}")
