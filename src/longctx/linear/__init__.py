"""Linear attention: feature maps, the parallel == recurrent == chunked forms, and Performer.

``linear_attention_ref`` (masked quadratic), ``linear_attention_recurrent`` (a running state,
one step per position) and ``linear_attention_chunked`` (quadratic inside chunks, state across
them) compute the same numbers; ``performer_attention`` estimates softmax attention with
FAVOR+ positive random features and ``performer_error_table`` measures how well.

``linear_attention`` (the chunked Triton kernel) is imported lazily so that
``import longctx.linear`` needs no Triton.
"""

from longctx.linear.delta import delta_rule_chunked_ref, delta_rule_ref
from longctx.linear.feature_maps import (
    FEATURE_MAPS,
    FavorFeatures,
    elu_feature,
    orthogonal_gaussian,
    relu_feature,
    resolve_feature_map,
)
from longctx.linear.performer import performer_attention, performer_error_table, relative_error
from longctx.linear.reference import (
    linear_attention_chunked,
    linear_attention_recurrent,
    linear_attention_ref,
)

__all__ = [
    "FEATURE_MAPS",
    "FavorFeatures",
    "delta_rule_chunked_ref",
    "delta_rule_ref",
    "elu_feature",
    "linear_attention",
    "linear_attention_chunked",
    "linear_attention_recurrent",
    "linear_attention_ref",
    "orthogonal_gaussian",
    "performer_attention",
    "performer_error_table",
    "relative_error",
    "relu_feature",
    "resolve_feature_map",
]


def __getattr__(name: str):
    if name == "linear_attention":
        from longctx.linear.kernel import linear_attention

        return linear_attention
    raise AttributeError(f"module 'longctx.linear' has no attribute {name!r}")
