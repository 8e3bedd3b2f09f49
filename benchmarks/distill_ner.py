"""Distilling a CoNLL-2003 tagger into a student with at most a quarter of its parameters.

One run, in turn: the teacher (a 4-layer ELECTRA-Small-width encoder, fine-tuned with
``rmdlib.tagging.finetune_tagger``, best validation F1 kept), then for every seed two
students of the same small shape from the same initial weights, trained with the same
budget (epochs, batch, lr, schedule, validation selection):

* ``hard``: token cross-entropy on the gold tags only;
* ``distilled``: ``rmdlib.distill.distill_loss_fn(teacher, cache=True)``,
  alpha * T^2 * KL(teacher || student) + (1 - alpha) * CE, with T and alpha fixed in the budget
  (not tuned on the test set); the teacher runs once per training window, and later epochs
  reuse its logits.

Reported, all from this run: test entity F1 (seqeval default mode, one tag per word,
nothing truncated), parameters, and CPU inference speed in sentences/s on the test split
(``rmdlib.infer.predict_tags``, one sentence per call and batches of 128; 1 torch thread
unless ``--threads``), each as a ratio to the teacher.  Goal set by the issue: the distilled
student keeps >= 95 % of the teacher's F1 at >= 3x its CPU speed and beats the hard-label student.

    python benchmarks/distill_ner.py --threads 1    # 2 CPU cores: about 26 minutes
    python benchmarks/distill_ner.py --quick        # a smoke run of a few minutes

Writes ``benchmarks/results/distill_ner.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
from torch import nn
from transformers import ElectraModel

import rmdlib
from rmdlib.data import load_ner
from rmdlib.distill import distill_loss_fn
from rmdlib.infer import predict_tags
from rmdlib.models import electra_config
from rmdlib.report import hardware
from rmdlib.tagging import TaggingConfig, evaluate_tagger, finetune_tagger
from rmdlib.tokens import train_wordpiece
from rmdlib.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shape:
    """An ELECTRA encoder's size."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    embedding_size: int


@dataclass(frozen=True)
class Budget:
    """Sizes and hyper-parameters of the run (CPU defaults)."""

    teacher: Shape = Shape(hidden=256, layers=4, heads=4, intermediate=1024, embedding_size=128)
    student: Shape = Shape(hidden=128, layers=2, heads=2, intermediate=512, embedding_size=64)
    vocab_size: int = 8000  # cased WordPiece trained on the CoNLL-2003 training words
    init_std: float = 0.02
    teacher_epochs: int = 3
    student_epochs: int = 3  # the same for both students
    lr: float = 1e-3  # from-scratch encoders (rtd_vs_mlm.py, ner_vs_hf_trainer.py use the same)
    batch_size: int = 32
    temperature: float = 2.0  # Hinton et al. 2015 use 1-20; DistilBERT 2
    alpha: float = 0.5  # weight of the soft-target term
    cache_teacher: bool = True  # teacher logits computed once per window, reused in later epochs (exact: eval mode)
    seeds: tuple[int, ...] = (0, 1, 2)  # students; the teacher uses the first
    max_train_sentences: int | None = None  # all 14,041
    max_eval_sentences: int | None = None  # validation used for model selection: all 3,250


QUICK = Budget(teacher=Shape(128, 2, 2, 512, 64), student=Shape(64, 1, 1, 128, 32), vocab_size=3000,
               teacher_epochs=1, student_epochs=1, seeds=(0,), max_train_sentences=1500, max_eval_sentences=300)


def encoder(shape: Shape, vocab_size: int, pad_id: int, init_std: float, seed: int) -> ElectraModel:
    """A fresh ELECTRA encoder drawn from ``seed``."""
    config = electra_config(vocab_size, hidden=shape.hidden, layers=shape.layers, heads=shape.heads,
                            intermediate=shape.intermediate, embedding_size=shape.embedding_size, init_std=init_std,
                            pad_token_id=pad_id)
    torch.manual_seed(seed)
    return ElectraModel(config)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def speed(model: nn.Module, tok: Any, sentences: list[list[str]], batch_size: int, device: torch.device) -> float:
    """Sentences/s of ``predict_tags`` over ``sentences`` (batch_size 1: one call per sentence)."""
    start = time.perf_counter()
    if batch_size == 1:
        for words in sentences:
            predict_tags(model, tok, [words], batch_size=1, device=device)
    else:
        predict_tags(model, tok, sentences, batch_size=batch_size, device=device)
    return len(sentences) / (time.perf_counter() - start)


