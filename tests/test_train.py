"""Tests of rmdlib.train: the loop's numbers against closed forms (resume is in test_checkpoint.py)."""

from __future__ import annotations

import io
import math
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rmdlib.train import (History, TrainConfig, TrainConfigError, _count_tokens, _to_device, build_optimizer,
                          build_scheduler, evaluate, fit, lr_factor, param_groups, progress_enabled)

from toy import D, T, TiedTagger, V, tagging_loss, toy_batch, toy_examples  # noqa: E402


def test_fit_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = nn.Linear(16, 4)
    x, y = torch.randn(8, 16), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    loss_fn = lambda m, b: F.cross_entropy(m(b[0]), b[1])  # noqa: E731
    start = loss_fn(model, (x, y)).item()
    cfg = TrainConfig(lr=0.1, weight_decay=0.0, max_steps=60, warmup_steps=0, log_every=1, progress=False)
    history = fit(model, loss_fn, [(x, y)], cfg=cfg, device="cpu")
    first, last = history.train[0]["loss"], history.train[-1]["loss"]
    assert first == pytest.approx(start)  # the first record is the untrained model's loss
    assert last < 0.1 * first
    assert [r["step"] for r in history.train] == list(range(1, 61))


def test_weight_decay_is_chosen_by_tensor_rank() -> None:
    model = TiedTagger()
    model.frozen = nn.Parameter(torch.zeros(3, 3), requires_grad=False)
    groups = build_optimizer(model, TrainConfig(weight_decay=0.1), device="cpu").param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.1 for p in g["params"]}
    plain = {id(p) for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert decayed == {id(model.emb.weight)}  # the tied matrix, once
    assert plain == {id(model.norm.weight), id(model.norm.bias), id(model.out.bias)}
    assert len(groups) == 2 and all(p.dim() >= 2 for p in groups[0]["params"])


def test_adamw_uses_the_fused_kernel_on_cpu_with_plain_adamw_results() -> None:
    model = TiedTagger()
    opt = build_optimizer(model, TrainConfig(lr=1e-2, weight_decay=0.1), device="cpu")
    assert opt.defaults["fused"] is True
    reference = TiedTagger()
    reference.load_state_dict(model.state_dict())
    ref_opt = torch.optim.AdamW(param_groups(reference, 0.1), lr=1e-2, foreach=False)
    for m, o in ((model, opt), (reference, ref_opt)):
        for p in m.parameters():
            p.grad = torch.ones_like(p)
        o.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


def test_only_vector_group_when_no_matrices() -> None:
    norm = nn.LayerNorm(4)
    groups = param_groups(norm, 0.1)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.0
    assert [id(p) for p in groups[0]["params"]] == [id(norm.weight), id(norm.bias)]


def test_lr_scale_gives_a_prefix_its_own_lr_and_leaves_shared_parameters_at_the_base() -> None:
    model = TiedTagger()  # emb.weight is also out.weight: two names, one Parameter
    cfg = TrainConfig(lr=1e-3, weight_decay=0.1, lr_scale=(("out.", 10.0), ("norm.", 3.0)))
    groups = build_optimizer(model, cfg, device="cpu").param_groups
    by_param = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert by_param == {id(model.emb.weight): (1e-3, 0.1),  # shared with emb.: not every name starts with out.
                        id(model.out.bias): (1e-2, 0.0),  # only out.bias: 10 x lr, no decay (a vector)
                        id(model.norm.weight): (3e-3, 0.0), id(model.norm.bias): (3e-3, 0.0)}
    scheduler = build_scheduler(build_optimizer(model, cfg, device="cpu"), warmup=2, total=4)
    scheduler.optimizer.step(), scheduler.step()  # step 1 of a 2-step warm-up: half the peak, in every group
    assert sorted(scheduler.get_last_lr()) == pytest.approx([5e-4, 1.5e-3, 5e-3])


def test_lr_scale_refuses_a_prefix_that_names_nothing_and_bad_pairs() -> None:
    with pytest.raises(ValueError, match="'decoder.'"):
        build_optimizer(TiedTagger(), TrainConfig(lr_scale=(("decoder.", 2.0),)), device="cpu")
    with pytest.raises(TrainConfigError, match="lr_scale"):
        TrainConfig(lr_scale=(("out.", 0.0),))


def test_lr_schedule_matches_closed_form_and_transformers() -> None:
    from transformers import get_linear_schedule_with_warmup

    peak, warmup, total = 0.5, 3, 10
    ours = build_scheduler(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=peak), warmup=warmup, total=total)
    ref_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=peak)
    ref = get_linear_schedule_with_warmup(ref_opt, num_warmup_steps=warmup, num_training_steps=total)
    lrs, ref_lrs = [], []
    for _ in range(total):
        lrs.append(ours.get_last_lr()[0])
        ref_lrs.append(ref.get_last_lr()[0])
        ours.optimizer.step(), ours.step(), ref_opt.step(), ref.step()
    assert lrs[0] == 0.0  # step 0: start of warm-up
    assert lrs[warmup] == peak  # end of warm-up: the peak
    assert lrs[-1] == pytest.approx(peak * 1 / (total - warmup))  # last step: one step before 0
    assert lrs[1] == pytest.approx(peak / warmup)
    assert lrs == pytest.approx(ref_lrs)
    assert lr_factor(total, warmup=warmup, total=total) == 0.0


