"""RTD vs MLM vs no pretraining, at the same wall-clock budget, on real text.

The ELECTRA paper's headline claim in miniature: pretrain one small backbone
with replaced token detection and, separately, with masked language modeling
for the same wall-clock budget on public-domain books
(``../shared/data/gutenberg_en``, Project Gutenberg headers and footers
stripped); add a randomly initialised control; fine-tune each identically on
CoNLL-2003 (``../shared/data/conll2003``) and report test entity F1 (seqeval
default mode = conlleval) as mean ± std over fine-tuning seeds.

Same wall-clock budget: both objectives are timed for a few steps, alternately
(so a busy machine slows both alike); each gets ``budget / seconds-per-step``
optimizer steps. The measured pretraining time and tokens/s are reported too.

    python benchmarks/rtd_vs_mlm.py                     # 2 CPU cores, about an hour
    python benchmarks/rtd_vs_mlm.py --gpu               # larger budget and model on a GPU
    python benchmarks/rtd_vs_mlm.py --quick             # a smoke run of a few minutes

Writes ``benchmarks/results/rtd_vs_mlm.json`` and ``.md`` (the table for
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset
from transformers import AutoTokenizer

import rmdlib
from rmdlib import rtd
from rmdlib.data import load_ner
from rmdlib.models import build_encoder, mean_pairwise_cosine
from rmdlib.report import hardware
from rmdlib.tagging import TaggingConfig, evaluate_tagger, finetune_tagger
from rmdlib.tokens import train_wordpiece
from rmdlib.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
START = re.compile(r"^\*\*\* ?START OF", re.MULTILINE)
END = re.compile(r"^\*\*\* ?END OF", re.MULTILINE)


@dataclass(frozen=True)
class Budget:
    """Sizes of one benchmark run (CPU defaults: about an hour on 2 cores)."""

    pretrain_seconds: float = 600.0  # wall-clock budget per objective
    hidden: int = 256  # discriminator / MLM backbone width (ELECTRA-Small: 256)
    layers: int = 4  # backbone depth (ELECTRA-Small: 12; 4 keeps CPU steps fast)
    heads: int = 4
    vocab_size: int = 8000  # cased WordPiece trained on the books
    max_length: int = 128  # pretraining sequence length in sub-tokens
    batch_size: int = 8  # pretraining sequences per step: on 2 CPU cores, more small steps beat fewer large ones
    pretrain_lr: float = 1e-3  # tiny models tolerate ELECTRA-Small's 5e-4 doubled
    init_std: float = 0.02  # BERT's N(0, 0.02) for every arm; 0.1 left a 256-wide encoder stuck at all-O in fine-tuning
    finetune_epochs: int = 1  # one pass over CoNLL-2003 (~440 steps of 32): a probe, not a state-of-the-art run
    finetune_lr: float = 1e-3  # of 3e-4 and 1e-3, the better validation F1 (untrained arm, 3,000 sentences, 2 epochs)
    finetune_batch: int = 32
    seeds: tuple[int, ...] = (0, 1, 2)  # fine-tuning seeds
    max_books: int | None = None  # use all books
    n_sequences: int = 60_000  # packed pretraining sequences kept (more than a CPU budget consumes)
    max_train_sentences: int | None = None  # fine-tune on all 14,041 CoNLL-2003 training sentences


QUICK = Budget(pretrain_seconds=60.0, hidden=64, layers=2, heads=2, vocab_size=4000, finetune_epochs=1,
               seeds=(0,), max_books=6, n_sequences=4000, max_train_sentences=1000)
GPU = Budget(pretrain_seconds=1800.0, hidden=256, layers=12, heads=4, vocab_size=16000, batch_size=128,
             n_sequences=2_000_000, finetune_epochs=3)


def book_paragraphs(folder: Path, max_books: int | None = None) -> list[str]:
    """Paragraphs of every book under ``folder``, Gutenberg header and footer removed."""
    files = sorted(folder.rglob("*.txt"))[:max_books]
    if not files:
        raise FileNotFoundError(f"no books (*.txt) under {folder}")
    paragraphs = []
    for path in files:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        start, end = START.search(text), END.search(text)
        if not start or not end:
            raise ValueError(f"{path}: no '*** START OF' / '*** END OF' markers")
        body = text[text.index("\n", start.start()) + 1: end.start()]
        paragraphs += [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]
    return paragraphs


def pack(tokenizer, paragraphs: list[str], max_length: int, limit: int) -> torch.Tensor:
    """Concatenate the paragraphs' sub-tokens and cut them into [CLS] ... [SEP] rows (N, max_length)."""
    body = max_length - 2
    ids: list[int] = []
    for start in range(0, len(paragraphs), 2000):
        for row in tokenizer(paragraphs[start:start + 2000], add_special_tokens=False, verbose=False)["input_ids"]:
            ids += row
        if len(ids) >= limit * body:
            break
    n = min(limit, len(ids) // body)
    rows = torch.tensor(ids[: n * body]).view(n, body)  # (N, T - 2)
    cls = torch.full((n, 1), tokenizer.cls_token_id)
    sep = torch.full((n, 1), tokenizer.sep_token_id)
    return torch.cat([cls, rows, sep], dim=1)  # (N, T)


def _loader(rows: torch.Tensor, batch_size: int, seed: int) -> DataLoader:
    def collate(items):
        ids = torch.stack([x[0] for x in items])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return DataLoader(TensorDataset(rows), batch_size=batch_size, shuffle=True, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed), drop_last=True)


