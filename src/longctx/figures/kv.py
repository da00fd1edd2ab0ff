"""Lesson 4 (the KV-cache economy): figures drawn at build time.

Draw with ``longctx.figures.wall.pyplot()`` and return ``longctx.figures.wall.svg(fig)``.
"""

from __future__ import annotations

__all__ = ["FIGURES"]

#: This lesson's figures, by file name (``assets/figures/<name>.svg``).
FIGURES: dict = {}
