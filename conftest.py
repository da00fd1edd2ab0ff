"""Test-wide set-up shared by tests/ and by pytest-codeblocks on docs/.

* Triton kernels run on the CPU through the interpreter when no GPU is present. The variable
  must be set before ``triton`` is imported, which is why it is set here, first. The
  interpreter's int32 overflow checks are switched off (see ``_no_overflow_checks``).
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
    # One compute thread per test process (the processes the tests start inherit it). The tests
    # compute on tensors of a few thousand numbers, too small for threads to pay, and pytest-xdist
    # already runs one worker per core: a second OpenMP thread per worker only waits, spinning,
    # for the core the other worker holds, and cost 3 times the CPU of one thread on the float64
    # references (tests/test_flash_reference.py: 32 s of CPU against 10 s). An explicit
    # OMP_NUM_THREADS wins; the GPU machine keeps its threads for its larger references.
    if os.environ.setdefault("OMP_NUM_THREADS", "1") == "1" and "torch" in sys.modules:
        torch.set_num_threads(1)


def _no_overflow_checks() -> None:
    """Switch off the Triton interpreter's check of every int32 add, sub and mul for overflow.

    The interpreter redoes each integer operation of a kernel in int64 and asserts the result
    fits (its option ``sanitize_overflow``): a fifth to a quarter of an interpreted kernel's CPU
    under coverage (tests/test_linear_kernel.py 86 -> 66 s, tests/test_flash_kernel.py 32 ->
    25 s). At the tests' sizes (offsets of a few thousand) no index comes near 2^31, so the
    check cannot fire here; sizes where it could run only on the GPU (the gpu-marked tests).
    Triton has no setting for it: the interpreter's builder holds the options, and a Triton
    whose builder has no such option is left as it is.
    """
    import dataclasses

    try:
        from triton.runtime import interpreter
    except ImportError:  # pragma: no cover - triton is always installed by the setup
        return
    builder = getattr(interpreter, "interpreter_builder", None)
    options = getattr(builder, "options", None)
    if dataclasses.is_dataclass(options) and hasattr(options, "sanitize_overflow"):
        builder.options = dataclasses.replace(options, sanitize_overflow=False)


if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
    _no_overflow_checks()

SNIPPET_LINE = re.compile(r'^\s*-{1,}8<-{1,}\s+"[^"]+"\s*$')


def is_snippet_include(code: str) -> bool:
    """True when ``code`` holds nothing but ``--8<-- "file:section"`` include lines."""
    lines = [line for line in code.splitlines() if line.strip()]
    return bool(lines) and all(SNIPPET_LINE.match(line) for line in lines)


def pytest_collection_modifyitems(config, items):
    for item in items:
        code = getattr(getattr(item, "obj", None), "code", None)
        if type(item).__name__ == "TestBlock" and code is not None and is_snippet_include(code):
            item.add_marker(
                pytest.mark.skip(
                    reason="snippet include: its code is tested in tests/ and by the coverage gate"
                )
            )
        if "gpu" in item.keywords and not _gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU (none here)"))
        # interpreted modules run without coverage, but for their covered tests (pyproject.toml)
        if item.get_closest_marker("interpreted") and not item.get_closest_marker("covered"):
            item.add_marker(pytest.mark.no_cover)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """In an xdist worker, stop the coverage pytest-cov started for a controller process.

    pytest-cov 7.1 reads the worker's options before xdist resets ``-n`` in them, so it starts a
    ``DistMaster`` in the worker too, and then the worker's own ``DistWorker``. Coverage keeps the
    first instance's tracer under the second and resumes it whenever the second pauses: a test
    marked ``no_cover`` was traced all the same (the interpreted kernel tests ran at half speed,
    and the unit step took twice as long as without ``--cov``). Stopped here, before pytest-cov
    starts the worker's own, it never traces; the next hook checks that no test it pauses is
    traced.
    """
    plugin = session.config.pluginmanager.getplugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    if hasattr(session.config, "workerinput") and type(controller).__name__ == "DistMaster":
        controller.cov.stop()


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item):
    """A test pytest-cov runs without coverage (``no_cover``) is not traced, under xdist too."""
    if item.get_closest_marker("no_cover") and item.config.pluginmanager.getplugin("_cov"):
        assert sys.gettrace() is None, f"coverage still traces {item.nodeid}, marked no_cover"
    yield


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A test module that imports a package this machine lacks is skipped, naming the package.

    The GPU machine has only torch, triton, numpy, pytest, hypothesis, pyyaml, matplotlib and
    tqdm: modules that test the site (mkdocs, griffe, markdown) must not stop ``pytest -m gpu``
    there. Only a package that is really not installed qualifies (a broken import of an installed
    one still fails), so on a machine with requirements.txt installed nothing changes;
    scripts/check.sh proves the GPU tests collect with every other package hidden.
    """
    outcome = yield
    report = outcome.get_result()
    if report.failed and isinstance(collector, pytest.Module):
        match = _MISSING_MODULE.search(str(report.longrepr))
        if match:
            import importlib.util

            top = match.group(1).split(".")[0]
            try:
                installed = importlib.util.find_spec(top) is not None
            except (ImportError, ValueError):
                installed = False
            if not installed and top != "longctx":
                report.outcome = "skipped"
                report.longrepr = (
                    str(collector.path),
                    0,
                    f"Skipped: needs {top}, which is not installed here",
                )
