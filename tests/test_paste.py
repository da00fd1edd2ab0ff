"""The paste test: every Python block of a built lesson, topic or drill page runs when copied.

For each page it takes every Python code block as Material's copy button copies it (the text of
the ``<code>``, without line numbers or annotations), in page order, and hands them to
``scripts/paste_run.py blocks`` in a fresh Python that has the standard library, ``torch`` and
``triton`` but refuses ``longctx`` (except in a block that imports it itself): a process of its
own per page, forked by one ``paste_run.py serve`` that has imported torch once (two seconds of
CPU a page otherwise). It fails naming the page, the function and the missing name, or the block
that does not paste or raises, and prints blocks and functions per page.

It reads the built site named by ``LONGCTX_SITE_DIR``; unset, it skips, saying so (the unit-test
step runs before the build). ``scripts/check.sh`` runs it after the site build.
``python tests/test_paste.py SITE`` prints the same table without pytest.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest
from _helpers import load_module

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "scripts" / "paste_run.py"
paste_run = load_module("paste_run", RUNNER)
PAGE_GLOBS = ("lessons/*/index.html", "topics/*/index.html", "course/drills/index.html")
ANNOTATION = re.compile(r"[ \t]*#[ \t]*\(\d+\)!?[ \t]*$", re.M)  # a code annotation marker, "# (1)!"


def site_dir() -> Path | None:
    """The built site to check: ``LONGCTX_SITE_DIR``, or None (a stale ``site/`` is never picked up by itself)."""
    value = os.environ.get("LONGCTX_SITE_DIR")
    return Path(value) if value else None


def pages(site: Path) -> list[Path]:
    found = []
    for pattern in PAGE_GLOBS:
        found += sorted(site.glob(pattern))
    return found


def code_blocks(html: str) -> list[str]:
    """The Python blocks of a page as the copy button copies them, in page order."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    blocks = []
    for div in soup.select("div.language-python.highlight"):
        code = next((c for c in div.find_all("code") if not c.find_parent(class_="linenos")), None)
        if code is None:
            continue
        for extra in code.select(".linenos, .md-annotation, .md-annotation__index"):
            extra.decompose()
        blocks.append(ANNOTATION.sub("", code.get_text()).rstrip() + "\n")
    return blocks


def paste_check(name: str, blocks: list[str], server) -> dict:
    """Run ``paste_run.py blocks`` on one page's blocks in a child of ``server`` (a
    ``paste_run.Server``); its JSON report."""
    with tempfile.TemporaryDirectory(prefix="paste-") as tmp:
        data = Path(tmp) / "page.json"
        data.write_text(json.dumps({"page": name, "blocks": blocks}), encoding="utf-8")
        proc = server.run(["blocks", data], tmp, timeout=600)
    if proc.returncode != 0 or not proc.stdout.strip():
        return {
            "page": name,
            "blocks": len(blocks),
            "functions": 0,
            "missing": [],
            "errors": [f"the paste run itself failed: {proc.stderr[-2000:]}"],
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def page_name(site: Path, index: Path) -> str:
    return index.parent.relative_to(site).as_posix()


def table(reports: list[dict]) -> str:
    rows = [("page", "blocks", "functions", "missing names", "paste errors")]
    rows += [
        (r["page"], str(r["blocks"]), str(r["functions"]), str(len(r["missing"])), str(len(r["errors"])))
        for r in reports
    ]
    rows.append(("total", *(str(sum(int(row[i]) for row in rows[1:])) for i in range(1, 5))))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    )


def failures(reports: list[dict]) -> list[str]:
    out = []
    for r in reports:
        out += [
            f"{r['page']}: function {m['function']} (block {m['block']}) uses {m['name']!r}, "
            "which the page never shows"
            for m in r["missing"]
        ]
        out += [f"{r['page']}: {e}" for e in r["errors"]]
    return out


def check_site(site: Path) -> list[dict]:
    with paste_run.Server() as server:
        return [
            paste_check(page_name(site, index), code_blocks(index.read_text(encoding="utf-8")), server)
            for index in pages(site)
        ]


# --- on the built site ---------------------------------------------------------------------------


def test_every_page_pastes():
    site = site_dir()
    if site is None:
        pytest.skip(
            "LONGCTX_SITE_DIR is not set: the paste test reads a built site (scripts/check.sh runs it "
            "after the build: LONGCTX_SITE_DIR=site pytest tests/test_paste.py)"
        )
    assert (site / "index.html").is_file(), f"LONGCTX_SITE_DIR={site} holds no built site (no index.html)"
    found = pages(site)
    assert any("lessons/" in str(p) for p in found), f"no lesson pages under {site}"
    reports = check_site(site)
    print("\n" + table(reports))
    problems = failures(reports)
    assert not problems, f"{len(problems)} problem(s) pasting the pages' code:\n" + "\n".join(problems)


