"""Chapters 3 and 6 again, with more seeds than a chapter's time budget allows.

Both chapters compare arms with the book's rule (``rmdlib.compare.paired_f1``: paired
over seeds, bootstrapped over test sentences, the seeds' spread included). With the
three seeds a chapter can afford, the Student t quantile is 4.30 and a seed-to-seed
spread of a few F1 points hides effects of the same size. Here, on the same
micro-world (offline profile) and with the chapters' own recipes:

* ``ch3``: chapter 3's fine-tuning probe of the RTD, MLM and untrained encoders,
  unchanged (200 steps of 32 windows at lr 1e-3 on 1,000 training sentences, the
  1,000 test sentences), with the fresh seeds 10 to 19 (the chapter uses 0 to 2).
  The RTD pair comes from the model cache (``zoo.cached_pretrain``, as in the chapter);
  the MLM model is pretrained here with the chapter's FLOP-matched step count; the
  untrained control is ``zoo.new_pair(cfg, tok).discriminator`` under seed 0.
* ``ch6``: chapter 6's ablation (no regularizer, dropout 0.1, label smoothing 0.1,
  early stopping, FGM at 5 % of the median example's embedding norm) on its 300
  training sentences, with seeds 10 to 19, scored on the 500 test sentences the
  chapter does **not** score (rows 500 to 999 of the same shuffle), in two settings:

  - ``chapter``: the chapter's 120 steps of 16 windows at the profile's lr (3e-3);
  - ``long``: 480 steps of 4 windows at lr 1e-3, the only setting of a ten-setting
    pilot grid (seeds 0 to 5, the chapter's test sentences; ``benchmarks/README.md``)
    in which FGM's gain over no regularizer was large against its seed spread.
    Seeds and test sentences here are fresh, so this is a confirmation of the
    pilot, not a second look at the same draws.

Every arm is paired over the ten seeds with every other (ch3: each pair of encoders; ch6:
each regularizer with ``none`` and with each other regularizer), with 95 % intervals.

    python benchmarks/more_seeds.py            # 2 CPU cores: about 10 minutes
    python benchmarks/more_seeds.py --quick    # a smoke run of about a minute (more_seeds_quick.*)

Writes ``benchmarks/results/more_seeds.json`` and ``.md``; chapters 3 and 6 read the
JSON when it is beside them (a clone of the repository, not the installed package).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from datasets import DatasetDict

import rmdlib
from rmdlib import data, models, regularize, zoo
from rmdlib.compare import paired_f1
from rmdlib.metrics import entity_scores
from rmdlib.report import hardware
from rmdlib.tagging import TaggingConfig, finetune_tagger, label_names, predict_split, windows
from rmdlib.tokens import Collator
from rmdlib.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SEEDS = tuple(range(10, 20))


@dataclass(frozen=True)
class Setting:
    """Chapter 6's fine-tuning schedule: steps of ``batch`` windows at peak ``lr``."""

    steps: int
    batch: int
    lr: float


SETTINGS = {"chapter": Setting(120, 16, 3e-3), "long": Setting(480, 4, 1e-3)}
ARMS = {  # chapter 6's Recipe: (dropout, label smoothing, early stopping, adversary)
    "none": (0.0, 0.0, False, None),
    "dropout 0.1": (0.1, 0.0, False, None),
    "label smoothing 0.1": (0.0, 0.1, False, None),
    "early stopping": (0.0, 0.0, True, None),
    "FGM": (0.0, 0.0, False, "fgm"),
}


def comparison(c: Any) -> dict[str, Any]:
    """A ``Comparison`` as JSON values (``Comparison.from_record`` reads it back), with its verdict."""
    return {**c._asdict(), "significant": bool(c.significant)}  # numpy floats are floats to json


