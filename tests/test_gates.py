"""The two gate scripts, run on small projects and sites of their own so that each can be seen to fail.

* scripts/check_snippet_coverage.py: every statement of a section a page shows was executed.
* scripts/check_links.py: internal links, assets and anchors resolve; nothing loads from another host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _helpers import load_module

ROOT = Path(__file__).resolve().parents[1]


cov_gate = load_module("check_snippet_coverage", ROOT / "scripts" / "check_snippet_coverage.py")
links = load_module("check_links", ROOT / "scripts" / "check_links.py")


# --- coverage gate ------------------------------------------------------------------------------

MODULE = '''\
"""A tiny package with sections, like src/longctx."""


# --8<-- [start:clip]
def clip(x, lo, hi):
    """Clamp x into [lo, hi]."""
    if lo > hi:
        raise ValueError("lo > hi")  # MARK-RAISE
    return max(lo, min(x, hi))
# --8<-- [end:clip]


def unshown(x):
    if x:
        return 1  # MARK-UNSHOWN
    return 0


# --8<-- [start:excused]
def excused(x):
    if x is None:  # pragma: no cover
        return 0
    return x
# --8<-- [end:excused]
'''

PYPROJECT = """\
[tool.coverage.run]
source = ["src/tiny"]
relative_files = true
"""


def _line_of(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if marker in line)


def _project(tmp_path: Path, page: str, driver: str) -> Path:
    """A project with src/tiny/mod.py, docs/page.md and .coverage from running ``driver``."""
    (tmp_path / "src" / "tiny").mkdir(parents=True)
    (tmp_path / "src" / "tiny" / "__init__.py").write_text("")
    module = MODULE
    for name in ("clip", "excused"):  # a marked section no page shows fails the gate: unmark it
        if f"tiny/mod.py:{name}" not in page:
            module = module.replace(f"# --8<-- [start:{name}]\n", "").replace(f"# --8<-- [end:{name}]\n", "")
    (tmp_path / "src" / "tiny" / "mod.py").write_text(module)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(textwrap.dedent(page))
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "drive.py").write_text(
        "import sys\nsys.path.insert(0, 'src')\nfrom tiny.mod import *\n" + textwrap.dedent(driver)
    )
    _coverage_run(tmp_path)
    return tmp_path


def _coverage_run(project: Path) -> None:
    """``coverage run drive.py`` in ``project``, with the project's own settings only."""
    # Under the suite's own `coverage run` (multiprocessing support), COVERAGE_RCFILE points
    # at this repository's pyproject.toml, whose parallel = true would scatter the data file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    subprocess.run(
        [sys.executable, "-m", "coverage", "run", "drive.py"],
        cwd=project,
        check=True,
        capture_output=True,
        env=env,
    )
    assert (project / ".coverage").is_file()


def _run_gate(project: Path, capsys=None) -> tuple[int, str]:
    """The gate's exit status and output: in this process when given ``capsys``, else as a script."""
    if capsys is not None:
        rc = cov_gate.main(["--root", str(project)])
        return rc, capsys.readouterr().out
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_snippet_coverage.py"), "--root", str(project)],
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stdout + proc.stderr


PAGE = """\
    # Page

    ```python title="tiny/mod.py"
    --8<-- "tiny/mod.py:clip"
    ```
    """


def test_fully_executed_section_passes(tmp_path):
    project = _project(
        tmp_path,
        PAGE,
        """
        assert clip(5, 0, 3) == 3
        try:
            clip(0, 2, 1)
        except ValueError:
            pass
        """,
    )
    import coverage.files

    before = coverage.files.relative_directory()
    results = cov_gate.check_sections(project)
    # a Coverage measuring this very process (coverage run -m pytest) must keep its paths
    assert coverage.files.relative_directory() == before
    assert [r.target for r in results] == ["tiny/mod.py:clip"]
    (res,) = results
    # def, if, raise, return: the docstring is not a statement
    assert res.ok and len(res.statements) == 4 and res.missing == []
    assert res.pages == ["docs/page.md:4"]
    rc, out = _run_gate(project)
    assert rc == 0, out
    assert "OK  tiny/mod.py:clip  4/4 statements executed" in out


def test_unexecuted_line_in_section_is_low(tmp_path, capsys):
    # the raise never runs; a missing line outside every section (in `unshown`) must not matter
    project = _project(tmp_path, PAGE, "assert clip(5, 0, 3) == 3\n")
    (res,) = cov_gate.check_sections(project)
    assert not res.ok
    assert res.missing == [_line_of(MODULE, "MARK-RAISE")]
    rc, out = _run_gate(project, capsys)
    assert rc == 1
    assert (
        f"LOW tiny/mod.py:clip  3/4 statements executed; missing lines [{_line_of(MODULE, 'MARK-RAISE')}]"
        in out
    )
    assert str(_line_of(MODULE, "MARK-UNSHOWN")) not in out


