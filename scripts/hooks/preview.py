"""MkDocs hook: a preview that rebuilds only what an edit changed (``make serve``).

``scripts/serve.sh`` runs ``mkdocs serve --dirty`` with ``LONGCTX_PREVIEW_CACHE=1``. Then:

* **Labs** come from the cache of ``preview_cache`` when nothing they read has changed (the lab,
  the ``longctx`` modules it imports, the versions), and are executed otherwise.
* **Which pages a rebuild renders** is decided here, by a key of everything each page reads,
  instead of MkDocs's own test (a page's file newer than its HTML), which knows nothing of the
  code a page includes, the numbers it computes or the quizzes it shows. A Markdown page's key
  holds its text, the files its ``--8<--`` sections come from, the source of the ``longctx``
  modules its ``{{ }}`` numbers, quizzes, ``:::`` API blocks and benchmark results call, the
  quizzes' YAML and the pages they link to, and what every page shares: ``mkdocs.yml``, the
  hooks, ``docs/includes/``, the theme overrides, the list of pages and the versions. A lab's key
  is its cache key. A page whose key is unchanged since the last build of this server, and
  whose HTML is still there, is left as it is.
* **After an edit of ``src/``** the imported ``longctx`` modules are forgotten (the hooks import
  them at each use), so numbers, figures and quizzes are computed by the new code.

The serve log says, for every rebuild, which pages were rendered and which were reused, and
what the cache reused and recomputed. Without ``LONGCTX_PREVIEW_CACHE=1`` (``make test``, CI, a
plain ``mkdocs build``) nothing is cached and every page is rendered; the labs still run two at
a time in processes of their own while the other pages render (their outputs kept in a
temporary folder for this build only), which takes a third off a build on two cores. The package
is still reloaded after an edit and the hooks still work on a ``--dirty`` build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc

if (
    str(Path(__file__).parent) not in sys.path
):  # MkDocs loads hooks by path: make their shared module importable
    sys.path.insert(0, str(Path(__file__).parent))
import preview_cache as pc  # noqa: E402

log = pc.log
ROOT = pc.ROOT

JUPYTER_OPTIONS = (
    "execute",
    "kernel_name",
    "theme",
    "allow_errors",
    "show_input",
    "no_input",
    "no_prompt",
    "remove_tag_config",
    "highlight_extra_classes",
    "include_requirejs",
    "custom_mathjax_url",
    "toc_depth",
    "ignore_h1_titles",
    "include_source",
)
PAGE_VERSIONED = (
    "mkdocs",
    "mkdocs-material",
    "pymdown-extensions",
    "markdown",
    "mkdocstrings",
    "mkdocstrings-python",
    "griffe",
    "mkdocs-autorefs",
)

_SNIPPET = re.compile(r"""--8<--\s+["']([^"':]+)""")
_EXPR = re.compile(r"\{\{(.+?)\}\}", re.S)
_CALL = re.compile(r"\b([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\.[A-Za-z_][A-Za-z0-9_]*\s*\(")
_QUIZ = re.compile(r"<!--\s*quiz:\s*([a-z0-9-]+)\s*-->|data-progress-quiz=\"([a-z0-9-]+)\"")
_QUIZ_CALL = re.compile(r"call:\s*['\"]?([a-z_][a-z0-9_.]*)\.[A-Za-z_]\w*")
_TEACHES = re.compile(r"teaches:\s*['\"]?([^#'\"\s]+)#")
_API = re.compile(r"^:::\s*(longctx[\w.]*)", re.M)
_BENCH_MARKERS = ("<!-- benchmark-results -->", "<!-- measured-linear-crossover -->")

# What this server's earlier builds left in each site directory: {site_dir: {src_uri: key}}.
_BUILT: dict[str, dict[str, str]] = {}
_PENDING: dict[str, str] = {}
_STATE = {"dirty": False, "start": 0.0, "changed": []}


class _DirtyNotice(logging.Filter):
    """The preview is dirty on purpose: MkDocs's warning about it must not abort a strict build."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("A 'dirty' build is being performed")


def on_startup(command, dirty):
    _STATE["dirty"] = bool(dirty)
    if dirty:
        logging.getLogger("mkdocs.commands.build").addFilter(_DirtyNotice())


@event_priority(100)  # before any hook uses longctx
def on_config(config):
    _STATE["start"] = time.monotonic()
    _STATE["changed"] = pc.refresh_package()
    if _STATE["changed"]:
        shown = ", ".join(_STATE["changed"][:5]) + (" ..." if len(_STATE["changed"]) > 5 else "")
        log.info(f"preview: src changed ({shown}): longctx is imported afresh")
    pc.REPORT.clear()
    pc.STALE_PAGES.clear()
    pc.drop_queue()
    _PENDING.clear()
    return config


# ---- the key of a page ------------------------------------------------------------------------------


def _digest(*paths: Path) -> dict[str, str]:
    out = {}
    for path in map(Path, paths):
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        try:
            out[name] = pc.file_digest(path)
        except OSError:
            out[name] = "missing"
    return out


def _module_of(dotted: str) -> str | None:
    """The longest prefix of ``longctx.<dotted>`` that is a module."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if pc.module_file(name):
            return name
    return None


def shared_key(config, files) -> str:
    """What every page reads: config, hooks, includes, theme overrides, the list of pages, versions."""
    paths = [Path(config.config_file_path)]
    for folder, pattern in (
        ("scripts/hooks", "**/*.py"),
        ("quizzes", "*.py"),
        ("docs/includes", "**/*"),
        ("docs/overrides", "**/*"),
    ):
        paths += sorted(p for p in (ROOT / folder).glob(pattern) if p.is_file())
    pages = sorted((f.src_uri, f.url) for f in files.documentation_pages())
    versions = {d: pc.versions().get(d) or _version(d) for d in PAGE_VERSIONED}
    return pc.make_key("shared", files=_digest(*paths), pages=pages, page_versions=versions)


def _version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def page_inputs(markdown: str, src: Path = pc.SRC, docs: Path = ROOT / "docs") -> tuple[list[Path], set[str]]:
    """``(files, longctx modules)`` a Markdown page reads, found in its text."""
    files, modules = [], set()
    for path in _SNIPPET.findall(markdown):
        files += [base / path for base in (src, docs / "includes") if (base / path).is_file()] or [src / path]
    for expression in _EXPR.findall(markdown):
        for dotted in _CALL.findall(expression):
            name = _module_of(f"longctx.{dotted}")
            if name:
                modules.add(name)
        if "(" in expression and not _CALL.search(expression):
            modules |= pc.all_modules(src)  # a call we cannot name: depend on everything
    for m in _QUIZ.finditer(markdown):
        quiz = ROOT / "quizzes" / f"{m.group(1) or m.group(2)}.yml"
        files.append(quiz)
        text = quiz.read_text(encoding="utf-8") if quiz.is_file() else ""
        for dotted in _QUIZ_CALL.findall(text):
            name = _module_of(f"longctx.{dotted}")
            if name:
                modules.add(name)
        files += [docs / page for page in _TEACHES.findall(text)]
    for dotted in _API.findall(markdown):
        files += api_sources(dotted, src)
    if any(marker in markdown for marker in _BENCH_MARKERS):
        modules.add("longctx.bench.results")
        files += sorted((docs / "data" / "benchmarks").glob("*"))
    if modules:
        modules.add("longctx.units")
    return files, modules


def api_sources(dotted: str, src: Path = pc.SRC) -> list[Path]:
    """What a ``::: longctx.x`` block is rendered from: griffe reads source, it runs nothing.

    The module's file (all of a package's files), its parents' ``__init__.py``, and the files of
    the ``longctx`` modules the module's own file imports directly (what it may re-export).
    """
    name = _module_of(dotted)
    if not name:
        return []
    path = pc.module_file(name, src)
    own = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    parents = [pc.module_file(p, src) for p in pc._parents(name)]
    found, _ = pc.scan_imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", src)
    imported = {pc.module_file(m, src) for m in found}
    return sorted(set(own) | {p for p in parents if p} | imported)


def page_key(file, config, shared: str) -> str:
    path = Path(file.abs_src_path)
    if _is_lab(file):
        return pc.make_key("lab-page", lab=_lab_key(path, config), shared=shared)
    markdown = path.read_text(encoding="utf-8")
    files, modules = page_inputs(markdown)
    return pc.make_key(
        "page",
        text=hashlib.sha256(markdown.encode()).hexdigest(),
        files=_digest(*files),
        sources=pc.source_digest(pc.closure(modules)),
        shared=shared,
    )


def _is_lab(file) -> bool:
    uri = file.src_uri
    return uri.startswith("examples/") and uri.endswith(".py") and uri.count("/") == 1


def _jupyter_options(config) -> dict:
    plugin = config.plugins.get("mkdocs-jupyter")
    return {k: plugin.config.get(k) for k in JUPYTER_OPTIONS} if plugin else {}


def _lab_key(path: Path, config) -> str:
    return pc.lab_key(path, _jupyter_options(config))


@event_priority(-100)  # after every hook and plugin has added its files
def on_nav(nav, config, files):
    """On a dirty build, mark as modified exactly the pages whose key changed."""
    shared = _STATE["shared"] = shared_key(config, files) if (pc.enabled() or _STATE["dirty"]) else ""
    if not _STATE["dirty"]:
        return nav
    built = _BUILT.setdefault(config.site_dir, {})
    rendered, reused = [], []
    for file in files.documentation_pages():
        key = page_key(file, config, shared)
        _PENDING[file.src_uri] = key
        same = built.get(file.src_uri) == key and os.path.isfile(file.abs_dest_path)
        file.is_modified = (lambda: False) if same else (lambda: True)  # what a --dirty build asks
        (reused if same else rendered).append(file.src_uri)
    log.info(
        f"preview: rendering {len(rendered)} page(s), reusing {len(reused)}"
        + (f": {', '.join(rendered)}" if rendered and len(rendered) <= 12 else "")
    )
    return nav


# ---- labs from the cache, or executed beside the build --------------------------------------------------

#: Labs executed at once, each in a process of its own, while the build renders the other pages.
LAB_WORKERS = int(os.environ.get("LONGCTX_PREVIEW_LAB_WORKERS", "2"))
_JOBS: dict[str, object] = {}  # lab key -> Future of (exit code, stderr tail)
_FAILED: set[str] = set()  # lab keys whose background run failed: executed in the build instead
_GATES: list[threading.Event] = []  # set when the labs queued by a build may start
_BUILD_STORE: list[Path] = []  # without the cache: this build's temporary folder of lab outputs


def _lab_store() -> pc.Store:
    """Where lab outputs go: the preview cache, or (a build without it) this build's own folder."""
    if pc.enabled():
        return pc.Store()
    if not _BUILD_STORE:
        _BUILD_STORE.append(Path(tempfile.mkdtemp(prefix="longctx-labs-")))
    return pc.Store(_BUILD_STORE[0])


#: Said on a lab page whose outputs the preview reused; never in a build without the cache.
CACHED_NOTE = (
    '<p class="lc-preview-cached" data-preview-cache="reused"><em>Preview: these outputs were reused '
    "from the run of {when}; nothing the lab reads has changed since.</em></p>"
)
#: Said on a lab page shown from its last run while the lab runs again after an edit.
STALE_NOTE = (
    '<div class="admonition warning lc-preview-stale" data-preview-cache="stale"><p class="admonition-title">'
    "Preview: re-running</p><p>Something this lab reads changed. These are the outputs of its run of {when}; "
    "the page updates by itself when the new run ends.</p></div>"
)


def _release_labs() -> None:
    for gate in _GATES:
        gate.set()
    _GATES.clear()


def _drop_build_store() -> None:
    """A build without the cache keeps nothing: the next one runs every lab again."""
    if _BUILD_STORE:
        shutil.rmtree(_BUILD_STORE.pop(), ignore_errors=True)


def on_build_error(error):
    _release_labs()  # labs queued by a build that failed still run
    if not pc.enabled():
        _drop_build_store()


def _run_lab(path: Path, options: dict, key: str, gate: threading.Event, store: pc.Store) -> tuple[int, str]:
    gate.wait()
    try:
        done = subprocess.run(
            [sys.executable, str(Path(pc.__file__)), str(path), json.dumps(options), key],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, pc.DIR_ENV: str(store.root)},
        )
    finally:
        pc.LABS_RUNNING.discard(key)
    if done.returncode:
        _FAILED.add(key)
    pc.signal_if_idle()  # the rebuild after the last background result picks up the new outputs
    return done.returncode, done.stderr[-2000:]