# --- the extraction and the runner on pages of their own ---------------------------------------

PAGE = """<html><body><article>
<div class="language-python highlight"><span class="filename">a.py</span><pre><span></span><code><span id="__span-0-1"><a id="__codelineno-0-1" name="__codelineno-0-1" href="#__codelineno-0-1"></a><span class="kn">import</span> <span class="nn">math</span>
</span><span id="__span-0-2"><a id="__codelineno-0-2" href="#__codelineno-0-2"></a><span class="k">def</span> <span class="nf">f</span>(x):  <span class="c1"># (1)!</span>
</span><span id="__span-0-3"><a href="#x"></a>    <span class="k">return</span> x <span class="o">&lt;</span> math.pi <span class="ow">and</span> <span class="s2">"&amp;"</span>
</span></code></pre></div>
<div class="language-console highlight"><pre><code>$ make test</code></pre></div>
<div class="language-python highlight"><table class="highlighttable"><tr><td class="linenos"><div class="linenodiv"><pre><span class="normal">1</span></pre></div></td><td class="code"><div><pre><span></span><code>y = f(1)
</code></pre></div></td></tr></table></div>
</article></body></html>"""


def test_blocks_come_out_as_the_copy_button_copies_them():
    assert code_blocks(PAGE) == ['import math\ndef f(x):\n    return x < math.pi and "&"\n', "y = f(1)\n"]


@pytest.fixture(scope="module")
def server():
    with paste_run.Server() as s:
        yield s


@pytest.fixture
def report(server):
    """The paste check of a page of the given blocks, run as the site's pages are."""
    return lambda blocks: paste_check("lessons/x", blocks, server)


def test_a_page_that_pastes(report):
    r = report(
        [
            "import math\n\ndef f(x):\n    return g(x) + math.pi\n",
            "def g(x):\n    return 2 * x\n",
            "assert f(1) == 2 + math.pi\n",
        ]
    )
    assert (r["blocks"], r["functions"], r["missing"], r["errors"]) == (3, 2, [], [])


def test_missing_name_cut_function_and_raising_block_are_named(report):
    r = report(
        [
            "def f(x):\n    return _check(x) + helper(x)\n",  # two names the page never shows
            "    y = x + 1\n    return y\n",  # a section cut inside a function
            "z = undefined_here\n",
        ]
    )  # fails when it runs
    assert sorted((m["function"], m["name"]) for m in r["missing"]) == [("f", "_check"), ("f", "helper")]
    assert any("block 2: does not paste: unexpected indent" in e for e in r["errors"])
    assert any("block 3: raised NameError" in e and "undefined_here" in e for e in r["errors"])
    r = report(["def f(x):\n    y = x\n", "return y\n"])
    assert r["errors"] == ["block 2: does not paste: 'return' outside function (line 1: 'return y')"]


def test_longctx_is_refused_unless_the_block_imports_it(report):
    r = report(
        [
            "import importlib\nimport sys\nassert 'longctx' not in sys.modules\n"
            "try:\n    importlib.import_module('longctx')\nexcept ModuleNotFoundError:\n    refused = True\n",
            "assert refused\n",
        ]
    )
    assert r["errors"] == []
    # a bare example of the package may import public names
    r = report(["from longctx.units import FORMATS\nassert FORMATS\n"])
    assert r["errors"] == []
    # a block that does not import longctx cannot reach it, even after one that did
    r = report(
        [
            "from longctx.units import FORMATS\n",
            "import importlib\nimportlib.import_module('longctx.costs')\n",
        ]
    )
    assert len(r["errors"]) == 1 and "block 2: raised ModuleNotFoundError" in r["errors"][0]
    r = report(["from longctx.linear.reference import _readout\n"])
    assert any("private longctx name longctx.linear.reference._readout" in e for e in r["errors"])


def test_the_table_and_the_messages():
    reports = [
        {
            "page": "lessons/a",
            "blocks": 3,
            "functions": 4,
            "missing": [{"block": 1, "function": "f", "name": "_x"}],
            "errors": [],
        },
        {"page": "topics/b", "blocks": 1, "functions": 0, "missing": [], "errors": ["block 1: raised E"]},
    ]
    text = table(reports)
    assert text.splitlines()[0].split() == [
        "page",
        "blocks",
        "functions",
        "missing",
        "names",
        "paste",
        "errors",
    ]
    assert text.splitlines()[-1].split() == ["total", "4", "4", "1", "1"]
    assert failures(reports) == [
        "lessons/a: function f (block 1) uses '_x', which the page never shows",
        "topics/b: block 1: raised E",
    ]


if __name__ == "__main__":
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else (site_dir() or ROOT / "site")
    reports = check_site(site)
    print(table(reports))
    for line in failures(reports):
        print(line)
    sys.exit(1 if failures(reports) else 0)
