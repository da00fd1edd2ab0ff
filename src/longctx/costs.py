"""What attention costs: FLOPs, bytes and multipliers, as pure functions.

Every number the site prints about cost comes from here: the lesson tables, the drills'
answers, the quizzes' numeric answers and the values the in-browser calculator is tested
against. Units are in the names (``_bytes``, ``_flops``, ``_elements``, ``_s``); nothing here
rounds. Besides the quadratic wall: training FLOPs, HBM traffic of standard attention and
of FlashAttention, KV-cache bytes (MHA/GQA/MQA/MLA, rolling buffer), sliding-window and
sparse-pattern costs, recurrent-state sizes, linear attention against softmax attention (Lesson 3),
the selective scan, paged-cache waste and the decode roofline. Model shapes live in
:mod:`longctx.presets`; :mod:`longctx.linear.costs` and :mod:`longctx.summary` use these formulas.

Conventions:
    * A multiply-add counts as 2 FLOPs; the softmax's exponentials and the scaling are left
      out (they are O(n^2) too, but a small constant next to the two matmuls' O(n^2 d)).
    * ``seq_len`` is n, the number of tokens in the sequence; ``head_dim`` is d.
    * Bytes are plain bytes; ``1 GB = 1e9 bytes`` and ``1 GiB = 2**30 bytes`` when printed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real

from longctx import checks
from longctx.checks import positive_int as _positive_int

__all__ = [
    "BYTES_PER_ELEMENT",
    "GPU_HBM_BANDWIDTH_BYTES_PER_S",
    "GPU_MEMORY_BYTES",
    "GPU_PEAK_FLOPS_PER_S",
    "GPU_SMEM_PER_BLOCK_BYTES",
    "GPU_SRAM",
    "STATS_BYTES",
    "arithmetic_intensity_flops_per_byte",
    "attention_backward_flops",
    "attention_cost_summary",
    "attention_crossover_len",
    "attention_flop_share",
    "attention_flops",
    "attention_train_flops",
    "bigbird_pairs",
    "bytes_per_element",
    "chunk_pairs",
    "contiguous_kv_slots",
    "copy_bytes",
    "cost_multiplier",
    "crossover_seq_len",
    "decode_time_per_token_s",
    "flash_attention_block_size",
    "flash_attention_hbm_bytes",
    "flash_attention_stats_bytes",
    "gpu_memory_fraction",
    "hbm_bandwidth_bytes_per_s",
    "kv_allocation_waste",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "linear_attention_flops",
    "linear_attention_state_elements",
    "mamba2_state_elements",
    "mamba_state_elements",
    "matmul_flops",
    "mla_cache_bytes",
    "mla_cache_bytes_per_token",
    "model_cost_multiplier",
    "paged_decode_bytes",
    "paged_expected_waste_slots",
    "paged_kv_slots",
    "parameter_bytes",
    "peak_flops_per_s",
    "quadratic_cost_table",
    "ridge_point_flops_per_byte",
    "rolling_buffer_kv_bytes",
    "roofline_time_s",
    "score_entries",
    "score_matrix_bytes",
    "selective_scan_bytes",
    "sequences_that_fit",
    "sliding_window_flops",
    "smem_per_block_bytes",
    "sliding_window_pairs",
    "sliding_window_receptive_field",
    "softmax_over_linear_flops",
    "sparse_attention_flops",
    "sparse_score_bytes",
    "sram_bytes",
    "ssm_scan_flops",
    "standard_attention_hbm_bytes",
    "state_bytes",
    "transformer_layer_flops",
    "window_band_pairs",
]

#: Storage size of one element for the dtype names the site accepts.
BYTES_PER_ELEMENT: dict[str, float] = {
    "fp64": 8,
    "fp32": 4,
    "tf32": 4,
    "fp16": 2,
    "bf16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}

#: Memory of the GPUs marked on the lesson's figure, in bytes, with the source of each. Vendors
#: ship the "40 GB" and "80 GB" A100 as 40 GiB and 80 GiB (nvidia-smi: 40,960 and 81,920 MiB),
#: so every share of a card divides by the binary size.
GPU_MEMORY_BYTES: dict[str, tuple[float, str]] = {
    "A100 40GB": (40 * 2**30, "NVIDIA A100 Tensor Core GPU datasheet (40 GB HBM2), 40,960 MiB in nvidia-smi"),
    "A100 80GB": (
        80 * 2**30,
        "NVIDIA A100 Tensor Core GPU datasheet (80 GB HBM2e), 81,920 MiB in nvidia-smi",
    ),
}


def bytes_per_element(dtype: str | float) -> float:
    """Size of one stored element.

    Args:
        dtype: a name from :data:`BYTES_PER_ELEMENT` (``"fp16"``, ``"int4"``, ...) or a
            positive number of bytes (``2``, ``0.5``).

    Returns:
        Bytes per element, a positive number.

    Raises:
        ValueError: an unknown dtype name, or a number that is not finite and positive.
        TypeError: anything that is neither a string nor a real number.
    """
    if isinstance(dtype, str):
        try:
            return BYTES_PER_ELEMENT[dtype.lower()]
        except KeyError:
            known = ", ".join(BYTES_PER_ELEMENT)
            raise ValueError(f"bytes_per_element: unknown dtype {dtype!r}; expected one of {known}") from None
    if isinstance(dtype, bool) or not isinstance(dtype, Real):
        raise TypeError(f"bytes_per_element must be a dtype name or a number, got {type(dtype).__name__}")
    if not math.isfinite(dtype) or dtype <= 0:
        raise ValueError(f"bytes_per_element must be a finite positive number, got {dtype}")
    return dtype


# The keyword arguments below are named bytes_per_element too, which hides the function.
_bytes = bytes_per_element


# --8<-- [start:score-matrix]
def score_entries(seq_len: int, *, heads: int = 1) -> int:
    """Entries of the score matrix ``S = Q K^T``: ``heads * n * n`` for one layer."""
    return heads * seq_len * seq_len


def score_matrix_bytes(seq_len: int, *, heads: int = 1, bytes_per_element: str | float = 2) -> float:
    """Bytes to hold one layer's score matrices if they are materialised.

    Args:
        seq_len: n, tokens in the sequence.
        heads: attention heads in the layer (each has its own n x n matrix).
        bytes_per_element: bytes of one element (the package also takes a dtype name such as ``"fp16"``).

    Returns:
        ``heads * n**2 * bytes_per_element``.
    """
    return score_entries(seq_len, heads=heads) * bytes_per_element


# --8<-- [end:score-matrix]


# --8<-- [start:attention-flops]
def attention_flops(seq_len: int, head_dim: int, *, heads: int = 1, causal: bool = False) -> int:
    """FLOPs of the attention core of one layer's forward pass.

    Two matmuls per head: ``S = Q K^T`` (n x d times d x n) and ``O = P V`` (n x n times
    n x d), each ``2 * n * n * d`` FLOPs when a multiply-add counts as two. With a causal
    mask only the ``n (n + 1) / 2`` query-key pairs on or below the diagonal are needed.

    Args:
        seq_len: n, tokens in the sequence.
        head_dim: d, the width of one head.
        heads: heads in the layer.
        causal: count only the pairs a causal mask keeps.

    Returns:
        ``4 * pairs * d * heads`` with ``pairs = n**2`` (or ``n (n + 1) / 2`` if causal).
    """
    n = seq_len
    pairs = n * (n + 1) // 2 if causal else n * n
    return 4 * pairs * head_dim * heads


# --8<-- [end:attention-flops]


# --8<-- [start:multiplier]
def cost_multiplier(n_from: int, n_to: int) -> float:
    """How much the attention core's cost grows from ``n_from`` to ``n_to`` tokens.

    Both the score-matrix memory and the FLOPs scale as n squared, so the factor is
    ``(n_to / n_from) ** 2``: 4 for twice the length, 100 for ten times.
    """
    return (n_to / n_from) ** 2


# --8<-- [end:multiplier]


# --8<-- [start:layer-flops]
def transformer_layer_flops(
    seq_len: int, *, d_model: int, d_ff: int | None = None, causal: bool = False
) -> dict[str, int]:
    """Forward FLOPs of one standard decoder layer, split by where they are spent.

    Args:
        seq_len: n, tokens in the sequence.
        d_model: model width (heads * head_dim).
        d_ff: hidden width of the MLP; defaults to ``4 * d_model``.
        causal: count only the query-key pairs a causal mask keeps.

    Returns:
        ``{"projections": ..., "attention": ..., "mlp": ...}``: the Q, K, V and output
        projections (``8 n d_model^2``) and the MLP (``4 n d_model d_ff``) grow linearly
        in n; only the attention core (:func:`attention_flops` over all heads) grows as n^2.
    """
    n, dm = seq_len, d_model
    ff = 4 * dm if d_ff is None else d_ff
    return {
        "projections": 2 * n * 4 * dm * dm,
        # attention_flops is per head; summed over heads it only needs d_model = heads * head_dim
        "attention": attention_flops(n, dm, causal=causal),
        "mlp": 2 * n * 2 * dm * ff,
    }


def model_cost_multiplier(
    n_from: int, n_to: int, *, d_model: int, d_ff: int | None = None, causal: bool = False
) -> float:
    """Growth of a whole layer's forward FLOPs from ``n_from`` to ``n_to`` tokens.

    Always between ``n_to / n_from`` (all linear terms) and ``(n_to / n_from) ** 2`` (all
    attention): the wider the model, the longer the linear terms dominate.
    """
    before = sum(transformer_layer_flops(n_from, d_model=d_model, d_ff=d_ff, causal=causal).values())
    after = sum(transformer_layer_flops(n_to, d_model=d_model, d_ff=d_ff, causal=causal).values())
    return after / before


# --8<-- [end:layer-flops]


# --8<-- [start:kv-cache]
def kv_cache_bytes(
    *,
    layers: int,
    kv_heads: int,
    head_dim: int,
    tokens: int,
    batch: int = 1,
    bytes_per_element: str | float = 2,
) -> float:
    """Bytes of a decoder's key-value cache.

    ``2 * layers * kv_heads * head_dim * tokens * batch * bytes_per_element``: the 2 is one
    K and one V vector per cached token, per KV head, per layer.

    Args:
        layers: decoder layers.
        kv_heads: key-value heads per layer (equal to the query heads for MHA, fewer for
            GQA, 1 for MQA).
        head_dim: width of one head.
        tokens: cached tokens per sequence.
        batch: sequences held at once.
        bytes_per_element: bytes of one element (the package also takes a dtype name such as ``"fp16"``).
    """
    return 2 * layers * kv_heads * head_dim * tokens * batch * bytes_per_element


# --8<-- [end:kv-cache]


#: Lengths of the lesson's cost table: 512 to 1M tokens, doubling.
TABLE_SEQ_LENS = tuple(2**k for k in range(9, 21))


def quadratic_cost_table(
    seq_lens: tuple[int, ...] = TABLE_SEQ_LENS, *, head_dim: int = 128, reference_len: int = 4096
) -> list[dict[str, float]]:
    """Rows of the lesson's cost table: one head of one layer, forward pass.

    Each row has ``seq_len``, ``entries`` (n^2), ``fp16_bytes``, ``fp32_bytes``, ``flops``
    (at ``head_dim``) and ``multiplier`` (against ``reference_len``).
    """
    if not seq_lens:
        raise ValueError("seq_lens must hold at least one length")
    return [
        {
            "seq_len": n,
            "entries": score_entries(n),
            "fp16_bytes": score_matrix_bytes(n, bytes_per_element="fp16"),
            "fp32_bytes": score_matrix_bytes(n, bytes_per_element="fp32"),
            "flops": attention_flops(n, head_dim),
            "multiplier": cost_multiplier(reference_len, n),
        }
        for n in seq_lens
    ]


# --8<-- [start:attention-share]
def attention_flop_share(
    seq_len: int, *, d_model: int, d_ff: int | None = None, causal: bool = False
) -> float:
    """Fraction of one layer's forward FLOPs spent in the attention core (``QK^T`` and ``PV``).

    Args:
        seq_len: n, tokens in the sequence.
        d_model: model width (heads * head_dim).
        d_ff: hidden width of the MLP; defaults to ``4 * d_model``.
        causal: count only the query-key pairs a causal mask keeps.

    Returns:
        ``attention / (attention + projections + mlp)`` from :func:`transformer_layer_flops`,
        a number between 0 and 1 that grows towards 1 as n grows.
    """
    parts = transformer_layer_flops(seq_len, d_model=d_model, d_ff=d_ff, causal=causal)
    return parts["attention"] / sum(parts.values())


def attention_crossover_len(*, d_model: int, d_ff: int | None = None, causal: bool = False) -> int:
    """The length n at which the attention core costs as many FLOPs as the rest of the layer.

    The linear terms cost ``8 n d_model^2 + 4 n d_model d_ff``; the attention core
    ``4 n^2 d_model`` (``2 n (n + 1) d_model`` causal). Setting them equal gives
    ``n = 2 d_model + d_ff`` (``6 d_model`` for the usual ``d_ff = 4 d_model``), or
    ``n = 4 d_model + 2 d_ff - 1`` with a causal mask. Shorter sequences spend most of their
    FLOPs in the projections and the MLP; longer ones in attention.

    Args:
        d_model: model width (heads * head_dim).
        d_ff: hidden width of the MLP; defaults to ``4 * d_model``.
        causal: count only the query-key pairs a causal mask keeps.

    Returns:
        That length in tokens.
    """
    ff = 4 * d_model if d_ff is None else d_ff
    return 4 * d_model + 2 * ff - 1 if causal else 2 * d_model + ff


# --8<-- [end:attention-share]


def gpu_memory_fraction(nbytes: float, *, gpu: str = "A100 80GB") -> float:
    """``nbytes`` as a fraction of the memory of one GPU from :data:`GPU_MEMORY_BYTES`.

    Args:
        nbytes: a size in bytes, finite and not negative.
        gpu: a key of :data:`GPU_MEMORY_BYTES`, such as ``"A100 40GB"``.

    Returns:
        ``nbytes / memory``: 0.5 fills half the card, 2.0 needs two cards' worth.

    Raises:
        ValueError: an unknown GPU name, or a size that is negative or not finite.
        TypeError: a size that is not a real number.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, Real):
        raise TypeError(f"nbytes must be a real number, got {type(nbytes).__name__}")
    if not math.isfinite(nbytes) or nbytes < 0:
        raise ValueError(f"nbytes must be finite and not negative, got {nbytes}")
    if gpu not in GPU_MEMORY_BYTES:
        raise ValueError(f"gpu: unknown GPU {gpu!r}; expected one of {', '.join(GPU_MEMORY_BYTES)}")
    return nbytes / GPU_MEMORY_BYTES[gpu][0]


