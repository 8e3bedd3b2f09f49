"""rmdlib.profile: profile choice, seeding, and a bounded Hub probe."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
import torch

from rmdlib import profile
from rmdlib.profile import PROFILES, setup


def test_env_var_overrides_and_one_line_is_printed(monkeypatch, capsys):
    monkeypatch.setenv("RMD_PROFILE", "full")
    p = setup(seed=3)
    out = capsys.readouterr().out.strip().splitlines()
    assert p.name == "full" and p.reason == "RMD_PROFILE is set"
    assert out == [f"rmdlib: profile=full device={p.device.type} seed=3 (RMD_PROFILE is set)"]


def test_argument_beats_env_var(monkeypatch):
    monkeypatch.setenv("RMD_PROFILE", "full")
    assert setup(profile="colab", verbose=False).name == "colab"


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("RMD_PROFILE", "huge")
    with pytest.raises(ValueError, match=r"unknown profile 'huge'.*\['colab', 'full', 'offline'\]"):
        setup(verbose=False)


def test_offline_without_gpu(monkeypatch):
    monkeypatch.delenv("RMD_PROFILE", raising=False)
    monkeypatch.setattr(profile, "pick_device", lambda: torch.device("cpu"))
    p = setup(verbose=False)
    assert (p.name, p.encoder, p.ner_data) == ("offline", None, "synthetic")
    assert "no CUDA GPU" in p.reason


def test_gpu_without_hub_is_offline(monkeypatch):
    monkeypatch.delenv("RMD_PROFILE", raising=False)
    monkeypatch.setattr(profile, "pick_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(profile, "hub_reachable", lambda timeout=2.0: False)
    assert setup(verbose=False).name == "offline"
    monkeypatch.setattr(profile, "hub_reachable", lambda timeout=2.0: True)
    assert setup(verbose=False).name == "colab"


def test_setup_seeds_python_numpy_and_torch(monkeypatch):
    monkeypatch.delenv("RMD_PROFILE", raising=False)
    draws = []
    for _ in range(2):
        setup(seed=11, verbose=False)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
    setup(seed=12, verbose=False)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) != draws[0]


def test_hub_probe_is_bounded_when_dns_hangs(monkeypatch):
    release = threading.Event()

    def hang(*args, **kwargs):  # a resolver that hangs, then fails as a real timeout would
        release.wait(10)
        raise OSError("name resolution timed out")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(profile.socket, "create_connection", hang)
    start = time.perf_counter()
    try:
        assert profile.hub_reachable(timeout=0.3) is False
        assert time.perf_counter() - start < 1.0
    finally:
        release.set()  # the abandoned probe thread ends cleanly instead of outliving the test


def test_hf_hub_offline_short_circuits(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    called = []
    monkeypatch.setattr(profile.socket, "create_connection", lambda *a, **k: called.append(1))
    assert profile.hub_reachable() is False and called == []


def test_rmd_data_is_carried(monkeypatch, tmp_path):
    monkeypatch.setenv("RMD_DATA", str(tmp_path))
    assert setup(profile="offline", verbose=False).data_dir == tmp_path


def test_scale_rounds_and_never_reaches_zero():
    assert PROFILES["offline"].n(10) == 10
    assert PROFILES["colab"].n(10) == 80
    assert PROFILES["offline"].n(0) == 1


def test_elapsed_counts_from_setup(monkeypatch):
    """A chapter's glued run time starts when setup() returns, not when rmdlib was imported."""
    clock = iter([100.0, 142.5])
    monkeypatch.setattr(profile.time, "perf_counter", lambda: next(clock))
    P = setup(profile="offline", verbose=False)
    assert P.started == 100.0
    assert P.elapsed() == 42.5


def test_rmd_scale_replaces_the_profiles_scale_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("RMD_PROFILE", "colab")
    monkeypatch.setenv("RMD_SCALE", "0.02")
    p = setup(seed=0)
    assert p.scale == 0.02 and p.n(200) == 4 and p.n(10) == 1
    assert "scale=0.02 (RMD_SCALE)" in capsys.readouterr().out
    monkeypatch.delenv("RMD_SCALE")
    assert setup(verbose=False).scale == PROFILES["colab"].scale


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "small"])
def test_rmd_scale_must_be_a_positive_number(monkeypatch, bad):
    monkeypatch.setenv("RMD_SCALE", bad)
    with pytest.raises(ValueError, match=f"RMD_SCALE='{bad}': expected a positive number"):
        setup(verbose=False)


def test_head_sizes_splits_by_the_profile_scale_and_never_pads():
    from dataclasses import replace

    from datasets import Dataset, DatasetDict

    splits = DatasetDict(train=Dataset.from_dict({"x": list(range(50))}),
                         test=Dataset.from_dict({"x": list(range(30))}))
    offline, smoke, colab = PROFILES["offline"], replace(PROFILES["colab"], scale=0.1), PROFILES["colab"]
    same = offline.head(splits, train=50, test=30)
    assert isinstance(same, DatasetDict) and same["train"]["x"] == list(range(50))
    small = smoke.head(splits, train=50, test=30)  # 5 and 3 rows: the first ones, in order
    assert small["train"]["x"] == [0, 1, 2, 3, 4] and small["test"]["x"] == [0, 1, 2]
    whole = colab.head(splits, test=30)  # 240 asked, 30 there; train not named: kept whole
    assert len(whole["test"]) == 30 and len(whole["train"]) == 50
    assert smoke.head({"a": list("abcdefghij")}, a=40) == {"a": list("abcd")}
    with pytest.raises(KeyError, match="'dev'.*splits are"):
        offline.head(splits, dev=10)
