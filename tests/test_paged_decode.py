"""Paged decode attention (Triton, run by the CPU interpreter here) against float64 attention_ref.

Each case writes every sequence's K/V into shuffled physical blocks of a pool whose unused slots
hold NaN (a kernel that reads one slot too many returns NaN), pads block tables with -1 past the
used blocks, and compares with attention_ref on the sequences' own K/V, never gathered through the
code under test. Shapes stay tiny: the interpreter runs one program at a time.
"""

from __future__ import annotations

import math

import pytest
import torch
from _helpers import rel_rms

from longctx.attention import attention_ref
from longctx.kv import PagedKVCache
from longctx.kv.paged_kernel import (
    CONFIGS,
    MAX_AUTO_SPLITS,
    SCALE_MODES,
    auto_num_splits,
    paged_configs,
    paged_decode,
    paged_decode_ref,
    plan_paged_decode,
    quantize_paged,
)
from longctx.kv.quant import dequantize, quantize

# Triton's interpreter: these tests run without coverage but those marked covered (conftest.py)
pytestmark = pytest.mark.interpreted

# fp32: exact up to float32 rounding of sums of a few dozen terms. fp16: K/V are used as stored
# (the reference sees the same fp16 values), but the probabilities are rounded to fp16 before the
# P @ V product and the output is rounded to fp16: about 2^-11 relative, twice for safety.
RMS_TOL = {torch.float32: 2e-6, torch.float16: 2e-3}
MAX_TOL = {torch.float32: 1e-5, torch.float16: 4e-3}


class Case:
    """Sequences of given lengths written into a shuffled pool; their own K/V kept for the reference."""

    def __init__(
        self,
        lens,
        H,
        H_kv,
        D,
        block_size,
        dtype=torch.float32,
        seed=0,
        magnitude=1.0,
        fill=float("nan"),
        spare_blocks=2,
        k_ramp=False,
    ):
        gen = torch.Generator().manual_seed(seed)
        self.lens, self.H, self.H_kv, self.D, self.bs = list(lens), H, H_kv, D, block_size
        B = len(lens)
        n_blocks = [math.ceil(S / block_size) for S in lens]
        num_blocks = sum(n_blocks) + spare_blocks
        self.k_pool = torch.full((num_blocks, block_size, H_kv, D), fill, dtype=torch.float64)
        self.v_pool = torch.full((num_blocks, block_size, H_kv, D), fill, dtype=torch.float64)
        physical = torch.randperm(num_blocks, generator=gen).tolist()  # shuffled physical blocks
        self.table = torch.full((B, max(n_blocks, default=0) + 1), -1, dtype=torch.int32)  # -1: padding
        self.k, self.v = [], []  # each [H_kv, S, D] float64, rounded to dtype
        for b, S in enumerate(lens):
            k = torch.randn(H_kv, S, D, generator=gen, dtype=torch.float64) * magnitude
            if k_ramp:  # keys grow along the sequence: the running max rises tile after tile
                k = k * torch.linspace(0.25, 4.0, S, dtype=torch.float64)[None, :, None]
            k = k.to(dtype).double()
            v = torch.randn(H_kv, S, D, generator=gen, dtype=torch.float64).to(dtype).double()
            self.k.append(k)
            self.v.append(v)
            for i in range(n_blocks[b]):
                blk = physical.pop()
                self.table[b, i] = blk
                n = min(block_size, S - i * block_size)
                self.k_pool[blk, :n] = k[:, i * block_size : i * block_size + n].transpose(
                    0, 1
                )  # [n, H_kv, D]
                self.v_pool[blk, :n] = v[:, i * block_size : i * block_size + n].transpose(0, 1)
        self.q = (torch.randn(B, H, D, generator=gen, dtype=torch.float64) * magnitude).to(dtype)
        self.k_cache, self.v_cache = self.k_pool.to(dtype), self.v_pool.to(dtype)
        self.seq_lens = torch.tensor(lens, dtype=torch.int32)

    def reference(self, k=None, v=None, scale=None) -> torch.Tensor:
        """float64 attention of each query over its sequence's keys (given, or the originals)."""
        k, v = k or self.k, v or self.v
        out = torch.zeros(len(self.lens), self.H, self.D, dtype=torch.float64)
        for b, S in enumerate(self.lens):
            if S:
                qb = self.q[b].double()[None, :, None, :]  # [1, H, 1, D]: T = 1 sees all S keys
                out[b] = attention_ref(qb, k[b][None], v[b][None], scale=scale)[0, :, 0]
        return out

    def run(self, **kwargs):
        return paged_decode(self.q, self.k_cache, self.v_cache, self.table, self.seq_lens, **kwargs)


