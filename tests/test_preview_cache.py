"""scripts/hooks/preview_cache.py and preview.py: the preview reuses work only while its inputs are unchanged."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.structure.toc import get_toc

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "scripts" / "hooks"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pc = _load("preview_cache_under_test", HOOKS / "preview_cache.py")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def package(tmp_path):
    """A small ``longctx`` under tmp_path/src: a imports b (relatively), c stands apart, d imports by name."""
    src = tmp_path / "src"
    write(src / "longctx/__init__.py", '"""pkg"""\n')
    write(src / "longctx/a.py", "from .b import g\n\ndef f(x):\n    return g(x) + 1\n")
    write(src / "longctx/b.py", "def g(x):\n    return 2 * x\n")
    write(src / "longctx/c.py", "def h():\n    return 3\n")
    write(src / "longctx/sub/__init__.py", "from longctx.sub.e import k\n")
    write(src / "longctx/sub/e.py", "def k():\n    import longctx.c\n    return longctx.c.h()\n")
    write(
        src / "longctx/d.py",
        'import importlib\n\ndef load():\n    return importlib.import_module("longctx.b")\n',
    )
    return src


def test_scan_follows_relative_absolute_nested_and_literal_imports(package):
    assert pc.closure(["longctx.a"], package) == {"longctx", "longctx.a", "longctx.b"}
    # an import inside a function counts; the parent package's file counts, not what it imports
    assert pc.closure(["longctx.sub.e"], package) == {"longctx", "longctx.sub", "longctx.sub.e", "longctx.c"}
    # a string naming a module is what import_module is given
    assert pc.closure(["longctx.d"], package) == {"longctx", "longctx.d", "longctx.b"}


def test_an_import_by_a_computed_name_depends_on_everything(package):
    write(
        package / "longctx/d.py",
        'import importlib\n\ndef load(n):\n    return importlib.import_module(f"longctx.{n}")\n',
    )
    assert pc.closure(["longctx.d"], package) == pc.all_modules(package)
    assert len(pc.all_modules(package)) == 7


def test_lab_key_changes_with_what_the_lab_imports_and_nothing_else(package, tmp_path):
    lab = write(tmp_path / "examples/01_lab.py", "# %%\nfrom longctx.a import f\nprint(f(1))\n")
    key = pc.lab_key(lab, {"execute": True}, package)
    assert pc.lab_key(lab, {"execute": True}, package) == key  # deterministic

    write(package / "longctx/c.py", "def h():\n    return 4\n")  # not imported by the lab
    assert pc.lab_key(lab, {"execute": True}, package) == key

    write(package / "longctx/b.py", "def g(x):\n    return 3 * x\n")  # imported through a
    changed = pc.lab_key(lab, {"execute": True}, package)
    assert changed != key

    lab.write_text(lab.read_text() + "print(2)\n")  # the lab itself
    assert pc.lab_key(lab, {"execute": True}, package) != changed
    assert pc.lab_key(lab, {"execute": False}, package) != pc.lab_key(lab, {"execute": True}, package)


def test_lab_key_changes_with_a_data_file_of_the_package(package, tmp_path):
    lab = write(tmp_path / "examples/01_lab.py", "# %%\nfrom longctx.a import f\n")
    key = pc.lab_key(lab, {}, package)
    write(package / "longctx/table.json", "{}")
    assert pc.lab_key(lab, {}, package) != key


def test_lab_key_changes_with_the_versions(package, tmp_path, monkeypatch):
    lab = write(tmp_path / "examples/01_lab.py", "# %%\nfrom longctx.a import f\n")
    key = pc.lab_key(lab, {}, package)
    real = pc.versions()
    monkeypatch.setattr(pc, "versions", lambda: {**real, "torch": "0.0.0"})
    assert pc.lab_key(lab, {}, package) != key


@pytest.mark.parametrize("lab", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_real_labs_are_invalidated_by_their_imports_only(lab, tmp_path):
    """On a copy of src/: editing a module a lab imports changes its key; editing one it does not, doesn't."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "longctx", src / "longctx", ignore=shutil.ignore_patterns("__pycache__"))
    path = ROOT / "examples" / lab
    used = pc.lab_modules(path, src)
    everything = pc.all_modules(src)
    assert "longctx" in used and used <= everything
    key = pc.lab_key(path, {}, src)

    imported = sorted(m for m in used if m != "longctx")[0]
    file = pc.module_file(imported, src)
    file.write_text(file.read_text() + "\n# an edit\n")
    assert pc.lab_key(path, {}, src) != key, f"{lab}: editing {imported} must invalidate it"

    unrelated = sorted(everything - used)
    if not unrelated:
        pytest.skip(f"{lab} runs every module of the package")
    key = pc.lab_key(path, {}, src)
    other = pc.module_file(unrelated[0], src)
    other.write_text(other.read_text() + "\n# an edit\n")
    assert pc.lab_key(path, {}, src) == key, f"{lab}: editing {unrelated[0]} must not invalidate it"


