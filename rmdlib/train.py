"""One readable training loop: ``TrainConfig``, ``fit``, ``evaluate`` and ``History``.

Every run of the course is ``fit(model, loss_fn, train_loader, ...)`` with a
different ``loss_fn(model, batch) -> loss`` or ``(loss, logs)``: RTD pretraining,
tagging, distillation and adversarial training are loss functions, not trainer
subclasses.  The loop: AdamW with decay chosen by tensor rank, linear warm-up
then linear decay, gradient accumulation and clipping, mixed precision on CUDA,
evaluation with early stopping and best-state restore, checkpoint and resume.
Resume is exact (the same weights as a run that never stopped); how is
explained in ``rmdlib.checkpoint``, which holds the data order and the
checkpoint files.

Used in chapters 3, 4, 5, 6, 7, 8 and 9.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from rmdlib.batch import LossFn
from rmdlib.checkpoint import (SeededBatches, TrainConfigError, latest_checkpoint, load_weights, read_state,
                               rng_state, save_checkpoint, set_rng_state)

__all__ = ["History", "LossFn", "TrainConfig", "TrainConfigError", "amp_dtype", "build_optimizer",
           "build_scheduler", "evaluate", "fit", "lr_factor", "param_groups", "progress_enabled"]

_RESUMABLE_DIFFS = {"progress", "log_every", "checkpoint_dir", "checkpoint_every"}  # may change on resume


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run except the model, the data and the loss.  Used in chapters 3, 4, 5, 6, 7, 8 and 9."""

    lr: float = 3e-4  # peak learning rate, reached at the end of warm-up
    # (prefix, factor) pairs: a parameter whose every name (shared ones have several) starts with prefix
    # trains at factor * lr, e.g. (("generator.", 10.0),) for ELECTRA's generator alone (param_groups)
    lr_scale: tuple[tuple[str, float], ...] = ()
    weight_decay: float = 0.01  # decoupled AdamW decay; only matrices (p.dim() >= 2) are decayed
    betas: tuple[float, float] = (0.9, 0.999)  # Adam moment decays (PyTorch's defaults)
    epochs: int = 1  # passes over train_loader; ignored when max_steps is set
    max_steps: int | None = None  # optimizer steps in all: fixes the compute budget, not the data
    warmup_ratio: float = 0.1  # share of steps ramping lr up from 0, as in BERT and ELECTRA
    warmup_steps: int | None = None  # absolute warm-up, overrides warmup_ratio
    grad_clip: float | None = 1.0  # largest global gradient L2 norm; tames early spikes (None = off)
    grad_accum: int = 1  # micro-batches per optimizer step: a big batch in small memory
    amp: str = "auto"  # "auto" (bf16 if supported, else fp16 + GradScaler), "bf16", "fp16", "off"; CUDA only
    eval_every: int | None = None  # optimizer steps between evaluations (None = once per epoch)
    monitor: str = "loss"  # metric that picks the best state and drives early stopping ("loss", "f1", ...)
    mode: str = "min"  # "min" for losses, "max" for scores
    patience: int | None = None  # stop after this many evaluations without improvement (None = never)
    restore_best: bool = True  # end with the best evaluated weights, not the last ones
    checkpoint_dir: str | None = None  # where checkpoints go (None = none)
    checkpoint_every: int | None = None  # optimizer steps between checkpoints (None = only the last)
    seed: int = 0  # seeds each epoch's shuffle, so any epoch's order can be replayed
    log_every: int = 10  # optimizer steps per History record (each record syncs the GPU once)
    progress: bool | None = None  # tqdm bar; None = only on a terminal, RMD_PROGRESS=0/1 overrides

    def __post_init__(self) -> None:
        checks = {
            "mode must be 'min' or 'max'": self.mode in ("min", "max"),
            "amp must be 'auto', 'bf16', 'fp16' or 'off'": self.amp in ("auto", "bf16", "fp16", "off"),
            "grad_accum, epochs and log_every must be >= 1": min(self.grad_accum, self.epochs, self.log_every) >= 1,
            "warmup_ratio must be in [0, 1]": 0.0 <= self.warmup_ratio <= 1.0,
            "lr_scale must hold (prefix, factor > 0) pairs": all(
                isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], (int, float)) and pair[1] > 0 for pair in self.lr_scale),
            "max_steps, eval_every, checkpoint_every and patience must be >= 1 or None": all(
                v is None or v >= 1 for v in (self.max_steps, self.eval_every, self.checkpoint_every, self.patience)),
        }
        for reason, ok in checks.items():
            if not ok:
                raise TrainConfigError(f"TrainConfig: {reason} (got {self})")

    @property
    def early_stopping(self) -> bool:
        """Whether evaluations can end the run (patience is set)."""
        return self.patience is not None

    def total_steps(self, batches_per_epoch: int | None) -> int:
        """Optimizer steps in the run: max_steps, or epochs * batches // grad_accum."""
        if self.max_steps is not None:
            return self.max_steps
        if batches_per_epoch is None:
            raise TrainConfigError("train_loader has no len(): set TrainConfig.max_steps")
        return max(1, self.epochs * batches_per_epoch // self.grad_accum)

    def warmup(self, total: int) -> int:
        """Warm-up steps: warmup_steps, or round(warmup_ratio * total)."""
        return self.warmup_steps if self.warmup_steps is not None else round(self.warmup_ratio * total)


@dataclass
class History:
    """What a run recorded: ``train`` (one dict per log step) and ``evals`` (one per evaluation).

    Train records hold step, epoch, loss (mean over the logged steps), lr (used
    by that step), grad_norm (before clipping), tokens_per_s and the means of
    the loss function's logs.  Eval records hold step and every metric.
    """

    monitor: str = "loss"
    mode: str = "min"
    config: dict[str, Any] = field(default_factory=dict)  # asdict(TrainConfig) of the run
    train: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def best(self) -> tuple[int, float] | None:
        """(step, value) of the first evaluation with the best ``monitor`` value; None before any."""
        scored = [(e["step"], e[self.monitor]) for e in self.evals]
        if not scored:
            return None
        pick = max if self.mode == "max" else min
        return pick(scored, key=lambda sv: sv[1])  # max/min return the first of equal values

    @property
    def evals_since_best(self) -> int:
        """Evaluations after the best one: early stopping compares this with ``patience``."""
        best = self.best
        return 0 if best is None else sum(e["step"] > best[0] for e in self.evals)

    def to_frame(self) -> Any:
        """One pandas DataFrame per step: train columns, and eval columns prefixed ``val_``."""
        import pandas as pd

        train = pd.DataFrame(self.train, columns=["step"] if not self.train else None)
        evals = pd.DataFrame(self.evals, columns=["step"] if not self.evals else None)
        evals = evals.rename(columns={k: f"val_{k}" for k in evals.columns if k != "step"})
        return train.merge(evals, on="step", how="outer").sort_values("step").reset_index(drop=True)

    def plot(self, ax: Any = None, keys: Iterable[str] = ("loss", "val_loss")) -> Any:
        """Plot the ``keys`` columns of ``to_frame()`` against the step; returns the matplotlib Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        frame = self.to_frame()
        for key in keys:
            if key in frame:
                rows = frame[["step", key]].dropna()
                ax.plot(rows["step"], rows[key], marker="o" if key.startswith("val_") else None, label=key)
        ax.set_xlabel("optimizer step")
        ax.legend()
        return ax


def param_groups(model: nn.Module, weight_decay: float,
                 lr_scale: Sequence[tuple[str, float]] = (), lr: float | None = None) -> list[dict[str, Any]]:
    """AdamW groups chosen by tensor rank: matrices (p.dim() >= 2) decay, biases and norms do not.

    Rank, not names: every weight matrix and embedding is decayed, every
    vector (bias, LayerNorm gain) is not, whatever the model calls them.
    Frozen parameters (requires_grad False) are left out.  ``lr_scale``
    (``TrainConfig.lr_scale``) splits each group further: a parameter all of
    whose names start with a prefix gets its own group at ``factor * lr``, so a
    Parameter shared between two modules (ELECTRA's embeddings) keeps the base
    lr unless every module that holds it is scaled.  The first prefix that
    matches wins.
    """
    if lr_scale and lr is None:
        raise ValueError("param_groups: lr_scale needs the base lr")
    names: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    for prefix, _ in lr_scale:
        if not any(n.startswith(prefix) for ns in names.values() for n in ns):
            raise ValueError(f"param_groups: lr_scale prefix {prefix!r} names no parameter of the model")

    def factor(p: nn.Parameter) -> float:
        for prefix, f in lr_scale:
            if all(n.startswith(prefix) for n in names[id(p)]):
                return f
        return 1.0

    params = [p for p in model.parameters() if p.requires_grad]
    groups = []
    for f in dict.fromkeys([1.0, *(f for _, f in lr_scale)]):
        for decay, of_rank in ((weight_decay, lambda p: p.dim() >= 2), (0.0, lambda p: p.dim() < 2)):
            group = {"params": [p for p in params if of_rank(p) and factor(p) == f], "weight_decay": decay}
            if f != 1.0:
                group["lr"] = f * lr
            groups.append(group)
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: TrainConfig, *, device: torch.device | str) -> torch.optim.AdamW:
    """AdamW (Loshchilov & Hutter, 2019) over ``param_groups``; the fused kernel on CUDA and CPU.

    Fused is one kernel over all tensors: on a 3M-parameter encoder with one CPU
    thread its step takes a quarter of the time of PyTorch's default ``foreach``.
    ``device`` is where the model trains (``fit`` has moved it there).
    """
    fused = True if torch.device(device).type in ("cuda", "cpu") else None  # None: PyTorch's choice elsewhere
    groups = param_groups(model, cfg.weight_decay, cfg.lr_scale, cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused)


def lr_factor(step: int, *, warmup: int, total: int) -> float:
    """Multiplier of the peak lr at optimizer step s (0-based): linear warm-up, then linear decay to 0.

        f(s) = s / W              for s < W
        f(s) = (N - s) / (N - W)  otherwise,

    the schedule of BERT and ELECTRA (and ``transformers.get_linear_schedule_with_warmup``).
    """
    if step < warmup:
        return step / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` with ``lr_factor``; call ``.step()`` once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(lr_factor, warmup=warmup, total=total))


def progress_enabled(setting: bool | None = None) -> bool:
    """Show a progress bar?  An explicit setting wins, then RMD_PROGRESS=0/1, else only on a terminal.

    A notebook build (and a notebook kernel) is not a terminal, so built pages get no bars.
    """
    if setting is not None:
        return setting
    env = os.environ.get("RMD_PROGRESS")
    if env in ("0", "1"):
        return env == "1"
    return sys.stdout.isatty()


def evaluate(model: nn.Module, loader: Iterable[Any], loss_fn: LossFn, *,
             device: torch.device | str) -> dict[str, float]:
    """Mean loss (and mean of each logged metric) over the batches of ``loader``, in eval mode.

    The mean is over batches, each counting once.  Runs under ``torch.no_grad``
    rather than ``inference_mode``: buffers that a model builds lazily inside
    inference mode (rotary caches, say) cannot be used by autograd afterwards.
    The model is moved to ``device`` and so is every batch.  Restores the
    model's previous train/eval mode.
    """
    device, was_training = torch.device(device), model.training
    model.to(device)
    sums: dict[str, float] = {}
    n = 0
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                loss, logs = _split(loss_fn(model, _to_device(batch, device)))
                for key, value in {**logs, "loss": float(loss)}.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
                n += 1
    finally:
        model.train(was_training)
    if n == 0:
        raise TrainConfigError("evaluate: the loader yielded no batches")
    return {key: total / n for key, total in sums.items()}


def fit(model: nn.Module, loss_fn: LossFn, train_loader: Iterable[Any], val_loader: Iterable[Any] | None = None,
        cfg: TrainConfig = TrainConfig(), *, device: torch.device | str,
        eval_fn: Callable[[nn.Module], dict[str, float]] | None = None, resume: bool = False) -> History:
    """Train ``model`` by minimising ``loss_fn(model, batch)``; return the History.

    The model is moved to ``device`` (the caller's choice, ``Profile.device`` in
    the book) and so is every batch.  Each optimizer step sees ``grad_accum``
    micro-batches; a DDP model skips the gradient all-reduce (``no_sync``) on all
    but the last.  On CUDA, autocast runs in bf16 where supported, else in fp16
    with a GradScaler, and a step the scaler skips (overflow) does not advance
    the learning-rate schedule.  Evaluations (``evaluate`` on ``val_loader``,
    merged with ``eval_fn(model)``) run every ``eval_every`` steps and at the end.
    ``fit`` owns the data order: it re-seeds the loader's generators from
    ``cfg.seed`` every epoch (``rmdlib.checkpoint.SeededBatches``).  Dropout
    draws from the global torch RNG, which ``rmdlib.setup`` seeds.

    Checkpoints go to ``cfg.checkpoint_dir``; ``resume=True`` continues the
    latest one there (if any) and ends with the weights of a run that never
    stopped.  Contract for a loss function that samples (RTD masking): draw from
    the ``torch.Generator`` at ``loss_fn.generator``; checkpoints save and restore
    its state with the global RNGs (an attribute of that name that is not a
    ``torch.Generator`` is ignored).
    Used in chapters 4, 5 and 8.
    """
    device, n_batches = torch.device(device), _len_or_none(train_loader)
    model.to(device)
    total = cfg.total_steps(n_batches)
    eval_every = cfg.eval_every or (max(1, n_batches // cfg.grad_accum) if n_batches else total)
    evaluating = val_loader is not None or eval_fn is not None
    optimizer = build_optimizer(model, cfg, device=device)
    scheduler = build_scheduler(optimizer, warmup=cfg.warmup(total), total=total)
    dtype, scaler = _amp(device, cfg.amp)
    run, batches = _start(model, loss_fn, train_loader, cfg, optimizer, scheduler, scaler, resume=resume)
    model.train()
    bar = tqdm(total=total, initial=run.step, disable=not progress_enabled(cfg.progress), desc="fit")
    meter = _Meter()
    while run.step < total and not run.history.stopped_early:
        lr = scheduler.get_last_lr()[0]  # the lr this step uses
        for micro in range(cfg.grad_accum):
            batch = next(batches)
            meter.tokens += _count_tokens(batch)
            with _accumulating(model, last=micro == cfg.grad_accum - 1):
                with _autocast(device, dtype):
                    loss, logs = _split(loss_fn(model, _to_device(batch, device)))
                # 1/k per micro-batch: k mean losses of equal-size micro-batches add up to the big batch's mean
                scaler.scale(loss / cfg.grad_accum).backward()
            meter.add(loss.detach(), logs)
        grad_norm, _ = _optimizer_step(model, optimizer, scheduler, scaler, cfg.grad_clip)
        run.step, run.epoch, run.consumed = run.step + 1, batches.epoch, batches.consumed
        bar.update()
        if evaluating and (run.step % eval_every == 0 or run.step == total):
            with meter.paused():  # evaluation does not count towards tokens/s
                _evaluate_and_track(run, model, loss_fn, val_loader, eval_fn, cfg, device)
        end = run.step == total or run.history.stopped_early  # the run's last step
        if run.step % cfg.log_every == 0 or end:
            run.history.train.append(meter.record(run.step, run.epoch, lr, grad_norm))
            bar.set_postfix(loss=f"{run.history.train[-1]['loss']:.4f}")
        if cfg.checkpoint_dir and (end or (cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0)):
            with meter.paused():
                _save(run, cfg, model, optimizer, scheduler, scaler, loss_fn)
    bar.close()
    if cfg.restore_best and run.best_state is not None:
        model.load_state_dict(run.best_state)
    return run.history


@dataclass
class _Run:
    """Where a run stands: optimizer steps done, position in the data, the history and the best weights."""

    history: History
    step: int = 0
    epoch: int = 0
    consumed: int = 0  # batches of the current epoch already used
    best_state: dict[str, torch.Tensor] | None = None  # CPU copy of the best evaluated state_dict
    checkpoint: Any = None  # the last checkpoint this run wrote or resumed from: the one a new one replaces


class _Meter:
    """Sums between two History records: loss on the device (one sync per record), logs, tokens, time."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss, self.n, self.tokens, self.t0 = 0.0, 0, 0, time.perf_counter()
        self.logs: dict[str, float] = {}

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.t0 += time.perf_counter() - start

    def add(self, loss: torch.Tensor, logs: dict[str, float]) -> None:
        self.loss, self.n = self.loss + loss.float(), self.n + 1
        for key, value in logs.items():
            self.logs[key] = self.logs.get(key, 0.0) + float(value)

    def record(self, step: int, epoch: int, lr: float, grad_norm: torch.Tensor | None) -> dict[str, float]:
        loss = float(self.loss) / self.n  # waits for the device, so the time below is honest
        seconds = time.perf_counter() - self.t0
        rec = {k: v / self.n for k, v in self.logs.items()}
        rec.update(step=step, epoch=epoch, loss=loss, lr=lr,
                   grad_norm=float("nan") if grad_norm is None else float(grad_norm),
                   tokens_per_s=self.tokens / seconds if seconds > 0 else float("nan"))
        self.reset()
        return rec


def _accumulating(model: nn.Module, *, last: bool) -> contextlib.AbstractContextManager:
    """``model.no_sync()`` for a DDP model on every micro-batch but an optimizer step's last, else nothing.

    DDP all-reduces gradients during ``backward``; while accumulating they only
    need summing locally, so k micro-batches cost one all-reduce instead of k,
    and the gradients that reach the optimizer are the same.
    """
    no_sync = getattr(model, "no_sync", None)
    return no_sync() if no_sync is not None and not last else contextlib.nullcontext()


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device``; nothing when dtype is None (full precision, any device)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any,
                    grad_clip: float | None) -> tuple[torch.Tensor | None, bool]:
    """Unscale, clip, step, advance the schedule, clear gradients; return (pre-clip gradient norm, stepped).

    An fp16 GradScaler skips ``optimizer.step`` when a gradient overflowed and
    then lowers its scale: that is how a skipped step shows (accelerate checks
    the same).  The schedule then does not advance, so the learning rates follow
    the steps the optimizer really took.
    """
    scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip) if grad_clip else None
    scale = scaler.get_scale() if scaler.is_enabled() else None  # one sync per step, fp16 only
    scaler.step(optimizer)  # skips the step if fp16 gradients overflowed
    scaler.update()
    stepped = scale is None or scaler.get_scale() >= scale  # update() lowers the scale only after a skip
    if stepped:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm, stepped