def awkward_lens(bs: int, B: int) -> list[int]:
    """Three sequences: 1 token, one short of a block, several blocks and a tail; two: bs + 1, 2 bs."""
    return [1, bs - 1, 3 * bs + 5] if B == 3 else [bs + 1, 2 * bs]


@pytest.mark.parametrize(
    "D, H, H_kv, block_size, dtype, B",
    [
        (16, 2, 2, 16, torch.float32, 3),  # MHA
        (40, 4, 2, 16, torch.float32, 3),  # GQA 2, head dim padded 40 -> 64
        (64, 3, 1, 32, torch.float32, 2),  # MQA (ratio H), three heads: 16-row tile mostly padding
        (40, 4, 2, 32, torch.float16, 3),
        (64, 2, 2, 16, torch.float16, 2),
        (16, 4, 1, 16, torch.float16, 3),
    ],
    ids=lambda v: str(v).replace("torch.", ""),
)
def test_matches_float64_reference(D, H, H_kv, block_size, dtype, B):
    case = Case(awkward_lens(block_size, B), H, H_kv, D, block_size, dtype, seed=D + H + B)
    out = case.run(num_splits=2)
    want = case.reference()
    assert out.dtype == dtype and out.shape == (B, H, D)
    assert torch.isfinite(out).all()  # the NaN-filled spare slots were never read
    assert rel_rms(out, want) < RMS_TOL[dtype]
    assert (out.double() - want).abs().max() < MAX_TOL[dtype]


