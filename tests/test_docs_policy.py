"""Every code block on the site is tested: the policy, checked on every page of docs/.

A fence in ``docs/**/*.md`` that shows Python (``python``, ``py``, ``pycon``, ... in backtick or
tilde fences, indented inside admonitions and tabs too) must be one of:

(a) a pure include of a *named section* of a file under ``src/``
    (``--8<-- "longctx/attention/reference.py:attention-ref"``: snippets' ``base_path`` is
    ``src/``), whose file holds both ``--8<-- [start:NAME]`` and ``--8<-- [end:NAME]``. Its code
    is tested by ``tests/`` and, statement by statement, by ``scripts/check_snippet_coverage.py``;
(b) a bare ```` ```python ```` backtick fence with nothing after ``python``, which
    pytest-codeblocks collects and runs (``pytest --codeblocks docs``), with no skip mark.

pytest-codeblocks silently ignores everything else (```` ```py ````, ``~~~python``,
```` ```python title="x" ````, ```` ``` python ````), so those fail here with the reason.

Shell: pytest-codeblocks runs ```` ```bash ```` and ```` ```sh ```` fences through a shell.
Rule: write commands for the reader in ```` ```console ```` (or ```` ```text ````) fences; a
fence that pytest-codeblocks would run as bash/sh must carry
``<!--pytest.mark.skip(reason="...")-->`` on the line just before it.

Every ``--8<--`` include anywhere in a page (any fence, or none) must name an existing section
of a file under ``src/``: no whole files, no line ranges, no block-form includes.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _helpers import load_module

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src"


gate = load_module("check_snippet_coverage", ROOT / "scripts" / "check_snippet_coverage.py")
# the root conftest decides which bare ```python fences pytest-codeblocks skips as includes
_root_conftest = load_module("_longctx_root_conftest", ROOT / "conftest.py")
conftest_skips_as_include = _root_conftest.is_snippet_include

PYTHON_LANGS = {"python", "py", "py3", "python3", "pycon", "ipython", "ipython3", "pyi"}
SHELL_RUN = {"bash", "sh"}  # the shells pytest-codeblocks runs

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<run>`{3,}|~{3,})(?P<info>.*?)[ \t]*$")
_CODEBLOCKS_DIRECTIVE = re.compile(r"<!--[-\s]*pytest-codeblocks:(.*)-->")
_CODEBLOCKS_MARK = re.compile(r"<!--[-\s]*(pytest\.mark\..*)-->")


@dataclass
class Fence:
    line: int  # 1-based line of the opening fence
    char: str  # "`" or "~"
    length: int
    info: str  # everything after the fence characters, trailing blanks removed
    body: list[str] = field(default_factory=list)
    closed: bool = False
    marks: list[str] = field(default_factory=list)  # pytest marks pytest-codeblocks attaches to it
    mark_just_before: bool = False  # a pytest.mark comment on the nearest non-blank line above
    directive: str | None = None  # "cont" or "expected-output..." applied to this fence

    @property
    def lang(self) -> str:
        info = self.info.strip()
        if info.startswith("{"):  # superfences' attribute form: ```{.python title="x"}
            m = re.search(r"\.([\w#+-]+)", info)
            return m.group(1).lower() if m else ""
        m = re.match(r"[\w#.+-]*", info)
        return m.group(0).lower()

    @property
    def codeblocks_syntax(self) -> str | None:
        """What pytest-codeblocks reads as the block's syntax (None: it does not see the fence)."""
        return self.info if self.char == "`" else None

    @property
    def code(self) -> str:
        return "".join(self.body)

    @property
    def shown(self) -> str:
        return f"{self.char * 3}{self.info}"


