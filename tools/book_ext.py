"""Sphinx fixes for the book's HTML, loaded through ``sphinx.local_extensions`` in ``_config.yml``.

* sphinx-thebe adds its inline configuration script each time Sphinx reads
  sources, so a page can carry ``const THEBE_JS_URL = ...`` twice, and the
  browser stops with "Identifier 'THEBE_JS_URL' has already been declared"
  (found by tools/check_html.py). Each page keeps one copy of every script.
"""

from __future__ import annotations


def _script_key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def unique_scripts(scripts: list) -> list:
    """``scripts`` without repeats (same file, or none, and attributes, inline body included), first kept."""
    seen, out = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            out.append(script)
    return out


def _dedupe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"][:] = unique_scripts(context["script_files"])  # in place: the builder's list


def setup(app):
    # Early: Sphinx stops calling html-page-context listeners at the first that returns a value.
    app.connect("html-page-context", _dedupe, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
