"""``python -m longctx.bench``: see :mod:`longctx.bench.cli` (only the standard library is imported here)."""

import sys

from longctx.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
