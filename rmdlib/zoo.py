"""The course's own small models: a tokenizer and a pretrained ELECTRA pair in every profile.

Chapters 4 to 9 need a pretrained encoder.  In the colab and full profiles it
comes from the Hub (``P.encoder``); in the offline profile the book pretrains
its own tiny ELECTRA on the micro-world, once, with the library's ``fit`` loop,
and caches it:

* :func:`tokenizer` -- WordPiece trained on ``synth.corpus`` (offline) or ``P.encoder``'s;
* :func:`electra_pair` -- the pretrained generator + discriminator (:class:`rmdlib.rtd.ElectraPair`);
* :func:`encoder` -- what to pass to ``rmdlib.models.build_tagger``: a directory or a Hub id.

One frozen :class:`PretrainConfig`, ``PRETRAIN``, fixes the offline run, so
chapter 3's run *is* the cached one.  The cache lives under ``$RMD_CACHE`` (default
``~/.cache/rmdlib``) in a folder named by a hash of everything that decides the
weights: config, tokenizer vocabulary, texts, and the code that trains them
(:func:`code_digest`: this module and every ``rmdlib`` module it imports, directly
or not, with docstrings and comments left out, so an edit to ``rtd``, ``train``
or ``synth`` never reuses stale weights and an edit to prose never retrains).
It is written to a temporary folder and renamed, so a crash never leaves half a model.
Used in chapters 1, 3, 4, 5, 6, 7, 8 and 9.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining, PreTrainedTokenizerFast

from rmdlib import hub, synth
from rmdlib.profile import Profile
from rmdlib.rtd import ElectraPair, build_mlm, build_pair, make_mlm_loss_fn, make_rtd_loss_fn
from rmdlib.tokens import train_wordpiece
from rmdlib.train import History, TrainConfig, fit

__all__ = ["HUB_GENERATORS", "PRETRAIN", "PretrainConfig", "Pretrained", "cache_root", "cached_pretrain", "code_digest",
           "electra_pair", "encoder", "flops_per_token", "load_pretrained", "new_mlm", "new_pair", "pack", "pretrain",
           "pretrain_loader", "pretraining_texts", "run_key", "tokenizer", "train_config"]

# The generator that was pretrained with each Hub discriminator (Clark et al. 2020, released checkpoints).
HUB_GENERATORS = {"google/electra-small-discriminator": "google/electra-small-generator",
                  "google/electra-base-discriminator": "google/electra-base-generator",
                  "google/electra-large-discriminator": "google/electra-large-generator"}


@dataclass(frozen=True)
class PretrainConfig:
    """The book's own ELECTRA pretraining run (offline profile).  Used in chapter 3; cached for 4 to 9."""

    corpus_docs: int = 2000  # micro-world documents (synth.corpus): ~220k sub-tokens, more than the run consumes
    vocab_size: int = 4000  # WordPiece cap; the micro-world saturates near 3.6k, so it is really "all of it"
    hidden: int = 128  # discriminator width: ELECTRA-Small's embedding width, half its hidden size
    layers: int = 2  # depth of both networks; 2, not 4, buys twice the steps in the same minute
    heads: int = 4  # head width 32
    gen_scale: float = 0.25  # generator width / discriminator width: 1/4 to 1/2 works best (Clark et al. §3.2)
    max_length: int = 128  # sub-tokens per packed row (ELECTRA-Small's); also sizes the position table
    batch_size: int = 8  # rows per step (1,024 tokens): small batches give more optimizer steps per minute
    steps: int = 450  # optimizer steps: about a minute on 2 CPU cores
    # Three learning rates.  ELECTRA trains everything at one peak lr; at 450 steps of 8 rows no single lr
    # serves both networks.  Measured on chapter 1's 500 held-out sentences (one seed): discriminator AUC;
    # generator loss minus a unigram model of the pretraining text (add-one smoothed); its top-1 minus always
    # guessing the most frequent token; and the chapter-3 NER probe's validation F1 (3 seeds).
    # * One lr for all: AUC 0.81 (5e-5), 0.78 (1e-4), 0.59 (2e-4), 0.55 (3e-4, 1e-3).  At 1e-4 the generator
    #   ends *worse* than word frequencies (+0.63, top-1 +0.000): Adam moves a weight by at most about lr per
    #   step, so its output bias cannot even learn the unigram distribution in 450 steps; its samples are near
    #   random words, which the discriminator learns to spot by the word alone (F1 0.444).  At 2e-4 and above
    #   the discriminator first learns (training accuracy 0.87 at step 150), then falls back towards the base
    #   rate as the generator improves, and its encoder collapses (chapter 3).
    # * So the shared embeddings stay at ``lr``, and each network's own weights train faster: the
    #   discriminator's at ``disc_lr_scale * lr`` = 5e-4, ELECTRA-Small's peak lr (configure_pretraining.py;
    #   Clark et al., table 6); the generator's at ``gen_lr_scale * lr`` = 2e-3, four times that, as it is
    #   four times narrower (under muP, Adam's lr for hidden weights scales as 1 / width; Yang et al. 2021).
    #   Then: AUC 0.68, generator +0.02, top-1 +0.029, F1 0.474.  The discriminator now faces plausible
    #   replacements: it detects fewer of them, and it is the better encoder in that probe (paired F1 +0.029
    #   [+0.021, +0.038] over one lr of 1e-4).  Chapter 4's single 400-step fine-tuning run cannot show
    #   it: with this encoder its test F1 was 0.638, 0.673 and 0.681 at seeds 0, 1 and 2 (2026-12-07,
    #   rmdlib 0.2.1), and 0.678 with the old one at seed 0, a seed-to-seed spread larger than the
    #   difference.
    # * Neighbours (generator scale / discriminator scale: AUC, generator, top-1, F1): 10/3: 0.75, +0.29,
    #   +0.016, 0.464; 10/5: 0.77, +0.35, +0.015, 0.465; 20/3: 0.65, -0.02, +0.030, 0.466; 30/5: 0.61, -0.13,
    #   +0.033, 0.463; 10/10: 0.80, +0.51, +0.016; 20/10: 0.73, +0.17, +0.029; 20/30: 0.48 (collapsed).  An
    #   output bias set to log unigram frequencies makes the generator as good as word frequencies from step
    #   0, and the discriminator never leaves the base rate (AUC 0.53 even at 10x): it needs the easy
    #   replacements of a weak generator first.  A larger lr for the embeddings collapses the pair as above.
    # * The MLM baseline of chapter 3 (a discriminator-sized masked LM) gets the same treatment: embeddings
    #   and the output layer tied to them at ``lr``, its own weights at ``mlm_lr_scale * lr``, the best of
    #   1, 2, 5, 10 by the same probe (F1 0.425, 0.433, 0.388, 0.422: noisy, one pretraining seed).
    lr: float = 1e-4
    disc_lr_scale: float = 5.0
    gen_lr_scale: float = 20.0
    mlm_lr_scale: float = 2.0
    warmup_ratio: float = 0.1  # linear warm-up share, then linear decay (BERT, ELECTRA)
    init_std: float = 0.02  # BERT/ELECTRA's N(0, 0.02) init, the same as the book's no-pretraining controls
    dropout: float = 0.1  # ELECTRA's; the probes fine-tune with the same
    disc_weight: float = 50.0  # lambda in L_MLM + lambda * L_Disc (Clark et al. §2)
    seed: int = 0  # corpus, initialisation, data order and masking all follow from it
    log_every: int = 10  # steps per History record (the learning curves of chapter 3)