def parse_fences(text: str) -> tuple[list[Fence], bool]:
    """The fences of a Markdown text, and whether pytest-codeblocks would skip the whole file."""
    lines = text.splitlines(keepends=True)
    skipfile = bool(lines) and lines[0].strip() == "<!--pytest-codeblocks:skipfile-->"
    fences: list[Fence] = []
    marks: list[str] = []
    directive = None
    prev_nonblank_is_mark = False
    current: Fence | None = None
    for number, line in enumerate(lines, start=1):
        if current is not None:
            stripped = line.lstrip()
            run = len(stripped) - len(stripped.lstrip(current.char))
            if run >= current.length and not stripped[run:].strip():
                current.closed = True
                current = None
            else:
                current.body.append(line)
            continue
        if not line.strip():
            continue
        m = _OPEN.match(line)
        if m and not (m.group("run")[0] == "`" and "`" in m.group("info")):
            current = Fence(number, m.group("run")[0], len(m.group("run")), m.group("info"))
            if current.char == "`":  # pytest-codeblocks only knows backtick fences
                current.marks, current.directive = marks, directive
                current.mark_just_before = prev_nonblank_is_mark
                marks, directive = [], None
            fences.append(current)
            prev_nonblank_is_mark = False
            continue
        stripped = line.strip()
        d = _CODEBLOCKS_DIRECTIVE.match(stripped)
        mk = _CODEBLOCKS_MARK.match(stripped)
        if d:
            keyword = d.group(1).strip("- ")
            if (
                keyword == "skip"
                or keyword.startswith("skipif")
                or keyword in ("expect-exception", "expect-error")
            ):
                marks.append(f"pytest.mark.{keyword}")  # the deprecated spellings of marks
            else:
                directive = keyword
        elif mk:
            marks.append(mk.group(1))
        prev_nonblank_is_mark = bool(mk) or bool(d and "skip" in d.group(1))
    return fences, skipfile


def _is_pure_include(code: str) -> bool:
    lines = [line for line in code.splitlines() if line.strip()]
    return bool(lines) and all(
        (m := gate.INCLUDE_LINE.match(line)) and m.group("inline_marker") and not m.group("escape")
        for line in lines
    )


def _has_include(code: str) -> bool:
    return any((m := gate.INCLUDE_LINE.match(line)) and not m.group("escape") for line in code.splitlines())


def check_markdown(text: str, page: str, src_dir: Path) -> list[str]:
    """Every way ``text`` (a docs page called ``page``) breaks the policy, one message each."""
    problems: list[str] = []
    fences, skipfile = parse_fences(text)
    if skipfile:
        problems.append(
            f"{page}:1: <!--pytest-codeblocks:skipfile--> would keep pytest-codeblocks from running "
            "any block of this page"
        )

    includes, block_form = gate.includes_in_text(text, Path(page))
    for line, why in block_form:
        problems.append(f"{page}:{line}: {why}")
    for inc in includes:
        if gate.markdown_fragment(inc.target, DOCS):
            continue  # a generated Markdown table from docs/includes/, not code
        why = gate.check_target(inc.target, src_dir)
        if why is None and not (src_dir / inc.path).resolve().is_relative_to(src_dir.resolve()):
            why = f"include {inc.target!r} points outside src/"
        if why:
            problems.append(f"{page}:{inc.line}: {why}")

    last_collected: Fence | None = None  # the block a <!--pytest-codeblocks:cont--> appends to
    for fence in fences:
        where = f"{page}:{fence.line}"
        if not fence.closed:
            problems.append(f"{where}: fence {fence.shown} is never closed")
        runs_as = fence.codeblocks_syntax
        if (
            fence.char == "`"
            and fence.directive not in ("cont",)
            and not (fence.directive or "").startswith("expected-output")
        ):
            last_collected = fence

        if fence.lang in PYTHON_LANGS:
            if _is_pure_include(fence.code):
                if runs_as == "python" and not conftest_skips_as_include(fence.code):
                    problems.append(
                        f"{where}: pytest-codeblocks would run this include fence as Python (the root "
                        "conftest does not recognise it as an include)"
                    )
                continue
            if runs_as != "python":
                problems.append(
                    f"{where}: {fence.shown} fence would NOT be run by pytest-codeblocks: use a bare "
                    "```python fence (nothing after 'python') for code that runs as written, or include "
                    'a named section of src/ (--8<-- "longctx/module.py:section") in a titled fence'
                )
                continue
            if _has_include(fence.code):
                problems.append(
                    f"{where}: ```python fence mixes --8<-- includes with code: pytest-codeblocks would "
                    "run the include line as Python; put the include in a fence of its own"
                )
            if conftest_skips_as_include(fence.code):
                problems.append(
                    f"{where}: the root conftest would skip this ```python fence as an include, but "
                    "snippets would not expand it: check the --8<-- line"
                )
            skips = [m for m in fence.marks if "skip" in m]
            if skips:
                problems.append(
                    f"{where}: ```python fence carries {skips[0]}: pytest-codeblocks would not run it; "
                    "code on a page must run (or be an include of src/)"
                )
            loose = [m for m in fence.marks if "xfail" in m and "strict=True" not in m.replace(" ", "")]
            if loose:
                problems.append(
                    f"{where}: {loose[0]} without strict=True passes whether or not the block fails"
                )
            if (fence.directive or "").startswith("expected-output"):
                problems.append(
                    f"{where}: after <!--pytest-codeblocks:{fence.directive}--> this ```python fence is "
                    "compared as expected output, not run: write the output in a ```text fence"
                )
            if fence.directive == "cont":
                if (
                    last_collected is None
                    or last_collected.codeblocks_syntax != "python"
                    or _is_pure_include(last_collected.code)
                ):
                    problems.append(
                        f"{where}: <!--pytest-codeblocks:cont--> appends this fence to a block that is "
                        "not run as Python, so it would not run either"
                    )
            continue

        if runs_as in SHELL_RUN and not fence.directive:
            if not (fence.mark_just_before and any("skip" in m for m in fence.marks)):
                problems.append(
                    f"{where}: ```{runs_as} fence would be EXECUTED by pytest-codeblocks: show commands "
                    'in a ```console (or ```text) fence, or put <!--pytest.mark.skip(reason="...")--> '
                    "on the line before it"
                )
    return problems


