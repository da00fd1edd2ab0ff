"""KV cache: the contiguous cache and Mistral's rolling buffer, GQA/MQA, a paged cache,
quantized K/V (int8, int4, FP8 e4m3), MLA's latent cache, cache eviction (H2O, attention sinks)
and prefix caching (a RadixAttention-style trie).

Every module checks itself against :func:`longctx.attention.attention_ref`. The paged decode
kernel (``paged_decode``, ``paged_decode_ref``, ``quantize_paged`` from ``paged_kernel``) is
imported lazily so that ``import longctx.kv`` needs no Triton.
"""

from longctx.kv.cache import KVCache, RollingKVCache
from longctx.kv.decoder import DecoderConfig, decode, decoder_forward, init_decoder, rms_norm
from longctx.kv.eviction import evicted_attention, eviction_error_table, h2o_keep, sink_keep
from longctx.kv.fp8 import fp8_attention_error, fp8_roundtrip
from longctx.kv.gqa import gqa_to_mha, kv_elements_per_token, mha_to_gqa, repeat_kv
from longctx.kv.mla import (
    MLACache,
    MLAConfig,
    init_mla,
    mla_absorbed,
    mla_cache_elements_per_token,
    mla_naive,
)
from longctx.kv.paged import BlockAllocator, OutOfBlocksError, PagedKVCache, paging_waste, paging_waste_table
from longctx.kv.prefix import PrefixTrie, multi_turn_requests, prefix_cache_hit_rate
from longctx.kv.quant import (
    QuantizedTensor,
    dequantize,
    pack_int4,
    quantize,
    quantized_attention_error,
    unpack_int4,
)

__all__ = [
    "PrefixTrie",
    "fp8_attention_error",
    "fp8_roundtrip",
    "multi_turn_requests",
    "prefix_cache_hit_rate",
    "BlockAllocator",
    "DecoderConfig",
    "MLACache",
    "MLAConfig",
    "OutOfBlocksError",
    "PagedKVCache",
    "QuantizedTensor",
    "dequantize",
    "evicted_attention",
    "eviction_error_table",
    "h2o_keep",
    "init_mla",
    "mla_absorbed",
    "mla_cache_elements_per_token",
    "mla_naive",
    "pack_int4",
    "paged_decode",
    "paged_decode_ref",
    "paging_waste",
    "paging_waste_table",
    "quantize",
    "quantize_paged",
    "quantized_attention_error",
    "sink_keep",
    "unpack_int4",
    "KVCache",
    "RollingKVCache",
    "decode",
    "decoder_forward",
    "gqa_to_mha",
    "init_decoder",
    "kv_elements_per_token",
    "mha_to_gqa",
    "repeat_kv",
    "rms_norm",
]

_LAZY = ("paged_decode", "paged_decode_ref", "quantize_paged")


def __getattr__(name: str):
    if name in _LAZY:
        from longctx.kv import paged_kernel

        return getattr(paged_kernel, name)
    raise AttributeError(f"module 'longctx.kv' has no attribute {name!r}")
