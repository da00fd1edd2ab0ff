"""Long-context evaluation, as toys that run here: a needle-in-a-haystack map of depth x length.

See ``longctx.evaluation.needle``: random key/value haystacks with needles planted at chosen
depths, answered by full softmax attention, a sliding window, sinks + window, a linear-attention
state and a decaying state, and the maps, tables and figure the site shows.
"""

from longctx.evaluation.needle import (
    GRID_DEPTHS,
    GRID_LENGTHS,
    MODEL_LABELS,
    MODELS,
    NeedleConfig,
    make_haystack,
    memory_elements,
    multi_needle_table,
    needle_depths,
    needle_figure,
    needle_grid,
    needle_grid_rows,
    needle_memory,
    needle_position,
    needle_readout,
    needle_recall,
    needle_summary,
)

__all__ = [
    "GRID_DEPTHS",
    "GRID_LENGTHS",
    "MODELS",
    "MODEL_LABELS",
    "NeedleConfig",
    "make_haystack",
    "memory_elements",
    "multi_needle_table",
    "needle_depths",
    "needle_figure",
    "needle_grid",
    "needle_grid_rows",
    "needle_memory",
    "needle_position",
    "needle_readout",
    "needle_recall",
    "needle_summary",
]
