"""MkDocs hook: everything a page loads is served by the site itself.

* KaTeX and the Roboto fonts are copied out of ``node_modules`` (installed by ``npm ci`` from
  the committed lock file) into ``assets/vendor/``: no CDN, no font host.
* The lab notebooks in ``examples/`` (outside ``docs/``) are added as pages, for
  mkdocs-jupyter to execute and render. Each is also offered for download, as its jupytext
  ``.py`` source (copied next to the page by mkdocs-jupyter's ``include_source``) and as an
  unexecuted ``.ipynb`` converted here; ``on_page_content`` puts both links under the page title.
* The figures of ``longctx.figures`` are drawn at build time into ``assets/figures/``, once the
  labs run (``on_nav``, after preview.py's ``on_files`` has started them): drawing takes a core
  for a quarter of the build, which the labs' processes would otherwise wait for.
* ``assets/data/longctx.json`` carries the tables the browser widgets read (dtype sizes, GPU
  memory and bandwidth, model presets), exported from ``longctx.costs`` and ``longctx.presets``
  so that the JavaScript never restates them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]

VENDOR = [
    (
        "node_modules/katex/dist",
        "assets/vendor/katex",
        [
            "katex.min.js",
            "katex.min.css",
            "contrib/auto-render.min.js",
            "fonts/*.woff2",
            "fonts/*.woff",
            "fonts/*.ttf",
        ],
    ),
    (
        "node_modules/@fontsource/roboto",
        "assets/vendor/roboto",
        [
            "latin-400.css",
            "latin-700.css",
            "latin-400-italic.css",
            "files/roboto-latin-400-normal.woff*",
            "files/roboto-latin-700-normal.woff*",
            "files/roboto-latin-400-italic.woff*",
        ],
    ),
    (
        "node_modules/@fontsource/roboto-mono",
        "assets/vendor/roboto-mono",
        ["latin-400.css", "files/roboto-mono-latin-400-normal.woff*"],
    ),
]


def _vendor(files: Files, config) -> None:
    for src, dest, patterns in VENDOR:
        src_dir = ROOT / src
        if not src_dir.is_dir():
            raise PluginError(f"{src} is missing: run `npm ci` (or `make serve`) before building the site")
        for pattern in patterns:
            matches = sorted(src_dir.glob(pattern))
            if not matches:
                raise PluginError(f"{src}/{pattern} matched nothing: has the npm package changed its layout?")
            for path in matches:
                rel = f"{dest}/{path.relative_to(src_dir).as_posix()}"
                files.append(File.generated(config, rel, abs_src_path=str(path)))


def _examples(files: Files, config) -> None:
    for nb in sorted((ROOT / "examples").glob("*.py")):
        files.append(
            File(
                f"examples/{nb.name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )


def _notebook_dir(name: str, config) -> str:
    """The site folder a notebook page is written to (where include_source copies its .py)."""
    stem = Path(name).stem
    return f"examples/{stem}" if config["use_directory_urls"] else "examples"


def _downloads(files: Files, config) -> None:
    import jupytext
    import nbformat

    for nb in sorted((ROOT / "examples").glob("*.py")):
        notebook = jupytext.read(nb)  # percent format -> cells, outputs empty: the reader runs it
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        notebook.metadata.pop("jupytext", None)
        files.append(
            File.generated(
                config, f"{_notebook_dir(nb.name, config)}/{nb.stem}.ipynb", content=nbformat.writes(notebook)
            )
        )


if (
    str(Path(__file__).parent) not in sys.path
):  # MkDocs loads hooks by path: make their shared module importable
    sys.path.insert(0, str(Path(__file__).parent))
import preview_cache as pc  # noqa: E402


def _figure_module(draw) -> str:
    """The module whose code draws a figure (through ``functools.partial`` too)."""
    return getattr(getattr(draw, "func", draw), "__module__", None) or "longctx.figures"


def _figures(files: Files, config) -> None:
    from longctx import figures

    store = pc.Store() if pc.enabled() else None
    for name, draw in figures.FIGURES.items():
        if store is None:
            svg = draw()
        else:
            key = pc.modules_key("figure", {_figure_module(draw)}, name=name)
            record = store.get("figure", key)
            last = store.get("figure-last", name)
            if record is not None:
                svg = record["svg"]
                pc.REPORT.hit("figures", name)
            elif last is not None and pc.serving() and pc.defer("figure", key, {"figure": name}):
                svg = last["svg"]  # the last drawing, until the new one is ready (the server then rebuilds)
                pc.REPORT.miss("figures", f"{name} (redrawing in the background)")
            else:
                svg = draw()
                store.put("figure", key, {"svg": svg, "name": name})
                pc.REPORT.miss("figures", name)
            if last is None or last.get("svg") != svg:
                store.put("figure-last", name, {"svg": svg})
        files.append(File.generated(config, f"assets/figures/{name}.svg", content=svg))


def _data(files: Files, config) -> None:
    from longctx import costs, presets

    data = {
        "bytes_per_element": costs.BYTES_PER_ELEMENT,
        "gpu_memory_bytes": {name: size for name, (size, _) in costs.GPU_MEMORY_BYTES.items()},
        "hbm_bandwidth_bytes_per_s": {
            name: bw for name, (bw, _) in costs.GPU_HBM_BANDWIDTH_BYTES_PER_S.items()
        },
        "presets": presets.presets_json()["presets"],  # model shapes with their sources (Lesson 4)
    }
    files.append(File.generated(config, "assets/data/longctx.json", content=json.dumps(data, indent=1)))


@event_priority(100)  # before mkdocs-jupyter looks for notebooks among the files
def on_files(files: Files, config) -> Files:
    _vendor(files, config)
    _examples(files, config)
    _downloads(files, config)
    _data(files, config)
    return files


def on_nav(nav, config, files: Files):
    _figures(files, config)  # before preview.py's on_nav, which keys the pages on every file
    return nav


def on_page_content(html: str, page, config, files) -> str:
    """Download links for a lab notebook: its .py source and the .ipynb made by ``_downloads``."""
    uri = page.file.src_uri
    if not (uri.startswith("examples/") and uri.endswith(".py") and uri.count("/") == 1):
        return html
    stem = Path(uri).stem
    links = (
        f'<p class="lab-downloads">Download this notebook: '
        f'<a href="{stem}.ipynb" download>{stem}.ipynb</a> (Jupyter) · '
        f'<a href="{stem}.py" download>{stem}.py</a> (jupytext percent format, runs as a script)</p>'
    )
    head, h1, rest = html.partition("</h1>")  # under the notebook's title when it has one
    return head + h1 + links + rest if h1 else links + html
