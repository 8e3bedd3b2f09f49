"""Knowledge distillation for taggers: a teacher -> student ``loss_fn`` and a shallower student.

Distillation is one more ``loss_fn(model, batch)`` for ``rmdlib.train.fit``:
the model being trained is the student; the teacher is captured by the
closure, runs in eval mode under ``torch.no_grad`` and is never trained.
The student can start as a copy of every k-th teacher layer, as DistilBERT
did (Sanh et al. 2019, section 3: "taking one layer out of two").

Shapes: B batch, T tokens, C classes, D hidden, N kept tokens.  Used in chapter 7.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rmdlib.batch import IGNORE_INDEX, model_inputs
from rmdlib.losses import distillation_loss, token_cross_entropy

__all__ = ["TeacherCache", "distill_loss_fn", "student_from_teacher"]


def distill_loss_fn(teacher: nn.Module, *, temperature: float = 2.0, alpha: float = 0.5,
                    label_smoothing: float = 0.0, hidden_weight: float = 0.0,
                    cache: bool | TeacherCache = False, hard: bool = False) -> Callable[[nn.Module, Any], tuple[Tensor, dict[str, float]]]:
    """``loss_fn(student, batch)``: soft teacher targets mixed with the hard labels.

    batch: input_ids, attention_mask (B, T), optionally token_type_ids, and
    labels (B, T) with ``IGNORE_INDEX`` where no tag counts.  Over the N tokens
    with a label, with s, t the student and teacher logits (B, T, C),

        L = alpha * T^2 * KL(softmax(t/T) || softmax(s/T))        (Hinton et al. 2015)
            + (1 - alpha) * CE(s, labels)                           (label smoothing if given)
            + hidden_weight * MSE(h_s, h_t)                          (last hidden states, non-pad tokens)

    KL and CE are means over the N labelled tokens (``batchmean``:
    ``rmdlib.losses.distillation_loss`` and ``token_cross_entropy``); the MSE is
    a mean over non-pad tokens and the D hidden dims (needs equal widths).
    Without labels in the batch the KL runs over non-pad tokens and alpha must be 1.
    Logs ``kd`` and ``ce`` (and ``hidden``).  The teacher must be on the
    student's device.

    ``hard=True`` replaces the soft term by the cross-entropy with the teacher's
    top class, CE(s, argmax_c t) over the same N tokens: the limit T -> 0 of the
    soft targets (without its vanishing T^2), where only the teacher's decision is
    passed on.  ``temperature`` is then unused.

    ``cache=True`` runs the teacher once per distinct input row and keeps its
    logits (on the CPU), so later epochs reuse them instead of repeating the
    teacher's forward pass.  That is exact only for a fixed teacher: it is in eval
    mode here, so a row's logits do not depend on the epoch or on the rest of the
    batch.  Not with ``hidden_weight`` (hidden states are not kept).  A
    :class:`TeacherCache` of the same teacher may be passed instead of True, so that
    several losses (e.g. one per temperature) share one pass of the teacher over
    the data.  Used in chapter 7.
    """
    if temperature <= 0 or not 0.0 <= alpha <= 1.0 or hidden_weight < 0:
        raise ValueError(f"distill_loss_fn: need temperature > 0, 0 <= alpha <= 1, hidden_weight >= 0; "
                         f"got {temperature}, {alpha}, {hidden_weight}")
    if cache and hidden_weight > 0:
        raise ValueError("distill_loss_fn: cache=True keeps only the teacher's logits; set hidden_weight=0")
    if isinstance(cache, TeacherCache) and cache.teacher is not teacher:
        raise ValueError("distill_loss_fn: the TeacherCache given holds another teacher's logits")
    teacher_logits = cache if isinstance(cache, TeacherCache) else TeacherCache(teacher) if cache else None

    def loss_fn(student: nn.Module, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        inputs = model_inputs(batch, **({"output_hidden_states": True} if hidden_weight > 0 else {}))
        teacher.eval()  # every call: dropout off, whatever mode someone left it in
        with torch.no_grad():
            t_out = teacher(**inputs) if teacher_logits is None else None
            t_logits = t_out.logits if teacher_logits is None else teacher_logits(inputs)  # (B, T, C)
        s_out = student(**inputs)
        keep = _keep(batch, alpha)  # (B, T)
        kd = (token_cross_entropy(s_out.logits, t_logits.argmax(-1).masked_fill(~keep, IGNORE_INDEX))
              if hard else distillation_loss(s_out.logits, t_logits, temperature=temperature, mask=keep))
        ce = (token_cross_entropy(s_out.logits, batch["labels"], label_smoothing=label_smoothing)
              if alpha < 1.0 else kd.new_zeros(()))
        loss = alpha * kd + (1.0 - alpha) * ce
        logs = {"kd": float(kd.detach()), "ce": float(ce.detach())}
        if hidden_weight > 0:
            hid = _hidden_mse(s_out.hidden_states[-1], t_out.hidden_states[-1], batch.get("attention_mask"))
            loss = loss + hidden_weight * hid
            logs["hidden"] = float(hid.detach())
        return loss, logs

    return loss_fn


class TeacherCache:
    """The teacher's logits per distinct input row, computed once; rows are keyed by their real tokens.

    Call it with a batch's model inputs (input_ids, attention_mask (B, T)) to get
    the teacher's logits (B, T, C), zero at padding.  Pass it as
    ``distill_loss_fn(teacher, cache=...)`` to share it between losses.  Used in chapter 7.
    """

    def __init__(self, teacher: nn.Module) -> None:
        self.teacher, self.rows = teacher, {}

    def __call__(self, inputs: dict[str, Any]) -> Tensor:
        ids = inputs["input_ids"]  # (B, T)
        mask, types = inputs.get("attention_mask"), inputs.get("token_type_ids")
        lengths = (mask.sum(1) if mask is not None else torch.full(ids.shape[:1], ids.shape[1])).tolist()
        ids_cpu, types_cpu = ids.cpu(), None if types is None else types.cpu()  # one transfer, not one per row
        keys = [_row_key(ids_cpu[b, :n], None if types_cpu is None else types_cpu[b, :n])
                for b, n in enumerate(lengths)]
        if any(key not in self.rows for key in keys):
            logits = self.teacher(**inputs).logits  # (B, T, C): one pass for the whole batch
            cpu = logits.float().cpu()
            for b, (key, n) in enumerate(zip(keys, lengths)):
                self.rows.setdefault(key, cpu[b, :n])
            return logits
        out = torch.zeros((*ids.shape, self.rows[keys[0]].shape[-1]))  # (B, T, C), pads stay 0
        for b, (key, n) in enumerate(zip(keys, lengths)):
            out[b, :n] = self.rows[key]
        return out.to(ids.device)


def _row_key(ids: Tensor, types: Tensor | None) -> bytes:
    """A row's real tokens (and token types), CPU tensors, as bytes: equal rows give equal teacher logits."""
    key = ids.numpy().tobytes()
    return key if types is None else key + b"|" + types.numpy().tobytes()


