"""Lesson 2 (sparse and sliding-window attention, FlashAttention): figures drawn at build time.

Draw with ``longctx.figures.wall.pyplot()`` and return ``longctx.figures.wall.svg(fig)``.
"""

from __future__ import annotations

__all__ = ["FIGURES"]

#: This lesson's figures, by file name (``assets/figures/<name>.svg``).
FIGURES: dict = {}
