"""Reporting a run inside the book: glued numbers and the run card.

Every number in the book's prose is inserted from the run with :func:`glue`
(``{glue:text}`name:.3f``` in the Markdown), never typed by hand. The run card
states the seed, the profile and the hardware, as every chapter must.
Used in every chapter.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from rmdlib.profile import Profile

__all__ = ["glue", "hardware", "recorded", "run_card", "source"]


def glue(name: str, value, *, display: bool = False, markdown: bool = False):
    """Store ``value`` under ``name`` for the book (myst-nb); return it unchanged.

    ``markdown=True`` stores a string as Markdown, for ``{glue:md}`` in the prose.

    Outside a book build (Colab, plain Jupyter) myst-nb may be absent: then the
    value is shown as ``name = value`` in the cell's output (Markdown is rendered),
    because the Colab edition's text names glued values instead of inserting them
    (``tools/colab_edition.py``). Chapters run anywhere without edits.

    A 0-d numpy array or tensor (``np.float64``, ``t.mean()``) is stored as the
    Python number it holds: myst-nb's ``{glue:text}`name:.3f``` formats Python
    numbers only, and would fail the build on ``np.float64(0.25)``.
    """
    shown = value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value
    try:
        from myst_nb import glue as _glue
    except ImportError:
        _show(name, shown, markdown=markdown)
        return value
    if markdown:
        from IPython.display import Markdown

        _glue(name, Markdown(shown), display=display)
        return value
    _glue(name, shown, display=display)
    return value


def _show(name: str, value, *, markdown: bool = False) -> None:
    """Print a glued value as ``name = value`` (floats to 4 significant digits; Markdown rendered)."""
    if isinstance(value, float):
        print(f"{name} = {value:.4g}")
    elif isinstance(value, (str, int)) and not markdown:
        print(f"{name} = {value}")
    else:
        from IPython.display import Markdown, display

        print(f"{name} =")
        display(Markdown(value) if markdown else value)


def hardware(device: torch.device | None = None) -> str:
    """A one-line description of the machine: GPU name, or CPU cores and architecture."""
    if device is not None and device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} CPU cores ({platform.machine()}), {torch.get_num_threads()} torch threads"


def run_card(profile: Profile) -> str:
    """Markdown line with the profile, seed, hardware and library versions of this run."""
    import transformers

    return (
        f"**Run:** profile `{profile.name}` ({profile.reason}), seed {profile.seed}, "
        f"{hardware(profile.device)}; Python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}."
    )


def source(obj):
    """``obj``'s source as a highlighted code cell: chapters show the library's code instead of retyping it."""
    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")


def recorded(name: str, where: str | Path = ".") -> dict[str, Any] | None:
    """The record of a benchmark run, ``benchmarks/results/<name>.json``, or None where it is absent.

    Looked for under ``where`` and its parent, since a chapter runs in
    ``chapters/`` of a clone of the repository.  The records ship with the
    repository, not with the installed package, so in Colab this is None and
    the chapter says so.  A record that is not valid JSON raises a ValueError
    naming the file.  Used in chapters 3, 6 and 9.
    """
    for root in (Path(where), Path(where).resolve().parent):
        path = root / "benchmarks" / "results" / f"{name}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ValueError(f"{path}: not a valid benchmark record ({err})") from err
    return None
