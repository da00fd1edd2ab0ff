"""The preview's cache: what a build computed is reused while nothing it read has changed.

Not a hook itself: ``scripts/hooks/preview.py``, ``assets.py`` and ``computed.py`` use it. It is
on only when ``LONGCTX_PREVIEW_CACHE=1`` (``scripts/serve.sh`` sets it); ``make test``, CI and a
plain ``mkdocs build`` never read or write it, so they always execute every lab and redraw every
figure.

What is cached, each under a key of everything it reads:

* a lab page (``examples/*.py`` executed by mkdocs-jupyter): the lab file, the source of every
  ``longctx`` module it imports (found by reading the import statements, transitively), the
  package's data files, the versions of Python and the libraries that run or render it, and
  mkdocs-jupyter's options;
* a figure of ``longctx.figures``: the source of the module that draws it and everything that
  module imports, and the versions;
* a ``{{ ... }}`` value on a page: the expression, the source of the modules of the functions
  it calls and of ``longctx.units`` (which formats it), and the versions.

Which modules a module imports is read from its source (``ast``), so nothing is executed to
find out: ``import longctx.x``, ``from longctx.x import y`` (``y`` counts when it is a module),
relative imports, imports inside functions, and a string literal naming a ``longctx`` module
(what ``importlib.import_module("longctx.x")`` is given). A module that imports with a name
computed at run time (``import_module(f"longctx.{name}")``) could import anything, so it
depends on the whole package, except where ``DYNAMIC_IMPORTS_KEYED_ELSEWHERE`` says why not.
Importing ``longctx.a.b`` also runs ``longctx/a/__init__.py``: that file is part of the key,
but what it imports is not (it does not change what ``b`` computes).

The cache lives in ``.cache/longctx-preview/`` (git-ignored), or in ``LONGCTX_CACHE_DIR``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = "longctx"
ENV = "LONGCTX_PREVIEW_CACHE"
DIR_ENV = "LONGCTX_CACHE_DIR"

log = logging.getLogger("mkdocs.plugins.longctx.preview")

#: Distributions whose version changes what a lab, a figure or a number comes out as.
VERSIONED = (
    "torch",
    "triton",
    "numpy",
    "matplotlib",
    "jupytext",
    "nbconvert",
    "nbclient",
    "ipykernel",
    "mkdocs-jupyter",
    "pygments",
)

#: Modules that import by a computed name, and why that does not make them depend on everything.
DYNAMIC_IMPORTS_KEYED_ELSEWHERE = {
    "longctx.units": "resolve() imports the module a page names; the computed hook keys on that module itself",
}


def enabled(environ=None) -> bool:
    """Whether this build may use the cache: ``LONGCTX_PREVIEW_CACHE=1``."""
    return (os.environ if environ is None else environ).get(ENV, "") == "1"


def cache_dir(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(DIR_ENV) or ROOT / ".cache" / "longctx-preview")


# ---- which modules a module reads -----------------------------------------------------------------


def module_file(name: str, src: Path = SRC) -> Path | None:
    """``src/longctx/a/b.py`` or ``src/longctx/a/b/__init__.py`` for ``longctx.a.b``, if it exists."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = src.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_name(path: Path, src: Path = SRC) -> str:
    rel = Path(path).resolve().relative_to(src.resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def scan_imports(
    source: str, name: str | None = None, is_package: bool = False, src: Path = SRC
) -> tuple[set[str], bool]:
    """``(longctx modules the source imports, whether it also imports by a computed name)``.

    ``name`` is the module's own dotted name (for relative imports); ``None`` for a lab.
    """
    tree = ast.parse(source)
    found: set[str] = set()
    dynamic = False
    package = (name if is_package else name.rpartition(".")[0]) if name else ""

    def add(candidate: str, attribute: str | None = None) -> None:
        if attribute and module_file(f"{candidate}.{attribute}", src):
            found.add(f"{candidate}.{attribute}")
        if module_file(candidate, src):
            found.add(candidate)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                add(target, alias.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(PACKAGE + ".") and module_file(node.value, src):
                found.add(node.value)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if (
                called in ("import_module", "__import__")
                and node.args
                and not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
            ):
                dynamic = True
    return found, dynamic


@lru_cache(maxsize=4096)
def _scan_file(path: str, digest: str, name: str, src: str) -> tuple[frozenset, bool]:
    imports, dynamic = scan_imports(
        Path(path).read_text(encoding="utf-8"), name, Path(path).name == "__init__.py", Path(src)
    )
    return frozenset(imports), dynamic


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (remembered while its size and modification time stay the same)."""
    st = os.stat(path)
    return _digest(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8192)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def all_modules(src: Path = SRC) -> set[str]:
    return {module_name(p, src) for p in (src / PACKAGE).rglob("*.py")}


def closure(modules, src: Path = SRC) -> set[str]:
    """Every ``longctx`` module whose source the given modules run (see the module docstring)."""
    scanned: set[str] = set()
    parents: set[str] = set()  # run on import, but what they import is not followed
    todo = sorted(m for m in modules if module_file(m, src))
    while todo:
        name = todo.pop()
        if name in scanned:
            continue
        scanned.add(name)
        path = module_file(name, src)
        imports, dynamic = _scan_file(str(path), file_digest(path), name, str(src))
        if dynamic and name not in DYNAMIC_IMPORTS_KEYED_ELSEWHERE:
            return all_modules(src)
        parents.update(p for p in _parents(name) if module_file(p, src))
        todo.extend(sorted(imports - scanned))
    return scanned | parents


def data_files(src: Path = SRC) -> list[Path]:
    """Files of the package that are not Python (tables it may read)."""
    return sorted(
        p
        for p in (src / PACKAGE).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    )


def source_digest(modules, src: Path = SRC) -> dict[str, str]:
    """``{relative path: sha256}`` of the modules' files and the package's data files."""
    out = {}
    for name in sorted(modules):
        path = module_file(name, src)
        out[path.relative_to(src).as_posix()] = file_digest(path)
    for path in data_files(src):
        out[path.relative_to(src).as_posix()] = file_digest(path)
    return out


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "implementation": sys.implementation.name}
    for dist in VERSIONED:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def make_key(kind: str, **parts) -> str:
    blob = json.dumps({"kind": kind, "versions": versions(), **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def lab_modules(lab: Path, src: Path = SRC) -> set[str]:
    """The ``longctx`` modules a lab runs: what it imports, transitively."""
    imports, dynamic = scan_imports(Path(lab).read_text(encoding="utf-8"), None, False, src)
    return all_modules(src) if dynamic else closure(imports, src)


def lab_key(lab: Path, options: dict, src: Path = SRC) -> str:
    lab = Path(lab)
    return make_key(
        "lab",
        lab=lab.name,
        text=file_digest(lab),
        options=options,
        sources=source_digest(lab_modules(lab, src), src),
        env={k: os.environ.get(k, "") for k in ("TRITON_INTERPRET", "PYTHONHASHSEED")},
    )


def modules_key(kind: str, modules, src: Path = SRC, **parts) -> str:
    return make_key(kind, sources=source_digest(closure(modules, src), src), **parts)


# ---- storage --------------------------------------------------------------------------------------


class Store:
    """JSON records under ``<cache dir>/<kind>/<key>.json``, written atomically."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else cache_dir()

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def get(self, kind: str, key: str):
        path = self._path(kind, key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, kind: str, key: str, value) -> None:
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f)
        os.replace(tmp, path)


# ---- reloading the package after an edit ----------------------------------------------------------

_loaded: dict[tuple[str, str], dict[str, str]] = {}


def package_digest(src: Path = SRC, package: str = PACKAGE) -> dict[str, str]:
    return {
        p.relative_to(src).as_posix(): file_digest(p)
        for p in sorted((src / package).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def refresh_package(src: Path = SRC, package: str = PACKAGE) -> list[str]:
    """Forget the imported ``package`` modules if one of its files changed since the last call.

    The hooks import ``longctx`` at each use (``importlib.import_module``), so the next use reads
    the new source. Returns the changed files (none on the first call, which only takes note).
    """
    now = package_digest(src, package)
    before = _loaded.get((str(src), package))
    _loaded[(str(src), package)] = now
    if before is None:
        return []
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    if changed:
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
    return changed


# ---- what this build reused and rebuilt ----------------------------------------------------------


class Report:
    """Counts for the serve log: ``reused`` and ``rebuilt`` names per kind."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.reused: dict[str, list[str]] = {}
        self.rebuilt: dict[str, list[str]] = {}

    def hit(self, kind: str, name: str) -> None:
        self.reused.setdefault(kind, []).append(name)

    def miss(self, kind: str, name: str) -> None:
        self.rebuilt.setdefault(kind, []).append(name)

    def lines(self) -> list[str]:
        out = []
        for kind in sorted(set(self.reused) | set(self.rebuilt)):
            hit, miss = self.reused.get(kind, []), self.rebuilt.get(kind, [])
            text = f"preview cache: {kind}: {len(hit)} reused, {len(miss)} rebuilt"
            if miss and len(miss) <= 12:
                text += " (" + ", ".join(miss) + ")"
            out.append(text)
        return out


REPORT = Report()


# ---- work deferred while a server shows the last result --------------------------------------------

_STATE = {"serving": False}
STALE_PAGES: set[str] = set()  # pages this build showed with a last value: rendered again later
_QUEUED: list[dict] = []  # tasks deferred by this build, run by one process after it
_IN_FLIGHT: set[tuple[str, str]] = set()
_FAILED: set[tuple[str, str]] = set()
LABS_RUNNING: set[str] = set()  # lab keys executing in processes of their own (preview.py)


def serving() -> bool:
    """Whether a preview server is up (its first build is done): work may then be deferred."""
    return _STATE["serving"] and enabled()


def set_serving(on: bool = True) -> None:
    _STATE["serving"] = on


def done_dir() -> Path:
    """Written to when background work ends; the server watches it and rebuilds."""
    return cache_dir() / "done"


def defer(kind: str, key: str, task: dict) -> bool:
    """Queue ``task`` (stored as ``(kind, key)`` when done) for the background; False if it failed before.

    ``task`` is ``{"figure": name}`` or ``{"value": expression, "where": "page ..."}``. The queue
    runs in a process of its own (``run_deferred``), started by ``start_deferred`` after the build.
    """
    if (kind, key) in _FAILED:
        return False
    if (kind, key) not in _IN_FLIGHT:
        _IN_FLIGHT.add((kind, key))
        _QUEUED.append({"kind": kind, "key": key, **task})
    return True


def drop_queue() -> None:
    """Forget tasks queued by a build that failed before it could start them."""
    for t in _QUEUED:
        _IN_FLIGHT.discard((t["kind"], t["key"]))
    _QUEUED.clear()


def start_deferred() -> int:
    """Run the queued tasks in one background process; a file in ``done_dir()`` says when it ends."""
    tasks, _QUEUED[:] = list(_QUEUED), []
    if not tasks:
        return 0
    import subprocess

    def run():
        done = subprocess.run(
            [sys.executable, __file__, "--deferred", json.dumps(tasks)],
            capture_output=True,
            text=True,
            check=False,
        )
        store = Store()
        for t in tasks:
            _IN_FLIGHT.discard((t["kind"], t["key"]))
            if store.get(t["kind"], t["key"]) is None:
                _FAILED.add(
                    (t["kind"], t["key"])
                )  # the next build computes it in the foreground and reports why
        if done.returncode:
            log.info(f"preview: background work ended with exit {done.returncode}: {done.stderr[-500:]}")
        signal_if_idle()

    threading.Thread(target=run, name="preview-deferred", daemon=True).start()
    return len(tasks)


def run_deferred(tasks: list[dict]) -> None:
    """In the background process: draw the figures and compute the numbers, storing each under its key."""
    store = Store()
    computed = None
    for t in tasks:
        try:
            if "figure" in t:
                from longctx import figures

                store.put(t["kind"], t["key"], {"svg": figures.FIGURES[t["figure"]](), "name": t["figure"]})
            else:
                if computed is None:
                    spec = importlib.util.spec_from_file_location(
                        "computed_deferred", Path(__file__).with_name("computed.py")
                    )
                    computed = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(computed)
                store.put(
                    t["kind"],
                    t["key"],
                    {"text": computed._compute(t["value"], t["where"]), "expression": t["value"]},
                )
        except Exception as err:  # noqa: BLE001 - the foreground build reports it
            print(f"{t.get('figure') or t.get('value')}: {type(err).__name__}: {err}", file=sys.stderr)


def signal_if_idle() -> None:
    """Once nothing runs in the background any more, tell the server to rebuild (one rebuild, not one each)."""
    if not _IN_FLIGHT and not LABS_RUNNING and serving():
        done_dir().mkdir(parents=True, exist_ok=True)
        (done_dir() / "done.txt").write_text(f"{time.time()}\n", encoding="utf-8")


def last_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def in_flight() -> int:
    return len(_IN_FLIGHT)


# ---- labs executed beside the build -------------------------------------------------------------


def execute_lab(lab: Path, options: dict, key: str, store: Store | None = None) -> None:
    """Execute and render one lab as mkdocs-jupyter would, and store the page under ``key``.

    The preview runs this in a process of its own for each lab missing from the cache (see
    ``preview.py``), so that the labs run while the build renders the other pages.
    """
    import time

    from mkdocs_jupyter import convert
    from mkdocs_jupyter.plugin import _get_nb_toc_tokens

    body = convert.nb2html(
        str(lab),
        execute=options["execute"],
        kernel_name=options["kernel_name"],
        theme=options["theme"],
        allow_errors=options["allow_errors"],
        show_input=options["show_input"],
        no_input=options["no_input"],
        no_prompt=options["no_prompt"],
        remove_tag_config=options["remove_tag_config"],
        highlight_extra_classes=options["highlight_extra_classes"],
        include_requirejs=options["include_requirejs"],
        custom_mathjax_url=options["custom_mathjax_url"],
    )
    tokens, title = _get_nb_toc_tokens(str(lab), options["toc_depth"])
    (store or Store()).put(
        "lab",
        key,
        {
            "content": body,
            "toc": tokens,
            "title": title,
            "lab": Path(lab).name,
            "executed": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
    )


if __name__ == "__main__":  # python preview_cache.py LAB OPTIONS_JSON KEY | --deferred TASKS_JSON
    if sys.argv[1] == "--deferred":
        run_deferred(json.loads(sys.argv[2]))
    else:
        execute_lab(Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3])
