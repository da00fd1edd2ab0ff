"""scripts/hooks/computed.py: numbers on pages are computed at build time, or the build fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from longctx import costs
from longctx.units import format_value

HOOK = Path(__file__).resolve().parents[1] / "scripts" / "hooks" / "computed.py"


@pytest.fixture(scope="module")
def hook():
    spec = importlib.util.spec_from_file_location("computed_hook_under_test", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(hook, markdown: str, src_uri: str = "lessons/test-page.md") -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))
    return hook.on_page_markdown(markdown, page=page, config={}, files=None)


def test_call_is_replaced_by_its_formatted_value(hook):
    out = render(hook, "Going to 32K costs {{ costs.cost_multiplier(4096, 32768) | x }} as much.")
    assert out == f"Going to 32K costs {format_value(costs.cost_multiplier(4096, 32768), 'x')} as much."


def test_keyword_arguments_and_spacing(hook):
    out = render(
        hook,
        '{{costs.score_matrix_bytes(100_000,bytes_per_element="fp16")|gb}} and '
        "{{  costs.attention_flops(1024, 64, heads=2, causal=True)  |  flops  }}",
    )
    want_bytes = format_value(costs.score_matrix_bytes(100_000, bytes_per_element="fp16"), "gb")
    want_flops = format_value(costs.attention_flops(1024, 64, heads=2, causal=True), "flops")
    assert out == f"{want_bytes} and {want_flops}"


def test_arithmetic_between_calls_and_numbers(hook):
    a, b = (
        costs.kv_cache_bytes(layers=80, kv_heads=64, head_dim=128, tokens=4096),
        costs.kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, tokens=4096),
    )
    md = (
        "{{ costs.kv_cache_bytes(layers=80, kv_heads=64, head_dim=128, tokens=4096)"
        " / costs.kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, tokens=4096) | x }}\n"
        "{{ 1 - costs.score_entries(3) / costs.score_entries(6) | pct }}\n"
        "{{ -costs.cost_multiplier(1, 2) * 2 + 1 | float }}\n"
        "{{ costs.cost_multiplier(costs.score_entries(2) * 2, 16) | x }}\n"
    )
    out = render(hook, md).splitlines()
    assert out[0] == format_value(a / b, "x") == "8×"
    assert out[1] == format_value(1 - 9 / 36, "pct")
    assert out[2] == format_value(-4 * 2 + 1, "float")
    assert out[3] == format_value(costs.cost_multiplier(8, 16), "x")


def test_nested_call_as_an_argument(hook):
    out = render(hook, "{{ costs.cost_multiplier(costs.score_entries(64), 8192) | x }}")
    assert out == format_value(costs.cost_multiplier(64 * 64, 8192), "x")


def test_table_is_inserted(hook):
    spec = "seq_len:int:n (tokens); fp16_bytes:bytes:fp16 bytes; flops:flops:FLOPs; multiplier:x:× cost of 4K"
    out = render(hook, "Before\n\n{{ table costs.quadratic_cost_table() | " + spec + " }}\n\nAfter\n")
    lines = out.strip().splitlines()
    table = [line for line in lines if line.startswith("|")]
    rows = costs.quadratic_cost_table()
    assert len(table) == 2 + len(rows)  # header, rule, one line per length
    for line, row in zip(table[2:], rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == format_value(row["seq_len"], "int")
        assert cells[1] == format_value(row["fp16_bytes"], "bytes")
        assert cells[3] == format_value(row["multiplier"], "x")
    assert table[0] == "| n (tokens) | fp16 bytes | FLOPs | × cost of 4K |"
    assert lines[0] == "Before" and lines[-1] == "After"


def test_code_fences_are_left_alone(hook):
    md = (
        "{{ costs.cost_multiplier(1, 2) | x }}\n"
        "```python\n"
        "x = '{{ costs.nope(1) | x }}'\n"
        "```\n"
        "{{ costs.cost_multiplier(1, 3) | x }}\n"
        "~~~~\n"
        "```\n"
        "{{ not even a call }}\n"
        "```\n"
        "~~~~\n"
        "    ````markdown\n"
        "    {{ table costs.nope() | a:int:A }}\n"
        "    ````\n"
        "{{ costs.cost_multiplier(1, 4) | x }}\n"
    )
    out = render(hook, md).splitlines()
    assert out[0] == format_value(costs.cost_multiplier(1, 2), "x")
    assert out[2] == "x = '{{ costs.nope(1) | x }}'"
    assert out[4] == format_value(costs.cost_multiplier(1, 3), "x")
    assert out[7] == "{{ not even a call }}"  # inside the ~~~~ fence, past the inner ``` pair
    assert out[11] == "    {{ table costs.nope() | a:int:A }}"
    assert out[13] == format_value(costs.cost_multiplier(1, 4), "x")


def test_inline_code_at_line_start_is_not_a_fence(hook):
    # A backtick run followed by another backtick on the line is inline code, not a fence
    # (CommonMark), so the expressions after it are still computed.
    md = "```` ```console ```` blocks are not run.\n{{ costs.cost_multiplier(1, 5) | x }}\n"
    out = render(hook, md).splitlines()
    assert out[1] == format_value(costs.cost_multiplier(1, 5), "x")


def test_text_without_expressions_is_unchanged(hook):
    md = "# Title\n\nNo braces { here } or {single}.\n\n```\ncode\n```\n"
    assert render(hook, md) == md


def test_notebook_pages_are_skipped(hook):
    md = "{{ costs.nope(1) | x }}"
    assert render(hook, md, src_uri="examples/01_quadratic_wall.py") == md


@pytest.mark.parametrize(
    "expr, words",
    [
        ("costs.nope(1) | x", "costs.nope"),
        ("costs._positive_int('n', 1) | int", "costs._positive_int"),
        ("os.system('true') | int", "os.system"),
        ("costs.cost_multiplier(n, 8) | x", "literals"),
        ("costs.cost_multiplier(1 + n, 8) | x", "literals"),
        ("costs.cost_multiplier(n, 8) | x", "literals"),
        ("costs.cost_multiplier(4096, 32768)", "needs a format"),
        ("costs.cost_multiplier(4096, 32768) | furlongs", "furlongs"),
        ("costs.cost_multiplier(0, 32768) | x", "n_from"),
        ("costs.score_matrix_bytes(10, bytes_per_element='fp12') | gb", "fp12"),
        ("42 | x", "expected a call"),
        ("costs.cost_multiplier(4096, | x", "cannot parse"),
        ("costs.score_entries(2) / 0 | x", "divides by zero"),
        ("costs.score_entries(2) ** 2 | x", "only + - * /"),
        ("costs.score_entries(2) / 'a' | x", "unsupported operand"),
        ("table costs.nope() | a:int:A", "unknown function"),
        ("table costs.quadratic_cost_table()", "needs columns"),
        ("table costs.quadratic_cost_table() | seq_len:int", "key:format:header"),
        ("table costs.quadratic_cost_table() | nope:int:N", "not a key"),
        ("table costs.score_entries(4) | a:int:A", "list of dicts"),
        ("table costs.quadratic_cost_table() | seq_len:nope:N", "unknown format"),
    ],
)
def test_errors_fail_the_build_naming_the_page(hook, expr, words):
    with pytest.raises(PluginError) as info:
        render(hook, "Intro.\n\nSome {{ " + expr + " }} text.\n", src_uri="lessons/where-it-broke.md")
    message = str(info.value)
    assert "page lessons/where-it-broke.md" in message
    assert words in message


def test_evaluate_directly(hook):
    assert hook.evaluate(" costs.score_entries(3, heads=2) | int ", "page x.md") == format_value(18, "int")
