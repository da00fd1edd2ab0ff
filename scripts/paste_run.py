#!/usr/bin/env python3
"""Run code as a reader who copied it would: in a fresh Python where ``import longctx`` fails.

Three modes, each in its own process (the tests start this script with ``subprocess``):

``paste_run.py script FILE``
    Check that ``import longctx`` raises, then run ``FILE`` as ``__main__`` (a page's code file,
    see ``scripts/hooks/page_code.py``).

``paste_run.py serve``
    ``script`` and ``blocks`` for many files or pages at the cost of one ``import torch`` (two
    seconds of CPU, nearly all of a page file's run; ``tests/test_page_code.py`` runs a dozen
    files, ``tests/test_paste.py`` nine pages). It imports ``torch``, then reads one JSON request a
    line, ``{"argv": ["script", FILE] or ["blocks", JSON_FILE], "cwd": DIR}``, and runs each in a
    child forked from that state, exactly as its own process would (so each starts from the same
    fresh process and none sees what another did), answering one JSON line ``{"returncode": ...,
    "stdout": ..., "stderr": ...}``. Where there is no ``fork``, each runs in a fresh process.
    :class:`Server` is the client the tests use.

``paste_run.py blocks JSON_FILE``
    The copy-paste check of one page (``tests/test_paste.py``). ``JSON_FILE`` holds
    ``{"page": ..., "blocks": [code, ...]}``, the page's Python blocks in page order as Material's
    copy button copies them. Each block is compiled (a block cut inside a function fails here,
    e.g. ``'return' outside function``), checked statically (every global name a function uses
    must be bound somewhere on the page: by an import, a ``def``, a ``class`` or an assignment,
    or be a builtin) and executed, in page order, in one namespace. ``longctx`` is refused,
    except in a block that imports it itself (a bare example of the package); a private
    ``longctx`` name (``_x``) is refused everywhere. Prints one JSON report on stdout.

Standard library only; it never imports anything from this repository.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import importlib.abc
import json
import linecache
import os
import runpy
import select
import shutil
import subprocess
import symtable
import sys
import tempfile
import traceback
from pathlib import Path

BLOCKED = "longctx"
INLINE_SCOPES = {
    "<listcomp>",
    "<genexpr>",
    "<setcomp>",
    "<dictcomp>",
    "<lambda>",
    "listcomp",
    "genexpr",
    "setcomp",
    "dictcomp",
    "lambda",
}


class LongctxBlocker(importlib.abc.MetaPathFinder):
    """A meta-path finder that refuses ``longctx`` and its submodules while ``active``."""

    def __init__(self) -> None:
        self.active = True
        self._hidden: dict[str, object] = {}

    def find_spec(self, fullname, path=None, target=None):
        if self.active and (fullname == BLOCKED or fullname.startswith(BLOCKED + ".")):
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (refused: this Python runs without longctx)", name=fullname
            )
        return None

    def set_active(self, active: bool) -> None:
        """Refuse longctx (hiding what an earlier block imported) or allow it again."""
        if active and not self.active:
            self._hidden = {
                n: m for n, m in sys.modules.items() if n == BLOCKED or n.startswith(BLOCKED + ".")
            }
            for name in self._hidden:
                del sys.modules[name]
        elif not active and self.active:
            sys.modules.update(self._hidden)
            self._hidden = {}
        self.active = active


def install() -> LongctxBlocker:
    blocker = LongctxBlocker()
    sys.meta_path.insert(0, blocker)
    blocker.set_active(True)
    try:
        import longctx  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("paste_run: `import longctx` still works; the blocker is broken")
    return blocker


def run_script(path: str) -> int:
    install()
    print(f"paste_run: `import longctx` raises ModuleNotFoundError here; running {path}", flush=True)
    sys.argv = [path]
    runpy.run_path(path, run_name="__main__")
    return 0


def _exit_status(argv: list[str]) -> int:
    """Run ``main(argv)`` in this process; the exit status ``python`` would give."""
    try:
        return main(argv)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - what the interpreter prints for an uncaught exception
        traceback.print_exc()
        return 1


def _run_forked(argv: list[str], cwd: str) -> dict:
    """One request in a child of this process: its exit status and output.

    The child runs the exit handlers it inherited, as the fresh process that imported torch
    would; so the folder for its output is made without a finalizer (``mkdtemp``).
    """
    tmp = tempfile.mkdtemp(prefix="paste-run-")
    out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
    try:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the child: a fresh process as far as the code it runs can tell
            code = 1
            try:
                os.chdir(cwd)
                for fd, name in ((1, out), (2, err)):
                    os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
                sys.stdin = open(os.devnull)  # the requests are the parent's
                code = _exit_status(argv)
                atexit._run_exitfuncs()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        text = {
            name: Path(tmp, name).read_text(encoding="utf-8", errors="replace")
            for name in ("stdout", "stderr")
        }
        return {"returncode": status, **text}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def serve() -> int:
    """``serve`` mode: see the module docstring. Each request's own mode refuses ``longctx``."""
    import torch  # noqa: F401 - what every page imports first: paid once, shared by every child

    for line in sys.stdin:
        request = json.loads(line)
        if hasattr(os, "fork"):
            answer = _run_forked(request["argv"], request["cwd"])
        else:  # pragma: no cover - Windows
            proc = subprocess.run(
                [sys.executable, __file__, *request["argv"]],
                cwd=request["cwd"],
                capture_output=True,
                text=True,
            )
            answer = {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
        print(json.dumps(answer), flush=True)
    return 0


class Server:
    """A ``paste_run.py serve`` process (the tests' client): ``run(argv, cwd)`` as ``subprocess.run`` would."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, argv: list[str], cwd: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``paste_run.py *argv`` in ``cwd``; its exit status and output."""
        self.proc.stdin.write(json.dumps({"argv": [str(a) for a in argv], "cwd": str(cwd)}) + "\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.proc.kill()
            raise TimeoutError(f"paste_run.py {' '.join(map(str, argv))} ran for more than {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"paste_run.py serve stopped with exit status {self.proc.wait()}")
        answer = json.loads(line)
        return subprocess.CompletedProcess(argv, answer["returncode"], answer["stdout"], answer["stderr"])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------- the paste check


def longctx_imports(tree: ast.AST) -> list[str]:
    """The longctx modules and names a block imports, as written (``longctx.linear``, ``longctx.x._f``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == BLOCKED]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == BLOCKED:
            found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def bound_names(code: str) -> set[str]:
    """Names a block binds at module level (imports, defs, classes, assignments, for targets, ...)."""
    table = symtable.symtable(code, "<block>", "exec")
    return {
        s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()
    }


def function_globals(code: str) -> list[tuple[str, str]]:
    """``(function, name)`` for every global name a function or class body of the block reads."""
    out = []

    def walk(table, qualname):
        for child in table.get_children():
            inline = child.get_name() in INLINE_SCOPES  # a comprehension or lambda: report its function
            name = (
                qualname if inline else (f"{qualname}.{child.get_name()}" if qualname else child.get_name())
            )
            for sym in child.get_symbols():
                if sym.is_referenced() and sym.is_global() and not sym.is_assigned():
                    out.append((name or "<module>", sym.get_name()))
            walk(child, name)

    walk(symtable.symtable(code, "<block>", "exec"), "")
    return out


def count_functions(tree: ast.AST) -> int:
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(tree))


def check_blocks(page: str, blocks: list[str], workdir: Path) -> dict:
    """The paste check of one page's blocks; see the module docstring."""
    blocker = install()
    report = {"page": page, "blocks": len(blocks), "functions": 0, "missing": [], "errors": []}
    parsed = []
    for i, code in enumerate(blocks, start=1):
        try:
            tree = ast.parse(code)
            compile(code, f"<{page} block {i}>", "exec")
        except SyntaxError as err:
            lines = code.splitlines()
            text = err.text or (lines[err.lineno - 1] if err.lineno and err.lineno <= len(lines) else "")
            report["errors"].append(
                f"block {i}: does not paste: {err.msg} (line {err.lineno}: {text.strip()!r})"
            )
            parsed.append(None)
            continue
        parsed.append(tree)
        report["functions"] += count_functions(tree)
    page_names = set(dir(builtins))
    for code, tree in zip(blocks, parsed):
        if tree is not None:
            page_names |= bound_names(code)
    for i, (code, tree) in enumerate(zip(blocks, parsed), start=1):
        if tree is None:
            continue
        for name in longctx_imports(tree):
            if any(part.startswith("_") for part in name.split(".")):
                report["errors"].append(f"block {i}: imports the private longctx name {name}")
        for function, name in function_globals(code):
            if name not in page_names:
                report["missing"].append({"block": i, "function": function, "name": name})
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    for i, (code, tree) in enumerate(zip(blocks, parsed), start=1):
        if tree is None:
            continue
        blocker.set_active(not longctx_imports(tree))
        path = workdir / f"block_{i:02d}.py"  # a real file, so inspect.getsource (triton.jit) finds the code
        path.write_text(code, encoding="utf-8")
        linecache.checkcache(str(path))
        try:
            exec(compile(code, str(path), "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 - report whatever a pasted block raises
            last = traceback.extract_tb(err.__traceback__)[-1]
            report["errors"].append(
                f"block {i}: raised {type(err).__name__}: {err} "
                f"(line {last.lineno} of {Path(last.filename).name})"
            )
    blocker.set_active(True)
    return report


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "script":
        return run_script(argv[1])
    if argv == ["serve"]:
        return serve()
    if len(argv) == 2 and argv[0] == "blocks":
        data = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        workdir = Path(argv[1]).with_suffix("")
        workdir.mkdir(exist_ok=True)
        print(json.dumps(check_blocks(data["page"], data["blocks"], workdir)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