PRETRAIN = PretrainConfig()


class Pretrained(NamedTuple):
    """A pretrained pair, the History of the run that made it and where it is cached."""

    pair: ElectraPair
    history: History
    path: Path  # holds discriminator/, generator/ (save_pretrained) and run.json
    seconds: float  # wall-clock of the training run itself (measured when it ran, also on a cache hit)


def cache_root() -> Path:
    """``$RMD_CACHE`` or ``~/.cache/rmdlib``: where the zoo keeps tokenizers and models."""
    return Path(os.environ.get("RMD_CACHE") or Path.home() / ".cache" / "rmdlib")


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _rmdlib_imports(tree: ast.Module) -> set[str]:
    """Names of the rmdlib modules a parsed module imports, lazily or not."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rmdlib":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("rmdlib.")}
    return found


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(package: Path | None = None, root: str = "zoo") -> str:
    """Hash of the code of ``root`` and of every module of ``package`` (default: rmdlib) it imports, transitively.

    Each module counts as its syntax tree without docstrings (comments are not in
    the tree): what the code does, not how it is explained.  Part of :func:`run_key`.
    """
    if package is None:
        return _library_digest()
    seen, todo, h = set(), [root], hashlib.sha256()
    while todo:
        name = todo.pop()
        path = package / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        todo += sorted(_rmdlib_imports(tree))
    for name in sorted(seen):
        tree = _without_docstrings(ast.parse((package / f"{name}.py").read_text(encoding="utf-8")))
        h.update(f"{name}\0{ast.dump(tree)}\0".encode())
    return h.hexdigest()[:16]


@functools.cache
def _library_digest() -> str:
    return code_digest(Path(__file__).resolve().parent)


def _atomic_dir(final: Path, write) -> Path:
    """Call ``write(tmp_dir)``, then rename tmp_dir to ``final``; if another process won the race, keep theirs."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        write(tmp)
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _texts_digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()


