"""Zero-shot NER transfer across real languages and domains, with the distances that should predict it.

(a) Cross-lingual: a tagger fine-tuned on English WikiANN, scored zero-shot on WikiANN de / nl / fr / pt,
CoNLL-2002 es / nl, MSRA Chinese, and the Universal NER PUD test sets (the same 1,000 sentences in
English, German, Portuguese and Chinese: the cleanest comparison, because the content is held
constant), next to each target's in-language score (a tagger of the same recipe trained on that
target's own training split, where it has one).  Per target: subword overlap with the English
training text (type and token, ``rmdlib.transfer.subword_overlap``) and URIEL+ syntactic distance
(``benchmarks/data/uriel_distances.csv``), and their Pearson correlation with the zero-shot F1.

(b) Cross-domain: CoNLL-2003 (Reuters news) -> WikiANN-en (Wikipedia) and back, against in-domain.
Label sets are mapped explicitly: WikiANN has PER / LOC / ORG and no MISC, so every cross-domain
score counts PER / LOC / ORG only: the CoNLL tagger is trained with its four types, and MISC is
mapped to O in CoNLL's gold tags (the WikiANN tagger is not asked to find MISC) and in the CoNLL
tagger's predictions (it is not penalised for a MISC the WikiANN annotators did not mark).

Two encoders (arms), one cased WordPiece vocabulary of 16,000 types trained on the training text of
all the corpora, like a multilingual model's shared vocabulary: **none**, a fresh ELECTRA encoder
(no pretraining); **rtd**, an ELECTRA discriminator of the same size pretrained with replaced token
detection (``rtd_vs_mlm.py``'s code) for a fixed number of steps on the unlabelled training
sentences of every corpus mixed: a miniature multilingual pretraining, far too short to align
languages the way mBERT's does (``rtd_vs_mlm.py`` found no gain from 10 minutes of CPU pretraining
on English books).  Each arm is fine-tuned with 3 seeds; every F1 is entity-level (seqeval
default mode), averaged over the seeds, with a 95 % bootstrap interval over test sentences (the
same resampled sentences for every seed); rtd against none is ``rmdlib.compare.paired_f1``, whose
interval also counts the seeds' spread (rmdlib 0.2.2 and later).  The
correlations of zero-shot F1 with the distances get a bootstrap interval over the targets.

``--hub NAME`` adds a third arm, **hub**: a multilingual Hub encoder (``bert-base-multilingual-cased``
or ``xlm-roberta-base``, at the revision pinned in ``rmdlib.hub``) with its own tokenizer, fine-tuned
with the same recipe at ``--hub-lr``; its subword overlaps are measured with its own tokenizer.  It
needs the Hub (or ``HF_ENDPOINT`` pointing at ``tools/sim_hub.py``'s simulated one, which checks
the code path with random weights) and, at full size, a GPU: ``--device cuda``.

    python benchmarks/transfer_ner.py --data ../shared/data --threads 2   # 2 idle CPU cores: about 25 minutes
    python benchmarks/transfer_ner.py --quick               # a smoke run of a few minutes
    python benchmarks/transfer_ner.py --data ../shared/data --hub bert-base-multilingual-cased --device cuda

Writes ``benchmarks/results/transfer_ner.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from transformers import ElectraConfig, ElectraModel

import rmdlib
from rmdlib import compare, hub
from rmdlib.conll import read_conll
from rmdlib.infer import predict_tags
from rmdlib.metrics import entity_scores
from rmdlib.models import build_encoder
from rmdlib.report import hardware
from rmdlib.tagging import TaggingConfig, finetune_tagger
from rmdlib.tokens import train_wordpiece
from rmdlib.train import TrainConfig
from rmdlib.transfer import subword_overlap

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rtd_vs_mlm  # noqa: E402  (the pretraining code of the RTD benchmark, reused)

ROOT = Path(__file__).resolve().parents[1]
TYPES3 = ("PER", "LOC", "ORG")
LABELS3 = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
LABELS4 = LABELS3 + ("B-MISC", "I-MISC")
Examples = list[tuple[list[str], list[str]]]


@dataclass(frozen=True)
class Budget:
    """Sizes and hyper-parameters (CPU defaults)."""

    hidden: int = 128
    layers: int = 2
    heads: int = 2
    embedding_size: int = 128
    vocab_size: int = 16000  # shared by all languages (mBERT: 110k over 104 languages)
    n_train: int = 2500  # sentences per training set (WikiANN has 20,000): a shared 2-core machine
    n_val: int = 300  # for picking the best state
    n_test: int = 500  # sentences per test set (the first 500 of PUD's 1,000)
    # English WikiANN -> itself, fresh encoder, seed 0: F1 0.153 after 2 epochs, 0.291 after 8 (0.296 at lr 3e-3),
    # 0.305 after 16 (2026-12-06); 2 epochs left every tagger undertrained
    epochs: int = 8
    lr: float = 1e-3  # from-scratch encoders (rtd_vs_mlm.py, distill_ner.py use the same)
    batch_size: int = 32
    n_boot: int = 1000  # bootstrap resamples of the test sentences (or targets) per interval
    seed: int = 0  # data sampling, vocabulary, pretraining
    seeds: tuple[int, ...] = (0, 1, 2)  # fine-tuning seeds (head and, for "none", encoder init)
    # the multilingual RTD encoder: pretrained on the unlabelled training text of every corpus
    pretrain_sentences: int = 20_000  # per corpus, at most (WikiANN's whole training split)
    # fixed, so the run is repeatable; timed and reported.  After 600 steps the discriminator's loss was 0.377
    # at lr 1e-4 and 0.412 at 5e-4 against H(r) = 0.419 for a constant (2026-12-06): 5e-4 learns nothing
    pretrain_steps: int = 3000
    pretrain_batch: int = 16  # rows of max_length sub-tokens
    pretrain_lr: float = 1e-4  # rtd_vs_mlm.py: at 1e-3 the 256-wide RTD encoder collapsed; 1e-4 did not
    max_length: int = 128  # pretraining rows and fine-tuning windows
    in_language_seeds: tuple[int, ...] = (0,)  # the in-language reference runs (one seed: CPU budget)


QUICK = Budget(n_train=600, n_val=100, n_test=200, epochs=1, vocab_size=4000, n_boot=50, seeds=(0, 1),
               pretrain_sentences=2000, pretrain_steps=50)
ARMS = ("none", "rtd", "hub")  # fresh encoder; multilingual RTD-pretrained encoder; a Hub encoder (--hub)


# ----------------------------------------------------------------------------- data
def _restrict(tags: list[str], types: tuple[str, ...]) -> list[str]:
    """Tags of other types (MISC, OTH, GPE mapped before) become O; an I- without its B- opens an entity."""
    out, prev = [], "O"
    for tag in tags:
        t = tag if tag != "O" and tag[2:] in types else "O"
        if t.startswith("I-") and prev[2:] != t[2:]:
            t = "B-" + t[2:]
        out.append(t)
        prev = t
    return out


def _read_conll(path: Path, types: tuple[str, ...]) -> Examples:
    sentences = read_conll(path, token_prefix=_prefix(path)).sentences
    return [(list(s.tokens), _restrict(list(s.tags), types)) for s in sentences]


def _prefix(path: Path) -> str:
    with open(path, encoding="utf-8") as f:
        first = next(line for line in f if line.strip() and not line.startswith("-DOCSTART-"))
    head = first.split()[0]
    return head[: head.index(":") + 1] if ":" in head[:4] else ""


def _read_columns(path: Path, token_col: int, tag_col: int, types: tuple[str, ...], digits: bool = False,
                  tag_map: dict[str, str] | None = None) -> Examples:
    """Tab-separated token/tag lines (UNER, MSRA, Weibo), '#' comments skipped, blank line between sentences."""
    out: Examples = []
    words: list[str] = []
    tags: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if words:
                out.append((words, _restrict(tags, types)))
            words, tags = [], []
            continue
        cols = line.split("\t")
        word, tag = cols[token_col], cols[tag_col]
        if digits:
            word = word.rstrip("0123456789") or word
        for a, b in (tag_map or {}).items():
            tag = tag.replace(a, b)
        words.append(word)
        tags.append(tag)
    return out


def _head(rows: Examples, n: int) -> Examples:
    return rows[:n]


def _sample(rows: Examples, n: int, seed: int) -> Examples:
    """n rows drawn without replacement (a fixed seed), or all of them."""
    if len(rows) <= n:
        return list(rows)
    return random.Random(seed).sample(list(rows), n)


def load_all(data: Path, b: Budget) -> tuple[dict[str, dict[str, Examples]], dict[str, Examples], list[str]]:
    """Training corpora (train / validation / test, PER-LOC-ORG), extra test-only sets, and the unlabelled
    pretraining text (up to ``b.pretrain_sentences`` training sentences of every corpus, no test sentence)."""
    corpora: dict[str, dict[str, Examples]] = {}
    for lang in ("en", "de", "nl", "fr", "pt"):
        folder = data / "wikiann" / lang
        corpora[f"wikiann-{lang}"] = {s: _read_conll(folder / f, TYPES3) for s, f in
                                      (("train", "train"), ("validation", "dev"), ("test", "test"))}
    for lang, stem in (("es", "esp"), ("nl", "ned")):
        folder = data / "conll2002"
        corpora[f"conll2002-{lang}"] = {s: _read_conll(folder / f"{stem}.{f}", TYPES3) for s, f in
                                        (("train", "train"), ("validation", "testa"), ("test", "testb"))}
    msra = data / "zh_ner" / "msra"
    train = _read_columns(msra / "msra_train_bio", 0, 1, TYPES3)
    corpora["msra-zh"] = {"train": train[:-2000], "validation": train[-2000:],  # no dev split: carve one
                          "test": _read_columns(msra / "msra_test_bio", 0, 1, TYPES3)}
    conll = data / "conll2003"
    corpora["conll2003-en"] = {s: _read_conll(conll / f"{f}.txt", TYPES3 + ("MISC",)) for s, f in
                               (("train", "train"), ("validation", "valid"), ("test", "test"))}
    pretrain_text = []
    for name, rows in corpora.items():
        seed = b.seed + sum(map(ord, name))
        pretrain_text += [" ".join(w) for w, _ in _sample(rows["train"], b.pretrain_sentences, seed + 3)]
        corpora[name] = {"train": _sample(rows["train"], b.n_train, seed),
                         "validation": _sample(rows["validation"], b.n_val, seed + 1),
                         "test": _sample(rows["test"], b.n_test, seed + 2)}
    pud = {}
    for lang, folder in (("en", "English-PUD"), ("de", "German-PUD"), ("pt", "Portuguese-PUD"),
                         ("zh", "Chinese-PUD")):
        [path] = (data / "uner" / folder).glob("*.iob2")
        pud[f"pud-{lang}"] = _head(_read_columns(path, 1, 2, TYPES3), b.n_test)
    random.Random(b.seed).shuffle(pretrain_text)  # every pretraining row mixes languages
    return corpora, pud, pretrain_text


def to_dataset(splits: dict[str, Examples], labels: tuple[str, ...]) -> DatasetDict:
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=list(labels)))})
    index = {t: i for i, t in enumerate(labels)}
    return DatasetDict({k: Dataset.from_dict({"tokens": [w for w, _ in rows],
                                              "ner_tags": [[index[t] for t in tags] for _, tags in rows]},
                                             features=features) for k, rows in splits.items()})


# ----------------------------------------------------------------------------- models and scores
def fresh_encoder(b: Budget, tok: Any, seed: int) -> ElectraModel:
    """The no-pretraining arm: an ELECTRA encoder initialised with ``seed``."""
    torch.manual_seed(seed)
    return ElectraModel(ElectraConfig(vocab_size=len(tok), hidden_size=b.hidden, num_hidden_layers=b.layers,
                                      num_attention_heads=b.heads, intermediate_size=4 * b.hidden,
                                      embedding_size=b.embedding_size, pad_token_id=tok.pad_token_id))


def pretrain_rtd(b: Budget, tok: Any, texts: list[str], device: torch.device) -> tuple[Any, dict[str, Any]]:
    """The multilingual arm: RTD on the unlabelled text of every language (rtd_vs_mlm.py's code), fixed steps."""
    rb = rtd_vs_mlm.Budget(hidden=b.hidden, layers=b.layers, heads=b.heads, vocab_size=b.vocab_size,
                           max_length=b.max_length, batch_size=b.pretrain_batch, pretrain_lr=b.pretrain_lr)
    rows = rtd_vs_mlm.pack(tok, texts, b.max_length, b.pretrain_steps * b.pretrain_batch)  # (N, T)
    objectives = {"rtd": rtd_vs_mlm._objectives(tok, rb, device)["rtd"]}
    run = rtd_vs_mlm.pretrain(objectives, rows, rb, {"rtd": b.pretrain_steps}, device)["rtd"]
    run |= {"rows": int(rows.shape[0]), "sentences": len(texts)}
    print(f"pretrained RTD: {run['steps']} steps in {run['seconds']:.0f} s; last {run['final']}", flush=True)
    return objectives["rtd"][0].discriminator, run


def train(b: Budget, tok: Any, base: Any, splits: dict[str, Examples], labels: tuple[str, ...],
          seed: int, lr: float, device: torch.device) -> tuple[Any, float]:
    """A fresh head on ``base`` (its weights are copied), fine-tuned on ``splits`` (best validation F1 kept)."""
    rmdlib.setup(seed=seed, profile="full", verbose=False)
    cfg = TrainConfig(lr=lr, epochs=b.epochs, warmup_ratio=0.1, monitor="f1", mode="max", seed=seed,
                      progress=False, log_every=50)
    start = time.perf_counter()
    model, _ = finetune_tagger(base, to_dataset(splits, labels), tok, cfg,
                               TaggingConfig(b.batch_size, max_length=b.max_length), device=device)
    return model.eval(), time.perf_counter() - start


def predict(model: Any, tok: Any, rows: Examples, types: tuple[str, ...], device: torch.device) -> list[list[str]]:
    """Predicted tags restricted to ``types`` (others mapped to O)."""
    return [_restrict(p, types) for p in predict_tags(model, tok, [w for w, _ in rows], batch_size=128,
                                                  device=device)]


def gold_of(rows: Examples, types: tuple[str, ...]) -> list[list[str]]:
    return [_restrict(t, types) for _, t in rows]


def mean_f1(gold: list[list[str]], preds: list[list[list[str]]], n_boot: int, seed: int) -> dict[str, Any]:
    """Entity F1 averaged over seeds, with a 95 % bootstrap interval over test sentences (the same resampled
    sentences for every seed, as in rmdlib.compare) and the per-seed values."""
    counts = np.stack([compare.sentence_counts(gold, p) for p in preds])  # (S, N, 3) tp, fp, fn

    def f1(c: np.ndarray) -> float:  # c: (S, N, 3) -> F1 = 2 tp / (2 tp + fp + fn) per seed, then the mean
        tp, fp, fn = c.sum(1).T
        return float(np.mean(np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)))

    rng = np.random.default_rng(seed)
    n = counts.shape[1]
    boots = [f1(counts[:, rng.integers(0, n, n)]) for _ in range(n_boot)]
    per_seed = [f1(counts[s: s + 1]) for s in range(len(preds))]
    return {"f1": f1(counts), "low": float(np.quantile(boots, 0.025)), "high": float(np.quantile(boots, 0.975)),
            "per_seed": per_seed, "seed_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None}


def uriel(path: Path) -> dict[str, float]:
    """URIEL+ syntactic distance to English per language code, from the committed CSV."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return {r["lang"]: float(r["syntactic"]) for r in csv.DictReader(lines) if r["syntactic"]}


def pearson(x: list[float], y: list[float]) -> float | None:
    return float(np.corrcoef(x, y)[0, 1]) if len(x) >= 3 and np.std(x) > 0 and np.std(y) > 0 else None


def correlation(x: list[float], y: list[float], n_boot: int, seed: int) -> dict[str, Any]:
    """Pearson r with a 95 % percentile bootstrap interval over the points (targets); resamples in which
    either variable is constant are skipped.  With ~10 points, some sharing a language, the interval is wide
    and itself rough: a description, not a test."""
    r = pearson(x, y)
    rng = np.random.default_rng(seed)
    xa, ya, boots = np.asarray(x), np.asarray(y), []
    for _ in range(n_boot):
        idx = rng.integers(0, len(xa), len(xa))
        v = pearson(list(xa[idx]), list(ya[idx]))
        if v is not None:
            boots.append(v)
    low, high = (float(np.quantile(boots, q)) for q in (0.025, 0.975)) if boots else (None, None)
    return {"r": r, "low": low, "high": high, "n": len(x)}


# ----------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "transfer_ner")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (a GPU when there is one)")
    parser.add_argument("--hub", metavar="NAME", help="add the arm 'hub': this Hub encoder, pinned in rmdlib.hub")
    parser.add_argument("--hub-lr", type=float, default=5e-5, help="peak fine-tuning lr of the hub arm")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"transfer_ner: real data not found at {args.data}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    device = rmdlib.profile.pick_device() if args.device == "auto" else torch.device(args.device)
    b = QUICK if args.quick else Budget()
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    corpora, pud, pretrain_text = load_all(args.data, b)
    texts = [" ".join(w) for rows in corpora.values() for w, _ in rows["train"]]
    tok = train_wordpiece(texts, vocab_size=b.vocab_size, model_max_length=b.max_length)
    targets = {name: rows["test"] for name, rows in corpora.items() if name != "conll2003-en"} | pud
    golds = {name: gold_of(rows, TYPES3) for name, rows in targets.items()}
    distance = uriel(ROOT / "benchmarks" / "data" / "uriel_distances.csv")
    rtd_encoder, pretrain_run = pretrain_rtd(b, tok, pretrain_text, device)
    # arm -> (tokenizer, encoder for a seed, fine-tuning lr); every arm but hub shares the trained WordPiece
    arms = {"none": (tok, lambda seed: fresh_encoder(b, tok, seed), b.lr), "rtd": (tok, lambda seed: rtd_encoder, b.lr)}
    if args.hub:
        from transformers import AutoTokenizer

        hub_tok = AutoTokenizer.from_pretrained(args.hub, revision=hub.revision(args.hub))
        hub_encoder = build_encoder(args.hub)  # at the pinned revision; train() copies it per seed
        arms["hub"] = (hub_tok, lambda seed: hub_encoder, args.hub_lr)
    overlaps = {arm: {name: subword_overlap(arm_tok, corpora["wikiann-en"]["train"], rows)
                      for name, rows in targets.items()} for arm, (arm_tok, _, _) in arms.items() if arm != "rtd"}
    overlaps["rtd"] = overlaps["none"]  # the same tokenizer
    seconds: dict[str, list[float]] = {}
    preds: dict[tuple[str, str, str], list] = {}  # (arm, source, target) -> one prediction list per seed

    def run(arm: str, source: str, labels: tuple[str, ...], seeds: tuple[int, ...], tests: dict[str, Examples]):
        arm_tok, base, lr = arms[arm]
        for seed in seeds:
            model, sec = train(b, arm_tok, base(seed), corpora[source], labels, seed, lr, device)
            seconds.setdefault(f"{arm}:{source}", []).append(sec)
            for name, rows in tests.items():
                preds.setdefault((arm, source, name), []).append(predict(model, arm_tok, rows, TYPES3, device))
            print(f"  {arm} on {source}, seed {seed}: {sec:.0f} s ({(time.perf_counter() - t0) / 60:.1f} min)",
                  flush=True)

    conll, wiki = corpora["conll2003-en"], corpora["wikiann-en"]
    common = {"benchmark": "transfer_ner", "budget": asdict(b), "hardware": hardware(device),
              "threads": args.threads, "python": platform.python_version(), "torch": torch.__version__,
              "transformers": transformers.__version__, "vocab": len(tok), "pretrain": pretrain_run,
              "hub": None if not args.hub else {"name": args.hub, "revision": hub.revision(args.hub),
                                                 "lr": args.hub_lr, "vocab": len(arms["hub"][0])}}

    def report() -> dict[str, Any]:
        return common | summary(b, targets, golds, preds, conll, overlaps, distance, seconds, t0, load_start)

    for arm in arms:  # (a) English WikiANN -> every target, and (b) its cross-domain score on CoNLL-2003
        run(arm, "wikiann-en", LABELS3, b.seeds, targets | {"conll2003-en": conll["test"]})
        write(args.out, report())
    for arm in arms:  # (b) CoNLL-2003 -> itself and WikiANN-en (4 types in training; MISC mapped to O in scores)
        run(arm, "conll2003-en", LABELS4, b.seeds, {"conll2003-en": conll["test"], "wikiann-en": wiki["test"]})
        write(args.out, report())
    for name in [n for n in corpora if n not in ("wikiann-en", "conll2003-en")]:  # in-language references
        run("rtd", name, LABELS3, b.in_language_seeds, {name: targets[name]})
        write(args.out, report())
    print(markdown(report()))
    return 0


def summary(b: Budget, targets: dict[str, Examples], golds: dict[str, list], preds: dict, conll: dict,
            overlaps: dict[str, dict[str, dict]], distance: dict[str, float], seconds: dict[str, list[float]],
            t0: float, load_start: float) -> dict[str, Any]:
    """Per-target rows (zero-shot per arm, in-language where run, overlap, URIEL+), arm comparisons,
    correlations, and the cross-domain table; only what has been run so far."""
    per_target, compare_arms = [], {}
    for name in targets:
        lang, ov = name.rsplit("-", 1)[1], overlaps["none"][name]
        row = {"target": name, "lang": lang, "subword_type_overlap": ov["type"],
               "subword_token_overlap": ov["token"], "uriel_syntactic": 0.0 if lang == "en" else distance.get(lang)}
        if "hub" in overlaps:  # the Hub encoder's own tokenizer
            row |= {"hub_subword_type_overlap": overlaps["hub"][name]["type"],
                    "hub_subword_token_overlap": overlaps["hub"][name]["token"]}
        for arm in ARMS:
            if (arm, "wikiann-en", name) in preds:
                row[f"zero_shot_{arm}"] = mean_f1(golds[name], preds[arm, "wikiann-en", name], b.n_boot, b.seed)
        own = preds.get(("rtd", name, name))
        row["in_language_rtd"] = mean_f1(golds[name], own, b.n_boot, b.seed) if own else None
        per_target.append(row)
        if all((arm, "wikiann-en", name) in preds for arm in ("none", "rtd")):
            c = compare.paired_f1(golds[name], preds["rtd", "wikiann-en", name], preds["none", "wikiann-en", name],
                                  n_boot=b.n_boot, seed=b.seed)
            compare_arms[name] = {"diff": c.diff, "low": c.low, "high": c.high, "seed_spread": c.seed_spread}
    others = [r for r in per_target if r["lang"] != "en"]
    correlations = {}
    for arm in ARMS:
        rows = [r for r in others if f"zero_shot_{arm}" in r]
        if not rows:
            continue
        f1s = [r[f"zero_shot_{arm}"]["f1"] for r in rows]
        with_uriel = [r for r in rows if r["uriel_syntactic"] is not None]
        own = "hub_" if arm == "hub" else ""  # overlaps measured with the arm's own tokenizer
        correlations[arm] = {
            "subword_token_overlap": correlation([r[f"{own}subword_token_overlap"] for r in rows], f1s, b.n_boot,
                                                 b.seed),
            "subword_type_overlap": correlation([r[f"{own}subword_type_overlap"] for r in rows], f1s, b.n_boot,
                                                b.seed),
            "uriel_syntactic": correlation([r["uriel_syntactic"] for r in with_uriel],
                                           [r[f"zero_shot_{arm}"]["f1"] for r in with_uriel], b.n_boot, b.seed)}
    conll_gold = {types: gold_of(conll["test"], types) for types in (TYPES3, TYPES3 + ("MISC",))}
    domain = {}
    for arm in ARMS:
        for key, source, target, gold in (
                ("conll->conll (PER/LOC/ORG)", "conll2003-en", "conll2003-en", conll_gold[TYPES3]),
                ("conll->wikiann-en", "conll2003-en", "wikiann-en", golds["wikiann-en"]),
                ("wikiann-en->wikiann-en", "wikiann-en", "wikiann-en", golds["wikiann-en"]),
                ("wikiann-en->conll", "wikiann-en", "conll2003-en", conll_gold[TYPES3])):
            if (arm, source, target) in preds:
                domain[f"{arm}: {key}"] = mean_f1(gold, preds[arm, source, target], b.n_boot, b.seed)
    return {"per_target": per_target, "rtd_minus_none": compare_arms, "correlation": correlations,
            "domain": domain, "train_seconds": dict(seconds), "total_seconds": time.perf_counter() - t0,
            "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}}


def write(out: Path, report: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


def _ci(s: dict[str, Any] | None) -> str:
    if s is None:
        return "–"
    std = "" if s.get("seed_std") is None else f" (seed sd {s['seed_std']:.3f})"
    return f"{s['f1']:.3f} [{s['low']:.3f}, {s['high']:.3f}]{std}"


def _r(c: dict[str, Any] | None) -> str:
    if not c or c["r"] is None:
        return "–"
    return f"{c['r']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]"


def markdown(report: dict) -> str:
    """The results tables for benchmarks/README.md."""
    b, load, pre = report["budget"], report["load_average_1min"], report["pretrain"]
    final = {k: v for k, v in pre["final"].items() if k in ("disc_loss", "disc_recall", "replaced_frac", "gen_acc")}
    r = final.get("replaced_frac")
    if r:  # a discriminator that answers "original" everywhere scores the binary entropy H(r)
        final["H(r)"] = -(r * math.log(r) + (1 - r) * math.log(1 - r))
    lines = [f"Encoders: ELECTRA, hidden {b['hidden']}, {b['layers']} layers, one shared cased WordPiece of "
             f"{report['vocab']:,} types trained on every corpus's training sample. Arm **none**: fresh, no "
             f"pretraining. Arm **rtd**: an RTD discriminator pretrained for {pre['steps']:,} steps "
             f"({pre['seconds']:.0f} s; batch {b['pretrain_batch']} x {b['max_length']} sub-tokens, lr "
             f"{b['pretrain_lr']:g}) on {pre['sentences']:,} unlabelled training sentences of all the corpora "
             f"mixed (up to {b['pretrain_sentences']:,} each, no test sentence): a miniature multilingual "
             f"pretraining (last logged step: {', '.join(f'{k} {v:.3f}' for k, v in final.items())}). "
             f"Fine-tuning: {b['n_train']:,} training sentences per corpus, {b['epochs']} epochs, lr {b['lr']:g}, "
             f"batch {b['batch_size']}, best of {b['n_val']} validation sentences kept, seeds "
             f"{', '.join(map(str, b['seeds']))} (in-language references: seed "
             f"{', '.join(map(str, b['in_language_seeds']))}, rtd arm only); {b['n_test']:,} test sentences per "
             f"target. F1 over PER/LOC/ORG, mean over seeds, with a 95 % bootstrap interval over test sentences "
             f"({b['n_boot']} resamples, the same sentences for every seed) and the standard deviation over seeds. "
             f"{report['hardware']}; torch {report['torch']}, transformers {report['transformers']}; total "
             f"{report['total_seconds'] / 60:.0f} min; 1-min load average {load['start']:.1f} at start, "
             f"{load['end']:.1f} at end.", "",
             "**(a) Trained on English WikiANN, zero-shot on each target**", ""]
    hub_arm = report.get("hub")
    if hub_arm:
        lines[0] += (f" Arm **hub**: {hub_arm['name']} at revision {hub_arm['revision']}, its own tokenizer "
                     f"({hub_arm['vocab']:,} types), fine-tuned at lr {hub_arm['lr']:g}, otherwise the same recipe.")
    hub_cols = ("| zero-shot F1, hub | overlap, hub tokenizer (type / token) ", "---|---|") if hub_arm else ("", "")
    lines += ["| target | zero-shot F1, none | zero-shot F1, rtd | rtd − none [95 % CI] | in-language F1 (rtd) "
              f"| subword overlap (type / token) | URIEL+ syntactic distance {hub_cols[0]}|",
              f"|---|---|---|---|---|---|---|{hub_cols[1]}"]
    for r in report["per_target"]:
        d = report["rtd_minus_none"].get(r["target"])
        diff = "–" if d is None else f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
        own = "–" if r["in_language_rtd"] is None else f"{r['in_language_rtd']['f1']:.3f}"
        dist = "–" if r["uriel_syntactic"] is None else f"{r['uriel_syntactic']:.3f}"
        hub_cells = (f" {_ci(r.get('zero_shot_hub'))} | {r['hub_subword_type_overlap']:.3f} / "
                     f"{r['hub_subword_token_overlap']:.3f} |") if hub_arm else ""
        lines.append(f"| {r['target']} | {_ci(r.get('zero_shot_none'))} | {_ci(r.get('zero_shot_rtd'))} | {diff} "
                     f"| {own} | {r['subword_type_overlap']:.3f} / {r['subword_token_overlap']:.3f} | {dist} |"
                     + hub_cells)
    lines += ["", "Pearson correlation of the zero-shot F1 (mean over seeds) with each distance over the non-English "
              "targets, with a 95 % bootstrap interval over targets (few points, some sharing a language, so the "
              "interval is rough: a description, not a test):", "",
              "| arm | n | subword token overlap | subword type overlap | URIEL+ syntactic distance |",
              "|---|---|---|---|---|"]
    for arm, c in report["correlation"].items():
        lines.append(f"| {arm} | {c['subword_token_overlap']['n']} | {_r(c['subword_token_overlap'])} "
                     f"| {_r(c['subword_type_overlap'])} | {_r(c['uriel_syntactic'])} (n {c['uriel_syntactic']['n']}) |")
    lines += ["", "**(b) Across domains (F1 over PER/LOC/ORG; CoNLL-2003's MISC mapped to O in gold and predictions)**",
              "", "| arm: trained on → tested on | F1 [95 % CI] (seed sd) |", "|---|---|"]
    lines += [f"| {k} | {_ci(v)} |" for k, v in report["domain"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
