"""The adaptation ladder: one function turns a tagger into full, head-only, top-k, adapter, LoRA, IA3 or prefix tuning.

Every rung returns an ``nn.Module`` that takes a tagging batch and returns
``.logits`` (B, T, C), so it trains with the book's one loop
(``rmdlib.tagging.finetune_tagger(None, ..., model=adapt(tagger, cfg))``) and is
scored with the same ``predict_tags``.  What differs is which parameters train:

=============  ==========================================================  ==================================
method         what trains (plus the task head, always)                     trainable, ELECTRA of L layers
=============  ==========================================================  ==================================
``full``       everything                                                   all
``head``       nothing else (a frozen feature extractor)                    dC + C
``top_k``      the last k transformer layers                                k(4d² + 2dI + 9d + I)
``bottleneck`` two Houlsby adapters per layer, x + W_u f(W_d x)             2L(2md + d + m)
``lora``       ΔW = (α/r) B A beside each target matrix (Hu et al. 2021)    Σ_targets r(d_in + d_out)
``ia3``        vectors that rescale keys, values and FFN activations        L(2d + I)
``prefix``     n key and value vectors per layer (Li & Liang 2021)          2nLd
``prompt``     n input embeddings before the sentence (Lester et al. 2021)  ne
=============  ==========================================================  ==================================

(d hidden, e word-embedding width (d unless the model projects its embeddings, as ELECTRA-Small's
128 to 256), I feed-forward width, m adapter width, r LoRA rank, n virtual tokens, C classes.)
:func:`closed_form_trainable` computes the last column; ``tests/test_adapt.py``
checks it against the counted parameters.

Known ``peft`` quirks handled here, not hidden:

* ``target_modules="all-linear"`` also wraps the token-classification head, which
  peft then cannot put in ``modules_to_save``: the head is passed as ``exclude_modules``;
* ELECTRA has no entry in peft's IA3 table: the targets are named (keys, values and
  the FFN's output layer, whose *input* is rescaled, as in Liu et al. 2022's (IA)³);
* prefix tuning reaches ELECTRA as ``past_key_values``: logits keep length T, but
  the real tokens' position ids start at n, so windows must be at most
  ``max_position - n`` sub-tokens;
* prompt tuning prepends n embeddings to the *sequence*: logits come back (B, n + T, C).
  :class:`DropVirtualTokens` slices them to (B, T, C), which equals padding the labels
  with n ``-100`` on the left;
* the prompt must be as wide as the word embeddings it joins: peft assumes
  ``hidden_size``, which fails on ELECTRA-Small, so ``token_dim`` is set from the model.

Used in chapter 8 and ``benchmarks/peft_ner.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import PreTrainedModel

__all__ = ["METHODS", "AdaptConfig", "Bottleneck", "DropVirtualTokens", "adapt", "closed_form_trainable",
           "count_parameters", "head_names", "load_trainable", "save_trainable"]

METHODS = ("full", "head", "top_k", "bottleneck", "lora", "ia3", "prefix", "prompt")
# (IA)³ on BERT-like layers: keys and values (rescale the output) and the FFN output layer (rescale its input)
IA3_TARGETS = r".*\.(key|value)$|.*\.layer\.\d+\.output\.dense$"
IA3_FEEDFORWARD = r".*\.layer\.\d+\.output\.dense$"


@dataclass(frozen=True)
class AdaptConfig:
    """Which rung of the ladder, and its sizes.  Vary with ``dataclasses.replace``.  Used in chapter 8."""

    method: str = "lora"  # one of METHODS
    top_k: int = 1  # "top_k": transformer layers trained, counted from the top
    bottleneck: int = 16  # "bottleneck": adapter width m (Houlsby et al. 2019 used 8 to 256)
    r: int = 8  # "lora": rank of the update B A
    alpha: float = 16.0  # "lora": the update is scaled by alpha / r
    lora_targets: tuple[str, ...] | str = ("query", "value")  # peft's ELECTRA/BERT default; or "all-linear"
    lora_dropout: float = 0.0  # "lora": dropout on the LoRA branch's input
    virtual_tokens: int = 10  # "prefix" / "prompt": n

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"AdaptConfig: method {self.method!r} is not one of {METHODS}")


def head_names(model: PreTrainedModel) -> list[str]:
    """Child modules of a tagger outside its encoder that hold parameters: the task head (``classifier``, ...)."""
    return [n for n, m in model.named_children()
            if n != model.base_model_prefix and any(True for _ in m.parameters())]


def _set_trainable(model: nn.Module, names: list[str] | None) -> None:
    """Train the parameters whose name starts with one of ``names`` (all if None), freeze the rest."""
    for n, p in model.named_parameters():
        p.requires_grad = names is None or any(n == k or n.startswith(k + ".") for k in names)


class Bottleneck(nn.Module):
    """Houlsby adapter: x + W_u f(W_d x + b_d) + b_u, with W_d: d -> m, W_u: m -> d; 2md + d + m parameters.

    W_u starts at zero, so a new adapter is the identity and training starts from
    the pretrained network (Houlsby et al. 2019, §2.1: near-identity initialisation).
    x (B, T, d) -> (B, T, d).
    """

    def __init__(self, d: int, m: int):
        super().__init__()
        self.down, self.up, self.act = nn.Linear(d, m), nn.Linear(m, d), nn.GELU()
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.up(self.act(self.down(x)))  # (B, T, d)


def _add_bottlenecks(model: PreTrainedModel, m: int) -> list[str]:
    """Put a Bottleneck after the attention output and after the FFN output of every layer, before the residual."""
    names = []
    for i, layer in enumerate(model.base_model.encoder.layer):
        for part in ("attention.output", "output"):
            sub = layer.get_submodule(part)  # ElectraSelfOutput / ElectraOutput: LN(x + dropout(dense(h)))
            sub.dropout = nn.Sequential(sub.dropout, Bottleneck(sub.dense.out_features, m))  # -> LN(x + A(...))
            names.append(f"{model.base_model_prefix}.encoder.layer.{i}.{part}.dropout.1")
    return names


class DropVirtualTokens(nn.Module):
    """Wrap a prompt-tuned peft tagger: logits (B, n + T, C) -> (B, T, C) by dropping the n virtual positions.

    Cross-entropy on the sliced logits equals cross-entropy on the full logits
    with the labels padded by n ``-100`` on the left (``tests/test_adapt.py``).
    """

    def __init__(self, model: nn.Module, n: int):
        super().__init__()
        self.model, self.n = model, n

    @property
    def config(self):  # predict_tags reads id2label and max_position_embeddings from here
        return self.model.config

    def forward(self, **inputs: Tensor):
        out = self.model(**inputs)
        out.logits = out.logits[:, self.n:]  # (B, T, C)
        return out


def adapt(model: PreTrainedModel, cfg: AdaptConfig = AdaptConfig()) -> nn.Module:
    """``model`` (a tagger: encoder + head) prepared for ``cfg.method``; only what that method trains requires grad.

    ``full``, ``head``, ``top_k`` and ``bottleneck`` change ``model`` in place and
    return it; the peft methods wrap it (``peft.get_peft_model``, which also edits
    ``model``'s layers), the task head being trained in every case.
    Used in chapter 8 and ``benchmarks/peft_ner.py``.
    """
    head = head_names(model)
    if cfg.method == "full":
        _set_trainable(model, None)
    elif cfg.method == "head":
        _set_trainable(model, head)
    elif cfg.method == "top_k":
        layers = model.base_model.encoder.layer
        if not 1 <= cfg.top_k <= len(layers):
            raise ValueError(f"top_k must be between 1 and {len(layers)}, got {cfg.top_k}")
        top = [f"{model.base_model_prefix}.encoder.layer.{i}" for i in range(len(layers) - cfg.top_k, len(layers))]
        _set_trainable(model, head + top)
    elif cfg.method == "bottleneck":
        _set_trainable(model, head + _add_bottlenecks(model, cfg.bottleneck))
    else:
        return _peft(model, cfg, head)
    return model


def _peft(model: PreTrainedModel, cfg: AdaptConfig, head: list[str]) -> nn.Module:
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model

    common = dict(task_type=TaskType.TOKEN_CLS, modules_to_save=[h for h in head if h != "classifier"] or None)
    if cfg.method == "lora":
        targets = cfg.lora_targets if isinstance(cfg.lora_targets, str) else list(cfg.lora_targets)
        exclude = head if targets == "all-linear" else None  # else peft wraps the head too, then cannot save it
        peft_cfg = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
                              exclude_modules=exclude, **common)
    elif cfg.method == "ia3":
        peft_cfg = IA3Config(target_modules=IA3_TARGETS, feedforward_modules=IA3_FEEDFORWARD, **common)
    elif cfg.method == "prefix":
        peft_cfg = PrefixTuningConfig(num_virtual_tokens=cfg.virtual_tokens, **common)
    else:
        # token_dim: the width of the word embeddings the prompt is concatenated with. peft defaults to
        # hidden_size, which is wrong for ELECTRA-Small (embeddings 128, projected to a hidden 256)
        peft_cfg = PromptTuningConfig(num_virtual_tokens=cfg.virtual_tokens,
                                      token_dim=model.get_input_embeddings().embedding_dim, **common)
    wrapped = get_peft_model(model, peft_cfg)
    return DropVirtualTokens(wrapped, cfg.virtual_tokens) if cfg.method == "prompt" else wrapped


def closed_form_trainable(config, num_labels: int, cfg: AdaptConfig, *, head_params: int | None = None) -> int:
    """Trainable parameters of ``adapt(tagger, cfg)`` for an ELECTRA/BERT ``config``, from the formulas above.

    ``head_params`` defaults to the linear head's dC + C.  ``full`` is not given
    here (it is every parameter); LoRA's targets must be names among query, key,
    value and dense.  Used in chapter 8.
    """
    d, i, n_layers, c = config.hidden_size, config.intermediate_size, config.num_hidden_layers, num_labels
    head = d * c + c if head_params is None else head_params
    sizes = {"query": [(d, d)], "key": [(d, d)], "value": [(d, d)], "dense": [(d, d), (d, i), (i, d)]}
    per_method = {
        "head": 0,
        "top_k": cfg.top_k * (4 * d * d + 2 * d * i + 9 * d + i),
        "bottleneck": 2 * n_layers * (2 * cfg.bottleneck * d + d + cfg.bottleneck),
        "ia3": n_layers * (2 * d + i),
        "prefix": 2 * cfg.virtual_tokens * n_layers * d,
        "prompt": cfg.virtual_tokens * getattr(config, "embedding_size", d),  # word-embedding width
    }
    if cfg.method == "lora":
        if isinstance(cfg.lora_targets, str):
            raise ValueError("closed_form_trainable: name the LoRA targets (a tuple), not a string")
        pairs = [p for t in cfg.lora_targets for p in sizes[t]]
        return n_layers * sum(cfg.r * (a + b) for a, b in pairs) + head
    if cfg.method not in per_method:
        raise ValueError(f"closed_form_trainable: no closed form for {cfg.method!r}")
    return per_method[cfg.method] + head


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters of ``model``, shared tensors counted once."""
    seen: dict[int, nn.Parameter] = {id(p): p for p in model.parameters()}
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return trainable, sum(p.numel() for p in seen.values())


def save_trainable(model: nn.Module, path: str | Path) -> int:
    """Write only the trainable tensors to one safetensors file (what a task adds to the base); return its bytes.

    This is the adapter checkpoint of every method: the task head plus LoRA's A
    and B, the adapters, the prefix, ...; ``full`` writes the whole model.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad},
              str(path))
    return path.stat().st_size


def load_trainable(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a :func:`save_trainable` file into ``model`` (same architecture, same method); every tensor must fit."""
    tensors = load_file(str(path))
    params = dict(model.named_parameters())
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} tensors have no parameter in this model, e.g. {unknown[:3]}")
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value)
    return model
