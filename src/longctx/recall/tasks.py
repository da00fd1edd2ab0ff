"""Key-value recall tasks: stored pairs of unit vectors, and queries that repeat some of the keys.

Shape legend:
    keys     [N, d]      N stored pairs, d key dim; unit vectors
    values   [N, d_v]    d_v value dim; unit vectors
    index    [Q]         long, the pair each query asks for (distinct)
    queries  [Q, d]      the stored keys the queries repeat, keys[index]
    readout  [Q, d_v]    what a memory returns for each query

Both experiments use it: multi-query associative recall (:mod:`longctx.recall.mqar`) and the
needle in a haystack (:mod:`longctx.evaluation.needle`), whose needles are the queried pairs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from numbers import Integral

import torch

__all__ = ["KVTask", "check_task", "decode", "recalled", "trial_seed", "unit_pairs", "unit_rows"]


@dataclass(frozen=True)
class KVTask:
    """N stored pairs and Q queries, each asking for the value stored with one of the keys.

    Attributes:
        keys: ``[N, d]`` unit key vectors.
        values: ``[N, d_v]`` unit value vectors.
        index: ``[Q]`` long, the pair each query asks for (the needles' positions, in a haystack).
    """

    keys: torch.Tensor
    values: torch.Tensor
    index: torch.Tensor

    @property
    def queries(self) -> torch.Tensor:
        """``[Q, d]``: the stored keys the queries repeat, ``keys[index]``."""
        return self.keys[self.index]

    @property
    def num_pairs(self) -> int:
        """N, the stored pairs (a haystack's length)."""
        return self.keys.shape[0]

    @property
    def dim(self) -> int:
        return self.keys.shape[1]

    @property
    def value_dim(self) -> int:
        return self.values.shape[1]


def check_task(task: object) -> KVTask:
    """``task`` if it is a :class:`KVTask`, else a TypeError naming the argument."""
    if not isinstance(task, KVTask):
        raise TypeError(f"task must be a KVTask (see make_mqar or make_haystack), got {type(task).__name__}")
    return task


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row of ``x`` divided by its norm."""
    return x / x.norm(dim=1, keepdim=True)


# --8<-- [start:unit-pairs]
import torch


def unit_pairs(num_pairs: int, dim: int, value_dim: int, generator: torch.Generator):
    """``num_pairs`` random unit keys ``[N, d]`` and values ``[N, d_v]``, float64, keys drawn first."""
    keys = torch.randn(num_pairs, dim, generator=generator, dtype=torch.float64)  # [N, d]
    values = torch.randn(num_pairs, value_dim, generator=generator, dtype=torch.float64)  # [N, d_v]
    keys = keys / keys.norm(dim=1, keepdim=True)  # unit keys: a key's score with itself is exactly 1
    return keys, values / values.norm(dim=1, keepdim=True)


# --8<-- [end:unit-pairs]


def decode(readout: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The stored value each readout is nearest to: ``argmax_j readout . v_j``.

    With unit-norm values the largest dot product is the smallest Euclidean distance. A positive
    rescaling of a readout (a normaliser) never changes its answer.

    Args:
        readout: ``[Q, d_v]`` floating.
        values: ``[N, d_v]`` floating, the stored values.

    Returns:
        ``[Q]`` long: the decoded pair for each query.
    """
    for name, t in (("readout", readout), ("values", values)):
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point or t.dim() != 2:
            raise TypeError(f"{name} must be a 2-dim floating tensor, got {getattr(t, 'shape', type(t))}")
    if readout.shape[1] != values.shape[1]:
        raise ValueError(f"readout's dim {readout.shape[1]} differs from values' {values.shape[1]}")
    return (readout.double() @ values.double().T).argmax(dim=1)  # [Q, N] -> [Q]


def recalled(readout: torch.Tensor, task: KVTask) -> torch.Tensor:
    """``[Q]`` bool: which queries decode to their own pair."""
    return decode(readout, task.values) == task.index


def trial_seed(seed: int, num_pairs: int, trial: int) -> int:
    """The seed of trial ``trial`` at ``num_pairs`` pairs: a stable hash of the three (63 bits)."""
    for name, value in (("seed", seed), ("num_pairs", num_pairs), ("trial", trial)):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    text = f"{int(seed)}:{int(num_pairs)}:{int(trial)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
