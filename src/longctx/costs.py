"""What attention costs: FLOPs, bytes and multipliers, as pure functions.

Every number the site prints about cost comes from here: the lesson tables, the drills'
answers, the quizzes' numeric answers and the values the in-browser calculator is tested
against. Units are in the names (``_bytes``, ``_flops``); nothing here rounds.

Conventions:
    * A multiply-add counts as 2 FLOPs; the softmax's exponentials and the scaling are left
      out (they are O(n^2) too, but a small constant next to the two matmuls' O(n^2 d)).
    * ``seq_len`` is n, the number of tokens in the sequence; ``head_dim`` is d.
    * Bytes are plain bytes; ``1 GB = 1e9 bytes`` and ``1 GiB = 2**30 bytes`` when printed.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = [
    "BYTES_PER_ELEMENT",
    "GPU_MEMORY_BYTES",
    "attention_cost_summary",
    "attention_crossover_len",
    "attention_flop_share",
    "attention_flops",
    "bytes_per_element",
    "cost_multiplier",
    "gpu_memory_fraction",
    "kv_cache_bytes",
    "model_cost_multiplier",
    "quadratic_cost_table",
    "score_entries",
    "score_matrix_bytes",
    "transformer_layer_flops",
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

#: Memory of the GPUs marked on the lesson's figure, in bytes, with the source of each.
GPU_MEMORY_BYTES: dict[str, tuple[float, str]] = {
    "A100 40GB": (40e9, "NVIDIA A100 Tensor Core GPU datasheet (40 GB HBM2)"),
    "A100 80GB": (80e9, "NVIDIA A100 Tensor Core GPU datasheet (80 GB HBM2e)"),
}


def _positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise naming ``name`` and what was expected."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


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
    n = _positive_int("seq_len", seq_len)
    return _positive_int("heads", heads) * n * n


def score_matrix_bytes(seq_len: int, *, heads: int = 1, bytes_per_element: str | float = 2) -> float:
    """Bytes to hold one layer's score matrices if they are materialised.

    Args:
        seq_len: n, tokens in the sequence.
        heads: attention heads in the layer (each has its own n x n matrix).
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.

    Returns:
        ``heads * n**2 * bytes_per_element``.
    """
    return score_entries(seq_len, heads=heads) * _bytes(bytes_per_element)
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
    n = _positive_int("seq_len", seq_len)
    d = _positive_int("head_dim", head_dim)
    h = _positive_int("heads", heads)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    pairs = n * (n + 1) // 2 if causal else n * n
    return 4 * pairs * d * h
# --8<-- [end:attention-flops]


# --8<-- [start:multiplier]
def cost_multiplier(n_from: int, n_to: int) -> float:
    """How much the attention core's cost grows from ``n_from`` to ``n_to`` tokens.

    Both the score-matrix memory and the FLOPs scale as n squared, so the factor is
    ``(n_to / n_from) ** 2``: 4 for twice the length, 100 for ten times.
    """
    a = _positive_int("n_from", n_from)
    b = _positive_int("n_to", n_to)
    return (b / a) ** 2
# --8<-- [end:multiplier]


# --8<-- [start:layer-flops]
def transformer_layer_flops(seq_len: int, *, d_model: int, d_ff: int | None = None,
                            causal: bool = False) -> dict[str, int]:
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
    n = _positive_int("seq_len", seq_len)
    dm = _positive_int("d_model", d_model)
    ff = 4 * dm if d_ff is None else _positive_int("d_ff", d_ff)
    return {
        "projections": 2 * n * 4 * dm * dm,
        # attention_flops is per head; summed over heads it only needs d_model = heads * head_dim
        "attention": attention_flops(n, dm, causal=causal),
        "mlp": 2 * n * 2 * dm * ff,
    }


def model_cost_multiplier(n_from: int, n_to: int, *, d_model: int, d_ff: int | None = None,
                          causal: bool = False) -> float:
    """Growth of a whole layer's forward FLOPs from ``n_from`` to ``n_to`` tokens.

    Always between ``n_to / n_from`` (all linear terms) and ``(n_to / n_from) ** 2`` (all
    attention): the wider the model, the longer the linear terms dominate.
    """
    a = _positive_int("n_from", n_from)
    b = _positive_int("n_to", n_to)
    before = sum(transformer_layer_flops(a, d_model=d_model, d_ff=d_ff, causal=causal).values())
    after = sum(transformer_layer_flops(b, d_model=d_model, d_ff=d_ff, causal=causal).values())
    return after / before
# --8<-- [end:layer-flops]


# --8<-- [start:kv-cache]
def kv_cache_bytes(*, layers: int, kv_heads: int, head_dim: int, tokens: int, batch: int = 1,
                   bytes_per_element: str | float = 2) -> float:
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
        bytes_per_element: a dtype name such as ``"fp16"`` or a number of bytes.
    """
    elements = (2 * _positive_int("layers", layers) * _positive_int("kv_heads", kv_heads)
                * _positive_int("head_dim", head_dim) * _positive_int("tokens", tokens)
                * _positive_int("batch", batch))
    return elements * _bytes(bytes_per_element)
# --8<-- [end:kv-cache]


#: Lengths of the lesson's cost table: 512 to 1M tokens, doubling.
TABLE_SEQ_LENS = tuple(2**k for k in range(9, 21))


def quadratic_cost_table(seq_lens: tuple[int, ...] = TABLE_SEQ_LENS, *, head_dim: int = 128,
                         reference_len: int = 4096) -> list[dict[str, float]]:
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


def _layer_flops_total(seq_len: int, d_model: int, d_ff: int | None, causal: bool) -> tuple[int, int]:
    """``(attention core, everything else)`` forward FLOPs of one layer."""
    parts = transformer_layer_flops(seq_len, d_model=d_model, d_ff=d_ff, causal=causal)
    return parts["attention"], parts["projections"] + parts["mlp"]


# --8<-- [start:attention-share]
def attention_flop_share(seq_len: int, *, d_model: int, d_ff: int | None = None, causal: bool = False) -> float:
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
    attention, linear = _layer_flops_total(seq_len, d_model, d_ff, causal)
    return attention / (attention + linear)


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
    dm = _positive_int("d_model", d_model)
    ff = 4 * dm if d_ff is None else _positive_int("d_ff", d_ff)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    return 4 * dm + 2 * ff - 1 if causal else 2 * dm + ff
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
def attention_cost_summary(seq_len: int, *, reference_len: int, heads: int, layers: int, head_dim: int,
                           bytes_per_element: str | float = 2, causal: bool = False) -> dict[str, float]:
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
    ref = _positive_int("reference_len", reference_len)
    n_layers = _positive_int("layers", layers)
    per_head = score_matrix_bytes(seq_len, bytes_per_element=bytes_per_element)
    flops_head = attention_flops(seq_len, head_dim, causal=causal)
    h = _positive_int("heads", heads)
    return {
        "entries": score_entries(seq_len),
        "bytes_head": per_head,
        "bytes_layer": per_head * h,
        "bytes_model": per_head * h * n_layers,
        "flops_head": flops_head,
        "flops_layer": flops_head * h,
        "flops_model": flops_head * h * n_layers,
        "multiplier": cost_multiplier(ref, seq_len),
    }
# --8<-- [end:calculator]
