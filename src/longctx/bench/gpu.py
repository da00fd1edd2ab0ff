"""The GPU benchmarks of ``python -m longctx.bench``: ceilings, flash, decode, window, linear, scan.

Each ``bench_*`` function takes the run's :class:`~longctx.bench.harness.Plan`, a clock for
:func:`~longctx.bench.harness.time_median` (CUDA events), the measured ceilings and the progress
bar, and returns :class:`~longctx.bench.harness.Row` s. A configuration that fails (a kernel
missing or raising, memory running out) becomes a row with ``None`` values and the error as its
note: one failure must not end a six-minute run. The kernels are imported inside the
functions, so this module imports without them (and without a GPU).

Shapes (in ``plan.dtype``, bf16 by default, unless named):
    flash    q, k, v [B, H, n, d] with B * n = plan.tokens_per_batch, (d, H) from plan.flash_shapes
    decode   q [B, 32, 128] fp16; pools [num_blocks, 16, 8, 128] fp16 or int8 + float32 scales
             [num_blocks, 16, 8]; block_table [B, context / 16] int32; seq_lens [B] int32
    window   q, k, v [1, plan.window_heads, n, plan.window_dim], causal, window (left, 0)
    linear   q, k, v [1, plan.linear_heads, n, plan.linear_dim], causal
    scan     u, delta, z [1, plan.scan_channels, L]; B, C [1, plan.scan_state, L]; A [D, N], D and
             delta_bias [D] in float32 (Mamba's block: softplus on delta, skip term, silu gate)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from longctx import costs
from longctx.bench.harness import (
    DECODE_BLOCK_SIZE,
    DECODE_HEAD_DIM,
    DECODE_HEADS,
    DECODE_KV_HEADS,
    Plan,
    ProgressBar,
    Row,
    _f,
    _pct,
    attention_pass_flops,
    copy_bytes,
    crossover,
    decode_bytes,
    format_table,
    loglog_slope,
    matmul_flops,
    time_median,
)

__all__ = ["bench_decode", "bench_flash", "bench_linear", "bench_scan", "bench_window", "gpu_tables",
           "measure_ceilings", "scan_bytes"]

#: Where the benchmarks allocate. Always ``"cuda"`` for a real run; the tests set ``"cpu"`` to
#: walk the code with tiny sizes (kernels in Triton's interpreter, a fake clock).
DEVICE = "cuda"

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def _dtype(name: str):
    import torch

    return getattr(torch, _DTYPES[name])


def _error_note(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return text[:200]


def _ours(module: str, name: str) -> tuple[Callable | None, str]:
    """``(module.name, "")``, or ``(None, note)`` when the kernel cannot be imported (no Triton)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name), ""
    except ImportError as exc:
        return None, f"ours unavailable: {_error_note(exc)}"


def _first(out):
    """The output tensor of a kernel that may also return extras (``(out, lse)``)."""
    return out[0] if isinstance(out, (tuple, list)) else out


def _free_cuda() -> None:
    import gc

    import torch

    gc.collect()
    if DEVICE == "cuda":
        torch.cuda.empty_cache()


def measure_ceilings(plan: Plan, clock, *, matmul_size: int = 8192, copy_nbytes: int = 2**30) -> list[Row]:
    """The card's measured ceilings: a bf16 ``[s, s] @ [s, s]`` matmul and a device-to-device copy."""
    import torch

    rows = []
    a = torch.randn(matmul_size, matmul_size, device=DEVICE, dtype=torch.bfloat16)
    b = torch.randn(matmul_size, matmul_size, device=DEVICE, dtype=torch.bfloat16)
    prime = _prime()
    t = time_median(lambda: a @ b, clock=clock, warmup=3, repeats=10, before=prime)
    flops = matmul_flops(matmul_size, matmul_size, matmul_size)
    rows.append(Row("ceiling", {"kind": "matmul", "dtype": "bf16", "m": matmul_size, "n": matmul_size,
                                "k": matmul_size}, {"ms": t * 1e3, "tflops": flops / t / 1e12}))
    del a, b
    src = torch.empty(copy_nbytes, device=DEVICE, dtype=torch.uint8).fill_(1)
    dst = torch.empty_like(src)
    t = time_median(lambda: dst.copy_(src), clock=clock, warmup=3, repeats=10, before=prime)
    rows.append(Row("ceiling", {"kind": "copy", "nbytes": copy_nbytes},
                    {"ms": t * 1e3, "gbps": copy_bytes(copy_nbytes) / t / 1e9}))
    del src, dst, prime
    _free_cuda()
    return rows


