"""Where the book lives: the published site and the Colab edition, from ``_config.yml``.

``repository.url`` in ``_config.yml`` is the one place the repository is named.
Everything that links to the published book or to Colab derives from it here:

* ``site_url()``: the GitHub Pages address that ``.github/workflows/book.yml``
  deploys to (``https://github.com/OWNER/REPO`` -> ``https://OWNER.github.io/REPO/``);
* ``colab_url(docname)``: where a chapter's launch button must send a learner
  (the Colab edition, ``COLAB_DIR/NN_name.ipynb``).

Import it from a tool (``from book_site import site_url``, with tools/ on ``sys.path``,
as it is for a script run from tools/) or run it:
``python tools/book_site.py`` prints the site URL.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[1]
COLAB_DIR = "colab"  # the Colab edition: colab/NN_name.ipynb, generated from chapters/
COLAB_HOST = "https://colab.research.google.com"


def config(root: Path = ROOT) -> dict:
    """The parsed ``_config.yml``."""
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def _owner_repo(repo_url: str) -> tuple[str, str]:
    parts = urlparse(repo_url)
    path = parts.path.strip("/").removesuffix(".git").split("/")
    if parts.netloc.lower() not in ("github.com", "www.github.com") or len(path) != 2 or not all(path):
        raise ValueError(f"repository.url must be https://github.com/OWNER/REPO, not {repo_url!r}")
    return path[0], path[1]


def site_url(repo_url: str | None = None) -> str:
    """The GitHub Pages URL of the published book, ending in ``/``.

    A repository named ``OWNER.github.io`` is served at the root of that host.
    """
    owner, repo = _owner_repo(repo_url or config()["repository"]["url"])
    host = f"https://{owner.lower()}.github.io/"
    return host if repo.lower() == f"{owner.lower()}.github.io" else f"{host}{repo}/"


def page_url(docname: str, repo_url: str | None = None) -> str:
    """The published address of one page, e.g. ``page_url("book/glossary")``."""
    return f"{site_url(repo_url)}{docname}.html"


def colab_url(docname: str, root: Path = ROOT) -> str:
    """The launch-button target of a chapter (``docname`` like ``chapters/01_from_lm_to_rtd``)."""
    cfg = config(root)
    owner, repo = _owner_repo(cfg["repository"]["url"])
    branch = cfg["repository"].get("branch", "main")
    name = PurePosixPath(docname).name
    return f"{COLAB_HOST}/github/{owner}/{repo}/blob/{branch}/{COLAB_DIR}/{name}.ipynb"


if __name__ == "__main__":
    print(site_url(*sys.argv[1:2]))
