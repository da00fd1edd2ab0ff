"""longctx.bench.report and .cpu: fits, tables, goals, the stamp and the JSON, against hand arithmetic."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from longctx.bench import report
from longctx.bench.cpu import cpu_memory_rows, memory_table_text
from longctx.bench.report import Row, crossover, evaluate_goals, format_table, gpu_tables, loglog_slope

ROOT = Path(__file__).resolve().parents[1]


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


def test_format_table_aligns_numbers_right_and_text_left():
    text = format_table(
        ["name", "n", "ratio"], [["ours", "1,024", "0.93x"], ["sdpa-flash", "16,384", None]], title="T"
    )
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
    return Row(
        "flash",
        {
            "pass": pass_,
            "n": n,
            "d": d,
            "causal": causal,
            "batch": 16384 // n,
            "heads": 8,
            "dtype": "bf16",
            "sdpa_backend": "flash",
        },
        {
            "ours_ms": 1.0,
            "ours_tflops": 300.0,
            "sdpa_ms": None if ratio is None else ratio,
            "sdpa_tflops": None,
            "ratio": ratio,
            "share_of_matmul": 0.4,
        },
    )


def _decode(cache, batch, context, share):
    return Row(
        "decode",
        {"cache": cache, "batch": batch, "context": context},
        {"bytes": 1e9, "us": 300.0, "gbps": 2500.0, "share_of_copy": share},
    )


def test_goals_hold_for_the_worst_qualifying_configuration():
    rows = [
        _flash("forward", 4096, 128, False, 1.10),
        _flash("forward", 8192, 128, True, 1.02),
        _flash("forward", 2048, 128, False, 0.50),  # n < 4096: not a goal configuration
        _flash("forward", 8192, 64, False, 0.50),  # d = 64: not either
        _flash("backward", 4096, 128, False, 0.81),
        _flash("backward", 8192, 128, True, 0.79),
        _decode("fp16", 64, 16384, 0.80),
        _decode("fp16", 32, 8192, 0.76),  # the corner
        _decode("fp16", 16, 32768, 0.10),  # batch < 32: excluded
        _decode("fp16", 64, 4096, 0.10),  # context < 8k: excluded
        _decode("int8", 64, 32768, 0.30),  # int8: excluded from the fp16 goal
        Row("window_fit", {"left": 1024}, {"exponent": 1.04}),
    ]
    forward, backward, decode, window = evaluate_goals(rows)
    assert forward["passed"] is True and forward["worst"] == 1.02 and forward["configurations"] == 2
    assert (
        backward["passed"] is False and backward["worst"] == 0.79 and backward["worst_at"]["causal"] is True
    )
    assert decode["passed"] is True and decode["worst"] == 0.76 and decode["configurations"] == 2
    assert window["passed"] is True and window["worst"] == 1.04
    superlinear = evaluate_goals([Row("window_fit", {"left": 1024}, {"exponent": 1.31})])[3]
    assert superlinear["passed"] is False and superlinear["worst"] == 1.31
    assert "p = 1.31" in report.goal_table([superlinear])


def test_goals_fail_when_a_configuration_did_not_run_and_are_unmeasured_without_any():
    forward, backward, decode, window = evaluate_goals(
        [
            _flash("forward", 4096, 128, False, 1.5),
            _flash("forward", 4096, 128, True, None),
            Row("window_fit", {"left": 1024}, {"exponent": None}),
        ]
    )
    assert forward["passed"] is False and "1 of 2" in forward["note"]
    assert backward["passed"] is None and decode["passed"] is None and window["passed"] is None
    assert backward["worst"] is None and "not measured" in backward["note"]


def test_flash_goals_give_no_verdict_against_another_sdpa_backend():
    row = _flash("forward", 4096, 128, False, 1.5)
    row.params["sdpa_backend"] = "default backend (flash backend refused: RuntimeError: no kernel)"
    forward = evaluate_goals([row])[0]
    assert (
        forward["passed"] is None
        and forward["worst"] == 1.5
        and "without its flash backend" in forward["note"]
    )


def test_gpu_tables_show_every_benchmark_from_rows():
    rows = [
        Row("ceiling", {"kind": "matmul"}, {"ms": 1.7, "tflops": 650.0}),
        Row("ceiling", {"kind": "copy"}, {"ms": 0.8, "gbps": 2700.0}),
        _flash("forward", 4096, 128, True, 1.07),
        _flash("backward", 4096, 128, True, None),
        _decode("fp16", 64, 32768, 0.812),
        Row(
            "window",
            {"n": 4096, "left": 1024},
            {"ms": 0.2, "ns_per_token": 48.8, "tflops": 200.0, "share_of_matmul": 0.31},
        ),
        Row("window_fit", {"left": 1024}, {"exponent": 1.013}),
        Row("linear", {"n": 8192}, {"linear_ms": 1.0, "sdpa_ms": 2.0, "sdpa_over_linear": 2.0}),
        Row("linear_crossover", {}, {"n": 8192}),
        Row(
            "scan",
            {"n": 4096, "channels": 2048, "state": 16, "batch": 1, "dtype": "bf16"},
            {
                "ours_ms": 0.5,
                "ref_ms": 812.0,
                "ref_over_ours": 1624.0,
                "ns_per_position": 122.1,
                "gbps": 134.5,
                "share_of_copy": 0.0498,
            },
        ),
    ]
    text = "\n\n".join(gpu_tables(rows))
    assert "650.0" in text and "2,700" in text
    assert "1.07x" in text and "40.0%" in text
    assert "81.2%" in text
    assert "p = 1.01" in text
    assert "faster from n = 8,192" in text
    assert text.count("FlashAttention") == 2
    assert "D = 2048, N = 16" in text and "1,624x" in text and "122.1" in text and "5.0%" in text


def test_memory_table_text_writes_the_formulas():
    rows = cpu_memory_rows([256], repeats=1)
    (row,) = rows
    assert row.metrics["score_matrix_bytes"] == 4 * 256 * 256
    text = memory_table_text(rows)
    assert text.splitlines()[3].split()[2] == "0.3"  # n^2 * 4 = 262,144 B -> 0.3 MB
    assert "n·64·4 (output)" in text


# ---------------------------------------------------------------- the stamp


def test_git_commit_outside_a_checkout_is_unknown(tmp_path):
    assert report._git_commit(tmp_path) == ("unknown", None)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_inside_the_checkout_is_head():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    commit, dirty = report._git_commit(ROOT / "src" / "longctx" / "bench")
    assert commit == head.stdout.strip()
    assert dirty in (True, False)


def test_json_holds_no_nan_or_infinity():
    assert report._finite(
        {"a": [float("nan"), 1.5, (float("inf"), 2)], "b": {"c": -float("inf")}, "d": "x"}
    ) == {"a": [None, 1.5, [None, 2]], "b": {"c": None}, "d": "x"}


def test_stamp_on_the_cpu_and_missing_tools():
    s = report.stamp(cuda=False)
    assert s["device"] == "cpu" and s["driver"] == torch.version.cuda and s["torch"] == torch.__version__
    assert report._version("no-such-distribution-longctx") is None
    assert report._run_text(["no-such-command-longctx", "--version"]) is None
    assert report._run_text([sys.executable, "-c", "import sys; sys.exit(3)"]) is None
    assert report._run_text([sys.executable, "-c", "print(' 550.54 ')"]) == "550.54"


def test_write_json_creates_the_folder_and_writes_no_nan(tmp_path):
    out = tmp_path / "a" / "b.json"
    report.write_json(out, {"x": float("inf"), "rows": [1.5]})
    assert json.loads(out.read_text()) == {"x": None, "rows": [1.5]}
