"""Attention: the naive reference (Lesson 1), the causal and sliding-window masks, a fused softmax kernel.

``softmax`` (Triton) is imported lazily so that ``import longctx.attention`` needs no Triton.
"""

from longctx.attention.reference import (
    attention_ref,
    causal_mask,
    position_mask,
    sliding_window_mask,
    softmax_ref,
)

__all__ = ["attention_ref", "causal_mask", "position_mask", "sliding_window_mask", "softmax", "softmax_ref"]


def __getattr__(name: str):
    if name == "softmax":
        from longctx.attention.kernel import softmax

        return softmax
    raise AttributeError(f"module 'longctx.attention' has no attribute {name!r}")