def _sdpa(causal: bool, dtype):
    """SDPA pinned to its FlashAttention backend where that exists; returns ``(fn, backend note)``."""
    import torch
    import torch.nn.functional as F

    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError as exc:
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                f"default backend (sdpa_kernel unavailable: {exc})")

    def flash_only(q, k, v):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    probe = torch.randn(1, 1, 128, 64, device=DEVICE, dtype=dtype)
    try:
        flash_only(probe, probe, probe)
    except RuntimeError as exc:
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                f"default backend (flash backend refused: {_error_note(exc)})")
    return flash_only, "flash"


def _grad_fn(forward: Callable, q, k, v) -> Callable[[], object]:
    """Backward alone: one forward with a graph kept, then ``autograd.grad`` on it each call."""
    import torch

    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = _first(forward(q, k, v))
    dout = torch.randn_like(out)
    return lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True)


def _try_time(make: Callable[[], Callable[[], object]], plan: Plan, clock, **kwargs) -> tuple[float | None, str]:
    """``(median seconds, "")`` of the call ``make()`` builds, or ``(None, error)`` if building or timing fails.

    The call (and whatever it holds, such as an autograd graph) lives only inside this
    function, so its memory is free once the function returns.
    """
    try:
        seconds = time_median(make(), clock=clock, warmup=plan.warmup, repeats=plan.repeats, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one failed configuration must not end the run
        note = _error_note(exc)
    else:
        if seconds > 0:
            return seconds, ""
        note = f"measured {seconds} s: below the clock's resolution"
    _free_cuda()
    return None, note


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def bench_flash(plan: Plan, clock, ceilings: dict[str, float], progress: ProgressBar) -> list[Row]:
    """FlashAttention (ours) forward and backward against SDPA's flash backend, in ``plan.dtype``.

    ``B * n = plan.tokens_per_batch``; ``(d, H)`` from ``plan.flash_shapes``. Two rows per
    configuration (``pass`` forward and backward) with times, TFLOP/s, the ratio ours/SDPA
    (SDPA's time over ours) and ours as a share of the measured matmul ceiling.
    """
    import torch

    flash_attention, missing = _ours("longctx.flash", "flash_attention")
    rows = []
    dtype = _dtype(plan.dtype)
    prime = _prime()
    for d, heads in plan.flash_shapes:
        for causal in (False, True):
            sdpa, backend = _sdpa(causal, dtype)
            ours = None if flash_attention is None else (
                lambda q, k, v, c=causal: flash_attention(q, k, v, causal=c))
            for n in plan.flash_ns:
                batch = max(1, plan.tokens_per_batch // n)
                progress.show(f"flash n={n} d={d} {'causal' if causal else 'full'}")
                q, k, v = (torch.randn(batch, heads, n, d, device=DEVICE, dtype=dtype) for _ in range(3))
                for pass_ in ("forward", "backward"):
                    flops = attention_pass_flops(n, d, batch=batch, heads=heads, causal=causal,
                                                 backward=pass_ == "backward")
                    times, notes = {}, [missing] if missing else []
                    for who, fn in (("ours", ours), ("sdpa", sdpa)):
                        if fn is None:
                            times[who] = None
                            continue
                        if pass_ == "forward":
                            times[who], note = _try_time(lambda fn=fn: lambda: fn(q, k, v), plan, clock,
                                                         before=prime)
                        else:
                            times[who], note = _try_time(lambda fn=fn: _grad_fn(fn, q, k, v), plan, clock,
                                                         before=prime)
                        if note:
                            notes.append(f"{who}: {note}")
                    t_ours, t_sdpa = times["ours"], times["sdpa"]
                    ours_tf = None if t_ours is None else flops / t_ours / 1e12
                    rows.append(Row("flash", {"pass": pass_, "n": n, "d": d, "causal": causal, "batch": batch,
                                              "heads": heads, "dtype": plan.dtype, "sdpa_backend": backend}, {
                        "flops": flops,
                        "ours_ms": _ms(t_ours),
                        "ours_tflops": ours_tf,
                        "sdpa_ms": _ms(t_sdpa),
                        "sdpa_tflops": None if t_sdpa is None else flops / t_sdpa / 1e12,
                        "ratio": None if t_ours is None or t_sdpa is None else t_sdpa / t_ours,
                        "share_of_matmul": None if ours_tf is None else ours_tf / ceilings["tflops"],
                    }, "; ".join(notes)))
                del q, k, v
                progress.advance()
    _free_cuda()
    return rows


def _decode_inputs(batch: int, context: int, cache: str):
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
    q = torch.randn(batch, DECODE_HEADS, DECODE_HEAD_DIM, device=DEVICE, dtype=torch.float16)
    if cache == "fp16":
        k_cache, v_cache = (torch.randn(shape, device=DEVICE, dtype=torch.float16) for _ in range(2))
        k_scale = v_scale = None
    else:
        k_cache, v_cache = (torch.randint(-127, 128, shape, device=DEVICE, dtype=torch.int8) for _ in range(2))
        k_scale, v_scale = (torch.rand(shape[:3], device=DEVICE, dtype=torch.float32) * 0.02 + 1e-3
                            for _ in range(2))
    block_table = torch.randperm(num_blocks, device=DEVICE, dtype=torch.int32).reshape(batch, per_seq)
    seq_lens = torch.full((batch,), context, device=DEVICE, dtype=torch.int32)
    return q, k_cache, v_cache, block_table, seq_lens, k_scale, v_scale


#: GPU clock cycles the spin before each timed call lasts: about 1 ms at 1.5-2 GHz.
SPIN_CYCLES = 2_000_000


def _prime() -> Callable[[], None]:
    """What runs, untimed, before every timed call: overwrite the L2 cache, then spin the GPU.

    * The overwrite (a buffer four times the L2 size) makes each call start cold, as
      ``triton.testing.do_bench`` does: a small KV cache cannot be served from L2.
    * The spin (``torch.cuda._sleep``, about 1 ms) keeps the GPU busy while the host queues
      the start event and the whole call, so launch overheads on the host (Python, autograd,
      Triton's launcher) are hidden and the events time the GPU's work alone. A call that
      waits for the GPU inside (a host sync) still pays for the wait.
    """
    import torch

    if DEVICE == "cuda":
        l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0) or 64 * 2**20  # a guess if unsaid
    else:
        l2 = 2**20  # the tests' walk through the code on a CPU
    buf = torch.empty(4 * l2, device=DEVICE, dtype=torch.uint8)
    sleep = getattr(torch.cuda, "_sleep", None) if DEVICE == "cuda" else None

    def prime() -> None:
        buf.zero_()
        if sleep is not None:
            sleep(SPIN_CYCLES)

    return prime


def _kernel_only_launch(q, kc, vc, table, lens, ks, vs) -> Callable[[], object]:
    """The decode kernels alone: the inputs are validated once here, not on every call.

    ``paged_decode`` checks its lengths and block ids on every call with a device-to-host
    copy, which stalls the GPU between the timing events (tens of microseconds, a large share
    of a sub-millisecond decode). This binds the kernel module's own launcher to inputs already
    checked. Raises (AttributeError, TypeError) where the module's launcher is not the one
    expected; the caller then falls back to the public call's time.
    """
    import longctx.kv.paged_kernel as pk

    scale, k_mode, v_mode, max_len = pk._check_inputs(q, kc, vc, table, lens, None, ks, vs, None)
    splits = pk.auto_num_splits(q.shape[0], kc.shape[2], max_len)
    return lambda: pk._launch(q, kc, vc, table, lens, scale, ks, vs, k_mode, v_mode, splits)


def bench_decode(plan: Plan, clock, ceilings: dict[str, float], progress: ProgressBar) -> list[Row]:
    """Paged decode (one new token per sequence) in GB/s against the measured copy bandwidth.

    Bytes from :func:`decode_bytes` (checked against the tensors' own sizes). The L2 cache is
    flushed before every timed call (:func:`_prime`), so a small cache cannot be served from
    L2. Two times per configuration: ``us``, the kernels alone (inputs checked once, outside the timing), from
    which GB/s and the share of the copy bandwidth come; and ``api_us``, the public
    ``paged_decode`` call with its per-call checks (``params["timed"]`` says which time the
    GB/s come from, should the kernel alone fail to run).
    """
    paged_decode, missing = _ours("longctx.kv", "paged_decode")
    if paged_decode is None:
        rows = [Row("decode", {"batch": b, "context": c, "cache": cache}, {}, missing)
                for cache in ("fp16", "int8") for b in plan.decode_batches for c in plan.decode_contexts]
        progress.advance(steps=len(rows))
        return rows
    prime = _prime()
    rows = []
    for cache in ("fp16", "int8"):
        for batch in plan.decode_batches:
            for context in plan.decode_contexts:
                progress.show(f"decode {cache} batch={batch} context={context}")
                params = {"batch": batch, "context": context, "cache": cache, "heads": DECODE_HEADS,
                          "kv_heads": DECODE_KV_HEADS, "head_dim": DECODE_HEAD_DIM,
                          "block_size": DECODE_BLOCK_SIZE, "io_dtype": "fp16",
                          "scales": None if cache == "fp16" else "float32, one per token and KV head"}
                nbytes = decode_bytes(batch, context, heads=DECODE_HEADS, kv_heads=DECODE_KV_HEADS,
                                      head_dim=DECODE_HEAD_DIM, cache_bytes=2 if cache == "fp16" else 1,
                                      scale_bytes=0 if cache == "fp16" else 4)
                q, kc, vc, table, lens, ks, vs = _decode_inputs(batch, context, cache)
                touched = [q, q, kc, vc, table, lens] + [s for s in (ks, vs) if s is not None]  # q twice: out
                if sum(t.numel() * t.element_size() for t in touched) != nbytes:
                    raise AssertionError(f"decode_bytes disagrees with the tensors' sizes at {params}")
                kwargs = {} if ks is None else {"k_scale": ks, "v_scale": vs}
                notes = []
                t_api, note = _try_time(lambda: lambda: paged_decode(q, kc, vc, table, lens, **kwargs), plan, clock,
                                        before=prime)
                notes += [f"paged_decode: {note}"] if note else []
                t_kernel, note = _try_time(lambda: _kernel_only_launch(q, kc, vc, table, lens, ks, vs), plan, clock,
                                           before=prime)
                notes += [f"kernel alone not timed ({note}): GB/s from the API time"] if note and t_api else []
                del q, kc, vc, table, lens, ks, vs, touched, kwargs
                t = t_kernel if t_kernel is not None else t_api
                gbps = None if t is None else nbytes / t / 1e9
                params["timed"] = "kernel" if t_kernel is not None else "paged_decode" if t_api is not None else None
                metrics = {"bytes": nbytes, "us": None if t is None else t * 1e6,
                           "api_us": None if t_api is None else t_api * 1e6, "gbps": gbps,
                           "share_of_copy": None if gbps is None else gbps / ceilings["gbps"]}
                rows.append(Row("decode", params, metrics, "; ".join(notes)))
                progress.advance()
    del prime
    _free_cuda()
    return rows


def bench_window(plan: Plan, clock, ceilings: dict[str, float], progress: ProgressBar) -> list[Row]:
    """Causal sliding window (``window=(left, 0)``) at a fixed ``left`` as ``n`` grows, batch 1.

    The time per token should be flat once ``n`` is well past the window; the summary row
    fits the exponent of ``time ~ n^p`` over ``n >= 4 * left`` (1 means linear).
    """
    import torch

    left, heads, d, dtype = plan.window_left, plan.window_heads, plan.window_dim, _dtype(plan.dtype)
    flash_attention, missing = _ours("longctx.flash", "flash_attention")
    if flash_attention is None:
        rows = [Row("window", {"n": n, "left": left}, {}, missing) for n in plan.window_ns]
        progress.advance(steps=len(rows))
        return rows
    rows = []
    prime = _prime()
    for n in plan.window_ns:
        progress.show(f"window n={n} left={left}")
        flops = costs.sliding_window_flops(n, d, left, heads=heads)  # the two matmuls, on the kept pairs only
        q, k, v = (torch.randn(1, heads, n, d, device=DEVICE, dtype=dtype) for _ in range(3))
        t, note = _try_time(lambda: lambda: flash_attention(q, k, v, causal=True, window=(left, 0)), plan, clock,
                            before=prime)
        del q, k, v
        tflops = None if t is None else flops / t / 1e12
        params = {"n": n, "left": left, "heads": heads, "d": d, "batch": 1, "dtype": plan.dtype}
        rows.append(Row("window", params, {
            "flops": flops, "ms": _ms(t), "ns_per_token": None if t is None else t / n * 1e9, "tflops": tflops,
            "share_of_matmul": None if tflops is None else tflops / ceilings["tflops"]}, note))
        progress.advance()
    fit = [(r.params["n"], r.metrics["ms"]) for r in rows if r.params["n"] >= 4 * left and r.metrics["ms"]]
    slope = loglog_slope(*zip(*fit)) if len(fit) >= 2 else None
    rows.append(Row("window_fit", {"left": left, "fit_ns": [n for n, _ in fit]}, {"exponent": slope},
                    "" if slope is not None else "fewer than two sizes with n >= 4 * left measured"))
    _free_cuda()
    return rows


def bench_linear(plan: Plan, clock, ceilings: dict[str, float], progress: ProgressBar) -> list[Row]:
    """Chunked linear attention (causal, elu+1) against causal SDPA flash as ``n`` grows, batch 1.

    Forward only. The last row names the crossover: the smallest ``n`` from which linear
    attention is faster at every larger ``n`` measured (:func:`~longctx.bench.harness.crossover`).
    """
    import torch

    heads, d, dtype = plan.linear_heads, plan.linear_dim, _dtype(plan.dtype)
    linear_attention, missing = _ours("longctx.linear", "linear_attention")
    sdpa, backend = _sdpa(True, dtype)
    prime = _prime()
    rows = []
    for n in plan.linear_ns:
        progress.show(f"linear n={n}")
        q, k, v = (torch.randn(1, heads, n, d, device=DEVICE, dtype=dtype) for _ in range(3))
        notes = [missing] if missing else []
        t_lin = None
        if linear_attention is not None:
            t_lin, note = _try_time(lambda: lambda: linear_attention(q, k, v, causal=True), plan, clock,
                                    before=prime)
            notes += [f"linear: {note}"] if note else []
        t_sdpa, note = _try_time(lambda: lambda: sdpa(q, k, v), plan, clock, before=prime)
        notes += [f"sdpa: {note}"] if note else []
        del q, k, v
        rows.append(Row("linear", {"n": n, "heads": heads, "d": d, "batch": 1, "dtype": plan.dtype, "causal": True,
                                   "feature_map": "elu", "chunk_size": 64, "sdpa_backend": backend}, {
            "linear_ms": _ms(t_lin),
            "sdpa_ms": _ms(t_sdpa),
            "sdpa_over_linear": None if t_lin is None or t_sdpa is None else t_sdpa / t_lin,
        }, "; ".join(notes)))
        progress.advance()
    ns = [r.params["n"] for r in rows]
    where = crossover(ns, [r.metrics["linear_ms"] for r in rows], [r.metrics["sdpa_ms"] for r in rows])
    rows.append(Row("linear_crossover", {"ns": ns}, {"n": where},
                    "" if where is not None else "linear attention is not faster at the largest n measured"))
    _free_cuda()
    return rows


def scan_bytes(batch: int, channels: int, length: int, state: int, itemsize: int) -> int:
    """Bytes a selective scan must move at least: read u, delta, z, B, C, write out, in ``itemsize``;
    read A ``[D, N]``, D and delta_bias ``[D]`` in float32."""
    return itemsize * batch * length * (4 * channels + 2 * state) + 4 * channels * (state + 2)


def bench_scan(plan: Plan, clock, ceilings: dict[str, float], progress: ProgressBar) -> list[Row]:
    """The selective-scan kernel against ``selective_scan_ref`` as ``L`` grows, batch 1.

    The reference is what the same computation costs in plain PyTorch: it materialises the
    ``[B, D, L, N]`` discretised tensors and steps through L in Python. The kernel's bandwidth
    (:func:`scan_bytes` over its time) is shown beside the measured copy bandwidth: it reads
    one position per step, so it is expected to sit well below it.
    """
    import torch

    channels, state, dtype = plan.scan_channels, plan.scan_state, _dtype(plan.dtype)
    selective_scan_fn, missing = _ours("longctx.ssm", "selective_scan_fn")
    from longctx.ssm import selective_scan_ref

    prime = _prime()
    rows = []
    for n in plan.scan_ns:
        progress.show(f"scan L={n}")
        u, delta, z = (torch.randn(1, channels, n, device=DEVICE, dtype=dtype) for _ in range(3))
        B, C = (torch.randn(1, state, n, device=DEVICE, dtype=dtype) for _ in range(2))
        A = -torch.rand(channels, state, device=DEVICE) * 4 - 0.1
        D, bias = (torch.randn(channels, device=DEVICE) for _ in range(2))
        args = (u, delta, A, B, C, D, z)
        notes = [missing] if missing else []
        t_ours = None
        if selective_scan_fn is not None:
            t_ours, note = _try_time(lambda: lambda: selective_scan_fn(*args, delta_bias=bias, delta_softplus=True),
                                     plan, clock, before=prime)
            notes += [f"ours: {note}"] if note else []
        t_ref, note = _try_time(lambda: lambda: selective_scan_ref(*args, delta_bias=bias, delta_softplus=True),
                                plan, clock, before=prime)
        notes += [f"reference: {note}"] if note else []
        del u, delta, z, B, C, A, D, bias, args
        nbytes = scan_bytes(1, channels, n, state, dtype.itemsize)
        gbps = None if t_ours is None else nbytes / t_ours / 1e9
        rows.append(Row("scan", {"n": n, "channels": channels, "state": state, "batch": 1, "dtype": plan.dtype}, {
            "bytes": nbytes, "ours_ms": _ms(t_ours), "ref_ms": _ms(t_ref),
            "ref_over_ours": None if t_ours is None or t_ref is None else t_ref / t_ours,
            "ns_per_position": None if t_ours is None else t_ours / n * 1e9,
            "gbps": gbps, "share_of_copy": None if gbps is None else gbps / ceilings["gbps"],
        }, "; ".join(notes)))
        progress.advance()
    _free_cuda()
    return rows


# ---------------------------------------------------------------- tables of the GPU rows


def gpu_tables(rows: Sequence[Row]) -> list[str]:
    """The GPU rows as printable tables, one per benchmark that ran."""
    by = {}
    for r in rows:
        by.setdefault(r.bench, []).append(r)
    out = []
    if "ceiling" in by:
        cells = [[r.params["kind"], _f(r.metrics["ms"], 3), _f(r.metrics.get("tflops"), 1),
                  _f(r.metrics.get("gbps"), 0)] for r in by["ceiling"]]
        out.append(format_table(["ceiling", "ms", "TFLOP/s", "GB/s"], cells, title=(
            "Measured ceilings: a bf16 matmul (2mnk FLOPs) and a device-to-device copy (bytes read + written)")))
    for pass_ in ("forward", "backward"):
        fl = [r for r in by.get("flash", []) if r.params["pass"] == pass_]
        if fl:
            cells = [[f"{r.params['n']:,}", r.params["d"], "yes" if r.params["causal"] else "no",
                      f"{r.params['batch']}x{r.params['heads']}", _f(r.metrics["ours_ms"], 3),
                      _f(r.metrics["ours_tflops"]), _f(r.metrics["sdpa_ms"], 3), _f(r.metrics["sdpa_tflops"]),
                      _f(r.metrics["ratio"], 2, "x"), _pct(r.metrics["share_of_matmul"]), r.note] for r in fl]
            extra = " (2.5x forward FLOPs)" if pass_ == "backward" else ""
            out.append(format_table(["n", "d", "causal", "BxH", "ours ms", "ours TFLOP/s", "SDPA ms",
                                     "SDPA TFLOP/s", "ours/SDPA", "of matmul", "note"], cells, title=(
                f"FlashAttention {pass_}{extra}, {fl[0].params['dtype']}, B*n = const, "
                f"SDPA backend: {fl[0].params['sdpa_backend']}")))
    if "decode" in by:
        cells = [[r.params["cache"], r.params["batch"], f"{r.params['context']:,}",
                  _f(r.metrics["bytes"] / 1e6 if r.metrics.get("bytes") else None, 1),
                  _f(r.metrics.get("us"), 1), _f(r.metrics.get("api_us"), 1), _f(r.metrics.get("gbps"), 0),
                  _pct(r.metrics.get("share_of_copy")), r.note] for r in by["decode"]]
        out.append(format_table(["cache", "batch", "context", "MB read+written", "kernel us", "API us", "GB/s",
                                 "of copy", "note"],
                                cells, title=(f"Paged decode, H={DECODE_HEADS}, H_kv={DECODE_KV_HEADS}, "
                                              f"d={DECODE_HEAD_DIM}, pages of {DECODE_BLOCK_SIZE}, L2 flushed")))
    if "window" in by:
        cells = [[f"{r.params['n']:,}", _f(r.metrics.get("ms"), 3), _f(r.metrics.get("ns_per_token"), 1),
                  _f(r.metrics.get("tflops")), _pct(r.metrics.get("share_of_matmul")), r.note] for r in by["window"]]
        fit = by.get("window_fit", [Row("window_fit", {}, {"exponent": None})])[0]
        left = by["window"][0].params["left"]
        out.append(format_table(["n", "ms", "ns/token", "TFLOP/s", "of matmul", "note"], cells, title=(
            f"Sliding window, causal, each query sees itself and {left} keys before; "
            f"time ~ n^p with p = {_f(fit.metrics['exponent'], 2) or 'unmeasured'} (1 is linear)")))
    if "linear" in by:
        cells = [[f"{r.params['n']:,}", _f(r.metrics["linear_ms"], 3), _f(r.metrics["sdpa_ms"], 3),
                  _f(r.metrics["sdpa_over_linear"], 2, "x"), r.note] for r in by["linear"]]
        cross = by.get("linear_crossover", [Row("linear_crossover", {}, {"n": None})])[0].metrics["n"]
        out.append(format_table(["n", "linear ms", "SDPA ms", "SDPA/linear", "note"], cells, title=(
            "Linear attention (chunked, elu+1, causal) against causal SDPA; linear is faster from n = "
            + (f"{cross:,}" if cross else "(not within the sizes measured)"))))
    if "scan" in by:
        first = by["scan"][0].params
        cells = [[f"{r.params['n']:,}", _f(r.metrics.get("ours_ms"), 3), _f(r.metrics.get("ref_ms"), 1),
                  _f(r.metrics.get("ref_over_ours"), 0, "x"), _f(r.metrics.get("ns_per_position"), 1),
                  _f(r.metrics.get("gbps"), 0), _pct(r.metrics.get("share_of_copy")), r.note] for r in by["scan"]]
        out.append(format_table(["L", "kernel ms", "PyTorch ref ms", "ref/kernel", "ns/position", "GB/s", "of copy",
                                 "note"], cells, title=(
            f"Selective scan (Mamba block: softplus, D, silu gate), D = {first['channels']}, "
            f"N = {first['state']}, batch 1, {first['dtype']}; against selective_scan_ref")))
    return out
