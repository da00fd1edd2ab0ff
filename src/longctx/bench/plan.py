"""What ``python -m longctx.bench`` measures: the sizes of a run, its shapes and the issue's goals.

Plain data, no ``torch``: the command reads it before anything imports a kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BENCHES",
    "DECODE_BLOCK_SIZE",
    "DECODE_HEADS",
    "DECODE_HEAD_DIM",
    "DECODE_KV_HEADS",
    "FULL",
    "GOALS",
    "QUICK",
    "Plan",
]

#: The GPU benchmarks ``--only`` can pick, in the order they run.
BENCHES = ("flash", "decode", "window", "linear", "scan")

#: Decode shapes: a Llama-3-8B-like layer (32 query heads sharing 8 KV heads, d = 128).
DECODE_HEADS, DECODE_KV_HEADS, DECODE_HEAD_DIM, DECODE_BLOCK_SIZE = 32, 8, 128, 16

#: Goals of the issue. Ratios are ours over SDPA's flash backend; ``decode_share`` is of the
#: measured copy bandwidth, on every fp16 row with batch >= ``decode_min_batch`` and context >=
#: ``decode_min_context``; the sliding window's time must grow at most as ``n^window_max_exponent``
#: (1 is linear; the fit is over n >= 4 x the window).
GOALS = {
    "forward_ratio": 1.0,
    "backward_ratio": 0.8,
    "head_dim": 128,
    "min_n": 4096,
    "decode_share": 0.75,
    "decode_min_batch": 32,
    "decode_min_context": 8192,
    "window_max_exponent": 1.1,
}


@dataclass(frozen=True)
class Plan:
    """Sizes and timing budget of one run.

    Attributes:
        flash_ns: sequence lengths of the flash benchmark.
        flash_shapes: ``(head dim, heads)`` pairs of the flash benchmark; ``heads * d`` is
            1024 in both defaults (16 heads of 64, 8 heads of 128).
        tokens_per_batch: ``B * n`` of the flash benchmark, kept constant: ``B = tokens // n``.
        decode_batches, decode_contexts: the decode grid (cached tokens per sequence).
        window_ns, window_left: the sliding-window benchmark: each query sees itself and the
            ``window_left`` keys before it.
        window_heads, window_dim: its heads and head dim (batch 1).
        linear_ns, linear_heads, linear_dim: the linear-attention benchmark (batch 1).
        scan_ns, scan_channels, scan_state: the selective-scan benchmark (batch 1): sequence
            lengths, channels D and state size N.
        dtype: ``"bf16"`` (or ``"fp16"``, ``"fp32"``) for flash, window, linear and scan (whose
            ``A``, ``D`` and bias stay float32, as Mamba keeps them); decode is fp16.
        warmup_ms, rep_ms: ``triton.testing.do_bench``'s budgets: milliseconds of untimed calls,
            then of timed calls (each after an L2 flush), whose median and quartiles are kept.
        cpu_ns: sequence lengths of the CPU memory table.
        matmul_size, copy_nbytes: the ceilings' bf16 ``[s, s] @ [s, s]`` matmul and copy size.
    """

    flash_ns: tuple[int, ...]
    decode_batches: tuple[int, ...]
    decode_contexts: tuple[int, ...]
    window_ns: tuple[int, ...]
    linear_ns: tuple[int, ...]
    cpu_ns: tuple[int, ...]
    flash_shapes: tuple[tuple[int, int], ...] = ((64, 16), (128, 8))
    tokens_per_batch: int = 16384
    window_left: int = 1024
    window_heads: int = 8
    window_dim: int = 128
    linear_heads: int = 16
    linear_dim: int = 64
    scan_ns: tuple[int, ...] = ()
    scan_channels: int = 2048
    scan_state: int = 16
    dtype: str = "bf16"
    warmup_ms: int = 25
    rep_ms: int = 100
    matmul_size: int = 8192
    copy_nbytes: int = 2**30

    def steps(self, only: tuple[str, ...] = BENCHES) -> int:
        """Progress steps of a GPU run of the benchmarks ``only``: one per configuration, plus the ceilings."""
        per = {
            "flash": len(self.flash_shapes) * 2 * len(self.flash_ns),
            "decode": 2 * len(self.decode_batches) * len(self.decode_contexts),
            "window": len(self.window_ns),
            "linear": len(self.linear_ns),
            "scan": len(self.scan_ns),
        }
        return 1 + sum(per[b] for b in only)


#: The default run. Budget on one H100: ``do_bench`` spends ``warmup_ms + rep_ms`` (an eighth of a
#: second) per timed call, and there are about 200 of them (flash 40 x 2 implementations, decode 32,
#: window 6, linear 12, scan 6), so under a minute of timing; the rest is Triton compiling one
#: kernel per variant, seconds each. The slowest call is the PyTorch scan reference at L = 16k
#: (one Python step per position, about half a second), which do_bench runs a few times.
FULL = Plan(
    flash_ns=(1024, 2048, 4096, 8192, 16384),
    decode_batches=(1, 4, 16, 64),
    decode_contexts=(1024, 4096, 16384, 32768),
    window_ns=(2048, 4096, 8192, 16384, 32768, 65536),
    linear_ns=(1024, 2048, 4096, 8192, 16384, 32768),
    scan_ns=(1024, 4096, 16384),
    cpu_ns=(256, 512, 1024, 2048, 4096),
)

#: ``--quick``: fewer sizes, still reaching every goal's region (d = 128 at n >= 4k; a large decode).
QUICK = Plan(
    flash_ns=(2048, 8192),
    decode_batches=(1, 64),
    decode_contexts=(4096, 32768),
    window_ns=(4096, 16384, 65536),
    linear_ns=(2048, 8192, 32768),
    scan_ns=(2048, 8192),
    cpu_ns=(128, 256, 512, 1024),
    warmup_ms=10,
    rep_ms=50,
)