def pretraining_texts(P: Profile, cfg: PretrainConfig = PRETRAIN, *, split: str = "train") -> list[str]:
    """The profile's pretraining corpus: micro-world documents, or the registry's text corpus (``P.corpus``).

    ``split="heldout"`` gives 50 micro-world documents that follow the training ones
    (same world, never trained on); with a Hub corpus it selects that split ("test").
    Used in chapters 1 and 3.
    """
    if P.corpus == "synthetic":
        if split == "heldout":
            return synth.corpus(cfg.seed, n_docs=cfg.corpus_docs + 50)[cfg.corpus_docs:]
        return synth.corpus(cfg.seed, n_docs=cfg.corpus_docs)
    from rmdlib.data import load_spec

    lines = load_spec(P.corpus)["test" if split == "heldout" else split]["text"]
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("=")]


def tokenizer(P: Profile, cfg: PretrainConfig = PRETRAIN) -> PreTrainedTokenizerFast:
    """The profile's tokenizer: cached WordPiece on the micro-world (offline), else ``P.encoder``'s.

    Offline: ``train_wordpiece(synth.corpus(cfg.seed, cfg.corpus_docs), vocab_size=cfg.vocab_size)``,
    saved once under ``cache_root()``.  Used in chapters 1, 3, 4, 5, 6, 7, 8 and 9.
    """
    if P.encoder is not None:
        return AutoTokenizer.from_pretrained(P.encoder, revision=hub.revision(P.encoder))
    key = _digest("wordpiece", code_digest(), cfg.seed, cfg.corpus_docs, cfg.vocab_size)
    path = cache_root() / f"wordpiece-{key}"
    if not path.is_dir():
        tok = train_wordpiece(synth.corpus(cfg.seed, n_docs=cfg.corpus_docs), vocab_size=cfg.vocab_size)
        _atomic_dir(path, tok.save_pretrained)
    return AutoTokenizer.from_pretrained(path)


def pack(tok: PreTrainedTokenizerFast, texts: Sequence[str], max_length: int) -> torch.Tensor:
    """Concatenate the texts' sub-tokens, [SEP] after each text, and cut them into rows (N, T).

    Every row is ``[CLS] x_1 ... x_{T-2} [SEP]`` with T = max_length: no padding,
    no text dropped except the last incomplete row.  Used in chapters 1 and 3.
    """
    body = max_length - 2
    ids: list[int] = []
    for row in tok(list(texts), add_special_tokens=False)["input_ids"]:
        ids += [*row, tok.sep_token_id]
    n = len(ids) // body
    if n == 0:
        raise ValueError(f"pack: {len(ids)} sub-tokens do not fill one row of {max_length}")
    rows = torch.tensor(ids[: n * body]).view(n, body)  # (N, T - 2)
    cls, sep = torch.full((n, 1), tok.cls_token_id), torch.full((n, 1), tok.sep_token_id)
    return torch.cat([cls, rows, sep], dim=1)  # (N, T)


def _collate(items: list[tuple[torch.Tensor]]) -> dict[str, torch.Tensor]:
    ids = torch.stack([x[0] for x in items])  # (B, T)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def pretrain_loader(rows: torch.Tensor, batch_size: int, seed: int) -> DataLoader:
    """Shuffled batches of packed rows as {input_ids, attention_mask} (B, T); fit re-seeds the order.

    Full batches only, except that fewer rows than one batch give that one smaller
    batch (a small text at a small ``RMD_SCALE``) rather than no batch at all.
    """
    return DataLoader(TensorDataset(rows), batch_size=batch_size, shuffle=True, drop_last=len(rows) >= batch_size,
                      collate_fn=_collate, generator=torch.Generator().manual_seed(seed))


