"""MkDocs hook: the glossary's abbreviation tooltips open from the keyboard too.

Python-Markdown's ``abbr`` extension writes ``<abbr title="...">``, which a mouse can hover but
Tab never reaches, so a keyboard user never sees the definition. Giving each one
``tabindex="0"`` puts it in the tab order; Material's tooltips open on focus as on hover.
"""

from __future__ import annotations

import re

_ABBR = re.compile(r"<abbr(?![^>]*\btabindex=)(?=[\s>])")


def on_page_content(html: str, page, config, files) -> str:
    return _ABBR.sub('<abbr tabindex="0"', html)