# --- the policy on this project's pages -------------------------------------------------------

PAGES = sorted(DOCS.rglob("*.md"))


def test_there_are_pages():
    assert PAGES, f"no Markdown pages under {DOCS}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_follows_the_code_block_policy(page):
    problems = check_markdown(page.read_text(encoding="utf-8"), page.relative_to(ROOT).as_posix(), SRC)
    assert not problems, "code blocks that would not be tested:\n  " + "\n  ".join(problems)


# --- the policy itself, on synthetic pages ----------------------------------------------------

MODULE = """\
import math

# --8<-- [start:area]
def area(r):
    return math.pi * r * r
# --8<-- [end:area]

# --8<-- [start:half-open]
def half_open(x):
    return x
"""


@pytest.fixture
def src(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "geo.py").write_text(MODULE)
    return tmp_path


def _check(md: str, src: Path) -> list[str]:
    return check_markdown(textwrap.dedent(md), "page.md", src)


GOOD = {
    "bare python": """
        ```python
        print(1 + 1)
        ```
        """,
    "titled include": """
        ```python title="pkg/geo.py"
        --8<-- "pkg/geo.py:area"
        ```
        """,
    "include in an admonition, attribute-form fence": """
        !!! note

            ```{.py linenums="1"}
            --8<-- "pkg/geo.py:area"
            ```
        """,
    "include in a tab, tilde fence, single quotes": """
        === "Reference"

            ~~~python hl_lines="2"
            --8<-- 'pkg/geo.py:area'
            ~~~
        """,
    "bare include fence (conftest skips it)": """
        ```python
        --8<-- "pkg/geo.py:area"
        ```
        """,
    "console, text and skipped bash": """
        ```console
        $ make test
        ```

        ```text
        rm -rf /
        ```

        <!--pytest.mark.skip(reason="installs packages")-->
        ```bash
        pip install longctx
        ```
        """,
    "escaped include shown inside a markdown fence": """
        ````markdown
        ```py title="x"
        ;--8<-- "pkg/geo.py:nothing-here"
        ```
        ````
        """,
    "python continued with cont, strict xfail": """
        ```python
        x = 2
        ```

        <!--pytest-codeblocks:cont-->
        ```python
        assert x == 2
        ```

        <!--pytest.mark.xfail(raises=ZeroDivisionError, strict=True)-->
        ```python
        1 / 0
        ```
        """,
}