def train_config(cfg: PretrainConfig, steps: int | None = None, objective: str = "rtd") -> TrainConfig:
    """The ``TrainConfig`` of a pretraining run (``steps`` overrides ``cfg.steps``, for the MLM baseline).

    For the RTD pair the generator's own weights train at ``cfg.gen_lr_scale`` times
    ``cfg.lr`` and the discriminator's at ``cfg.disc_lr_scale`` times it (``TrainConfig.lr_scale``);
    the shared embeddings stay at ``cfg.lr``.  The MLM baseline trains its embeddings (and the output
    layer tied to them) at ``cfg.lr`` and everything else at ``cfg.mlm_lr_scale`` times it.
    """
    if objective == "rtd":
        scale = (("generator.", cfg.gen_lr_scale), ("discriminator.", cfg.disc_lr_scale))
    else:  # the tied output weight keeps lr: one of its names is the embeddings'
        scale = tuple((p, cfg.mlm_lr_scale) for p in ("electra.encoder.", "generator_predictions.",
                                                       "generator_lm_head."))
    return TrainConfig(lr=cfg.lr, max_steps=steps or cfg.steps, warmup_ratio=cfg.warmup_ratio, seed=cfg.seed,
                       log_every=cfg.log_every, lr_scale=scale)


def new_pair(cfg: PretrainConfig, tok: PreTrainedTokenizerFast) -> ElectraPair:
    """A freshly initialised pair of ``cfg``'s sizes for ``tok``'s vocabulary (``rtd.build_pair``).  Used in chapter 3."""
    return build_pair(len(tok), hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads, gen_scale=cfg.gen_scale,
                      max_position=cfg.max_length, pad_token_id=tok.pad_token_id, dropout=cfg.dropout,
                      init_std=cfg.init_std)


def new_mlm(cfg: PretrainConfig, tok: PreTrainedTokenizerFast) -> ElectraForMaskedLM:
    """A fresh masked-LM baseline with the discriminator's backbone (``rtd.build_mlm``).  Used in chapter 3."""
    return build_mlm(len(tok), hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads, max_position=cfg.max_length,
                     pad_token_id=tok.pad_token_id, dropout=cfg.dropout, init_std=cfg.init_std)


def pretrain(cfg: PretrainConfig, tok: PreTrainedTokenizerFast, texts: Sequence[str], *, objective: str = "rtd",
             steps: int | None = None, device: torch.device | str) -> tuple[nn.Module, History, float]:
    """Pretrain a fresh model on ``texts`` with ``train.fit``: the RTD pair, or the MLM baseline.

    objective "rtd": :func:`new_pair` with ``rtd.make_rtd_loss_fn`` (ELECTRA);
    "mlm": :func:`new_mlm` with ``rtd.make_mlm_loss_fn`` (BERT's 80/10/10 masking).
    ``steps`` overrides ``cfg.steps``; it trains on ``device``.  Returns (model on CPU in eval mode,
    History, training seconds).  A pure function of its arguments: it runs inside
    ``torch.random.fork_rng`` seeded with ``cfg.seed``, so the caller's random
    state is left alone.  Used in chapters 3 and 9.
    """
    if objective not in ("rtd", "mlm"):
        raise ValueError(f"objective must be 'rtd' or 'mlm', got {objective!r}")
    device = torch.device(device)
    rows = pack(tok, texts, cfg.max_length)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        masking = torch.Generator(device=device).manual_seed(cfg.seed)
        special = dict(mask_token_id=tok.mask_token_id, special_ids=tok.all_special_ids, generator=masking)
        if objective == "rtd":
            model, loss_fn = new_pair(cfg, tok), make_rtd_loss_fn(disc_weight=cfg.disc_weight, **special)
        else:
            model, loss_fn = new_mlm(cfg, tok), make_mlm_loss_fn(**special)
        start = time.perf_counter()
        history = fit(model, loss_fn, pretrain_loader(rows, cfg.batch_size, cfg.seed), device=device,
                      cfg=train_config(cfg, steps, objective))
        seconds = time.perf_counter() - start
    return model.cpu().eval(), history, seconds


