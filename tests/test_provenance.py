"""The provenance line of every page (scripts/hooks/provenance.py), without MkDocs.

The versions must be the installed ones (read here through importlib.metadata and git
independently of the hook), the commit "unknown" outside a checkout, the date reproducible with
SOURCE_DATE_EPOCH, and the line must escape what it shows and fail loudly where it has no place.
The browser tests check the line on the built pages.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from mkdocs.exceptions import PluginError

import longctx

ROOT = Path(__file__).resolve().parents[1]


def _load_hook():
    spec = importlib.util.spec_from_file_location(
        "provenance_hook_under_test", ROOT / "scripts" / "hooks" / "provenance.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load_hook()
HAVE_GIT = shutil.which("git") is not None


def test_versions_are_the_installed_ones():
    info = hook.collect()
    assert info["torch"] == importlib.metadata.version("torch")
    assert info["triton"] == importlib.metadata.version("triton")
    assert info["longctx"] == longctx.__version__
    assert info["torch"].split("+")[0].count(".") >= 1


def test_missing_distribution_is_unknown():
    assert hook.distribution_version("surely-not-an-installed-distribution-xyz") == "unknown"


@pytest.mark.skipif(not HAVE_GIT, reason="git is not installed")
def test_commit_of_this_checkout():
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert hook.git_state(ROOT) == (head.stdout.strip(), bool(status.strip()))


@pytest.mark.skipif(not HAVE_GIT, reason="git is not installed")
def test_commit_outside_git_is_unknown(tmp_path):
    assert hook.git_state(tmp_path) == ("unknown", False)


@pytest.mark.skipif(not HAVE_GIT, reason="git is not installed")
def test_clean_and_dirty_repository(tmp_path):
    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-q", "-m", "first")
    commit, dirty = hook.git_state(tmp_path)
    expected = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert (commit, dirty) == (expected, False)
    (tmp_path / "b.txt").write_text("b")  # an untracked file is an uncommitted change too
    assert hook.git_state(tmp_path) == (expected, True)


def test_build_date():
    assert hook.build_date({"SOURCE_DATE_EPOCH": "0"}) == "1970-01-01"
    assert hook.build_date({"SOURCE_DATE_EPOCH": "1700000000"}) == "2023-11-14"
    today = hook.build_date({})
    assert len(today) == 10 and today[4] == today[7] == "-"
    with pytest.raises(PluginError, match="SOURCE_DATE_EPOCH"):
        hook.build_date({"SOURCE_DATE_EPOCH": "yesterday"})


class _Attrs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.attrs, self.text = {}, []

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self.attrs = dict(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_render_shows_and_escapes():
    info = {
        "torch": "2.1<b>",
        "triton": '3"0',
        "longctx": "0.1",
        "commit": "abc1234",
        "dirty": True,
        "date": "2025-01-02",
    }
    out = hook.render(info)
    assert "<b>" not in out
    p = _Attrs()
    p.feed(out)
    assert p.attrs["data-torch"] == "2.1<b>" and p.attrs["data-triton"] == '3"0'
    assert p.attrs["data-commit"] == "abc1234" and p.attrs["data-dirty"] == "true"
    text = "".join(p.text)
    assert "torch 2.1<b>" in text and "abc1234 (with uncommitted changes)" in text and "2025-01-02" in text
    clean = hook.render({**info, "dirty": False})
    assert "uncommitted" not in clean and 'data-dirty="false"' in clean
    unknown = hook.render({**info, "commit": "unknown", "dirty": False})
    assert "from an unknown commit" in unknown


def test_insert_goes_at_the_end_of_the_article():
    page = "<html><article class='md-content__inner'><h1>T</h1></article><footer>f</footer></html>"
    out = hook.insert(page, "<p>LINE</p>", "page x.md")
    assert out.index("<p>LINE</p>") < out.index("</article>") < out.index("<footer>")
    with pytest.raises(PluginError, match=r"page x.md: no </article>"):
        hook.insert("<html><body>no article</body></html>", "<p>LINE</p>", "page x.md")


def test_events():
    class Config(dict):
        extra: dict

    config = Config()
    config.extra = {}
    hook.on_config(config)
    assert config.extra["provenance"]["torch"] == importlib.metadata.version("torch")

    class File:
        src_uri = "x.md"

    class Page:
        file = File()

    out = hook.on_post_page("<article>body</article>", Page(), config)
    assert out.startswith('<article>body<p class="lc-provenance"') and out.endswith("</article>")
