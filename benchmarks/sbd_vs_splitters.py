"""rmdlib's sentence-boundary tagger against regex, pySBD, spaCy's sentencizer and NLTK Punkt.

Two parts, each writing its own JSON and Markdown table:

* ``--part micro``: the micro-world test documents of chapter 5, the rules and the chapter's tagger
  (zoo encoder and tokenizer, context head, 1,200 training documents); ``--ablation`` adds the ladder
  (linear head, context head, more documents, no pretraining, a weighted loss).
* ``--part ewt``: UD English EWT (``../shared/data/ud_english_ewt``), whole documents rebuilt by
  ``rmdlib.conll.conllu_documents`` in two variants: paragraphs joined by a line break, and every
  sentence joined by a space (closer to the published table). The tagger trains on both variants
  of the training documents; the epoch with the best dev sentence-end F1 is kept.

The tagger labels and predicts at candidates (``rmdlib.tokens.sbd_candidates``: the last sub-token of
every whitespace-free run, and every line break as ``[SEP]``) with ``rmdlib.tagging.sbd_tagger``; a
gold end inside a whitespace-free run ("end.Next") can never be found and is counted. Scores:
sentence-end character P/R/F1 (``metrics.boundary_scores``) with the tagger's difference to each rule
and a paired bootstrap interval over test documents (``compare.paired_boundary_f1``),
exact-sentence F1, and sentences/s = gold test sentences / seconds to split the whole test set in one
call (batched for the tagger) after one warm-up call.

The EWT encoder is NOT pretrained (no Hub here, and the zoo's is pretrained on the micro-world): a
fresh ELECTRA-shaped encoder with a cased WordPiece trained on EWT train; ``--encoder`` takes any
checkpoint (e.g. google/electra-small-discriminator). NLTK's pretrained Punkt (``punkt_tab``) needs a
download, so Punkt is trained on the training text.

    nice -n 10 python benchmarks/sbd_vs_splitters.py --part ewt --threads 1 --out benchmarks/results/sbd_vs_splitters_ewt
    nice -n 10 python benchmarks/sbd_vs_splitters.py --part micro --threads 1 --out benchmarks/results/sbd_vs_splitters_micro
    python benchmarks/sbd_vs_splitters.py --gpu                # a deeper encoder, more epochs, one GPU
    python benchmarks/sbd_vs_splitters.py --quick --threads 1  # a smoke run

Writes ``OUT.json`` and ``OUT.md`` (the tables for benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import rmdlib
from rmdlib import baselines, compare, infer, metrics, tokens
from rmdlib.conll import conllu_documents, read_conllu
from rmdlib.models import build_encoder
from rmdlib.report import hardware
from rmdlib.conll import SbdDoc
from rmdlib.tagging import TaggingConfig, sbd_tagger, sbd_windows, train_loader, weighted_loss_fn
from rmdlib.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "dev", "test")
TAGGER = "rmdlib tagger"
# Sentence-end F1 x 100 on the UD English EWT test set as published by Frohmann et al. 2024, "Segment
# Any Text" (EMNLP), for their SaT-12l-sm and for pySBD (Sadvilkar & Neumann 2020), spaCy's sentencizer
# and Punkt as baselines; quoted in chapter 5. Their text is built differently: compare trends only.
PUBLISHED = {"pySBD": 75.3, "spaCy sentencizer": 88.8, "NLTK Punkt": 90.8, "SaT-12l-sm": 97.3}
PUNKT_NOTE = ("NLTK's pretrained Punkt model (punkt_tab) needs a download, which was not reachable where this "
              "benchmark was written: Punkt is trained here on the training text of the same run (micro-world or EWT), PunktTrainer defaults.")

Splitter = Callable[[list[str]], list[list[int]]]  # texts -> sentence ends per text


@dataclass(frozen=True)
class Budget:
    """Sizes of the EWT tagger's run (CPU defaults: about 10 CPU-minutes on 1 thread)."""

    vocab_size: int = 8000  # cased WordPiece trained on the EWT training text (~200k words)
    hidden: int = 128  # the zoo encoder's width (ELECTRA-Small's embedding width)
    layers: int = 2
    heads: int = 4
    max_length: int = 128  # sub-tokens per window; longer documents become several windows
    stride: int = 32  # sub-tokens shared by consecutive windows: every candidate has >= 16 on each side
    batch_size: int = 32  # windows per step
    lr: float = 1e-3  # a fresh small encoder needs more than fine-tuning's usual 5e-5
    epochs: int = 2  # the best by dev end F1 is kept
    dev_docs: int = 80  # dev documents per variant scored after each epoch (of 318)
    context: int | None = 3  # ContextHead: sub-tokens read on each side of a candidate (None: linear head)
    end_weight: float = 1.0  # loss weight of the END class
    max_train_docs: int | None = None  # all 540 training documents (each in both variants)