def _objectives(tokenizer, b: Budget, device: torch.device):
    """(model, loss_fn) for RTD and MLM, freshly initialised and seeded alike."""
    special = tokenizer.all_special_ids
    kw = dict(hidden=b.hidden, layers=b.layers, heads=b.heads, max_position=b.max_length, init_std=b.init_std)
    torch.manual_seed(0)
    pair = rtd.build_pair(tokenizer.vocab_size, **kw).to(device)
    torch.manual_seed(0)
    mlm = rtd.build_mlm(tokenizer.vocab_size, **kw).to(device)
    rtd_fn = rtd.make_rtd_loss_fn(mask_token_id=tokenizer.mask_token_id, special_ids=special,
                                  generator=torch.Generator(device).manual_seed(0))
    mlm_fn = rtd.make_mlm_loss_fn(mask_token_id=tokenizer.mask_token_id, special_ids=special,
                                  generator=torch.Generator(device).manual_seed(0))
    return {"rtd": (pair, rtd_fn), "mlm": (mlm, mlm_fn)}


def seconds_per_step(objectives, rows: torch.Tensor, b: Budget, device: torch.device, rounds: int = 3,
                     steps: int = 4) -> dict:
    """Time both objectives on copies of their models, alternating, after one warm-up round."""
    times = {name: [] for name in objectives}
    for r in range(rounds + 1):
        for name, (model, loss_fn) in objectives.items():
            cfg = TrainConfig(lr=b.pretrain_lr, max_steps=steps, progress=False, log_every=steps)
            start = time.perf_counter()
            fit(_clone(model), loss_fn, _loader(rows, b.batch_size, seed=r), cfg=cfg, device=device)
            if r:  # round 0 warms up allocators and kernels
                times[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(t) for name, t in times.items()}


def _untrained(tokenizer, b: Budget):
    """The no-pretraining control: the same backbone and initialisation, never trained."""
    torch.manual_seed(0)
    return rtd.build_mlm(tokenizer.vocab_size, hidden=b.hidden, layers=b.layers, heads=b.heads,
                         max_position=b.max_length, init_std=b.init_std)


def _clone(model):
    import copy

    return copy.deepcopy(model)


