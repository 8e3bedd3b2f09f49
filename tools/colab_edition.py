"""The Colab edition: ``chapters/NN_name.py`` -> ``colab/NN_name.ipynb`` in plain Markdown.

Colab and GitHub render Markdown and LaTeX math, but not MyST's roles and
directives. This module rewrites a chapter notebook into what they do render;
``tools/sync.py`` calls it (``make sync`` writes the notebooks, ``--check``
compares them). The rules, each one a function below:

* ``{glue:text}`name:fmt``` becomes ```name```: outside the book,
  ``rmdlib.report.glue`` prints ``name = value`` in the cell that computes it,
  and a note at the top of every notebook says so.
* ``{term}`` and ``{cite}`` become links to the published book's glossary and
  bibliography pages; ``{ref}`` becomes plain text; ``(label)=`` lines go.
* An exercise becomes a heading "Exercise K (title)"; a solution becomes a
  ``<details>`` block. A gated solution (``{solution-start}`` ... code cells ...
  ``{solution-end}``) becomes a ``<details>`` block holding its text and code,
  followed by its code cells folded as Colab forms, so "Run all" still runs them.
* Admonitions become block quotes with a bold title.
* ``remove-cell`` cells are dropped, except the guarded Colab install cell (kept
  as it is) and cells that glue numbers the text quotes (kept, folded);
  ``hide-input`` / ``remove-input`` / ``hide-cell`` cells are folded as forms.
* Math (``$...$``, ``$$...$$``, ``\\begin{aligned}``) stays: Colab renders it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import nbformat

ROLE = re.compile(r"\{(?P<role>[a-z]+(?::[a-z]+)?)\}`(?P<body>[^`]*)`")
LABEL_LINE = re.compile(r"^\([\w.:-]+\)=\s*$")
DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
CODE_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
GATE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{solution-(?P<kind>start|end)\}[^\n]*\n"
    r"(?:[ \t]*:[\w-]+:[^\n]*\n)*(?P=fence)[ \t]*(?:\n|$)",
    re.MULTILINE,
)
EXERCISE_LABEL = re.compile(r"\{exercise(?:-start)?\}[^\n]*\n(?:[ \t]*:(?!label:)[\w-]+:[^\n]*\n)*[ \t]*:label:[ \t]*(\S+)")
ADMONITION_TITLES = {"note": "Note", "tip": "Tip", "warning": "Warning", "important": "Important",
                     "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
                     "hint": "Hint", "seealso": "See also"}
INSTALL_MARK = 'if "google.colab" in sys.modules'
FORM_HIDDEN = "# @title Code folded in the book (double-click to show it)"
FORM_NUMBERS = "# @title Numbers quoted in the text (double-click to show the code)"
FORM_SOLUTION = "# @title Run the solution (its code is in the Solution above)"
SOLUTION_SUMMARY = "<summary>Solution</summary>"


def sphinx_id(text: str) -> str:
    """The HTML id Sphinx gives a name (``sphinx.util.nodes._make_id``): ASCII, runs of others -> '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"^[-0-9._]+|-+$", "", re.sub(r"[^a-zA-Z0-9._]+", "-", " ".join(ascii_text.split())))


def glossary_anchors(glossary_md: str) -> dict[str, str]:
    """Lower-cased glossary term -> its anchor on the glossary page (``term-Binary-cross-entropy``)."""
    block = re.search(r"^(`{3,}|:{3,})\{glossary\}[^\n]*\n(.*?)^\1[ \t]*$", glossary_md, re.MULTILINE | re.DOTALL)
    terms = [ln.strip() for ln in (block.group(2) if block else "").splitlines()
             if ln.strip() and not ln[0].isspace() and not ln.startswith(":")]
    return {term.lower(): f"term-{sphinx_id(term)}" for term in terms}


def _last_name(author: str) -> str:
    author = re.sub(r"[{}]|\\[a-zA-Z]+\s*|\\.", "", author).strip()
    return author.split(",")[0].strip() if "," in author else author.split()[-1]


def citation_names(bibtex: str) -> dict[str, tuple[str, str]]:
    """Bib key -> ("Clark et al.", "2020"), the author-year label the book prints."""
    names = {}
    for entry in re.split(r"(?m)^@", bibtex)[1:]:
        key = re.match(r"\w+\{([^,]+),", entry)
        authors = re.search(r"\bauthor\s*=\s*\{(.*?)\},?\s*$", entry, re.MULTILINE)
        year = re.search(r"\byear\s*=\s*\{?(\d{4})", entry)
        if not (key and authors and year):
            continue
        people = [_last_name(a) for a in re.split(r"\s+and\s+", authors.group(1))]
        label = people[0] if len(people) == 1 else (
            f"{people[0]} and {people[1]}" if len(people) == 2 and people[1] != "others" else f"{people[0]} et al.")
        names[key.group(1).strip()] = (label, year.group(1))
    return names


