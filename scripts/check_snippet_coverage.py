#!/usr/bin/env python3
"""Coverage gate: every ``src/`` section a page shows obeys the section rule and was executed by the tests.

A page shows code from the package with a snippet include in a fence::

    --8<-- "longctx/attention/reference.py:attention-ref"

(``pymdownx.snippets``, ``base_path`` ``src/``). pytest-codeblocks cannot run such a fence (it
reads the raw Markdown), so this script closes the gap: after

    coverage run -m pytest tests --ignore=tests/browser

it reads the ``.coverage`` data file and, for each ``path:section`` included from
``docs/**/*.md``, checks that every executable statement between the section's
``--8<-- [start:NAME]`` and ``--8<-- [end:NAME]`` markers ran. Statements excluded from
coverage (``# pragma: no cover``) inside a shown section count as not run: a page may not show
code the tests are allowed to skip. Triton ``@triton.jit`` bodies are traced too when the tests
run them under ``TRITON_INTERPRET=1``.

The section rule (issue 9), checked on the source alone:

* a shown section is one or more WHOLE top-level functions or classes (decorators included),
  plus imports: no section starts or ends inside a function, and none holds other top-level
  statements, so that a reader can paste it. One exception: an argument-check decorator,
  ``@checks.arguments(...)``, may sit just above the start marker (the package checks the
  arguments; the page shows the function without its checks);
* at most 40 lines of code, not counting docstrings, comments and blank lines;
* every ``--8<-- [start:NAME]`` marker in ``src/`` is included by some page (or is removed).

Prints one line per section (``OK`` or ``LOW``), then, when anything failed, a table of
``file:section`` and the reason, and exits 1 on any ``LOW``, on an include that names no
section or a section that does not exist, or when the data file is missing. ``--rule-only``
checks the rule without coverage data (no test run needed).

The functions take the project root, the docs and src folders and the data file as
parameters, so tests can run them on a small project of their own.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# pymdownx.snippets' own grammar (13.x): an inline include, optionally escaped with ';', or the
# bare ``--8<--`` that opens and closes a block include.
INCLUDE_LINE = re.compile(
    r"""^(?P<space>[ \t]*)(?P<escape>;*)(?:
          (?P<inline_marker>-{1,}8<-{1,}[ \t]+)(?P<snippet>"(?:\\"|[^"\n\r])+?"|'(?:\\'|[^'\n\r])+?')(?![ \t])
        | (?P<block_marker>-{1,}8<-{1,})(?![ \t])
        )\r?$""",
    re.X,
)
SECTION_NAME = re.compile(r"[a-z][-_0-9a-z]*")
# a marker line in a source file: ``# --8<-- [start:name]`` (any comment leader before it)
MARKER = re.compile(
    r"(?<!;)-{1,}8<-{1,}[ \t]+\[[ \t]*(?P<kind>start|end)[ \t]*:[ \t]*(?P<name>[a-z][-_0-9a-z]*)[ \t]*\]"
)
MAX_CODE_LINES = 40  # per shown section, docstrings, comments and blank lines not counted


@dataclass(frozen=True)
class Include:
    """One ``--8<-- "target"`` line in a Markdown page."""

    page: Path  # the Markdown file
    line: int  # 1-based
    target: str  # as written between the quotes, e.g. "longctx/costs.py:kv-cache"

    @property
    def path(self) -> str:
        return split_target(self.target)[0]

    @property
    def section(self) -> str | None:
        return split_target(self.target)[1]

    @property
    def line_range(self) -> str | None:
        return split_target(self.target)[2]


def split_target(target: str) -> tuple[str, str | None, str | None]:
    """``"a/b.py:name"`` -> ``("a/b.py", "name", None)``; ``"a/b.py:3:9"`` -> ``("a/b.py", None, ":3:9")``."""
    m = re.fullmatch(r"(?P<path>.*?)(?P<lines>(?::-?[0-9]*){1,2}(?:,-?[0-9]*(?::-?[0-9]*)?)*)?", target)
    if m and m.group("lines") and re.search(r"[0-9]", m.group("lines")):
        return m.group("path"), None, m.group("lines")
    path, colon, name = target.rpartition(":")
    if colon and SECTION_NAME.fullmatch(name):
        return path, name, None
    return target, None, None


def includes_in_text(text: str, page: Path) -> tuple[list[Include], list[tuple[int, str]]]:
    """Inline includes in ``text`` and (line, problem) for block-form includes, which the gates cannot follow."""
    found, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        m = INCLUDE_LINE.match(line)
        if not m or m.group("escape"):
            continue  # ';--8<--' is how a page shows the syntax itself
        if m.group("block_marker"):
            problems.append(
                (number, "block-form '--8<--' include: write one '--8<-- \"path:section\"' line per include")
            )
            continue
        found.append(Include(page, number, m.group("snippet")[1:-1].strip()))
    return found, problems


def find_includes(docs_dir: Path) -> tuple[list[Include], list[tuple[Path, int, str]]]:
    """Every include in ``docs_dir/**/*.md``, and every block-form include (as problems)."""
    includes, problems = [], []
    for page in sorted(docs_dir.rglob("*.md")):
        found, bad = includes_in_text(page.read_text(encoding="utf-8"), page)
        includes += found
        problems += [(page, line, why) for line, why in bad]
    return includes, problems


def section_span(source: Path, name: str) -> tuple[int, int]:
    """1-based line numbers of the ``start`` and ``end`` markers of section ``name`` in ``source``.

    Raises:
        ValueError: no such section, or its markers are missing, repeated or out of order.
    """
    starts, ends = [], []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        for m in MARKER.finditer(line):
            if m.group("name") == name:
                (starts if m.group("kind") == "start" else ends).append(number)
    if not starts and not ends:
        raise ValueError(f"{source}: no section {name!r} (no '--8<-- [start:{name}]' marker)")
    if len(starts) != 1 or len(ends) != 1:
        raise ValueError(
            f"{source}: section {name!r} needs exactly one start and one end marker, "
            f"found start at {starts or 'none'} and end at {ends or 'none'}"
        )
    if ends[0] < starts[0]:
        raise ValueError(
            f"{source}: section {name!r} ends (line {ends[0]}) before it starts (line {starts[0]})"
        )
    return starts[0], ends[0]


def markdown_fragment(target: str, docs_dir: Path) -> bool:
    """True for a whole Markdown file of ``docs/includes/`` (generated prose or tables, not code)."""
    return target.endswith(".md") and (docs_dir / "includes" / target).is_file()


def check_target(target: str, src_dir: Path) -> str | None:
    """Why ``target`` (``path:section``) is not a named section of a file under ``src_dir``, or None."""
    path, section, lines = split_target(target)
    if lines:
        return (
            f"include {target!r} uses line numbers: name a section ('path:section') so edits cannot shift it"
        )
    if section is None:
        return f"include {target!r} names no section: include 'path:section', never a whole file"
    file = src_dir / path
    if not file.is_file():
        return f"include {target!r}: no file {file}"
    try:
        section_span(file, section)
    except ValueError as err:
        return f"include {target!r}: {err}"
    return None


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


def _is_argument_check(decorator: ast.expr) -> bool:
    """``@arguments(...)`` or ``@checks.arguments(...)``: longctx.checks' argument-check decorator."""
    func = decorator.func if isinstance(decorator, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id == "arguments") or (
        isinstance(func, ast.Attribute)
        and func.attr == "arguments"
        and isinstance(func.value, ast.Name)
        and func.value.id == "checks"
    )


def _first_line(node: ast.stmt, start: int = 0) -> int:
    """A statement's first line, its decorators included.

    Argument-check decorators (``@checks.arguments(...)``) above ``start`` do not count: the
    package checks the arguments there, and the section shows the function without them.
    """
    decorators = getattr(node, "decorator_list", [])
    kept = [
        d.lineno
        for i, d in enumerate(decorators)
        if not (d.end_lineno < start and all(_is_argument_check(e) for e in decorators[: i + 1]))
    ]
    return min([node.lineno] + kept)


def _describe(node: ast.stmt) -> str:
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}"
    if isinstance(node, _DEFS):
        return f"function {node.name}"
    return f"a top-level {type(node).__name__.lower()} statement"


def _docstring_lines(tree: ast.Module) -> set[int]:
    """Line numbers of every docstring (module, class, function) in ``tree``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, *_DEFS)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(text: str, start: int, end: int, tree: ast.Module | None = None) -> int:
    """Lines of code strictly between lines ``start`` and ``end``: not blank, not comments, not docstrings."""
    tree = tree if tree is not None else ast.parse(text)
    docs = _docstring_lines(tree)
    lines = text.splitlines()
    return sum(
        1
        for number in range(start + 1, end)
        if number not in docs and lines[number - 1].strip() and not lines[number - 1].strip().startswith("#")
    )


def section_rule(source: Path, name: str) -> tuple[int, list[str]]:
    """Lines of code of section ``name`` of ``source``, and why it breaks the section rule (empty if it does not).

    The rule: one or more whole top-level functions or classes (with their decorators) and
    imports, nothing else, at most ``MAX_CODE_LINES`` lines of code.
    """
    text = source.read_text(encoding="utf-8")
    start, end = section_span(source, name)
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        return 0, [f"{source.name} does not parse: {err}"]
    problems, defs = [], 0
    for node in tree.body:
        first, last = _first_line(node, start), node.end_lineno
        if last < start or first > end:
            continue
        if start < first and last < end:
            if isinstance(node, _DEFS):
                defs += 1
            elif not isinstance(node, _IMPORTS):
                problems.append(
                    f"line {first} is {_describe(node)}: a section holds only whole "
                    "functions, classes and imports"
                )
            continue
        where = f"{_describe(node)} (lines {first}-{last})"
        if first <= start <= last:
            problems.append(f"starts inside {where}: mark the whole function or class")
        if first <= end <= last and not (first <= start <= last):
            problems.append(f"ends inside {where}: mark the whole function or class")
    if not defs and not problems:
        problems.append("holds no function or class")
    loc = code_lines(text, start, end, tree)
    if loc > MAX_CODE_LINES:
        problems.append(
            f"{loc} lines of code, more than {MAX_CODE_LINES} (docstrings, comments and blank "
            "lines not counted): split it into named steps"
        )
    return loc, problems


def find_markers(src_dir: Path) -> list[str]:
    """Every section marked in ``src_dir/**/*.py``, as ``"relative/path.py:name"`` targets."""
    targets = []
    for source in sorted(Path(src_dir).rglob("*.py")):
        names = [
            m.group("name")
            for line in source.read_text(encoding="utf-8").splitlines()
            for m in MARKER.finditer(line)
            if m.group("kind") == "start"
        ]
        targets += [f"{source.relative_to(src_dir).as_posix()}:{name}" for name in dict.fromkeys(names)]
    return targets


@dataclass
class SectionResult:
    target: str  # "longctx/x.py:name"
    pages: list[str] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    excluded: list[int] = field(default_factory=list)
    error: str | None = None
    code_lines: int = 0
    rule: list[str] = field(default_factory=list)  # how the section breaks the section rule

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing and not self.excluded and not self.rule

    def reasons(self) -> list[str]:
        """Every reason this section fails, one short sentence each (empty when it passes)."""
        if self.error:
            return [self.error]
        out = list(self.rule)
        if self.missing:
            out.append(f"missing lines {self.missing} (never ran in the tests)")
        if self.excluded:
            out.append(
                f"lines {self.excluded} are excluded from coverage (pragma: no cover), which a shown section may not be"
            )
        return out

    def line(self) -> str:
        where = ", ".join(self.pages) or "no page"
        if self.error:
            return f"LOW {self.target}  {self.error}  (shown in {where})"
        run = len(self.statements) - len(self.missing)
        text = f"{self.target}  {run}/{len(self.statements)} statements executed"
        if self.ok:
            return f"OK  {text}, {self.code_lines} lines of code"
        return f"LOW {text}; {'; '.join(self.reasons())}  (shown in {where})"


@contextlib.contextmanager
def _in_project(path: Path):
    """Work from ``path``, then put back the cwd and coverage's module-level path state.

    ``relative_files`` makes coverage record the cwd in ``coverage.files`` globals; restoring
    them keeps a measuring Coverage in the same process (the test suite under ``coverage run``)
    from writing its data relative to ``path``.
    """
    from coverage import files as cov_files

    old, saved = Path.cwd(), (cov_files.RELATIVE_DIR, cov_files.CANONICAL_FILENAME_CACHE)
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)
        cov_files.RELATIVE_DIR, cov_files.CANONICAL_FILENAME_CACHE = saved


def check_sections(
    root: Path,
    data_file: Path | None = None,
    docs_dir: Path | None = None,
    src_dir: Path | None = None,
    *,
    rule_only: bool = False,
) -> list[SectionResult]:
    """One result per distinct ``path:section`` included from the docs, and one per marked section no page includes.

    Each shown section is checked against the section rule (:func:`section_rule`) and, unless
    ``rule_only``, against the coverage data.

    Raises:
        FileNotFoundError: the coverage data file does not exist (and ``rule_only`` is false).
    """
    root = Path(root).resolve()
    data_file = Path(data_file) if data_file else root / ".coverage"
    docs_dir = Path(docs_dir) if docs_dir else root / "docs"
    src_dir = Path(src_dir) if src_dir else root / "src"
    if not rule_only and not data_file.is_file():
        raise FileNotFoundError(
            f"no coverage data at {data_file}: run `coverage run -m pytest tests --ignore=tests/browser` first"
        )

    includes, problems = find_includes(docs_dir)
    results: dict[str, SectionResult] = {}
    for page, line, why in problems:
        results[f"{page.relative_to(root)}:{line}"] = SectionResult(
            f"{page.relative_to(root)}:{line}", error=why, pages=[f"{page.relative_to(root)}:{line}"]
        )
    for inc in includes:
        if markdown_fragment(inc.target, docs_dir):
            continue
        res = results.setdefault(inc.target, SectionResult(inc.target))
        res.pages.append(f"{inc.page.relative_to(root)}:{inc.line}")

    shown = []
    for target, res in results.items():
        if res.error:
            continue
        why = check_target(target, src_dir)
        if why:
            res.error = why.replace("include ", "", 1)
            continue
        path, section, _ = split_target(target)
        res.code_lines, res.rule = section_rule(src_dir / path, section)
        shown.append(res)
    for target in find_markers(src_dir):
        if target not in results:
            results[target] = SectionResult(
                target,
                error="marked in src/ but included by no page: show it on a page or remove its markers",
            )
    if not rule_only:
        _check_coverage(root, data_file, src_dir, shown)
    return sorted(results.values(), key=lambda r: r.target)


def _check_coverage(root: Path, data_file: Path, src_dir: Path, shown: list[SectionResult]) -> None:
    """Fill in each section's statements, and those that never ran, from the coverage data."""
    import coverage

    config = root / "pyproject.toml"
    with _in_project(root):  # relative_files = true: paths in the data are relative to the project root
        cov = coverage.Coverage(
            data_file=str(data_file), config_file=str(config) if config.is_file() else False
        )
        cov.load()
        measured = {os.path.normpath(os.path.abspath(f)) for f in cov.get_data().measured_files()}
        for res in shown:
            path, section, _ = split_target(res.target)
            file = (src_dir / path).resolve()
            start, end = section_span(file, section)
            if os.path.normpath(str(file)) not in measured:
                res.error = f"{file.relative_to(root)} was never imported while coverage ran"
                continue
            _, statements, excluded, missing, _ = cov.analysis2(str(file))
            inside = range(start + 1, end)
            res.statements = sorted(s for s in statements if s in inside)
            res.missing = sorted(s for s in missing if s in inside)
            res.excluded = sorted(s for s in excluded if s in inside)
            if not res.statements and not res.excluded:
                res.error = f"section has no executable statement between lines {start} and {end}"


def failure_table(results: list[SectionResult]) -> str:
    """The failed sections as a table: ``file:section``, then one reason per row."""
    rows = [(res.target, why) for res in results if not res.ok for why in res.reasons()]
    if not rows:
        return ""
    width = max(len("file:section"), *(len(target) for target, _ in rows))
    lines = [f"{'file:section':<{width}}  reason", f"{'-' * width}  {'-' * 6}"]
    last = None
    for target, why in rows:
        lines.append(f"{target if target != last else '':<{width}}  {why}")
        last = target
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (default: this checkout)")
    parser.add_argument("--data-file", type=Path, help="coverage data file (default: ROOT/.coverage)")
    parser.add_argument(
        "--rule-only",
        action="store_true",
        help="check the section rule and the unshown markers only, without coverage data",
    )
    args = parser.parse_args(argv)
    try:
        results = check_sections(args.root, args.data_file, rule_only=args.rule_only)
    except FileNotFoundError as err:
        print(f"FAIL {err}")
        return 1
    if not args.rule_only:
        for res in results:
            print(res.line())
    low = [r for r in results if not r.ok]
    if low:
        print(f"\n{len(low)} section(s) fail:\n" + failure_table(results))
    what = "obey the section rule" if args.rule_only else "obey the section rule and were fully executed"
    print(
        f"\n{len(results) - len(low)} of {len(results)} sections {what}"
        + (f"; {len(low)} LOW" if low else "")
    )
    if not results:
        print("(no page includes a section of src/)")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
