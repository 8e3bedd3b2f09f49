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
score counts PER / LOC / ORG only: MISC is mapped to O in CoNLL's gold tags (the WikiANN tagger is
not asked to find MISC) and in the CoNLL tagger's predictions (it is not penalised for a MISC the
WikiANN annotators did not mark).  The CoNLL tagger's in-domain score is given both ways.

The encoder: every tagger is a fresh ELECTRA encoder (no pretraining) over one cased WordPiece
vocabulary trained on the training text of all languages here, like a multilingual model's shared
vocabulary.  At CPU budgets this is the best encoder the repository produces on real text
(``rtd_vs_mlm.py``: RTD 0.496, MLM 0.492, none 0.502 on CoNLL-2003, within noise), and the shared
vocabulary makes the zero-shot scores a measure of what shared sub-words and names carry without
any multilingual pretraining.  Every F1 is entity-level (seqeval default mode) with a 95 %
bootstrap interval over test sentences.

    nice -n 10 python benchmarks/transfer_ner.py --data ../shared/data   # 2 shared CPU cores: about 30 minutes
    python benchmarks/transfer_ner.py --quick               # a smoke run of a few minutes

Writes ``benchmarks/results/transfer_ner.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
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
from rmdlib.conll import read_conll
from rmdlib.infer import predict_tags
from rmdlib.metrics import entity_scores
from rmdlib.report import hardware
from rmdlib.tagging import TaggingConfig, finetune_tagger
from rmdlib.tokens import train_wordpiece
from rmdlib.train import TrainConfig
from rmdlib.transfer import subword_overlap, transfer_matrix

ROOT = Path(__file__).resolve().parents[1]
TYPES3 = ("PER", "LOC", "ORG")
LABELS3 = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
LABELS4 = LABELS3 + ("B-MISC", "I-MISC")
Examples = list[tuple[list[str], list[str]]]


@dataclass(frozen=True)
class Budget:
    """Sizes and hyper-parameters (CPU defaults; one seed)."""

    hidden: int = 128
    layers: int = 2
    heads: int = 2
    embedding_size: int = 128
    vocab_size: int = 16000  # shared by all languages (mBERT: 110k over 104 languages)
    n_train: int = 2500  # sentences per training set (WikiANN has 20,000): a shared 2-core machine
    n_val: int = 300  # for picking the best state
    n_test: int = 500  # sentences per test set (the first 500 of PUD's 1,000)
    epochs: int = 2
    lr: float = 1e-3  # from-scratch encoders (rtd_vs_mlm.py, distill_ner.py use the same)
    batch_size: int = 32
    n_boot: int = 200  # bootstrap resamples of the test sentences per interval
    seed: int = 0


QUICK = Budget(n_train=600, n_val=100, n_test=200, epochs=1, vocab_size=4000, n_boot=50)


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


def load_all(data: Path, b: Budget) -> tuple[dict[str, dict[str, Examples]], dict[str, Examples]]:
    """Training corpora (train / validation / test, PER-LOC-ORG) and extra test-only sets."""
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
    for name, rows in corpora.items():
        seed = b.seed + sum(map(ord, name))
        corpora[name] = {"train": _sample(rows["train"], b.n_train, seed),
                         "validation": _sample(rows["validation"], b.n_val, seed + 1),
                         "test": _sample(rows["test"], b.n_test, seed + 2)}
    pud = {}
    for lang, folder in (("en", "English-PUD"), ("de", "German-PUD"), ("pt", "Portuguese-PUD"),
                         ("zh", "Chinese-PUD")):
        [path] = (data / "uner" / folder).glob("*.iob2")
        pud[f"pud-{lang}"] = _head(_read_columns(path, 1, 2, TYPES3), b.n_test)
    return corpora, pud


def to_dataset(splits: dict[str, Examples], labels: tuple[str, ...]) -> DatasetDict:
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=list(labels)))})
    index = {t: i for i, t in enumerate(labels)}
    return DatasetDict({k: Dataset.from_dict({"tokens": [w for w, _ in rows],
                                              "ner_tags": [[index[t] for t in tags] for _, tags in rows]},
                                             features=features) for k, rows in splits.items()})


# ----------------------------------------------------------------------------- models and scores
def encoder(b: Budget, tok: Any) -> ElectraModel:
    torch.manual_seed(b.seed)
    return ElectraModel(ElectraConfig(vocab_size=len(tok), hidden_size=b.hidden, num_hidden_layers=b.layers,
                                      num_attention_heads=b.heads, intermediate_size=4 * b.hidden,
                                      embedding_size=b.embedding_size, pad_token_id=tok.pad_token_id))


