"""Two editions of the book from one source: ``RMD_EDITION=student`` (default) or ``instructor``.

* The **student** edition removes every solution from the HTML: plain
  ``{solution}`` blocks and gated ``{solution-start}`` … ``{solution-end}``
  blocks alike, after sphinx-exercise has merged the gated ones, so neither the
  text nor the code of a solution reaches the page (the code still runs in the
  build, so it is still tested).
* The **instructor** edition keeps them, and adds the Sphinx tag
  ``instructor``, so ``{only} instructor`` blocks (the instructor guide) appear.

``make book`` builds the student edition, ``make book EDITION=instructor`` the
instructor one; ``tools/check_html.py`` checks both.
"""

from __future__ import annotations

import os

from docutils import nodes
from sphinx.transforms import SphinxTransform

EDITIONS = ("student", "instructor")


def edition() -> str:
    """The edition this build makes, from ``RMD_EDITION``; an unknown name is an error."""
    name = os.environ.get("RMD_EDITION", "student").strip() or "student"
    if name not in EDITIONS:
        raise ValueError(f"RMD_EDITION={name!r}: choose one of {', '.join(EDITIONS)}")
    return name


class RemoveSolutions(SphinxTransform):
    """Drop every solution node (student edition); runs after sphinx-exercise merges gated ones."""

    default_priority = 20  # sphinx_exercise.transforms.MergeGatedSolutions runs at 10

    def apply(self) -> None:
        from sphinx_exercise.nodes import solution_end_node, solution_node, solution_start_node

        for kind in (solution_node, solution_start_node, solution_end_node):
            for node in list(self.document.findall(kind)):
                node.parent.remove(node)


def setup(app):
    name = edition()
    app.tags.add(name)
    app.add_config_value("rmd_edition", name, "env")
    if name == "student":
        app.add_transform(RemoveSolutions)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True,
            "env_version": EDITIONS.index(name) + 1}  # switching edition rebuilds every page
