"""longctx.bench.harness: the command's refusal and CPU path, its formulas, timing, bar, tables, goals.

No GPU code runs here (and no benchmark): the GPU benchmarks are exercised only through what
they share with the CPU path (formulas, timing, tables, goals), each checked against hand
arithmetic or an independent count.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import pytest
import torch

from longctx import costs
from longctx.bench import harness as hb
from longctx.bench.harness import (
    ProgressBar,
    Row,
    attention_pass_flops,
    copy_bytes,
    crossover,
    decode_bytes,
    evaluate_goals,
    format_table,
    loglog_slope,
    matmul_flops,
    time_median,
)

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without TRITON_INTERPRET (conftest sets it), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(extra)
    return env


def _bench(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "longctx.bench", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize("value", ["1", "true"])
def test_refuses_with_triton_interpret_set(tmp_path, value):
    out = tmp_path / "r.json"
    done = _bench(["--quick", "--out", str(out)], _env(TRITON_INTERPRET=value), tmp_path)
    assert done.returncode == 2
    assert "TRITON_INTERPRET" in done.stderr and "refusing" in done.stderr
    assert not out.exists()
    assert done.stdout == ""


def test_interpret_requested_reads_the_variable_as_longctx_triton_does():
    assert hb.interpret_requested({"TRITON_INTERPRET": "1"})
    assert hb.interpret_requested({"TRITON_INTERPRET": "yes"})
    assert not hb.interpret_requested({"TRITON_INTERPRET": "0"})
    assert not hb.interpret_requested({"TRITON_INTERPRET": ""})
    assert not hb.interpret_requested({})


def test_help_works_even_with_triton_interpret_set(tmp_path):
    done = _bench(["--help"], _env(TRITON_INTERPRET="1"), tmp_path)
    assert done.returncode == 0
    for option in ("--quick", "--out", "--only"):
        assert option in done.stdout


def test_bad_only_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        hb.build_parser().parse_args(["--only", "flash,sparse"])
    assert exc.value.code == 2
    assert hb.build_parser().parse_args(["--only", "decode, flash,decode"]).only == ("decode", "flash")


def test_importing_the_harness_imports_neither_triton_nor_torch(tmp_path):
    code = ("import sys, longctx.bench, longctx.bench.harness, longctx.bench.gpu, longctx.bench.__main__; "
            "bad = [m for m in ('triton', 'longctx._triton', 'torch') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], env=_env(), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_cpu_path_prints_the_memory_table_and_writes_stamped_json(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    out = tmp_path / "sub" / "r.json"
    # CUDA_VISIBLE_DEVICES="" hides any GPU, so this is the CPU path on every machine.
    done = _bench(["--quick", "--out", str(out)], _env(CUDA_VISIBLE_DEVICES=""), tmp_path)
    assert done.returncode == 0, done.stderr
    ns = hb.QUICK.cpu_ns
    assert max(ns) == 1024
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("    n  naive peak MB"))
    body = lines[header + 2: header + 2 + len(ns)]
    assert [int(line.split()[0].replace(",", "")) for line in body] == list(ns)
    assert "n·64·4 (output) + n·4 (lse)" in done.stdout
    assert "[" in done.stderr and f"{len(ns)}/{len(ns)}" in done.stderr  # the progress bar went to stderr

    data = json.loads(out.read_text())
    s = data["stamp"]
    assert s["device"] == "cpu"
    assert s["torch"] == torch.__version__
    assert s["triton"] == metadata.version("triton")
    assert s["card"] and "driver" in s
    assert s["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", s["git_commit"])
    date = datetime.fromisoformat(s["date"])
    assert date.utcoffset() == timedelta(0)
    assert before <= date <= datetime.now(timezone.utc)
    assert data["mode"] == "cpu-memory"
    rows = data["rows"]
    assert [r["params"]["n"] for r in rows] == list(ns)
    for r in rows:
        n, m = r["params"]["n"], r["metrics"]
        assert m["score_matrix_bytes"] == 4 * n * n
        assert m["tiled_model_bytes"] == 4 * n * 64 + 4 * n + 4 * 64 * 64 + 4 * 64 * 66
    big = rows[-1]["metrics"]
    assert big["naive_peak_bytes"] >= big["score_matrix_bytes"]  # naive holds at least one n x n matrix
    assert big["tiled_peak_bytes"] < big["score_matrix_bytes"]  # tiled never does
    assert [g["passed"] for g in data["goals"]] == [None] * 4  # no kernel timed on a CPU


# ---------------------------------------------------------------- formulas


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n, d, batch, heads", [(1024, 64, 16, 16), (16384, 128, 1, 8), (1000, 80, 3, 5)])
def test_attention_pass_flops_is_costs_forward_times_batch_and_2_5_for_backward(n, d, batch, heads, causal):
    forward = batch * costs.attention_flops(n, d, heads=heads, causal=causal)
    assert attention_pass_flops(n, d, batch=batch, heads=heads, causal=causal) == forward
    assert attention_pass_flops(n, d, batch=batch, heads=heads, causal=causal, backward=True) == 2.5 * forward


def test_attention_pass_flops_by_hand():
    # n=1024, d=64, B=16, H=16: two matmuls of 2*n*n*d each, per head: 4 * 1024^2 * 64 = 268,435,456.
    assert attention_pass_flops(1024, 64, batch=16, heads=16) == 268_435_456 * 256 == 68_719_476_736
    # causal keeps n(n+1)/2 = 524,800 pairs: 4 * 524,800 * 64 = 134,348,800 per head, about half.
    assert attention_pass_flops(1024, 64, causal=True) == 134_348_800
    assert attention_pass_flops(1024, 64, causal=True, backward=True) == 335_872_000


def test_matmul_and_copy_by_hand():
    assert matmul_flops(8192, 8192, 8192) == 2 * 8192**3 == 1_099_511_627_776
    assert matmul_flops(2, 3, 5) == 60
    assert copy_bytes(2**30) == 2_147_483_648  # 1 GiB read plus 1 GiB written


def test_decode_bytes_by_hand():
    # B=2, context 48, H=4, H_kv=2, D=16, pages of 16 (3 per sequence):
    #   K and V  2 * 2 * 48 * 2 * 16 * 2 B = 12,288;  q and out  2 * 2 * 4 * 16 * 2 B = 512;
    #   block table 2 * 3 * 4 B = 24 and lengths 2 * 4 B = 8: 12,832 in all.
    assert decode_bytes(2, 48, heads=4, kv_heads=2, head_dim=16, block_size=16) == 12_832
    # int8 codes halve K/V to 6,144 and add one float32 scale per token and head for K and V: 1,536.
    assert decode_bytes(2, 48, heads=4, kv_heads=2, head_dim=16, block_size=16, cache_bytes=1,
                        scale_bytes=4) == 6_144 + 1_536 + 512 + 32


@pytest.mark.parametrize("cache", ["fp16", "int8"])
@pytest.mark.parametrize("batch, context, block", [(1, 16, 16), (3, 48, 16), (2, 64, 8)])
def test_decode_bytes_equals_the_tensors_a_decode_step_touches(batch, context, block, cache):
    H, H_kv, D = 4, 2, 32
    per_seq = -(-context // block)
    pool = (batch * per_seq, block, H_kv, D)
    dtype = torch.float16 if cache == "fp16" else torch.int8
    tensors = [torch.zeros(batch, H, D, dtype=torch.float16)] * 2  # q, and out like it
    tensors += [torch.zeros(pool, dtype=dtype) for _ in range(2)]  # k_cache, v_cache
    tensors += [torch.zeros(batch, per_seq, dtype=torch.int32), torch.zeros(batch, dtype=torch.int32)]
    if cache == "int8":
        tensors += [torch.zeros(pool[:3], dtype=torch.float32) for _ in range(2)]  # k_scale, v_scale
    expected = sum(t.numel() * t.element_size() for t in tensors)
    got = decode_bytes(batch, context, heads=H, kv_heads=H_kv, head_dim=D, block_size=block,
                       cache_bytes=2 if cache == "fp16" else 1, scale_bytes=0 if cache == "fp16" else 4)
    assert got == expected
    assert decode_bytes(batch, context, heads=H, kv_heads=H_kv, head_dim=D, block_size=block) >= (
        costs.kv_cache_bytes(layers=1, kv_heads=H_kv, head_dim=D, tokens=context, batch=batch))


def test_formulas_reject_bad_sizes_by_name():
    with pytest.raises(ValueError, match="batch"):
        attention_pass_flops(128, 64, batch=0)
    with pytest.raises(ValueError, match="context"):
        decode_bytes(1, 0, heads=1, kv_heads=1, head_dim=16)
    with pytest.raises(TypeError, match="nbytes"):
        copy_bytes(True)
    with pytest.raises(ValueError, match="k "):
        matmul_flops(1, 1, 0)


def test_loglog_slope_recovers_the_exponent():
    xs = [2048, 4096, 8192, 65536]
    assert loglog_slope(xs, [3e-6 * x for x in xs]) == pytest.approx(1.0)
    assert loglog_slope(xs, [5.0 * x**2 for x in xs]) == pytest.approx(2.0)
    assert loglog_slope([1, 10], [7, 7]) == pytest.approx(0.0)
    for xs_, ys_ in (([1], [1]), ([1, 2], [1]), ([1, 1], [1, 2]), ([1, 2], [0, 1])):
        with pytest.raises(ValueError):
            loglog_slope(xs_, ys_)


def test_crossover_is_where_ours_stays_faster():
    ns = [1, 2, 4, 8]
    assert crossover(ns, [5, 4, 2, 1], [1, 3, 3, 3]) == 4
    assert crossover(ns, [0.5, 4, 2, 1], [1, 3, 3, 3]) == 4  # an early win that does not last is no crossover
    assert crossover(ns, [0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1]) == 1
    assert crossover(ns, [1, 1, 1, 2], [2, 2, 2, 1]) is None
    assert crossover(ns, [1, 1, None, 1], [2, 2, 2, 2]) == 8  # a missing time breaks the run
    assert crossover(ns, [1, 1, 1, 1], [2, 2, 2, 1]) is None  # equal is not faster
    with pytest.raises(ValueError):
        crossover([2, 1], [1, 1], [1, 1])
    with pytest.raises(ValueError):
        crossover([1, 2], [1], [1, 1])


# ---------------------------------------------------------------- timing


class FakeClock:
    """A clock that only moves when told to; ``seconds`` may only be read after the last ``sync``."""

    def __init__(self):
        self.now = 0.0
        self.syncs = 0
        self.pending = 0  # marks recorded since the last sync

    def mark(self):
        self.pending += 1
        return self.now

    def seconds(self, a, b):
        assert self.pending == 0, "a mark was read before the clock was synchronised"
        return b - a

    def sync(self):
        self.syncs += 1
        self.pending = 0


def test_time_median_times_only_the_repeats_and_takes_the_median():
    clock = FakeClock()
    durations = iter([1000.0, 1000.0, 5.0, 1.0, 4.0, 100.0, 2.0])  # two warm-up calls first
    calls = []

    def fn():
        calls.append(1)
        clock.now += next(durations)

    befores = []

    def before():
        befores.append(1)
        clock.now += 7777.0  # untimed: must not reach the result

    assert time_median(fn, clock=clock, warmup=2, repeats=5, before=before) == 4.0
    assert len(calls) == 7 and len(befores) == 5
    assert clock.syncs == 2  # once after the warm-up, once before reading the marks


def test_time_median_even_repeats_and_bad_arguments():
    clock = FakeClock()
    steps = iter([1.0, 2.0, 10.0, 20.0])

    def fn():
        clock.now += next(steps)

    assert time_median(fn, clock=clock, warmup=0, repeats=4) == 6.0  # median of 1, 2, 10, 20
    with pytest.raises(ValueError, match="repeats"):
        time_median(fn, clock=clock, repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        time_median(fn, clock=clock, warmup=-1)
    with pytest.raises(TypeError, match="fn"):
        time_median(42, clock=clock)


# ---------------------------------------------------------------- progress bar and tables


def test_progress_bar_draws_in_place_and_saturates():
    stream, t = io.StringIO(), [0.0]
    bar = ProgressBar(4, stream=stream, width=8, clock=lambda: t[0], inplace=True)
    bar.show("flash n=1024 d=64")
    assert stream.getvalue() == "\r[........] 0/4 0:00 flash n=1024 d=64"
    t[0] = 75.0
    bar.advance("x")
    frame = stream.getvalue().split("\r")[-1]
    assert frame.startswith("[##......] 1/4 1:15 x")
    assert len(frame) == len("[........] 0/4 0:00 flash n=1024 d=64")  # padded to erase the longer line
    for _ in range(5):
        bar.advance()
    assert stream.getvalue().split("\r")[-1].rstrip() == "[########] 4/4 1:15"
    bar.close()
    assert stream.getvalue().endswith("\n")
    with pytest.raises(ValueError, match="total"):
        ProgressBar(0, stream=stream)


def test_progress_bar_off_a_terminal_prints_one_line_per_step():
    stream = io.StringIO()  # not a terminal: no carriage returns, nothing redrawn
    bar = ProgressBar(3, stream=stream, width=6, clock=lambda: 0.0)
    assert bar.inplace is False
    bar.show("about to start")
    bar.advance("a")
    bar.advance("b", steps=2)
    bar.close()
    assert stream.getvalue() == "[##....] 1/3 0:00 a\n[######] 3/3 0:00 b\n"


def test_format_table_aligns_numbers_right_and_text_left():
    text = format_table(["name", "n", "ratio"], [["ours", "1,024", "0.93x"], ["sdpa-flash", "16,384", None]],
                        title="T")
    assert text.splitlines() == [
        "T",
        "name             n  ratio",
        "----------  ------  -----",
        "ours         1,024  0.93x",
        "sdpa-flash  16,384      -",
    ]
    with pytest.raises(ValueError, match="row 0"):
        format_table(["a", "b"], [["1"]])
    assert format_table(["a"], []).splitlines() == ["a", "-"]


def _flash(pass_, n, d, causal, ratio):
    return Row("flash", {"pass": pass_, "n": n, "d": d, "causal": causal, "batch": 16384 // n, "heads": 8,
                         "dtype": "bf16", "sdpa_backend": "flash"},
               {"ours_ms": 1.0, "ours_tflops": 300.0, "sdpa_ms": None if ratio is None else ratio,
                "sdpa_tflops": None, "ratio": ratio, "share_of_matmul": 0.4})


def _decode(cache, batch, context, share):
    return Row("decode", {"cache": cache, "batch": batch, "context": context},
               {"bytes": 1e9, "us": 300.0, "api_us": 350.0, "gbps": 2500.0, "share_of_copy": share})


def test_goals_hold_for_the_worst_qualifying_configuration():
    rows = [_flash("forward", 4096, 128, False, 1.10), _flash("forward", 8192, 128, True, 1.02),
            _flash("forward", 2048, 128, False, 0.50),  # n < 4096: not a goal configuration
            _flash("forward", 8192, 64, False, 0.50),  # d = 64: not either
            _flash("backward", 4096, 128, False, 0.81), _flash("backward", 8192, 128, True, 0.79),
            _decode("fp16", 64, 16384, 0.80), _decode("fp16", 32, 8192, 0.76),  # the corner
            _decode("fp16", 16, 32768, 0.10),  # batch < 32: excluded
            _decode("fp16", 64, 4096, 0.10),  # context < 8k: excluded
            _decode("int8", 64, 32768, 0.30),  # int8: excluded from the fp16 goal
            Row("window_fit", {"left": 1024}, {"exponent": 1.04})]
    forward, backward, decode, window = evaluate_goals(rows)
    assert forward["passed"] is True and forward["worst"] == 1.02 and forward["configurations"] == 2
    assert backward["passed"] is False and backward["worst"] == 0.79 and backward["worst_at"]["causal"] is True
    assert decode["passed"] is True and decode["worst"] == 0.76 and decode["configurations"] == 2
    assert window["passed"] is True and window["worst"] == 1.04
    superlinear = evaluate_goals([Row("window_fit", {"left": 1024}, {"exponent": 1.31})])[3]
    assert superlinear["passed"] is False and superlinear["worst"] == 1.31
    assert "p = 1.31" in hb._goal_lines([superlinear])


def test_goals_fail_when_a_configuration_did_not_run_and_are_unmeasured_without_any():
    forward, backward, decode, window = evaluate_goals([_flash("forward", 4096, 128, False, 1.5),
                                                        _flash("forward", 4096, 128, True, None),
                                                        Row("window_fit", {"left": 1024}, {"exponent": None})])
    assert forward["passed"] is False and "1 of 2" in forward["note"]
    assert backward["passed"] is None and decode["passed"] is None and window["passed"] is None
    assert backward["worst"] is None and "not measured" in backward["note"]


def test_flash_goals_give_no_verdict_against_another_sdpa_backend():
    row = _flash("forward", 4096, 128, False, 1.5)
    row.params["sdpa_backend"] = "default backend (flash backend refused: RuntimeError: no kernel)"
    forward = evaluate_goals([row])[0]
    assert forward["passed"] is None and forward["worst"] == 1.5 and "without its flash backend" in forward["note"]


def test_gpu_tables_show_every_benchmark_from_rows():
    from longctx.bench.gpu import gpu_tables

    rows = [Row("ceiling", {"kind": "matmul"}, {"ms": 1.7, "tflops": 650.0}),
            Row("ceiling", {"kind": "copy"}, {"ms": 0.8, "gbps": 2700.0}),
            _flash("forward", 4096, 128, True, 1.07), _flash("backward", 4096, 128, True, None),
            _decode("fp16", 64, 32768, 0.812),
            Row("window", {"n": 4096, "left": 1024}, {"ms": 0.2, "ns_per_token": 48.8, "tflops": 200.0,
                                                     "share_of_matmul": 0.31}),
            Row("window_fit", {"left": 1024}, {"exponent": 1.013}),
            Row("linear", {"n": 8192}, {"linear_ms": 1.0, "sdpa_ms": 2.0, "sdpa_over_linear": 2.0}),
            Row("linear_crossover", {}, {"n": 8192}),
            Row("scan", {"n": 4096, "channels": 2048, "state": 16, "batch": 1, "dtype": "bf16"},
                {"ours_ms": 0.5, "ref_ms": 812.0, "ref_over_ours": 1624.0, "ns_per_position": 122.1,
                 "gbps": 134.5, "share_of_copy": 0.0498})]
    text = "\n\n".join(gpu_tables(rows))
    assert "650.0" in text and "2,700" in text
    assert "1.07x" in text and "40.0%" in text
    assert "81.2%" in text
    assert "p = 1.01" in text
    assert "faster from n = 8,192" in text
    assert text.count("FlashAttention") == 2
    assert "D = 2048, N = 16" in text and "1,624x" in text and "122.1" in text and "5.0%" in text


def test_memory_table_text_writes_the_formulas():
    rows = hb.cpu_memory_rows([256], repeats=1)
    (row,) = rows
    assert row.metrics["score_matrix_bytes"] == 4 * 256 * 256
    text = hb.memory_table_text(rows)
    assert text.splitlines()[3].split()[2] == "0.3"  # n^2 * 4 = 262,144 B -> 0.3 MB
    assert "n·64·4 (output)" in text


# ---------------------------------------------------------------- the stamp


def test_git_commit_outside_a_checkout_is_unknown(tmp_path):
    assert hb._git_commit(tmp_path) == ("unknown", None)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_inside_the_checkout_is_head():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    commit, dirty = hb._git_commit(ROOT / "src" / "longctx" / "bench")
    assert commit == head.stdout.strip()
    assert dirty in (True, False)


# ---------------------------------------------------------------- the GPU code, walked on the CPU


class WallClock:
    """perf_counter as a clock: on the CPU the work is done when the call returns."""

    def mark(self):
        import time

        return time.perf_counter()

    def seconds(self, a, b):
        return b - a

    def sync(self):
        pass


def test_decode_inputs_are_what_decode_bytes_counts(monkeypatch):
    from longctx.bench import gpu

    monkeypatch.setattr(gpu, "DEVICE", "cpu")
    for cache in ("fp16", "int8"):
        q, kc, vc, table, lens, ks, vs = gpu._decode_inputs(3, 40, cache)  # 40 tokens: 3 pages of 16, one partial
        assert sorted(table.flatten().tolist()) == list(range(kc.shape[0]))  # every page used once, scattered
        assert table.shape == (3, 3) and lens.tolist() == [40, 40, 40]
        touched = [q, q, kc, vc, table, lens] + [s for s in (ks, vs) if s is not None]
        counted = decode_bytes(3, 40, heads=hb.DECODE_HEADS, kv_heads=hb.DECODE_KV_HEADS, head_dim=hb.DECODE_HEAD_DIM,
                               cache_bytes=2 if cache == "fp16" else 1, scale_bytes=0 if cache == "fp16" else 4)
        # the pool holds 48 slots per sequence, 40 of them used: decode_bytes counts only the 40
        unused = 3 * 8 * hb.DECODE_KV_HEADS * (hb.DECODE_HEAD_DIM * (2 if cache == "fp16" else 1)
                                                + (0 if cache == "fp16" else 4)) * 2
        assert sum(t.numel() * t.element_size() for t in touched) == counted + unused


def test_the_gpu_run_goes_through_on_the_cpu(monkeypatch, tmp_path, capsys):
    """run_gpu end to end with tiny sizes, kernels in the interpreter, fp32 and a wall clock.

    Every row must be measured without an error note; the JSON file, tables and goals are
    checked against the formulas.
    """
    from longctx.bench import gpu

    monkeypatch.setattr(gpu, "DEVICE", "cpu")
    monkeypatch.setattr(hb, "CudaClock", WallClock)
    monkeypatch.setattr(hb, "stamp", lambda cuda: {"device": "cpu standing in for cuda", "cuda": cuda})
    plan = hb.Plan(flash_ns=(32,), decode_batches=(2,), decode_contexts=(32,), window_ns=(64, 128),
                   linear_ns=(32, 64), cpu_ns=(64,), flash_shapes=((16, 1),), tokens_per_batch=64,
                   window_left=16, window_heads=1, window_dim=16, linear_heads=1, linear_dim=16,
                   scan_ns=(16, 33), scan_channels=3, scan_state=4,
                   dtype="fp32", warmup=1, repeats=1, matmul_size=64, copy_nbytes=2**16)
    out = tmp_path / "gpu.json"
    args = hb.build_parser().parse_args(["--out", str(out)])
    assert hb.run_gpu(args, plan) == 0
    printed = capsys.readouterr()
    assert printed.out.count("FlashAttention") == 2 and "Paged decode" in printed.out and "Goals" in printed.out
    assert "Selective scan" in printed.out
    assert "11/11" in printed.err  # 1 ceiling step + 2 flash + 2 decode + 2 window + 2 linear + 2 scan

    data = json.loads(out.read_text())
    assert data["complete"] is True and data["stamp"]["cuda"] is True
    assert set(data["wall_s"]) == {"flash", "decode", "window", "linear", "scan", "total"}
    rows = [Row(**r) for r in data["rows"]]
    assert [r.note for r in rows if r.bench != "linear_crossover"] == [""] * (len(rows) - 1)  # only it may explain
    ceil = {r.params["kind"]: r.metrics for r in rows if r.bench == "ceiling"}
    assert data["ceilings"] == {"tflops": ceil["matmul"]["tflops"], "gbps": ceil["copy"]["gbps"]}
    assert ceil["matmul"]["tflops"] == pytest.approx(2 * 64**3 / (ceil["matmul"]["ms"] / 1e3) / 1e12)
    assert ceil["copy"]["gbps"] == pytest.approx(2 * 2**16 / (ceil["copy"]["ms"] / 1e3) / 1e9)

    flash = [r for r in rows if r.bench == "flash"]
    assert [(r.params["pass"], r.params["causal"]) for r in flash] == [
        ("forward", False), ("backward", False), ("forward", True), ("backward", True)]
    for r in flash:
        m = r.metrics
        assert r.params["batch"] == 2 and m["ours_ms"] > 0 and m["sdpa_ms"] > 0
        assert m["flops"] == attention_pass_flops(32, 16, batch=2, heads=1, causal=r.params["causal"],
                                                  backward=r.params["pass"] == "backward")
        assert m["ratio"] == pytest.approx(m["sdpa_ms"] / m["ours_ms"])
        assert m["ours_tflops"] == pytest.approx(m["flops"] / (m["ours_ms"] / 1e3) / 1e12)
        assert m["share_of_matmul"] == pytest.approx(m["ours_tflops"] / data["ceilings"]["tflops"])
    decode = [r for r in rows if r.bench == "decode"]
    assert [r.params["cache"] for r in decode] == ["fp16", "int8"]
    for r in decode:
        assert r.params["timed"] == "kernel" and r.metrics["us"] > 0 and r.metrics["api_us"] > 0
        assert r.metrics["gbps"] == pytest.approx(r.metrics["bytes"] / (r.metrics["us"] / 1e6) / 1e9)
        assert r.metrics["share_of_copy"] == pytest.approx(r.metrics["gbps"] / data["ceilings"]["gbps"])
    window = [r for r in rows if r.bench == "window"]
    assert [r.metrics["flops"] for r in window] == [costs.sliding_window_flops(n, 16, 16) for n in (64, 128)]
    (fit,) = [r for r in rows if r.bench == "window_fit"]
    assert fit.params["fit_ns"] == [64, 128]
    assert fit.metrics["exponent"] == pytest.approx(loglog_slope([64, 128], [r.metrics["ms"] for r in window]))
    linear = [r for r in rows if r.bench == "linear"]
    assert all(r.metrics["linear_ms"] > 0 and r.metrics["sdpa_ms"] > 0 for r in linear)
    assert [r.bench for r in rows][-3:] == ["linear_crossover", "scan", "scan"]
    for r, n in zip(rows[-2:], (16, 33)):
        m = r.metrics
        assert r.params == {"n": n, "channels": 3, "state": 4, "batch": 1, "dtype": "fp32"}
        assert m["bytes"] == gpu.scan_bytes(1, 3, n, 4, 4) == 4 * n * (4 * 3 + 2 * 4) + 4 * 3 * (4 + 2)
        assert m["ours_ms"] > 0 and m["ref_ms"] > 0
        assert m["ref_over_ours"] == pytest.approx(m["ref_ms"] / m["ours_ms"])
        assert m["ns_per_position"] == pytest.approx(m["ours_ms"] * 1e6 / n)
        assert m["gbps"] == pytest.approx(m["bytes"] / (m["ours_ms"] / 1e3) / 1e9)
        assert m["share_of_copy"] == pytest.approx(m["gbps"] / data["ceilings"]["gbps"])
    # d = 16 and a tiny decode qualify for no goal; the window fit needs n >= 4 x 16 twice: it has them
    assert [g["passed"] for g in data["goals"]][:3] == [None, None, None]
    assert data["goals"][3]["worst"] == fit.metrics["exponent"]


def test_json_holds_no_nan_or_infinity():
    assert hb._finite({"a": [float("nan"), 1.5, (float("inf"), 2)], "b": {"c": -float("inf")}, "d": "x"}) == {
        "a": [None, 1.5, [None, 2]], "b": {"c": None}, "d": "x"}


def test_a_failed_or_unresolvable_timing_becomes_a_note(monkeypatch):
    from longctx.bench import gpu

    monkeypatch.setattr(gpu, "DEVICE", "cpu")
    plan = hb.Plan(flash_ns=(), decode_batches=(), decode_contexts=(), window_ns=(), linear_ns=(), cpu_ns=(),
                   warmup=0, repeats=3)

    def broken():
        raise ValueError("head dim 7 is outside the kernel's 16..128")

    assert gpu._try_time(broken, plan, FakeClock()) == (None, "ValueError: head dim 7 is outside the kernel's 16..128")
    t, note = gpu._try_time(lambda: lambda: None, plan, FakeClock())  # the fake clock never moves: 0 s
    assert t is None and "resolution" in note
    clock = FakeClock()

    def work():
        clock.now += 0.25

    assert gpu._try_time(lambda: work, plan, clock) == (0.25, "")


def test_stamp_on_the_cpu_and_missing_tools():
    s = hb.stamp(cuda=False)
    assert s["device"] == "cpu" and s["driver"] == torch.version.cuda and s["torch"] == torch.__version__
    assert hb._version("no-such-distribution-longctx") is None
    assert hb._run_text(["no-such-command-longctx", "--version"]) is None
    assert hb._run_text([sys.executable, "-c", "import sys; sys.exit(3)"]) is None
    assert hb._run_text([sys.executable, "-c", "print(' 550.54 ')"]) == "550.54"


def test_a_kernel_that_cannot_be_imported_becomes_a_note(monkeypatch):
    from longctx.bench import gpu

    fn, note = gpu._ours("longctx.no_such_module", "kernel")
    assert fn is None and note == "ours unavailable: ModuleNotFoundError: No module named 'longctx.no_such_module'"
    assert gpu._ours("longctx.ssm", "selective_scan_fn")[0] is not None

    monkeypatch.setattr(gpu, "DEVICE", "cpu")
    monkeypatch.setattr(gpu, "_ours", lambda module, name: (None, f"ours unavailable: no {name}"))
    plan = hb.Plan(flash_ns=(), decode_batches=(1,), decode_contexts=(32, 64), window_ns=(64,), linear_ns=(),
                   cpu_ns=(), window_left=16, window_heads=1, window_dim=16, warmup=0, repeats=1)
    bar = hb.ProgressBar(3, stream=io.StringIO())
    window = gpu.bench_window(plan, FakeClock(), {"tflops": 1.0, "gbps": 1.0}, bar)
    decode = gpu.bench_decode(plan, FakeClock(), {"tflops": 1.0, "gbps": 1.0}, bar)
    assert [r.note for r in window] == ["ours unavailable: no flash_attention"]
    assert [r.note for r in decode] == ["ours unavailable: no paged_decode"] * 4  # fp16 and int8, 2 contexts