def train(b: Budget, ds: Any, tok: Any, shape: Shape, seed: int, epochs: int, tagging: TaggingConfig,
          teacher: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """Fine-tune a fresh encoder of ``shape`` (distilled from ``teacher`` if given); model and facts."""
    P = rmdlib.setup(seed=seed, profile="full", verbose=False)
    enc = encoder(shape, len(tok), tok.pad_token_id, b.init_std, seed)
    cfg = TrainConfig(lr=b.lr, epochs=epochs, warmup_ratio=0.1, monitor="f1", mode="max", seed=seed,
                      progress=False, log_every=50)
    loss_fn = None if teacher is None else distill_loss_fn(teacher, temperature=b.temperature, alpha=b.alpha,
                                                           cache=b.cache_teacher)
    start = time.perf_counter()
    model, history = finetune_tagger(enc, ds, tok, cfg, tagging, loss_fn=loss_fn, device=P.device)
    train_s = time.perf_counter() - start
    test = evaluate_tagger(model, tok, ds["test"], tagging, device=P.device)
    return model, {"seed": seed, "test_f1": test["f1"], "precision": test["precision"], "recall": test["recall"],
                   "best_val_f1": history.best[1], "best_step": history.best[0], "train_s": train_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "distill_ner")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, training and timing (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not (args.data / "conll2003").is_dir():
        print(f"missing {args.data / 'conll2003'}: this benchmark reads ../shared/data", file=sys.stderr)
        return 2
    b = QUICK if args.quick else Budget()
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    P = rmdlib.setup(seed=0, profile="full")
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    ds = load_ner(args.data / "conll2003")
    tok = train_wordpiece([" ".join(w) for w in ds["train"]["tokens"]], vocab_size=b.vocab_size, model_max_length=128)
    if b.max_train_sentences:
        ds["train"] = ds["train"].select(range(b.max_train_sentences))
    if b.max_eval_sentences:
        ds["validation"] = ds["validation"].select(range(b.max_eval_sentences))
    tagging = TaggingConfig(batch_size=b.batch_size)
    teacher, teacher_run = train(b, ds, tok, b.teacher, b.seeds[0], b.teacher_epochs, tagging)
    teacher.eval()
    print(f"teacher: test F1 {teacher_run['test_f1']:.4f}, {teacher_run['train_s']:.0f} s", flush=True)
    runs: dict[str, list[dict]] = {"hard": [], "distilled": []}
    student = None
    for seed in b.seeds:
        for arm in runs:  # alternate arms within a seed
            student, r = train(b, ds, tok, b.student, seed, b.student_epochs, tagging,
                               teacher=teacher if arm == "distilled" else None)
            runs[arm].append(r)
            print(f"  {arm:9s} seed {seed}: test F1 {r['test_f1']:.4f}, {r['train_s']:.0f} s", flush=True)
    test_words = ds["test"]["tokens"]
    timing = {}
    for _ in range(2):  # each model measured twice, alternating; the faster pass counts
        for name, model in (("teacher", teacher), ("student", student)):
            model.eval()
            for bs in (1, 128):
                timing[name, bs] = max(timing.get((name, bs), 0.0), speed(model, tok, test_words, bs, P.device))
    params = {"teacher": n_params(teacher), "student": n_params(student)}
    summary = {arm: {"mean_f1": statistics.mean(r["test_f1"] for r in rows),
                     "std_f1": statistics.stdev(r["test_f1"] for r in rows) if len(rows) > 1 else 0.0}
               for arm, rows in runs.items()}
    teacher_f1 = teacher_run["test_f1"]
    for arm in summary.values():
        arm["f1_over_teacher"] = arm["mean_f1"] / teacher_f1
    speeds = {f"{name}_batch{bs}": v for (name, bs), v in timing.items()}
    report = {
        "benchmark": "distill_ner", "budget": asdict(b), "hardware": hardware(P.device), "threads": args.threads,
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "sentences": {k: v.num_rows for k, v in ds.items()}, "params": params,
        "params_ratio": params["student"] / params["teacher"], "teacher": teacher_run, "runs": runs,
        "summary": summary, "sentences_per_s": speeds,
        "speedup": {str(bs): timing[("student", bs)] / timing[("teacher", bs)] for bs in (1, 128)},
        "total_seconds": time.perf_counter() - t0,
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    """The results table for benchmarks/README.md."""
    b, summ, sp, load = report["budget"], report["summary"], report["speedup"], report["load_average_1min"]
    t, s = b["teacher"], b["student"]
    lines = [f"Teacher: fresh ELECTRA encoder, hidden {t['hidden']}, {t['layers']} layers, {b['teacher_epochs']} "
             f"epoch(s), seed {b['seeds'][0]}. Students: hidden {s['hidden']}, {s['layers']} layers, "
             f"{b['student_epochs']} epoch(s), {len(b['seeds'])} seed(s); distilled with T = {b['temperature']:g}, "
             f"alpha = {b['alpha']:g}. {report['sentences']['train']} training sentences, batch {b['batch_size']}, "
             f"lr {b['lr']:g}, best validation F1 kept. {report['hardware']}; "
             f"torch {report['torch']}, transformers {report['transformers']}; total "
             f"{report['total_seconds'] / 60:.0f} min; 1-min load average {load['start']:.1f} at start, "
             f"{load['end']:.1f} at end.", "",
             "| model | parameters | / teacher | test F1 (mean ± std) | / teacher F1 | sentences/s, 1 at a time "
             "| / teacher | sentences/s, batches of 128 | / teacher |", "|---|---|---|---|---|---|---|---|---|"]
    speeds, params = report["sentences_per_s"], report["params"]
    lines.append(f"| teacher | {params['teacher']:,} | 1.00 | {report['teacher']['test_f1']:.4f} (1 run) | 1.00 "
                 f"| {speeds['teacher_batch1']:.0f} | 1.00 | {speeds['teacher_batch128']:.0f} | 1.00 |")
    for arm in ("hard", "distilled"):
        a = summ[arm]
        lines.append(f"| student, {arm} | {params['student']:,} | {report['params_ratio']:.2f} "
                     f"| {a['mean_f1']:.4f} ± {a['std_f1']:.4f} | {a['f1_over_teacher']:.3f} "
                     f"| {speeds['student_batch1']:.0f} | {sp['1']:.2f} | {speeds['student_batch128']:.0f} "
                     f"| {sp['128']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