def run_key(cfg: PretrainConfig, tok: PreTrainedTokenizerFast, texts: Sequence[str]) -> str:
    """Hash of everything that decides the pretrained weights: config, vocabulary, texts and :func:`code_digest`."""
    vocab = sorted(tok.get_vocab().items())
    return _digest("electra", code_digest(), asdict(cfg), vocab, _texts_digest(texts))


def load_pretrained(path: str | Path) -> tuple[ElectraPair, History, float]:
    """Read a cached run: the pair (sharing embeddings again), its History and training seconds."""
    path = Path(path)
    pair = ElectraPair(ElectraForMaskedLM.from_pretrained(path / "generator"),
                       ElectraForPreTraining.from_pretrained(path / "discriminator")).eval()
    run = json.loads((path / "run.json").read_text(encoding="utf-8"))
    return pair, History(**run["history"]), run["seconds"]


def cached_pretrain(cfg: PretrainConfig, tok: PreTrainedTokenizerFast, texts: Sequence[str], *,
                    device: torch.device | str) -> Pretrained:
    """:func:`pretrain` (on ``device``), or its cached result when the same run was done before.

    Used in chapters 1 and 3.
    """
    path = _pretrain_to_cache(cfg, tok, texts, device)
    pair, history, seconds = load_pretrained(path)
    return Pretrained(pair, history, path, seconds)


def _pretrain_to_cache(cfg: PretrainConfig, tok: PreTrainedTokenizerFast, texts: Sequence[str],
                       device: torch.device | str) -> Path:
    """The cache folder of this run, pretraining into it first if it is missing."""
    path = cache_root() / f"electra-{run_key(cfg, tok, texts)}"
    if not path.is_dir():
        pair, history, seconds = pretrain(cfg, tok, texts, device=device)

        def write(tmp: Path) -> None:
            pair.generator.save_pretrained(tmp / "generator")
            pair.save_discriminator(tmp / "discriminator")
            tok.save_pretrained(tmp / "discriminator")  # the encoder folder is self-contained
            run = {"config": asdict(cfg), "seconds": seconds, "history": asdict(history),
                   "code_digest": code_digest()}
            (tmp / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")

        _atomic_dir(path, write)
    return path


def electra_pair(P: Profile, cfg: PretrainConfig = PRETRAIN) -> ElectraPair:
    """A pretrained generator + discriminator with shared embeddings, on CPU in eval mode.

    Offline: the book's own pair (:func:`cached_pretrain` of ``cfg`` on the micro-world).
    Otherwise: ``P.encoder`` and its generator (``HUB_GENERATORS``) from the Hub.
    Used in chapters 1 and 9.
    """
    if P.encoder is None:
        return cached_pretrain(cfg, tokenizer(P, cfg), pretraining_texts(P, cfg), device=P.device).pair
    if P.encoder not in HUB_GENERATORS:
        raise ValueError(f"no known generator for {P.encoder!r}; known: {sorted(HUB_GENERATORS)}")
    generator = HUB_GENERATORS[P.encoder]
    return ElectraPair(ElectraForMaskedLM.from_pretrained(generator, revision=hub.revision(generator)),
                       ElectraForPreTraining.from_pretrained(P.encoder, revision=hub.revision(P.encoder))).eval()


def encoder(P: Profile, cfg: PretrainConfig = PRETRAIN) -> str:
    """What ``rmdlib.models.build_tagger`` should load: the cached discriminator folder, or ``P.encoder``.

    Offline this pretrains first if the cache is empty (about a minute).  Used in chapters 3, 4, 5, 6, 7, 8 and 9.
    """
    if P.encoder is not None:
        return P.encoder
    return str(_pretrain_to_cache(cfg, tokenizer(P, cfg), pretraining_texts(P, cfg), P.device) / "discriminator")


def flops_per_token(model: nn.Module, seq_len: int) -> int:
    """Forward FLOPs per token of a Hugging Face encoder: 2 N + 4 L T D.

    N counts the weights of every ``nn.Linear`` (the matrix multiplies a token
    goes through, the output layer over the vocabulary included; embedding
    look-ups cost none), and 4 L T D is attention's QK^T and AV over T tokens in
    each of L layers of width D.  Training costs about 3x this, the backward
    pass being twice the forward: C = 6 N per token (Kaplan et al. 2020, §2.1).
    Used in chapter 3.
    """
    n = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    cfg = model.config
    return 2 * n + 4 * cfg.num_hidden_layers * seq_len * cfg.hidden_size