def _evaluate_and_track(run: _Run, model: nn.Module, loss_fn: LossFn, val_loader: Any, eval_fn: Any,
                        cfg: TrainConfig, device: torch.device) -> None:
    """Evaluate, append the record, keep a CPU copy of the best weights, decide early stopping."""
    metrics = evaluate(model, val_loader, loss_fn, device=device) if val_loader is not None else {}
    if eval_fn is not None:
        model.eval()
        with torch.no_grad():
            metrics.update({k: float(v) for k, v in eval_fn(model).items()})
        model.train()
    if cfg.monitor not in metrics:
        raise TrainConfigError(f"monitor {cfg.monitor!r} is not among the eval metrics {sorted(metrics)}")
    run.history.evals.append({"step": run.step, **metrics})
    if run.history.best[0] == run.step:
        run.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    run.history.stopped_early = cfg.early_stopping and run.history.evals_since_best >= cfg.patience


def _start(model: nn.Module, loss_fn: LossFn, train_loader: Iterable[Any], cfg: TrainConfig, optimizer: Any,
           scheduler: Any, scaler: Any, *, resume: bool) -> tuple[_Run, SeededBatches]:
    """Where the run starts: step 0, or the latest checkpoint (``resume``); the batch stream positioned there.

    The RNGs are restored last: repositioning the loader may itself draw random numbers.
    """
    run = _Run(History(cfg.monitor, cfg.mode, config=asdict(cfg)))
    rng = _resume(run, cfg, model, optimizer, scheduler, scaler) if resume else None
    batches = SeededBatches(train_loader, cfg.seed, run.epoch, run.consumed)
    if rng is not None:
        set_rng_state(rng, getattr(loss_fn, "generator", None))
    return run, batches


