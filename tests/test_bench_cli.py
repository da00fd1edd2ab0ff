"""``python -m longctx.bench``: the refusal under the interpreter, the options, and the CPU path end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import pytest
import torch

from longctx.bench import cli
from longctx.bench.plan import FULL, QUICK


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without TRITON_INTERPRET (conftest sets it), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(extra)
    return env


def _bench(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "longctx.bench", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


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
    assert cli.interpret_requested({"TRITON_INTERPRET": "1"})
    assert cli.interpret_requested({"TRITON_INTERPRET": "yes"})
    assert not cli.interpret_requested({"TRITON_INTERPRET": "0"})
    assert not cli.interpret_requested({"TRITON_INTERPRET": ""})
    assert not cli.interpret_requested({})


def test_help_works_even_with_triton_interpret_set(tmp_path):
    done = _bench(["--help"], _env(TRITON_INTERPRET="1"), tmp_path)
    assert done.returncode == 0
    for option in ("--quick", "--out", "--only"):
        assert option in done.stdout


def test_bad_only_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["--only", "flash,sparse"])
    assert exc.value.code == 2
    assert cli.build_parser().parse_args(["--only", "decode, flash,decode"]).only == ("decode", "flash")


@pytest.mark.slow
def test_importing_the_command_imports_neither_triton_nor_torch(tmp_path):
    code = (
        "import sys, longctx.bench, longctx.bench.plan, longctx.bench.report, longctx.bench.timing, "
        "longctx.bench.cli, longctx.bench.__main__; "
        "bad = [m for m in ('triton', 'longctx._triton', 'torch') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_cpu_path_prints_the_memory_table_and_writes_stamped_json(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    out = tmp_path / "sub" / "r.json"
    # CUDA_VISIBLE_DEVICES="" hides any GPU, so this is the CPU path on every machine.
    done = _bench(["--quick", "--out", str(out)], _env(CUDA_VISIBLE_DEVICES=""), tmp_path)
    assert done.returncode == 0, done.stderr
    ns = QUICK.cpu_ns
    assert max(ns) == 1024
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("    n  naive peak MB"))
    body = lines[header + 2 : header + 2 + len(ns)]
    assert [int(line.split()[0].replace(",", "")) for line in body] == list(ns)
    assert "n·64·4 (output) + n·4 (lse)" in done.stdout
    assert f"{len(ns)}/{len(ns)}" in done.stderr  # tqdm's bar went to stderr

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


def test_plan_steps_count_one_per_configuration_plus_the_ceilings():
    # flash: 2 shapes x 2 masks x 5 lengths; decode: 2 caches x 4 x 4; window 6; linear 6; scan 3
    assert FULL.steps() == 1 + 20 + 32 + 6 + 6 + 3
    assert FULL.steps(("window",)) == 1 + 6