QUICK = Budget(vocab_size=4000, hidden=64, layers=1, heads=2, epochs=1, max_train_docs=60)
GPU = Budget(hidden=256, layers=12, epochs=10)  # ELECTRA-Small's shape; a GPU epoch takes seconds
# The micro-world ablation: each arm changes one thing from the one above it (zoo encoder and tokenizer).
MICRO_ARMS = (
    ("context head, 1200 docs (the chapter's tagger)", dict(n_train=1200, context=3)),
)
MICRO_ABLATION = (  # --ablation: the full ladder (about 7 CPU-minutes more)
    ("candidates, linear head, 400 docs", dict(n_train=400, context=None)),
    ("+ context head (3 sub-tokens each side)", dict(n_train=400, context=3)),
    ("+ 1200 training docs (the chapter's run)", dict(n_train=1200, context=3)),
    ("+ 3600 training docs", dict(n_train=3600, context=3)),
    ("1200 docs, encoder NOT pretrained", dict(n_train=1200, context=3, pretrained=False)),
    ("1200 docs, END loss weight 3", dict(n_train=1200, context=3, end_weight=3.0)),
)


def sentence_ends(text: str, cuts: Sequence[int]) -> list[int]:
    """Sentence ends from the offsets where a splitter cuts ``text`` (its sentence starts, or its ends).

    Each cut gives one end: one past the last non-space character before it, the
    convention of ``conllu_documents`` and ``metrics.boundary_scores``; the end of
    the text is always one. Every character stays in exactly one sentence, so
    cutting at these ends gives back ``text`` (asserted); empty sentences vanish.
    """
    ends = sorted({len(text[:c].rstrip()) for c in cuts} - {0} | {len(text.rstrip())})
    assert "".join(tokens.split_at(text, ends)) == text
    return ends


def regex_splitter() -> Splitter:
    """rmdlib's three-rule regular expression, ``baselines.regex_split``."""
    return lambda texts: [sentence_ends(t, baselines.regex_split(t)) for t in texts]


def pysbd_splitter() -> Splitter:
    """pySBD, its sentences located in order in the text.

    Not its char_span offsets: pySBD 0.3.4 finds each sentence with ``re.finditer`` over the whole
    text, so a repeated string ("King....." -> "King." + "....") can get a span before the previous end.
    """
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)  # clean=False: text unchanged

    def starts(text: str) -> list[int]:
        found, cursor = [], 0
        for span in segmenter.segment(text):
            at = text.find(span.sent.strip(), cursor)
            assert at >= 0, f"pySBD changed the text near offset {cursor}"
            found.append(at)
            cursor = at + len(span.sent.strip())
        return found

    return lambda texts: [sentence_ends(t, starts(t)) for t in texts]


def spacy_splitter() -> Splitter:
    """spaCy's rule-based sentencizer on a blank English pipeline."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return lambda texts: [sentence_ends(t, [s.start_char for s in doc.sents])
                          for t, doc in zip(texts, nlp.pipe(texts))]


def punkt_splitter(train_texts: list[str]) -> Splitter:
    """NLTK Punkt, trained unsupervised on ``train_texts`` (abbreviations, collocations, starters)."""
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    punkt = PunktSentenceTokenizer("\n\n".join(train_texts))
    return lambda texts: [sentence_ends(t, [a for a, _ in punkt.span_tokenize(t)]) for t in texts]


def encoder_and_tokenizer(name: str | None, train_texts: list[str],
                          b: Budget) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A checkpoint's encoder and tokenizer, or a fresh encoder and a WordPiece trained on ``train_texts``."""
    if name:
        from transformers import AutoTokenizer

        from rmdlib.hub import revision

        return build_encoder(name), AutoTokenizer.from_pretrained(name, revision=revision(name))
    tok = tokens.train_wordpiece(train_texts, vocab_size=b.vocab_size, model_max_length=b.max_length)
    encoder = build_encoder(vocab_size=len(tok), hidden=b.hidden, layers=b.layers, heads=b.heads,
                            max_position=b.max_length, pad_token_id=tok.pad_token_id)
    return encoder, tok


