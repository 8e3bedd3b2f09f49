"""Tests of rmdlib.checkpoint: files, RNG states and data order, and a resumed fit against an uninterrupted one."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from rmdlib.checkpoint import (SeededBatches, latest_checkpoint, load_weights, read_state, rng_state,
                               save_checkpoint, set_rng_state)
from rmdlib.train import TrainConfig, TrainConfigError, fit

from toy import D, T, TiedTagger, V, tagging_loss, toy_batch, toy_examples  # noqa: E402


def test_save_checkpoint_keeps_the_latest_whole_one(tmp_path) -> None:
    torch.manual_seed(0)
    model = TiedTagger()
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    first = save_checkpoint(tmp_path, 1, model, {"step": 1})
    path = save_checkpoint(tmp_path, 2, model, {"step": 2, "t": torch.arange(3)}, best=best, replaces=first)
    assert path == tmp_path / "step-0000002" and [p.name for p in tmp_path.iterdir()] == ["step-0000002"]
    (tmp_path / ".tmp-step-0000003").mkdir()  # a write that crashed before its rename
    (tmp_path / "step-0000009").mkdir()  # a directory without a state file
    assert latest_checkpoint(tmp_path) == path
    assert latest_checkpoint(tmp_path / "none") is None
    state = read_state(path)
    assert state["step"] == 2 and torch.equal(state["t"], torch.arange(3))
    torch.manual_seed(1)
    fresh = TiedTagger()
    loaded_best = load_weights(fresh, path)
    assert fresh.out.weight is fresh.emb.weight  # the tie survived saving and loading
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
        assert torch.equal(loaded_best[name], best[name]), name
    save_checkpoint(tmp_path, 3, model, {"step": 3})
    assert load_weights(fresh, tmp_path / "step-0000003") is None  # no best state saved


def test_rng_state_round_trip() -> None:
    g = torch.Generator().manual_seed(5)
    saved = rng_state(g)
    assert rng_state(object())["loss_fn"] is None  # only a torch.Generator is captured

    def draw() -> tuple:
        return random.random(), float(np.random.rand()), float(torch.rand(())), float(torch.rand((), generator=g))

    first = draw()
    set_rng_state(saved, g)
    assert draw() == first
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    set_rng_state(torch.load(buffer, weights_only=True), g)  # plain values and tensors only
    assert draw() == first


class ShuffledBatches(torch.utils.data.Sampler):
    """A batch sampler with its own generator, like rmdlib.tokens.LengthGroupedBatchSampler."""

    def __init__(self, n: int, size: int, generator: torch.Generator) -> None:
        self.n, self.size, self.generator = n, size, generator

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator).tolist()
        return iter([order[i:i + self.size] for i in range(0, self.n, self.size)])

    def __len__(self) -> int:
        return -(-self.n // self.size)


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    def loader() -> DataLoader:
        return DataLoader(list(range(12)), batch_sampler=ShuffledBatches(12, 4, torch.Generator().manual_seed(99)))

    def take(stream: SeededBatches, n: int) -> list[list[int]]:
        return [next(stream).tolist() for _ in range(n)]

    straight = take(SeededBatches(loader(), seed=5), 9)  # epochs 0, 1 and 2, three batches each
    assert sorted(sum(straight[3:6], [])) == list(range(12))  # each epoch is a permutation
    assert straight[:3] != straight[3:6] != straight[6:]  # and a different one
    resumed = SeededBatches(loader(), seed=5, epoch=1, consumed=2)  # a fresh loader, positioned mid-epoch 1
    assert take(resumed, 4) == straight[5:9]
    assert take(SeededBatches(loader(), seed=6), 3) != straight[:3]  # the seed decides the order


def test_empty_loader_is_a_config_error() -> None:
    with pytest.raises(TrainConfigError, match="no batches"):
        next(SeededBatches([], seed=0))


class Crash(Exception):
    pass


def _resume_setup(tmp_path, crash_after: int | None):
    """A shuffled DataLoader, dropout, a noisy loss with its own generator, evals; crash after n micro-batches."""
    noise = torch.Generator().manual_seed(7)
    calls = {"n": 0}

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        if model.training:
            calls["n"] += 1
            if crash_after is not None and calls["n"] > crash_after:
                raise Crash
        loss, logs = tagging_loss(model, batch)
        return loss + 0.01 * torch.randn((), generator=noise), logs

    loss_fn.generator = noise  # fit saves and restores it
    loader = DataLoader(toy_examples(24, 0), batch_size=4, shuffle=True)  # no generator: fit gives one
    val = DataLoader(toy_examples(8, 1), batch_size=4)
    cfg = TrainConfig(lr=0.05, max_steps=10, grad_accum=2, eval_every=2, checkpoint_every=2, log_every=2,
                      checkpoint_dir=str(tmp_path), restore_best=False, seed=3, progress=False)
    return loss_fn, loader, val, cfg


def test_resume_equals_uninterrupted_run(tmp_path) -> None:
    torch.manual_seed(0)
    straight = TiedTagger()
    loss_fn, loader, val, cfg = _resume_setup(tmp_path / "a", None)
    h_straight = fit(straight, loss_fn, loader, val, cfg, device="cpu")

    torch.manual_seed(0)
    crashed = TiedTagger()
    loss_fn, loader, val, cfg = _resume_setup(tmp_path / "b", crash_after=11)  # dies in step 6 (3 steps/epoch)
    with pytest.raises(Crash):
        fit(crashed, loss_fn, loader, val, cfg, device="cpu")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["step-0000004"]  # epoch 1, 2 of 6 batches used

    torch.manual_seed(123)  # a different init and RNG state: everything must come from the checkpoint
    resumed = TiedTagger()
    loss_fn, loader, val, cfg = _resume_setup(tmp_path / "b", None)
    h_resumed = fit(resumed, loss_fn, loader, val, cfg, resume=True, device="cpu")

    assert resumed.out.weight is resumed.emb.weight  # the tie survived loading
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6, msg=name)
    assert [r["loss"] for r in h_resumed.train] == pytest.approx([r["loss"] for r in h_straight.train], abs=1e-6)
    assert len(h_resumed.evals) == len(h_straight.evals) == 5
    for e_straight, e_resumed in zip(h_straight.evals, h_resumed.evals):
        assert e_resumed == pytest.approx(e_straight, abs=1e-6)


def test_resume_refuses_a_changed_config_and_starts_fresh_without_checkpoint(tmp_path) -> None:
    batch = toy_batch()
    cfg = TrainConfig(max_steps=2, checkpoint_dir=str(tmp_path), progress=False)
    torch.manual_seed(0)
    fresh = fit(TiedTagger(), tagging_loss, [batch], cfg=cfg, resume=True, device="cpu")  # nothing saved yet: from scratch
    torch.manual_seed(0)
    plain = fit(TiedTagger(), tagging_loss, [batch], cfg=TrainConfig(max_steps=2, progress=False), device="cpu")
    assert [r["loss"] for r in fresh.train] == [r["loss"] for r in plain.train]
    with pytest.raises(TrainConfigError, match="lr"):
        fit(TiedTagger(), tagging_loss, [batch], cfg=TrainConfig(**{**cfg.__dict__, "lr": 1.0}), resume=True, device="cpu")


def test_checkpoints_delete_only_what_this_run_wrote(tmp_path) -> None:
    """The user's step-* folder and file, and another run's checkpoint, survive a fit that checkpoints there."""
    (tmp_path / "step-by-step").mkdir()
    (tmp_path / "step-by-step" / "notes.txt").write_text("mine")
    (tmp_path / "step-plan.md").write_text("mine too")  # the old code's rmtree failed on a file
    torch.manual_seed(0)
    other = save_checkpoint(tmp_path, 99, TiedTagger(), {"step": 99})  # another run's, kept
    loss_fn, loader, val, cfg = _resume_setup(tmp_path, None)
    fit(TiedTagger(), loss_fn, loader, val, cfg, device="cpu")  # checkpoints at steps 2, 4, ..., 10
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["step-0000010", "step-0000099", "step-by-step", "step-plan.md"]
    assert (tmp_path / "step-by-step" / "notes.txt").read_text() == "mine" and read_state(other)["step"] == 99
