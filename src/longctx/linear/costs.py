"""FLOPs of linear attention against softmax attention, and the length where they cross.

Conventions as in ``longctx.costs``: a multiply-add counts as 2 FLOPs, the values have the
head dim d (``d_v = d``), and what is neither a matrix product nor a feature projection (the
normaliser's sums, the elementwise feature map, the division) is left out, as the softmax is
left out of :func:`longctx.costs.attention_flops`. ``F`` is the number of features of the
feature map: ``F = d`` for elu+1, ``F = m`` random features for FAVOR+.

Per head, for n tokens:

* softmax attention (:func:`longctx.costs.attention_flops`): ``4 n^2 d``, or ``2 n (n + 1) d``
  with a causal mask;
* linear attention, associative or recurrent form: ``2 n F d`` to build the state
  ``S = phi(K)^T V`` and ``2 n F d`` to read it, ``phi(Q) S``: ``4 n F d``, causal or not;
* causal and computed in chunks of C (the form kernels use): the same ``4 n F d`` for the states
  plus, inside each chunk, ``phi(Q_c) phi(K_c)^T`` and its product with ``V_c`` on the pairs
  on or below the diagonal: ``2 (F + d)`` FLOPs per pair, ``c (c + 1) / 2`` pairs per chunk of c;
* FAVOR+ features are a projection ``W x`` first: ``2 n d F`` for the queries and as much for
  the keys.

Each function's arguments are checked by a ``@checks.arguments`` decorator, above the section
that Lesson 3 and the drill book show, so that the formula on the page is the whole function.
"""

from __future__ import annotations

from longctx import checks
from longctx.costs import attention_flops

__all__ = ["chunk_pairs", "crossover_seq_len", "linear_attention_flops", "softmax_over_linear_flops"]

_OPTIONS = dict(head_dim=checks.positive_int, feature_dim=checks.optional(checks.positive_int), causal=checks.flag,
                chunk_size=checks.optional(checks.positive_int), projection=checks.flag)


@checks.arguments(seq_len=checks.positive_int, chunk_size=checks.positive_int)
# --8<-- [start:chunk-pairs]
def chunk_pairs(seq_len: int, chunk_size: int) -> int:
    """Query-key pairs on or below the diagonal inside the chunks of a causal chunked pass.

    ``n = q C + r``: q full chunks of ``C (C + 1) / 2`` pairs and a last one of ``r (r + 1) / 2``.
    """
    full, rest = divmod(seq_len, chunk_size)
    return full * chunk_size * (chunk_size + 1) // 2 + rest * (rest + 1) // 2
# --8<-- [end:chunk-pairs]


@checks.arguments(seq_len=checks.positive_int, heads=checks.positive_int, **_OPTIONS)
# --8<-- [start:linear-flops]
def linear_attention_flops(seq_len: int, head_dim: int, *, feature_dim: int | None = None, heads: int = 1,
                           causal: bool = False, chunk_size: int | None = None, projection: bool = False) -> int:
    """Forward FLOPs of linear attention for one layer (``heads`` heads), by the conventions above.

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


@checks.arguments(seq_len=checks.positive_int, **_OPTIONS)
# --8<-- [start:softmax-over-linear]
def softmax_over_linear_flops(seq_len: int, head_dim: int, *, feature_dim: int | None = None,
                              causal: bool = False, chunk_size: int | None = None,
                              projection: bool = False) -> float:
    """How many times more FLOPs softmax attention needs than linear attention at ``seq_len``.

    ``attention_flops / linear_attention_flops`` with the same options (heads cancel): above 1
    linear attention is cheaper, below 1 softmax attention is.
    """
    linear = linear_attention_flops(seq_len, head_dim, feature_dim=feature_dim, causal=causal,
                                    chunk_size=chunk_size, projection=projection)
    return attention_flops(seq_len, head_dim, causal=causal) / linear
# --8<-- [end:softmax-over-linear]


@checks.arguments(**_OPTIONS)
# --8<-- [start:crossover]
def crossover_seq_len(head_dim: int, *, feature_dim: int | None = None, causal: bool = False,
                      chunk_size: int | None = None, projection: bool = False) -> int:
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
        linear = linear_attention_flops(m, d, feature_dim=f, causal=causal, chunk_size=chunk_size,
                                        projection=projection)
        return linear <= attention_flops(m, d, causal=causal)

    while n > 1 and fits(n - 1):
        n -= 1
    return n
# --8<-- [end:crossover]