BAD = {
    "```py": (
        """
        ```py
        print(1)
        ```
        """,
        "```py fence would NOT be run by pytest-codeblocks",
    ),
    "~~~python": (
        """
        ~~~python
        print(1)
        ~~~
        """,
        "~~~python fence would NOT be run",
    ),
    "inline code with a title": (
        """
        ```python title="demo.py"
        print(1)
        ```
        """,
        '```python title="demo.py" fence would NOT be run',
    ),
    "space before python": (
        """
        ``` python
        print(1)
        ```
        """,
        "``` python fence would NOT be run",
    ),
    "pycon in an admonition": (
        """
        !!! tip

            ```pycon
            >>> 1 + 1
            2
            ```
        """,
        "```pycon fence would NOT be run",
    ),
    "missing section": (
        """
        ```python title="pkg/geo.py"
        --8<-- "pkg/geo.py:volume"
        ```
        """,
        "no section 'volume'",
    ),
    "section without an end marker": (
        """
        ```python title="pkg/geo.py"
        --8<-- "pkg/geo.py:half-open"
        ```
        """,
        "exactly one start and one end marker",
    ),
    "whole file": (
        """
        ```python title="pkg/geo.py"
        --8<-- "pkg/geo.py"
        ```
        """,
        "names no section",
    ),
    "line range": (
        """
        ```python title="pkg/geo.py"
        --8<-- "pkg/geo.py:3:5"
        ```
        """,
        "uses line numbers",
    ),
    "missing file": (
        """
        ```python title="pkg/nope.py"
        --8<-- "pkg/nope.py:area"
        ```
        """,
        "no file",
    ),
    "include of a missing section in a text fence": (
        """
        ```text
        --8<-- "pkg/geo.py:perimeter"
        ```
        """,
        "no section 'perimeter'",
    ),
    "block-form include": (
        """
        --8<--
        pkg/geo.py
        --8<--
        """,
        "block-form",
    ),
    "skipped python": (
        """
        <!--pytest.mark.skip(reason="slow")-->
        ```python
        print(1)
        ```
        """,
        "would not run it",
    ),
    "skip mark far above still applies": (
        """
        <!--pytest.mark.skip-->

        Some prose in between.

        ```python
        print(1)
        ```
        """,
        "would not run it",
    ),
    "bash without a skip mark": (
        """
        ```bash
        rm -rf build
        ```
        """,
        "```bash fence would be EXECUTED",
    ),
    "include mixed with code": (
        """
        ```python
        --8<-- "pkg/geo.py:area"
        print(area(1))
        ```
        """,
        "mixes --8<-- includes with code",
    ),
    "python read as expected output": (
        """
        ```python
        print(3)
        ```

        <!--pytest-codeblocks:expected-output-->
        ```python
        3
        ```
        """,
        "compared as expected output",
    ),
    "continuation of a text block": (
        """
        ```text
        hello
        ```

        <!--pytest-codeblocks:cont-->
        ```python
        print(1)
        ```
        """,
        "appends this fence to a block that is not run",
    ),
    "skipfile": (
        """<!--pytest-codeblocks:skipfile-->
        ```python
        print(1)
        ```
        """,
        "skipfile",
    ),
    "unclosed": (
        """
        ```python
        print(1)
        """,
        "never closed",
    ),
}


@pytest.mark.parametrize("case", GOOD, ids=list(GOOD))
def test_policy_accepts(case, src):
    assert _check(GOOD[case], src) == []


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_policy_rejects(case, src):
    md, expected = BAD[case]
    problems = _check(md, src)
    assert problems, f"{case!r} was accepted"
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("page.md:") for p in problems)


def test_problem_names_the_line(src):
    md = "# Title\n\nText.\n\n```py\nprint(1)\n```\n"
    assert _check(md, src) == [_check(md, src)[0]]
    assert _check(md, src)[0].startswith("page.md:5: ")


def test_parser_sees_indented_and_nested_fences():
    md = textwrap.dedent("""
        !!! note
            ```python
            a = 1
            ```
        ````markdown
        ```py
        b = 2
        ```
        ````
        """)
    fences, skipfile = parse_fences(md)
    assert not skipfile
    assert [(f.line, f.lang, f.length, f.closed) for f in fences] == [
        (3, "python", 3, True),
        (6, "markdown", 4, True),
    ]
    assert fences[1].code.count("```") == 2  # the inner fence is content of the outer one


# ---------------------------------------------------------------- the API reference is complete

# Modules that draw the site's figures: their output is on the pages, their code is not an API.
NOT_IN_THE_API = {"longctx.figures"}


def _public_modules() -> list[str]:
    """Every module of the package that declares ``__all__``, as a dotted name (packages excluded)."""
    found = []
    for path in sorted((ROOT / "src" / "longctx").rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        if path.name == "__init__.py" or any(part.startswith("_") for part in path.parts[-2:]):
            continue
        if any(dotted.startswith(prefix + ".") for prefix in NOT_IN_THE_API):
            continue
        if re.search(r"^__all__\s*=", path.read_text(), re.M):
            found.append(dotted)
    return found


def test_every_public_module_is_on_an_api_page():
    documented = set()
    for page in (DOCS / "reference" / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: ([\w.]+)", page.read_text(), re.M))
    modules = _public_modules()
    assert len(modules) > 30, modules  # the walk found the package
    missing = [m for m in modules if m not in documented]
    assert not missing, f"public modules with no '::: module' on a docs/reference/api page: {missing}"