# --8<-- [start:calculator]
def attention_cost_summary(
    seq_len: int,
    *,
    reference_len: int,
    heads: int,
    layers: int,
    head_dim: int,
    bytes_per_element: str | float = 2,
    causal: bool = False,
) -> dict[str, float]:
    """Everything the lesson's in-browser calculator shows for one sequence length.

    The calculator (``docs/javascripts/calculator.js``) computes the same values in the
    reader's browser; the browser tests check it against this function.

    Args:
        seq_len: n, tokens in the sequence.
        reference_len: the length the multiplier is measured against.
        heads: attention heads per layer.
        layers: layers in the model.
        head_dim: d, the width of one head.
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.
        causal: count only the query-key pairs a causal mask keeps (FLOPs only: a naive
            implementation still allocates the whole matrix).

    Returns:
        ``{"entries": n^2, "bytes_head": ..., "bytes_layer": ..., "bytes_model": ...,
        "flops_head": ..., "flops_layer": ..., "flops_model": ..., "multiplier": ...}``: score
        entries and bytes for one head of one layer, one layer and all layers; forward FLOPs
        of the attention core likewise; ``(n / reference_len) ** 2``.
    """
    per_head = score_matrix_bytes(seq_len, bytes_per_element=bytes_per_element)
    flops_head = attention_flops(seq_len, head_dim, causal=causal)
    h, n_layers = heads, layers
    return {
        "entries": score_entries(seq_len),
        "bytes_head": per_head,
        "bytes_layer": per_head * h,
        "bytes_model": per_head * h * n_layers,
        "flops_head": flops_head,
        "flops_layer": flops_head * h,
        "flops_model": flops_head * h * n_layers,
        "multiplier": cost_multiplier(reference_len, seq_len),
    }


