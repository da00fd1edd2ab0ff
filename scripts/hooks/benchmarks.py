"""MkDocs hook: the benchmark page shows the GPU results committed in docs/data/benchmarks/.

Each ``*.json`` there (written by ``python -m longctx.bench`` on a GPU, see
scripts/gpu-check.sh) becomes a section of the page that carries the marker
``<!-- benchmark-results -->``: its stamp, the goals with pass or fail, the tables and a
figure. With no file there, the page says plainly that no GPU result exists yet. A file that
is not a complete, stamped GPU result fails the build. A page that carries
``<!-- measured-linear-crossover -->`` (Lesson 3) gets the newest measured crossover of linear
attention against SDPA in its place, or the statement that none has been measured.
"""

from __future__ import annotations

import importlib
import posixpath
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files


def _module():
    """``longctx.bench.results``, imported at each use so that a preview sees the code after an edit."""
    return importlib.import_module("longctx.bench.results")


def load_results(path):
    return _module().load_results(path)


def measured_crossover(results):
    return _module().measured_crossover(results)


def result_figure(res):
    return _module().result_figure(res)


def result_tables(res):
    return _module().result_tables(res)


ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "data" / "benchmarks"
MARKER = "<!-- benchmark-results -->"
CROSSOVER_MARKER = "<!-- measured-linear-crossover -->"

_results: list[dict] = []


def on_files(files: Files, config) -> Files:
    global _results
    try:
        _results = load_results(RESULTS)
    except ValueError as err:
        raise PluginError(str(err)) from None
    for res in _results:
        name = f"assets/figures/bench-{Path(res['file']).stem}.svg"
        files.append(File.generated(config, name, content=result_figure(res)))
    return files


def _section(res: dict, page_dir: str) -> str:
    st = res["stamp"]
    dirty = " (with uncommitted changes)" if st.get("git_dirty") else ""
    lines = [
        f"### {st['card']}, {st['date'][:10]}",
        "",
        f"Driver {st['driver']}, CUDA {st.get('cuda_runtime')}, torch {st['torch']}, triton {st['triton']}, "
        f"commit `{str(st['git_commit'])[:12]}`{dirty}; "
        f"{'complete run' if res.get('complete') else 'run cut short: only what it measured'}"
        f"{', quick plan' if res.get('quick') else ''}. Raw data: [`{res['file']}`]"
        f"({_rel('data/benchmarks/' + res['file'], page_dir)}).",
        "",
    ]
    goals = res.get("goals") or []
    if goals:
        lines += ["| goal | target | worst measured | verdict |", "|:---|:---|---:|:---|"]
        for g in goals:
            verdict = {True: "met", False: "not met", None: "no verdict"}[g.get("passed")]
            worst = "n/a" if g.get("worst") is None else f"{g['worst']:.3g}"
            lines.append(
                f"| {g['name']} | {g['target']} | {worst} | {verdict}{': ' + g['note'] if g.get('note') else ''} |"
            )
        lines.append("")
    fig = _rel(f"assets/figures/bench-{Path(res['file']).stem}.svg", page_dir)
    lines += [f"![FlashAttention forward throughput measured on {st['card']}]({fig})", ""]
    for table in result_tables(res):
        lines += ["```text", table, "```", ""]
    return "\n".join(lines)


def _rel(target: str, page_dir: str) -> str:
    return posixpath.relpath(target, page_dir or ".")


def on_page_markdown(markdown: str, page, config, files) -> str:
    if CROSSOVER_MARKER in markdown:
        markdown = markdown.replace(CROSSOVER_MARKER, measured_crossover(_results))
    if MARKER not in markdown:
        return markdown
    if not _results:
        body = (
            '!!! note "No GPU result yet"\n    No GPU benchmark has been committed yet, so this page shows no GPU '
            "figure. Run `scripts/gpu-check.sh OUT` on a machine with a CUDA GPU and commit "
            "`OUT/bench.json` as `docs/data/benchmarks/<card>-<date>.json`."
        )
    else:
        page_dir = posixpath.dirname(page.file.src_uri)
        body = "\n\n".join(_section(r, page_dir) for r in _results)
    return markdown.replace(MARKER, body)
