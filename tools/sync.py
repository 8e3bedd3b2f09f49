"""Keep the chapters in sync: ``python tools/sync.py`` (run by ``make sync``).

1. Writes the repository URL from ``_config.yml`` (the one place it is set)
   into every chapter's Colab install cell (the ``REPO = "..."`` line), and the
   release tag ``v<rmdlib.__version__>`` that cell installs (the ``TAG = "..."``
   line): Colab installs the tagged release, never the moving default branch.
   Releasing (README, "Releases") bumps ``__version__``, runs ``make sync`` and
   pushes the tag ``git tag v<version>``.
2. Re-pairs every ``chapters/NN_name.py`` (Jupytext percent format, the
   reviewed source) with ``chapters/NN_name.ipynb``, without outputs.
3. Writes the Colab edition, ``colab/NN_name.ipynb``: the same chapter in plain
   Markdown that Colab and GitHub render (rules in ``tools/colab_edition.py``).
   The book's launch buttons open these notebooks.

``python tools/sync.py --check`` changes nothing and exits 1 listing every
chapter or Colab notebook that is out of sync; ``tests/test_book.py`` runs the
same checks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_site  # noqa: E402  (tools/ is not a package)
import colab_edition  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
PROJECT = ROOT / "project"  # the course project's starter notebook, paired like a chapter
COLAB = ROOT / "colab"
REPO_LINE = re.compile(r'^(\s*REPO = )"[^"]*"', re.MULTILINE)
TAG_LINE = re.compile(r'^(\s*TAG = )"[^"]*"', re.MULTILINE)
VERSION = re.compile(r'^__version__ = "([^"]+)"', re.MULTILINE)


def repository_url() -> str:
    """The course repository URL, read from ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"]


def site_url() -> str:
    """Where the book is published (GitHub Pages), derived from ``repository.url`` (tools/book_site.py)."""
    return book_site.site_url(repository_url())


def book_links() -> colab_edition.Links:
    """The published book's address, glossary anchors and citation labels, for the Colab edition."""
    return colab_edition.Links(
        site=site_url(),
        glossary=colab_edition.glossary_anchors((ROOT / "book" / "glossary.md").read_text(encoding="utf-8")),
        citations=colab_edition.citation_names((ROOT / "book" / "references.bib").read_text(encoding="utf-8")),
    )


def colab_text(py: Path, links: colab_edition.Links) -> str:
    """The Colab edition of chapter ``py``, as the exact text of ``colab/NN_name.ipynb``."""
    return colab_edition.notebook_text(colab_edition.colab_notebook(paired_notebook(py), links, py.stem))


def release_tag(root: Path = ROOT) -> str:
    """The git tag of this rmdlib release, ``v`` + ``rmdlib.__version__`` (read, not imported)."""
    return "v" + VERSION.search((root / "rmdlib" / "__init__.py").read_text(encoding="utf-8")).group(1)


def with_repo_url(source: str, url: str, tag: str | None = None) -> str:
    """The chapter source with its Colab install cell pointing at ``url`` and the release ``tag``."""
    tag = tag or release_tag()
    source = REPO_LINE.sub(lambda m: f'{m.group(1)}"{url}"', source)
    return TAG_LINE.sub(lambda m: f'{m.group(1)}"{tag}"', source)


