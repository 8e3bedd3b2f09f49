"""Tests of rmdlib.cli: flags from TrainConfig, finetune / evaluate / pretrain runs, and two-process runs.

Every run is tiny (a 1-layer encoder, a few optimizer steps).  The scores of
such a model are low; what is checked is that they are computed right: against
a reference computed here from the saved model, across a save / load, and
between one process and two (gloo on the CPU).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from seqeval.metrics.sequence_labeling import get_entities
from transformers import AutoTokenizer, ElectraForPreTraining

from rmdlib import _parallel as par
from rmdlib import cli
from rmdlib.infer import SBD_LABELS, predict_sentence_ends, predict_tags
from rmdlib.metrics import boundary_scores, entity_scores
from rmdlib.data import load_ner
from rmdlib.models import build_encoder, load_tagger
from rmdlib.profile import seed_everything
from rmdlib.tagging import TaggingConfig, evaluate_tagger, finetune_tagger
from rmdlib.synth import LABELS, ner_splits, sbd_splits
from rmdlib.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SIZES = ["--n-train", "64", "--n-val", "16", "--n-test", "32"]
TINY = ["--hidden", "32", "--layers", "1", "--heads", "2", "--vocab-size", "300", "--batch-size", "16",
        "--max-length", "32", "--stride", "8", "--max-steps", "5", "--eval-every", "5"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
       "TOKENIZERS_PARALLELISM": "false", "RMD_PROGRESS": "0"}
CPU = par.Ranks(0, 1, torch.device("cpu"))


def run(args: list[str], *, processes: int = 1, script: bool = False) -> subprocess.CompletedProcess:
    """``python -m rmdlib.cli ARGS`` (or the ``rmd`` console script) under torchrun with ``processes`` CPU ranks."""
    rmd = Path(sys.executable).parent / "rmd"
    target = ["--no-python", str(rmd)] if script and rmd.exists() else ["-m", "rmdlib.cli"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *target]
    proc = subprocess.run(cmd + args, env=ENV, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """``rmd finetune ner`` (the console script) as two data-parallel CPU processes."""
    out = tmp_path_factory.mktemp("ner")
    return out, run(["finetune", "ner", "--data", "synthetic", "--encoder", "tiny", "--output", str(out),
                     *SIZES, *TINY, "--checkpoint-every", "5"], processes=2, script=True)


def test_train_flags_are_generated_from_train_config(capsys) -> None:
    args = cli._parser().parse_args(["finetune", "ner", "--output", "x", "--lr", "0.01", "--max-steps", "none",
                                     "--betas", "0.8", "0.9", "--no-restore-best", "--patience", "3",
                                     "--seed", "7", "--checkpoint-every", "2"])
    assert cli._train_config(args, CPU) == TrainConfig(
        lr=0.01, max_steps=None, betas=(0.8, 0.9), restore_best=False, patience=3, seed=7, monitor="f1",
        mode="max", checkpoint_every=2, checkpoint_dir=str(Path("x") / "checkpoints" / "rank-0"))
    pretrain = cli._parser().parse_args(["pretrain", "--output", "x"])
    assert cli._train_config(pretrain, CPU) == TrainConfig()  # pretraining keeps every default
    with pytest.raises(SystemExit):
        cli.main(["finetune", "--help"])
    help_text = capsys.readouterr().out
    for name in ("--weight-decay", "--grad-accum", "--warmup-steps", "--amp", "--progress", "--no-progress"):
        assert name in help_text
    assert "decoupled AdamW decay" in help_text  # TrainConfig's own comment is the help


@pytest.mark.slow
def test_finetune_writes_a_tagger_and_the_single_process_scores(ner_run) -> None:
    """Two ranks each score half the test set; gathered by example id, that is the one-process reference."""
    out, proc = ner_run
    result = json.loads((out / "eval.json").read_text())
    assert json_lines(proc.stdout) == [result]  # only rank 0 prints
    model, tok = load_tagger(out), AutoTokenizer.from_pretrained(out)
    assert tuple(model.config.id2label[i] for i in range(len(LABELS))) == LABELS
    test = ner_splits(seed=0, n_train=64, n_val=16, n_test=32)["test"]
    gold = [list(tags) for _, tags in test]
    assert result["n_examples"] == 32 and result["support"] == sum(len(get_entities(g)) for g in gold)
    pred = predict_tags(model, tok, [list(words) for words, _ in test], max_length=32, stride=8, batch_size=16, device="cpu")
    assert {k: result[k] for k in ("precision", "recall", "f1", "n_pred", "n_correct")} == {
        k: v for k, v in entity_scores(gold, pred).items() if k != "support"}
    p, r = result["precision"], result["recall"]
    assert math.isclose(result["f1"], 2 * p * r / (p + r) if p + r else 0.0)
    card = json.loads((out / "rmd.json").read_text())
    assert card["synth"] == {"seed": 0, "n_train": 64, "n_val": 16, "n_test": 32} and card["world_size"] == 2
    history = json.loads((out / "history.json").read_text())
    assert [e["step"] for e in history["evals"]] == [5] and history["train"][-1]["step"] == 5


@pytest.mark.slow
def test_ranks_stay_in_sync_and_rank_0_saves_their_weights(ner_run) -> None:
    """DDP: after training on different shards both ranks hold the same weights, and those are saved."""
    out, _ = ner_run
    ranks = [load_file(str(out / "checkpoints" / f"rank-{k}" / "step-0000005" / "model.safetensors"))
             for k in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() and all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    saved = load_file(str(out / "model.safetensors"))
    assert len(saved) == len(ranks[0]) and all(torch.equal(v, ranks[0]["module.model." + k]) for k, v in saved.items())


@pytest.mark.slow
def test_evaluate_in_one_process_reproduces_the_scores(ner_run, tmp_path, capsys) -> None:
    out, _ = ner_run
    assert cli.main(["evaluate", str(out), "--output", str(tmp_path / "again.json")]) == 0
    again = json.loads((tmp_path / "again.json").read_text())
    assert again == json.loads((out / "eval.json").read_text())
    assert json_lines(capsys.readouterr().out) == [again]
    cli.main(["evaluate", str(out), "--split", "validation", "--n-val", "8", "--output", str(tmp_path / "v.json")])
    assert json.loads((tmp_path / "v.json").read_text())["n_examples"] == 8  # flags override the run card


@pytest.mark.slow
def test_evaluate_in_two_processes_gives_the_same_scores(ner_run, tmp_path) -> None:
    out, _ = ner_run
    proc = run(["evaluate", str(out), "--output", str(tmp_path / "two.json")], processes=2)
    two = json.loads((tmp_path / "two.json").read_text())
    assert two == json.loads((out / "eval.json").read_text())
    assert json_lines(proc.stdout) == [two]


def test_single_process_sbd_finetune_scores_sentence_ends(tmp_path, capsys) -> None:
    out = tmp_path / "sbd"
    assert cli.main(["finetune", "sbd", "--output", str(out), "--n-train", "12", "--n-val", "0", "--n-test", "6",
                     *TINY, "--max-length", "64", "--stride", "16", "--max-steps", "3", "--no-progress"]) == 0
    result = json.loads((out / "eval.json").read_text())
    assert json_lines(capsys.readouterr().out) == [result]
    model, tok = load_tagger(out), AutoTokenizer.from_pretrained(out)
    assert tuple(model.config.id2label.values()) == SBD_LABELS
    docs = sbd_splits(seed=0, n_train=12, n_val=0, n_test=6)["test"]
    pred = predict_sentence_ends(model, tok, [d.text for d in docs], max_length=64, stride=16, batch_size=16, device="cpu")
    expected = boundary_scores([d.sentence_ends for d in docs], pred)
    assert {k: result[k] for k in expected} == expected and result["support"] == sum(len(d.sentence_ends) for d in docs)
    assert json.loads((out / "history.json").read_text())["evals"] == []  # no validation split, no evaluation


@pytest.mark.slow
def test_cli_finetune_and_the_books_finetune_tagger_give_the_same_weights_and_f1(tmp_path, capsys) -> None:
    """``rmd finetune ner`` and ``rmdlib.tagging.finetune_tagger`` (chapter 4's call): same seed, same data, same run."""
    out = tmp_path / "cli"
    flags = ["--n-train", "48", "--n-val", "8", "--n-test", "16", *TINY, "--max-steps", "4", "--eval-every", "2",
             "--eval-batch-size", "64", "--seed", "3", "--no-progress"]
    assert cli.main(["finetune", "ner", "--output", str(out), *flags]) == 0
    cli_f1 = json.loads((out / "eval.json").read_text())["f1"]
    cli_history = json.loads((out / "history.json").read_text())

    ds = load_ner("synthetic", seed=3, n_train=48, n_val=8, n_test=16)
    tok = AutoTokenizer.from_pretrained(out)  # the WordPiece the CLI trained on the same training texts
    seed_everything(3)
    encoder = build_encoder(vocab_size=len(tok), hidden=32, layers=1, heads=2, pad_token_id=tok.pad_token_id)
    cfg = TaggingConfig(batch_size=16, eval_batch_size=64, max_length=32, stride=8)
    train_cfg = TrainConfig(max_steps=4, eval_every=2, monitor="f1", mode="max", seed=3, progress=False)
    model, history = finetune_tagger(encoder, ds, tok, train_cfg, cfg, device="cpu")

    saved = load_file(str(out / "model.safetensors"))
    assert saved.keys() == model.state_dict().keys()
    for name, value in model.state_dict().items():
        assert torch.equal(saved[name], value), name
    assert evaluate_tagger(model, tok, ds["test"], cfg, device="cpu")["f1"] == cli_f1
    assert [e["f1"] for e in history.evals] == [e["f1"] for e in cli_history["evals"]]
    assert [r["loss"] for r in history.train] == [r["loss"] for r in cli_history["train"]]


def test_pretrain_starts_at_the_closed_form_losses_and_saves_an_encoder(tmp_path, capsys) -> None:
    out = tmp_path / "pt"
    assert cli.main(["pretrain", "--output", str(out), "--n-docs", "8", *TINY, "--max-length", "64",
                     "--max-steps", "2", "--log-every", "1", "--no-progress"]) == 0
    first = json.loads((out / "history.json").read_text())["train"][0]
    vocab = len(AutoTokenizer.from_pretrained(out))
    assert abs(first["mlm_loss"] - math.log(vocab)) < 0.05  # near-uniform generator at init: log V
    assert abs(first["disc_loss"] - math.log(2)) < 0.01  # near-zero discriminator logits: log 2
    assert math.isclose(first["loss"], first["mlm_loss"] + 50 * first["disc_loss"], rel_tol=1e-5)
    disc = ElectraForPreTraining.from_pretrained(out)
    assert disc.config.vocab_size == vocab and disc.config.hidden_size == 32
    assert json_lines(capsys.readouterr().out) == [json.loads((out / "pretrain.json").read_text())]
