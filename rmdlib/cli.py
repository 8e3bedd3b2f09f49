"""The ``rmd`` command: pretrain, fine-tune and evaluate outside notebooks, on one device or several.

    rmd pretrain --data synthetic --output runs/disc
    rmd finetune ner --data synthetic --encoder runs/disc --output runs/ner   (--encoder tiny: from scratch)
    rmd evaluate runs/ner --split test --output runs/ner/test.json
    torchrun --nproc_per_node 4 -m rmdlib.cli finetune ner ...   (or, with the bench extra: accelerate launch --multi_gpu -m rmdlib.cli)

Training flags are generated from ``rmdlib.train.TrainConfig`` (help = each
field's *why* comment); this is the only module that parses a command line.
``rmd finetune`` trains through the chapters' own path, ``rmdlib.tagging``
(``finetune_tagger`` for NER, ``fit_tagger`` for SBD): windows, length-grouped
batches, ``fit``, scoring, so the CLI and the book give the same numbers for the
same seed and data.  Under torchrun / accelerate that path runs data-parallel
(its ``ranks`` option, see ``rmdlib._parallel``): each rank takes every W-th
batch of the one length-grouped order (``--batch-size`` is per process), and
checkpoints into ``checkpoints/rank-R``, its RNG states being its own.
Evaluation splits the *examples* across ranks and gathers the predictions by
example id, so every rank scores the whole split exactly as one process would.  Only rank 0 writes files and prints.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
import types
import typing
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rmdlib import _parallel as par
from rmdlib import infer
from rmdlib.metrics import boundary_scores, entity_scores, sentence_scores
from rmdlib.train import TrainConfig, fit

__all__ = ["main"]

# --seed also seeds data and model; checkpoints go under --output; lr_scale names a model's own modules
_NOT_FLAGS = {"seed", "checkpoint_dir", "lr_scale"}
_RUN_CARD = "rmd.json"  # what a run was trained on, so `rmd evaluate DIR` can rebuild the same data


# --- data -------------------------------------------------------------------------------------------------

def _synth_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"seed": args.seed, "n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test}


def _dataset(task: str, data: str, synth: dict[str, Any]) -> Any:
    """NER: the ``DatasetDict`` of ``rmdlib.data.load_ner``; SBD: ``rmdlib.conll.SbdDoc`` lists per split."""
    if task == "sbd":
        if data != "synthetic":
            raise SystemExit(f"rmd: SBD data {data!r}: only 'synthetic' is supported (rmdlib.data has no SBD loader)")
        from rmdlib.synth import sbd_splits

        return sbd_splits(**synth)
    from rmdlib.data import load_ner

    return load_ner(data, **synth) if data == "synthetic" else load_ner(data)


def _examples(task: str, ds: Any) -> tuple[tuple[str, ...], dict[str, list]]:
    """Label names and examples per split: NER (words, tag ids); SBD the documents as they are."""
    if task == "sbd":
        return infer.SBD_LABELS, ds
    labels = tuple(ds["train"].features["ner_tags"].feature.names)
    return labels, {split: list(zip(d["tokens"], d["ner_tags"])) for split, d in ds.items()}


def _load(task: str, data: str, synth: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, list]]:
    """Label names and examples per split (for ``rmd evaluate``)."""
    return _examples(task, _dataset(task, data, synth))


def _split(splits: dict[str, list], name: str) -> list:
    if name not in splits:
        raise SystemExit(f"rmd: the data has no split {name!r}; it has {sorted(splits)}")
    return splits[name]


def _score(model: nn.Module, tokenizer: Any, task: str, labels: tuple[str, ...], examples: list, r: par.Ranks,
           opts: dict[str, Any]) -> dict[str, Any]:
    """Scores on all ``examples``: rank r predicts examples r, r + W, ...; predictions gathered by example id."""
    mine = par.shard(r, len(examples))
    if task == "sbd":
        preds = infer.predict_sentence_ends(model, tokenizer, [examples[i].text for i in mine], **opts)
    else:
        preds = infer.predict_tags(model, tokenizer, [list(examples[i][0]) for i in mine], **opts)
    by_id = dict(par.gather(r, list(zip(mine, preds))))
    pred = [by_id[i] for i in range(len(examples))]
    if task == "sbd":
        gold = [x.sentence_ends for x in examples]
        return {**boundary_scores(gold, pred), **{f"sentence_{k}": v for k, v in sentence_scores(gold, pred).items()}}
    return entity_scores([[labels[t] for t in x[1]] for x in examples], pred)


# --- sub-commands -----------------------------------------------------------------------------------------

def _tokenizer(args: argparse.Namespace, texts: list[str], r: par.Ranks) -> Any:
    """The encoder's tokenizer, or (``--encoder tiny``) a WordPiece trained on rank 0 and read by all."""
    from transformers import AutoTokenizer

    if args.encoder != "tiny":
        from rmdlib.hub import revision

        return AutoTokenizer.from_pretrained(args.encoder, revision=revision(args.encoder))
    if r.rank == 0:
        from rmdlib.tokens import train_wordpiece

        train_wordpiece(texts, vocab_size=args.vocab_size).save_pretrained(args.output)
    par.barrier(r)
    return AutoTokenizer.from_pretrained(args.output)