class TaggerSplitter:
    """rmdlib's candidate tagger as a splitter; building it trains it (as ``PunktSentenceTokenizer(text)`` does).

    ``sbd_tagger`` (context head of ``b.context`` sub-tokens each side, or a linear head
    for None) fine-tuned with ``fit`` on ``train``; the epoch with the best ``dev``
    sentence-end F1 is kept.  Predicts with ``infer.predict_sentence_ends`` in batches.
    """

    def __init__(self, train: list[SbdDoc], dev: list[SbdDoc], b: Budget, encoder: PreTrainedModel,
                 tokenizer: PreTrainedTokenizerBase, device: torch.device, seed: int) -> None:
        self.tokenizer, self.device = tokenizer, device
        self.cfg = TaggingConfig(batch_size=b.batch_size, max_length=b.max_length, stride=b.stride)
        torch.manual_seed(seed)
        self.model = sbd_tagger(encoder, context=b.context, dropout=self.cfg.dropout).to(device)

        def dev_f1(_model: torch.nn.Module) -> dict[str, float]:  # _model is self.model
            pred = self([d.text for d in dev])
            f1 = metrics.boundary_scores([d.sentence_ends for d in dev], pred)["f1"]
            print(f"  dev end F1 {f1:.4f} after {time.process_time():.0f} CPU-s", flush=True)
            return {"f1": f1}

        train_cfg = TrainConfig(lr=b.lr, epochs=b.epochs, warmup_ratio=0.1, monitor="f1", mode="max", seed=seed,
                                progress=False, log_every=50)
        win = sbd_windows(train, self.tokenizer, self.cfg, strict=False)  # EWT: a few ends inside tokens
        self.history = fit(self.model, weighted_loss_fn([1.0, b.end_weight]),
                           train_loader(win, self.tokenizer, self.cfg, seed=seed, device=self.device), cfg=train_cfg, eval_fn=dev_f1, device=self.device)

    def __call__(self, texts: list[str]) -> list[list[int]]:
        return infer.predict_sentence_ends(self.model, self.tokenizer, texts, max_length=self.cfg.max_length,
                                           stride=self.cfg.stride, batch_size=self.cfg.eval_batch_size, device=self.device)


def line_break_ends(doc: SbdDoc) -> list[int]:
    """The gold ends of ``doc`` that a line break follows (paragraph ends)."""
    return [e for e in doc.sentence_ends if doc.text[e:e + 1] == "\n"]


def unreachable_ends(docs: list[SbdDoc]) -> int:
    """Gold ends inside a whitespace-free run ("end.Next"): no candidate can find them."""
    return sum(len(set(d.sentence_ends) - set(tokens.sbd_candidates(d.text)[1])) for d in docs)


def scores(docs: list[SbdDoc], pred: list[list[int]]) -> dict:
    """Sentence-end character P/R/F1, exact-sentence P/R/F1 and recall of the ends at a line break."""
    gold = [d.sentence_ends for d in docs]
    at_break = [e in set(p) for d, p in zip(docs, pred) for e in line_break_ends(d)]
    return {"end": metrics.boundary_scores(gold, pred), "sentence": metrics.sentence_scores(gold, pred),
            "line_break_recall": sum(at_break) / max(1, len(at_break))}


def timed(split: Splitter, texts: list[str]) -> tuple[list[list[int]], float]:
    """Predictions for ``texts`` and the seconds they took, after one warm-up call on the first text."""
    split(texts[:1])
    start = time.perf_counter()
    pred = split(texts)
    return pred, time.perf_counter() - start


def score_splitters(tests: dict[str, list[SbdDoc]], splitters: dict[str, Splitter], tagger: str) -> dict:
    """Every splitter on every test variant: scores, speed and the tagger's F1 minus each rule's (interval)."""
    out = {}
    for variant, docs in tests.items():
        gold, texts = [d.sentence_ends for d in docs], [d.text for d in docs]
        n_sentences = sum(map(len, gold))
        preds, rows = {}, {}
        for name, split in splitters.items():
            preds[name], seconds = timed(split, texts)
            rows[name] = {**scores(docs, preds[name]), "seconds": seconds, "sentences_per_s": n_sentences / seconds}
        for name in splitters:
            if name != tagger:
                rows[name]["tagger_minus_this"] = compare.paired_boundary_f1(
                    gold, [preds[tagger]], [preds[name]])._asdict()
        out[variant] = {"sentences": n_sentences, "documents": len(docs),
                        "unreachable_ends": unreachable_ends(docs), "splitters": rows}
        print(variant, {k: round(v["end"]["f1"], 4) for k, v in rows.items()}, flush=True)
    return out