def _save(run: _Run, cfg: TrainConfig, model: nn.Module, optimizer: Any, scheduler: Any, scaler: Any,
          loss_fn: LossFn) -> None:
    """Checkpoint everything ``_resume`` reads back, including ``loss_fn.generator``'s state if there is one."""
    state = {"step": run.step, "epoch": run.epoch, "consumed": run.consumed, "config": asdict(cfg),
             "history": asdict(run.history), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
             "rng": rng_state(getattr(loss_fn, "generator", None))}
    run.checkpoint = save_checkpoint(cfg.checkpoint_dir, run.step, model, state, best=run.best_state,
                                     replaces=run.checkpoint)


def _resume(run: _Run, cfg: TrainConfig, model: nn.Module, optimizer: Any, scheduler: Any,
            scaler: Any) -> dict[str, Any] | None:
    """Load the latest checkpoint into run, model, optimizer, scheduler and scaler; return its RNG states."""
    if cfg.checkpoint_dir is None:
        raise TrainConfigError("resume=True needs TrainConfig.checkpoint_dir")
    path = latest_checkpoint(cfg.checkpoint_dir)
    if path is None:
        return None  # nothing saved yet: start from scratch
    state = read_state(path)
    run.checkpoint = path  # the resumed run continues this one: its next checkpoint replaces it
    diffs = {k for k, v in asdict(cfg).items() if state["config"].get(k) != v} - _RESUMABLE_DIFFS
    if diffs:
        raise TrainConfigError(f"{path}: saved with different {sorted(diffs)}; use a new checkpoint_dir")
    best = load_weights(model, path)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    run.history = History(**state["history"])
    run.step, run.epoch, run.consumed = state["step"], state["epoch"], state["consumed"]
    if best is not None:
        run.best_state = best
    return state["rng"]


