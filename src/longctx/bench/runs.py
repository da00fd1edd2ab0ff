"""The GPU benchmarks of ``python -m longctx.bench``: ceilings, flash, decode, window, linear, scan.

Each ``bench_*`` function takes a :class:`Run` (the plan, a timer, the measured ceilings, the
progress bar and the device) and returns :class:`~longctx.bench.report.Row` s. A configuration
that fails (a kernel missing or raising, memory running out) becomes a row with ``None`` values
and the error as its note. Every timed row records, in ``params["configs"]``, the launch
configuration each of our kernels ran with. The kernels are imported inside the functions, so
this module imports without them (and without a GPU).

Shapes (in ``plan.dtype``, bf16 by default, unless named):
    flash    q, k, v [B, H, n, d] with B * n = plan.tokens_per_batch, (d, H) from plan.flash_shapes
    decode   q [B, 32, 128] fp16; pools [num_blocks, 16, 8, 128] fp16 or int8 + float32 scales
             [num_blocks, 16, 8]; block_table [B, context / 16] int32; seq_lens [B] int32
    window   q, k, v [1, plan.window_heads, n, plan.window_dim], causal, window (left, 0)
    linear   q, k, v [1, plan.linear_heads, n, plan.linear_dim], causal
    scan     u, delta, z [1, plan.scan_channels, L]; B, C [1, plan.scan_state, L]; A [D, N], D and
             delta_bias [D] in float32 (Mamba's block: softplus on delta, skip term, silu gate)

FLOPs and bytes come from :mod:`longctx.costs`: a multiply-add is 2 FLOPs, the softmax is left
out, a causal mask halves the pairs, a backward pass counts 2.5 forwards (FlashAttention's
convention), and bytes are what a kernel must read or write at least once.
"""

from __future__ import annotations

import gc
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from longctx import costs, last_configs
from longctx.bench.plan import DECODE_BLOCK_SIZE, DECODE_HEAD_DIM, DECODE_HEADS, DECODE_KV_HEADS, Plan
from longctx.bench.report import Row, crossover, loglog_slope
from longctx.bench.timing import Timer, Timing, error_note, try_time

__all__ = [
    "Progress",
    "Run",
    "bench_decode",
    "bench_flash",
    "bench_linear",
    "bench_scan",
    "bench_window",
    "decode_inputs",
    "measure_ceilings",
]

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


class Progress(Protocol):
    """What the benchmarks need of a progress bar (``tqdm`` has both)."""

    def set_description(self, desc: str) -> None: ...

    def update(self, n: int = 1) -> object: ...


@dataclass
class Run:
    """One benchmark run: its plan, timer, the card's measured ceilings, progress bar and device.

    ``ceilings`` holds ``tflops`` (the bf16 matmul) and ``gbps`` (the copy), from
    :func:`measure_ceilings`. ``device`` is ``"cuda"`` for a real run; the tests walk the code
    on ``"cpu"`` (kernels in Triton's interpreter, a wall-clock timer).
    """

    plan: Plan
    timer: Timer
    ceilings: dict[str, float]
    progress: Progress
    device: str = "cuda"

    def dtype(self, name: str | None = None):
        """The torch dtype of ``name`` (``"bf16"``, ``"fp16"``, ``"fp32"``); the plan's by default."""
        import torch

        return getattr(torch, _DTYPES[name or self.plan.dtype])

    def randn(self, *shape: int, dtype=None):
        import torch

        return torch.randn(*shape, device=self.device, dtype=dtype or self.dtype())

    def time(self, fn: Callable, *args, **kwargs) -> tuple[Timing | None, str]:
        """``(timing, "")`` of ``fn(*args, **kwargs)``, or ``(None, why)`` when it fails."""
        return try_time(partial(self.timer, partial(fn, *args, **kwargs)))

    def time_backward(self, forward: Callable, q, k, v) -> tuple[Timing | None, str]:
        """The same for the backward alone of ``forward(q, k, v)``: one forward keeps its graph,
        then each timed call is ``autograd.grad`` on it."""
        return try_time(partial(_time_backward, self.timer, forward, q, k, v))

    def free(self) -> None:
        """Release what the last configuration held, so the next one starts with the card's memory."""
        gc.collect()
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()