def micro_world(seed: int, device: torch.device, quick: bool, ablation: bool) -> dict:
    """The ablation on the micro-world: rules vs tagger arms, same test documents (zoo encoder)."""
    from rmdlib import synth, zoo

    P = rmdlib.setup(seed=seed, profile="offline")
    ladder = MICRO_ABLATION if ablation else MICRO_ARMS
    n_max = 200 if quick else max(arm["n_train"] for _, arm in ladder)
    docs = synth.sbd_splits(seed=seed, n_train=n_max, n_val=100, n_test=100)
    tok = zoo.tokenizer(P)
    rules = {"regex (rmdlib)": regex_splitter(), "pySBD": pysbd_splitter(), "spaCy sentencizer": spacy_splitter(),
             "NLTK Punkt": punkt_splitter([d.text for d in docs["train"]])}
    arms, results = {}, {}
    for name, arm in ladder[:2] if quick else ladder:
        b = replace(Budget(), epochs=1 if quick else 3, lr=2e-3, context=arm["context"],  # the chapter's
                    end_weight=arm.get("end_weight", 1.0))
        encoder = zoo.encoder(P) if arm.get("pretrained", True) else build_encoder(
            vocab_size=len(tok), hidden=zoo.PRETRAIN.hidden, layers=zoo.PRETRAIN.layers, heads=zoo.PRETRAIN.heads,
            max_position=zoo.PRETRAIN.max_length, pad_token_id=tok.pad_token_id)
        start, cpu = time.perf_counter(), time.process_time()
        tagger = TaggerSplitter(docs["train"][:min(arm["n_train"], n_max)], docs["validation"], b, encoder, tok,
                                device, seed)
        arms[name] = tagger
        results[name] = {"train_seconds": time.perf_counter() - start, "train_cpu_seconds": time.process_time() - cpu,
                         "dev_evals": tagger.history.evals, **asdict(b)}
    best = max(arms, key=lambda n: max(e["f1"] for e in arms[n].history.evals))  # chosen on validation, not test
    table = score_splitters({"micro-world test": docs["test"]},
                            {**rules, **{f"tagger: {n}": a for n, a in arms.items()}}, f"tagger: {best}")
    return {"arms": results, "chosen_on_validation": best, "comparison": table,
            "n_train_max": n_max, "n_val": len(docs["validation"]), "n_test": len(docs["test"])}


