"""Token tagging end to end: words -> windows -> batches -> ``fit`` -> one tag per word -> entity F1.

Chapters 3 to 7, ``rmd finetune`` and the benchmarks fine-tune and evaluate
taggers in exactly this way, so it is written once (a data-parallel run of
``rmd finetune`` is the same path with ``ranks``):

1. every sentence becomes one or more windows of at most ``max_length``
   sub-tokens (:func:`rmdlib.tokens.tokenize_ner`): nothing is truncated away;
2. training batches group windows of similar length and pad dynamically;
3. evaluation tags every word exactly once (:func:`rmdlib.infer.predict_tags`)
   and scores entities with seqeval's
   default (conlleval) mode (:func:`rmdlib.metrics.entity_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from rmdlib import _parallel as par
from rmdlib.metrics import entity_scores
from rmdlib.infer import predict_tags
from rmdlib.models import build_tagger, tagging_loss_fn
from rmdlib.batch import IGNORE_INDEX, model_inputs
from rmdlib.tokens import (Collator, LengthGroupedBatchSampler, encode_candidates, pad_multiple, sbd_labels,
                           tokenize_ner)
from rmdlib.train import History, LossFn, TrainConfig, fit

__all__ = ["ContextHead", "TaggingConfig", "evaluate_tagger", "finetune_tagger", "fit_tagger", "label_names",
           "predict_split", "sbd_tagger", "sbd_windows", "train_loader", "weighted_loss_fn", "windows"]


@dataclass(frozen=True)
class TaggingConfig:
    """How sentences become batches for a tagger; the optimiser lives in ``TrainConfig``."""

    batch_size: int = 32  # windows per training batch
    eval_batch_size: int = 128  # windows per prediction batch (no gradients: larger fits)
    max_length: int = 128  # sub-tokens per window; longer sentences are windowed, never truncated
    stride: int = 32  # sub-tokens shared by consecutive windows, so every word has context
    dropout: float = 0.1  # dropout of the task adapter head
    label_smoothing: float = 0.0  # token cross-entropy smoothing (chapter 6)


def label_names(ds: Any) -> list[str]:
    """The tag names of a ``DatasetDict`` (or split) made by :func:`rmdlib.data.load_ner`."""
    split = ds["train"] if hasattr(ds, "keys") else ds
    return list(split.features["ner_tags"].feature.names)


def windows(ds: Any, tokenizer: Any, cfg: TaggingConfig = TaggingConfig()) -> Any:
    """Every split of ``ds`` (tokens, ner_tags) as windows with aligned labels (``-100`` elsewhere)."""
    return tokenize_ner(ds, tokenizer, max_length=cfg.max_length, stride=cfg.stride)


def sbd_windows(docs: Any, tokenizer: Any, cfg: TaggingConfig = TaggingConfig(), *, strict: bool = True) -> Any:
    """Sentence-split documents (``.text``, ``.sentence_ends``) as training windows with END/O labels.

    Candidates and labels come from :func:`rmdlib.tokens.sbd_labels` (the last
    sub-token of every whitespace-free run, and every line break); a long
    document is windowed, never truncated, and each candidate's label sits in
    exactly one window, the one with most context around it (``-100``
    elsewhere).  ``strict=False`` skips gold ends inside a whitespace-free token
    instead of raising.  Returns a ``datasets.Dataset`` of input_ids,
    attention_mask, labels.  Used in chapters 5 and 8 and ``rmd finetune sbd``.
    """
    from datasets import Dataset

    units, labels = zip(*((u, y) for u, _, y in (sbd_labels(d.text, d.sentence_ends, strict=strict)
                                                 for d in docs if d.text.strip())))
    enc = encode_candidates(tokenizer, units, labels, max_length=cfg.max_length, stride=cfg.stride)
    return Dataset.from_dict({k: enc[k] for k in ("input_ids", "attention_mask", "labels")})


class ContextHead(nn.Module):
    """A task adapter head that reads each position with ``context`` sub-tokens on either side.

    (B, T, D) -> Conv1d over T (kernel 2k + 1, zero padding: k sub-tokens each side)
    -> GELU -> Linear -> (B, T, C).  A tiny encoder whose vectors barely mix their
    neighbours (chapter 5 measures it) gives a linear head at a period no way to
    tell ``Mrs.`` from ``team.``; this head sees the sub-tokens before and after.
    ``context=0`` is a one-position MLP.  Used in chapter 5.
    """

    def __init__(self, hidden: int, n_classes: int, *, context: int = 2, width: int | None = None) -> None:
        super().__init__()
        width = width or hidden
        self.conv = nn.Conv1d(hidden, width, kernel_size=2 * context + 1, padding=context)
        self.out = nn.Linear(width, n_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, T, width)
        return self.out(F.gelu(z))  # (B, T, C)


def sbd_tagger(encoder: Any, *, context: int = 2, dropout: float = 0.1) -> nn.Module:
    """``models.build_tagger(encoder, infer.SBD_LABELS)`` with a :class:`ContextHead` as its classifier.

    ``context=None`` keeps build_tagger's linear head (what ``rmd finetune sbd``
    saves and ``models.load_tagger`` reloads).  Used in chapter 5.
    """
    from rmdlib.infer import SBD_LABELS

    model = build_tagger(encoder, SBD_LABELS, dropout=dropout)
    if context is not None:
        hidden = model.classifier.in_features
        model.classifier = ContextHead(hidden, len(SBD_LABELS), context=context).to(model.device)
    return model


def weighted_loss_fn(class_weights: Sequence[float]) -> LossFn:
    """``loss_fn(model, batch)``: token cross-entropy with a weight per class (for rare classes such as END).

    loss = sum_i w[y_i] * (-log p(y_i)) / sum_i w[y_i] over labelled positions i
    (``F.cross_entropy(weight=...)``'s weighted mean); all weights 1 is
    ``models.tagging_loss_fn()``.  Used in chapter 5.
    """
    def loss_fn(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        logits = model(**model_inputs(batch)).logits  # (B, T, C)
        if not (batch["labels"] != IGNORE_INDEX).any():
            return logits.sum() * 0.0  # nothing labelled: 0, not 0/0
        weight = torch.tensor(class_weights, dtype=torch.float32, device=logits.device)
        return F.cross_entropy(logits.float().flatten(0, -2), batch["labels"].flatten(), weight=weight,
                               ignore_index=IGNORE_INDEX)

    return loss_fn


def train_loader(win: Any, tokenizer: Any, cfg: TaggingConfig = TaggingConfig(), *, device: torch.device | str,
                 seed: int = 0, ranks: par.Ranks | None = None) -> DataLoader:
    """Length-grouped, dynamically padded training batches (fit reseeds the generator every epoch).

    Batches for ``device``: on CUDA their length is padded to a multiple of 8
    (:func:`rmdlib.tokens.pad_multiple`).  With ``ranks`` of several processes,
    each takes every W-th batch of that same order.
    """
    lengths = [len(ids) for ids in win["input_ids"]]
    sampler = LengthGroupedBatchSampler(lengths, cfg.batch_size, generator=torch.Generator().manual_seed(seed))
    if ranks is not None and ranks.world > 1:
        sampler = par.ShardedBatches(sampler, ranks)
    collate = Collator(tokenizer, pad_to_multiple_of=pad_multiple(device), keep=())
    return DataLoader(win, batch_sampler=sampler, collate_fn=collate, generator=_own_generator())


def _own_generator() -> torch.Generator:
    """A generator of the loader's own, so that starting an iteration draws nothing from the global RNG.

    Without one, every ``iter(DataLoader)`` draws a base seed from the global
    torch RNG, which dropout draws from too: each validation pass, and each new
    epoch, would shift the dropout masks of the steps after it, and a run that
    is watched would train differently from one that is not.
    """
    return torch.Generator().manual_seed(0)


def _eval_loader(win: Any, tokenizer: Any, cfg: TaggingConfig, device: torch.device | str) -> DataLoader:
    """Validation windows, padded per batch (to a multiple of 8 on CUDA), for the validation loss."""
    collate = Collator(tokenizer, pad_to_multiple_of=pad_multiple(device), keep=())
    return DataLoader(win, batch_size=cfg.eval_batch_size, shuffle=False, collate_fn=collate,
                      generator=_own_generator())


def predict_split(model: nn.Module, tokenizer: Any, split: Any, cfg: TaggingConfig = TaggingConfig(), *,
                  device: torch.device | str) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag lists of every sentence of one split.

    Predictions come from :func:`rmdlib.infer.predict_tags`, the same path that
    tags new text: windows, one tag per word, nothing truncated.  Chapters 3 and 6
    pass the predictions of several seeds to :func:`rmdlib.compare.paired_f1`.
    """
    names = label_names(split)
    gold = [[names[t] for t in tags] for tags in split["ner_tags"]]
    pred = predict_tags(model, tokenizer, split["tokens"], device=device, max_length=cfg.max_length,
                        stride=cfg.stride, batch_size=cfg.eval_batch_size)
    return gold, pred


def evaluate_tagger(model: nn.Module, tokenizer: Any, split: Any, cfg: TaggingConfig = TaggingConfig(), *,
                    device: torch.device | str, strict: bool = False) -> dict[str, float]:
    """Entity precision, recall and F1 (seqeval default mode = conlleval) on one split, predicted on ``device``."""
    return entity_scores(*predict_split(model, tokenizer, split, cfg, device=device), strict=strict)


def fit_tagger(model: nn.Module, train_windows: Any, tokenizer: Any, train_cfg: TrainConfig,
               cfg: TaggingConfig = TaggingConfig(), *, device: torch.device | str, val_windows: Any = None,
               eval_fn: Any = None, loss_fn: LossFn | None = None, ranks: par.Ranks | None = None,
               resume: bool = False) -> History:
    """Train a tagger on windows (input_ids, attention_mask, labels) with ``fit``: the one training path.

    Length-grouped batches (:func:`train_loader`); the validation loss on
    ``val_windows`` and ``eval_fn(model)`` at each evaluation.  ``ranks`` of
    several processes (``rmd finetune`` under torchrun) trains data-parallel:
    the model and its loss in DDP, each rank on its share of the same batch
    order; with one process (or None) it is exactly the single-process run.
    The model trains on ``device`` (moved there; ``ranks.device`` under torchrun).
    """
    if ranks is not None and torch.device(device) != ranks.device:
        raise ValueError(f"fit_tagger: device {device} is not this rank's device {ranks.device}")
    loss_fn = loss_fn or tagging_loss_fn(label_smoothing=cfg.label_smoothing)
    loader = train_loader(train_windows, tokenizer, cfg, device=device, seed=train_cfg.seed, ranks=ranks)
    val_loader = None if val_windows is None else _eval_loader(val_windows, tokenizer, cfg, device)
    scored = None if eval_fn is None else (lambda _: eval_fn(model))  # the inner model, not a DDP wrapper
    if ranks is not None and ranks.world > 1:
        model.to(device)  # before DDP wraps it: DDP broadcasts rank 0's weights on the device
        return fit(par.wrap(model, loss_fn, ranks), par.call_loss, loader, val_loader, train_cfg, device=device,
                   eval_fn=scored, resume=resume)
    return fit(model, loss_fn, loader, val_loader, train_cfg, device=device, eval_fn=scored, resume=resume)


def finetune_tagger(encoder: Any, ds: Any, tokenizer: Any, train_cfg: TrainConfig,
                    cfg: TaggingConfig = TaggingConfig(), *, device: torch.device | str,
                    loss_fn: LossFn | None = None,
                    model: nn.Module | None = None, ranks: par.Ranks | None = None,
                    resume: bool = False) -> tuple[nn.Module, History]:
    """Encoder + fresh task adapter head, trained with ``fit`` on ``ds["train"]``.

    With a ``validation`` split, every evaluation reports its loss and its
    entity F1 as ``f1``; set ``train_cfg.monitor="f1", mode="max"`` to keep the best
    state and stop early on it.  Trains and predicts on ``device`` (the profile's
    ``P.device`` in the book), wherever the encoder was built.  Returns the model,
    on ``device``, and the training history.

    ``loss_fn`` replaces the token cross-entropy, e.g. ``regularize.fgm(tagging_loss_fn())``
    (chapter 6) or ``distill.distill_loss_fn(teacher)`` (chapter 7); label smoothing then
    belongs in that function, not in ``cfg``.  ``model`` is a tagger to train as it is
    (e.g. ``distill.student_from_teacher(teacher)``, whose head is copied); ``encoder``
    must then be None.  The validation loss is ``loss_fn`` under ``no_grad`` (FGM and PGD then
    give the clean loss).  ``ranks`` and ``resume`` go to :func:`fit_tagger` (``rmd finetune``
    trains through here: one or several processes, the same batches).
    """
    if (encoder is None) == (model is None):
        raise ValueError("finetune_tagger: give an encoder to put a fresh head on, or a tagger as model=, not both")
    if loss_fn is not None and cfg.label_smoothing:
        raise ValueError("finetune_tagger: with loss_fn, set label smoothing inside it (TaggingConfig.label_smoothing "
                         f"= {cfg.label_smoothing} would be ignored)")
    win = windows(ds, tokenizer, cfg)
    if model is None:
        model = build_tagger(encoder, label_names(ds), dropout=cfg.dropout)
    elif list(model.config.id2label.values()) != label_names(ds):
        raise ValueError(f"finetune_tagger: the model's labels {list(model.config.id2label.values())} are not "
                         f"the data's {label_names(ds)}")
    val_windows = eval_fn = None
    if "validation" in ds:
        val_windows = win["validation"]  # validation loss

        def eval_fn(m: nn.Module) -> dict[str, float]:
            return {"f1": evaluate_tagger(m, tokenizer, ds["validation"], cfg, device=device)["f1"]}
    history = fit_tagger(model, win["train"], tokenizer, train_cfg, cfg, device=device, val_windows=val_windows,
                         eval_fn=eval_fn, loss_fn=loss_fn, ranks=ranks, resume=resume)
    return model, history
