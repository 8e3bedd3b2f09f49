"""Fail when a chapter took longer than its budget in the last book build.

``python tools/check_exec.py [--budget 180]`` reads the execution data that
myst-nb stored in Sphinx's environment during ``jupyter-book build`` and lists
every executed page with its run time. Run by ``make test`` after the build.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180.0, help="seconds allowed per chapter")
    args = parser.parse_args()
    failed = False
    for docname, (seconds, ok) in sorted(execution_times().items()):
        over = seconds > args.budget
        failed |= over or not ok
        status = "FAILED" if not ok else ("OVER BUDGET" if over else "ok")
        print(f"{docname:40s} {seconds:7.1f} s  {status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
