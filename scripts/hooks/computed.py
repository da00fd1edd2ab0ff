"""MkDocs hook: numbers and tables on a page are computed by ``longctx`` while the site builds.

In a page's Markdown:

* ``{{ costs.score_matrix_bytes(100_000, bytes_per_element="fp16") | gb }}`` is replaced by
  the value of that call, formatted by ``longctx.units.format_value`` (here "20.00 GB"). The
  call must name a public function of a ``longctx`` module and pass only literals; ``+ - * /``
  may combine calls and numbers (``{{ costs.f(1) / costs.f(2) | x }}``).
* ``{{ table costs.quadratic_cost_table() | seq_len:int:n (tokens); flops:flops:FLOPs }}`` is
  replaced by a Markdown table: the call returns a list of dicts (one per row), and each
  ``key:format:header`` after the bar is a column, separated by ``;``. A ``text`` format
  prints a string value as it is.

Anything else between double braces, an unknown function or format, or a call that raises,
fails the build with the page named. Fenced code is left alone.

``longctx`` is imported at each use, not once, so that a preview (``make serve``) computes with
the code as it is after an edit (``scripts/hooks/preview.py`` forgets the old modules). With
``LONGCTX_PREVIEW_CACHE=1`` a value is reused from the cache while the source of the modules it
calls is unchanged (``scripts/hooks/preview_cache.py``); ``make test`` and CI compute every one.
"""

from __future__ import annotations

import ast
import importlib
import operator
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

if (
    str(Path(__file__).parent) not in sys.path
):  # MkDocs loads hooks by path: make their shared module importable
    sys.path.insert(0, str(Path(__file__).parent))
import preview_cache as pc  # noqa: E402


def format_value(value, fmt: str) -> str:
    return importlib.import_module("longctx.units").format_value(value, fmt)


def resolve(name: str):
    return importlib.import_module("longctx.units").resolve(name)


_EXPR = re.compile(r"\{\{(.+?)\}\}", re.S)
# CommonMark: the info string of a backtick fence holds no backtick, so ```` ```x``` ```` inline is no fence.
_FENCE = re.compile(r"^(\s*)(`{3,}(?=[^`]*$)|~{3,})")


_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _literal(node: ast.AST, where: str):
    if isinstance(node, ast.Call):
        return _call(node, where)
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return _arithmetic(node, where)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise PluginError(
            f"{where}: arguments must be literals or longctx calls, got {ast.unparse(node)!r}"
        ) from None


