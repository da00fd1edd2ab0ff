"""Sparse masks against masks built here by enumerating each query's keys one at a time.

The naive builders below walk the keys a query sees (``p - left .. p + right``, every d-th key,
...) instead of testing a predicate over the grid, so they do not share the package's formulas.
"""

from __future__ import annotations

import math

import pytest
import torch
from _helpers import random_qkv
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.attention import attention_ref
from longctx.attention import causal_mask as reference_causal_mask
from longctx.sparse import (
    bigbird_mask,
    causal_mask,
    compose_masks,
    dilated_window_mask,
    global_local_mask,
    receptive_field,
    sliding_window_mask,
    strided_mask,
)

lengths = st.integers(1, 70)
sides = st.integers(-1, 20)


def grid(T, S):
    return [[False] * S for _ in range(T)]


def as_tensor(rows):
    return torch.tensor(rows, dtype=torch.bool)


def put(rows, i, j):
    if 0 <= j < len(rows[i]):
        rows[i][j] = True


def naive_window(T, S, left, right, dilation=1):
    """Walk outwards from the query's position, one dilation step at a time."""
    rows = grid(T, S)
    for i in range(T):
        p = i + S - T
        steps_left = left if left != -1 else S + T  # far enough to leave the keys
        steps_right = right if right != -1 else S + T
        for k in range(steps_left + 1):
            put(rows, i, p - k * dilation)
        for k in range(steps_right + 1):
            put(rows, i, p + k * dilation)
    return as_tensor(rows)


def naive_causal(T, S):
    rows = grid(T, S)
    for i in range(T):
        for j in range(i + S - T + 1):
            put(rows, i, j)
    return as_tensor(rows)


def naive_global_local(T, S, glob, left, right):
    rows = naive_window(T, S, left, right).tolist()
    for g in glob:
        for i in range(T):
            rows[i][g] = True  # everyone attends the global key
        i = g - (S - T)  # the query row sitting at position g, if there is one
        if 0 <= i < T:
            rows[i] = [True] * S
    return as_tensor(rows)


def naive_strided(T, S, stride):
    rows = grid(T, S)
    for i in range(T):
        p = i + S - T
        for j in range(p - stride + 1, p + 1):  # the local band
            put(rows, i, j)
        j = p
        while j >= 0:  # every stride-th key back
            put(rows, i, j)
            j -= stride
    return as_tensor(rows)


# ---------------------------------------------------------------------------- each pattern


@settings(max_examples=30, deadline=None)
@given(T=lengths, S=lengths)
def test_causal_matches_loop_and_attention_module(T, S):
    m = causal_mask(T, S)
    assert torch.equal(m, naive_causal(T, S))
    assert torch.equal(m, reference_causal_mask(T, S))
    assert torch.equal(m, sliding_window_mask(T, S, (-1, 0)))


@settings(max_examples=30, deadline=None)
@given(T=lengths, S=lengths, left=sides, right=sides)
def test_sliding_window_matches_loop(T, S, left, right):
    m = sliding_window_mask(T, S, (left, right))
    assert m.shape == (T, S) and m.dtype == torch.bool
    assert torch.equal(m, naive_window(T, S, left, right))


def test_sliding_window_small_cases_by_hand():
    # (1, 0) on 4x4: self and one key back.
    assert sliding_window_mask(4, 4, (1, 0)).int().tolist() == [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 1],
    ]
    # T < S, bottom-right: query 0 sits at position 2.
    assert sliding_window_mask(2, 4, (0, 1)).int().tolist() == [[0, 0, 1, 1], [0, 0, 0, 1]]
    assert sliding_window_mask(3, 5, (-1, -1)).all()
    # Band rows away from the edges hold left + right + 1 keys.
    assert sliding_window_mask(40, 40, (3, 5))[10].sum() == 9


@settings(max_examples=30, deadline=None)
@given(T=lengths, S=lengths, left=sides, right=sides, dilation=st.integers(1, 6))
def test_dilated_window_matches_loop(T, S, left, right, dilation):
    m = dilated_window_mask(T, S, (left, right), dilation)
    assert torch.equal(m, naive_window(T, S, left, right, dilation))


@settings(max_examples=20, deadline=None)
@given(T=lengths, S=lengths, left=sides, right=sides)
def test_dilation_one_is_the_sliding_window(T, S, left, right):
    assert torch.equal(dilated_window_mask(T, S, (left, right), 1), sliding_window_mask(T, S, (left, right)))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), T=lengths, S=lengths, left=sides, right=sides)
