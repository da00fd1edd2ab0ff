"""Browser tests: headless Chromium against the built site, served on localhost, offline.

The site must be built first (``mkdocs build --strict`` with ``SITE_URL`` naming the port, as
``scripts/check.sh`` does). It is served by a thread of the main test process (under xdist, the
controller) on the port named in ``site/sitemap.xml``: Material's instant navigation only
intercepts links listed there.

Chromium resolves no host but localhost (``--host-resolver-rules``), so no request leaves the
machine; each request to another host is recorded, and the ``net`` fixture fails a test that saw
one, or a failed request, an HTTP error, a console error or a page error. (Blocking in the
browser rather than through Playwright's request routing keeps Chromium's cache on and every
request off the test process: routing cost about an eighth of each page load here.)

Each test's ``page`` is its worker's one page, on about:blank, with nothing stored for the site
(a reader's first visit) but Chromium's caches kept warm; what a test adds to it is taken off
when the test ends. Tests that only drive a page already open (a widget's sweeps, its messages)
share one page per module and worker (``module_page``/``on_page``: a second page, in a context
of its own), each test starting from the widget's values as loaded (``Widget.reopen``); a test that
needs a fresh load, storage or navigation takes ``page``.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import threading
import urllib.request
from urllib.parse import urlsplit

import pytest
from helpers import AXE, AXE_ROUTE, SITE, watch


def _site_port() -> int:
    sitemap = SITE / "sitemap.xml"
    if not sitemap.is_file():
        pytest.exit(
            "site/ is not built: run `mkdocs build --strict` (scripts/check.sh does) first", returncode=1
        )
    m = re.search(r"<loc>http://127\.0\.0\.1:(\d+)/", sitemap.read_text())
    if not m:
        pytest.exit(
            "site/sitemap.xml does not name http://127.0.0.1:PORT/: build with SITE_URL set "
            "(SITE_URL=http://127.0.0.1:8765/ mkdocs build --strict)",
            returncode=1,
        )
    return int(m.group(1))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass

    def translate_path(self, path):
        """The site's files, and axe-core at ``AXE_ROUTE`` (a path no page of the site links to)."""
        return str(AXE) if urlsplit(path).path == AXE_ROUTE else super().translate_path(path)


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A browser that leaves a page cancels its loads (a broken pipe): not an error to print."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


_SERVER = pytest.StashKey[_Server]()


def _serve(config) -> None:
    """Serve the built site from this process until the session ends."""
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = _Server(("127.0.0.1", _site_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config.stash[_SERVER] = server


def pytest_sessionstart(session):
    """Serve the site from the main process, for the whole run.

    Under pytest-xdist (``scripts/check.sh`` runs ``pytest tests/browser -n 2``) that is the
    controller, which lives until every worker is done; a worker's ``base_url`` only names the
    address. Without a built site nothing is served: the first browser test says what to do.
    """
    if not hasattr(session.config, "workerinput") and (SITE / "sitemap.xml").is_file():
        _serve(session.config)


def pytest_sessionfinish(session):
    server = session.config.stash.get(_SERVER, None)
    if server is not None:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def base_url(pytestconfig):
    url = f"http://127.0.0.1:{_site_port()}/"
    if hasattr(pytestconfig, "workerinput"):
        try:
            urllib.request.urlopen(url + "sitemap.xml", timeout=10).close()
        except OSError:
            pytest.exit(
                f"nothing serves {url}: under xdist name tests/browser on the command line "
                "(pytest tests/browser -n 2), so that the main process serves the site",
                returncode=1,
            )
    elif _SERVER not in pytestconfig.stash:  # this conftest was found after the session started
        _serve(pytestconfig)
    return url


def _chromium() -> str | None:
    """The system's Chromium, its headless build first (what scripts/setup.sh installs)."""
    return os.environ.get("LONGCTX_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium-headless-shell", "chromium", "chromium-browser"))), None
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    args = {
        **browser_type_launch_args,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # every host but this machine fails to resolve: the site must work offline
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
        ],
    }
    exe = _chromium()
    if exe:  # the system's Chromium; without one, Playwright's own browser (where it could download it)
        args["executable_path"] = exe
    return args


