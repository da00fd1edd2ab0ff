"""``python -m longctx.bench``: the benchmark command (see :mod:`longctx.bench.harness`).

Only the standard library is imported before :func:`~longctx.bench.harness.main` has checked
``TRITON_INTERPRET``: importing a kernel module on a machine without a GPU would switch
Triton's CPU interpreter on by itself.
"""

import sys

from longctx.bench.harness import main

if __name__ == "__main__":
    sys.exit(main())
