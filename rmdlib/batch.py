"""What a batch is: the contract between the data side and the model side of the library.

A batch is a mapping of tensors (B, T): ``input_ids``, ``attention_mask`` and
optionally ``token_type_ids`` (what an encoder reads, :data:`INPUT_KEYS`), and
for training ``labels`` holding :data:`IGNORE_INDEX` wherever no label is
predicted (padding, special tokens, sub-tokens after a word's first).
:mod:`rmdlib.tokens` makes such batches; :mod:`rmdlib.models`, :mod:`rmdlib.rtd`,
:mod:`rmdlib.distill` and :mod:`rmdlib.losses` read them; a loss for
``rmdlib.train.fit`` is a :data:`LossFn` of a model and a batch.  This module
imports nothing from the library, so every layer may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["IGNORE_INDEX", "INPUT_KEYS", "LossFn", "model_inputs"]

IGNORE_INDEX = -100  # PyTorch's cross_entropy default and BERT's NER convention: "no label here"
INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")  # what an encoder reads from a batch

# loss_fn(model, batch) -> loss, or (loss, logs): what fit() minimises (logs: floats to record)
LossFn = Callable[[nn.Module, Any], "Tensor | tuple[Tensor, dict[str, float]]"]


def model_inputs(batch: Mapping[str, Any], device: torch.device | None = None, **override: Any) -> dict[str, Any]:
    """The encoder's inputs from a batch (labels and bookkeeping stay out), moved to ``device`` if given.

    ``override`` replaces or adds entries after the move (e.g. RTD's corrupted
    ``input_ids``, or ``output_hidden_states=True``).  A batch without
    ``input_ids`` is a ``ValueError`` naming the keys it has.
    """
    if "input_ids" not in batch:
        raise ValueError(f"a batch needs input_ids; it has {sorted(batch)}")
    out = {k: batch[k] if device is None else batch[k].to(device) for k in INPUT_KEYS if k in batch}
    return {**out, **override}
