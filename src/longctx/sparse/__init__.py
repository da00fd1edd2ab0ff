"""Sparse attention patterns: masks, their tiles, their reach over layers, and their pictures.

Every pattern is a boolean ``[T, S]`` mask (True = query i may attend key j) that plugs into
``longctx.attention.attention_ref(q, k, v, mask=mask)``. Modules:

* ``masks``: causal, sliding window (FlashAttention's ``(left, right)``), dilated window
  (Longformer), global + local (Longformer), BigBird, strided (Sparse Transformer), and the
  receptive field of a stack of layers.
* ``blocks``: which tiles a kernel must compute, the FLOPs skipping saves, and a reference
  attention that skips empty tiles.
* ``pictures``: SVG drawings of masks.
* ``moba``: MoBA, trainable block-sparse attention where each query picks its key blocks.
"""

from longctx.sparse.blocks import (
    BlockStats,
    block_mask,
    block_sparse_attention,
    block_stats,
    flops_saved_fraction,
    mask_density,
    tile_areas,
)
from longctx.sparse.masks import (
    bigbird_mask,
    causal_mask,
    compose_masks,
    dilated_window_mask,
    global_local_mask,
    receptive_field,
    sliding_window_mask,
    strided_mask,
)
from longctx.sparse.moba import moba_attention_ref
from longctx.sparse.pictures import example_patterns, mask_runs, mask_svg

__all__ = [
    "BlockStats",
    "bigbird_mask",
    "block_mask",
    "block_sparse_attention",
    "block_stats",
    "causal_mask",
    "compose_masks",
    "dilated_window_mask",
    "example_patterns",
    "flops_saved_fraction",
    "global_local_mask",
    "mask_density",
    "mask_runs",
    "mask_svg",
    "moba_attention_ref",
    "receptive_field",
    "sliding_window_mask",
    "strided_mask",
    "tile_areas",
]