def on_serve(server, config, builder):
    """From now on, work may be deferred: rebuild when a lab, figure or number done in the background is ready."""
    if pc.enabled():
        pc.done_dir().mkdir(parents=True, exist_ok=True)
        server.watch(str(pc.done_dir()))
        pc.set_serving(True)
    return server


@event_priority(-100)  # after mkdocs-jupyter has taken the notebooks
def on_files(files, config):
    """Start executing, in the background, every lab the cache lacks (without the cache: every lab)."""
    if LAB_WORKERS < 1:
        return files
    store, options = _lab_store(), _jupyter_options(config)
    missing = []
    for file in files.documentation_pages():
        if _is_lab(file):
            key = _lab_key(Path(file.abs_src_path), config)
            if store.get("lab", key) is None and key not in _JOBS and key not in _FAILED:
                missing.append((Path(file.abs_src_path), key))
    if missing:
        # On the first build the labs run while the other pages render; after an edit, once this build
        # has served its pages (on_post_build), so that they do not slow it down.
        gate = threading.Event()
        if not pc.serving():
            gate.set()
        _GATES.append(gate)
        pool = ThreadPoolExecutor(max_workers=LAB_WORKERS, thread_name_prefix="lab")
        for path, key in missing:
            pc.LABS_RUNNING.add(key)  # from now until it ends, queued or running
            _JOBS[key] = pool.submit(_run_lab, path, options, key, gate, store)
        pool.shutdown(wait=False)
        when = "now" if gate.is_set() else "after this build"
        log.info(
            f"preview: executing {len(missing)} lab(s) in the background ({when}): "
            f"{', '.join(p.stem for p, _ in missing)}"
        )
    return files


