"""Ring Attention against attention_ref on the whole sequence, in float64.

The one-process simulation is swept with hypothesis; the torch.distributed version runs in
real processes (gloo on the CPU), forked once: a ring of 3 ranks and two rings of 2 inside it.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _helpers import random_qkv
from hypothesis import given, settings
from hypothesis import strategies as st

from longctx.attention import attention_ref
from longctx.distributed import block_attention, merge_partials, ring_attention, ring_attention_simulated

# ------------------------------------------------------------------------------- one process


@settings(max_examples=30, deadline=None)
@given(
    world=st.integers(1, 5),
    T_local=st.sampled_from([1, 2, 7, 17]),
    B=st.integers(1, 2),
    H_kv=st.sampled_from([1, 2]),
    group=st.sampled_from([1, 2, 3]),
    D=st.sampled_from([1, 8, 40]),
    Dv=st.sampled_from([3, 8]),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_simulated_matches_reference(world, T_local, B, H_kv, group, D, Dv, causal, seed):
    T = world * T_local
    q, k, v = random_qkv(B, H_kv * group, H_kv, T, T, D, Dv, seed=seed)
    got = ring_attention_simulated(q, k, v, world_size=world, causal=causal)
    assert got.shape == (B, H_kv * group, T, Dv) and got.dtype == torch.float64
    torch.testing.assert_close(got, attention_ref(q, k, v, causal=causal), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_simulated_float32(causal):
    q, k, v = random_qkv(2, 4, 2, 63, 63, 40, 40, seed=3)
    got = ring_attention_simulated(q.float(), k.float(), v.float(), world_size=3, causal=causal, scale=0.3)
    assert got.dtype == torch.float32
    torch.testing.assert_close(
        got.double(), attention_ref(q, k, v, causal=causal, scale=0.3), rtol=1e-5, atol=2e-6
    )


@settings(max_examples=20, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    T=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    reverse=st.booleans(),
)
def test_merge_of_blocks_in_any_order_is_full_attention(cuts, T, seed, reverse):
    """Keys split into blocks of random sizes, merged in either order, give full attention."""
    S = sum(cuts)
    q, k, v = random_qkv(1, 2, 2, T, S, 8, 4, seed=seed)
    out = torch.zeros(1, 2, T, 4, dtype=torch.float64)
    lse = torch.full((1, 2, T), float("-inf"), dtype=torch.float64)
    blocks = list(zip(k.split(cuts, dim=2), v.split(cuts, dim=2)))
    for kb, vb in reversed(blocks) if reverse else blocks:
        out, lse = merge_partials(out, lse, *block_attention(q, kb, vb, scale=0.5, return_lse=True))
    torch.testing.assert_close(out, attention_ref(q, k, v, scale=0.5), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        lse, torch.logsumexp(q @ k.transpose(-2, -1) * 0.5, -1), rtol=1e-12, atol=1e-12
    )


def test_return_lse_gives_the_rows_log_sum_exp():
    q, k, v = random_qkv(1, 4, 2, 12, 12, 8, 5, seed=2)
    out, lse = ring_attention_simulated(q, k, v, world_size=3, causal=True, return_lse=True)
    want_out, want_lse = attention_ref(q, k, v, causal=True, return_lse=True)
    torch.testing.assert_close(out, want_out, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(lse, want_lse, rtol=1e-10, atol=1e-12)
    plain = block_attention(q, k, v)
    assert isinstance(plain, torch.Tensor)
    torch.testing.assert_close(plain, attention_ref(q, k, v), rtol=1e-10, atol=1e-12)


def test_rows_that_see_nothing_give_zeros():
    q, k, v = random_qkv(1, 1, 1, 4, 4, 8, 8, seed=1)
    out, lse = block_attention(
        q, k, v, scale=1.0, q_offset=0, k_offset=10, causal=True, return_lse=True
    )  # all keys later
    assert torch.equal(out, torch.zeros_like(out)) and torch.isneginf(lse).all()
    merged, lse2 = merge_partials(out, lse, out, lse)
    assert torch.equal(merged, torch.zeros_like(merged)) and torch.isneginf(lse2).all()


def test_simulated_bad_input():
    q, k, v = random_qkv(1, 2, 1, 6, 6, 8, 8, seed=0)
    cases = [
        (lambda: ring_attention_simulated(q, k, v, world_size=4), ValueError, "world_size"),
        (lambda: ring_attention_simulated(q, k, v, world_size=0), ValueError, "world_size"),
        (lambda: ring_attention_simulated(q, k, v, world_size=2.0), TypeError, "world_size"),
        (
            lambda: ring_attention_simulated(q, k[:, :, :3], v[:, :, :3], world_size=2),
            ValueError,
            "k must cover",
        ),
        (
            lambda: ring_attention_simulated(q[:, :, :0], k[:, :, :0], v[:, :, :0], world_size=1),
            ValueError,
            "T_local",
        ),
        (lambda: ring_attention_simulated(q[0], k, v, world_size=2), ValueError, "q must have 4 dims"),
        (lambda: ring_attention_simulated(q.long(), k, v, world_size=2), TypeError, "q must be a floating"),
        (lambda: ring_attention_simulated(q, k, v, world_size=2, scale=float("inf")), ValueError, "scale"),
        (
            lambda: ring_attention_simulated(
                q[:, :1].expand(1, 3, 6, 8),
                random_qkv(1, 2, 2, 6, 6, 8, 8, seed=1)[1],
                random_qkv(1, 2, 2, 6, 6, 8, 8, seed=1)[2],
                world_size=2,
            ),
            ValueError,
            "H_kv",
        ),
        (lambda: ring_attention_simulated(q, k, v, world_size=2, causal=1), TypeError, "causal"),
        (lambda: ring_attention_simulated(q, k, v, world_size=2, scale="0.5"), TypeError, "scale"),
        (lambda: block_attention(q, k, v, q_offset=-1), ValueError, "q_offset"),
        (lambda: block_attention(q, k, v, return_lse=None), TypeError, "return_lse"),
    ]
    for call, exc, name in cases:
        with pytest.raises(exc, match=name):
            call()


def test_distributed_needs_a_process_group():
    q, k, v = random_qkv(1, 1, 1, 2, 2, 4, 4, seed=0)
    if dist.is_initialized():  # pragma: no cover - only when some other test left a group behind
        pytest.skip("a process group is already initialised in this process")
    with pytest.raises(RuntimeError, match="init_process_group"):
        ring_attention(q, k, v)


# ------------------------------------------------------------------------------- real processes

# (B, H, H_kv, T_local, D, Dv, causal, dtype)
CASES = [
    (1, 2, 2, 1, 8, 8, False, "float64"),
    (1, 2, 2, 1, 8, 8, True, "float64"),
    (2, 4, 2, 17, 40, 24, False, "float64"),
    (2, 4, 2, 17, 40, 24, True, "float64"),
    (1, 3, 1, 7, 16, 5, True, "float64"),  # MQA, head dims that differ
    (2, 4, 4, 9, 40, 40, True, "float32"),
]


def _check_cases(rank: int, world: int, group, report: dict) -> None:
    """Every case of CASES on one process group; ``rank`` and ``world`` are within that group."""
    for n, (B, H, H_kv, T_local, D, Dv, causal, dtype) in enumerate(CASES):
        dt = getattr(torch, dtype)
        T = world * T_local
        q, k, v = random_qkv(B, H, H_kv, T, T, D, Dv, seed=100 * world + n)  # same on every rank
        mine = slice(rank * T_local, (rank + 1) * T_local)
        got = ring_attention(
            q[:, :, mine].to(dt), k[:, :, mine].to(dt), v[:, :, mine].to(dt), causal=causal, group=group
        )
        gathered = [torch.empty_like(got) for _ in range(world)]
        dist.all_gather(gathered, got.contiguous(), group=group)
        full = torch.cat(gathered, dim=2).double()  # [B, H, T, Dv]
        want = attention_ref(q, k, v, causal=causal)
        report["errors"].append([world, dtype, causal, (full - want).abs().max().item(), str(got.dtype)])


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))
    try:
        report = {"errors": [], "bad_input": []}
        _check_cases(rank, world, None, report)  # the whole world (3 ranks)
        # two-rank rings as sub-groups; [1, 2] makes group ranks differ from global ranks
        for members in ([0, 1], [1, 2]):
            sub = dist.new_group(members)  # every process must take part in creating it
            if rank in members:
                _check_cases(members.index(rank), len(members), sub, report)
        # uneven shards: rank 0 holds one more position; every rank must raise, none may hang
        T = 3 + (rank == 0)
        q, k, v = random_qkv(1, 2, 2, T, T, 8, 8, seed=7)
        try:
            ring_attention(q, k, v)
        except ValueError as err:
            report["bad_input"].append(str(err))
        # a bad argument on the last rank only is also reported on every rank
        q, k, v = random_qkv(1, 2, 2, 3, 3, 8, 8, seed=7)
        last = rank == world - 1
        try:
            ring_attention(q, k[:, :, :2] if last else k, v[:, :, :2] if last else v)
        except ValueError as err:
            report["bad_input"].append(str(err))
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(report, f)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ring_attention_across_processes(tmp_path):
    """One fork of 3 processes: the 3-rank world, then the 2-rank sub-groups [0, 1] and [1, 2].

    Forked, not spawned: a spawned process imports torch, this module and longctx afresh, 7 s of
    CPU for the three, which a fork inherits. Tests run torch with one thread (conftest.py), so
    no OpenMP pool is carried into a child, and the ranks never touch CUDA.
    """
    world = 3
    mp.start_processes(
        _worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True, start_method="fork"
    )
    for rank in range(world):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        in_pairs = sum(rank in members for members in ([0, 1], [1, 2]))
        assert len(report["errors"]) == len(CASES) * (1 + in_pairs)
        assert {w for w, *_ in report["errors"]} == ({3, 2} if in_pairs else {3})
        for w, dtype, causal, err, out_dtype in report["errors"]:
            assert out_dtype == f"torch.{dtype}"
            assert err < (1e-10 if dtype == "float64" else 2e-6), (w, dtype, causal, err)
        assert len(report["bad_input"]) == 2, report["bad_input"]
        assert "uneven shards" in report["bad_input"][0]
        assert ("k must cover" if rank == world - 1 else f"ranks [{world - 1}]") in report["bad_input"][1]