def _train_config(args: argparse.Namespace, r: par.Ranks) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name not in _NOT_FLAGS}
    values["betas"] = tuple(values["betas"])
    ckpt = str(Path(args.output) / "checkpoints" / f"rank-{r.rank}") if args.checkpoint_every else None
    cfg = TrainConfig(**values, seed=args.seed, checkpoint_dir=ckpt)
    return cfg if r.rank == 0 else replace(cfg, progress=False)


def _finish(r: par.Ranks, out: Path, card: dict, history: Any, result: dict, name: str) -> None:
    """Rank 0 writes the run card, the history and the result, and prints the result as one JSON line."""
    if r.rank == 0:
        (out / _RUN_CARD).write_text(json.dumps(card, indent=1))
        (out / "history.json").write_text(json.dumps(asdict(history), indent=1))
        (out / name).write_text(json.dumps(result, indent=1))
        print(json.dumps(result))


def _finetune(args: argparse.Namespace, r: par.Ranks) -> None:
    """The book's path (``rmdlib.tagging``): NER through ``finetune_tagger``, SBD through ``fit_tagger``."""
    from rmdlib.models import build_encoder, build_tagger
    from rmdlib.tagging import TaggingConfig, finetune_tagger, fit_tagger, sbd_windows

    ds = _dataset(args.task, args.data, _synth_kwargs(args))
    labels, splits = _examples(args.task, ds)
    test = _split(splits, args.eval_split)  # fail before training, not after
    texts = [x.text if args.task == "sbd" else " ".join(x[0]) for x in splits["train"]]
    tokenizer = _tokenizer(args, texts, r)
    encoder = args.encoder if args.encoder != "tiny" else build_encoder(
        vocab_size=len(tokenizer), hidden=args.hidden, layers=args.layers, heads=args.heads,
        pad_token_id=tokenizer.pad_token_id, max_position=max(512, args.max_length))
    cfg = TaggingConfig(batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, max_length=args.max_length,
                        stride=args.stride, label_smoothing=args.label_smoothing)
    train_cfg = _train_config(args, r)
    opts = {"max_length": cfg.max_length, "stride": cfg.stride, "batch_size": cfg.eval_batch_size,
            "device": r.device}
    if args.task == "ner":
        model, history = finetune_tagger(encoder, ds, tokenizer, train_cfg, cfg, device=r.device, ranks=r,
                                         resume=args.resume)
    else:
        model = build_tagger(encoder, labels, dropout=cfg.dropout).to(r.device)
        val = splits.get("validation") or []
        eval_fn = (lambda m: {"f1": _sbd_f1(m, tokenizer, val, opts)}) if val else None
        history = fit_tagger(model, sbd_windows(splits["train"], tokenizer, cfg), tokenizer, train_cfg, cfg,
                             device=r.device, val_windows=sbd_windows(val, tokenizer, cfg) if val else None, eval_fn=eval_fn,
                             ranks=r, resume=args.resume)
    result = {"task": args.task, "split": args.eval_split, "n_examples": len(test),
              **_score(model, tokenizer, args.task, labels, test, r, opts)}
    if r.rank == 0:
        model.save_pretrained(args.output)
        tokenizer.save_pretrained(args.output)
    card = {"task": args.task, "data": args.data, "synth": _synth_kwargs(args), "encoder": args.encoder,
            "max_length": args.max_length, "stride": args.stride, "world_size": r.world,
            "tagging_config": asdict(cfg), "train_config": asdict(train_cfg)}
    _finish(r, Path(args.output), card, history, result, "eval.json")


def _sbd_f1(model: nn.Module, tokenizer: Any, docs: list, opts: dict[str, Any]) -> float:
    """Boundary F1 on ``docs`` through the inference path (as chapter 5 scores its validation split)."""
    pred = infer.predict_sentence_ends(model, tokenizer, [d.text for d in docs], **opts)
    return boundary_scores([d.sentence_ends for d in docs], pred)["f1"]


