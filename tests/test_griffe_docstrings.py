"""scripts/hooks/griffe_docstrings.py: Sphinx roles and shape legends, as the API pages get them."""

from __future__ import annotations

import re
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = str(ROOT / "scripts" / "hooks" / "griffe_docstrings.py")
ROLE = re.compile(r":(?:func|data|mod|class|meth|attr|exc|obj):`")


@pytest.fixture(scope="module")
def package():
    return griffe.load(
        "longctx", search_paths=[str(ROOT / "src")], extensions=griffe.load_extensions(EXTENSION)
    )


def _objects(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


def test_no_role_is_left_in_any_docstring(package):
    left = [obj.path for obj in _objects(package) if obj.docstring and ROLE.search(obj.docstring.value)]
    assert not left
    # and there were roles to rewrite: the package's source uses them
    assert any(ROLE.search(p.read_text()) for p in (ROOT / "src" / "longctx").rglob("*.py"))


def test_a_short_name_resolves_from_the_docstrings_scope(package):
    # selective_scan_chunked_ref says "Same as :func:`selective_scan_ref`", a name of its own module
    doc = package["ssm.selective_scan.selective_scan_chunked_ref"].docstring.value
    assert (
        '<autoref identifier="longctx.ssm.selective_scan.selective_scan_ref" optional>'
        "<code>selective_scan_ref</code></autoref>"
    ) in doc


def test_a_tilde_shows_the_last_name_and_a_reexport_resolves_to_its_definition(package):
    # the kernel writes :func:`~longctx.ssm.selective_scan_ref`, re-exported by longctx.ssm
    doc = package["ssm.kernel.selective_scan_fn"].docstring.value
    assert (
        '<autoref identifier="longctx.ssm.selective_scan.selective_scan_ref" optional>'
        "<code>selective_scan_ref</code></autoref>"
    ) in doc


def test_rewrite_without_a_target_keeps_the_name(package):
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("griffe_docstrings", EXTENSION)
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    scope = package["ssm.kernel"]
    assert module.rewrite(":func:`no_such_thing`", package, scope) == (
        '<autoref identifier="no_such_thing" optional><code>no_such_thing</code></autoref>'
    )
    assert module.rewrite(":mod:`longctx`", package, scope) == (
        '<autoref identifier="longctx" optional><code>longctx</code></autoref>'
    )
    legend = "Intro.\n\nShape legend (one line):\n    q  [B, T]   queries\n      continued\n\nAfter.\n"
    assert module.rewrite(legend, package, scope) == (
        "Intro.\n\nShape legend (one line):\n\n```text\nq  [B, T]   queries\n  continued\n```\n\nAfter.\n"
    )


def test_every_shape_legend_with_lines_under_it_becomes_a_block(package):
    with_block = [
        obj
        for obj in _objects(package)
        if obj.docstring and re.search(r"^Shape legend[^\n]*:\n[ \t]+\S", obj.docstring.value, re.M)
    ]
    assert not with_block, [obj.path for obj in with_block]
    assert "```text\nu, delta, z   [B, D, L]" in package["ssm.kernel"].docstring.value