@dataclass
class Links:
    """What the rewriting needs to know about the book: where it is published, its terms and sources."""

    site: str  # https://owner.github.io/repo/
    glossary: dict[str, str] = field(default_factory=dict)  # lower-cased term -> anchor
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (authors, year)
    exercises: dict[str, int] = field(default_factory=dict)  # exercise label -> its number in the chapter

    @property
    def glossary_page(self) -> str:
        return f"{self.site}book/glossary.html"

    @property
    def bibliography_page(self) -> str:
        return f"{self.site}book/bibliography.html"


# --- inline roles -----------------------------------------------------------------------------

def _split_target(body: str) -> tuple[str, str]:
    """``text <target>`` -> (text, target); ``target`` -> (target, target)."""
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", body, re.DOTALL)
    return (match.group(1), match.group(2)) if match else (body.strip(), body.strip())


def _cite(role: str, body: str, links: Links) -> str:
    keys = [k.strip() for k in body.split(",") if k.strip()]
    names = [links.citations.get(k, (k, "")) for k in keys]
    if role == "cite:t":
        return "; ".join(f"[{who} ({year})]({links.bibliography_page})" for who, year in names)
    return "(" + "; ".join(f"[{who}, {year}]({links.bibliography_page})" for who, year in names) + ")"


def _ref(body: str, before: str, links: Links) -> str:
    text, label = _split_target(body)
    if text != label:
        return text
    if label in links.exercises:
        number = links.exercises[label]
        return str(number) if re.search(r"exercise\s*$", before, re.IGNORECASE) else f"Exercise {number}"
    chapter = re.fullmatch(r"ch-(\d+)", label)
    return f"chapter {int(chapter.group(1))}" if chapter else label


def inline(line: str, links: Links) -> str:
    """One line of Markdown with every MyST role replaced by plain Markdown."""
    if re.fullmatch(r"\s*\{glue(?::md)?\}`[^`]+`\s*", line):  # a glued paragraph (run card, verdict)
        name = ROLE.search(line).group("body").split(":")[0].strip()
        return f"*(`{name}` is shown in the output of the code cell above.)*"

    def replace(match: re.Match) -> str:
        role, body = match.group("role"), match.group("body")
        if role.startswith("glue"):
            return f"`{body.split(':')[0].strip()}`"
        if role == "term":
            text, target = _split_target(body)
            anchor = links.glossary.get(target.lower())
            return f"[{text}]({links.glossary_page}" + (f"#{anchor})" if anchor else ")")
        if role.startswith("cite"):
            return _cite(role, body, links)
        if role in ("ref", "numref", "doc", "eq"):
            return _ref(body, line[: match.start()], links)
        if role == "math":
            return f"${body}$"
        return body

    return ROLE.sub(replace, line)


# --- block directives -------------------------------------------------------------------------

def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line that closes the fence opened at ``start`` (MyST: same character, at least as long)."""
    char, size = fence[0], len(fence)
    for k in range(start + 1, len(lines)):
        stripped = lines[k].strip()
        if len(stripped) >= size and stripped == char * len(stripped):
            return k
    return len(lines)  # an unclosed fence runs to the end, as in MyST


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options, k = {}, 0
    while k < len(body) and OPTION.match(body[k].strip()):
        match = OPTION.match(body[k].strip())
        options[match.group("key")] = match.group("value")
        k += 1
    return options, body[k:]


def _quote(title: str, body: list[str]) -> list[str]:
    while body and not body[-1].strip():
        body = body[:-1]
    return [f"> {line}" if line.strip() else ">" for line in [f"**{title}**", "", *body]]


def _directive(name: str, arg: str, options: dict[str, str], body: list[str], links: Links) -> list[str]:
    if name in ("exercise", "exercise-start"):
        number = links.exercises.get(options.get("label", ""), len(links.exercises) + 1)
        title = f"Exercise {number}" + (f" ({inline(arg, links)})" if arg else "")
        return [f"### {title}", "", *body]
    if name == "solution":
        return ["<details>", SOLUTION_SUMMARY, "", *body, "", "</details>"]
    if name == "admonition":
        return _quote(inline(arg, links) or "Note", body)
    if name in ADMONITION_TITLES:
        return _quote(ADMONITION_TITLES[name], ([inline(arg, links)] if arg else []) + body)
    if name == "math":
        return ["$$", *body, "$$"]
    if name.startswith("glue"):
        return [f"*(`{arg.strip()}` is shown in the output of the code.)*"]
    return body


def markdown(text: str, links: Links) -> str:
    """A Markdown cell's text with MyST labels, roles and directives replaced by plain Markdown."""
    return "\n".join(_blocks(text.splitlines(), links)).strip("\n")