def test_block_boundaries_one_at_a_time():
    # bs - 1, bs, bs + 1 and an exact multiple of blocks, each alone: the last tile's mask.
    bs = 16
    case = Case([bs - 1, bs, bs + 1, 2 * bs], 2, 1, 16, bs, seed=7)
    want = case.reference()
    out = case.run(num_splits=1)
    assert (out.double() - want).abs().max() < MAX_TOL[torch.float32]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_number_of_splits_does_not_change_the_result(dtype):
    case = Case([1, 17, 69], 4, 2, 40, 16, dtype, seed=11)  # 69 tokens: 5 blocks
    want = case.reference()
    outs = {n: case.run(num_splits=n) for n in (1, 2, 3, 7, None)}  # 7 > 5 blocks: empty splits
    for n, out in outs.items():
        assert torch.isfinite(out).all(), n
        assert (out.double() - want).abs().max() < MAX_TOL[dtype], n
    for n in (2, 3, 7):  # merging only reorders float32 sums: agreement far below fp16 resolution
        assert (outs[n].double() - outs[1].double()).abs().max() <= (1e-6 if dtype == torch.float32 else 1e-3)
    assert torch.equal(outs[None], outs[auto_num_splits(3, 2, 69)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_long_sequence_many_tiles_in_one_split(dtype):
    # 300 tokens in one split: five 64-token tiles, each re-basing the sums on a larger max.
    case = Case([300, 130], 2, 1, 16, 16, dtype, seed=47, k_ramp=True)
    want = case.reference()
    for n in (1, 2):
        out = case.run(num_splits=n)
        assert rel_rms(out, want) < RMS_TOL[dtype]
        assert (out.double() - want).abs().max() < MAX_TOL[dtype]


def test_deterministic():
    case = Case([5, 40], 4, 2, 16, 16, seed=3)
    assert torch.equal(case.run(num_splits=3), case.run(num_splits=3))


@pytest.mark.parametrize("dtype, magnitude", [(torch.float32, 60.0), (torch.float16, 12.0)])
def test_large_scores_do_not_overflow(dtype, magnitude):
    # Scores around magnitude^2 * sqrt(D) / sqrt(D): exp of them overflows any float format.
    case = Case([3, 33], 2, 1, 16, 16, dtype, seed=5, magnitude=magnitude)
    want = case.reference()
    for n in (1, 3):
        out = case.run(num_splits=n)
        assert torch.isfinite(out).all()
        # Near one-hot softmax: a score error e moves weights by ~e, and fp16 scores of this size
        # carry absolute errors of a few 1e-3 in the exponent; fp32 stays near rounding.
        assert (out.double() - want).abs().max() < (1e-4 if dtype == torch.float32 else 5e-2)


def test_zero_length_gives_zeros_and_minus_inf_lse():
    case = Case([0, 20, 0], 2, 2, 16, 16, seed=9)
    out, lse = case.run(num_splits=2, return_lse=True)
    assert (out[0] == 0).all() and (out[2] == 0).all()
    assert torch.isneginf(lse[0]).all() and torch.isneginf(lse[2]).all()
    assert (out.double() - case.reference()).abs().max() < MAX_TOL[torch.float32]


def test_returned_lse_is_the_log_sum_exp_of_the_scores():
    case = Case([1, 30, 50], 4, 2, 40, 16, seed=13)
    scale = 0.3
    _, lse = case.run(num_splits=3, return_lse=True, scale=scale)
    for b, _S in enumerate(case.lens):
        k = case.k[b].repeat_interleave(2, dim=0)  # [H, S, D]
        s = torch.einsum("hd,hsd->hs", case.q[b].double(), k) * scale  # [H, S]
        torch.testing.assert_close(lse[b].double(), torch.logsumexp(s, dim=-1), rtol=0, atol=1e-5)


def test_explicit_scale():
    case = Case([9, 33], 2, 1, 16, 16, seed=17)
    out = case.run(scale=0.05, num_splits=2)
    assert (out.double() - case.reference(scale=0.05)).abs().max() < MAX_TOL[torch.float32]


def test_non_contiguous_inputs():
    case = Case([20, 7], 4, 2, 16, 16, seed=19)
    q = case.q.transpose(0, 1).contiguous().transpose(0, 1)  # [B, H, D] with a transposed layout
    k = case.k_cache.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)  # heads outermost
    table = torch.stack([case.table, case.table], dim=2)[:, :, 0]  # column stride 2
    assert not (q.is_contiguous() or k.is_contiguous() or table.is_contiguous())
    out = paged_decode(q, k, case.v_cache, table, case.seq_lens, num_splits=2)
    assert (out.double() - case.reference()).abs().max() < MAX_TOL[torch.float32]


def test_reads_a_paged_kv_cache_and_agrees_with_its_attend():
    # PagedKVCache with a block size that is not a power of two; sequences appended interleaved.
    gen = torch.Generator().manual_seed(23)
    H, H_kv, D, bs = 4, 2, 16, 24
    cache = PagedKVCache(8, bs, H_kv, D, dtype=torch.float32)
    for seq, T in (("a", 30), ("b", 5), ("a", 20), ("b", 1)):
        cache.append(seq, torch.randn(H_kv, T, D, generator=gen), torch.randn(H_kv, T, D, generator=gen))
    seqs = ["a", "b"]
    width = max(len(cache.block_tables[s]) for s in seqs)
    table = torch.tensor(
        [cache.block_tables[s] + [-1] * (width - len(cache.block_tables[s])) for s in seqs], dtype=torch.int32
    )
    lens = torch.tensor([cache.lengths[s] for s in seqs], dtype=torch.int32)
    q = torch.randn(2, H, D, generator=gen)
    out = paged_decode(q, cache.k_cache, cache.v_cache, table, lens, num_splits=2)
    for i, s in enumerate(seqs):
        want = cache.attend(s, q[i].double()[:, None].float())[:, 0]  # [H, 1, D] -> [H, D]
        assert (out[i] - want).abs().max() < MAX_TOL[torch.float32]


def test_reference_function_agrees_with_the_independent_one():
    case = Case([1, 0, 17, 40], 4, 2, 40, 16, seed=29)
    ref = paged_decode_ref(case.q, case.k_cache, case.v_cache, case.table, case.seq_lens)
    torch.testing.assert_close(ref, case.reference(), rtol=0, atol=1e-12)


# ----- int8 caches -----


def test_quantize_paged_layouts():
    gen = torch.Generator().manual_seed(31)
    pool = torch.randn(3, 16, 2, 40, generator=gen)
    codes, s_tok = quantize_paged(pool, "token")
    assert codes.dtype == torch.int8 and codes.shape == pool.shape and s_tok.shape == (3, 16, 2)
    torch.testing.assert_close(s_tok, pool.abs().amax(dim=-1) / 127)  # absmax per slot and head
    assert ((codes.float() * s_tok[..., None] - pool).abs() <= s_tok[..., None] / 2 + 1e-7).all()
    codes, s_ch = quantize_paged(pool, "channel")
    assert s_ch.shape == (2, 40)
    torch.testing.assert_close(s_ch, pool.abs().amax(dim=(0, 1)) / 127)  # absmax per head and channel
    assert ((codes.float() * s_ch - pool).abs() <= s_ch / 2 + 1e-7).all()


@pytest.mark.parametrize(
    "cache, axis, error, match",
    [
        (torch.zeros(2, 16, 1, 16, dtype=torch.int8), "token", TypeError, "cache must be a floating"),
        ([0.0], "token", TypeError, "cache must be a floating"),
        (torch.zeros(16, 1, 16), "token", ValueError, "cache must be"),
        (torch.zeros(2, 16, 1, 16), "head", ValueError, "axis"),
    ],
)
def test_quantize_paged_bad_input(cache, axis, error, match):
    with pytest.raises(error, match=match):
        quantize_paged(cache, axis)


def int8_case(k_axis, v_axis, seed):
    case = Case([1, 15, 17, 53], 4, 2, 40, 16, torch.float32, seed=seed, fill=0.0)
    kc, ks = quantize_paged(case.k_cache, k_axis)
    vc, vs = quantize_paged(case.v_cache, v_axis)
    unused = case.k_pool[:, :, 0, 0] == 0
    if k_axis == "token":
        ks[unused] = float("nan")  # scales of unused slots: never read
    if v_axis == "token":
        vs[unused] = float("nan")
    return case, kc, ks, vc, vs


def dequantized_sequences(case, pool, axis):
    """Each sequence's K or V as ``quantize``/``dequantize`` return them: [H_kv, S, D] float64."""
    seqs = []
    for b, _S in enumerate(case.lens):
        x = (case.k if pool == "k" else case.v)[b].float()[None]  # [1, H_kv, S, D]
        if axis == "token":  # per-token scales depend on the token only: quantize the sequence
            seqs.append(dequantize(quantize(x, 8, "token"))[0].double())
        else:  # per-channel scales are the whole pool's: rebuild them from the pool
            full = case.k_cache if pool == "k" else case.v_cache
            s = full.abs().amax(dim=(0, 1)) / 127  # [H_kv, D]
            seqs.append((torch.round(x[0] / s[:, None, :]).clamp(-127, 127) * s[:, None, :]).double())
    return seqs


@pytest.mark.covered  # the only tests that run the int8 cache's per-channel scales
@pytest.mark.parametrize("k_axis, v_axis", [("token", "token"), ("channel", "token"), ("channel", "channel")])
def test_int8_cache_matches_dequantized_reference(k_axis, v_axis):
    case, kc, ks, vc, vs = int8_case(k_axis, v_axis, seed=37)
    out = paged_decode(case.q, kc, vc, case.table, case.seq_lens, k_scale=ks, v_scale=vs, num_splits=2)
    assert torch.isfinite(out).all()
    k_deq, v_deq = dequantized_sequences(case, "k", k_axis), dequantized_sequences(case, "v", v_axis)
    want = case.reference(k=k_deq, v=v_deq)
    # Codes enter the products exactly and the scales multiply in float32: fp32 rounding only.
    assert (out.double() - want).abs().max() < MAX_TOL[torch.float32]
    ref = paged_decode_ref(case.q, kc, vc, case.table, case.seq_lens, k_scale=ks, v_scale=vs)
    assert (ref - want).abs().max() < 1e-6  # the module's own reference, through quant.dequantize


def test_int8_error_against_the_unquantized_cache_is_within_the_rounding_bound():
    # Rounding moves each key element by at most s_k / 2 and each value element by s_v / 2.
    # A score then moves by at most eps = scale * ||q||_1 * max s_k / 2, the softmax weights by a
    # factor within e^(+-2 eps) (sum |dp| <= e^(2 eps) - 1), so the output moves by at most
    # (e^(2 eps) - 1) * max|v| + max s_v / 2.
    case, kc, ks, vc, vs = int8_case("token", "token", seed=41)
    out = paged_decode(case.q, kc, vc, case.table, case.seq_lens, k_scale=ks, v_scale=vs)
    err = (out.double() - case.reference()).abs()
    scale = 1 / math.sqrt(case.D)
    used = case.k_pool[:, :, 0, 0] != 0
    s_k, s_v = ks[used].max().item(), vs[used].max().item()
    eps = scale * case.q.abs().sum(-1).max().item() * s_k / 2
    v_max = max(v.abs().max().item() for v in case.v)
    bound = math.expm1(2 * eps) * v_max + s_v / 2
    assert err.max() <= bound  # a worst case: the error measured here is about 60 times smaller
    assert err.max() > 0  # quantization did change something: the test can tell the two apart


def test_int8_with_half_query():
    case, kc, ks, vc, vs = int8_case("token", "token", seed=43)
    q16 = case.q.half()
    out = paged_decode(q16, kc, vc, case.table, case.seq_lens, k_scale=ks, v_scale=vs)
    assert out.dtype == torch.float16
    want = paged_decode_ref(q16, kc, vc, case.table, case.seq_lens, k_scale=ks, v_scale=vs)
    assert (out.double() - want).abs().max() < MAX_TOL[torch.float16]


def low_precision_reference(case, dtype):
    """PyTorch's own attention of each sequence with every tensor in ``dtype`` (the 2x rule's yardstick)."""
    out = torch.zeros(len(case.lens), case.H, case.D, dtype=torch.float64)
    g = case.H // case.H_kv
    for b, S in enumerate(case.lens):
        if S:
            k = case.k[b].to(dtype).repeat_interleave(g, 0)  # [H, S, D]
            v = case.v[b].to(dtype).repeat_interleave(g, 0)
            s = (case.q[b][:, None, :] @ k.transpose(-2, -1))[:, 0] * (1 / math.sqrt(case.D))  # [H, S]
            out[b] = (torch.softmax(s, dim=-1)[:, None, :] @ v)[:, 0].double()
    return out


@pytest.mark.parametrize("D, H, H_kv", [(40, 4, 2), (192, 2, 1), (256, 3, 3), (100, 8, 1)])
def test_bf16_within_twice_pytorchs_error_on_the_cpu(D, H, H_kv):
    # Triton's interpreter multiplies bf16 wrongly in tl.dot (values near 1e8 came back): the
    # kernel computes its products in float32 there, so bf16 must be as close to float64 as bf16
    # allows: within twice the error of PyTorch's own attention in bf16 (FlashAttention's rule).
    case = Case([1, 37, 70], H, H_kv, D, 16, torch.bfloat16, seed=D + H)
    want = case.reference()
    out = case.run(num_splits=2)
    assert out.dtype == torch.bfloat16
    ours = (out.double() - want).abs().max().item()
    theirs = (low_precision_reference(case, torch.bfloat16) - want).abs().max().item()
    assert ours <= 2 * theirs, f"kernel error {ours:.3g} vs PyTorch's {theirs:.3g} in bf16"
    assert ours < 0.05  # and absolutely: bf16 rounding of outputs of size ~1, not 1e8


@pytest.mark.parametrize("D", [192, 256])
def test_head_dims_192_and_256(D):
    case = Case([5, 33], 4, 2, D, 16, seed=D)
    out, lse = case.run(return_lse=True, num_splits=3)
    assert (out.double() - case.reference()).abs().max() < MAX_TOL[torch.float32]
    assert torch.isfinite(lse).all()


def test_plan_runs_the_same_kernels_without_the_checks():
    case = Case([9, 40], 4, 2, 16, 16, seed=5)
    plan = plan_paged_decode(case.q, case.k_cache, case.v_cache, case.table, case.seq_lens, num_splits=2)
    assert plan.num_splits == 2
    out, lse = plan.run(return_lse=True)
    want, want_lse = case.run(num_splits=2, return_lse=True)
    assert torch.equal(out, want) and torch.equal(lse, want_lse)
    assert torch.equal(plan.run(), out)


def test_every_gpu_choice_is_a_listed_configuration():
    # what the launcher can choose on a GPU, checked here without one: every head dim, group,
    # dtype and scale layout maps to a configuration in CONFIGS (the compile gate's list)
    listed = set(CONFIGS)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for D in range(16, 257):
            merge = paged_configs(
                "_paged_decode_merge_kernel", head_dim=D, dtype=dtype, num_splits=64, gpu=True
            )
            assert merge in listed and merge.const("BLOCK_D") >= D
            for group in range(1, 17):
                for k_mode, v_mode in SCALE_MODES:
                    cfg = paged_configs(
                        "_paged_decode_split_kernel",
                        head_dim=D,
                        dtype=dtype,
                        group=group,
                        k_mode=k_mode,
                        v_mode=v_mode,
                        gpu=True,
                    )
                    assert cfg in listed, cfg
                    assert cfg.const("BLOCK_G") >= group and cfg.const("BLOCK_D") >= D
                    assert cfg.const("F32") == (dtype == torch.float32)  # 16-bit: tensor cores, int8 too
    # the interpreter's: float32 products, the head dim padded only to a power of two
    cfg = paged_configs("_paged_decode_split_kernel", head_dim=40, dtype=torch.bfloat16, group=3)
    assert (cfg.const("F32"), cfg.const("BLOCK_D"), cfg.const("BLOCK_G")) == (True, 64, 16)


# ----- what it refuses -----


def bad(**over):
    case = Case([5, 20], 4, 2, 16, 16, seed=1, fill=0.0)
    args = dict(
        q=case.q, k_cache=case.k_cache, v_cache=case.v_cache, block_table=case.table, seq_lens=case.seq_lens
    )
    kwargs = {}
    for name, value in over.items():
        (args if name in args else kwargs)[name] = value(case) if callable(value) else value
    return args, kwargs


@pytest.mark.parametrize(
    "over, error, match",
    [
        (dict(q=lambda c: c.q.double()), TypeError, "q must be float16"),
        (dict(q=lambda c: c.q.int()), TypeError, "q must be float16"),
        (dict(q=lambda c: c.q[:, :, None]), ValueError, "q must be"),
        (dict(q=lambda c: c.q.tolist()), TypeError, "q must be a torch.Tensor"),
        (dict(k_cache=lambda c: c.k_cache.half()), TypeError, "k_cache must have q's dtype"),
        (dict(v_cache=lambda c: c.v_cache[0]), ValueError, "v_cache must be"),
        (dict(v_cache=lambda c: c.v_cache[:, :8]), ValueError, "shapes differ"),
        (dict(q=lambda c: c.q[:, :3]), ValueError, "multiple of the cache's KV heads"),
        (
            dict(
                q=lambda c: c.q[..., :8],
                k_cache=lambda c: c.k_cache[..., :8],
                v_cache=lambda c: c.v_cache[..., :8],
            ),
            ValueError,
            "head dim D must be in 16..256 for the kernel, got D=8",
        ),
        (
            dict(
                q=lambda c: torch.zeros(2, 4, 300),
                k_cache=lambda c: torch.zeros(4, 16, 2, 300),
                v_cache=lambda c: torch.zeros(4, 16, 2, 300),
            ),
            ValueError,
            "got D=300",
        ),
        (
            dict(
                q=lambda c: torch.zeros(2, 34, 16),
                k_cache=lambda c: torch.zeros(4, 16, 2, 16),
                v_cache=lambda c: torch.zeros(4, 16, 2, 16),
            ),
            ValueError,
            "H // H_kv must be at most 16, got 17",
        ),
        (
            dict(k_cache=lambda c: c.k_cache.to(torch.int8), k_scale=lambda c: torch.ones(2, 16)),
            TypeError,
            "k_cache and v_cache must both be int8",
        ),
        (
            dict(
                k_cache=lambda c: c.k_cache.to(torch.int8),
                k_scale=lambda c: torch.ones(c.k_cache.shape[:3]),
                v_cache=lambda c: c.v_cache.to(torch.int8),
                v_scale=lambda c: torch.ones(2, 16),
            ),
            ValueError,
            "k_scale must be per channel",
        ),
        (dict(q=lambda c: c.q[..., :15]), ValueError, "head dim"),
        (
            dict(k_cache=lambda c: c.k_cache[:0], v_cache=lambda c: c.v_cache[:0]),
            ValueError,
            "holds no slots",
        ),
        (dict(block_table=lambda c: c.table.long()), TypeError, "block_table must be int32"),
        (dict(block_table=lambda c: c.table[:1]), ValueError, "block_table must be"),
        (dict(seq_lens=lambda c: c.seq_lens.long()), TypeError, "seq_lens must be int32"),
        (dict(seq_lens=lambda c: c.seq_lens[:1]), ValueError, "seq_lens must be"),
        (
            dict(seq_lens=lambda c: torch.tensor([5, -1], dtype=torch.int32)),
            ValueError,
            "seq_lens must be >= 0",
        ),
        (dict(seq_lens=lambda c: torch.tensor([5, 49], dtype=torch.int32)), ValueError, "hold at most 48"),
        (
            dict(block_table=lambda c: torch.where(c.table == c.table[1, 1], 99, c.table)),
            ValueError,
            "block_table points outside",
        ),
        (
            dict(block_table=lambda c: torch.where(c.table == c.table[0, 0], -3, c.table)),
            ValueError,
            "block_table points outside",
        ),
        (dict(k_cache=lambda c: c.k_cache.to(torch.int8)), TypeError, "k_cache is int8: pass k_scale"),
        (dict(k_scale=lambda c: torch.ones(2, 16)), TypeError, "k_scale is given, so k_cache must hold int8"),
        (
            dict(v_cache=lambda c: c.v_cache.to(torch.int8), v_scale=lambda c: torch.ones(2, 15)),
            ValueError,
            "v_scale must be",
        ),
        (
            dict(
                v_cache=lambda c: c.v_cache.to(torch.int8),
                v_scale=lambda c: torch.ones(2, 16, dtype=torch.int32),
            ),
            TypeError,
            "v_scale must be a floating",
        ),
        (
            dict(v_cache=lambda c: c.v_cache.to(torch.int8), v_scale=[1.0]),
            TypeError,
            "v_scale must be a torch",
        ),
        (dict(scale=float("inf")), ValueError, "scale must be a positive finite"),
        (dict(scale="0.1"), TypeError, "scale must be a positive real"),
        (dict(num_splits=0), ValueError, "num_splits must be"),
        (dict(num_splits=65), ValueError, "num_splits must be an int in 1..64"),
        (dict(return_lse=1), TypeError, "return_lse must be a bool"),
        (dict(num_splits=2.0), TypeError, "num_splits must be"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_input(over, error, match):
    args, kwargs = bad(**over)
    with pytest.raises(error, match=match):
        paged_decode(**args, **kwargs)


def test_padding_entries_past_a_sequences_blocks_are_ignored():
    case = Case([5, 20], 4, 2, 16, 16, seed=2, fill=0.0)
    assert (case.table[:, -1] == -1).all()  # padding in the last column, never checked or read
    assert (case.run(num_splits=2).double() - case.reference()).abs().max() < MAX_TOL[torch.float32]


def test_empty_batch():
    case = Case([], 2, 1, 16, 16, seed=0)
    out, lse = case.run(return_lse=True)
    assert out.shape == (0, 2, 16) and lse.shape == (0, 2)


def test_cpu_tensor_without_the_interpreter_is_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    case = Case([5], 2, 1, 16, 16, seed=0)
    with pytest.raises(ValueError, match="q must be a CUDA tensor.*got a tensor on cpu"):
        case.run()


def test_auto_num_splits():
    assert auto_num_splits(3, 2, 69) == 1  # short: no merge needed
    assert auto_num_splits(64, 8, 32768) == 1  # the batch alone fills the grid
    assert auto_num_splits(1, 1, 4096) == 16  # one long sequence: 4096 / 256-token splits
    assert auto_num_splits(4, 8, 32768) == 16  # 512 programs / 32 (sequence, KV head) pairs
    assert auto_num_splits(1, 1, 10**7) == MAX_AUTO_SPLITS
    assert auto_num_splits(2, 2, 0) == 1


def test_lazy_export_from_the_package():
    import longctx.kv as kv

    assert kv.paged_decode is paged_decode
    assert kv.quantize_paged is quantize_paged
    with pytest.raises(AttributeError, match="nope"):
        kv.nope  # noqa: B018


# ----- GPU: real sizes, FlashAttention's 2x rule -----


def _gpu_case(B, ctx, H, H_kv, D, bs, dtype, seed):
    """Random lengths up to ``ctx`` (the last one exactly ctx) in a shuffled pool on the GPU."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    lens = torch.randint(1, ctx + 1, (B,), generator=gen, device="cuda")
    lens[-1] = ctx
    n_blocks = (lens + bs - 1) // bs
    num_blocks = int(n_blocks.sum())
    k_pool = torch.randn(num_blocks, bs, H_kv, D, generator=gen, device="cuda").to(dtype)
    v_pool = torch.randn(num_blocks, bs, H_kv, D, generator=gen, device="cuda").to(dtype)
    physical = torch.randperm(num_blocks, generator=gen, device="cuda").to(torch.int32)
    table = torch.zeros(B, int(n_blocks.max()), dtype=torch.int32, device="cuda")
    start = 0
    for b in range(B):
        n = int(n_blocks[b])
        table[b, :n] = physical[start : start + n]
        start += n
    q = torch.randn(B, H, D, generator=gen, device="cuda").to(dtype)
    return q, k_pool, v_pool, table, lens.to(torch.int32)


def _sequence_attention(q, k_pool, v_pool, table, lens, work):
    """Per sequence, gather K/V and run PyTorch SDPA in ``work`` dtype (float64: the exact answer)."""
    B, H, D = q.shape
    H_kv, bs = k_pool.shape[2], k_pool.shape[1]
    out = torch.empty(B, H, D, dtype=work, device=q.device)
    for b in range(B):
        S = int(lens[b])
        blocks = table[b, : (S + bs - 1) // bs].long()
        k = k_pool[blocks].reshape(-1, H_kv, D)[:S].transpose(0, 1).to(work)  # [H_kv, S, D]
        v = v_pool[blocks].reshape(-1, H_kv, D)[:S].transpose(0, 1).to(work)
        k, v = k.repeat_interleave(H // H_kv, 0), v.repeat_interleave(H // H_kv, 0)  # [H, S, D]
        qb = q[b, None, :, None].to(work)  # [1, H, 1, D]
        out[b] = torch.nn.functional.scaled_dot_product_attention(qb, k[None], v[None])[0, :, 0]
    return out


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize(
    "B, ctx, H, H_kv, D, bs",
    [
        (64, 1024, 32, 8, 128, 16),
        (8, 4096, 16, 16, 64, 32),
        (2, 32768, 8, 1, 80, 16),
        (3, 8191, 12, 4, 40, 64),
    ],
    ids=lambda v: str(v),
)
def test_gpu_low_precision_error_within_twice_pytorchs(dtype, B, ctx, H, H_kv, D, bs):
    q, k_pool, v_pool, table, lens = _gpu_case(B, ctx, H, H_kv, D, bs, dtype, seed=B + ctx)
    exact = _sequence_attention(q, k_pool, v_pool, table, lens, torch.float64)
    theirs = (_sequence_attention(q, k_pool, v_pool, table, lens, dtype).double() - exact).abs().max().item()
    for num_splits in (None, 1, 7):
        ours = (
            (paged_decode(q, k_pool, v_pool, table, lens, num_splits=num_splits).double() - exact)
            .abs()
            .max()
            .item()
        )
        assert ours <= 2 * theirs + 1e-6, (
            f"splits={num_splits}: kernel error {ours:.3g} vs PyTorch's {theirs:.3g}"
        )


@pytest.mark.gpu
@pytest.mark.parametrize("k_axis", ["token", "channel"])
def test_gpu_int8_cache(k_axis):
    B, ctx, H, H_kv, D, bs = 16, 4096, 32, 8, 128, 16
    q, k_pool, v_pool, table, lens = _gpu_case(B, ctx, H, H_kv, D, bs, torch.float32, seed=5)
    kc, ks = quantize_paged(k_pool, k_axis)
    vc, vs = quantize_paged(v_pool, "token")
    k_deq = (kc.float() * (ks[..., None] if k_axis == "token" else ks)).to(torch.float16)
    v_deq = (vc.float() * vs[..., None]).to(torch.float16)
    q16 = q.half()
    exact = _sequence_attention(q16, k_deq.float(), v_deq.float(), table, lens, torch.float64)
    theirs = (
        (_sequence_attention(q16, k_deq, v_deq, table, lens, torch.float16).double() - exact)
        .abs()
        .max()
        .item()
    )
    out = paged_decode(q16, kc, vc, table, lens, k_scale=ks, v_scale=vs)
    # Against the exact attention of the dequantized cache (the rounding of the dequantized values
    # to fp16 is PyTorch's handicap, not ours: we dequantize in float32).
    exact32 = paged_decode_ref(q16, kc, vc, table, lens, k_scale=ks, v_scale=vs)
    ours = (out.double() - exact32).abs().max().item()
    assert ours <= 2 * theirs + 1e-6, f"kernel error {ours:.3g} vs PyTorch's {theirs:.3g}"


@pytest.mark.covered  # the only test that asks the reference for its lse
def test_reference_returns_the_lse_when_asked():
    torch.manual_seed(3)
    bs, H, H_kv, D = 4, 4, 2, 19
    k_pool = torch.randn(6, bs, H_kv, D)
    v_pool = torch.randn(6, bs, H_kv, D)
    q = torch.randn(2, H, D)
    table = torch.tensor([[5, 0, 3], [1, 2, 4]], dtype=torch.int32)
    lens = torch.tensor([9, 0], dtype=torch.int32)
    out, lse = paged_decode_ref(q, k_pool, v_pool, table, lens, return_lse=True)
    assert torch.equal(out, paged_decode_ref(q, k_pool, v_pool, table, lens))
    # sequence 0: its 9 tokens are pages 5, 0, 3 in that order, query head h reads KV head h // 2
    k = k_pool[[5, 0, 3]].reshape(-1, H_kv, D)[:9].repeat_interleave(2, dim=1).double()
    s = torch.einsum("hd,shd->hs", q[0].double(), k) / D**0.5
    torch.testing.assert_close(lse[0], torch.logsumexp(s, dim=-1), rtol=1e-12, atol=1e-12)
    assert torch.isneginf(lse[1]).all() and (out[1] == 0).all()
    with pytest.raises(TypeError, match="return_lse"):
        paged_decode_ref(q, k_pool, v_pool, table, lens, return_lse="yes")