def ewt(data: Path, b: Budget, encoder_name: str | None, device: torch.device, seed: int) -> dict:
    """UD English EWT, running text with paragraph breaks and without; the tagger trains on both variants."""
    paths = {s: data / "ud_english_ewt" / f"en_ewt-ud-{s}.conllu" for s in SPLITS}
    sentences = {s: read_conllu(p) for s, p in paths.items()}
    docs = {(s, v): conllu_documents(sentences[s], paragraph_sep=sep)
            for s in SPLITS for v, sep in (("paragraphs", "\n"), ("flat", " "))}
    train = [d for v in ("paragraphs", "flat") for d in docs[("train", v)][:b.max_train_docs]]
    dev = docs[("dev", "paragraphs")][:b.dev_docs] + docs[("dev", "flat")][:b.dev_docs]
    start, cpu = time.perf_counter(), time.process_time()
    encoder, tok = encoder_and_tokenizer(encoder_name, [d.text for d in docs[("train", "paragraphs")]], b)
    tagger = TaggerSplitter(train, dev, b, encoder, tok, device, seed)
    trained = {"train_seconds": time.perf_counter() - start, "train_cpu_seconds": time.process_time() - cpu,
               "dev_evals": tagger.history.evals}
    punkt = punkt_splitter([d.text for d in docs[("train", "paragraphs")]])
    splitters = {"regex (rmdlib)": regex_splitter(), "pySBD": pysbd_splitter(), "spaCy sentencizer": spacy_splitter(),
                 "NLTK Punkt": punkt, TAGGER: tagger}
    tests = {"with paragraph breaks": docs[("test", "paragraphs")], "without (joined by spaces)": docs[("test", "flat")]}
    return {"tagger": trained, "comparison": score_splitters(tests, splitters, TAGGER),
            "train_documents": len(train), "train_unreachable_ends": unreachable_ends(train)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sbd_vs_splitters")
    parser.add_argument("--part", choices=("micro", "ewt", "all"), default="all")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    size.add_argument("--gpu", action="store_true", help="the larger budget for one GPU")
    parser.add_argument("--encoder", help="Hub id or folder of a pretrained encoder for EWT (default: fresh)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ablation", action="store_true", help="the micro-world ablation ladder (+7 CPU-min)")
    args = parser.parse_args(argv)
    out = args.out.with_name(args.out.name + ("-quick" if args.quick else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part != "micro" and not (args.data / "ud_english_ewt").is_dir():
        print(f"missing {args.data / 'ud_english_ewt'}: this benchmark reads ../shared/data", file=sys.stderr)
        return 2
    b = QUICK if args.quick else GPU if args.gpu else Budget()
    P = rmdlib.setup(seed=args.seed, profile="full")
    t0, cpu0, load_start = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    report = {"benchmark": "sbd_vs_splitters", "budget": asdict(b), "seed": args.seed, "hardware": hardware(P.device),
              "encoder": args.encoder or f"fresh ELECTRA-shaped encoder (hidden {b.hidden}, {b.layers} layers), NOT "
                                         f"pretrained; WordPiece ({b.vocab_size}) trained on EWT train",
              "python": platform.python_version(), "threads": torch.get_num_threads(),
              "versions": {p: version(p) for p in ("torch", "transformers", "pysbd", "spacy", "nltk")},
              "notes": [PUNKT_NOTE, "tagger_minus_this: the tagger's end F1 minus this splitter's, with a 95 % "
                        "paired bootstrap interval over test documents (compare.paired_boundary_f1)."],
              "published_end_f1": PUBLISHED}
    if args.part in ("micro", "all"):
        report["micro_world"] = micro_world(args.seed, P.device, args.quick, args.ablation)
        out.with_suffix(".partial.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.part in ("ewt", "all"):
        report["ewt"] = ewt(args.data, b, args.encoder, P.device, args.seed)
    report.update(total_seconds=time.perf_counter() - t0, total_cpu_seconds=time.process_time() - cpu0,
                  load_average_1min={"start": load_start, "end": os.getloadavg()[0]})  # other work on the machine
    out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


def _table(comparison: dict, tagger: str) -> list[str]:
    lines = []
    for variant, v in comparison.items():
        lines += ["", f"**{variant}**: {v['documents']} documents, {v['sentences']} sentences, "
                  f"{v['unreachable_ends']} gold ends inside a whitespace-free token (no candidate can find them).",
                  "", "| splitter | end P | end R | end F1 | tagger − this (95 % CI) | sentence F1 | line-break R "
                  "| sentences/s |", "|---|---|---|---|---|---|---|---|"]
        for name, r in v["splitters"].items():
            e, d = r["end"], r.get("tagger_minus_this")
            ci = f"{100 * d['diff']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]" if d else "–"
            bold = "**" if name == tagger else ""
            lines.append(f"| {bold}{name}{bold} | {100 * e['precision']:.1f} | {100 * e['recall']:.1f} | "
                         f"{100 * e['f1']:.1f} | {ci} | {100 * r['sentence']['f1']:.1f} | "
                         f"{100 * r['line_break_recall']:.1f} | {r['sentences_per_s']:.0f} |")
    return lines


def markdown(report: dict) -> str:
    """The results tables for benchmarks/README.md (scores x 100)."""
    lines = [f"{report['hardware']}; torch {report['versions']['torch']}, {report['threads']} thread(s); total "
             f"{report['total_seconds'] / 60:.1f} min wall, {report['total_cpu_seconds'] / 60:.1f} min CPU; 1-min load "
             f"average {report['load_average_1min']['start']:.1f} at start, "
             f"{report['load_average_1min']['end']:.1f} at end (other jobs shared the machine)."]
    if "micro_world" in report:
        m = report["micro_world"]
        lines += ["", f"### Micro-world ({m['n_test']} test documents; zoo encoder and tokenizer; 3 epochs each)", "",
                  "| tagger arm | train CPU s | best validation end F1 |", "|---|---|---|"]
        lines += [f"| {n} | {a['train_cpu_seconds']:.0f} | {100 * max(e['f1'] for e in a['dev_evals']):.1f} |"
                  for n, a in m["arms"].items()]
        lines += _table(m["comparison"], f"tagger: {m['chosen_on_validation']}")
        lines += ["", f"Intervals are against the arm chosen on validation: {m['chosen_on_validation']}."]
    if "ewt" in report:
        t = report["ewt"]["tagger"]
        lines += ["", f"### UD English EWT test", "", f"Tagger: {report['encoder']}; context head "
                  f"{report['budget']['context']}; trained on {report['ewt']['train_documents']} documents (the "
                  f"540 training documents in both variants) in {t['train_cpu_seconds'] / 60:.1f} CPU-min, best dev "
                  f"end F1 {100 * max(e['f1'] for e in t['dev_evals']):.1f}."]
        lines += _table(report["ewt"]["comparison"], TAGGER)
    lines += ["", report["notes"][0] + " " + report["notes"][1]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
