"""longctx.bench.runs and .timing: the GPU benchmarks walked end to end on the CPU.

The kernels run in Triton's interpreter and a wall-clock timer stands in for ``do_bench``; every
number in the JSON file is checked against the formulas in ``longctx.costs``.
"""

from __future__ import annotations

import io
import json

import pytest
from tqdm import tqdm

from longctx import costs
from longctx.bench import cli, runs
from longctx.bench.plan import DECODE_HEAD_DIM, DECODE_HEADS, DECODE_KV_HEADS, Plan
from longctx.bench.report import Row, loglog_slope
from longctx.bench.timing import Timing, try_time, wall_timer

TINY = Plan(
    flash_ns=(32,),
    decode_batches=(2,),
    decode_contexts=(32,),
    window_ns=(64, 128),
    linear_ns=(32, 64),
    cpu_ns=(64,),
    flash_shapes=((16, 1),),
    tokens_per_batch=64,
    window_left=16,
    window_heads=1,
    window_dim=16,
    linear_heads=1,
    linear_dim=16,
    scan_ns=(16, 33),
    scan_channels=3,
    scan_state=4,
    dtype="fp32",
    matmul_size=64,
    copy_nbytes=2**16,
)


class StepClock:
    """A clock that moves only when told to."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_wall_timer_times_only_the_repeats_and_keeps_median_and_quintiles():
    clock = StepClock()
    durations = iter([1000.0, 5.0, 1.0, 4.0, 100.0, 2.0])  # one warm-up call first

    def fn():
        clock.now += next(durations)

    t = wall_timer(warmup=1, repeats=5, clock=clock)(fn)
    assert t.median == 4.0  # of 5, 1, 4, 100, 2; the warm-up's 1000 is not among them
    assert t.q20 == pytest.approx(1.8) and t.q80 == pytest.approx(
        24.0
    )  # inclusive quintiles of 1, 2, 4, 5, 100
    one = wall_timer(warmup=0, repeats=1, clock=clock)(lambda: setattr(clock, "now", clock.now + 3.0))
    assert one == Timing(3.0, 3.0, 3.0)


def test_a_failed_or_unresolvable_timing_becomes_a_note():
    def broken():
        raise ValueError("head dim 7 is outside the kernel's 16..128")

    assert try_time(broken) == (None, "ValueError: head dim 7 is outside the kernel's 16..128")
    t, note = try_time(lambda: Timing(0.0, 0.0, 0.0))
    assert t is None and "resolution" in note
    assert try_time(lambda: Timing(0.25, 0.2, 0.3)) == (Timing(0.25, 0.2, 0.3), "")


def _run(plan: Plan = TINY, steps: int = 10) -> runs.Run:
    bar = tqdm(total=steps, file=io.StringIO())
    return runs.Run(plan, wall_timer(warmup=0, repeats=1), {"tflops": 1.0, "gbps": 1.0}, bar, "cpu")


def test_decode_inputs_are_what_paged_decode_bytes_counts():
    run = _run()
    for cache in ("fp16", "int8"):
        q, kc, vc, table, lens, ks, vs = runs.decode_inputs(run, 3, 40, cache)  # 40 tokens: 3 pages of 16
        assert sorted(table.flatten().tolist()) == list(range(kc.shape[0]))  # every page used once, scattered
        assert table.shape == (3, 3) and lens.tolist() == [40, 40, 40]
        touched = [q, q, kc, vc, table, lens] + [s for s in (ks, vs) if s is not None]
        counted = costs.paged_decode_bytes(
            3,
            40,
            heads=DECODE_HEADS,
            kv_heads=DECODE_KV_HEADS,
            head_dim=DECODE_HEAD_DIM,
            cache_bytes=2 if cache == "fp16" else 1,
            scale_bytes=0 if cache == "fp16" else 4,
        )
        # the pool holds 48 slots per sequence, 40 of them used: the count holds only the 40
        unused = (
            3
            * 8
            * DECODE_KV_HEADS
            * (DECODE_HEAD_DIM * (2 if cache == "fp16" else 1) + (0 if cache == "fp16" else 4))
            * 2
        )
        assert sum(t.numel() * t.element_size() for t in touched) == counted + unused


@pytest.mark.slow
def test_the_gpu_run_goes_through_on_the_cpu(tmp_path, capsys):
    """run_gpu end to end with tiny sizes, kernels in the interpreter, fp32 and a wall clock.

    Every row must be measured without an error note; the JSON file, tables and goals are
    checked against the formulas, and each timed row names the kernels' launch configurations.
    """
    out = tmp_path / "gpu.json"
    args = cli.build_parser().parse_args(["--out", str(out)])
    assert cli.run_gpu(args, TINY, device="cpu", timer=wall_timer(warmup=0, repeats=1)) == 0
    printed = capsys.readouterr()
    assert (
        printed.out.count("FlashAttention") == 2 and "Paged decode" in printed.out and "Goals" in printed.out
    )
    assert "Selective scan" in printed.out
    assert "11/11" in printed.err  # 1 ceiling step + 2 flash + 2 decode + 2 window + 2 linear + 2 scan

    data = json.loads(out.read_text())
    assert data["complete"] is True and data["stamp"]["device"] == "cpu"
    assert set(data["wall_s"]) == {"flash", "decode", "window", "linear", "scan", "total"}
    rows = [Row(**r) for r in data["rows"]]
    assert [r.note for r in rows if r.bench != "linear_crossover"] == [""] * (
        len(rows) - 1
    )  # only it may explain
    ceil = {r.params["kind"]: r.metrics for r in rows if r.bench == "ceiling"}
    assert data["ceilings"] == {"tflops": ceil["matmul"]["tflops"], "gbps": ceil["copy"]["gbps"]}
    assert ceil["matmul"]["tflops"] == pytest.approx(2 * 64**3 / (ceil["matmul"]["ms"] / 1e3) / 1e12)
    assert ceil["copy"]["gbps"] == pytest.approx(2 * 2**16 / (ceil["copy"]["ms"] / 1e3) / 1e9)

    flash = [r for r in rows if r.bench == "flash"]
    assert [(r.params["pass"], r.params["causal"]) for r in flash] == [
        ("forward", False),
        ("backward", False),
        ("forward", True),
        ("backward", True),
    ]
    for r in flash:
        m, backward = r.metrics, r.params["pass"] == "backward"
        assert r.params["batch"] == 2 and m["ours_ms"] > 0 and m["sdpa_ms"] > 0
        forward = 2 * costs.attention_flops(32, 16, causal=r.params["causal"])
        assert m["flops"] == (2.5 * forward if backward else forward)
        assert m["ratio"] == pytest.approx(m["sdpa_ms"] / m["ours_ms"])
        assert m["ours_tflops"] == pytest.approx(m["flops"] / (m["ours_ms"] / 1e3) / 1e12)
        assert m["share_of_matmul"] == pytest.approx(m["ours_tflops"] / data["ceilings"]["tflops"])
        low, high = m["ours_ms_q20_q80"]
        assert low <= m["ours_ms"] <= high
        # the configuration the kernels ran with: the forward alone, or all four kernels of the backward
        kernels = set(r.params["configs"])
        assert kernels == (
            {
                "_flash_fwd_kernel",
                "_flash_bwd_preprocess_kernel",
                "_flash_bwd_dkdv_kernel",
                "_flash_bwd_dq_kernel",
            }
            if backward
            else {"_flash_fwd_kernel"}
        )
        masked = "MASKED=1" if r.params["causal"] else "MASKED=0"
        assert masked in r.params["configs"]["_flash_fwd_kernel"]
    decode = [r for r in rows if r.bench == "decode"]
    assert [r.params["cache"] for r in decode] == ["fp16", "int8"]
    for r in decode:
        assert r.metrics["us"] > 0 and r.metrics["api_us"] > 0  # the kernels alone, and the whole call
        assert set(r.params["configs"]) == {"_paged_decode_split_kernel", "_paged_decode_merge_kernel"}
        assert r.metrics["gbps"] == pytest.approx(r.metrics["bytes"] / (r.metrics["us"] / 1e6) / 1e9)
        assert r.metrics["share_of_copy"] == pytest.approx(r.metrics["gbps"] / data["ceilings"]["gbps"])
    window = [r for r in rows if r.bench == "window"]
    assert [r.metrics["flops"] for r in window] == [costs.sliding_window_flops(n, 16, 16) for n in (64, 128)]
    assert all(set(r.params["configs"]) == {"_flash_fwd_kernel"} for r in window)
    (fit,) = [r for r in rows if r.bench == "window_fit"]
    assert fit.params["fit_ns"] == [64, 128]
    assert fit.metrics["exponent"] == pytest.approx(
        loglog_slope([64, 128], [r.metrics["ms"] for r in window])
    )
    linear = [r for r in rows if r.bench == "linear"]
    assert all(r.metrics["linear_ms"] > 0 and r.metrics["sdpa_ms"] > 0 for r in linear)
    assert [r.bench for r in rows][-3:] == ["linear_crossover", "scan", "scan"]
    for r, n in zip(rows[-2:], (16, 33)):
        m = r.metrics
        assert {k: v for k, v in r.params.items() if k != "configs"} == {
            "n": n,
            "channels": 3,
            "state": 4,
            "batch": 1,
            "dtype": "fp32",
        }
        assert (
            m["bytes"]
            == costs.selective_scan_bytes(1, 3, n, 4, itemsize=4)
            == 4 * n * (4 * 3 + 2 * 4) + 4 * 3 * 6
        )
        assert m["ours_ms"] > 0 and m["ref_ms"] > 0
        assert m["ref_over_ours"] == pytest.approx(m["ref_ms"] / m["ours_ms"])
        assert m["ns_per_position"] == pytest.approx(m["ours_ms"] * 1e6 / n)
        assert m["gbps"] == pytest.approx(m["bytes"] / (m["ours_ms"] / 1e3) / 1e9)
        assert m["share_of_copy"] == pytest.approx(m["gbps"] / data["ceilings"]["gbps"])
    # d = 16 and a tiny decode qualify for no goal; the window fit needs n >= 4 x 16 twice: it has them
    assert [g["passed"] for g in data["goals"]][:3] == [None, None, None]
    assert data["goals"][3]["worst"] == fit.metrics["exponent"]


def test_a_kernel_that_cannot_be_imported_becomes_a_note(monkeypatch):
    fn, note = runs._ours("longctx.no_such_module", "kernel")
    assert (
        fn is None
        and note == "ours unavailable: ModuleNotFoundError: No module named 'longctx.no_such_module'"
    )
    assert runs._ours("longctx.ssm", "selective_scan_fn")[0] is not None

    monkeypatch.setattr(runs, "_ours", lambda module, name: (None, f"ours unavailable: no {name}"))
    plan = Plan(
        flash_ns=(),
        decode_batches=(1,),
        decode_contexts=(32, 64),
        window_ns=(64,),
        linear_ns=(),
        cpu_ns=(),
        window_left=16,
        window_heads=1,
        window_dim=16,
    )
    run = _run(plan, steps=5)
    window, decode = runs.bench_window(run), runs.bench_decode(run)
    assert [r.note for r in window] == ["ours unavailable: no flash_attention"]
    assert [r.note for r in decode] == ["ours unavailable: no paged_decode"] * 4  # fp16 and int8, 2 contexts
    assert run.progress.n == 5  # every skipped configuration still counts as a step
