"""One frozen encoder, several tasks: a LoRA adapter and a head per task, switched by name.

A fine-tuned copy of an encoder per task costs the whole encoder each time;
with adapters the encoder is stored and loaded once, and each task adds its
LoRA matrices and its head (a few hundred kB).  :class:`MultiTaskTagger` holds
the encoder wrapped by ``peft`` with one named LoRA adapter per task and an
``nn.ModuleDict`` of heads; :meth:`MultiTaskTagger.set_task` activates one
adapter and one head, and makes only those trainable, so training one task
can never change another's predictions.

It behaves like a tagger (``.config.id2label`` of the active task, ``.logits``
(B, T, C)), so ``finetune_tagger(None, ..., model=mt)`` and ``predict_tags``
work on it unchanged.  Used in chapter 8.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput

from rmdlib.adapt import load_trainable, save_trainable

__all__ = ["MultiTaskTagger"]


class MultiTaskTagger(nn.Module):
    """A frozen ``encoder`` (B, T) -> (B, T, D) with one LoRA adapter + linear head per task.

    ``encoder`` is a bare encoder (``ElectraModel``, ``BertModel``) or a model whose
    ``base_model`` is one; peft edits its attention layers in place.
    """

    def __init__(self, encoder: PreTrainedModel, *, r: int = 8, alpha: float = 16.0,
                 targets: Sequence[str] = ("query", "value"), dropout: float = 0.1):
        super().__init__()
        self._base = (encoder.base_model,)  # a tuple, not a submodule: its parameters get their names via peft
        self.lora = dict(r=r, lora_alpha=alpha, target_modules=list(targets))
        self.encoder: nn.Module | None = None
        self.heads = nn.ModuleDict()
        self.dropout = nn.Dropout(dropout)
        self.labels: dict[str, list[str]] = {}
        self.task: str | None = None

    def add_task(self, name: str, labels: Sequence[str]) -> MultiTaskTagger:
        """A new LoRA adapter (the identity at first, since B = 0) and a fresh head Linear(D, C) for ``name``."""
        from peft import LoraConfig, get_peft_model

        if name in self.heads:
            raise ValueError(f"task {name!r} exists already")
        if self.encoder is None:
            self.encoder = get_peft_model(self._base[0], LoraConfig(**self.lora), adapter_name=name)
        else:
            self.encoder.add_adapter(name, LoraConfig(**self.lora))
        self.heads[name] = nn.Linear(self._base[0].config.hidden_size, len(labels))
        self.labels[name] = list(labels)
        return self.set_task(name)

    def set_task(self, name: str) -> MultiTaskTagger:
        """Activate ``name``'s adapter and head; only they require grad (the encoder and other tasks are frozen)."""
        if name not in self.heads:
            raise KeyError(f"no task {name!r}; tasks: {sorted(self.heads)}")
        self.encoder.set_adapter(name)
        for n, p in self.named_parameters():
            p.requires_grad = f".{name}." in n and ("lora_" in n or n.startswith("heads."))
        self.task = name
        return self

    @property
    def config(self):
        """The encoder's config with the active task's label maps (what predict_tags reads)."""
        cfg = copy.copy(self._base[0].config)
        cfg.id2label = dict(enumerate(self.labels[self.task]))
        cfg.label2id = {label: i for i, label in enumerate(self.labels[self.task])}
        return cfg

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, **_: Tensor) -> TokenClassifierOutput:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids).last_hidden_state  # (B, T, D) through the active adapter
        return TokenClassifierOutput(logits=self.heads[self.task](self.dropout(h)))  # (B, T, C)

    def save_task(self, name: str, path: str | Path) -> int:
        """Write ``name``'s adapter and head (nothing of the encoder) as safetensors; return the file's bytes."""
        self.set_task(name)
        return save_trainable(self, path)

    def load_task(self, name: str, path: str | Path) -> MultiTaskTagger:
        """Load a :meth:`save_task` file into the existing task ``name`` (add it with the same labels first)."""
        return load_trainable(self.set_task(name), path)
