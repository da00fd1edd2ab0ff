"""MkDocs hook: every page says which torch, triton and longctx, and which commit, it was built with.

The line goes at the end of each page's article (``on_post_page``, so the search index does
not pick it up on every page), on Markdown pages and notebooks alike::

    Built on 2025-01-31 from commit 68f0501 using torch 2.13.0+cpu, triton 3.9.0 and longctx 0.1.0:
    the versions its tests run with.

* The torch and triton versions are read from the installed distributions'
  metadata (``importlib.metadata``): nothing is imported, so triton cannot initialise a GPU
  driver, or fail for want of one, at build time. They are the versions the same environment
  runs the tests with (``scripts/check.sh`` tests, then builds).
* The longctx version is ``longctx.__version__``.
* The commit is ``git rev-parse --short HEAD``; if ``git status --porcelain`` lists anything,
  the line says the tree had uncommitted changes. Outside a git checkout, or without git, the
  commit is "unknown".
* The date is the build's, in UTC, or that of ``SOURCE_DATE_EPOCH`` when it is set
  (reproducible builds).

Everything is computed once per build (``on_config``) and also stored in
``config.extra["provenance"]`` for templates. The values ride on ``data-*`` attributes too, so
that the browser tests can compare them with what Python reports.
"""

from __future__ import annotations

import html
import importlib.metadata
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN = "unknown"


def distribution_version(name: str) -> str:
    """Installed version of distribution ``name`` from its metadata, or "unknown" if it is absent."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN


def longctx_version() -> str:
    try:
        import longctx
    except ImportError:
        return UNKNOWN
    return str(getattr(longctx, "__version__", UNKNOWN))


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(cwd: Path = ROOT) -> tuple[str, bool]:
    """``(short commit, uncommitted changes?)``; ``("unknown", False)`` outside a git checkout."""
    head = _git("rev-parse", "--short", "HEAD", cwd=cwd)
    if not head or not head.strip():
        return UNKNOWN, False
    status = _git("status", "--porcelain", cwd=cwd)
    return head.strip(), bool(status and status.strip())


def build_date(environ: dict | None = None) -> str:
    """Today in UTC as YYYY-MM-DD, or the date of ``SOURCE_DATE_EPOCH`` when it is set."""
    environ = os.environ if environ is None else environ
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), tz=timezone.utc).date().isoformat()
        except (ValueError, OverflowError, OSError):
            raise PluginError(f"SOURCE_DATE_EPOCH must be a whole number of seconds, got {epoch!r}") from None
    return datetime.now(timezone.utc).date().isoformat()


def collect(cwd: Path = ROOT, environ: dict | None = None) -> dict[str, object]:
    commit, dirty = git_state(cwd)
    return {
        "torch": distribution_version("torch"),
        "triton": distribution_version("triton"),
        "longctx": longctx_version(),
        "commit": commit,
        "dirty": dirty,
        "date": build_date(environ),
    }


def render(info: dict[str, object]) -> str:
    """The line, as HTML: the values as text and as ``data-*`` attributes."""
    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    if info["commit"] == UNKNOWN:
        commit = "from an unknown commit"
    else:
        commit = f"from commit <code>{e(info['commit'])}</code>"
        if info["dirty"]:
            commit += " (with uncommitted changes)"
    return (
        f'<p class="lc-provenance" data-torch="{e(info["torch"])}" '
        f'data-triton="{e(info["triton"])}" data-longctx="{e(info["longctx"])}" '
        f'data-commit="{e(info["commit"])}" data-dirty="{str(bool(info["dirty"])).lower()}" '
        f'data-built="{e(info["date"])}">'
        f"Built on {e(info['date'])} {commit} using torch {e(info['torch'])}, triton "
        f"{e(info['triton'])} and longctx {e(info['longctx'])}: the versions its tests run with.</p>"
    )


def insert(output: str, line: str, where: str) -> str:
    """``output`` with ``line`` placed just before the end of its (last) ``<article>``."""
    end = output.rfind("</article>")
    if end < 0:
        raise PluginError(
            f"{where}: no </article> in the page, so the provenance line has nowhere to go "
            "(has the theme changed?)"
        )
    return output[:end] + line + "\n" + output[end:]


_LINE: str | None = None


def on_config(config):
    global _LINE
    info = collect()
    config.extra["provenance"] = info
    _LINE = render(info)
    return config


def on_post_page(output: str, page, config) -> str:
    line = _LINE if _LINE is not None else render(collect())
    return insert(output, line, f"page {page.file.src_uri}")
