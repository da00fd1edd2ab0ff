"""longctx: the tested package behind the course *Long Context & Efficient Attention*.

Subpackages are named by technique: ``costs`` (what attention costs), ``attention`` (the
naive reference and a fused softmax kernel), ``bench`` (measurements), ``figures`` (the
site's plots). Every code block on the course site is included from here.
"""

__version__ = "0.1.0"
