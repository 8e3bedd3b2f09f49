"""Data parallelism for ``rmdlib.cli``: join torchrun's process group, wrap, shard, gather.

Around the unchanged ``rmdlib.train.fit``: the model and its loss become one
module (:class:`WithLoss`) wrapped in ``DistributedDataParallel``, so the
gradient all-reduce covers everything the loss touches (an ELECTRA pair's
generator and discriminator included); each rank reads its share of the one
batch order a single process would use (:class:`ShardedBatches`: rank r takes
batches r, r + W, ...; ``fit`` re-seeds that order every epoch), or of a
``DistributedSampler`` (pretraining's packed rows); results are gathered as
Python objects.  Works with one
process too (world size 1: no group, no wrapper).  Used by ``rmdlib.cli``.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from rmdlib.tokens import Collator


class Ranks(NamedTuple):
    """This process's place in the job and its device."""

    rank: int  # 0 .. world - 1; only rank 0 writes files and prints
    world: int  # number of processes (1 = no process group)
    device: torch.device


class WithLoss(nn.Module):
    """A model and its loss as one module: DDP syncs gradients only for what runs inside its forward."""

    def __init__(self, model: nn.Module, loss_fn: Any) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: dict[str, torch.Tensor]) -> Any:
        return self.loss_fn(self.model, batch)


class ShardedBatches(Sampler):
    """Rank r's batches of a batch sampler: r, r + W, r + 2W, ... of its order, the same count on every rank.

    Every rank draws the same order (``fit`` seeds the inner sampler's generator
    identically everywhere), so the ranks together see the batches one process
    would, less at most W - 1 at the end of an epoch (DDP needs equal step counts).
    """

    def __init__(self, batches: Any, r: Ranks) -> None:
        super().__init__()
        self.sampler, self.rank, self.world = batches, r.rank, r.world  # "sampler": fit re-seeds its generator

    def __len__(self) -> int:
        return len(self.sampler) // self.world

    def __iter__(self) -> Any:
        n = len(self)
        for i, batch in enumerate(self.sampler):
            if i // self.world >= n:
                return
            if i % self.world == self.rank:
                yield batch


def init(device: str = "auto") -> Ranks:
    """Join the group that torchrun / ``accelerate launch`` describe in RANK, WORLD_SIZE, LOCAL_RANK, if any.

    ``device="auto"``: ``cuda:LOCAL_RANK`` when CUDA is there, else the best single
    device for one process and the CPU (gloo) for several.
    """
    world, local = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        from rmdlib.profile import pick_device

        device = "cuda" if torch.cuda.is_available() else (pick_device().type if world == 1 else "cpu")
    dev = torch.device(f"cuda:{local}" if device == "cuda" else device)
    if world == 1:
        return Ranks(0, 1, dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), dev)


def close(r: Ranks) -> None:
    if r.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def barrier(r: Ranks) -> None:
    if r.world > 1:
        dist.barrier()


def gather(r: Ranks, items: list) -> list:
    """Every rank's items, concatenated in rank order, on every rank."""
    if r.world == 1:
        return items
    parts: list[Any] = [None] * r.world
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]


def shard(r: Ranks, n: int) -> list[int]:
    """Indices of the examples this rank predicts: r, r + W, r + 2W, ..."""
    return list(range(r.rank, n, r.world))


def wrap(model: nn.Module, loss_fn: Any, r: Ranks) -> nn.Module:
    """``WithLoss(model, loss_fn)``, in DDP when there are several ranks; train it with ``call_loss``.

    DDP copies rank 0's weights to every rank here.  (Buffers are synced at
    every forward, PyTorch's default; the encoders' buffers are constants.)
    """
    module = WithLoss(model, loss_fn)
    if r.world == 1:
        return module
    return DistributedDataParallel(module, device_ids=[r.device.index] if r.device.type == "cuda" else None)


def call_loss(module: nn.Module, batch: dict[str, torch.Tensor]) -> Any:
    """The ``loss_fn`` for ``fit`` when the model is a :func:`wrap` module: its forward is the loss."""
    return module(batch)


def loader(windows: list[dict], tokenizer: Any, batch_size: int, seed: int, r: Ranks) -> DataLoader:
    """This rank's shuffled shard of ``windows`` in batches padded by ``rmdlib.tokens.Collator``."""
    sampler = DistributedSampler(windows, num_replicas=r.world, rank=r.rank, shuffle=True, seed=seed)
    # a generator of its own: starting an epoch then draws nothing from the global RNG (dropout's)
    return DataLoader(windows, batch_size=batch_size, sampler=sampler, collate_fn=Collator(tokenizer, keep=()),
                      generator=torch.Generator().manual_seed(seed))