def train(b: Budget, tok: Any, splits: dict[str, Examples], labels: tuple[str, ...]) -> tuple[Any, float]:
    """A fresh encoder + head fine-tuned on ``splits`` (best validation F1 kept); (model, seconds)."""
    P = rmdlib.setup(seed=b.seed, profile="full", verbose=False)
    cfg = TrainConfig(lr=b.lr, epochs=b.epochs, warmup_ratio=0.1, monitor="f1", mode="max", seed=b.seed,
                      progress=False, log_every=50)
    start = time.perf_counter()
    model, _ = finetune_tagger(encoder(b, tok), to_dataset(splits, labels), tok, cfg, TaggingConfig(b.batch_size),
                               device=P.device)
    return model.eval(), time.perf_counter() - start


def sentence_counts(gold: list[list[str]], pred: list[list[str]]) -> np.ndarray:
    """(N, 3) correct, predicted and gold entities per sentence."""
    return np.array([[s["n_correct"], s["n_pred"], s["support"]]
                     for s in (entity_scores([g], [p]) for g, p in zip(gold, pred))], dtype=float)


def f1_of(counts: np.ndarray) -> float:
    c, p, t = counts.sum(0)
    return 2 * c / (p + t) if p + t else 0.0


def score(model: Any, tok: Any, rows: Examples, types: tuple[str, ...], n_boot: int, seed: int, *,
          device: torch.device) -> dict[str, float]:
    """Entity F1 over ``types`` (others mapped to O in gold and predictions) with a 95 % bootstrap interval."""
    pred = predict_tags(model, tok, [w for w, _ in rows], batch_size=128, device=device)
    counts = sentence_counts([_restrict(t, types) for _, t in rows], [_restrict(p, types) for p in pred])
    rng = np.random.default_rng(seed)
    boots = [f1_of(counts[rng.integers(0, len(counts), len(counts))]) for _ in range(n_boot)]
    return {"f1": f1_of(counts), "low": float(np.quantile(boots, 0.025)), "high": float(np.quantile(boots, 0.975))}


