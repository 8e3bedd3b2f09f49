"""The device is passed, not inferred: every call that trains or predicts runs on the device it is given.

No GPU here, so the requested device is PyTorch's ``meta`` device (tensors with
shapes and no data): a call that ignored the request and stayed on the model's
device (the CPU, where chapter 4 builds its encoder) would be seen at once.  A
spy -- a global forward pre-hook -- records the device of the first tensor a
module receives and of that module's weights, then stops the run; nothing needs
to compute on ``meta``.  A second test reads the chapters: every training and
prediction call in them passes ``device=``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch.nn.modules.module import register_module_forward_pre_hook

from rmdlib import infer, models, synth, tagging, train
from rmdlib.data import load_ner
from rmdlib.tokens import train_wordpiece

ROOT = Path(__file__).resolve().parents[1]
META = torch.device("meta")


class _Reached(Exception):
    """Raised by the spy at the first forward call: the run went far enough to be judged."""


@pytest.fixture
def spy():
    """Devices seen at the first module call that gets a tensor: {"input": ..., "weights": {...}}."""
    seen: dict = {}

    def hook(module, args):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if not tensors:
            return None
        seen["input"] = tensors[0].device
        seen["weights"] = {p.device for p in module.parameters()}
        raise _Reached

    handle = register_module_forward_pre_hook(hook)
    yield seen
    handle.remove()


@pytest.fixture(scope="module")
def world():
    ds = load_ner("synthetic", seed=0, n_train=40, n_val=10, n_test=10)
    tok = train_wordpiece(synth.corpus(seed=0, n_docs=40), vocab_size=400)
    return ds, tok


def _cpu_encoder(tok):
    """As chapter 4 builds it: on the CPU, never moved."""
    torch.manual_seed(0)
    return models.build_encoder(None, vocab_size=len(tok), hidden=32, layers=1, heads=2)


def _assert_ran_on(seen: dict, device: torch.device) -> None:
    assert seen, "the spy saw no forward call"
    assert seen["input"] == device, f"a batch reached the model on {seen['input']}, not {device}"
    assert seen["weights"] <= {device}, f"the model ran with weights on {seen['weights']}, not {device}"


def test_finetune_tagger_trains_on_the_requested_device_not_the_encoders(world, spy):
    ds, tok = world
    encoder = _cpu_encoder(tok)
    assert next(encoder.parameters()).device.type == "cpu"
    with pytest.raises(_Reached):
        tagging.finetune_tagger(encoder, ds, tok, train.TrainConfig(max_steps=1, progress=False),
                                tagging.TaggingConfig(batch_size=4), device=META)
    _assert_ran_on(spy, META)


def test_fit_moves_the_model_and_every_batch_to_the_requested_device(world, spy):
    ds, tok = world
    model = models.build_tagger(_cpu_encoder(tok), tagging.label_names(ds))
    win = tagging.windows(ds, tok)
    loader = tagging.train_loader(win["train"], tok, tagging.TaggingConfig(batch_size=4), device=META)
    with pytest.raises(_Reached):
        train.fit(model, models.tagging_loss_fn(), loader, cfg=train.TrainConfig(max_steps=1, progress=False),
                  device=META)
    _assert_ran_on(spy, META)


@pytest.mark.parametrize("predict", [
    lambda m, tok, ds: infer.predict_tags(m, tok, ds["test"]["tokens"], device=META),
    lambda m, tok, ds: infer.tag(m, tok, "Ann met Bob in Paris.", device=META),
    lambda m, tok, ds: infer.predict_sentence_ends(m, tok, "Ann left. Bob came.", device=META),
    lambda m, tok, ds: infer.split_sentences(m, tok, "Ann left. Bob came.", device=META),
    lambda m, tok, ds: tagging.evaluate_tagger(m, tok, ds["test"], device=META),
], ids=["predict_tags", "tag", "predict_sentence_ends", "split_sentences", "evaluate_tagger"])
def test_prediction_runs_on_the_requested_device(world, spy, predict):
    ds, tok = world
    model = models.build_tagger(_cpu_encoder(tok), tagging.label_names(ds))
    with pytest.raises(_Reached):
        predict(model, tok, ds)
    _assert_ran_on(spy, META)


def test_the_spy_sees_a_call_that_ignores_the_request(world, spy):
    """The check above can fail: a model left on the CPU is reported as such."""
    ds, tok = world
    model = models.build_tagger(_cpu_encoder(tok), tagging.label_names(ds))
    batch = tok(["Ann met Bob"], return_tensors="pt")
    with pytest.raises(_Reached):
        model(**batch)  # the old way: wherever the model happens to be
    with pytest.raises(AssertionError, match="on cpu, not meta"):
        _assert_ran_on(spy, META)


# Calls that train or predict: each must say where (rmdlib's signatures require it too).
_DEVICE_CALLS = {"fit", "finetune_tagger", "fit_tagger", "predict_tags", "predict_logits", "predict_sentence_ends",
                 "split_sentences", "tag", "evaluate_tagger", "predict_split", "train_loader", "evaluate",
                 "cached_pretrain", "pretrain", "continue_pretraining"}
_SOURCES = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py")) + [ROOT / "project" / "starter.py"]


def _library_calls(tree: ast.Module):
    """Calls of ``_DEVICE_CALLS`` imported from rmdlib (``infer.tag``, ``finetune_tagger``, ...)."""
    bare = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("rmdlib") for a in node.names if a.name in _DEVICE_CALLS}
    modules = {"infer", "tagging", "train", "zoo", "transfer", "models"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id in bare) or (
                    isinstance(f, ast.Attribute) and f.attr in _DEVICE_CALLS
                    and isinstance(f.value, ast.Name) and f.value.id in modules):
                yield node


@pytest.mark.parametrize("path", _SOURCES, ids=lambda p: p.stem)
def test_every_chapter_call_that_trains_or_predicts_passes_the_profiles_device(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = list(_library_calls(tree))
    missing = [f"{path.name}:{c.lineno}: {ast.unparse(c.func)}" for c in calls
               if not any(k.arg == "device" for k in c.keywords)]
    assert not missing, "calls without device=P.device:\n" + "\n".join(missing)
    other = [f"{path.name}:{c.lineno}" for c in calls for k in c.keywords
             if k.arg == "device" and ast.unparse(k.value) not in ("P.device", "'cpu'")]
    assert not other, f"device must be the profile's (P.device), or 'cpu' for a CPU timing: {other}"


def test_learning_rates_live_in_the_profile_not_in_the_chapters():
    branching = [f"{p.name}:{i}" for p in _SOURCES for i, line in enumerate(p.read_text().splitlines(), 1)
                 if "lr=" in line and "P.encoder is None" in line]
    assert not branching, f"pick the learning rate with P.finetune_lr / P.student_lr: {branching}"
