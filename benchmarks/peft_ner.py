"""The adaptation ladder on CoNLL-2003: full, head only, top-k, Houlsby adapter, LoRA, IA3 and prefix tuning.

One base encoder, every method x 3 seeds, the same epochs and data through
``rmdlib.tagging.finetune_tagger`` (an adapted model is just a model).  Reports
test entity F1 (seqeval default mode = conlleval) as mean ± std and relative to
full fine-tuning, trainable parameters and their share, AdamW state bytes (two
fp32 moments per trainable parameter), peak RSS of the training process, training
tokens/s and the adapter checkpoint's bytes (the trainable tensors as safetensors).

The base encoder is the best pretrained one this repository can produce without
the Hub: a small ELECTRA discriminator pretrained with replaced token detection
on the Project Gutenberg books (``../shared/data/gutenberg_en``) with
``benchmarks/rtd_vs_mlm.py``'s code, for ``pretrain_seconds`` of CPU time at lr 1e-4.
Each run is a forked child process, so its peak RSS is its own.

    nice -n 10 python benchmarks/peft_ner.py            # 2 heavily shared CPU cores: about 30 minutes
    python benchmarks/peft_ner.py --quick               # a smoke run of a few minutes

Writes ``benchmarks/results/peft_ner.json`` and ``.md``.  Anchor from the issue:
LoRA within 1 F1 point of full fine-tuning with < 1 % of the parameters trainable.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from queue import Empty

import torch
from transformers import AutoTokenizer

import rmdlib
from rmdlib.adapt import AdaptConfig, adapt, count_parameters, save_trainable
from rmdlib.data import load_ner
from rmdlib.models import build_encoder, build_tagger
from rmdlib.report import hardware
from rmdlib.tagging import TaggingConfig, evaluate_tagger, finetune_tagger, label_names
from rmdlib.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import rtd_vs_mlm  # noqa: E402  (the pretraining code of the RTD benchmark, reused)

# learning rates fixed beforehand from common practice, not tuned here: frozen-encoder methods take larger steps
METHODS = {
    "full": (AdaptConfig("full"), 1e-3),
    "head": (AdaptConfig("head"), 3e-3),
    "top_k": (AdaptConfig("top_k", top_k=1), 1e-3),
    "bottleneck": (AdaptConfig("bottleneck", bottleneck=16), 3e-3),
    "lora": (AdaptConfig("lora", r=8, alpha=16), 3e-3),
    "ia3": (AdaptConfig("ia3"), 1e-2),
    "prefix": (AdaptConfig("prefix", virtual_tokens=10), 1e-2),
}


@dataclass(frozen=True)
class Budget:
    """Sizes of one run (CPU defaults: about 25 minutes on 2 shared cores)."""

    pretrain_seconds: float = 180.0  # RTD pretraining of the base encoder
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    vocab_size: int = 8000
    max_length: int = 128  # position table; prefix windows are max_length - virtual tokens
    n_sequences: int = 20_000  # packed pretraining rows kept (more than the budget consumes)
    max_books: int | None = 20  # Gutenberg books read for the tokenizer and pretraining (2.5M+ sub-tokens)
    train_sentences: int = 1000  # CoNLL-2003 training sentences used (of 14,041): a low-resource split
    test_sentences: int | None = 1500  # of 3,453 (None: all)
    epochs: int = 2  # equal for every method: 126 optimizer steps
    batch_size: int = 16  # small batches: more steps from few sentences
    seeds: tuple[int, ...] = (0, 1, 2)


QUICK = Budget(pretrain_seconds=20.0, hidden=64, vocab_size=3000, n_sequences=2000, max_books=3, train_sentences=300,
               test_sentences=300, epochs=1, seeds=(0,))


def base_encoder(b: Budget, books: Path, out: Path) -> Path:
    """Pretrain the RTD discriminator (only the RTD arm of rtd_vs_mlm) and save it with its tokenizer."""
    if (out / "config.json").exists():
        return out
    rb = rtd_vs_mlm.Budget(pretrain_seconds=b.pretrain_seconds, hidden=b.hidden, layers=b.layers, heads=b.heads,
                           vocab_size=b.vocab_size, max_length=b.max_length, pretrain_lr=1e-4,
                           n_sequences=b.n_sequences)
    paragraphs = rtd_vs_mlm.book_paragraphs(books, b.max_books)
    tok = rtd_vs_mlm.train_wordpiece(paragraphs, vocab_size=rb.vocab_size, model_max_length=rb.max_length)
    rows = rtd_vs_mlm.pack(tok, paragraphs, rb.max_length, rb.n_sequences)
    objectives = {"rtd": rtd_vs_mlm._objectives(tok, rb, torch.device("cpu"))["rtd"]}
    per_step = rtd_vs_mlm.seconds_per_step(objectives, rows, rb, torch.device("cpu"), rounds=1)
    steps = {"rtd": max(1, int(rb.pretrain_seconds / per_step["rtd"]))}
    run = rtd_vs_mlm.pretrain(objectives, rows, rb, steps, torch.device("cpu"))["rtd"]
    print(f"pretrained RTD: {run['steps']} steps in {run['seconds']:.0f} s", flush=True)
    objectives["rtd"][0].discriminator.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "pretrain.json").write_text(json.dumps({"budget": asdict(rb), **run}, indent=1), encoding="utf-8")
    return out


def one_run(method: str, seed: int, b: Budget, encoder_dir: Path, ds, queue) -> None:
    """Child process: adapt, train, evaluate, measure; put a result dict on ``queue``."""
    torch.set_num_threads(1)
    cfg, lr = METHODS[method]
    tok = AutoTokenizer.from_pretrained(encoder_dir)
    tagging = TaggingConfig(batch_size=b.batch_size,
                            max_length=b.max_length - (cfg.virtual_tokens if method == "prefix" else 0))
    torch.manual_seed(seed)
    tagger = build_tagger(build_encoder(encoder_dir), label_names(ds))
    total = count_parameters(tagger)[1]
    model = adapt(tagger, cfg)
    trainable = count_parameters(model)[0]
    train_cfg = TrainConfig(lr=lr, epochs=b.epochs, warmup_ratio=0.1, seed=seed, progress=False, log_every=50)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    model, _ = finetune_tagger(None, ds, tok, train_cfg, tagging, model=model, device="cpu")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tokens = b.epochs * sum(len(x) for x in tok(list(ds["train"]["tokens"]), is_split_into_words=True)["input_ids"])
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_trainable(model, Path(tmp) / "adapter.safetensors")
    f1 = evaluate_tagger(model, tok, ds["test"], tagging, device="cpu")["f1"]
    queue.put({"method": method, "seed": seed, "test_f1": f1, "trainable": trainable, "total": total,
               "optimizer_state_bytes": 2 * 4 * trainable, "peak_rss_mib": peak / 1024,
               "rss_at_start_mib": rss0 / 1024, "train_seconds": seconds, "train_tokens_per_s": tokens / seconds,
               "checkpoint_bytes": ckpt})


def _result(queue, child, what: str) -> dict:
    """The child's result; an error (not a hang) if the child died without one."""
    while True:
        try:
            return queue.get(timeout=5)
        except Empty:
            if not child.is_alive():
                raise RuntimeError(f"{what}: the training process exited with code {child.exitcode}") from None


