"""Encoders and token taggers: build, train with the book's loss, save, load, predict.

A tagger is an encoder plus the *task adapter head*: dropout, then one linear
layer D -> C applied to every token's final hidden state,

    logits = W · dropout(h_t) + b,    h_t in R^D,  logits (B, T, C).

Design choice: the tagger is the encoder architecture's own
``AutoModelForTokenClassification`` class (``ElectraForTokenClassification``
for ELECTRA, ``BertForTokenClassification`` for BERT), built from the encoder's
config with the label maps (``id2label`` / ``label2id``) and with the encoder's
weights copied in.  That stock class *is* encoder + head (``model.dropout``,
``model.classifier``), so ``save_pretrained``, ``from_pretrained``, the Auto
classes, pipelines and the Hub all work with no custom code and no
``trust_remote_code``.  A home-made ``nn.Module`` would need its own config
class and Auto registration first (chapter 8 shows how).

Training never uses the Hugging Face model's internal loss: ``tagging_loss_fn``
calls the model without labels and applies ``rmdlib.losses.token_cross_entropy``,
the loss chapter 2 derives.  Checkpoints are safetensors only (the one format
``save_pretrained`` writes in transformers 5; ``load_tagger`` refuses pickles).

Shapes: B batch, T tokens, D hidden, C classes.  Used in chapters 3, 4, 6, 7, 8 and 9.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import AutoModel, AutoModelForTokenClassification, ElectraConfig, ElectraModel, PreTrainedModel

from rmdlib import hub
from rmdlib.batch import model_inputs
from rmdlib.losses import token_cross_entropy

__all__ = ["build_encoder", "build_tagger", "effective_rank", "electra_config", "load_tagger", "mean_pairwise_cosine",
           "predict_logits", "tagging_loss_fn"]


def build_encoder(name_or_path: str | Path | None = None, *, vocab_size: int | None = None, hidden: int = 128,
                  layers: int = 4, heads: int = 4, intermediate: int | None = None,
                  embedding_size: int | None = None, max_position: int = 512, pad_token_id: int = 0,
                  dropout: float = 0.1, revision: str | None = None,
                  trust_remote_code: bool = False) -> PreTrainedModel:
    """An encoder that maps input_ids (B, T) to hidden states (B, T, D).

    With ``name_or_path`` (a Hub id or a local ``save_pretrained`` directory):
    ``AutoModel.from_pretrained`` at ``rmdlib.hub.revision(name_or_path, revision)``
    (a Hub id must be pinned in ``rmdlib.hub.MODELS`` or given a revision); the size arguments are then unused and
    remote code runs only if you pass ``trust_remote_code=True``.  Without it:
    a fresh ``ElectraModel`` of the given size (intermediate defaults to
    4 * hidden, embedding_size to hidden), initialised from the global torch RNG.
    Used in chapters 4, 6, 7, 8 and 9.
    """
    if name_or_path is not None:  # a Hub id loads at its pinned revision (rmdlib.hub.MODELS) unless one is given
        return AutoModel.from_pretrained(name_or_path, revision=hub.revision(name_or_path, revision),
                                         trust_remote_code=trust_remote_code)
    if vocab_size is None:
        raise ValueError("build_encoder: give a name_or_path or a vocab_size for a fresh encoder")
    return ElectraModel(electra_config(vocab_size, hidden=hidden, layers=layers, heads=heads,
                                       intermediate=intermediate, embedding_size=embedding_size,
                                       max_position=max_position, pad_token_id=pad_token_id, dropout=dropout))


def electra_config(vocab_size: int, *, hidden: int = 128, layers: int = 4, heads: int = 4,
                   intermediate: int | None = None, embedding_size: int | None = None, max_position: int = 512,
                   pad_token_id: int = 0, dropout: float = 0.1, init_std: float = 0.02) -> ElectraConfig:
    """The ``ElectraConfig`` of every fresh encoder in the library (taggers, RTD pairs, MLM baselines).

    intermediate defaults to 4 * hidden, embedding_size to hidden; ``dropout`` is
    both the hidden and the attention dropout; ``init_std`` the N(0, std) init
    (BERT's 0.02).  The defaults are ``ElectraConfig``'s own where it has them.
    """
    if hidden % heads:
        raise ValueError(f"hidden size {hidden} is not divisible by {heads} attention heads")
    return ElectraConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=intermediate or 4 * hidden, embedding_size=embedding_size or hidden,
        max_position_embeddings=max_position, pad_token_id=pad_token_id, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout, initializer_range=init_std)


def build_tagger(encoder_or_path: PreTrainedModel | str | Path, labels: Sequence[str], *, dropout: float = 0.1,
                 revision: str | None = None, trust_remote_code: bool = False) -> PreTrainedModel:
    """Encoder + a fresh task adapter head (dropout, Linear D -> C) for the tags in ``labels``.

    ``encoder_or_path`` is a model (any ``PreTrainedModel`` whose base model is
    the encoder, e.g. an ``ElectraForPreTraining`` discriminator) or a name /
    directory for ``build_encoder``.  The encoder's weights are copied exactly;
    the head is newly initialised; ``labels[i]`` is class i.
    Returns (B, T) ids -> ``.logits`` (B, T, C).  Used in chapters 4, 6, 7 and 8.
    """
    labels = _check_labels(labels)
    encoder = encoder_or_path
    if not isinstance(encoder, PreTrainedModel):
        encoder = build_encoder(encoder, revision=revision, trust_remote_code=trust_remote_code)
    config = copy.deepcopy(encoder.config)
    config.id2label = dict(enumerate(labels))  # num_labels is derived from id2label in transformers 5
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.classifier_dropout = dropout  # read by the *ForTokenClassification heads of BERT, ELECTRA, RoBERTa
    tagger = AutoModelForTokenClassification.from_config(config)
    state = encoder.base_model.state_dict()
    # BERT-like encoders carry a pooler (the [CLS] head of sentence tasks) that their token
    # classifiers are built without; it is the one part not copied
    kept = tagger.base_model.state_dict().keys()
    state = {k: v for k, v in state.items() if k in kept or not k.startswith("pooler.")}
    tagger.base_model.load_state_dict(state)  # strict: every other encoder tensor copied
    if isinstance(getattr(tagger, "dropout", None), nn.Dropout):
        tagger.dropout.p = dropout  # for architectures whose head reads another config field
    return tagger.to(encoder.device)


def load_tagger(path: str | Path, *, revision: str | None = None,
                trust_remote_code: bool = False) -> PreTrainedModel:
    """Load a tagger saved with ``model.save_pretrained(path)``: safetensors only, label maps from config.json.

    Returns the model in eval mode (as ``from_pretrained`` does).
    """
    return AutoModelForTokenClassification.from_pretrained(path, revision=hub.revision(path, revision),
                                                           use_safetensors=True,
                                                           trust_remote_code=trust_remote_code)


def tagging_loss_fn(*, label_smoothing: float = 0.0) -> Callable[[nn.Module, dict[str, Tensor]], Tensor]:
    """``loss_fn(model, batch)`` for ``rmdlib.train.fit``: token cross-entropy over labelled sub-tokens.

    batch holds input_ids, attention_mask (B, T), optionally token_type_ids,
    and labels (B, T) with ``IGNORE_INDEX`` where no tag is predicted (padding,
    special tokens, non-first sub-tokens).  The model is called without labels,
    so the loss is ``rmdlib.losses.token_cross_entropy`` (with label smoothing
    eps if given), never the model's own.  Used in chapters 4, 6 and 8.
    """
    def loss_fn(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        logits = model(**model_inputs(batch)).logits  # (B, T, C)
        return token_cross_entropy(logits, batch["labels"], label_smoothing=label_smoothing)

    return loss_fn


def predict_logits(model: nn.Module, loader: Iterable[dict[str, Tensor]], *,
                   device: torch.device | str) -> list[Tensor]:
    """Logits (B, T, C) of every batch, in order, as fp32 CPU tensors.

    Moves the model and each batch to ``device``, runs in eval mode under
    ``torch.no_grad`` and restores the previous mode.  Turning logits into one
    tag per word is ``rmdlib.tokens.merge_windows``'s job.
    """
    device, was_training = torch.device(device), model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            return [model(**model_inputs(batch, device)).logits.float().cpu() for batch in loader]
    finally:
        model.train(was_training)


def _check_labels(labels: Sequence[str]) -> list[str]:
    labels = list(labels)
    if not labels or len(set(labels)) != len(labels) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"labels must be distinct strings, one per class; got {labels!r}")
    return labels


@torch.no_grad()
def _token_states(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None) -> Tensor:
    """Last hidden states of the non-pad tokens, (N, D) in float32."""
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    hidden = model.base_model(input_ids=input_ids, attention_mask=mask).last_hidden_state  # (B, T, D)
    return hidden[mask.bool()].float()  # (N, D)


def mean_pairwise_cosine(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None = None) -> float:
    """Mean cosine similarity of the last hidden states over all pairs of distinct non-pad tokens.

    About 0.3 for a randomly initialised encoder; 1.0 when every token has the
    same representation (a collapsed encoder: its head cannot tell tokens apart).
    But a high value does not prove collapse: an *anisotropic* encoder, whose
    states share a large common offset (Ethayarajh 2019), scores near 1 too while
    the token-specific part keeps all its directions; :func:`effective_rank`
    tells the two apart.
    ``model`` is an encoder or any model whose ``base_model`` is one; input_ids (B, T).
    Computed from the sum of unit vectors, so memory stays O(D), not O(N^2).  Used in chapter 3.
    """
    unit = nn.functional.normalize(_token_states(model, input_ids, attention_mask), dim=-1)  # (N, D)
    n = unit.shape[0]
    if n < 2:
        raise ValueError("mean_pairwise_cosine needs at least two non-pad tokens")
    total = unit.sum(0)  # sum_i u_i; |total|^2 = sum_ij u_i.u_j = n + sum_{i != j} u_i.u_j
    return ((total @ total - n) / (n * (n - 1))).item()


def effective_rank(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None = None, *,
                   centre: bool = True) -> float:
    """Effective rank of the last hidden states, exp(H(p)) with p_k = s_k / sum_j s_j.

    s_k are the singular values of the (N, D) matrix of non-pad token states,
    after subtracting their mean when ``centre`` (Roy and Vetterli 2007).  It runs
    from 1 (every state on one line: collapsed) to D (the variation spread
    evenly over all D directions).  Centring removes a common offset, so an
    anisotropic encoder (mean cosine near 1, see :func:`mean_pairwise_cosine`)
    whose states still differ in many directions keeps a high effective rank,
    while a collapsed one does not.  0.0 when all states are equal (no variation).
    Used in chapter 3.
    """
    states = _token_states(model, input_ids, attention_mask).double()  # (N, D)
    if centre:
        states = states - states.mean(0)
    s = torch.linalg.svdvals(states)  # (min(N, D),)
    if s.max() <= 1e-9 * max(1.0, states.abs().max().item()):
        return 0.0
    p = s[s > 0] / s.sum()
    return torch.exp(-(p * p.log()).sum()).item()