def test_some_lab_does_not_depend_on_the_whole_package():
    everything = pc.all_modules()
    sizes = {p.name: len(pc.lab_modules(p)) for p in (ROOT / "examples").glob("*.py")}
    assert min(sizes.values()) < len(everything), sizes


def test_store_round_trip_and_miss(tmp_path):
    store = pc.Store(tmp_path)
    assert store.get("lab", "k") is None
    store.put("lab", "k", {"content": "<p>x</p>"})
    assert store.get("lab", "k") == {"content": "<p>x</p>"}
    (tmp_path / "lab" / "bad.json").write_text("{not json")
    assert store.get("lab", "bad") is None  # a torn file is a miss, not a crash


def test_the_cache_is_off_unless_asked_for():
    assert not pc.enabled({})
    assert not pc.enabled({"LONGCTX_PREVIEW_CACHE": "0"})
    assert pc.enabled({"LONGCTX_PREVIEW_CACHE": "1"})


def test_check_sh_never_turns_the_cache_on():
    check = (ROOT / "scripts" / "check.sh").read_text()
    assert "LONGCTX_PREVIEW_CACHE" not in check and "--dirty" not in check
    serve = (ROOT / "scripts" / "serve.sh").read_text()
    assert "--dirty" in serve and "LONGCTX_PREVIEW_CACHE" in serve


def test_a_build_without_the_cache_keeps_its_lab_outputs_for_itself_only(monkeypatch, tmp_path):
    """make test's build runs the labs beside the other pages, into a folder of its own that it
    removes when done: nothing is reused by the next build, and the preview cache is not touched."""
    monkeypatch.delenv("LONGCTX_PREVIEW_CACHE", raising=False)
    monkeypatch.setenv("LONGCTX_CACHE_DIR", str(tmp_path / "cache"))
    hook = _load("preview_hook_nocache_test", HOOKS / "preview.py")
    store = hook._lab_store()
    assert store.root != tmp_path / "cache" and hook._lab_store().root == store.root
    store.put("lab", "k", {"content": "<p>x</p>"})
    hook._drop_build_store()
    assert not store.root.exists() and not (tmp_path / "cache").exists()
    assert hook._lab_store().root != store.root and hook._lab_store().get("lab", "k") is None
    hook._drop_build_store()


def test_refresh_forgets_the_modules_after_an_edit(tmp_path):
    src = tmp_path / "src"
    write(src / "prevpkg_t/__init__.py", "VALUE = 1\n")
    sys.path.insert(0, str(src))
    try:
        assert pc.refresh_package(src, "prevpkg_t") == []  # first call: takes note
        assert importlib.import_module("prevpkg_t").VALUE == 1
        assert pc.refresh_package(src, "prevpkg_t") == []
        assert "prevpkg_t" in sys.modules
        write(src / "prevpkg_t/__init__.py", "VALUE = 22\n")
        assert pc.refresh_package(src, "prevpkg_t") == ["prevpkg_t/__init__.py"]
        assert "prevpkg_t" not in sys.modules
        assert importlib.import_module("prevpkg_t").VALUE == 22
    finally:
        sys.path.remove(str(src))
        sys.modules.pop("prevpkg_t", None)


# ---- the hooks -------------------------------------------------------------------------------------


@pytest.fixture
def computed(monkeypatch, tmp_path):
    monkeypatch.setenv("LONGCTX_PREVIEW_CACHE", "1")
    monkeypatch.setenv("LONGCTX_CACHE_DIR", str(tmp_path / "cache"))
    return _load("computed_hook_preview_test", HOOKS / "computed.py")


def test_computed_numbers_are_reused_only_under_the_same_source(computed, monkeypatch):
    calls = []
    real = computed._compute
    monkeypatch.setattr(computed, "_compute", lambda inner, where: calls.append(inner) or real(inner, where))
    expression = 'costs.score_matrix_bytes(1000, bytes_per_element="fp16") | gb'
    first = computed._cached(expression, "page t.md")
    assert computed._cached(expression, "page t.md") == first
    assert len(calls) == 1
    # a different source for the module the call lives in is another key
    assert computed.modules_called(expression) == {"longctx.units", "longctx.costs"}
    key = computed.pc.modules_key("value", {"longctx.costs", "longctx.units"}, expression=expression)
    assert computed.pc.Store().get("value", key) == {"text": first, "expression": expression}