def _evaluate(args: argparse.Namespace, r: par.Ranks) -> None:
    from transformers import AutoTokenizer

    from rmdlib.models import load_tagger

    card_path = Path(args.model) / _RUN_CARD
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    model = load_tagger(args.model).to(r.device)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    is_sbd = tuple(model.config.id2label[i] for i in range(model.config.num_labels)) == infer.SBD_LABELS
    task = args.task or card.get("task") or ("sbd" if is_sbd else "ner")
    if task not in ("ner", "sbd"):
        raise SystemExit(f"rmd evaluate: {args.model} holds a {task!r} run, not a tagger (ner or sbd)")
    synth = {**_synth_kwargs(args), "seed": 0, **card.get("synth", {})}
    synth.update({k: v for k, v in _synth_kwargs(args).items() if v is not None})  # flags win over the card
    labels, splits = _load(task, args.data or card.get("data", "synthetic"), synth)
    opts = {k: card.get(k, default) if getattr(args, k) is None else getattr(args, k)
            for k, default in (("max_length", None), ("stride", 32))}
    test = _split(splits, args.split)
    result = {"task": task, "split": args.split, "n_examples": len(test),
              **_score(model, tokenizer, task, labels, test, r,
                       {**opts, "batch_size": args.batch_size, "device": r.device})}
    if r.rank == 0:
        if args.output:
            Path(args.output).write_text(json.dumps(result, indent=1))
        print(json.dumps(result))


def _corpus(args: argparse.Namespace) -> list[str]:
    """Pretraining documents: the micro-world, a registered text dataset, or .txt files (one document each)."""
    from rmdlib.data import REGISTRY, load_spec
    from rmdlib.synth import corpus

    if args.data == "synthetic":
        return corpus(seed=args.seed, n_docs=args.n_docs)
    if args.data in REGISTRY:
        return [t for t in load_spec(args.data)["train"]["text"] if t.strip()][:args.n_docs]
    path = Path(args.data)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise SystemExit(f"rmd pretrain: --data {args.data!r} is not 'synthetic', a registered name nor .txt files")
    return [f.read_text(encoding="utf-8") for f in files][:args.n_docs]


def _pretrain(args: argparse.Namespace, r: par.Ranks) -> None:
    from rmdlib.rtd import build_pair, make_rtd_loss_fn

    args.encoder = "tiny"  # the tokenizer is trained here (rank 0) and saved with the discriminator
    texts = _corpus(args)
    tokenizer = _tokenizer(args, texts, r)
    enc = tokenizer(texts, truncation=True, max_length=args.max_length, return_overflowing_tokens=True)
    windows = [{"input_ids": i, "attention_mask": a} for i, a in zip(enc["input_ids"], enc["attention_mask"])]
    pair = build_pair(len(tokenizer), hidden=args.hidden, layers=args.layers, heads=args.heads,
                      gen_scale=args.gen_scale, pad_token_id=tokenizer.pad_token_id,
                      max_position=max(512, args.max_length)).to(r.device)
    generator = torch.Generator(r.device).manual_seed(args.seed + r.rank)  # each rank masks differently
    rtd = make_rtd_loss_fn(mask_token_id=tokenizer.mask_token_id, special_ids=tokenizer.all_special_ids,
                           disc_weight=args.disc_weight, generator=generator)

    loss_fn = functools.partial(par.call_loss)
    loss_fn.generator = generator  # type: ignore[attr-defined]  # fit checkpoints and restores its state
    history = fit(par.wrap(pair, rtd, r), loss_fn, par.loader(windows, tokenizer, args.batch_size, args.seed, r),
                  cfg=_train_config(args, r), device=r.device, resume=args.resume)
    if r.rank == 0:
        pair.save_discriminator(args.output)
        tokenizer.save_pretrained(args.output)
    card = {"task": "pretrain", "data": args.data, "n_docs": len(texts), "max_length": args.max_length,
            "world_size": r.world, "train_config": asdict(_train_config(args, r))}
    _finish(r, Path(args.output), card, history, history.train[-1] if history.train else {}, "pretrain.json")


# --- command line -----------------------------------------------------------------------------------------

def _field_help() -> dict[str, str]:
    """TrainConfig's *why* comments, read from its source: the one place they are written."""
    src = inspect.getsource(TrainConfig)
    return {name: text.replace("%", "%%") for name, text in re.findall(r"^\s+(\w+):[^\n#]*#\s*(.+)$", src, re.M)}


