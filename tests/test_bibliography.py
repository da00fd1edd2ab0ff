"""One bibliography for the whole site: every footnote links to an entry, every arXiv id has one.

* Every footnote definition (``[^key]: ...``) in ``docs/**/*.md`` links to an anchor of
  ``docs/reference/bibliography.md`` (``[→ references](../reference/bibliography.md#anchor)``,
  the path relative to the page), and that anchor exists.
* Every arXiv id written anywhere in the docs, the quizzes, the notebooks or ``src/`` appears in
  the bibliography, so a page cannot cite a paper the references page lacks.
* Each footnote's arXiv ids are those of the entry it links to (a footnote cannot point at the
  wrong paper).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIB = DOCS / "reference" / "bibliography.md"

FOOTNOTE = re.compile(r"^\[\^([^\]]+)\]:(.*)$")
BIB_LINK = re.compile(r"\]\(((?:\.\./)*(?:[\w-]+/)*bibliography\.md)#([\w-]+)\)")
ARXIV = re.compile(r"(?:arXiv:\s?|arxiv\.org/(?:abs|pdf)/)(\d{4}\.\d{4,5})", re.I)
ENTRY_ANCHOR = re.compile(r"^\{ #([\w-]+) \}\s*$")


def bibliography_entries(text: str) -> dict[str, str]:
    """Anchor -> the text of its entry (the paragraph the ``{ #anchor }`` line closes)."""
    entries, block = {}, []
    for line in text.splitlines():
        m = ENTRY_ANCHOR.match(line)
        if m:
            if m.group(1) in entries:
                raise AssertionError(f"bibliography anchor #{m.group(1)} is defined twice")
            entries[m.group(1)] = " ".join(block)
            block = []
        elif line.strip():
            block.append(line)
        else:
            block = []
    return entries


def footnotes(path: Path) -> list[tuple[int, str, str]]:
    return [
        (i, m.group(1), m.group(2))
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if (m := FOOTNOTE.match(line))
    ]


ENTRIES = bibliography_entries(BIB.read_text(encoding="utf-8"))
PAGES = sorted(p for p in DOCS.rglob("*.md") if p != BIB)


def test_bibliography_parses_and_is_not_trivial():
    assert len(ENTRIES) >= 30
    for anchor, text in ENTRIES.items():
        assert re.search(r"\((19|20)\d\d", text), f"#{anchor} gives no year: {text[:80]}"
        assert "*" in text, f"#{anchor} gives no title in italics"


def test_parser_catches_a_missing_link_and_a_wrong_anchor():
    """The checks below would fail on a footnote without a link, or with a link to nowhere."""
    assert BIB_LINK.search("[^x]: Someone, *Title*, 2020.") is None
    m = BIB_LINK.search("[^x]: A. [→ references](../reference/bibliography.md#nosuchpaper)")
    assert m and m.group(2) not in ENTRIES
    with pytest.raises(AssertionError, match="twice"):
        bibliography_entries("A (2020). *T*.\n{ #a }\n\nB (2021). *U*.\n{ #a }\n")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_footnote_links_to_its_entry(page):
    problems = []
    for line, key, text in footnotes(page):
        links = BIB_LINK.findall(text)
        if not links:
            problems.append(f"{line}: footnote [^{key}] does not link to the bibliography")
            continue
        for rel, anchor in links:
            target = posixpath.normpath(posixpath.join(page.parent.relative_to(DOCS).as_posix(), rel))
            if target != "reference/bibliography.md":
                problems.append(
                    f"{line}: [^{key}] links to {rel}, which is not the bibliography from this page"
                )
            elif anchor not in ENTRIES:
                problems.append(f"{line}: [^{key}] links to #{anchor}, which is no bibliography entry")
            else:
                missing = set(ARXIV.findall(text)) - set(ARXIV.findall(ENTRIES[anchor]))
                if missing:
                    problems.append(f"{line}: [^{key}] cites arXiv {sorted(missing)} but links to #{anchor}")
    assert not problems, f"{page.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_every_arxiv_id_is_in_the_bibliography():
    known = set(ARXIV.findall(BIB.read_text(encoding="utf-8")))
    sources = [
        *PAGES,
        *(ROOT / "quizzes").glob("*.yml"),
        *(ROOT / "examples").glob("*.py"),
        *(ROOT / "src").rglob("*.py"),
    ]
    missing = {}
    for path in sources:
        for arxiv_id in ARXIV.findall(path.read_text(encoding="utf-8")):
            if arxiv_id not in known:
                missing.setdefault(arxiv_id, path.relative_to(ROOT).as_posix())
    assert not missing, "arXiv ids cited but missing from docs/reference/bibliography.md: " + ", ".join(
        f"{k} (first in {v})" for k, v in sorted(missing.items())
    )
