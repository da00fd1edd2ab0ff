"""The site's figures, drawn from the package's own numbers at build time (needs matplotlib).

Each figure function returns an SVG document as a string. ``FIGURES`` maps the file name the
pages use (``assets/figures/<name>.svg``) to its function; each lesson's module keeps its own.
"""

from __future__ import annotations

from longctx.figures import evaluation, kv, linear, position, sparse, wall
from longctx.figures.wall import attention_share, quadratic_wall

__all__ = ["FIGURES", "attention_share", "quadratic_wall"]

#: Every figure the site draws, by file name.
FIGURES = {**wall.FIGURES, **sparse.FIGURES, **linear.FIGURES, **kv.FIGURES, **position.FIGURES, **evaluation.FIGURES}