def _arithmetic(node: ast.AST, where: str):
    """``+ - * /`` and unary minus over calls and numbers, so a page can write ``a / b``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal(node.operand, where)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _literal(node.left, where), _literal(node.right, where)
        try:
            return _ARITHMETIC[type(node.op)](left, right)
        except ZeroDivisionError:
            raise PluginError(f"{where}: {ast.unparse(node)} divides by zero") from None
        except TypeError as err:
            raise PluginError(f"{where}: {ast.unparse(node)}: {err}") from None
    raise PluginError(f"{where}: only + - * / are allowed between values, got {ast.unparse(node)!r}")


def _value(node: ast.AST, where: str):
    """A whole expression: a longctx call, or arithmetic over calls and numbers."""
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return _arithmetic(node, where)
    return _call(node, where)


def _call(node: ast.AST, where: str):
    if not isinstance(node, ast.Call):
        raise PluginError(
            f"{where}: expected a call such as costs.cost_multiplier(4096, 32768), got {ast.unparse(node)!r}"
        )
    name = ast.unparse(node.func)
    try:
        func = resolve(name)
    except ValueError as err:
        raise PluginError(f"{where}: {err}") from None
    args = [_literal(a, where) for a in node.args]
    kwargs = {kw.arg: _literal(kw.value, where) for kw in node.keywords}
    try:
        return func(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise PluginError(f"{where}: {name}(...) raised {err}") from None


def evaluate(expression: str, where: str) -> str:
    """Value of one ``call | format`` expression, as text."""
    call_text, bar, fmt = expression.rpartition("|")
    if not bar:
        raise PluginError(f"{where}: {{{{{expression}}}}} needs a format after '|', e.g. '| gb'")
    try:
        node = ast.parse(call_text.strip(), mode="eval").body
    except SyntaxError as err:
        raise PluginError(f"{where}: cannot parse {call_text.strip()!r}: {err.msg}") from None
    value = _value(node, where)
    try:
        return format_value(value, fmt.strip())
    except (TypeError, ValueError) as err:
        raise PluginError(f"{where}: {err}") from None


def _cell(value, fmt: str, where: str) -> str:
    if fmt == "text":
        return str(value)
    try:
        return format_value(value, fmt)
    except (TypeError, ValueError) as err:
        raise PluginError(f"{where}: table cell {value!r}: {err}") from None


def table(expression: str, where: str) -> str:
    """A Markdown table from ``call | key:format:header; ...``."""
    call_text, bar, spec = expression.partition("|")
    if not bar or not spec.strip():
        raise PluginError(f"{where}: a table needs columns after '|', e.g. 'seq_len:int:n (tokens)'")
    try:
        node = ast.parse(call_text.strip(), mode="eval").body
    except SyntaxError as err:
        raise PluginError(f"{where}: cannot parse {call_text.strip()!r}: {err.msg}") from None
    rows = _call(node, where)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise PluginError(f"{where}: {ast.unparse(node)} must return a non-empty list of dicts for a table")
    columns = []
    for part in spec.split(";"):
        key, fmt, header = (x.strip() for x in (part.split(":", 2) + ["", ""])[:3])
        if not (key and fmt and header):
            raise PluginError(f"{where}: table column {part.strip()!r} must read key:format:header")
        if key not in rows[0]:
            raise PluginError(f"{where}: table column {key!r} is not a key of {ast.unparse(node)}'s rows")
        columns.append((key, fmt, header))
    head = "| " + " | ".join(h for _, _, h in columns) + " |"
    rule = "|" + "|".join(":---" if f == "text" else "---:" for _, f, _ in columns) + "|"
    body = ["| " + " | ".join(_cell(row[k], f, where) for k, f, _ in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def _compute(inner: str, where: str) -> str:
    if inner.startswith("table "):
        return table(inner.removeprefix("table "), where)
    return evaluate(inner, where)


def modules_called(inner: str) -> set[str] | None:
    """The ``longctx`` modules whose functions ``inner`` calls, or None if it cannot be parsed."""
    body = inner.removeprefix("table ")
    text = body.partition("|")[0] if inner.startswith("table ") else body.rpartition("|")[0]
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None
    modules = {"longctx.units"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            dotted = ast.unparse(node.func).rpartition(".")[0]
            if not dotted:
                return None
            modules.add(f"longctx.{dotted}")
    return modules


def _cached(inner: str, where: str) -> str:
    """``_compute``, or its value from the preview cache while the code it runs is unchanged.

    While a preview server is up, a value whose code changed is shown as it last was, the page
    says so, and the value is computed in the background; the server then rebuilds the page.
    """
    modules = modules_called(inner) if pc.enabled() else None
    if modules is None or not all(pc.module_file(m) for m in modules):
        return _compute(inner, where)  # uncached, or an error to report
    key = pc.modules_key("value", modules, expression=inner)
    store = pc.Store()
    last_key = pc.last_key(where, inner)
    record = store.get("value", key)
    if record is not None:
        pc.REPORT.hit("numbers", inner)
        last = store.get("value-last", last_key)
        if last is None or last.get("text") != record["text"]:
            store.put("value-last", last_key, {"text": record["text"]})
        return record["text"]
    last = store.get("value-last", last_key) if pc.serving() else None
    if last is not None and pc.defer("value", key, {"value": inner, "where": where}):
        pc.STALE_PAGES.add(where.removeprefix("page "))
        pc.REPORT.miss(
            "numbers", f"{where.removeprefix('page ')}: {inner[:40]} (recomputing in the background)"
        )
        return last["text"]
    text = _compute(inner, where)
    store.put("value", key, {"text": text, "expression": inner})
    store.put("value-last", last_key, {"text": text})
    pc.REPORT.miss("numbers", f"{where.removeprefix('page ')}: {inner[:40]}")
    return text


STALE_NOTE = (
    '!!! warning "Preview: recomputing"\n    Some numbers on this page are from before your last edit; '
    "they are being computed again and the page updates by itself when they are ready.\n\n"
)


def _expand(text: str, where: str) -> str:
    def replace(match: re.Match) -> str:
        return _cached(match.group(1).strip(), where)

    return _EXPR.sub(replace, text)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri.endswith(".py"):  # notebooks are mkdocs-jupyter's
        return markdown
    where = f"page {page.file.src_uri}"
    out, chunk, fence = [], [], None
    for line in markdown.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is None and m:
            out.append(_expand("".join(chunk), where))
            chunk, fence = [], m.group(2)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if (
                m
                and m.group(2).startswith(fence[0])
                and len(m.group(2)) >= len(fence)
                and not line.strip()[len(m.group(2)) :]
            ):
                fence = None
        else:
            chunk.append(line)
    out.append(_expand("".join(chunk), where))
    text = "".join(out)
    if page.file.src_uri in pc.STALE_PAGES:  # only while a preview server is up
        h1 = re.search(r"^# .*\n", text.split("```")[0], re.M)  # the title, if it comes before any code
        at = h1.end() if h1 else 0
        return f"{text[:at]}\n{STALE_NOTE}{text[at:]}"
    return text
