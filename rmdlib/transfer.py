"""Transfer across languages and domains: distances, the transfer matrix, continued pretraining.

How much of a tagger survives when the language or the domain drifts from the
one it was trained on, and which distance predicts it?  This module measures
the distances and runs the experiments of chapter 9:

* :func:`overlap`, :func:`word_overlap`, :func:`subword_overlap`: how much of a
  target's vocabulary (types) and running text (tokens) the source shares;
* :func:`kendall_distance`, :func:`word_order_distance`: how far a derived
  language's word order is from the source's (share of word pairs swapped);
* :func:`noisy_domain`: the micro-world as social-media-like text (lower case,
  hashtags and @-handles for names, typos, fillers), labels kept;
* :func:`transfer_matrix`, :func:`plot_transfer_matrix`: train on each source,
  score zero-shot on every target, as a tidy table and a heat map;
* :func:`continue_pretraining`: more RTD steps for a pretrained ELECTRA pair on
  unlabelled target text (domain-adaptive pretraining), through ``train.fit``.

Derived languages themselves live in :mod:`rmdlib.synth` (``Language``,
``ner_splits(language=...)``).  Used in chapter 9 and ``benchmarks/transfer_ner.py``.
"""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from rmdlib import synth
from rmdlib.rtd import ElectraPair, make_rtd_loss_fn
from rmdlib.train import History, fit
from rmdlib.zoo import PRETRAIN, PretrainConfig, pack, pretrain_loader, train_config

__all__ = ["as_documents", "continue_pretraining", "kendall_distance", "noisy_domain", "overlap",
           "plot_transfer_matrix", "subword_overlap", "transfer_matrix", "word_order_distance", "word_overlap"]

Example = tuple[list[str], list[str]]


def _words(items: Iterable[Any]) -> Iterable[str]:
    """Words of (tokens, tags) pairs, token lists or whitespace-split strings."""
    for item in items:
        if isinstance(item, str):
            yield from item.split()
        elif len(item) == 2 and not isinstance(item[0], str):
            yield from item[0]
        else:
            yield from item


def overlap(source: Counter, target: Counter) -> dict[str, float]:
    """Type and token overlap of two frequency tables.

    type  = |S ∩ T| / |S ∪ T| (Jaccard over the distinct items);
    token = Σ_{x ∈ S ∩ T} T[x] / Σ_x T[x] (share of the target's running items whose type the
    source has), so a few shared frequent items weigh more than many shared rare ones.
    Used in chapter 9.
    """
    s, t = set(source), set(target)
    n_target = sum(target.values())
    return {"type": len(s & t) / len(s | t) if s | t else 1.0,
            "token": sum(target[x] for x in s & t) / n_target if n_target else 1.0}


def word_overlap(source: Iterable[Any], target: Iterable[Any]) -> dict[str, float]:
    """:func:`overlap` of whole words (examples, token lists or strings).  Used in chapter 9."""
    return overlap(Counter(_words(source)), Counter(_words(target)))


def _subword_counts(tokenizer: Any, items: Iterable[Any]) -> Counter:
    counts: Counter = Counter()
    for word, n in Counter(_words(items)).items():  # tokenize each word type once
        for piece in tokenizer.tokenize(word):
            counts[piece] += n
    return counts


def subword_overlap(tokenizer: Any, source: Iterable[Any], target: Iterable[Any]) -> dict[str, float]:
    """:func:`overlap` of the sub-tokens ``tokenizer.tokenize`` gives for each word; ``[UNK]`` is never shared.

    The shared vocabulary a jointly trained model can use as anchors between languages
    (Pires et al. 2019; Wu & Dredze 2019 relate zero-shot F1 to it).  Used in chapter 9.
    """
    source_counts = _subword_counts(tokenizer, source)
    source_counts.pop(getattr(tokenizer, "unk_token", None), None)  # [UNK] stands for any unseen word: never shared
    return overlap(source_counts, _subword_counts(tokenizer, target))


def kendall_distance(order: Sequence[int]) -> float:
    """Share of position pairs i < j that ``order`` swaps (normalised Kendall tau distance).

    0 for the identity, 1 for a full reversal; [2, 1, 0, 3] swaps 3 of 6 pairs: 0.5.
    """
    n = len(order)
    if n < 2:
        return 0.0
    swapped = sum(order[i] > order[j] for i in range(n) for j in range(i + 1, n))
    return swapped / (n * (n - 1) / 2)


def word_order_distance(examples: Sequence[tuple[Sequence[str], Sequence[str]]], lang: synth.Language) -> float:
    """Word pairs whose order ``lang`` swaps, over all word pairs of ``examples`` (pair-weighted Kendall).

    The alignment is known exactly: ``synth.word_orders`` replays the derivation.  Used in chapter 9.
    """
    orders = synth.word_orders(examples, lang)
    pairs = np.array([len(o) * (len(o) - 1) / 2 for o in orders])
    if pairs.sum() == 0:
        return 0.0
    return float(sum(kendall_distance(o) * p for o, p in zip(orders, pairs)) / pairs.sum())


_FILLERS = ("lol", "omg", "smh", "tbh", ":)", ":(", "!!", "rt")


