"""MkDocs hook: everything a page loads is served by the site itself.

* KaTeX and the Roboto fonts are copied out of ``node_modules`` (installed by ``npm ci`` from
  the committed lock file) into ``assets/vendor/``: no CDN, no font host.
* The lab notebooks in ``examples/`` (outside ``docs/``) are added as pages, for
  mkdocs-jupyter to execute and render.
* The figures of ``longctx.figures`` are drawn at build time into ``assets/figures/``.
* ``assets/data/longctx.json`` carries the tables the browser widgets read (dtype sizes, GPU
  memory and bandwidth, model presets), exported from ``longctx.costs`` and ``longctx.presets``
  so that the JavaScript never restates them.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]

VENDOR = [
    ("node_modules/katex/dist", "assets/vendor/katex",
     ["katex.min.js", "katex.min.css", "contrib/auto-render.min.js", "fonts/*.woff2", "fonts/*.woff", "fonts/*.ttf"]),
    ("node_modules/@fontsource/roboto", "assets/vendor/roboto",
     ["latin-400.css", "latin-700.css", "latin-400-italic.css",
      "files/roboto-latin-400-normal.woff*", "files/roboto-latin-700-normal.woff*",
      "files/roboto-latin-400-italic.woff*"]),
    ("node_modules/@fontsource/roboto-mono", "assets/vendor/roboto-mono",
     ["latin-400.css", "files/roboto-mono-latin-400-normal.woff*"]),
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
        files.append(File(f"examples/{nb.name}", src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))


def _figures(files: Files, config) -> None:
    from longctx import figures

    for name, draw in figures.FIGURES.items():
        files.append(File.generated(config, f"assets/figures/{name}.svg", content=draw()))


def _data(files: Files, config) -> None:
    from longctx import costs, presets

    data = {
        "bytes_per_element": costs.BYTES_PER_ELEMENT,
        "gpu_memory_bytes": {name: size for name, (size, _) in costs.GPU_MEMORY_BYTES.items()},
        "hbm_bandwidth_bytes_per_s": {name: bw for name, (bw, _) in costs.GPU_HBM_BANDWIDTH_BYTES_PER_S.items()},
        "presets": presets.presets_json()["presets"],  # model shapes with their sources (Lesson 4)
    }
    files.append(File.generated(config, "assets/data/longctx.json", content=json.dumps(data, indent=1)))


@event_priority(100)  # before mkdocs-jupyter looks for notebooks among the files
def on_files(files: Files, config) -> Files:
    _vendor(files, config)
    _examples(files, config)
    _figures(files, config)
    _data(files, config)
    return files
