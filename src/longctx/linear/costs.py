"""FLOPs of linear attention against softmax attention, and the length where they cross.

The formulas live in :mod:`longctx.costs` with the rest of the course's cost formulas; this module
names the ones Lesson 3 uses, under the lesson's subpackage. ``F`` is the number of features of
the feature map (``F = d`` for elu+1, ``F = m`` random features for FAVOR+); per head, softmax
attention costs ``4 n^2 d`` FLOPs and linear attention ``4 n F d``, causal or not, plus
``2 (F + d)`` per pair inside the chunks of a causal chunked pass.
"""

from __future__ import annotations

from longctx.costs import chunk_pairs, crossover_seq_len, linear_attention_flops, softmax_over_linear_flops

__all__ = ["chunk_pairs", "crossover_seq_len", "linear_attention_flops", "softmax_over_linear_flops"]