# --8<-- [end:calculator]


# =====================================================================================
# The rest of the course's formulas: training FLOPs, HBM traffic, caches and states,
# sliding windows, paging and the decode roofline. Same conventions as above.
# =====================================================================================


def _real(name: str, value: object, *, positive: bool) -> float:
    """Return ``value`` if it is a finite real number (> 0, or >= 0), else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "not negative"
        raise ValueError(f"{name} must be finite and {kind}, got {value}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------- backward pass


# --8<-- [start:backward-flops]
def attention_backward_flops(
    seq_len: int, head_dim: int, *, heads: int = 1, causal: bool = False, recompute: bool = True
) -> int:
    """FLOPs of the attention core's backward pass for one layer, FlashAttention's way.

    Convention: the forward pass is two matmuls (:func:`attention_flops`). The backward pass
    runs matmuls of the same size: ``dV = P^T dO``, ``dP = dO V^T``, ``dQ = dS K`` and
    ``dK = dS^T Q``, plus, in FlashAttention, ``S = Q K^T`` once more, because P was never
    stored and has to be rebuilt block by block. Five matmuls against the forward's two is
    the ``2.5 x forward`` that FlashAttention's benchmarks count; an implementation that
    kept P from the forward pass skips the recomputation and does four (``2 x forward``).
    The elementwise softmax gradient is left out, as the softmax is in the forward count.

    Args:
        seq_len: n, tokens in the sequence.
        head_dim: d, the width of one head.
        heads: heads in the layer.
        causal: count only the query-key pairs a causal mask keeps.
        recompute: rebuild S in the backward pass (True, FlashAttention) or reuse a
            stored P (False).

    Returns:
        ``5/2`` (or ``4/2``) times :func:`attention_flops`, an exact integer.
    """
    forward = attention_flops(seq_len, head_dim, heads=heads, causal=causal)  # two matmuls
    matmuls = 5 if recompute else 4
    return forward * matmuls // 2


def attention_train_flops(
    seq_len: int, head_dim: int, *, heads: int = 1, causal: bool = False, recompute: bool = True
) -> int:
    """Forward plus backward FLOPs of the attention core for one layer (``3.5 x forward``).

    Args:
        seq_len: n, tokens in the sequence.
        head_dim: d, the width of one head.
        heads: heads in the layer.
        causal: count only the query-key pairs a causal mask keeps.
        recompute: see :func:`attention_backward_flops` (``3 x forward`` without it).

    Returns:
        ``attention_flops(...) + attention_backward_flops(...)``.
    """
    forward = attention_flops(seq_len, head_dim, heads=heads, causal=causal)
    return forward + attention_backward_flops(
        seq_len, head_dim, heads=heads, causal=causal, recompute=recompute
    )


# --8<-- [end:backward-flops]


# --------------------------------------------------------------------- GPU figures

#: On-chip SRAM (shared memory / L1) per streaming multiprocessor, SM count, and source.
GPU_SRAM: dict[str, tuple[int, int, str]] = {
    "A100": (
        192 * 1024,
        108,
        "Dao et al. 2022, FlashAttention, arXiv:2205.14135, §2.1: "
        "192KB of on-chip SRAM per each of 108 streaming multiprocessors (A100)",
    ),
}

#: HBM bandwidth in bytes per second, with the source of each.
GPU_HBM_BANDWIDTH_BYTES_PER_S: dict[str, tuple[float, str]] = {
    "A100 40GB": (1.555e12, "NVIDIA A100 Tensor Core GPU datasheet (40 GB HBM2, 1,555 GB/s)"),
    "A100 80GB": (2.039e12, "NVIDIA A100 Tensor Core GPU datasheet (80 GB HBM2e, 2,039 GB/s)"),
}

#: Dense fp16/bf16 tensor-core peak in FLOP/s, with the source of each.
GPU_PEAK_FLOPS_PER_S: dict[str, tuple[float, str]] = {
    "A100": (
        312e12,
        "A100 dense FP16/BF16 tensor-core peak, the 312 TFLOPs/s that "
        "FlashAttention-2 (arXiv:2307.08691) measures against",
    ),
    "H100 SXM": (
        989e12,
        "H100 SXM dense FP16/BF16 peak, the 989 TFLOPs/s that "
        "FlashAttention-3 (arXiv:2407.08608) measures against",
    ),
}


#: Most shared memory one thread block may use (the opt-in dynamic maximum), by card, with the source.
#: ``scripts/compile_gate.py`` holds every compiled kernel configuration to these limits.
GPU_SMEM_PER_BLOCK_BYTES: dict[str, tuple[int, str]] = {
    "A100": (
        163 * 1024,
        "CUDA C++ Programming Guide, technical specifications per compute capability: "
        "163 KB maximum shared memory per thread block at compute capability 8.0",
    ),
    "H100": (
        227 * 1024,
        "CUDA C++ Programming Guide, technical specifications per compute capability: "
        "227 KB maximum shared memory per thread block at compute capability 9.0",
    ),
}


def smem_per_block_bytes(gpu: str = "H100") -> int:
    """Most shared memory one thread block may use on ``gpu``, from :data:`GPU_SMEM_PER_BLOCK_BYTES`."""
    return _lookup(GPU_SMEM_PER_BLOCK_BYTES, "gpu", gpu)[0]


def _lookup(table: dict, name: str, key: str):
    if not isinstance(key, str) or key not in table:
        raise ValueError(f"{name}: unknown GPU {key!r}; expected one of {', '.join(table)}")
    return table[key]


def sram_bytes(gpu: str = "A100", *, per_sm: bool = True) -> int:
    """On-chip SRAM of a GPU from :data:`GPU_SRAM`, for one SM (default) or all of them.

    One thread block runs on one SM, so a tiled kernel's tiles must fit ``per_sm`` bytes;
    the whole chip (``per_sm=False``) is what the "about 20 MB" figure adds up.

    Args:
        gpu: a key of :data:`GPU_SRAM`, such as ``"A100"``.
        per_sm: one SM's SRAM (True) or the total over all SMs (False).

    Returns:
        Bytes: ``192 * 1024`` for one A100 SM, ``108`` times that for the chip.
    """
    per, count, _ = _lookup(GPU_SRAM, "gpu", gpu)
    return per if _flag("per_sm", per_sm) else per * count


def hbm_bandwidth_bytes_per_s(gpu: str = "A100 80GB") -> float:
    """HBM bandwidth of a GPU from :data:`GPU_HBM_BANDWIDTH_BYTES_PER_S`, in bytes per second."""
    return _lookup(GPU_HBM_BANDWIDTH_BYTES_PER_S, "gpu", gpu)[0]


def peak_flops_per_s(gpu: str = "A100") -> float:
    """Dense fp16/bf16 tensor-core peak of a GPU from :data:`GPU_PEAK_FLOPS_PER_S`."""
    return _lookup(GPU_PEAK_FLOPS_PER_S, "gpu", gpu)[0]


# --------------------------------------------------------------------- HBM traffic


# --8<-- [start:standard-hbm]
def standard_attention_hbm_bytes(
    seq_len: int,
    head_dim: int,
    *,
    heads: int = 1,
    bytes_per_element: str | float = 2,
    include_qkvo: bool = True,
) -> float:
    """HBM traffic of standard attention that materialises S and P (forward pass).

    Standard attention (Dao et al. 2022, Algorithm 0) runs in three passes over HBM:

    1. read Q and K, write ``S = Q K^T``: ``2nd`` read, ``n^2`` written;
    2. read S, write ``P = softmax(S)``: ``n^2`` read, ``n^2`` written;
    3. read P and V, write ``O = P V``: ``n^2 + nd`` read, ``nd`` written.

    In all ``4nd + 4n^2`` elements per head: the paper's ``Theta(Nd + N^2)``. The ``4n^2``
    part is S and P, each written once and read once.

    Args:
        seq_len: n, tokens in the sequence.
        head_dim: d, the width of one head.
        heads: heads in the layer.
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.
        include_qkvo: count the ``4nd`` of Q, K, V and O too (True), or only the
            ``4n^2`` of the score and probability matrices (False).

    Returns:
        Bytes moved for one layer: ``heads * (4nd + 4n^2) * bytes_per_element``.
    """
    n, d = seq_len, head_dim
    matrices = 4 * n * n  # S written, S read, P written, P read
    vectors = 4 * n * d if include_qkvo else 0  # Q, K, V read; O written
    return heads * (matrices + vectors) * bytes_per_element


# --8<-- [end:standard-hbm]


#: Bytes of one softmax statistic (row max, row sum or log-sum-exp): kernels keep them in fp32.
STATS_BYTES = 4


def flash_attention_stats_bytes(seq_len: int, *, heads: int = 1) -> int:
    """Bytes of the statistics FlashAttention keeps for the backward pass instead of the scores.

    One fp32 log-sum-exp (:data:`STATS_BYTES`) per query row and head: ``heads * n * 4``.
    """
    return heads * seq_len * STATS_BYTES


# --8<-- [start:flash-hbm]
import math


def flash_attention_block_size(
    head_dim: int, *, sram_bytes: float, bytes_per_element: str | float = 2
) -> int:
    """Rows per tile so that four ``B x d`` tiles fit in on-chip SRAM: ``floor(M / (4d))``.

    With ``M`` the SRAM in elements (``sram_bytes / bytes_per_element``), the tiles of Q, K,
    V and the output accumulator fit together. FlashAttention's Algorithm 1 writes
    ``ceil(M / (4d))``; the floor here keeps the four tiles inside M.

    Args:
        head_dim: d, the width of one head.
        sram_bytes: on-chip memory one thread block may use (see :func:`sram_bytes`).
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.

    Returns:
        B, a positive integer.

    Raises:
        ValueError: ``sram_bytes`` too small to hold four rows of width d.
    """
    d = head_dim
    m_elements = sram_bytes / bytes_per_element
    block = int(m_elements // (4 * d))
    if block < 1:
        raise ValueError(
            f"sram_bytes={sram_bytes} holds {m_elements:g} elements, fewer than the "
            f"4 * head_dim = {4 * d} that one row of each tile needs"
        )
    return block


def flash_attention_hbm_bytes(
    seq_len: int,
    head_dim: int,
    *,
    sram_bytes: float,
    heads: int = 1,
    bytes_per_element: str | float = 2,
    loop_order: str = "q_outer",
) -> float:
    """HBM traffic of tiled FlashAttention's forward pass, with explicit constants.

    ``B = flash_attention_block_size(d, sram_bytes=...)`` rows per tile (at most n), so
    ``T = ceil(n / B)`` tiles. Counted per head, in elements unless marked:

    * ``"q_outer"`` (FlashAttention-2): each query tile is read once and its output written
      once (``2nd``); all of K and V stream past every query tile (``T * 2nd``); one fp32
      log-sum-exp per row is written for the backward pass (``n * STATS_BYTES`` bytes).
    * ``"kv_outer"`` (FlashAttention, Algorithm 1): O and the fp32 row statistics m and l
      are initialised in HBM (``nd`` + ``2n`` fp32); K and V are read once (``2nd``); for
      each of the T key tiles all of Q and O are read and O written back (``T * 3nd``), and
      m and l read and written (``T * 4n`` fp32).

    Either way the traffic is ``Theta(n^2 d^2 / M)`` (Dao et al. 2022, arXiv:2205.14135,
    Thm 2), since ``T ~ 4nd / M``: about ``8 n^2 d^2 / M`` elements for ``"q_outer"``
    against ``4n^2 + 4nd`` for :func:`standard_attention_hbm_bytes`.

    Args:
        seq_len: n, tokens in the sequence.
        head_dim: d, the width of one head.
        sram_bytes: on-chip memory one thread block may use (see :func:`sram_bytes`).
        heads: heads in the layer.
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes (Q, K, V, O).
        loop_order: ``"q_outer"`` or ``"kv_outer"``, as above.

    Returns:
        Bytes moved for one layer.
    """
    n, d, b = seq_len, head_dim, bytes_per_element
    stats = 4  # bytes of one softmax statistic (row max, row sum or log-sum-exp): kernels keep them in fp32
    tiles = math.ceil(n / min(flash_attention_block_size(d, sram_bytes=sram_bytes, bytes_per_element=b), n))
    if loop_order == "q_outer":
        per_head = (2 * n * d + tiles * 2 * n * d) * b + n * stats
    elif loop_order == "kv_outer":
        per_head = (n * d + 2 * n * d + tiles * 3 * n * d) * b + (2 * n + tiles * 4 * n) * stats
    else:
        raise ValueError(f"loop_order must be 'q_outer' or 'kv_outer', got {loop_order!r}")
    return heads * per_head


# --8<-- [end:flash-hbm]


# --------------------------------------------------------------------- KV cache per token


# --8<-- [start:kv-per-token]
def kv_cache_bytes_per_token(
    *, layers: int, kv_heads: int, head_dim: int, bytes_per_element: str | float = 2
) -> float:
    """Bytes one token adds to an MHA, GQA or MQA key-value cache.

    ``2 * layers * kv_heads * head_dim * bytes_per_element``: :func:`kv_cache_bytes` for one
    token. MHA has ``kv_heads`` equal to the query heads, GQA fewer, MQA one.

    Args:
        layers: decoder layers.
        kv_heads: key-value heads per layer.
        head_dim: width of one head.
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.
    """
    return kv_cache_bytes(
        layers=layers, kv_heads=kv_heads, head_dim=head_dim, tokens=1, bytes_per_element=bytes_per_element
    )


def mla_cache_bytes_per_token(
    *, layers: int, latent_dim: int, rope_dim: int, bytes_per_element: str | float = 2
) -> float:
    """Bytes one token adds to a multi-head latent attention (MLA) cache.

    MLA (DeepSeek-V2, arXiv:2405.04434) caches one compressed latent ``c_kv`` of width
    ``d_c`` and one decoupled RoPE key of width ``d_rope`` per token and layer, shared by
    all heads: ``layers * (d_c + d_rope) * bytes_per_element``. DeepSeek-V2 has
    ``d_c = 512`` and ``d_rope = 64``: 576 elements per layer.

    Args:
        layers: decoder layers.
        latent_dim: d_c, the width of the cached latent (``kv_lora_rank``).
        rope_dim: d_rope, the width of the shared RoPE key (``qk_rope_head_dim``; 0 for none).
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.
    """
    return layers * (latent_dim + rope_dim) * bytes_per_element


def mla_cache_bytes(
    *,
    layers: int,
    latent_dim: int,
    rope_dim: int,
    tokens: int,
    batch: int = 1,
    bytes_per_element: str | float = 2,
) -> float:
    """Bytes of an MLA cache: :func:`mla_cache_bytes_per_token` times ``tokens * batch``."""
    per_token = mla_cache_bytes_per_token(
        layers=layers, latent_dim=latent_dim, rope_dim=rope_dim, bytes_per_element=bytes_per_element
    )
    return per_token * tokens * batch


# --8<-- [end:kv-per-token]


# --------------------------------------------------------------------- sliding window


# --8<-- [start:sliding-window-cost]
def sliding_window_pairs(seq_len: int, window: int) -> int:
    """Query-key pairs (score entries) a causal sliding window keeps, counted exactly.

    Window convention (FlashAttention's ``window_size=(w, 0)``, as in
    ``longctx.sparse.sliding_window_mask``): query i sees keys ``i - w .. i``, so
    ``min(i, w) + 1`` of them. Summed over ``i = 0 .. n-1``::

        n (n + 1) / 2                 if n <= w + 1   (the window never fills)
        (w + 1) (2n - w) / 2          otherwise       (= n (w + 1) - w (w + 1) / 2)

    ``w = 0`` keeps only the diagonal; ``w >= n - 1`` is full causal attention.

    Args:
        seq_len: n, tokens in the sequence.
        window: w >= 0, keys each query sees before itself.

    Returns:
        The number of kept pairs, at most ``n (w + 1)``.
    """
    n, w = seq_len, window
    if n <= w + 1:
        return n * (n + 1) // 2
    return (w + 1) * (2 * n - w) // 2


def sliding_window_flops(seq_len: int, head_dim: int, window: int, *, heads: int = 1) -> int:
    """Forward FLOPs of causal sliding-window attention: ``4 * pairs * d * heads``.

    The two matmuls of :func:`attention_flops`, done only for the pairs
    :func:`sliding_window_pairs` keeps: linear in n once the window is full.
    """
    return 4 * sliding_window_pairs(seq_len, window) * head_dim * heads


def sliding_window_receptive_field(*, layers: int, window: int) -> int:
    """How far back the last of ``layers`` stacked sliding-window layers can see: ``layers * w``.

    ``window`` is w, the keys a query sees before itself (``left`` of ``window=(left, 0)``). Each
    layer reaches w positions further back through the previous layer's outputs. For Mistral 7B,
    ``window=(4095, 0)``, 32 layers reach 32 x 4,095 = 131,040 positions (arXiv:2310.06825, §2).
    """
    return layers * window


def rolling_buffer_kv_bytes(
    *,
    slots: int,
    layers: int,
    kv_heads: int,
    head_dim: int,
    batch: int = 1,
    bytes_per_element: str | float = 2,
) -> float:
    """Bytes of a rolling-buffer KV cache of ``slots`` slots: ``2 W layers kv_heads d bpe``.

    Mistral 7B (arXiv:2310.06825) writes token i's keys and values to slot ``i mod W``, so
    the cache stops growing at W tokens, whatever the sequence length: against a full cache
    of n tokens it is ``n / W`` times smaller (8x at 32K with W = 4096). A buffer of W slots
    serves a window of W keys including the current one (``longctx.kv.RollingKVCache``); a
    ``(w, 0)`` window as counted in :func:`sliding_window_pairs` needs ``w + 1`` slots.

    Args:
        slots: W, the tokens the buffer holds.
        layers: decoder layers.
        kv_heads: key-value heads per layer.
        head_dim: width of one head.
        batch: sequences held at once.
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.
    """
    return kv_cache_bytes(
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        tokens=slots,
        batch=batch,
        bytes_per_element=bytes_per_element,
    )


# --8<-- [end:sliding-window-cost]


# --------------------------------------------------------------------- sparse patterns


# --8<-- [start:pattern-pairs]
def window_band_pairs(seq_len: int, window: int) -> int:
    """Query-key pairs of a two-sided window: query i sees keys ``i - w .. i + w``.

    Each side is a causal window mirrored (:func:`sliding_window_pairs`), and
    the diagonal is counted in both, so ``2 * sliding_window_pairs(n, w) - n``: about
    ``n (2w + 1)`` once n is much larger than w, ``n^2`` once ``w >= n - 1``.
    """
    return 2 * sliding_window_pairs(seq_len, window) - seq_len


def bigbird_pairs(seq_len: int, window: int, global_tokens: int, random_tokens: int) -> int:
    """Pairs a BigBird pattern (window + global + random) computes, counted as its budget.

    The ``g`` global tokens (the first g positions) attend to every key; every other query
    attends to at most ``2w + 1`` window keys, the ``g`` global keys and ``r`` random keys,
    and never to more than all n: ``g n + (n - g) min(n, 2w + 1 + g + r)``. Near the ends
    of the sequence the window is cut short and overlaps the global keys, so this is an upper
    bound on the entries of ``longctx.sparse.bigbird_mask``, and close to it when ``n >> w``.

    Raises:
        ValueError: more global tokens than tokens.
    """
    n, w, g, r = seq_len, window, global_tokens, random_tokens
    if g > n:
        raise ValueError(f"global_tokens must be at most seq_len = {n}, got {g}")
    return g * n + (n - g) * min(n, 2 * w + 1 + g + r)


# --8<-- [end:pattern-pairs]


# --8<-- [start:sparse-cost]
def sparse_attention_flops(pairs: int, head_dim: int, *, heads: int = 1) -> int:
    """Forward FLOPs of attention computed only on ``pairs`` query-key pairs: ``4 * pairs * d * heads``.

    The two matmuls of :func:`attention_flops`, two FLOPs per multiply-add, for the pairs a
    sparse pattern keeps (:func:`window_band_pairs`, :func:`bigbird_pairs`).
    """
    return 4 * pairs * head_dim * heads


def sparse_score_bytes(pairs: int, *, heads: int = 1, bytes_per_element: str | float = 2) -> float:
    """Bytes of the scores of a sparse pattern stored as such: ``heads * pairs * bytes_per_element``.

    Args:
        pairs: query-key pairs the pattern keeps, per head.
        heads: attention heads in the layer.
        bytes_per_element: bytes of one element (the package also takes a dtype name such as ``"fp16"``).
    """
    return pairs * heads * bytes_per_element


# --8<-- [end:sparse-cost]


# --------------------------------------------------------------------- recurrent states


# --8<-- [start:state-size]
def linear_attention_state_elements(
    *, key_dim: int, value_dim: int, heads: int = 1, layers: int = 1, normalizer: bool = True
) -> int:
    """Elements of a linear-attention decoding state: fixed, whatever the sequence length.

    Per head the state is ``S = sum_j phi(k_j) v_j^T`` (``d_k x d_v``) and, for the
    normalised form, ``z = sum_j phi(k_j)`` (``d_k``), with d_k the feature-map width.

    Args:
        key_dim: d_k, width of the (feature-mapped) keys.
        value_dim: d_v, width of the values.
        heads: heads per layer.
        layers: layers.
        normalizer: count z (True) or not (False, the unnormalised form).

    Returns:
        ``layers * heads * (d_k * d_v + d_k)`` (without ``+ d_k`` if ``normalizer=False``).
    """
    per_head = key_dim * value_dim + (key_dim if normalizer else 0)
    return layers * heads * per_head


def mamba_state_elements(*, d_inner: int, state_dim: int, layers: int = 1) -> int:
    """Elements of Mamba's (selective SSM) recurrent state: ``layers * d_inner * N``.

    Each of the ``d_inner`` channels keeps its own N-dimensional state (arXiv:2312.00752).
    The short causal convolution's buffer of the last few inputs is left out.
    """
    return layers * d_inner * state_dim


def mamba2_state_elements(*, heads: int, head_dim: int, state_dim: int, layers: int = 1) -> int:
    """Elements of Mamba-2's recurrent state: ``layers * heads * P * N``.

    Each head of width P keeps a ``P x N`` state (arXiv:2405.21060); the convolution buffer is
    left out, as in :func:`mamba_state_elements`.
    """
    return layers * heads * head_dim * state_dim


def state_bytes(elements: int, *, batch: int = 1, bytes_per_element: str | float = 4) -> float:
    """Bytes of ``elements`` per sequence, for ``batch`` sequences (states are usually fp32).

    Args:
        elements: from :func:`linear_attention_state_elements`, :func:`mamba_state_elements`
            or :func:`mamba2_state_elements`.
        batch: sequences held at once.
        bytes_per_element: a dtype name or a number of bytes; defaults to 4 (fp32).
    """
    return elements * batch * bytes_per_element


# --8<-- [end:state-size]


# --------------------------------------------------------------------- linear attention against softmax
# Conventions as above; the values have the head dim d (``d_v = d``), and what is neither a matrix
# product nor a feature projection (the normaliser's sums, the elementwise feature map, the
# division) is left out, as the softmax is left out of attention_flops. ``F`` is the number of
# features of the feature map: ``F = d`` for elu+1, ``F = m`` random features for FAVOR+. Per head,
# for n tokens:
#   * softmax attention: ``4 n^2 d``, or ``2 n (n + 1) d`` with a causal mask;
#   * linear attention, associative or recurrent form: ``2 n F d`` to build the state
#     ``S = phi(K)^T V`` and ``2 n F d`` to read it, ``phi(Q) S``: ``4 n F d``, causal or not;
#   * causal and computed in chunks of C (the form kernels use): the same ``4 n F d`` plus, inside
#     each chunk, ``phi(Q_c) phi(K_c)^T`` and its product with ``V_c`` on the pairs on or below the
#     diagonal: ``2 (F + d)`` FLOPs per pair, ``c (c + 1) / 2`` pairs per chunk of c;
#   * FAVOR+ features are a projection ``W x`` first: ``2 n d F`` for the queries and as much for
#     the keys.


# --8<-- [start:chunk-pairs]
def chunk_pairs(seq_len: int, chunk_size: int) -> int:
    """Query-key pairs on or below the diagonal inside the chunks of a causal chunked pass.

    ``n = q C + r``: q full chunks of ``C (C + 1) / 2`` pairs and a last one of ``r (r + 1) / 2``.
    """
    full, rest = divmod(seq_len, chunk_size)
    return full * chunk_size * (chunk_size + 1) // 2 + rest * (rest + 1) // 2


# --8<-- [end:chunk-pairs]


# --8<-- [start:linear-flops]
def linear_attention_flops(
    seq_len: int,
    head_dim: int,
    *,
    feature_dim: int | None = None,
    heads: int = 1,
    causal: bool = False,
    chunk_size: int | None = None,
    projection: bool = False,
) -> int:
    """Forward FLOPs of linear attention for one layer (``heads`` heads).

    The matrix products and the feature projection count; the normaliser's sums, the
    elementwise feature map and the division are left out, as the softmax is.

    Args:
        seq_len: n, tokens in the sequence.
        head_dim: d, the width of a query, key and value.
        feature_dim: F, features of the map (default d, as for elu+1).
        heads: heads in the layer.
        causal: the causal form (default False).
        chunk_size: C for the causal chunked form; ``None`` (default) counts the recurrent form,
            one state update and one read per position. Ignored when not causal: there the
            chunks only build the state over all keys, which costs the same.
        projection: add FAVOR+'s feature projection, ``2 n d F`` for q and again for k.

    Returns:
        ``heads * (4 n F d + [causal, chunked] 2 (F + d) pairs + [projection] 4 n d F)``.
    """
    n, d = seq_len, head_dim
    f = d if feature_dim is None else feature_dim
    flops = 4 * n * f * d  # build S = phi(K)^T V and read phi(Q) S
    if causal and chunk_size is not None:
        flops += 2 * (f + d) * chunk_pairs(n, chunk_size)  # phi(Q_c) phi(K_c)^T and A_c V_c, j <= i
    if projection:
        flops += 4 * n * d * f  # phi(x) = exp(W x - |x|^2/2) / sqrt(m): W x for q and for k
    return heads * flops


# --8<-- [end:linear-flops]


# --8<-- [start:softmax-over-linear]
def softmax_over_linear_flops(
    seq_len: int,
    head_dim: int,
    *,
    feature_dim: int | None = None,
    causal: bool = False,
    chunk_size: int | None = None,
    projection: bool = False,
) -> float:
    """How many times more FLOPs softmax attention needs than linear attention at ``seq_len``.

    ``attention_flops / linear_attention_flops`` with the same options (heads cancel): above 1
    linear attention is cheaper, below 1 softmax attention is.
    """
    linear = linear_attention_flops(
        seq_len,
        head_dim,
        feature_dim=feature_dim,
        causal=causal,
        chunk_size=chunk_size,
        projection=projection,
    )
    return attention_flops(seq_len, head_dim, causal=causal) / linear


# --8<-- [end:softmax-over-linear]


# --8<-- [start:crossover]
def crossover_seq_len(
    head_dim: int,
    *,
    feature_dim: int | None = None,
    causal: bool = False,
    chunk_size: int | None = None,
    projection: bool = False,
) -> int:
    """The shortest length from which linear attention needs no more FLOPs than softmax attention.

    That is the smallest n such that ``linear_attention_flops(m) <= attention_flops(m)`` for
    every ``m >= n`` (heads cancel). Non-causal it is ``n = F`` (``2F`` with the projection):
    ``4 n^2 d`` against ``4 n F d``. Causal, the softmax side halves and the crossover about
    doubles; chunks add about ``(C + 1)(F + d) / (2 d)``.

    How it is found, exactly and in integers: above ``n_up``, the first n at which
    ``2 n (n + 1) d >= 4 n F d k + n (C + 1)(F + d)`` (``k = 2`` with the projection; the chunk
    term bounds the pairs, ``chunk_pairs(n, C) <= n (C + 1) / 2``), softmax is never cheaper;
    from ``n_up`` walk down while linear attention still costs no more.

    Args:
        head_dim: d.
        feature_dim: F (default d).
        causal: compare the causal forms (default False).
        chunk_size: C of the causal chunked form (``None``: the recurrent form).
        projection: count FAVOR+'s projection of q and k.

    Returns:
        That length n, ``>= 1``.
    """
    d = head_dim
    f = d if feature_dim is None else feature_dim
    k = 2 if projection else 1
    if not causal:
        n = max(1, f * k)  # 4 n^2 d >= 4 n F d k  <=>  n >= F k
    else:
        extra = (f + d) * (chunk_size + 1) if chunk_size is not None else 0
        n = max(1, -(-(4 * f * d * k + extra) // (2 * d)) - 1)  # 2 d (n + 1) >= 4 F d k + extra

    def fits(m: int) -> bool:
        linear = linear_attention_flops(
            m, d, feature_dim=f, causal=causal, chunk_size=chunk_size, projection=projection
        )
        return linear <= attention_flops(m, d, causal=causal)

    while n > 1 and fits(n - 1):
        n -= 1
    return n


# --8<-- [end:crossover]


# --------------------------------------------------------------------- the selective scan


# --8<-- [start:ssm-flops]
def ssm_scan_flops(seq_len: int, d_inner: int, state_dim: int) -> int:
    """Forward FLOPs of a selective scan (Mamba's SSM) over ``seq_len`` tokens: ``6 n D N``.

    Per token, channel and state element, as ``longctx.ssm.selective_scan_ref`` does it:
    ``delta * A`` (1), ``B * (delta u)`` (1), ``x = dA * x + dBu`` (2) and the readout
    ``y += C x`` (2). The exponential is left out, as the softmax is for attention, and so
    are the projections around the scan (attention's are left out too).

    Args:
        seq_len: n, tokens.
        d_inner: D, channels of the scan (Mamba: twice the model width).
        state_dim: N, state elements per channel.
    """
    return 6 * seq_len * d_inner * state_dim


# --8<-- [end:ssm-flops]


# --------------------------------------------------------------------- paged KV cache

# --8<-- [start:paged-waste]
from collections.abc import Iterable


def contiguous_kv_slots(lengths: Iterable[int], *, max_len: int) -> int:
    """Token slots reserved when every request gets one contiguous region of ``max_len``.

    Args:
        lengths: tokens each request ends up using, each ``<= max_len``.
        max_len: the maximum length a request may reach, reserved up front.

    Returns:
        ``len(lengths) * max_len``.
    """
    lens, m = list(lengths), max_len
    if max(lens) > m:
        raise ValueError(f"lengths: a request of {max(lens)} tokens does not fit max_len={m}")
    return len(lens) * m


def paged_kv_slots(lengths: Iterable[int], *, block_size: int) -> int:
    """Token slots reserved when the cache is handed out in blocks (PagedAttention).

    Each request holds ``ceil(len / block_size)`` blocks, so it wastes less than one block.

    Args:
        lengths: tokens each request ends up using.
        block_size: tokens per block.

    Returns:
        ``sum(ceil(len / block_size) * block_size for len in lengths)``.
    """
    return sum(-(-n // block_size) * block_size for n in lengths)


def kv_allocation_waste(lengths: Iterable[int], *, max_len: int, block_size: int) -> dict[str, float]:
    """Contiguous max-length reservation against paging, for the same requests.

    Args:
        lengths: tokens each request ends up using.
        max_len: what the contiguous scheme reserves per request.
        block_size: tokens per block in the paged scheme.

    Returns:
        ``{"used", "contiguous_slots", "paged_slots", "contiguous_waste", "paged_waste"}``:
        slots holding tokens, slots each scheme reserves, and the fraction of each scheme's
        reservation left empty, ``(reserved - used) / reserved``. Multiply slots by
        :func:`kv_cache_bytes_per_token` for bytes.
    """
    lens = list(lengths)  # once: ``lengths`` may be a one-shot iterator
    used = sum(lens)
    contiguous = contiguous_kv_slots(lens, max_len=max_len)
    paged = paged_kv_slots(lens, block_size=block_size)
    return {
        "used": used,
        "contiguous_slots": contiguous,
        "paged_slots": paged,
        "contiguous_waste": (contiguous - used) / contiguous,
        "paged_waste": (paged - used) / paged,
    }


def paged_expected_waste_slots(block_size: int) -> float:
    """Expected empty slots per request under paging: ``(block_size - 1) / 2``.

    Holds when a request's length is equally likely to end anywhere within its last block
    (its remainder mod ``block_size`` uniform); the worst case is ``block_size - 1``.
    """
    return (block_size - 1) / 2


# --8<-- [end:paged-waste]


# --------------------------------------------------------------------- decode roofline


# --8<-- [start:roofline]
def roofline_time_s(
    flops: float, bytes_moved: float, peak_flops_per_s: float, bandwidth_bytes_per_s: float
) -> float:
    """Lower bound on a kernel's time from the roofline model.

    The work takes at least as long as its arithmetic at peak, and at least as long as its
    memory traffic at full bandwidth: ``max(flops / peak, bytes / bandwidth)``. Which term
    wins depends on the arithmetic intensity ``flops / bytes`` against the GPU's ridge point
    ``peak / bandwidth`` (:func:`arithmetic_intensity_flops_per_byte`,
    :func:`ridge_point_flops_per_byte`).

    Args:
        flops: floating-point operations, >= 0.
        bytes_moved: bytes read and written to memory, >= 0.
        peak_flops_per_s: the GPU's peak FLOP/s (see :func:`peak_flops_per_s`).
        bandwidth_bytes_per_s: memory bandwidth (see :func:`hbm_bandwidth_bytes_per_s`).

    Returns:
        Seconds.
    """
    return max(flops / peak_flops_per_s, bytes_moved / bandwidth_bytes_per_s)


def arithmetic_intensity_flops_per_byte(flops: float, bytes_moved: float) -> float:
    """FLOPs per byte moved: ``flops / bytes_moved``."""
    return flops / bytes_moved


def ridge_point_flops_per_byte(peak_flops_per_s: float, bandwidth_bytes_per_s: float) -> float:
    """The arithmetic intensity (FLOPs per byte) above which a kernel is compute-bound."""
    return peak_flops_per_s / bandwidth_bytes_per_s


def decode_time_per_token_s(*, weight_bytes: float, kv_bytes: float, bandwidth_bytes_per_s: float) -> float:
    """Memory-bound time to decode one token: ``(weight_bytes + kv_bytes) / bandwidth``.

    Each decoding step reads every weight and the whole KV cache once to produce one token
    per sequence, and does about 2 FLOPs per weight: far below any GPU's ridge point, so
    bandwidth sets the pace. This is the roofline's memory term, a lower bound.

    Args:
        weight_bytes: bytes of the weights read per step (see :func:`parameter_bytes`).
        kv_bytes: bytes of KV cache read per step (all sequences in the batch).
        bandwidth_bytes_per_s: memory bandwidth.

    Returns:
        Seconds per decoding step.
    """
    return (weight_bytes + kv_bytes) / bandwidth_bytes_per_s


# --8<-- [end:roofline]


def parameter_bytes(params: float, *, bytes_per_element: str | float = 2) -> float:
    """Bytes of ``params`` weights stored at ``bytes_per_element`` (175e9 fp16 = 350 GB)."""
    return _real("params", params, positive=True) * _bytes(bytes_per_element)


def sequences_that_fit(*, memory_bytes: float, bytes_per_sequence: float, reserved_bytes: float = 0) -> int:
    """How many sequences' caches fit in ``memory_bytes`` after ``reserved_bytes`` (weights, ...).

    Returns:
        ``floor((memory_bytes - reserved_bytes) / bytes_per_sequence)``, and 0 when the
        reserved part alone does not fit.
    """
    free = _real("memory_bytes", memory_bytes, positive=True) - _real(
        "reserved_bytes", reserved_bytes, positive=False
    )
    per = _real("bytes_per_sequence", bytes_per_sequence, positive=True)
    return max(0, math.floor(free / per))


# --------------------------------------------------------------------- what a benchmark moves
# The least work and traffic of the calls ``python -m longctx.bench`` times, from their shapes.


def matmul_flops(m: int, n: int, k: int) -> int:
    """FLOPs of an ``[m, k] @ [k, n]`` matmul: ``2 m n k`` (a multiply-add is 2)."""
    return 2 * _positive_int("m", m) * _positive_int("n", n) * _positive_int("k", k)


def copy_bytes(nbytes: int) -> int:
    """Traffic of copying ``nbytes`` from one buffer to another: each byte read once, written once."""
    return 2 * _positive_int("nbytes", nbytes)


def paged_decode_bytes(
    batch: int,
    context: int,
    *,
    heads: int,
    kv_heads: int,
    head_dim: int,
    cache_bytes: float = 2,
    scale_bytes: float = 0,
    io_bytes: float = 2,
    block_size: int = 16,
    index_bytes: int = 4,
) -> float:
    """Least traffic of one paged decode step: every cached K and V read once, q read, out written.

    Args:
        batch: sequences decoded at once, each with ``context`` cached tokens.
        heads: query heads; ``kv_heads``: K/V heads; ``head_dim``: width of one head.
        cache_bytes: bytes per cached element (2 for fp16, 1 for int8).
        scale_bytes: bytes of quantization scale per cached token and KV head, for K and for
            V each (4 for one float32 scale; 0 for an fp16 cache).
        io_bytes: bytes per element of ``q`` and ``out``.
        block_size: tokens per page; ``index_bytes``: bytes per block-table entry and per
            sequence length (int32).

    Returns:
        K/V (:func:`kv_cache_bytes` for one layer) + scales + q + out + block table + lengths.
    """
    batch, context = _positive_int("batch", batch), _positive_int("context", context)
    kv = kv_cache_bytes(
        layers=1,
        kv_heads=kv_heads,
        head_dim=head_dim,
        tokens=context,
        batch=batch,
        bytes_per_element=cache_bytes,
    )
    scales = 2 * batch * context * kv_heads * _real("scale_bytes", scale_bytes, positive=False)
    q_and_out = (
        2 * batch * _positive_int("heads", heads) * head_dim * _real("io_bytes", io_bytes, positive=True)
    )
    pages = batch * math.ceil(context / _positive_int("block_size", block_size))
    return kv + scales + q_and_out + (pages + batch) * _positive_int("index_bytes", index_bytes)


def selective_scan_bytes(batch: int, channels: int, length: int, state: int, *, itemsize: int) -> int:
    """Least traffic of a selective scan (Mamba's block): read u, delta, z ``[B, D, L]`` and
    B, C ``[B, N, L]``, write out ``[B, D, L]``, all in ``itemsize`` bytes; read A ``[D, N]``,
    D and delta_bias ``[D]`` in float32."""
    batch, channels = _positive_int("batch", batch), _positive_int("channels", channels)
    length, state = _positive_int("length", length), _positive_int("state", state)
    return _positive_int("itemsize", itemsize) * batch * length * (
        4 * channels + 2 * state
    ) + 4 * channels * (state + 2)


# --------------------------------------------------------------------- argument checks
# The formulas the pages show are plain arithmetic, so that a reader can paste them. Every call
# of the package's functions is checked all the same: each name below is rebound, once, at
# import, to the function wrapped by ``longctx.checks.arguments`` (same name, signature and
# docstring; the plain formula stays reachable as ``fn.__wrapped__``).


def _dtype_bytes(name: str, value: object) -> float:
    """A checker for ``bytes_per_element``: a dtype name or a positive number, as bytes."""
    return bytes_per_element(value)


def _lengths(name: str, value: object) -> list[int]:
    """A checker for request lengths: a non-empty sequence of positive integers, as a list."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of positive integers, got {type(value).__name__}")
    out = [checks.positive_int(f"{name}[{i}]", v) for i, v in enumerate(value)]
    if not out:
        raise ValueError(f"{name} must hold at least one length, got none")
    return out


def _nonneg_real(name: str, value: object) -> float:
    """A checker for a finite real number >= 0."""
    if checks.finite_real(name, value) < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


_P, _N, _F, _B = checks.positive_int, checks.nonneg_int, checks.flag, _dtype_bytes
_R, _R0, _OPT = checks.positive_real, _nonneg_real, checks.optional(checks.positive_int)
_LINEAR = dict(head_dim=_P, feature_dim=_OPT, causal=_F, chunk_size=_OPT, projection=_F)
_CHECKED = {
    "score_entries": dict(seq_len=_P, heads=_P),
    "score_matrix_bytes": dict(seq_len=_P, heads=_P, bytes_per_element=_B),
    "attention_flops": dict(seq_len=_P, head_dim=_P, heads=_P, causal=_F),
    "cost_multiplier": dict(n_from=_P, n_to=_P),
    "transformer_layer_flops": dict(seq_len=_P, d_model=_P, d_ff=_OPT, causal=_F),
    "model_cost_multiplier": dict(n_from=_P, n_to=_P, d_model=_P, d_ff=_OPT, causal=_F),
    "kv_cache_bytes": dict(layers=_P, kv_heads=_P, head_dim=_P, tokens=_P, batch=_P, bytes_per_element=_B),
    "attention_flop_share": dict(seq_len=_P, d_model=_P, d_ff=_OPT, causal=_F),
    "attention_crossover_len": dict(d_model=_P, d_ff=_OPT, causal=_F),
    "attention_cost_summary": dict(
        seq_len=_P, reference_len=_P, heads=_P, layers=_P, head_dim=_P, bytes_per_element=_B, causal=_F
    ),
    "attention_backward_flops": dict(seq_len=_P, head_dim=_P, heads=_P, causal=_F, recompute=_F),
    "attention_train_flops": dict(seq_len=_P, head_dim=_P, heads=_P, causal=_F, recompute=_F),
    "standard_attention_hbm_bytes": dict(
        seq_len=_P, head_dim=_P, heads=_P, bytes_per_element=_B, include_qkvo=_F
    ),
    "flash_attention_block_size": dict(head_dim=_P, sram_bytes=_R, bytes_per_element=_B),
    "flash_attention_hbm_bytes": dict(seq_len=_P, head_dim=_P, sram_bytes=_R, heads=_P, bytes_per_element=_B),
    "kv_cache_bytes_per_token": dict(layers=_P, kv_heads=_P, head_dim=_P, bytes_per_element=_B),
    "mla_cache_bytes_per_token": dict(layers=_P, latent_dim=_P, rope_dim=_N, bytes_per_element=_B),
    "mla_cache_bytes": dict(layers=_P, latent_dim=_P, rope_dim=_N, tokens=_P, batch=_P, bytes_per_element=_B),
    "sliding_window_pairs": dict(seq_len=_P, window=_N),
    "sliding_window_flops": dict(seq_len=_P, head_dim=_P, window=_N, heads=_P),
    "sliding_window_receptive_field": dict(layers=_P, window=_N),
    "rolling_buffer_kv_bytes": dict(
        slots=_P, layers=_P, kv_heads=_P, head_dim=_P, batch=_P, bytes_per_element=_B
    ),
    "linear_attention_state_elements": dict(key_dim=_P, value_dim=_P, heads=_P, layers=_P, normalizer=_F),
    "mamba_state_elements": dict(d_inner=_P, state_dim=_P, layers=_P),
    "mamba2_state_elements": dict(heads=_P, head_dim=_P, state_dim=_P, layers=_P),
    "state_bytes": dict(elements=_P, batch=_P, bytes_per_element=_B),
    "contiguous_kv_slots": dict(lengths=_lengths, max_len=_P),
    "paged_kv_slots": dict(lengths=_lengths, block_size=_P),
    "kv_allocation_waste": dict(lengths=_lengths, max_len=_P, block_size=_P),
    "paged_expected_waste_slots": dict(block_size=_P),
    "roofline_time_s": dict(flops=_R0, bytes_moved=_R0, peak_flops_per_s=_R, bandwidth_bytes_per_s=_R),
    "arithmetic_intensity_flops_per_byte": dict(flops=_R0, bytes_moved=_R),
    "ridge_point_flops_per_byte": dict(peak_flops_per_s=_R, bandwidth_bytes_per_s=_R),
    "decode_time_per_token_s": dict(weight_bytes=_R0, kv_bytes=_R0, bandwidth_bytes_per_s=_R),
    "flash_attention_stats_bytes": dict(seq_len=_P, heads=_P),
    "window_band_pairs": dict(seq_len=_P, window=_N),
    "bigbird_pairs": dict(seq_len=_P, window=_N, global_tokens=_N, random_tokens=_N),
    "sparse_attention_flops": dict(pairs=_P, head_dim=_P, heads=_P),
    "sparse_score_bytes": dict(pairs=_P, heads=_P, bytes_per_element=_B),
    "chunk_pairs": dict(seq_len=_P, chunk_size=_P),
    "linear_attention_flops": dict(seq_len=_P, heads=_P, **_LINEAR),
    "softmax_over_linear_flops": dict(seq_len=_P, **_LINEAR),
    "crossover_seq_len": _LINEAR,
    "ssm_scan_flops": dict(seq_len=_P, d_inner=_P, state_dim=_P),
}
for _name, _checkers in _CHECKED.items():
    globals()[_name] = checks.arguments(**_checkers)(globals()[_name])
del _name, _checkers
