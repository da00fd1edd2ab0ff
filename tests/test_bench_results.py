"""Committed GPU results: only stamped GPU runs are shown, exactly as measured.

The results here are made up for the test (a card called "Test Card"); the point is that the
page shows what a file holds, refuses files of unknown origin, and says when there are none.
"""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from longctx.bench.report import Row, evaluate_goals
from longctx.bench.results import load_results, result_figure, result_tables

ROOT = Path(__file__).resolve().parents[1]
STAMP = {
    "card": "Test Card",
    "driver": "999.1",
    "cuda_runtime": "12.8",
    "torch": "2.11.0",
    "triton": "3.6.0",
    "python": "3.11.7",
    "git_commit": "0123456789abcdef",
    "git_dirty": False,
    "date": "2026-11-27T10:00:00+00:00",
    "device": "cuda",
}


def _flash(n: int, d: int, causal: bool, ours: float, sdpa: float, pass_: str = "forward") -> Row:
    return Row(
        "flash",
        {
            "n": n,
            "d": d,
            "causal": causal,
            "pass": pass_,
            "batch": 16384 // n,
            "heads": 8,
            "dtype": "bf16",
            "sdpa_backend": "flash",
        },
        {
            "ours_ms": 1.0,
            "ours_tflops": ours,
            "sdpa_ms": 1.0,
            "sdpa_tflops": sdpa,
            "ratio": ours / sdpa,
            "share_of_matmul": ours / 700.0,
        },
    )


def _result(**over) -> dict:
    rows = [
        Row("ceiling", {"kind": "matmul"}, {"ms": 1.5, "tflops": 700.0}),
        Row("ceiling", {"kind": "copy"}, {"ms": 0.8, "gbps": 2900.0}),
    ]
    rows += [
        _flash(n, 128, c, 300.0 + n / 100, 310.0, p)
        for n in (1024, 4096)
        for c in (False, True)
        for p in ("forward", "backward")
    ]
    data = {
        "stamp": dict(STAMP),
        "mode": "gpu",
        "complete": True,
        "quick": True,
        "rows": [r.to_dict() for r in rows],
        "goals": evaluate_goals(rows),
    }
    data.update(over)
    return data


def _write(folder: Path, name: str, data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_no_folder_or_no_file_means_no_results(tmp_path):
    assert load_results(tmp_path / "missing") == []
    assert load_results(tmp_path) == []


def test_results_load_newest_first_with_their_file_name(tmp_path):
    _write(tmp_path, "old.json", _result(stamp={**STAMP, "date": "2026-01-01T00:00:00+00:00"}))
    _write(tmp_path, "new.json", _result())
    loaded = load_results(tmp_path)
    assert [r["file"] for r in loaded] == ["new.json", "old.json"]
    assert loaded[0]["stamp"]["card"] == "Test Card"


@pytest.mark.parametrize(
    "data, words",
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "JSON object"),
        (_result(mode="cpu-memory"), "only GPU runs"),
        (_result(stamp=None), "no 'stamp'"),
        (_result(stamp={**STAMP, "git_commit": ""}), "git_commit"),
        (_result(stamp={k: v for k, v in STAMP.items() if k != "card"}), "card"),
        (_result(rows=[{"params": {}}]), "'rows'"),
    ],
)
def test_files_of_unknown_origin_are_refused_by_name(tmp_path, data, words):
    _write(tmp_path, "bad.json", data)
    with pytest.raises(ValueError, match=words) as err:
        load_results(tmp_path)
    assert "bad.json" in str(err.value)


def test_tables_show_the_measured_numbers():
    tables = "\n".join(result_tables(_result()))
    assert "Measured ceilings" in tables and "700.0" in tables and "2,900" in tables
    assert "FlashAttention forward" in tables and "FlashAttention backward" in tables
    assert "341.0" in tables  # 300 + 4096/100 as measured, printed with one decimal


def test_figure_is_svg_naming_the_card():
    root = ET.fromstring(result_figure(_result()))
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("Test Card" in t for t in texts) and any("d = 128" in t for t in texts)
    empty = ET.fromstring(result_figure(_result(rows=[])))
    assert any(
        "no FlashAttention rows" in "".join(t.itertext())
        for t in empty.iter("{http://www.w3.org/2000/svg}text")
    )


