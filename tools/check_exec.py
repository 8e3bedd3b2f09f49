"""Fail when a chapter took longer than its budget in the last book build, on any machine.

``python tools/check_exec.py [--budget 180] [--aim 120]`` reads the execution
data that myst-nb stored in Sphinx's environment during ``jupyter-book build``
and lists every executed page with its run time. Run by ``make test`` after the build.

Machines of the kind CI uses differ about threefold in speed (chapter 1 with a
cold model cache: 57 s on one, 202 s on another), so a budget in seconds is either
too loose for the fast one or fails on the slow one. The check therefore times a
fixed reference workload (a few training steps of one transformer layer on one
thread) in the same job and expresses each chapter's time in *reference seconds*:
the seconds it would have taken on the machine that measured ``REFERENCE_FAST_S``.
The budget (default 180) and the aim (120) are in those units; the 300 s cell
timeout in ``_config.yml`` is separate and is wall time everywhere.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Best of three runs of `reference_workload()` on the faster machine of CI's kind
# (2-core AMD EPYC, the one that executed chapter 1 cold in 57 s): its CPU time,
# measured while other jobs shared the machine, which for one thread is the wall
# time of an idle run.
REFERENCE_FAST_S = 1.8
REFERENCE_STEPS = 30


def reference_workload(steps: int = REFERENCE_STEPS) -> None:
    """A fixed piece of the book's kind of work: AdamW steps of one transformer layer."""
    import torch

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=512, batch_first=True)
    opt = torch.optim.AdamW(layer.parameters(), lr=1e-4)
    x = torch.randn(8, 128, 128)
    for _ in range(steps):
        opt.zero_grad()
        layer(x).pow(2).mean().backward()
        opt.step()


def reference_seconds(repeats: int = 3) -> float:
    """Wall seconds of the reference workload on this machine now (best of ``repeats``), on one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference_workload(steps=3)  # warm-up: allocator, kernels
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            reference_workload()
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        torch.set_num_threads(threads)


def execution_times(build: Path = ROOT / "_build") -> dict[str, tuple[float, bool]]:
    """``{docname: (seconds, succeeded)}`` for every page executed in the last build."""
    env_file = build / ".doctrees" / "environment.pickle"
    if not env_file.exists():
        raise FileNotFoundError(f"{env_file} is missing: build the book first (make book)")
    with env_file.open("rb") as f:
        env = pickle.load(f)  # our own build artefact, written by Sphinx
    times = {}
    for docname, meta in getattr(env, "nb_metadata", {}).items():  # myst-nb NbMetadataCollector
        data = meta.get("exec_data")
        if data:
            times[docname] = (float(data.get("runtime") or 0.0), bool(data.get("succeeded")))
    return times


@dataclass(frozen=True)
class Verdict:
    docname: str
    seconds: float  # wall seconds on this machine
    reference_s: float  # the same time on the reference machine
    status: str  # "ok", "above aim", "OVER BUDGET" or "FAILED"

    @property
    def failed(self) -> bool:
        return self.status in ("OVER BUDGET", "FAILED")


def verdicts(
    times: dict[str, tuple[float, bool]], here_s: float, budget: float, aim: float, fast_s: float = REFERENCE_FAST_S
) -> list[Verdict]:
    """Each chapter's time in reference seconds (``seconds * fast_s / here_s``) against the budget."""
    scale = fast_s / here_s
    out = []
    for docname, (seconds, ok) in sorted(times.items()):
        ref = seconds * scale
        status = "FAILED" if not ok else "OVER BUDGET" if ref > budget else "above aim" if ref > aim else "ok"
        out.append(Verdict(docname, seconds, ref, status))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180.0, help="reference seconds allowed per chapter")
    parser.add_argument("--aim", type=float, default=120.0, help="reference seconds a chapter should stay under")
    parser.add_argument("--reference-s", type=float, default=None, help="skip timing: this machine's reference time")
    parser.add_argument("--build", type=Path, default=ROOT / "_build", help="the build folder (default _build)")
    args = parser.parse_args()
    times = execution_times(args.build)
    here = args.reference_s or reference_seconds()
    print(
        f"reference workload: {here:.2f} s here, {REFERENCE_FAST_S:.2f} s on the reference machine "
        f"(this machine is {here / REFERENCE_FAST_S:.2f}x as slow); budget {args.budget:.0f}, aim {args.aim:.0f} "
        f"reference seconds = {args.budget * here / REFERENCE_FAST_S:.0f} s, {args.aim * here / REFERENCE_FAST_S:.0f} s here"
    )
    result = verdicts(times, here, args.budget, args.aim)
    for v in result:
        print(f"{v.docname:40s} {v.seconds:7.1f} s here  {v.reference_s:7.1f} reference s  {v.status}")
    return 1 if any(v.failed for v in result) else 0


if __name__ == "__main__":
    sys.exit(main())
