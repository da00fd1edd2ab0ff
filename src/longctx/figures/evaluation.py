"""The long-context evaluation page's figure: the toy needle-in-a-haystack maps."""

from __future__ import annotations

from longctx.evaluation.needle import needle_figure

__all__ = ["FIGURES", "needle_figure"]

#: The figures of docs/topics/evaluation.md, by file name.
FIGURES: dict = {"needle-grid": needle_figure}
