"""Associative recall without training: softmax attention, linear attention and a selective SSM compared.

``make_mqar`` draws a multi-query associative recall task (random unit keys and values);
``softmax_readout``, ``linear_readout`` and ``ssm_readout`` answer it with pairs written into
each model's memory by hand; ``recall_table`` and ``recall_figure`` show accuracy against the
number of pairs, beside the size of each memory. See ``longctx.recall.mqar``.
"""

from longctx.recall.mqar import (
    KEY_KINDS,
    MODEL_LABELS,
    MODELS,
    MQARTask,
    decode,
    linear_readout,
    linear_state,
    make_mqar,
    recall_accuracy,
    recall_figure,
    recall_table,
    softmax_readout,
    ssm_readout,
    ssm_scan_inputs,
    state_elements,
    trial_seed,
)

__all__ = [
    "KEY_KINDS",
    "MODELS",
    "MODEL_LABELS",
    "MQARTask",
    "decode",
    "linear_readout",
    "linear_state",
    "make_mqar",
    "recall_accuracy",
    "recall_figure",
    "recall_table",
    "softmax_readout",
    "ssm_readout",
    "ssm_scan_inputs",
    "state_elements",
    "trial_seed",
]
