"""Execute the Colab edition of every chapter in the colab profile, on CPU, against the simulated Hub.

``python tools/colab_check.py [--scale 0.02] [--chapters 1 4 9]`` (``make colab-check``):

1. builds the simulated Hub (``tools/sim_hub.py``) into ``_build/sim-hub`` unless it is there;
2. serves it on 127.0.0.1 and points ``HF_ENDPOINT`` at it, with a fresh ``HF_HOME``, so
   every ``from_pretrained(..., revision=...)`` and ``load_dataset(..., revision=...)``
   downloads through ``huggingface_hub`` / ``datasets`` exactly as in Colab;
3. executes ``colab/NN_name.ipynb`` (what a Colab user opens: the install cell is
   skipped outside Colab) with ``RMD_PROFILE=colab`` and ``RMD_SCALE`` (a smoke scale:
   it shrinks only what the chapters size through ``Profile.n``; the registry's size
   and label checks run on the full simulated splits) with ``jupyter execute`` (nbclient, as
   the book's build) in ``_build/colab-check``, and prints each chapter's wall and CPU seconds.

Fails (exit 1) naming the chapter when a cell raises, or when the Hub saw a request the
simulated Hub does not answer (``UNHANDLED`` in ``_build/sim-hub/requests.log``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import sim_hub  # noqa: E402

OUT = ROOT / "_build" / "colab-check"
SMOKE_SCALE = 0.02


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=SMOKE_SCALE, help="RMD_SCALE for the colab profile")
    ap.add_argument("--chapters", nargs="*", type=int, help="chapter numbers (default: all)")
    ap.add_argument("--hub", type=Path, default=sim_hub.DEFAULT_HUB)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the simulated Hub first")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="wall seconds per cell (generous: a shared 2-core machine runs 3-10x slower)")
    args = ap.parse_args(argv)
    if args.rebuild or not (args.hub / "BUILT").exists():
        shutil.rmtree(args.hub, ignore_errors=True)
        t = time.perf_counter()
        sim_hub.build(args.hub)
        print(f"colab-check: simulated Hub built in {time.perf_counter() - t:.0f} s", flush=True)
    notebooks = sorted((ROOT / "colab").glob("[0-9][0-9]_*.ipynb"))
    if args.chapters:
        notebooks = [nb for nb in notebooks if int(nb.name[:2]) in args.chapters]
    log = args.hub / "requests.log"
    log.unlink(missing_ok=True)
    server, endpoint = sim_hub.serve(args.hub, 0, log)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    env = sim_hub.hub_env(endpoint, OUT / "hf-home")
    env.update(RMD_PROFILE="colab", RMD_SCALE=str(args.scale), RMD_CACHE=str(OUT / "rmd-cache"),
               TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false",
               HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1",
               PYTHONWARNINGS="ignore:IProgress not found,ignore::FutureWarning:transformers.modeling_utils",
               MPLBACKEND="module://matplotlib_inline.backend_inline", CUDA_VISIBLE_DEVICES="")
    env.pop("RMD_DATA", None)  # the Hub path, not local files
    jupyter = Path(sys.executable).with_name("jupyter")
    print(f"colab-check: {len(notebooks)} chapters, RMD_PROFILE=colab RMD_SCALE={args.scale}, "
          f"HF_ENDPOINT={endpoint} (simulated), CPU", flush=True)
    failed, rows = [], []
    try:
        for nb in notebooks:
            run = OUT / nb.name  # executed in place in a folder of its own, as in Colab's /content
            shutil.copyfile(nb, run)
            cpu0, t0 = _children_cpu(), time.perf_counter()
            proc = subprocess.run([str(jupyter), "execute", "--inplace", f"--timeout={args.timeout}", run.name],
                                  env=env, cwd=OUT, capture_output=True, text=True)
            wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
            ok = proc.returncode == 0
            rows.append((nb.stem, wall, cpu, ok))
            print(f"colab-check: {nb.stem:28s} {'ok' if ok else 'FAILED':6s} wall {wall:6.1f} s  "
                  f"cpu {cpu:6.1f} s", flush=True)
            if not ok:
                failed.append(nb.stem)
                print(proc.stderr[-4000:], file=sys.stderr, flush=True)
    finally:
        server.shutdown()
    unhandled = [ln for ln in log.read_text().splitlines() if "UNHANDLED" in ln] if log.exists() else []
    for ln in unhandled[:20]:
        print(f"colab-check: the simulated Hub could not answer: {ln}", file=sys.stderr)
    total = sum(r[1] for r in rows)
    print(f"colab-check: {len(rows) - len(failed)}/{len(rows)} chapters ran, {total:.0f} s wall in all; "
          f"outputs in {OUT.relative_to(ROOT)}")
    if failed:
        print(f"colab-check: FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed or unhandled else 0


if __name__ == "__main__":
    sys.exit(main())