def test_never_imported_module_is_low(tmp_path, capsys):
    project = _project(tmp_path, PAGE, "")
    (tmp_path / "drive.py").write_text("print('imports nothing')\n")
    _coverage_run(tmp_path)
    rc, out = _run_gate(project, capsys)
    assert rc == 1 and "LOW tiny/mod.py:clip  0/4 statements executed" in out


def test_pragma_no_cover_inside_a_shown_section_is_low(tmp_path, capsys):
    page = """
        ```python
        --8<-- "tiny/mod.py:excused"
        ```
        """
    project = _project(tmp_path, page, "assert excused(3) == 3\n")
    (res,) = cov_gate.check_sections(project)
    assert not res.ok and res.missing == [] and res.excluded
    rc, out = _run_gate(project, capsys)
    assert rc == 1 and "pragma: no cover" in out


@pytest.mark.parametrize(
    "target, why",
    [
        ("tiny/mod.py:nope", "no section 'nope'"),
        ("tiny/mod.py", "names no section"),
        ("tiny/mod.py:4:9", "uses line numbers"),
        ("tiny/gone.py:clip", "no file"),
    ],
)
def test_bad_reference_fails(tmp_path, capsys, target, why):
    page = f'```text\n--8<-- "{target}"\n```\n\n```python\n--8<-- "tiny/mod.py:clip"\n```\n'
    project = _project(
        tmp_path,
        page,
        "clip(1, 0, 2)\nclip(1, 2, 3)\ntry:\n    clip(0, 2, 1)\nexcept ValueError:\n    pass\n",
    )
    rc, out = _run_gate(project, capsys)
    assert rc == 1, out
    assert why in out and "OK  tiny/mod.py:clip  4/4" in out


def test_missing_data_file_fails(tmp_path):
    project = _project(tmp_path, PAGE, "clip(1, 0, 2)\n")
    (project / ".coverage").unlink()
    with pytest.raises(FileNotFoundError, match="coverage run"):
        cov_gate.check_sections(project)
    rc, out = _run_gate(project)
    assert rc == 1 and "no coverage data" in out


def test_split_target():
    assert cov_gate.split_target("a/b.py:sec-1") == ("a/b.py", "sec-1", None)
    assert cov_gate.split_target("a/b.py") == ("a/b.py", None, None)
    assert cov_gate.split_target("a/b.py:3:7") == ("a/b.py", None, ":3:7")
    assert cov_gate.split_target("a/b.py:3") == ("a/b.py", None, ":3")


# --- the section rule ---------------------------------------------------------------------------

RULE_MODULE = '''\
"""Sections that break the rule, and two that keep it."""
import math


# --8<-- [start:whole]
import functools


@functools.cache
def whole(x):
    """Docstring lines do not count."""
    # nor do comments
    return math.sqrt(x)


class Box:
    size = 2
# --8<-- [end:whole]


def outer(x):
    y = x + 1
    # --8<-- [start:inside]
    z = y * 2
    return z
    # --8<-- [end:inside]


# --8<-- [start:loose]
LIMIT = 3


def uses_limit():
    return LIMIT
# --8<-- [end:loose]


def cut_in_two(x):
    # --8<-- [start:half]
    a = x
    return a


def after_cut():
    return 1
# --8<-- [end:half]


# --8<-- [start:long]
def long_one(x):
    """A docstring of
    three lines."""
{body}
    return x
# --8<-- [end:long]


# --8<-- [start:forty]
def forty(x):
{body39}
# --8<-- [end:forty]


@checks.arguments(x=checks.positive_int)
@other_decorator
# --8<-- [start:checked]
def checked_outside(x):
    return x
# --8<-- [end:checked]


@other_decorator
@checks.arguments(x=checks.positive_int)
# --8<-- [start:wrong-order]
def checked_after_other(x):
    return x
# --8<-- [end:wrong-order]


@checks.arguments(x=checks.positive_int)
# --8<-- [start:argcheck]
def argcheck(x):
    return x
# --8<-- [end:argcheck]


# --8<-- [start:unshown]
def unshown_helper():
    return 0
# --8<-- [end:unshown]
'''.format(
    body="\n".join("    x = x + 1  # step" for _ in range(40)),
    body39="\n".join("    x = x + 1" for _ in range(38)) + "\n    return x",
)

RULE_PAGE = "".join(
    f'```python\n--8<-- "tiny/rules.py:{name}"\n```\n\n'
    for name in ("whole", "inside", "loose", "half", "long", "forty", "checked", "wrong-order", "argcheck")
)