def _ours(module: str, name: str) -> tuple[Callable | None, str]:
    """``(module.name, "")``, or ``(None, note)`` when the kernel cannot be imported (no Triton)."""
    try:
        return getattr(importlib.import_module(module), name), ""
    except ImportError as exc:
        return None, f"ours unavailable: {error_note(exc)}"


def _configs(prefix: str) -> dict[str, str]:
    """The launch configuration each kernel named ``prefix*`` last ran with (the timed call's).

    Read from the kernel modules' record of their launches; empty where there is none.
    """
    try:
        configs = last_configs()
    except ImportError:  # no Triton: no kernel ran
        return {}
    return {
        name: f"{cfg.describe()} warps={cfg.num_warps} stages={cfg.num_stages}"
        for name, cfg in sorted(configs.items())
        if name.startswith(prefix)
    }


def _ms(t: Timing | None) -> float | None:
    return None if t is None else t.median * 1e3


def _spread(t: Timing | None) -> list[float] | None:
    """``[q20, q80]`` in ms: how much the timed repeats varied."""
    return None if t is None else [t.q20 * 1e3, t.q80 * 1e3]


def measure_ceilings(run: Run) -> list[Row]:
    """The card's measured ceilings: a bf16 ``[s, s] @ [s, s]`` matmul and a device-to-device copy."""
    import torch

    s, nbytes = run.plan.matmul_size, run.plan.copy_nbytes
    a, b = run.randn(s, s, dtype=torch.bfloat16), run.randn(s, s, dtype=torch.bfloat16)
    t = run.timer(partial(torch.matmul, a, b))
    rows = [
        Row(
            "ceiling",
            {"kind": "matmul", "dtype": "bf16", "m": s, "n": s, "k": s},
            {"ms": _ms(t), "tflops": costs.matmul_flops(s, s, s) / t.median / 1e12},
        )
    ]
    del a, b
    src = torch.ones(nbytes, device=run.device, dtype=torch.uint8)
    dst = torch.empty_like(src)
    t = run.timer(partial(dst.copy_, src))
    rows.append(
        Row(
            "ceiling",
            {"kind": "copy", "nbytes": nbytes},
            {"ms": _ms(t), "gbps": costs.copy_bytes(nbytes) / t.median / 1e9},
        )
    )
    del src, dst
    run.free()
    return rows


