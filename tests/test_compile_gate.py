"""scripts/compile_gate.py: how it reads ptxas and PTX, and the rules that fail it.

The compiling itself runs in ``make test`` (scripts/check.sh) against the committed table; here,
the parts that decide pass or fail are fed known text and rows.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("compile_gate", ROOT / "scripts" / "compile_gate.py")
gate = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("compile_gate", gate)  # dataclasses look their module up while it loads
_spec.loader.exec_module(gate)

PTXAS_SPILL = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_flash_fwd_kernel' for 'sm_90a'
ptxas info    : Function properties for _flash_fwd_kernel
    40 bytes stack frame, 24 bytes spill stores, 28 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 40 bytes cumulative stack size
ptxas info    : Function properties for helper
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 32 registers
"""
PTXAS_CLEAN = """ptxas info    : Compiling entry function '_softmax_kernel' for 'sm_80'
ptxas info    : Function properties for _softmax_kernel
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 64 registers, used 0 barriers, 380 bytes cmem[0]
"""


def test_ptxas_registers_and_spills_are_the_largest_of_every_function():
    assert gate.parse_ptxas(PTXAS_SPILL) == (255, 24)
    assert gate.parse_ptxas(PTXAS_CLEAN) == (64, 0)
    with pytest.raises(ValueError, match="names no register count"):
        gate.parse_ptxas("ptxas fatal   : Unsupported .version 9.4; current version is '8.8'")


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "\tmma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%f1, %f2, %f3, %f4}, {%r1}, {%r2}, {%f5};",
            True,
        ),
        ("\twgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%f1}, %rd1, %rd2, 1, 1, 1, 0, 0;", True),
        ("\t@%p1 mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%f1}, {%r1}, {%r2}, {%f5};", True),
        ("\tfma.rn.f32 %f3, %f1, %f2, %f3;", False),
        ("// the kernel would use mma.sync here", False),
        ("\twgmma.fence.sync.aligned;", False),
    ],
)
def test_tensor_core_instructions_are_found_in_ptx(line, expected):
    ptx = f".version 8.4\n.target sm_90a\n{line}\n\tret;\n"
    assert gate.uses_tensor_cores(ptx) is expected


def _row(**kw):
    base = dict(
        kernel="_flash_fwd_kernel",
        module="longctx.flash.kernel",
        source="abc",
        triton="3.9.0",
        target="sm_90a",
        dtype="bfloat16",
        constexprs={"BLOCK_M": 64},
        num_warps=4,
        num_stages=2,
        smem=65536,
        registers=200,
        spill=0,
        tensor_cores=True,
        dot=True,
    )
    base.update(kw)
    return gate.Row(**base)


LIMITS = {"sm_80": 166912, "sm_90a": 232448}


def test_a_clean_row_passes():
    assert gate.problems(_row(), LIMITS, {}) == []


@pytest.mark.parametrize(
    "change, found",
    [
        (dict(error="CompilationError: at 3:4: bad"), "compile error"),
        (dict(smem=232449), "shared memory 232,449 B above the 232,448 B"),
        (dict(target="sm_80", smem=166913), "above the 166,912 B per block of sm_80"),
        (dict(spill=4), "4 bytes of register spill in a 16-bit configuration"),
        (dict(dtype="float16", spill=4), "16-bit configuration"),
        (dict(tensor_cores=False), "without tensor-core instructions"),
    ],
)
def test_each_rule_fails_a_row(change, found):
    assert any(found in p for p in gate.problems(_row(**change), LIMITS, {}))


def test_what_the_rules_allow():
    # fp32 spills are reported, not fatal; fp32 and dot-free kernels need no tensor cores
    assert gate.problems(_row(dtype="float32", spill=36000, tensor_cores=False), LIMITS, {}) == []
    assert gate.problems(_row(kernel="_softmax_kernel", dot=False, tensor_cores=False), LIMITS, {}) == []
    # a 16-bit dot kernel without tensor cores passes only as a named exception
    row = _row(kernel="_linear_chunk_kernel", tensor_cores=False)
    assert gate.problems(row, LIMITS, {}) and gate.problems(row, LIMITS, gate.EXCEPTIONS) == []
    # the exception does not excuse a spill
    assert gate.problems(
        _row(kernel="_linear_chunk_kernel", tensor_cores=False, spill=8), LIMITS, gate.EXCEPTIONS
    )