def toc_tokens(toc) -> list[dict]:
    return [{"level": a.level, "id": a.id, "name": a.title, "children": toc_tokens(a.children)} for a in toc]


def _autorefs(config):
    plugins = getattr(config, "plugins", None) or {}
    return next((p for p in plugins.values() if type(p).__name__ == "AutorefsPlugin"), None)


def _cache_render(page, config) -> None:
    """A Markdown page's HTML from the cache while its key and its Markdown (numbers in) are unchanged.

    What the page registered with autorefs while it was rendered (mkdocstrings' objects, headings)
    is registered again, so that other pages' cross-references still resolve.
    """
    store, render = pc.Store(), page.render

    def cached(self, config, files):
        key = pc.make_key(
            "render",
            page=page_key(self.file, config, _STATE.get("shared", "")),
            uri=self.file.src_uri,
            markdown=hashlib.sha256((self.markdown or "").encode()).hexdigest(),
        )
        autorefs = _autorefs(config)
        record = store.get("render", key)
        if record is not None:
            self.content, self.toc = record["content"], get_toc(record["toc"])
            self._title_from_render = record["title"]
            self.present_anchor_ids = set(record["anchors"])
            for call in record["autorefs"] if autorefs else ():
                autorefs.register_anchor(
                    self, call["identifier"], call["anchor"], title=call["title"], primary=call["primary"]
                )
            pc.REPORT.hit("pages", self.file.src_uri)
            return
        calls = []
        if autorefs is not None:
            real = autorefs.register_anchor

            def record_anchor(page_, identifier, anchor=None, *, title=None, primary=True):
                if page_ is self:
                    calls.append(
                        {"identifier": identifier, "anchor": anchor, "title": title, "primary": primary}
                    )
                return real(page_, identifier, anchor, title=title, primary=primary)

            autorefs.register_anchor = record_anchor
        try:
            render(config, files)
        finally:
            if autorefs is not None:
                del autorefs.register_anchor
        store.put(
            "render",
            key,
            {
                "content": self.content,
                "toc": toc_tokens(self.toc),
                "uri": self.file.src_uri,
                "title": getattr(self, "_title_from_render", None),
                "autorefs": calls,
                "anchors": sorted(getattr(self, "present_anchor_ids", None) or ()),
            },
        )
        pc.REPORT.miss("pages", self.file.src_uri)

    page.render = cached.__get__(page, Page)


