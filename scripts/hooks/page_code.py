"""MkDocs hook: each lesson and topic page offers the code it shows as one ``.py`` file.

The file is assembled at build time from the ``--8<-- "path:section"`` includes of the page, in
page order and without repeats: every section's imports gathered at the top (each once), then
the sections themselves, then the page's short demo from ``page_demos/<page>.py`` (from its
``if __name__ == "__main__":`` line on), which checks the page's main function against
``torch.nn.functional.scaled_dot_product_attention`` or a float64 formula written in the demo.
Since every shown section is whole functions with their own imports (the section rule that
``scripts/check_snippet_coverage.py`` enforces), the file runs as a script without ``longctx``;
``tests/test_page_code.py`` runs each one so, in a process that refuses to import ``longctx``.

``on_files`` generates every page's file on every build, full or ``--dirty`` (it reads only the
Markdown sources and ``src/``, never another page's rendering); ``on_page_content`` puts the link
under the page's title, as ``assets.py`` does for the labs.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import textwrap
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DEMOS = Path(__file__).resolve().parent / "page_demos"
PAGE_DIRS = ("lessons/", "topics/")  # pages (relative to docs/) that offer their code
DEMO_START = 'if __name__ == "__main__":'


def _gate():
    """``scripts/check_snippet_coverage.py``, which owns the include grammar and the section markers."""
    name = "check_snippet_coverage"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def offers_code(src_uri: str) -> bool:
    """Whether the page ``src_uri`` (relative to docs/) gets a code file: lessons and topics."""
    return src_uri.endswith(".md") and src_uri.startswith(PAGE_DIRS) and src_uri.count("/") == 1


def code_name(src_uri: str) -> str:
    """``lessons/03-linear-and-ssm.md`` -> ``linear_and_ssm.py``: a name Python can import."""
    stem = re.sub(r"^[0-9]+[-_]", "", Path(src_uri).stem)
    return re.sub(r"[^0-9a-zA-Z_]", "_", stem) + ".py"


def code_uri(src_uri: str, use_directory_urls: bool) -> str:
    """Where the file goes in the site: beside the page's ``index.html``."""
    folder = src_uri[: -len(".md")] if use_directory_urls else str(Path(src_uri).parent)
    return f"{folder}/{code_name(src_uri)}"


def page_targets(markdown: str, src_dir: Path = SRC) -> list[str]:
    """The ``path:section`` targets a page includes from ``src/``, in page order, each once."""
    gate = _gate()
    found, _ = gate.includes_in_text(markdown, Path("page.md"))
    targets = []
    for inc in found:
        path, section, _lines = gate.split_target(inc.target)
        if section and (src_dir / path).is_file() and inc.target not in targets:
            targets.append(inc.target)
    return targets


def section_source(target: str, src_dir: Path = SRC) -> str:
    """The text of a section as a page shows it: between its markers, other markers dropped, dedented."""
    gate = _gate()
    path, section, _ = gate.split_target(target)
    start, end = gate.section_span(src_dir / path, section)
    lines = (src_dir / path).read_text(encoding="utf-8").splitlines()[start : end - 1]
    kept = [line for line in lines if not gate.MARKER.search(line)]
    return textwrap.dedent("\n".join(kept)).strip("\n")


def split_imports(source: str) -> tuple[list[str], str]:
    """A section's top-level import statements (as written) and the rest of its text.

    A section that does not parse is returned whole, so that the file shows the problem.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [], source
    lines = source.splitlines()
    imports, drop = [], set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
            drop.update(range(node.lineno, node.end_lineno + 1))
    body = "\n".join(line for number, line in enumerate(lines, start=1) if number not in drop)
    return imports, re.sub(r"\n{3,}", "\n\n\n", body).strip("\n")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def demo_text(src_uri: str, demos: Path = DEMOS) -> str:
    """The page's demo, from its ``if __name__ == "__main__":`` line to the end."""
    path = demos / f"{Path(src_uri).stem}.py"
    if not path.is_file():
        raise PluginError(
            f"page_code: {src_uri} shows code but has no demo: write {_shown(path)} "
            f"(a '{DEMO_START}' block that checks the page's main function)"
        )
    text = path.read_text(encoding="utf-8")
    if DEMO_START not in text:
        raise PluginError(f"page_code: {_shown(path)} has no '{DEMO_START}' line")
    return text[text.index(DEMO_START) :].rstrip() + "\n"


def assemble(src_uri: str, markdown: str, *, src_dir: Path = SRC, demos: Path = DEMOS) -> str | None:
    """The code file of page ``src_uri`` with Markdown ``markdown``, or None when it shows no section."""
    targets = page_targets(markdown, src_dir)
    if not targets:
        return None
    title = next((m.group(1).strip() for m in re.finditer(r"^#[ \t]+(.+)$", markdown, re.M)), src_uri)
    imports, bodies = [], []
    for target in targets:
        try:
            text = section_source(target, src_dir)
        except ValueError:  # no such section: the snippet include and the coverage gate say so
            bodies.append(f"# --- {target}: no such section ---")
            continue
        section_imports, body = split_imports(text)
        imports += [imp for imp in section_imports if imp not in imports]
        if body:
            bodies.append(f"# --- {target} ---\n\n{body}")
    listing = "\n".join(f"    {t}" for t in targets)
    header = (
        f'"""{title}: the code this page shows, as one file.\n\n'
        f"The sections of longctx that docs/{src_uri} includes, in page order, with their imports\n"
        f"gathered here (it needs torch, and triton for any kernel, but not longctx):\n\n{listing}\n\n"
        f"Run it as a script: the demo at the end checks the page's main function.\n"
        '"""\n'
    )
    parts = [header, "\n".join(imports), *bodies, demo_text(src_uri, demos)]
    return "\n\n\n".join(part.strip("\n") for part in parts if part.strip()) + "\n"


def on_files(files: Files, config) -> Files:
    docs = Path(config["docs_dir"])
    for page in sorted(docs.glob("*/*.md")):
        uri = page.relative_to(docs).as_posix()
        if not offers_code(uri):
            continue
        code = assemble(uri, page.read_text(encoding="utf-8"))
        if code is not None:
            files.append(File.generated(config, code_uri(uri, config["use_directory_urls"]), content=code))
    return files


def on_page_content(html: str, page, config, files) -> str:
    """The download link under the page's title."""
    uri = page.file.src_uri
    if not offers_code(uri) or files.get_file_from_path(code_uri(uri, config["use_directory_urls"])) is None:
        return html
    name = code_name(uri)
    link = (
        f'<p class="page-code">This page\'s code as one file: <a href="{name}" download>{name}</a> '
        f"(every function shown here, in page order, with a short check at the end; "
        f"needs torch, and triton for a kernel, but not longctx)</p>"
    )
    head, h1, rest = html.partition("</h1>")
    return head + h1 + link + rest if h1 else link + html
