"""Associative recall without training: softmax attention, linear attention and a selective SSM compared.

``make_mqar`` draws a multi-query associative recall task (random unit keys and values);
``softmax_readout``, ``linear_readout`` and ``ssm_readout`` answer it with pairs written into
each model's memory by hand; ``recall_table`` and ``recall_figure`` show accuracy against the
number of pairs, beside the size of each memory. See ``longctx.recall.mqar``. The task (:class:`KVTask`, ``decode``) and the memories
(``softmax_memory``, ``state_memory``) are shared with the needle test, ``longctx.evaluation``.
"""

from longctx.recall.memories import softmax_memory, state_memory, window_keep
from longctx.recall.mqar import (
    KEY_KINDS,
    MODEL_LABELS,
    MODELS,
    linear_readout,
    make_mqar,
    recall_accuracy,
    recall_figure,
    recall_table,
    softmax_readout,
    ssm_readout,
    ssm_scan_inputs,
    state_elements,
)
from longctx.recall.tasks import KVTask, decode, trial_seed

__all__ = [
    "KEY_KINDS",
    "KVTask",
    "MODELS",
    "MODEL_LABELS",
    "decode",
    "linear_readout",
    "make_mqar",
    "recall_accuracy",
    "recall_figure",
    "recall_table",
    "softmax_memory",
    "softmax_readout",
    "ssm_readout",
    "ssm_scan_inputs",
    "state_elements",
    "state_memory",
    "trial_seed",
    "window_keep",
]
