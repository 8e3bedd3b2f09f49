"""Hub models by name, each at a pinned revision, as :mod:`rmdlib.data` does for datasets.

``from_pretrained("bert-base-cased")`` downloads whatever the repository's
``main`` branch holds *today*; a later push (new weights, a changed tokenizer
config, a pickle swapped for safetensors) silently changes every result.
Passing ``revision=<commit SHA>`` freezes the files.  :data:`MODELS` holds one
:class:`ModelSpec` per Hub model the book or the benchmarks load, and
:func:`revision` is what every loader in ``rmdlib`` asks before it calls
``from_pretrained``.

The Hub is not reachable where this book was written, so the SHAs were found in
other public code that pinned or cached the same repositories (the ``note``
says where); where none was found the pin is the branch name ``"main"`` and the
note says so.  Used in chapters 8 and 9.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["MODELS", "ModelSpec", "is_commit", "revision"]


@dataclass(frozen=True)
class ModelSpec:
    """One Hub model at one revision."""

    name: str  # Hub id, e.g. "google/electra-small-discriminator"
    revision: str  # a 40-hex commit SHA where one could be found, else a branch name
    note: str  # where the SHA was seen, or why it is a branch name


def is_commit(rev: str) -> bool:
    """Whether ``rev`` is a full 40-hex commit SHA (frozen) rather than a branch or tag (moves)."""
    return len(rev) == 40 and all(c in "0123456789abcdef" for c in rev)


# Searched twice (the second time on 2026-12-06, exact strings over stored public code):
# 'electra-small-discriminator", revision=', 'electra-base-discriminator", revision',
# 'google/electra-small-discriminator@', 'electra-small-discriminator/commit/',
# 'models--google--electra-small-discriminator/snapshots' and 'google--electra-small-discriminator'.
# Only ".../resolve/main/..." URLs and ModelScope "snapshots/master" folders appeared, no SHA; a third
# search ('electra-small-discriminator/blob/', '.../tree/', 'electra-small-generator/blob/',
# 'electra-base-discriminator/blob/') found the small discriminator's SHA and nothing for the others.
_BRANCH = ("Branch name: no commit SHA for this repository was found in the stored public code searched "
           "offline; pin a SHA (`huggingface_hub.model_info(name).sha`) once the Hub is reachable.")

MODELS: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec("google/electra-small-discriminator", "fa8239aadc095e9164941d05878b98afe9b953c3",
              "Exact revision in one public project's reviewed model manifest and its scripts (found on "
              "2026-12-06, exact-string search for 'electra-small-discriminator/blob/'), which also records the "
              "PyTorch weights' SHA-256 735154b1...; whether model.safetensors exists at it was not checked."),
    ModelSpec("google/electra-small-generator", "main", _BRANCH),
    ModelSpec("google/electra-base-discriminator", "main", _BRANCH),
    ModelSpec("google/electra-base-generator", "main", _BRANCH),
    ModelSpec("google/electra-large-discriminator", "main", _BRANCH),
    ModelSpec("google/electra-large-generator", "main", _BRANCH),
    ModelSpec("bert-base-cased", "cd5ef92a9fb2f889e972770a36d4ed042daf221e",
              "Snapshot folder name in several unrelated public repositories, one of which lists "
              "model.safetensors in it (so the safetensors-only loader can read this revision)."),
    ModelSpec("bert-base-multilingual-cased", "3f076fdb1ab68d5b2880cb87a0886f315b8146f8",
              "Snapshot folder name in two unrelated public repositories; older snapshots fdfce55 and cf73229 "
              "were also seen. Whether model.safetensors exists at it was not checked."),
    ModelSpec("xlm-roberta-base", "e73636d4f797dec63c3081bb6ed5c7b0bb3f2089",
              "Snapshot folder name in many unrelated public repositories (the most common one by far). "
              "Whether model.safetensors exists at it was not checked."),
]}


def revision(name_or_path: str | Path, revision: str | None = None) -> str | None:
    """The revision to pass to ``from_pretrained`` for ``name_or_path``.

    An explicit ``revision`` wins; a local folder (it exists on disk) needs none
    (None); a Hub id in :data:`MODELS` gets its pinned revision; any other Hub id
    is an error, so that no model enters the book unpinned by accident (pass
    ``revision="main"`` to mean "whatever is there today").
    """
    if revision is not None:
        return revision
    if Path(name_or_path).expanduser().exists():
        return None
    name = str(name_or_path)
    if name in MODELS:
        return MODELS[name].revision
    raise ValueError(f"{name!r} is neither a local folder nor a pinned Hub model ({sorted(MODELS)}); "
                     "add a ModelSpec to rmdlib.hub.MODELS or pass revision= explicitly")
