"""Time the preview (`make serve`) as a contributor meets it: not a test, a measurement.

    python scripts/time_preview.py [--port 8123] [--keep]

It copies the working tree (tracked and untracked, not ignored files; ``.venv`` and
``node_modules`` linked), or the commit named by ``--rev``, to a temporary folder, so that its edits touch nobody's checkout, and
there, with an empty cache folder of its own:

1. **cold**: runs ``scripts/serve.sh`` and times its start to the first HTTP 200 of the home
   page, with nothing cached (every lab executed, every figure drawn, every number computed);
2. **warm**: stops it and starts it again: the same, with the cache the first run filled;
3. **prose edit**: appends a sentence to a lesson and times the write to the rebuilt page
   being served with that sentence;
4. **src edit**: adds a comment inside a function that the same lesson shows (a ``--8<--``
   section) and times the write to the page being served with the new line of code, then to
   the first build that leaves nothing computing in the background (the labs, figures and
   numbers that read the edited module, shown meanwhile as they last were, with a note).

Each time is printed, with the serve log's lines about what was reused and rebuilt, and the
load average (other work on the machine slows every number down).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSON = "docs/lessons/01-quadratic-wall.md"
LESSON_URL = "lessons/01-quadratic-wall/"


# What scripts/setup.sh installs from. The copy shares the checkout's .venv and node_modules, so
# its setup.sh must find them up to date: a reinstall there would point the editable install at
# the temporary copy, and npm ci would empty the shared node_modules.
SETUP_INPUTS = ("requirements.txt", "pyproject.toml", "package-lock.json")


def copy_tree(dest: Path, rev: str | None = None) -> None:
    """The working tree (or commit ``rev``) in ``dest``, with the checkout's .venv and node_modules linked."""
    subprocess.run(["scripts/setup.sh"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    if rev:
        changed = subprocess.run(
            ["git", "diff", "--name-only", rev, "--", *SETUP_INPUTS],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if changed:
            raise SystemExit(
                f"--rev {rev} installs from other {', '.join(changed)} than this checkout: "
                "its setup would reinstall into the shared .venv and node_modules"
            )
    if rev:
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        listed = []
    else:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the working tree
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    for name in (".venv", "node_modules"):
        (dest / name).symlink_to(ROOT / name)


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode("utf-8", "replace") if r.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


class Server:
    def __init__(self, tree: Path, port: int, env: dict, log: Path, extra: list[str] = ()):
        self.url = f"http://127.0.0.1:{port}/"
        self.log = log
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ["scripts/serve.sh", *extra],
            cwd=tree,
            env={**env, "LONGCTX_SERVE_ADDR": f"127.0.0.1:{port}"},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, path: str = "", needle: str | None = None, timeout: float = 600) -> float:
        """Seconds from ``self.started`` until ``path`` is served (containing ``needle``)."""
        while time.monotonic() - self.started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve.sh exited ({self.proc.returncode}); see {self.log}")
            body = fetch(self.url + path)
            if body is not None and (needle is None or needle in body):
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise SystemExit(f"timed out waiting for {path} ({needle!r}); see {self.log}")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def log_lines(log: Path, since: int) -> tuple[list[str], int]:
    lines = log.read_text(errors="replace").splitlines()
    keep = [ln for ln in lines[since:] if "-  preview" in ln]
    return keep, len(lines)


def edit_and_wait(server: Server, path: Path, new_text: str, page: str, needle: str) -> float:
    time.sleep(1.5)  # let the watcher settle after the last build
    start = time.monotonic()
    path.write_text(new_text, encoding="utf-8")
    server.started = start
    return server.wait(page, needle)


def settled(server: Server, log: Path, since: int, page: str, needle: str, timeout: float = 600) -> float:
    """Seconds from the edit until a build left nothing computing in the background and the page is final."""
    while time.monotonic() - server.started < timeout:
        lines = log.read_text(errors="replace").splitlines()[since:]
        builds = "\n".join(lines).split("Building documentation...")
        last = builds[-1] if len(builds) > 1 else ""
        if "preview: built in" in last and "still computing" not in last:
            body = fetch(server.url + page) or ""
            if needle in body and "Preview: recomputing" not in body:
                return time.monotonic() - server.started
        time.sleep(0.5)
    raise SystemExit(f"not settled after {timeout} s; see {log}")


def shown_function(tree: Path, only: str | None = None) -> tuple[Path, str, str, str]:
    """A section the lesson shows: (file, section name, its first def up to its body, the body's indent)."""
    text = (tree / LESSON).read_text(encoding="utf-8")
    for rel, section in re.findall(r'--8<-- "([^":]+):([a-z][-_0-9a-z]*)"', text):
        if only and rel != only:
            continue
        path = tree / "src" / rel
        src = path.read_text(encoding="utf-8")
        body = src.partition(f"# --8<-- [start:{section}]")[2].partition(f"# --8<-- [end:{section}]")[0]
        m = re.search(r"^( *)def [^\n]*:\n(?:\1    (?:\"\"\"|r\"\"\")[\s\S]*?\"\"\"\n)?", body, re.M)
        if m:
            return path, section, m.group(0), m.group(1) + "    "
    raise SystemExit(f"{LESSON} shows no section with a function")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8123)
    ap.add_argument("--keep", action="store_true", help="keep the temporary tree and its logs")
    ap.add_argument("--rev", help="time this commit (git archive) instead of the working tree")
    ap.add_argument(
        "--cache", type=Path, help="use this cache folder and skip the cold start (it was filled before)"
    )
    ap.add_argument("--no-strict", action="store_true", help="serve with --no-strict (warnings only logged)")
    ap.add_argument(
        "--src", help="edit a section of this file (under src/, e.g. longctx/costs.py) that the lesson shows"
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="longctx-preview-"))
    tree, cache = work / "tree", (args.cache.resolve() if args.cache else work / "cache")
    tree.mkdir()
    copy_tree(tree, args.rev)
    env = {
        **os.environ,
        "LONGCTX_CACHE_DIR": str(cache),
        "LONGCTX_PREVIEW_CACHE": "1",
        "PYTHONPATH": str(tree / "src"),
    }  # the copy's package, not the checkout's editable install
    results = {}
    print(f"load average at start: {os.getloadavg()}; tree copied to {tree}", flush=True)
    try:
        for run in ("warm",) if args.cache else ("cold", "warm"):
            log = work / f"serve-{run}.log"
            server = Server(tree, args.port, env, log, ["--no-strict"] if args.no_strict else [])
            results[f"{run} start to first page"] = server.wait()
            lines, seen = log_lines(log, 0)
            print(
                f"{run}: first page after {results[f'{run} start to first page']:.1f} s",
                *lines,
                sep="\n  ",
                flush=True,
            )
            if run == "cold":
                cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                server.stop()
                cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = cpu.ru_utime + cpu.ru_stime - cpu0.ru_utime - cpu0.ru_stime
                print(
                    f"cold: the server and everything it ran used {used:.0f} CPU seconds "
                    f"(at least {used / (os.cpu_count() or 1):.0f} s of wall time on {os.cpu_count()} idle cores)"
                )

        lesson = tree / LESSON
        sentence = f"Preview timing sentence {time.time_ns()}."
        before = lesson.read_text(encoding="utf-8")
        results["prose edit to page served"] = edit_and_wait(
            server, lesson, before + f"\n{sentence}\n", LESSON_URL, sentence
        )
        time.sleep(2)
        lines, seen = log_lines(log, seen)
        print(f"prose edit: {results['prose edit to page served']:.1f} s", *lines, sep="\n  ")

        path, section, head, indent = shown_function(tree, args.src)
        marker = f"preview timing {time.time_ns()}"
        src = path.read_text(encoding="utf-8")
        results["src edit to page served"] = edit_and_wait(
            server, path, src.replace(head, head + f"{indent}# {marker}\n", 1), LESSON_URL, marker
        )
        print(
            f"src edit ({path.relative_to(tree)}:{section}): page with the new code after "
            f"{results['src edit to page served']:.1f} s; waiting for the background work",
            flush=True,
        )
        mark = seen
        results["src edit to every result recomputed"] = settled(server, log, mark, LESSON_URL, marker)
        lines, seen = log_lines(log, seen)
        print(
            f"src edit ({path.relative_to(tree)}:{section}): page with the new code after "
            f"{results['src edit to page served']:.1f} s, everything recomputed after "
            f"{results['src edit to every result recomputed']:.1f} s",
            *lines,
            sep="\n  ",
        )
        server.stop()
    finally:
        for proc_owner in [v for v in locals().values() if isinstance(v, Server)]:
            if proc_owner.proc.poll() is None:
                proc_owner.stop()
        print(f"load average at end: {os.getloadavg()}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    print("\n| step | seconds |\n|---|---:|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