def _rule_project(tmp_path: Path) -> Path:
    (tmp_path / "src" / "tiny").mkdir(parents=True)
    (tmp_path / "src" / "tiny" / "rules.py").write_text(RULE_MODULE)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(RULE_PAGE)
    return tmp_path


def test_section_rule_per_section(tmp_path):
    source = _rule_project(tmp_path) / "src" / "tiny" / "rules.py"
    loc, why = cov_gate.section_rule(source, "whole")
    # import functools, @functools.cache, def, return, class Box, size = 2
    assert why == [] and loc == 6
    assert cov_gate.section_rule(source, "forty") == (40, [])
    _, why = cov_gate.section_rule(source, "inside")
    assert why == [
        f"starts inside function outer (lines {_line_of(RULE_MODULE, 'def outer')}-"
        f"{_line_of(RULE_MODULE, 'end:inside') - 1}): mark the whole function or class"
    ]
    _, why = cov_gate.section_rule(source, "loose")
    assert why == [
        f"line {_line_of(RULE_MODULE, 'LIMIT = 3')} is a top-level assign statement: "
        "a section holds only whole functions, classes and imports"
    ]
    _, why = cov_gate.section_rule(source, "half")
    assert len(why) == 1 and why[0].startswith("starts inside function cut_in_two")
    assert cov_gate.section_rule(source, "argcheck") == (2, [])  # the argument check stays outside
    _, why = cov_gate.section_rule(source, "checked")  # but no other decorator may
    assert len(why) == 1 and why[0].startswith("starts inside function checked_outside")
    _, why = cov_gate.section_rule(source, "wrong-order")
    assert len(why) == 1 and why[0].startswith("starts inside function checked_after_other")
    loc, why = cov_gate.section_rule(source, "long")
    assert loc == 42 and why == [
        "42 lines of code, more than 40 (docstrings, comments and blank lines "
        "not counted): split it into named steps"
    ]


def test_section_rule_table_names_file_and_section(tmp_path, capsys):
    project = _rule_project(tmp_path)
    results = {r.target: r for r in cov_gate.check_sections(project, rule_only=True)}
    assert sorted(results) == [
        f"tiny/rules.py:{n}"
        for n in sorted(
            (
                "whole",
                "inside",
                "loose",
                "half",
                "long",
                "forty",
                "unshown",
                "checked",
                "wrong-order",
                "argcheck",
            )
        )
    ]
    assert [t for t, r in results.items() if r.ok] == [
        "tiny/rules.py:argcheck",
        "tiny/rules.py:forty",
        "tiny/rules.py:whole",
    ]
    assert results["tiny/rules.py:unshown"].error.startswith("marked in src/ but included by no page")
    rc = cov_gate.main(["--root", str(project), "--rule-only"])
    out = capsys.readouterr().out
    assert rc == 1
    table = out[out.index("file:section") :]
    for target, why in [
        ("tiny/rules.py:inside", "starts inside function outer"),
        ("tiny/rules.py:loose", "is a top-level assign statement"),
        ("tiny/rules.py:long", "42 lines of code, more than 40"),
        ("tiny/rules.py:unshown", "included by no page"),
    ]:
        assert any(line.startswith(target) and why in line for line in table.splitlines()), (target, out)
    assert "tiny/rules.py:whole" not in table and "3 of 10 sections obey the section rule; 7 LOW" in out


def test_section_rule_fails_the_coverage_run_too(tmp_path, capsys):
    """A fully executed section that breaks the rule is still LOW."""
    project = _project(
        tmp_path, PAGE, "clip(1, 0, 2)\ntry:\n    clip(0, 2, 1)\nexcept ValueError:\n    pass\n"
    )
    text = (project / "src" / "tiny" / "mod.py").read_text()
    (project / "src" / "tiny" / "mod.py").write_text(
        text.replace("# --8<-- [start:clip]\n", "").replace(
            "    if lo > hi:", "    # --8<-- [start:clip]\n    if lo > hi:"
        )
    )
    rc, out = _run_gate(project, capsys)
    assert rc == 1
    assert "LOW tiny/mod.py:clip" in out and "starts inside function clip" in out


# --- link checker -------------------------------------------------------------------------------

HOME = """<!doctype html><html><head>
<link rel="stylesheet" href="assets/site.css?v=3">
<link rel="canonical" href="http://127.0.0.1:9/">
<script src="assets/app.js"></script>
</head><body>
<h1 id="top">Home</h1>
<a href="lesson/">lesson</a> <a href="lesson/#part-2">part 2</a> <a href="./lesson/index.html#part-2">again</a>
<a href="#top">top</a> <a href="https://arxiv.org/abs/2205.14135">paper</a> <a href="mailto:a@b.c">mail</a>
<img src="assets/fig.svg" alt="">
</body></html>"""