def _sdpa(run: Run, causal: bool):
    """SDPA pinned to its FlashAttention backend where that exists; returns ``(fn, backend note)``."""
    import torch.nn.functional as F

    def default(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError as exc:
        return default, f"default backend (sdpa_kernel unavailable: {exc})"

    def flash_only(q, k, v):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    probe = run.randn(1, 1, 128, 64)
    try:
        flash_only(probe, probe, probe)
    except RuntimeError as exc:
        return default, f"default backend (flash backend refused: {error_note(exc)})"
    return flash_only, "flash"


def _time_backward(timer: Timer, forward: Callable, q, k, v) -> Timing:
    import torch

    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = forward(q, k, v)
    return timer(partial(torch.autograd.grad, out, (q, k, v), torch.randn_like(out), retain_graph=True))


def bench_flash(run: Run) -> list[Row]:
    """FlashAttention (ours) forward and backward against SDPA's flash backend, in ``plan.dtype``.

    ``B * n = plan.tokens_per_batch``; ``(d, H)`` from ``plan.flash_shapes``. Two rows per
    configuration (``pass`` forward and backward) with times, TFLOP/s, the ratio ours/SDPA
    (SDPA's time over ours) and ours as a share of the measured matmul ceiling.
    """
    flash_attention, missing = _ours("longctx.flash", "flash_attention")
    plan, rows = run.plan, []
    for d, heads in plan.flash_shapes:
        for causal in (False, True):
            sdpa, backend = _sdpa(run, causal)
            ours = None if flash_attention is None else partial(flash_attention, causal=causal)
            for n in plan.flash_ns:
                batch = max(1, plan.tokens_per_batch // n)
                run.progress.set_description(f"flash n={n} d={d} {'causal' if causal else 'full'}")
                q, k, v = (run.randn(batch, heads, n, d) for _ in range(3))
                for pass_ in ("forward", "backward"):
                    rows.append(_flash_row(run, pass_, ours, sdpa, q, k, v, causal, backend, missing))
                del q, k, v
                run.progress.update()
    run.free()
    return rows


def _flash_row(run: Run, pass_: str, ours, sdpa, q, k, v, causal: bool, backend: str, missing: str) -> Row:
    """One flash row: ours and SDPA timed on the same tensors, for one pass."""
    batch, heads, n, d = q.shape
    count = costs.attention_backward_flops if pass_ == "backward" else costs.attention_flops
    flops = batch * count(n, d, heads=heads, causal=causal)
    times, notes, configs = {}, [missing] if missing else [], {}
    for who, fn in (("ours", ours), ("sdpa", sdpa)):
        times[who] = None
        if fn is not None:
            times[who], note = run.time(fn, q, k, v) if pass_ == "forward" else run.time_backward(fn, q, k, v)
            notes += [f"{who}: {note}"] if note else []
        if who == "ours" and times[who] is not None:
            configs = _configs("_flash_fwd" if pass_ == "forward" else "_flash")
    t_ours, t_sdpa = times["ours"], times["sdpa"]
    ours_tf = None if t_ours is None else flops / t_ours.median / 1e12
    params = {
        "pass": pass_,
        "n": n,
        "d": d,
        "causal": causal,
        "batch": batch,
        "heads": heads,
        "dtype": run.plan.dtype,
        "sdpa_backend": backend,
        "configs": configs,
    }
    return Row(
        "flash",
        params,
        {
            "flops": flops,
            "ours_ms": _ms(t_ours),
            "ours_ms_q20_q80": _spread(t_ours),
            "ours_tflops": ours_tf,
            "sdpa_ms": _ms(t_sdpa),
            "sdpa_ms_q20_q80": _spread(t_sdpa),
            "sdpa_tflops": None if t_sdpa is None else flops / t_sdpa.median / 1e12,
            "ratio": None if t_ours is None or t_sdpa is None else t_sdpa.median / t_ours.median,
            "share_of_matmul": None if ours_tf is None else ours_tf / run.ceilings["tflops"],
        },
        "; ".join(notes),
    )


def decode_inputs(run: Run, batch: int, context: int, cache: str):
    """Random paged-decode inputs with pages scattered over a pool sized exactly for them.

    Returns ``(q, k_cache, v_cache, block_table, seq_lens, k_scale, v_scale)``:
    ``q [batch, H, D]`` fp16; caches ``[num_blocks, block_size, H_kv, D]`` fp16, or int8 codes
    with float32 scales ``[num_blocks, block_size, H_kv]`` (one per token and KV head);
    ``block_table [batch, blocks_per_seq]`` int32 (a random permutation of the pool);
    ``seq_lens [batch]`` int32.
    """
    import torch

    per_seq = math.ceil(context / DECODE_BLOCK_SIZE)
    num_blocks = batch * per_seq
    shape = (num_blocks, DECODE_BLOCK_SIZE, DECODE_KV_HEADS, DECODE_HEAD_DIM)
    q = run.randn(batch, DECODE_HEADS, DECODE_HEAD_DIM, dtype=torch.float16)
    if cache == "fp16":
        k_cache, v_cache = (run.randn(*shape, dtype=torch.float16) for _ in range(2))
        k_scale = v_scale = None
    else:
        k_cache, v_cache = (
            torch.randint(-127, 128, shape, device=run.device, dtype=torch.int8) for _ in range(2)
        )
        k_scale, v_scale = (torch.rand(shape[:3], device=run.device) * 0.02 + 1e-3 for _ in range(2))
    block_table = torch.randperm(num_blocks, device=run.device, dtype=torch.int32).reshape(batch, per_seq)
    seq_lens = torch.full((batch,), context, device=run.device, dtype=torch.int32)
    return q, k_cache, v_cache, block_table, seq_lens, k_scale, v_scale


def bench_decode(run: Run) -> list[Row]:
    """Paged decode (one new token per sequence) in GB/s against the measured copy bandwidth.

    Two times per configuration, both through the public API: ``us``, the kernels alone
    (``plan_paged_decode(...).run``: the inputs are checked once, outside the timing), from which
    GB/s and the share of the copy bandwidth come; and ``api_us``, the whole ``paged_decode`` call
    with its checks (one small copy to the host). Bytes come from
    :func:`longctx.costs.paged_decode_bytes`, checked against the tensors' own sizes.
    """
    paged_decode, missing = _ours("longctx.kv.paged_kernel", "paged_decode")
    plan = run.plan
    if paged_decode is None:
        rows = [
            Row("decode", {"batch": b, "context": c, "cache": cache}, {}, missing)
            for cache in ("fp16", "int8")
            for b in plan.decode_batches
            for c in plan.decode_contexts
        ]
        run.progress.update(len(rows))
        return rows
    rows = []
    for cache in ("fp16", "int8"):
        for batch in plan.decode_batches:
            for context in plan.decode_contexts:
                run.progress.set_description(f"decode {cache} batch={batch} context={context}")
                rows.append(_decode_row(run, paged_decode, batch, context, cache))
                run.progress.update()
    run.free()
    return rows


def _decode_row(run: Run, paged_decode: Callable, batch: int, context: int, cache: str) -> Row:
    params: dict[str, Any] = {
        "batch": batch,
        "context": context,
        "cache": cache,
        "heads": DECODE_HEADS,
        "kv_heads": DECODE_KV_HEADS,
        "head_dim": DECODE_HEAD_DIM,
        "block_size": DECODE_BLOCK_SIZE,
        "io_dtype": "fp16",
        "scales": None if cache == "fp16" else "float32, one per token and KV head",
    }
    nbytes = costs.paged_decode_bytes(
        batch,
        context,
        heads=DECODE_HEADS,
        kv_heads=DECODE_KV_HEADS,
        head_dim=DECODE_HEAD_DIM,
        cache_bytes=2 if cache == "fp16" else 1,
        scale_bytes=0 if cache == "fp16" else 4,
        block_size=DECODE_BLOCK_SIZE,
    )
    q, kc, vc, table, lens, ks, vs = decode_inputs(run, batch, context, cache)
    touched = [q, q, kc, vc, table, lens] + [s for s in (ks, vs) if s is not None]  # q twice: out
    if sum(t.numel() * t.element_size() for t in touched) != nbytes:
        raise AssertionError(f"costs.paged_decode_bytes disagrees with the tensors' sizes at {params}")
    kwargs = {} if ks is None else {"k_scale": ks, "v_scale": vs}
    t_api, note = run.time(paged_decode, q, kc, vc, table, lens, **kwargs)
    notes = [f"paged_decode: {note}"] if note else []
    plan, why = _plan_decode(q, kc, vc, table, lens, kwargs)
    t, note = run.time(plan.run) if plan is not None else (None, why)
    notes += [f"kernels alone not timed ({note})"] if note else []
    params["configs"] = _configs("_paged") if t is not None else {}
    gbps = None if t is None else nbytes / t.median / 1e9
    return Row(
        "decode",
        params,
        {
            "bytes": nbytes,
            "us": None if t is None else t.median * 1e6,
            "ms_q20_q80": _spread(t),
            "api_us": None if t_api is None else t_api.median * 1e6,
            "gbps": gbps,
            "share_of_copy": None if gbps is None else gbps / run.ceilings["gbps"],
        },
        "; ".join(notes),
    )


def _plan_decode(q, kc, vc, table, lens, kwargs: dict) -> tuple[Any, str]:
    """``(plan_paged_decode(...), "")``: the call with its checks done, or ``(None, why)``."""
    try:
        from longctx.kv.paged_kernel import plan_paged_decode

        return plan_paged_decode(q, kc, vc, table, lens, **kwargs), ""
    except Exception as exc:  # noqa: BLE001 - recorded in the row's note
        return None, error_note(exc)


def bench_window(run: Run) -> list[Row]:
    """Causal sliding window (``window=(left, 0)``) at a fixed ``left`` as ``n`` grows, batch 1.

    The time per token should be flat once ``n`` is well past the window; the summary row
    fits the exponent of ``time ~ n^p`` over ``n >= 4 * left`` (1 means linear).
    """
    plan = run.plan
    left, heads, d = plan.window_left, plan.window_heads, plan.window_dim
    flash_attention, missing = _ours("longctx.flash", "flash_attention")
    if flash_attention is None:
        rows = [Row("window", {"n": n, "left": left}, {}, missing) for n in plan.window_ns]
        run.progress.update(len(rows))
        return rows
    rows = []
    for n in plan.window_ns:
        run.progress.set_description(f"window n={n} left={left}")
        flops = costs.sliding_window_flops(n, d, left, heads=heads)  # the two matmuls, on the kept pairs only
        q, k, v = (run.randn(1, heads, n, d) for _ in range(3))
        t, note = run.time(flash_attention, q, k, v, causal=True, window=(left, 0))
        del q, k, v
        tflops = None if t is None else flops / t.median / 1e12
        params = {
            "n": n,
            "left": left,
            "heads": heads,
            "d": d,
            "batch": 1,
            "dtype": plan.dtype,
            "configs": _configs("_flash_fwd") if t is not None else {},
        }
        rows.append(
            Row(
                "window",
                params,
                {
                    "flops": flops,
                    "ms": _ms(t),
                    "ms_q20_q80": _spread(t),
                    "ns_per_token": None if t is None else t.median / n * 1e9,
                    "tflops": tflops,
                    "share_of_matmul": None if tflops is None else tflops / run.ceilings["tflops"],
                },
                note,
            )
        )
        run.progress.update()
    fit = [(r.params["n"], r.metrics["ms"]) for r in rows if r.params["n"] >= 4 * left and r.metrics["ms"]]
    slope = loglog_slope(*zip(*fit)) if len(fit) >= 2 else None
    rows.append(
        Row(
            "window_fit",
            {"left": left, "fit_ns": [n for n, _ in fit]},
            {"exponent": slope},
            "" if slope is not None else "fewer than two sizes with n >= 4 * left measured",
        )
    )
    run.free()
    return rows


def bench_linear(run: Run) -> list[Row]:
    """Chunked linear attention (causal, elu+1) against causal SDPA flash as ``n`` grows, batch 1.

    Forward only. The last row names the crossover: the smallest ``n`` from which linear
    attention is faster at every larger ``n`` measured (:func:`~longctx.bench.report.crossover`).
    """
    plan = run.plan
    heads, d = plan.linear_heads, plan.linear_dim
    linear_attention, missing = _ours("longctx.linear", "linear_attention")
    sdpa, backend = _sdpa(run, True)
    rows = []
    for n in plan.linear_ns:
        run.progress.set_description(f"linear n={n}")
        q, k, v = (run.randn(1, heads, n, d) for _ in range(3))
        notes, t_lin, configs = [missing] if missing else [], None, {}
        if linear_attention is not None:
            t_lin, note = run.time(linear_attention, q, k, v, causal=True)
            notes += [f"linear: {note}"] if note else []
            configs = _configs("_linear") if t_lin is not None else {}
        t_sdpa, note = run.time(sdpa, q, k, v)
        notes += [f"sdpa: {note}"] if note else []
        del q, k, v
        rows.append(
            Row(
                "linear",
                {
                    "n": n,
                    "heads": heads,
                    "d": d,
                    "batch": 1,
                    "dtype": plan.dtype,
                    "causal": True,
                    "feature_map": "elu",
                    "chunk_size": 64,
                    "sdpa_backend": backend,
                    "configs": configs,
                },
                {
                    "linear_ms": _ms(t_lin),
                    "linear_ms_q20_q80": _spread(t_lin),
                    "sdpa_ms": _ms(t_sdpa),
                    "sdpa_ms_q20_q80": _spread(t_sdpa),
                    "sdpa_over_linear": None
                    if t_lin is None or t_sdpa is None
                    else t_sdpa.median / t_lin.median,
                },
                "; ".join(notes),
            )
        )
        run.progress.update()
    ns = [r.params["n"] for r in rows]
    where = crossover(ns, [r.metrics["linear_ms"] for r in rows], [r.metrics["sdpa_ms"] for r in rows])
    rows.append(
        Row(
            "linear_crossover",
            {"ns": ns},
            {"n": where},
            "" if where is not None else "linear attention is not faster at the largest n measured",
        )
    )
    run.free()
    return rows


def bench_scan(run: Run) -> list[Row]:
    """The selective-scan kernel against ``selective_scan_ref`` as ``L`` grows, batch 1.

    The reference is what the same computation costs in plain PyTorch: it materialises the
    ``[B, D, L, N]`` discretised tensors and steps through L in Python. The kernel's bandwidth
    (:func:`longctx.costs.selective_scan_bytes` over its time) is shown beside the measured copy
    bandwidth: it reads one position per step, so it is expected to sit well below it.
    """
    import torch

    from longctx.ssm import selective_scan_ref

    plan = run.plan
    channels, state, dtype = plan.scan_channels, plan.scan_state, run.dtype()
    selective_scan_fn, missing = _ours("longctx.ssm", "selective_scan_fn")
    rows = []
    for n in plan.scan_ns:
        run.progress.set_description(f"scan L={n}")
        u, delta, z = (run.randn(1, channels, n) for _ in range(3))
        B, C = (run.randn(1, state, n) for _ in range(2))
        A = -torch.rand(channels, state, device=run.device) * 4 - 0.1
        D, bias = (run.randn(channels, dtype=torch.float32) for _ in range(2))
        args = (u, delta, A, B, C, D, z)
        notes, t_ours, configs = [missing] if missing else [], None, {}
        if selective_scan_fn is not None:
            t_ours, note = run.time(selective_scan_fn, *args, delta_bias=bias, delta_softplus=True)
            notes += [f"ours: {note}"] if note else []
            configs = _configs("_selective") if t_ours is not None else {}
        t_ref, note = run.time(selective_scan_ref, *args, delta_bias=bias, delta_softplus=True)
        notes += [f"reference: {note}"] if note else []
        del u, delta, z, B, C, A, D, bias, args
        nbytes = costs.selective_scan_bytes(1, channels, n, state, itemsize=dtype.itemsize)
        gbps = None if t_ours is None else nbytes / t_ours.median / 1e9
        rows.append(
            Row(
                "scan",
                {
                    "n": n,
                    "channels": channels,
                    "state": state,
                    "batch": 1,
                    "dtype": plan.dtype,
                    "configs": configs,
                },
                {
                    "bytes": nbytes,
                    "ours_ms": _ms(t_ours),
                    "ours_ms_q20_q80": _spread(t_ours),
                    "ref_ms": _ms(t_ref),
                    "ref_over_ours": None
                    if t_ours is None or t_ref is None
                    else t_ref.median / t_ours.median,
                    "ns_per_position": None if t_ours is None else t_ours.median / n * 1e9,
                    "gbps": gbps,
                    "share_of_copy": None if gbps is None else gbps / run.ceilings["gbps"],
                },
                "; ".join(notes),
            )
        )
        run.progress.update()
    run.free()
    return rows
