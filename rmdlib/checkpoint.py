"""Checkpoints that resume exactly: weights, optimizer and RNG states, and a replayable data order.

A run interrupted after optimizer step k and resumed from its checkpoint ends
with the same weights as one that never stopped.  Three things make that so.

1. Data order.  ``SeededBatches`` orders epoch e by (seed, e) alone: before each
   epoch it re-seeds every ``torch.Generator`` the loader holds (its own, its
   sampler's, its batch sampler's) and calls ``set_epoch(e)`` where a sampler
   has one.  A loader that shuffles without a generator gets one.  On resume
   the current epoch is rebuilt and its consumed batches are drawn and dropped,
   which costs loading them once but works for any sampler.
2. Randomness.  ``rng_state`` holds the Python, NumPy, torch and CUDA RNGs
   (dropout) and one extra generator (``fit`` passes ``loss_fn.generator``, the
   RTD masking generator); ``set_rng_state`` restores them, and must run *after*
   the loader is repositioned, since repositioning may itself draw.
3. State.  Weights as safetensors (``save_model`` keeps tied tensors tied);
   everything else (optimizer, scheduler, grad scaler, history, RNGs) in a
   ``torch.save``d dict read back with ``weights_only=True`` (NumPy's RNG state
   is stored as a tensor so that no pickled NumPy object is needed).

A checkpoint is a directory ``step-NNNNNNN`` holding ``model.safetensors``,
``trainer_state.pt`` and, once there is one, ``best.safetensors``.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn
from torch.utils.data import RandomSampler

__all__ = ["SeededBatches", "TrainConfigError", "latest_checkpoint", "load_weights", "read_state", "rng_state", "save_checkpoint",
           "seed_loader", "set_rng_state"]

class TrainConfigError(ValueError):
    """A training configuration, loader or checkpoint that cannot work, and why (``rmdlib.train`` re-exports it).

    Its home is here, below ``rmdlib.train``: the batch stream that ``fit`` reads
    raises it too, and this module must not import the loop that imports it.
    """


_STATE, _WEIGHTS, _BEST = "trainer_state.pt", "model.safetensors", "best.safetensors"


def save_checkpoint(root: str | Path, step: int, model: nn.Module, state: dict[str, Any], *,
                    best: dict[str, torch.Tensor] | None = None, replaces: str | Path | None = None) -> Path:
    """Write ``root/step-NNNNNNN``, then delete ``replaces`` (this run's previous checkpoint); return the new directory.

    Nothing else under ``root`` is touched: another run's checkpoints or a
    user's ``step-notes/`` folder stay.  ``fit`` passes the checkpoint it wrote
    (or resumed from) last.

    Guarantees: the directory appears whole or not at all (it is written as
    ``.tmp-step-NNNNNNN`` and renamed, so a crash mid-write leaves nothing that
    ``latest_checkpoint`` would pick); ``model``'s tied tensors stay tied;
    ``best`` (a state_dict) is stored as copies; ``state`` must hold only tensors
    and plain Python values, so that ``read_state`` can load it with
    ``weights_only=True``.
    """
    root = Path(root)
    final, tmp = root / f"step-{step:07d}", root / f".tmp-step-{step:07d}"
    tmp.mkdir(parents=True, exist_ok=True)
    save_model(model, str(tmp / _WEIGHTS), force_contiguous=True)  # keeps tied (shared) tensors tied
    if best is not None:
        save_file(best, str(tmp / _BEST))  # copies, so nothing shared
    torch.save(state, tmp / _STATE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)  # atomic on one file system
    if replaces is not None and Path(replaces) != final and (Path(replaces) / _STATE).is_file():
        shutil.rmtree(replaces)  # a folder that holds our state file: a checkpoint, never a user's folder
    return final


def latest_checkpoint(root: str | Path) -> Path | None:
    """The complete checkpoint with the highest step under ``root``; None if there is none.

    Only directories that hold a state file count, so a temporary directory
    left by a crash is never picked.
    """
    done = sorted(Path(root).glob("step-*/" + _STATE))  # step-NNNNNNN: zero-padded, so text order is step order
    return done[-1].parent if done else None


def read_state(path: str | Path) -> dict[str, Any]:
    """The ``state`` dict ``save_checkpoint`` wrote into ``path``, on the CPU, loaded with ``weights_only=True``.

    Nothing is unpickled but tensors and plain Python values.
    """
    return torch.load(Path(path) / _STATE, map_location="cpu", weights_only=True)


def load_weights(model: nn.Module, path: str | Path) -> dict[str, torch.Tensor] | None:
    """Load ``path``'s weights into ``model`` on its device; return the best state saved beside them, or None.

    Tied tensors stay tied (``safetensors.torch.load_model``).  The best state
    comes back on the CPU.
    """
    path = Path(path)
    load_model(model, str(path / _WEIGHTS), device=str(next(model.parameters()).device))
    return load_file(str(path / _BEST)) if (path / _BEST).exists() else None


def rng_state(generator: Any = None) -> dict[str, Any]:
    """Every global RNG state, and ``generator``'s if it is a ``torch.Generator``, for ``torch.save``.

    Only tensors and plain Python values, so ``weights_only=True`` can read it
    back.
    """
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],  # no pickled ndarray
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loss_fn": generator.get_state() if isinstance(generator, torch.Generator) else None}  # key as fit names it


def set_rng_state(rng: dict[str, Any], generator: Any = None) -> None:
    """Restore what ``rng_state`` captured; the extra generator's state, if one was saved, goes into ``generator``.

    """
    random.setstate(rng["python"])
    name, keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(rng["torch"])
    if rng["cuda"]:
        torch.cuda.set_rng_state_all(rng["cuda"])
    if rng["loss_fn"] is not None:
        generator.set_state(rng["loss_fn"])


class SeededBatches:
    """Endless stream of training batches; epoch e is ordered by generators seeded from (seed, e) alone.

    ``SeededBatches(loader, seed, epoch, consumed)`` yields exactly what an
    uninterrupted stream yields after ``consumed`` batches of ``epoch``.
    ``epoch`` and ``consumed`` always say where the stream stands.  Raises
    ``rmdlib.train.TrainConfigError`` if the loader yields no batches.
    """

    def __init__(self, loader: Iterable[Any], seed: int, epoch: int = 0, consumed: int = 0) -> None:
        self.loader, self.seed, self.epoch, self.consumed = loader, seed, epoch, consumed
        self._it = self._start_epoch()
        for _ in range(consumed):  # replay the part of this epoch a resumed run already used
            next(self._it)

    def _start_epoch(self) -> Iterator[Any]:
        epoch_seed = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]  # seed 1 != epoch 1
        seed_loader(self.loader, int(epoch_seed), self.epoch)
        return iter(self.loader)

    def __next__(self) -> Any:
        try:
            batch = next(self._it)
        except StopIteration:
            if self.consumed == 0:
                raise TrainConfigError("train_loader yielded no batches (a one-shot iterator cannot be "
                                       "read twice: pass a DataLoader or a list)") from None
            self.epoch, self.consumed = self.epoch + 1, 0
            self._it = self._start_epoch()
            batch = next(self._it)
        self.consumed += 1
        return batch


def seed_loader(loader: Any, seed: int, epoch: int) -> None:
    """Re-seed every torch.Generator of a DataLoader (and its samplers) and call set_epoch where defined.

    A ``RandomSampler`` without a generator gets one, else it would draw its
    order from the global RNG.
    """
    sampler, batch_sampler = getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)
    if isinstance(sampler, RandomSampler) and sampler.generator is None:
        sampler.generator = torch.Generator()  # else it draws its order from the global RNG at epoch start
    owners = (loader, sampler, batch_sampler, getattr(batch_sampler, "sampler", None))
    generators = {id(g): g for o in owners if isinstance(g := getattr(o, "generator", None), torch.Generator)}
    for g in generators.values():
        g.manual_seed(seed)
    for s in {id(s): s for s in (sampler, batch_sampler) if hasattr(s, "set_epoch")}.values():
        s.set_epoch(epoch)