def test_fit_logs_the_lr_each_step_used() -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(lr=0.1, max_steps=8, warmup_ratio=0.25, log_every=1, progress=False)
    batch = toy_batch()
    history = fit(TiedTagger(), tagging_loss, [batch], cfg=cfg, device="cpu")
    assert cfg.warmup(8) == 2 and history.config == asdict(cfg)
    assert [r["lr"] for r in history.train] == pytest.approx([0.1 * lr_factor(s, warmup=2, total=8) for s in range(8)])
    assert all(0.0 <= r["acc"] <= 1.0 for r in history.train)  # the loss function's logs are recorded
    assert history.train[0]["tokens_per_s"] > 0


def test_count_tokens_uses_attention_mask() -> None:
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert _count_tokens({"input_ids": torch.zeros(2, 3), "attention_mask": mask}) == 3
    assert _count_tokens({"input_ids": torch.zeros(2, 3)}) == 6
    assert _count_tokens((torch.zeros(2, 3), torch.zeros(2))) == 0


def test_to_device_keeps_the_batch_structure() -> None:
    from collections import namedtuple

    from transformers import BatchEncoding

    pair = namedtuple("Pair", "x y")
    moved = _to_device({"a": pair(torch.ones(1), [1, None]), "b": BatchEncoding({"ids": torch.zeros(2)})}, "cpu")
    assert isinstance(moved["a"], pair) and moved["a"].y == [1, None] and torch.equal(moved["b"]["ids"], torch.zeros(2))


def test_grad_accumulation_equals_one_big_batch() -> None:
    x, y = torch.randn(8, 6, generator=torch.Generator().manual_seed(1)), torch.randn(8, 1)
    loss_fn = lambda m, b: F.mse_loss(m(b[0]), b[1])  # noqa: E731  a mean over the batch
    cfg = TrainConfig(lr=0.1, weight_decay=0.1, max_steps=1, warmup_steps=0, grad_clip=None, progress=False)
    torch.manual_seed(0)
    big = nn.Linear(6, 1)
    small = nn.Linear(6, 1)
    small.load_state_dict(big.state_dict())
    fit(big, loss_fn, [(x, y)], cfg=cfg, device="cpu")
    micro = [(x[i:i + 2], y[i:i + 2]) for i in range(0, 8, 2)]
    fit(small, loss_fn, micro, cfg=TrainConfig(**{**cfg.__dict__, "grad_accum": 4}), device="cpu")
    assert not torch.equal(big.weight, small.weight.new_zeros(1, 6))
    torch.testing.assert_close(small.weight, big.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(small.bias, big.bias, rtol=0, atol=1e-6)


def test_loss_scaling_does_not_change_the_update(monkeypatch) -> None:
    """The fp16 path (GradScaler) unscales before clipping, so clipped updates equal the unscaled ones."""
    import rmdlib.train as train

    x, y = torch.randn(8, 6, generator=torch.Generator().manual_seed(2)), torch.randn(8, 1)
    loss_fn = lambda m, b: F.mse_loss(m(b[0]), b[1])  # noqa: E731
    cfg = TrainConfig(lr=0.1, max_steps=5, warmup_steps=0, grad_clip=0.05, progress=False)  # clipping is active
    torch.manual_seed(0)
    plain, scaled = nn.Linear(6, 1), nn.Linear(6, 1)
    scaled.load_state_dict(plain.state_dict())
    history = fit(plain, loss_fn, [(x, y)], cfg=cfg, device="cpu")
    assert all(r["grad_norm"] > 0.05 for r in history.train)
    monkeypatch.setattr(train, "_amp", lambda device, amp: (None, torch.amp.GradScaler("cpu", init_scale=2.0**10)))
    fit(scaled, loss_fn, [(x, y)], cfg=cfg, device="cpu")
    torch.testing.assert_close(scaled.weight, plain.weight, rtol=0, atol=1e-6)


def test_no_mixed_precision_on_cpu() -> None:
    from rmdlib.train import _amp

    for amp in ("auto", "bf16", "fp16", "off"):
        dtype, scaler = _amp(torch.device("cpu"), amp)
        assert dtype is None and not scaler.is_enabled()


def test_early_stopping_stops_after_patience_and_restores_best() -> None:
    scripted = iter([0.5, 0.7, 0.6, 0.65, 0.69, 0.9])  # best at the 2nd eval, then 3 worse ones
    snapshots = []

    def eval_fn(model: nn.Module) -> dict[str, float]:
        assert not model.training
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"f1": next(scripted)}

    batch = toy_batch()
    cfg = TrainConfig(lr=0.05, max_steps=20, eval_every=1, monitor="f1", mode="max", patience=3, progress=False)
    torch.manual_seed(0)
    model = TiedTagger()
    history = fit(model, tagging_loss, [batch], cfg=cfg, eval_fn=eval_fn, device="cpu")
    assert [e["f1"] for e in history.evals] == [0.5, 0.7, 0.6, 0.65, 0.69]
    assert history.stopped_early and history.best == (2, 0.7) and history.evals_since_best == 3
    assert history.train[-1]["step"] == 5
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][name]), name
    assert model.training  # fit leaves the model in train mode