def test_computed_numbers_are_not_cached_without_the_switch(monkeypatch, tmp_path):
    monkeypatch.delenv("LONGCTX_PREVIEW_CACHE", raising=False)
    monkeypatch.setenv("LONGCTX_CACHE_DIR", str(tmp_path / "cache"))
    hook = _load("computed_hook_nocache_test", HOOKS / "computed.py")
    hook._cached('costs.score_matrix_bytes(1000, bytes_per_element="fp16") | gb', "page t.md")
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def preview():
    return _load("preview_hook_under_test", HOOKS / "preview.py")


def test_page_inputs_name_snippets_quizzes_numbers_and_api(preview):
    markdown = textwrap.dedent("""
        ```python
        --8<-- "longctx/costs.py:kv-per-token"
        ```
        {{ costs.kv_cache_bytes(1, 2) | gb }} and {{ table linear.costs.crossover_table() | a:int:A }}

        <!-- quiz: lesson-01 -->

        ::: longctx.position.rope.rope_frequencies
    """)
    files, modules = preview.page_inputs(markdown)
    names = {Path(f).relative_to(ROOT).as_posix() for f in files}
    assert {"src/longctx/costs.py", "quizzes/lesson-01.yml", "src/longctx/position/rope.py"} <= names
    assert {"longctx.costs", "longctx.linear.costs", "longctx.units"} <= modules
    # an API block is rendered from source (griffe): its module's files, not everything they import
    assert "src/longctx/kv/paged.py" not in names


def test_a_page_key_changes_with_the_code_it_shows_only(preview, tmp_path, monkeypatch):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "longctx", src / "longctx", ignore=shutil.ignore_patterns("__pycache__"))
    page = write(
        tmp_path / "docs" / "p.md", '# P\n\n```python\n--8<-- "longctx/costs.py:kv-per-token"\n```\n'
    )
    monkeypatch.setattr(preview.pc, "SRC", src)
    monkeypatch.setattr(
        preview, "page_inputs", lambda md, _real=preview.page_inputs: _real(md, src, tmp_path / "docs")
    )
    file = SimpleNamespace(abs_src_path=str(page), src_uri="p.md")
    key = preview.page_key(file, None, "shared")
    (src / "longctx" / "kv" / "__init__.py").write_text("# edited\n", encoding="utf-8")
    assert preview.page_key(file, None, "shared") == key
    costs = src / "longctx" / "costs.py"
    costs.write_text(costs.read_text() + "\n# edited\n")
    assert preview.page_key(file, None, "shared") != key
    key = preview.page_key(file, None, "shared")
    assert preview.page_key(file, None, "other shared inputs") != key


def test_a_cached_lab_page_says_so_and_keeps_its_headings(preview, monkeypatch, tmp_path):
    monkeypatch.setenv("LONGCTX_PREVIEW_CACHE", "1")
    monkeypatch.setenv("LONGCTX_CACHE_DIR", str(tmp_path / "cache"))
    lab = ROOT / "examples" / sorted(p.name for p in (ROOT / "examples").glob("*.py"))[0]
    runs = []

    def execute(config, files):
        runs.append(1)
        page.content = "<h1 id='lab'>Lab</h1><p>out</p>"
        page.toc = get_toc([{"level": 1, "id": "lab", "name": "Lab", "children": []}])

    config = SimpleNamespace(plugins={})
    for _ in range(2):
        page = SimpleNamespace(
            file=SimpleNamespace(src_uri=f"examples/{lab.name}", abs_src_path=str(lab)),
            render=execute,
            title=None,
        )
        preview.on_pre_page(page, config, None)
        page.render(config, None)
    assert len(runs) == 1
    assert page.content.startswith("<h1 id='lab'>Lab</h1><p>out</p>")
    assert 'data-preview-cache="reused"' in page.content
    assert [a.id for a in page.toc] == ["lab"] and page.title == "Lab"


# ---- partial builds (mkdocs serve --dirty) -----------------------------------------------------------


class _File:
    def __init__(self, src_uri, url, page=None, dest=None):
        self.src_uri, self.url, self.page, self.abs_dest_path = src_uri, url, page, dest


class _Files:
    def __init__(self, files):
        self._files = files

    def documentation_pages(self):
        return self._files