def test_the_linear_exception_is_measured_and_still_needed():
    # bf16 products with fp32 accumulation in the linear kernel's chunk-local products: more than
    # twice the error of the float32 reference rounded to bf16, so the kernel keeps fp32 products
    assert gate.linear_bf16_ratio() > 2


def test_the_cache_key_covers_source_version_target_and_configuration():
    row = _row()
    for change in (
        dict(source="abd"),
        dict(triton="3.6.0"),
        dict(target="sm_80"),
        dict(dtype="float16"),
        dict(constexprs={"BLOCK_M": 128}),
        dict(num_warps=8),
        dict(num_stages=3),
    ):
        assert _row(**change).key() != row.key(), change
    assert _row(smem=1, registers=2).key() == row.key()  # results are not part of the key


def test_signatures_follow_the_arguments():
    class Fn:
        arg_names = ["p_q", "p_k", "p_v", "p_table", "p_lse", "qk_scale", "H", "K_SCALE", "V_SCALE", "F32"]

    row = _row(
        kernel="_paged_decode_split_kernel",
        dtype="float16",
        constexprs={"K_SCALE": 1, "V_SCALE": 0, "F32": False},
    )
    assert gate._signature(Fn, row) == {
        "p_q": "*fp16",
        "p_k": "*i8",
        "p_v": "*fp16",
        "p_table": "*i32",
        "p_lse": "*fp32",
        "qk_scale": "fp32",
        "H": "i32",
        "K_SCALE": "constexpr",
        "V_SCALE": "constexpr",
        "F32": "constexpr",
    }


def test_the_committed_table_passes_the_rules():
    data = json.loads(gate.TABLE.read_text())
    rows = [gate.Row(**r) for r in data["rows"]]
    assert rows and not data.get("partial"), (
        "the committed table is a partial run: run scripts/compile_gate.py"
    )
    limits = data["limits"]
    bad = [
        (r.kernel, r.target, r.dtype, r.tiles(), p)
        for r in rows
        for p in gate.problems(r, limits, gate.EXCEPTIONS)
    ]
    assert bad == []
    assert {r.target for r in rows} == {"sm_80", "sm_90a"}
    assert {r.dtype for r in rows} == {"float16", "bfloat16", "float32"}
    md = gate.MARKDOWN.read_text()
    assert f"{len(rows)} configurations" in md and "sm_90a" in md
    assert asdict(rows[0])["kernel"] in json.dumps(data)


def test_source_hash_ignores_docstrings_comments_and_line_numbers(tmp_path, monkeypatch):
    import importlib

    body = '''
import triton
import triton.language as tl


@triton.jit
def _helper(x):
    """DOC"""
    return x * SCALE  # COMMENT


@triton.jit
def _kernel(p_x, N, BLOCK: tl.constexpr):
    """DOC"""
    offs = tl.arange(0, BLOCK)
    tl.store(p_x + offs, _helper(tl.load(p_x + offs, mask=offs < N)), mask=offs < N)
'''
    variants = {
        "base": body.replace("SCALE", "2.0"),
        "doc": "\n\n# a comment above moves every line\n"
        + body.replace("SCALE", "2.0").replace("DOC", "Other words.").replace("COMMENT", "another"),
        "code": body.replace("SCALE", "3.0"),
    }
    monkeypatch.syspath_prepend(str(tmp_path))
    hashes = {}
    for name, text in variants.items():
        (tmp_path / f"gate_mod_{name}.py").write_text(text)
        module = importlib.import_module(f"gate_mod_{name}")
        module.__name__ = "gate_mod"  # one module name, so only the source differs
        for obj in (module._helper, module._kernel):
            obj.fn.__module__ = "gate_mod"
        hashes[name] = gate.source_hash(module, "_kernel")
    assert hashes["base"] == hashes["doc"]  # docstrings, comments and line numbers do not count
    assert hashes["base"] != hashes["code"]  # a change in a function the kernel calls does