def paired_notebook(py: Path) -> nbformat.NotebookNode:
    """The output-free notebook that Jupytext pairs with ``py``."""
    nb = jupytext.read(py)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _comparable(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def sources() -> list[Path]:
    """Every Jupytext source: the chapters, then the project starter."""
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.py")) + sorted(PROJECT.glob("*.py"))


def problems() -> list[str]:
    """Every way in which the chapters are out of sync (empty when all is well)."""
    found, url = [], repository_url()
    for py in sources():
        source = py.read_text(encoding="utf-8")
        if 'REPO = "' not in source:
            found.append(f"{py.name}: no Colab install cell (a REPO = \"...\" line)")
        elif 'TAG = "' not in source or "git+{REPO}@{TAG}" not in source:
            found.append(f"{py.name}: the Colab install cell must install the release tag (git+{{REPO}}@{{TAG}})")
        elif with_repo_url(source, url) != source:
            found.append(f"{py.name}: Colab install cell does not use {url} from _config.yml "
                         f"and the release tag {release_tag()}")
        ipynb = py.with_suffix(".ipynb")
        if not ipynb.exists():
            found.append(f"{py.name}: no paired {ipynb.name}")
            continue
        nb = nbformat.read(ipynb, as_version=4)
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
            found.append(f"{ipynb.name}: carries outputs (run `make sync`)")
        if _comparable(nb) != _comparable(paired_notebook(py)):
            found.append(f"{ipynb.name}: differs from {py.name} (run `make sync`)")
    for ipynb in [*sorted(CHAPTERS.glob("*.ipynb")), *sorted(PROJECT.glob("*.ipynb"))]:
        if not ipynb.with_suffix(".py").exists():
            found.append(f"{ipynb.name}: no paired .py source")
    return found + colab_problems() + release_problems()


# What the release tag pins: a change to any of these after tagging reaches no Colab user.
RELEASED = ("rmdlib", "pyproject.toml")


def release_problems(root: Path = ROOT) -> list[str]:
    """The library changed since the tag the Colab cells install (empty when unchanged or not tagged yet).

    The install cells pin ``v<__version__>``; once that tag exists, a chapter that calls a
    function added after it would fail in Colab while passing here (the book runs the
    working tree). Without the tag (not yet released, or a clone without tags) there is
    nothing to compare.
    """
    tag = release_tag(root)

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)

    try:
        if git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}").returncode:
            return []
        changed = git("diff", "--name-only", tag, "--", *RELEASED).stdout.split()
    except OSError:  # no git
        return []
    if not changed:
        return []
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return [f"{shown}: changed since the release tag {tag} that the Colab install cells pin; bump "
            f"__version__ (README, Releases), `make sync`, and tag the new version"]


def colab_problems() -> list[str]:
    """Every Colab notebook that is missing, stale, or has no chapter (empty when all is well)."""
    found, links = [], book_links()
    chapters = sorted(CHAPTERS.glob("[0-9][0-9]_*.py"))
    for py in chapters:
        target = COLAB / f"{py.stem}.ipynb"
        if not target.exists():
            found.append(f"colab/{target.name}: missing (run `make sync`)")
        elif target.read_text(encoding="utf-8") != colab_text(py, links):
            found.append(f"colab/{target.name}: differs from chapters/{py.name} (run `make sync`)")
    for ipynb in sorted(COLAB.glob("*.ipynb")):
        if not (CHAPTERS / f"{ipynb.stem}.py").exists():
            found.append(f"colab/{ipynb.name}: no chapter chapters/{ipynb.stem}.py")
    return found


def sync() -> None:
    """Rewrite install cells and notebooks from the ``.py`` sources."""
    url = repository_url()
    for py in sources():
        source = py.read_text(encoding="utf-8")
        if with_repo_url(source, url) != source:
            py.write_text(with_repo_url(source, url), encoding="utf-8")
        nb, ipynb = paired_notebook(py), py.with_suffix(".ipynb")
        if ipynb.exists():  # keep the cell ids of unchanged positions: no churn in diffs
            old = nbformat.read(ipynb, as_version=4).cells
            for new, prev in zip(nb.cells, old):
                if "id" in prev and new.cell_type == prev.cell_type:
                    new["id"] = prev["id"]
        jupytext.write(nb, ipynb, fmt="ipynb")
    write_colab()


def write_colab() -> None:
    """Write ``colab/NN_name.ipynb`` for every chapter; remove those whose chapter is gone."""
    COLAB.mkdir(exist_ok=True)
    links = book_links()
    for py in sorted(CHAPTERS.glob("[0-9][0-9]_*.py")):
        (COLAB / f"{py.stem}.ipynb").write_text(colab_text(py, links), encoding="utf-8")
    for ipynb in COLAB.glob("*.ipynb"):
        if not (CHAPTERS / f"{ipynb.stem}.py").exists():
            ipynb.unlink()


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        issues = problems()
        print("\n".join(issues) or "chapters and Colab edition in sync")
        sys.exit(1 if issues else 0)
    sync()
    print("chapters and Colab edition synced")