def test_early_stopping_needs_the_monitored_metric() -> None:
    batch = (torch.randn(2, 3), torch.randn(2, 1))
    cfg = TrainConfig(max_steps=2, monitor="f1", progress=False)
    with pytest.raises(TrainConfigError, match="f1"):
        fit(nn.Linear(3, 1), lambda m, b: F.mse_loss(m(b[0]), b[1]), [batch], [batch], cfg, device="cpu")


def test_evaluate_is_the_mean_batch_loss_and_restores_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 1), nn.Dropout(0.5))
    batches = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(3)]
    loss_fn = lambda m, b: (F.mse_loss(m(b[0]), b[1]), {"double": 2 * F.mse_loss(m(b[0]), b[1]).item()})  # noqa
    model.eval()
    expected = sum(F.mse_loss(model(x), y).item() for x, y in batches) / 3
    model.train()
    out = evaluate(model, batches, loss_fn, device="cpu")
    assert out["loss"] == pytest.approx(expected) and out["double"] == pytest.approx(2 * expected)
    assert model.training
    model.eval()
    evaluate(model, batches, loss_fn, device="cpu")
    assert not model.training


def test_progress_bar_only_on_a_terminal(monkeypatch) -> None:
    class Stream(io.StringIO):
        def __init__(self, tty: bool) -> None:
            super().__init__()
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delenv("RMD_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stdout", Stream(False))
    assert progress_enabled(None) is False
    monkeypatch.setattr("sys.stdout", Stream(True))
    assert progress_enabled(None) is True
    monkeypatch.setenv("RMD_PROGRESS", "0")
    assert progress_enabled(None) is False
    assert progress_enabled(True) is True
    monkeypatch.setattr("sys.stdout", Stream(False))
    monkeypatch.setenv("RMD_PROGRESS", "1")
    assert progress_enabled(None) is True


def test_fit_is_quiet_when_not_a_terminal(capsys, monkeypatch) -> None:
    monkeypatch.delenv("RMD_PROGRESS", raising=False)
    fit(nn.Linear(3, 1), lambda m, b: F.mse_loss(m(b[0]), b[1]), [(torch.randn(2, 3), torch.randn(2, 1))],
        cfg=TrainConfig(max_steps=3), device="cpu")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_history_frame_plot_and_best() -> None:
    history = History(monitor="loss", mode="min",
                      train=[{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}, {"step": 3, "loss": 0.5}],
                      evals=[{"step": 2, "loss": 1.5}, {"step": 3, "loss": 1.5}])
    frame = history.to_frame()
    assert list(frame["step"]) == [1, 2, 3]
    assert math.isnan(frame["val_loss"][0]) and list(frame["val_loss"][1:]) == [1.5, 1.5]
    assert history.best == (2, 1.5) and history.evals_since_best == 1
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert history.plot(ax) is ax
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines == {"loss": [2.0, 1.0, 0.5], "val_loss": [1.5, 1.5]}
    plt.close(fig)
    assert History().best is None


def test_config_rejects_bad_values() -> None:
    for bad in ({"mode": "up"}, {"grad_accum": 0}, {"amp": "fp8"}, {"warmup_ratio": 1.5}, {"patience": 0}):
        with pytest.raises(TrainConfigError):
            TrainConfig(**bad)
    cfg = TrainConfig(epochs=3, grad_accum=2, warmup_ratio=0.1)
    assert cfg.total_steps(10) == 15 and cfg.warmup(15) == 2 and not cfg.early_stopping
    assert TrainConfig(max_steps=7).total_steps(None) == 7
    with pytest.raises(TrainConfigError, match="max_steps"):
        cfg.total_steps(None)


