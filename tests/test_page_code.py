"""Each lesson and topic page's code file (scripts/hooks/page_code.py) runs as a script without longctx.

The file is assembled from the page's sections exactly as the build does (no site needed),
written to a temporary folder and run as ``scripts/paste_run.py script`` runs it, which first
checks that ``import longctx`` raises in that process: each file in a process of its own, forked by
one ``paste_run.py serve`` that has imported torch once (what every file imports first, and nearly
all of its run). The hook itself is tested on a small project of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import load_module

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUNNER = ROOT / "scripts" / "paste_run.py"


page_code = load_module("page_code_hook", ROOT / "scripts" / "hooks" / "page_code.py")
paste_run = load_module("paste_run", RUNNER)

PAGES = sorted(
    p.relative_to(DOCS).as_posix()
    for p in DOCS.glob("*/*.md")
    if page_code.offers_code(p.relative_to(DOCS).as_posix())
)


@pytest.fixture(scope="module")
def server():
    """Runs each file as ``paste_run.py script FILE`` would, in a child of one ``paste_run.py serve``."""
    with paste_run.Server() as s:
        yield s


def test_the_pages_are_found():
    assert {"lessons/03-linear-and-ssm.md", "topics/positions.md"} <= set(PAGES)
    assert not any(p.startswith("course/") for p in PAGES)


def test_longctx_is_refused_in_the_script_process(tmp_path, server):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\ntry:\n    import longctx\nexcept ImportError as err:\n    print('refused:', err)\n"
        "    sys.exit(0)\nsys.exit(3)\n"
    )
    proc = server.run(["script", probe], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "raises ModuleNotFoundError here" in proc.stdout
        and "refused: No module named 'longctx'" in proc.stdout
    )
    # and the same file, run by a plain Python of this venv, does import it (the blocker is what refuses)
    plain = subprocess.run([sys.executable, str(probe)], cwd=tmp_path, capture_output=True, text=True)
    assert plain.returncode == 3


def test_each_file_starts_from_a_fresh_process_and_a_failure_is_reported(tmp_path, server):
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(
        "import sys\nimport torch\ntorch.set_default_dtype(torch.float64)\nsys.modules['seen'] = sys\n"
    )
    second.write_text(
        "import sys\nimport torch\nassert torch.get_default_dtype() == torch.float32\n"
        "assert 'seen' not in sys.modules\nraise ValueError('second fails')\n"
    )
    assert server.run(["script", first], tmp_path).returncode == 0
    proc = server.run(["script", second], tmp_path)
    assert proc.returncode == 1 and proc.stderr.rstrip().endswith("ValueError: second fails"), proc.stderr


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs_as_a_script_without_longctx(page, tmp_path, server):
    code = page_code.assemble(page, (DOCS / page).read_text(encoding="utf-8"))
    assert code is not None, f"{page} shows no section"
    assert code.rstrip().splitlines()[-1].startswith("    "), "the file ends in the page's demo"
    assert 'if __name__ == "__main__":' in code
    path = tmp_path / page_code.code_name(page)
    path.write_text(code, encoding="utf-8")
    proc = server.run(["script", path], tmp_path)
    print(proc.stdout)
    assert proc.returncode == 0, (
        f"{page}: its code file {path.name} fails without longctx:\n{proc.stderr[-3000:]}"
    )


# --- the hook on a small project ----------------------------------------------------------------

MODULE = '''\
"""A tiny module with sections."""

from __future__ import annotations

import math


def _check(x):
    if x < 0:
        raise ValueError("x must be >= 0")


# --8<-- [start:root]
import math

import torch


def root(x):
    """Square root."""
    return torch.tensor(math.sqrt(x))
# --8<-- [end:root]


# --8<-- [start:twice]
import torch


def twice(x):
    # --8<-- [start:inner]
    return 2 * root(x)
    # --8<-- [end:inner]
# --8<-- [end:twice]
'''

PAGE = """\
# A page title

```python title="tiny/mod.py"
--8<-- "tiny/mod.py:twice"
```

```python title="tiny/mod.py"
--8<-- "tiny/mod.py:root"
```

```python title="again"
--8<-- "tiny/mod.py:twice"
```
"""

DEMO = """\
# ruff: noqa: F821  (not copied)
if __name__ == "__main__":
    assert float(twice(4)) == 4.0
    print("demo ok")
"""


def _tiny(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    (src / "tiny").mkdir(parents=True)
    (src / "tiny" / "mod.py").write_text(MODULE)
    demos = tmp_path / "demos"
    demos.mkdir()
    (demos / "01-page.py").write_text(DEMO)
    return src, demos


def test_assemble_hoists_imports_keeps_page_order_and_runs(tmp_path, server):
    src, demos = _tiny(tmp_path)
    code = page_code.assemble("lessons/01-page.md", PAGE, src_dir=src, demos=demos)
    assert code.startswith('"""A page title: the code this page shows, as one file.')
    # each import once, at the top; twice before root (page order), twice only once
    body = code[code.index('"""\n', 3) + 4 :]
    assert body.index("import torch") < body.index("def twice") < body.index("def root")
    assert code.count("import torch") == 1 and code.count("import math") == 1 and code.count("def twice") == 1
    assert "8<--" not in code and "ruff: noqa" not in code and "_check" not in code
    assert "    return 2 * root(x)" in code  # the nested markers are dropped, the body kept
    path = tmp_path / page_code.code_name("lessons/01-page.md")
    assert path.name == "page.py"
    path.write_text(code)
    proc = server.run(["script", path], tmp_path)
    assert proc.returncode == 0 and "demo ok" in proc.stdout, proc.stderr


def test_a_page_without_sections_gets_no_file_and_a_missing_demo_fails(tmp_path):
    src, demos = _tiny(tmp_path)
    assert (
        page_code.assemble("topics/x.md", "# X\n\n```python\nx = 1\n```\n", src_dir=src, demos=demos) is None
    )
    with pytest.raises(Exception, match="no demo"):
        page_code.assemble("topics/other.md", PAGE, src_dir=src, demos=demos)


def test_names_and_places():
    assert page_code.offers_code("lessons/03-linear-and-ssm.md") and page_code.offers_code(
        "topics/positions.md"
    )
    assert not page_code.offers_code("course/drills.md") and not page_code.offers_code("index.md")
    assert page_code.code_name("lessons/03-linear-and-ssm.md") == "linear_and_ssm.py"
    assert page_code.code_uri("topics/ring-attention.md", True) == "topics/ring-attention/ring_attention.py"
    assert page_code.code_uri("topics/ring-attention.md", False) == "topics/ring_attention.py"


def test_the_link_goes_under_the_title():
    class Files:
        def __init__(self, present):
            self.present = present

        def get_file_from_path(self, path):
            return object() if path in self.present else None

    class Page:
        class file:  # noqa: N801 - mimics mkdocs' page.file
            src_uri = "lessons/03-linear-and-ssm.md"

    config = {"use_directory_urls": True}
    html = "<h1 id='t'>Title</h1><p>text</p>"
    out = page_code.on_page_content(
        html, Page, config, Files({"lessons/03-linear-and-ssm/linear_and_ssm.py"})
    )
    assert out.startswith("<h1 id='t'>Title</h1><p class=\"page-code\">")
    assert 'href="linear_and_ssm.py" download' in out
    assert page_code.on_page_content(html, Page, config, Files(set())) == html