def _typo(word: str, r: random.Random) -> str:
    """Swap two neighbouring letters inside the word (a common typing error); short words are kept."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = r.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _entity_units(tokens: Sequence[str], tags: Sequence[str]) -> list[tuple[list[str], str]]:
    """(words, type or "O") units: each entity whole, each other word alone."""
    units: list[tuple[list[str], str]] = []
    for word, tag in zip(tokens, tags):
        if tag.startswith("I-"):
            units[-1][0].append(word)
        else:
            units.append(([word], tag[2:] if tag != "O" else "O"))
    return units


def noisy_domain(examples: Sequence[tuple[Sequence[str], Sequence[str]]], *, seed: int = 0, lower: float = 0.5,
                 tag_style: float = 0.4, typo: float = 0.1, filler: float = 0.3) -> list[Example]:
    """The same sentences as social-media-like text; every entity survives with its type.

    Per sentence: with probability ``lower`` all words are lower-cased (names too) and the final
    punctuation is dropped; each entity becomes a hashtag ("#NewYork", ORG/LOC/MISC) or an
    @-handle ("@JohnSmith", PER) with probability ``tag_style``, one token tagged B-;
    each plain word gets a typo with probability ``typo``; a filler ("lol", ":)") is appended with
    probability ``filler``.  A pure function of ``seed``.  Used in chapter 9.
    """
    r = random.Random(f"{seed}:noisy")
    out = []
    for tokens, tags in examples:
        lowered = r.random() < lower
        words: list[str] = []
        labels: list[str] = []
        for unit, etype in _entity_units(tokens, tags):
            if etype == "O":
                new = [_typo(w, r) if r.random() < typo else w for w in unit]
                labels += ["O"] * len(new)
            elif r.random() < tag_style:
                new = [("@" if etype == "PER" else "#") + "".join(w.strip(".&") for w in unit)]
                labels.append(f"B-{etype}")
            else:
                new = list(unit)
                labels += [f"B-{etype}"] + [f"I-{etype}"] * (len(unit) - 1)
            words += new
        if lowered:
            words = [w.lower() for w in words]
            while words and labels[-1] == "O" and words[-1] in {".", "!", "?"}:
                words, labels = words[:-1], labels[:-1]
        if r.random() < filler:
            words, labels = words + [r.choice(_FILLERS)], labels + ["O"]
        out.append((words, labels))
    return out


def as_documents(examples: Sequence[tuple[Sequence[str], Sequence[str]]], sentences_per_doc: int = 8) -> list[str]:
    """Unlabelled running text for pretraining: sentences detokenized and joined, ``sentences_per_doc`` a document.

    Used in chapter 9.
    """
    text = [synth._detok(tokens) for tokens, _ in examples]
    return [" ".join(text[i:i + sentences_per_doc]) for i in range(0, len(text), sentences_per_doc)]


def transfer_matrix(train: Callable[[str], Any], sources: Sequence[str], targets: Mapping[str, Any],
                    score: Callable[[Any, Any], float]) -> pd.DataFrame:
    """Train once per source, score zero-shot on every target: a tidy table (source, target, score).

    ``train(source_name) -> model``; ``score(model, target_data) -> float``.  The matrix's
    diagonal, where source = target, is the in-language score.  Used in chapter 9.
    """
    rows = []
    for source in sources:
        model = train(source)
        rows += [{"source": source, "target": name, "score": float(score(model, data))}
                 for name, data in targets.items()]
    return pd.DataFrame(rows, columns=["source", "target", "score"])


def plot_transfer_matrix(table: pd.DataFrame, *, value: str = "score", ax: Any = None, fmt: str = "{:.2f}",
                         cmap: str = "viridis") -> Any:
    """Heat map of a :func:`transfer_matrix` table, sources as rows, each cell labelled; returns the axes."""
    import matplotlib.pyplot as plt

    grid = table.pivot(index="source", columns="target", values=value)
    grid = grid.reindex(index=list(dict.fromkeys(table["source"])), columns=list(dict.fromkeys(table["target"])))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * grid.shape[1] + 2, 0.7 * grid.shape[0] + 1.5))
    image = ax.imshow(grid.to_numpy(dtype=float), cmap=cmap, vmin=0.0, vmax=max(1e-9, float(np.nanmax(grid))))
    middle = float(np.nanmax(grid)) / 2
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        ax.text(j, i, fmt.format(v), ha="center", va="center", color="black" if v > middle else "white")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=30, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    ax.set(xlabel="evaluated on (target)", ylabel="trained on (source)")
    ax.figure.colorbar(image, ax=ax, label=value)
    return ax


def continue_pretraining(pair: ElectraPair, tokenizer: Any, texts: Sequence[str], *, steps: int,
                         cfg: PretrainConfig = PRETRAIN, lr: float | None = None,
                         device: torch.device | str) -> tuple[ElectraPair, History]:
    """``steps`` more RTD steps for a copy of ``pair`` on ``texts`` (domain-adaptive pretraining).

    Gururangan et al. (2020) continue a pretrained model's own objective on unlabelled text of
    the target domain before fine-tuning.  Same loss, packing, batch size and schedule as the
    book's pretraining (``cfg``; ``lr`` overrides ``cfg.lr``), through ``train.fit``.  ``pair``
    is left unchanged; the copy keeps its shared embeddings.  Runs inside
    ``torch.random.fork_rng`` seeded with ``cfg.seed``.  Returns (copy on CPU in eval mode, History).
    Used in chapter 9.
    """
    device = torch.device(device)
    model = copy.deepcopy(pair)  # deepcopy keeps the generator and discriminator sharing one embedding block
    rows = pack(tokenizer, texts, cfg.max_length)  # (N, T)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        masking = torch.Generator(device=device).manual_seed(cfg.seed)
        loss_fn = make_rtd_loss_fn(mask_token_id=tokenizer.mask_token_id, special_ids=tokenizer.all_special_ids,
                                   disc_weight=cfg.disc_weight, generator=masking)
        run = train_config(cfg if lr is None else replace(cfg, lr=lr), steps)
        history = fit(model, loss_fn, pretrain_loader(rows, cfg.batch_size, cfg.seed), cfg=run, device=device)
    return model.cpu().eval(), history
