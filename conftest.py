"""Test-wide set-up shared by tests/ and by pytest-codeblocks on docs/.

* Triton kernels run on the CPU through the interpreter when no GPU is present. The variable
  must be set before ``triton`` is imported, which is why it is set here, first.
* A ``python`` fence in docs/ that only includes a section of src/ (``--8<-- "path:section"``)
  is not runnable as written: pytest-codeblocks skips it with a visible reason. Its code is
  tested by tests/ and the coverage gate (scripts/check_snippet_coverage.py).
"""

from __future__ import annotations

import os
import re
import sys

import pytest

if "triton" in sys.modules and not os.environ.get("TRITON_INTERPRET"):
    raise RuntimeError("triton was imported before conftest.py could set TRITON_INTERPRET")

try:
    import torch

    _gpu = torch.cuda.is_available()
except ImportError:  # pragma: no cover - torch is always installed by the setup
    _gpu = False
if not _gpu:
    os.environ.setdefault("TRITON_INTERPRET", "1")

SNIPPET_LINE = re.compile(r'^\s*-{1,}8<-{1,}\s+"[^"]+"\s*$')


def is_snippet_include(code: str) -> bool:
    """True when ``code`` holds nothing but ``--8<-- "file:section"`` include lines."""
    lines = [line for line in code.splitlines() if line.strip()]
    return bool(lines) and all(SNIPPET_LINE.match(line) for line in lines)


def pytest_collection_modifyitems(config, items):
    for item in items:
        code = getattr(getattr(item, "obj", None), "code", None)
        if type(item).__name__ == "TestBlock" and code is not None and is_snippet_include(code):
            item.add_marker(pytest.mark.skip(reason="snippet include: its code is tested in tests/ and by the coverage gate"))
        if "gpu" in item.keywords and not _gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU (none here)"))
