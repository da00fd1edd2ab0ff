"""Linear attention: feature maps, the parallel == recurrent == chunked forms, and Performer.

``linear_attention_ref`` (masked quadratic), ``linear_attention_recurrent_ref`` (a running
state, one step per position) and ``linear_attention_chunked_ref`` (quadratic inside chunks,
state across them) compute the same numbers as the Triton kernel ``linear_attention``; each
checks its arguments and calls a core on features (``linear_parallel``, ``linear_recurrent``,
``linear_chunked``) that Lesson 3 shows. ``performer_attention`` estimates softmax attention
with FAVOR+ positive random features and ``performer_error_table`` measures how well.

``linear_attention`` (the chunked Triton kernel) is imported lazily so that
``import longctx.linear`` needs no Triton.
"""

from longctx.linear.delta import delta_rule_chunked_ref, delta_rule_ref
from longctx.linear.feature_maps import (
    FEATURE_MAPS,
    FavorFeatures,
    elu_feature,
    favor_features,
    gaussian_rows,
    orthogonal_gaussian,
    relu_feature,
    resolve_feature_map,
)
from longctx.linear.performer import (
    performer_attention,
    performer_error_table,
    performer_estimate,
    relative_error,
)
from longctx.linear.reference import (
    linear_attention_chunked_ref,
    linear_attention_recurrent_ref,
    linear_attention_ref,
    linear_chunked,
    linear_parallel,
    linear_recurrent,
    readout,
)

__all__ = [
    "FEATURE_MAPS",
    "FavorFeatures",
    "delta_rule_chunked_ref",
    "delta_rule_ref",
    "elu_feature",
    "favor_features",
    "gaussian_rows",
    "linear_attention",
    "linear_attention_chunked_ref",
    "linear_attention_recurrent_ref",
    "linear_attention_ref",
    "linear_chunked",
    "linear_parallel",
    "linear_recurrent",
    "orthogonal_gaussian",
    "performer_attention",
    "performer_error_table",
    "performer_estimate",
    "readout",
    "relative_error",
    "relu_feature",
    "resolve_feature_map",
]


def __getattr__(name: str):
    if name == "linear_attention":
        from longctx.linear.kernel import linear_attention

        return linear_attention
    raise AttributeError(f"module 'longctx.linear' has no attribute {name!r}")
