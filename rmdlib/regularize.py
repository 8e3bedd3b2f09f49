"""Regularizers for fine-tuning: dropout rates, and adversarial training as ``loss_fn`` wrappers.

Every regularizer of chapter 6 leaves the training loop alone.  Where each lives:

* **dropout**: three rates, all config.  Hidden (embeddings and every
  sub-layer output) and attention-probability dropout are the encoder config's
  ``hidden_dropout_prob`` / ``attention_probs_dropout_prob``
  (``rmdlib.models.build_encoder(dropout=)`` sets both); the head's is
  ``build_tagger(..., dropout=)`` (``config.classifier_dropout``).
  :func:`set_dropout` changes them on a model that already exists.
* **weight decay** by tensor rank and **early stopping**: ``rmdlib.train.TrainConfig``.
* **label smoothing**: ``rmdlib.models.tagging_loss_fn(label_smoothing=)``.
* **adversarial embedding perturbation**: :func:`fgm` and :func:`pgd` here,
  each turning a ``loss_fn(model, batch)`` into another one.

How the perturbation reaches the embeddings: a forward hook on
``model.get_input_embeddings()`` (the word-embedding ``nn.Embedding``) records
its output e (B, T, E) and, on the adversarial passes, returns e + r.  The
wrapped ``loss_fn`` is called unchanged, so any tagger, any loss and fit's
autocast work as they are; positions and token types are not perturbed.
r is a constant (no gradient flows through it), as in Miyato et al. (2017).
Under ``torch.no_grad`` (``rmdlib.train.evaluate``) the wrappers return the
clean loss, so validation losses compare across regularizers.

Shapes: B batch, T tokens, E embedding width.  Used in chapter 6.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rmdlib.batch import LossFn

__all__ = ["fgm", "pgd", "set_dropout"]

_FP16_GRAD_SCALE = 2.0**10  # multiplies the loss before the embedding gradient under fp16 autocast (no underflow)


def set_dropout(model: nn.Module, *, hidden: float | None = None, attention: float | None = None,
                head: float | None = None) -> nn.Module:
    """Set the dropout rates of an existing Hugging Face encoder or tagger, in place; return it.

    ``attention``: the ``nn.Dropout`` of each self-attention module (the one
    with ``query`` and ``key``), applied to attention probabilities;
    ``hidden``: every other ``nn.Dropout`` inside ``model.base_model``;
    ``head``: the ``nn.Dropout`` modules outside it (the tagging head's).
    None leaves a rate alone.  The config fields ``hidden_dropout_prob``,
    ``attention_probs_dropout_prob`` and ``classifier_dropout`` are updated too,
    so ``save_pretrained`` keeps the new rates.  Used in chapter 6.
    """
    rates = {"hidden": hidden, "attention": attention, "head": head}
    for kind, p in rates.items():
        if p is not None and not 0.0 <= p < 1.0:
            raise ValueError(f"set_dropout: {kind} dropout must be in [0, 1), got {p}")
    found = dict.fromkeys(rates, 0)
    for name, module in model.named_modules():
        if isinstance(module, nn.Dropout):
            kind = _dropout_kind(model, name)
            found[kind] += 1
            if rates[kind] is not None:
                module.p = rates[kind]
    missing = [kind for kind, p in rates.items() if p is not None and not found[kind]]
    if missing:
        raise ValueError(f"set_dropout: {type(model).__name__} has no {', '.join(missing)} dropout modules")
    config = getattr(model, "config", None)
    fields = {"hidden": "hidden_dropout_prob", "attention": "attention_probs_dropout_prob",
              "head": "classifier_dropout"}
    for kind, field in fields.items():
        if config is not None and rates[kind] is not None:
            setattr(config, field, rates[kind])
    return model


def _dropout_kind(model: nn.Module, name: str) -> str:
    """'head' outside ``model.base_model``, 'attention' in a module with query and key, else 'hidden'."""
    base = getattr(model, "base_model", model)
    if base is not model and not any(m is base for m in _parents(model, name)):
        return "head"
    parent = model.get_submodule(name.rpartition(".")[0])
    return "attention" if hasattr(parent, "query") and hasattr(parent, "key") else "hidden"


def _parents(model: nn.Module, name: str) -> Iterator[nn.Module]:
    parts = name.split(".")
    for i in range(len(parts)):
        yield model.get_submodule(".".join(parts[:i]))


def fgm(loss_fn: LossFn, *, epsilon: float = 1.0) -> LossFn:
    """Fast gradient method: ``loss_fn`` plus the same loss at the worst-case embedding shift of norm eps.

    With e (B, T, E) the input embeddings of the batch and g = dL/de,

        r_b = eps * g_b / ||g_b||_2,        L_total = L(e) + L(e + r)

    (Miyato, Dai and Goodfellow 2017, section 3: the linearised worst case
    of Goodfellow et al. 2015).  The norm is per example b over its tokens and
    embedding dims, with padding (``attention_mask == 0``) zeroed first, so pads
    are never perturbed and every example's r has norm eps (0 where g_b = 0).
    Scale of eps: Miyato's eps = 5 (their released code) is for *normalised*
    embeddings; for raw embeddings measure their norm first (chapter 6 takes a
    share of the median example norm).
    Returns ``(L_total, logs)`` with ``clean`` and ``adv`` added to the
    wrapped function's logs.  Costs two forward and backward passes.  Used in chapter 6.
    """
    if epsilon <= 0:
        raise ValueError(f"fgm: epsilon must be > 0, got {epsilon}")

    def adversarial_loss_fn(model: nn.Module, batch: Any) -> Any:
        if not torch.is_grad_enabled():
            return loss_fn(model, batch)  # evaluation: the clean loss
        with _tapped(model) as tap:
            clean, logs, e = tap.run(loss_fn, model, batch, None)
            r = epsilon * _unit(_grad(clean, e, retain_graph=True), _mask(batch, e))  # (B, T, E)
            adv, _, _ = tap.run(loss_fn, model, batch, r)
        return clean + adv, {**logs, "clean": float(clean.detach()), "adv": float(adv.detach())}

    return adversarial_loss_fn


def pgd(loss_fn: LossFn, *, epsilon: float = 1.0, alpha: float = 0.3, steps: int = 3,
        add_clean: bool = False) -> LossFn:
    """Projected gradient descent: train on the loss at a K-step adversarial embedding shift.

    Starting from delta_0 = 0, with g_k = dL/de at e + delta_k,

        delta_{k+1} = Proj_eps(delta_k + alpha * g_k / ||g_k||_2),   k = 0 .. K-1,
        L_total = L(e + delta_K)            (+ L(e) if ``add_clean``)

    where Proj_eps rescales each example's delta back onto its L2 ball of
    radius eps (Madry et al. 2018, section 2.1; L2-normalised steps replace its sign steps; norms
    per example over tokens and dims, pads zeroed).  Departures from Madry:
    delta starts at 0, not at a random point, as BERT fine-tuning scripts do;
    by default only the adversarial loss is trained, as in Madry's min-max
    objective, while ``add_clean=True`` adds the clean loss (the popular BERT
    PGD recipe keeps the clean gradient).  Logs ``clean`` and ``adv``.
    Costs K + 1 forward passes.  Used in chapter 6.
    """
    if epsilon <= 0 or alpha <= 0 or steps < 1:
        raise ValueError(f"pgd: need epsilon > 0, alpha > 0, steps >= 1; got {epsilon}, {alpha}, {steps}")

    def adversarial_loss_fn(model: nn.Module, batch: Any) -> Any:
        if not torch.is_grad_enabled():
            return loss_fn(model, batch)  # evaluation: the clean loss
        with _tapped(model) as tap:
            clean, logs, e = tap.run(loss_fn, model, batch, None)
            mask, loss = _mask(batch, e), clean
            delta = torch.zeros_like(e, dtype=torch.float32)  # (B, T, E)
            for k in range(steps):
                g = _grad(loss, e, retain_graph=add_clean and k == 0)  # keep the clean graph if it is trained
                delta = _project(delta + alpha * _unit(g, mask), epsilon)
                loss, _, e = tap.run(loss_fn, model, batch, delta)
        total = clean + loss if add_clean else loss
        return total, {**logs, "clean": float(clean.detach()), "adv": float(loss.detach())}

    return adversarial_loss_fn


class _Tap:
    """Forward-hook state: adds ``delta`` to the input embeddings' output and records that output."""

    def __init__(self) -> None:
        self.delta: Tensor | None = None
        self.outputs: list[Tensor] = []

    def __call__(self, module: nn.Module, args: Any, output: Tensor) -> Tensor:
        if not output.requires_grad:  # frozen embeddings: still need dL/de
            output = output.detach().requires_grad_(True)
        if self.delta is not None:
            output = output + self.delta.to(output.dtype)  # (B, T, E)
        self.outputs.append(output)
        return output

    def run(self, loss_fn: LossFn, model: nn.Module, batch: Any,
            delta: Tensor | None) -> tuple[Tensor, dict[str, float], Tensor]:
        """loss_fn at embeddings e + delta: (loss, logs, the perturbed embeddings (B, T, E))."""
        self.delta, self.outputs = delta, []
        out = loss_fn(model, batch)
        loss, logs = (out[0], dict(out[1])) if isinstance(out, tuple) else (out, {})
        if len(self.outputs) != 1:
            raise ValueError(f"adversarial training: loss_fn called the input embeddings {len(self.outputs)} "
                             "times; it must call them exactly once per batch")
        return loss, logs, self.outputs[0]


@contextlib.contextmanager
def _tapped(model: nn.Module) -> Iterator[_Tap]:
    """A ``_Tap`` hooked on ``model.get_input_embeddings()`` for the duration of the block."""
    tap = _Tap()
    handle = model.get_input_embeddings().register_forward_hook(tap)
    try:
        yield tap
    finally:
        handle.remove()


def _grad(loss: Tensor, e: Tensor, *, retain_graph: bool) -> Tensor:
    """dL/de (B, T, E) as a constant fp32 tensor; parameters' ``.grad`` are left untouched.

    Only g's direction is used, so under fp16 autocast the loss is scaled up
    first, as GradScaler would, to keep small gradients from flushing to 0.
    """
    fp16 = torch.is_autocast_enabled(e.device.type) and torch.get_autocast_dtype(e.device.type) == torch.float16
    scale = _FP16_GRAD_SCALE if fp16 else 1.0
    (g,) = torch.autograd.grad(loss * scale, e, retain_graph=retain_graph)
    return g.detach().float()


def _mask(batch: Any, e: Tensor) -> Tensor:
    """(B, T) 1.0 on real tokens, 0.0 on padding, from ``batch["attention_mask"]`` (all 1 without one)."""
    mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
    if mask is None:
        return torch.ones(e.shape[:2], device=e.device)
    if tuple(mask.shape) != tuple(e.shape[:2]):
        raise ValueError(f"attention_mask has shape {tuple(mask.shape)} but the embeddings {tuple(e.shape)}")
    return mask.to(device=e.device, dtype=torch.float32)


def _unit(g: Tensor, mask: Tensor) -> Tensor:
    """g_b / ||g_b||_2 per example over tokens and dims, pads zeroed; 0 where g_b = 0.  g (B, T, E)."""
    g = g * mask[..., None]  # (B, T, E) no direction on padding
    norm = g.flatten(1).norm(dim=1)  # (B,)
    inv = torch.where(norm > 0, norm.reciprocal(), torch.zeros_like(norm))
    return g * inv[:, None, None]


def _project(delta: Tensor, epsilon: float) -> Tensor:
    """Each example's delta (B, T, E) rescaled onto the L2 ball of radius eps if it lies outside."""
    norm = delta.flatten(1).norm(dim=1)  # (B,)
    factor = torch.clamp(epsilon / norm.clamp_min(1e-12), max=1.0)  # 1 inside the ball
    return delta * factor[:, None, None]
