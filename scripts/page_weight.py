"""What each page of the built site weighs on a cold load, as a reader's browser fetches it.

Loads every page of ``sitemap.xml`` (and the home page) in headless Chromium with an empty cache,
waits until the network is idle, and counts the requests and the bytes of every response as a
host serving gzip sends them (each body gzip-compressed here at level 6; already-compressed
fonts and images count as they are). Prints a Markdown table, the median, and whether the goals
hold: median page <= 400 KB and <= 30 requests, every lesson <= 600 KB.

    python scripts/page_weight.py site            # the built site in site/
    python scripts/page_weight.py /tmp/x-site --json weights.json

Not a test: it measures, and exits 1 only when a goal is missed.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import re
import shutil
import statistics
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

GOALS = {"median_kb": 400, "median_requests": 30, "lesson_kb": 600}
INCOMPRESSIBLE = (".woff2", ".woff", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".gz")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _pages(site: Path) -> list[str]:
    paths = [""]
    for loc in re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", (site / "sitemap.xml").read_text(encoding="utf-8")):
        path = urlsplit(loc).path.lstrip("/")
        if path not in paths:
            paths.append(path)
    return paths


def _wire_bytes(site: Path, url_path: str) -> tuple[int, int]:
    """(raw, as sent gzip-compressed) bytes of the file behind a URL path of the site."""
    path = site / url_path.lstrip("/")
    if path.is_dir():
        path = path / "index.html"
    if not path.is_file():
        return 0, 0
    body = path.read_bytes()
    if path.suffix in INCOMPRESSIBLE:
        return len(body), len(body)
    return len(body), len(gzip.compress(body, compresslevel=6))


def measure(site: Path, port: int = 8799) -> list[dict]:
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}/"
    rows = []
    exe = os.environ.get("LONGCTX_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium-headless-shell", "chromium", "chromium-browser"))), None
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
            for page_path in _pages(site):
                context = browser.new_context()  # a cold cache for every page
                page = context.new_page()
                seen: list[str] = []
                page.on("requestfinished", lambda r: seen.append(r.url))
                page.goto(base + page_path, wait_until="load")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(500)  # the search worker fetches its index after load
                raw = gz = 0
                local = [u for u in seen if u.startswith(base)]
                for url in local:
                    r, g = _wire_bytes(site, urlsplit(url).path)
                    raw += r
                    gz += g
                rows.append(
                    {
                        "page": page_path or "(home)",
                        "requests": len(seen),
                        "raw_kb": raw / 1000,
                        "gzip_kb": gz / 1000,
                        "other_hosts": len(seen) - len(local),
                    }
                )
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return rows


def report(rows: list[dict]) -> tuple[str, bool]:
    lines = ["| page | requests | raw KB | gzip KB |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['page']} | {r['requests']} | {r['raw_kb']:,.0f} | {r['gzip_kb']:,.0f} |")
    med_kb = statistics.median(r["gzip_kb"] for r in rows)
    med_req = statistics.median(r["requests"] for r in rows)
    lessons = [r for r in rows if r["page"].startswith("lessons/")]
    worst_lesson = max((r["gzip_kb"] for r in lessons), default=0)
    ok = (
        med_kb <= GOALS["median_kb"]
        and med_req <= GOALS["median_requests"]
        and worst_lesson <= GOALS["lesson_kb"]
        and not any(r["other_hosts"] for r in rows)
    )
    lines += [
        "",
        f"median page: {med_kb:,.0f} KB gzip (goal <= {GOALS['median_kb']}), "
        f"{med_req:g} requests (goal <= {GOALS['median_requests']}); "
        f"heaviest lesson: {worst_lesson:,.0f} KB (goal <= {GOALS['lesson_kb']}); "
        f"requests to other hosts: {sum(r['other_hosts'] for r in rows)}",
        "goals " + ("met" if ok else "MISSED"),
    ]
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", type=Path, help="the built site (mkdocs build -d SITE)")
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    if not (args.site / "sitemap.xml").is_file():
        ap.error(f"{args.site} has no sitemap.xml: build the site first")
    rows = measure(args.site, args.port)
    text, ok = report(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