def student_from_teacher(teacher: nn.Module, *, every: int = 2) -> nn.Module:
    """A shallower copy of ``teacher`` keeping its layers 0, k, 2k, ... (k = ``every``).

    Same model class and config except ``num_hidden_layers``; embeddings, the
    kept layers and the head are copied exactly (DistilBERT's initialisation,
    Sanh et al. 2019).  Works for Hugging Face BERT-like models whose encoder
    layers are ``model.base_model.encoder.layer`` (BERT, ELECTRA, RoBERTa).
    Returned on the teacher's device and dtype, in train mode.  Used in chapter 7.
    """
    layers = getattr(getattr(getattr(teacher, "base_model", None), "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"student_from_teacher: {type(teacher).__name__} has no base_model.encoder.layer list")
    if not 1 <= every <= len(layers):
        raise ValueError(f"student_from_teacher: every must be in [1, {len(layers)}], got {every}")
    kept = list(range(0, len(layers), every))  # teacher layer kept[j] becomes student layer j
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(kept)
    student = type(teacher)(config)
    prefix = next(name for name, module in teacher.named_modules() if module is layers)
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    source = teacher.state_dict()

    def teacher_key(key: str) -> str:
        return pattern.sub(lambda m: f"{prefix}.{kept[int(m.group(1))]}.", key)

    student.load_state_dict({key: source[teacher_key(key)] for key in student.state_dict()}, strict=True)
    param = next(teacher.parameters())
    return student.to(device=param.device, dtype=param.dtype).train()


def _keep(batch: Mapping[str, Tensor], alpha: float) -> Tensor:
    """(B, T) bool: tokens with a label, or without labels the non-pad tokens (then only KD, alpha = 1)."""
    if "labels" in batch:
        return batch["labels"] != IGNORE_INDEX
    if alpha < 1.0:
        raise ValueError(f"distill_loss_fn: alpha = {alpha} < 1 needs labels in the batch for the CE part")
    mask = batch.get("attention_mask")
    return torch.ones_like(batch["input_ids"], dtype=torch.bool) if mask is None else mask.bool()


def _hidden_mse(h_s: Tensor, h_t: Tensor, attention_mask: Tensor | None) -> Tensor:
    """Mean of (h_s - h_t)^2 over non-pad tokens and the D dims; h_s, h_t (B, T, D)."""
    if h_s.shape[-1] != h_t.shape[-1]:
        raise ValueError(f"hidden-state matching needs equal widths: student D = {h_s.shape[-1]}, "
                         f"teacher D = {h_t.shape[-1]}; set hidden_weight=0 or add a projection")
    keep = torch.ones(h_s.shape[:2], device=h_s.device) if attention_mask is None else attention_mask.float()
    sq = (h_s.float() - h_t.float()).pow(2).sum(dim=-1)  # (B, T)
    return (sq * keep).sum() / (keep.sum().clamp_min(1.0) * h_s.shape[-1])