def _optional(kind: type) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _flag_kwargs(hint: Any) -> dict[str, Any]:
    """argparse keywords for a TrainConfig type: bool, X | None, tuple[float, float] or a plain type."""
    args = typing.get_args(hint)
    if hint is bool or (typing.get_origin(hint) in (typing.Union, types.UnionType) and bool in args):
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is tuple:
        return {"type": args[0], "nargs": len(args), "metavar": args[0].__name__.upper()}
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return {"type": _optional(next(a for a in args if a is not type(None))), "metavar": "VALUE|none"}
    return {"type": hint}


def _add_train_flags(parser: argparse.ArgumentParser, **defaults: Any) -> None:
    group = parser.add_argument_group("training (rmdlib.train.TrainConfig)")
    hints, helps = typing.get_type_hints(TrainConfig), _field_help()
    for f in fields(TrainConfig):
        if f.name not in _NOT_FLAGS:
            group.add_argument("--" + f.name.replace("_", "-"), default=defaults.get(f.name, f.default),
                               help=helps.get(f.name, ""), **_flag_kwargs(hints[f.name]))
    group.add_argument("--resume", action="store_true", help="continue from the checkpoints under --output")


def _add_common(p: argparse.ArgumentParser, *, output: str = "output folder (created)",
                need_output: bool = True) -> None:
    p.add_argument("--data", default="synthetic", help="'synthetic', a registry name of rmdlib.data, or a folder")
    p.add_argument("--seed", type=int, default=0, help="seeds data, model, masking and data order")
    p.add_argument("--max-length", type=int, default=128, help="sub-tokens per window (long inputs: several)")
    p.add_argument("--stride", type=int, default=32, help="sub-tokens shared by consecutive windows")
    p.add_argument("--batch-size", type=int, default=32, help="windows per batch, per process")
    p.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK if available), cpu, cuda, mps")
    p.add_argument("--output", required=need_output, help=output)


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vocab-size", type=int, default=4000, help="WordPiece vocabulary (tiny encoder)")
    p.add_argument("--hidden", type=int, default=128, help="hidden size D (tiny encoder)")
    p.add_argument("--layers", type=int, default=4, help="transformer layers (tiny encoder)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (tiny encoder)")


def _add_sizes(p: argparse.ArgumentParser) -> None:
    for split in ("train", "val", "test"):
        p.add_argument(f"--n-{split}", type=int, default=None, help=f"synthetic {split} examples (default: full)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rmd", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ft = sub.add_parser("finetune", help="fine-tune a tagger (NER or sentence boundaries)")
    ft.add_argument("task", choices=("ner", "sbd"))
    ft.add_argument("--encoder", default="tiny", help="Hub id or folder of an encoder; 'tiny' = fresh, small")
    ft.add_argument("--eval-split", default="test", help="split scored into eval.json after training")
    ft.add_argument("--label-smoothing", type=float, default=0.0, help="eps of the tagging loss (chapter 6)")
    ft.add_argument("--eval-batch-size", type=int, default=128, help="windows per prediction batch (no gradients)")
    for add in (_add_common, _add_model, _add_sizes):
        add(ft)
    _add_train_flags(ft, monitor="f1", mode="max")
    ev = sub.add_parser("evaluate", help="score a saved tagger on a split (data settings from its rmd.json)")
    ev.add_argument("model", help="folder written by `rmd finetune` (or any tagger folder)")
    ev.add_argument("--task", choices=("ner", "sbd"), default=None, help="default: from rmd.json or the labels")
    ev.add_argument("--split", default="test", help="split to score")
    _add_common(ev, output="also write the scores to this JSON file", need_output=False)
    _add_sizes(ev)
    ev.set_defaults(data=None, seed=None, max_length=None, stride=None)  # None = as in the run card
    pt = sub.add_parser("pretrain", help="pretrain a tiny ELECTRA discriminator with replaced token detection")
    pt.add_argument("--n-docs", type=int, default=None, help="documents used (default: all)")
    pt.add_argument("--gen-scale", type=float, default=0.25, help="generator width / discriminator width")
    pt.add_argument("--disc-weight", type=float, default=50.0, help="lambda in L_MLM + lambda L_Disc")
    _add_common(pt)
    _add_model(pt)
    _add_train_flags(pt)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rmd`` console script (and of ``python -m rmdlib.cli``)."""
    args = _parser().parse_args(argv)
    r = par.init(args.device)
    try:
        if args.command != "evaluate":
            from rmdlib.profile import seed_everything

            seed_everything(args.seed + r.rank)  # dropout differs across ranks; DDP copies rank 0's init
            Path(args.output).mkdir(parents=True, exist_ok=True)
        {"finetune": _finetune, "evaluate": _evaluate, "pretrain": _pretrain}[args.command](args, r)
    finally:
        par.close(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