def chapter3(P: Any, seeds: tuple[int, ...], quick: bool) -> dict[str, Any]:
    """Chapter 3's probe of three encoders, ``seeds`` of it, paired every way."""
    cfg = replace(zoo.PRETRAIN, steps=P.n(zoo.PRETRAIN.steps))
    tok = zoo.tokenizer(P, cfg)
    texts = zoo.pretraining_texts(P, cfg)
    pair = zoo.cached_pretrain(cfg, tok, texts, device=P.device).pair
    torch.manual_seed(0)
    untrained = zoo.new_pair(cfg, tok)
    # the chapter's FLOP-matched MLM budget: an RTD step trains both networks
    f_rtd = zoo.flops_per_token(untrained.generator, cfg.max_length) + zoo.flops_per_token(
        untrained.discriminator, cfg.max_length)
    f_mlm = zoo.flops_per_token(zoo.new_mlm(cfg, tok), cfg.max_length)
    mlm_steps = round(cfg.steps * f_rtd / f_mlm)
    mlm, _, mlm_seconds = zoo.pretrain(cfg, tok, texts, objective="mlm", steps=mlm_steps // (10 if quick else 1),
                                       device=P.device)
    encoders = {"rtd": pair.discriminator, "mlm": mlm, "none": untrained.discriminator}

    ner = data.load_ner(P.ner_data)
    probe_data = DatasetDict(train=ner["train"].select(range(P.n(1000))))
    test = P.head(ner, test=1000)["test"]
    tagging = TaggingConfig(batch_size=32, dropout=cfg.dropout)
    probe = TrainConfig(lr=1e-3, max_steps=P.n(200) // (10 if quick else 1), warmup_ratio=0.1)
    names = label_names(probe_data)
    gold = [[names[t] for t in tags] for tags in test["ner_tags"]]
    preds: dict[str, list] = {}
    start = time.perf_counter()
    for name, encoder in encoders.items():
        preds[name] = []
        for seed in seeds:
            torch.manual_seed(seed)  # the head's initialisation and dropout, as in the chapter
            model, _ = finetune_tagger(encoder.to(P.device), probe_data, tok, replace(probe, seed=seed), tagging,
                                       device=P.device)
            preds[name].append(predict_split(model, tok, test, tagging, device=P.device)[1])
            print(f"ch3 {name} seed {seed}: F1 {entity_scores(gold, preds[name][-1])['f1']:.3f}", flush=True)
    f1 = {name: [entity_scores(gold, p)["f1"] for p in runs] for name, runs in preds.items()}
    pairs = {f"{a} - {b}": comparison(paired_f1(gold, preds[a], preds[b]))
             for a, b in (("rtd", "mlm"), ("rtd", "none"), ("mlm", "none"))}
    return {"f1": f1, "compare": pairs, "probe_steps": probe.max_steps, "probe_batch": tagging.batch_size,
            "probe_lr": probe.lr, "probe_train": len(probe_data["train"]), "n_test": len(test),
            "mlm_steps": mlm_steps, "mlm_seconds": mlm_seconds, "probe_seconds": time.perf_counter() - start}


def chapter6(P: Any, seeds: tuple[int, ...], settings: dict[str, Setting]) -> dict[str, Any]:
    """Chapter 6's ablation with ``seeds``, scored on the test sentences the chapter leaves out."""
    ner = data.load_ner(P.ner_data)
    shuffled = ner["test"].shuffle(seed=P.seed)
    n_test = min(P.n(500), len(shuffled) // 2)
    small = DatasetDict(train=ner["train"].shuffle(seed=P.seed).select(range(P.n(300))),
                        validation=ner["validation"].shuffle(seed=P.seed).select(range(P.n(200))),
                        test=shuffled.select(range(len(shuffled) - n_test, len(shuffled))))
    names = label_names(small)
    gold = [[names[t] for t in tags] for tags in small["test"]["ner_tags"]]
    tok = zoo.tokenizer(P)
    encoder_path = zoo.encoder(P)
    epsilon = 0.05 * median_example_norm(small, tok, encoder_path)
    out: dict[str, Any] = {"epsilon": epsilon, "n_train": len(small["train"]), "n_test": n_test,
                           "test_rows": [len(shuffled) - n_test, len(shuffled)], "settings": {}}
    for label, s in settings.items():
        tagging = TaggingConfig(batch_size=s.batch, dropout=0.0)
        base = TrainConfig(lr=s.lr, max_steps=s.steps, warmup_ratio=0.1, weight_decay=0.0,
                           eval_every=max(1, s.steps // 6), monitor="f1", mode="max", restore_best=False,
                           log_every=5)
        preds: dict[str, list] = {}
        start = time.perf_counter()
        for arm, (dropout, smoothing, early, adversary) in ARMS.items():
            preds[arm] = []
            for seed in seeds:
                torch.manual_seed(seed)  # head initialisation and dropout, as in the chapter
                encoder = models.build_encoder(encoder_path).to(P.device)
                regularize.set_dropout(encoder, hidden=dropout, attention=dropout)
                cfg = replace(base, seed=seed, restore_best=early, patience=2 if early else None)
                tg = replace(tagging, dropout=dropout)
                loss_fn = None
                if adversary:
                    loss_fn = regularize.fgm(models.tagging_loss_fn(label_smoothing=smoothing), epsilon=epsilon)
                else:
                    tg = replace(tg, label_smoothing=smoothing)
                ds = DatasetDict(train=small["train"], **({"validation": small["validation"]} if early else {}))
                model, _ = finetune_tagger(encoder, ds, tok, cfg, tg, loss_fn=loss_fn, device=P.device)
                preds[arm].append(predict_split(model, tok, small["test"], tagging, device=P.device)[1])
                print(f"ch6 {label} {arm} seed {seed}: F1 {entity_scores(gold, preds[arm][-1])['f1']:.3f}",
                      flush=True)
        out["settings"][label] = {
            "steps": s.steps, "batch": s.batch, "lr": s.lr,
            "f1": {arm: [entity_scores(gold, p)["f1"] for p in runs] for arm, runs in preds.items()},
            "vs_none": {arm: comparison(paired_f1(gold, preds[arm], preds["none"])) for arm in ARMS if arm != "none"},
            # every regularizer against every other: can they be ranked?
            "pairs": {f"{a} - {b}": comparison(paired_f1(gold, preds[a], preds[b]))
                      for a, b in itertools.combinations([arm for arm in ARMS if arm != "none"], 2)},
            "seconds": time.perf_counter() - start,
        }
    return out


def median_example_norm(small: DatasetDict, tok: Any, encoder_path: str) -> float:
    """Chapter 6's scale for epsilon: the median L2 norm of a training window's input embeddings."""
    train = windows(small, tok, TaggingConfig())["train"]
    batch = Collator(tok, keep=())(list(train))
    embedder = models.build_encoder(encoder_path).get_input_embeddings()
    with torch.no_grad():
        e = embedder(batch["input_ids"]) * batch["attention_mask"][..., None]
    return float(e.flatten(1).norm(dim=1).median())


def table(result: dict[str, Any]) -> str:
    """The Markdown tables of the README."""
    b = result["budget"]
    lines = [f"Seeds {b['seeds'][0]} to {b['seeds'][-1]}; {b['hardware']}; torch {b['torch']}; "
             f"total {b['minutes']:.0f} min; 1-min load average {b['load'][0]:.1f} at start, "
             f"{b['load'][1]:.1f} at end.", ""]
    if "ch3" in result:
        c3 = result["ch3"]
        lines += [f"Chapter 3's probe ({c3['probe_steps']} steps of {c3['probe_batch']} at lr {c3['probe_lr']:g}, "
                  f"{c3['probe_train']:,} training and {c3['n_test']:,} test sentences):", "",
                  "| encoder | test F1 (mean ± std) |", "|---|---|"]
        lines += [f"| {k} | {np.mean(v):.3f} ± {np.std(v, ddof=1):.3f} |" for k, v in c3["f1"].items()]
        lines += ["", "| comparison | difference [95 % interval] |", "|---|---|"]
        lines += [f"| {k} | {c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] |" for k, c in c3["compare"].items()]
        lines.append("")
    if "ch6" in result:
        c6 = result["ch6"]
        lines += [f"Chapter 6's ablation ({c6['n_train']} training sentences; {c6['n_test']} test sentences the "
                  f"chapter does not score; FGM ε = {c6['epsilon']:.4f}), each arm minus `none` with its 95 % "
                  "interval:", "",
                  "| arm | " + " | ".join(f"{k}: {s['steps']} × {s['batch']} @ {s['lr']:g}"
                                          for k, s in c6["settings"].items()) + " |",
                  "|---|" + "---|" * len(c6["settings"])]
        for arm in ARMS:
            cells = []
            for s in c6["settings"].values():
                f1 = f"F1 {np.mean(s['f1'][arm]):.3f}"
                c = s["vs_none"].get(arm)
                cells.append(f1 if c is None else f"{f1}; {c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, a tenth of the steps (MLM pretraining too)")
    parser.add_argument("--only", choices=("ch3", "ch6"), help="run one chapter's experiment")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results path without suffix (default benchmarks/results/more_seeds, _quick for --quick)")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "benchmarks" / "results" / ("more_seeds_quick" if args.quick else "more_seeds")
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("RMD_PROFILE", "offline")
    P = rmdlib.setup(seed=0)
    if P.encoder is not None:
        sys.exit("more_seeds.py reruns the offline profile's chapters: set RMD_PROFILE=offline")
    seeds = SEEDS[:2] if args.quick else SEEDS
    settings = ({k: replace(s, steps=s.steps // 10) for k, s in SETTINGS.items()} if args.quick else SETTINGS)
    start, load0 = time.perf_counter(), os.getloadavg()[0]
    result: dict[str, Any] = {}
    if args.only in (None, "ch3"):
        result["ch3"] = chapter3(P, seeds, args.quick)
    if args.only in (None, "ch6"):
        result["ch6"] = chapter6(P, seeds, settings)
    result["budget"] = {"seeds": list(seeds), "quick": args.quick, "hardware": hardware(P.device),
                        "platform": platform.platform(), "torch": torch.__version__,
                        "transformers": transformers.__version__, "rmdlib": rmdlib.__version__,
                        "minutes": (time.perf_counter() - start) / 60, "load": [load0, os.getloadavg()[0]],
                        "date": time.strftime("%Y-%m-%d")}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    out.with_suffix(".md").write_text(table(result), encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