@pytest.fixture
def hook(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "benchmarks_hook_under_test", ROOT / "scripts" / "hooks" / "benchmarks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


class _Files(list):
    pass


def _page(src_uri="reference/benchmarks.md"):
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


def _config(tmp_path):
    return SimpleNamespace(site_dir=str(tmp_path / "site"))


@pytest.fixture(autouse=True)
def _plain_files(monkeypatch, hook):
    # mkdocs' File.generated needs a running build; here a generated file is its path and content.
    monkeypatch.setattr(
        hook.File,
        "generated",
        staticmethod(lambda config, src_uri, content: SimpleNamespace(src_uri=src_uri, content=content)),
    )


def test_hook_says_plainly_when_no_result_exists(hook, tmp_path):
    hook.on_files(_Files(), _config(tmp_path))
    out = hook.on_page_markdown("# B\n\n<!-- benchmark-results -->\n", _page(), {}, None)
    assert "No GPU benchmark has been committed yet" in out and "<!--" not in out
    assert hook.on_page_markdown("no marker", _page(), {}, None) == "no marker"


def test_hook_shows_each_result_with_stamp_goals_figure_and_tables(hook, tmp_path):
    _write(tmp_path, "test-card.json", _result())
    files = _Files()
    hook.on_files(files, _config(tmp_path))
    assert [f.src_uri for f in files] == ["assets/figures/bench-test-card.svg"]
    assert files[0].content.startswith("<?xml")
    out = hook.on_page_markdown("<!-- benchmark-results -->", _page(), {}, None)
    assert (
        "### Test Card, 2026-11-27" in out and "torch 2.11.0, triton 3.6.0" in out and "`0123456789ab`" in out
    )
    assert "(../data/benchmarks/test-card.json)" in out and "(../assets/figures/bench-test-card.svg)" in out
    # 1024 fails the n >= 4K filter; at 4096 forward ratio 340.96/310 >= 1.0, backward likewise: met
    assert out.count("| met") == 2 and "no verdict" in out  # no decode rows: the decode goal has no verdict
    assert "```text" in out and "FlashAttention forward" in out


def test_hook_fails_the_build_on_a_bad_file(hook, tmp_path):
    _write(tmp_path, "bad.json", _result(mode="cpu-memory"))
    with pytest.raises(PluginError, match="bad.json"):
        hook.on_files(_Files(), _config(tmp_path))


def _with_linear(crossover_n, ns=(2048, 8192, 32768)):
    rows = [
        Row("linear", {"n": n, "heads": 16, "d": 64, "batch": 1, "dtype": "bf16", "causal": True}, {})
        for n in ns
    ] + [Row("linear_crossover", {"ns": list(ns)}, {"n": crossover_n})]
    data = _result()
    data["rows"] += [r.to_dict() for r in rows]
    return data


def test_measured_crossover_names_the_newest_result_that_has_one():
    from longctx.bench.results import measured_crossover

    assert "No GPU measurement of the kernel has been committed" in measured_crossover([])
    older = {
        **_with_linear(8192),
        "stamp": {**STAMP, "date": "2026-01-02T00:00:00+00:00", "card": "Old Card"},
    }
    newest_without = {**_result(), "file": "x.json"}  # newest, but no linear rows: skipped
    text = measured_crossover([newest_without, {**_with_linear(2048), "file": "y.json"}, older])
    assert text.startswith(
        "Measured on Test Card (2026-11-27, torch 2.11.0, triton 3.6.0), 16 heads of d = 64"
    )
    assert "from n = 2,048 on" in text
    never = measured_crossover([_with_linear(None)])
    assert "not faster than causal SDPA at any length up to n = 32,768" in never


def test_hook_puts_the_measured_crossover_in_the_lesson(hook, tmp_path):
    lesson = "By measurement. <!-- measured-linear-crossover --> Then the lab."
    hook.on_files(_Files(), _config(tmp_path))
    out = hook.on_page_markdown(lesson, _page("lessons/03-linear-and-ssm.md"), {}, None)
    assert "No GPU measurement" in out and "<!--" not in out
    _write(tmp_path, "test-card.json", _with_linear(4096))
    hook.on_files(_Files(), _config(tmp_path))
    out = hook.on_page_markdown(lesson, _page("lessons/03-linear-and-ssm.md"), {}, None)
    assert "from n = 4,096 on" in out and out.endswith("Then the lab.")
    assert hook.CROSSOVER_MARKER in (ROOT / "docs" / "lessons" / "03-linear-and-ssm.md").read_text()
