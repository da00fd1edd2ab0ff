"""MkDocs hook: the glossary's abbreviation tooltips open from the keyboard, at one Tab stop per term.

Python-Markdown's ``abbr`` extension writes ``<abbr title="...">``, which a mouse can hover but
Tab never reaches. Material's tooltips open on focus as on hover, so the *first* ``<abbr>`` of each
term on a page gets ``tabindex="0"``: a keyboard user meets every term's definition once, where
it first appears, without a Tab stop at every later mention (Lesson 4 mentions "KV" 28 times).
Every tooltip also ends in "Glossary: <term>", and the glossary page defines each term in full.
"""

from __future__ import annotations

import re

_ABBR = re.compile(r"<abbr(?P<attrs>(?:\s[^>]*)?)>(?P<text>.*?)</abbr>", re.S)
_TABINDEX = re.compile(r"\s+tabindex=(\"[^\"]*\"|'[^']*'|\S+)")


def focusable_first(html: str) -> str:
    """``html`` with ``tabindex="0"`` on the first ``<abbr>`` of each term and on no other."""
    seen: set[str] = set()

    def one(m: re.Match) -> str:
        attrs = _TABINDEX.sub("", m.group("attrs"))
        term = m.group("text").strip()
        if term not in seen:
            seen.add(term)
            attrs = ' tabindex="0"' + attrs
        return f"<abbr{attrs}>{m.group('text')}</abbr>"

    return _ABBR.sub(one, html)


def on_page_content(html: str, page, config, files) -> str:
    return focusable_first(html)
