"""Positions: sinusoidal encodings, RoPE and its context extensions (position interpolation, NTK-aware, YaRN, Llama 3), and ALiBi."""

from longctx.position.alibi import alibi_attention, alibi_bias, alibi_slopes
from longctx.position.rope import (
    RopeScaling,
    RotationAngles,
    apply_rope,
    apply_rope_complex,
    interpolation_frequencies,
    llama3_frequencies,
    ntk_base,
    rope_attention_factor,
    rope_frequencies,
    rope_wavelengths,
    rotation_angles,
    yarn_attention_factor,
    yarn_frequencies,
    yarn_ramp,
)
from longctx.position.sinusoidal import sinusoidal_encoding, sinusoidal_shift

__all__ = [
    "RopeScaling",
    "RotationAngles",
    "alibi_attention",
    "alibi_bias",
    "alibi_slopes",
    "apply_rope",
    "apply_rope_complex",
    "interpolation_frequencies",
    "llama3_frequencies",
    "ntk_base",
    "rope_attention_factor",
    "rope_frequencies",
    "rope_wavelengths",
    "rotation_angles",
    "sinusoidal_encoding",
    "sinusoidal_shift",
    "yarn_attention_factor",
    "yarn_frequencies",
    "yarn_ramp",
]
