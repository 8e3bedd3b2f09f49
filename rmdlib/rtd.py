"""Replaced token detection (ELECTRA): masking, sampling, corruption and the model pair.

One RTD step (Clark et al. 2020, figure 1), each piece a function of this module:

1. ``mask_tokens``: pick 15 % of the tokens; show 85 % of them as [MASK], leave
   15 % unchanged, replace none at random.
2. the generator (a small masked LM) predicts the picked tokens;
3. ``gumbel_sample``: sample a token from the generator at each picked position;
4. ``replace_tokens``: write the samples in; label 1 where the token changed;
5. the discriminator labels every token original / replaced; ``rmdlib.losses.rtd_loss``.

The code follows the reference implementation, google-research/electra
(``pretrain/pretrain_helpers.py`` and ``run_pretraining.py``, commit 8a46635);
comments cite its lines as ``helpers:L`` and ``run:L``.  Where we depart from
it the comment says so.  Shapes: B batch, T tokens, V vocabulary, S picked tokens.
Used in chapters 1, 2 and 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from rmdlib.batch import IGNORE_INDEX, LossFn, model_inputs
from rmdlib.losses import RTDLoss, mlm_loss, rtd_loss
from rmdlib.models import electra_config

__all__ = ["BERT_MASKING", "ELECTRA_MASKING", "Corruption", "ElectraPair", "MaskedBatch", "MaskingRates",
           "RTDOutput", "build_mlm", "build_pair", "gumbel_sample", "make_mlm_loss_fn", "make_rtd_loss_fn",
           "mask_tokens", "replace_tokens", "rtd_step"]

Batch = Mapping[str, Tensor]


@dataclass(frozen=True)
class MaskingRates:
    """How many tokens the generator must predict and how they are shown to it."""

    mask_prob: float = 0.15  # share of tokens picked (BERT and ELECTRA-small/base; ELECTRA-large uses 0.25)
    mask_frac: float = 0.85  # of the picked, shown as [MASK] (helpers:202); the rest stay unchanged
    random_frac: float = 0.0  # of the picked, shown as a random token; ELECTRA has none


ELECTRA_MASKING = MaskingRates()  # 15 % picked; 85 % [MASK], 15 % unchanged, 0 % random
BERT_MASKING = MaskingRates(0.15, 0.8, 0.1)  # Devlin et al. 2019: 80 % [MASK], 10 % random, 10 % unchanged


class MaskedBatch(NamedTuple):
    """Result of ``mask_tokens``; all (B, T)."""
    masked_ids: Tensor  # what the generator sees
    mlm_labels: Tensor  # original id at picked positions, IGNORE_INDEX elsewhere
    selected: Tensor  # bool, the picked positions


class Corruption(NamedTuple):
    """Result of ``replace_tokens``; both (B, T)."""
    corrupted_ids: Tensor  # what the discriminator sees
    disc_labels: Tensor  # 1 = replaced (differs from the original), 0 = original


def _rand(shape: torch.Size, generator: torch.Generator, device: torch.device) -> Tensor:
    """U[0, 1) noise drawn from ``generator``, which must live on ``device``."""
    if generator.device.type != device.type:
        raise ValueError(f"the torch.Generator is on {generator.device} but the tensors are on {device}; "
                         f"create it with torch.Generator(device=...) on the tensors' device")
    return torch.rand(shape, generator=generator, device=device)


def _pick_exact(candidates: Tensor, n_tokens: Tensor, mask_prob: float, generator: torch.Generator) -> Tensor:
    """Pick k = max(1, round(mask_prob * n_tokens)) candidate positions per row, uniformly, without replacement.

    candidates (B, T) bool, n_tokens (B,) -> (B, T) bool.  The count is the
    reference's (helpers:173-175; tf.round and torch.round both round half to
    even).  Departure: the reference draws the k positions *with* replacement
    (tf.random.categorical, helpers:188) and drops duplicates (helpers:100),
    which masks slightly fewer than k (about 14 % instead of 15 % at T = 128);
    it also caps k at max_predictions_per_seq (19 at T = 128).  We pick exactly k.
    """
    k = torch.round(n_tokens.float() * mask_prob).long().clamp_min(1)  # (B,)
    k = torch.minimum(k, candidates.sum(-1))  # a row with no candidate gets nothing
    scores = _rand(candidates.shape, generator, candidates.device).masked_fill(~candidates, 2.0)  # (B, T)
    rank = scores.argsort(-1).argsort(-1)  # (B, T) rank of each position's score; non-candidates last
    return rank < k[:, None]


def _check_masking(ids: Tensor, special: Tensor, mask_frac: float, random_frac: float, vocab: int | None) -> None:
    if ids.shape != special.shape:
        raise ValueError(f"mask_tokens: input_ids {tuple(ids.shape)} vs special_tokens_mask {tuple(special.shape)}")
    if random_frac > 0 and vocab is None:
        raise ValueError("mask_tokens: random_frac > 0 needs vocab_size to draw random tokens")
    if not (mask_frac >= 0 and random_frac >= 0 and mask_frac + random_frac <= 1):
        raise ValueError(f"mask_tokens: need mask_frac, random_frac >= 0, sum <= 1; got {mask_frac}, {random_frac}")


def mask_tokens(input_ids: Tensor, special_tokens_mask: Tensor, *, mask_token_id: int, mask_prob: float = 0.15,
                mask_frac: float = 0.85, random_frac: float = 0.0, vocab_size: int | None = None,
                attention_mask: Tensor | None = None, generator: torch.Generator) -> MaskedBatch:
    """Dynamic masking: pick round(mask_prob * n) tokens per sequence and hide most of them.

    input_ids, special_tokens_mask (bool, True = never pick), attention_mask (B, T).
    n counts the non-pad tokens (attention_mask; without it, the candidates).
    Candidates are non-pad, non-special positions (helpers:130-142).  Each picked
    token independently becomes [MASK] with probability mask_frac (helpers:201-205),
    a uniform random id in [0, vocab_size) with probability random_frac (BERT), and
    stays unchanged otherwise.  Defaults = ELECTRA (85/15/0); BERT: ``**asdict(BERT_MASKING)``.
    Used in chapters 1 and 2.
    """
    _check_masking(input_ids, special_tokens_mask, mask_frac, random_frac, vocab_size)
    candidates = ~special_tokens_mask.bool()
    if attention_mask is not None:
        candidates &= attention_mask.bool()
    n_tokens = candidates.sum(-1) if attention_mask is None else attention_mask.sum(-1)
    selected = _pick_exact(candidates, n_tokens, mask_prob, generator)  # (B, T)
    u = _rand(input_ids.shape, generator, input_ids.device)  # (B, T) decides how each pick is shown
    masked_ids = input_ids.masked_fill(selected & (u < mask_frac), mask_token_id)
    if random_frac > 0:
        to_random = selected & (u >= mask_frac) & (u < mask_frac + random_frac)
        random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, device=input_ids.device)
        masked_ids = torch.where(to_random, random_ids, masked_ids)
    return MaskedBatch(masked_ids, input_ids.masked_fill(~selected, IGNORE_INDEX), selected)


@torch.no_grad()
def gumbel_sample(logits: Tensor, *, generator: torch.Generator) -> Tensor:
    """Sample ids from softmax(logits) with the Gumbel-max trick, in fp32, with no gradient.

    logits (..., V) -> ids (...).  argmax(z + g) with g = -log(-log u), u ~ U(0, 1),
    is distributed as softmax(z) (Gumbel 1954; Maddison et al. 2014).  Temperature 1
    and the 1e-9 guards as in helpers:222-229 (run:226-227: the sample is a
    stop_gradient, so no gradient flows from the discriminator into the generator).
    Used in chapters 1 and 2.
    """
    z = logits.detach().float()  # fp16 logits would round the noise away
    u = _rand(z.shape, generator, z.device)
    gumbel = -torch.log(-torch.log(u + 1e-9) + 1e-9)
    return (z + gumbel).argmax(dim=-1)


def replace_tokens(input_ids: Tensor, masked: MaskedBatch, sampled: Tensor) -> Corruption:
    """Write the generator's samples at every picked position and label what changed.

    input_ids, sampled (B, T) (sampled is read only at ``masked.selected``).
    label = 1 iff picked and sampled != original, so a sample that equals the
    original counts as original (run:234-235; the paper, section 2).  Pads get 0;
    the loss masks them out with attention_mask.  Used in chapters 1 and 2.
    """
    if sampled.shape != input_ids.shape:
        raise ValueError(f"sampled {tuple(sampled.shape)} must have input_ids' shape {tuple(input_ids.shape)}")
    corrupted = torch.where(masked.selected, sampled, input_ids)  # (B, T)
    return Corruption(corrupted, (corrupted != input_ids).long())


class ElectraPair(nn.Module):
    """A generator (masked LM) and a discriminator (RTD head) sharing their embedding block.

    The whole ``ElectraEmbeddings`` module (token, position and type embeddings
    and its LayerNorm) is one object in both models, as the reference scopes all
    of them under ``electra/embeddings`` for both networks (modeling.py:187-218).
    Each network projects the shared embedding width to its own hidden width
    (``embeddings_project``, modeling.py:225-228).  The generator's output layer
    is tied to the shared word embeddings (run:254-268).  Used in chapter 3.
    """

    def __init__(self, generator: ElectraForMaskedLM, discriminator: ElectraForPreTraining) -> None:
        super().__init__()
        if generator.config.embedding_size != discriminator.config.embedding_size:
            raise ValueError("generator and discriminator need the same embedding_size to share embeddings")
        self.generator = generator
        self.discriminator = discriminator
        generator.electra.embeddings = discriminator.electra.embeddings  # same Parameter objects
        generator.tie_weights()  # re-tie generator_lm_head.weight to the now shared word embeddings

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Tensor) -> Tensor:
        """Discriminator logits (B, T): > 0 means 'replaced'."""
        return self.discriminator(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits

    def save_discriminator(self, path: str | Path) -> None:
        """Save the discriminator alone (safetensors + config.json) for ``AutoModel.from_pretrained``."""
        self.discriminator.save_pretrained(path)


def build_pair(vocab_size: int, *, hidden: int = 128, layers: int = 4, heads: int = 4,
               intermediate: int | None = None, gen_scale: float = 0.25, embedding_size: int | None = None,
               max_position: int = 512, pad_token_id: int = 0, dropout: float = 0.1,
               init_std: float = 0.02) -> ElectraPair:
    """Build an ELECTRA generator/discriminator pair from Hugging Face Electra classes.

    The generator has the discriminator's depth (generator_layers = 1.0) and
    gen_scale times its hidden and FFN width (run:338-348; generator_hidden_size
    = 0.25 in configure_pretraining.py:75).  Departure: heads are scaled too,
    keeping the discriminator's head width; the reference uses max(1, hidden // 64)
    heads, the same count when that width is 64.  intermediate defaults to
    4 * hidden, embedding_size to hidden (configure_pretraining.py:64; ELECTRA-small:
    128 with hidden 256).  init_std: the N(0, std) weight init, BERT's 0.02; tiny
    models trained for a few hundred steps leave their initial plateau far sooner
    with about 0.1.  Used in chapters 2 and 3.
    """
    common = dict(embedding_size=embedding_size or hidden, max_position=max_position,
                  pad_token_id=pad_token_id, dropout=dropout, init_std=init_std, layers=layers)
    intermediate = intermediate or 4 * hidden
    disc = ElectraForPreTraining(electra_config(vocab_size, hidden=hidden, heads=heads, intermediate=intermediate,
                                                **common))
    gen = ElectraForMaskedLM(electra_config(vocab_size, hidden=max(1, round(hidden * gen_scale)),
                                            heads=max(1, round(heads * gen_scale)),
                                            intermediate=max(1, round(intermediate * gen_scale)), **common))
    return ElectraPair(gen, disc)


def build_mlm(vocab_size: int, *, hidden: int = 128, layers: int = 4, heads: int = 4,
              intermediate: int | None = None, embedding_size: int | None = None, max_position: int = 512,
              pad_token_id: int = 0, dropout: float = 0.1, init_std: float = 0.02) -> ElectraForMaskedLM:
    """A masked-LM baseline with the discriminator's backbone (``build_pair``'s arguments), for fair comparisons.

    The reference's BERT baseline is likewise a full-size generator (run:87-93).
    """
    return ElectraForMaskedLM(electra_config(vocab_size, hidden=hidden, layers=layers, heads=heads,
                                             intermediate=intermediate, embedding_size=embedding_size,
                                             max_position=max_position, pad_token_id=pad_token_id, dropout=dropout,
                                             init_std=init_std))


class RTDOutput(NamedTuple):
    """Everything one RTD step computed (for the loss, the logs and the book's demos)."""
    loss: RTDLoss
    masked: MaskedBatch
    corrupted_ids: Tensor  # (B, T)
    disc_labels: Tensor  # (B, T) 1 = replaced
    gen_logits: Tensor  # (B, T, V) at the picked positions (masked.selected); 0 elsewhere, never computed
    disc_logits: Tensor  # (B, T)


def _special_mask(batch: Batch, special_ids: Sequence[int], mask_token_id: int) -> Tensor:
    """The batch's special_tokens_mask, else membership in special_ids + [MASK] (helpers:135)."""
    ids = batch["input_ids"]
    if "special_tokens_mask" in batch:
        return batch["special_tokens_mask"].bool()
    return torch.isin(ids, torch.tensor([*special_ids, mask_token_id], device=ids.device))


def _mask_batch(batch: Batch, special_ids: Sequence[int], mask_token_id: int, masking: MaskingRates,
                vocab_size: int, generator: torch.Generator) -> MaskedBatch:
    return mask_tokens(batch["input_ids"], _special_mask(batch, special_ids, mask_token_id),
                       mask_token_id=mask_token_id, vocab_size=vocab_size, attention_mask=batch["attention_mask"],
                       generator=generator, **asdict(masking))


def rtd_step(pair: ElectraPair, batch: Batch, *, mask_token_id: int, special_ids: Sequence[int],
             disc_weight: float = 50.0, masking: MaskingRates = ELECTRA_MASKING,
             generator: torch.Generator) -> RTDOutput:
    """One forward pass of ELECTRA pretraining (run:51-108) on a batch with input_ids, attention_mask (B, T).

    loss = L_MLM + disc_weight * L_Disc (``rmdlib.losses.rtd_loss``).  Used in chapters 1, 2 and 3.
    """
    ids = batch["input_ids"]
    masked = _mask_batch(batch, special_ids, mask_token_id, masking, pair.generator.config.vocab_size, generator)
    picked_logits = _picked_logits(pair.generator, model_inputs(batch, input_ids=masked.masked_ids),
                                   masked.selected)  # (S, V)
    sampled = ids.clone()
    sampled[masked.selected] = gumbel_sample(picked_logits, generator=generator)  # (S,)
    corrupted, disc_labels = replace_tokens(ids, masked, sampled)
    disc_logits = pair.discriminator(**model_inputs(batch, input_ids=corrupted)).logits  # (B, T)
    loss = rtd_loss(picked_logits, masked.mlm_labels[masked.selected], disc_logits, disc_labels,
                    batch["attention_mask"], disc_weight=disc_weight)
    gen_logits = picked_logits.new_zeros(*ids.shape, picked_logits.shape[-1])  # (B, T, V)
    gen_logits[masked.selected] = picked_logits
    return RTDOutput(loss, masked, corrupted, disc_labels, gen_logits, disc_logits)


def _picked_logits(generator: ElectraForMaskedLM, inputs: Mapping[str, Tensor], selected: Tensor) -> Tensor:
    """The generator's logits at the picked positions only, (S, V), in ``selected``'s row-major order.

    The encoder reads the whole masked sequence; the output layer (dense, LayerNorm,
    tied vocabulary projection: ``ElectraForMaskedLM.forward``) runs on the S picked
    hidden states only, as the reference gathers ``masked_lm_positions`` before it
    (run:_get_masked_lm_output).  At 15 % picked that skips 85 % of the (B, T, V)
    projection, the costliest matrix multiply of a small pair with a large vocabulary.
    """
    hidden = generator.electra(**inputs).last_hidden_state  # (B, T, H)
    return generator.generator_lm_head(generator.generator_predictions(hidden[selected]))  # (S, V)


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    return num.float() / den.float().clamp_min(1.0)  # 0, not NaN, when nothing counts


def _rtd_logs(out: RTDOutput, attention_mask: Tensor) -> dict[str, float]:
    """Metrics of the reference's metric_fn (run:131-161) on the non-pad tokens, with one host sync."""
    nonpad, sel = attention_mask.bool(), out.masked.selected
    replaced, pred = out.disc_labels.bool() & nonpad, (out.disc_logits > 0) & nonpad  # run:211: logit > 0
    hits = (pred & replaced).sum()
    logs = {"loss": out.loss.total.detach(), "mlm_loss": out.loss.mlm.detach(), "disc_loss": out.loss.disc.detach(),
            "gen_acc": _ratio((out.gen_logits[sel].argmax(-1) == out.masked.mlm_labels[sel]).sum(), sel.sum()),
            "disc_acc": _ratio(((pred == replaced) & nonpad).sum(), nonpad.sum()),
            "disc_precision": _ratio(hits, pred.sum()), "disc_recall": _ratio(hits, replaced.sum()),
            "replaced_frac": _ratio(replaced.sum(), nonpad.sum()), "tokens": nonpad.sum().float()}
    return dict(zip(logs, torch.stack([v.float() for v in logs.values()]).tolist()))


def make_rtd_loss_fn(*, mask_token_id: int, special_ids: Sequence[int], disc_weight: float = 50.0,
                     masking: MaskingRates = ELECTRA_MASKING, generator: torch.Generator) -> LossFn:
    """``loss_fn(pair, batch) -> (loss, logs)`` for ``rmdlib.train.fit``: the RTD objective.

    logs: loss, mlm_loss, disc_loss, gen_acc (picked tokens), disc_acc, disc_precision, disc_recall,
    replaced_frac (non-pad tokens) and tokens (the non-pad count, for tokens/s).
    """
    def loss_fn(pair: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        out = rtd_step(pair, batch, mask_token_id=mask_token_id, special_ids=special_ids,
                       disc_weight=disc_weight, masking=masking, generator=generator)
        return out.loss.total, _rtd_logs(out, batch["attention_mask"])

    loss_fn.generator = generator  # type: ignore[attr-defined]  # rmdlib.train checkpoints its state
    return loss_fn


def make_mlm_loss_fn(*, mask_token_id: int, special_ids: Sequence[int], masking: MaskingRates = BERT_MASKING,
                     generator: torch.Generator) -> LossFn:
    """``loss_fn(model, batch) -> (loss, logs)`` for the MLM baseline, BERT's 80/10/10 by default.

    logs: loss, gen_acc (picked tokens), tokens (non-pad count).  ``model`` is an
    ``ElectraForMaskedLM``; its output layer runs only at the picked positions, the
    only logits the loss reads (the same loss and gradients as ``mlm_loss`` over the
    full (B, T, V) logits, for about 15 % of the output layer's work).
    """
    def loss_fn(model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        masked = _mask_batch(batch, special_ids, mask_token_id, masking, model.config.vocab_size, generator)
        logits = _picked_logits(model, model_inputs(batch, input_ids=masked.masked_ids), masked.selected)  # (S, V)
        labels = masked.mlm_labels[masked.selected]  # (S,)
        loss = mlm_loss(logits, labels)
        acc = _ratio((logits.argmax(-1) == labels).sum(), masked.selected.sum())
        return loss, {"loss": loss.item(), "gen_acc": acc.item(), "tokens": float(batch["attention_mask"].sum())}

    loss_fn.generator = generator  # type: ignore[attr-defined]  # rmdlib.train checkpoints its state
    return loss_fn