def test_global_local_matches_loop(data, T, S, left, right):
    glob = data.draw(st.lists(st.integers(0, S - 1), max_size=5))
    m = global_local_mask(T, S, glob, (left, right))
    assert torch.equal(m, naive_global_local(T, S, glob, left, right))
    assert torch.equal(global_local_mask(T, S, torch.tensor(glob, dtype=torch.long), (left, right)), m)


@settings(max_examples=30, deadline=None)
@given(T=lengths, S=lengths, stride=st.integers(1, 12))
def test_strided_matches_loop(T, S, stride):
    m = strided_mask(T, S, stride)
    assert torch.equal(m, naive_strided(T, S, stride))
    assert torch.equal(
        m, strided_mask(T, S, stride, part="local") | strided_mask(T, S, stride, part="stride")
    )
    assert not (m & ~naive_causal(T, S)).any()  # never looks ahead


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    T=lengths,
    S=lengths,
    left=sides,
    right=sides,
    r=st.integers(0, 8),
    seed=st.integers(0, 2**31),
)
def test_bigbird_contains_window_and_globals_plus_r_new_keys(data, T, S, left, right, r, seed):
    glob = data.draw(st.lists(st.integers(0, S - 1), max_size=4))
    base = naive_global_local(T, S, glob, left, right)
    m = bigbird_mask(T, S, (left, right), glob, r, seed=seed)
    assert not (base & ~m).any()  # every window and global entry survives
    extra = (m & ~base).sum(dim=1)  # new keys per row
    expected = torch.clamp(S - base.sum(dim=1), max=r)  # r, or all that were left
    assert torch.equal(extra, expected)
    assert torch.equal(m, bigbird_mask(T, S, (left, right), glob, r, seed=seed))  # same seed, same mask


def test_bigbird_seed_and_generator():
    a = bigbird_mask(50, 60, (2, 2), [0], 5, seed=7)
    b = bigbird_mask(50, 60, (2, 2), [0], 5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, bigbird_mask(50, 60, (2, 2), [0], 5, seed=8))
    assert torch.equal(bigbird_mask(9, 9, (1, 1), [], 2), bigbird_mask(9, 9, (1, 1), [], 2, seed=0))
    gen = torch.Generator().manual_seed(3)  # a shared generator advances: two draws differ
    assert not torch.equal(
        bigbird_mask(50, 60, (2, 2), [], 5, generator=gen), bigbird_mask(50, 60, (2, 2), [], 5, generator=gen)
    )


def test_bigbird_random_keys_spread_over_all_candidates():
    # One query with no window and no globals: over many seeds, each of the S keys is drawn
    # about r / S of the time. A draw stuck on a few keys would fail this.
    S, r, n = 10, 3, 600
    counts = sum(bigbird_mask(1, S, (0, 0), [], r, seed=s).int()[0] for s in range(n))
    counts[S - 1] -= n  # the query's own key is the window, always there
    expected = n * r / (S - 1)
    assert counts[S - 1] == 0
    assert counts[: S - 1].min() > 0.7 * expected and counts[: S - 1].max() < 1.3 * expected


# ---------------------------------------------------------------------------- receptive field


def naive_reach(mask, layers, residual=True):
    """Set propagation: the inputs output i depends on, layer by layer."""
    T = mask.shape[0]
    nbrs = [set(j for j in range(T) if mask[i, j]) | ({i} if residual else set()) for i in range(T)]
    reach = [{i} for i in range(T)]
    for _ in range(layers):
        reach = [set().union(*(reach[k] for k in nbrs[i])) if nbrs[i] else set() for i in range(T)]
    return as_tensor([[j in reach[i] for j in range(T)] for i in range(T)])


@settings(max_examples=20, deadline=None)
@given(
    T=st.integers(1, 30),
    left=sides,
    right=sides,
    dilation=st.integers(1, 4),
    layers=st.integers(1, 4),
    residual=st.booleans(),
)
def test_receptive_field_matches_set_propagation(T, left, right, dilation, layers, residual):
    m = dilated_window_mask(T, T, (left, right), dilation)
    assert torch.equal(receptive_field(m, layers, residual=residual), naive_reach(m, layers, residual))


