"""Griffe extension: the package's docstrings as the API pages should show them.

The docstrings are written for people reading the code, in the Sphinx habit:
``:func:`selective_scan_ref``` and ``:data:`MODELS```, and a module's shape legend as an
indented block under a "Shape legend" line. mkdocstrings renders Markdown, where the roles
would print as written and the legend would run together into one paragraph. So, before it
renders them (loaded from mkdocs.yml under mkdocstrings' ``extensions``):

* each role becomes a link to the object's entry on the API pages, resolved from the scope of
  the docstring that names it (``~`` shows only the last name, as in Sphinx); a target with no
  entry shows as code, without a link;
* the indented lines under a line that starts with "Shape legend" become a preformatted block.
"""

from __future__ import annotations

import re
import textwrap

import griffe

_ROLE = re.compile(r":(?:func|data|mod|class|meth|attr|exc|obj):`(~?)([\w.]+)`")
_LEGEND = re.compile(r"^(Shape legend[^\n]*:)\n((?:[ \t]+\S[^\n]*\n?)+)", re.M)


def _canonical(root: griffe.Module, scope: griffe.Object, name: str) -> str:
    """The canonical dotted path of ``name`` as seen from ``scope``, or ``name`` unchanged."""
    try:
        path = name if name.split(".")[0] == root.name else scope.resolve(name)
        if path == root.name:
            return path
        return root[path[len(root.name) + 1 :]].canonical_path
    except (griffe.NameResolutionError, KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return name


def rewrite(text: str, root: griffe.Module, scope: griffe.Object) -> str:
    """``text`` with roles turned into optional cross-references and shape legends preformatted."""

    def role(match: re.Match) -> str:
        short, name = match.groups()
        shown = name.rsplit(".", 1)[-1] if short else name
        return (
            f'<autoref identifier="{_canonical(root, scope, name)}" optional><code>{shown}</code></autoref>'
        )

    def legend(match: re.Match) -> str:
        return f"{match[1]}\n\n```text\n{textwrap.dedent(match[2]).rstrip()}\n```\n"

    return _LEGEND.sub(legend, _ROLE.sub(role, text))


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


class DocstringsForTheSite(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, pkg, obj)
