"""Sphinx extension: the Colab launch button opens the Colab edition, ``colab/NN_name.ipynb``.

sphinx-book-theme builds the Colab link from the page's own path
(``.../blob/BRANCH/chapters/NN_name.ipynb``), a notebook full of MyST that Colab
shows raw. The theme has no option to point it elsewhere, so this extension,
listed under ``sphinx.local_extensions`` in ``_config.yml``, rewrites that one
link after the theme has built it (``html-page-context``, priority 502 > the
theme's 501). ``tools/sync.py`` writes the notebooks it points at.
"""

from __future__ import annotations

import re

CHAPTER_PAGE = re.compile(r"^chapters/(?P<stem>\d\d_[\w-]+)$")


def colab_link(url: str, pagename: str) -> str:
    """The theme's Colab URL for ``pagename``, pointed at the Colab edition when the page is a chapter."""
    match = CHAPTER_PAGE.match(pagename)
    if not match or "colab.research.google.com" not in url:
        return url
    return re.sub(r"/chapters/[^/]+\.ipynb$", f"/colab/{match.group('stem')}.ipynb", url)


def _retarget(app, pagename, templatename, context, doctree) -> None:
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("text") == "Colab" and "url" in button:
                button["url"] = colab_link(button["url"], pagename)


def setup(app):
    app.connect("html-page-context", _retarget, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