def test_quiz_links_are_checked_against_pages_this_build_did_not_render(tmp_path, monkeypatch):
    """A dirty build renders only some pages: the others' headings come from memory or their HTML."""
    quiz_hook = _load("quiz_hook_partial_test", ROOT / "quizzes" / "hook.py")
    write(
        tmp_path / "t-quiz.yml",
        """\
        mode: test
        questions:
          - type: choice
            prompt: "Which?"
            choices:
              - {text: "A", explanation: "Because."}
              - {text: "B", explanation: "Not so."}
            answer: 0
            teaches: "lessons/a.md#first-part"
    """,
    )
    monkeypatch.setattr(quiz_hook, "QUIZ_DIR", tmp_path)
    monkeypatch.setattr(quiz_hook, "quiz_ids", lambda quiz_dir=tmp_path: ["t-quiz"])
    monkeypatch.setattr(
        quiz_hook, "load_quiz", lambda qid, quiz_dir=tmp_path, _l=quiz_hook.load_quiz: _l(qid, tmp_path)
    )
    built = write(
        tmp_path / "site/lessons/a/index.html",
        '<html><article><h1 id="lesson-a">Lesson A</h1>'
        '<h2 id="first-part">First part<a class="headerlink" href="#first-part">&para;</a></h2></article></html>',
    )
    lesson = _File("lessons/a.md", "lessons/a/", dest=str(built))
    lesson.page = SimpleNamespace(
        title="1. A", toc=get_toc([]), content=None, file=lesson
    )  # not rendered now
    course = _File("course/t.md", "course/t/")
    course.page = SimpleNamespace(title="Test", toc=get_toc([]), content=None, file=course)
    files = _Files([course, lesson])

    quiz_hook.on_pre_build({})
    md = quiz_hook.on_page_markdown("# Test\n\n<!-- quiz: t-quiz -->\n", course.page, {}, files)
    course.page.content = md  # rendered this build
    quiz_hook.on_env(None, {}, files)
    assert '<a href="../../lessons/a/#first-part">1. A \u203a First part</a>' in course.page.content

    built.write_text(
        '<html><article><h1 id="lesson-a">Lesson A</h1><h2 id="renamed">Renamed</h2></article></html>'
    )
    quiz_hook._KNOWN.clear()
    with pytest.raises(Exception, match="has no heading with id 'first-part'"):
        quiz_hook.on_env(None, {}, files)


def test_the_dirty_notice_does_not_count_as_a_warning(preview):
    import logging

    record = logging.LogRecord(
        "mkdocs.commands.build",
        logging.WARNING,
        __file__,
        1,
        "A 'dirty' build is being performed, this will likely lead to inaccurate navigation",
        None,
        None,
    )
    other = logging.LogRecord(
        "mkdocs.commands.build", logging.WARNING, __file__, 1, "Doc file contains a link", None, None
    )
    f = preview._DirtyNotice()
    assert not f.filter(record) and f.filter(other)


def test_a_cached_page_registers_its_autorefs_anchors_again(preview, monkeypatch, tmp_path):
    """A page rendered from the cache must still be a cross-reference target (mkdocstrings' objects)."""
    monkeypatch.setenv("LONGCTX_PREVIEW_CACHE", "1")
    monkeypatch.setenv("LONGCTX_CACHE_DIR", str(tmp_path / "cache"))
    source = write(tmp_path / "docs" / "api.md", "# API\n\n::: longctx.costs\n")

    class AutorefsPlugin:
        def __init__(self):
            self.anchors = []

        def register_anchor(self, page, identifier, anchor=None, *, title=None, primary=True):
            self.anchors.append((page.file.src_uri, identifier, anchor, title, primary))

    autorefs = AutorefsPlugin()
    config = SimpleNamespace(plugins={"autorefs": autorefs})
    monkeypatch.setitem(preview._STATE, "shared", "shared-key")
    renders = []

    def render(config, files):
        renders.append(1)
        autorefs.register_anchor(page, "longctx.costs.f", "f", title="f()", primary=True)
        page.content, page.toc = (
            '<h1 id="api">API</h1>',
            get_toc([{"level": 1, "id": "api", "name": "API", "children": []}]),
        )
        page._title_from_render, page.present_anchor_ids = "API", {"api", "f"}

    for _ in range(2):
        page = SimpleNamespace(
            file=SimpleNamespace(src_uri="api.md", abs_src_path=str(source)),
            render=render,
            markdown=source.read_text(),
        )
        preview.on_pre_page(page, config, None)
        page.render(config, None)
    assert len(renders) == 1, "the second build must reuse the rendered page"
    assert autorefs.anchors == [("api.md", "longctx.costs.f", "f", "f()", True)] * 2
    assert page.content == '<h1 id="api">API</h1>' and page._title_from_render == "API"
    assert page.present_anchor_ids == {"api", "f"} and [a.id for a in page.toc] == ["api"]

    page = SimpleNamespace(
        file=SimpleNamespace(src_uri="api.md", abs_src_path=str(source)),
        render=render,
        markdown=source.read_text() + "\nNew sentence.\n",
    )
    preview.on_pre_page(page, config, None)
    page.render(config, None)
    assert len(renders) == 2, "new Markdown is rendered again"