def test_a_step_the_fp16_scaler_skips_does_not_advance_the_schedule(monkeypatch) -> None:
    """An overflow (inf loss) makes the GradScaler skip optimizer.step and halve its scale: the lr stays put.

    A real GradScaler (CPU) stands in for CUDA's: fit's rule reads only its scale.
    Step 2's loss is inf, so step 2 changes no weight and step 3 runs at step 2's lr;
    the schedule then follows the steps the optimizer really took.
    """
    import rmdlib.train as train

    x, y = torch.randn(8, 6, generator=torch.Generator().manual_seed(2)), torch.randn(8, 1)
    calls, weights = [], []

    def loss_fn(m, b):
        calls.append(len(calls) + 1)
        weights.append(m.weight.detach().clone())
        loss = F.mse_loss(m(b[0]), b[1])
        return loss * float("inf") if len(calls) == 2 else loss

    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    monkeypatch.setattr(train, "_amp", lambda device, amp: (None, scaler))
    cfg = TrainConfig(lr=0.1, max_steps=4, warmup_steps=0, log_every=1, progress=False)
    torch.manual_seed(0)
    history = fit(nn.Linear(6, 1), loss_fn, [(x, y)], cfg=cfg, device="cpu")
    lrs = [r["lr"] for r in history.train]
    decay = [lr_factor(s, warmup=0, total=4) * 0.1 for s in range(4)]  # 0.1, 0.075, 0.05, 0.025
    assert lrs == pytest.approx([decay[0], decay[1], decay[1], decay[2]])  # step 3 repeats step 2's lr
    torch.testing.assert_close(weights[2], weights[1], rtol=0, atol=0)  # the skipped step moved nothing
    assert not torch.equal(weights[1], weights[0]) and not torch.equal(weights[3], weights[2])
    assert scaler.get_scale() == 2.0**9  # halved once, by the one overflow


def test_optimizer_step_reports_a_skip_by_the_scale_it_lowered() -> None:
    """``_optimizer_step``'s rule on a scaler whose ``update`` lowers the scale (it skipped) and one that does not."""
    from rmdlib.train import _optimizer_step

    class Scaler:  # the GradScaler interface fit uses; a skip shows as a lower scale after update()
        def __init__(self, skip: bool) -> None:
            self.skip, self.scale = skip, 8.0

        def is_enabled(self):
            return True

        def get_scale(self):
            return self.scale

        def unscale_(self, optimizer):
            pass

        def step(self, optimizer):
            if not self.skip:
                optimizer.step()

        def update(self):
            self.scale = self.scale / 2 if self.skip else self.scale

    for skip in (True, False):
        model = nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        scheduler = build_scheduler(optimizer, warmup=0, total=10)
        model(torch.ones(1, 3)).sum().backward()
        before = model.weight.detach().clone()
        _, stepped = _optimizer_step(model, optimizer, scheduler, Scaler(skip), grad_clip=None)
        assert stepped is (not skip)
        assert scheduler.last_epoch == (0 if skip else 1)
        assert torch.equal(model.weight, before) is skip
        assert all(p.grad is None for p in model.parameters())  # gradients cleared either way


def test_ddp_micro_batches_but_the_last_skip_the_all_reduce() -> None:
    """With grad_accum = 3, fit runs forward *and backward* of micro-batches 1 and 2 inside ``no_sync()``.

    DDP all-reduces during backward; a spy records, for each backward, whether it
    ran inside the model's ``no_sync`` context (a DDP model's; a plain model has none).
    """
    import contextlib

    class SpyDDP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.syncing, self.backwards = nn.Linear(4, 1), True, []
            self.lin.weight.register_hook(lambda g: self.backwards.append(self.syncing) or g)

        @contextlib.contextmanager
        def no_sync(self):
            self.syncing = False
            try:
                yield
            finally:
                self.syncing = True

        def forward(self, x):
            return self.lin(x)

    model = SpyDDP()
    batches = [(torch.randn(2, 4), torch.randn(2, 1)) for _ in range(6)]
    cfg = TrainConfig(max_steps=2, grad_accum=3, progress=False)
    fit(model, lambda m, b: F.mse_loss(m(b[0]), b[1]), batches, cfg=cfg, device="cpu")
    assert model.backwards == [False, False, True, False, False, True]  # all-reduce once per optimizer step