def uriel(path: Path) -> dict[str, float]:
    """URIEL+ syntactic distance to English per language code, from the committed CSV."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return {r["lang"]: float(r["syntactic"]) for r in csv.DictReader(lines) if r["syntactic"]}


def pearson(x: list[float], y: list[float]) -> float | None:
    return float(np.corrcoef(x, y)[0, 1]) if len(x) >= 3 and np.std(x) > 0 and np.std(y) > 0 else None


# ----------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "transfer_ner")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"transfer_ner: real data not found at {args.data}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    device = rmdlib.profile.pick_device()  # where train() fine-tunes (rmdlib.setup picks the same)
    b = QUICK if args.quick else Budget()
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    corpora, pud = load_all(args.data, b)
    texts = [" ".join(w) for rows in corpora.values() for w, _ in rows["train"]]
    tok = train_wordpiece(texts, vocab_size=b.vocab_size, model_max_length=128)
    targets = {name: rows["test"] for name, rows in corpora.items() if name != "conll2003-en"} | pud
    sources = [name for name in corpora if name != "conll2003-en"]  # wikiann-en first
    seconds: dict[str, float] = {}

    models: dict[str, Any] = {}
    cells: dict[tuple[str, str], dict[str, float]] = {}

    def train_source(name: str) -> Any:
        models[name], seconds[name] = train(b, tok, corpora[name], LABELS3)
        print(f"  trained on {name}: {seconds[name]:.0f} s ({(time.perf_counter() - t0) / 60:.1f} min)", flush=True)
        return name, models[name]

    def score_cell(trained: tuple[str, Any], rows: Examples) -> float:
        source, model = trained
        name = next(k for k, v in targets.items() if v is rows)
        cells[source, name] = s = score(model, tok, rows, TYPES3, b.n_boot, b.seed, device=device)
        return s["f1"]

    table = transfer_matrix(train_source, ["wikiann-en"], targets, score_cell)  # English -> every target
    en_rows = corpora["wikiann-en"]["train"]
    overlaps = {name: subword_overlap(tok, en_rows, rows) for name, rows in targets.items()}
    distance = uriel(ROOT / "benchmarks" / "data" / "uriel_distances.csv")
    # (b) cross-domain, before the in-language runs: if the machine is slow, these matter more
    conll = corpora["conll2003-en"]
    conll_model, seconds["conll2003-en"] = train(b, tok, conll, LABELS4)
    wiki_model = models["wikiann-en"]
    domain = {
        "conll->conll (4 types)": score(conll_model, tok, conll["test"], TYPES3 + ("MISC",), b.n_boot, b.seed, device=device),
        "conll->conll (PER/LOC/ORG)": score(conll_model, tok, conll["test"], TYPES3, b.n_boot, b.seed, device=device),
        "conll->wikiann-en": score(conll_model, tok, corpora["wikiann-en"]["test"], TYPES3, b.n_boot, b.seed, device=device),
        "wikiann-en->wikiann-en": cells["wikiann-en", "wikiann-en"],
        "wikiann-en->conll": score(wiki_model, tok, conll["test"], TYPES3, b.n_boot, b.seed, device=device),
    }
    common = {"benchmark": "transfer_ner", "budget": asdict(b), "hardware": hardware(torch.device("cpu")),
              "threads": args.threads, "python": platform.python_version(), "torch": torch.__version__,
              "transformers": transformers.__version__, "vocab": len(tok),
              "matrix": table.to_dict(orient="records"), "domain": domain}
    write(args.out, common | summary(targets, cells, overlaps, distance, seconds, t0, load_start))
    for name in sources[1:]:  # the in-language score of every target that has training data; written as it comes
        score_cell(train_source(name), targets[name])
        write(args.out, common | summary(targets, cells, overlaps, distance, seconds, t0, load_start))
    print(markdown(common | summary(targets, cells, overlaps, distance, seconds, t0, load_start)))
    return 0


def summary(targets: dict[str, Examples], cells: dict, overlaps: dict, distance: dict[str, float],
            seconds: dict[str, float], t0: float, load_start: float) -> dict[str, Any]:
    """Per-target rows (zero-shot, in-language where run, overlap, URIEL+) and their correlations."""
    per_target = []
    for name in targets:
        lang, zero, own, ov = name.rsplit("-", 1)[1], cells["wikiann-en", name], cells.get((name, name)), overlaps[name]
        per_target.append({"target": name, "lang": lang, "zero_shot_f1": zero["f1"], "zero_low": zero["low"],
                           "zero_high": zero["high"], "in_language_f1": own["f1"] if own else None,
                           "subword_type_overlap": ov["type"], "subword_token_overlap": ov["token"],
                           "uriel_syntactic": 0.0 if lang == "en" else distance.get(lang)})
    others = [r for r in per_target if r["lang"] != "en"]
    with_uriel = [r for r in others if r["uriel_syntactic"] is not None]
    f1s = [r["zero_shot_f1"] for r in others]
    correlation = {"subword_token_overlap": pearson([r["subword_token_overlap"] for r in others], f1s),
                   "subword_type_overlap": pearson([r["subword_type_overlap"] for r in others], f1s),
                   "uriel_syntactic": pearson([r["uriel_syntactic"] for r in with_uriel],
                                              [r["zero_shot_f1"] for r in with_uriel]),
                   "n_targets": len(others)}
    return {"per_target": per_target, "correlation": correlation, "train_seconds": dict(seconds),
            "total_seconds": time.perf_counter() - t0,
            "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}}


def write(out: Path, report: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


def _ci(s: dict[str, float]) -> str:
    return f"{s['f1']:.3f} [{s['low']:.3f}, {s['high']:.3f}]"


def markdown(report: dict) -> str:
    """The results tables for benchmarks/README.md."""
    b, load = report["budget"], report["load_average_1min"]
    lines = [f"Fresh ELECTRA encoders (hidden {b['hidden']}, {b['layers']} layers, no pretraining), one shared cased "
             f"WordPiece of {report['vocab']:,} types; {b['n_train']:,} training sentences per corpus, "
             f"{b['epochs']} epochs, lr {b['lr']:g}, batch {b['batch_size']}, best of {b['n_val']} validation "
             f"sentences kept, seed {b['seed']}; {b['n_test']:,} test sentences per target; F1 over PER/LOC/ORG "
             f"with 95 % bootstrap intervals over test sentences ({b['n_boot']} resamples). {report['hardware']}; "
             f"torch {report['torch']}, transformers {report['transformers']}; "
             f"total {report['total_seconds'] / 60:.0f} min; 1-min load average {load['start']:.1f} at start, "
             f"{load['end']:.1f} at end (other jobs shared the machine).", "",
             "**(a) Trained on English WikiANN, zero-shot on each target**", "",
             "| target | zero-shot F1 [95 % CI] | in-language F1 | subword overlap (type / token) "
             "| URIEL+ syntactic distance |", "|---|---|---|---|---|"]
    for r in report["per_target"]:
        own = "–" if r["in_language_f1"] is None else f"{r['in_language_f1']:.3f}"
        dist = "–" if r["uriel_syntactic"] is None else f"{r['uriel_syntactic']:.3f}"
        lines.append(f"| {r['target']} | {r['zero_shot_f1']:.3f} [{r['zero_low']:.3f}, {r['zero_high']:.3f}] "
                     f"| {own} | {r['subword_type_overlap']:.3f} / {r['subword_token_overlap']:.3f} | {dist} |")
    c = report["correlation"]
    fmt = lambda v: "–" if v is None else f"{v:+.2f}"  # noqa: E731
    lines += ["", f"Pearson correlation with the zero-shot F1 over the {c['n_targets']} non-English targets: "
              f"subword token overlap {fmt(c['subword_token_overlap'])}, type overlap "
              f"{fmt(c['subword_type_overlap'])}, URIEL+ syntactic distance {fmt(c['uriel_syntactic'])} "
              "(few points, some sharing a language: a description, not a test).", "",
              "**(b) Across domains (F1 over PER/LOC/ORG unless said)**", "", "| trained on → tested on | F1 [95 % CI] |",
              "|---|---|"]
    lines += [f"| {k} | {_ci(v)} |" for k, v in report["domain"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