def pretrain(objectives, rows, b: Budget, steps: dict[str, int], device: torch.device) -> dict:
    """Pretrain each objective for its step count; return timing and the final logs."""
    out = {}
    for name, (model, loss_fn) in objectives.items():
        cfg = TrainConfig(lr=b.pretrain_lr, max_steps=steps[name], warmup_ratio=0.05, progress=False,
                          log_every=max(1, steps[name] // 20))
        start = time.perf_counter()
        history = fit(model, loss_fn, _loader(rows, b.batch_size, seed=1), cfg=cfg, device=device)
        seconds = time.perf_counter() - start
        tokens = steps[name] * b.batch_size * b.max_length
        out[name] = {"steps": steps[name], "seconds": seconds, "tokens_per_s": tokens / seconds,
                     "final": history.train[-1]}
    return out


def pretrain_and_save(books: Path, b: Budget, device: torch.device, saved: Path) -> None:
    """Train the tokenizer, time and pretrain both objectives; save the three encoders and the timings."""
    t0 = time.perf_counter()
    paragraphs = book_paragraphs(books, b.max_books)
    tokenizer = train_wordpiece(paragraphs, vocab_size=b.vocab_size, model_max_length=b.max_length)
    rows = pack(tokenizer, paragraphs, b.max_length, b.n_sequences)
    print(f"{len(paragraphs)} paragraphs -> {rows.shape[0]} sequences of {b.max_length} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    objectives = _objectives(tokenizer, b, device)
    per_step = seconds_per_step(objectives, rows, b, device)
    steps = {name: max(1, int(b.pretrain_seconds / s)) for name, s in per_step.items()}
    print(f"seconds/step {per_step} -> steps {steps}", flush=True)
    pretrained = pretrain(objectives, rows, b, steps, device)
    for name, r in pretrained.items():
        print(f"pretrain {name}: {r['steps']} steps in {r['seconds']:.0f} s, {r['tokens_per_s']:.0f} tokens/s",
              flush=True)
    models = {"rtd": objectives["rtd"][0].discriminator, "mlm": objectives["mlm"][0],
              "none": _untrained(tokenizer, b)}  # none: the MLM arm's backbone, as initialised
    for name, model in models.items():
        model.save_pretrained(saved / name)
        tokenizer.save_pretrained(saved / name)
    run = {"budget": asdict(b), "seconds_per_step": per_step, "pretrain": pretrained}
    (saved / "pretrain.json").write_text(json.dumps(run, indent=2), encoding="utf-8")


def collapse(saved: Path, conll: Path, n_sentences: int = 64) -> dict[str, float]:
    """Mean pairwise cosine of each saved encoder's last hidden states on CoNLL-2003 test sentences (1 = collapsed)."""
    words = load_ner(conll)["test"]["tokens"][:n_sentences]
    out = {}
    for name in ("rtd", "mlm", "none"):
        tokenizer = AutoTokenizer.from_pretrained(saved / name)
        batch = tokenizer(list(words), is_split_into_words=True, padding=True, truncation=True, return_tensors="pt")
        out[name] = mean_pairwise_cosine(build_encoder(saved / name).eval(), batch["input_ids"], batch["attention_mask"])
    return out


def finetune_all(encoders: dict, tokenizer, b: Budget, conll: Path, device: torch.device) -> dict:
    """Fine-tune every encoder with every seed on CoNLL-2003; test entity F1 per run."""
    ds = load_ner(conll)
    if b.max_train_sentences:
        ds["train"] = ds["train"].select(range(b.max_train_sentences))
    cfg = TaggingConfig(batch_size=b.finetune_batch, max_length=b.max_length)
    results = {name: [] for name in encoders}
    for seed in b.seeds:
        for name, make in encoders.items():  # alternate arms within a seed
            rmdlib.setup(seed=seed, profile="full", verbose=False)
            train_cfg = TrainConfig(lr=b.finetune_lr, epochs=b.finetune_epochs, seed=seed, monitor="f1",
                                    mode="max", progress=False, log_every=50)
            start = time.perf_counter()
            model, _ = finetune_tagger(make().to(device), ds, tokenizer, train_cfg, cfg, device=device)
            f1 = evaluate_tagger(model, tokenizer, ds["test"], cfg, device=device)["f1"]
            results[name].append({"seed": seed, "test_f1": f1, "seconds": time.perf_counter() - start})
            print(f"  finetune {name:5s} seed {seed}: test F1 {f1:.4f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "rtd_vs_mlm")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    size.add_argument("--gpu", action="store_true", help="the larger budget for one GPU")
    parser.add_argument("--budget-seconds", type=float, help="override the pretraining budget per objective")
    parser.add_argument("--pretrain-lr", type=float, help="override the pretraining peak lr (both objectives)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--finetune-only", action="store_true",
                        help="reuse the encoders an earlier run saved beside --out and only fine-tune")
    parser.add_argument("--collapse-only", action="store_true",
                        help="only measure the saved encoders' representation collapse (adds it to the JSON)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    books, conll = args.data / "gutenberg_en", args.data / "conll2003"
    for path in (books, conll):
        if not path.is_dir():
            print(f"missing {path}: this benchmark reads ../shared/data", file=sys.stderr)
            return 2
    b = QUICK if args.quick else GPU if args.gpu else Budget()
    if args.budget_seconds:
        b = replace(b, pretrain_seconds=args.budget_seconds)
    if args.pretrain_lr:
        b = replace(b, pretrain_lr=args.pretrain_lr)
    P = rmdlib.setup(seed=0, profile="full")
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    saved = args.out.parent / f"{args.out.name}_encoders"  # rtd/, mlm/, none/ and pretrain.json
    if not (args.finetune_only or args.collapse_only):
        pretrain_and_save(books, b, P.device, saved)
    tokenizer = AutoTokenizer.from_pretrained(saved / "rtd")
    run = json.loads((saved / "pretrain.json").read_text(encoding="utf-8"))
    if run["budget"] != json.loads(json.dumps(asdict(b))):
        print(f"{saved} was pretrained with another budget: run without --finetune-only", file=sys.stderr)
        return 2
    per_step, pretrained = run["seconds_per_step"], run["pretrain"]
    cosines = collapse(saved, conll)
    print(f"mean pairwise cosine of the last hidden states: {cosines}", flush=True)
    if args.collapse_only:
        report = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        report["mean_pairwise_cosine"] = cosines
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
        return 0
    encoders = {name: (lambda name=name: build_encoder(saved / name)) for name in ("rtd", "mlm", "none")}
    finetuned = finetune_all(encoders, tokenizer, b, conll, P.device)
    report = {
        "benchmark": "rtd_vs_mlm", "budget": asdict(b), "hardware": hardware(P.device),
        "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "seconds_per_step": per_step, "pretrain": pretrained, "finetune": finetuned,
        "mean_pairwise_cosine": cosines,  # of the last hidden states on CoNLL test sentences: 1 = collapsed
        "summary": {name: {"mean_f1": statistics.mean(r["test_f1"] for r in runs),
                           "std_f1": statistics.stdev([r["test_f1"] for r in runs]) if len(runs) > 1 else 0.0}
                    for name, runs in finetuned.items()},
        "total_seconds": time.perf_counter() - t0,
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},  # other work on the machine
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    """The results table for benchmarks/README.md."""
    b, pre, summ = report["budget"], report["pretrain"], report["summary"]
    cos = report.get("mean_pairwise_cosine", {})
    load = report["load_average_1min"]
    lines = [f"Budget {b['pretrain_seconds']:.0f} s of pretraining per objective; backbone hidden {b['hidden']}, "
             f"{b['layers']} layers; {len(b['seeds'])} fine-tuning seeds; {report['hardware']}; "
             f"torch {report['torch']}, {report['threads']} CPU thread(s); total {report['total_seconds'] / 60:.0f} min; "
             f"1-min load average {load['start']:.1f} at start, {load['end']:.1f} at end.", "",
             "| encoder | pretraining steps | pretraining s | pretraining tokens/s | last-layer mean pairwise cosine "
             "| CoNLL-2003 test F1 (mean ± std) |", "|---|---|---|---|---|---|"]
    for name in ("rtd", "mlm", "none"):
        p = pre.get(name)
        cells = [f"{p['steps']}", f"{p['seconds']:.0f}", f"{p['tokens_per_s']:.0f}"] if p else ["0", "0", "–"]
        cells.append(f"{cos[name]:.3f}" if name in cos else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {summ[name]['mean_f1']:.4f} ± {summ[name]['std_f1']:.4f} |")
    rtd = pre["rtd"]["final"]
    r = rtd["replaced_frac"]
    lines += ["", f"RTD at its last step: discriminator loss {rtd['disc_loss']:.4f} against "
              f"H(r) = {-(r * math.log(r) + (1 - r) * math.log(1 - r)):.4f} for a constant answer "
              f"(r = {r:.3f} replaced), recall {rtd['disc_recall']:.3f}; generator accuracy {rtd['gen_acc']:.3f}. "
              f"MLM accuracy at its last step {pre['mlm']['final']['gen_acc']:.3f}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
