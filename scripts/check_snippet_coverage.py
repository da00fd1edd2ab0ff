#!/usr/bin/env python3
"""Coverage gate: every statement of every ``src/`` section a page shows was executed by the tests.

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

Prints one line per section (``OK`` or ``LOW``) and exits 1 on any ``LOW``, on an include
that names no section or a section that does not exist, or when the data file is missing.

The functions take the project root, the docs and src folders and the data file as
parameters, so tests can run them on a small project of their own.
"""

from __future__ import annotations

import argparse
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
MARKER = re.compile(r"(?<!;)-{1,}8<-{1,}[ \t]+\[[ \t]*(?P<kind>start|end)[ \t]*:[ \t]*(?P<name>[a-z][-_0-9a-z]*)[ \t]*\]")


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
            problems.append((number, "block-form '--8<--' include: write one '--8<-- \"path:section\"' line per include"))
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
        raise ValueError(f"{source}: section {name!r} needs exactly one start and one end marker, "
                         f"found start at {starts or 'none'} and end at {ends or 'none'}")
    if ends[0] < starts[0]:
        raise ValueError(f"{source}: section {name!r} ends (line {ends[0]}) before it starts (line {starts[0]})")
    return starts[0], ends[0]


def check_target(target: str, src_dir: Path) -> str | None:
    """Why ``target`` (``path:section``) is not a named section of a file under ``src_dir``, or None."""
    path, section, lines = split_target(target)
    if lines:
        return f"include {target!r} uses line numbers: name a section ('path:section') so edits cannot shift it"
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


@dataclass
class SectionResult:
    target: str  # "longctx/x.py:name"
    pages: list[str] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    excluded: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing and not self.excluded

    def line(self) -> str:
        where = ", ".join(self.pages)
        if self.error:
            return f"LOW {self.target}  {self.error}  (shown in {where})"
        run = len(self.statements) - len(self.missing)
        text = f"{self.target}  {run}/{len(self.statements)} statements executed"
        if self.ok:
            return f"OK  {text}"
        parts = []
        if self.missing:
            parts.append(f"missing lines {self.missing}")
        if self.excluded:
            parts.append(f"lines {self.excluded} are excluded from coverage (pragma: no cover), which a shown section may not be")
        return f"LOW {text}; {'; '.join(parts)}  (shown in {where})"


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


def check_sections(root: Path, data_file: Path | None = None, docs_dir: Path | None = None,
                   src_dir: Path | None = None) -> list[SectionResult]:
    """One result per distinct ``path:section`` included from the docs.

    Raises:
        FileNotFoundError: the coverage data file does not exist.
    """
    import coverage

    root = Path(root).resolve()
    data_file = Path(data_file) if data_file else root / ".coverage"
    docs_dir = Path(docs_dir) if docs_dir else root / "docs"
    src_dir = Path(src_dir) if src_dir else root / "src"
    if not data_file.is_file():
        raise FileNotFoundError(f"no coverage data at {data_file}: run `coverage run -m pytest tests --ignore=tests/browser` first")

    includes, problems = find_includes(docs_dir)
    results: dict[str, SectionResult] = {}
    for page, line, why in problems:
        results[f"{page.relative_to(root)}:{line}"] = SectionResult(f"{page.relative_to(root)}:{line}", error=why,
                                                                    pages=[f"{page.relative_to(root)}:{line}"])
    for inc in includes:
        res = results.setdefault(inc.target, SectionResult(inc.target))
        res.pages.append(f"{inc.page.relative_to(root)}:{inc.line}")

    config = root / "pyproject.toml"
    with _in_project(root):  # relative_files = true: paths in the data are relative to the project root
        cov = coverage.Coverage(data_file=str(data_file), config_file=str(config) if config.is_file() else False)
        cov.load()
        measured = {os.path.normpath(os.path.abspath(f)) for f in cov.get_data().measured_files()}
        for target, res in results.items():
            if res.error:
                continue
            why = check_target(target, src_dir)
            if why:
                res.error = why.replace("include ", "", 1)
                continue
            path, section, _ = split_target(target)
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
    return sorted(results.values(), key=lambda r: r.target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (default: this checkout)")
    parser.add_argument("--data-file", type=Path, help="coverage data file (default: ROOT/.coverage)")
    args = parser.parse_args(argv)
    try:
        results = check_sections(args.root, args.data_file)
    except FileNotFoundError as err:
        print(f"FAIL {err}")
        return 1
    for res in results:
        print(res.line())
    low = [r for r in results if not r.ok]
    print(f"{len(results) - len(low)} of {len(results)} shown sections fully executed"
          + (f"; {len(low)} LOW" if low else ""))
    if not results:
        print("(no page includes a section of src/)")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