def _blocks(lines: list[str], links: Links) -> list[str]:
    out, k = [], 0
    while k < len(lines):
        line = lines[k]
        directive, code = DIRECTIVE.match(line), CODE_FENCE.match(line)
        if directive:
            end = _closing(lines, k, directive.group("fence"))
            options, body = _options(lines[k + 1:end])
            name, arg = directive.group("name"), directive.group("arg").strip()
            if name in ("code-block", "code", "code-cell", "sourcecode"):
                out += [f"```{arg}", *body, "```"]
            else:
                out += _directive(name, arg, options, _blocks(body, links), links)
            k = end + 1
        elif code:  # a plain code block: copied as it is
            end = _closing(lines, k, code.group("fence"))
            out += lines[k:end + 1]
            k = end + 1
        else:
            if not LABEL_LINE.match(line):
                out.append(inline(line, links))
            k += 1
    return out


# --- cells ------------------------------------------------------------------------------------

def exercise_numbers(cells) -> dict[str, int]:
    """Exercise label -> its number (1, 2, ...) in order of appearance."""
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    return {label: k for k, label in enumerate(EXERCISE_LABEL.findall(text), 1)}


def _stream(cells):
    """The cells as ("md", text, cell index) / ("code", cell) / ("start" | "end",) items, split at gates."""
    for index, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            yield ("code", cell)
            continue
        position = 0
        for gate in GATE.finditer(cell.source):
            yield ("md", cell.source[position:gate.start()], index)
            yield (gate.group("kind"),)
            position = gate.end()
        yield ("md", cell.source[position:], index)


def _code_cell(cell, title: str | None = None):
    source = cell.source if title is None else f"{title}\n{cell.source}"
    metadata = {"cellView": "form"} if title else {}
    return nbformat.v4.new_code_cell(source, metadata=metadata)


def _kept_code(cell):
    """The Colab version of a code cell outside solutions, or None to drop it."""
    tags = set(cell.metadata.get("tags", ()))
    if "remove-cell" in tags:
        if INSTALL_MARK in cell.source:
            return _code_cell(cell)
        return _code_cell(cell, FORM_NUMBERS) if "glue(" in cell.source else None
    if tags & {"hide-input", "remove-input", "hide-cell"}:
        return _code_cell(cell, FORM_HIDDEN)
    return _code_cell(cell)


def colab_cells(cells, links: Links) -> list:
    """The Colab edition's cells for a chapter's cells (see the module docstring for the rules)."""
    links.exercises = exercise_numbers(cells)
    out, pending, pending_index, solution = [], [], None, None

    def flush():
        text = markdown("\n".join(pending), links)
        if text.strip():
            out.append(nbformat.v4.new_markdown_cell(text))
        pending.clear()

    for item in _stream(cells):
        kind = item[0]
        if kind == "md" and solution is not None:
            solution["parts"].append(markdown(item[1], links))
        elif kind == "md":
            if item[2] != pending_index:
                flush()
            pending.append(item[1])
            pending_index = item[2]
        elif kind == "start":
            flush()
            solution = {"parts": [], "code": []}
        elif kind == "code" and solution is not None:
            solution["parts"].append(f"```python\n{item[1].source}\n```")
            solution["code"].append(item[1])
        elif kind == "code":
            flush()
            pending_index = None
            kept = _kept_code(item[1])
            if kept is not None:
                out.append(kept)
        elif kind == "end" and solution is not None:
            body = "\n\n".join(p.strip("\n") for p in solution["parts"] if p.strip())
            out.append(nbformat.v4.new_markdown_cell(f"<details>\n{SOLUTION_SUMMARY}\n\n{body}\n\n</details>"))
            out += [_code_cell(c, FORM_SOLUTION) for c in solution["code"]]
            solution = None
    flush()
    return out


def edition_note(links: Links, chapter_stem: str) -> str:
    """The note that heads every Colab notebook: what differs from the book, and where the book is."""
    return (
        "> **This is the Colab edition of the chapter.** It runs top to bottom as it is. Where the "
        f"[book's page]({links.site}chapters/{chapter_stem}.html) prints a number from the run in "
        "the text, this edition names it, like `name`: the code cell that computes it prints "
        "`name = value`. Folded cells (*Show code*) hold the book's plumbing; solutions are folded "
        "under *Solution*."
    )


def colab_notebook(chapter_nb, links: Links, chapter_stem: str) -> nbformat.NotebookNode:
    """The whole Colab notebook for one chapter notebook (output-free, deterministic cell ids)."""
    cells = colab_cells(chapter_nb.cells, links)
    first_md = next((c for c in cells if c.cell_type == "markdown"), None)
    if first_md is not None:
        first_md.source += "\n\n" + edition_note(links, chapter_stem)
    for k, cell in enumerate(cells):
        cell["id"] = f"cell-{k:03d}"
    metadata = {
        "colab": {"provenance": [], "toc_visible": True},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The notebook as the exact text written to disk, so ``--check`` can compare byte for byte."""
    return nbformat.writes(nb, version=4) + "\n"