LESSON = """<!doctype html><html><head><link rel="stylesheet" href="../assets/site.css"></head><body>
<h2 id="part-2">Part 2</h2><a name="old-anchor"></a>
<a href="../">home</a> <a href="../#top">home top</a> <a href="/lesson/#old-anchor">root-absolute</a>
<a href="#fn%3A1">note</a><li id="fn:1">note</li>
</body></html>"""


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    (root / "lesson").mkdir(parents=True)
    (root / "assets" / "fonts").mkdir(parents=True)
    (root / "index.html").write_text(HOME)
    (root / "lesson" / "index.html").write_text(LESSON)
    (root / "assets" / "site.css").write_text(
        '@font-face{src:url("fonts/r.woff2") format("woff2"), url(fonts/r.woff)}'
    )
    (root / "assets" / "fonts" / "r.woff2").write_bytes(b"x")
    (root / "assets" / "fonts" / "r.woff").write_bytes(b"x")
    (root / "assets" / "app.js").write_text("")
    (root / "assets" / "fig.svg").write_text("<svg/>")
    (root / "sitemap.xml").write_text(
        "<urlset><url><loc>http://127.0.0.1:9/</loc></url>"
        "<url><loc>http://127.0.0.1:9/lesson/</loc></url></urlset>"
    )
    return root


def _links(site: Path, capsys=None) -> tuple[int, str]:
    if capsys is not None:
        rc = links.main([str(site)])
        return rc, capsys.readouterr().out
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_links.py"), str(site)], capture_output=True, text=True
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_good_site_passes(site):
    report = links.check_site(site)
    assert report.failures == []
    assert report.pages == 2 and report.anchors == 6
    assert report.external == ["https://arxiv.org/abs/2205.14135  (first on index.html)"]
    rc, out = _links(site)
    assert rc == 0, out
    assert "checked 2 pages" in out and "6 anchors" in out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    "page, old, new, expected",
    [
        ("index.html", 'href="lesson/"', 'href="lesson-1/"', "lesson-1/ -> /lesson-1/ does not exist"),
        (
            "index.html",
            'href="lesson/#part-2"',
            'href="lesson/#part-3"',
            "no id 'part-3' in lesson/index.html",
        ),
        ("index.html", 'href="#top"', 'href="#bottom"', "no id 'bottom' in index.html"),
        (
            "index.html",
            'src="assets/app.js"',
            'src="https://cdn.example.com/app.js"',
            "script loads https://cdn.example.com/app.js from another host",
        ),
        (
            "index.html",
            'href="assets/site.css?v=3"',
            'href="https://fonts.googleapis.com/css?family=Roboto"',
            "stylesheet loads https://fonts.googleapis.com",
        ),
        (
            "index.html",
            'src="assets/fig.svg"',
            'src="//img.example.com/fig.svg"',
            "img loads //img.example.com/fig.svg from another host",
        ),
        (
            "index.html",
            'src="assets/fig.svg"',
            'src="assets/fig.png"',
            "img assets/fig.png -> /assets/fig.png does not exist",
        ),
        (
            "assets/site.css",
            "url(fonts/r.woff)",
            "url(https://fonts.gstatic.com/r.woff)",
            "css-url loads https://fonts.gstatic.com/r.woff",
        ),
        (
            "assets/site.css",
            'url("fonts/r.woff2")',
            'url("fonts/missing.woff2")',
            "css-url fonts/missing.woff2 -> /assets/fonts/missing.woff2 does not exist",
        ),
    ],
)
def test_broken_site_fails(site, page, old, new, expected, capsys):
    _edit(site / page, old, new)
    rc, out = _links(site, capsys)
    assert rc == 1, out
    assert f"FAIL {page}: " in out and expected in out, out


def test_site_url_with_a_path(site):
    """Deployed under https://owner.github.io/repo/: root-absolute links must keep the /repo/ prefix."""
    (site / "sitemap.xml").write_text("<urlset><url><loc>https://o.github.io/repo/</loc></url></urlset>")
    _edit(site / "lesson" / "index.html", 'href="/lesson/#old-anchor"', 'href="/repo/lesson/#old-anchor"')
    assert links.check_site(site).failures == []
    _edit(site / "lesson" / "index.html", 'href="/repo/lesson/#old-anchor"', 'href="/lesson/#old-anchor"')
    assert any("outside the site root /repo/" in f for f in links.check_site(site).failures)


def test_no_site_fails(tmp_path):
    rc, out = _links(tmp_path)
    assert rc == 1 and "no index.html" in out