@settings(max_examples=20, deadline=None)
@given(T=st.integers(1, 70), w=st.integers(0, 10), layers=st.integers(1, 6))
def test_one_sided_window_reaches_layers_times_w(T, w, layers):
    reach = receptive_field(sliding_window_mask(T, T, (w, 0)), layers)
    for i in range(T):
        first = max(0, i - layers * w)
        assert reach[i].nonzero().flatten().tolist() == list(range(first, i + 1))


@pytest.mark.parametrize("w, d, layers", [(2, 1, 3), (4, 2, 2), (6, 3, 3), (8, 1, 1)])
def test_longformer_span_is_layers_times_d_times_w(w, d, layers):
    # The paper's w is the total window (w/2 each side): the stack spans l * d * w positions.
    T = 2 * layers * d * w + 9
    reach = receptive_field(dilated_window_mask(T, T, (w // 2, w // 2), d), layers)
    seen = reach[T // 2].nonzero().flatten()
    assert int(seen.max() - seen.min()) == layers * d * w


@pytest.mark.parametrize("T", [1, 17, 40])
@pytest.mark.parametrize("stride", [1, 3, 6])
def test_strided_parts_reach_every_earlier_key_in_two_layers(T, stride):
    local = strided_mask(T, T, stride, part="local")
    strided = strided_mask(T, T, stride, part="stride")
    causal = naive_causal(T, T)
    for order in ([local, strided], [strided, local]):
        assert torch.equal(compose_masks(order, residual=False), causal)
    if stride > 1 and T > 2 * stride:  # one layer of either part alone does not
        assert not torch.equal(local, causal) and not torch.equal(strided, causal)


def test_compose_masks_order_is_first_layer_first():
    a = sliding_window_mask(5, 5, (1, 0)) & ~torch.eye(5, dtype=torch.bool)  # position i reads i - 1 only
    b = torch.zeros(5, 5, dtype=torch.bool)
    b[4, 2] = True  # output 4 reads position 2 only
    # a then b: output 4 reads layer-1 output 2, which read input 1.
    assert compose_masks([a, b], residual=False).nonzero().tolist() == [[4, 1]]
    # b then a: output i reads layer-1 output i - 1, and only layer-1 output 4 reads anything (input 2),
    # so it would be output 5, which does not exist.
    assert compose_masks([b, a], residual=False).nonzero().tolist() == []


# ---------------------------------------------------------------------------- attention with a window


def loop_window_attention(q, k, v, left, right):
    """float64, one query at a time over the keys its window holds; written without masks."""
    q, k, v = q.double(), k.double(), v.double()
    B, H, T, D = q.shape
    H_kv, S = k.shape[1], k.shape[2]
    out = torch.zeros(B, H, T, v.shape[-1], dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            hk = h // (H // H_kv)
            for i in range(T):
                p = i + S - T
                lo = 0 if left == -1 else max(0, p - left)
                hi = S - 1 if right == -1 else min(S - 1, p + right)
                if lo > hi:
                    continue  # no key in the window: zeros
                scores = [float(q[b, h, i] @ k[b, hk, j]) / math.sqrt(D) for j in range(lo, hi + 1)]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                for n, j in enumerate(range(lo, hi + 1)):
                    out[b, h, i] += weights[n] / total * v[b, hk, j]
    return out


@pytest.mark.parametrize(
    "B, H, H_kv, T, S, D, window",
    [
        (1, 1, 1, 1, 1, 8, (0, 0)),
        (2, 2, 1, 17, 17, 40, (4, 0)),
        (1, 4, 2, 9, 23, 16, (3, 2)),
        (1, 2, 2, 23, 9, 8, (2, -1)),  # T > S: the first rows see no key
        (1, 1, 1, 30, 30, 8, (-1, 5)),
    ],
)
def test_attention_ref_with_window_mask_equals_loop(B, H, H_kv, T, S, D, window):
    q, k, v = random_qkv(B, H, H_kv, T, S, D, D + 3, seed=T * 100 + S)
    want = loop_window_attention(q, k, v, *window)
    mask = sliding_window_mask(T, S, window)
    assert (attention_ref(q, k, v, mask=mask) - want).abs().max() < 1e-12
    got32 = attention_ref(q.float(), k.float(), v.float(), mask=mask)
    assert not got32.isnan().any()
    assert (got32.double() - want).abs().max() < 1e-5


# ---------------------------------------------------------------------------- bad input


BAD = [
    (lambda: sliding_window_mask(4, 4, (-2, 0)), ValueError, "window left"),
    (lambda: sliding_window_mask(4, 4, (0, -5)), ValueError, "window right"),
    (lambda: sliding_window_mask(4, 4, (1.5, 0)), TypeError, "window left"),
    (lambda: sliding_window_mask(4, 4, (True, 0)), TypeError, "window left"),
    (lambda: sliding_window_mask(4, 4, 3), TypeError, "window"),
    (lambda: sliding_window_mask(4, 4, (1, 2, 3)), TypeError, "window"),
    (lambda: sliding_window_mask(0, 4, (1, 0)), ValueError, "T"),
    (lambda: sliding_window_mask(4, 0, (1, 0)), ValueError, "S"),
    (lambda: sliding_window_mask(4.0, 4, (1, 0)), TypeError, "T"),
    (lambda: causal_mask(0, 3), ValueError, "T"),
    (lambda: causal_mask(3, -1), ValueError, "S"),
    (lambda: causal_mask(3, "4"), TypeError, "S"),
    (lambda: dilated_window_mask(5, 5, (1, 1), 0), ValueError, "dilation"),
    (lambda: dilated_window_mask(5, 5, (1, 1), 2.0), TypeError, "dilation"),
    (lambda: dilated_window_mask(5, 5, (-3, 1), 2), ValueError, "window left"),
    (lambda: strided_mask(5, 5, 0), ValueError, "stride"),
    (lambda: strided_mask(5, 5, 2.5), TypeError, "stride"),
    (lambda: strided_mask(5, 5, 2, part="diagonal"), ValueError, "part"),
    (lambda: strided_mask(5, 0, 2), ValueError, "S"),
    (lambda: global_local_mask(5, 5, [5], (1, 1)), ValueError, "global_idx"),
    (lambda: global_local_mask(5, 5, [-1], (1, 1)), ValueError, "global_idx"),
    (lambda: global_local_mask(5, 5, [1.0], (1, 1)), TypeError, "global_idx"),
    (lambda: global_local_mask(5, 5, 2, (1, 1)), TypeError, "global_idx"),
    (lambda: global_local_mask(5, 5, "01", (1, 1)), TypeError, "global_idx"),
    (lambda: global_local_mask(5, 5, torch.tensor([0.0]), (1, 1)), TypeError, "global_idx"),
    (lambda: global_local_mask(5, 5, torch.tensor([[0]]), (1, 1)), ValueError, "global_idx"),
    (lambda: global_local_mask(5, 5, [0], (1, -2)), ValueError, "window right"),
    (lambda: bigbird_mask(5, 5, (1, 1), [0], -1), ValueError, "num_random"),
    (lambda: bigbird_mask(5, 5, (1, 1), [7], 1), ValueError, "global_idx"),
    (lambda: bigbird_mask(5, 5, (1, 1), [0], 1, seed=-3), ValueError, "seed"),
    (lambda: bigbird_mask(5, 5, (1, 1), [0], 1, seed=1.5), TypeError, "seed"),
    (lambda: bigbird_mask(5, 5, (1, 1), [0], 1, generator=3), TypeError, "generator"),
    (lambda: bigbird_mask(5, 5, (1, 1), [0], 1, seed=1, generator=torch.Generator()), ValueError, "seed"),
    (lambda: receptive_field(causal_mask(3, 4), 2), ValueError, "mask"),
    (lambda: receptive_field(causal_mask(3, 3).int(), 2), TypeError, "mask"),
    (lambda: receptive_field(causal_mask(3, 3), 0), ValueError, "layers"),
    (lambda: receptive_field([[True]], 1), TypeError, "mask"),
    (lambda: compose_masks([]), TypeError, "masks"),
    (lambda: compose_masks(causal_mask(3, 3)), TypeError, "masks"),
    (lambda: compose_masks([causal_mask(3, 3), causal_mask(4, 4)]), ValueError, "masks"),
]


@pytest.mark.parametrize("call, error, name", BAD, ids=[f"{n}-{b[2]}" for n, b in enumerate(BAD)])
def test_bad_input_raises_naming_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_masks_build_on_the_requested_device():
    for m in (
        causal_mask(3, 5, device="cpu"),
        sliding_window_mask(3, 5, (1, 1), device="cpu"),
        dilated_window_mask(3, 5, (1, 1), 2, device="cpu"),
        global_local_mask(3, 5, [1], (0, 0), device="cpu"),
        bigbird_mask(3, 5, (0, 0), [], 1, device="cpu"),
        strided_mask(3, 5, 2, device="cpu"),
    ):
        assert m.device.type == "cpu" and m.shape == (3, 5) and m.dtype == torch.bool
