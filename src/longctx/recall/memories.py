"""The memories both recall experiments write by hand (no training), and how each reads.

Shape legend:
    queries  [Q, d]      what is asked, read after every pair has been written
    keys     [N, d]      stored keys; values [N, d_v] stored values
    keep     [N] or [Q, N] bool, the keys softmax attention may see (None: all of them)
    S        [d, d_v]    a fixed-size state, ``sum_j decay^(N-1-j) k_j v_j^T``
    readout  [Q, d_v]

``softmax_memory`` is attention over a cache that keeps pairs (all of them, a window, sinks +
window); ``state_memory`` is linear attention's state (``decay = 1``) or the state a selective
SSM keeps when it writes every token with a constant decay. References: ``attention_ref`` and
``linear_attention_ref``, against which the tests check both.
"""

from __future__ import annotations

__all__ = ["softmax_memory", "state_memory", "window_keep"]


# --8<-- [start:softmax-memory]
import torch


def softmax_memory(queries, keys, values, *, scale: float, keep=None):
    """Softmax attention over the stored pairs: ``softmax(scale q k^T) v``, over the kept keys only."""
    scores = scale * queries @ keys.T  # [Q, N]; unit vectors: the matching key scores `scale`
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))  # a key outside the cache cannot be read
    return torch.softmax(scores, dim=-1) @ values  # [Q, d_v]


def window_keep(num_keys: int, *, window: int, sinks: int = 0):
    """``[N]`` bool, read from the last position: the last ``window`` positions and the first ``sinks``."""
    position = torch.arange(num_keys)
    return (position >= num_keys - window) | (position < sinks)


# --8<-- [end:softmax-memory]


# --8<-- [start:state-memory]
import torch


def state_memory(queries, keys, values, *, decay: float = 1.0, normalize: bool = False):
    """A fixed-size state ``S = sum_j decay^(N-1-j) k_j v_j^T``, read as ``q S``.

    ``decay = 1`` is linear attention's state; below 1, older pairs fade. ``normalize`` divides
    by ``q . sum_j decay^(N-1-j) k_j``, linear attention's denominator (for positive features).
    """
    age = torch.arange(keys.shape[0] - 1, -1, -1, dtype=keys.dtype)  # [N]: N-1 ... 0 steps ago
    faded = keys * (decay**age)[:, None]  # [N, d]
    S = faded.T @ values  # [d, d_v]: the same size whatever N is
    readout = queries @ S  # [Q, d_v] = sum_j decay^(N-1-j) (q . k_j) v_j
    if normalize:
        readout = readout / (queries @ faded.sum(dim=0))[:, None]
    return readout


# --8<-- [end:state-memory]
