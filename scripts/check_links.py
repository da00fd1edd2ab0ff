#!/usr/bin/env python3
"""Links and anchors of the built site, checked offline.

    python scripts/check_links.py site

* Every internal ``<a href>``, ``<link href>``, ``<script src>``, ``<img src>`` (and
  ``<source>``, ``<iframe>``, ``<video>``, ``<audio>``, ``<embed>``, ``srcset``) must resolve to a
  file of the site: ``dir/`` means ``dir/index.html``; relative paths, ``..``, root-absolute
  paths (under ``site_url``'s path) and query strings are handled.
* Every ``#fragment`` must be an ``id`` (or ``<a name>``) in the target page.
* ``url(...)`` and ``@import`` in the site's CSS files must resolve too (fonts live there).
* Nothing a page *loads* may come from another host: a ``<script src>``, stylesheet, icon,
  preload, ``<img>``, media or a CSS ``url()``/``@import`` pointing to http(s) elsewhere fails.
  External ``<a href>`` links (and ``<link rel=canonical>`` and similar non-loading links) are
  listed, never fetched: there is no network here.
* Links to ``site_url`` itself (read from ``sitemap.xml``) count as internal.

Inline ``<script>`` bodies are not parsed: the mkdocs-jupyter template carries a dynamic
``import()`` of mermaid from a CDN that runs only for notebooks with mermaid output (see
tooling-notes §4); the browser tests, which block every other host, are the authority there.

Prints counts (pages, links, anchors) and each failure with its page; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

# <link rel=...> values that make the browser fetch the target
LOADING_RELS = {
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
    "modulepreload",
    "prefetch",
    "manifest",
    "mask-icon",
}
SKIP_SCHEMES = ("mailto:", "tel:", "javascript:", "data:", "blob:", "about:")
CSS_URL = re.compile(
    r"""url\(\s*(?P<q>['"]?)(?P<url>[^'")]+)(?P=q)\s*\)|@import\s+(?P<q2>['"])(?P<url2>[^'"]+)(?P=q2)"""
)


@dataclass
class Ref:
    page: str  # site-relative path of the page (or CSS file) that holds the reference
    url: str
    kind: str  # "a", "script", "stylesheet", "img", "css-url", ...
    loads: bool  # does the browser fetch it on its own?


@dataclass
class Page:
    ids: set[str] = field(default_factory=set)
    refs: list[Ref] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.page = page
        self.result = Page()

    def _ref(self, url: str | None, kind: str, loads: bool) -> None:
        if url is not None and url.strip():
            self.result.refs.append(Ref(self.page, url.strip(), kind, loads))

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if "id" in a:
            self.result.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.result.ids.add(a["name"])
        if tag == "a":
            self._ref(a.get("href"), "a", False)
        elif tag == "link":
            rels = set(a.get("rel", "").lower().split())
            loads = bool(rels & LOADING_RELS)
            self._ref(
                a.get("href"), "stylesheet" if "stylesheet" in rels else f"link rel={a.get('rel', '')}", loads
            )
        elif tag in ("script", "img", "iframe", "embed", "video", "audio", "source", "track", "input"):
            if tag != "input" or a.get("type") == "image":
                self._ref(a.get("src"), tag, True)
        elif tag == "object":
            self._ref(a.get("data"), tag, True)
        if "srcset" in a:
            for part in a["srcset"].split(","):
                if part.strip():
                    self._ref(part.split()[0], f"{tag} srcset", True)
        if tag == "video" and "poster" in a:
            self._ref(a["poster"], "video poster", True)

    handle_startendtag = handle_starttag


def parse_page(html: str, page: str) -> Page:
    parser = _Parser(page)
    parser.feed(html)
    parser.close()
    return parser.result


def css_refs(css: str, sheet: str) -> list[Ref]:
    return [Ref(sheet, m.group("url") or m.group("url2"), "css-url", True) for m in CSS_URL.finditer(css)]


def site_url_from_sitemap(site: Path) -> str | None:
    sitemap = site / "sitemap.xml"
    if sitemap.is_file():
        m = re.search(r"<loc>\s*([^<\s]+)\s*</loc>", sitemap.read_text(encoding="utf-8"))
        if m:
            parts = urlsplit(m.group(1))
            path = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
            # the first <loc> is the home page, so its directory is the site root
            return f"{parts.scheme}://{parts.netloc}{path}"
    return None


@dataclass
class Report:
    pages: int = 0
    stylesheets: int = 0
    links: int = 0
    anchors: int = 0
    external: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _target_file(site: Path, rel: str) -> Path | None:
    """The file a site-relative path serves: ``x/`` and a directory mean ``x/index.html``."""
    candidate = site / rel if rel else site
    if rel == "" or rel.endswith("/") or candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


def check_site(site: Path, site_url: str | None = None) -> Report:
    """Check every HTML page and CSS file under ``site``."""
    site = Path(site).resolve()
    site_url = site_url or site_url_from_sitemap(site) or "http://127.0.0.1/"
    base = urlsplit(site_url)
    report = Report()

    pages: dict[str, Page] = {}
    for html in sorted(site.rglob("*.html")):
        rel = html.relative_to(site).as_posix()
        pages[rel] = parse_page(html.read_text(encoding="utf-8", errors="replace"), rel)
    report.pages = len(pages)
    refs = [r for p in pages.values() for r in p.refs]
    for css in sorted(site.rglob("*.css")):
        report.stylesheets += 1
        refs += css_refs(css.read_text(encoding="utf-8", errors="replace"), css.relative_to(site).as_posix())
    sitemap = site / "sitemap.xml"
    if sitemap.is_file():
        for loc in re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", sitemap.read_text(encoding="utf-8")):
            refs.append(Ref("sitemap.xml", loc, "sitemap", False))

    ids_cache = {rel: page.ids for rel, page in pages.items()}
    seen_external: set[str] = set()
    for ref in refs:
        url = ref.url
        if url.lower().startswith(SKIP_SCHEMES):
            continue
        # where the reference lives, as a URL on the site, so relative links resolve as a browser would
        here = urljoin(site_url, ref.page)
        absolute = urljoin(here, url)
        parts = urlsplit(absolute)
        same_host = (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        if not (same_host and parts.path.startswith(base.path)):
            if not same_host and parts.scheme in ("http", "https", "") and parts.netloc:
                if ref.loads:
                    report.failures.append(
                        f"{ref.page}: {ref.kind} loads {url} from another host "
                        "(everything a page loads must be served by the site)"
                    )
                elif url not in seen_external:
                    seen_external.add(url)
                    report.external.append(f"{url}  (first on {ref.page})")
            else:
                report.failures.append(
                    f"{ref.page}: {ref.kind} {url} points outside the site root {base.path}"
                )
            continue
        report.links += 1
        rel = unquote(
            posixpath.normpath(parts.path[len(base.path) :]) if parts.path[len(base.path) :] else ""
        )
        if rel == ".":
            rel = ""
        if parts.path.endswith("/") and rel and not rel.endswith("/"):
            rel += "/"
        target = _target_file(site, rel)
        if target is None:
            report.failures.append(f"{ref.page}: {ref.kind} {url} -> /{rel} does not exist in the site")
            continue
        if parts.fragment and ref.kind != "css-url":
            report.anchors += 1
            key = target.relative_to(site).as_posix()
            if key not in ids_cache:
                ids_cache[key] = (
                    parse_page(target.read_text(encoding="utf-8", errors="replace"), key).ids
                    if target.suffix == ".html"
                    else set()
                )
            fragment = unquote(parts.fragment)
            if fragment not in ids_cache[key]:
                report.failures.append(f"{ref.page}: {ref.kind} {url} -> no id {fragment!r} in {key}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built site directory (mkdocs build -d DIR)")
    parser.add_argument("--site-url", help="the site's URL (default: read from sitemap.xml)")
    parser.add_argument("--list-external", action="store_true", help="print every external link")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"FAIL {args.site} holds no index.html: build the site first (mkdocs build --strict)")
        return 1
    report = check_site(args.site, args.site_url)
    print(
        f"checked {report.pages} pages and {report.stylesheets} stylesheets: {report.links} internal links, "
        f"{report.anchors} anchors; {len(report.external)} distinct external links listed, not fetched"
    )
    if args.list_external:
        for url in report.external:
            print(f"  external {url}")
    for failure in report.failures:
        print(f"FAIL {failure}")
    if report.failures:
        print(f"{len(report.failures)} broken links or anchors, or assets from other hosts")
        return 1
    print("OK  every internal link, asset and anchor resolves; nothing is loaded from another host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
