"""A course-owned architecture, registered with the Auto classes: an ELECTRA encoder + a BiLSTM tagging head.

Chapter 8 uses it to show what "a custom model" means to ``transformers``:

* a config class with its own ``model_type`` (:class:`BiLstmTaggerConfig`, a subclass
  of ``ElectraConfig`` that adds ``lstm_hidden``);
* a model class (:class:`BiLstmTagger`) whose head reads the encoder's states
  with a bidirectional LSTM before the linear layer::

      h = Encoder(x)                       (B, T, D)
      g = BiLSTM(h) = [LSTM->(h); LSTM<-(h)]  (B, T, 2H), padding packed away
      logits = W · dropout(g) + b          (B, T, C)

* :func:`register`, called when ``rmdlib`` is imported, which tells ``AutoConfig``,
  ``AutoModel`` and ``AutoModelForTokenClassification`` about them.  After that,
  ``AutoModelForTokenClassification.from_pretrained(folder)`` rebuilds the model
  from ``config.json`` + ``model.safetensors`` in any process that imported
  ``rmdlib``, with no ``trust_remote_code``: the code comes from an installed,
  reviewed package, not from the checkpoint folder.

Why a BiLSTM: the linear head of chapter 4 labels each token from its own
vector; the LSTM lets the head read its neighbours' labels-to-be as well (the
classic BiLSTM tagger of Huang et al. 2015, here on top of a transformer).
Shapes: B batch, T tokens, D hidden, H LSTM width, C classes.  Used in chapter 8.
"""

from __future__ import annotations

from torch import Tensor, nn
from transformers import (AutoConfig, AutoModel, AutoModelForTokenClassification, ElectraConfig, ElectraModel,
                          ElectraPreTrainedModel)
from transformers.modeling_outputs import TokenClassifierOutput
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

__all__ = ["MODEL_TYPE", "BiLstmTagger", "BiLstmTaggerConfig", "BiLstmTaggerEncoder", "n_head_parameters", "register"]

MODEL_TYPE = "rmd-bilstm-tagger"  # must not be a model_type that transformers itself defines


class BiLstmTaggerConfig(ElectraConfig):
    """ELECTRA's configuration plus the width of the BiLSTM head.  Used in chapter 8."""

    model_type = MODEL_TYPE
    # transformers 5 configs are dataclasses: a new field is a typed class attribute, not an __init__ argument
    lstm_hidden: int = 64  # H: units per direction, so the head sees 2H features per token


class BiLstmTaggerEncoder(ElectraModel):
    """The bare encoder of a :class:`BiLstmTagger` folder (what ``AutoModel`` returns for it)."""

    config_class = BiLstmTaggerConfig


class BiLstmTagger(ElectraPreTrainedModel):
    """ELECTRA encoder -> BiLSTM -> dropout -> Linear(2H, C).  ids (B, T) -> ``.logits`` (B, T, C).

    Padding is packed away before the LSTM (``pack_padded_sequence``), so a
    sentence's logits do not depend on how much padding its batch carries.
    Right padding is assumed (the tokenizers of this book pad on the right).
    """

    config_class = BiLstmTaggerConfig
    base_model_prefix = "electra"  # so that .base_model and ELECTRA checkpoints line up

    def __init__(self, config: BiLstmTaggerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = ElectraModel(config)
        self.lstm = nn.LSTM(config.hidden_size, config.lstm_hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.classifier_dropout if config.classifier_dropout is not None
                                  else config.hidden_dropout_prob)
        self.classifier = nn.Linear(2 * config.lstm_hidden, config.num_labels)
        self.post_init()

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, labels: Tensor | None = None,
                **kwargs) -> TokenClassifierOutput:
        h = self.electra(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         **kwargs).last_hidden_state  # (B, T, D)
        g = self._bilstm(h, attention_mask)  # (B, T, 2H)
        logits = self.classifier(self.dropout(g))  # (B, T, C)
        loss = None
        if labels is not None:  # the book trains with rmdlib.losses instead; kept for Trainer/pipeline users
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits)

    def _bilstm(self, h: Tensor, attention_mask: Tensor | None) -> Tensor:
        if attention_mask is None:
            return self.lstm(h)[0]
        lengths = attention_mask.sum(1).clamp(min=1).cpu()  # (B,) real tokens per row
        packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
        return out  # (B, T, 2H); zeros at padding

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.LSTM):  # PyTorch's own uniform init; ELECTRA's rule knows no LSTM
            module.reset_parameters()
        else:
            super()._init_weights(module)


def register(model_type: str = MODEL_TYPE, config_class: type = BiLstmTaggerConfig) -> None:
    """Tell the Auto classes about the course architecture (idempotent; ``import rmdlib`` calls it).

    Raises ``ValueError`` when ``model_type`` is one that transformers itself
    defines (``"electra"``, ``"bert"``, ...): a registry that let a package
    overwrite those would make ``from_pretrained`` of every such checkpoint
    build the wrong class.  Used in chapter 8.
    """
    if model_type in CONFIG_MAPPING_NAMES:
        raise ValueError(f"model_type {model_type!r} belongs to transformers ({CONFIG_MAPPING_NAMES[model_type]}); "
                         "a custom architecture needs a name of its own")
    if config_class.model_type != model_type:
        raise ValueError(f"{config_class.__name__}.model_type is {config_class.model_type!r}, not {model_type!r}")
    AutoConfig.register(model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, BiLstmTaggerEncoder, exist_ok=True)
    AutoModelForTokenClassification.register(config_class, BiLstmTagger, exist_ok=True)


def n_head_parameters(d: int, h: int, c: int) -> int:
    """Parameters of the BiLSTM head: 2 directions x 4 gates x (H(D + H) + 2H) + Linear(2H, C).

    PyTorch's LSTM keeps two bias vectors per gate (b_ih, b_hh), hence 2H per gate.
    """
    return 2 * 4 * (h * (d + h) + 2 * h) + (2 * h * c + c)

