"""Transitional: the integer checks now live in the public :mod:`longctx.checks`.

Kept only until ``costs.py``, ``linear/`` and ``evaluation/needle.py`` import from
``longctx.checks``; then this file is deleted.
"""

from longctx.checks import nonneg_int, positive_int

__all__ = ["nonneg_int", "positive_int"]