def amp_dtype(device: torch.device | str, amp: str = "auto") -> torch.dtype | None:
    """The autocast dtype ``fit`` trains in (None = full precision): mixed precision on CUDA only.

    ``amp="auto"``: bf16 where the GPU supports it (Ampere and later), else fp16,
    which needs loss scaling (a GradScaler); bf16 has fp32's range and does not.
    """
    device = torch.device(device)
    if device.type != "cuda" or amp == "off":
        return None
    bf16 = amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported())
    return torch.bfloat16 if bf16 else torch.float16


def _amp(device: torch.device, amp: str) -> tuple[torch.dtype | None, torch.amp.GradScaler]:
    """Autocast dtype (None = full precision) and a GradScaler that is only active for fp16."""
    dtype = amp_dtype(device, amp)
    return dtype, torch.amp.GradScaler("cuda" if dtype is not None else "cpu", enabled=dtype == torch.float16)


def _split(out: Any) -> tuple[torch.Tensor, dict[str, float]]:
    return (out[0], out[1]) if isinstance(out, tuple) else (out, {})


def _to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a batch (a tensor, or a mapping, list or tuple of them) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):  # dict, or transformers.BatchEncoding (not a dict subclass)
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [_to_device(v, device) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)  # namedtuple or not
    return batch


def _count_tokens(batch: Any) -> int:
    """Real tokens in a batch: the ones of attention_mask, else the size of input_ids, else 0."""
    if isinstance(batch, Mapping) and "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    if isinstance(batch, Mapping) and "input_ids" in batch:
        return batch["input_ids"].numel()
    return 0


def _len_or_none(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None

