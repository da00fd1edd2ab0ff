"""Hide every installed package except what the GPU machine has, to prove the GPU tests collect there.

Put this folder first on ``PYTHONPATH`` (scripts/check.sh does, for ``pytest --collect-only -m
gpu``): an import of any top-level module that is neither the standard library, ``longctx``, nor
a distribution in ``LONGCTX_ALLOW`` (default: the GPU machine's torch, triton, numpy, pytest,
hypothesis, pyyaml, matplotlib, tqdm) or one of their own dependencies raises
``ModuleNotFoundError``, as it would there.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata as md
import os
import re
import sys

_DEFAULT = "torch triton numpy pytest hypothesis pyyaml matplotlib tqdm"


def _requirements(dist: str) -> list[str]:
    try:
        reqs = md.requires(dist) or []
    except md.PackageNotFoundError:
        return []
    names = []
    for req in reqs:
        if "extra ==" in req:  # optional extras are not installed with the package
            continue
        names.append(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0])
    return names


def _allowed_modules() -> set[str]:
    todo = os.environ.get("LONGCTX_ALLOW", _DEFAULT).split()
    dists, modules = set(), set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in dists:
            continue
        dists.add(name)
        todo += _requirements(name)
    for module, owners in md.packages_distributions().items():
        if any(o.lower().replace("_", "-") in dists for o in owners):
            modules.add(module)
    return modules


class _Blocker(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.allowed = _allowed_modules() | set(sys.stdlib_module_names) | {"longctx"}

    def find_spec(self, fullname, path=None, target=None):
        if path is not None or fullname.split(".")[0] in self.allowed:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname)  # where it would come from
        where = "" if spec is None else str(spec.origin or list(spec.submodule_search_locations or [""])[0])
        if "site-packages" in where or "dist-packages" in where:  # an installed package: hidden
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (hidden: not on the GPU machine)", name=fullname
            )
        return None  # the standard library, the tree's own modules (tests' helpers), or nothing


sys.meta_path.insert(0, _Blocker())
