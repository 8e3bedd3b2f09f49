"""rmdlib's NER fine-tuning vs the Hugging Face ``Trainer`` token-classification recipe.

Three arms, run in turn for every seed (a busy machine slows all alike), on CoNLL-2003
(``../shared/data/conll2003``): ``rmdlib`` (``rmdlib.tagging``: windows, length-grouped
batches, ``fit``; ``finetune_tagger`` without validation); ``hf_default``
(``AutoModelForTokenClassification`` + ``Trainer`` + ``DataCollatorForTokenClassification``,
first-sub-token labels, as users copy it); ``hf_group_by_length`` (the same with HF's documented
speed option, which transformers 5 spells ``train_sampling_strategy="group_by_length"``).

Identical: starting encoder weights and tokenizer (one ``save_pretrained`` folder), epochs,
batch size, peak lr, warm-up steps then linear decay, AdamW betas and weight decay (matrices
and embeddings decayed, biases and LayerNorms not), clipping, classifier dropout, seed, no
evaluation or best-model selection while training, precision (fp32 on CPU, bf16 autocast on a
GPU), and the scorer: one tag per word at its first sub-token, entity F1 by
``rmdlib.metrics.entity_scores`` (seqeval default mode = conlleval).
Different, as each library does it: rmdlib windows sentences longer than ``max_length``, HF
truncates them (cut test words are tagged ``O`` and counted); batch order and the head's draw
from the seed; the AdamW kernel (HF fused, rmdlib foreach on CPU); rmdlib's loss is computed
outside the model, HF's inside.  Training tokens/s = real (non-pad) sub-tokens of all training
batches / wall time of ``fit`` or ``Trainer.train()``; tokenization and testing are timed apart.

    python benchmarks/ner_vs_hf_trainer.py --threads 1 --profile    # 1 CPU thread, about 30 minutes
    python benchmarks/ner_vs_hf_trainer.py --gpu                    # ELECTRA-Small's depth on one GPU
    python benchmarks/ner_vs_hf_trainer.py --quick --profile        # a smoke run of a few minutes

Writes ``benchmarks/results/ner_vs_hf_trainer.json``, ``.md`` and (``--profile``) ``_profile.txt``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function, schedule
from torch.utils.data import DataLoader
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                          ElectraModel, PrinterCallback, Trainer, TrainingArguments)

import rmdlib
from rmdlib.data import load_ner
from rmdlib.losses import IGNORE_INDEX
from rmdlib.metrics import entity_scores
from rmdlib.models import build_tagger, electra_config, predict_logits, tagging_loss_fn
from rmdlib.report import hardware
from rmdlib.tagging import TaggingConfig, evaluate_tagger, label_names, train_loader, windows
from rmdlib.tokens import align_labels, train_wordpiece
from rmdlib.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
HF_SAMPLERS = {"hf_default": "random", "hf_group_by_length": "group_by_length"}  # train_sampling_strategy
ARMS = ("rmdlib", *HF_SAMPLERS)
PHASES = {"data": "enumerate(DataLoader)", "forward": "model forward",  # profiler event-name prefixes
          "backward": "autograd::engine::evaluate_function", "optimizer": "Optimizer."}


@dataclass(frozen=True)
class Budget:
    """Sizes and hyper-parameters of one run (CPU defaults: ELECTRA-Small's width, 4 layers)."""

    hidden: int = 256  # ELECTRA-Small's width
    layers: int = 4  # ELECTRA-Small has 12; 4 keeps a CPU run short
    heads: int = 4
    intermediate: int = 1024
    embedding_size: int = 128  # ELECTRA-Small's factorised embeddings
    init_std: float = 0.02  # fresh encoder only: BERT's; 0.1 left this width stuck at all-O (rtd_vs_mlm.py)
    vocab_size: int = 8000  # cased WordPiece trained on the CoNLL-2003 training words
    max_length: int = 128  # sub-tokens: rmdlib's window, HF's truncation limit
    epochs: int = 1  # one pass (~440 steps of 32): three seeds x three arms fit in about 30 min on 1 CPU thread
    lr: float = 1e-3  # for a from-scratch encoder; a pretrained --encoder wants --lr 5e-5 or so
    batch_size: int = 32
    eval_batch_size: int = 128  # test prediction, both arms
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # HF's max_grad_norm default
    seeds: tuple[int, ...] = (0, 1, 2)
    max_train_sentences: int | None = None  # all 14,041
    profile_steps: int = 50  # steady-state optimizer steps per arm under torch.profiler (--profile)


QUICK = Budget(hidden=64, layers=2, heads=2, intermediate=256, embedding_size=64, vocab_size=4000, epochs=1,
               seeds=(0,), max_train_sentences=1000, profile_steps=10)
GPU = Budget(layers=12, epochs=3)  # ELECTRA-Small's shape, the usual three epochs


@dataclass(frozen=True)
class Setup:
    """What every arm shares: encoder folder, tokenizer, data in both libraries' forms, sizes, device."""

    encoder: str  # save_pretrained folder or Hub id
    tokenizer: Any
    ds: Any  # DatasetDict of tokens / ner_tags
    labels: list[str]
    rmd_train: Any  # rmdlib windows of the training split
    hf_train: Any  # HF-recipe encodings (truncated) of the training split
    b: Budget
    tagging: TaggingConfig
    warmup_steps: int  # one count for both: from a ratio, rmdlib rounds and HF takes the ceiling
    device: torch.device
    scratch: str  # the Trainer's output_dir (nothing is saved there)


class PadCounter:
    """Wraps a collate function; counts batches, real (attention_mask = 1) and padded tokens."""

    def __init__(self, collate: Callable[[list], dict]) -> None:
        self.collate, self.batches, self.tokens, self.padded = collate, 0, 0, 0

    def __call__(self, features: list) -> dict:
        batch = self.collate(features)
        mask = batch["attention_mask"]  # (B, T)
        self.batches += 1
        self.tokens += int(mask.sum())
        self.padded += mask.numel()
        return batch


def make_encoder(folder: Path, train_words: list[list[str]], b: Budget) -> str:
    """Save a fresh, seeded ELECTRA discriminator encoder and its WordPiece tokenizer; return the weights' sha256."""
    tokenizer = train_wordpiece([" ".join(w) for w in train_words], vocab_size=b.vocab_size,
                                model_max_length=b.max_length)
    config = electra_config(len(tokenizer), hidden=b.hidden, layers=b.layers, heads=b.heads,
                            intermediate=b.intermediate, embedding_size=b.embedding_size, init_std=b.init_std,
                            pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    ElectraModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def hf_encode(split: Any, tokenizer: Any, max_length: int) -> Any:
    """The recipe's tokenize_and_align_labels: truncate; label each word's first sub-token, -100 elsewhere."""
    def encode(batch: dict[str, list]) -> Any:
        enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        enc["labels"] = [align_labels(enc.word_ids(i), tags) for i, tags in enumerate(batch["ner_tags"])]
        return enc

    return split.map(encode, batched=True, remove_columns=split.column_names)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_rmdlib(s: Setup, seed: int, max_steps: int | None, attach: Callable) -> tuple[nn.Module, PadCounter, float]:
    """rmdlib's tagging path: the trained model, its batch counts and the seconds ``fit`` took."""
    rmdlib.setup(seed=seed, profile="full", verbose=False)
    model = build_tagger(s.encoder, s.labels, dropout=s.tagging.dropout).to(s.device)
    attach(model)
    cfg = TrainConfig(lr=s.b.lr, weight_decay=s.b.weight_decay, epochs=s.b.epochs, max_steps=max_steps,
                      warmup_steps=s.warmup_steps, grad_clip=s.b.grad_clip, seed=seed, progress=False, log_every=50)
    start = time.perf_counter()
    loader = train_loader(s.rmd_train, s.tokenizer, s.tagging, seed=seed, device=s.device)
    loader.collate_fn = counter = PadCounter(loader.collate_fn)
    fit(model, tagging_loss_fn(), loader, cfg=cfg, device=s.device)
    _sync(s.device)
    return model, counter, time.perf_counter() - start


def train_hf(s: Setup, seed: int, max_steps: int | None, attach: Callable, *,
             sampler: str) -> tuple[nn.Module, PadCounter, float]:
    """The HF Trainer recipe with ``train_sampling_strategy=sampler``: model, batch counts, seconds of ``train()``."""
    rmdlib.setup(seed=seed, profile="full", verbose=False)  # draws the head; Trainer re-seeds the rest
    model = AutoModelForTokenClassification.from_pretrained(
        s.encoder, id2label=dict(enumerate(s.labels)), label2id={x: i for i, x in enumerate(s.labels)})
    attach(model)
    cuda = s.device.type == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()  # what rmdlib's fit autocasts to (amp="auto")
    args = TrainingArguments(
        output_dir=s.scratch, num_train_epochs=s.b.epochs, max_steps=max_steps or -1,
        per_device_train_batch_size=s.b.batch_size, learning_rate=s.b.lr, weight_decay=s.b.weight_decay,
        warmup_steps=s.warmup_steps, lr_scheduler_type="linear", max_grad_norm=s.b.grad_clip, seed=seed,
        train_sampling_strategy=sampler, bf16=bf16, fp16=cuda and not bf16, use_cpu=not cuda,
        eval_strategy="no", save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True)
    counter = PadCounter(DataCollatorForTokenClassification(s.tokenizer))
    trainer = Trainer(model=model, args=args, train_dataset=s.hf_train, data_collator=counter,
                      processing_class=s.tokenizer)
    trainer.remove_callback(PrinterCallback)  # it prints the final metrics dict
    start = time.perf_counter()
    trainer.train()
    _sync(s.device)
    return trainer.model, counter, time.perf_counter() - start


def train_arm(s: Setup, name: str, seed: int, max_steps: int | None = None,
              attach: Callable = lambda model: None) -> tuple[nn.Module, PadCounter, float]:
    """Train one arm; ``attach(model)`` runs on the fresh model (the profiler's hooks)."""
    if name == "rmdlib":
        return train_rmdlib(s, seed, max_steps, attach)
    return train_hf(s, seed, max_steps, attach, sampler=HF_SAMPLERS[name])


def hf_test_scores(model: nn.Module, s: Setup) -> tuple[dict[str, float], int]:
    """Entity scores of an HF-recipe model (each word read at its first sub-token; words cut off are ``O``).

    Predicted in dataset order with a plain no-grad loop: ``Trainer.predict`` would return
    rows in length-grouped order for ``hf_group_by_length`` (transformers 5 groups eval batches too).
    """
    test = s.ds["test"]
    enc = hf_encode(test, s.tokenizer, s.b.max_length)
    loader = DataLoader(enc, batch_size=s.b.eval_batch_size, collate_fn=DataCollatorForTokenClassification(s.tokenizer))
    rows = [row for logits in predict_logits(model, loader, device=s.device) for row in logits.argmax(-1).tolist()]  # (T_i,)
    gold, pred, truncated = [], [], 0
    for classes, label_ids, tags in zip(rows, enc["labels"], test["ner_tags"]):
        words = [s.labels[c] for c, y in zip(classes, label_ids) if y != IGNORE_INDEX]  # (N_i,) or fewer
        truncated += len(tags) - len(words)
        pred.append(words + ["O"] * (len(tags) - len(words)))
        gold.append([s.labels[t] for t in tags])
    return entity_scores(gold, pred), truncated


def run_arm(s: Setup, name: str, seed: int) -> dict:
    """Train one arm with one seed and score it on the test set: F1, timings, token counts."""
    model, counter, train_s = train_arm(s, name, seed)
    start = time.perf_counter()
    if name == "rmdlib":  # windows: no word is cut
        scores, truncated = evaluate_tagger(model, s.tokenizer, s.ds["test"], s.tagging, device=s.device), 0
    else:
        scores, truncated = hf_test_scores(model, s)
    return {"seed": seed, "test_f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
            "train_s": train_s, "eval_s": time.perf_counter() - start, "truncated_test_words": truncated,
            "steps": counter.batches, "tokens": counter.tokens, "padded_tokens": counter.padded,
            "tokens_per_s": counter.tokens / train_s, "padding_fraction": 1 - counter.tokens / counter.padded}


class StepProbe:
    """Forward hooks: one profiler step per forward (= per optimizer step), its start time and real tokens."""

    def __init__(self, model: nn.Module, prof: profile) -> None:
        self.prof, self.starts, self.tokens, self.span = prof, [], [], None
        model.register_forward_pre_hook(self.before, with_kwargs=True)
        model.register_forward_hook(lambda module, args, output: self.span.__exit__(None, None, None))

    def before(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.prof.step()
        self.starts.append(time.perf_counter())
        self.tokens.append(int(kwargs["attention_mask"].sum()))
        self.span = record_function(PHASES["forward"])
        self.span.__enter__()


def profile_arms(s: Setup, path: Path) -> dict[str, dict[str, float]]:
    """Profile ``profile_steps`` steady steps per arm: top-15 ops to ``path``; ms per 1,000 real tokens by phase.

    Skipped: step 0 (it holds the setup inside ``fit`` / ``train()``) and step 1 (profiler warm-up).
    A phase is the inclusive CPU time of its profiler events (``PHASES``: DataLoader ``__next__``
    with sampling and collation, the model's forward, autograd's backward functions, the optimizer's
    step and zero_grad); ``other`` is the rest of the wall time (clipping, schedule, rmdlib's loss).
    """
    n, tables, out = s.b.profile_steps, [], {}
    for name in ARMS:
        probes: list[StepProbe] = []
        steps = schedule(wait=1, warmup=1, active=n, repeat=1)  # one profiler step per optimizer step
        with profile(activities=[ProfilerActivity.CPU], schedule=steps) as prof:
            train_arm(s, name, s.b.seeds[0], max_steps=n + 2, attach=lambda m: probes.append(StepProbe(m, prof)))
        wall, tokens = probes[0].starts[n + 1] - probes[0].starts[1], sum(probes[0].tokens[1:n + 1])
        events = prof.key_averages()
        ms = {p: sum(e.cpu_time_total for e in events if e.key.startswith(key)) / 1e3 for p, key in PHASES.items()}
        ms["other"] = 1e3 * wall - sum(ms.values())
        out[name] = {**{p: 1e3 * v / tokens for p, v in ms.items()}, "total": 1e6 * wall / tokens,
                     "tokens_per_step": tokens / n}
        tables.append(f"## {name}: {n} steps, {wall:.2f} s, {tokens} real tokens\n\n"
                      + events.table(sort_by="self_cpu_time_total", row_limit=15))
    path.write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    return out


def summarize(runs: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Per arm: F1 mean and std over seeds, mean tokens/s and training wall, padding; rmdlib / arm ratios."""
    out = {}
    for name, rows in runs.items():
        f1 = [r["test_f1"] for r in rows]
        out[name] = {"mean_f1": statistics.mean(f1), "std_f1": statistics.stdev(f1) if len(f1) > 1 else 0.0,
                     "tokens_per_s": statistics.mean(r["tokens_per_s"] for r in rows),
                     "train_s": statistics.mean(r["train_s"] for r in rows),
                     "padding_fraction": 1 - sum(r["tokens"] for r in rows) / sum(r["padded_tokens"] for r in rows)}
    for arm in out.values():
        arm["rmdlib_over_arm_tokens_per_s"] = out["rmdlib"]["tokens_per_s"] / arm["tokens_per_s"]
        arm["rmdlib_over_arm_train_s"] = out["rmdlib"]["train_s"] / arm["train_s"]
    return out


def prepare(args: argparse.Namespace, b: Budget, device: torch.device, scratch: str) -> tuple[Setup, dict]:
    """Load CoNLL-2003, make (or name) the encoder, tokenize the training split both ways; Setup and facts."""
    ds = load_ner(args.data / "conll2003")
    folder, facts = args.encoder, {"encoder": args.encoder or "fresh ELECTRA encoder", "encoder_sha256": None}
    if folder is None:  # the tokenizer learns from every training sentence
        folder = str(Path(scratch) / "encoder")
        facts["encoder_sha256"] = make_encoder(Path(folder), ds["train"]["tokens"], b)
    if b.max_train_sentences:
        ds["train"] = ds["train"].select(range(b.max_train_sentences))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tagging = TaggingConfig(batch_size=b.batch_size, eval_batch_size=b.eval_batch_size, max_length=b.max_length)
    start = time.perf_counter()
    rmd_train = windows(ds["train"], tokenizer, tagging)
    middle = time.perf_counter()
    hf_train = hf_encode(ds["train"], tokenizer, b.max_length)
    warmup = round(b.warmup_ratio * b.epochs * -(-ds["train"].num_rows // b.batch_size))
    facts.update(tokenize_s={"rmdlib": middle - start, "hf": time.perf_counter() - middle}, warmup_steps=warmup,
                 sentences={k: v.num_rows for k, v in ds.items()}, train_windows=rmd_train.num_rows)
    return Setup(folder, tokenizer, ds, label_names(ds), rmd_train, hf_train, b, tagging, warmup, device,
                 str(Path(scratch) / "hf")), facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ner_vs_hf_trainer")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    size.add_argument("--gpu", action="store_true", help="ELECTRA-Small's depth, for one GPU")
    parser.add_argument("--encoder", help="a Hub id or save_pretrained folder to fine-tune instead of a fresh encoder")
    parser.add_argument("--lr", type=float, help="override the peak learning rate (all arms)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--profile", action="store_true", help="also profile a few steps of each arm")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.data / "conll2003").is_dir():
        print(f"missing {args.data / 'conll2003'}: this benchmark reads ../shared/data", file=sys.stderr)
        return 2
    b = QUICK if args.quick else GPU if args.gpu else Budget()
    b = replace(b, lr=args.lr) if args.lr else b
    transformers.logging.set_verbosity_error()  # the "newly initialized" head warning, every arm and seed
    transformers.logging.disable_progress_bar()  # "Loading weights" bars
    datasets.disable_progress_bars()
    P = rmdlib.setup(seed=0, profile="full")
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        s, facts = prepare(args, b, P.device, scratch)
        runs: dict[str, list[dict]] = {name: [] for name in ARMS}
        for seed in b.seeds:
            for name in ARMS:  # alternate arms within a seed
                r = run_arm(s, name, seed)
                runs[name].append(r)
                print(f"  {name:18s} seed {seed}: test F1 {r['test_f1']:.4f}, {r['tokens_per_s']:.0f} tokens/s, "
                      f"train {r['train_s']:.1f} s, padding {r['padding_fraction']:.1%}", flush=True)
        breakdown = profile_arms(s, args.out.parent / f"{args.out.name}_profile.txt") if args.profile else None
    report = {
        "benchmark": "ner_vs_hf_trainer", "budget": asdict(b), "hardware": hardware(P.device),
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "threads": torch.get_num_threads(), **facts, "runs": runs, "summary": summarize(runs),
        "profile_ms_per_1k_tokens": breakdown, "total_seconds": time.perf_counter() - t0,
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},  # other work on the machine
    }
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    """The results table for benchmarks/README.md, and the profile's breakdown if there is one."""
    b, summ, load = report["budget"], report["summary"], report["load_average_1min"]
    best = max(HF_SAMPLERS, key=lambda name: summ[name]["tokens_per_s"])
    lines = [f"{report['encoder']} (hidden {b['hidden']}, {b['layers']} layers if fresh); "
             f"{report['sentences']['train']} training sentences, {b['epochs']} epoch(s), batch {b['batch_size']}, "
             f"lr {b['lr']:g}, {len(b['seeds'])} seed(s); {report['hardware']}; torch {report['torch']}, "
             f"transformers {report['transformers']}; total {report['total_seconds'] / 60:.0f} min; 1-min load "
             f"average {load['start']:.1f} at start, {load['end']:.1f} at end. Test words HF's truncation at "
             f"{b['max_length']} cuts: {report['runs']['hf_default'][0]['truncated_test_words']}. "
             f"rmdlib / best HF ({best}) tokens/s: {summ[best]['rmdlib_over_arm_tokens_per_s']:.2f}.", "",
             "| arm | test F1 (mean ± std) | train tokens/s | train wall s | rmdlib / arm tokens/s "
             "| rmdlib / arm wall | padding fraction |", "|---|---|---|---|---|---|---|"]
    for name in ARMS:
        a = summ[name]
        lines.append(f"| {name} | {a['mean_f1']:.4f} ± {a['std_f1']:.4f} | {a['tokens_per_s']:.0f} "
                     f"| {a['train_s']:.1f} | {a['rmdlib_over_arm_tokens_per_s']:.2f} "
                     f"| {a['rmdlib_over_arm_train_s']:.2f} | {a['padding_fraction']:.3f} |")
    if report["profile_ms_per_1k_tokens"]:
        cols = [*PHASES, "other", "total"]
        lines += ["", f"Profile: ms per 1,000 real training tokens over {b['profile_steps']} steady-state steps "
                  "(torch.profiler CPU events; `other` = clipping, schedule, loop overhead):", "",
                  "| arm | " + " | ".join(cols) + " | real tokens / step |", "|---" * (len(cols) + 2) + "|"]
        for name, row in report["profile_ms_per_1k_tokens"].items():
            lines.append(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in cols)
                         + f" | {row['tokens_per_step']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
