"""tools/gpu_check.py: its peak-FLOPs lookup, and a smoke run of every part on the CPU (DDP on gloo, 2 processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_check  # noqa: E402  (tools/ is not a package)


@pytest.mark.parametrize("name, dtype, peak", [
    ("NVIDIA H100 80GB HBM3", torch.bfloat16, 989.4e12),
    ("NVIDIA H100 PCIe", torch.bfloat16, 756.0e12),
    ("NVIDIA H200", torch.bfloat16, 989.4e12),
    ("NVIDIA A100-SXM4-40GB", torch.bfloat16, 312.0e12),
    ("Tesla T4", torch.float16, 65.0e12),
    ("Tesla T4", torch.bfloat16, None),  # Turing has no bf16
    ("Some Future GPU", torch.bfloat16, None),
])
def test_peak_flops_table(monkeypatch, name, dtype, peak):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    found, source = gpu_check.peak_flops(torch.device("cuda"), dtype)
    assert found == peak, source
    assert gpu_check.peak_flops(torch.device("cpu"), None)[0] is None


@pytest.mark.slow
def test_smoke_run_checks_every_part_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "RMD_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--smoke", "--out", str(out)],
                   check=True, env=env, timeout=900)
    r = json.loads(out.read_text(encoding="utf-8"))
    assert r["precision"]["autocast"] == "off (full precision)"  # no mixed precision on a CPU
    assert r["adamw"] == {"fused": True, "expected_fused": True}
    ddp = r["ddp"]
    assert (ddp["world_size"], ddp["backend"], ddp["steps"], ddp["grad_accum"]) == (2, "gloo", 3, 2)
    assert ddp["all_reduce_calls"] == 3 < ddp["all_reduce_calls_without_no_sync"] == 6  # one per step
    assert ddp["max_weight_diff_vs_one_process"] < 1e-6  # no_sync loses nothing
    f = r["finetune"]
    assert f["steps"] == 4 and f["padding"]["pad_to_multiple_of"] is None and f["tokens_per_s"] > 0
    assert f["mfu"] is None and "random weights" in f["encoder"] and f["data"].startswith("micro-world")
    assert f["train_flops_per_token"] == 3 * (2 * f["linear_weights"] + 4 * f["layers"] * round(
        f["mean_padded_length"]) * f["hidden"])