@event_priority(-100)  # after mkdocs-jupyter has put its renderer on the page
def on_pre_page(page, config, files):
    if not _is_lab(page.file):
        if pc.enabled() and page.file.src_uri.endswith(".md") and _STATE.get("shared"):
            _cache_render(page, config)
        return page
    path = Path(page.file.abs_src_path)
    key = _lab_key(path, config)
    store = _lab_store()
    execute = page.render
    ignore_h1 = bool(_jupyter_options(config).get("ignore_h1_titles"))

    def show(self, record, note: str = "") -> None:
        self.content, self.toc = record["content"] + note, get_toc(record["toc"])
        if record["title"] is not None and not ignore_h1:
            self.title = record["title"]

    def render(self, config, files):
        started = time.monotonic()
        job = _JOBS.get(key)
        if job is not None and not job.done():
            last = store.get("lab-last", path.stem)
            record = store.get("lab", last["key"]) if last else None
            if record is not None and pc.serving():  # show the last run; rebuild when this one ends
                show(self, record, STALE_NOTE.format(when=record.get("executed", "an earlier build")))
                _PENDING[page.file.src_uri] = "stale"
                pc.REPORT.miss("labs", f"{path.stem} (re-running in the background; last run shown)")
                return
            _release_labs()  # nothing to show meanwhile: this build waits for the lab
            job.result()
        if job is not None:
            _JOBS.pop(key, None)
            record = store.get("lab", key)
            if record is not None:
                show(self, record)
                store.put("lab-last", path.stem, {"key": key})
                pc.REPORT.miss(
                    "labs", f"{path.stem} (ran in the background; waited {time.monotonic() - started:.1f}s)"
                )
                return
            log.info(f"preview: {path.stem} failed in the background; executing it here to report why")
        record = store.get("lab", key)
        if record is not None:
            show(self, record, CACHED_NOTE.format(when=record.get("executed", "an earlier build")))
            store.put("lab-last", path.stem, {"key": key})
            pc.REPORT.hit("labs", path.stem)
            return
        execute(config, files)
        tokens = toc_tokens(self.toc)
        title = next((t["name"] for t in tokens if t["level"] == 1), None)
        executed = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        store.put(
            "lab",
            key,
            {"content": self.content, "toc": tokens, "title": title, "lab": path.name, "executed": executed},
        )
        store.put("lab-last", path.stem, {"key": key})
        _FAILED.discard(key)
        pc.REPORT.miss("labs", f"{path.stem} {time.monotonic() - started:.1f}s")

    page.render = render.__get__(page, Page)
    return page


def on_post_build(config):
    built = _BUILT.setdefault(config.site_dir, {})
    built.update(_PENDING)
    for uri in pc.STALE_PAGES:  # shown with a last value: render again once it is computed
        built[uri] = "stale"
    if pc.enabled():
        for line in pc.REPORT.lines():
            log.info(line)
    else:  # every lab of this build was waited for in on_pre_page
        _drop_build_store()
    _release_labs()
    started = pc.start_deferred()
    if started:
        log.info(f"preview: {started} figure(s) and number(s) of this build are computing in the background")
    waiting = pc.in_flight() + sum(1 for job in _JOBS.values() if not job.done())
    if waiting:
        log.info(
            f"preview: {waiting} result(s) still computing in the background; their pages update when ready"
        )
    log.info(f"preview: built in {time.monotonic() - _STATE['start']:.1f}s")