@pytest.fixture(scope="session")
def _worker_page(browser, browser_context_args):
    """The one page, in a context of its own, of the worker's tests that take ``page`` (see ``page``)."""
    context = browser.new_context(**browser_context_args)
    yield context.new_page()
    context.close()


def _forget_site(page, base_url: str) -> None:
    """Leave the site for about:blank and clear what the site stored: its session storage (this
    tab's, cleared while on the site), then local storage, IndexedDB, cookies and caches."""
    if page.url.startswith(base_url):
        page.evaluate("sessionStorage.clear()")
    page.goto("about:blank")
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Storage.clearDataForOrigin",
        {
            "origin": base_url.rstrip("/"),
            "storageTypes": "local_storage,indexeddb,cookies,cache_storage,service_workers,websql",
        },
    )
    cdp.detach()


def _set_back(page, viewport) -> None:
    """Undo the emulated media and viewport size a test may have set."""
    page.emulate_media(media="null", color_scheme="null", reduced_motion="null")
    page.set_viewport_size(viewport)


@pytest.fixture
def page(_worker_page, base_url):
    """The worker's page, on about:blank, with nothing stored for the site: a reader's first visit.

    Tests share one page instead of pytest-playwright's new context, or even a new page, each: a
    load in a page that already showed the site reuses its renderer process, with the styles,
    scripts and fonts it has parsed, and costs half the CPU of a load in a new page (18 loads of
    6 pages: 27 to 34 s in a new page each, 14 s in one). What a test changes on the page is
    undone when it ends: the listeners it added (``page.on``) and the init scripts
    (``add_init_script``) are removed, the emulated media and the viewport set back, the mouse
    moved to the corner; navigating away ends everything else (scripts, focus, scroll).
    """
    page = _worker_page
    _forget_site(page, base_url)
    viewport = page.viewport_size
    undo = []

    def on(event, handler, _on=page.on):
        undo.append(lambda: page.remove_listener(event, handler))
        return _on(event, handler)

    def add_init_script(script=None, *, path=None, _add=page.add_init_script):
        added = _add(script, path=path)
        undo.append(added.close)
        return added

    page.on, page.add_init_script = on, add_init_script
    yield page
    del page.on, page.add_init_script
    for step in reversed(undo):
        step()
    _set_back(page, viewport)
    page.mouse.move(0, 0)


@pytest.fixture
def net(page):
    """Fail the test on a request to another host, a failed request, or a console or page error."""
    log = watch(page)
    yield log
    assert not log.problems(), f"the page misbehaved: {log.problems()}"


@pytest.fixture(scope="session")
def _module_tab(browser, browser_context_args):
    """The page, in a context of its own, that the tests of one module at a time share
    (``module_page``), with its ``NetLog``. Its own context, not the ``page`` fixture's: a second
    page there would put the first in the background, where Chromium throttles its timers."""
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    yield page, watch(page)
    context.close()


@pytest.fixture(scope="module")
def module_page(_module_tab, base_url):
    """One page that a module's tests share, with its ``NetLog``: on about:blank with nothing
    stored for the site when the module starts, as ``page`` is for a test; its emulated media
    and viewport set back when the module ends. It keeps its renderer process and its context's
    caches from one module to the next."""
    page, log = _module_tab
    _forget_site(page, base_url)
    viewport = page.viewport_size
    log.clear()
    yield page, log
    _set_back(page, viewport)


@pytest.fixture(scope="module")
def at_path(request, module_page, base_url):
    """The module's shared page, loaded at the site path a test gives with
    ``@pytest.mark.parametrize("at_path", [...], indirect=True)``: pytest runs the tests that share
    a path one after another, so a module loads each path once (per xdist worker). Take ``on_page``
    beside it for the per-test checks; the load itself is checked here."""
    page, log = module_page
    log.clear()
    page.emulate_media(color_scheme="light")
    page.goto(base_url + request.param)
    assert not log.problems(), f"/{request.param} misbehaved as it loaded: {log.problems()}"
    return page


@pytest.fixture
def on_page(module_page):
    """The module's shared page, for a test that drives what is already open on it; the test fails
    on what ``net`` fails, seen during the test."""
    page, log = module_page
    log.clear()
    yield page
    assert not log.problems(), f"the page misbehaved: {log.problems()}"