def run_all(b: Budget, encoder_dir: Path, ds, methods: list[str], on_result=None) -> list[dict]:
    """Every method x seed, each in a forked child; ``on_result(results)`` after each (partial records)."""
    ctx = mp.get_context("fork")
    results = []
    for seed in b.seeds:  # seeds outermost: a disturbed minute hits every method alike
        for method in methods:
            queue = ctx.Queue()
            child = ctx.Process(target=one_run, args=(method, seed, b, encoder_dir, ds, queue))
            child.start()
            r = _result(queue, child, f"{method} seed {seed}")
            child.join()
            results.append(r)
            if on_result:
                on_result(results)
            print(f"{method:10s} seed {seed}: F1 {r['test_f1']:.4f}, {r['trainable']:,} trainable, "
                  f"{r['train_seconds']:.0f} s, peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
    return results


def summarize(results: list[dict]) -> dict:
    out = {}
    for method in dict.fromkeys(r["method"] for r in results):
        rs = [r for r in results if r["method"] == method]
        f1 = [r["test_f1"] for r in rs]
        out[method] = {"method": method, "n_seeds": len(f1), "mean_f1": statistics.mean(f1), "std_f1": statistics.stdev(f1) if len(f1) > 1 else 0.0,
                       "trainable": rs[0]["trainable"], "share": rs[0]["trainable"] / rs[0]["total"],
                       **{k: statistics.mean(r[k] for r in rs) for k in
                          ("optimizer_state_bytes", "peak_rss_mib", "train_tokens_per_s", "checkpoint_bytes")}}
    full = out["full"]["mean_f1"] if "full" in out else float("nan")
    for s in out.values():
        s["f1_minus_full"] = s["mean_f1"] - full
    return out


def markdown(report: dict) -> str:
    b, s, load = report["budget"], report["summary"], report["load_average_1min"]
    lines = [f"Base encoder: RTD discriminator, hidden {b['hidden']}, {b['layers']} layers, pretrained "
             f"{report['pretrain']['steps']} steps ({report['pretrain']['seconds']:.0f} s) on Gutenberg. "
             f"{b['train_sentences']:,} CoNLL-2003 training sentences, {b['epochs']} epochs, "
             f"{len(b['seeds'])} seeds, {b['test_sentences'] or 3453:,} test sentences; {report['hardware']}; torch {report['torch']}, 1 thread "
             f"per run; total {report['total_seconds'] / 60:.0f} min; 1-min load average {load['start']:.1f} at "
             f"start, {load['end']:.1f} at end (other jobs shared the machine).", "",
             *([] if report["complete"] else ["**Partial run**: stopped before every method had every seed.", ""]),
             "| method | lr | seeds | trainable | share | test F1 (mean ± std) | F1 − full | AdamW state | peak RSS "
             "| train tokens/s | checkpoint |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, r in s.items():
        lines.append(f"| {m} | {METHODS[m][1]:g} | {r['n_seeds']} | {r['trainable']:,} | {r['share']:.2%} | {r['mean_f1']:.4f} ± "
                     f"{r['std_f1']:.4f} | {r['f1_minus_full']:+.4f} | {r['optimizer_state_bytes'] / 1024:,.0f} kB "
                     f"| {r['peak_rss_mib']:.0f} MiB | {r['train_tokens_per_s']:,.0f} | "
                     f"{r['checkpoint_bytes'] / 1024:,.0f} kB |")
    lora = s.get("lora")
    if lora:
        ok = lora["f1_minus_full"] > -0.01 and lora["share"] < 0.01
        lines += ["", f"Anchor (LoRA within 1 F1 point of full at < 1 % trainable): "
                      f"{'met' if ok else 'not met'} (LoRA − full = {lora['f1_minus_full']:+.4f}, "
                      f"share {lora['share']:.2%})."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "peft_ner")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    b = QUICK if args.quick else Budget()
    torch.set_num_threads(1)
    rmdlib.setup(seed=0, profile="full")
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    encoder_dir = base_encoder(b, args.data / "gutenberg_en", args.out.parent / f"{args.out.name}_encoder")
    ds = load_ner(args.data / "conll2003")
    ds["train"] = ds["train"].select(range(b.train_sentences))
    if b.test_sentences:
        ds["test"] = ds["test"].select(range(b.test_sentences))
    del ds["validation"]  # equal epochs, last state: no selection on validation
    def write(results: list[dict]) -> dict:  # after every run, so a stopped benchmark keeps what it measured
        report = {"benchmark": "peft_ner", "budget": asdict(b), "hardware": hardware(torch.device("cpu")),
                  "python": platform.python_version(), "torch": torch.__version__,
                  "pretrain": json.loads((encoder_dir / "pretrain.json").read_text(encoding="utf-8")),
                  "methods": {m: {"config": asdict(c), "lr": lr} for m, (c, lr) in METHODS.items()
                              if m in args.methods},
                  "complete": len(results) == len(args.methods) * len(b.seeds),
                  "runs": results, "summary": summarize(results), "total_seconds": time.perf_counter() - t0,
                  "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
        return report

    print(markdown(write(run_all(b, encoder_dir, ds, args.methods, on_result=write))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
