"""Run profiles: how big a chapter's run is, on which device, with which seed.

Every chapter starts with ``P = rmdlib.setup()``. It seeds Python, NumPy and
torch, picks the device and prints one line saying which profile runs and why:

* ``offline`` -- no GPU or no Hub: tiny encoders trained inside the book on
  data that :mod:`rmdlib.synth` makes; each chapter <= 3 minutes on 2 CPU cores.
* ``colab``   -- a GPU and a reachable Hub: small Hub encoders and Hub datasets
  at pinned revisions; each chapter <= 15 minutes on a T4.
* ``full``    -- only on request: base-size models, full epochs.

``RMD_PROFILE`` overrides the automatic choice; ``RMD_DATA`` points chapters at
a directory of local data files (see :func:`rmdlib.data.load_ner`); ``RMD_SCALE``
replaces the profile's ``scale`` (``make colab-check`` runs the colab profile at a
smoke scale on CPU against a simulated Hub).
Used in every chapter.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

__all__ = ["PROFILES", "Profile", "hub_reachable", "pick_device", "seed_everything", "setup"]

HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class Profile:
    """The size of every run in a chapter; read its fields, never branch on ``name``."""

    name: str
    encoder: str | None  # Hub id to fine-tune; None = the tiny encoder the book pretrains itself
    ner_data: str  # "synthetic" or a registry name of rmdlib.data
    corpus: str  # pretraining text: "synthetic" or a registry name
    scale: float  # multiplies data sizes and step counts (1.0 = the offline budget)
    # Peak learning rates, chosen per encoder so that chapters never branch on the profile.
    # Fine-tuning a whole tagger (chapters 4, 6, 7's teacher, 8, 9, the project): the tiny
    # in-book encoder's best validation F1 of 1e-3, 2e-3, 3e-3 at 400 steps (chapter 4) is 3e-3;
    # pretrained Hub encoders want ~1e-4 (Clark et al. 2020 fine-tune ELECTRA-Small at 3e-4).
    finetune_lr: float = 3e-3
    student_lr: float = 3e-3  # distillation students (chapter 7), which start from a pruned copy
    reason: str = ""  # why this profile was chosen; printed by setup()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    data_dir: Path | None = None  # RMD_DATA: local files that replace Hub downloads
    started: float = 0.0  # time.perf_counter() when setup() chose this profile

    def elapsed(self) -> float:
        """Seconds since :func:`setup` returned this profile: a chapter's own run time."""
        return time.perf_counter() - self.started

    def n(self, base: int) -> int:
        """Scale a size or step count chosen for the offline budget."""
        return max(1, round(base * self.scale))

    def head(self, splits: Mapping[str, Sized], **base: int) -> Mapping[str, Sized]:
        """The first ``n(base[name])`` rows of each named split (all of them when it has fewer).

        ``base`` is the split's size in the offline profile, so the offline run sees its
        data unchanged, a Colab run (scale 8) sees the whole of a Hub dataset, and a
        smoke scale sees a few rows. Splits not named are kept whole. Works on a
        ``DatasetDict`` (returns one) or a dict of lists.
        """
        unknown = sorted(set(base) - set(splits))
        if unknown:
            raise KeyError(f"no split named {', '.join(map(repr, unknown))}: the splits are {sorted(splits)}")
        out = {}
        for name, split in splits.items():
            k = min(self.n(base[name]), len(split)) if name in base else len(split)
            out[name] = split if k == len(split) else (
                split.select(range(k)) if hasattr(split, "select") else split[:k])
        return type(splits)(out)


PROFILES: dict[str, Profile] = {
    "offline": Profile("offline", encoder=None, ner_data="synthetic", corpus="synthetic", scale=1.0),
    "colab": Profile(
        "colab",
        encoder="google/electra-small-discriminator",
        ner_data="conll2003",
        corpus="wikitext-2",
        scale=8.0,  # a T4 is roughly 8x two laptop cores on these model sizes
        finetune_lr=1e-4,
        student_lr=1e-3,
    ),
    "full": Profile(
        "full",
        encoder="google/electra-base-discriminator",
        ner_data="conll2003",
        corpus="wikitext-103",
        scale=50.0,  # full epochs: reproduce published numbers, hours on one GPU
        finetune_lr=1e-4,
        student_lr=1e-3,
    ),
}


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connect within ``timeout`` seconds.

    Name resolution is not bounded by socket timeouts, so the probe runs in a
    daemon thread and is abandoned after ``timeout``: it never hangs offline.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((HUB_HOST, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def pick_device() -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CUDA included)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _choose(requested: str | None, device: torch.device) -> tuple[str, str]:
    """Return (profile name, reason) from an argument, RMD_PROFILE, or the machine."""
    if requested:
        return requested, "requested by argument"
    env = os.environ.get("RMD_PROFILE", "").strip()
    if env:
        return env, "RMD_PROFILE is set"
    if device.type != "cuda":
        return "offline", f"no CUDA GPU found ({device.type}); set RMD_PROFILE=colab to override"
    if not hub_reachable():
        return "offline", "GPU found but the Hugging Face Hub is unreachable"
    return "colab", "GPU found and the Hugging Face Hub is reachable"


def setup(seed: int = 0, profile: str | None = None, *, verbose: bool = True) -> Profile:
    """Seed everything, pick the device and the profile; print one line saying which and why."""
    device = pick_device()
    name, reason = _choose(profile, device)
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} ({reason}); choose one of {sorted(PROFILES)}")
    data_dir = os.environ.get("RMD_DATA")
    seed_everything(seed)
    chosen = replace(
        PROFILES[name],
        reason=reason,
        device=device,
        seed=seed,
        data_dir=Path(data_dir) if data_dir else None,
        started=time.perf_counter(),
    )
    scale = os.environ.get("RMD_SCALE", "").strip()
    if scale:
        try:
            value = float(scale)
        except ValueError:
            value = float("nan")
        if not value > 0:  # also refuses nan
            raise ValueError(f"RMD_SCALE={scale!r}: expected a positive number (the profile's scale is "
                             f"{chosen.scale})")
        chosen = replace(chosen, scale=value)
    if verbose:
        extra = f" data={chosen.data_dir}" if chosen.data_dir else ""
        extra += f" scale={chosen.scale:g} (RMD_SCALE)" if scale else ""
        print(f"rmdlib: profile={name} device={device.type} seed={seed}{extra} ({reason})")
    return chosen

