"""Loss functions of the course, written out as the equations chapter 2 derives.

Every function here is pure: tensors in, a scalar tensor (or a named tuple of
them) out, no state, no printing.  Every reduction is explicit: a loss is a sum
over the positions that count divided by how many positions count, so padding
and ignored tokens never dilute it.  When *no* position counts the loss is 0
(still connected to the graph, so ``backward()`` works), not the NaN that
``F.cross_entropy(..., reduction="mean")`` returns for an all-ignored batch.

Logits are always pre-softmax / pre-sigmoid scores.  Half-precision logits are
promoted to fp32 before any exponential; fp32 and fp64 are used as given.

Shapes: B batch, T tokens, C classes, V vocabulary, N number of kept tokens.
Used in chapters 2, 4, 6, 7 and 8.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rmdlib.batch import IGNORE_INDEX  # one home (rmdlib.batch); kept importable from here, where chapter 2 derives it

__all__ = [
    "IGNORE_INDEX",
    "RTDLoss",
    "binary_cross_entropy",
    "distillation_loss",
    "mlm_loss",
    "rtd_loss",
    "token_cross_entropy",
]


class RTDLoss(NamedTuple):
    """The ELECTRA objective and its two parts (scalars): total = mlm + lambda * disc."""

    total: Tensor
    mlm: Tensor
    disc: Tensor


def _as_float(x: Tensor) -> Tensor:
    """Promote fp16/bf16 to fp32 (exp/log overflow there); keep fp32/fp64 as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _masked_mean(values: Tensor, keep: Tensor) -> Tensor:
    """sum(values * keep) / max(sum(keep), 1): the explicit reduction used everywhere.

    With no kept position this is exactly 0 and still has a gradient (of zeros).
    """
    keep = keep.to(values.dtype)
    return (values * keep).sum() / keep.sum().clamp_min(1.0)


def _check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}")


def token_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    label_smoothing: float = 0.0,
    ignore_index: int = IGNORE_INDEX,
) -> Tensor:
    """Mean cross-entropy over the positions whose label is not ``ignore_index``.

    logits (B, T, C) or any (..., C); labels (B, T) or the matching (...).
    With log-probabilities l = log_softmax(z) and smoothing eps,

        loss_i = (1 - eps) * (-l[y_i]) + eps * mean_c(-l[c])
        loss   = sum_{i kept} loss_i / N,

    i.e. the target distribution is (1 - eps) * onehot(y) + eps / C, the label
    smoothing of Szegedy et al. (2016), defined exactly as PyTorch's
    ``F.cross_entropy(label_smoothing=eps)``.  With N = 0 the loss is 0 (not NaN).
    Used in chapters 2, 6 and 8.
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} need labels of shape {tuple(logits.shape[:-1])}, "
                         f"got {tuple(labels.shape)}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    log_probs = F.log_softmax(_as_float(logits), dim=-1)  # (..., C)
    keep = labels != ignore_index  # (...)
    safe = torch.where(keep, labels, torch.zeros_like(labels))  # any valid index at ignored positions
    nll = -log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (...) -log p(y)
    per_token = nll
    if label_smoothing > 0.0:
        uniform = -log_probs.mean(dim=-1)  # (...) cross-entropy against the uniform distribution
        per_token = (1.0 - label_smoothing) * nll + label_smoothing * uniform
    return _masked_mean(per_token, keep)


def mlm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Masked-language-model loss: token cross-entropy over the masked positions only.

    logits (B, T, V); labels (B, T) hold the original token id at masked
    positions and ``IGNORE_INDEX`` everywhere else (see ``rmdlib.rtd.mask_tokens``).
    L_MLM = -(1/N) sum_{i masked} log p(x_i | x_masked)  (Devlin et al. 2019).
    Used in chapter 2.
    """
    return token_cross_entropy(logits, labels)


def binary_cross_entropy(logits: Tensor, targets: Tensor, keep: Tensor) -> Tensor:
    """Mean binary cross-entropy with logits over the kept positions.

    logits, targets, keep (B, T) (or any equal shapes); keep is bool.
    With z the logit and y in {0, 1},

        BCE(z, y) = -y log sigma(z) - (1 - y) log(1 - sigma(z)) = softplus(z) - y z,

    whose derivative is dBCE/dz = sigma(z) - y; averaged over N kept positions
    the gradient is (sigma(z) - y) / N.  ``softplus`` is evaluated stably.
    Used in chapter 2.
    """
    _check_same_shape("logits", logits, "targets", targets)
    _check_same_shape("logits", logits, "keep", keep)
    z = _as_float(logits)
    y = targets.to(z.dtype)
    return _masked_mean(F.softplus(z) - y * z, keep.bool())


def rtd_loss(
    gen_logits: Tensor,
    mlm_labels: Tensor,
    disc_logits: Tensor,
    disc_labels: Tensor,
    attention_mask: Tensor,
    *,
    disc_weight: float = 50.0,
) -> RTDLoss:
    """The replaced-token-detection objective of ELECTRA.

    gen_logits (B, T, V), mlm_labels (B, T) with ``IGNORE_INDEX`` off the
    masked positions; disc_logits, disc_labels (1 = replaced), attention_mask (B, T).

        L = L_MLM + lambda * L_Disc,
        L_MLM  = mean over the masked positions of the batch of -log p_G(x_i),
        L_Disc = mean over every non-pad token of the batch of BCE(D(x~)_t, y_t),

    with lambda = 50 (Clark et al. 2020, ELECTRA, section 3 and appendix A;
    ``disc_weight = 50.0`` in google-research/electra configure_pretraining.py).
    Both means are over the whole batch, as in the reference run_pretraining.py
    (``get_softmax_output`` and ``_get_discriminator_output``), not per sequence.
    The discriminator sees every token, so every token gives a training signal.
    Used in chapter 2.
    """
    _check_same_shape("disc_logits", disc_logits, "attention_mask", attention_mask)
    mlm = mlm_loss(gen_logits, mlm_labels)
    disc = binary_cross_entropy(disc_logits, disc_labels, attention_mask.bool())
    return RTDLoss(total=mlm + disc_weight * disc, mlm=mlm, disc=disc)


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    *,
    temperature: float,
    mask: Tensor | None = None,
) -> Tensor:
    """Soft-target distillation loss T^2 * KL(p_teacher || q_student), averaged over kept tokens.

    student_logits, teacher_logits (B, T, C) or any (..., C); mask (B, T) / (...)
    bool, True = keep (None keeps all).  With p = softmax(t / T), q = softmax(s / T),

        loss = T^2 * (1/N) sum_{i kept} sum_c p_ic (log p_ic - log q_ic),

    i.e. ``F.kl_div(log q, p, reduction="batchmean") * T**2`` over the N kept
    tokens.  Its gradient wrt the student logits is T * (q - p) / N: the T^2
    factor keeps gradient magnitudes comparable across temperatures (Hinton,
    Vinyals and Dean 2015, section 2).  The teacher is a constant (detached).
    Used in chapters 2 and 7.
    """
    _check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if mask is None:
        mask = torch.ones(student_logits.shape[:-1], dtype=torch.bool, device=student_logits.device)
    elif mask.shape != student_logits.shape[:-1]:
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {tuple(student_logits.shape[:-1])}")
    log_q = F.log_softmax(_as_float(student_logits) / temperature, dim=-1)  # (..., C)
    log_p = F.log_softmax(_as_float(teacher_logits).detach() / temperature, dim=-1)  # (..., C)
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)  # (...) KL(p || q) per token
    return temperature**2 * _masked_mean(kl, mask.bool())
